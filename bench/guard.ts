/**
 * `weixin-kit/guard` scenarios:
 *
 * - `guard.route.<framework>`: requests/s and p99 of a protected route beside the same framework's
 *   bare route (target ≥ 0.8×). Per framework, a child process (bench/fixtures/guard-server.ts)
 *   serves `GET /me` = `guard.protect()` through that framework's guard adapter (memory store;
 *   token verified, session looked up, per-user limit checked — raised to 1e9 per 60 s — and the
 *   answer masked, on every request) and `GET /bare` = the same handler without the guard (it builds
 *   the same profile per request, its phone number already in the masked form). The
 *   load (autocannon, in this process) sends the same request with a valid `Authorization: Bearer`
 *   to both. Each route is warmed up for 0.5 s, then both are loaded in `BENCH_ROUNDS` (default 20
 *   here) alternating rounds (ABBA…) sharing `BENCH_GUARD_ROUTE_SECONDS` (default 10 per route; at
 *   least 0.5 s a round) with `BENCH_HTTP_CONNECTIONS` (default 10) connections; the ratio is the
 *   median of the per-round ratios, req/s and p99 the medians. Many short rounds rather than a few
 *   long ones: on this shared 2-core VM the same build read 0.72–0.83× on Fastify over runs of 5
 *   rounds of 1 s, and 0.81–0.83× over runs of 20 rounds of 0.5 s (bench/profiles/README.md,
 *   session 10): neighbouring half-seconds drift less apart than seconds do. Before loading,
 *   `/me` must answer 200 with the expected masked JSON (and 401 without a token); after, no
 *   answer may be non-2xx and the handler must have run for every `/me` answer. Beside req/s it
 *   reports the server's CPU time per request on each route (from /proc, Linux): the server and
 *   the load generator share two cores here, so req/s also moves with their scheduling.
 * - `guard.redisLimit`: ops/s and p99 of `createLimiter(…, { redis })`.check(key) beside a direct
 *   `RateLimiterRedis.consume(key)` (target ≥ 0.9×), same ioredis client, 100 keys round-robin,
 *   16 operations in flight, alternating rounds (ABBA) of `BENCH_GUARD_REDIS_MS` (default 1000) ms,
 *   `BENCH_ROUNDS` (default 5) rounds each, median ops/s and p99 over all rounds. Afterwards the counters in Redis must add up to the
 *   operations made (no check was answered from the in-memory fallback).
 * - `guard.loginStorm`: one `wx.login` code sent at once through 20 guard instances (4 processes ×
 *   5, each instance with its own ioredis client, one shared prefix) against the emulator on a
 *   port: exactly 1 `jscode2session` call must reach the emulator, else the bench fails.
 *
 * The two Redis scenarios are skipped with a message when Redis is not reachable on
 * 127.0.0.1:6379. Every child process is stopped at the end (killed if it does not exit).
 */
import { randomUUID } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import { RateLimiterRedis } from 'rate-limiter-flexible';
import { startEmulator } from '../src/emulator/index.js';
import { createLimiter } from '../src/guard/index.js';
import { median, type ScenarioResult } from './harness.js';
import { HTTP_FRAMEWORKS, type HttpFramework } from './http.js';
import {
  type Child,
  envNumber,
  type LoadResult,
  load,
  p99,
  processCpuMicros,
  redisReachable,
  round2,
  spawnChild,
} from './load.js';

/** A candidate/baseline pair with p99 latencies (ms), as the `http.*` scenarios report. */
export interface GuardScenarioResult extends ScenarioResult {
  p99Ms: number;
  baselineP99Ms: number;
  /**
   * Server CPU (user + system, all threads, from /proc) per answered request, in µs, over all
   * rounds of each route (Linux only). The server and the load generator share this machine's
   * cores, so req/s also moves with how they are scheduled; CPU per request does not.
   */
  cpuMicrosPerRequest?: number;
  baselineCpuMicrosPerRequest?: number;
}

