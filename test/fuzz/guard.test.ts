/**
 * Fuzzing the guard's request parsing: session tokens (JWT through jose) built from random headers
 * and claims — also correctly signed ones, so jose's claim checks are fuzzed, not only its
 * signature check —, the Authorization / Cookie / Origin / X-Forwarded-* headers of a protected
 * route, trustProxy's client address and protocol, and CORS origin matching. Refusals are typed
 * (GuardError with its code), a route never answers 500, and nothing but a genuine token passes.
 */
import { createHmac } from 'node:crypto';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { GuardError } from '../../src/errors.js';
import { compileCors } from '../../src/guard/http.js';
import { createGuard, type GuardHandler, type GuardRequest } from '../../src/guard/index.js';
import { SessionTokens } from '../../src/guard/tokens.js';
import { compileTrustProxy, isLoopback, normalizeIp } from '../../src/internal/client-ip.js';
import { traceIdOf } from '../../src/internal/request-id.js';
import { body, MP, request, SECRET, world } from '../guard/fixture.js';
import { fuzz, fuzzFile, typedOnlyAsync } from './harness.js';

fuzzFile(import.meta.url);

const NOW = Date.UTC(2026, 11, 1, 8, 0, 0);
const ISS = 'weixin-kit';
const AUD = MP.appId;
const tokens = new SessionTokens([{ kid: 'k1', alg: 'HS256', secret: SECRET }], {
  issuer: ISS,
  audience: AUD,
  now: () => NOW,
});

const b64 = (value: unknown) =>
  Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)).toString('base64url');
const hs256 = (input: string, secret = SECRET) =>
  createHmac('sha256', secret).update(input).digest('base64url');

const s = Math.floor(NOW / 1000);
/** Mostly valid, sometimes absent (freq 6: one in six) or odd. */
const rare = <T>(arb: fc.Arbitrary<T>) => fc.option(arb, { nil: undefined, freq: 6 });
/** Usually absent: present one time in seven. */
const seldom = <T>(arb: fc.Arbitrary<T>) =>
  fc.oneof({ weight: 6, arbitrary: fc.constant(undefined) }, { weight: 1, arbitrary: arb });
const claimValue = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom(s, s - 10, s + 10) },
  { weight: 1, arbitrary: fc.constantFrom(s - 3600, s + 3600, 0, -1, 1e20, Number.MAX_SAFE_INTEGER, 1.5) },
  { weight: 1, arbitrary: fc.constantFrom<unknown>(String(s), null, true, [], {}) },
);
const header = fc.record({
  alg: fc.oneof(
    { weight: 4, arbitrary: fc.constant('HS256') },
    { weight: 1, arbitrary: fc.constantFrom('none', 'hs256', 'HS512', 'RS256', 'EdDSA', 'ES256', '') },
  ),
  kid: fc.oneof(
    { weight: 4, arbitrary: fc.constant<unknown>('k1') },
    { weight: 1, arbitrary: fc.oneof(fc.constantFrom('k2', '', 'K1'), fc.jsonValue({ maxDepth: 0 })) },
  ),
  typ: fc.oneof(
    { weight: 4, arbitrary: fc.constant('JWT') },
    { weight: 1, arbitrary: rare(fc.constantFrom('jwt', 'at+jwt')) },
  ),
  crit: seldom(fc.constantFrom<unknown>(['b64'], ['exp'], [], 'b64')),
  b64: seldom(fc.boolean()),
  jku: seldom(fc.constant('https://attacker.example/jwks')),
});
const payload = fc.record({
  sub: rare(
    fc.oneof(
      { weight: 4, arbitrary: fc.constant<unknown>('o_user') },
      { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 0 }) },
    ),
  ),
  sid: rare(
    fc.oneof(
      { weight: 4, arbitrary: fc.constant<unknown>('s1') },
      { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 0 }) },
    ),
  ),
  uid: seldom(fc.jsonValue({ maxDepth: 1 })),
  iss: rare(
    fc.oneof(
      { weight: 4, arbitrary: fc.constant(ISS) },
      { weight: 1, arbitrary: fc.constantFrom('other', '') },
    ),
  ),
  aud: rare(
    fc.oneof(
      { weight: 4, arbitrary: fc.constant<unknown>(AUD) },
      { weight: 1, arbitrary: fc.constantFrom<unknown>([AUD], ['x', AUD], 'wx0000000000000000') },
    ),
  ),
  iat: rare(claimValue),
  nbf: rare(claimValue),
  exp: rare(claimValue),
});

