/**
 * Open Platform scenario `openPlatform.refreshStorm`: BENCH_AUTHORIZERS (default 10,000) authorizer
 * tokens issued in the same minute, then 4 processes sharing one Redis whose clocks jump past every
 * refresh point, against the emulator over HTTP serving the component. Reports RSS per process
 * (bounded by the authorizer LRU), api_authorizer_token calls (one per authorizer), the most
 * refreshes per second the emulator saw (at most `authorizerRefresh.maxPerSecond`) and the cycle's
 * duration. Needs Redis on 127.0.0.1:6379 (unique prefix, deleted afterwards).
 */
import { randomUUID } from 'node:crypto';
import { startEmulator } from '../src/emulator/index.js';
import { refreshStorm } from '../test/open-platform/fixtures/refresh-storm.js';
import { redisReachable } from './load.js';

export interface RefreshStormResult {
  name: 'openPlatform.refreshStorm';
  authorizers: number;
  processes: number;
  maxPerSecond: number;
  jitterSeconds: number;
  authorizerCacheSize: number;
  /** Exchanging every authorisation code (all tokens issued within it), ms. */
  issueMs: number;
  authorizerTokenCalls: number;
  authorizersRefreshed: number;
  maxRefreshesPerAuthorizer: number;
  maxRefreshesPerSecondSeen: number;
  cycleMs: number;
  rssMbPerProcess: number[];
  cacheSizePerProcess: number[];
}

/** Runs the scenario; undefined (with a message on stderr) when Redis is not reachable. */
export async function openPlatformScenario(): Promise<RefreshStormResult | undefined> {
  if (!(await redisReachable())) {
    process.stderr.write('openPlatform scenario skipped: Redis not reachable on 127.0.0.1:6379\n');
    return undefined;
  }
  const authorizers = Number(process.env.BENCH_AUTHORIZERS ?? '10000');
  const processes = 4;
  const maxPerSecond = Number(process.env.BENCH_REFRESH_RATE ?? '500');
  const jitterSeconds = 60;
  const cacheSize = 1000;
  const component = {
    componentAppId: 'wxbe0c0mp0nent0001',
    componentSecret: 'bench-component-secret-0123456789',
    token: 'BenchToken',
    encodingAESKey: 'abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG',
  };
  const emulator = await startEmulator({ config: { apps: [], merchants: [], components: [component] } });
  try {
    const storm = await refreshStorm({
      baseUrl: emulator.url,
      component,
      prefix: `weixin-kit-bench:${randomUUID()}:`,
      authorizers,
      processes,
      maxPerSecond,
      jitterSeconds,
      cacheSize,
      concurrency: 32,
      pauseMs: 1000,
      timeoutMs: 110_000,
    });
    const failed = storm.workers.flatMap((w) => w.errors);
    if (failed.length > 0) process.stderr.write(`openPlatform.refreshStorm errors: ${failed.join('; ')}\n`);
    return {
      name: 'openPlatform.refreshStorm',
      authorizers,
      processes,
      maxPerSecond,
      jitterSeconds,
      authorizerCacheSize: cacheSize,
      issueMs: storm.issueMs,
      authorizerTokenCalls: storm.refreshCalls,
      authorizersRefreshed: storm.authorizersRefreshed,
      maxRefreshesPerAuthorizer: storm.maxPerAuthorizer,
      maxRefreshesPerSecondSeen: storm.maxPerSecondSeen,
      cycleMs: Math.round(storm.cycleMs),
      rssMbPerProcess: storm.workers.map((w) => Math.round(w.rssBytes / 2 ** 20)),
      cacheSizePerProcess: storm.workers.map((w) => w.cache.size),
    };
  } finally {
    await emulator.close();
  }
}

export function printOpenPlatform(r: RefreshStormResult): void {
  console.log(
    `\n${r.name}: ${r.authorizers} authorizers issued in ${(r.issueMs / 1000).toFixed(1)} s, ${r.processes} processes on one Redis, ` +
      `authorizerRefresh { maxPerSecond: ${r.maxPerSecond}, jitterSeconds: ${r.jitterSeconds} }, authorizerCacheSize ${r.authorizerCacheSize}\n` +
      `  api_authorizer_token calls: ${r.authorizerTokenCalls} (authorizers refreshed: ${r.authorizersRefreshed}, most per authorizer: ${r.maxRefreshesPerAuthorizer})\n` +
      `  most refreshes in one second (emulator): ${r.maxRefreshesPerSecondSeen}  refresh cycle: ${(r.cycleMs / 1000).toFixed(1)} s\n` +
      `  RSS per process (MB): ${r.rssMbPerProcess.join(', ')}  clients in memory: ${r.cacheSizePerProcess.join(', ')}`,
  );
}
