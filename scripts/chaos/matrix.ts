/**
 * The chaos matrix: scenarios (emulator faults, Redis outages, killed instances, skewed clocks)
 * × client set-ups, each row a figure and a verdict. `runMatrix` runs the selected scenarios one
 * after another, each bounded by its own deadline and cleaning up after itself, and returns the
 * rows; `formatTable` prints them.
 */
import { raceTimer } from '../../src/internal/timers.js';

export type ProfileName = 'short' | 'full';

/** Sizes and periods of one run: `short` for CI (well under 90 s), `full` for the documented run. */
export interface Profile {
  name: ProfileName;
  /** Calls in the revocation batch, and the revocation period. */
  revokeCalls: number;
  revokeEveryMs: number;
  /** Calls in the -1 / latency / drop / truncate batches. */
  faultCalls: number;
  /**
   * Per-attempt timeout of the clients under latency faults, ms (the spikes last 2.5 times as
   * long). Other fault rows use 3000 ms, far above this machine's loaded latency.
   */
  timeoutMs: number;
  /** Payments made in the Pay notification scenario, and the emulator's `retryTimeScale`. */
  payments: number;
  payRetryTimeScale: number;
  /** Pushes in the callback scenario. */
  pushes: number;
  /** Refresh lease of the Redis outage scenario, ms. */
  leaseTtlMs: number;
  /** Bound on one scenario, ms: past it the scenario's rows fail with "timed out". */
  scenarioDeadlineMs: number;
}

export const PROFILES: Record<ProfileName, Profile> = {
  short: {
    name: 'short',
    revokeCalls: 300,
    revokeEveryMs: 1000,
    faultCalls: 200,
    timeoutMs: 800,
    payments: 6,
    payRetryTimeScale: 100,
    pushes: 20,
    leaseTtlMs: 3000,
    scenarioDeadlineMs: 90_000,
  },
  full: {
    name: 'full',
    revokeCalls: 10_000,
    revokeEveryMs: 2000,
    faultCalls: 2000,
    timeoutMs: 1000,
    payments: 40,
    payRetryTimeScale: 20,
    pushes: 200,
    leaseTtlMs: 5000,
    scenarioDeadlineMs: 1_200_000,
  },
};

export type Verdict = 'pass' | 'FAIL' | 'skip';

/** One row of the table: what ran, under which set-up, what was measured, and the verdict. */
export interface Row {
  scenario: string;
  setup: string;
  figures: string;
  verdict: Verdict;
  /** Why a row failed or was skipped (printed under the table). */
  note?: string;
}

/** What a scenario gets: the profile, a way to add rows, and a place to register cleanups. */
export interface ScenarioContext {
  profile: Profile;
  /** Adds a row; `ok` false makes it FAIL. */
  row(setup: string, figures: string, ok: boolean, note?: string): void;
  skip(setup: string, note: string): void;
  /** Runs at the end of the scenario, last registered first, even when it failed or timed out. */
  defer(cleanup: () => unknown): void;
  /** Aborted when the scenario's deadline passes: long loops check it. */
  signal: AbortSignal;
}

export interface Scenario {
  /** Short name for `--only` (e.g. `revoke`). */
  id: string;
  name: string;
  run(ctx: ScenarioContext): Promise<void>;
}

export interface RunOptions {
  profile: Profile;
  /** Only the scenarios with these ids (default all). */
  only?: readonly string[];
  /** Called after each scenario with its rows (the CLI prints progress). */
  onScenario?(name: string, rows: Row[], ms: number): void;
}

/** Runs the scenarios one at a time and returns every row. A scenario that throws adds a FAIL row. */
export async function runMatrix(scenarios: readonly Scenario[], options: RunOptions): Promise<Row[]> {
  const all: Row[] = [];
  for (const scenario of scenarios) {
    if (options.only !== undefined && !options.only.includes(scenario.id)) continue;
    const rows: Row[] = [];
    const cleanups: Array<() => unknown> = [];
    const controller = new AbortController();
    const ctx: ScenarioContext = {
      profile: options.profile,
      row: (setup, figures, ok, note) =>
        rows.push({
          scenario: scenario.name,
          setup,
          figures,
          verdict: ok ? 'pass' : 'FAIL',
          ...(note === undefined ? {} : { note }),
        }),
      skip: (setup, note) =>
        rows.push({ scenario: scenario.name, setup, figures: '-', verdict: 'skip', note }),
      defer: (cleanup) => cleanups.push(cleanup),
      signal: controller.signal,
    };
    const started = performance.now();
    try {
      await raceTimer(scenario.run(ctx), options.profile.scenarioDeadlineMs, () => {
        controller.abort();
        throw new Error(`timed out after ${options.profile.scenarioDeadlineMs} ms`);
      });
    } catch (error) {
      rows.push({
        scenario: scenario.name,
        setup: '(scenario)',
        figures: '-',
        verdict: 'FAIL',
        note: error instanceof Error ? (error.stack ?? error.message) : String(error),
      });
    } finally {
      controller.abort();
      for (const cleanup of cleanups.reverse()) {
        try {
          await raceTimer(Promise.resolve().then(cleanup), 10_000, () => {
            throw new Error('cleanup timed out');
          });
        } catch (error) {
          rows.push({
            scenario: scenario.name,
            setup: '(cleanup)',
            figures: '-',
            verdict: 'FAIL',
            note: error instanceof Error ? error.message : String(error),
          });
        }
      }
    }
    options.onScenario?.(scenario.name, rows, performance.now() - started);
    all.push(...rows);
  }
  return all;
}

/** The rows as a Markdown table, followed by the notes of failed and skipped rows. */
export function formatTable(rows: readonly Row[]): string {
  const header = ['scenario', 'set-up', 'figures', 'result'];
  const cells = rows.map((r) => [r.scenario, r.setup, r.figures, r.verdict]);
  const widths = header.map((h, i) => Math.max(h.length, ...cells.map((c) => (c[i] ?? '').length)));
  const line = (c: string[]) => `| ${c.map((v, i) => v.padEnd(widths[i] ?? 0)).join(' | ')} |`;
  const out = [line(header), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...cells.map(line)];
  const notes = rows.filter((r) => r.note !== undefined && r.verdict !== 'pass');
  if (notes.length > 0) {
    out.push('');
    for (const r of notes) out.push(`${r.verdict} ${r.scenario} / ${r.setup}: ${r.note}`);
  }
  return out.join('\n');
}

/** The p-th percentile (0–100) of `values`, 0 when empty. */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  const index = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[index] ?? 0;
}