/** A JWT-shaped string: random header and claims, signed with the real key, a wrong one, or nothing. */
const jwt = fc
  .tuple(
    header,
    payload,
    fc.constantFrom('key', 'key', 'wrong', 'none', 'random'),
    fc.base64String({ maxLength: 60 }),
  )
  .map(([h, p, how, junk]) => {
    const input = `${b64(h)}.${b64(p)}`;
    const sig =
      how === 'key'
        ? hs256(input)
        : how === 'wrong'
          ? hs256(input, `${SECRET}!`)
          : how === 'none'
            ? ''
            : junk;
    return { token: `${input}.${sig}`, h, p, how };
  });

function acceptable(h: Record<string, unknown>, p: Record<string, unknown>, how: string): boolean {
  const aud = Array.isArray(p.aud) ? p.aud : [p.aud];
  const n = (v: unknown) => typeof v === 'number' && Number.isFinite(v);
  return (
    how === 'key' &&
    h.alg === 'HS256' &&
    h.kid === 'k1' &&
    (h.typ === 'JWT' || h.typ === 'jwt') &&
    // b64 counts only when listed in crit (RFC 7797); any crit is refused.
    h.crit === undefined &&
    p.iss === ISS &&
    aud.includes(AUD) &&
    typeof p.sub === 'string' &&
    typeof p.sid === 'string' &&
    n(p.iat) &&
    n(p.nbf) &&
    n(p.exp) &&
    (p.exp as number) + 5 > s &&
    (p.nbf as number) - 5 <= s
  );
}

describe('fuzz: session tokens', () => {
  it('random and correctly signed tokens: refused with SESSION_INVALID / SESSION_EXPIRED only; accepted only when every rule holds', async () => {
    const seen = new Set<string>();
    await fuzz(
      'guard.jwt',
      jwt,
      async ({ token, h, p, how }) => {
        let claims: Awaited<ReturnType<SessionTokens['verify']>> | undefined;
        const code = await typedOnlyAsync(async () => {
          claims = await tokens.verify(token);
        }, ['SESSION_INVALID', 'SESSION_EXPIRED']);
        if (code === 'ok') {
          expect(acceptable(h, p as Record<string, unknown>, how), JSON.stringify({ h, p })).toBe(true);
          expect(claims?.sub).toBe(p.sub);
          expect(claims?.sid).toBe(p.sid);
        }
        if (code === 'SESSION_EXPIRED') expect(how).toBe('key');
        seen.add(code);
      },
      { ciRuns: 150 },
    );
    // The generator reaches every outcome, acceptance included (else the property proves little).
    expect([...seen].sort()).toEqual(['SESSION_EXPIRED', 'SESSION_INVALID', 'ok']);
  });

  it('any change to a genuine token is refused, including another spelling of its signature', async () => {
    const { token } = await tokens.sign({ sub: 'o_user', sid: 's-genuine' }, 900);
    await fuzz(
      'guard.jwt.mutated',
      fc.tuple(
        fc.nat({ max: token.length - 1 }),
        fc.constantFrom(...'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.= '),
        fc.constantFrom('replace', 'insert', 'delete', 'append'),
      ),
      async ([at, ch, op]) => {
        const changed =
          op === 'replace'
            ? token.slice(0, at) + ch + token.slice(at + 1)
            : op === 'insert'
              ? token.slice(0, at) + ch + token.slice(at)
              : op === 'delete'
                ? token.slice(0, at) + token.slice(at + 1)
                : token + ch;
        fc.pre(changed !== token);
        const code = await typedOnlyAsync(() => tokens.verify(changed), ['SESSION_INVALID']);
        expect(code, changed).toBe('SESSION_INVALID');
      },
      { ciRuns: 150 },
    );
  });

  it('regression: a signature spelled with other trailing bits, or with padding, is refused', async () => {
    const { token } = await tokens.sign({ sub: 'o_user', sid: 's-spelling' }, 900);
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
    const last = token.at(-1) as string;
    const twisted = token.slice(0, -1) + alphabet[alphabet.indexOf(last) ^ 1];
    // The same 32 signature bytes: jose alone would accept both spellings.
    expect(Buffer.from(twisted.split('.')[2] as string, 'base64url')).toEqual(
      Buffer.from(token.split('.')[2] as string, 'base64url'),
    );
    for (const other of [twisted, `${token}=`]) {
      await expect(tokens.verify(other)).rejects.toMatchObject({ code: 'SESSION_INVALID' });
    }
    await expect(tokens.verify(token)).resolves.toMatchObject({ sid: 's-spelling' });
  });
});

