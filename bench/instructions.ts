/**
 * `npm run bench:instructions` — what the guard route costs in instructions, not in seconds.
 *
 * `guard.route` (bench/guard.ts) reads requests per second, and on a shared 2-core VM those move
 * with the neighbour: the same build read 0.73–0.87× on Fastify within one session. This script
 * counts instructions instead (valgrind's callgrind), which do not depend on what else the machine
 * is doing. They are not exact either: V8 decides when to optimise and when to collect garbage as
 * it runs, and two runs of the same build differed by up to ~7 % on one route (Fastify's bare
 * route: 81 k and 87 k instructions a request). Read it for where the cost goes — the framework,
 * the guard's headers, the guard's own work — not to settle a few per cent.
 *
 * Per framework, the guard route's server (bench/fixtures/guard-server.ts, the built package) runs
 * under `valgrind --tool=callgrind`. Four routes are loaded with the same request (a valid Bearer
 * token): `/bare` (the framework's own route), `/bare-headers` (the same plus the four headers every
 * guard answer carries), `/me-unmasked` (the guarded route with masking off, its handler answering
 * the profile already masked) and `/me` (the guarded route). After `BENCH_INSTR_WARMUP` (default 3)
 * passes of 2×N requests per route (JIT warm-up; under valgrind V8 tiers up slowly), each route
 * is measured `BENCH_INSTR_REPS` (default 4) times: the counters are zeroed, N
 * (`BENCH_INSTR_REQUESTS`, default 1500) requests are sent with autocannon (4 connections), the
 * counters are dumped. Instructions per request is the smallest of the repetitions: what lands
 * in a window besides the requests (a major GC, a late optimisation) only ever adds.
 *
 * Counted: every instruction of the server process in user space, all threads (JIT, GC), nothing
 * of the kernel (socket writes), nothing of cache misses. So this is the code's cost; the ratio of
 * requests per second also includes how the machine runs it.
 *
 * Needs valgrind and callgrind_control on PATH (Debian: `apt-get install valgrind`); without them
 * it says so and exits 0. Takes 4–5 minutes a framework here, Express (7× the instructions) over
 * 10. `npm run bench:instructions --
 * fastify hono` measures only those; `--json` prints the figures as JSON.
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { HTTP_FRAMEWORKS, type HttpFramework } from './http.js';
import { envNumber } from './load.js';

const SERVER = fileURLToPath(new URL('./fixtures/guard-server.ts', import.meta.url));
const ROUTES = ['bare', 'bare-headers', 'me-unmasked', 'me'] as const;
type Route = (typeof ROUTES)[number];

export interface InstructionResult {
  framework: HttpFramework;
  /** Instructions per request (smallest repetition) of each route. */
  perRequest: Record<Route, number>;
  /** bare ÷ me: the guard route's cost as a ratio, like guard.route's req/s ratio. */
  ratio: number;
  /** bare ÷ bare-headers: what the guard's four headers alone would leave. */
  headersRatio: number;
  /** Share of the guard route's extra instructions that the headers account for. */
  headersShare: number;
  /** Share of the guard route's extra instructions that its masking walk accounts for (me − me-unmasked). */
  maskingShare: number;
}

interface AutocannonResult {
  errors: number;
  timeouts: number;
  non2xx: number;
  requests: { total: number };
}
type Autocannon = (
  options: {
    url: string;
    headers: Record<string, string>;
    connections: number;
    amount: number;
    timeout: number;
  },
  done: (error: Error | null, result: AutocannonResult) => void,
) => unknown;
const autocannon = createRequire(import.meta.url)('autocannon') as Autocannon;

function send(url: string, token: string, amount: number): Promise<void> {
  return new Promise((resolve, reject) => {
    autocannon(
      { url, headers: { authorization: `Bearer ${token}` }, connections: 4, amount, timeout: 60 },
      (error, result) => {
        if (error) return reject(error);
        if (result.errors || result.timeouts || result.non2xx) {
          return reject(
            new Error(
              `${url}: ${result.errors} errors, ${result.timeouts} timeouts, ${result.non2xx} non-2xx`,
            ),
          );
        }
        resolve();
      },
    );
  });
}

