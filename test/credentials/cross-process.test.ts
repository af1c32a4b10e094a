import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { runWorkers } from '../helpers/cross-process.js';
import { REDIS_HOST, REDIS_PORT, redisUp, uniquePrefix } from './redis-helper.js';

const WORKER = new URL('./fixtures/cross-process-worker.ts', import.meta.url);
const PROCESSES = 4;
const CALLS = 200;

describe.skipIf(!redisUp)('cross-process single-flight through RedisStore', () => {
  const redis = new Redis({ host: REDIS_HOST, port: REDIS_PORT, lazyConnect: true });
  const prefix = uniquePrefix();

  afterAll(async () => {
    if (redis.status === 'ready') {
      const keys = await redis.keys(`${prefix}*`);
      if (keys.length > 0) await redis.del(...keys);
      await redis.quit();
    } else {
      redis.disconnect();
    }
  });

  it(`${PROCESSES} processes x ${CALLS} concurrent get() on a cold cache -> exactly 1 token fetch`, async () => {
    await redis.connect();
    // Released together at the barrier, so every process meets the cold cache at the same moment.
    const results = await runWorkers<{ tokens: string[]; count: number }>(WORKER, {
      count: PROCESSES,
      barrier: true,
      input: () => ({ prefix, calls: CALLS }),
      // A bound, not a wait: the processes finish in a few seconds unless the machine is loaded.
      timeoutMs: 30_000,
    });

    expect(await redis.get(`${prefix}fetch-count`)).toBe('1');
    for (const { result } of results) {
      expect(result.count).toBe(CALLS);
      expect(result.tokens).toEqual(['tok-1']);
    }
  }, 40_000);
});