export interface LoginStormResult {
  name: string;
  processes: number;
  instances: number;
  requests: number;
  /** Answers with status 200 (a session). */
  ok: number;
  /** Answers with status 409 (`LOGIN_CODE_USED`). */
  conflicts: number;
  /** Any other status, with its count. */
  other: Record<string, number>;
  /** `/sns/jscode2session` calls the emulator received during the storm: must be 1. */
  jscode2sessionCalls: number;
  /** From `go` to the last answer, slowest process. */
  ms: number;
}

export interface GuardScenarios {
  routes: GuardScenarioResult[];
  /**
   * `guard.observed` (pino + OpenTelemetry SDK), `guard.observed.own` (weixin-kit's part alone) and
   * `guard.observed.floor` (the two libraries called by hand around the plain route).
   */
  observed: GuardScenarioResult[];
  redisLimit: GuardScenarioResult | undefined;
  loginStorm: LoginStormResult | undefined;
}

const SERVER = fileURLToPath(new URL('./fixtures/guard-server.ts', import.meta.url));
const WORKER = fileURLToPath(new URL('./fixtures/guard-login-worker.ts', import.meta.url));
const APP_ID = 'wx5a5b5c5d5e5f5a5b';
const OPENID = 'oBenchGuardUser0000000000001';
/** `/me` as the guard must answer it: the handler's profile with its phone number masked. */
const EXPECTED_ME = JSON.stringify({
  openid: OPENID,
  nickName: '微信用户',
  city: '深圳',
  phoneNumber: '138****5678',
  orders: [{ out_trade_no: '1217752501201407033233368018', total: 100, state: 'SUCCESS' }],
});
const REDIS = { host: '127.0.0.1', port: 6379 } as const;

const message = (error: unknown): string => (error instanceof Error ? error.message : String(error));

/** Deletes every key under `prefix` (SCAN, not KEYS). */
async function deleteKeys(redis: Redis, prefix: string): Promise<void> {
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
    cursor = next;
    if (keys.length > 0) await redis.del(...keys);
  } while (cursor !== '0');
}

// ---- child processes ---------------------------------------------------------------------------

// ---- guard.route ---------------------------------------------------------------------------------

/** `/me` answers the masked profile with a token and 401 without; `/bare` answers the same JSON. */
async function verifyRoutes(base: string, auth: Record<string, string>): Promise<void> {
  const me = await fetch(`${base}/me`, { headers: auth });
  const text = await me.text();
  if (me.status !== 200) throw new Error(`/me answered ${me.status}: ${text.slice(0, 200)}`);
  if (!me.headers.get('content-type')?.startsWith('application/json') || !me.headers.get('x-request-id')) {
    throw new Error(
      `/me is not a guard answer: content-type ${me.headers.get('content-type')}, x-request-id ${me.headers.get('x-request-id')}`,
    );
  }
  if (text !== EXPECTED_ME) throw new Error(`/me answered ${text}, expected ${EXPECTED_ME}`);
  const anonymous = await fetch(`${base}/me`);
  const refusal = await anonymous.text();
  if (anonymous.status !== 401 || !refusal.includes('"SESSION_REQUIRED"')) {
    throw new Error(`/me without a token answered ${anonymous.status}: ${refusal.slice(0, 200)}`);
  }
  const bare = await fetch(`${base}/bare`, { headers: auth });
  const bareText = await bare.text();
  if (bare.status !== 200 || bareText !== EXPECTED_ME) {
    throw new Error(`/bare answered ${bare.status}: ${bareText.slice(0, 200)}`);
  }
}

/** Which two routes a scenario compares: `subject` beside `baseline`. */
interface RoutePair {
  name: string;
  subject: 'me' | 'observed';
  baseline: 'bare' | 'me';
}

