/**
 * The guard core, framework-neutral: login once per code, sessions that never leak, tokens that
 * cannot be forged, revocation, limits and strict HTTP. WeChat is the in-process emulator.
 */
import { createCipheriv, generateKeyPairSync, randomBytes } from 'node:crypto';
import { SignJWT } from 'jose';
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest';
import { ConfigError } from '../../src/errors.js';
import { serveNowOf } from '../../src/guard/http.js';
import { createGuard, type GuardOptions, MemoryGuardStore, respond } from '../../src/guard/index.js';
import type { GuardAnswer, GuardSession } from '../../src/guard/types.js';
import { bearer, body, MP, request, SECRET, world } from './fixture.js';

const KEY = { kid: 'k1', alg: 'HS256', secret: SECRET } as const;
const quiet = { error: vi.fn(), warn: vi.fn() };

// One emulator for the file (its RSA keys take a second to make); every test uses its own codes
// and users, and counts WeChat calls as differences.
const shared = world();

function setup(extra: Partial<GuardOptions> = {}) {
  const w = shared;
  let now = Date.UTC(2026, 11, 1, 8, 0, 0);
  const clock = { now: () => now, advance: (ms: number) => (now += ms) };
  const logger = { error: vi.fn(), warn: vi.fn() };
  const guard = createGuard({ miniProgram: w.mp, keys: [KEY], now: clock.now, logger, ...extra });
  const login = guard.loginRoute();
  const me = guard.protect(({ session }) => ({ openid: session.openid, sessionId: session.sessionId }));
  const loginAs = async (openId?: string) => {
    const answer = await login(request('POST', '/api/login', { body: { code: await w.loginCode(openId) } }));
    expect(answer.status).toBe(200);
    return body(answer) as {
      token: string;
      refreshToken: string;
      expiresIn: number;
      refreshExpiresIn: number;
    };
  };
  return { ...w, guard, login, me, loginAs, clock, logger };
}

afterEach(() => {
  vi.clearAllMocks();
});
afterAll(() => shared.emulator.close());

describe('login', () => {
  it('answers a session token and its lifetime, never session_key or unionid', async () => {
    const store = new MemoryGuardStore();
    const t = setup({ store });
    const answer = await t.login(
      request('POST', '/api/login', { body: { code: await t.loginCode('o_user_1') } }),
    );
    expect(answer.status).toBe(200);
    expect(answer.headers['cache-control']).toBe('no-store');
    expect(answer.headers['content-type']).toBe('application/json; charset=utf-8');
    const json = body(answer);
    expect(Object.keys(json).sort()).toEqual(['expiresIn', 'refreshExpiresIn', 'refreshToken', 'token']);
    expect(json.expiresIn).toBe(900);
    const payload = JSON.parse(Buffer.from(json.token.split('.')[1], 'base64url').toString());
    expect(Object.keys(payload).sort()).toEqual(['aud', 'exp', 'iat', 'iss', 'nbf', 'sid', 'sub']);
    expect(payload.sub).toBe('o_user_1');
    expect(payload.aud).toBe(MP.appId);
    // What the server keeps for this session (session_key, unionid): none of it reaches the client.
    const record = JSON.parse(
      (await store.get(`weixin-kit:guard:session:${MP.appId}:${payload.sid}`)) as string,
    );
    expect(record.sessionKey).toMatch(/^[A-Za-z0-9+/]{22}==$/);
    expect(record.unionid).toEqual(expect.any(String));
    const text =
      answer.body +
      JSON.stringify(answer.headers) +
      Buffer.from(json.token.split('.')[1], 'base64url').toString();
    expect(text).not.toContain(record.sessionKey);
    expect(text).not.toContain(record.unionid);
    expect(text).not.toMatch(/session_key|sessionKey|unionid/i);
  });

  it('exchanges a code once when it arrives 10 times at once, and refuses it afterwards (409)', async () => {
    const t = setup();
    const code = await t.loginCode();
    const before = t.code2SessionCalls();
    const answers = await Promise.all(
      Array.from({ length: 10 }, () => t.login(request('POST', '/api/login', { body: { code } }))),
    );
    expect(answers.map((a) => a.status)).toEqual(Array(10).fill(200));
    expect(t.code2SessionCalls() - before).toBe(1);
    const again = await t.login(request('POST', '/api/login', { body: { code } }));
    expect(again.status).toBe(409);
    expect(body(again).error.code).toBe('LOGIN_CODE_USED');
    expect(body(again).error.requestId).toBe(again.headers['x-request-id']);
    expect(t.code2SessionCalls() - before).toBe(1);
  });

  it('claims a code through the shared store: a second instance never calls WeChat with it', async () => {
    const w = shared;
    const store = new MemoryGuardStore();
    const a = createGuard({ miniProgram: w.mp, keys: [KEY], store, logger: quiet }).loginRoute();
    const b = createGuard({ miniProgram: w.mp, keys: [KEY], store, logger: quiet }).loginRoute();
    const code = await w.loginCode();
    const before = w.code2SessionCalls();
    const [first, second] = await Promise.all([
      a(request('POST', '/api/login', { body: { code } })),
      b(request('POST', '/api/login', { body: { code } })),
    ]);
    expect([first.status, second.status].sort()).toEqual([200, 409]);
    expect(w.code2SessionCalls() - before).toBe(1);
  });

  it('maps WeChat refusing the code to 400 INVALID_CODE, and a missing code to 400 BAD_BODY', async () => {
    const t = setup();
    const bad = await t.login(request('POST', '/api/login', { body: { code: 'not-a-code-wechat-issued' } }));
    expect(bad.status).toBe(400);
    expect(body(bad).error.code).toBe('INVALID_CODE');
    const missing = await t.login(request('POST', '/api/login', { body: { openid: 'o_attacker' } }));
    expect(body(missing).error.code).toBe('BAD_BODY');
  });

  it('carries the app user id from mapUser, and gives it to protected handlers', async () => {
    const t = setup({ mapUser: ({ openid }) => `user-${openid}` });
    const { token, ...rest } = await t.loginAs('o_mapped');
    expect((rest as { userId?: string }).userId).toBe('user-o_mapped');
    const seen = t.guard.protect(({ session }) => ({ userId: session.userId }));
    expect(body(await seen(request('GET', '/api/x', { headers: bearer(token) }))).userId).toBe(
      'user-o_mapped',
    );
  });
});

