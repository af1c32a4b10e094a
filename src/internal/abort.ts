/**
 * Abort-signal helpers for the transport: combining signals (with a fallback for Node < 20.3,
 * which lacks `AbortSignal.any`), racing a promise against a signal, and a timeout signal and an
 * abortable sleep on an injectable scheduler (a race against a timer is `raceTimer`, in `timers.ts`).
 */

import { type Scheduler, systemScheduler } from './timers.js';

/**
 * Aborts when any of `signals` aborts, with that signal's reason. Uses `AbortSignal.any` when the
 * runtime has it (Node ≥ 20.3), else listeners removed by `dispose()`; pass `native: null` to force
 * the fallback.
 */
export function anySignal(
  signals: AbortSignal[],
  native: ((signals: AbortSignal[]) => AbortSignal) | null = nativeAny(),
): { signal: AbortSignal; dispose(): void } {
  if (native !== null) return { signal: native(signals), dispose() {} };
  const controller = new AbortController();
  const listeners: Array<() => void> = [];
  const dispose = () => {
    for (const [index, signal] of signals.entries()) {
      const listener = listeners[index];
      if (listener) signal.removeEventListener('abort', listener);
    }
  };
  for (const signal of signals) {
    if (signal.aborted) {
      controller.abort(signal.reason);
      dispose();
      break;
    }
    const listener = () => {
      controller.abort(signal.reason);
      dispose();
    };
    listeners.push(listener);
    signal.addEventListener('abort', listener, { once: true });
  }
  return { signal: controller.signal, dispose };
}

/** Settles with `promise`, or rejects with the signal's reason as soon as it aborts (for a `fetch` that ignores signals). */
export function raceAbort<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) {
    promise.then(undefined, () => {});
    return Promise.reject(signal.reason);
  }
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (error: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(error);
      },
    );
  });
}

/** Resolves after `ms` on `scheduler`, or rejects with the signal's reason as soon as it aborts. */
export function sleep(
  ms: number,
  signal: AbortSignal | undefined,
  scheduler: Scheduler = systemScheduler,
): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(signal.reason);
      return;
    }
    const onAbort = () => {
      scheduler.clearTimeout(timer);
      reject(signal?.reason);
    };
    const timer = scheduler.setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/**
 * `AbortSignal.timeout(ms)` on `scheduler`: aborts once `ms` pass, with the same reason (a
 * `DOMException` named `TimeoutError`), so a manual scheduler decides when. `clear()` drops the
 * timer once the guarded work is over (call it on every path: the timer is not left behind).
 * Like `AbortSignal.timeout`'s, the timer is unref'd where the handle allows: the bound alone does
 * not keep a process alive, the guarded work (a socket) does.
 */
export function timeoutSignal(
  ms: number,
  scheduler: Scheduler = systemScheduler,
): { signal: AbortSignal; expired: Promise<never>; clear(): void } {
  const controller = new AbortController();
  let expire: (reason: unknown) => void = () => {};
  // `expired` rejects right after the signal aborts (same reason): steps raced against it need no
  // 'abort' listener, whose first one costs ~10 µs on a new signal on Node 20 (0.6 µs on Node 22).
  const expired = new Promise<never>((_, reject) => {
    expire = reject;
  });
  expired.catch(() => {});
  const handle = scheduler.setTimeout(
    () => {
      const reason = new DOMException('The operation was aborted due to timeout', 'TimeoutError');
      controller.abort(reason);
      expire(reason);
    },
    Math.max(0, ms),
  );
  (handle as { unref?: () => void } | undefined)?.unref?.();
  return { signal: controller.signal, expired, clear: () => scheduler.clearTimeout(handle) };
}

/**
 * Rejects with `signal`'s reason once it aborts (at once when it has), from one listener however
 * many steps are raced against it; `dispose()` removes the listener. For a caller's signal; the
 * rejection is handled here, so an abort with no race pending is not reported as unhandled.
 */
export function whenAborted(signal: AbortSignal): { promise: Promise<never>; dispose(): void } {
  if (signal.aborted) {
    const promise = Promise.reject<never>(signal.reason);
    promise.catch(() => {});
    return { promise, dispose() {} };
  }
  let onAbort: () => void = () => {};
  const promise = new Promise<never>((_, reject) => {
    onAbort = () => reject(signal.reason);
  });
  promise.catch(() => {});
  signal.addEventListener('abort', onAbort, { once: true });
  return { promise, dispose: () => signal.removeEventListener('abort', onAbort) };
}

function nativeAny(): ((signals: AbortSignal[]) => AbortSignal) | null {
  const any = (AbortSignal as { any?: (signals: AbortSignal[]) => AbortSignal }).any;
  return typeof any === 'function' ? (signals) => any.call(AbortSignal, signals) : null;
}
