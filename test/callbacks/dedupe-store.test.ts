import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { createClient } from 'redis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MemoryDedupeStore } from '../../src/callbacks/index.js';
import { ConfigError, StoreError } from '../../src/errors.js';
import { type RedisDedupeClient, RedisDedupeStore } from '../../src/redis/index.js';
import { redisUp } from '../credentials/redis-helper.js';

describe('MemoryDedupeStore', () => {
  it('claims a key once until its TTL passes', async () => {
    let now = 1_000;
    const store = new MemoryDedupeStore({ now: () => now });
    expect(await store.claim('k', 100)).toBe(true);
    expect(await store.claim('k', 100)).toBe(false);
    now += 101;
    expect(await store.claim('k', 100)).toBe(true);
  });

  it('stays bounded, dropping the oldest keys first', async () => {
    const store = new MemoryDedupeStore({ maxEntries: 3, now: () => 0 });
    for (const k of ['a', 'b', 'c', 'd']) expect(await store.claim(k, 1000)).toBe(true);
    expect(store.size).toBe(3);
    expect(await store.claim('a', 1000)).toBe(true); // evicted, so new again
    expect(await store.claim('d', 1000)).toBe(false);
  });

  it('drops expired keys as new ones arrive', async () => {
    let now = 0;
    const store = new MemoryDedupeStore({ now: () => now });
    for (let i = 0; i < 100; i++) await store.claim(`k${i}`, 10);
    now = 11;
    await store.claim('fresh', 10);
    expect(store.size).toBe(1);
  });

  it('extends a claim it holds, and only one that is held and not completed', async () => {
    let now = 0;
    const store = new MemoryDedupeStore({ now: () => now });
    expect(await store.claim('k', 100)).toBe(true);
    now = 90;
    expect(await store.extend('k', 100)).toBe(true);
    // Past the first lease, inside the renewed one.
    now = 150;
    expect(await store.claim('k', 100)).toBe(false);
    expect(await store.isComplete('k')).toBe(false);
    // Run out: not extended, and the key is free again.
    now = 191;
    expect(await store.extend('k', 100)).toBe(false);
    expect(await store.claim('k', 100)).toBe(true);
    // Completed: nothing to extend.
    await store.complete('k', 1000);
    expect(await store.extend('k', 100)).toBe(false);
    expect(await store.extend('never-claimed', 100)).toBe(false);
  });

  it('keeps an extended claim past older ones at maxEntries', async () => {
    const store = new MemoryDedupeStore({ maxEntries: 2, now: () => 0 });
    expect(await store.claim('held', 1000)).toBe(true);
    expect(await store.claim('other', 1000)).toBe(true);
    expect(await store.extend('held', 1000)).toBe(true);
    // A third key evicts the oldest entry: 'other', not the claim being kept.
    expect(await store.claim('third', 1000)).toBe(true);
    expect(await store.claim('held', 1000)).toBe(false);
    expect(await store.claim('other', 1000)).toBe(true);
  });

  it('forgets a released key', async () => {
    const store = new MemoryDedupeStore();
    await store.claim('k', 1000);
    await store.release('k');
    expect(await store.claim('k', 1000)).toBe(true);
  });
});

