import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { toFetchHandler } from '../../src/adapters/node.js';
import { BodyTooLargeError, readRawBody } from '../../src/adapters/shared.js';
import type { CallbackResponse } from '../../src/callbacks/types.js';
import { type Echo, echoHandler, sha256, XML_BODY } from './shared-suite.js';

/** Splits bytes into pieces of 1, 2, 3, 1, 2, 3, … bytes: most cut a character in two. */
function splitBytes(bytes: Buffer): Buffer[] {
  const out: Buffer[] = [];
  for (let offset = 0, n = 1; offset < bytes.length; offset += n, n = (n % 3) + 1) {
    out.push(bytes.subarray(offset, offset + n));
  }
  return out;
}

describe('readRawBody', () => {
  it('joins chunks split inside multi-byte characters as bytes (no data += chunk)', async () => {
    const bytes = Buffer.from(XML_BODY, 'utf8');
    const chunks = splitBytes(bytes);
    expect(chunks.some((c) => c.toString('utf8').includes('\uFFFD'))).toBe(true); // really split
    const joined = await readRawBody(Readable.from(chunks), { limit: 1 << 20 });
    expect(sha256(joined)).toBe(sha256(bytes));
    expect(joined.toString('utf8')).toBe(XML_BODY);
  });

  it('stops reading past the limit: rejects and leaves the rest of the stream unread', async () => {
    let pulled = 0;
    const stream = new Readable({
      highWaterMark: 1,
      read() {
        pulled++;
        this.push(pulled > 1000 ? null : Buffer.alloc(10));
      },
    });
    await expect(readRawBody(stream, { limit: 25 })).rejects.toBeInstanceOf(BodyTooLargeError);
    const atRejection = pulled;
    await new Promise((r) => setImmediate(r));
    expect(pulled).toBeLessThan(10);
    expect(pulled).toBe(atRejection);
  });

  it('refuses a stream someone else already read to its end', async () => {
    const stream = Readable.from([Buffer.from('x')]);
    for await (const _ of stream) {
      // drain
    }
    await expect(readRawBody(stream, { limit: 10 })).rejects.toThrow(/already read/);
  });
});

describe('toFetchHandler', () => {
  function streamOf(chunks: Buffer[]): ReadableStream<Uint8Array> {
    return new ReadableStream({
      start(controller) {
        for (const chunk of chunks) controller.enqueue(new Uint8Array(chunk));
        controller.close();
      },
    });
  }

  it('passes split body bytes intact and the path with its query, without a server', async () => {
    const fetchHandler = toFetchHandler(echoHandler());
    const body = Buffer.from(XML_BODY);
    const response = await fetchHandler(
      new Request('http://example.com/wechat?nonce=1&echostr=%E4%BD%A0', {
        method: 'POST',
        body: streamOf(splitBytes(body)),
        duplex: 'half',
      } as RequestInit),
    );
    expect(response.status).toBe(202);
    const echo = (await response.json()) as Echo;
    expect(echo).toMatchObject({ url: '/wechat?nonce=1&echostr=%E4%BD%A0', sha256: sha256(body) });
  });

  it('answers 500 when the handler returns something that is not an answer or a header it cannot send', async () => {
    const errors: unknown[] = [];
    const answerWith = (answer: unknown) =>
      toFetchHandler(
        { handle: async () => answer as CallbackResponse },
        { onError: (e) => errors.push(e) },
      )(new Request('http://h/wechat'));
    expect((await answerWith(undefined)).status).toBe(500);
    expect((await answerWith({ status: 200, headers: {}, body: 42 })).status).toBe(500);
    expect((await answerWith({ status: 200, headers: { 'x-bad': 'a\nb' }, body: 'x' })).status).toBe(500);
    expect(errors).toHaveLength(2);
  });

  it('sends no body for a 204', async () => {
    const response = await toFetchHandler({ handle: async () => ({ status: 204, headers: {}, body: '' }) })(
      new Request('http://h/wechat'),
    );
    expect(response.status).toBe(204);
    expect(await response.text()).toBe('');
  });
});
