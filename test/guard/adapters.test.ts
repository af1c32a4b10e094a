/**
 * The guard adapters, each on a real server on 127.0.0.1 (plain HTTP, and TLS for `secure`), with
 * a guard route that echoes the GuardRequest it was given.
 */
import type { AddressInfo } from 'node:net';
import { getRequestListener } from '@hono/node-server';
import express from 'express';
import Fastify from 'fastify';
import { Hono } from 'hono';
import Koa from 'koa';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { ConfigError, GuardError } from '../../src/errors.js';
import {
  type Authenticator,
  expressRequireSession,
  fastifyRequireSession,
  type GuardSessionState,
  guardExpress,
  guardFastify,
  guardFetch,
  guardHono,
  guardKoa,
  guardNode,
  honoRequireSession,
  koaRequireSession,
} from '../../src/guard/adapters.js';
import { createGuard } from '../../src/guard/guard.js';
import type { GuardAnswer, GuardHandler, GuardRequest, GuardSession } from '../../src/guard/types.js';
import { listen, type Reply, type Running, send, TLS, type Tls } from './servers.js';

// ---- the echoing guard route ----------------------------------------------------------------

const JSON_TYPE = 'application/json; charset=utf-8';

function errorAnswer(error: GuardError): GuardAnswer {
  return {
    status: error.status,
    headers: { 'content-type': JSON_TYPE },
    body: JSON.stringify({ error: { code: error.code, message: error.message, requestId: 'test' } }),
  };
}

interface Echo {
  method: string;
  url: string;
  headers: Record<string, string | string[] | undefined>;
  remoteAddress: string | undefined;
  secure: boolean;
  body: unknown;
  memoised: boolean;
}

const SECRET = 'db password hunter2';

/** A guard route echoing what it was given, with fixed answers on a few paths. */
const echo: GuardHandler = async (request) => {
  const path = request.url.split('?')[0];
  if (path === '/fail') throw new Error(SECRET);
  if (path === '/redirect') {
    return {
      status: 308,
      headers: { location: 'https://example.com/next', 'x-request-id': 'r-308' },
      body: '',
    };
  }
  if (path === '/no-content') return { status: 204, headers: { 'x-request-id': 'r-204' }, body: '' };
  if (path === '/cookies') {
    return {
      status: 200,
      headers: { 'content-type': JSON_TYPE, 'set-cookie': 'a=1; Path=/; HttpOnly\nb=2; Path=/; HttpOnly' },
      body: '{}',
    };
  }
  if (path === '/bad-header') return { status: 200, headers: { 'x-bad': `a\r\nx-injected: 1` }, body: '{}' };
  let body: unknown;
  try {
    body = await request.json();
  } catch (error) {
    if (error instanceof GuardError) return errorAnswer(error);
    throw error;
  }
  const echoed: Echo = {
    method: request.method,
    url: request.url,
    headers: { ...request.headers },
    remoteAddress: request.remoteAddress,
    secure: request.secure,
    body,
    memoised: (await request.json()) === body,
  };
  return {
    status: 203,
    headers: {
      'content-type': JSON_TYPE,
      'x-request-id': 'r-203',
      'cache-control': 'no-store',
      'strict-transport-security': 'max-age=31536000; includeSubDomains',
      // A wrong length from a handler must not reach the wire.
      'content-length': '1',
    },
    body: JSON.stringify(echoed),
  };
};

// ---- one target per adapter (and per body-parser setup) -------------------------------------

/** What koa-bodyparser leaves: JSON parsed into ctx.request.body (400 if malformed), else `{}` unread. */
const koaJsonParser: Koa.Middleware = async (ctx, next) => {
  const request = ctx.request as typeof ctx.request & { body?: unknown; rawBody?: string };
  if (ctx.is('application/json')) {
    const chunks: Buffer[] = [];
    for await (const chunk of ctx.req) chunks.push(chunk as Buffer);
    const text = Buffer.concat(chunks).toString('utf8');
    request.rawBody = text;
    try {
      request.body = text === '' ? {} : JSON.parse(text);
    } catch {
      ctx.throw(400, 'invalid JSON');
    }
  } else {
    request.body = {};
  }
  await next();
};