describe('RedisDedupeStore client shapes', () => {
  it('calls ioredis as set(key, <claim token>, "PX", ttl, "NX")', async () => {
    const calls: unknown[][] = [];
    const io = {
      status: 'ready',
      set: async (...a: unknown[]) => {
        calls.push(a);
        return 'OK';
      },
      get: async () => null,
      del: async () => 1,
    };
    const store = new RedisDedupeStore(io as unknown as RedisDedupeClient, { prefix: 'p:' });
    expect(await store.claim('k', 1500.2)).toBe(true);
    expect(calls).toEqual([
      ['p:weixin-kit:dedupe:k', expect.stringMatching(/^c:[0-9a-f]{24}$/), 'PX', 1501, 'NX'],
    ]);
  });

  it('calls node-redis as set(key, <claim token>, { NX: true, PX: ttl })', async () => {
    const calls: unknown[][] = [];
    const nr = {
      isOpen: true,
      set: async (...a: unknown[]) => {
        calls.push(a);
        return null;
      },
      get: async () => null,
      del: async () => 1,
    };
    const store = new RedisDedupeStore(nr as unknown as RedisDedupeClient);
    expect(await store.claim('k', 60_000)).toBe(false);
    expect(calls).toEqual([
      ['weixin-kit:dedupe:k', expect.stringMatching(/^c:[0-9a-f]{24}$/), { NX: true, PX: 60_000 }],
    ]);
  });

  it('refuses something that is not a Redis client', () => {
    expect(() => new RedisDedupeStore({} as unknown as RedisDedupeClient)).toThrow(ConfigError);
  });

  it('turns failures and hangs into STORE_UNAVAILABLE without leaking a URL password', async () => {
    const failing = {
      status: 'ready',
      set: async () => {
        throw new Error('connect ECONNREFUSED redis://user:secret@10.0.0.1');
      },
      get: async () => null,
      del: async () => 1,
    };
    const err = await new RedisDedupeStore(failing as unknown as RedisDedupeClient)
      .claim('k', 1)
      .catch((e) => e);
    expect(err).toBeInstanceOf(StoreError);
    expect(err.message).not.toContain('secret');
    const hanging = {
      isOpen: true,
      set: () => new Promise(() => {}),
      get: async () => null,
      del: async () => 1,
    };
    const store = new RedisDedupeStore(hanging as unknown as RedisDedupeClient, { commandTimeoutMs: 20 });
    await expect(store.claim('k', 1)).rejects.toMatchObject({ code: 'STORE_UNAVAILABLE' });
  });
});

