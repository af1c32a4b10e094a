// The limiter on real Redis, through ioredis and node-redis (never a mock). Without Redis these
// tests are skipped with a warning, except under CI=true, where they fail (see redis-helper.ts).
import { Redis } from 'ioredis';
import { RateLimiterRedis } from 'rate-limiter-flexible';
import { createClient } from 'redis';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { StoreError } from '../../src/errors.js';
import {
  createLimiter,
  type LimitDecision,
  type Limiter,
  type LimiterOptions,
  waitNowOf,
} from '../../src/guard/limiter.js';
import {
  clientFactories,
  REDIS_HOST,
  REDIS_PORT,
  redisUp,
  type TestClient,
  uniquePrefix,
} from '../credentials/redis-helper.js';

const POINTS = 100;
const SECONDS = 60;
const WINDOW_MS = SECONDS * 1000;
const WINDOW_INDEX = 29_000_000;
const WINDOW_START = WINDOW_INDEX * WINDOW_MS;

async function checks(l: Limiter, key: string, n: number): Promise<LimitDecision[]> {
  const out: LimitDecision[] = [];
  for (let i = 0; i < n; i++) out.push(await l.check(key));
  return out;
}

const allowedCount = (decisions: LimitDecision[]) => decisions.filter((d) => d.allowed).length;

/**
 * Counts the round trips the limiter makes on `client`: each call of a command method
 * rate-limiter-flexible uses (ioredis: the `rlflxIncr` script it defines; node-redis: `eval`) and
 * each `exec` of a MULTI (one round trip for all its commands); `sendCommand` calls too, which for
 * ioredis are the commands as they go to the wire. Shadows the instance's methods until `restore`;
 * call it after the limiter is built, since the ioredis script method is defined then.
 */
function countRoundTrips(client: object): { calls: string[]; restore(): void } {
  const c = client as Record<string, unknown>;
  const saved: Array<[string, boolean, unknown]> = [];
  const calls: string[] = [];
  const wrap = (name: string, wrapper: (original: (...a: unknown[]) => unknown) => unknown) => {
    const original = c[name];
    if (typeof original !== 'function') return;
    saved.push([name, Object.hasOwn(c, name), original]);
    c[name] = wrapper(original as (...a: unknown[]) => unknown);
  };
  for (const name of ['rlflxIncr', 'eval', 'evalsha', 'get', 'incrby', 'incrBy', 'sendCommand']) {
    wrap(name, (original) => (...args: unknown[]) => {
      calls.push(name);
      return original.apply(client, args);
    });
  }
  wrap('multi', (original) => (...args: unknown[]) => {
    const chain = original.apply(client, args) as Record<string, unknown>;
    const exec = chain.exec as (...a: unknown[]) => unknown;
    chain.exec = (...execArgs: unknown[]) => {
      calls.push('multi.exec');
      return exec.apply(chain, execArgs);
    };
    return chain;
  });
  return {
    calls,
    restore() {
      for (const [name, own, original] of saved) {
        if (own) c[name] = original;
        else delete c[name];
      }
    },
  };
}

