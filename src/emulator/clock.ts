/**
 * The emulator's clock and the work it runs later (refund settlement, notification and push
 * retries, the events WeChat sends a moment after a call).
 *
 * Emulated time is a base clock plus whatever `advance` added. The base is the real clock
 * (`real`, the default: a running demo sees time pass) or the instant the emulator started
 * (`manual`: time moves only when told to, so a test decides exactly when work falls due).
 * Delayed work is due at an emulated instant and runs as soon as emulated time reaches it:
 * when `advance` moves the clock past it, or — with the real clock — when real time does.
 */

/** How emulated time moves: with the real clock, or only when advanced. */
export type ClockMode = 'real' | 'manual';

/** A piece of work waiting for its emulated due time. */
export interface ScheduledWork {
  /** What it is, e.g. `refund settlement R-0001` (listed by `GET /_emulator/scheduled`). */
  readonly label: string;
  /** Emulated ms at which it runs. */
  readonly dueAt: number;
  /** Drops it if it has not run yet. */
  cancel(): void;
}

interface Task {
  seq: number;
  label: string;
  dueAt: number;
  run: () => void | Promise<void>;
}

// setTimeout treats larger delays as 1 ms.
const MAX_TIMER_MS = 2_147_483_647;

/**
 * Emulated time and the work scheduled on it.
 *
 * @example
 * const clock = new EmulatedClock('manual');
 * clock.schedule(60_000, 'refund settlement', () => settle());
 * clock.advance(59_999); // nothing runs
 * clock.advance(1); // settle() runs now
 * await clock.settled(); // and whatever it started has finished
 */
export class EmulatedClock {
  readonly mode: ClockMode;
  readonly #startedAt = Date.now();
  #offsetMs = 0;
  /** Pending work, by due time then scheduling order. */
  #tasks: Task[] = [];
  #seq = 0;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #timerDueAt: number | undefined;
  readonly #running = new Set<Promise<void>>();
  readonly #timeouts = new Set<AbortController>();
  #closed = false;

  constructor(mode: ClockMode = 'real') {
    this.mode = mode;
  }

