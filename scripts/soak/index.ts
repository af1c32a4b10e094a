/**
 * `npm run soak -- --minutes N`: mixed traffic through one backend for N minutes — encrypted
 * Official Account pushes (some duplicated, some forged), API calls through the SDK clients,
 * guarded Mini Program sessions, Pay v3 orders and their notifications — with Redis as the store,
 * at a steady, bounded rate. Every few seconds (after a forced GC) it samples RSS, heap used,
 * event-loop delay and active handles, and prints them as a table.
 *
 * Exits non-zero when an operation failed, when heap used grew steadily (see growth.ts), or when
 * the active handles did not come back to their baseline after the traffic stopped.
 *
 * Flags: --minutes N (default 3; 0.5 for a quick check; 30 is the documented long run),
 * --rate ops/s (default 20), --concurrency N (default 16), --sample-seconds S (default: the run
 * ÷ 36, between 0.5 and 10), --max-slope-mib N (MiB/min, default 1), --redis URL (default
 * redis://127.0.0.1:6379), --heap-snapshots DIR (two snapshots to diff; each stops the process for
 * seconds, so expect timeouts around them). The emulator runs in a child process, so its own state
 * is not counted.
 * The last line is `soak-result {json}` for tools.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { generateKeyPairSync, randomUUID } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { writeHeapSnapshot } from 'node:v8';
import { Redis } from 'ioredis';
import { createSoakBackend } from './backend.js';
import { detectGrowth, type GrowthVerdict } from './growth.js';
import { MIX, type TrafficContext } from './traffic.js';

interface Row {
  t: number;
  ops: number;
  opsPerSec: number;
  errors: number;
  inflight: number;
  rss: number;
  heapUsed: number;
  eldP50: number;
  eldP99: number;
  eldMax: number;
  handles: number;
}

const MiB = 1024 * 1024;

function usage(message: string): never {
  console.error(`soak: ${message}`);
  console.error(
    'usage: npm run soak -- [--minutes N] [--rate OPS_PER_S] [--concurrency N] [--sample-seconds S] [--max-slope-mib N] [--redis URL] [--heap-snapshots DIR]',
  );
  process.exit(2);
}

function positive(value: string | undefined, name: string, fallback: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0)
    usage(`--${name} must be a positive number (got ${JSON.stringify(value)})`);
  return n;
}

async function main(gc: () => void): Promise<number> {
  let args: ReturnType<typeof parseArgs>['values'];
  try {
    args = parseArgs({
      options: {
        minutes: { type: 'string' },
        rate: { type: 'string' },
        concurrency: { type: 'string' },
        'sample-seconds': { type: 'string' },
        'max-slope-mib': { type: 'string' },
        redis: { type: 'string' },
        'heap-snapshots': { type: 'string' },
      },
      strict: true,
    }).values;
  } catch (error) {
    usage((error as Error).message);
  }
  const str = (name: string) => args[name] as string | undefined;
  const minutes = positive(str('minutes'), 'minutes', 3);
  const durationMs = minutes * 60_000;
  const rate = positive(str('rate'), 'rate', 20);
  const concurrency = Math.floor(positive(str('concurrency'), 'concurrency', 16));
  const sampleMs =
    positive(str('sample-seconds'), 'sample-seconds', Math.min(10, Math.max(0.5, (minutes * 60) / 36))) *
    1000;
  const maxSlopeBytesPerMin = positive(str('max-slope-mib'), 'max-slope-mib', 1) * MiB;
  const redisUrl = str('redis') ?? 'redis://127.0.0.1:6379';
  // For hunting growth: a heap snapshot once warmed up (30 % of the run) and one at the end of the load.
  const snapshotDir = str('heap-snapshots');

  // Redis first: without it there is nothing to soak.
  const redis = new Redis(redisUrl, { maxRetriesPerRequest: 1, lazyConnect: true, connectTimeout: 2000 });
  redis.on('error', () => {}); // reported by the connect below, or by the commands that fail
  try {
    await redis.connect();
  } catch (error) {
    console.error(
      `soak: Redis is not reachable at ${redisUrl} (${(error as Error).message}). Start one (e.g. \`redis-server\`) or pass --redis URL.`,
    );
    redis.disconnect();
    return 2;
  }
  const prefix = `weixin-kit-soak:${randomUUID()}:`;

  let errors = 0;
  const firstErrors: string[] = [];
  const problem = (where: string, detail: unknown) => {
    errors += 1;
    if (firstErrors.length < 8) {
      const text = detail instanceof Error ? detail.message : JSON.stringify(detail)?.slice(0, 300);
      firstErrors.push(`${where}: ${text}`);
    }
  };

  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const backendUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  const OA = {
    appId: 'wx50a450a450a450a4',
    secret: 'soak-oa-secret',
    token: 'SoakToken2026',
    encodingAESKey: 'abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG',
  };
  const MP = { appId: 'wx50a450a450a450b5', secret: 'soak-mp-secret' };
  const keys = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const MERCHANT = {
    mchid: '1900000109',
    apiV3Key: 'soakApiV3Key0123456789abcdefABCD',
    merchantSerialNo: '5157F09EFDC096DE15EBE81A47057A7232F1B8E1',
    privateKeyPem: keys.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
  };
  const emulatorConfig = {
    apps: [
      { ...OA, kind: 'official-account', messageMode: 'safe', callbackUrl: `${backendUrl}/wechat` },
      { ...MP, kind: 'mini-program' },
    ],
    merchants: [
      {
        mchid: MERCHANT.mchid,
        apiV3Key: MERCHANT.apiV3Key,
        merchantCertificateSerial: MERCHANT.merchantSerialNo,
        merchantPublicKeyPem: keys.publicKey.export({ type: 'spki', format: 'pem' }).toString(),
        verifyMode: 'public-key',
      },
    ],
    options: { pushTimeoutMs: 5000 },
  };
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', fileURLToPath(new URL('./emulator-child.ts', import.meta.url))],
    {
      env: { ...process.env, SOAK_EMULATOR_CONFIG: JSON.stringify(emulatorConfig) },
      stdio: ['pipe', 'pipe', 'inherit'],
    },
  );
  const stopChild = () => stop(child);
  let emulator: { url: string; publicKey: { id: string; pem: string } };
  try {
    emulator = await firstLine(child, 30_000);
  } catch (error) {
    console.error(`soak: the emulator did not start: ${(error as Error).message}`);
    await stopChild();
    server.close();
    redis.disconnect();
    return 2;
  }

  const backend = createSoakBackend({
    apiBaseUrl: emulator.url,
    redis,
    prefix,
    officialAccount: OA,
    miniProgram: MP,
    pay: { ...MERCHANT, platformPublicKey: emulator.publicKey, publicUrl: backendUrl },
    onProblem: problem,
  });
  server.on('request', backend.listener);

  const followers: string[] = [];
  for (let i = 0; i < 20; i += 1) {
    const res = await fetch(`${emulator.url}/_emulator/users`, {
      method: 'POST',
      body: JSON.stringify({ appId: OA.appId, openId: `o_soak_follower_${i}` }),
    });
    followers.push(((await res.json()) as { openId: string }).openId);
  }
  const ctx: TrafficContext = {
    emulatorUrl: emulator.url,
    backendUrl,
    oaAppId: OA.appId,
    mpAppId: MP.appId,
    followers,
    oa: backend.oa,
    arrivals: backend.arrivals,
  };

  // ---- sampling ----
  const eld = monitorEventLoopDelay({ resolution: 10 });
  eld.enable();
  const rows: Row[] = [];
  const started = performance.now();
  let ops = 0;
  let inflight = 0;
  let skipped = 0;
  let opsAtLastSample = 0;
  let lastSampleAt = started;
  const byKind = new Map<string, { done: number; failed: number }>();
  const handleCount = () => process.getActiveResourcesInfo().length;
  const sample = (): Row => {
    const now = performance.now();
    const eldP50 = eld.count > 0 ? eld.percentile(50) / 1e6 : 0;
    const eldP99 = eld.count > 0 ? eld.percentile(99) / 1e6 : 0;
    const eldMax = eld.count > 0 ? eld.max / 1e6 : 0;
    gc();
    const memory = process.memoryUsage();
    eld.reset(); // after the GC: its pause is the sampler's, not the load's
    const row: Row = {
      t: (now - started) / 1000,
      ops,
      opsPerSec: ((ops - opsAtLastSample) * 1000) / Math.max(1, now - lastSampleAt),
      errors,
      inflight,
      rss: memory.rss,
      heapUsed: memory.heapUsed,
      eldP50,
      eldP99,
      eldMax,
      handles: handleCount(),
    };
    opsAtLastSample = ops;
    lastSampleAt = now;
    rows.push(row);
    console.log(formatRow(row));
    return row;
  };

  console.log(
    `soak: ${minutes} min at ${rate} ops/s (≤ ${concurrency} in flight), a sample every ${(sampleMs / 1000).toFixed(1)} s; ` +
      `backend ${backendUrl} (node:http), emulator ${emulator.url} (child process), Redis ${redisUrl.replace(/\/\/[^@]*@/, '//…@')} prefix ${prefix}; node ${process.version}`,
  );
  process.on('unhandledRejection', (reason) => problem('unhandled rejection', reason));
  // The baseline of handles once the set-up's keep-alive sockets have idled out (undici: 4 s).
  await sleep(5000);
  console.log(HEADER);
  const baseline = sample();
  const sampler = setInterval(sample, sampleMs);

  // ---- load: one operation every 1/rate s, at most `concurrency` at once ----
  let turn = 0;
  const startOne = () => {
    if (inflight >= concurrency) {
      skipped += 1;
      return;
    }
    const [kind, op] = MIX[turn % MIX.length] as (typeof MIX)[number];
    turn += 1;
    inflight += 1;
    const stats = byKind.get(kind) ?? { done: 0, failed: 0 };
    byKind.set(kind, stats);
    op(ctx).then(
      () => {
        inflight -= 1;
        ops += 1;
        stats.done += 1;
      },
      (error: unknown) => {
        inflight -= 1;
        ops += 1;
        stats.failed += 1;
        problem(kind, error);
      },
    );
  };
  // Tokens revoked every 30 s: the next API call meets 40001 and the client refreshes through the lease.
  const revoke = setInterval(() => {
    fetch(`${emulator.url}/_emulator/tokens/revoke`, {
      method: 'POST',
      body: JSON.stringify({ appId: OA.appId }),
      signal: AbortSignal.timeout(5000),
    }).then(
      (res) => res.arrayBuffer(),
      (error: unknown) => problem('token revoke', error),
    );
  }, 30_000);
  const loop = setInterval(startOne, 1000 / rate);
  if (snapshotDir !== undefined) {
    await sleep(durationMs * 0.3);
    console.log(`heap snapshot: ${writeHeapSnapshot(join(snapshotDir, 'warm.heapsnapshot'))}`);
    await sleep(durationMs * 0.7);
    console.log(`heap snapshot: ${writeHeapSnapshot(join(snapshotDir, 'end.heapsnapshot'))}`);
  } else {
    await sleep(durationMs);
  }
  clearInterval(loop);
  clearInterval(revoke);

  // ---- drain, and let idle keep-alive sockets close ----
  const drainBy = Date.now() + 15_000;
  while (inflight > 0 && Date.now() < drainBy) await sleep(100);
  clearInterval(sampler);
  let handles = handleCount();
  const settleBy = Date.now() + 15_000;
  while (handles > baseline.handles && Date.now() < settleBy) {
    await sleep(250);
    handles = handleCount();
  }
  const last = sample();
  eld.disable();
  const leftOver = handles > baseline.handles ? describeHandles() : '';

  const growth = detectGrowth(
    rows.map((r) => ({ t: r.t, value: r.heapUsed })),
    { maxSlopeBytesPerMin },
  );
  const rssGrowth = detectGrowth(
    rows.map((r) => ({ t: r.t, value: r.rss })),
    { maxSlopeBytesPerMin: 4 * maxSlopeBytesPerMin },
  );
  if (backend.arrivals.unexpected > 0)
    problem('arrivals', `${backend.arrivals.unexpected} handled twice or late`);

  // ---- clean up: our Redis keys, the emulator, the server ----
  let removed = 0;
  try {
    removed = await deleteByPrefix(redis, prefix);
  } catch (error) {
    console.error(`soak: could not delete the keys under ${prefix}: ${(error as Error).message}`);
  }
  await redis.quit();
  await stopChild();
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));

  const handlesOk = handles <= baseline.handles;
  const ok = errors === 0 && growth.verdict !== 'grew' && handlesOk && inflight === 0;
  console.log('');
  console.log(
    `operations: ${ops} (${[...byKind].map(([k, s]) => `${k} ${s.done}${s.failed ? `/${s.failed} failed` : ''}`).join(', ')}); ` +
      `skipped at the concurrency cap: ${skipped}; still in flight: ${inflight}`,
  );
  console.log(`errors: ${errors}${firstErrors.length ? `\n  ${firstErrors.join('\n  ')}` : ''}`);
  console.log(`heap used: ${growth.verdict === 'grew' ? 'FAIL' : 'ok'} — ${growth.reason}`);
  console.log(`rss (shown, not judged): ${rssGrowth.reason}`);
  console.log(
    `active handles: baseline ${baseline.handles}, after the traffic ${handles} — ${handlesOk ? 'ok' : `FAIL (left: ${leftOver})`}`,
  );
  console.log(
    `event-loop delay p99: max ${Math.max(...rows.map((r) => r.eldP99)).toFixed(1)} ms over the samples`,
  );
  console.log(`redis: ${removed} keys under ${prefix} deleted`);
  console.log(ok ? 'soak: PASS' : 'soak: FAIL');
  console.log(
    `soak-result ${JSON.stringify(summary(rows, growth, { ok, errors, ops, skipped, baseline: baseline.handles, handles, last }))}`,
  );
  return ok ? 0 : 1;
}

const HEADER = [
  '| t (s) | ops | ops/s | errors | in flight | rss MiB | heap MiB | eld p50 ms | eld p99 ms | eld max ms | handles |',
  '|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
].join('\n');

function formatRow(r: Row): string {
  return `| ${r.t.toFixed(1)} | ${r.ops} | ${r.opsPerSec.toFixed(1)} | ${r.errors} | ${r.inflight} | ${(r.rss / MiB).toFixed(1)} | ${(r.heapUsed / MiB).toFixed(2)} | ${r.eldP50.toFixed(1)} | ${r.eldP99.toFixed(1)} | ${r.eldMax.toFixed(1)} | ${r.handles} |`;
}

function summary(
  rows: Row[],
  growth: GrowthVerdict,
  extra: {
    ok: boolean;
    errors: number;
    ops: number;
    skipped: number;
    baseline: number;
    handles: number;
    last: Row;
  },
) {
  return {
    ok: extra.ok,
    samples: rows.length,
    ops: extra.ops,
    errors: extra.errors,
    skipped: extra.skipped,
    handles: { baseline: extra.baseline, end: extra.handles },
    heap: {
      verdict: growth.verdict,
      slopeMiBPerMin: growth.slopeBytesPerMin / MiB,
      firstMedianMiB: growth.firstMedian / MiB,
      finalMedianMiB: growth.finalMedian / MiB,
    },
    rssMiB: extra.last.rss / MiB,
  };
}

function describeHandles(): string {
  const counts = new Map<string, number>();
  for (const name of process.getActiveResourcesInfo()) counts.set(name, (counts.get(name) ?? 0) + 1);
  return [...counts].map(([name, n]) => `${name}×${n}`).join(', ');
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function deleteByPrefix(redis: Redis, prefix: string): Promise<number> {
  let cursor = '0';
  let removed = 0;
  do {
    const [nextCursor, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
    cursor = nextCursor;
    if (keys.length > 0) removed += await redis.del(...keys);
  } while (cursor !== '0');
  return removed;
}

function firstLine<T>(child: ChildProcess, ms: number): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`no line within ${ms} ms`)), ms);
    const onData = (chunk: string) => {
      out += chunk;
      const i = out.indexOf('\n');
      if (i < 0) return;
      clearTimeout(timer);
      child.stdout?.off('data', onData);
      child.off('exit', onExit);
      try {
        resolve(JSON.parse(out.slice(0, i)) as T);
      } catch {
        reject(new Error(`not JSON: ${out.slice(0, 200)}`));
      }
    };
    const onExit = (code: number | null) => {
      clearTimeout(timer);
      reject(new Error(`exited with ${code}`));
    };
    child.stdout?.setEncoding('utf8').on('data', onData);
    child.once('exit', onExit);
  });
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.stdin?.end();
  const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
  await exited;
  clearTimeout(timer);
}

// Last, so that every constant above is initialised before main runs.
const gc = (globalThis as { gc?: () => void }).gc;
if (typeof gc !== 'function') {
  // A heap reading without a full GC before it is mostly garbage: run again with --expose-gc.
  const child = spawn(process.execPath, ['--expose-gc', ...process.execArgv, ...process.argv.slice(1)], {
    stdio: 'inherit',
  });
  child.on('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
} else {
  process.exitCode = await main(gc);
}
