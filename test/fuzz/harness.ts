/**
 * The fuzz harness: every property runs once per seed of a FIXED seed list, so CI is
 * deterministic, and each run's slowest input is measured (a hang shows as a huge figure long
 * before the test timeout).
 *
 * - CI (default): each property runs its own small `ciRuns` per seed (the suite stays well under
 *   30 s on two cores).
 * - Long mode: `FUZZ_RUNS=100000 npx vitest run test/fuzz` runs every property that many times per
 *   seed (`npm run fuzz -- --long` does that and prints the table).
 * - Other seeds: `FUZZ_SEEDS=7,8,9` replaces the list. Replay a failure with the `FUZZ_SEED` and
 *   `FUZZ_PATH` the failure message prints.
 * - `FUZZ_REPORT_DIR=<dir>`: each test file writes its rows (target, runs, seeds, failures, max ms
 *   per input) there as JSON, for `scripts/fuzz.mjs` to print.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import fc from 'fast-check';
import { afterAll, expect } from 'vitest';
import { WeChatKitError } from '../../src/errors.js';

/** The fixed seeds CI runs every property with. */
export const SEEDS: readonly number[] = [20_261_201, 1_714_036_504, 424_242];

function envInt(name: string): number | undefined {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return undefined;
  const value = Number(raw);
  if (!Number.isSafeInteger(value))
    throw new Error(`${name} must be an integer (got ${JSON.stringify(raw)})`);
  return value;
}

const LONG_RUNS = envInt('FUZZ_RUNS');
const ONLY_SEED = envInt('FUZZ_SEED');
const ONLY_PATH = process.env.FUZZ_PATH || undefined;
const SEED_LIST = process.env.FUZZ_SEEDS
  ? process.env.FUZZ_SEEDS.split(',').map((s) => {
      const n = Number(s.trim());
      if (!Number.isSafeInteger(n)) throw new Error(`FUZZ_SEEDS holds a non-integer: ${s}`);
      return n;
    })
  : SEEDS;

/** True in long mode (`FUZZ_RUNS` set): timing-sensitive checks may then use more repetitions. */
export const LONG_MODE = LONG_RUNS !== undefined;

/** One line of the fuzz table. */
export interface FuzzRow {
  file: string;
  target: string;
  runs: number;
  seeds: number;
  failures: number;
  maxMs: number;
}

/** One line of the scaling table: parse time at size n and 16n, and their ratio. */
export interface ScalingRow {
  file: string;
  target: string;
  n: number;
  msAtN: number;
  msAt16N: number;
  ratio: number;
}

const rows: FuzzRow[] = [];
const scaling: ScalingRow[] = [];
let file = 'fuzz';

/** Names the test file in the table and the replay hint; call once at the top of each file. */
export function fuzzFile(url: string): void {
  file = basename(new URL(url).pathname);
}

afterAll(() => {
  const dir = process.env.FUZZ_REPORT_DIR;
  if (dir === undefined || dir === '' || rows.length + scaling.length === 0) return;
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, `${file}.json`), JSON.stringify({ rows, scaling }));
});

export interface FuzzOptions {
  /** Runs per seed in CI (long mode uses `FUZZ_RUNS`). */
  ciRuns: number;
  /** Longest one input may take, ms (default 2000): a slower one fails the target as a near-hang. */
  maxMsPerInput?: number;
}

/**
 * Checks `predicate` on values of `arbitrary` with every seed. A failure (a thrown error, a
 * predicate returning false, an input slower than `maxMsPerInput`) fails the test with the seed,
 * the fast-check path and the command that replays it.
 */
export async function fuzz<T>(
  target: string,
  arbitrary: fc.Arbitrary<T>,
  predicate: (value: T) => unknown,
  options: FuzzOptions,
): Promise<FuzzRow> {
  const runs = LONG_RUNS ?? options.ciRuns;
  const limit = options.maxMsPerInput ?? 2000;
  const seeds = ONLY_SEED === undefined ? SEED_LIST : [ONLY_SEED];
  let maxMs = 0;
  const failures: string[] = [];
  const timed = async (value: T): Promise<void> => {
    const started = performance.now();
    const result = await predicate(value);
    const ms = performance.now() - started;
    if (ms > maxMs) maxMs = ms;
    if (result === false) throw new Error('the predicate returned false');
    if (ms > limit) throw new Error(`one input took ${ms.toFixed(0)} ms, over the ${limit} ms budget`);
  };
  for (const seed of seeds) {
    const details = await fc.check(fc.asyncProperty(arbitrary, timed), {
      seed,
      numRuns: runs,
      ...(ONLY_PATH === undefined ? {} : { path: ONLY_PATH, endOnFailure: true }),
    });
    if (details.failed) {
      // -t matches the test's title (a regular expression): the title of the running test, escaped.
      const title = (expect.getState().currentTestName ?? target).split(' > ').pop() ?? target;
      const pattern = title.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
      const replay =
        `FUZZ_SEED=${details.seed} FUZZ_PATH=${details.counterexamplePath ?? ''} ` +
        `npx vitest run test/fuzz/${file} -t ${JSON.stringify(pattern)}`;
      failures.push(
        `[${target}] seed ${details.seed}, path ${details.counterexamplePath}\n` +
          `  replay: ${replay}\n` +
          `  counterexample: ${fc.stringify(details.counterexample).slice(0, 2000)}\n` +
          `  error: ${String((details.errorInstance as Error | undefined)?.stack ?? details.errorInstance).slice(0, 2000)}`,
      );
    }
  }
  const row: FuzzRow = {
    file,
    target,
    runs: runs * seeds.length,
    seeds: seeds.length,
    failures: failures.length,
    maxMs: Math.round(maxMs * 10) / 10,
  };
  rows.push(row);
  if (failures.length > 0) {
    throw new Error(failures.join('\n'));
  }
  return row;
}