/** Seconds each route is loaded in the route scenarios (all rounds together). */
const routeSeconds = (): number => envNumber('BENCH_GUARD_ROUTE_SECONDS', 10);
/** Alternating rounds of the route scenarios (see the module's comment for why 20). */
const routeRounds = (): number => envNumber('BENCH_ROUNDS', 20);

async function runRoute(
  framework: HttpFramework,
  seconds: number,
  pair: RoutePair = { name: `guard.route.${framework}`, subject: 'me', baseline: 'bare' },
  env: Record<string, string> = {},
): Promise<GuardScenarioResult> {
  const server = spawnChild(
    SERVER,
    { WK_FRAMEWORK: framework, WK_APPID: APP_ID, WK_OPENID: OPENID, ...env },
    `the ${framework} guard server`,
  );
  try {
    const { port, token } = JSON.parse(await server.nextLine(30_000)) as { port: number; token: string };
    const base = `http://127.0.0.1:${port}`;
    const auth = { authorization: `Bearer ${token}` };
    await verifyRoutes(base, auth);
    if (pair.subject === 'observed') {
      const observed = await fetch(`${base}/observed`, { headers: auth });
      const text = await observed.text();
      if (observed.status !== 200 || text !== EXPECTED_ME) {
        throw new Error(`/observed answered ${observed.status}: ${text.slice(0, 200)}`);
      }
    }
    // The same request (with the token) to both routes.
    const get = { method: 'GET' as const, headers: auth };
    const warm = [
      await load(`${base}/${pair.subject}`, get, 0.5),
      await load(`${base}/${pair.baseline}`, get, 0.5),
    ];
    // Alternating rounds (ABBA…) of `seconds / rounds` each: on a shared machine the bare route
    // alone swings a lot between runs; comparing neighbours and taking the median of the per-round
    // ratios keeps that swing out of the ratio.
    const rounds = routeRounds();
    const slice = Math.max(0.5, seconds / rounds);
    const guardedRuns: LoadResult[] = [];
    const bareRuns: LoadResult[] = [];
    const cpu = { subject: 0, baseline: 0, measured: true };
    for (let round = 0; round < rounds; round += 1) {
      const order = round % 2 === 0 ? [pair.subject, pair.baseline] : [pair.baseline, pair.subject];
      for (const route of order) {
        const before = processCpuMicros(server.pid);
        const run = await load(`${base}/${route}`, get, slice);
        const after = processCpuMicros(server.pid);
        if (before === undefined || after === undefined) cpu.measured = false;
        else cpu[route === pair.subject ? 'subject' : 'baseline'] += after - before;
        (route === pair.subject ? guardedRuns : bareRuns).push(run);
      }
    }
    server.send('stats');
    const stats = JSON.parse(await server.nextLine(5000)) as {
      handled: number;
      bare: number;
      observed: number;
    };
    // Every 2xx counted above came from the protected handler (1 from verifyRoutes).
    const answered = 1 + (warm[0]?.completed ?? 0) + guardedRuns.reduce((sum, run) => sum + run.completed, 0);
    if ((pair.subject === 'me' ? stats.handled : stats.observed) < answered) {
      throw new Error(
        `the ${framework} guard server ran its handler ${stats.handled} times for ${answered} answers`,
      );
    }
    const ratios = guardedRuns.map((run, i) => run.opsPerSec / (bareRuns[i]?.opsPerSec ?? Number.NaN));
    const completed = (runs: LoadResult[]) => runs.reduce((sum, run) => sum + run.completed, 0);
    const cpuFields = cpu.measured
      ? {
          cpuMicrosPerRequest: round2(cpu.subject / completed(guardedRuns)),
          baselineCpuMicrosPerRequest: round2(cpu.baseline / completed(bareRuns)),
        }
      : {};
    return {
      ...cpuFields,
      name: pair.name,
      opsPerSec: Math.round(median(guardedRuns.map((run) => run.opsPerSec))),
      baselineOpsPerSec: Math.round(median(bareRuns.map((run) => run.opsPerSec))),
      ratio: round2(median(ratios)),
      p99Ms: round2(median(guardedRuns.map((run) => run.p99Ms))),
      baselineP99Ms: round2(median(bareRuns.map((run) => run.p99Ms))),
    };
  } finally {
    await server.stop();
  }
}

