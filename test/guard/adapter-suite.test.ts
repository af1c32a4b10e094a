/**
 * The shared adapter suite: every refusal of the guard, end to end, on every adapter. One real
 * server per framework on 127.0.0.1 serves the real guard routes of one guard of its own; WeChat is
 * the in-process emulator.
 */
import type { AddressInfo } from 'node:net';
import { getRequestListener, type HttpBindings } from '@hono/node-server';
import express from 'express';
import Fastify from 'fastify';
import { Hono } from 'hono';
import Koa from 'koa';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import {
  createGuard,
  type Guard,
  type GuardHandler,
  guardExpress,
  guardFastify,
  guardFetch,
  guardHono,
  guardKoa,
  guardNode,
  MemoryGuardStore,
} from '../../src/guard/index.js';
import { SECRET, world } from './fixture.js';
import { listen, type Reply, type Running, type SendOptions, send } from './servers.js';

const KEY = { kid: 'k1', alg: 'HS256', secret: SECRET } as const;
const H5 = 'https://h5.example.com';
const JSON_TYPE = 'application/json; charset=utf-8';
const USER_LIMIT = { points: 5, durationSeconds: 60 };

// One emulator for the file (its RSA keys take a second to make); every test uses users of its own.
const shared = world();
afterAll(() => shared.emulator.close());

// ---- the routes, as an app mounts them ------------------------------------------------------

interface Mounted {
  method: 'GET' | 'POST';
  path: string;
  handler: GuardHandler;
}

interface App {
  guard: Guard;
  routes: Mounted[];
  clock: { advance(ms: number): void };
  logger: { error: ReturnType<typeof vi.fn>; warn: ReturnType<typeof vi.fn> };
  /** How many times the /api/me and /api/boom handlers ran. */
  runs: { me: number; boom: number };
}

/** One guard with its own store, clock and logger, and the routes of the suite. */
function app(): App {
  let now = Date.UTC(2026, 11, 1, 8, 0, 0);
  const clock = {
    now: () => now,
    advance: (ms: number) => {
      now += ms;
    },
  };
  const logger = { error: vi.fn(), warn: vi.fn() };
  const guard = createGuard({
    miniProgram: shared.mp,
    keys: [KEY],
    store: new MemoryGuardStore({ now: clock.now }),
    now: clock.now,
    // Every login comes from 127.0.0.1: the per-IP budget must not be what a test runs into.
    limits: { user: USER_LIMIT, ip: { points: 1000, durationSeconds: 60 } },
    cors: { origins: [H5] },
    logger,
  });
  const runs = { me: 0, boom: 0 };
  const routes: Mounted[] = [
    { method: 'POST', path: '/api/login', handler: guard.loginRoute() },
    {
      method: 'GET',
      path: '/api/me',
      handler: guard.protect(({ session }) => {
        runs.me += 1;
        return { openid: session.openid, phone: '13800138000' };
      }),
    },
    {
      method: 'POST',
      path: '/api/phone',
      handler: guard.protect(async (ctx) => {
        const { code } = (await ctx.json()) as { code: string };
        const info = await ctx.phoneNumber(code);
        return { phone: info.purePhoneNumber };
      }),
    },
    { method: 'POST', path: '/api/logout', handler: guard.logoutRoute() },
    {
      method: 'GET',
      path: '/api/boom',
      handler: guard.protect(() => {
        runs.boom += 1;
        throw new Error('secret detail');
      }),
    },
  ];
  return { guard, routes, clock, logger, runs };
}

// ---- one server per adapter -----------------------------------------------------------------

interface Adapter {
  name: string;
  /** Serves each route on its method, and on OPTIONS for CORS preflights. */
  start(routes: Mounted[]): Promise<Running>;
}

const pathOf = (url: string): string => new URL(url, 'http://localhost').pathname;

