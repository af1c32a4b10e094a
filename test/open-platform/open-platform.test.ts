import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { toNodeListener } from '../../src/adapters/node.js';
import { type AuthorizedEvent, createWeChatCallback } from '../../src/callbacks/index.js';
import { MemoryStore } from '../../src/credentials/memory-store.js';
import type { Lease, StoredToken, TokenStore } from '../../src/credentials/token-store.js';
import { type RunningEmulator, startEmulator } from '../../src/emulator/index.js';
import { ConfigError, type WeChatApiError } from '../../src/errors.js';
import {
  AuthorizerRevokedError,
  OpenPlatform,
  RefreshTokenMissingError,
  VerifyTicketMissingError,
} from '../../src/open-platform/index.js';

const component = {
  componentAppId: 'wxc0mp0nent0000001',
  componentSecret: 'component-secret-0123456789abcdef',
  token: 'ComponentToken',
  encodingAESKey: 'abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG',
};
const AUTHORIZER = 'wxa0th0r1zer000001';

/** A MemoryStore that remembers every key it was asked about. */
class RecordingStore implements TokenStore {
  readonly keys = new Set<string>();
  readonly inner: MemoryStore;
  constructor(now: () => number) {
    this.inner = new MemoryStore({ now });
  }
  get(key: string): Promise<StoredToken | undefined> {
    this.keys.add(key);
    return this.inner.get(key);
  }
  set(key: string, token: StoredToken, ttlMs: number): Promise<void> {
    this.keys.add(key);
    return this.inner.set(key, token, ttlMs);
  }
  compareAndDelete(key: string, expectedValue: string): Promise<boolean> {
    this.keys.add(key);
    return this.inner.compareAndDelete(key, expectedValue);
  }
  acquireLease(key: string, ttlMs: number): Promise<Lease | undefined> {
    this.keys.add(key);
    return this.inner.acquireLease(key, ttlMs);
  }
}

// biome-ignore lint/suspicious/noExplicitAny: control-plane answers are inspected field by field
type Json = any;

// The story's state, fresh for every run of it (see beforeEach).
let emulator: RunningEmulator;
let server: Server;
let store: RecordingStore;
let op: OpenPlatform;
const urls: string[] = [];
const authorized: AuthorizedEvent[] = [];
const secrets = new Set<string>();

const now = () => emulator.state.now();
const post = async (path: string, body: unknown): Promise<Json> =>
  (await fetch(`${emulator.url}${path}`, { method: 'POST', body: JSON.stringify(body) })).json();
const advance = (advanceSeconds: number) => post('/_emulator/clock', { advanceSeconds });
const calls = (path: string) => emulator.state.stats.calls[path] ?? 0;
const recordingFetch: typeof fetch = (input, init) => {
  urls.push(String(input));
  return fetch(input, init);
};
const newPlatform = (overrides: Record<string, unknown> = {}) =>
  new OpenPlatform({
    componentAppId: component.componentAppId,
    componentSecret: component.componentSecret,
    baseUrl: emulator.url,
    store,
    now,
    fetch: recordingFetch,
    ...overrides,
  });

async function pushTicket(): Promise<Json> {
  await advance(1);
  const res = await post('/_emulator/open-platform/ticket', { componentAppId: component.componentAppId });
  secrets.add(res.ticket);
  return res;
}