/**
 * The route scenario for every framework, one after the other. A framework that fails to start
 * (or whose check fails) is reported on stderr and left out; the others still run.
 */
export async function guardRouteScenarios(
  frameworks: readonly HttpFramework[] = HTTP_FRAMEWORKS,
): Promise<GuardScenarioResult[]> {
  const seconds = routeSeconds();
  const results: GuardScenarioResult[] = [];
  for (const framework of frameworks) {
    try {
      results.push(await runRoute(framework, seconds));
    } catch (error) {
      process.stderr.write(`guard.route.${framework} skipped: ${message(error)}\n`);
    }
  }
  return results;
}

/**
 * `guard.observed`: the protected route with an audit log and OpenTelemetry tracing beside the
 * same route without them (node:http; target ≥ 0.9×); `.own` with a dropping logger and the no-op
 * tracer; `.floor` with pino and the SDK called by hand instead of through weixin-kit.
 */
export async function guardObservedScenarios(): Promise<GuardScenarioResult[]> {
  const seconds = routeSeconds();
  const results: GuardScenarioResult[] = [];
  for (const mode of ['full', 'own', 'floor'] as const) {
    const name = mode === 'full' ? 'guard.observed' : `guard.observed.${mode}`;
    try {
      results.push(
        await runRoute('node', seconds, { name, subject: 'observed', baseline: 'me' }, { WK_OBSERVE: mode }),
      );
    } catch (error) {
      process.stderr.write(`${name} skipped: ${message(error)}\n`);
    }
  }
  return results;
}

// ---- guard.redisLimit ----------------------------------------------------------------------------

const LIMIT_KEYS = 100;
const IN_FLIGHT = 16;

/** Runs `op` with `IN_FLIGHT` operations in flight for `ms`; latencies (ms) go to `latencies`. */
async function runFor(
  op: () => Promise<unknown>,
  ms: number,
  latencies: number[] | undefined,
): Promise<number> {
  let ops = 0;
  const start = performance.now();
  const deadline = start + ms;
  const worker = async () => {
    while (performance.now() < deadline) {
      const t0 = performance.now();
      await op();
      latencies?.push(performance.now() - t0);
      ops++;
    }
  };
  await Promise.all(Array.from({ length: IN_FLIGHT }, worker));
  return ops / ((performance.now() - start) / 1000);
}

/** The sum of the counters stored under `match` (a SCAN pattern). */
async function storedCount(redis: Redis, match: string): Promise<number> {
  let total = 0;
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', match, 'COUNT', 1000);
    cursor = next;
    if (keys.length > 0) for (const value of await redis.mget(...keys)) total += Number(value ?? 0);
  } while (cursor !== '0');
  return total;
}

