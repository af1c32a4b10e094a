import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { inspect } from 'node:util';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { TransportHooks } from '../../src/core/hooks.js';
import { Transport, type TransportOptions } from '../../src/core/transport.js';
import { type RunningEmulator, startEmulator } from '../../src/emulator/server.js';
import { TransportError, WeChatApiError, WeChatKitError } from '../../src/errors.js';
import { drain, ManualScheduler } from '../helpers/manual-scheduler.js';

// Secrets that must never show up in an error or a hook event.
const TOKEN = 'TOKEN_s3cr3t_7f1e';
const APPSECRET = 'APPSECRET_9c0ffee';
const JS_CODE = 'JSCODE_0a1b2c';
const SESSION_KEY = 'SESSIONKEY_d00d';
const SECRETS = [TOKEN, APPSECRET, JS_CODE, SESSION_KEY];

const PNG = Uint8Array.from([
  0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 13, 0x49, 0x48, 0x44, 0x52,
]);

let server: Server;
let base = '';
/** Hits per path, so a test can count attempts. */
const hits = new Map<string, number>();
const hitsOf = (path: string) => hits.get(path) ?? 0;
const waiting = new Map<string, Array<{ count: number; wake: () => void }>>();
/** Resolves once the server has received `count` requests for `path`: an event to act on, not a guessed delay. */
const arrival = (path: string, count = 1) =>
  new Promise<void>((resolve) => {
    if (hitsOf(path) >= count) resolve();
    else waiting.set(path, [...(waiting.get(path) ?? []), { count, wake: resolve }]);
  });

function json(res: ServerResponse, body: unknown, status = 200): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json; encoding=utf-8' });
  res.end(text);
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

/**
 * The behaviour is the first path segment; `n` (query) is how many times a failure repeats
 * before success. Each test uses its own path so counters do not mix.
 */
async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
  const url = new URL(req.url ?? '/', base);
  const hit = (hits.get(url.pathname) ?? 0) + 1;
  hits.set(url.pathname, hit);
  const waiters = waiting.get(url.pathname) ?? [];
  for (const waiter of waiters) if (waiter.count <= hit) waiter.wake();
  waiting.set(
    url.pathname,
    waiters.filter((waiter) => waiter.count > hit),
  );
  const n = Number(url.searchParams.get('n') ?? '0');
  const body = await readBody(req);
  const [, kind] = url.pathname.split('/');
  switch (kind) {
    case 'ok':
      return json(res, { errcode: 0, errmsg: 'ok', hit });
    case 'echo':
      return json(res, { method: req.method, url: req.url, headers: req.headers, body });
    case 'delay': {
      const timer = setTimeout(() => json(res, { errcode: 0 }), Number(url.searchParams.get('ms') ?? '2000'));
      res.on('close', () => clearTimeout(timer));
      return;
    }
    case 'stall-body': {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.write('{"errcode":0,');
      const timer = setTimeout(() => res.end('"x":1}'), 2000);
      res.on('close', () => clearTimeout(timer));
      return;
    }
    case 'reset':
      if (hit <= n || n === 0) {
        req.socket.destroy();
        return;
      }
      return json(res, { errcode: 0, hit });
    case 'status':
      if (hit <= n || n === 0) return json(res, { error: 'boom' }, Number(url.searchParams.get('code')));
      return json(res, { errcode: 0, hit });
    case 'busy':
      if (hit <= n || n === 0) return json(res, { errcode: -1, errmsg: 'system error rid: 1a2b-3c4d' });
      return json(res, { errcode: 0, errmsg: 'ok', hit });
    case 'errcode':
      return json(res, { errcode: Number(url.searchParams.get('code')), errmsg: 'refused rid: 64f0-aa' });
    case 'truncated':
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('{"errcode":0,"access_tok');
      return;
    case 'image':
      res.writeHead(200, { 'content-type': 'image/png' });
      res.end(PNG);
      return;
    case 'redirect':
      res.writeHead(302, { location: `/ok/redirected?${url.search.slice(1)}` });
      res.end();
      return;
    case 'no-content':
      res.writeHead(204);
      res.end();
      return;
    case 'image-error':
      return json(res, { errcode: 40097, errmsg: 'invalid args' });
    case 'plain-json':
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end('{"errcode":41030,"errmsg":"invalid page"}');
      return;
    case 'text':
      res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8' });
      res.end('你好 success');
      return;
    default:
      return json(res, { error: 'no such test route' }, 404);
  }
}

