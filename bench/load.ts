/**
 * What the HTTP-level bench scenarios share: numbers from the environment, p99, child processes
 * that talk in lines over stdio, an autocannon run that fails on any error, and a Redis probe.
 */
import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { connect } from 'node:net';

/** A positive number from the environment, else `fallback`. */
export const envNumber = (name: string, fallback: number): number => {
  const value = Number(process.env[name] ?? fallback);
  return Number.isFinite(value) && value > 0 ? value : fallback;
};

export const round2 = (n: number): number => Math.round(n * 100) / 100;

/** The 99th percentile of `samples` (0 for none). */
export const p99 = (samples: number[]): number => {
  if (samples.length === 0) return 0;
  const sorted = Float64Array.from(samples).sort();
  return sorted[Math.min(sorted.length - 1, Math.ceil(sorted.length * 0.99) - 1)] ?? 0;
};

/** True when something answers on 127.0.0.1:6379 within a second. */
export function redisReachable(): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port: 6379 });
    socket.setTimeout(1000, () => {
      socket.destroy();
      resolve(false);
    });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

/** The line of a child's stderr that names its error (the whole stack stays out of the report). */
function firstError(stderr: string): string {
  const lines = stderr
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean);
  return lines.find((l) => /^\w*(Error|Exception)\b/.test(l)) ?? lines.at(-1) ?? '(no output)';
}

/**
 * CPU time (user + system, all threads) a process has used so far, in µs, from /proc (Linux);
 * `undefined` where there is no /proc. Read in USER_HZ ticks (100 per second on Linux, whatever
 * the kernel's own tick rate), so use it over seconds of work.
 */
export function processCpuMicros(pid: number | undefined): number | undefined {
  if (pid === undefined) return undefined;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after "(comm) ": state is 3rd; utime and stime are the 14th and 15th of the line.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) * 10_000;
  } catch {
    return undefined;
  }
}

/** A child process (`node --import tsx script`) that answers in lines on stdout. */
export interface Child {
  /** The process id (for {@link processCpuMicros}). */
  readonly pid: number | undefined;
  /** The next line the child prints on stdout; rejects after `ms` or when the child exits first. */
  nextLine(ms: number): Promise<string>;
  send(line: string): void;
  /** Closes the child's stdin (it exits then), and kills it if it has not exited 3 s later. */
  stop(): Promise<void>;
}

export function spawnChild(script: string, env: Record<string, string>, label: string): Child {
  const child: ChildProcessWithoutNullStreams = spawn(process.execPath, ['--import', 'tsx', script], {
    env: { ...process.env, ...env },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  child.stdin.on('error', () => {}); // a child that died already: its exit is reported instead
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
    stderr = (stderr + chunk).slice(-4000);
  });
  const queued: string[] = [];
  const waiting: Array<(line: string) => void> = [];
  let buffered = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
    buffered += chunk;
    for (let i = buffered.indexOf('\n'); i >= 0; i = buffered.indexOf('\n')) {
      const line = buffered.slice(0, i);
      buffered = buffered.slice(i + 1);
      const waiter = waiting.shift();
      if (waiter) waiter(line);
      else queued.push(line);
    }
  });
  let exited = false;
  const exit = new Promise<void>((resolve) =>
    child.once('close', () => {
      exited = true;
      resolve();
    }),
  );
  const nextLine = (ms: number): Promise<string> =>
    new Promise<string>((resolve, reject) => {
      const line = queued.shift();
      if (line !== undefined) return resolve(line);
      if (exited) return reject(new Error(`${label} exited: ${firstError(stderr)}`));
      const waiter = (l: string) => {
        clearTimeout(timer);
        resolve(l);
      };
      const timer = setTimeout(() => {
        const at = waiting.indexOf(waiter);
        if (at >= 0) waiting.splice(at, 1);
        reject(new Error(`no answer from ${label} in ${ms} ms`));
      }, ms);
      waiting.push(waiter);
      void exit.then(() => {
        clearTimeout(timer);
        reject(new Error(`${label} exited: ${firstError(stderr)}`));
      });
    });
  return {
    pid: child.pid,
    nextLine,
    send: (line) => {
      if (!exited) child.stdin.write(`${line}\n`);
    },
    stop: async () => {
      if (exited) return;
      child.stdin.end();
      const killer = setTimeout(() => child.kill('SIGKILL'), 3000);
      await exit;
      clearTimeout(killer);
    },
  };
}

// autocannon ships no types: the part used here.
interface AutocannonOptions {
  url: string;
  method: 'GET' | 'POST';
  headers: Record<string, string>;
  body?: string;
  connections: number;
  duration: number;
  maxOverallRequests: number;
  timeout: number;
}
interface AutocannonResult {
  duration: number;
  errors: number;
  timeouts: number;
  non2xx: number;
  requests: { total: number };
}
interface AutocannonInstance {
  stop(): void;
  on(event: 'response', listener: (client: unknown, status: number, bytes: number, ms: number) => void): void;
}
type Autocannon = (
  options: AutocannonOptions,
  done: (error: Error | null, result: AutocannonResult) => void,
) => AutocannonInstance;
const autocannon = createRequire(import.meta.url)('autocannon') as Autocannon;

export interface LoadResult {
  opsPerSec: number;
  p99Ms: number;
  completed: number;
}

/**
 * Loads one URL for `seconds` with `BENCH_HTTP_CONNECTIONS` (default 10) connections, at most
 * `BENCH_HTTP_MAX_REQUESTS` (default 1 000 000) requests; any error, timeout or non-2xx answer
 * fails the scenario.
 */
export function load(
  url: string,
  request: { method: 'GET' | 'POST'; headers: Record<string, string>; body?: string },
  seconds: number,
): Promise<LoadResult> {
  const connections = envNumber('BENCH_HTTP_CONNECTIONS', 10);
  const maxOverallRequests = envNumber('BENCH_HTTP_MAX_REQUESTS', 1_000_000);
  const latencies: number[] = [];
  return new Promise<LoadResult>((resolve, reject) => {
    // autocannon stops on its own after `duration`; this timer only covers a hung run.
    let hung: ReturnType<typeof setTimeout> | undefined;
    const instance = autocannon(
      { url, ...request, connections, duration: seconds, maxOverallRequests, timeout: 5 },
      (error, result) => {
        clearTimeout(hung);
        if (error) return reject(error);
        if (result.errors || result.timeouts || result.non2xx) {
          return reject(
            new Error(
              `${url}: ${result.errors} errors, ${result.timeouts} timeouts, ${result.non2xx} non-2xx answers`,
            ),
          );
        }
        // Completed requests over elapsed time: the average rate, also when the count bound ends
        // the run before the time bound.
        resolve({
          opsPerSec: Math.round(result.requests.total / result.duration),
          p99Ms: round2(p99(latencies)),
          completed: result.requests.total,
        });
      },
    );
    instance.on('response', (_client, _status, _bytes, ms) => {
      latencies.push(ms);
    });
    hung = setTimeout(() => instance.stop(), (seconds + 10) * 1000);
  });
}