/** The Redis limit scenario; undefined (with a message on stderr) when Redis is not reachable. */
export async function guardRedisLimitScenario(): Promise<GuardScenarioResult | undefined> {
  if (!(await redisReachable())) {
    process.stderr.write('guard.redisLimit skipped: Redis not reachable on 127.0.0.1:6379\n');
    return undefined;
  }
  const rounds = envNumber('BENCH_ROUNDS', 5);
  const ms = envNumber('BENCH_GUARD_REDIS_MS', 1000);
  const prefix = `weixin-kit-bench:${randomUUID()}:`;
  const redis = new Redis({ ...REDIS, maxRetriesPerRequest: 1 });
  try {
    await redis.ping();
    const rule = { points: 1e9, durationSeconds: 60 };
    let storeErrors = 0;
    const limiter = createLimiter(rule, {
      name: 'bench',
      redis,
      prefix,
      onStoreError: () => {
        storeErrors++;
      },
    });
    const direct = new RateLimiterRedis({
      storeClient: redis,
      points: rule.points,
      duration: rule.durationSeconds,
      keyPrefix: `${prefix}direct`,
    });
    const keys = Array.from({ length: LIMIT_KEYS }, (_, i) => `oBenchUser${String(i).padStart(18, '0')}`);
    let checks = 0;
    let consumes = 0;
    const candidate = async () => {
      const decision = await limiter.check(keys[checks++ % LIMIT_KEYS] as string);
      if (!decision.allowed) throw new Error('guard.redisLimit: the limiter refused a check');
    };
    const baseline = async () => {
      await direct.consume(keys[consumes++ % LIMIT_KEYS] as string);
    };
    await runFor(candidate, 200, undefined);
    await runFor(baseline, 200, undefined);
    const c: number[] = [];
    const b: number[] = [];
    const cLatencies: number[] = [];
    const bLatencies: number[] = [];
    // Alternating rounds, each pair in the other order than the last (drift hits both sides alike).
    for (let r = 0; r < rounds; r++) {
      if (r % 2 === 0) {
        c.push(await runFor(candidate, ms, cLatencies));
        b.push(await runFor(baseline, ms, bLatencies));
      } else {
        b.push(await runFor(baseline, ms, bLatencies));
        c.push(await runFor(candidate, ms, cLatencies));
      }
    }
    // Every check was counted in Redis, none answered by the in-memory fallback.
    const [inRedis, directInRedis] = [
      await storedCount(redis, `${prefix}bench:*`),
      await storedCount(redis, `${prefix}direct:*`),
    ];
    if (storeErrors > 0 || inRedis !== checks || directInRedis !== consumes) {
      throw new Error(
        `guard.redisLimit: ${checks} checks / ${consumes} consumes made, ${inRedis} / ${directInRedis} counted in Redis, ${storeErrors} store errors`,
      );
    }
    const opsPerSec = Math.round(median(c));
    const baselineOpsPerSec = Math.round(median(b));
    return {
      name: 'guard.redisLimit',
      opsPerSec,
      baselineOpsPerSec,
      ratio: round2(opsPerSec / baselineOpsPerSec),
      p99Ms: Math.round(p99(cLatencies) * 1000) / 1000,
      baselineP99Ms: Math.round(p99(bLatencies) * 1000) / 1000,
    };
  } finally {
    await deleteKeys(redis, prefix);
    await redis.quit();
  }
}

// ---- guard.loginStorm ----------------------------------------------------------------------------

/**
 * The login storm; undefined (with a message on stderr) when Redis is not reachable. Throws when
 * the emulator saw any other number of `jscode2session` calls than 1, or the answers are not one
 * session and refusals (`409`) for the rest.
 */
