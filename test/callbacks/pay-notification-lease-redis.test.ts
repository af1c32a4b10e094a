// Two Pay notification handlers ("instances") sharing a RedisDedupeStore on a real Redis. The first
// claims a notification and never completes it (its process died mid-handler). A duplicate reaching
// the second must be answered "retry later" while that processing lease lasts, and processed once
// it ended — also when the lease ends between the duplicate's lost claim and its lookup (the
// chaos matrix's Pay row caught that interleaving acknowledged a payment nobody processed).
import { generateKeyPairSync } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DedupeStore } from '../../src/callbacks/index.js';
import { createPayNotificationHandler } from '../../src/callbacks/pay-notification.js';
import { PayV3Verifier } from '../../src/crypto/index.js';
import { type RedisDedupeClient, RedisDedupeStore } from '../../src/redis/index.js';
import { clientFactories, redisUp, type TestClient, uniquePrefix } from '../credentials/redis-helper.js';
import { drain, ManualScheduler } from '../helpers/manual-scheduler.js';
import { signedNotification } from '../helpers/pay-notification.js';
import { deferred } from './fixtures.js';

const platform = generateKeyPairSync('rsa', { modulusLength: 2048 });
const PUB_KEY_ID = 'PUB_KEY_ID_0114232134912410000000000000';
const API_V3_KEY = 'a7cde1ef52c8e9f7b3a04cd2e6f1b8d9';
const NOW = 1_714_036_504;
const LEASE_MS = 1000;
const verifier = new PayV3Verifier({ publicKey: { id: PUB_KEY_ID, key: platform.publicKey } });
const TRANSACTION = {
  mchid: '1230000109',
  appid: 'wxd678efh567hg6787',
  out_trade_no: 'lease-redis-1',
  transaction_id: '1217752501201407033233368018',
  trade_state: 'SUCCESS',
  amount: { total: 100, currency: 'CNY' },
};

function instance(
  dedupe: DedupeStore,
  replyBudgetMs: number,
  onRun: () => Promise<void> | void,
  more: { scheduler?: ManualScheduler; processingLeaseMs?: number } = {},
) {
  return createPayNotificationHandler({
    apiV3Key: API_V3_KEY,
    verifier,
    dedupe,
    processingLeaseMs: more.processingLeaseMs ?? LEASE_MS,
    ...(more.scheduler !== undefined ? { scheduler: more.scheduler } : {}),
    replyBudgetMs,
    now: () => NOW * 1000,
    logger: { error: () => {} },
  }).on('TRANSACTION.SUCCESS', onRun);
}