interface Target {
  name: string;
  start(handler: GuardHandler, tls?: Tls): Promise<Running>;
  /** Who refuses malformed JSON: the guard (400 BAD_BODY), or the framework's own parser first. */
  invalidJson: 'guard' | 'framework';
  /** The remoteAddress the route sees for a client on 127.0.0.1. */
  peer: (address: string | undefined) => boolean;
}

const loopback = (address: string | undefined): boolean =>
  address === '127.0.0.1' || address === '::ffff:127.0.0.1';

const TARGETS: Target[] = [
  {
    name: 'node:http (guardNode)',
    start: (handler, tls) => listen(guardNode(handler), tls),
    invalidJson: 'guard',
    peer: loopback,
  },
  {
    name: 'express (guardExpress)',
    start: (handler, tls) => {
      const app = express();
      app.use(guardExpress(handler));
      return listen(app, tls);
    },
    invalidJson: 'guard',
    peer: loopback,
  },
  {
    name: 'express with express.json() mounted (guardExpress)',
    start: (handler, tls) => {
      const app = express();
      // Above the guard's limit, so that the guard's own limit is the one tested.
      app.use(express.json({ limit: '1mb' }));
      app.use(guardExpress(handler));
      return listen(app, tls);
    },
    invalidJson: 'framework',
    peer: loopback,
  },
  {
    name: 'koa (guardKoa)',
    start: (handler, tls) => {
      const app = new Koa();
      app.use(guardKoa(handler));
      return listen(app.callback(), tls);
    },
    invalidJson: 'guard',
    peer: loopback,
  },
  {
    name: 'koa with a body parser (guardKoa)',
    start: (handler, tls) => {
      const app = new Koa();
      app.silent = true;
      app.use(koaJsonParser);
      app.use(guardKoa(handler));
      return listen(app.callback(), tls);
    },
    invalidJson: 'framework',
    peer: loopback,
  },
  {
    name: 'fastify (guardFastify)',
    start: async (handler, tls) => {
      const app = tls === undefined ? Fastify() : Fastify({ https: tls });
      app.route({
        method: ['GET', 'HEAD', 'POST', 'PUT', 'DELETE'],
        url: '/*',
        handler: guardFastify(handler),
      });
      await app.listen({ port: 0, host: '127.0.0.1' });
      const { port } = app.server.address() as AddressInfo;
      return { url: `${tls === undefined ? 'http' : 'https'}://127.0.0.1:${port}`, close: () => app.close() };
    },
    invalidJson: 'framework',
    peer: loopback,
  },
  {
    name: 'hono on @hono/node-server (guardHono)',
    start: (handler, tls) => {
      const app = new Hono();
      app.all('*', guardHono(handler));
      return listen(getRequestListener(app.fetch), tls);
    },
    invalidJson: 'guard',
    peer: loopback,
  },
  {
    name: 'fetch through @hono/node-server (guardFetch)',
    start: (handler, tls) =>
      listen(getRequestListener(guardFetch(handler, { remoteAddress: () => '198.51.100.7' })), tls),
    invalidJson: 'guard',
    peer: (address) => address === '198.51.100.7',
  },
];

/** 34 200 Chinese characters: 102 600 UTF-8 bytes, over the 102 400 default limit, in fewer characters. */
const OVERSIZE = JSON.stringify({ note: '中'.repeat(34_200) });
const CHINESE = { nickName: '微信用户😀', city: '深圳', list: [1, '二', { 三: true }] };
const INTERNAL = '{"error":{"code":"INTERNAL_ERROR","message":"internal error","requestId":""}}';

