/**
 * The callback allowlist sharing WeChat's list through real Redis (never a mock): instances with
 * their own clients (ioredis and node-redis, as separate processes would have) fetch once per
 * interval between them, and each takes the list another stored.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type AllowlistErrorEvent,
  type CallbackAllowlist,
  type CallbackIpSource,
  createCallbackAllowlist,
} from '../../src/callbacks/index.js';
import { RedisStore } from '../../src/redis/index.js';
import { clientFactories, redisUp, type TestClient, uniquePrefix } from '../credentials/redis-helper.js';
import { drainUntil, ManualScheduler } from '../helpers/manual-scheduler.js';
import { deferred } from './fixtures.js';

const HOUR = 3_600_000;
const BASE = 1_714_036_504_000;

function source(answers: Array<readonly string[] | Promise<{ ip_list: readonly string[] }>>) {
  const src = {
    platform: 'wechat',
    calls: 0,
    getCallbackIp() {
      const answer = answers[Math.min(src.calls, answers.length - 1)];
      src.calls += 1;
      return answer instanceof Promise ? answer : Promise.resolve({ ip_list: answer ?? [] });
    },
  };
  return src satisfies CallbackIpSource;
}

describe.skipIf(!redisUp)('the callback allowlist on Redis', () => {
  const clients: TestClient[] = [];
  const prefix = uniquePrefix();

  beforeAll(async () => {
    for (const [, make] of [...clientFactories, ...clientFactories]) clients.push(await make());
  });
  afterAll(async () => {
    const keys = await clients[0]?.keys(`${prefix}*`);
    if (keys !== undefined) await clients[0]?.del(keys);
    await Promise.all(clients.map((c) => c.quit()));
  });

  /** One allowlist per Redis client, on one virtual clock; each test has its own key prefix. */
  function instances(
    which: [start: number, end: number],
    client: CallbackIpSource,
    scheduler: ManualScheduler,
    testPrefix: string,
  ): { list: CallbackAllowlist; errors: AllowlistErrorEvent[] }[] {
    return clients.slice(...which).map((redis) => {
      const errors: AllowlistErrorEvent[] = [];
      const list = createCallbackAllowlist({
        client,
        store: new RedisStore(redis.client, { prefix: testPrefix }),
        refreshIntervalMs: HOUR,
        now: () => BASE + scheduler.now(),
        scheduler,
        hooks: { onError: (e) => errors.push(e) },
      });
      return { list, errors };
    });
  }

  it('a second instance takes the list the first fetched and stored, without fetching; the key holds no secret', async () => {
    const scheduler = new ManualScheduler();
    const testPrefix = `${prefix}one:`;
    const client = source([['192.0.2.0/25', '198.51.100.7']]);
    const [first] = instances([0, 1], client, scheduler, testPrefix);
    await first?.list.ready();
    const [second] = instances([1, 2], client, scheduler, testPrefix);
    await second?.list.ready();
    expect(client.calls).toBe(1);
    expect(second?.list.stats()).toMatchObject({ loaded: true, size: 2, lastRefreshAt: BASE });
    expect(second?.list.check({ remoteAddress: '192.0.2.9', headers: {} }).allowed).toBe(true);

    const key = `${testPrefix}weixin-kit:callback_ips:wechat`;
    const stored = JSON.parse((await clients[0]?.get(key)) ?? 'null') as { value: string };
    expect(JSON.parse(stored.value)).toEqual({ ip_list: ['192.0.2.0/25', '198.51.100.7'], fetchedAt: BASE });
    expect(await clients[0]?.pttl(key)).toBeGreaterThan(6 * 86_400_000);
    expect(first?.errors).toEqual([]);
    expect(second?.errors).toEqual([]);
    first?.list.close();
    second?.list.close();
  });

  it('instances refreshing at the same moment fetch once between them, and all take the new list', async () => {
    const scheduler = new ManualScheduler();
    const client = source([['192.0.2.0/25'], ['203.0.113.0/24']]);
    const all = instances([0, 4], client, scheduler, `${prefix}two:`);
    // Started together: whoever holds the lease fetches, the others read what it stored.
    await drainUntil(() => scheduler.pending === 4, 'every instance scheduling its next attempt');
    await scheduler.advance(2_000);
    for (const { list } of all) await list.ready();
    expect(client.calls).toBe(1);

    await scheduler.advance(HOUR - 2_000);
    await drainUntil(() => scheduler.pending === 4, 'every refresh attempt finishing');
    await scheduler.advance(2_000);
    await drainUntil(
      () => all.every(({ list }) => list.stats().lastRefreshAt === BASE + HOUR),
      'every instance taking the new list',
    );
    expect(client.calls).toBe(2);
    for (const { list, errors } of all) {
      expect(list.check({ remoteAddress: '203.0.113.5', headers: {} }).allowed).toBe(true);
      expect(list.check({ remoteAddress: '192.0.2.9', headers: {} }).allowed).toBe(false);
      expect(errors).toEqual([]);
      list.close();
    }
  });

  it('instances started while the first fetch is still on its way wait for it instead of fetching too', async () => {
    const scheduler = new ManualScheduler();
    const answer = deferred<{ ip_list: readonly string[] }>();
    const client = source([answer.promise]);
    const all = instances([0, 4], client, scheduler, `${prefix}three:`);
    // The three that lost the lease schedule a re-read; the holder (which reads the store once
    // more after winning the lease) is still fetching.
    await drainUntil(
      () => scheduler.pending === 3 && client.calls === 1,
      'the other instances finding the lease taken, the holder fetching',
    );
    expect(client.calls).toBe(1);
    answer.resolve({ ip_list: ['198.51.100.0/24'] });
    await drainUntil(() => scheduler.pending === 4, 'the holder storing the list');
    await scheduler.advance(2_000);
    for (const { list } of all) {
      await list.ready();
      expect(list.stats()).toMatchObject({ loaded: true, size: 1, lastRefreshAt: BASE });
      list.close();
    }
    expect(client.calls).toBe(1);
  });
});
