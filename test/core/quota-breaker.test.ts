// Issue 12: a quota or frequency answer (45009, 45011) opens a breaker for that app and API path;
// calls then fail fast with QuotaExceededError without a request, until a back-off ends and one
// probe call decides. Time is a variable the tests move; WeChat is a fetch that counts requests.
import { describe, expect, it } from 'vitest';
import { nextQuotaReset, type QuotaBreakerEvent } from '../../src/core/quota-breaker.js';
import { MemoryStore } from '../../src/credentials/memory-store.js';
import type { Lease, StoredToken, TokenStore } from '../../src/credentials/token-store.js';
import { ConfigError, QuotaExceededError, TransportError, WeChatApiError } from '../../src/errors.js';
import { MiniProgram } from '../../src/mini-program/index.js';
import { OfficialAccount } from '../../src/official-account/index.js';
import { Work } from '../../src/work/index.js';

const APP = 'wx1a2b3c4d5e6f7081';
const OTHER_APP = 'wx9a8b7c6d5e4f3021';
const SECRET = 'a-secret-that-never-shows-up-001';
const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
/** 2030-01-01 10:00 in Beijing (02:00 UTC): the next quota reset is 14 hours away. */
const MORNING = Date.UTC(2030, 0, 1, 2, 0, 0);
/** 2030-01-01 23:30 in Beijing (15:30 UTC): the next quota reset is 30 minutes away. */
const LATE_EVENING = Date.UTC(2030, 0, 1, 15, 30, 0);

interface Deferred {
  resolve(): void;
}

/** A fake WeChat: counts requests per path and answers the errcode set for a path (else success). */
function fakeWeChat() {
  const calls = new Map<string, number>();
  const errcodes = new Map<string, number>();
  const holds = new Map<string, Promise<void>>();
  const fetch = (async (input: string | URL | Request) => {
    const url = new URL(String(input));
    const path = url.pathname;
    calls.set(path, (calls.get(path) ?? 0) + 1);
    await holds.get(path);
    if (path === '/cgi-bin/stable_token' || path === '/cgi-bin/gettoken') {
      const code = errcodes.get(path);
      if (code !== undefined) return Response.json({ errcode: code, errmsg: `errmsg ${code} rid: r1` });
      return Response.json({ access_token: 'ACCESS_TOKEN_1', expires_in: 7200 });
    }
    const code = errcodes.get(path);
    return Response.json(
      code === undefined ? { errcode: 0, errmsg: 'ok' } : { errcode: code, errmsg: `errmsg ${code}` },
    );
  }) as typeof globalThis.fetch;
  return {
    fetch,
    calls: (path: string) => calls.get(path) ?? 0,
    answer(path: string, errcode: number | undefined) {
      if (errcode === undefined) errcodes.delete(path);
      else errcodes.set(path, errcode);
    },
    /** Holds answers of `path` until the returned handle resolves. */
    hold(path: string): Deferred {
      let resolve: () => void = () => {};
      holds.set(
        path,
        new Promise<void>((r) => {
          resolve = r;
        }),
      );
      return {
        resolve: () => {
          holds.delete(path);
          resolve();
        },
      };
    },
  };
}

/** A store that records what was set where (keys and TTLs), over a MemoryStore. */
class RecordingStore implements TokenStore {
  readonly sets: Array<{ key: string; token: StoredToken; ttlMs: number }> = [];
  readonly inner: MemoryStore;
  constructor(now: () => number) {
    this.inner = new MemoryStore({ now });
  }
  get(key: string): Promise<StoredToken | undefined> {
    return this.inner.get(key);
  }
  set(key: string, token: StoredToken, ttlMs: number): Promise<void> {
    this.sets.push({ key, token, ttlMs });
    return this.inner.set(key, token, ttlMs);
  }
  compareAndDelete(key: string, expectedValue: string): Promise<boolean> {
    return this.inner.compareAndDelete(key, expectedValue);
  }
  acquireLease(key: string, ttlMs: number): Promise<Lease | undefined> {
    return this.inner.acquireLease(key, ttlMs);
  }
}

function setup(start = MORNING, extra: Partial<ConstructorParameters<typeof OfficialAccount>[0]> = {}) {
  const clock = { now: start };
  const now = () => clock.now;
  const wechat = fakeWeChat();
  const store = new RecordingStore(now);
  const events: QuotaBreakerEvent[] = [];
  const client = (appId = APP, more: Partial<ConstructorParameters<typeof OfficialAccount>[0]> = {}) =>
    new OfficialAccount({
      appId,
      secret: SECRET,
      fetch: wechat.fetch,
      store,
      now,
      retries: 0,
      hooks: { onBreaker: (e) => events.push(e) },
      ...extra,
      ...more,
    });
  return { clock, wechat, store, events, client, oa: client() };
}

