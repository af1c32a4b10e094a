import { type BatchResult, type BatchSpec, runBatch, sumResults } from '../batch.js';
import { child } from '../env.js';
import type { ScenarioContext } from '../matrix.js';

const API_WORKER = new URL('../workers/api-worker.ts', import.meta.url);

/**
 * Runs `spec` in this process (`processes` 1) or split over `processes` child processes released
 * together. `during` runs alongside the batch (revocations, fault injection) until it ends.
 */
export async function batchIn(
  ctx: ScenarioContext,
  processes: number,
  spec: BatchSpec,
  during?: (done: () => boolean) => Promise<void>,
): Promise<BatchResult> {
  let finished = false;
  const done = () => finished || ctx.signal.aborted;
  // The side task's failure is reported once the batch ended (never as an unhandled rejection).
  let sideError: unknown;
  const start = () =>
    during?.(done).catch((error: unknown) => {
      sideError ??= error;
    });
  const settle = async (side: Promise<void> | undefined) => {
    finished = true;
    await side;
    if (sideError !== undefined) throw sideError;
  };
  if (processes === 1) {
    const side = start();
    try {
      return await runBatch(spec);
    } finally {
      await settle(side);
    }
  }
  const share = Math.ceil(spec.calls / processes);
  const workers = Array.from({ length: processes }, (_, i) =>
    child(ctx, API_WORKER, {
      CHAOS_SPEC: JSON.stringify({ ...spec, calls: Math.min(share, spec.calls - i * share) }),
    }),
  );
  await Promise.all(workers.map((w) => w.event('ready', 60_000)));
  for (const w of workers) w.send('go');
  const side = start();
  try {
    const events = await Promise.all(workers.map((w) => w.event('done', ctx.profile.scenarioDeadlineMs)));
    return sumResults(events.map((e) => e.result as BatchResult));
  } finally {
    await settle(side);
  }
}

export type Setup = { label: string; store: 'memory' | 'redis'; processes: number };