beforeAll(async () => {
  server = createServer((req, res) => {
    handle(req, res).catch(() => req.socket.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

beforeEach(() => hits.clear());

/** A transport with no backoff delay (random 0), unless a test asks otherwise. */
const transport = (options: TransportOptions = {}) => new Transport({ random: () => 0, ...options });

/** Whether `promise` has settled yet, read after letting queued reactions run. */
function tracked(promise: Promise<unknown>): { settled(): boolean } {
  let done = false;
  promise.then(
    () => (done = true),
    () => (done = true),
  );
  return { settled: () => done };
}

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error('expected a rejection');
}

describe('Transport: answers', () => {
  it('appends query values (leaving out undefined), sends JSON bodies with non-ASCII kept, and sets user-agent', async () => {
    const { status, data } = await transport({ userAgent: 'test-agent/1' }).request<{
      method: string;
      url: string;
      headers: Record<string, string>;
      body: string;
    }>({
      method: 'POST',
      url: `${base}/echo?a=1`,
      query: { access_token: TOKEN, b: 2, c: true, d: undefined },
      body: { touser: 'o1', text: { content: '你好' } },
    });
    expect(status).toBe(200);
    expect(data.method).toBe('POST');
    expect(data.url).toBe(`/echo?a=1&access_token=${TOKEN}&b=2&c=true`);
    expect(data.headers['content-type']).toBe('application/json; charset=utf-8');
    expect(data.headers['user-agent']).toBe('test-agent/1');
    expect(data.body).toBe('{"touser":"o1","text":{"content":"你好"}}');
  });

  it('sends strings and bytes as they are', async () => {
    const t = transport();
    const asString = await t.request<{ body: string }>({
      method: 'POST',
      url: `${base}/echo`,
      body: '<xml/>',
    });
    expect(asString.data.body).toBe('<xml/>');
    const asBytes = await t.request<{ body: string; headers: Record<string, string> }>({
      method: 'POST',
      url: `${base}/echo`,
      body: new TextEncoder().encode('raw'),
    });
    expect(asBytes.data.body).toBe('raw');
    expect(asBytes.data.headers['content-type']).toBe('application/octet-stream');
  });

  it('returns an image as bytes', async () => {
    const { data, headers } = await transport().request<Uint8Array>({
      method: 'POST',
      url: `${base}/image`,
      body: { scene: 'a=1' },
      responseType: 'bytes',
    });
    expect(data).toBeInstanceOf(Uint8Array);
    expect([...data]).toEqual([...PNG]);
    expect(headers.get('content-type')).toBe('image/png');
  });

  it('turns a JSON errcode answer to a bytes request into a WeChatApiError', async () => {
    const error = await rejection(
      transport().request({ method: 'POST', url: `${base}/image-error`, body: {}, responseType: 'bytes' }),
    );
    expect(error).toBeInstanceOf(WeChatApiError);
    expect((error as WeChatApiError).errcode).toBe(40097);
  });

  it('recognises a JSON errcode body to a bytes request even when labelled text/plain', async () => {
    const error = await rejection(
      transport().request({ method: 'POST', url: `${base}/plain-json`, body: {}, responseType: 'bytes' }),
    );
    expect((error as WeChatApiError).errcode).toBe(41030);
  });

  it('reads text answers', async () => {
    const { data } = await transport().request<string>({
      method: 'GET',
      url: `${base}/text`,
      responseType: 'text',
    });
    expect(data).toBe('你好 success');
  });

  it('gives the errcode answer as data when checkErrcode is false', async () => {
    const { data } = await transport().request<{ errcode: number }>({
      method: 'GET',
      url: `${base}/errcode/unchecked?code=45009`,
      checkErrcode: false,
    });
    expect(data.errcode).toBe(45009);
  });

  it('puts the path, never the query, in a WeChatApiError, with rid and code', async () => {
    const error = (await rejection(
      transport().request({ method: 'GET', url: `${base}/errcode/path?code=40125&secret=${APPSECRET}` }),
    )) as WeChatApiError;
    expect(error).toBeInstanceOf(WeChatApiError);
    expect(error.code).toBe('API_ERROR');
    expect(error.path).toBe('/errcode/path');
    expect(error.rid).toBe('64f0-aa');
    expect(error.message).not.toContain('?');
  });

  it('does not follow a redirect, so the query never travels to another URL', async () => {
    const error = await rejection(
      transport().request({ method: 'GET', url: `${base}/redirect`, query: { access_token: TOKEN } }),
    );
    expect((error as TransportError).code).toBe('HTTP_ERROR');
    expect((error as TransportError).status).toBe(302);
    expect(hitsOf('/ok/redirected')).toBe(0);
  });

  it('gives undefined data for a 204 answer', async () => {
    const { status, data } = await transport().request({
      method: 'POST',
      url: `${base}/no-content`,
      body: {},
    });
    expect(status).toBe(204);
    expect(data).toBeUndefined();
  });

  it('refuses a GET with a body and unknown options', async () => {
    await expect(transport().request({ method: 'GET', url: `${base}/ok`, body: {} })).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
    });
    expect(() => new Transport({ timeout: 5 } as TransportOptions)).toThrow(
      /unknown transport option "timeout"/,
    );
    expect(() => new Transport({ retries: -1 })).toThrow(WeChatKitError);
    expect(() => new Transport({ timeoutMs: 0 })).toThrow(/timeoutMs/);
  });
});

// Timeouts run on a manual scheduler: the server (or a fetch) never answers, and the test moves
// virtual time to one ms short of the bound (nothing happens), then onto it (TIMEOUT). No test
// waits on the wall clock; aborts are driven by events (the request arrived, a retry was scheduled).
describe('Transport: timeouts and aborts', () => {
  it('times out when the scheduler reaches timeoutMs, not before, and says what the bound was', async () => {
    const manual = new ManualScheduler();
    const pending = transport({ retries: 0, scheduler: manual }).request({
      method: 'GET',
      url: `${base}/delay/t1?ms=60000`,
      timeoutMs: 100,
    });
    const state = tracked(pending);
    await arrival('/delay/t1');
    await manual.advance(99);
    expect(state.settled()).toBe(false);
    await manual.advance(1);
    expect(state.settled()).toBe(true); // at once: nothing waited on the wall clock
    const error = await rejection(pending);
    expect(error).toBeInstanceOf(TransportError);
    expect((error as TransportError).code).toBe('TIMEOUT');
    expect((error as TransportError).message).toContain('100 ms');
    expect(manual.pending).toBe(0);
  });

  it('uses the transport-wide timeoutMs, and retries a timed-out GET within retries', async () => {
    const manual = new ManualScheduler();
    const pending = transport({ timeoutMs: 80, retries: 1, scheduler: manual }).request({
      method: 'GET',
      url: `${base}/delay/t2?ms=60000`,
    });
    const state = tracked(pending);
    await arrival('/delay/t2');
    await manual.advance(80); // the first attempt times out; the back-off (random 0) is due at once
    await arrival('/delay/t2', 2);
    await manual.advance(79);
    expect(state.settled()).toBe(false);
    await manual.advance(1);
    expect(state.settled()).toBe(true); // at once: nothing waited on the wall clock
    expect(((await rejection(pending)) as TransportError).code).toBe('TIMEOUT');
    expect(hitsOf('/delay/t2')).toBe(2);
    expect(manual.pending).toBe(0);
  });

  it('times out a body that stalls after the headers, on the same per-attempt bound', async () => {
    const manual = new ManualScheduler();
    let headersIn: () => void = () => {};
    const headers = new Promise<void>((resolve) => (headersIn = resolve));
    const watched: typeof fetch = async (input, init) => {
      const response = await fetch(input, init);
      headersIn();
      return response;
    };
    const pending = transport({ retries: 0, scheduler: manual, fetch: watched }).request({
      method: 'GET',
      url: `${base}/stall-body`,
      timeoutMs: 150,
    });
    const state = tracked(pending);
    await headers; // the body is now being read, and stalls
    await manual.advance(149);
    expect(state.settled()).toBe(false);
    await manual.advance(1);
    expect(state.settled()).toBe(true); // at once: nothing waited on the wall clock
    expect(((await rejection(pending)) as TransportError).code).toBe('TIMEOUT');
    expect(manual.pending).toBe(0);
  });

  it('times out even when an injected fetch ignores its signal', async () => {
    const manual = new ManualScheduler();
    const deaf: typeof fetch = () => new Promise<Response>(() => {});
    const pending = new Transport({ fetch: deaf, retries: 0, scheduler: manual }).request({
      method: 'GET',
      url: 'http://x.invalid/',
      timeoutMs: 50,
    });
    const state = tracked(pending);
    await manual.advance(49);
    expect(state.settled()).toBe(false);
    await manual.advance(1);
    expect(state.settled()).toBe(true); // at once: nothing waited on the wall clock
    expect(((await rejection(pending)) as TransportError).code).toBe('TIMEOUT');
    expect(manual.pending).toBe(0);
  });

  it('re-throws a caller abort at once even when an injected fetch ignores its signal', async () => {
    const manual = new ManualScheduler();
    const controller = new AbortController();
    const deaf: typeof fetch = () => new Promise<Response>(() => {});
    const pending = new Transport({ fetch: deaf, retries: 2, scheduler: manual }).request({
      method: 'GET',
      url: 'http://x.invalid/',
      timeoutMs: 50,
      signal: controller.signal,
    });
    const state = tracked(pending);
    await drain();
    expect(state.settled()).toBe(false);
    const reason = new Error('the caller went away');
    controller.abort(reason);
    expect(await rejection(pending)).toBe(reason);
    expect(manual.pending).toBe(0); // the attempt's timer was cleared, no retry was scheduled
  });

  it('clears the attempt timer once the answer is in (no timer left behind)', async () => {
    const manual = new ManualScheduler();
    const answer = await transport({ scheduler: manual }).request<{ errcode: number }>({
      method: 'GET',
      url: `${base}/ok/cleared`,
    });
    expect(answer.data.errcode).toBe(0);
    await drain();
    expect(manual.pending).toBe(0);
  });

  it('re-throws a caller abort as the AbortError and does not retry it', async () => {
    const controller = new AbortController();
    const pending = transport({ retries: 2 }).request({
      method: 'GET',
      url: `${base}/delay/abort?ms=2000`,
      signal: controller.signal,
    });
    await arrival('/delay/abort');
    controller.abort();
    const error = await rejection(pending);
    expect((error as Error).name).toBe('AbortError');
    expect(error).not.toBeInstanceOf(WeChatKitError);
    // request() has settled: there is no attempt left to come.
    expect(hitsOf('/delay/abort')).toBe(1);
  });

  it('re-throws the caller’s own abort reason, also during a backoff delay', async () => {
    const controller = new AbortController();
    const reason = new Error('shutting down');
    // Aborted when the retry is scheduled: the abort lands in the 5 s backoff delay.
    const t = transport({
      retries: 2,
      retryBaseMs: 5000,
      random: () => 0.99,
      hooks: { onRetry: () => controller.abort(reason) },
    });
    const pending = t.request({ method: 'GET', url: `${base}/reset/backoff`, signal: controller.signal });
    const started = performance.now();
    expect(await rejection(pending)).toBe(reason);
    expect(performance.now() - started).toBeLessThan(1000);
    expect(hitsOf('/reset/backoff')).toBe(1);
  });

  it('does not send at all when the signal is already aborted', async () => {
    const error = await rejection(
      transport().request({ method: 'GET', url: `${base}/ok/pre-aborted`, signal: AbortSignal.abort() }),
    );
    expect((error as Error).name).toBe('AbortError');
    expect(hitsOf('/ok/pre-aborted')).toBe(0);
  });
});

describe('Transport: retries', () => {
  it('recovers a burst of errcode -1 by retrying, on GET and POST', async () => {
    const get = await transport().request<{ hit: number }>({ method: 'GET', url: `${base}/busy/get?n=2` });
    expect(get.data.hit).toBe(3);
    expect(hitsOf('/busy/get')).toBe(3);
    const post = await transport().request<{ hit: number }>({
      method: 'POST',
      url: `${base}/busy/post?n=1`,
      body: {},
    });
    expect(post.data.hit).toBe(2);
  });

  it('surfaces errcode -1 as SYSTEM_BUSY once retries are spent, and not at all with retryOnErrcode false', async () => {
    const spent = await rejection(
      transport({ retries: 2 }).request({ method: 'GET', url: `${base}/busy/always` }),
    );
    expect((spent as WeChatApiError).code).toBe('SYSTEM_BUSY');
    expect(hitsOf('/busy/always')).toBe(3);
    const off = await rejection(
      transport().request({ method: 'POST', url: `${base}/busy/off?n=1`, body: {}, retryOnErrcode: false }),
    );
    expect((off as WeChatApiError).code).toBe('SYSTEM_BUSY');
    expect(hitsOf('/busy/off')).toBe(1);
  });

  it.each([
    [45009, 'QUOTA_EXCEEDED'],
    [45011, 'RATE_LIMITED'],
    [40001, 'TOKEN_INVALID'],
    [42001, 'TOKEN_INVALID'],
    [40029, 'INVALID_CODE'],
  ])('surfaces errcode %i (%s) after exactly one request', async (errcode, code) => {
    const path = `/errcode/once-${errcode}`;
    const error = await rejection(
      transport({ retries: 5 }).request({ method: 'GET', url: `${base}${path}?code=${errcode}` }),
    );
    expect(error).toBeInstanceOf(WeChatApiError);
    expect((error as WeChatApiError).code).toBe(code);
    expect((error as WeChatApiError).errcode).toBe(errcode);
    expect(hitsOf(path)).toBe(1);
  });

  it('retries a GET after a connection reset, but never a POST', async () => {
    const get = await transport().request<{ hit: number }>({ method: 'GET', url: `${base}/reset/get?n=1` });
    expect(get.data.hit).toBe(2);
    const post = await rejection(
      transport().request({ method: 'POST', url: `${base}/reset/post?n=1`, body: {} }),
    );
    expect(post).toBeInstanceOf(TransportError);
    expect((post as TransportError).code).toBe('NETWORK_ERROR');
    expect((post as TransportError).cause).toBeDefined();
    expect(hitsOf('/reset/post')).toBe(1);
  });

  it('retries a POST marked idempotent', async () => {
    const { data } = await transport().request<{ hit: number }>({
      method: 'POST',
      url: `${base}/reset/idem?n=1`,
      body: {},
      idempotent: true,
    });
    expect(data.hit).toBe(2);
  });

  it('bounds retries: at most retries + 1 attempts', async () => {
    const reset = await rejection(
      transport({ retries: 2 }).request({ method: 'GET', url: `${base}/reset/bounded` }),
    );
    expect((reset as TransportError).code).toBe('NETWORK_ERROR');
    expect(hitsOf('/reset/bounded')).toBe(3);
    const none = await rejection(
      transport({ retries: 0 }).request({ method: 'GET', url: `${base}/status/none?code=502` }),
    );
    expect((none as TransportError).status).toBe(502);
    expect(hitsOf('/status/none')).toBe(1);
  });

  it('retries a 5xx on GET until it succeeds, and never a 4xx', async () => {
    const ok = await transport().request<{ hit: number }>({
      method: 'GET',
      url: `${base}/status/flaky?code=503&n=2`,
    });
    expect(ok.data.hit).toBe(3);
    const bad = await rejection(transport().request({ method: 'GET', url: `${base}/status/bad?code=400` }));
    expect(bad).toBeInstanceOf(TransportError);
    expect((bad as TransportError).code).toBe('HTTP_ERROR');
    expect((bad as TransportError).status).toBe(400);
    expect(hitsOf('/status/bad')).toBe(1);
    const post500 = await rejection(
      transport().request({ method: 'POST', url: `${base}/status/post?code=500`, body: {} }),
    );
    expect((post500 as TransportError).status).toBe(500);
    expect(hitsOf('/status/post')).toBe(1);
  });

  it('reports truncated JSON as BAD_RESPONSE, retried on GET only', async () => {
    const get = await rejection(transport().request({ method: 'GET', url: `${base}/truncated/get` }));
    expect((get as TransportError).code).toBe('BAD_RESPONSE');
    expect(hitsOf('/truncated/get')).toBe(3);
    const post = await rejection(
      transport().request({ method: 'POST', url: `${base}/truncated/post`, body: {} }),
    );
    expect((post as TransportError).code).toBe('BAD_RESPONSE');
    expect(hitsOf('/truncated/post')).toBe(1);
  });

  it('backs off with full jitter, exponential from retryBaseMs and capped at retryMaxMs', async () => {
    const delays: number[] = [];
    const t = new Transport({
      retries: 4,
      retryBaseMs: 10,
      retryMaxMs: 30,
      random: () => 0.5,
      hooks: { onRetry: (e) => delays.push(e.delayMs) },
    });
    await rejection(t.request({ method: 'GET', url: `${base}/busy/backoff` }));
    expect(delays).toEqual([5, 10, 15, 15]);
  });
});

describe('Transport: hooks and redaction', () => {
  it('never lets a secret reach a hook event, an error message or toJSON()', async () => {
    const events: unknown[] = [];
    const hooks: TransportHooks = {
      onRequest: (e) => events.push({ type: 'request', ...e }),
      onResponse: (e) => events.push({ type: 'response', ...e }),
      onRetry: (e) => events.push({ type: 'retry', ...e, message: e.error.message }),
      onError: (e) => events.push({ type: 'error', ...e }),
    };
    // Only r3 may time out: it goes through a transport with the same hooks on a manual scheduler,
    // which the test moves past its timeout twice (first attempt, then the retry); the others keep
    // the real 5 s bound, which a fast call on loopback does not reach.
    const t = transport({ hooks, retries: 1, timeoutMs: 5000 });
    const manual = new ManualScheduler();
    const slow = transport({ hooks, retries: 1, timeoutMs: 100, scheduler: manual });
    const query = { access_token: TOKEN, appid: 'wx1', secret: APPSECRET, js_code: JS_CODE };
    const body = { appid: 'wx1', secret: APPSECRET, session_key: SESSION_KEY };
    const encoded = `access%5Ftoken=${TOKEN}&SECRET=${APPSECRET}&redirect_uri=${encodeURIComponent(`https://x/cb?code=${JS_CODE}&a=1`)}`;
    const calls: Array<Promise<unknown>> = [
      t.request({ method: 'GET', url: `${base}/ok/r1`, query }),
      t.request({ method: 'GET', url: `${base}/ok/r2?${encoded}` }),
      slow.request({ method: 'GET', url: `${base}/delay/r3?ms=60000`, query }),
      t.request({ method: 'GET', url: `${base}/reset/r4`, query }),
      t.request({ method: 'POST', url: `${base}/reset/r5`, query, body }),
      t.request({ method: 'GET', url: `${base}/status/r6?code=500`, query }),
      t.request({ method: 'GET', url: `${base}/busy/r7?${encoded}` }),
      t.request({ method: 'GET', url: `${base}/errcode/r8?code=45009`, query }),
      t.request({ method: 'GET', url: `${base}/truncated/r9`, query }),
      t.request({ method: 'POST', url: `${base}/echo/r10`, query, body }),
    ];
    const settled = Promise.allSettled(calls);
    await arrival('/delay/r3');
    await manual.advance(100); // the back-off (random 0) is due at once
    await arrival('/delay/r3', 2);
    await manual.advance(100);
    const results = await settled;
    expect(hitsOf('/delay/r3')).toBe(2);
    const errors = results.flatMap((r) => (r.status === 'rejected' ? [r.reason as Error] : []));
    expect(errors).toHaveLength(7);
    const observed = JSON.stringify({
      events,
      messages: errors.map((e) => e.message),
      json: errors.map((e) => (e instanceof WeChatKitError ? e.toJSON() : String(e))),
      strings: errors.map(String),
      inspected: errors.map((e) => inspect(e, { depth: 10 })),
    });
    for (const secret of SECRETS) expect(observed).not.toContain(secret);
    expect(observed).toContain('access_token=***');
    expect(observed).toContain('access%5Ftoken=***');
    expect(observed).toContain('code%3D***');
    // The events are complete: every request started, and each failure was reported once.
    const types = events.map((e) => (e as { type: string }).type);
    expect(types.filter((t) => t === 'error')).toHaveLength(7);
    expect(types).toContain('retry');
    expect(types).toContain('response');
  });

  it('keeps a secret out of the cause when a custom fetch puts the URL in its error', async () => {
    const leaky: typeof fetch = async (input) => {
      throw new TypeError('fetch failed', {
        cause: Object.assign(new Error(`connect ECONNREFUSED for ${String(input)}`), {
          code: 'ECONNREFUSED',
        }),
      });
    };
    const error = await rejection(
      new Transport({ fetch: leaky, retries: 0 }).request({
        method: 'GET',
        url: 'https://api.weixin.qq.com/cgi-bin/token',
        query: { secret: APPSECRET, access_token: TOKEN },
      }),
    );
    expect((error as TransportError).code).toBe('NETWORK_ERROR');
    expect((error as TransportError).message).toContain('ECONNREFUSED');
    const shown = inspect(error, { depth: 10 });
    expect(shown).not.toContain(APPSECRET);
    expect(shown).not.toContain(TOKEN);
    expect(((error as Error).cause as Error).cause).toMatchObject({ code: 'ECONNREFUSED' });
  });

  it('reports ids, attempts, status, errcode and durations', async () => {
    const events: Array<Record<string, unknown>> = [];
    const hooks: TransportHooks = {
      onRequest: (e) => events.push({ type: 'request', ...e }),
      onResponse: (e) => events.push({ type: 'response', ...e }),
      onRetry: (e) => events.push({ type: 'retry', ...e }),
    };
    await transport({ hooks }).request({ method: 'GET', url: `${base}/busy/events?n=1` });
    expect(events.map((e) => [e.type, e.attempt])).toEqual([
      ['request', 1],
      ['response', 1],
      ['retry', 1],
      ['request', 2],
      ['response', 2],
    ]);
    expect(new Set(events.map((e) => e.id)).size).toBe(1);
    expect(events[1]).toMatchObject({ status: 200, errcode: -1, method: 'GET' });
    expect(events[2]).toMatchObject({ reason: 'SYSTEM_BUSY', delayMs: 0 });
    expect(events[4]).toMatchObject({ errcode: 0 });
    expect(typeof events[4]?.durationMs).toBe('number');
  });

  it('swallows what hooks throw or reject with', async () => {
    const boom = () => {
      throw new Error('logger broke');
    };
    const hooks: TransportHooks = {
      onRequest: boom,
      onResponse: (() => Promise.reject(new Error('async logger broke'))) as unknown as () => void,
      onRetry: boom,
      onError: boom,
    };
    const { data } = await transport({ hooks }).request<{ hit: number }>({
      method: 'GET',
      url: `${base}/busy/hooks?n=1`,
    });
    expect(data.hit).toBe(2);
    const error = await rejection(
      transport({ hooks }).request({ method: 'GET', url: `${base}/errcode/hooks?code=45009` }),
    );
    expect((error as WeChatApiError).code).toBe('QUOTA_EXCEEDED');
  });
});

describe('Transport against the emulator', () => {
  let emulator: RunningEmulator;
  beforeAll(async () => {
    emulator = await startEmulator({ config: { apps: [], merchants: [] } });
  });
  afterAll(async () => {
    await emulator.close();
  });

  it('retries a GET whose connection was dropped, then surfaces the unknown-API errcode 40066', async () => {
    const fault = await fetch(`${emulator.url}/_emulator/faults`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ path: '/cgi-bin/x', drop: true, count: 1 }),
    });
    expect(fault.status).toBe(200);
    const attempts: number[] = [];
    const retries: string[] = [];
    const t = transport({
      hooks: { onRequest: (e) => attempts.push(e.attempt), onRetry: (e) => retries.push(e.reason) },
    });
    const error = await rejection(
      t.request({ method: 'GET', url: `${emulator.url}/cgi-bin/x`, query: { access_token: TOKEN } }),
    );
    expect(error).toBeInstanceOf(WeChatApiError);
    expect((error as WeChatApiError).errcode).toBe(40066);
    expect((error as WeChatApiError).code).toBe('API_ERROR');
    expect((error as WeChatApiError).path).toBe('/cgi-bin/x');
    expect(attempts).toEqual([1, 2]);
    expect(retries).toEqual(['NETWORK_ERROR']);
    expect(emulator.state.stats.calls['/cgi-bin/x']).toBe(2);
  });

  it('works with the emulator in-process as the injected fetch', async () => {
    const t = transport({ fetch: emulator.fetch as typeof fetch });
    const error = await rejection(t.request({ method: 'POST', url: 'http://emulator/cgi-bin/y', body: {} }));
    expect((error as WeChatApiError).errcode).toBe(40066);
  });
});
