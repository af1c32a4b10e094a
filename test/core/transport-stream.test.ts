import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Transport } from '../../src/core/transport.js';
import { TransportError, WeChatApiError } from '../../src/errors.js';

// A streamed download: bounded wait for the headers and for each chunk, never for the whole body.
const CHUNK = new Uint8Array(64 * 1024).map((_, i) => i % 251);
let server: Server;
let base = '';
const hits = new Map<string, number>();
const open = new Set<ServerResponse>();

beforeAll(async () => {
  server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    hits.set(url.pathname, (hits.get(url.pathname) ?? 0) + 1);
    const kind = url.pathname.split('/')[1];
    open.add(res);
    res.on('close', () => open.delete(res));
    if (kind === 'bytes') {
      const chunks = Number(url.searchParams.get('chunks') ?? '16');
      res.writeHead(200, { 'content-type': 'application/octet-stream' });
      let sent = 0;
      const next = () => {
        if (sent === chunks) return void res.end();
        sent += 1;
        res.write(CHUNK, () => setImmediate(next));
      };
      next();
    } else if (kind === 'errcode') {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ errcode: 40007, errmsg: 'invalid media_id rid: 1-2-3' }));
    } else if (kind === 'stall-headers') {
      // never answers: the header wait must time out
    } else if (kind === 'stall-body') {
      res.writeHead(200, { 'content-type': 'application/octet-stream' });
      res.write(CHUNK); // then nothing, ever
    } else if (kind === 'busy-once') {
      if ((hits.get(url.pathname) ?? 0) === 1) return void res.writeHead(503).end('busy');
      res.writeHead(200, { 'content-type': 'image/jpeg' });
      res.end(CHUNK);
    } else {
      res.writeHead(404).end();
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  for (const res of open) res.destroy();
  await new Promise((resolve) => server.close(resolve));
});

async function collect(stream: ReadableStream<Uint8Array>): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  for await (const part of stream as unknown as AsyncIterable<Uint8Array>) parts.push(part);
  return new Uint8Array(Buffer.concat(parts));
}

const stream = (t: Transport, path: string, extra: { signal?: AbortSignal; timeoutMs?: number } = {}) =>
  t.request<ReadableStream<Uint8Array>>({
    method: 'GET',
    url: `${base}${path}`,
    responseType: 'stream',
    ...extra,
  });

describe('Transport responseType "stream"', () => {
  it('streams a binary answer chunk by chunk, identical to the bytes sent', async () => {
    const { data, status } = await stream(new Transport(), '/bytes/a?chunks=16');
    expect(status).toBe(200);
    expect(data).toBeInstanceOf(ReadableStream);
    const bytes = await collect(data);
    expect(bytes.length).toBe(16 * CHUNK.length);
    expect(Buffer.from(bytes.subarray(CHUNK.length * 3, CHUNK.length * 4)).equals(Buffer.from(CHUNK))).toBe(
      true,
    );
  });

  it('reads a JSON errcode answer whole and throws it, typed, before any stream', async () => {
    const error = await stream(new Transport(), '/errcode/a').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(WeChatApiError);
    expect(error).toMatchObject({ errcode: 40007 });
  });

  it('times out waiting for the headers, as TIMEOUT', async () => {
    const error = await stream(new Transport({ retries: 0 }), '/stall-headers/a', { timeoutMs: 150 }).catch(
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(TransportError);
    expect(error).toMatchObject({ code: 'TIMEOUT' });
  });

  it('errors the stream with TIMEOUT when the body stalls, after the data that came', async () => {
    const { data } = await stream(new Transport(), '/stall-body/a', { timeoutMs: 150 });
    const reader = data.getReader();
    const first = await reader.read();
    expect(first.value?.length).toBeGreaterThan(0);
    let received = first.value?.length ?? 0;
    const error = await (async () => {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) return undefined;
        received += value.length;
      }
    })().catch((e: unknown) => e);
    expect(received).toBe(CHUNK.length);
    expect(error).toMatchObject({ code: 'TIMEOUT' });
  });

  it("aborts the stream with the caller's reason", async () => {
    const controller = new AbortController();
    const { data } = await stream(new Transport(), '/stall-body/b', { signal: controller.signal });
    const reader = data.getReader();
    await reader.read();
    const reason = new Error('user went away');
    const pending = reader.read();
    controller.abort(reason);
    await expect(pending).rejects.toBe(reason);
  });

  it('retries a 5xx before the headers of an idempotent request, then streams', async () => {
    const { data } = await stream(new Transport({ retryBaseMs: 1, retryMaxMs: 1 }), '/busy-once/a');
    expect((await collect(data)).length).toBe(CHUNK.length);
    expect(hits.get('/busy-once/a')).toBe(2);
  });
});
