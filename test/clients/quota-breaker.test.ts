// Issue 12, against the emulator: a day of 45009 on one API costs WeChat exactly one call of that
// API per back-off window, however many processes call it. Four real processes share Redis; each
// phase freezes their clock at a point of the window (the breaker's record keeps its real TTL in
// Redis), so the test never waits for a window to pass.
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RunningEmulator, startEmulator } from '../../src/emulator/index.js';
import { QuotaExceededError } from '../../src/errors.js';
import { OfficialAccount } from '../../src/official-account/index.js';
import { RedisStore } from '../../src/redis/index.js';
import { REDIS_HOST, REDIS_PORT, redisUp, uniquePrefix } from '../credentials/redis-helper.js';
import { runWorkers } from '../helpers/cross-process.js';

const APP = {
  appId: 'wx5c6d7e8f90a1b2c3',
  secret: 'quota-breaker-secret-never-shown',
  kind: 'official-account' as const,
};
const OPENID = 'oQuotaBreakerUser00000000001';
const PATH = '/cgi-bin/user/info';
const OTHER = '/cgi-bin/menu/get';
const WORKER = new URL('./fixtures/quota-breaker-worker.ts', import.meta.url);
const PROCESSES = 4;
const CALLS = 5;
const HOUR = 3_600_000;
/** 10:00 in Beijing: the daily reset is 14 h away, so each window is the 1 h maxOpenMs. */
const T0 = Date.UTC(2030, 0, 1, 2, 0, 0);

interface Result {
  outcomes: string[];
  other: string;
}

describe.skipIf(!redisUp)('quota breaker across 4 processes against the emulator', () => {
  let emulator: RunningEmulator;
  const redis = new Redis({ host: REDIS_HOST, port: REDIS_PORT, lazyConnect: true, maxRetriesPerRequest: 1 });
  const prefix = uniquePrefix();
  const stats = async () =>
    ((await (await fetch(`${emulator.url}/_emulator/stats`)).json()) as { calls: Record<string, number> })
      .calls;
  const control = (method: string, path: string, body?: unknown) =>
    fetch(`${emulator.url}${path}`, {
      method,
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    }).then((r) => r.json());
  const phase = async (now: number) =>
    (
      await runWorkers<Result>(WORKER, {
        count: PROCESSES,
        barrier: true,
        timeoutMs: 30_000,
        input: () => ({
          prefix,
          appId: APP.appId,
          secret: APP.secret,
          baseUrl: emulator.url,
          openid: OPENID,
          now,
          calls: CALLS,
          path: PATH,
          otherPath: OTHER,
        }),
      })
    ).map((r) => r.result);

  beforeAll(async () => {
    emulator = await startEmulator({ config: { apps: [APP], merchants: [] } });
    await control('POST', '/_emulator/users', { appId: APP.appId, openId: OPENID });
    await redis.connect();
  });
  afterAll(async () => {
    await emulator?.close();
    const keys = await redis.keys(`${prefix}*`);
    if (keys.length > 0) await redis.del(...keys);
    await redis.quit();
  });

  it('a 45009 day: exactly one call of the API per back-off window, the others fail fast, other APIs go on', async () => {
    await control('POST', '/_emulator/faults', { path: PATH, errcode: 45009, count: 0 });
    let clock = T0;
    // The first 45009 of the day: one call meets it (calls already in flight elsewhere would too).
    const first = new OfficialAccount({
      appId: APP.appId,
      secret: APP.secret,
      baseUrl: emulator.url,
      store: new RedisStore(redis, { prefix }),
      now: () => clock,
      retries: 0,
    });
    const opened = await first.request('GET', PATH, { query: { openid: OPENID } }).catch((e: unknown) => e);
    expect(opened).toBeInstanceOf(QuotaExceededError);
    expect(opened).toMatchObject({ errcode: 45009, failFast: false, retryAt: new Date(T0 + HOUR) });
    expect((await stats())[PATH]).toBe(1);

    // Inside the window: 4 x 5 calls, none reaches WeChat; the other API does, from each process.
    const otherBefore = (await stats())[OTHER] ?? 0;
    const inside = await phase(T0 + HOUR / 2);
    expect(inside.flatMap((r) => r.outcomes)).toEqual(
      Array.from({ length: PROCESSES * CALLS }, () => `fail-fast 45009 ${T0 + HOUR}`),
    );
    expect((await stats())[PATH]).toBe(1);
    expect(inside.every((r) => !r.other.includes('45009') && !r.other.startsWith('fail-fast'))).toBe(true);
    expect((await stats())[OTHER]).toBe(otherBefore + PROCESSES);

    // The next window: one probe across the 4 processes meets 45009 again and re-opens the breaker.
    const start = T0 + HOUR;
    const next = (await phase(start)).flatMap((r) => r.outcomes);
    expect(next.filter((o) => o === `answered 45009 ${start + HOUR}`)).toHaveLength(1);
    expect(next.filter((o) => o.startsWith('fail-fast 45009'))).toHaveLength(PROCESSES * CALLS - 1);
    expect((await stats())[PATH]).toBe(2);

    // The quota is back: the next window's probe succeeds and closes the breaker for every process.
    await control('DELETE', '/_emulator/faults');
    const outcomes = (await phase(T0 + 2 * HOUR)).flatMap((r) => r.outcomes);
    expect(outcomes).toContain('ok');
    expect(outcomes.every((o) => o === 'ok' || o.startsWith('fail-fast 45009'))).toBe(true);
    const afterProbe = (await stats())[PATH] ?? 0;
    expect(afterProbe).toBe(2 + outcomes.filter((o) => o === 'ok').length);
    clock = T0 + 2 * HOUR;
    const closed = first.request('GET', PATH, { query: { openid: OPENID } });
    await expect(closed).resolves.toMatchObject({ openid: OPENID });
    expect((await stats())[PATH]).toBe(afterProbe + 1);
  }, 120_000);
});