async function startStory(): Promise<void> {
  urls.length = 0;
  authorized.length = 0;
  secrets.clear();
  secrets.add(component.componentSecret);
  // The 授权事件接收URL: the SDK's callback pipeline with the platform's ticket handler.
  const callback = createWeChatCallback({
    appId: component.componentAppId,
    token: component.token,
    encodingAESKey: component.encodingAESKey,
    mode: 'safe',
    now: () => emulator.state.now(),
  }).on('authorized', (msg) => {
    authorized.push(msg);
  });
  server = createServer(toNodeListener(callback));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const callbackUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/op/events`;
  emulator = await startEmulator({
    // A manual clock: emulated time moves only when a step advances it.
    config: {
      apps: [],
      merchants: [],
      components: [{ ...component, callbackUrl }],
      options: { clock: 'manual' },
    },
  });
  store = new RecordingStore(now);
  op = newPlatform();
  callback.on('component_verify_ticket', op.verifyTicketHandler());
}

async function endStory(): Promise<void> {
  await emulator?.close();
  await new Promise((resolve) => server?.close(resolve));
}

/**
 * The steps of the Open Platform story, in the order they happen: each one leans on what the
 * ones before did (a stored ticket, an authorisation, a refresh token), so they run as one test
 * on one fresh emulator and store; a failure names its step.
 */
const story: Array<[string, () => Promise<void> | void]> = [];
const step = (name: string, run: () => Promise<void> | void) => {
  story.push([name, run]);
};

describe('OpenPlatform against the emulator', () => {
  beforeEach(startStory);
  afterEach(endStory);

  it('ticket → component token → pre-auth → authorize → authorizer token → refresh → restart → 40001 → unauthorize → ticket expiry', async () => {
    expect(story.length).toBeGreaterThan(0);
    for (const [name, run] of story) {
      try {
        await run();
      } catch (error) {
        if (error instanceof Error) error.message = `step "${name}": ${error.message}`;
        throw error;
      }
    }
  });

  step('refuses to fetch a component token before any ticket, with a typed error', async () => {
    const error = await op.getComponentAccessToken().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(VerifyTicketMissingError);
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as Error).message).toMatch(/next push \(at most 10 minutes\)/);
    expect(calls('/cgi-bin/component/api_component_token')).toBe(0);
  });

  step(
    'stores the pushed ticket through the callback, answers success, and fetches one token for 50 callers',
    async () => {
      const pushed = await pushTicket();
      expect(pushed).toMatchObject({ ok: true, status: 200, rawReply: 'success' });
      const stored = await store.inner.get(`weixin-kit:component_verify_ticket:${component.componentAppId}`);
      expect(stored?.value).toBe(pushed.ticket);
      // The emulator's clock is manual here (no time passes); the bounds would hold on a running one.
      expect(stored!.expiresAt - now()).toBeGreaterThan(12 * 3600 * 1000 - 5000);
      expect(stored!.expiresAt - now()).toBeLessThanOrEqual(12 * 3600 * 1000);

      const before = calls('/cgi-bin/component/api_component_token');
      const tokens = await Promise.all(Array.from({ length: 50 }, () => op.getComponentAccessToken()));
      expect(new Set(tokens).size).toBe(1);
      expect(calls('/cgi-bin/component/api_component_token') - before).toBe(1);
      secrets.add(tokens[0] as string);
    },
  );

  step('pre_auth_code → authorisation link → authorized push → exchangeCode → authorizer token', async () => {
    urls.length = 0;
    const pre = await op.auth.createPreAuthCode();
    expect(pre.expires_in).toBe(1800);
    // Component APIs carry component_access_token, never access_token.
    const preUrl = new URL(urls.find((u) => u.includes('api_create_preauthcode')) as string);
    expect(preUrl.searchParams.get('component_access_token')).toBe(await op.getComponentAccessToken());
    expect(preUrl.searchParams.has('access_token')).toBe(false);

    const link = new URL(
      op.auth.authorizeUrl({
        pre_auth_code: pre.pre_auth_code,
        redirect_uri: 'https://example.com/back?x=1',
      }),
    );
    expect(`${link.origin}${link.pathname}`).toBe('https://mp.weixin.qq.com/cgi-bin/componentloginpage');
    expect(link.searchParams.get('pre_auth_code')).toBe(pre.pre_auth_code);

    await advance(1);
    const auth = await post('/_emulator/open-platform/authorize', {
      componentAppId: component.componentAppId,
      authorizerAppId: AUTHORIZER,
      preAuthCode: pre.pre_auth_code,
    });
    expect(auth.ok).toBe(true);
    const event = authorized.at(-1) as AuthorizedEvent;
    expect(event.PreAuthCode).toBe(pre.pre_auth_code);

    const info = await op.auth.exchangeCode({ authorization_code: event.AuthorizationCode });
    expect(info.authorizer_appid).toBe(AUTHORIZER);
    secrets.add(info.authorizer_refresh_token).add(info.authorizer_access_token);
    expect(await op.getRefreshToken(AUTHORIZER)).toBe(info.authorizer_refresh_token);

    // The token api_query_auth gave is served as is: no api_authorizer_token call.
    const refreshes = calls('/cgi-bin/component/api_authorizer_token');
    const authorizer = op.authorizer(AUTHORIZER);
    expect(op.authorizer(AUTHORIZER)).toBe(authorizer);
    expect(await authorizer.getAccessToken()).toBe(info.authorizer_access_token);
    expect(calls('/cgi-bin/component/api_authorizer_token')).toBe(refreshes);
  });

  step('refreshes the authorizer token after it expires, once for concurrent callers', async () => {
    const authorizer = op.authorizer(AUTHORIZER);
    const old = await authorizer.getAccessToken();
    await advance(7200);
    const refreshes = calls('/cgi-bin/component/api_authorizer_token');
    const fresh = await Promise.all(Array.from({ length: 10 }, () => authorizer.getAccessToken()));
    expect(new Set(fresh).size).toBe(1);
    expect(fresh[0]).not.toBe(old);
    expect(calls('/cgi-bin/component/api_authorizer_token') - refreshes).toBe(1);
    secrets.add(fresh[0] as string);
    // The component token had expired as well and was fetched again with the stored ticket.
    secrets.add(await op.getComponentAccessToken());
  });

  step('a restarted instance with the same store gets a component token without another push', async () => {
    const pushes = emulator.state.stats.pushes[component.componentAppId] ?? 0;
    await advance(7200);
    const restarted = newPlatform();
    const before = calls('/cgi-bin/component/api_component_token');
    const token = await restarted.getComponentAccessToken();
    expect(token).toBeTruthy();
    expect(calls('/cgi-bin/component/api_component_token') - before).toBe(1);
    expect(emulator.state.stats.pushes[component.componentAppId] ?? 0).toBe(pushes);
    secrets.add(token);
    // …and refreshes the authorizer's token with the refresh token the first instance stored.
    secrets.add(await restarted.authorizer(AUTHORIZER).getAccessToken());
  });

  step('authorizer.request carries access_token and retries once with a fresh token on 40001', async () => {
    // WeChat refuses the token once (as after a token reset): one refresh, one retry, success.
    urls.length = 0;
    const authorizer = op.authorizer(AUTHORIZER);
    const token = await authorizer.getAccessToken();
    const refreshes = calls('/cgi-bin/component/api_authorizer_token');
    await post('/_emulator/faults', { path: '/cgi-bin/user/get', errcode: 40001 });
    const page = await authorizer.request<{ total: number }>('GET', '/cgi-bin/user/get');
    expect(page.total).toEqual(expect.any(Number));
    const sent = urls.filter((u) => u.includes('/cgi-bin/user/get')).map((u) => new URL(u));
    expect(sent).toHaveLength(2);
    expect(sent[0]?.searchParams.get('access_token')).toBe(token);
    expect(sent[1]?.searchParams.get('access_token')).not.toBe(token);
    expect(calls('/cgi-bin/component/api_authorizer_token') - refreshes).toBe(1);
    for (const url of sent) secrets.add(url.searchParams.get('access_token') as string);
  });

  step(
    'after an unauthorize this platform did not hear of, the refresh fails: AUTHORIZER_REVOKED (61023)',
    async () => {
      await advance(1);
      const res = await post('/_emulator/open-platform/unauthorize', {
        componentAppId: component.componentAppId,
        authorizerAppId: AUTHORIZER,
      });
      expect(res.ok).toBe(true);
      await advance(7200);
      const error = await op
        .authorizer(AUTHORIZER)
        .getAccessToken()
        .catch((e: unknown) => e);
      expect(error).toBeInstanceOf(AuthorizerRevokedError);
      expect((error as AuthorizerRevokedError).code).toBe('AUTHORIZER_REVOKED');
      expect(((error as Error).cause as WeChatApiError).errcode).toBe(61023);
      // Still the stored refresh token: a re-authorisation replaces it through auth.exchangeCode.
      expect(await op.getRefreshToken(AUTHORIZER)).toBeTruthy();
    },
  );

  step('once the stored ticket has expired, asks for the next push again', async () => {
    await advance(12 * 3600);
    await expect(newPlatform().getComponentAccessToken()).rejects.toBeInstanceOf(VerifyTicketMissingError);
    await pushTicket();
    secrets.add(await newPlatform().getComponentAccessToken());
  });

  step('never puts a secret or a token in a store key', () => {
    const keys = [...store.keys];
    const c = component.componentAppId;
    // The quota breakers (one per account and API path, read on each call) name the account and path only.
    const breakers = keys.filter((key) => key.startsWith('weixin-kit:breaker:'));
    expect(breakers).toContain(`weixin-kit:breaker:${c}:/cgi-bin/component/api_component_token`);
    for (const key of breakers) {
      expect(key).toMatch(new RegExp(`^weixin-kit:breaker:(${c}|${AUTHORIZER}):/[a-z_/-]+$`));
    }
    expect(new Set(keys.filter((key) => !breakers.includes(key)))).toEqual(
      new Set([
        `weixin-kit:component_verify_ticket:${c}`,
        `weixin-kit:component_access_token:${c}`,
        `weixin-kit:component_access_token:${c}:lease`,
        `weixin-kit:authorizer_refresh_token:${c}:${AUTHORIZER}`,
        // Read when a refresh token is saved: a new authorisation lifts a revocation mark.
        `weixin-kit:authorizer_revoked:${c}:${AUTHORIZER}`,
        `weixin-kit:authorizer_access_token:${c}:${AUTHORIZER}`,
        `weixin-kit:authorizer_access_token:${c}:${AUTHORIZER}:lease`,
      ]),
    );
    expect(secrets.size).toBeGreaterThan(8);
    for (const key of keys) {
      for (const secret of secrets) expect(key).not.toContain(secret);
    }
  });
});

/** A WeChat stand-in for paths the emulator answers one way only. */
function fakeFetch(answers: Record<string, (body: Json) => unknown>, seen: string[] = []): typeof fetch {
  return async (input, init) => {
    const url = new URL(String(input));
    seen.push(url.pathname + url.search);
    const answer = answers[url.pathname];
    const body = typeof init?.body === 'string' ? JSON.parse(init.body) : undefined;
    const data = answer ? answer(body) : { errcode: 40004, errmsg: 'unexpected path in test' };
    return new Response(JSON.stringify(data), { headers: { 'content-type': 'application/json' } });
  };
}

describe('OpenPlatform (offline)', () => {
  const base = { componentAppId: component.componentAppId, componentSecret: component.componentSecret };

  it('saves the refresh token api_authorizer_token answers with', async () => {
    let n = 0;
    const platform = new OpenPlatform({
      ...base,
      baseUrl: 'https://api.example.test',
      fetch: fakeFetch({
        '/cgi-bin/component/api_component_token': (body) => {
          expect(body).toEqual({
            component_appid: component.componentAppId,
            component_appsecret: component.componentSecret,
            component_verify_ticket: 'ticket-1',
          });
          return { component_access_token: 'cat-1', expires_in: 7200 };
        },
        '/cgi-bin/component/api_authorizer_token': (body) => {
          expect(body.authorizer_refresh_token).toBe(n === 0 ? 'refresh-old' : 'refresh-new');
          n++;
          return {
            authorizer_access_token: `aat-${n}`,
            expires_in: 7200,
            authorizer_refresh_token: 'refresh-new',
          };
        },
      }),
    });
    await platform.saveVerifyTicket('ticket-1');
    await platform.saveRefreshToken(AUTHORIZER, 'refresh-old');
    expect(await platform.authorizer(AUTHORIZER).getAccessToken()).toBe('aat-1');
    expect(await platform.getRefreshToken(AUTHORIZER)).toBe('refresh-new');
  });

  it('drops a ticket WeChat calls expired (61005) so the next call asks for a push', async () => {
    const seen: string[] = [];
    const platform = new OpenPlatform({
      ...base,
      baseUrl: 'https://api.example.test',
      fetch: fakeFetch(
        { '/cgi-bin/component/api_component_token': () => ({ errcode: 61005, errmsg: 'ticket expired' }) },
        seen,
      ),
    });
    await platform.saveVerifyTicket('ticket-old');
    const first = await platform.getComponentAccessToken().catch((e: unknown) => e);
    expect((first as WeChatApiError).errcode).toBe(61005);
    await expect(platform.getComponentAccessToken()).rejects.toBeInstanceOf(VerifyTicketMissingError);
    expect(seen).toHaveLength(1);
  });

  it('says what to do when an authorizer has no refresh token', async () => {
    const platform = new OpenPlatform({
      ...base,
      fetch: fakeFetch({}),
      baseUrl: 'https://api.example.test',
    });
    await platform.saveVerifyTicket('t');
    await expect(platform.authorizer(AUTHORIZER).getAccessToken()).rejects.toBeInstanceOf(
      RefreshTokenMissingError,
    );
  });

  it('refuses an api_query_auth answer without authorization_info', async () => {
    const platform = new OpenPlatform({
      ...base,
      baseUrl: 'https://api.example.test',
      fetch: fakeFetch({
        '/cgi-bin/component/api_component_token': () => ({ component_access_token: 'cat', expires_in: 7200 }),
        '/cgi-bin/component/api_query_auth': () => ({ errcode: 0, errmsg: 'ok' }),
      }),
    });
    await platform.saveVerifyTicket('t');
    await expect(
      platform.auth.exchangeCode({ authorization_code: 'code' }, { timeoutMs: 1000 }),
    ).rejects.toMatchObject({
      code: 'BAD_RESPONSE',
    });
  });

  it('builds the official authorisation link', () => {
    const platform = new OpenPlatform(base);
    expect(
      platform.auth.authorizeUrl({
        pre_auth_code: 'preauthcode@@@abc',
        redirect_uri: 'https://example.com/back?a=1&b=2',
        auth_type: 3,
        biz_appid: AUTHORIZER,
      }),
    ).toBe(
      'https://mp.weixin.qq.com/cgi-bin/componentloginpage?component_appid=wxc0mp0nent0000001' +
        '&pre_auth_code=preauthcode%40%40%40abc&redirect_uri=https%3A%2F%2Fexample.com%2Fback%3Fa%3D1%26b%3D2' +
        `&auth_type=3&biz_appid=${AUTHORIZER}`,
    );
    expect(platform.auth.authorizeUrl({ pre_auth_code: 'p', redirect_uri: 'https://e.com/' })).not.toContain(
      'auth_type',
    );
    expect(() =>
      platform.auth.authorizeUrl({ pre_auth_code: 'p', redirect_uri: 'https://e.com/', auth_type: 9 }),
    ).toThrow(/auth_type/);
    expect(() => platform.auth.authorizeUrl({ pre_auth_code: 'p', redirect_uri: 'javascript:x' })).toThrow(
      /redirect_uri/,
    );
    expect(() => platform.auth.authorizeUrl({ pre_auth_code: '', redirect_uri: 'https://e.com/' })).toThrow(
      /pre_auth_code/,
    );
  });

  it('checks its options and arguments', async () => {
    expect(() => new OpenPlatform({ ...base, secret: 'x' } as never)).toThrow(/unknown option "secret"/);
    expect(() => new OpenPlatform({ componentAppId: 'wx1' } as never)).toThrow(/componentSecret is required/);
    const platform = new OpenPlatform(base);
    expect(() => platform.authorizer('bad appid!')).toThrow(/authorizerAppId/);
    await expect(platform.saveVerifyTicket('')).rejects.toThrow(/ticket/);
    await expect(platform.auth.exchangeCode({ authorization_code: '' })).rejects.toThrow(
      /authorization_code/,
    );
  });

  it('verifyTicketHandler refuses a ticket of another component', async () => {
    const platform = new OpenPlatform(base);
    const handler = platform.verifyTicketHandler();
    await expect(
      handler({
        AppId: 'wxc0mp0nent0000002',
        CreateTime: '1',
        InfoType: 'component_verify_ticket',
        ComponentVerifyTicket: 'x',
      }),
    ).rejects.toThrow(/another component/);
    await expect(platform.getComponentAccessToken()).rejects.toBeInstanceOf(VerifyTicketMissingError);
  });
});