function parse<T>(reply: Reply): T {
  return JSON.parse(reply.text) as T;
}

function errorOf(reply: Reply): { code: string; message: string } {
  return parse<{ error: { code: string; message: string } }>(reply).error;
}

describe.each(TARGETS)('$name', (target) => {
  let server: Running;
  let calls = 0;
  const counted: GuardHandler = (request) => {
    calls += 1;
    return echo(request);
  };

  beforeAll(async () => {
    server = await target.start(counted);
  });
  afterAll(async () => {
    await server?.close();
  });

  it('hands the route the method, path and query, lower-case headers, the TCP peer and a UTF-8 JSON body', async () => {
    const reply = await send(server.url, '/api/echo?q=%E4%B8%AD%E6%96%87&x=1', {
      method: 'PUT',
      headers: {
        'Content-Type': 'application/json; charset=utf-8',
        'X-Custom-Header': 'Value',
        'X-Forwarded-For': '1.2.3.4',
        'X-Forwarded-Proto': 'https',
      },
      body: JSON.stringify(CHINESE),
    });
    expect(reply.status).toBe(203);
    const echoed = parse<Echo>(reply);
    expect(echoed.method).toBe('PUT');
    expect(echoed.url).toBe('/api/echo?q=%E4%B8%AD%E6%96%87&x=1');
    expect(echoed.headers['x-custom-header']).toBe('Value');
    expect(echoed.headers['content-type']).toBe('application/json; charset=utf-8');
    expect(Object.keys(echoed.headers).every((name) => name === name.toLowerCase())).toBe(true);
    // The proxy headers are passed on for the guard's trustProxy to judge, never used here.
    expect(echoed.headers['x-forwarded-for']).toBe('1.2.3.4');
    expect(target.peer(echoed.remoteAddress)).toBe(true);
    expect(echoed.secure).toBe(false);
    expect(echoed.body).toEqual(CHINESE);
    expect(echoed.memoised).toBe(true);
  });

  it('reads a chunked body whose Chinese character is split across chunks, decoded once', async () => {
    const reply = await send(server.url, '/chunked', {
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(CHINESE),
      chunked: true,
    });
    expect(reply.status).toBe(203);
    expect(parse<Echo>(reply).body).toEqual(CHINESE);
  });

  it('gives {} for a GET and for an empty POST body', async () => {
    const get = await send(server.url, '/get?a=1');
    expect(get.status).toBe(203);
    expect(parse<Echo>(get)).toMatchObject({ method: 'GET', url: '/get?a=1', body: {} });
    const empty = await send(server.url, '/empty', { body: '' });
    expect(empty.status).toBe(203);
    expect(parse<Echo>(empty)).toMatchObject({ method: 'POST', body: {} });
  });

  it('passes the status and every header through, with a Content-Length of UTF-8 bytes', async () => {
    const reply = await send(server.url, '/headers', {
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(CHINESE),
    });
    expect(reply.status).toBe(203);
    expect(reply.headers['content-type']).toBe(JSON_TYPE);
    expect(reply.headers['x-request-id']).toBe('r-203');
    expect(reply.headers['cache-control']).toBe('no-store');
    expect(reply.headers['strict-transport-security']).toBe('max-age=31536000; includeSubDomains');
    expect(Number(reply.headers['content-length'])).toBe(Buffer.byteLength(reply.text, 'utf8'));
    expect(Buffer.byteLength(reply.text, 'utf8')).toBeGreaterThan(reply.text.length);
  });

  it('sends a 308 and a 204 with their headers and no body', async () => {
    const redirect = await send(server.url, '/redirect');
    expect(redirect.status).toBe(308);
    expect(redirect.headers.location).toBe('https://example.com/next');
    expect(redirect.headers['x-request-id']).toBe('r-308');
    expect(redirect.text).toBe('');
    const none = await send(server.url, '/no-content', { method: 'DELETE' });
    expect(none.status).toBe(204);
    expect(none.headers['x-request-id']).toBe('r-204');
    expect(none.text).toBe('');
  });

  it('sends each cookie of a multi-line Set-Cookie as its own header', async () => {
    const reply = await send(server.url, '/cookies');
    expect(reply.status).toBe(200);
    expect(reply.headers['set-cookie']).toEqual(['a=1; Path=/; HttpOnly', 'b=2; Path=/; HttpOnly']);
  });

  it('refuses a body over the default 100 KiB limit, counted in UTF-8 bytes, with 413 PAYLOAD_TOO_LARGE', async () => {
    expect(OVERSIZE.length).toBeLessThan(102_400);
    const declared = await send(server.url, '/big', {
      headers: { 'content-type': 'application/json' },
      body: OVERSIZE,
    });
    expect(declared.status).toBe(413);
    expect(errorOf(declared).code).toBe('PAYLOAD_TOO_LARGE');
    const chunked = await send(server.url, '/big', {
      headers: { 'content-type': 'application/json' },
      body: OVERSIZE,
      chunked: true,
    });
    expect(chunked.status).toBe(413);
    expect(errorOf(chunked).code).toBe('PAYLOAD_TOO_LARGE');
  });

  it('refuses malformed JSON with 400 (BAD_BODY when the guard is the parser)', async () => {
    const before = calls;
    const reply = await send(server.url, '/json', {
      headers: { 'content-type': 'application/json' },
      body: '{"a":',
    });
    expect(reply.status).toBe(400);
    if (target.invalidJson === 'guard') {
      expect(errorOf(reply)).toMatchObject({
        code: 'BAD_BODY',
        message: 'the body must be JSON (Content-Type: application/json)',
      });
    } else {
      // The framework's parser answered before the route: the route never saw the body.
      expect(calls).toBe(before);
    }
  });

  it('refuses a non-empty body that is not declared as JSON with 400 BAD_BODY', async () => {
    const reply = await send(server.url, '/text', {
      headers: { 'content-type': 'text/plain' },
      body: '{"a":1}',
    });
    expect(reply.status).toBe(400);
    expect(errorOf(reply).code).toBe('BAD_BODY');
  });

  it('answers a route that throws with a bare 500, leaking nothing', async () => {
    const errors = vi.spyOn(console, 'error').mockImplementation(() => {});
    try {
      const reply = await send(server.url, '/fail', {
        headers: { 'content-type': 'application/json' },
        body: '{}',
      });
      expect(reply.status).toBe(500);
      expect(reply.headers['content-type']).toBe(JSON_TYPE);
      expect(reply.text).toBe(INTERNAL);
      expect(reply.text).not.toContain('hunter2');
      expect(errors).toHaveBeenCalledTimes(1);
    } finally {
      errors.mockRestore();
    }
  });

  it('answers 500 instead of writing a header with a line break (no header injection)', async () => {
    const errors = vi.spyOn(console, 'error').mockImplementation(() => {});
    try {
      const reply = await send(server.url, '/bad-header');
      expect(reply.status).toBe(500);
      expect(reply.text).toBe(INTERNAL);
      expect(reply.headers['x-injected']).toBeUndefined();
      expect(reply.headers['x-bad']).toBeUndefined();
      expect(errors).toHaveBeenCalledTimes(1);
    } finally {
      errors.mockRestore();
    }
  });
});

