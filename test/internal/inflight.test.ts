import { describe, expect, it } from 'vitest';
import { InflightRuns } from '../../src/internal/inflight.js';
import { deferred } from '../helpers/deferred.js';

describe('InflightRuns', () => {
  it('answers the run of a key while it is in progress, and nothing once it settled', async () => {
    const runs = new InflightRuns<string>();
    const first = deferred<string>();
    runs.start('EV-1', first.promise);
    expect(runs.get('EV-1')).toBe(first.promise);
    expect(runs.get('EV-2')).toBeUndefined();
    first.resolve('done');
    await first.promise;
    await Promise.resolve();
    expect(runs.get('EV-1')).toBeUndefined();
    // A rejected run ends too.
    const second = deferred<string>();
    runs.start('EV-1', second.promise);
    expect(runs.get('EV-1')).toBe(second.promise);
    second.reject(new Error('x'));
    await second.promise.catch(() => undefined);
    await Promise.resolve();
    expect(runs.get('EV-1')).toBeUndefined();
  });

  it('stays bounded: ended runs are swept, runs in progress are kept', async () => {
    const runs = new InflightRuns<number>();
    const pending = deferred<number>();
    runs.start('still-running', pending.promise);
    for (let i = 0; i < 5000; i++) {
      const run = Promise.resolve(i);
      runs.start(`EV-${i}`, run);
      await run;
      await Promise.resolve();
    }
    expect(runs.size).toBeLessThanOrEqual(1024);
    expect(runs.get('still-running')).toBe(pending.promise);
    expect(runs.get('EV-4999')).toBeUndefined();
  });
});