export async function guardLoginStormScenario(
  processes = 4,
  instancesPerProcess = 5,
): Promise<LoginStormResult | undefined> {
  if (!(await redisReachable())) {
    process.stderr.write('guard.loginStorm skipped: Redis not reachable on 127.0.0.1:6379\n');
    return undefined;
  }
  const app = { appId: APP_ID, secret: 'bench-mini-program-secret', kind: 'mini-program' as const };
  const emulator = await startEmulator({ config: { apps: [app], merchants: [] } });
  const prefix = `weixin-kit-bench:${randomUUID()}:`;
  const redis = new Redis({ ...REDIS, maxRetriesPerRequest: 1 });
  const children: Child[] = [];
  try {
    const calls = async (): Promise<number> => {
      const stats = (await (await fetch(`${emulator.url}/_emulator/stats`)).json()) as {
        calls: Record<string, number>;
      };
      return stats.calls['/sns/jscode2session'] ?? 0;
    };
    const login = await fetch(`${emulator.url}/_emulator/mini-program/login`, {
      method: 'POST',
      body: JSON.stringify({ appId: app.appId, openId: OPENID }),
    });
    const { code } = (await login.json()) as { code: string };
    const before = await calls();
    const env = {
      WK_BASE_URL: emulator.url,
      WK_APPID: app.appId,
      WK_SECRET: app.secret,
      WK_CODE: code,
      WK_PREFIX: prefix,
      WK_INSTANCES: String(instancesPerProcess),
    };
    for (let p = 0; p < processes; p++) children.push(spawnChild(WORKER, env, `login worker ${p + 1}`));
    await Promise.all(
      children.map(async (child) => {
        const line = await child.nextLine(30_000);
        if (line !== 'ready') throw new Error(`a login worker said "${line}" instead of ready`);
      }),
    );
    for (const child of children) child.send('go');
    const outputs = await Promise.all(children.map((child) => child.nextLine(60_000)));
    const jscode2sessionCalls = (await calls()) - before;
    const result: LoginStormResult = {
      name: 'guard.loginStorm',
      processes,
      instances: processes * instancesPerProcess,
      requests: 0,
      ok: 0,
      conflicts: 0,
      other: {},
      jscode2sessionCalls,
      ms: 0,
    };
    for (const output of outputs) {
      const { ms, results } = JSON.parse(output) as {
        ms: number;
        results: Array<{ status: number; code?: string }>;
      };
      result.ms = Math.max(result.ms, Math.round(ms));
      for (const { status, code: errorCode } of results) {
        result.requests++;
        if (status === 200) result.ok++;
        else if (status === 409 && errorCode === 'LOGIN_CODE_USED') result.conflicts++;
        else {
          const what = errorCode === undefined ? String(status) : `${status} ${errorCode}`;
          result.other[what] = (result.other[what] ?? 0) + 1;
        }
      }
    }
    if (
      jscode2sessionCalls !== 1 ||
      result.ok !== 1 ||
      result.conflicts !== result.requests - 1 ||
      result.requests !== result.instances
    ) {
      throw new Error(
        `guard.loginStorm FAILED: ${result.requests} logins with one code on ${result.instances} instances ` +
          `made ${jscode2sessionCalls} jscode2session calls (must be exactly 1); answers: ${result.ok} x 200, ` +
          `${result.conflicts} x 409, other ${JSON.stringify(result.other)}`,
      );
    }
    return result;
  } finally {
    await Promise.all(children.map((child) => child.stop()));
    await deleteKeys(redis, prefix);
    await redis.quit();
    await emulator.close();
  }
}

// ---- all of them -----------------------------------------------------------------------------------

/** Runs the three guard scenarios; a failed login storm throws (the bench fails). */
export async function guardScenarios(): Promise<GuardScenarios> {
  const routes = await guardRouteScenarios();
  const observed = await guardObservedScenarios();
  const redisLimit = await guardRedisLimitScenario();
  const loginStorm = await guardLoginStormScenario();
  return { routes, observed, redisLimit, loginStorm };
}