describe.each(TARGETS)('$name over TLS', (target) => {
  let server: Running;
  beforeAll(async () => {
    server = await target.start(echo, TLS);
  });
  afterAll(async () => {
    await server?.close();
  });

  it('reports secure: true for a TLS connection to this process', async () => {
    const reply = await send(server.url, '/tls?x=1');
    expect(reply.status).toBe(203);
    expect(parse<Echo>(reply)).toMatchObject({ secure: true, url: '/tls?x=1' });
  });
});

describe('secure is the TLS state of the connection, not what the client writes', () => {
  it.each(TARGETS.filter((target) => target.name !== 'fetch through @hono/node-server (guardFetch)'))(
    '$name: an absolute-form https:// request target over plain HTTP is not secure, and its url is path + query',
    async (target) => {
      const server = await target.start(echo);
      try {
        const reply = await send(server.url, '/', { target: 'https://127.0.0.1/abs?x=1' });
        expect(reply.status).toBe(203);
        expect(parse<Echo>(reply)).toMatchObject({ secure: false, url: '/abs?x=1' });
      } finally {
        await server.close();
      }
    },
  );
});

describe('adapters without a Node socket', () => {
  it('guardFetch: secure follows the URL scheme; no remoteAddress without the option', async () => {
    const handler = guardFetch(echo);
    const secure = await handler(
      new Request('https://api.example.com/echo?x=%20', {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'X-Mixed-Case': 'v' },
        body: JSON.stringify(CHINESE),
      }),
    );
    expect(secure.status).toBe(203);
    expect(secure.headers.get('x-request-id')).toBe('r-203');
    const echoed = (await secure.json()) as Echo;
    expect(echoed).toMatchObject({ method: 'POST', url: '/echo?x=%20', secure: true, body: CHINESE });
    expect(echoed.remoteAddress).toBeUndefined();
    expect(echoed.headers['x-mixed-case']).toBe('v');
    const plain = await handler(new Request('http://api.example.com/echo'));
    expect(((await plain.json()) as Echo).secure).toBe(false);
  });

  it('guardFetch: a streamed body over the limit is refused without a Content-Length', async () => {
    const handler = guardFetch(echo, { limit: 10 });
    const stream = new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(new TextEncoder().encode('{"a":"中文中文'));
        controller.enqueue(new TextEncoder().encode('"}'));
        controller.close();
      },
    });
    const reply = await handler(
      new Request('https://api.example.com/big', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: stream,
        duplex: 'half',
      } as RequestInit),
    );
    expect(reply.status).toBe(413);
    expect(((await reply.json()) as { error: { code: string } }).error.code).toBe('PAYLOAD_TOO_LARGE');
  });

  it('guardFetch: a JSON type in another charset, or invalid UTF-8, is BAD_BODY', async () => {
    const handler = guardFetch(echo);
    const gbk = await handler(
      new Request('https://x/', {
        method: 'POST',
        headers: { 'content-type': 'application/json; charset=gbk' },
        body: '{}',
      }),
    );
    expect(gbk.status).toBe(400);
    const broken = await handler(
      new Request('https://x/', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: new Uint8Array([0x7b, 0x22, 0x61, 0x22, 0x3a, 0x22, 0xe4, 0xb8, 0x22, 0x7d]),
      }),
    );
    expect(broken.status).toBe(400);
    const vendor = await handler(
      new Request('https://x/', {
        method: 'POST',
        headers: { 'content-type': 'application/merge-patch+json' },
        body: '{"a":1}',
      }),
    );
    expect(((await vendor.json()) as Echo).body).toEqual({ a: 1 });
  });

  it('guardHono without @hono/node-server: no remoteAddress, secure from the URL', async () => {
    const app = new Hono();
    app.all('*', guardHono(echo));
    const reply = await app.request('https://api.example.com/echo?a=1', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(CHINESE),
    });
    expect(reply.status).toBe(203);
    const echoed = (await reply.json()) as Echo;
    expect(echoed).toMatchObject({ url: '/echo?a=1', secure: true, body: CHINESE });
    expect(echoed.remoteAddress).toBeUndefined();
  });

  it('guardHono reuses a body a middleware already read through c.req', async () => {
    const app = new Hono();
    app.use('*', async (c, next) => {
      await c.req.text();
      await next();
    });
    app.all('*', guardHono(echo));
    const reply = await app.request('http://x/echo', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(CHINESE),
    });
    expect(reply.status).toBe(203);
    expect(((await reply.json()) as Echo).body).toEqual(CHINESE);
  });
});

