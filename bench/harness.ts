/**
 * A small benchmark harness: candidate and baseline run in alternating rounds in the same
 * process, and each side's median ops/s is reported with the ratio candidate / baseline.
 * Ratios from one run are comparable; absolute figures depend on the machine.
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

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? 0;
};

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
  opsPerSecond(candidate, 50);
  opsPerSecond(baseline, 50);
  const c: number[] = [];
  const b: number[] = [];
  for (let r = 0; r < rounds; r++) {
    c.push(opsPerSecond(candidate, ms));
    b.push(opsPerSecond(baseline, ms));
  }
  const opsPerSec = Math.round(median(c));
  const baselineOpsPerSec = Math.round(median(b));
  return {
    name,
    opsPerSec,
    baselineOpsPerSec,
    ratio: Math.round((opsPerSec / baselineOpsPerSec) * 100) / 100,
  };
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
  await opsPerSecondAsync(candidate, 50);
  await opsPerSecondAsync(baseline, 50);
  const c: number[] = [];
  const b: number[] = [];
  for (let r = 0; r < rounds; r++) {
    c.push(await opsPerSecondAsync(candidate, ms));
    b.push(await opsPerSecondAsync(baseline, ms));
  }
  const opsPerSec = Math.round(median(c));
  const baselineOpsPerSec = Math.round(median(b));
  return {
    name,
    opsPerSec,
    baselineOpsPerSec,
    ratio: Math.round((opsPerSec / baselineOpsPerSec) * 100) / 100,
  };
}