  /** Emulated time in ms. */
  now(): number {
    return (this.mode === 'real' ? Date.now() : this.#startedAt) + this.#offsetMs;
  }

  /** True once {@link close} ran: nothing is scheduled any more. */
  get closed(): boolean {
    return this.#closed;
  }

  /**
   * Moves emulated time by `ms`, rounded to a whole millisecond (negative moves it back), and
   * runs, in due order, the work that is due by the new time. Each piece starts before `advance`
   * returns; what it awaits (HTTP) continues in the background: {@link settled} waits for it.
   */
  advance(ms: number): void {
    // Whole ms, so that advancing 14.999 s then 0.001 s lands exactly on a 15 s due time.
    this.#offsetMs += Math.round(ms);
    // The real timer was set for the old distance to the soonest task.
    this.#disarm();
    this.#runDue();
  }

  /** Runs `run` once emulated time has moved `delayMs` past now (unless cancelled or closed). */
  schedule(delayMs: number, label: string, run: () => void | Promise<void>): ScheduledWork {
    const task: Task = { seq: this.#seq++, label, dueAt: this.now() + Math.max(0, delayMs), run };
    if (!this.#closed) {
      const at = this.#tasks.findIndex(
        (t) => t.dueAt > task.dueAt || (t.dueAt === task.dueAt && t.seq > task.seq),
      );
      if (at === -1) this.#tasks.push(task);
      else this.#tasks.splice(at, 0, task);
      this.#arm();
    }
    return {
      label,
      dueAt: task.dueAt,
      cancel: () => {
        const at = this.#tasks.indexOf(task);
        if (at === -1) return;
        this.#tasks.splice(at, 1);
        this.#arm();
      },
    };
  }

  /**
   * An AbortSignal that aborts (with a `TimeoutError`) once `ms` of emulated time have passed,
   * or when the clock closes; call `done()` when the guarded work ends to drop the timer.
   */
  timeout(ms: number, label: string): { signal: AbortSignal; done(): void } {
    const controller = new AbortController();
    this.#timeouts.add(controller);
    const work = this.schedule(ms, label, () => {
      this.#timeouts.delete(controller);
      // The reason AbortSignal.timeout gives, so callers cannot tell the two apart.
      controller.abort(new DOMException('The operation was aborted due to timeout', 'TimeoutError'));
    });
    if (this.#closed) controller.abort(new DOMException('the emulator closed', 'AbortError'));
    return {
      signal: controller.signal,
      done: () => {
        this.#timeouts.delete(controller);
        work.cancel();
      },
    };
  }

  /**
   * Resolves once `ms` of emulated time have passed: an injected latency. On the manual clock it
   * is pending work named `label` that {@link advance} ends (a test waits on nothing real), and it
   * rejects with an `AbortError` if the clock closes first. On the real clock it is a plain timer
   * of `ms` real ms, as a slow server's answer is: `advance` does not cut it short, and it keeps
   * the process alive like any request in flight.
   */
  delay(ms: number, label: string): Promise<void> {
    if (this.mode === 'real') return new Promise((resolve) => setTimeout(resolve, ms));
    const { signal } = this.timeout(ms, label);
    return new Promise((resolve, reject) => {
      const settle = () =>
        (signal.reason as { name?: unknown } | undefined)?.name === 'TimeoutError'
          ? resolve()
          : reject(signal.reason);
      if (signal.aborted) settle();
      else signal.addEventListener('abort', settle, { once: true });
    });
  }

  /** The pending work, soonest first. */
  pending(): Array<{ label: string; dueAt: number }> {
    return this.#tasks.map(({ label, dueAt }) => ({ label, dueAt }));
  }

  /** Resolves once the work that has started (and the work it started in turn) has finished. */
  async settled(): Promise<void> {
    while (this.#running.size > 0) await Promise.all([...this.#running]);
  }

  /** Drops pending work, stops the timer and aborts pending timeouts. */
  close(): void {
    this.#closed = true;
    this.#tasks = [];
    this.#arm();
    for (const controller of this.#timeouts) {
      controller.abort(new DOMException('the emulator closed', 'AbortError'));
    }
    this.#timeouts.clear();
  }

  #runDue(): void {
    const now = this.now();
    for (let task = this.#tasks[0]; task !== undefined && task.dueAt <= now; task = this.#tasks[0]) {
      this.#tasks.shift();
      this.#start(task);
    }
    this.#arm();
  }

  #start(task: Task): void {
    let outcome: void | Promise<void>;
    try {
      outcome = task.run();
    } catch {
      // Delayed work reports its own failures (delivery logs, push results); it never throws out.
      return;
    }
    if (!(outcome instanceof Promise)) return;
    const running: Promise<void> = outcome
      .catch(() => {})
      .finally(() => {
        this.#running.delete(running);
      });
    this.#running.add(running);
  }

  /** Keeps one real timer, for the soonest task, while the clock follows real time. */
  #arm(): void {
    const next = this.#tasks[0];
    const wanted = this.mode === 'real' && !this.#closed ? next?.dueAt : undefined;
    if (wanted === this.#timerDueAt && (wanted === undefined || this.#timer !== undefined)) return;
    this.#disarm();
    if (wanted === undefined) return;
    this.#timerDueAt = wanted;
    const timer = setTimeout(
      () => {
        this.#timer = undefined;
        this.#timerDueAt = undefined;
        this.#runDue();
      },
      Math.min(MAX_TIMER_MS, Math.max(0, wanted - this.now())),
    );
    // Pending retries must not keep a process alive on their own.
    timer.unref?.();
    this.#timer = timer;
  }

  #disarm(): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#timerDueAt = undefined;
  }
}