describe('guardFastify among async hooks', () => {
  it('sends one answer through async preHandler and onSend hooks, and a route that throws still gets its 500', async () => {
    // guardFastify is a callback-style handler: Fastify must neither answer twice while an async
    // onSend hook runs, nor lose the answer; its logger would report a second send.
    const logged: string[] = [];
    const app = Fastify({
      logger: {
        level: 'warn',
        stream: { write: (line: string) => logged.push(line) },
      },
    });
    app.addHook('preHandler', async () => {
      await new Promise((resolve) => setImmediate(resolve));
    });
    app.addHook('onSend', async (_request, reply, payload) => {
      await new Promise((resolve) => setTimeout(resolve, 5));
      reply.header('x-hooked', 'yes');
      return payload;
    });
    app.get('/*', guardFastify(echo));
    // A guard route whose answer is ready in the same step (sent before the handler returns).
    const guard = createGuard({
      miniProgram: {
        appId: 'wx0123456789abcdef',
        auth: { code2Session: async () => ({ openid: 'o', session_key: 'k' }) },
        phoneNumbers: { get: async () => Promise.reject(new Error('not used')) },
      },
      keys: [{ kid: 'k1', alg: 'HS256', secret: Buffer.alloc(32, 7) }],
    });
    app.get('/ready', guardFastify(guard.open(() => ({ ready: true }))));
    await app.listen({ port: 0, host: '127.0.0.1' });
    const errors = vi.spyOn(console, 'error').mockImplementation(() => {});
    try {
      const base = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
      const answers = await Promise.all([
        send(base, '/echo?n=1'),
        send(base, '/echo?n=2'),
        send(base, '/fail'),
        send(base, '/ready'),
        send(base, '/ready'),
      ]);
      expect(answers.map((a) => a.status)).toEqual([203, 203, 500, 200, 200]);
      expect(parse(answers[3] as Reply)).toEqual({ ready: true });
      for (const answer of answers) {
        expect(answer.headers['x-hooked']).toBe('yes');
        expect(answer.headers['content-type']).toBe(JSON_TYPE);
      }
      expect(parse<{ url: string }>(answers[1] as Reply).url).toBe('/echo?n=2');
      expect((answers[2] as Reply).text).toBe(INTERNAL);
      expect(logged.join('\n')).not.toMatch(/already sent/i);
      expect(errors).toHaveBeenCalledTimes(1);
    } finally {
      errors.mockRestore();
      await app.close();
    }
  });
});

