import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type RunningEmulator, startEmulator } from '../../src/emulator/index.js';
import { TransportError, WeChatApiError } from '../../src/errors.js';
import { OfficialAccount } from '../../src/official-account/index.js';
import { REDIS_HOST, REDIS_PORT, redisUp, uniquePrefix } from '../credentials/redis-helper.js';
import { runWorkers } from '../helpers/cross-process.js';
import { drainUntil, ManualScheduler } from '../helpers/manual-scheduler.js';

const APP = {
  appId: 'wx7a1b2c3d4e5f6071',
  secret: 'a-very-secret-appsecret-value-001',
  kind: 'official-account' as const,
};
const OPENID = 'oTokenTestUser0000000000001';

let emulator: RunningEmulator;
const control = (path: string, body: unknown) =>
  fetch(`${emulator.url}${path}`, { method: 'POST', body: JSON.stringify(body) }).then((r) => r.json());
/** Token requests the emulator received (stable_token and cgi-bin/token). */
const tokensIssued = async () => (await calls('/cgi-bin/stable_token')) + (await calls('/cgi-bin/token'));
const calls = async (path: string) =>
  ((await (await fetch(`${emulator.url}/_emulator/stats`)).json()) as { calls: Record<string, number> })
    .calls[path] ?? 0;

// A fresh emulator per test: the tests inject faults, revoke tokens and move the clock, and a
// test that fails must not leave a fault or calls in flight to the next one.
beforeEach(async () => {
  emulator = await startEmulator({ config: { apps: [APP], merchants: [] } });
  await control('/_emulator/users', { appId: APP.appId, openId: OPENID });
});
afterEach(() => emulator.close());

const client = (extra: Partial<ConstructorParameters<typeof OfficialAccount>[0]> = {}) =>
  new OfficialAccount({ appId: APP.appId, secret: APP.secret, baseUrl: emulator.url, ...extra });

/** Runs `n` calls with at most `width` in flight. */
async function batch<T>(n: number, width: number, call: (i: number) => Promise<T>): Promise<T[]> {
  const results: T[] = new Array(n);
  let next = 0;
  await Promise.all(
    Array.from({ length: width }, async () => {
      while (next < n) {
        const i = next++;
        results[i] = await call(i);
      }
    }),
  );
  return results;
}