// --- a protected route under random headers ----------------------------------------------------

const shared = world();
afterAll(() => shared.emulator.close());

const logger = { error: vi.fn(), warn: vi.fn() };
let genuine = '';
let cookieSession = '';
const routes: Record<string, GuardHandler> = {};

beforeAll(async () => {
  const variants = {
    plain: {},
    proxied: { trustProxy: 1, cors: { origins: ['https://h5.example.com'] } },
    cookie: {
      cookie: true,
      trustProxy: ['loopback', '10.0.0.0/8'],
      cors: { origins: ['https://h5.example.com', 'http://[::1]:8080'], credentials: true },
    },
    cloudRun: { cloudRun: true, https: false as const, cors: { origins: ['*'] } },
  };
  for (const [name, extra] of Object.entries(variants)) {
    const guard = createGuard({
      miniProgram: shared.mp,
      keys: [{ kid: 'k1', alg: 'HS256', secret: SECRET }],
      now: () => NOW,
      logger,
      ...extra,
    });
    routes[name] = guard.protect(({ session }) => ({ openid: session.openid }));
    if (name === 'plain' || name === 'cookie') {
      const answer = await guard.loginRoute()(
        request('POST', '/api/login', { body: { code: await shared.loginCode(`o_fuzz_${name}`) } }),
      );
      expect(answer.status).toBe(200);
      if (name === 'plain') genuine = body(answer).token;
      else
        cookieSession = (answer.headers['set-cookie'] ?? '')
          .split('\n')
          .map((c) => c.split(';')[0])
          .join('; ');
    }
  }
});

const ip = fc.oneof(
  fc.ipV4(),
  fc.ipV6(),
  fc.constantFrom(
    '127.0.0.1',
    '::1',
    '10.1.2.3',
    '::ffff:127.0.0.1',
    '[::1]',
    'unknown',
    '',
    ' 1.2.3.4 ',
    '1.2.3.4:80',
  ),
);
const headerText = fc.oneof(fc.string({ maxLength: 30 }), fc.string({ unit: 'binary', maxLength: 10 }));
const randomHeaders = fc.record(
  {
    authorization: fc.oneof(
      fc.constantFrom(
        'GENUINE',
        'Bearer GENUINE',
        'bearer GENUINE',
        'Bearer  GENUINE',
        'Bearer GENUINE x',
        'Bearer',
        'Basic abc',
        '',
      ),
      headerText.map((t) => `Bearer ${t}`),
      headerText,
    ),
    cookie: fc.oneof(
      fc.constantFrom('COOKIE', 'wk_session=', 'wk_session', '=x', ';;', 'wk_session=a=b; wk_session=c'),
      headerText.map((t) => `wk_session=${t}`),
    ),
    origin: fc.oneof(
      fc.constantFrom(
        'https://h5.example.com',
        'https://H5.example.com',
        'null',
        'https://h5.example.com.evil',
        'http://[::1]:8080',
      ),
      headerText,
    ),
    host: fc.oneof(
      fc.constantFrom('api.example.com', 'api.example.com:80', '[::1]:443', 'a b', ''),
      headerText,
    ),
    'x-forwarded-for': fc.oneof(
      fc.array(ip, { maxLength: 4 }).map((a) => a.join(', ')),
      headerText,
    ),
    'x-forwarded-proto': fc.constantFrom('https', 'http', 'HTTPS', 'https, http', 'wss', ''),
    'x-wx-openid': fc.oneof(fc.constantFrom('o_cloud_1', 'o cloud', ''), headerText),
    'x-wx-appid': fc.constantFrom(MP.appId, 'wx0000000000000000', ''),
    'access-control-request-method': fc.constantFrom('POST', ''),
  },
  { requiredKeys: [] },
);

