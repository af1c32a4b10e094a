import { describe, expect, it } from 'vitest';
import { anySignal, raceAbort, sleep, timeoutSignal, whenAborted } from '../../src/internal/abort.js';
import { ManualScheduler } from '../helpers/manual-scheduler.js';

describe('anySignal', () => {
  for (const [name, native] of [
    ['the fallback (Node < 20.3)', null],
    ['AbortSignal.any', undefined],
  ] as const) {
    it(`aborts with the first signal's reason: ${name}`, () => {
      const a = new AbortController();
      const b = new AbortController();
      const { signal, dispose } =
        native === null ? anySignal([a.signal, b.signal], null) : anySignal([a.signal, b.signal]);
      expect(signal.aborted).toBe(false);
      const reason = new Error('b');
      b.abort(reason);
      expect(signal.aborted).toBe(true);
      expect(signal.reason).toBe(reason);
      a.abort(new Error('a'));
      expect(signal.reason).toBe(reason);
      dispose();
    });

    it(`is aborted at once when a signal already is: ${name}`, () => {
      const reason = new Error('early');
      const { signal } =
        native === null
          ? anySignal([new AbortController().signal, AbortSignal.abort(reason)], null)
          : anySignal([new AbortController().signal, AbortSignal.abort(reason)]);
      expect(signal.reason).toBe(reason);
    });
  }

  it('fallback: dispose() detaches it from its sources', () => {
    const a = new AbortController();
    const { signal, dispose } = anySignal([a.signal], null);
    dispose();
    a.abort();
    expect(signal.aborted).toBe(false);
  });
});

describe('raceAbort and sleep', () => {
  it('rejects with the reason as soon as the signal aborts', async () => {
    const controller = new AbortController();
    const never = new Promise<never>(() => {});
    const raced = raceAbort(never, controller.signal);
    controller.abort(new Error('stop'));
    await expect(raced).rejects.toThrow('stop');
    await expect(sleep(10_000, AbortSignal.abort(new Error('now')))).rejects.toThrow('now');
  });

  it('settles with the promise otherwise', async () => {
    await expect(raceAbort(Promise.resolve(7), new AbortController().signal)).resolves.toBe(7);
    await expect(sleep(1, undefined)).resolves.toBeUndefined();
  });
});

describe('timeoutSignal', () => {
  it('aborts when the scheduler reaches ms, with the reason AbortSignal.timeout gives', async () => {
    const manual = new ManualScheduler();
    const { signal } = timeoutSignal(100, manual);
    await manual.advance(99);
    expect(signal.aborted).toBe(false);
    await manual.advance(1);
    expect(signal.aborted).toBe(true);
    expect(signal.reason).toBeInstanceOf(DOMException);
    expect((signal.reason as DOMException).name).toBe('TimeoutError');
    const native = AbortSignal.timeout(0);
    await new Promise((resolve) => native.addEventListener('abort', resolve, { once: true }));
    expect((signal.reason as DOMException).message).toBe((native.reason as DOMException).message);
  });

  it('expired rejects with the same reason, right after the signal aborts', async () => {
    const manual = new ManualScheduler();
    const { signal, expired } = timeoutSignal(100, manual);
    const raced = Promise.race([new Promise(() => {}), expired]);
    let seenAborted: boolean | undefined;
    raced.catch(() => {
      seenAborted = signal.aborted;
    });
    await manual.advance(100);
    await expect(raced).rejects.toBe(signal.reason);
    expect(seenAborted).toBe(true);
  });

  it('clear() drops the timer: nothing is left pending and the signal never aborts', async () => {
    const manual = new ManualScheduler();
    const { signal, clear } = timeoutSignal(100, manual);
    expect(manual.pending).toBe(1);
    clear();
    expect(manual.pending).toBe(0);
    await manual.advance(1000);
    expect(signal.aborted).toBe(false);
  });
});

describe('whenAborted', () => {
  it('rejects with the reason when the signal aborts, for every race against it', async () => {
    const controller = new AbortController();
    const { promise, dispose } = whenAborted(controller.signal);
    const never = new Promise<never>(() => {});
    const first = Promise.race([never, promise]);
    const second = Promise.race([never, promise]);
    const reason = new Error('stop');
    controller.abort(reason);
    await expect(first).rejects.toBe(reason);
    await expect(second).rejects.toBe(reason);
    dispose();
  });

  it('is rejected at once for a signal that already aborted (first in a race, it wins)', async () => {
    const reason = new Error('early');
    const { promise } = whenAborted(AbortSignal.abort(reason));
    await expect(Promise.race([promise, Promise.resolve(1)])).rejects.toBe(reason);
  });

  it('dispose() removes its listener: a later abort reaches nothing', async () => {
    const controller = new AbortController();
    const { promise, dispose } = whenAborted(controller.signal);
    let settled = false;
    promise.then(
      () => {
        settled = true;
      },
      () => {
        settled = true;
      },
    );
    dispose();
    controller.abort(new Error('late'));
    await new Promise((resolve) => setImmediate(resolve));
    expect(settled).toBe(false);
  });
});