describe('guardExpress under a mount path', () => {
  it('hands the route the original URL, mount path included', async () => {
    const app = express();
    app.use('/api', guardExpress(echo));
    const server = await listen(app);
    try {
      const reply = await send(server.url, '/api/echo?x=1');
      expect(parse<Echo>(reply).url).toBe('/api/echo?x=1');
    } finally {
      await server.close();
    }
  });
});

describe('adapter options', () => {
  const factories = [guardNode, guardExpress, guardKoa, guardFastify, guardHono, guardFetch];
  const middlewares = [expressRequireSession, koaRequireSession, fastifyRequireSession, honoRequireSession];

  it('refuse an unknown option, a bad limit and something that is not a route or a guard, when called', () => {
    for (const factory of factories) {
      expect(() => factory(echo, { limt: 10 } as never)).toThrow(ConfigError);
      expect(() => factory(echo, { limit: -1 })).toThrow(/limit must be a whole number/);
      expect(() => factory(echo, { limit: 1.5 })).toThrow(ConfigError);
      expect(() => factory({ handle: echo } as never)).toThrow(/expected a guard route/);
    }
    for (const middleware of middlewares) {
      expect(() => middleware(echo as never)).toThrow(/expected the guard/);
      expect(() => middleware(authenticator([]), { extra: true } as never)).toThrow(/unknown option "extra"/);
    }
    expect(() => guardFetch(echo, { remoteAddress: 'x' as never })).toThrow(ConfigError);
  });

  it('apply a smaller limit, in bytes', async () => {
    const server = await listen(guardNode(echo, { limit: 10 }));
    try {
      // 4 characters, 12 bytes.
      const reply = await send(server.url, '/x', {
        headers: { 'content-type': 'application/json' },
        body: '"中文中文"',
      });
      expect(reply.status).toBe(413);
      // The rest of a refused body is never read: the connection is not kept alive to drain it.
      expect(reply.headers.connection).toBe('close');
      const fits = await send(server.url, '/x', {
        headers: { 'content-type': 'application/json' },
        body: '"中文"',
      });
      expect(parse<Echo>(fits).body).toBe('中文');
    } finally {
      await server.close();
    }
  });
});

