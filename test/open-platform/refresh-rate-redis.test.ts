import { describe, expect, it } from 'vitest';
import { RedisStore } from '../../src/redis/index.js';
import { clientFactories, redisUp, uniquePrefix } from '../credentials/redis-helper.js';

describe.skipIf(!redisUp)('RedisStore.takeRateSlot (real Redis)', () => {
  it.each(clientFactories)(
    '%s: limit slots per sliding window, shared by every store on the prefix',
    async (_, make) => {
      const [a, b] = [await make(), await make()];
      const prefix = uniquePrefix();
      try {
        const first = new RedisStore(a.client, { prefix });
        const second = new RedisStore(b.client, { prefix });
        const t = 1_700_000_000_000;
        expect(await first.takeRateSlot('rate', 2, 1200, t)).toBe(0);
        expect(await second.takeRateSlot('rate', 2, 1200, t + 100)).toBe(0);
        // Full for either store until the oldest slot leaves the window.
        expect(await first.takeRateSlot('rate', 2, 1200, t + 200)).toBe(1000);
        expect(await second.takeRateSlot('rate', 2, 1200, t + 1199)).toBe(1);
        expect(await second.takeRateSlot('rate', 2, 1200, t + 1200)).toBe(0);
        expect(await first.takeRateSlot('rate', 2, 1200, t + 1250)).toBe(50);
        // The key expires on its own (twice the window).
        const ttl = await a.pttl(`${prefix}rate`);
        expect(ttl).toBeGreaterThan(0);
        expect(ttl).toBeLessThanOrEqual(2400);
      } finally {
        await a.del(await a.keys(`${prefix}*`));
        await a.quit();
        await b.quit();
      }
    },
  );
});
