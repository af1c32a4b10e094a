import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RunningEmulator, startEmulator } from '../../src/emulator/index.js';
import { redisUp, uniquePrefix } from '../credentials/redis-helper.js';
import { refreshStorm } from './fixtures/refresh-storm.js';

const component = {
  componentAppId: 'wxc0mp0nent00storm',
  componentSecret: 'component-secret-storm-0123456789',
  token: 'ComponentToken',
  encodingAESKey: 'abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG',
};
const AUTHORIZERS = 200;
const PROCESSES = 3;
const MAX_PER_SECOND = 60;

describe.skipIf(!redisUp)('authorizer refresh storm: processes sharing Redis, emulator over HTTP', () => {
  let emulator: RunningEmulator;

  beforeAll(async () => {
    emulator = await startEmulator({ config: { apps: [], merchants: [], components: [component] } });
  });

  afterAll(async () => {
    await emulator?.close();
  });

  it(`${AUTHORIZERS} tokens issued together, ${PROCESSES} processes: each refreshed once, at most ${MAX_PER_SECOND}/s`, async () => {
    const storm = await refreshStorm({
      baseUrl: emulator.url,
      component,
      prefix: uniquePrefix(),
      authorizers: AUTHORIZERS,
      processes: PROCESSES,
      maxPerSecond: MAX_PER_SECOND,
      jitterSeconds: 60,
      // Smaller than the authorizers: clients are evicted and rebuilt from the store mid-storm.
      cacheSize: 50,
      concurrency: 16,
      pauseMs: 200,
      // A bound, not a wait: the cycle takes about AUTHORIZERS / MAX_PER_SECOND x 1.5 s.
      timeoutMs: 50_000,
    });
    for (const worker of storm.workers) {
      expect(worker.errors).toEqual([]);
      expect(worker.refreshedSeen).toBe(AUTHORIZERS);
      expect(worker.cache.size).toBeLessThanOrEqual(50);
    }
    expect(storm.refreshCalls).toBe(AUTHORIZERS);
    expect(storm.authorizersRefreshed).toBe(AUTHORIZERS);
    expect(storm.maxPerAuthorizer).toBe(1);
    // The limiter bounds when refreshes START (at most MAX_PER_SECOND in any 1.5 s window, across
    // processes); the emulator counts ARRIVALS per clock second, and a process stalled by a busy
    // machine can land a few late starts in the next second (63 seen once at load 20). Without the
    // limiter the 200 arrive within about a second, far above this bound.
    expect(storm.maxPerSecondSeen).toBeLessThanOrEqual(MAX_PER_SECOND * 1.5);
    // The limiter spread them: a cycle of at least AUTHORIZERS / MAX_PER_SECOND seconds.
    expect(storm.cycleMs).toBeGreaterThan((AUTHORIZERS / MAX_PER_SECOND - 1) * 1000);
  }, 90_000);
});