// ---- the middleware form ----------------------------------------------------------------------

const SESSION: GuardSession = {
  openid: 'o_user_1',
  sessionId: 'sid-1',
  appId: 'wx0000000000000001',
  source: 'token',
};
const REFUSAL: GuardAnswer = {
  status: 401,
  headers: { 'content-type': JSON_TYPE, 'www-authenticate': 'Bearer', 'x-request-id': 'r-401' },
  body: JSON.stringify({ error: { code: 'SESSION_REQUIRED', message: '登录已失效', requestId: 'r-401' } }),
};

/** Ok for `Authorization: Bearer good`; throws for `Bearer explode`; else the 401 refusal. */
function authenticator(seen: GuardRequest[]): Authenticator {
  return {
    async authenticate(request) {
      seen.push(request);
      const auth = request.headers.authorization;
      if (auth === 'Bearer explode') throw new Error(SECRET);
      if (auth === 'Bearer good') {
        return {
          ok: true,
          session: SESSION,
          headers: { 'x-request-id': 'r-ok', 'set-cookie': 'seen=1; Path=/' },
        };
      }
      return { ok: false, answer: REFUSAL };
    },
  };
}

interface MiddlewareTarget {
  name: string;
  /** Serves `/private/me` behind the middleware; the route answers `{ session }` and counts its runs. */
  start(guard: Authenticator, routeRuns: { count: number }): Promise<Running>;
}

const MIDDLEWARES: MiddlewareTarget[] = [
  {
    name: 'expressRequireSession',
    start: (guard, routeRuns) => {
      const app = express();
      app.use((_req, res, next) => {
        res.setHeader('set-cookie', ['earlier=1; Path=/']);
        next();
      });
      app.use('/private', expressRequireSession(guard));
      app.get('/private/me', (req, res) => {
        routeRuns.count += 1;
        res.json({ session: (req as typeof req & { weixin?: GuardSessionState }).weixin?.session });
      });
      return listen(app);
    },
  },
  {
    name: 'koaRequireSession',
    start: (guard, routeRuns) => {
      const app = new Koa();
      app.use(async (ctx, next) => {
        ctx.set('set-cookie', ['earlier=1; Path=/']);
        await next();
      });
      app.use(koaRequireSession(guard));
      app.use((ctx) => {
        routeRuns.count += 1;
        ctx.body = { session: (ctx.state.weixin as GuardSessionState | undefined)?.session };
      });
      return listen(app.callback());
    },
  },
  {
    name: 'fastifyRequireSession',
    start: async (guard, routeRuns) => {
      const app = Fastify();
      app.decorateRequest('weixin', null);
      app.addHook('onRequest', async (_request, reply) => {
        reply.header('set-cookie', 'earlier=1; Path=/');
      });
      app.get('/private/me', { preHandler: fastifyRequireSession(guard) }, async (request) => {
        routeRuns.count += 1;
        return { session: (request as typeof request & { weixin?: GuardSessionState }).weixin?.session };
      });
      await app.listen({ port: 0, host: '127.0.0.1' });
      const { port } = app.server.address() as AddressInfo;
      return { url: `http://127.0.0.1:${port}`, close: () => app.close() };
    },
  },
  {
    name: 'honoRequireSession',
    start: (guard, routeRuns) => {
      const app = new Hono<{ Variables: { weixin: GuardSessionState } }>();
      app.use('*', async (c, next) => {
        c.header('set-cookie', 'earlier=1; Path=/', { append: true });
        await next();
      });
      app.use('/private/*', honoRequireSession(guard));
      app.get('/private/me', (c) => {
        routeRuns.count += 1;
        return c.json({ session: c.get('weixin').session });
      });
      return listen(getRequestListener(app.fetch));
    },
  },
];

