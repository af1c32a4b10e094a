import { describe, expect, it } from 'vitest';
import { sleep } from '../../src/internal/abort.js';
import { elapsedClock, isScheduler, raceTimer, systemScheduler } from '../../src/internal/timers.js';
import { deferred as later } from '../helpers/deferred.js';
import { ManualScheduler } from '../helpers/manual-scheduler.js';

describe('raceTimer', () => {
  it('settles with the promise when it wins, and clears its timer', async () => {
    const scheduler = new ManualScheduler();
    const work = later<string>();
    const raced = raceTimer(work.promise, 100, () => 'late', { scheduler });
    expect(scheduler.pending).toBe(1);
    await scheduler.advance(99);
    work.resolve('done');
    await expect(raced).resolves.toBe('done');
    expect(scheduler.pending).toBe(0);
  });

  it("settles with onTimeout's value once the time has passed, and ignores the promise after", async () => {
    const scheduler = new ManualScheduler();
    const work = later<string>();
    const raced = raceTimer(work.promise, 100, () => 'late', { scheduler });
    await scheduler.advance(100);
    await expect(raced).resolves.toBe('late');
    // A rejection after the deadline is nobody's business any more: no unhandled rejection.
    work.reject(new Error('too late to matter'));
    await scheduler.advance(1);
  });

  it('rejects with what onTimeout throws, and with what the promise rejects with', async () => {
    const scheduler = new ManualScheduler();
    const hung = raceTimer(
      new Promise(() => {}),
      10,
      () => {
        throw new Error('no answer within 10 ms');
      },
      { scheduler },
    );
    const refused = expect(hung).rejects.toThrow('no answer within 10 ms');
    await scheduler.advance(10);
    await refused;
    const failed = raceTimer(Promise.reject(new Error('boom')), 10, () => 'late', { scheduler });
    await expect(failed).rejects.toThrow('boom');
    expect(scheduler.pending).toBe(0);
  });

  it('runs on the global timers by default, unref-ing them on request', async () => {
    await expect(raceTimer(Promise.resolve(1), 1000, () => 2)).resolves.toBe(1);
    await expect(raceTimer(new Promise(() => {}), 0, () => 'late', { unref: true })).resolves.toBe('late');
  });
});

describe('sleep on a scheduler', () => {
  it('resolves when the scheduler reaches the time, and stops its timer on abort', async () => {
    const scheduler = new ManualScheduler();
    let woke = false;
    const nap = sleep(50, undefined, scheduler).then(() => {
      woke = true;
    });
    await scheduler.advance(49);
    expect(woke).toBe(false);
    await scheduler.advance(1);
    await nap;
    expect(woke).toBe(true);

    const controller = new AbortController();
    const aborted = sleep(10_000, controller.signal, scheduler);
    controller.abort(new Error('stop'));
    await expect(aborted).rejects.toThrow('stop');
    expect(scheduler.pending).toBe(0);
  });
});

describe('Scheduler', () => {
  it('recognises a scheduler by shape, and measures elapsed time on its clock when it has one', () => {
    expect(isScheduler(systemScheduler)).toBe(true);
    expect(isScheduler(new ManualScheduler())).toBe(true);
    expect(isScheduler({ setTimeout: () => 0 })).toBe(false);
    expect(isScheduler({ setTimeout: () => 0, clearTimeout: () => {}, now: 5 })).toBe(false);
    expect(isScheduler(setTimeout)).toBe(false);
    const manual = new ManualScheduler();
    expect(elapsedClock(manual)).toBe(0);
    expect(elapsedClock({ setTimeout: () => 0, clearTimeout: () => {} })).toBeGreaterThan(0);
  });
});
