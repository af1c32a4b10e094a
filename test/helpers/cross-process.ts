// The one way tests run code in other processes (several "instances" sharing a Redis store, a
// process warning kept out of the test run's output): start N workers on a TypeScript module,
// optionally release them together, collect the one JSON result each prints, and always kill them
// at the end. Real processes run on the wall clock, so the whole run is bounded by `timeoutMs`.
// Workers use ./worker.ts (`workerInput`, `ready`, `report`).
import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { raceTimer } from '../../src/internal/timers.js';

/** What a worker printed and how it ended. */
export interface WorkerOutcome<T> {
  /** The JSON value the worker passed to `report()`. */
  result: T;
  /** Everything it wrote to stderr (process warnings land here). */
  stderr: string;
}

export interface RunWorkersOptions {
  /** How many processes (default 1). */
  count?: number;
  /** JSON input of worker `i` (read there with `workerInput()`); default none. */
  input?: (index: number) => unknown;
  /**
   * Hold every worker at `ready()` until all are there, then release them together, so that they
   * meet a cold cache at the same moment (default false: workers that never call `ready()`).
   */
  barrier?: boolean;
  /** Bound on the whole run, ms (default 20 000): past it every worker is killed and the run fails. */
  timeoutMs?: number;
  /** Extra environment variables (the parent's are inherited). */
  env?: Record<string, string>;
}

const RESULT = '@@worker-result ';
const READY = '@@worker-ready';

interface Worker {
  child: ChildProcessWithoutNullStreams;
  ready: Promise<void>;
  exited: Promise<{ code: number | null; stdout: string; stderr: string }>;
}

function start(path: string, input: unknown, env: Record<string, string>): Worker {
  // Plain node with tsx's loader: the worker imports the TypeScript sources directly.
  const args = ['--import', 'tsx', path];
  if (input !== undefined) args.push(JSON.stringify(input));
  const child = spawn(process.execPath, args, { env: { ...process.env, ...env }, stdio: 'pipe' });
  // A worker that exits early closes its stdin: writing "go" to it then must not crash the test run.
  child.stdin.on('error', () => {});
  let stdout = '';
  let stderr = '';
  let markReady: () => void = () => {};
  const ready = new Promise<void>((resolve) => {
    markReady = resolve;
  });
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
    stdout += chunk;
    if (stdout.includes(`${READY}\n`)) markReady();
  });
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
    stderr += chunk;
  });
  const exited = new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
    child.once('error', (error) => {
      stderr += String(error);
      resolve({ code: -1, stdout, stderr });
    });
    child.once('close', (code) => resolve({ code, stdout, stderr }));
  });
  // A worker that dies before ready() must not leave the barrier hanging.
  void exited.then(markReady);
  return { child, ready, exited };
}

function outcome<T>(index: number, run: { code: number | null; stdout: string; stderr: string }) {
  const line = run.stdout.split('\n').find((l) => l.startsWith(RESULT));
  if (run.code !== 0 || line === undefined) {
    throw new Error(
      `worker ${index} exited with ${run.code} without a result: ${(run.stderr || run.stdout).slice(0, 2000)}`,
    );
  }
  return { result: JSON.parse(line.slice(RESULT.length)) as T, stderr: run.stderr };
}

/**
 * Runs `count` processes of the worker `module` (a path or a `file:` URL, usually
 * `new URL('./fixtures/x-worker.ts', import.meta.url)`) and resolves with their results in order.
 * Rejects if one exits without a result or the run outlasts `timeoutMs`; kills them all either way.
 */
export async function runWorkers<T>(
  module: string | URL,
  options: RunWorkersOptions = {},
): Promise<Array<WorkerOutcome<T>>> {
  const { count = 1, input, barrier = false, timeoutMs = 20_000, env = {} } = options;
  const path = module instanceof URL ? fileURLToPath(module) : module;
  const workers = Array.from({ length: count }, (_, i) => start(path, input?.(i), env));
  const run = async () => {
    if (barrier) await Promise.all(workers.map((w) => w.ready));
    // "go" releases the workers waiting in ready(); without a barrier nobody waits for it.
    for (const w of workers) if (w.child.exitCode === null) w.child.stdin.end('go\n');
    const runs = await Promise.all(workers.map((w) => w.exited));
    return runs.map((r, i) => outcome<T>(i, r));
  };
  try {
    return await raceTimer(run(), timeoutMs, () => {
      throw new Error(`${count} worker(s) of ${path} did not finish within ${timeoutMs} ms`);
    });
  } finally {
    for (const w of workers)
      if (w.child.exitCode === null && w.child.signalCode === null) w.child.kill('SIGKILL');
    await Promise.all(workers.map((w) => w.exited));
  }
}