describe('access_token lifecycle against the emulator', () => {
  it('200 concurrent calls on a cold cache send exactly one token request', async () => {
    const before = await tokensIssued();
    const oa = client();
    const results = await Promise.all(Array.from({ length: 200 }, () => oa.users.get({ openid: OPENID })));
    expect(results.every((r) => r.openid === OPENID)).toBe(true);
    expect((await tokensIssued()) - before).toBe(1);
  });

  it('a 1,000-call batch survives a token revocation mid-batch with one refresh', async () => {
    const oa = client();
    await oa.getAccessToken();
    const before = await tokensIssued();
    const results = await batch(1000, 50, async (i) => {
      if (i === 300) await control('/_emulator/tokens/revoke', { appId: APP.appId });
      return oa.users.get({ openid: OPENID });
    });
    expect(results.filter((r) => r.openid === OPENID)).toHaveLength(1000);
    expect((await tokensIssued()) - before).toBe(1);
  });

  it('a token expired on the emulator clock is refreshed once and the batch goes on', async () => {
    const oa = client();
    await oa.users.get({ openid: OPENID });
    const before = await tokensIssued();
    await control('/_emulator/clock', { advanceSeconds: 7300 });
    const results = await batch(300, 30, () => oa.users.get({ openid: OPENID }));
    expect(results).toHaveLength(300);
    expect((await tokensIssued()) - before).toBe(1);
  });

  it('classic mode uses cgi-bin/token, and a second client then gets 40001 once and recovers', async () => {
    const a = client({ tokenMode: 'classic' });
    const b = client({ tokenMode: 'classic' });
    await a.users.get({ openid: OPENID });
    await b.users.get({ openid: OPENID }); // b's token replaces a's after the 5-minute overlap
    await control('/_emulator/clock', { advanceSeconds: 301 });
    const before = await calls('/cgi-bin/token');
    expect((await a.users.get({ openid: OPENID })).openid).toBe(OPENID);
    expect((await calls('/cgi-bin/token')) - before).toBe(1);
  });

  it('recovers errcode -1 bursts by retrying, and surfaces 45009 after one request', async () => {
    const oa = client({ retries: 2, timeoutMs: 2000 });
    await oa.getAccessToken();
    await control('/_emulator/faults', { path: '/cgi-bin/user/info', errcode: -1, count: 2 });
    expect((await oa.users.get({ openid: OPENID })).openid).toBe(OPENID);
    const before = await calls('/cgi-bin/user/info');
    await control('/_emulator/faults', { path: '/cgi-bin/user/info', errcode: 45009, count: 1 });
    const error = await oa.users.get({ openid: OPENID }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(WeChatApiError);
    expect((error as WeChatApiError).code).toBe('QUOTA_EXCEEDED');
    expect((await calls('/cgi-bin/user/info')) - before).toBe(1);
  });

  it('times out within its bound', async () => {
    // Both clocks are manual: the emulator holds the slow answer until its clock is advanced (it
    // never is here), and the client's timeout fires when the test moves its scheduler.
    await emulator.close();
    emulator = await startEmulator({ config: { apps: [APP], merchants: [], options: { clock: 'manual' } } });
    await control('/_emulator/users', { appId: APP.appId, openId: OPENID });
    const manual = new ManualScheduler();
    const oa = client({ retries: 0, timeoutMs: 150, scheduler: manual });
    await oa.getAccessToken();
    await control('/_emulator/faults', { path: '/cgi-bin/user/info', latencyMs: 2000, count: 1 });
    let settled = false;
    const failed = oa.users.get({ openid: OPENID }).catch((e: unknown) => e);
    void failed.then(() => (settled = true));
    await drainUntil(
      () => emulator.state.clock.pending().length === 1,
      'the slow call reaching the emulator',
    );
    await manual.advance(149);
    expect(settled).toBe(false);
    await manual.advance(1);
    expect(settled).toBe(true); // at once: nothing waited on the wall clock
    const error = await failed;
    expect(error).toBeInstanceOf(TransportError);
    expect((error as TransportError).code).toBe('TIMEOUT');
    expect(manual.pending).toBe(0);
  });

  it('never puts the AppSecret or a token in hook events or errors', async () => {
    const captured: unknown[] = [];
    const record = (e: unknown) => captured.push(e);
    const oa = client({
      hooks: { onRequest: record, onResponse: record, onRetry: record, onError: record, onRefresh: record },
    });
    const token = await oa.getAccessToken();
    await control('/_emulator/faults', { path: '/cgi-bin/user/info', errcode: 40003, count: 1 });
    const error = await oa.users.get({ openid: OPENID }).catch((e: unknown) => e);
    captured.push(error, (error as WeChatApiError).toJSON(), String(error));
    const wrong = new OfficialAccount({
      appId: APP.appId,
      secret: 'wrong-secret-value-xyz',
      baseUrl: emulator.url,
      hooks: { onError: record },
    });
    const refused = await wrong.getAccessToken().catch((e: unknown) => e);
    captured.push(refused, String(refused));
    const text = JSON.stringify(captured, (_k, v) => (v instanceof Error ? { ...v, message: v.message } : v));
    expect(captured.length).toBeGreaterThan(3);
    expect(text).not.toContain(APP.secret);
    expect(text).not.toContain('wrong-secret-value-xyz');
    expect(text).not.toContain(token);
  });
});

describe.skipIf(!redisUp)('four processes sharing one RedisStore', () => {
  const prefix = uniquePrefix();
  const redis = new Redis({ host: REDIS_HOST, port: REDIS_PORT, lazyConnect: true });
  afterAll(async () => {
    if (redis.status !== 'ready') await redis.connect().catch(() => {});
    const keys = await redis.keys(`${prefix}*`);
    if (keys.length > 0) await redis.del(...keys);
    await redis.quit();
  });

  it('4 x 200 concurrent calls send one token request in all', async () => {
    const before = await tokensIssued();
    const runs = await runWorkers<{ ok: number }>(new URL('./fixtures/oa-worker.ts', import.meta.url), {
      count: 4,
      barrier: true,
      input: () => ({
        prefix,
        appId: APP.appId,
        secret: APP.secret,
        baseUrl: emulator.url,
        openid: OPENID,
        calls: 200,
      }),
      // A bound, not a wait: ~2 s on an idle machine, 8-17 s seen on a loaded 2-core one.
      timeoutMs: 45_000,
    });
    const results = runs.map((r) => r.result);
    expect(results.map((r) => r.ok)).toEqual([200, 200, 200, 200]);
    expect((await tokensIssued()) - before).toBe(1);
  }, 60_000);
});