/** Resolves once `key` is gone from Redis (its lease expired), polled every 10 ms, within 5 s. */
async function expired(raw: TestClient, key: string): Promise<void> {
  const deadline = Date.now() + 5000;
  while ((await raw.pttl(key)) !== -2) {
    if (Date.now() > deadline) throw new Error(`${key} did not expire within 5 s`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

describe.skipIf(!redisUp).each(clientFactories)(
  'Pay notifications, two instances sharing a RedisDedupeStore (%s)',
  (_name, factory) => {
    let raw: TestClient;
    const prefix = uniquePrefix();
    beforeAll(async () => {
      raw = await factory();
    });
    afterAll(async () => {
      await raw.del(await raw.keys(`${prefix}*`));
      await raw.quit();
    });

    it('a duplicate is not acknowledged while a dead run holds the lease, and is processed after it, even when the lease ends between its claim and its lookup', async () => {
      const store = new RedisDedupeStore(raw.client as unknown as RedisDedupeClient, { prefix });
      const request = signedNotification({
        apiV3Key: API_V3_KEY,
        resource: TRANSACTION,
        privateKey: platform.privateKey,
        serial: PUB_KEY_ID,
        timestamp: NOW,
      });
      const id = (JSON.parse(Buffer.from(request.rawBody as Uint8Array).toString()) as { id: string }).id;
      const key = `${prefix}weixin-kit:dedupe:wechatpay:notification:${id}`;

      // Instance A claims and dies inside the handler: never completes, never releases, and its
      // timers stop (virtual time that is only advanced to its reply budget), so it renews nothing.
      let runsA = 0;
      const entered = deferred<void>();
      const frozen = new ManualScheduler();
      const a = instance(
        store,
        50,
        () => {
          runsA += 1;
          entered.resolve();
          return new Promise<void>(() => {});
        },
        { scheduler: frozen },
      );
      const answerA = a.handle(request);
      await entered.promise;
      // Claimed (this claim's token), not completed.
      expect(await raw.get(key)).toMatch(/^c:[0-9a-f]{24}$/);

      // Instance B: its lookup after a lost claim can be held until A's lease has expired.
      let holdLookup = false;
      const claims: boolean[] = [];
      const b: DedupeStore = {
        claim: async (k, ttl) => {
          const won = await store.claim(k, ttl);
          claims.push(won);
          return won;
        },
        release: (k) => store.release(k),
        complete: (k, ttl) => store.complete(k, ttl),
        isComplete: async (k) => {
          if (holdLookup) await expired(raw, key);
          return store.isComplete(k);
        },
      };
      let runsB = 0;
      const handlerB = instance(b, 3000, () => {
        runsB += 1;
      });

      // During A's lease: "retry later", not run.
      const during = await handlerB.handle(request);
      expect(during.status).toBe(500);
      expect(runsB).toBe(0);
      expect(await raw.pttl(key)).toBeGreaterThan(0);
      // A, past its reply budget, answered "retry later" too; its claim stays until the lease ends.
      await frozen.advance(50);
      expect((await answerA).status).toBe(500);

      // B loses the claim, then A's lease ends before B's lookup: the id is free, so B processes it.
      holdLookup = true;
      const after = await handlerB.handle(request);
      holdLookup = false;
      // Acknowledged only because it ran (before the fix: 204 with no run, the payment lost).
      expect({ status: after.status, runsB }).toEqual({ status: 204, runsB: 1 });
      // Its first claim lost (A's lease was live), the second won after the lease ended.
      expect(claims.slice(1)).toEqual([false, true]);
      expect(await raw.get(key)).toBe('done');

      // Later copies are duplicates of a completed notification: 204, no run.
      expect((await handlerB.handle(request)).status).toBe(204);
      expect(runsA).toBe(1);
      expect(runsB).toBe(1);
    });

    it('renews the processing lease in Redis while a long listener runs: the other instance keeps answering 500', async () => {
      // Renewals on virtual time, the lease's expiry on Redis's clock: a renewal must reset PTTL.
      const scheduler = new ManualScheduler();
      const store = new RedisDedupeStore(raw.client as unknown as RedisDedupeClient, { prefix });
      const request = signedNotification({
        apiV3Key: API_V3_KEY,
        resource: { ...TRANSACTION, out_trade_no: 'lease-redis-renewal' },
        privateKey: platform.privateKey,
        serial: PUB_KEY_ID,
        timestamp: NOW,
      });
      const id = (JSON.parse(Buffer.from(request.rawBody as Uint8Array).toString()) as { id: string }).id;
      const key = `${prefix}weixin-kit:dedupe:wechatpay:notification:${id}`;
      const gate = deferred<void>();
      const entered = deferred<void>();
      let runsA = 0;
      const a = instance(
        store,
        100,
        async () => {
          runsA += 1;
          entered.resolve();
          await gate.promise;
        },
        { scheduler, processingLeaseMs: 3000 },
      );
      const answerA = a.handle(request);
      await entered.promise;
      await scheduler.advance(100);
      expect((await answerA).status).toBe(500);
      // Let the lease age on Redis's clock, then pass the first renewal tick (a third of 3000 ms).
      await new Promise((resolve) => setTimeout(resolve, 400));
      const aged = await raw.pttl(key);
      expect(aged).toBeLessThanOrEqual(2700);
      await scheduler.advance(900);
      for (let i = 0; i < 50 && (await raw.pttl(key)) <= aged; i++) await drain();
      expect(await raw.pttl(key)).toBeGreaterThan(2800);
      expect(await raw.get(key)).toMatch(/^c:[0-9a-f]{24}$/);

      let runsB = 0;
      const b = instance(
        new RedisDedupeStore(raw.client as unknown as RedisDedupeClient, { prefix }),
        3000,
        () => {
          runsB += 1;
        },
      );
      expect((await b.handle(request)).status).toBe(500);
      gate.resolve();
      for (let i = 0; i < 50 && (await raw.get(key)) !== 'done'; i++) await drain();
      expect(await raw.get(key)).toBe('done');
      expect((await b.handle(request)).status).toBe(204);
      expect({ runsA, runsB }).toEqual({ runsA: 1, runsB: 0 });
    });
  },
);
