import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Transport } from '../../src/core/transport.js';
import { TransportError, WeChatApiError } from '../../src/errors.js';
import { drain, ManualScheduler } from '../helpers/manual-scheduler.js';

// A streamed download: bounded wait for the headers and for each chunk, never for the whole body.
// The bounds run on a manual scheduler: a test moves virtual time instead of waiting for them.
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
    } else if (kind === 'stall-json') {
      // A JSON answer is read whole before anything is returned: its body stalls half-way.
      res.writeHead(200, { 'content-type': 'application/json' });
      res.write('{"errcode":0,');
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

/** Whether `promise` has settled yet, read after letting queued reactions run. */
function tracked(promise: Promise<unknown>): { settled(): boolean } {
  let done = false;
  promise.then(
    () => (done = true),
    () => (done = true),
  );
  return { settled: () => done };
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

  it('times out waiting for the headers once the scheduler reaches timeoutMs, not before', async () => {
    const manual = new ManualScheduler();
    const pending = stream(new Transport({ retries: 0, scheduler: manual }), '/stall-headers/a', {
      timeoutMs: 150,
    });
    const state = tracked(pending);
    await manual.advance(149);
    expect(state.settled()).toBe(false);
    await manual.advance(1);
    expect(state.settled()).toBe(true); // at once: nothing waited on the wall clock
    const error = await pending.catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TransportError);
    expect(error).toMatchObject({ code: 'TIMEOUT' });
    expect((error as Error).message).toContain('sent no headers within 150 ms');
    expect(manual.pending).toBe(0);
  });

  it('times out a JSON answer whose body stalls, on a bound that starts with the body', async () => {
    const manual = new ManualScheduler();
    let headersIn: () => void = () => {};
    const headers = new Promise<void>((resolve) => (headersIn = resolve));
    const transport = new Transport({
      retries: 0,
      scheduler: manual,
      hooks: { onResponse: () => headersIn() },
    });
    const pending = stream(transport, '/stall-json/a', { timeoutMs: 150 });
    const state = tracked(pending);
    await manual.advance(100); // the headers come within their bound…
    await headers;
    await drain();
    await manual.advance(149); // …and the body has its own 150 ms from there
    expect(state.settled()).toBe(false);
    await manual.advance(1);
    expect(state.settled()).toBe(true); // at once: nothing waited on the wall clock
    const error = await pending.catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'TIMEOUT' });
    expect((error as Error).message).toContain('sent no body within 150 ms');
    expect(manual.pending).toBe(0);
  });

  it('errors the stream with TIMEOUT when the body stalls, after the data that came', async () => {
    const manual = new ManualScheduler();
    const { data } = await stream(new Transport({ scheduler: manual }), '/stall-body/a', { timeoutMs: 150 });
    const reader = data.getReader();
    // Virtual time stands still while the chunk comes in: each wait for a chunk starts a new bound.
    let received = 0;
    while (received < CHUNK.length) {
      const { done, value } = await reader.read();
      expect(done).toBe(false);
      received += value?.length ?? 0;
    }
    const next = reader.read();
    const state = tracked(next);
    await drain();
    expect(manual.pending).toBe(1); // the wait for the next chunk
    await manual.advance(149);
    expect(state.settled()).toBe(false);
    await manual.advance(1);
    expect(state.settled()).toBe(true); // at once: nothing waited on the wall clock
    const error = await next.catch((e: unknown) => e);
    expect(received).toBe(CHUNK.length);
    expect(error).toMatchObject({ code: 'TIMEOUT' });
    expect((error as Error).message).toContain('sent no data within 150 ms');
    expect(manual.pending).toBe(0);
  });

  it('leaves no timer behind once a stream has been read to its end', async () => {
    const manual = new ManualScheduler();
    const { data } = await stream(new Transport({ scheduler: manual }), '/bytes/b?chunks=4');
    expect((await collect(data)).length).toBe(4 * CHUNK.length);
    await drain();
    expect(manual.pending).toBe(0);
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