const userInfo = (oa: OfficialAccount) =>
  oa.request('GET', '/cgi-bin/user/info', { query: { openid: 'o1' } });
const failure = (p: Promise<unknown>) =>
  p.then(
    () => {
      throw new Error('expected the call to fail');
    },
    (e: unknown) => e,
  );

describe('nextQuotaReset', () => {
  it('is the next midnight in Beijing (UTC+8), whatever the UTC date', () => {
    expect(nextQuotaReset(MORNING)).toBe(Date.UTC(2030, 0, 1, 16, 0, 0));
    expect(nextQuotaReset(LATE_EVENING)).toBe(Date.UTC(2030, 0, 1, 16, 0, 0));
    // 01:00 UTC on Jan 2 is 09:00 on Jan 2 in Beijing: the reset is midnight of Jan 3 there.
    expect(nextQuotaReset(Date.UTC(2030, 0, 2, 1, 0, 0))).toBe(Date.UTC(2030, 0, 2, 16, 0, 0));
    // At midnight exactly the day has just been reset: the next reset is a full day away.
    expect(nextQuotaReset(Date.UTC(2030, 0, 1, 16, 0, 0))).toBe(Date.UTC(2030, 0, 2, 16, 0, 0));
    expect(nextQuotaReset(Date.UTC(2030, 0, 1, 15, 59, 59, 999))).toBe(Date.UTC(2030, 0, 1, 16, 0, 0));
  });
});

