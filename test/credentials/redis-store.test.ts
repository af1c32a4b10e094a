import { Redis } from 'ioredis';
import { createClient } from 'redis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { TokenCooldownError } from '../../src/credentials/token-cooldown.js';
import { TokenManager } from '../../src/credentials/token-manager.js';
import { ConfigError, StoreError, WeChatApiError } from '../../src/errors.js';
import { leaseKeyOf, tokenKey } from '../../src/internal/store-keys.js';
import { RedisStore } from '../../src/redis/index.js';
import { clientFactories, redisUp, type TestClient, uniquePrefix } from './redis-helper.js';

const APPID = 'wx1234567890abcdef';
const SECRET = 'e3b0c44298fc1c149afbf4c8996fb924';
const KEY = tokenKey('access_token', APPID);
// Redis expires keys on its own clock, which a test cannot inject: the two TTL tests below wait on
// the wall clock once, for twice the TTL. The wait can only be longer than asked, so it cannot flake.
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const token = (value: string) => ({
  value,
  expiresAt: Date.now() + 7_200_000,
  refreshAt: Date.now() + 6_900_000,
});

describe.skipIf(!redisUp).each(clientFactories)('RedisStore with %s', (_name, factory) => {
  let t: TestClient;
  let prefix: string;

  beforeAll(async () => {
    t = await factory();
  });
  afterEach(async () => {
    await t.del(await t.keys(`${prefix}*`));
  });
  afterAll(async () => {
    await t.quit();
  });
  const store = (options: { prefix?: string } = {}) => {
    prefix = uniquePrefix();
    return new RedisStore(t.client, { prefix: options.prefix ?? prefix });
  };

  it('sets a token with PX and reads it back', async () => {
    const s = store();
    const stored = token('A');
    await s.set(KEY, stored, 5000);
    expect(await s.get(KEY)).toEqual(stored);
    const ttl = await t.pttl(prefix + KEY);
    expect(ttl).toBeGreaterThan(4000);
    expect(ttl).toBeLessThanOrEqual(5000);
    expect(await s.get(tokenKey('access_token', 'wxother'))).toBeUndefined();
  });

  it('lets the token expire with its TTL', async () => {
    const s = store();
    await s.set(KEY, token('A'), 30);
    await sleep(60);
    expect(await s.get(KEY)).toBeUndefined();
  });

  it('treats a value it did not write as absent', async () => {
    const s = store();
    // A lease is a bare string, not a stored token: reading it as a token must not throw.
    await s.acquireLease(KEY, 5000);
    expect(await s.get(KEY)).toBeUndefined();
  });

  it('compareAndDelete removes only the token that failed; a fresh one survives', async () => {
    const s = store();
    await s.set(KEY, token('fresh'), 5000);
    expect(await s.compareAndDelete(KEY, 'old')).toBe(false);
    expect((await s.get(KEY))?.value).toBe('fresh');
    expect(await s.compareAndDelete(KEY, 'fresh')).toBe(true);
    expect(await s.get(KEY)).toBeUndefined();
  });

  it('grants a lease to one holder at a time (SET NX PX)', async () => {
    const s = store();
    const results = await Promise.all(
      Array.from({ length: 20 }, () => s.acquireLease(leaseKeyOf(KEY), 5000)),
    );
    const held = results.filter((l) => l !== undefined);
    expect(held).toHaveLength(1);
    expect(await t.get(prefix + leaseKeyOf(KEY))).toBe(held[0]?.token);
    await held[0]?.release();
    expect(await t.get(prefix + leaseKeyOf(KEY))).toBeNull();
  });

  it("a stale holder's release does not delete a newer holder's lease (fencing)", async () => {
    const s = store();
    const stale = await s.acquireLease(leaseKeyOf(KEY), 30);
    await sleep(60);
    const current = await s.acquireLease(leaseKeyOf(KEY), 5000);
    expect(current).toBeDefined();
    expect(current?.token).not.toBe(stale?.token);
    await stale?.release();
    expect(await t.get(prefix + leaseKeyOf(KEY))).toBe(current?.token);
    expect(await s.acquireLease(leaseKeyOf(KEY), 5000)).toBeUndefined();
    await current?.release();
    expect(await s.acquireLease(leaseKeyOf(KEY), 5000)).toBeDefined();
  });

  it('TokenManagers sharing the store: 4 instances x 50 concurrent get() -> 1 fetch; keys hold no secret', async () => {
    const s = store();
    let fetches = 0;
    const fetchToken = async () => {
      fetches++;
      // Latency makes the overlap likelier; one fetch is the outcome at any latency.
      await sleep(50);
      return { value: `tok-${fetches}`, expiresIn: 7200 };
    };
    const managers = Array.from({ length: 4 }, () => new TokenManager({ key: KEY, store: s, fetchToken }));
    const tokens = await Promise.all(managers.flatMap((m) => Array.from({ length: 50 }, () => m.get())));
    expect(fetches).toBe(1);
    expect(new Set(tokens)).toEqual(new Set(['tok-1']));
    const keys = await t.keys(`${prefix}*`);
    expect(keys).toEqual([prefix + KEY]); // the lease is released
    for (const k of keys) expect(k).not.toContain(SECRET);
    expect(await t.pttl(prefix + KEY)).toBeGreaterThan((7200 - 300 - 5) * 1000);
  });

  it('invalidate by a late instance keeps the fresh token another one stored', async () => {
    const s = store();
    let n = 0;
    const fetchToken = async () => ({ value: `tok-${++n}`, expiresIn: 7200 });
    const a = new TokenManager({ key: KEY, store: s, fetchToken });
    const b = new TokenManager({ key: KEY, store: s, fetchToken });
    const old = await a.get();
    expect(await b.invalidate(old)).toBe(true);
    const fresh = await b.get();
    expect(fresh).toBe('tok-2');
    expect(await a.invalidate(old)).toBe(false);
    expect(await a.get()).toBe('tok-2');
    expect(n).toBe(2);
  });

  it('a failed fetch cools down an instance on another connection: it makes no request until it ends', async () => {
    const second = await factory();
    try {
      const storeA = store();
      const storeB = new RedisStore(second.client, { prefix });
      let t0 = 1_700_000_000_000;
      const now = () => t0;
      let fetchesA = 0;
      let fetchesB = 0;
      const a = new TokenManager({
        key: KEY,
        store: storeA,
        now,
        fetchToken: async () => {
          fetchesA++;
          throw new WeChatApiError(-1, 'system error rid: 65aa-bb');
        },
      });
      const b = new TokenManager({
        key: KEY,
        store: storeB,
        now,
        fetchToken: async () => ({ value: `tok-b${++fetchesB}`, expiresIn: 7200 }),
      });
      await expect(a.get()).rejects.toBeInstanceOf(WeChatApiError);
      const refused = await b.get().catch((e: unknown) => e);
      expect(refused).toBeInstanceOf(TokenCooldownError);
      expect(refused).toMatchObject({
        lastCode: 'SYSTEM_BUSY',
        errcode: -1,
        rid: '65aa-bb',
        retryAt: t0 + 1000,
      });
      expect(fetchesB).toBe(0);
      // The cool-down sits in the token's own key: no extra key, no secret.
      expect(await t.keys(`${prefix}*`)).toEqual([prefix + KEY]);
      t0 += 1000;
      expect(await b.get()).toBe('tok-b1');
      expect(await a.get()).toBe('tok-b1');
      expect([fetchesA, fetchesB]).toEqual([1, 1]);
    } finally {
      await second.quit();
    }
  });
});

