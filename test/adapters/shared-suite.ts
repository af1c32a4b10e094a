/**
 * One suite for every adapter: each framework is started on 127.0.0.1 with the same echoing
 * handler and must pass the same assertions.
 */
import { createHash } from 'node:crypto';
import { request as httpRequest } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createWeChatCallback } from '../../src/callbacks/index.js';
import type { CallbackHandler, CallbackRequest, CallbackResponse } from '../../src/callbacks/types.js';
import { computeServerSignature } from '../../src/crypto/index.js';

export interface RunningServer {
  /** `http://127.0.0.1:PORT`; the callback route is `/wechat`. */
  url: string;
  close(): Promise<void>;
}

export interface FactoryOptions {
  onError: (error: unknown) => void;
}

/** Starts a real server on 127.0.0.1, port 0, serving `handler` on `/wechat`. */
export type ServerFactory = (handler: CallbackHandler, options: FactoryOptions) => Promise<RunningServer>;

export const MiB = 1024 * 1024;

/** Chinese text and emoji: 3- and 4-byte UTF-8 sequences everywhere. */
export const XML_BODY =
  '<xml><ToUserName><![CDATA[gh_公众号]]></ToUserName><FromUserName><![CDATA[用户😀]]></FromUserName>' +
  '<CreateTime>1714036504</CreateTime><MsgType><![CDATA[text]]></MsgType>' +
  '<Content><![CDATA[你好，世界！🎉👨‍👩‍👧 微信测试 ✓]]></Content><MsgId>1234567890123456</MsgId></xml>';

export const QUERY =
  '/wechat?signature=f464b24fc39322e44b38aa78f5edd27bd1441696&timestamp=1714036504&nonce=1514711492' +
  '&echostr=%E4%BD%A0%E5%A5%BD+x&openid=o_A-b';

export function sha256(bytes: Uint8Array | string): string {
  return createHash('sha256')
    .update(typeof bytes === 'string' ? Buffer.from(bytes, 'utf8') : bytes)
    .digest('hex');
}

export interface Echo {
  method: string;
  url: string;
  kind: 'bytes' | 'string' | 'undefined';
  sha256: string | null;
  text: string | null;
  length: number | null;
  header: string | null;
}

function headerOf(headers: CallbackRequest['headers'], name: string): string | null {
  if (headers instanceof Headers) return headers.get(name);
  const value = headers[name];
  return Array.isArray(value) ? value.join(', ') : (value ?? null);
}

/** A handler echoing what it received; `calls` counts its invocations. */
export function echoHandler(): CallbackHandler & { calls: CallbackRequest[] } {
  const calls: CallbackRequest[] = [];
  return {
    calls,
    async handle(req): Promise<CallbackResponse> {
      calls.push(req);
      const raw = req.rawBody;
      const echo: Echo = {
        method: req.method,
        url: req.url,
        kind: raw === undefined ? 'undefined' : typeof raw === 'string' ? 'string' : 'bytes',
        sha256: raw === undefined ? null : sha256(raw),
        text: raw === undefined ? null : typeof raw === 'string' ? raw : Buffer.from(raw).toString('utf8'),
        length: raw === undefined ? null : typeof raw === 'string' ? Buffer.byteLength(raw) : raw.byteLength,
        header: headerOf(req.headers, 'x-test'),
      };
      return {
        status: 202,
        headers: { 'content-type': 'application/json; charset=utf-8', 'x-weixin-kit': 'echo 1' },
        body: JSON.stringify(echo),
      };
    },
  };
}

export interface Sent {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
}

export interface SendOptions {
  method?: string;
  headers?: Record<string, string>;
  body?: Uint8Array;
  /** Write the body in pieces of this many bytes, yielding between writes. */
  chunkSize?: number;
  /** Send `Content-Length` (default) or chunked transfer encoding. */
  chunked?: boolean;
}

/**
 * A raw node:http client. A server that refuses a large body may close the connection while
 * the body is still being written: once a response has arrived, later socket errors are ignored.
 */