describe('quota breaker', () => {
  it('opens on 45009: the answering call and every later one throw QuotaExceededError, later ones without a request', async () => {
    const { wechat, oa, events } = setup();
    wechat.answer('/cgi-bin/user/info', 45009);
    const first = await failure(userInfo(oa));
    expect(first).toBeInstanceOf(QuotaExceededError);
    expect(first).toBeInstanceOf(WeChatApiError);
    expect(first).toMatchObject({
      code: 'QUOTA_EXCEEDED',
      errcode: 45009,
      appId: APP,
      path: '/cgi-bin/user/info',
      failFast: false,
      retryAt: new Date(MORNING + HOUR),
    });
    expect((first as Error).cause).toBeInstanceOf(WeChatApiError);
    for (let i = 0; i < 5; i++) {
      const again = await failure(userInfo(oa));
      expect(again).toBeInstanceOf(QuotaExceededError);
      expect(again).toMatchObject({ code: 'QUOTA_EXCEEDED', errcode: 45009, failFast: true });
      expect((again as QuotaExceededError).retryAt.getTime()).toBe(MORNING + HOUR);
    }
    expect(wechat.calls('/cgi-bin/user/info')).toBe(1);
    expect(events).toEqual([
      {
        appId: APP,
        path: '/cgi-bin/user/info',
        state: 'open',
        errcode: 45009,
        retryAt: new Date(MORNING + HOUR),
        openings: 1,
      },
    ]);
    expect((first as Error).message).not.toContain(SECRET);
    expect((first as Error).message).not.toContain('ACCESS_TOKEN_1');
  });

  it('after 45009 late in the Beijing day, opens only until midnight Beijing time', async () => {
    const { wechat, oa } = setup(LATE_EVENING);
    wechat.answer('/cgi-bin/user/info', 45009);
    const error = (await failure(userInfo(oa))) as QuotaExceededError;
    expect(error.retryAt).toEqual(new Date(Date.UTC(2030, 0, 1, 16, 0, 0)));
  });

  it('honours maxOpenMs', async () => {
    const { wechat, oa } = setup(MORNING, { quotaBreaker: { maxOpenMs: 5 * MINUTE } });
    wechat.answer('/cgi-bin/user/info', 45009);
    expect(((await failure(userInfo(oa))) as QuotaExceededError).retryAt).toEqual(
      new Date(MORNING + 5 * MINUTE),
    );
  });

  it('half-opens after the back-off: one probe goes through, and its success closes the breaker', async () => {
    const { wechat, oa, clock, events } = setup();
    wechat.answer('/cgi-bin/user/info', 45009);
    await failure(userInfo(oa));
    clock.now = MORNING + HOUR - 1;
    await failure(userInfo(oa));
    expect(wechat.calls('/cgi-bin/user/info')).toBe(1);
    clock.now = MORNING + HOUR;
    wechat.answer('/cgi-bin/user/info', undefined);
    await expect(userInfo(oa)).resolves.toMatchObject({ errcode: 0 });
    await expect(userInfo(oa)).resolves.toMatchObject({ errcode: 0 });
    expect(wechat.calls('/cgi-bin/user/info')).toBe(3);
    expect(events.map((e) => e.state)).toEqual(['open', 'half-open', 'closed']);
  });

  it('lets exactly one probe through while half-open; concurrent callers fail fast', async () => {
    const { wechat, oa, clock } = setup();
    wechat.answer('/cgi-bin/user/info', 45009);
    await failure(userInfo(oa));
    clock.now = MORNING + HOUR;
    wechat.answer('/cgi-bin/user/info', undefined);
    const held = wechat.hold('/cgi-bin/user/info');
    const probe = userInfo(oa);
    const others = await Promise.all(Array.from({ length: 10 }, () => failure(userInfo(oa))));
    for (const e of others) {
      expect(e).toBeInstanceOf(QuotaExceededError);
      expect(e).toMatchObject({ failFast: true });
      expect((e as QuotaExceededError).retryAt.getTime()).toBeGreaterThan(clock.now);
    }
    held.resolve();
    await expect(probe).resolves.toMatchObject({ errcode: 0 });
    expect(wechat.calls('/cgi-bin/user/info')).toBe(2);
  });

  it('re-opens when the probe gets the same error: 45011 backs off 60 s, doubling up to 10 min', async () => {
    const { wechat, oa, clock, events } = setup();
    wechat.answer('/cgi-bin/user/info', 45011);
    const first = (await failure(userInfo(oa))) as QuotaExceededError;
    expect(first).toMatchObject({ code: 'RATE_LIMITED', errcode: 45011 });
    const backoffs = [first.retryAt.getTime() - clock.now];
    for (let i = 0; i < 5; i++) {
      clock.now = await failure(userInfo(oa)).then((e) => (e as QuotaExceededError).retryAt.getTime());
      const probe = (await failure(userInfo(oa))) as QuotaExceededError;
      expect(probe.failFast).toBe(false);
      backoffs.push(probe.retryAt.getTime() - clock.now);
    }
    expect(backoffs).toEqual([60_000, 120_000, 240_000, 480_000, 600_000, 600_000]);
    expect(wechat.calls('/cgi-bin/user/info')).toBe(6);
    expect(events.filter((e) => e.state === 'open').map((e) => e.openings)).toEqual([1, 2, 3, 4, 5, 6]);
  });

  it('a 45009 probe re-opens until the next reset (capped by maxOpenMs) again', async () => {
    const { wechat, oa, clock } = setup(LATE_EVENING);
    wechat.answer('/cgi-bin/user/info', 45009);
    await failure(userInfo(oa));
    clock.now = Date.UTC(2030, 0, 1, 16, 0, 0); // midnight in Beijing: a new day, but still 45009
    const probe = (await failure(userInfo(oa))) as QuotaExceededError;
    expect(probe.failFast).toBe(false);
    expect(probe.retryAt).toEqual(new Date(clock.now + HOUR));
  });

  it('closes when WeChat answers the probe with another errcode: the quota is not what stops it', async () => {
    const { wechat, oa, clock, events } = setup();
    wechat.answer('/cgi-bin/user/info', 45009);
    await failure(userInfo(oa));
    clock.now = MORNING + HOUR;
    wechat.answer('/cgi-bin/user/info', 40003);
    const e = await failure(userInfo(oa));
    expect(e).toBeInstanceOf(WeChatApiError);
    expect(e).not.toBeInstanceOf(QuotaExceededError);
    expect(events.map((x) => x.state)).toEqual(['open', 'half-open', 'closed']);
    await failure(userInfo(oa)); // closed: reaches WeChat
    expect(wechat.calls('/cgi-bin/user/info')).toBe(3);
  });

  it('stays half-open after a transport failure of the probe: the next call probes again', async () => {
    const clock = { now: MORNING };
    let down = false;
    let count = 0;
    const fetch = (async (input: string | URL | Request) => {
      const path = new URL(String(input)).pathname;
      if (path === '/cgi-bin/stable_token') return Response.json({ access_token: 'T', expires_in: 7200 });
      count++;
      if (down) throw new TypeError('fetch failed');
      return Response.json({ errcode: count === 1 ? 45009 : 0, errmsg: 'x' });
    }) as typeof globalThis.fetch;
    const oa = new OfficialAccount({ appId: APP, secret: SECRET, fetch, now: () => clock.now, retries: 0 });
    await failure(userInfo(oa));
    clock.now = MORNING + HOUR;
    down = true;
    expect(await failure(userInfo(oa))).toBeInstanceOf(TransportError);
    down = false;
    await expect(userInfo(oa)).resolves.toMatchObject({ errcode: 0 });
    expect(count).toBe(3);
  });

  it('keeps APIs apart: user/info open does not block menu/get', async () => {
    const { wechat, oa } = setup();
    wechat.answer('/cgi-bin/user/info', 45009);
    await failure(userInfo(oa));
    await expect(oa.request('GET', '/cgi-bin/menu/get')).resolves.toMatchObject({ errcode: 0 });
    // The query string is not part of the API: another openid is the same API.
    const other = oa.request('GET', '/cgi-bin/user/info?lang=zh_CN', { query: { openid: 'o2' } });
    expect(await failure(other)).toMatchObject({ failFast: true });
    expect(wechat.calls('/cgi-bin/menu/get')).toBe(1);
    expect(wechat.calls('/cgi-bin/user/info')).toBe(1);
  });

  it('keeps apps apart: one app open does not block another app on the same store', async () => {
    const { wechat, oa, client } = setup();
    wechat.answer('/cgi-bin/user/info', 45009);
    await failure(userInfo(oa));
    wechat.answer('/cgi-bin/user/info', undefined);
    await expect(userInfo(client(OTHER_APP))).resolves.toMatchObject({ errcode: 0 });
    expect(wechat.calls('/cgi-bin/user/info')).toBe(2);
  });

  it('is shared through the store: another instance fails fast without a token or API request', async () => {
    const { wechat, oa, client } = setup();
    wechat.answer('/cgi-bin/user/info', 45009);
    await failure(userInfo(oa));
    const tokensBefore = wechat.calls('/cgi-bin/stable_token');
    const cold = client(APP, { store: undefined });
    // A separate MemoryStore is another world; the same store is the same breaker.
    await expect(userInfo(cold)).rejects.toMatchObject({ failFast: false });
    const peer = client();
    await expect(userInfo(peer)).rejects.toMatchObject({ failFast: true });
    expect(wechat.calls('/cgi-bin/stable_token')).toBe(tokensBefore + 1); // the cold one only
  });

  it('stores a StoredToken-shaped record under weixin-kit:breaker:<appid>:<path>, never a secret, kept for the interval plus maxBackoffMs', async () => {
    const { wechat, oa, store } = setup();
    wechat.answer('/cgi-bin/user/info', 45009);
    await failure(userInfo(oa));
    const sets = store.sets.filter((s) => s.key.includes('breaker'));
    expect(sets).toHaveLength(1);
    const [set] = sets;
    expect(set?.key).toBe(`weixin-kit:breaker:${APP}:/cgi-bin/user/info`);
    expect(set?.ttlMs).toBe(HOUR + 600_000);
    expect(set?.token).toMatchObject({ expiresAt: MORNING + HOUR, refreshAt: MORNING + HOUR });
    expect(JSON.stringify(set)).not.toContain(SECRET);
    expect(JSON.stringify(set)).not.toContain('ACCESS_TOKEN_1');
  });

  it('protects the token endpoint: 45009 on stable_token fails fast afterwards, without a token cool-down', async () => {
    const { wechat, oa, events } = setup();
    wechat.answer('/cgi-bin/stable_token', 45009);
    const first = await failure(oa.getAccessToken());
    expect(first).toBeInstanceOf(QuotaExceededError);
    expect(first).toMatchObject({
      path: '/cgi-bin/stable_token',
      failFast: false,
      retryAt: new Date(MORNING + HOUR),
    });
    for (const call of [() => oa.getAccessToken(), () => userInfo(oa), () => oa.getAccessToken()]) {
      const e = await failure(call());
      // The breaker's error, not TokenCooldownError: one back-off, not two.
      expect(e).toBeInstanceOf(QuotaExceededError);
      expect(e).toMatchObject({ path: '/cgi-bin/stable_token', failFast: true });
    }
    expect(wechat.calls('/cgi-bin/stable_token')).toBe(1);
    expect(wechat.calls('/cgi-bin/user/info')).toBe(0);
    expect(events.map((e) => [e.path, e.state])).toEqual([['/cgi-bin/stable_token', 'open']]);
  });

  it('protects WeCom gettoken and APIs per corp and agent', async () => {
    const clock = { now: MORNING };
    const wechat = fakeWeChat();
    const store = new MemoryStore({ now: () => clock.now });
    const work = (agentId: number) =>
      new Work({
        corpId: 'ww1a2b3c4d5e6f7081',
        corpSecret: SECRET,
        agentId,
        fetch: wechat.fetch,
        store,
        now: () => clock.now,
        retries: 0,
      });
    wechat.answer('/cgi-bin/user/get', 45009);
    const a = work(1000002);
    await expect(a.request('GET', '/cgi-bin/user/get', { query: { userid: 'u' } })).rejects.toMatchObject({
      appId: 'ww1a2b3c4d5e6f7081:1000002',
      failFast: false,
    });
    await expect(a.request('GET', '/cgi-bin/user/get', { query: { userid: 'u' } })).rejects.toMatchObject({
      failFast: true,
    });
    wechat.answer('/cgi-bin/user/get', undefined);
    await expect(
      work(1000003).request('GET', '/cgi-bin/user/get', { query: { userid: 'u' } }),
    ).resolves.toBeDefined();
    expect(wechat.calls('/cgi-bin/user/get')).toBe(2);
  });

  it('does not open on a 45011 of sns/jscode2session, which counts per user', async () => {
    const wechat = fakeWeChat();
    const mp = new MiniProgram({ appId: APP, secret: SECRET, fetch: wechat.fetch, retries: 0 });
    wechat.answer('/sns/jscode2session', 45011);
    for (let i = 0; i < 3; i++) {
      const e = await failure(mp.auth.code2Session({ js_code: `code-${i}` }));
      expect(e).toBeInstanceOf(WeChatApiError);
      expect(e).not.toBeInstanceOf(QuotaExceededError);
    }
    expect(wechat.calls('/sns/jscode2session')).toBe(3);
  });

  it('quotaBreaker: false lets every call reach WeChat, with a plain WeChatApiError', async () => {
    const { wechat, oa } = setup(MORNING, { quotaBreaker: false });
    wechat.answer('/cgi-bin/user/info', 45009);
    for (let i = 0; i < 3; i++) {
      const e = await failure(userInfo(oa));
      expect(e).toBeInstanceOf(WeChatApiError);
      expect(e).not.toBeInstanceOf(QuotaExceededError);
      expect(e).toMatchObject({ code: 'QUOTA_EXCEEDED' });
    }
    expect(wechat.calls('/cgi-bin/user/info')).toBe(3);
  });

  it('reports an opening to the logger', async () => {
    const warnings: string[] = [];
    const { wechat, oa } = setup(MORNING, {
      logger: { error: () => {}, warn: (_fields, message) => warnings.push(message) },
    });
    wechat.answer('/cgi-bin/user/info', 45009);
    await failure(userInfo(oa));
    expect(warnings).toEqual([
      `weixin-kit: /cgi-bin/user/info of ${APP} answered errcode 45009; holding calls to it until ${new Date(MORNING + HOUR).toISOString()}`,
    ]);
  });

  it('lets calls through when the store fails', async () => {
    const wechat = fakeWeChat();
    const down = async (): Promise<never> => {
      throw new Error('connection refused');
    };
    const broken: TokenStore = { get: down, set: down, compareAndDelete: down, acquireLease: down };
    const oa = new OfficialAccount({
      appId: APP,
      secret: SECRET,
      fetch: wechat.fetch,
      store: broken,
      retries: 0,
      onStoreUnavailable: 'local',
      hooks: { onStoreError: () => {} },
    });
    wechat.answer('/cgi-bin/user/info', 45009);
    for (let i = 0; i < 2; i++) {
      await expect(userInfo(oa)).rejects.toMatchObject({ errcode: 45009, failFast: false });
    }
    expect(wechat.calls('/cgi-bin/user/info')).toBe(2);
  });

  it('refuses bad options when the client is built', () => {
    const make = (quotaBreaker: unknown) => () =>
      new OfficialAccount({ appId: APP, secret: SECRET, quotaBreaker: quotaBreaker as never });
    expect(make({ maxOpen: 1 })).toThrow(ConfigError);
    expect(make({ maxOpenMs: -1 })).toThrow(/maxOpenMs must be a positive number/);
    expect(make({ backoffMs: 1000, maxBackoffMs: 10 })).toThrow(/maxBackoffMs must be at least backoffMs/);
    expect(make('yes')).toThrow(ConfigError);
    expect(make(false)).not.toThrow();
    expect(make({ maxOpenMs: 60_000, backoffMs: 1000, maxBackoffMs: 2000 })).not.toThrow();
  });
});