const ADAPTERS: Adapter[] = [
  {
    name: 'node:http (guardNode)',
    start: (routes) => {
      const byPath = new Map(routes.map((route) => [route.path, guardNode(route.handler)]));
      return listen((req, res) => {
        const route = byPath.get(pathOf(req.url ?? '/'));
        if (route === undefined) {
          res.statusCode = 404;
          res.end();
          return;
        }
        route(req, res);
      });
    },
  },
  {
    name: 'express with express.json() (guardExpress)',
    start: (routes) => {
      const server = express();
      server.use(express.json());
      for (const route of routes) {
        const handler = guardExpress(route.handler);
        // Without an OPTIONS route Express answers preflights itself, without CORS headers.
        server.options(route.path, handler);
        if (route.method === 'GET') server.get(route.path, handler);
        else server.post(route.path, handler);
      }
      return listen(server);
    },
  },
  {
    name: 'koa (guardKoa)',
    start: (routes) => {
      // The context a body parser's typings declare: without `request.body` in it, Koa's own context
      // cannot be handed to guardKoa's handler by a routing middleware (TS2345).
      const server = new Koa<Koa.DefaultState, { request: { body?: unknown } }>();
      const byPath = new Map(
        routes.map((route) => [route.path, { route, handler: guardKoa(route.handler) }]),
      );
      server.use(async (ctx, next) => {
        const found = byPath.get(ctx.path);
        if (found !== undefined && (ctx.method === found.route.method || ctx.method === 'OPTIONS')) {
          await found.handler(ctx);
          return;
        }
        await next();
      });
      return listen(server.callback());
    },
  },
  {
    name: 'fastify (guardFastify)',
    start: async (routes) => {
      const server = Fastify();
      for (const route of routes) {
        server.route({
          method: [route.method, 'OPTIONS'],
          url: route.path,
          handler: guardFastify(route.handler),
        });
      }
      await server.listen({ port: 0, host: '127.0.0.1' });
      const { port } = server.server.address() as AddressInfo;
      return { url: `http://127.0.0.1:${port}`, close: () => server.close() };
    },
  },
  {
    name: 'hono on @hono/node-server (guardHono)',
    start: (routes) => {
      const server = new Hono();
      for (const route of routes) server.on([route.method, 'OPTIONS'], route.path, guardHono(route.handler));
      return listen(getRequestListener(server.fetch));
    },
  },
  {
    name: 'fetch through @hono/node-server (guardFetch)',
    start: (routes) => {
      // A Fetch Request does not carry the TCP peer: the bridge tells it, as Bun's requestIP would.
      const peers = new WeakMap<Request, string | undefined>();
      const remoteAddress = (request: Request) => peers.get(request);
      const byPath = new Map(
        routes.map((route) => [route.path, guardFetch(route.handler, { remoteAddress })]),
      );
      return listen(
        getRequestListener((request, env) => {
          peers.set(request, (env as HttpBindings).incoming.socket.remoteAddress);
          const route = byPath.get(pathOf(request.url));
          return route === undefined ? new Response(null, { status: 404 }) : route(request);
        }),
      );
    },
  },
];

// ---- checks -----------------------------------------------------------------------------------

interface ErrorBody {
  error: { code: string; message: string; requestId: string };
}

/** The one error shape: `{ error: { code, message, requestId } }`, its id the X-Request-Id header. */
function expectRefusal(reply: Reply, status: number, code: string): ErrorBody['error'] {
  expect({ status: reply.status, text: reply.text }).toMatchObject({ status });
  const body = JSON.parse(reply.text) as ErrorBody;
  expect(Object.keys(body)).toEqual(['error']);
  expect(Object.keys(body.error).sort()).toEqual(['code', 'message', 'requestId']);
  expect(body.error.code).toBe(code);
  expect(body.error.message).toEqual(expect.any(String));
  expect(body.error.message).not.toBe('');
  expect(body.error.requestId).not.toBe('');
  expect(body.error.requestId).toBe(reply.headers['x-request-id']);
  return body.error;
}

/** Replaces the token's claims (`sub`) and keeps its header and signature. */
function tamper(token: string, sub: string): string {
  const [header, payload, signature] = token.split('.') as [string, string, string];
  const claims = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as Record<string, unknown>;
  const forged = Buffer.from(JSON.stringify({ ...claims, sub }), 'utf8').toString('base64url');
  return `${header}.${forged}.${signature}`;
}

const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

