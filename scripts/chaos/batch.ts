/**
 * A batch of API calls through a real client, recording what each call ended with: the part of a
 * scenario that runs the same in the parent (1 process) and in each worker (4 processes).
 */
import { Redis } from 'ioredis';
import { MemoryStore, OfficialAccount, type TokenStore, WeChatKitError } from '../../src/index.js';
import { RedisStore } from '../../src/redis/index.js';
import { percentile } from './matrix.js';

export interface BatchSpec {
  baseUrl: string;
  appId: string;
  secret: string;
  openid: string;
  calls: number;
  concurrency: number;
  store: 'memory' | 'redis';
  /** With `store: 'redis'`: the Redis port on 127.0.0.1 and the key prefix of this run. */
  redisPort?: number;
  prefix?: string;
  timeoutMs?: number;
  /** `get` (users.get, idempotent) or `post` (customMessages.send, not idempotent). */
  call?: 'get' | 'post';
  /**
   * Spread the calls evenly over at least this long (call i starts no earlier than
   * i x minDurationMs / calls after the batch began): a fast machine must not finish the batch
   * before the faults it is meant to meet (a revocation every second) happened.
   */
  minDurationMs?: number;
}

export interface BatchResult {
  calls: number;
  failed: number;
  /** Failures by error code; `untyped` counts errors that are not a WeChatKitError. */
  codes: Record<string, number>;
  retries: number;
  refreshes: number;
  /** The first 500 failures: code and wall-clock interval (ms since the epoch, comparable across processes). */
  failures: Array<{ code: string; startedAt: number; endedAt: number }>;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
}

export async function runBatch(spec: BatchSpec): Promise<BatchResult> {
  let redis: Redis | undefined;
  let store: TokenStore;
  if (spec.store === 'memory') store = new MemoryStore();
  else {
    redis = new Redis({ host: '127.0.0.1', port: spec.redisPort ?? 6379, maxRetriesPerRequest: 1 });
    redis.on('error', () => {});
    store = new RedisStore(redis, { prefix: spec.prefix ?? '' });
  }
  let retries = 0;
  let refreshes = 0;
  const oa = new OfficialAccount({
    appId: spec.appId,
    secret: spec.secret,
    baseUrl: spec.baseUrl,
    store,
    ...(spec.timeoutMs === undefined ? {} : { timeoutMs: spec.timeoutMs }),
    hooks: {
      onRetry: () => {
        retries += 1;
      },
      onRefresh: () => {
        refreshes += 1;
      },
    },
  });
  const latencies: number[] = [];
  const codes: Record<string, number> = {};
  const failures: BatchResult['failures'] = [];
  let failed = 0;
  let next = 0;
  const began = performance.now();
  const spacing = (spec.minDurationMs ?? 0) / spec.calls;
  const lane = async () => {
    while (next < spec.calls) {
      const index = next;
      next += 1;
      const wait = began + index * spacing - performance.now();
      if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
      const started = performance.now();
      const startedAt = Date.now();
      try {
        if (spec.call === 'post') {
          await oa.customMessages.send({ touser: spec.openid, msgtype: 'text', text: { content: 'chaos' } });
        } else {
          const user = await oa.users.get({ openid: spec.openid });
          if (user.openid !== spec.openid) throw new Error(`wrong user ${user.openid}`);
        }
      } catch (error) {
        failed += 1;
        const code = error instanceof WeChatKitError ? error.code : 'untyped';
        codes[code] = (codes[code] ?? 0) + 1;
        if (failures.length < 500) failures.push({ code, startedAt, endedAt: Date.now() });
      }
      latencies.push(performance.now() - started);
    }
  };
  try {
    await Promise.all(Array.from({ length: Math.min(spec.calls, spec.concurrency) }, lane));
  } finally {
    await redis?.quit().catch(() => {});
  }
  return {
    calls: spec.calls,
    failed,
    codes,
    retries,
    refreshes,
    failures,
    p50Ms: Math.round(percentile(latencies, 50)),
    p99Ms: Math.round(percentile(latencies, 99)),
    maxMs: Math.round(Math.max(0, ...latencies)),
  };
}

/** Adds up the results of several processes (percentiles: the worst process's). */
export function sumResults(results: readonly BatchResult[]): BatchResult {
  const codes: Record<string, number> = {};
  for (const r of results) for (const [k, v] of Object.entries(r.codes)) codes[k] = (codes[k] ?? 0) + v;
  const sum = (f: (r: BatchResult) => number) => results.reduce((n, r) => n + f(r), 0);
  const max = (f: (r: BatchResult) => number) => Math.max(0, ...results.map(f));
  return {
    calls: sum((r) => r.calls),
    failed: sum((r) => r.failed),
    codes,
    retries: sum((r) => r.retries),
    refreshes: sum((r) => r.refreshes),
    failures: results.flatMap((r) => r.failures),
    p50Ms: max((r) => r.p50Ms),
    p99Ms: max((r) => r.p99Ms),
    maxMs: max((r) => r.maxMs),
  };
}

export const codeList = (codes: Record<string, number>): string =>
  Object.entries(codes)
    .map(([k, v]) => `${k}×${v}`)
    .join(' ') || 'none';