export function send(base: string, path: string, options: SendOptions = {}): Promise<Sent> {
  const target = new URL(path, base);
  const body = options.body;
  const headers: Record<string, string> = { ...options.headers };
  if (body !== undefined && !options.chunked) headers['content-length'] = String(body.byteLength);
  return new Promise<Sent>((resolve, reject) => {
    let response: Sent | undefined;
    const chunks: Buffer[] = [];
    const req = httpRequest(
      {
        host: target.hostname,
        port: target.port,
        method: options.method ?? (body === undefined ? 'GET' : 'POST'),
        path: target.pathname + target.search,
        headers,
        agent: false,
      },
      (res) => {
        response = { status: res.statusCode ?? 0, headers: res.headers, body: Buffer.alloc(0) };
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => finish());
        res.on('error', () => finish());
        res.on('aborted', () => finish());
      },
    );
    let finished = false;
    const finish = (error?: unknown): void => {
      if (finished) return;
      if (response) {
        finished = true;
        resolve({ ...response, body: Buffer.concat(chunks) });
      } else if (error) {
        finished = true;
        reject(error);
      }
    };
    req.on('error', (error) => {
      // After a reset while writing, the response may still be in what the socket reads: decide once
      // the socket has closed, when nothing more can arrive (not after a guessed delay).
      const socket = req.socket;
      if (!socket || socket.closed) setImmediate(() => finish(error));
      else socket.once('close', () => setImmediate(() => finish(error)));
    });
    req.setTimeout(5_000, () => req.destroy(new Error('client timeout')));
    const write = async (): Promise<void> => {
      if (body === undefined) {
        req.end();
        return;
      }
      const size = options.chunkSize ?? body.byteLength;
      for (let offset = 0; offset < body.byteLength; offset += size) {
        if (response || req.destroyed) return;
        const ok = req.write(body.subarray(offset, offset + size));
        if (!ok) await new Promise<void>((r) => req.once('drain', () => r()));
        if (options.chunkSize !== undefined) await new Promise<void>((r) => setImmediate(r));
      }
      if (!req.destroyed) req.end();
    };
    write().catch(() => {});
  });
}

const HANDSHAKE_TOKEN = 'SuiteToken123';
const HANDSHAKE_NOW = 1_714_036_504;

/** A real callback (plain mode, fixed clock) and a signed URL-verification GET for it. */
function handshakeCallback(): { callback: CallbackHandler; path: (echostr: string) => string } {
  const callback = createWeChatCallback({
    appId: 'wx1234567890abcdef',
    token: HANDSHAKE_TOKEN,
    mode: 'plain',
    now: () => HANDSHAKE_NOW * 1000,
  });
  const timestamp = String(HANDSHAKE_NOW);
  const nonce = '1514711492';
  const signature = computeServerSignature({ token: HANDSHAKE_TOKEN, timestamp, nonce });
  return {
    callback,
    path: (echostr) => `/wechat?${new URLSearchParams({ signature, timestamp, nonce, echostr }).toString()}`,
  };
}

function parseEcho(sent: Sent): Echo {
  return JSON.parse(sent.body.toString('utf8')) as Echo;
}

