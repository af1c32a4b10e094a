/**
 * Emulator faults on `GET /cgi-bin/user/info` during a batch: errcode -1 bursts, latency spikes
 * past the client's timeout, dropped connections, truncated answers. Each fault used up is either
 * retried (idempotent GET: -1, TIMEOUT, NETWORK_ERROR, BAD_RESPONSE) or ends a call that is out
 * of retries, so `retries + failed == faults used up` exactly; every failure is a typed error
 * with the expected code, and no call outlasts its attempts' timeouts plus the backoff. A
 * non-idempotent POST under dropped connections fails typed and is never resent.
 */
import { type BatchResult, codeList } from '../batch.js';
import { APP, emulatorFor, OPENID, redisMissing, sharedRedis, sleep } from '../env.js';
import type { Scenario, ScenarioContext } from '../matrix.js';
import { batchIn } from './common.js';

interface FaultCase {
  label: string;
  fault: Record<string, unknown>;
  /** Codes a failed call may end with. */
  codes: string[];
  call?: 'get' | 'post';
  processes?: number;
  store?: 'memory' | 'redis';
  /** Per-attempt timeout (default 3000 ms). */
  timeoutMs?: number;
}

const RETRIES = 2;
// Full-jitter backoff from 100 ms, doubling, capped at 2 s: two retries wait at most 100 + 200 ms.
const BACKOFF_MS = 300;
const BUSY = 'SYSTEM_BUSY';

async function faultRow(ctx: ScenarioContext, name: string, c: FaultCase, burst: number, everyMs: number) {
  const { profile } = ctx;
  const shared = c.store === 'redis' ? await sharedRedis(ctx) : undefined;
  const setup = `${c.store === 'redis' ? 'Redis' : 'memory'}, ${c.processes ?? 1} process${(c.processes ?? 1) > 1 ? 'es' : ''}`;
  if (c.store === 'redis' && shared === undefined) {
    redisMissing(ctx, `${name}: ${setup}`);
    return;
  }
  const emulator = await emulatorFor(ctx);
  const path = c.call === 'post' ? '/cgi-bin/message/custom/send' : '/cgi-bin/user/info';
  const timeoutMs = c.timeoutMs ?? 3000;
  let injected = 0;
  const result: BatchResult = await batchIn(
    ctx,
    c.processes ?? 1,
    {
      baseUrl: emulator.url,
      appId: APP.appId,
      secret: APP.secret,
      openid: OPENID,
      calls: c.call === 'post' ? Math.ceil(profile.faultCalls / 4) : profile.faultCalls,
      concurrency: 4,
      store: c.store ?? 'memory',
      timeoutMs,
      ...(c.call === undefined ? {} : { call: c.call }),
      ...(shared === undefined ? {} : { redisPort: shared.port, prefix: shared.prefix }),
    },
    async (done) => {
      while (!done()) {
        await emulator.control.post('/_emulator/faults', { path, count: burst, ...c.fault });
        injected += burst;
        await sleep(everyMs);
      }
    },
  );
  const left = await emulator.control.faultsLeft();
  await emulator.control
    .get('/_emulator/faults')
    .then(() => fetch(`${emulator.url}/_emulator/faults`, { method: 'DELETE' }));
  const used = injected - left;
  const untyped = result.codes.untyped ?? 0;
  const unexpected = Object.keys(result.codes).filter((code) => !c.codes.includes(code));
  // Every fault used up shows as a retry or as the failure of a call out of retries. (Equality
  // holds on an idle machine; under load a slow answer may add a timeout of its own, reported.)
  const extra = result.retries + result.failed - used;
  const accounted = extra >= 0;
  // Attempts at most 1 + RETRIES, each bounded by the timeout (a -1 answers at once).
  const boundMs = (RETRIES + 1) * timeoutMs + BACKOFF_MS + 1000;
  const bounded = result.maxMs <= boundMs;
  const notResent = c.call !== 'post' || result.retries === 0;
  ctx.row(
    `${name}: ${setup}`,
    `${result.calls} calls, ${used} faults hit: failed ${result.failed} (${codeList(result.codes)}), retries ${result.retries}${extra > 0 ? ` (+${extra} not from a fault)` : ''}, p99 ${result.p99Ms} ms, max ${result.maxMs} ms (bound ${boundMs})`,
    untyped === 0 && unexpected.length === 0 && accounted && bounded && notResent && used > 0,
    [
      untyped > 0 ? `${untyped} untyped error(s)` : '',
      unexpected.length > 0 ? `unexpected codes ${unexpected.join(', ')}` : '',
      accounted ? '' : `retries + failed = ${result.retries + result.failed}, faults used up = ${used}`,
      bounded ? '' : 'a call outlasted its timeouts',
      notResent ? '' : 'a non-idempotent POST was resent',
      used > 0 ? '' : 'no fault was hit',
    ]
      .filter(Boolean)
      .join('; '),
  );
  await emulator.close();
}

export const busyScenario: Scenario = {
  id: 'busy',
  name: 'errcode -1 bursts and latency spikes',
  async run(ctx) {
    const t = ctx.profile.timeoutMs;
    const busy = { errcode: -1, errmsg: 'system error' };
    await faultRow(ctx, '-1 bursts', { label: '-1', fault: busy, codes: [BUSY] }, 5, 250);
    // Four processes start slowly on a loaded 2-core machine: in the full profile only.
    if (ctx.profile.name === 'full') {
      await faultRow(
        ctx,
        '-1 bursts',
        { label: '-1', fault: busy, codes: [BUSY], processes: 4, store: 'redis' },
        5,
        250,
      );
    }
    await faultRow(
      ctx,
      `latency ${t * 2.5} ms > timeout ${t} ms`,
      { label: 'latency', fault: { latencyMs: t * 2.5 }, codes: ['TIMEOUT'], timeoutMs: t },
      3,
      3 * t,
    );
  },
};

export const brokenScenario: Scenario = {
  id: 'broken',
  name: 'dropped and truncated answers',
  async run(ctx) {
    const net = ['NETWORK_ERROR', 'BAD_RESPONSE'];
    await faultRow(ctx, 'drop (GET)', { label: 'drop', fault: { drop: true }, codes: net }, 4, 100);
    await faultRow(
      ctx,
      'truncate (GET)',
      { label: 'truncate', fault: { truncate: true }, codes: net },
      4,
      100,
    );
    await faultRow(
      ctx,
      'drop (POST, not idempotent)',
      { label: 'drop', fault: { drop: true }, codes: net, call: 'post' },
      2,
      150,
    );
  },
};