describe.each(ADAPTERS)('$name', (adapter) => {
  const t = app();
  let server: Running;
  let users = 0;
  /** An openid of this adapter that no other test uses. */
  const user = (label: string) => {
    users += 1;
    return `o_${ADAPTERS.indexOf(adapter)}_${label}_${users}`;
  };

  beforeAll(async () => {
    server = await adapter.start(t.routes);
  });
  afterAll(async () => {
    await server?.close();
  });

  /**
   * Every answer, whatever its status, is never sniffed, and JSON in UTF-8 when it has a body. (Koa
   * drops Content-Type from a 204, which has no body to type; the other adapters keep it.)
   */
  async function call(path: string, options: SendOptions = {}): Promise<Reply> {
    const reply = await send(server.url, path, options);
    expect(reply.headers['x-content-type-options']).toBe('nosniff');
    if (reply.status === 204) expect(reply.text).toBe('');
    else expect(reply.headers['content-type']).toBe(JSON_TYPE);
    return reply;
  }

  /** A POST with a JSON body, as Fastify's parser wants it on every route that reads one. */
  const post = (path: string, body: unknown, headers: Record<string, string> = {}) =>
    call(path, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...headers },
      body: JSON.stringify(body),
    });

  async function login(openid: string): Promise<string> {
    const reply = await post('/api/login', { code: await shared.loginCode(openid) });
    expect(reply.status).toBe(200);
    return (JSON.parse(reply.text) as { token: string }).token;
  }

  it('logs in: 200 with a token, and neither session_key nor unionid in the body', async () => {
    const openid = user('login');
    const reply = await post('/api/login', { code: await shared.loginCode(openid) });
    expect(reply.status).toBe(200);
    const body = JSON.parse(reply.text) as Record<string, unknown>;
    expect(Object.keys(body).sort()).toEqual(['expiresIn', 'refreshExpiresIn', 'refreshToken', 'token']);
    expect(body.token).toMatch(/^[\w-]+\.[\w-]+\.[\w-]+$/);
    expect(reply.text).not.toMatch(/session_?key|unionid/i);
    const claims = JSON.parse(Buffer.from(String(body.token).split('.')[1] ?? '', 'base64url').toString());
    expect(claims.sub).toBe(openid);
    expect(JSON.stringify(claims)).not.toMatch(/session_?key|unionid/i);
  });

  it('takes the caller from the token, not from the query or an X-WX-OPENID header', async () => {
    const openid = user('me');
    const token = await login(openid);
    const reply = await call('/api/me?openid=o_victim', {
      headers: { ...bearer(token), 'x-wx-openid': 'o_victim' },
    });
    expect(reply.status).toBe(200);
    expect(JSON.parse(reply.text)).toEqual({ openid, phone: '138****8000' });
  });

  it('answers 429 with Retry-After past the per-user limit, without running the handler', async () => {
    const token = await login(user('burst'));
    const before = t.runs.me;
    for (let i = 0; i < USER_LIMIT.points; i += 1) {
      expect((await call('/api/me', { headers: bearer(token) })).status).toBe(200);
    }
    const refused = await call('/api/me', { headers: bearer(token) });
    expectRefusal(refused, 429, 'RATE_LIMITED');
    const retryAfter = Number(refused.headers['retry-after']);
    expect(Number.isInteger(retryAfter)).toBe(true);
    expect(retryAfter).toBeGreaterThanOrEqual(1);
    // The two-window approximation may ask for more than one window, never for two.
    expect(retryAfter).toBeLessThan(2 * USER_LIMIT.durationSeconds);
    expect(t.runs.me - before).toBe(USER_LIMIT.points);
    // The budget is the user's: another user is still served.
    const other = await login(user('bystander'));
    expect((await call('/api/me', { headers: bearer(other) })).status).toBe(200);
    // Retry-After is truthful: after waiting that long, the user is served again.
    t.clock.advance(retryAfter * 1000);
    expect((await call('/api/me', { headers: bearer(token) })).status).toBe(200);
  });

  it('refuses a replayed login code with 409 LOGIN_CODE_USED', async () => {
    const code = await shared.loginCode(user('replay'));
    expect((await post('/api/login', { code })).status).toBe(200);
    const again = await post('/api/login', { code });
    expectRefusal(again, 409, 'LOGIN_CODE_USED');
    expect(again.text).not.toContain('token');
  });

  it('refuses a token whose payload was tampered with: 401 SESSION_INVALID', async () => {
    const token = await login(user('forger'));
    const before = t.runs.me;
    const reply = await call('/api/me', { headers: bearer(tamper(token, 'o_victim')) });
    expectRefusal(reply, 401, 'SESSION_INVALID');
    expect(reply.text).not.toContain('o_victim');
    expect(t.runs.me).toBe(before);
  });

  it('refuses a token past its 900 s lifetime: 401 SESSION_EXPIRED', async () => {
    const token = await login(user('expired'));
    expect((await call('/api/me', { headers: bearer(token) })).status).toBe(200);
    // 900 s of life and jose's 5 s clock tolerance, and one second more.
    t.clock.advance(906_000);
    const before = t.runs.me;
    expectRefusal(await call('/api/me', { headers: bearer(token) }), 401, 'SESSION_EXPIRED');
    expect(t.runs.me).toBe(before);
  });

  it('answers the phone number masked', async () => {
    const openid = user('phone');
    const token = await login(openid);
    const code = await shared.phoneCode('13912345678', openid);
    const reply = await post('/api/phone', { code }, bearer(token));
    expect(reply.status).toBe(200);
    expect(JSON.parse(reply.text)).toEqual({ phone: '139****5678' });
    expect(reply.text).not.toContain('13912345678');
  });

  it('answers a failing handler with 500 INTERNAL_ERROR, without its detail, and logs it once', async () => {
    const token = await login(user('boom'));
    const logged = t.logger.error.mock.calls.length;
    const runs = t.runs.boom;
    const reply = await call('/api/boom', { headers: bearer(token) });
    const error = expectRefusal(reply, 500, 'INTERNAL_ERROR');
    expect(t.runs.boom).toBe(runs + 1);
    expect(reply.text).not.toContain('secret detail');
    expect(JSON.stringify(reply.headers)).not.toContain('secret detail');
    const calls = t.logger.error.mock.calls.slice(logged);
    expect(calls).toHaveLength(1);
    expect(calls[0]?.[0]).toMatchObject({
      event: 'guard_error',
      requestId: error.requestId,
      error: { message: 'secret detail' },
    });
  });

  it('refuses a preflight from a foreign origin without Access-Control-Allow-Origin', async () => {
    const reply = await call('/api/me', {
      method: 'OPTIONS',
      headers: {
        origin: 'https://evil.example.com',
        'access-control-request-method': 'GET',
        'access-control-request-headers': 'authorization',
      },
    });
    expectRefusal(reply, 403, 'ORIGIN_NOT_ALLOWED');
    expect(reply.headers['access-control-allow-origin']).toBeUndefined();
    expect(reply.headers['access-control-allow-methods']).toBeUndefined();
  });

  it('answers a preflight from the allowed origin with Access-Control-Allow-Origin', async () => {
    const reply = await call('/api/me', {
      method: 'OPTIONS',
      headers: {
        origin: H5,
        'access-control-request-method': 'GET',
        'access-control-request-headers': 'authorization',
      },
    });
    expect(reply.status).toBe(204);
    expect(reply.text).toBe('');
    expect(reply.headers['access-control-allow-origin']).toBe(H5);
    expect(reply.headers['access-control-allow-methods']).toContain('GET');
    expect(reply.headers['access-control-allow-headers']).toMatch(/authorization/i);
    expect(reply.headers.vary).toMatch(/origin/i);
  });

  it('logs out: the token is then refused with 401 SESSION_REVOKED', async () => {
    const token = await login(user('logout'));
    expect((await call('/api/me', { headers: bearer(token) })).status).toBe(200);
    const out = await post('/api/logout', {}, bearer(token));
    expect(out.status).toBe(200);
    expect(JSON.parse(out.text)).toEqual({ loggedOut: true, everywhere: false });
    const before = t.runs.me;
    expectRefusal(await call('/api/me', { headers: bearer(token) }), 401, 'SESSION_REVOKED');
    expect(t.runs.me).toBe(before);
  });
});