describe.each(MIDDLEWARES)('$name', (target) => {
  let server: Running;
  const seen: GuardRequest[] = [];
  const routeRuns = { count: 0 };

  beforeAll(async () => {
    server = await target.start(authenticator(seen), routeRuns);
  });
  afterAll(async () => {
    await server?.close();
  });

  it('lets a valid session through: the route sees it, with the guard headers and earlier cookies kept', async () => {
    const before = routeRuns.count;
    const reply = await send(server.url, '/private/me?x=%E4%B8%AD', {
      headers: { Authorization: 'Bearer good' },
    });
    expect(reply.status).toBe(200);
    expect(parse<{ session: GuardSession }>(reply).session).toEqual(SESSION);
    expect(routeRuns.count).toBe(before + 1);
    expect(reply.headers['x-request-id']).toBe('r-ok');
    expect(reply.headers['set-cookie']).toEqual(['earlier=1; Path=/', 'seen=1; Path=/']);
    const request = seen.find((r) => r.url === '/private/me?x=%E4%B8%AD');
    expect(request).toMatchObject({
      method: 'GET',
      secure: false,
      headers: { authorization: 'Bearer good' },
    });
    expect(loopback(request?.remoteAddress)).toBe(true);
  });

  it('answers the refusal as it is and never runs the route', async () => {
    const before = routeRuns.count;
    const reply = await send(server.url, '/private/me', { headers: { Authorization: 'Bearer bad' } });
    expect(reply.status).toBe(401);
    expect(reply.headers['www-authenticate']).toBe('Bearer');
    expect(reply.headers['x-request-id']).toBe('r-401');
    expect(reply.text).toBe(REFUSAL.body);
    expect(routeRuns.count).toBe(before);
  });

  it('answers a bare 500 when authenticate() throws, and never runs the route', async () => {
    const errors = vi.spyOn(console, 'error').mockImplementation(() => {});
    try {
      const before = routeRuns.count;
      const reply = await send(server.url, '/private/me', { headers: { Authorization: 'Bearer explode' } });
      expect(reply.status).toBe(500);
      expect(reply.text).toBe(INTERNAL);
      expect(routeRuns.count).toBe(before);
    } finally {
      errors.mockRestore();
    }
  });
});

describe('honoRequireSession and the body', () => {
  it('leaves the body readable by the route after the guard read it', async () => {
    const reader: Authenticator = {
      async authenticate(request) {
        const body = await request.json();
        return {
          ok: true,
          session: { ...SESSION, openid: String((body as { who: string }).who) },
          headers: {},
        };
      },
    };
    const app = new Hono<{ Variables: { weixin: GuardSessionState } }>();
    app.use('*', honoRequireSession(reader));
    app.post('/orders', async (c) =>
      c.json({ openid: c.get('weixin').session.openid, body: await c.req.json() }),
    );
    const reply = await app.request('http://x/orders', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ who: '用户', n: 1 }),
    });
    expect(reply.status).toBe(200);
    expect(await reply.json()).toEqual({ openid: '用户', body: { who: '用户', n: 1 } });
  });
});