/** The assertions every adapter must pass. */
export function adapterSuite(name: string, factory: ServerFactory): void {
  describe(`${name} adapter`, () => {
    const handler = echoHandler();
    const errors: unknown[] = [];
    let server: RunningServer;
    let throwing: RunningServer;
    let verifying: RunningServer;
    const handshake = handshakeCallback();
    let thrown = 0;

    beforeAll(async () => {
      server = await factory(handler, { onError: (e) => errors.push(e) });
      throwing = await factory(
        {
          async handle() {
            thrown++;
            throw new Error('secret internal detail: token=abc123 at /srv/app.js:42');
          },
        },
        { onError: (e) => errors.push(e) },
      );
      verifying = await factory(handshake.callback, { onError: (e) => errors.push(e) });
    });
    afterAll(async () => {
      await Promise.all([server?.close(), throwing?.close(), verifying?.close()]);
    });

    it('answers the echostr handshake verbatim as text/plain with X-Content-Type-Options: nosniff', async () => {
      // The echostr is reflected verbatim: without nosniff a browser could render it as HTML.
      const echostr = '<script>alert(1)</script>';
      const sent = await send(verifying.url, handshake.path(echostr));
      expect(sent.status).toBe(200);
      expect(sent.body.toString('utf8')).toBe(echostr);
      expect(sent.headers['content-type']).toBe('text/plain; charset=utf-8');
      expect(sent.headers['x-content-type-options']).toBe('nosniff');
    });

    it("adds X-Content-Type-Options: nosniff to a handler's answer and to its own 413", async () => {
      expect((await send(server.url, QUERY)).headers['x-content-type-options']).toBe('nosniff');
      const tooLarge = await send(server.url, '/wechat', {
        body: Buffer.alloc(MiB + 1, 'a'),
        headers: { 'content-type': 'text/xml' },
      });
      expect(tooLarge.status).toBe(413);
      expect(tooLarge.headers['x-content-type-options']).toBe('nosniff');
    });

    it('passes a GET with its exact path and query, method and headers, and no body', async () => {
      const sent = await send(server.url, QUERY, { headers: { 'x-test': '测试'.length.toString() } });
      expect(sent.status).toBe(202);
      const echo = parseEcho(sent);
      expect(echo).toMatchObject({ method: 'GET', url: QUERY, kind: 'undefined', header: '2' });
    });

    it('passes the body bytes intact when tiny chunks split multi-byte characters (chunked encoding)', async () => {
      const body = Buffer.from(XML_BODY, 'utf8');
      const sent = await send(server.url, QUERY, {
        body,
        chunkSize: 2,
        chunked: true,
        headers: { 'content-type': 'text/xml; charset=utf-8' },
      });
      expect(sent.status).toBe(202);
      const echo = parseEcho(sent);
      expect(echo.method).toBe('POST');
      expect(echo.url).toBe(QUERY);
      expect(echo.sha256).toBe(sha256(body));
      expect(echo.length).toBe(body.byteLength);
      expect(echo.text).toBe(XML_BODY);
    });

    it('passes the body bytes intact with a Content-Length, in 3-byte chunks, for any content type', async () => {
      const body = Buffer.from(JSON.stringify({ ToUserName: 'gh_公众号', Content: '你好😀' }), 'utf8');
      const sent = await send(server.url, '/wechat?msg_signature=x', {
        body,
        chunkSize: 3,
        headers: { 'content-type': 'application/octet-stream' },
      });
      expect(sent.status).toBe(202);
      const echo = parseEcho(sent);
      expect(echo.sha256).toBe(sha256(body));
    });

    it("writes the handler's status, headers and UTF-8 body back", async () => {
      const sent = await send(server.url, QUERY, {
        body: Buffer.from(XML_BODY),
        headers: { 'content-type': 'text/xml' },
      });
      expect(sent.status).toBe(202);
      expect(sent.headers['x-weixin-kit']).toBe('echo 1');
      expect(sent.headers['content-type']).toBe('application/json; charset=utf-8');
      expect(parseEcho(sent).text).toBe(XML_BODY); // the answer's own Chinese text survives too
    });

    it('accepts a body of exactly the limit (1 MiB)', async () => {
      const body = Buffer.alloc(MiB, 'a');
      const sent = await send(server.url, '/wechat', {
        body,
        headers: { 'content-type': 'application/octet-stream' },
      });
      expect(sent.status).toBe(202);
      expect(parseEcho(sent).sha256).toBe(sha256(body));
    });

    it('refuses a declared body over the limit with 413, without calling the handler', async () => {
      const before = handler.calls.length;
      const sent = await send(server.url, '/wechat', {
        body: Buffer.alloc(MiB + 1, 'a'),
        headers: { 'content-type': 'text/xml' },
      });
      expect(sent.status).toBe(413);
      expect(handler.calls.length).toBe(before);
    });

    it('refuses a streamed (chunked) body over the limit with 413, without calling the handler', async () => {
      const before = handler.calls.length;
      const sent = await send(server.url, '/wechat', {
        body: Buffer.alloc(MiB + 64 * 1024, 'a'),
        chunkSize: 64 * 1024,
        chunked: true,
        headers: { 'content-type': 'application/octet-stream' },
      });
      expect(sent.status).toBe(413);
      expect(handler.calls.length).toBe(before);
    });

    it('answers 500 when the handler answers with a header HTTP cannot carry', async () => {
      const bad = await factory(
        { handle: async () => ({ status: 200, headers: { 'x-bad': 'a\r\nset-cookie: x=1' }, body: 'ok' }) },
        { onError: () => {} },
      );
      try {
        const sent = await send(bad.url, QUERY);
        expect(sent.status).toBe(500);
        expect(sent.headers['set-cookie']).toBeUndefined();
        expect(sent.headers['x-bad']).toBeUndefined();
      } finally {
        await bad.close();
      }
    });

    it('answers a handler that throws with a generic 500 that leaks nothing', async () => {
      const before = errors.length;
      const sent = await send(throwing.url, QUERY, {
        body: Buffer.from(XML_BODY),
        headers: { 'content-type': 'text/xml' },
      });
      expect(sent.status).toBe(500);
      const text = sent.body.toString('utf8');
      expect(text).not.toMatch(/secret|token|abc123|app\.js|stack/i);
      expect(thrown).toBeGreaterThan(0);
      expect(errors.length).toBe(before + 1);
    });
  });
}
