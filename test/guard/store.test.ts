/**
 * The guard's stores and small public helpers on their own: expiry and eviction in memory, a
 * Redis that fails (a quit client) answering STORE_UNAVAILABLE and the guard answering 503, the
 * `respond` and `mask` helpers.
 */
import { Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import { ArgumentError, ConfigError, StoreError } from '../../src/errors.js';
import {
  createGuard,
  type GuardRedisClient,
  MemoryGuardStore,
  RedisGuardStore,
  respond,
} from '../../src/guard/index.js';
import { REDIS_HOST, REDIS_PORT, redisUp } from '../credentials/redis-helper.js';
import { bearer, body, request, SECRET, world } from './fixture.js';

const KEY = { kid: 'k1', alg: 'HS256', secret: SECRET } as const;
const quiet = { error: () => {}, warn: () => {} };

describe('MemoryGuardStore', () => {
  it('forgets values at their TTL, claims once, and evicts the oldest past maxEntries', async () => {
    let now = 1_000;
    const store = new MemoryGuardStore({ now: () => now, maxEntries: 2 });
    await store.set('a', '1', 100);
    expect(await store.setIfAbsent('a', 'x', 100)).toBe(false);
    now += 100;
    expect(await store.get('a')).toBeUndefined();
    expect(await store.setIfAbsent('a', '2', 100)).toBe(true);
    await store.set('b', '3', 100);
    await store.set('c', '4', 100);
    expect(await store.getMany(['a', 'b', 'c'])).toEqual([undefined, '3', '4']);
    await store.delete('b');
    expect(await store.get('b')).toBeUndefined();
  });

  it("reads now (the guard's same-step path) as get() would, both keys judged at one clock reading", async () => {
    let now = 1_000;
    let readings = 0;
    const store = new MemoryGuardStore({
      now: () => {
        readings++;
        return now;
      },
    });
    await store.set('session', 's', 100);
    await store.set('revoked', 'r', 50);
    readings = 0;
    expect(store.readPairNow('session', 'revoked')).toEqual(['s', 'r']);
    expect(readings).toBe(1);
    now += 50; // the second key's TTL is over, the first's is not
    expect(store.readPairNow('session', 'revoked')).toEqual(['s', undefined]);
    expect(await store.getMany(['session', 'revoked'])).toEqual(['s', undefined]);
    now += 50;
    expect(store.readPairNow('session', 'missing')).toEqual([undefined, undefined]);
  });

  it("takes the caller's clock reading only when the caller keeps this store's clock", async () => {
    let now = 1_000;
    let readings = 0;
    const clock = () => {
      readings++;
      return now;
    };
    const store = new MemoryGuardStore({ now: clock });
    await store.set('session', 's', 100);
    readings = 0;
    // Same clock: the reading given is used (here one past the TTL), the store's clock is not read.
    expect(store.readPairNow('session', 'revoked', clock, 1_100)).toEqual([undefined, undefined]);
    expect(readings).toBe(0);
    // (An expired entry is dropped when read: set again.) Another clock, even one showing the same
    // time: its reading is ignored, the store reads its own.
    await store.set('session', 's', 100);
    readings = 0;
    expect(store.readPairNow('session', 'revoked', () => now, 1_100)).toEqual(['s', undefined]);
    expect(readings).toBe(1);
    now = 1_100;
    expect(store.readPairNow('session', 'revoked', () => 0, 0)).toEqual([undefined, undefined]);
  });

  it('refuses a maxEntries it cannot use', () => {
    expect(() => new MemoryGuardStore({ maxEntries: 0 })).toThrow(ArgumentError);
  });
});

describe.skipIf(!redisUp)('RedisGuardStore', () => {
  it('turns a failing Redis into STORE_UNAVAILABLE, and the guard into 503 without details', async () => {
    const redis = new Redis({
      host: REDIS_HOST,
      port: REDIS_PORT,
      maxRetriesPerRequest: 0,
      lazyConnect: true,
    });
    await redis.connect();
    await redis.quit();
    const store = new RedisGuardStore(redis as GuardRedisClient, { commandTimeoutMs: 500 });
    const failure = await store.get('k').catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(StoreError);
    expect((failure as StoreError).code).toBe('STORE_UNAVAILABLE');

    const w = world();
    const logged: unknown[] = [];
    const guard = createGuard({
      miniProgram: w.mp,
      keys: [KEY],
      store,
      logger: { error: (fields) => logged.push(fields), warn: () => {} },
    });
    const answer = await guard.loginRoute()(request('POST', '/l', { body: { code: await w.loginCode() } }));
    expect(answer.status).toBe(503);
    expect(body(answer).error.code).toBe('UPSTREAM_UNAVAILABLE');
    expect(answer.body).not.toMatch(/Redis|127\.0\.0\.1/);
    expect(logged).toHaveLength(1);
    w.emulator.close();
  });

  it('refuses a client it does not recognise and a bad timeout', () => {
    expect(() => new RedisGuardStore({} as GuardRedisClient)).toThrow(ConfigError);
    const redis = new Redis({ host: REDIS_HOST, port: REDIS_PORT, lazyConnect: true });
    expect(() => new RedisGuardStore(redis as GuardRedisClient, { commandTimeoutMs: 0 })).toThrow(
      ArgumentError,
    );
    redis.disconnect();
  });
});

describe('respond and mask', () => {
  it('respond refuses a status that is not an HTTP answer', () => {
    expect(() => respond({}, { status: 99 })).toThrow(ArgumentError);
    expect(() => respond({}, { status: 600 })).toThrow(ArgumentError);
    expect(respond({ a: 1 }, { status: 201, headers: { 'x-a': 'b' } })).toMatchObject({
      status: 201,
      body: { a: 1 },
      headers: { 'x-a': 'b' },
    });
  });

  it('guard.mask masks as protected answers are masked, and not at all with mask: false', async () => {
    const w = world();
    const masked = createGuard({ miniProgram: w.mp, keys: [KEY], logger: quiet });
    const plain = createGuard({ miniProgram: w.mp, keys: [KEY], logger: quiet, mask: false });
    const data = { phone: '13912345678', out_trade_no: '13912345678' };
    expect(masked.mask(data)).toEqual({ phone: '139****5678', out_trade_no: '13912345678' });
    expect(plain.mask(data)).toBe(data);
    // The same rules as a protected route's answer.
    const issued = body(
      await masked.loginRoute()(request('POST', '/l', { body: { code: await w.loginCode() } })),
    );
    const answer = await masked.protect(() => data)(request('GET', '/x', { headers: bearer(issued.token) }));
    expect(body(answer)).toEqual(masked.mask(data));
    w.emulator.close();
  });
});
