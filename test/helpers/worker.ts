// The worker side of ./cross-process.ts: read the input, wait at the barrier, report one result.
import { createInterface } from 'node:readline';

const RESULT = '@@worker-result ';
const READY = '@@worker-ready';

/** The JSON input `runWorkers` gave this worker (`undefined` when none). */
export function workerInput<T>(): T {
  const raw = process.argv[2];
  return (raw === undefined ? undefined : JSON.parse(raw)) as T;
}

/** Tells the parent this worker is set up, and resolves when the parent releases every worker. */
export function ready(): Promise<void> {
  process.stdout.write(`${READY}\n`);
  const lines = createInterface({ input: process.stdin });
  return new Promise<void>((resolve) => {
    const go = () => {
      lines.close();
      resolve();
    };
    lines.once('line', go);
    lines.once('close', go);
  });
}

/** Hands the worker's result (any JSON value) to the parent. Call it once, at the end. */
export function report(result: unknown): void {
  process.stdout.write(`${RESULT}${JSON.stringify(result)}\n`);
}
