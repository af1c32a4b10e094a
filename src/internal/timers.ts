/**
 * Timers behind an injectable {@link Scheduler}, and the one "race against a timer" of the code
 * base. Everything that waits on time (reply budgets, store timeouts, retry back-off) goes through
 * here, so a test drives it with a manual scheduler instead of sleeping on the wall clock.
 */

/**
 * Where timers come from: the global `setTimeout`/`clearTimeout` by default; a test passes a
 * manual one and advances it. The handle is opaque: whatever `setTimeout` returned is what
 * `clearTimeout` gets back.
 *
 * @example
 * // In a test: timers that fire when the test advances them (see test/helpers/manual-scheduler.ts).
 * const callback = createWeChatCallback({ ...options, replyBudgetMs: 50, scheduler: manual });
 * const answer = callback.handle(request);
 * await manual.advance(50); // the budget runs out now, not 50 ms of wall-clock time later
 */
export interface Scheduler {
  /** Calls `fn` once, `ms` from now; returns a handle for {@link clearTimeout}. */
  setTimeout(fn: () => void, ms: number): unknown;
  /** Cancels a timer that has not fired yet (a handle that already fired is ignored). */
  clearTimeout(handle: unknown): void;
  /**
   * Monotonic ms on the same time line as the timers, for measuring how much of a budget is
   * spent (default `performance.now()`). A manual scheduler returns its own time.
   */
  now?(): number;
}

/** The global timers: the default wherever a `scheduler` option is accepted. */
export const systemScheduler: Scheduler = {
  setTimeout(fn, ms) {
    return setTimeout(fn, ms);
  },
  clearTimeout(handle) {
    clearTimeout(handle as Parameters<typeof clearTimeout>[0]);
  },
  now: () => performance.now(),
};

/** The scheduler's monotonic time in ms (`performance.now()` when it has no clock of its own). */
export function elapsedClock(scheduler: Scheduler): number {
  return scheduler.now?.() ?? performance.now();
}

/** True when `value` has the shape of a {@link Scheduler} (for option validation). */
export function isScheduler(value: unknown): value is Scheduler {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as Scheduler).setTimeout === 'function' &&
    typeof (value as Scheduler).clearTimeout === 'function' &&
    ((value as Scheduler).now === undefined || typeof (value as Scheduler).now === 'function')
  );
}

/** Options of {@link raceTimer}. */
export interface RaceTimerOptions {
  /** Where the timer comes from (default {@link systemScheduler}). */
  scheduler?: Scheduler | undefined;
  /**
   * `unref` the timer when the handle supports it (Node's do), so that the deadline alone does
   * not keep a process alive: for bounds on work that holds its own handle (a socket).
   */
  unref?: boolean | undefined;
}

/**
 * Settles like `promise`, unless `ms` pass on the scheduler first: then settles with what
 * `onTimeout` returns (or rejects with what it throws). The timer is cleared either way, and a
 * rejection of `promise` after the deadline is swallowed (the caller has moved on).
 *
 * @example
 * const reply = await raceTimer(handler(), 5000, () => undefined); // undefined: too late
 * const value = await raceTimer(redis.get(key), 1000, () => { throw new Error('no answer'); });
 */
export function raceTimer<T, U>(
  promise: PromiseLike<T>,
  ms: number,
  onTimeout: () => U,
  options: RaceTimerOptions = {},
): Promise<T | U> {
  const scheduler = options.scheduler ?? systemScheduler;
  return new Promise<T | U>((resolve, reject) => {
    let done = false;
    const handle = scheduler.setTimeout(
      () => {
        if (done) return;
        done = true;
        try {
          resolve(onTimeout());
        } catch (error) {
          reject(error);
        }
      },
      Math.max(0, ms),
    );
    if (options.unref === true) (handle as { unref?: () => void } | undefined)?.unref?.();
    promise.then(
      (value) => {
        if (done) return;
        done = true;
        scheduler.clearTimeout(handle);
        resolve(value);
      },
      (error: unknown) => {
        if (done) return;
        done = true;
        scheduler.clearTimeout(handle);
        reject(error);
      },
    );
  });
}