/** The guard part of the text report. */
export function printGuardTables(guard: GuardScenarios): void {
  const num = (n: number, w = 12) => n.toLocaleString('en-US').padStart(w);
  const ms = (n: number) => n.toFixed(2).padStart(10);
  const cpu = (r: GuardScenarioResult) =>
    r.cpuMicrosPerRequest === undefined || r.baselineCpuMicrosPerRequest === undefined
      ? ''
      : `${r.cpuMicrosPerRequest.toFixed(1).padStart(9)}${r.baselineCpuMicrosPerRequest.toFixed(1).padStart(9)}` +
        `${`${(r.baselineCpuMicrosPerRequest / r.cpuMicrosPerRequest).toFixed(2)}x`.padStart(8)}`;
  const row = (r: GuardScenarioResult) =>
    `${r.name.padEnd(24)}${num(r.opsPerSec)}${num(r.baselineOpsPerSec)}${`${r.ratio.toFixed(2)}x`.padStart(8)}` +
    `${ms(r.p99Ms)}${ms(r.baselineP99Ms)}${cpu(r)}`;
  const cpuHeader = (bare: string) => `${'cpu µs'.padStart(9)}${bare.padStart(9)}${'cpu x'.padStart(8)}`;
  if (guard.routes.length > 0) {
    const seconds = routeSeconds();
    const rounds = routeRounds();
    const connections = envNumber('BENCH_HTTP_CONNECTIONS', 10);
    console.log(
      `\nGuard route: GET /me through guard.protect() (Bearer token verified, session looked up, per-user ` +
        `limit checked, answer masked; memory store) vs the same framework's bare route (/bare, same JSON); ` +
        `target >= 0.80x\n${connections} connections, ${rounds} alternating rounds sharing ${seconds} s per route ` +
        '(medians; ratio = median of per-round ratios), autocannon in a separate process\n' +
        "cpu µs: the server's CPU (user + system, all threads) per request over all rounds; cpu x = bare cpu / guarded cpu, " +
        'the ratio without the load generator competing for the same cores (reported beside the target, not instead of it)\n',
    );
    console.log(
      `${'scenario'.padEnd(24)}${'req/s'.padStart(12)}${'bare req/s'.padStart(12)}${'ratio'.padStart(8)}` +
        `${'p99 ms'.padStart(10)}${'bare p99'.padStart(10)}${cpuHeader('bare')}`,
    );
    for (const r of guard.routes) console.log(row(r));
  }
  if (guard.observed.length > 0) {
    console.log(
      '\nGuard observed: GET /me with an audit log and tracing vs the same guarded route without them ' +
        '(node:http); target >= 0.90x. guard.observed: pino (redact paths) to /dev/null + the OpenTelemetry SDK ' +
        '(batch processor, async-hooks context); guard.observed.own: the same records and spans handed to a ' +
        "logger that drops them and the API's no-op tracer (weixin-kit's own work); guard.observed.floor: the " +
        'plain guarded route wrapped by hand in one SDK span and one pino line of the same fields, nothing of ' +
        "weixin-kit's audit or tracing (the libraries' own cost: the most any integration of them could reach)\n",
    );
    console.log(
      `${'scenario'.padEnd(24)}${'req/s'.padStart(12)}${'plain'.padStart(12)}${'ratio'.padStart(8)}` +
        `${'p99 ms'.padStart(10)}${'pl. p99'.padStart(10)}${cpuHeader('plain')}`,
    );
    for (const r of guard.observed) console.log(row(r));
  }
  if (guard.redisLimit) {
    console.log(
      `\nGuard Redis limit: createLimiter({ redis }).check() vs RateLimiterRedis.consume() on the same ioredis ` +
        `client; ${LIMIT_KEYS} keys round-robin, ${IN_FLIGHT} in flight; target >= 0.90x\n`,
    );
    console.log(
      `${'scenario'.padEnd(24)}${'ops/s'.padStart(12)}${'direct'.padStart(12)}${'ratio'.padStart(8)}` +
        `${'p99 ms'.padStart(10)}${'dir. p99'.padStart(10)}`,
    );
    console.log(row(guard.redisLimit));
  }
  const storm = guard.loginStorm;
  if (storm) {
    const other = Object.entries(storm.other)
      .map(([what, n]) => `${n} x ${what}`)
      .join(', ');
    console.log(
      `\n${storm.name}: one code sent at once through ${storm.instances} guard instances ` +
        `(${storm.processes} processes, shared Redis) against the emulator\n` +
        `  requests: ${storm.requests}  200: ${storm.ok}  409: ${storm.conflicts}${other ? `  other: ${other}` : ''}` +
        `  jscode2session calls: ${storm.jscode2sessionCalls} (must be 1)  ${storm.ms} ms`,
    );
  }
}