/**
 * Runs `fn`; the only acceptable failure is a weixin-kit error with one of `codes`. Returns `'ok'`
 * or the code. Anything else — a TypeError, a RangeError, a plain Error — fails the property.
 */
export function typedOnly(fn: () => unknown, codes: readonly string[]): string {
  try {
    fn();
    return 'ok';
  } catch (error) {
    return checkTyped(error, codes);
  }
}

/** {@link typedOnly} for an async function. */
export async function typedOnlyAsync(fn: () => Promise<unknown>, codes: readonly string[]): Promise<string> {
  try {
    await fn();
    return 'ok';
  } catch (error) {
    return checkTyped(error, codes);
  }
}

function checkTyped(error: unknown, codes: readonly string[]): string {
  if (!(error instanceof WeChatKitError)) {
    throw new Error(`untyped error: ${(error as Error)?.stack ?? String(error)}`);
  }
  expect(codes, `unexpected code ${error.code}: ${error.message}`).toContain(error.code);
  expect(error.message.length).toBeGreaterThan(0);
  return error.code;
}

/**
 * Times `make(n)` and `make(16 * n)` and asserts time(16n) / time(n) < 16 x `slack` (default 4):
 * linear work passes with room for a noisy shared machine, quadratic work (256x) does not.
 *
 * How it stays stable on a loaded two-core machine: sizes are kept small (the large input tens of
 * kilobytes: a quadratic step is already 256x there, while multi-megabyte strings bring GC and
 * large-object-space cliffs of their own); one sample runs the large input k times (k calibrated so
 * a sample lasts about 1 ms) and the small input 16k times, so both samples cover the same amount
 * of input; each figure is the fastest of `reps` samples after a warm-up, because noise (other
 * processes, GC) only ever adds time; and a failing ratio is measured again, up to 3 times.
 */
export async function assertLinear(
  target: string,
  make: (n: number) => () => unknown,
  n: number,
  options: { reps?: number; slack?: number } = {},
): Promise<ScalingRow> {
  const reps = options.reps ?? (LONG_MODE ? 21 : 5);
  const bound = 16 * (options.slack ?? 4);
  const small = make(n);
  const large = make(16 * n);
  const repeat = (fn: () => unknown, times: number) => async () => {
    for (let i = 0; i < times; i++) await fn();
  };
  for (let i = 0; i < 3; i++) {
    await small();
    await large();
  }
  const once = await minMs(large, 3);
  const k = Math.max(1, Math.min(200, Math.ceil(1 / Math.max(once, 0.001))));
  let row: ScalingRow | undefined;
  for (let attempt = 0; attempt < 3; attempt++) {
    const msAtN = (await minMs(repeat(small, 16 * k), reps)) / (16 * k);
    const msAt16N = (await minMs(repeat(large, k), reps)) / k;
    const ratio = msAt16N / Math.max(msAtN, 1e-6);
    row = { file, target, n, msAtN: round(msAtN), msAt16N: round(msAt16N), ratio: round(ratio) };
    if (ratio < bound) break;
  }
  const result = row as ScalingRow;
  scaling.push(result);
  expect(
    result.ratio,
    `${target}: 16x the input took ${result.ratio}x the time (${result.msAtN} -> ${result.msAt16N} ms)`,
  ).toBeLessThan(bound);
  return result;
}

function round(x: number): number {
  return Math.round(x * 10_000) / 10_000;
}

/** The fastest of `reps` timings of `fn` (awaited when it returns a promise), in ms. */
export async function minMs(fn: () => unknown, reps: number): Promise<number> {
  let best = Number.POSITIVE_INFINITY;
  for (let i = 0; i < reps; i++) {
    const started = performance.now();
    await fn();
    best = Math.min(best, performance.now() - started);
  }
  return best;
}