function callgrindControl(args: string[]): void {
  const out = spawnSync('callgrind_control', args, { encoding: 'utf8' });
  if (out.status !== 0) throw new Error(`callgrind_control ${args.join(' ')}: ${out.stderr || out.stdout}`);
}

/** The instruction total of the newest dump in `dir`. */
function lastDumpTotal(dir: string, seen: Set<string>): number {
  const fresh = readdirSync(dir).filter((name) => name.startsWith('cg.out.') && !seen.has(name));
  if (fresh.length !== 1) throw new Error(`expected one new callgrind dump, found ${fresh.length}`);
  const name = fresh[0] as string;
  seen.add(name);
  const match = /^(?:summary|totals): (\d+)/m.exec(readFileSync(join(dir, name), 'utf8'));
  if (match === null) throw new Error(`no total in callgrind dump ${name}`);
  return Number(match[1]);
}

async function measure(framework: HttpFramework): Promise<InstructionResult> {
  const requests = envNumber('BENCH_INSTR_REQUESTS', 1500);
  const reps = envNumber('BENCH_INSTR_REPS', 4);
  const warmup = envNumber('BENCH_INSTR_WARMUP', 3);
  const dir = mkdtempSync(join(tmpdir(), 'wk-instr-'));
  const child = spawn(
    'valgrind',
    [
      '--tool=callgrind',
      `--callgrind-out-file=${join(dir, 'cg.out')}`,
      '--dump-instr=no',
      process.execPath,
      // Optimised code is made on the main thread: under valgrind a background compile job can
      // take long enough to land inside a measured window.
      '--no-concurrent-recompilation',
      '--import',
      'tsx',
      SERVER,
    ],
    {
      env: {
        ...process.env,
        WK_FRAMEWORK: framework,
        WK_APPID: 'wx5a5b5c5d5e5f5a5b',
        WK_OPENID: 'oBenchGuardUser0000000000001',
      },
      stdio: ['pipe', 'pipe', 'pipe'],
    },
  );
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
    stderr = (stderr + chunk).slice(-2000);
  });
  const exited = new Promise<void>((resolve) => child.once('close', () => resolve()));
  try {
    const line = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`no answer from the server in 180 s: ${stderr}`)),
        180_000,
      );
      createInterface({ input: child.stdout }).once('line', (text) => {
        clearTimeout(timer);
        resolve(text);
      });
      void exited.then(() => reject(new Error(`the server exited: ${stderr}`)));
    });
    const { port, token } = JSON.parse(line) as { port: number; token: string };
    const url = (route: Route) => `http://127.0.0.1:${port}/${route}`;
    await checkRoutes(url, token);
    for (let pass = 0; pass < warmup; pass++)
      for (const route of ROUTES) await send(url(route), token, requests * 2);
    const pid = String(child.pid);
    const seen = new Set<string>();
    const counts: Record<Route, number[]> = { bare: [], 'bare-headers': [], 'me-unmasked': [], me: [] };
    for (let rep = 0; rep < reps; rep++) {
      for (const route of ROUTES) {
        callgrindControl(['-z', pid]);
        await send(url(route), token, requests);
        callgrindControl(['-d', route, pid]);
        counts[route].push(lastDumpTotal(dir, seen) / requests);
      }
    }
    const perRequest = {
      bare: Math.round(Math.min(...counts.bare)),
      'bare-headers': Math.round(Math.min(...counts['bare-headers'])),
      'me-unmasked': Math.round(Math.min(...counts['me-unmasked'])),
      me: Math.round(Math.min(...counts.me)),
    };
    const extra = perRequest.me - perRequest.bare;
    const share = (part: number): number => (extra > 0 ? round2(Math.max(0, part) / extra) : 0);
    return {
      framework,
      perRequest,
      ratio: round2(perRequest.bare / perRequest.me),
      headersRatio: round2(perRequest.bare / perRequest['bare-headers']),
      headersShare: share(perRequest['bare-headers'] - perRequest.bare),
      maskingShare: share(perRequest.me - perRequest['me-unmasked']),
    };
  } finally {
    child.stdin.end();
    const killer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    await exited;
    clearTimeout(killer);
    rmSync(dir, { recursive: true, force: true });
  }
}

