// Injected time for tests: a Scheduler whose timers fire only when the test advances it, so a
// budget or a back-off is exercised without waiting for it on the wall clock.
import type { Scheduler } from '../../src/internal/timers.js';

interface Timer {
  id: number;
  at: number;
  fn: () => void;
}

/** Resolves once every promise reaction already queued (and those they queue) has run. */
export const drain = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/**
 * Resolves once `check()` holds, draining the event loop between checks (each turn lets sockets
 * deliver), so a test waits for work another component does over loopback without a wall-clock
 * timer. Fails after `turns` turns instead of spinning until the test times out.
 */
export async function drainUntil(
  check: () => boolean,
  what = 'the condition',
  turns = 100_000,
): Promise<void> {
  for (let turn = 0; turn < turns; turn += 1) {
    if (check()) return;
    await drain();
  }
  throw new Error(`${what} did not happen within ${turns} event-loop turns`);
}

/**
 * A {@link Scheduler} on virtual time. `advance(ms)` fires the timers that fall due, in order,
 * letting the promise chains each one starts run before the next fires.
 */
export class ManualScheduler implements Scheduler {
  #now = 0;
  #seq = 0;
  #timers: Timer[] = [];
  #waiters: Array<() => void> = [];

  setTimeout(fn: () => void, ms: number): unknown {
    const timer: Timer = { id: ++this.#seq, at: this.#now + Math.max(0, ms), fn };
    this.#timers.push(timer);
    this.#timers.sort((a, b) => a.at - b.at || a.id - b.id);
    for (const wake of this.#waiters.splice(0)) wake();
    return timer.id;
  }

  clearTimeout(handle: unknown): void {
    this.#timers = this.#timers.filter((t) => t.id !== handle);
  }

  now(): number {
    return this.#now;
  }

  /** Timers set and not yet fired or cleared. */
  get pending(): number {
    return this.#timers.length;
  }

  /** Resolves once at least one timer is pending (the code under test reached its wait). */
  whenPending(): Promise<void> {
    if (this.#timers.length > 0) return Promise.resolve();
    return new Promise((resolve) => this.#waiters.push(resolve));
  }

  /** Moves virtual time forward by `ms`, firing what falls due on the way. */
  async advance(ms: number): Promise<void> {
    const target = this.#now + ms;
    for (let next = this.#timers[0]; next !== undefined && next.at <= target; next = this.#timers[0]) {
      this.#timers.shift();
      this.#now = next.at;
      next.fn();
      await drain();
    }
    this.#now = target;
    await drain();
  }
}
