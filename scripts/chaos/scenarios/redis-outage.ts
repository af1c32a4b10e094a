/**
 * A redis-server of the scenario's own (spare port, no persistence), shared by token managers:
 * 1. the lease holder (a child process) is killed while its token fetch is in flight: another
 *    instance waits, and refreshes once the lease has expired;
 * 2. Redis itself is killed while two clients refresh (fetches held by a latency fault), then
 *    restarted: under `onStoreUnavailable: 'fail'` the refresh and every call during the outage
 *    fail with `StoreError('STORE_UNAVAILABLE')`; under `'local'` they all succeed from an
 *    in-process token; after the restart every call succeeds and both tokens are in Redis again.
 */
import { Redis } from 'ioredis';
import { isWeChatKitError, OfficialAccount, type Scheduler, TokenManager } from '../../../src/index.js';
import { RedisStore } from '../../../src/redis/index.js';
import { codeList } from '../batch.js';
import { APP, child, debug, emulatorFor, OPENID, OwnRedis, sleep, sparePort } from '../env.js';
import type { Scenario, ScenarioContext } from '../matrix.js';
import { stableTokenFetcher } from '../tokens.js';

const KEY = `weixin-kit:access_token:${APP.appId}`;
const HOLDER = new URL('../workers/lease-holder.ts', import.meta.url);

function client(port: number): Redis {
  // No offline queue and no per-request retries: a command fails at once while Redis is down,
  // and the connection is retried every 100 ms.
  const redis = new Redis({
    host: '127.0.0.1',
    port,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    retryStrategy: () => 100,
  });
  redis.on('error', () => {});
  return redis;
}

async function until(check: () => Promise<boolean>, ms: number, what: string): Promise<void> {
  const deadline = performance.now() + ms;
  while (!(await check().catch(() => false))) {
    if (performance.now() > deadline) throw new Error(`${what} did not happen within ${ms} ms`);
    await sleep(20);
  }
}

/** A client connected to Redis (with no offline queue, a command before the connection would fail). */
async function connected(ctx: ScenarioContext, port: number): Promise<Redis> {
  const redis = client(port);
  ctx.defer(() => redis.disconnect());
  await until(async () => (await redis.ping()) === 'PONG', 10_000, `a connection to Redis on ${port}`);
  return redis;
}

async function leaseHolderDies(ctx: ScenarioContext, port: number): Promise<void> {
  const leaseTtlMs = ctx.profile.leaseTtlMs;
  // A manual clock: the latency fault holds the holder's token request until the clock moves, i.e. forever.
  const emulator = await emulatorFor(ctx, { options: { clock: 'manual' } });
  const redis = await connected(ctx, port);
  const prefix = 'holder:';
  await emulator.control.post('/_emulator/faults', {
    path: '/cgi-bin/stable_token',
    count: 1,
    latencyMs: 60_000,
  });
  const before = await emulator.control.tokenRequests();
  const holder = child(ctx, HOLDER, {
    CHAOS_SPEC: JSON.stringify({
      baseUrl: emulator.url,
      appId: APP.appId,
      secret: APP.secret,
      redisPort: port,
      prefix,
      key: KEY,
      leaseTtlMs,
    }),
  });
  await holder.event('fetching', 20_000);
  // Its stable_token request has reached the emulator (the fault is used up) and hangs there.
  await until(async () => (await emulator.control.faultsLeft()) === 0, 10_000, "the holder's token request");
  debug('holder is fetching');
  await holder.kill();
  // What is left of the dead holder's lease: the peer must wait that long, and not much longer.
  const leaseLeftMs = await redis.pttl(`${prefix}${KEY}:lease`);
  const killedAt = performance.now();
  debug(`holder killed, its lease has ${leaseLeftMs} ms left`);
  let waited = false;
  const peer = new TokenManager({
    key: KEY,
    store: new RedisStore(redis, { prefix }),
    leaseTtlMs,
    waitForPeerMs: leaseTtlMs * 3,
    fetchToken: stableTokenFetcher(emulator.url, APP.appId, APP.secret),
    hooks: {
      onWait: () => {
        waited = true;
      },
    },
  });
  let outcome = 'token';
  try {
    await peer.get();
  } catch (error) {
    outcome = isWeChatKitError(error) ? error.code : String(error);
  }
  const tookMs = Math.round(performance.now() - killedAt);
  debug(`peer: ${outcome} after ${tookMs} ms`);
  const requests = (await emulator.control.tokenRequests()) - before;
  const stored = (await redis.exists(`${prefix}${KEY}`)) === 1;
  ctx.row(
    'lease holder killed mid-refresh',
    `lease ${leaseTtlMs} ms (${leaseLeftMs} ms left after the kill): peer ${waited ? 'waited, then ' : ''}got a ${outcome} after ${tookMs} ms, token requests ${requests} (holder's lost + peer's), token in Redis ${stored}`,
    outcome === 'token' &&
      waited &&
      leaseLeftMs > 0 &&
      tookMs >= leaseLeftMs - 20 &&
      tookMs <= leaseTtlMs * 3 &&
      requests === 2 &&
      stored,
    leaseLeftMs > 0
      ? 'the peer did not take over once the lease had expired (or took it over before)'
      : 'the lease had expired before the kill was over (machine too loaded for this lease length)',
  );
  await emulator.close();
}