describe('fuzz: a protected route under random headers', () => {
  it('never answers 500 and never logs an error; 200 only for a genuine session', async () => {
    const statuses = new Set<number>();
    await fuzz(
      'guard.route',
      fc.record({
        variant: fc.constantFrom('plain', 'proxied', 'cookie', 'cloudRun'),
        method: fc.constantFrom('GET', 'POST', 'OPTIONS', 'HEAD', 'DELETE', 'get'),
        url: fc.constantFrom('/api/me', '/api/me?x=1', '//evil.example/x', '/', ''),
        remoteAddress: fc.option(ip, { nil: undefined }),
        secure: fc.boolean(),
        headers: randomHeaders,
      }),
      async ({ variant, method, url, remoteAddress, secure, headers }) => {
        const h: Record<string, string> = {};
        for (const [k, v] of Object.entries(headers)) {
          h[k] = (v as string).replace('GENUINE', genuine).replace(/^COOKIE$/, cookieSession);
        }
        const req: GuardRequest = { method, url, headers: h, remoteAddress, secure, json: async () => ({}) };
        const answer = await (routes[variant] as GuardHandler)(req);
        expect(answer.status, answer.body).not.toBe(500);
        expect([200, 204, 308, 401, 403, 429]).toContain(answer.status);
        if (answer.body !== '') JSON.parse(answer.body);
        if (answer.status === 200) {
          const openid = body(answer).openid as string;
          expect(['o_fuzz_plain', 'o_fuzz_cookie', h['x-wx-openid']]).toContain(openid);
          if (openid === h['x-wx-openid']) expect(variant).toBe('cloudRun');
        }
        expect(logger.error).not.toHaveBeenCalled();
        statuses.add(answer.status);
      },
      { ciRuns: 120, maxMsPerInput: 2000 },
    );
    for (const status of [200, 204, 308, 401, 403]) expect(statuses).toContain(status);
  });
});

// --- trustProxy and CORS ------------------------------------------------------------------------

describe('fuzz: trustProxy', () => {
  const settings = [
    false,
    0,
    1,
    2,
    5,
    ['loopback'],
    ['private', '127.0.0.1/32'],
    ['::1', '10.0.0.0/8'],
  ] as const;

  it('the client address is the peer or an address of the X-Forwarded-For chain, picked by the trust rule', async () => {
    await fuzz(
      'trustProxy.clientIp',
      fc.tuple(
        fc.nat({ max: settings.length - 1 }),
        fc.option(ip, { nil: undefined }),
        fc.oneof(
          fc.array(ip, { maxLength: 6 }).map((a) => a.join(',')),
          fc.string({ maxLength: 40 }),
        ),
        fc.boolean(),
        fc.boolean(),
      ),
      ([which, peer, forwarded, fetchHeaders, secure]) => {
        const setting = settings[which] as (typeof settings)[number];
        const trust = compileTrustProxy(setting as never, 'fuzz');
        // RFC 7239 Forwarded is not read (only X-Forwarded-For / -Proto): it must change nothing.
        const raw = {
          'x-forwarded-for': forwarded,
          'x-forwarded-proto': 'https',
          forwarded: `for=${JSON.stringify(peer ?? '203.0.113.9')};proto=https, for=198.51.100.7`,
        };
        const headers = fetchHeaders ? new Headers(raw) : raw;
        const got = trust.clientIp({ remoteAddress: peer, headers });
        const peerIp = normalizeIp(peer);
        const hops = forwarded
          .split(',')
          .map((p) => normalizeIp(p.trim()))
          .filter((x): x is string => x !== undefined);
        const chain = [...(peerIp === undefined ? [] : [peerIp]), ...hops.reverse()];
        if (setting === false && peerIp !== undefined) expect(got).toBe(peerIp);
        else if (chain.length === 0) expect(got).toBeUndefined();
        else {
          expect(chain).toContain(got);
          if (typeof setting === 'number') expect(got).toBe(chain[Math.min(setting, chain.length - 1)]);
        }
        const proto = trust.protocol({ remoteAddress: peer, headers, secure });
        if (secure) expect(proto).toBe('https');
        else if (setting === false || peerIp === undefined) expect(proto).toBe('http');
        if (setting === 0) expect(proto).toBe(secure ? 'https' : 'http');
        if (Array.isArray(setting) && setting.includes('loopback') && proto === 'https' && !secure) {
          expect(isLoopback(peerIp)).toBe(true);
        }
      },
      { ciRuns: 200 },
    );
  });
});