describe.runIf(redisUp)('RedisDedupeStore on a real Redis', () => {
  let io: Redis;
  let nr: ReturnType<typeof createClient>;
  const prefix = `weixin-kit-test:${randomUUID()}:`;

  beforeAll(async () => {
    io = new Redis({ host: '127.0.0.1', port: 6379, maxRetriesPerRequest: 1 });
    nr = createClient({ url: 'redis://127.0.0.1:6379' });
    await nr.connect();
  });
  afterAll(async () => {
    const keys = await io.keys(`${prefix}*`);
    if (keys.length > 0) await io.del(...keys);
    await io.quit();
    await nr.quit();
  });

  it.each(['ioredis', 'node-redis'] as const)(
    '%s: claims once across instances, expires, releases',
    async (which) => {
      const client = (which === 'ioredis' ? io : nr) as unknown as RedisDedupeClient;
      const a = new RedisDedupeStore(client, { prefix });
      const b = new RedisDedupeStore(client, { prefix });
      const key = `${which}:${randomUUID()}`;
      const results = await Promise.all([a.claim(key, 5000), b.claim(key, 5000), a.claim(key, 5000)]);
      expect(results.filter(Boolean)).toHaveLength(1);
      const ttl = await io.pttl(`${prefix}weixin-kit:dedupe:${key}`);
      expect(ttl).toBeGreaterThan(4000);
      await a.release(key);
      expect(await b.claim(key, 50)).toBe(true);
      // Redis expires the claim on its own clock (not injectable): wait past the TTL, once.
      await new Promise((r) => setTimeout(r, 80));
      expect(await a.claim(key, 50)).toBe(true);
    },
  );

  it.each(['ioredis', 'node-redis'] as const)(
    '%s: extends only the claim it made and has not settled',
    async (which) => {
      const client = (which === 'ioredis' ? io : nr) as unknown as RedisDedupeClient;
      const a = new RedisDedupeStore(client, { prefix });
      const b = new RedisDedupeStore(client, { prefix });
      const key = `${which}:${randomUUID()}`;
      const redisKey = `${prefix}weixin-kit:dedupe:${key}`;
      expect(await a.claim(key, 1000)).toBe(true);
      expect(await a.extend(key, 60_000)).toBe(true);
      expect(await io.pttl(redisKey)).toBeGreaterThan(50_000);
      // B did not make this claim: it cannot keep it.
      expect(await b.extend(key, 120_000)).toBe(false);
      expect(await io.pttl(redisKey)).toBeLessThanOrEqual(60_000);
      // Completed: the key now says "done", which no extension touches.
      await a.complete(key, 5000);
      expect(await a.extend(key, 60_000)).toBe(false);
      expect(await io.get(redisKey)).toBe('done');
      expect(await io.pttl(redisKey)).toBeLessThanOrEqual(5000);
    },
  );

  // Redis expires a lease on its own clock: wait until the key is gone (PTTL -2), bounded.
  const waitGone = async (key: string) => {
    for (let i = 0; i < 100 && (await io.pttl(`${prefix}weixin-kit:dedupe:${key}`)) !== -2; i++) {
      await new Promise((r) => setTimeout(r, 5));
    }
    expect(await io.pttl(`${prefix}weixin-kit:dedupe:${key}`)).toBe(-2);
  };

  /** A claims a key, its lease runs out, and B claims it again: two stores on one client. */
  const lapsedThenClaimed = async (which: 'ioredis' | 'node-redis') => {
    const client = (which === 'ioredis' ? io : nr) as unknown as RedisDedupeClient;
    const a = new RedisDedupeStore(client, { prefix });
    const b = new RedisDedupeStore(client, { prefix });
    const key = `${which}:${randomUUID()}`;
    expect(await a.claim(key, 20)).toBe(true);
    await waitGone(key);
    // WeChat's retry is claimed by B while A's handler is still running.
    expect(await b.claim(key, 5000)).toBe(true);
    return { client, a, b, key };
  };

  it.each(['ioredis', 'node-redis'] as const)(
    '%s: an extension after the lease ran out and the key was claimed again fails, leaving that claim alone',
    async (which) => {
      const { a, b, key } = await lapsedThenClaimed(which);
      const before = await io.pttl(`${prefix}weixin-kit:dedupe:${key}`);
      expect(await a.extend(key, 60_000)).toBe(false);
      expect(await io.pttl(`${prefix}weixin-kit:dedupe:${key}`)).toBeLessThanOrEqual(before);
      // A forgot its token: it does not try again.
      expect(await a.extend(key, 60_000)).toBe(false);
      expect(await b.extend(key, 60_000)).toBe(true);
    },
  );

  it.each(['ioredis', 'node-redis'] as const)(
    '%s: a release after the lease ran out leaves the next delivery’s claim alone',
    async (which) => {
      const { a, b, key } = await lapsedThenClaimed(which);
      // Then A's handler fails.
      await a.release(key);
      // B still holds it: a third copy is a duplicate (an unconditional delete let it through).
      expect(await a.claim(key, 5000)).toBe(false);
      expect(await b.isComplete(key)).toBe(false);
      // B's own release does free it.
      await b.release(key);
      expect(await b.isComplete(key)).toBeUndefined();
    },
  );

  it.each(['ioredis', 'node-redis'] as const)(
    '%s: a release never deletes a push another run completed',
    async (which) => {
      const { client, a, b, key } = await lapsedThenClaimed(which);
      // A finished after all and completed the push; then B's run failed and released.
      await a.complete(key, 60_000);
      await b.release(key);
      expect(await a.isComplete(key)).toBe(true);
      // A store that never claimed it (no token) cannot delete the completed mark either…
      const c = new RedisDedupeStore(client, { prefix });
      await c.release(key);
      expect(await c.isComplete(key)).toBe(true);
      // …but still frees an unfinished claim made elsewhere, as before.
      const other = `${which}:${randomUUID()}`;
      expect(await a.claim(other, 5000)).toBe(true);
      await c.release(other);
      expect(await c.claim(other, 5000)).toBe(true);
    },
  );
});
