// Issue 12: the quota breaker is shared through RedisStore, so an instance that never called the
// API fails fast, and exactly one instance probes when the back-off ends. Two clients on two Redis
// connections stand for two instances; time is injected (the record's TTL runs on Redis' clock).
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { QuotaExceededError } from '../../src/errors.js';
import { OfficialAccount } from '../../src/official-account/index.js';
import { RedisStore } from '../../src/redis/index.js';
import { REDIS_HOST, REDIS_PORT, redisUp, uniquePrefix } from '../credentials/redis-helper.js';

const APP = 'wx2b3c4d5e6f708192';
const SECRET = 'redis-breaker-secret-never-shown';
const HOUR = 3_600_000;
const MORNING = Date.UTC(2030, 0, 1, 2, 0, 0);

describe.skipIf(!redisUp)('quota breaker through RedisStore', () => {
  const connections: Redis[] = [];
  const prefix = uniquePrefix();

  beforeAll(() => {
    for (let i = 0; i < 3; i++) {
      connections.push(new Redis({ host: REDIS_HOST, port: REDIS_PORT, maxRetriesPerRequest: 1 }));
    }
  });
  afterAll(async () => {
    const [admin] = connections;
    const keys = (await admin?.keys(`${prefix}*`)) ?? [];
    if (keys.length > 0) await admin?.del(...keys);
    await Promise.all(connections.map((c) => c.quit()));
  });

  it('an instance that never called the API fails fast; after the back-off exactly one instance probes', async () => {
    const clock = { now: MORNING };
    let calls = 0;
    let answer = 45009;
    let release: () => void = () => {};
    let hold: Promise<void> | undefined;
    const fetch = (async (input: string | URL | Request) => {
      const path = new URL(String(input)).pathname;
      if (path === '/cgi-bin/stable_token') return Response.json({ access_token: 'T1', expires_in: 7200 });
      calls++;
      await hold;
      return Response.json({
        errcode: answer,
        errmsg: answer === 0 ? 'ok' : 'reach max api daily quota limit',
      });
    }) as typeof globalThis.fetch;
    const instance = (i: number) =>
      new OfficialAccount({
        appId: APP,
        secret: SECRET,
        fetch,
        retries: 0,
        now: () => clock.now,
        store: new RedisStore(connections[i] as Redis, { prefix }),
      });
    const a = instance(0);
    const b = instance(1);
    const call = (oa: OfficialAccount) => oa.request('GET', '/cgi-bin/user/info', { query: { openid: 'o' } });

    await expect(call(a)).rejects.toMatchObject({ errcode: 45009, failFast: false });
    await expect(call(b)).rejects.toMatchObject({
      errcode: 45009,
      failFast: true,
      retryAt: new Date(MORNING + HOUR),
    });
    expect(calls).toBe(1);

    const key = `${prefix}weixin-kit:breaker:${APP}:/cgi-bin/user/info`;
    const admin = connections[2] as Redis;
    const ttl = await admin.pttl(key);
    expect(ttl).toBeGreaterThan(HOUR + 600_000 - 5_000);
    expect(ttl).toBeLessThanOrEqual(HOUR + 600_000);
    expect(await admin.get(key)).not.toContain(SECRET);

    clock.now = MORNING + HOUR;
    answer = 0;
    hold = new Promise<void>((r) => {
      release = r;
    });
    const probes = [call(a), call(b)].map((p) =>
      p.then(
        () => 'ok',
        (e: unknown) => e,
      ),
    );
    // Whichever instance took the probe lease is held by WeChat; the other is refused at once.
    const refused = await Promise.race(probes);
    expect(refused).toBeInstanceOf(QuotaExceededError);
    release();
    const outcomes = await Promise.all(probes);
    expect(outcomes.filter((o) => o === 'ok')).toHaveLength(1);
    expect(calls).toBe(2);
    expect(await admin.get(key)).toBeNull();
    await expect(call(b)).resolves.toMatchObject({ errcode: 0 });
    await expect(call(a)).resolves.toMatchObject({ errcode: 0 });
  });
});