describe('fuzz: CORS origins', () => {
  const ORIGINS = ['https://h5.example.com', 'http://localhost:8080', 'https://[::1]:9443'];
  const cors = compileCors({ origins: ORIGINS, credentials: true });
  const wildcard = compileCors({ origins: ['*'] });

  it('allows exactly the listed origins (any case), never reflects another one', async () => {
    const origin = fc.oneof(
      fc.constantFrom(...ORIGINS),
      fc.constantFrom(...ORIGINS).map((o) => o.toUpperCase()),
      fc
        .tuple(
          fc.constantFrom(...ORIGINS),
          fc.constantFrom('/', '.', ' ', '\n', '.evil.com', ':443', '%00', '@x'),
        )
        .map(([o, tail]) => o + tail),
      fc.constantFrom('null', '*', '', 'https://example.com', 'file://'),
      fc.webUrl(),
      fc.string({ maxLength: 40 }),
    );
    await fuzz(
      'cors.origin',
      origin,
      (o) => {
        const listed = ORIGINS.some((l) => l.toLowerCase() === o.toLowerCase());
        const headers = cors?.headersFor(o);
        const preflight = cors?.preflightHeaders(o);
        if (listed) {
          expect(headers?.['access-control-allow-origin']).toBe(o);
          expect(headers?.['access-control-allow-credentials']).toBe('true');
          expect(preflight?.['access-control-allow-methods']).toBeDefined();
        } else {
          expect(headers).toBeUndefined();
          expect(preflight).toBeUndefined();
        }
        expect(wildcard?.headersFor(o)?.['access-control-allow-origin']).toBe('*');
        expect(wildcard?.headersFor(o)?.['access-control-allow-credentials']).toBeUndefined();
      },
      { ciRuns: 150 },
    );
  });

  it('refuses configured origins that are not scheme://host[:port] with a typed error', async () => {
    await fuzz(
      'cors.config',
      fc.oneof(fc.webUrl({ withQueryParameters: true, withFragments: true }), fc.string({ maxLength: 30 })),
      (o) => {
        try {
          compileCors({ origins: [o] });
        } catch (error) {
          expect(error).toBeInstanceOf(Error);
          expect((error as GuardError).code).toBe('INVALID_CONFIG');
          return;
        }
        expect(o === '*' || /^https?:\/\/[^/?#\s]+$/.test(o)).toBe(true);
      },
      { ciRuns: 100 },
    );
  });
});

describe('fuzz: traceparent (the request id of every guard route, callback and Pay notification)', () => {
  it('gives a 32-hex-digit, non-zero trace id from a valid header only, and never throws', async () => {
    const hex = (n: number) => fc.stringMatching(new RegExp(`^[0-9a-f]{${n}}$`));
    const traceparent = fc.oneof(
      fc
        .tuple(
          fc.constantFrom('00', '01', 'ff', '0g'),
          hex(32),
          hex(16),
          hex(2),
          fc.constantFrom('', '-x', 'x', ' '),
        )
        .map(([v, t, p, f, tail]) => `${v}-${t}-${p}-${f}${tail}`),
      fc.constantFrom(
        `00-${'0'.repeat(32)}-${'1'.repeat(16)}-01`,
        `00-${'1'.repeat(32)}-${'0'.repeat(16)}-01`,
      ),
      fc.string({ maxLength: 80 }),
      fc.string({ minLength: 500, maxLength: 600 }),
    );
    await fuzz(
      'traceparent',
      traceparent,
      (value) => {
        const id = traceIdOf(value);
        if (id === undefined) return;
        expect(id).toMatch(/^[0-9a-f]{32}$/);
        expect(id).not.toMatch(/^0+$/);
        expect(value.trim().slice(3, 35)).toBe(id);
        expect(value.trim().startsWith('ff-')).toBe(false);
      },
      { ciRuns: 150 },
    );
  });
});
