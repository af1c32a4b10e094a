import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { toNodeListener } from '../../src/adapters/node.js';
import {
  type CallbackHandler,
  type CallbackRequest,
  createPayNotificationHandler,
  type DuplicateEvent,
  type PayNotificationEvent,
  type PayTransactionResource,
} from '../../src/callbacks/index.js';
import { buildAuthorization, PayV3Verifier } from '../../src/crypto/index.js';
import { type RunningEmulator, startEmulator } from '../../src/emulator/server.js';
import { RedisDedupeStore } from '../../src/redis/index.js';
import { REDIS_HOST, REDIS_PORT, redisUp, uniquePrefix } from '../credentials/redis-helper.js';
import { makeMerchant, type TestMerchant } from '../pay/helpers.js';

const PK = makeMerchant('1900000101', 'public-key');
const CERT = makeMerchant('1900000102', 'certificate');
const APPID = 'wx1234567890abcdef';

let emulator: RunningEmulator;
let platform: {
  certificates: Array<{ serialNo: string; pem: string }>;
  publicKey: { id: string; pem: string };
};

/** The merchant's server: whatever handler is current, served through the node adapter. */
let current: CallbackHandler | undefined;
let server: Server;
let notifyUrl: string;

beforeAll(async () => {
  emulator = await startEmulator({ config: { apps: [], merchants: [PK.config, CERT.config] } });
  platform = await (await fetch(`${emulator.url}/_emulator/pay/platform`)).json();
  const delegate: CallbackHandler = {
    handle: (request) =>
      current === undefined
        ? Promise.resolve({ status: 503, headers: {}, body: '' })
        : current.handle(request),
  };
  server = createServer(toNodeListener(delegate));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  notifyUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/pay/notify`;
});

afterAll(async () => {
  await new Promise<void>((resolve) => server.close(() => resolve()));
  await emulator?.close();
});

async function createJsapiOrder(m: TestMerchant, outTradeNo: string): Promise<void> {
  const path = '/v3/pay/transactions/jsapi';
  const body = JSON.stringify({
    appid: APPID,
    mchid: m.config.mchid,
    description: '测试商品',
    out_trade_no: outTradeNo,
    notify_url: notifyUrl,
    amount: { total: 100, currency: 'CNY' },
    payer: { openid: 'oUser123' },
  });
  const res = await fetch(`${emulator.url}${path}`, {
    method: 'POST',
    headers: {
      Accept: 'application/json',
      'Content-Type': 'application/json',
      'User-Agent': 'weixin-kit-test',
      Authorization: buildAuthorization({
        method: 'POST',
        url: path,
        body,
        mchid: m.config.mchid,
        serialNo: m.config.merchantCertificateSerial,
        privateKey: m.privateKey,
      }),
    },
    body,
  });
  expect(res.status).toBe(200);
  expect(await res.json()).toHaveProperty('prepay_id');
}

interface Delivery {
  notificationId: string;
  status: string;
  body: string;
  attempts: Array<{ status?: number; ok: boolean }>;
}

async function deliveries(m: TestMerchant): Promise<Delivery[]> {
  const log = await (
    await fetch(`${emulator.url}/_emulator/pay/notifications?mchid=${m.config.mchid}`)
  ).json();
  return log.notifications as Delivery[];
}

/**
 * Runs the emulator's delayed work due next (a notification retry): moves the emulated clock to
 * it and waits until it has run.
 */
async function runNextRetry(): Promise<void> {
  // A retry that real time already started is waited for, not skipped.
  await emulator.state.clock.settled();
  const [next] = emulator.state.clock.pending();
  if (next === undefined) return;
  emulator.state.advance(Math.max(0, next.dueAt - emulator.state.now()) / 1000);
  await emulator.state.clock.settled();
}

/** Acknowledges every pending delivery, so no retry reaches a later test's handler. */
async function drain(m: TestMerchant): Promise<void> {
  current = { handle: async () => ({ status: 204, headers: {}, body: '' }) };
  while ((await deliveries(m)).some((d) => d.status === 'pending')) await runNextRetry();
  current = undefined;
}

/** Captures the next notification the emulator sends (acknowledged, so it is not retried). */
function capture(): CallbackRequest[] {
  const captured: CallbackRequest[] = [];
  current = {
    handle: async (request) => {
      captured.push(request);
      return { status: 204, headers: {}, body: '' };
    },
  };
  return captured;
}

const verifiers: Record<string, () => PayV3Verifier> = {
  'public key only': () =>
    new PayV3Verifier({ publicKey: { id: platform.publicKey.id, key: platform.publicKey.pem } }),
  'certificates only': () => new PayV3Verifier({ certificates: platform.certificates.map((c) => c.pem) }),
  'both (migration)': () =>
    new PayV3Verifier({
      publicKey: { id: platform.publicKey.id, key: platform.publicKey.pem },
      certificates: platform.certificates.map((c) => c.pem),
    }),
};

const cases: Array<[string, TestMerchant, string]> = [
  ['public-key mode', PK, 'public key only'],
  ['certificate mode', CERT, 'certificates only'],
  ['public-key mode', PK, 'both (migration)'],
  ['certificate mode', CERT, 'both (migration)'],
];

describe('Pay v3 notifications from the emulator through toNodeListener', () => {
  let counter = 0;
  it.each(cases)(
    '%s, verifier trusting %s: delivered twice, handled once, answered 2xx',
    async (_mode, m, trust) => {
      const seen: Array<PayNotificationEvent<PayTransactionResource>> = [];
      const duplicates: DuplicateEvent[] = [];
      const refused: unknown[] = [];
      current = createPayNotificationHandler({
        apiV3Key: m.config.apiV3Key,
        verifier: (verifiers[trust] as () => PayV3Verifier)(),
        hooks: { onDuplicate: (e) => duplicates.push(e), onRefused: (e) => refused.push(e) },
      }).on('TRANSACTION.SUCCESS', async (event) => {
        seen.push(event);
      });
      counter++;
      const outTradeNo = `e2e-${m.config.mchid}-${counter}`;
      await createJsapiOrder(m, outTradeNo);
      const res = await fetch(`${emulator.url}/_emulator/pay/transactions/${outTradeNo}/succeed`, {
        method: 'POST',
        body: JSON.stringify({ deliverTwice: true }),
      });
      expect(res.status).toBe(200);
      const result = (await res.json()) as { notifications: Array<{ attempts: Array<{ status?: number }> }> };
      // deliverTwice resolves after each delivery's first attempt.
      expect(result.notifications).toHaveLength(2);
      expect(result.notifications.map((n) => n.attempts[0]?.status)).toEqual([204, 204]);

      expect(refused).toEqual([]);
      expect(seen).toHaveLength(1);
      expect(seen[0]?.event_type).toBe('TRANSACTION.SUCCESS');
      expect(seen[0]?.resource).toMatchObject({
        out_trade_no: outTradeNo,
        mchid: m.config.mchid,
        trade_state: 'SUCCESS',
        payer: { openid: 'oUser123' },
        amount: { total: 100 },
      });
      expect(duplicates.map((d) => d.key)).toEqual([seen[0]?.id]);
      const log = (await deliveries(m)).filter((d) => d.notificationId === seen[0]?.id);
      expect(log).toHaveLength(2);
      for (const d of log) {
        expect(d.status).toBe('delivered');
        expect(d.attempts.map((a) => a.status)).toEqual([204]);
      }
    },
  );

  it('a verifier that does not trust the signing key answers 401, and the emulator retries', async () => {
    const refused: Array<{ code: string }> = [];
    let calls = 0;
    // The certificate-mode merchant's notifications, checked against the public key only.
    current = createPayNotificationHandler({
      apiV3Key: CERT.config.apiV3Key,
      verifier: (verifiers['public key only'] as () => PayV3Verifier)(),
      hooks: { onRefused: (e) => refused.push(e) },
    }).on('*', () => {
      calls++;
    });
    const outTradeNo = `e2e-untrusted-${Date.now()}`;
    await createJsapiOrder(CERT, outTradeNo);
    const res = await fetch(`${emulator.url}/_emulator/pay/transactions/${outTradeNo}/succeed`, {
      method: 'POST',
      body: '{}',
    });
    const result = (await res.json()) as { notifications: Array<{ attempts: Array<{ status?: number }> }> };
    expect(result.notifications[0]?.attempts[0]?.status).toBe(401);
    expect(calls).toBe(0);
    expect(refused[0]?.code).toBe('SIGNATURE_MISMATCH');
    await runNextRetry();
    expect((await deliveries(CERT)).find((d) => d.status === 'pending')?.attempts.length).toBeGreaterThan(1);
    await drain(CERT);
  });
});

describe.skipIf(!redisUp)('two instances sharing a RedisDedupeStore (real Redis)', () => {
  it('the same notification delivered to both at once is processed exactly once', async () => {
    const prefix = uniquePrefix();
    const clientA = new Redis({ host: REDIS_HOST, port: REDIS_PORT, maxRetriesPerRequest: 1 });
    const clientB = new Redis({ host: REDIS_HOST, port: REDIS_PORT, maxRetriesPerRequest: 1 });
    try {
      // A real notification from the emulator, replayed to both instances below.
      const captured = capture();
      const outTradeNo = `e2e-redis-${Date.now()}`;
      await createJsapiOrder(PK, outTradeNo);
      await fetch(`${emulator.url}/_emulator/pay/transactions/${outTradeNo}/succeed`, {
        method: 'POST',
        body: '{}',
      });
      current = undefined;
      const [request] = captured;
      expect(request).toBeDefined();

      let processed = 0;
      const duplicates: DuplicateEvent[] = [];
      // The handler holds until the three other copies were seen as duplicates: they meet it
      // mid-processing by construction, however slow Redis answers on this machine.
      let othersSeen: () => void = () => {};
      const overlap = new Promise<void>((resolve) => {
        othersSeen = resolve;
      });
      const instance = (client: Redis) =>
        createPayNotificationHandler({
          apiV3Key: PK.config.apiV3Key,
          verifier: (verifiers['both (migration)'] as () => PayV3Verifier)(),
          dedupe: new RedisDedupeStore(client, { prefix }),
          hooks: {
            onDuplicate: (e) => {
              if (duplicates.push(e) === 3) othersSeen();
            },
          },
        }).on('TRANSACTION.SUCCESS', async () => {
          processed++;
          await overlap;
        });
      const a = instance(clientA);
      const b = instance(clientB);
      const answers = await Promise.all([
        a.handle(request as CallbackRequest),
        b.handle(request as CallbackRequest),
        a.handle(request as CallbackRequest),
        b.handle(request as CallbackRequest),
      ]);
      // A processes; B, seeing it claimed but not completed, says "retry later" rather than
      // acknowledging a payment that A might still fail to record.
      // Whichever instance claims first processes (both its copies answer 204); the other answers 500.
      const [a1, b1, a2, b2] = answers.map((r) => r.status);
      expect(a1).toBe(a2);
      expect(b1).toBe(b2);
      expect([a1, b1].sort()).toEqual([204, 500]);
      expect(processed).toBe(1);
      expect(duplicates).toHaveLength(3);
      // WeChat Pay's retry, once A has completed, is acknowledged by B without processing.
      expect((await b.handle(request as CallbackRequest)).status).toBe(204);
      expect(processed).toBe(1);
      const keys = await clientA.keys(`${prefix}*`);
      expect(keys).toHaveLength(1);
      expect(await clientA.pttl(keys[0] as string)).toBeGreaterThan(24 * 3_600_000);
    } finally {
      const keys = await clientA.keys(`${prefix}*`);
      if (keys.length > 0) await clientA.del(...keys);
      await clientA.quit();
      await clientB.quit();
    }
  });

  it('a handler failure on one instance releases the id: the retry on the other is processed', async () => {
    const prefix = uniquePrefix();
    const clientA = new Redis({ host: REDIS_HOST, port: REDIS_PORT, maxRetriesPerRequest: 1 });
    const clientB = new Redis({ host: REDIS_HOST, port: REDIS_PORT, maxRetriesPerRequest: 1 });
    try {
      const captured = capture();
      const outTradeNo = `e2e-redis-fail-${Date.now()}`;
      await createJsapiOrder(PK, outTradeNo);
      await fetch(`${emulator.url}/_emulator/pay/transactions/${outTradeNo}/succeed`, {
        method: 'POST',
        body: '{}',
      });
      current = undefined;
      const request = captured[0] as CallbackRequest;
      const outcomes: string[] = [];
      const logged: unknown[] = [];
      const instance = (client: Redis, fails: boolean) =>
        createPayNotificationHandler({
          apiV3Key: PK.config.apiV3Key,
          verifier: (verifiers['public key only'] as () => PayV3Verifier)(),
          dedupe: new RedisDedupeStore(client, { prefix }),
          logger: { error: (fields) => logged.push(fields) },
        }).on('TRANSACTION.SUCCESS', async () => {
          outcomes.push(fails ? 'failed' : 'processed');
          if (fails) throw new Error('boom');
        });
      expect((await instance(clientA, true).handle(request)).status).toBe(500);
      expect((await instance(clientB, false).handle(request)).status).toBe(204);
      expect(outcomes).toEqual(['failed', 'processed']);
      // The failure is reported to the logger, not lost.
      expect(logged).toEqual([expect.objectContaining({ phase: 'handler', type: 'TRANSACTION.SUCCESS' })]);
    } finally {
      const keys = await clientA.keys(`${prefix}*`);
      if (keys.length > 0) await clientA.del(...keys);
      await clientA.quit();
      await clientB.quit();
    }
  });
});
