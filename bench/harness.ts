/**
 * A small benchmark harness: candidate and baseline run in alternating rounds in the same
 * process (ABBA…: the order flips each round), and each side's median ops/s is reported with the
 * ratio candidate / baseline: the median of the per-round ratios, each round's two sides measured
 * back to back. On a shared machine the speed of both swings between rounds (by 30 % here);
 * neighbours see the same swing, so the paired ratio keeps it out where a ratio of the two
 * medians would not. Ratios from one run are comparable; absolute figures depend on the machine.
 */
export interface ScenarioResult {
  name: string;
  opsPerSec: number;
  baselineOpsPerSec: number;
  ratio: number;
}

function opsPerSecond(fn: () => unknown, ms: number): number {
  let batch = 16;
  let ops = 0;
  const start = process.hrtime.bigint();
  const budget = BigInt(ms) * 1_000_000n;
  let elapsed = 0n;
  while (elapsed < budget) {
    for (let i = 0; i < batch; i++) fn();
    ops += batch;
    elapsed = process.hrtime.bigint() - start;
    if (elapsed < budget / 10n) batch *= 2;
  }
  return ops / (Number(elapsed) / 1e9);
}

/** The middle value (the upper one of an even count). */
export const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? 0;
};

/**
 * Each side first runs for at least this long and at least {@link WARM_UP_OPS} times before it is
 * measured: a job of ~1 ms (the Pay client) got ~100 calls from a time-only warm-up and was then
 * measured while V8 was still tiering it up (its ratio rose from ~0.75 to ~0.9 over the first
 * ~3,000 calls, measured in rounds of 300); fast jobs reach the count in a fraction of the time.
 */
const WARM_UP_MS = 100;
const WARM_UP_OPS = Number(process.env.BENCH_WARM_UP_OPS ?? 3000);

/** Medians of each side and the median of the per-round ratios (rounds paired by index). */
export function summarise(name: string, candidate: number[], baseline: number[]): ScenarioResult {
  const ratios = candidate.map((ops, i) => ops / (baseline[i] ?? Number.NaN));
  return {
    name,
    opsPerSec: Math.round(median(candidate)),
    baselineOpsPerSec: Math.round(median(baseline)),
    ratio: Math.round(median(ratios) * 100) / 100,
  };
}

function warmUp(fn: () => unknown): void {
  const start = performance.now();
  for (let ops = 0; ops < WARM_UP_OPS || performance.now() - start < WARM_UP_MS; ops++) fn();
}

async function warmUpAsync(fn: () => Promise<unknown>): Promise<void> {
  const start = performance.now();
  for (let ops = 0; ops < WARM_UP_OPS || performance.now() - start < WARM_UP_MS; ops++) await fn();
}

export interface CompareOptions {
  rounds?: number;
  msPerRound?: number;
}

/** Runs `candidate` and `baseline` in alternating rounds and returns the medians and ratio. */
export function compare(
  name: string,
  candidate: () => unknown,
  baseline: () => unknown,
  options: CompareOptions = {},
): ScenarioResult {
  const rounds = options.rounds ?? Number(process.env.BENCH_ROUNDS ?? 5);
  const ms = options.msPerRound ?? Number(process.env.BENCH_MS ?? 300);
  warmUp(candidate);
  warmUp(baseline);
  const c: number[] = [];
  const b: number[] = [];
  for (let r = 0; r < rounds; r++) {
    if (r % 2 === 0) {
      c.push(opsPerSecond(candidate, ms));
      b.push(opsPerSecond(baseline, ms));
    } else {
      b.push(opsPerSecond(baseline, ms));
      c.push(opsPerSecond(candidate, ms));
    }
  }
  return summarise(name, c, b);
}

export function printTable(results: ScenarioResult[], notes: Record<string, string>): void {
  const pad = (s: string, n: number) => s.padEnd(n);
  const num = (n: number) => n.toLocaleString('en-US').padStart(12);
  console.log(
    `${pad('scenario', 26)}${'ops/s'.padStart(12)}${'baseline'.padStart(12)}${'ratio'.padStart(8)}  baseline is`,
  );
  for (const r of results) {
    console.log(
      `${pad(r.name, 26)}${num(r.opsPerSec)}${num(r.baselineOpsPerSec)}${`${r.ratio.toFixed(2)}x`.padStart(8)}  ${notes[r.name] ?? ''}`,
    );
  }
}

async function opsPerSecondAsync(fn: () => Promise<unknown>, ms: number): Promise<number> {
  let ops = 0;
  const start = process.hrtime.bigint();
  const budget = BigInt(ms) * 1_000_000n;
  let elapsed = 0n;
  while (elapsed < budget) {
    await fn();
    ops += 1;
    elapsed = process.hrtime.bigint() - start;
  }
  return ops / (Number(elapsed) / 1e9);
}

/** {@link compare} for asynchronous jobs, awaited one after another. */
export async function compareAsync(
  name: string,
  candidate: () => Promise<unknown>,
  baseline: () => Promise<unknown>,
  options: CompareOptions = {},
): Promise<ScenarioResult> {
  const rounds = options.rounds ?? Number(process.env.BENCH_ROUNDS ?? 5);
  const ms = options.msPerRound ?? Number(process.env.BENCH_MS ?? 300);
  await warmUpAsync(candidate);
  await warmUpAsync(baseline);
  const c: number[] = [];
  const b: number[] = [];
  for (let r = 0; r < rounds; r++) {
    if (r % 2 === 0) {
      c.push(await opsPerSecondAsync(candidate, ms));
      b.push(await opsPerSecondAsync(baseline, ms));
    } else {
      b.push(await opsPerSecondAsync(baseline, ms));
      c.push(await opsPerSecondAsync(candidate, ms));
    }
  }
  return summarise(name, c, b);
}

/**
 * What allocating one off-heap `ArrayBuffer` of 320 bytes (a reply's ciphertext) costs on this
 * machine, in ns: the median of three timed loops of `count` after one untimed. Every
 * `Cipher.update`/`Decipher.update` allocates such a buffer, so this explains much of how
 * `callback.handle` differs between machines: ~250 ns where the allocator is uncontended, 1–3 µs
 * on the 2-core VM of the profile notes, where glibc's allocator contends with the thread on which
 * V8 frees swept ArrayBuffers (`node --no-concurrent-array-buffer-sweeping`: ~260 ns).
 */
export function arrayBufferAllocationNs(count = 200_000): number {
  let kept: ArrayBuffer | undefined;
  const loop = (): number => {
    const start = process.hrtime.bigint();
    for (let i = 0; i < count; i++) kept = new ArrayBuffer(320);
    return Number(process.hrtime.bigint() - start) / count;
  };
  loop();
  const timed = [loop(), loop(), loop()];
  if (kept?.byteLength !== 320) throw new Error('arrayBufferAllocationNs: the loop was not run');
  return Math.round(median(timed));
}
