// A MemoryDedupeStore whose clock is a ManualScheduler's (from `epochMs`), seen through a plain
// DedupeStore that has `extend` only when the test gives one: the lease-renewal tests compare a
// store that can renew with one that cannot, and stores whose renewals fail or are refused.
import { type DedupeStore, MemoryDedupeStore } from '../../src/callbacks/index.js';
import type { ManualScheduler } from './manual-scheduler.js';

export function storeOnScheduler(
  scheduler: ManualScheduler,
  epochMs: number,
  extend?: (memory: MemoryDedupeStore) => NonNullable<DedupeStore['extend']>,
): { store: DedupeStore; memory: MemoryDedupeStore } {
  const memory = new MemoryDedupeStore({ now: () => epochMs + scheduler.now() });
  const store: DedupeStore = {
    claim: (k, t) => memory.claim(k, t),
    release: (k) => memory.release(k),
    complete: (k, t) => memory.complete(k, t),
    isComplete: (k) => memory.isComplete(k),
  };
  if (extend !== undefined) store.extend = extend(memory);
  return { store, memory };
}