const round2 = (n: number): number => Math.round(n * 100) / 100;

/**
 * The routes answer the same JSON, and all but `/bare` the guard's headers: else
 * the table would compare different work.
 */
async function checkRoutes(url: (route: Route) => string, token: string): Promise<void> {
  const bodies = new Set<string>();
  for (const route of ROUTES) {
    const answer = await fetch(url(route), { headers: { authorization: `Bearer ${token}` } });
    const text = await answer.text();
    if (answer.status !== 200) throw new Error(`${route} answered ${answer.status}: ${text.slice(0, 200)}`);
    bodies.add(text);
    if (route === 'bare') continue;
    const headers = answer.headers;
    const ok =
      headers.get('content-type') === 'application/json; charset=utf-8' &&
      headers.get('x-content-type-options') === 'nosniff' &&
      headers.get('cache-control') === 'no-store' &&
      /^[0-9a-f]{32}$/.test(headers.get('x-request-id') ?? '');
    if (!ok) {
      const seen = ['content-type', 'x-content-type-options', 'cache-control', 'x-request-id'].map(
        (name) => `${name}: ${headers.get(name)}`,
      );
      throw new Error(`${route} lacks the guard's headers (${seen.join(', ')})`);
    }
  }
  if (bodies.size !== 1) throw new Error(`the routes answer different bodies: ${[...bodies].join(' | ')}`);
}

function hasValgrind(): boolean {
  return (
    spawnSync('valgrind', ['--version'], { encoding: 'utf8' }).status === 0 &&
    spawnSync('callgrind_control', ['-h'], { encoding: 'utf8' }).error === undefined
  );
}

async function main(): Promise<void> {
  const json = process.argv.includes('--json');
  const asked = process.argv.slice(2).filter((arg) => !arg.startsWith('--'));
  const unknown = asked.filter((name) => !(HTTP_FRAMEWORKS as readonly string[]).includes(name));
  if (unknown.length > 0)
    throw new Error(`unknown framework ${unknown.join(', ')}; one of ${HTTP_FRAMEWORKS.join(', ')}`);
  const frameworks = (asked.length > 0 ? asked : HTTP_FRAMEWORKS) as HttpFramework[];
  if (!hasValgrind()) {
    process.stdout.write('bench:instructions skipped: valgrind (callgrind) is not installed\n');
    return;
  }
  const results: InstructionResult[] = [];
  for (const framework of frameworks) {
    process.stderr.write(`instructions: ${framework}…\n`);
    results.push(await measure(framework));
  }
  if (json) {
    process.stdout.write(`${JSON.stringify({ instructions: results }, null, 2)}\n`);
    return;
  }
  process.stdout.write(
    '\nguard route, instructions per request (callgrind, smallest of the repetitions)\n' +
      '| framework | bare | bare + guard headers | guarded, masking off | guarded | bare ÷ guarded | bare ÷ bare+headers | headers share of the extra | masking share of the extra |\n' +
      '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n',
  );
  for (const r of results) {
    process.stdout.write(
      `| ${r.framework} | ${r.perRequest.bare} | ${r.perRequest['bare-headers']} | ${r.perRequest['me-unmasked']} | ${r.perRequest.me} | ${r.ratio} | ${r.headersRatio} | ${Math.round(r.headersShare * 100)} % | ${Math.round(r.maskingShare * 100)} % |\n`,
    );
  }
}

await main();