describe('protected routes', () => {
  it('take the identity from the verified token, never from the body', async () => {
    const t = setup();
    const { token } = await t.loginAs('o_real');
    const route = t.guard.protect(async (ctx) => ({
      me: ctx.session.openid,
      claimed: ((await ctx.json()) as { openid: string }).openid,
    }));
    const answer = await route(
      request('POST', '/api/pay', { headers: bearer(token), body: { openid: 'o_victim' } }),
    );
    expect(body(answer)).toEqual({ me: 'o_real', claimed: 'o_victim' });
  });

  it('refuse a missing, malformed, forged, alg:none, foreign-audience or expired token with 401 and do not run the handler', async () => {
    const t = setup();
    const handler = vi.fn(() => ({ ok: true }));
    const route = t.guard.protect(handler);
    const { token } = await t.loginAs('o_1');
    const [h, p] = token.split('.');
    const now = Math.floor(t.clock.now() / 1000);
    const forged = await new SignJWT({ sid: 'x' })
      .setProtectedHeader({ alg: 'HS256', kid: 'k1', typ: 'JWT' })
      .setSubject('o_1')
      .setIssuer('weixin-kit')
      .setAudience(MP.appId)
      .setIssuedAt(now)
      .setNotBefore(now)
      .setExpirationTime(now + 600)
      .sign(new TextEncoder().encode('another-secret-that-is-32-bytes-long!!'));
    const foreign = await new SignJWT({ sid: 'x' })
      .setProtectedHeader({ alg: 'HS256', kid: 'k1', typ: 'JWT' })
      .setSubject('o_1')
      .setIssuer('weixin-kit')
      .setAudience('wx_other_app')
      .setIssuedAt(now)
      .setNotBefore(now)
      .setExpirationTime(now + 600)
      .sign(new TextEncoder().encode(SECRET));
    const none = `${Buffer.from(JSON.stringify({ alg: 'none', kid: 'k1', typ: 'JWT' })).toString('base64url')}.${p}.`;
    const cases: Array<[Record<string, string>, string]> = [
      [{}, 'SESSION_REQUIRED'],
      [{ authorization: 'Basic abc' }, 'SESSION_INVALID'],
      [bearer('not.a.jwt'), 'SESSION_INVALID'],
      [bearer(forged), 'SESSION_INVALID'],
      [bearer(foreign), 'SESSION_INVALID'],
      [bearer(none), 'SESSION_INVALID'],
      [
        bearer(
          `${h}.${Buffer.from(JSON.stringify({ ...JSON.parse(Buffer.from(p as string, 'base64url').toString()), sub: 'o_2' })).toString('base64url')}.${token.split('.')[2]}`,
        ),
        'SESSION_INVALID',
      ],
    ];
    for (const [headers, code] of cases) {
      const answer = await route(request('GET', '/api/me', { headers }));
      expect([answer.status, body(answer).error.code], JSON.stringify(headers)).toEqual([401, code]);
    }
    t.clock.advance(901_000 + 5_000);
    const expired = await route(request('GET', '/api/me', { headers: bearer(token) }));
    expect(body(expired).error.code).toBe('SESSION_EXPIRED');
    expect(handler).not.toHaveBeenCalled();
  });

  it('refuse a token once it expires, though it was verified (and remembered) before', async () => {
    const t = setup();
    const { token } = await t.loginAs('o_cache');
    expect((await t.me(request('GET', '/me', { headers: bearer(token) }))).status).toBe(200);
    t.clock.advance(899_000);
    expect((await t.me(request('GET', '/me', { headers: bearer(token) }))).status).toBe(200);
    t.clock.advance(7_000); // past exp + the 5 s tolerance
    const expired = await t.me(request('GET', '/me', { headers: bearer(token) }));
    expect([expired.status, body(expired).error.code]).toEqual([401, 'SESSION_EXPIRED']);
  });

  it('give every answer its own request id', async () => {
    const t = setup();
    const { token } = await t.loginAs('o_ids');
    const ids = new Set<string>();
    for (let i = 0; i < 300; i += 1) {
      const answer = await t.me(request('GET', '/me', { headers: bearer(token) }));
      ids.add(answer.headers['x-request-id'] as string);
    }
    expect(ids.size).toBe(300);
  });

  it('use the trace id of a valid W3C traceparent as the request id, and make one otherwise', async () => {
    const t = setup();
    const { token } = await t.loginAs('o_trace');
    const traced = (traceparent: string) =>
      t.me(request('GET', '/me', { headers: { ...bearer(token), traceparent } }));
    // The example of the W3C Trace Context recommendation, section 3.2.
    const example = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
    expect((await traced(example)).headers['x-request-id']).toBe('4bf92f3577b34da6a3ce929d0e0e4736');
    const refused = await t.guard.protect(() => {
      throw new Error('boom');
    })(request('GET', '/x', { headers: { ...bearer(token), traceparent: example } }));
    expect(body(refused).error.requestId).toBe('4bf92f3577b34da6a3ce929d0e0e4736');
    for (const bad of [
      '00-00000000000000000000000000000000-00f067aa0ba902b7-01', // all-zero trace id
      '00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01', // all-zero parent id
      'ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01', // forbidden version
      '00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01', // upper case
      '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra', // version 00 has 4 fields
      'garbage',
    ]) {
      const id = (await traced(bad)).headers['x-request-id'];
      expect(id, bad).toMatch(/^[0-9a-f]{32}$/);
      expect(id, bad).not.toBe('4bf92f3577b34da6a3ce929d0e0e4736');
    }
  });

  it('answer 500 with a request id and nothing of the exception; the logger gets it', async () => {
    const t = setup();
    const { token } = await t.loginAs();
    const route = t.guard.protect(() => {
      throw new Error('db password=hunter2 at /srv/app.js:12');
    });
    const answer = await route(request('GET', '/api/x', { headers: bearer(token) }));
    expect(answer.status).toBe(500);
    expect(body(answer)).toEqual({
      error: { code: 'INTERNAL_ERROR', message: 'internal error', requestId: answer.headers['x-request-id'] },
    });
    expect(answer.body).not.toMatch(/hunter2|app\.js/);
    expect(t.logger.error).toHaveBeenCalledTimes(1);
    expect(JSON.stringify(t.logger.error.mock.calls[0])).toContain(answer.headers['x-request-id']);
  });

  it('mask phone, ID and card numbers in answers, unless the route opts out', async () => {
    const t = setup();
    const { token } = await t.loginAs();
    const data = {
      phone: '13800138000',
      note: 'call 13912345678',
      id: '11010519491231002X',
      out_trade_no: '13800138000',
    };
    const masked = body(await t.guard.protect(() => data)(request('GET', '/a', { headers: bearer(token) })));
    expect(masked).toEqual({
      phone: '138****8000',
      note: 'call 139****5678',
      id: expect.not.stringContaining('19491231'),
      out_trade_no: '13800138000',
    });
    const raw = body(
      await t.guard.protect(() => data, { mask: false })(request('GET', '/a', { headers: bearer(token) })),
    );
    expect(raw).toEqual(data);
  });

  it('let handlers answer another status, and GuardErrors with their own code', async () => {
    const t = setup();
    const { token } = await t.loginAs();
    const created = await t.guard.protect(() => respond({ id: 1 }, { status: 201 }))(
      request('POST', '/a', { headers: bearer(token) }),
    );
    expect([created.status, body(created)]).toEqual([201, { id: 1 }]);
    const { GuardError } = await import('../../src/guard/index.js');
    const refused = await t.guard.protect(() => {
      throw new GuardError('FORBIDDEN', 'not your order');
    })(request('POST', '/a', { headers: bearer(token) }));
    expect([refused.status, body(refused).error.code, body(refused).error.message]).toEqual([
      403,
      'FORBIDDEN',
      'not your order',
    ]);
  });
});

