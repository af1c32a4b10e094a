import { describe, expect, it } from 'vitest';
import { anySignal, raceAbort, sleep } from '../../src/internal/abort.js';

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