describe.skipIf(!redisUp).each(clientFactories)('createLimiter on Redis with %s', (_name, factory) => {
  let instanceA: TestClient;
  let instanceB: TestClient;
  let prefix: string;
  let time: number;
  const now = () => time;

  const limiter = (t: TestClient, options: Partial<LimiterOptions> = {}, points = POINTS) =>
    createLimiter(
      { points, durationSeconds: SECONDS },
      { name: 'user', prefix, redis: t.client, now, ...options },
    );

  beforeAll(async () => {
    instanceA = await factory();
    instanceB = await factory();
  });
  beforeEach(() => {
    prefix = uniquePrefix();
    time = WINDOW_START + 5_000;
  });
  afterEach(async () => {
    await instanceA.del(await instanceA.keys(`${prefix}*`));
  });
  afterAll(async () => {
    await instanceA.quit();
    await instanceB.quit();
  });

  it('shares one budget between two instances (two clients)', async () => {
    const a = limiter(instanceA);
    const b = limiter(instanceB);
    // Redis is never counted synchronously: the guard's same-step path waits for it instead.
    expect(waitNowOf(a)).toBeUndefined();
    expect(allowedCount(await checks(a, 'oUser1', 60))).toBe(60);
    const fromB = await checks(b, 'oUser1', 40);
    expect(allowedCount(fromB)).toBe(40);
    expect(fromB.at(-1)?.remaining).toBe(0);
    expect((await a.check('oUser1')).allowed).toBe(false);
    const refused = await b.check('oUser1');
    expect(refused.allowed).toBe(false);
    expect(refused.retryAfterSeconds).toBeGreaterThanOrEqual(1);

    // One counter per key and window, named as documented, that outlives the next window.
    const key = `${prefix}user:oUser1:${WINDOW_INDEX}`;
    expect(await instanceA.keys(`${prefix}*`)).toEqual([key]);
    expect(await instanceA.get(key)).toBe('102');
    const ttl = await instanceA.pttl(key);
    expect(ttl).toBeGreaterThan(WINDOW_MS);
    expect(ttl).toBeLessThanOrEqual(2 * WINDOW_MS);

    // Other keys keep their own budget.
    expect((await b.check('oUser2')).remaining).toBe(POINTS - 1);
  });

  it('slides across instances: one reads the window another counted', async () => {
    const a = limiter(instanceA);
    await checks(a, 'oUser1', POINTS);
    time = WINDOW_START + WINDOW_MS + WINDOW_MS / 2;
    const b = limiter(instanceB);
    // The largest n with 100 × (1 − 0.5) + n ≤ 100.
    let expected = 0;
    while (POINTS * (1 - 0.5) + (expected + 1) <= POINTS) expected++;
    expect(allowedCount(await checks(b, 'oUser1', POINTS))).toBe(expected);
  });

  it('costs one round trip per check in the steady state', async () => {
    const a = limiter(instanceA, {}, 10_000);
    const trips = countRoundTrips(instanceA.client);
    try {
      await a.check('oUser1');
      // Entering a window: the previous window's count (GET + PTTL in one MULTI) and the count.
      expect(trips.calls.filter((c) => c !== 'sendCommand').sort()).toEqual(
        [_name === 'ioredis' ? 'rlflxIncr' : 'eval', 'multi.exec'].sort(),
      );
      trips.calls.length = 0;
      await checks(a, 'oUser1', 50);
      const perCheck = trips.calls.filter((c) => c !== 'sendCommand');
      expect(perCheck).toHaveLength(50);
      expect(new Set(perCheck)).toEqual(new Set([_name === 'ioredis' ? 'rlflxIncr' : 'eval']));
      if (_name === 'ioredis') {
        // On the wire: one EVALSHA per check (the script is cached by the server after the first).
        expect(trips.calls.filter((c) => c === 'sendCommand')).toHaveLength(50);
      }
    } finally {
      trips.restore();
    }
  });

  it('reads the previous window once for concurrent first checks of a key', async () => {
    const get = vi.spyOn(RateLimiterRedis.prototype, 'get');
    try {
      const a = limiter(instanceA);
      const decisions = await Promise.all(Array.from({ length: 20 }, () => a.check('oUser1')));
      expect(get).toHaveBeenCalledTimes(1);
      expect(decisions.map((d) => d.remaining).sort((x, y) => y - x)).toEqual(
        Array.from({ length: 20 }, (_, i) => POINTS - 1 - i),
      );
    } finally {
      get.mockRestore();
    }
  });

  it('caches the previous window of at most 10 000 keys, dropping the oldest; counts stay in Redis', async () => {
    const get = vi.spyOn(RateLimiterRedis.prototype, 'get');
    try {
      const a = limiter(instanceA);
      await a.check('key-0');
      await Promise.all(Array.from({ length: 10_000 }, (_, i) => a.check(`key-${i + 1}`)));
      expect(get).toHaveBeenCalledTimes(10_001);
      await a.check('key-10000'); // still cached
      expect(get).toHaveBeenCalledTimes(10_001);
      await a.check('key-0'); // dropped: read again
      expect(get).toHaveBeenCalledTimes(10_002);
      expect((await a.check('key-0')).remaining).toBe(POINTS - 3);
    } finally {
      get.mockRestore();
    }
  });

  describe('when Redis fails', () => {
    let broken: TestClient;
    beforeEach(async () => {
      broken = await factory();
      await broken.quit();
    });

    it('counts in memory by default, and reports the failure through onStoreError', async () => {
      const onStoreError = vi.fn();
      const l = limiter(broken, { onStoreError });
      const decisions = await checks(l, 'oUser1', POINTS + 1);
      expect(allowedCount(decisions)).toBe(POINTS);
      expect(decisions.at(-1)?.allowed).toBe(false);
      // At least once per check (twice when a check tried both of its commands).
      expect(onStoreError.mock.calls.length).toBeGreaterThanOrEqual(POINTS + 1);
      const error = onStoreError.mock.calls[0]?.[0];
      expect(error).toBeInstanceOf(StoreError);
      expect(error).toMatchObject({ code: 'STORE_UNAVAILABLE' });
      expect((error as StoreError).cause).toBeInstanceOf(Error);
    });

    it("refuses with Retry-After = the window in 'deny' mode", async () => {
      const onStoreError = vi.fn();
      const l = limiter(broken, { onRedisError: 'deny', onStoreError });
      expect(await l.check('oUser1')).toEqual({
        allowed: false,
        limit: POINTS,
        remaining: 0,
        retryAfterSeconds: SECONDS,
      });
      expect(onStoreError).toHaveBeenCalled();
      expect(onStoreError.mock.calls[0]?.[0]).toBeInstanceOf(StoreError);
    });

    it('fails over at once while a client that was ready reconnects, without waiting for it', async () => {
      // A client of the same library that waits 10 s before reconnecting: a check that queued its
      // command would outlive the test's timeout.
      const admin = new Redis({ host: REDIS_HOST, port: REDIS_PORT });
      const { client, id, close } =
        _name === 'ioredis'
          ? await (async () => {
              const io = new Redis({ host: REDIS_HOST, port: REDIS_PORT, retryStrategy: () => 10_000 });
              io.on('error', () => {});
              const clientId = await io.client('ID');
              return { client: io, id: Number(clientId), close: () => io.disconnect() };
            })()
          : await (async () => {
              const nr = createClient({
                socket: { host: REDIS_HOST, port: REDIS_PORT, reconnectStrategy: () => 10_000 },
              });
              nr.on('error', () => {});
              await nr.connect();
              return { client: nr, id: await nr.clientId(), close: () => nr.destroy() };
            })();
      try {
        const onStoreError = vi.fn();
        const l = createLimiter(
          { points: POINTS, durationSeconds: SECONDS },
          { name: 'user', prefix, redis: client, now, onStoreError },
        );
        expect((await l.check('oUser1')).remaining).toBe(POINTS - 1);
        // Not events.once: it rejects on the 'error' event node-redis emits first.
        const reconnecting = new Promise((resolve) => client.once('reconnecting', resolve));
        await admin.client('KILL', 'ID', String(id));
        await reconnecting;

        const started = performance.now();
        expect((await l.check('oUser1')).allowed).toBe(true);
        expect(performance.now() - started).toBeLessThan(1000);
        expect(onStoreError).toHaveBeenCalledTimes(1);
        const reported = onStoreError.mock.calls[0]?.[0] as StoreError | undefined;
        expect(String(reported?.cause)).toMatch(/not ready/);
        // Counted in this process, not in Redis.
        expect(await instanceA.get(`${prefix}user:oUser1:${WINDOW_INDEX}`)).toBe('1');
      } finally {
        close();
        await admin.quit();
      }
    });

    it('gives a client that is still connecting its commands (startup is not an outage)', async () => {
      const fresh = await factory();
      try {
        const onStoreError = vi.fn();
        const l = limiter(fresh, { onStoreError });
        await checks(l, 'oUser1', 3);
        expect(onStoreError).not.toHaveBeenCalled();
        expect(await instanceA.get(`${prefix}user:oUser1:${WINDOW_INDEX}`)).toBe('3');
      } finally {
        await fresh.quit();
      }
    });

    it('fails over when Redis refuses the command itself (a key of another type under its name)', async () => {
      const raw = instanceA.client as unknown as {
        call?: (...args: string[]) => Promise<unknown>;
        sendCommand?: (args: string[]) => Promise<unknown>;
      };
      const lpush = (key: string) =>
        raw.call ? raw.call('LPUSH', key, 'x') : raw.sendCommand?.(['LPUSH', key, 'x']);
      await lpush(`${prefix}user:oUser1:${WINDOW_INDEX}`);
      await lpush(`${prefix}user:oUser1:${WINDOW_INDEX - 1}`);
      const onStoreError = vi.fn();
      const l = limiter(instanceA, { onStoreError });
      const decisions = await checks(l, 'oUser1', POINTS + 1);
      expect(allowedCount(decisions)).toBe(POINTS);
      expect(onStoreError).toHaveBeenCalled();
      expect(String((onStoreError.mock.calls[0]?.[0] as StoreError | undefined)?.cause)).toMatch(/WRONGTYPE/);
    });

    it('answers even when the onStoreError hook throws', async () => {
      const l = limiter(broken, {
        onStoreError: () => {
          throw new Error('hook bug');
        },
      });
      expect((await l.check('oUser1')).allowed).toBe(true);
    });
  });
});