describe.skipIf(!redisUp)('RedisStore when Redis cannot be used', () => {
  it('answers STORE_UNAVAILABLE for an ioredis client pointed at a closed port, saying what to check', async () => {
    const redis = new Redis({ host: '127.0.0.1', port: 1, lazyConnect: true, maxRetriesPerRequest: 0 });
    redis.on('error', () => {});
    try {
      const s = new RedisStore(redis);
      const error = await s.get(KEY).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(StoreError);
      expect((error as StoreError).code).toBe('STORE_UNAVAILABLE');
      expect((error as Error).message).toMatch(/Check that Redis is reachable/);
      expect((error as Error).message).toContain(KEY);
    } finally {
      redis.disconnect();
    }
  });

  it("TokenManager 'fail' propagates it; 'local' falls back with a warning and fetches once", async () => {
    const redis = new Redis({ host: '127.0.0.1', port: 1, lazyConnect: true, maxRetriesPerRequest: 0 });
    redis.on('error', () => {});
    try {
      let fetches = 0;
      const fetchToken = async () => ({ value: `tok-${++fetches}`, expiresIn: 7200 });
      const failing = new TokenManager({ key: KEY, store: new RedisStore(redis), fetchToken });
      await expect(failing.get()).rejects.toMatchObject({ name: 'StoreError', code: 'STORE_UNAVAILABLE' });
      expect(fetches).toBe(0);

      const warnings: string[] = [];
      const local = new TokenManager({
        key: KEY,
        store: new RedisStore(redis),
        fetchToken,
        onStoreUnavailable: 'local',
        hooks: { onStoreError: (e) => warnings.push(`${e.fallback}:${e.error.code}`) },
      });
      const tokens = await Promise.all(Array.from({ length: 50 }, () => local.get()));
      expect(new Set(tokens)).toEqual(new Set(['tok-1']));
      expect(fetches).toBe(1);
      expect(warnings).toEqual(['local:STORE_UNAVAILABLE']);
    } finally {
      redis.disconnect();
    }
  });

  it('answers STORE_UNAVAILABLE for a node-redis client that is not connected (or was quit)', async () => {
    const redis = createClient({ socket: { host: '127.0.0.1', port: 6379 } });
    const s = new RedisStore(redis);
    await expect(s.get(KEY)).rejects.toMatchObject({ code: 'STORE_UNAVAILABLE' });
    await expect(s.acquireLease(leaseKeyOf(KEY), 100)).rejects.toMatchObject({ code: 'STORE_UNAVAILABLE' });
  });

  it('answers STORE_UNAVAILABLE when a command hangs past commandTimeoutMs', async () => {
    // Offline queue on, endless reconnects: without our timeout this GET would wait forever.
    const redis = new Redis({ host: '127.0.0.1', port: 1, lazyConnect: true, maxRetriesPerRequest: null });
    redis.on('error', () => {});
    try {
      const s = new RedisStore(redis, { commandTimeoutMs: 150 });
      const started = Date.now();
      await expect(s.get(KEY)).rejects.toMatchObject({
        code: 'STORE_UNAVAILABLE',
        message: expect.stringMatching(/150 ms/),
      });
      expect(Date.now() - started).toBeLessThan(1000);
    } finally {
      redis.disconnect();
    }
  });

  it('redacts a password from a Redis URL in the message', async () => {
    const redis = {
      status: 'ready',
      get: () => Promise.reject(new Error('connect failed for redis://app:hunter2@cache:6379')),
      set: () => Promise.resolve('OK'),
      eval: () => Promise.resolve(0),
    };
    const error = await new RedisStore(redis).get(KEY).catch((e: unknown) => e);
    expect((error as Error).message).not.toContain('hunter2');
    expect((error as Error).message).toContain('redis://***@cache');
  });

  it('refuses something that is neither an ioredis nor a node-redis client', () => {
    expect(() => new RedisStore({} as never)).toThrow(ConfigError);
    expect(() => new RedisStore({ get() {}, set() {} } as never)).toThrow(/ioredis client/);
    const fake = { status: 'ready', get() {}, set() {}, eval() {} };
    expect(() => new RedisStore(fake, { prefix: 'x', ttl: 1 } as never)).toThrow(/unknown option "ttl"/);
  });
});