/** The global timers with a movable `now()`: skips the few seconds a 'local' client waits before trying Redis again. */
function movableScheduler(): Scheduler & { skip(ms: number): void } {
  let offset = 0;
  return {
    setTimeout: (fn, ms) => setTimeout(fn, ms),
    clearTimeout: (handle) => clearTimeout(handle as NodeJS.Timeout),
    now: () => performance.now() + offset,
    skip: (ms) => {
      offset += ms;
    },
  };
}

async function redisDiesMidRefresh(ctx: ScenarioContext, own: OwnRedis): Promise<void> {
  const calls = 20;
  // A manual clock: the two refreshes' token requests wait until the clock is moved after the kill.
  const emulator = await emulatorFor(ctx, { options: { clock: 'manual' } });
  const redis = await connected(ctx, own.port);
  const probe = await connected(ctx, own.port);
  const scheduler = movableScheduler();
  const storeErrors = { fail: 0, local: 0 };
  const make = (policy: 'fail' | 'local') =>
    new OfficialAccount({
      appId: APP.appId,
      secret: APP.secret,
      baseUrl: emulator.url,
      store: new RedisStore(redis, { prefix: `${policy}:`, commandTimeoutMs: 500 }),
      onStoreUnavailable: policy,
      ...(policy === 'local' ? { scheduler } : {}),
      hooks: {
        onStoreError: () => {
          storeErrors[policy] += 1;
        },
      },
    });
  const clients = { fail: make('fail'), local: make('local') };
  const batch = async (policy: 'fail' | 'local', n: number) => {
    const codes: Record<string, number> = {};
    let ok = 0;
    for (let i = 0; i < n; i += 1) {
      try {
        await clients[policy].users.get({ openid: OPENID });
        ok += 1;
      } catch (error) {
        const code = isWeChatKitError(error) ? error.code : 'untyped';
        codes[code] = (codes[code] ?? 0) + 1;
      }
    }
    return { ok, codes };
  };
  // Both refreshes take their lease, then wait on a slow stable_token while Redis dies.
  await emulator.control.post('/_emulator/faults', {
    path: '/cgi-bin/stable_token',
    count: 2,
    latencyMs: 1000,
  });
  const refreshing = (['fail', 'local'] as const).map((policy) =>
    batch(policy, 1).then((r) => ({ policy, ...r })),
  );
  await until(
    async () => (await probe.exists('fail:' + `${KEY}:lease`, 'local:' + `${KEY}:lease`)) === 2,
    10_000,
    'both refresh leases',
  );
  debug('both leases taken: killing Redis');
  await until(async () => (await emulator.control.faultsLeft()) === 0, 10_000, 'both token requests');
  await own.kill();
  // The token requests answer now: storing the tokens fails.
  emulator.state.advance(1);
  const [failRefresh, localRefresh] = await Promise.all(refreshing);
  const during = { fail: await batch('fail', calls), local: await batch('local', calls) };
  debug('restarting Redis');
  await own.start();
  await until(async () => (await redis.ping()) === 'PONG', 10_000, 'the reconnection to Redis');
  // The 'local' client tries Redis again a few seconds after it failed: skip that wait.
  scheduler.skip(10_000);
  const after = { fail: await batch('fail', calls), local: await batch('local', calls) };
  const inRedis = (await probe.exists(`fail:${KEY}`, `local:${KEY}`)) as number;
  for (const policy of ['fail', 'local'] as const) {
    const refresh = policy === 'fail' ? failRefresh : localRefresh;
    const expected = policy === 'fail' ? 'STORE_UNAVAILABLE' : undefined;
    const refreshOk = expected === undefined ? refresh?.ok === 1 : refresh?.codes[expected] === 1;
    const duringOk =
      expected === undefined ? during[policy].ok === calls : (during[policy].codes[expected] ?? 0) === calls;
    ctx.row(
      `Redis killed mid-refresh, onStoreUnavailable '${policy}'`,
      `refresh: ${refresh?.ok === 1 ? 'token' : codeList(refresh?.codes ?? {})}; during the outage ${during[policy].ok}/${calls} ok (${codeList(during[policy].codes)}); after the restart ${after[policy].ok}/${calls} ok, token in Redis ${inRedis === 2}; store errors reported ${storeErrors[policy]}`,
      refreshOk && duringOk && after[policy].ok === calls && inRedis === 2 && storeErrors[policy] > 0,
      `the '${policy}' policy was not followed, or calls failed after the restart`,
    );
  }
  await emulator.close();
}

export const redisOutageScenario: Scenario = {
  id: 'redis',
  name: 'Redis killed and restarted mid-refresh',
  async run(ctx) {
    const own = new OwnRedis(await sparePort());
    ctx.defer(() => own.kill());
    try {
      await own.start();
    } catch (error) {
      const note = `cannot start redis-server: ${(error as Error).message}`;
      if (process.env.CI === 'true') ctx.row('(redis-server)', '-', false, note);
      else ctx.skip('(redis-server)', note);
      return;
    }
    await leaseHolderDies(ctx, own.port);
    await redisDiesMidRefresh(ctx, own);
  },
};