describe('refresh, logout and key rotation', () => {
  it('rotates the refresh token; a reused one closes the session', async () => {
    const t = setup();
    const first = await t.loginAs('o_r');
    const refresh = t.guard.refreshRoute();
    const second = await refresh(
      request('POST', '/api/refresh', { body: { refreshToken: first.refreshToken } }),
    );
    expect(second.status).toBe(200);
    const next = body(second);
    expect(next.refreshToken).not.toBe(first.refreshToken);
    expect((await t.me(request('GET', '/me', { headers: bearer(next.token) }))).status).toBe(200);
    const reuse = await refresh(
      request('POST', '/api/refresh', { body: { refreshToken: first.refreshToken } }),
    );
    expect([reuse.status, body(reuse).error.code]).toEqual([401, 'SESSION_REVOKED']);
    // The thief and the user are both out: the session is gone.
    expect(body(await t.me(request('GET', '/me', { headers: bearer(next.token) }))).error.code).toBe(
      'SESSION_REVOKED',
    );
    const bogus = await refresh(request('POST', '/api/refresh', { body: { refreshToken: 'abc.def' } }));
    expect(bogus.status).toBe(401);
  });

  it('refuses a token at once after logout even when it was answered from the in-memory fast path', async () => {
    // A token verified before, on the built-in memory store, is answered without promises; the
    // session record and the revocation mark are still read on every request.
    const t = setup();
    const a = await t.loginAs('o_fast');
    for (let i = 0; i < 3; i++) {
      expect((await t.me(request('GET', '/me', { headers: bearer(a.token) }))).status).toBe(200);
    }
    await t.guard.logoutRoute()(request('POST', '/logout', { headers: bearer(a.token) }));
    expect(body(await t.me(request('GET', '/me', { headers: bearer(a.token) }))).error.code).toBe(
      'SESSION_REVOKED',
    );
    // The verified-token cache is found by the end of the signature: a token carrying a verified
    // token's signature over another payload is not that token (and its signature does not verify).
    const [header, payload] = a.token.split('.') as [string, string, string];
    const b = await t.loginAs('o_fast2');
    expect((await t.me(request('GET', '/me', { headers: bearer(b.token) }))).status).toBe(200);
    const spliced = `${header}.${payload}.${b.token.split('.')[2]}`;
    expect(payload).not.toBe(b.token.split('.')[1]);
    expect(body(await t.me(request('GET', '/me', { headers: bearer(spliced) }))).error.code).toBe(
      'SESSION_INVALID',
    );
  });

  it('reads a store subclass through its own methods (no fast path around them)', async () => {
    const reads: string[] = [];
    class CountingStore extends MemoryGuardStore {
      override async getMany(keys: readonly string[]) {
        reads.push(...keys);
        return super.getMany(keys);
      }
    }
    const t = setup({ store: new CountingStore() });
    const a = await t.loginAs('o_sub');
    reads.length = 0;
    for (let i = 0; i < 2; i++) {
      expect((await t.me(request('GET', '/me', { headers: bearer(a.token) }))).status).toBe(200);
    }
    expect(reads.filter((key) => key.includes(':session:')).length).toBe(2);
  });

  it("logs one session out, or all of a user's sessions everywhere", async () => {
    const t = setup();
    const a = await t.loginAs('o_l');
    const b = await t.loginAs('o_l');
    const other = await t.loginAs('o_other');
    const logout = t.guard.logoutRoute();
    expect((await logout(request('POST', '/logout', { headers: bearer(a.token) }))).status).toBe(200);
    expect(body(await t.me(request('GET', '/me', { headers: bearer(a.token) }))).error.code).toBe(
      'SESSION_REVOKED',
    );
    expect((await t.me(request('GET', '/me', { headers: bearer(b.token) }))).status).toBe(200);
    const c = await t.loginAs('o_l');
    t.clock.advance(1000);
    await logout(request('POST', '/logout', { headers: bearer(c.token), body: { everywhere: true } }));
    expect(body(await t.me(request('GET', '/me', { headers: bearer(b.token) }))).error.code).toBe(
      'SESSION_REVOKED',
    );
    const refreshB = await t.guard.refreshRoute()(
      request('POST', '/r', { body: { refreshToken: b.refreshToken } }),
    );
    expect(body(refreshB).error.code).toBe('SESSION_REVOKED');
    expect((await t.me(request('GET', '/me', { headers: bearer(other.token) }))).status).toBe(200);
    t.clock.advance(1000);
    const fresh = await t.loginAs('o_l');
    expect((await t.me(request('GET', '/me', { headers: bearer(fresh.token) }))).status).toBe(200);
  });

  it('verifies tokens of every listed key, signs with the first, and forgets removed keys', async () => {
    const w = shared;
    const store = new MemoryGuardStore();
    const ed = generateKeyPairSync('ed25519');
    const k2 = { kid: 'k2', alg: 'EdDSA', privateKey: ed.privateKey } as const;
    const old = createGuard({ miniProgram: w.mp, keys: [KEY], store, logger: quiet });
    const rotated = createGuard({ miniProgram: w.mp, keys: [k2, KEY], store, logger: quiet });
    const after = createGuard({ miniProgram: w.mp, keys: [k2], store, logger: quiet });
    const issued = body(
      await old.loginRoute()(request('POST', '/l', { body: { code: await w.loginCode() } })),
    );
    const me = (g: typeof old, token: string) =>
      g.protect(({ session }) => session.openid)(request('GET', '/me', { headers: bearer(token) }));
    expect((await me(rotated, issued.token)).status).toBe(200);
    const newer = body(
      await rotated.loginRoute()(request('POST', '/l', { body: { code: await w.loginCode() } })),
    );
    expect(JSON.parse(Buffer.from(newer.token.split('.')[0], 'base64url').toString())).toMatchObject({
      alg: 'EdDSA',
      kid: 'k2',
    });
    expect((await me(after, newer.token)).status).toBe(200);
    expect(body(await me(after, issued.token)).error.code).toBe('SESSION_INVALID');
  });

  it('refuses unusable keys at startup with a message that says what to do', () => {
    const w = shared;
    const make = (keys: unknown) => () => createGuard({ miniProgram: w.mp, keys: keys as never });
    expect(make([])).toThrow(ConfigError);
    expect(make([{ kid: 'a', alg: 'HS256', secret: 'short' }])).toThrow(/at least 32/);
    expect(make([{ kid: 'a', alg: 'HS256', secret: undefined }])).toThrow(/environment variable/);
    expect(make([{ kid: 'a', alg: 'RS256', secret: SECRET }])).toThrow(/HS256', 'EdDSA' or 'ES256'/);
    expect(make([{ kid: 'a', alg: 'ES256', privateKey: generateKeyPairSync('ed25519').privateKey }])).toThrow(
      /P-256/,
    );
    expect(make([KEY, KEY])).toThrow(/two keys/);
  });
});

describe('limits', () => {
  it('allows 100 requests per user per 60 s, then 429 with Retry-After; another user is not affected', async () => {
    const t = setup();
    const a = await t.loginAs('o_busy');
    const b = await t.loginAs('o_calm');
    const handler = vi.fn(() => ({ ok: true }));
    const route = t.guard.protect(handler);
    for (let i = 0; i < 100; i += 1) {
      expect((await route(request('GET', '/x', { headers: bearer(a.token) }))).status).toBe(200);
    }
    const refused = await route(request('GET', '/x', { headers: bearer(a.token) }));
    expect(refused.status).toBe(429);
    expect(body(refused).error.code).toBe('RATE_LIMITED');
    expect(Number(refused.headers['retry-after'])).toBeGreaterThanOrEqual(1);
    expect(handler).toHaveBeenCalledTimes(100);
    expect((await route(request('GET', '/x', { headers: bearer(b.token) }))).status).toBe(200);
  });

  it('limits anonymous routes per client IP; X-Forwarded-For counts only from a trusted proxy', async () => {
    const t = setup({ limits: { ip: { points: 3, durationSeconds: 60 } } });
    const ping = t.guard.open(() => ({ pong: true }));
    const from = (ip: string, xff?: string) =>
      ping(
        request('GET', '/ping', {
          remoteAddress: ip,
          secure: true,
          headers: xff ? { 'x-forwarded-for': xff } : {},
        }),
      );
    for (let i = 0; i < 3; i += 1) expect((await from('203.0.113.7', `198.51.100.${i}`)).status).toBe(200);
    // A spoofed header does not buy a fresh budget.
    expect((await from('203.0.113.7', '198.51.100.99')).status).toBe(429);
    const behindProxy = setup({
      trustProxy: ['10.0.0.0/8'],
      limits: { ip: { points: 1, durationSeconds: 60 } },
    });
    const pong = behindProxy.guard.open(() => ({ pong: true }));
    const via = (xff: string) =>
      pong(
        request('GET', '/ping', {
          remoteAddress: '10.1.2.3',
          headers: { 'x-forwarded-for': xff, 'x-forwarded-proto': 'https' },
        }),
      );
    expect((await via('198.51.100.1')).status).toBe(200);
    expect((await via('198.51.100.2')).status).toBe(200);
    expect((await via('198.51.100.1')).status).toBe(429);
  });
});

describe('answering in the same step', () => {
  const isPromise = (value: unknown) => value instanceof Promise;

  it('answers a known token on the memory store at once, and waits only where it must', async () => {
    const t = setup();
    const { token } = await t.loginAs('o_now');
    const sessions: GuardSession[] = [];
    const route = t.guard.protect(({ session }) => {
      sessions.push(session);
      return { openid: session.openid };
    });
    const serve = serveNowOf(route);
    expect(serve).not.toBe(route);
    // The first request verifies the token (jose is asynchronous): a promise.
    const first = serve(request('GET', '/x', { headers: bearer(token) }));
    expect(isPromise(first)).toBe(true);
    expect((await first).status).toBe(200);
    // Verified before, its session in memory, a memory limiter, a synchronous handler: an answer now.
    const now = serve(request('GET', '/x', { headers: bearer(token) }));
    expect(isPromise(now)).toBe(false);
    expect([(now as GuardAnswer).status, body(now as GuardAnswer)]).toEqual([200, { openid: 'o_now' }]);
    // Anything else is decided on the waiting path, refusals included.
    const missing = serve(request('GET', '/x'));
    expect(isPromise(missing)).toBe(true);
    expect(body(await missing).error.code).toBe('SESSION_REQUIRED');
    // The public handler always gives a promise.
    expect(isPromise(route(request('GET', '/x', { headers: bearer(token) })))).toBe(true);
    // Every session handed to the handler is frozen; on the same-step path it is one object per token.
    expect(sessions.every((session) => Object.isFrozen(session))).toBe(true);
    expect(sessions[1]).toBe(sessions[2]);
    expect(sessions[0]).toEqual(sessions[1]);
  });

  it('answers the same on both paths: handler results, throws, rejections and unserialisable values', async () => {
    const t = setup();
    const { token } = await t.loginAs('o_same');
    const cases: Array<[string, () => unknown, number]> = [
      ['value', () => ({ phone: '13800138000' }), 200],
      ['promise', async () => ({ phone: '13800138000' }), 200],
      ['reply', () => respond({ id: 1 }, { status: 201 }), 201],
      [
        'throw',
        () => {
          throw new Error('secret detail');
        },
        500,
      ],
      [
        'rejection',
        async () => {
          throw new Error('secret detail');
        },
        500,
      ],
      ['bigint', () => ({ n: 1n }), 500],
      ['async bigint', async () => ({ n: 1n }), 500],
    ];
    for (const [name, handler, status] of cases) {
      const route = t.guard.protect(handler);
      const serve = serveNowOf(route);
      await route(request('GET', '/x', { headers: bearer(token) })); // the token is verified by now
      const viaServe = await serve(request('GET', '/x', { headers: bearer(token) }));
      const viaRoute = await route(request('GET', '/x', { headers: bearer(token) }));
      expect([name, viaServe.status], name).toEqual([name, status]);
      const strip = (a: GuardAnswer) =>
        body(a).error?.requestId ? { ...body(a), error: { ...body(a).error, requestId: '' } } : body(a);
      expect(strip(viaServe), name).toEqual(strip(viaRoute));
      expect(viaServe.body, name).not.toContain('secret detail');
      if (status === 200) expect(body(viaServe).phone, name).toBe('138****8000');
    }
  });

  it('answers at once only for exactly "Bearer <a verified token>"; near misses go the full way', async () => {
    const t = setup();
    const { token } = await t.loginAs('o_exact');
    const serve = serveNowOf(t.guard.protect(({ session }) => ({ openid: session.openid })));
    await serve(request('GET', '/x', { headers: bearer(token) })); // verified from here on
    const now = serve(request('GET', '/x', { headers: { authorization: `Bearer ${token}` } }));
    expect(isPromise(now)).toBe(false);
    expect((now as GuardAnswer).status).toBe(200);
    // Same last characters (the cache key), but not that header: none is answered at once, and the
    // full path judges each as it always has (it takes `Bearer`, any case, then blanks, one token).
    const nearMisses: Array<[string, number]> = [
      [`Bearer ${token} `, 401],
      [`Bearer ${token} x`, 401],
      [`Bearer x${token.slice(1)}`, 401],
      [`Bearer ${token.slice(1)}`, 401],
      [`x${token}`, 401],
      [token.slice(-12), 401],
      [`Bearer  ${token}`, 200],
      [`bearer ${token}`, 200],
      [`Bearer\t${token}`, 200],
    ];
    for (const [authorization, expected] of nearMisses) {
      const answer = serve(request('GET', '/x', { headers: { authorization } }));
      expect(isPromise(answer), authorization).toBe(true);
      expect((await answer).status, authorization).toBe(expected);
    }
  });

  it('counts each request once against the limit, whichever path it took', async () => {
    const t = setup({ limits: { user: { points: 3, durationSeconds: 60 } } });
    const handler = vi.fn(() => ({ ok: true }));
    const route = t.guard.protect(handler);
    const serve = serveNowOf(route);
    const { token } = await t.loginAs('o_count');
    // 1: a new token, verified on the waiting path; 2 and 3: answered at once; 4: refused at once.
    const statuses: number[] = [];
    for (let i = 0; i < 4; i++)
      statuses.push((await serve(request('GET', '/x', { headers: bearer(token) }))).status);
    expect(statuses).toEqual([200, 200, 200, 429]);
    expect(handler).toHaveBeenCalledTimes(3);
  });

  it('waits for a Redis-like store and a Redis limiter, answering the same', async () => {
    // A store subclass is read through its own methods: every request takes the waiting path.
    class CountingStore extends MemoryGuardStore {
      reads = 0;
      override getMany(keys: string[]) {
        this.reads++;
        return super.getMany(keys);
      }
    }
    const store = new CountingStore();
    const t = setup({ store });
    const { token } = await t.loginAs('o_wait');
    const serve = serveNowOf(t.guard.protect(({ session }) => ({ openid: session.openid })));
    const answers = [];
    for (let i = 0; i < 3; i++) {
      const pending = serve(request('GET', '/x', { headers: bearer(token) }));
      expect(isPromise(pending)).toBe(true);
      answers.push(await pending);
    }
    expect(answers.map((a) => [a.status, body(a).openid])).toEqual(Array(3).fill([200, 'o_wait']));
    expect(store.reads).toBe(3);
  });
});

describe('strict HTTP', () => {
  it('redirects plain-HTTP GETs from the network, refuses other methods, and sends HSTS over HTTPS', async () => {
    const t = setup();
    const ping = t.guard.open(() => ({ pong: true }));
    const get = await ping(request('GET', '/api/ping?x=1', { remoteAddress: '198.51.100.5' }));
    expect([get.status, get.headers.location]).toEqual([308, 'https://api.example.com/api/ping?x=1']);
    const post = await ping(request('POST', '/api/ping', { remoteAddress: '198.51.100.5' }));
    expect([post.status, body(post).error.code]).toEqual([403, 'HTTPS_REQUIRED']);
    const evilHost = await ping(
      request('GET', '/p', { remoteAddress: '198.51.100.5', headers: { host: 'evil.com/x?' } }),
    );
    expect(evilHost.status).toBe(403);
    const tls = await ping(request('GET', '/api/ping', { remoteAddress: '198.51.100.5', secure: true }));
    expect(tls.status).toBe(200);
    expect(tls.headers['strict-transport-security']).toBe('max-age=31536000; includeSubDomains');
    // X-Forwarded-Proto from an untrusted peer is ignored.
    const spoofed = await ping(
      request('GET', '/p', { remoteAddress: '198.51.100.5', headers: { 'x-forwarded-proto': 'https' } }),
    );
    expect(spoofed.status).toBe(308);
    const local = await ping(request('GET', '/p'));
    expect(local.status).toBe(200);
    const off = setup({ https: false }).guard.open(() => 1);
    expect((await off(request('POST', '/p', { remoteAddress: '198.51.100.5' }))).status).toBe(200);
  });

  it('answers CORS only for listed origins, and refuses * with credentials at startup', async () => {
    const w = shared;
    expect(() =>
      createGuard({ miniProgram: w.mp, keys: [KEY], cors: { origins: ['*'], credentials: true } }),
    ).toThrow(/every web site/);
    expect(() =>
      createGuard({ miniProgram: w.mp, keys: [KEY], cors: { origins: ['https://h5.example.com/path'] } }),
    ).toThrow(ConfigError);
    const t = setup({ cors: { origins: ['https://h5.example.com'], credentials: true } });
    const ping = t.guard.open(() => ({ pong: true }));
    const preflight = (origin: string) =>
      ping(request('OPTIONS', '/p', { headers: { origin, 'access-control-request-method': 'POST' } }));
    const ok = await preflight('https://h5.example.com');
    expect(ok.status).toBe(204);
    expect(ok.headers['access-control-allow-origin']).toBe('https://h5.example.com');
    expect(ok.headers['access-control-allow-credentials']).toBe('true');
    const foreign = await preflight('https://evil.example.net');
    expect(foreign.status).toBe(403);
    expect(foreign.headers['access-control-allow-origin']).toBeUndefined();
    const simple = await ping(request('GET', '/p', { headers: { origin: 'https://evil.example.net' } }));
    expect([simple.status, simple.headers['access-control-allow-origin']]).toEqual([403, undefined]);
    // A request built by hand (a custom adapter) may spell the method in lower case.
    const lower = await ping(
      request('options', '/p', {
        headers: { origin: 'https://h5.example.com', 'access-control-request-method': 'POST' },
      }),
    );
    expect([lower.status, lower.headers['access-control-allow-origin']]).toEqual([
      204,
      'https://h5.example.com',
    ]);
  });

  it('ignores X-WX-OPENID (logging once) unless Cloud Run mode is on', async () => {
    const t = setup();
    const route = t.guard.protect(({ session }) => session);
    const headers = { 'x-wx-openid': 'o_spoofed', 'x-wx-appid': MP.appId };
    expect(body(await route(request('GET', '/me', { headers }))).error.code).toBe('SESSION_REQUIRED');
    await route(request('GET', '/me', { headers }));
    expect(t.logger.warn).toHaveBeenCalledTimes(1);
    const cloud = setup({ cloudRun: true });
    const session = body(
      await cloud.guard.protect(({ session: s }) => s)(request('GET', '/me', { headers })),
    );
    expect(session).toMatchObject({ openid: 'o_spoofed', source: 'cloud-run', appId: MP.appId });
    const other = await cloud.guard.protect(() => 1)(
      request('GET', '/me', { headers: { 'x-wx-openid': 'o', 'x-wx-appid': 'wx_other' } }),
    );
    expect(other.status).toBe(401);
  });

  it('cookie mode: httpOnly Secure SameSite cookies, no token in the body, unsafe methods need an allowed Origin', async () => {
    const t = setup({ cookie: true, cors: { origins: ['https://h5.example.com'], credentials: true } });
    const answer = await t.login(request('POST', '/l', { body: { code: await t.loginCode() } }));
    expect(body(answer).token).toBeUndefined();
    const cookies = answer.headers['set-cookie']?.split('\n') ?? [];
    expect(cookies).toHaveLength(2);
    for (const c of cookies) expect(c).toMatch(/; HttpOnly; Secure; SameSite=Strict/);
    const cookie = cookies.map((c) => c.split(';')[0]).join('; ');
    const route = t.guard.protect(({ session }) => session.openid);
    expect((await route(request('GET', '/me', { headers: { cookie } }))).status).toBe(200);
    const csrf = await route(request('POST', '/me', { headers: { cookie } }));
    expect(body(csrf).error.code).toBe('ORIGIN_NOT_ALLOWED');
    expect(
      (await route(request('POST', '/me', { headers: { cookie, origin: 'https://h5.example.com' } }))).status,
    ).toBe(200);
  });
});

describe('Mini Program data with the stored session', () => {
  it('gets the phone number by code with the session openid, masked in the answer', async () => {
    const t = setup();
    const { token } = await t.loginAs('o_phone');
    const route = t.guard.protect(async (ctx) => {
      const { code } = (await ctx.json()) as { code: string };
      const info = await ctx.phoneNumber(code);
      return { phone: info.purePhoneNumber };
    });
    const answer = await route(
      request('POST', '/phone', {
        headers: bearer(token),
        body: { code: await t.phoneCode('13912345678', 'o_phone') },
      }),
    );
    expect(body(answer)).toEqual({ phone: '139****5678' });
    const reused = await route(
      request('POST', '/phone', { headers: bearer(token), body: { code: 'used-or-invalid' } }),
    );
    expect([reused.status, body(reused).error.code]).toEqual([400, 'INVALID_CODE']);
  });

  it('decrypts encryptedData with the session_key kept server-side; a stale key answers SESSION_KEY_STALE', async () => {
    const store = new MemoryGuardStore();
    const t = setup({ store });
    const { token } = await t.loginAs('o_data');
    const sid = JSON.parse(Buffer.from(token.split('.')[1] as string, 'base64url').toString()).sid as string;
    const record = JSON.parse((await store.get(`weixin-kit:guard:session:${MP.appId}:${sid}`)) as string);
    const seal = (key: Buffer, data: unknown) => {
      const iv = randomBytes(16);
      const c = createCipheriv('aes-128-cbc', key, iv);
      return {
        encryptedData: Buffer.concat([c.update(JSON.stringify(data)), c.final()]).toString('base64'),
        iv: iv.toString('base64'),
      };
    };
    const route = t.guard.protect(async (ctx) => ctx.decryptUserData((await ctx.json()) as never), {
      mask: false,
    });
    const stamp = Math.floor(t.clock.now() / 1000);
    const key = Buffer.from(record.sessionKey, 'base64');
    const good = seal(key, { nickName: 'x', watermark: { appid: MP.appId, timestamp: stamp - 30 } });
    const opened = await route(request('POST', '/d', { headers: bearer(token), body: good }));
    expect(body(opened).nickName, opened.body).toBe('x');
    const stale = seal(randomBytes(16), { watermark: { appid: MP.appId, timestamp: stamp } });
    const refused = await route(request('POST', '/d', { headers: bearer(token), body: stale }));
    expect([refused.status, body(refused).error.code]).toEqual([401, 'SESSION_KEY_STALE']);
    const code = async (data: unknown) =>
      body(await route(request('POST', '/d', { headers: bearer(token), body: data }))).error?.code;
    expect(await code(seal(key, { watermark: { appid: 'wx_other', timestamp: stamp } }))).toBe(
      'SESSION_KEY_STALE',
    );
    // Sealed with the right key but 11 minutes old (a replay), or from the future: refused too.
    expect(await code(seal(key, { watermark: { appid: MP.appId, timestamp: stamp - 660 } }))).toBe(
      'SESSION_KEY_STALE',
    );
    expect(await code(seal(key, { watermark: { appid: MP.appId, timestamp: stamp + 600 } }))).toBe(
      'SESSION_KEY_STALE',
    );
    expect(await code({ encryptedData: 'not base64!', iv: 'x' })).toBe('BAD_BODY');
    expect(refused.body).not.toContain(record.sessionKey);
  });
});
