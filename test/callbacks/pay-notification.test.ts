import { generateKeyPairSync, randomUUID, sign } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  type CallbackErrorEvent,
  type CallbackRequest,
  createPayNotificationHandler,
  type DedupeStore,
  type DuplicateEvent,
  MAX_PAY_NOTIFICATION_BYTES,
  MemoryDedupeStore,
  type PayNotificationEvent,
  type PayNotificationHandlerOptions,
  type PayRefundResource,
  type PayTransactionResource,
  type RefusedEvent,
  type UnhandledNotificationEvent,
} from '../../src/callbacks/index.js';
import { encryptResource, PayV3Verifier } from '../../src/crypto/index.js';
import { ConfigError } from '../../src/errors.js';
import { drain, ManualScheduler } from '../helpers/manual-scheduler.js';
import { storeOnScheduler } from '../helpers/virtual-store.js';
import { deferred } from './fixtures.js';

// A self-made "WeChat Pay" platform key (public-key mode) signs the notifications below, so every
// refusal can be built exactly — including ones WeChat Pay never sends (a signed, broken tag).
const platform = generateKeyPairSync('rsa', { modulusLength: 2048 });
const PUB_KEY_ID = 'PUB_KEY_ID_0114232134912410000000000000';
const API_V3_KEY = 'a7cde1ef52c8e9f7b3a04cd2e6f1b8d9';
const NOW = 1_714_036_504;
const clock = () => NOW * 1000;
const verifier = new PayV3Verifier({ publicKey: { id: PUB_KEY_ID, key: platform.publicKey } });

const TRANSACTION: PayTransactionResource = {
  appid: 'wxd678efh567hg6787',
  mchid: '1230000109',
  out_trade_no: 'order-0001',
  transaction_id: '1217752501201407033233368018',
  trade_type: 'JSAPI',
  trade_state: 'SUCCESS',
  trade_state_desc: '支付成功',
  bank_type: 'CMC',
  success_time: '2018-06-08T10:34:56+08:00',
  payer: { openid: 'oUpF8uMuAJO_M2pxb1Q9zNjWeS6o' },
  amount: { total: 100, payer_total: 100, currency: 'CNY', payer_currency: 'CNY' },
};

const REFUND: PayRefundResource = {
  mchid: '1230000109',
  out_trade_no: 'order-0001',
  transaction_id: '1217752501201407033233368018',
  out_refund_no: 'refund-0001',
  refund_id: '50000000382019052709732678859',
  refund_status: 'SUCCESS',
  success_time: '2018-06-08T10:34:56+08:00',
  user_received_account: '招商银行信用卡0403',
  amount: { total: 100, refund: 60, payer_total: 100, payer_refund: 60 },
};

interface Spec {
  id?: string;
  eventType?: string;
  resource?: unknown;
  originalType?: string;
  apiV3Key?: string;
  /** Change the serialised body before signing (it is then signed as changed). */
  beforeSign?: (body: string) => string;
  /** Change the body after signing (the signature no longer covers it). */
  afterSign?: (body: string) => string;
  timestamp?: number;
  serial?: string;
  signature?: string;
}

function notificationBody(spec: Spec): string {
  const originalType = spec.originalType ?? 'transaction';
  return JSON.stringify({
    id: spec.id ?? randomUUID(),
    create_time: '2024-04-25T17:15:04+08:00',
    resource_type: 'encrypt-resource',
    event_type: spec.eventType ?? 'TRANSACTION.SUCCESS',
    summary: '支付成功',
    resource: {
      original_type: originalType,
      ...encryptResource({
        apiV3Key: spec.apiV3Key ?? API_V3_KEY,
        plaintext: JSON.stringify(spec.resource ?? TRANSACTION),
        associatedData: originalType,
      }),
    },
  });
}

/** A notification request as WeChat Pay sends it. */
function notification(spec: Spec = {}): CallbackRequest {
  const signed = (spec.beforeSign ?? ((b) => b))(notificationBody(spec));
  const timestamp = String(spec.timestamp ?? NOW);
  const nonce = 'fdasflkja484w2kjL2ExampleN';
  const signature =
    spec.signature ??
    sign('sha256', Buffer.from(`${timestamp}\n${nonce}\n${signed}\n`, 'utf8'), platform.privateKey).toString(
      'base64',
    );
  const body = (spec.afterSign ?? ((b) => b))(signed);
  return {
    method: 'POST',
    url: '/pay/notify',
    headers: {
      'content-type': 'application/json',
      'wechatpay-timestamp': timestamp,
      'wechatpay-nonce': nonce,
      'wechatpay-signature': signature,
      'wechatpay-serial': spec.serial ?? PUB_KEY_ID,
      'wechatpay-signature-type': 'WECHATPAY2-SHA256-RSA2048',
    },
    rawBody: Buffer.from(body, 'utf8'),
  };
}

function make(options: Partial<PayNotificationHandlerOptions> = {}) {
  const refused: RefusedEvent[] = [];
  const errors: CallbackErrorEvent[] = [];
  const duplicates: DuplicateEvent[] = [];
  const unhandled: UnhandledNotificationEvent[] = [];
  const handler = createPayNotificationHandler({
    apiV3Key: API_V3_KEY,
    verifier,
    now: clock,
    hooks: {
      onRefused: (e) => refused.push(e),
      onError: (e) => errors.push(e),
      onDuplicate: (e) => duplicates.push(e),
      onUnhandled: (e) => unhandled.push(e),
    },
    ...options,
  });
  return { handler, refused, errors, duplicates, unhandled };
}

const FAIL_JSON = {
  'content-type': 'application/json; charset=utf-8',
  'x-request-id': expect.stringMatching(/^[0-9a-f]{32}$/),
};

describe('Pay v3 notification handler: delivery', () => {
  it('verifies, decrypts and hands a typed TRANSACTION.SUCCESS to its handler, then answers 204', async () => {
    const { handler, refused, errors } = make();
    const seen: Array<PayNotificationEvent<PayTransactionResource>> = [];
    handler.on('TRANSACTION.SUCCESS', async (event) => {
      seen.push(event);
      // Typed with the wire names.
      expect(event.resource.amount.total).toBe(100);
    });
    const id = randomUUID();
    const res = await handler.handle(notification({ id }));
    expect(res).toEqual({
      status: 204,
      headers: { 'x-request-id': expect.stringMatching(/^[0-9a-f]{32}$/) },
      body: '',
    });
    expect([refused, errors]).toEqual([[], []]);
    expect(seen).toHaveLength(1);
    expect(seen[0]).toMatchObject({
      id,
      event_type: 'TRANSACTION.SUCCESS',
      create_time: '2024-04-25T17:15:04+08:00',
      summary: '支付成功',
      resource_type: 'encrypt-resource',
      resource: TRANSACTION,
      notification: { id, resource: { algorithm: 'AEAD_AES_256_GCM', original_type: 'transaction' } },
    });
  });

  it('routes refund events to their own handlers and anything else to the fallback', async () => {
    const { handler, unhandled } = make();
    const got: string[] = [];
    handler
      .on('REFUND.SUCCESS', ({ resource }) => {
        got.push(`success:${resource.out_refund_no}:${resource.amount.refund}`);
      })
      .on('REFUND.ABNORMAL', ({ resource }) => {
        got.push(`abnormal:${resource.refund_status}`);
      });
    const refund = (eventType: string, status: string) =>
      handler.handle(
        notification({ eventType, originalType: 'refund', resource: { ...REFUND, refund_status: status } }),
      );
    expect((await refund('REFUND.SUCCESS', 'SUCCESS')).status).toBe(204);
    expect((await refund('REFUND.ABNORMAL', 'ABNORMAL')).status).toBe(204);
    // No handler and no fallback: acknowledged (else WeChat Pay retries for a day) and reported.
    expect((await refund('REFUND.CLOSED', 'CLOSED')).status).toBe(204);
    expect(unhandled.map((u) => u.event_type)).toEqual(['REFUND.CLOSED']);
    handler.onUnknown((event) => {
      got.push(`fallback:${event.event_type}`);
    });
    expect((await refund('REFUND.CLOSED', 'CLOSED')).status).toBe(204);
    expect(got).toEqual(['success:refund-0001:60', 'abnormal:ABNORMAL', 'fallback:REFUND.CLOSED']);
  });

  it('processes a retry (same id, new signature) once; concurrent copies too', async () => {
    // The handler holds until the concurrent copy has been seen as a duplicate: the copies overlap
    // by construction, not by a sleep long enough on this machine.
    const overlap = deferred<void>();
    const duplicates: DuplicateEvent[] = [];
    const { handler } = make({
      hooks: {
        onDuplicate: (e) => {
          duplicates.push(e);
          overlap.resolve();
        },
      },
    });
    let calls = 0;
    handler.on('TRANSACTION.SUCCESS', async () => {
      calls++;
      await overlap.promise;
    });
    const id = randomUUID();
    const [a, b] = await Promise.all([
      handler.handle(notification({ id })),
      handler.handle(notification({ id, timestamp: NOW - 15 })),
    ]);
    const c = await handler.handle(notification({ id, timestamp: NOW + 30 }));
    expect([a.status, b.status, c.status, calls]).toEqual([204, 204, 204, 1]);
    expect(duplicates.map((d) => d.key)).toEqual([id, id]);
  });

  it('a handler that throws: 500 with the documented body, the id released, the retry processed', async () => {
    const { handler, errors } = make();
    let calls = 0;
    handler.on('TRANSACTION.SUCCESS', async () => {
      calls++;
      if (calls === 1) throw new Error('database down (must not leak)');
    });
    const id = randomUUID();
    const first = await handler.handle(notification({ id }));
    expect(first).toEqual({
      status: 500,
      headers: FAIL_JSON,
      body: expect.stringMatching(
        /^\{"code":"FAIL","message":"internal error","requestId":"[0-9a-f]{32}"\}$/,
      ),
    });
    expect(errors.map((e) => [e.phase, e.type])).toEqual([['handler', 'TRANSACTION.SUCCESS']]);
    expect((await handler.handle(notification({ id }))).status).toBe(204);
    expect(calls).toBe(2);
  });

  // A listener that returns no promise is called without an await: its throw must still be caught.
  it('a synchronous handler that throws: the same 500, the id released, the retry processed', async () => {
    const { handler, errors } = make();
    const seen: string[] = [];
    handler.on('TRANSACTION.SUCCESS', ({ id }) => {
      seen.push(id);
      if (seen.length === 1) throw new Error('validation failed (must not leak)');
    });
    const id = randomUUID();
    const first = await handler.handle(notification({ id }));
    expect(first.status).toBe(500);
    expect(first.body).not.toContain('validation failed');
    expect(errors.map((e) => [e.phase, e.type])).toEqual([['handler', 'TRANSACTION.SUCCESS']]);
    expect((await handler.handle(notification({ id }))).status).toBe(204);
    expect((await handler.handle(notification({ id }))).status).toBe(204);
    // Processed twice (the failed run, the retry), then acknowledged as a duplicate.
    expect(seen).toEqual([id, id]);
  });
});

// The budget runs on an injected scheduler and the handlers wait on gates the test opens: the
// order of events is fixed, whatever the machine's load.
describe('Pay v3 notification handler: answer budget', () => {
  it('answers 500 (retry later) when the handler outruns the budget; the retry after it finished is a duplicate', async () => {
    const slow: Array<{ id: string; budgetMs: number }> = [];
    const scheduler = new ManualScheduler();
    const gate = deferred<void>();
    const { handler } = make({ replyBudgetMs: 40, scheduler, hooks: { onSlow: (e) => slow.push(e) } });
    let finished = 0;
    handler.on('TRANSACTION.SUCCESS', async () => {
      await gate.promise;
      finished++;
    });
    const id = randomUUID();
    const answer = handler.handle(notification({ id }));
    await scheduler.whenPending();
    await scheduler.advance(39);
    expect(slow).toEqual([]);
    await scheduler.advance(1);
    const first = await answer;
    expect(first.status).toBe(500);
    expect(JSON.parse(first.body)).toEqual({
      code: 'FAIL',
      message: 'still processing, retry later',
      requestId: first.headers['x-request-id'],
    });
    // answered before the handler finished
    expect(finished).toBe(0);
    expect(slow).toEqual([{ id, event_type: 'TRANSACTION.SUCCESS', budgetMs: 40 }]);
    gate.resolve();
    await drain();
    expect(finished).toBe(1);
    expect((await handler.handle(notification({ id }))).status).toBe(204);
    expect(finished).toBe(1);
  });

  it('a slow handler that then fails leaves the id free, so the retry is processed', async () => {
    const scheduler = new ManualScheduler();
    const gate = deferred<void>();
    const { handler } = make({ replyBudgetMs: 30, scheduler });
    let calls = 0;
    handler.on('TRANSACTION.SUCCESS', async () => {
      calls++;
      if (calls === 1) {
        await gate.promise;
        throw new Error('timeout talking to the database');
      }
    });
    const id = randomUUID();
    const answer = handler.handle(notification({ id }));
    await scheduler.whenPending();
    await scheduler.advance(30);
    expect((await answer).status).toBe(500);
    gate.resolve();
    await drain();
    expect((await handler.handle(notification({ id }))).status).toBe(204);
    expect(calls).toBe(2);
  });
});

describe('Pay v3 notification handler: instances sharing a dedupe store', () => {
  it('another instance answers "retry later" while the first is processing, then 204 once it completed', async () => {
    const store = new MemoryDedupeStore({ now: clock });
    let release: () => void = () => {};
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    let processed = 0;
    const started = deferred<void>();
    const a = make({ dedupe: store, replyBudgetMs: 5000 }).handler.on('TRANSACTION.SUCCESS', async () => {
      processed++;
      started.resolve();
      await gate;
    });
    const b = make({ dedupe: store }).handler.on('TRANSACTION.SUCCESS', () => {
      processed++;
    });
    const id = randomUUID();
    const first = a.handle(notification({ id }));
    await started.promise;
    expect((await b.handle(notification({ id }))).status).toBe(500);
    release();
    expect((await first).status).toBe(204);
    expect((await b.handle(notification({ id }))).status).toBe(204);
    expect(processed).toBe(1);
  });

  it('an instance that died mid-handler frees the id when its processing lease ends', async () => {
    let now = NOW * 1000;
    const store = new MemoryDedupeStore({ now: () => now });
    // "Instance A" claimed the id and crashed before completing it.
    await store.claim(`wechatpay:notification:crashed-id`, 60_000);
    let processed = 0;
    const b = make({ dedupe: store }).handler.on('TRANSACTION.SUCCESS', () => {
      processed++;
    });
    expect((await b.handle(notification({ id: 'crashed-id' }))).status).toBe(500);
    now += 61_000;
    expect((await b.handle(notification({ id: 'crashed-id' }))).status).toBe(204);
    expect(processed).toBe(1);
  });
});

describe('Pay v3 notification handler: refusals', () => {
  function refusedWith(status: number, code: string) {
    return async (request: CallbackRequest, options: Partial<PayNotificationHandlerOptions> = {}) => {
      const { handler, refused, errors } = make(options);
      let calls = 0;
      handler.on('*', () => {
        calls++;
      });
      const res = await handler.handle(request);
      expect(res.status).toBe(status);
      expect(res.headers).toMatchObject(FAIL_JSON);
      expect(JSON.parse(res.body)).toMatchObject({ code: 'FAIL' });
      expect(calls).toBe(0);
      expect(errors).toEqual([]);
      expect(refused.map((r) => [r.code, r.status])).toEqual([[code, status]]);
      return refused[0] as RefusedEvent;
    };
  }

  it('tampered body → 401', async () => {
    const event = await refusedWith(
      401,
      'SIGNATURE_MISMATCH',
    )(notification({ afterSign: (b) => b.replace('"TRANSACTION.SUCCESS"', '"TRANSACTION.SUCCESZ"') }));
    expect(event.reason).toMatch(/does not match/);
    expect(event.reason).not.toMatch(/re-serialised/);
  });

  it('re-serialised (pretty-printed) body → 401, and the hook says why', async () => {
    const event = await refusedWith(
      401,
      'SIGNATURE_MISMATCH',
    )(notification({ afterSign: (b) => JSON.stringify(JSON.parse(b), null, 2) }));
    expect(event.reason).toMatch(/re-serialised/);
    expect(event.reason).toMatch(/raw bytes/);
  });

  it('stale and future timestamps → 401 TIMESTAMP_EXPIRED', async () => {
    await refusedWith(401, 'TIMESTAMP_EXPIRED')(notification({ timestamp: NOW - 301 }));
    await refusedWith(401, 'TIMESTAMP_EXPIRED')(notification({ timestamp: NOW + 301 }));
    // A narrower window is honoured.
    await refusedWith(401, 'TIMESTAMP_EXPIRED')(notification({ timestamp: NOW - 61 }), {
      maxSkewSeconds: 60,
    });
  });

  it('unknown serial (public key id or certificate serial) → 401', async () => {
    const a = await refusedWith(
      401,
      'SIGNATURE_MISMATCH',
    )(notification({ serial: 'PUB_KEY_ID_0114232134912410000000000099' }));
    expect(a.reason).toMatch(/does not trust/);
    const b = await refusedWith(
      401,
      'SIGNATURE_MISMATCH',
    )(notification({ serial: '5157F09EFDC096DE15EBE81A47057A7232F1B8E1' }));
    expect(b.reason).toMatch(/matches no trusted platform certificate/);
  });

  it('missing headers, a signature probe, a GET, an empty or parsed body → 4xx', async () => {
    const req = notification();
    const { 'wechatpay-signature': _, ...noSignature } = req.headers as Record<string, string>;
    await refusedWith(401, 'SIGNATURE_MISMATCH')({ ...req, headers: noSignature });
    await refusedWith(401, 'SIGNATURE_MISMATCH')(notification({ signature: 'WECHATPAY/SIGNTEST/abc' }));
    const { handler } = make();
    const get = await handler.handle({ ...req, method: 'GET', rawBody: undefined });
    expect([get.status, get.headers.allow]).toEqual([405, 'POST']);
    await refusedWith(405, 'METHOD_NOT_ALLOWED')({ ...req, method: 'GET', rawBody: undefined });
    await refusedWith(400, 'BAD_BODY')({ ...req, rawBody: new Uint8Array() });
    await refusedWith(400, 'BAD_BODY')({ ...req, rawBody: { id: 'x' } as unknown as string });
  });

  it('a JSON notification over the size limit → 413 PAYLOAD_TOO_LARGE, not an XML error code', async () => {
    // Regression: it was refused as XML_TOO_LARGE, though Pay v3 notifications are JSON.
    const big = notification({
      resource: { ...TRANSACTION, attach: 'x'.repeat(MAX_PAY_NOTIFICATION_BYTES) },
    });
    const event = await refusedWith(413, 'PAYLOAD_TOO_LARGE')(big);
    expect(event.reason).toContain(`${MAX_PAY_NOTIFICATION_BYTES} bytes`);
  });

  it('flipped GCM tag: unsigned → 401; signed by the platform (WeChat Pay never does) → 500 like a key error', async () => {
    const flipTag = (body: string) => {
      const parsed = JSON.parse(body);
      const bytes = Buffer.from(parsed.resource.ciphertext, 'base64');
      bytes[bytes.length - 1] = (bytes[bytes.length - 1] ?? 0) ^ 0x01;
      parsed.resource.ciphertext = bytes.toString('base64');
      return JSON.stringify(parsed);
    };
    await refusedWith(401, 'SIGNATURE_MISMATCH')(notification({ afterSign: flipTag }));
    const { handler, errors, refused } = make();
    let calls = 0;
    handler.on('*', () => {
      calls++;
    });
    const res = await handler.handle(notification({ beforeSign: flipTag }));
    expect([res.status, calls, refused]).toEqual([500, 0, []]);
    expect(errors.map((e) => e.phase)).toEqual(['config']);
  });

  it('wrong APIv3 key → 500 (retried later) and onError loudly names the key', async () => {
    const { handler, errors, refused } = make({ apiV3Key: 'ffffffffffffffffffffffffffffffff' });
    let calls = 0;
    handler.on('*', () => {
      calls++;
    });
    const res = await handler.handle(notification());
    expect(res).toEqual({
      status: 500,
      headers: FAIL_JSON,
      body: expect.stringMatching(
        /^\{"code":"FAIL","message":"internal error","requestId":"[0-9a-f]{32}"\}$/,
      ),
    });
    expect([calls, refused]).toEqual([0, []]);
    expect(errors).toHaveLength(1);
    const error = errors[0] as CallbackErrorEvent;
    expect(error.phase).toBe('config');
    expect(error.error).toBeInstanceOf(ConfigError);
    const configError = error.error as ConfigError;
    expect(configError.code).toBe('BAD_KEY');
    expect(configError.message).toMatch(/APIv3 key/);
    expect(configError.message).not.toContain('ffff');
  });

  it('unsupported algorithm, signed → 400', async () => {
    await refusedWith(
      400,
      'UNSUPPORTED_ALGORITHM',
    )(notification({ beforeSign: (b) => b.replace('AEAD_AES_256_GCM', 'AEAD_AES_128_GCM') }));
  });

  it('verified body that is not a notification → 400', async () => {
    await refusedWith(400, 'BAD_BODY')(notification({ beforeSign: () => '{"id":"x"}' }));
    await refusedWith(
      400,
      'BAD_BODY',
    )(notification({ beforeSign: (b) => JSON.stringify({ ...JSON.parse(b), id: undefined }) }));
    await refusedWith(400, 'BAD_BODY')(notification({ resource: 'not an object' }));
  });
});

describe('createPayNotificationHandler options', () => {
  it('refuses a bad APIv3 key, a missing verifier, unknown options and hooks', () => {
    const base = { apiV3Key: API_V3_KEY, verifier };
    expect(() => createPayNotificationHandler({ ...base, apiV3Key: 'short' })).toThrow(/32-character/);
    expect(() =>
      createPayNotificationHandler({ apiV3Key: API_V3_KEY } as unknown as PayNotificationHandlerOptions),
    ).toThrow(/PayV3Verifier/);
    expect(() =>
      createPayNotificationHandler({ ...base, mode: 'x' } as unknown as PayNotificationHandlerOptions),
    ).toThrow(/unknown option "mode"/);
    expect(() => createPayNotificationHandler({ ...base, hooks: { onRefuse: () => {} } as never })).toThrow(
      /unknown hook "onRefuse"/,
    );
    expect(() => createPayNotificationHandler({ ...base, scheduler: setTimeout as never })).toThrow(
      /scheduler must be an object with setTimeout/,
    );
    const h = createPayNotificationHandler(base).on('TRANSACTION.SUCCESS', () => {});
    expect(() => h.on('TRANSACTION.SUCCESS', () => {})).toThrow(/already registered/);
  });

  it('refuses a dedupeTtlMs shorter than the acceptance window, which would let a replay be handled twice', () => {
    const base = { apiV3Key: API_V3_KEY, verifier };
    // Stamped 300 s ahead, a notification stays acceptable for 600 s after it arrives.
    expect(() => createPayNotificationHandler({ ...base, dedupeTtlMs: 600_000 })).toThrow(
      /dedupeTtlMs \(600000\) is shorter than the time a notification stays acceptable \(660000 ms/,
    );
    expect(() => createPayNotificationHandler({ ...base, dedupeTtlMs: 660_000 })).not.toThrow();
    expect(() =>
      createPayNotificationHandler({ ...base, maxSkewSeconds: 600, dedupeTtlMs: 660_000 }),
    ).toThrow(/1260000 ms/);
  });
});

// A listener that outlives its processing lease: the lease is renewed while its promise is pending,
// so another instance sharing the store keeps answering "retry later" instead of paying twice.
// Virtual time: the store's clock and the handlers' timers follow one ManualScheduler.
describe('Pay v3 notification handler: processing lease renewal', () => {
  const LEASE_MS = 600;

  function setUp(store: DedupeStore, scheduler: ManualScheduler) {
    const gate = deferred<void>();
    let runsA = 0;
    let runsB = 0;
    const a = make({ dedupe: store, scheduler, processingLeaseMs: LEASE_MS, replyBudgetMs: 100 });
    a.handler.on('TRANSACTION.SUCCESS', async () => {
      runsA++;
      await gate.promise;
    });
    const b = make({ dedupe: store, scheduler, processingLeaseMs: LEASE_MS, replyBudgetMs: 100 });
    b.handler.on('TRANSACTION.SUCCESS', () => {
      runsB++;
    });
    return { a, b, gate, runs: () => ({ runsA, runsB }) };
  }

  const storeOn = (
    scheduler: ManualScheduler,
    extend?: (memory: MemoryDedupeStore) => NonNullable<DedupeStore['extend']>,
  ) => storeOnScheduler(scheduler, NOW * 1000, extend).store;

  it('keeps the lease of a long listener: another instance answers 500 for eight leases, then 204 once it completed', async () => {
    const scheduler = new ManualScheduler();
    const store = new MemoryDedupeStore({ now: () => NOW * 1000 + scheduler.now() });
    const { a, b, gate, runs } = setUp(store, scheduler);
    const id = randomUUID();
    const first = a.handler.handle(notification({ id }));
    await scheduler.whenPending();
    // Past A's reply budget: A answered "retry later", its listener still runs.
    await scheduler.advance(100);
    expect((await first).status).toBe(500);
    for (let elapsed = 100; elapsed < 8 * LEASE_MS; elapsed += 100) {
      await scheduler.advance(100);
      await drain();
      if (elapsed % 1000 === 0) {
        const during = await b.handler.handle(notification({ id }));
        expect(during.status, `at ${elapsed} ms`).toBe(500);
      }
    }
    expect(runs()).toEqual({ runsA: 1, runsB: 0 });
    gate.resolve();
    await drain();
    expect((await b.handler.handle(notification({ id }))).status).toBe(204);
    expect(runs()).toEqual({ runsA: 1, runsB: 0 });
    expect(a.errors).toEqual([]);
    // Renewals stopped with the listener: no timer of A is left behind.
    await scheduler.advance(10 * LEASE_MS);
    expect((await b.handler.handle(notification({ id }))).status).toBe(204);
  });

  it('without extend on the store the lease runs out under a long listener (what the renewal prevents)', async () => {
    const scheduler = new ManualScheduler();
    const { a, b, gate, runs } = setUp(storeOn(scheduler), scheduler);
    const id = randomUUID();
    const first = a.handler.handle(notification({ id }));
    await scheduler.whenPending();
    await scheduler.advance(LEASE_MS + 1);
    expect((await first).status).toBe(500);
    // The lease is over while A's listener still runs: B processes the same payment.
    expect((await b.handler.handle(notification({ id }))).status).toBe(204);
    expect(runs()).toEqual({ runsA: 1, runsB: 1 });
    gate.resolve();
    await drain();
  });

  it('reports a renewal the store refuses as LEASE_LOST, once, and stops renewing', async () => {
    const scheduler = new ManualScheduler();
    let extensions = 0;
    const store = storeOn(scheduler, () => async () => {
      extensions++;
      return false;
    });
    const { a, gate } = setUp(store, scheduler);
    const id = randomUUID();
    void a.handler.handle(notification({ id }));
    await scheduler.whenPending();
    for (let i = 0; i < 10; i++) {
      await scheduler.advance(LEASE_MS / 2);
      await drain();
    }
    expect(extensions).toBe(1);
    expect(a.errors.map((e) => [e.phase, (e.error as { code?: string }).code])).toEqual([
      ['dedupe', 'LEASE_LOST'],
    ]);
    expect(String((a.errors[0]?.error as Error | undefined)?.message)).toContain(id);
    gate.resolve();
    await drain();
  });

  it('renews nothing for a payment processed because the claim itself failed (store outage)', async () => {
    const scheduler = new ManualScheduler();
    let extensions = 0;
    const store = storeOn(scheduler, () => async () => {
      extensions++;
      return true;
    });
    store.claim = async () => {
      throw new Error('redis: connection refused');
    };
    const { a, gate, runs } = setUp(store, scheduler);
    void a.handler.handle(notification({ id: randomUUID() }));
    await scheduler.whenPending();
    for (let t = 0; t < 3 * LEASE_MS; t += 100) {
      await scheduler.advance(100);
      await drain();
    }
    // Processed (at least once), the outage reported once, and no lease it never had renewed.
    expect(runs().runsA).toBe(1);
    expect(extensions).toBe(0);
    expect(a.errors.map((e) => [e.phase, (e.error as Error).message])).toEqual([
      ['dedupe', 'redis: connection refused'],
    ]);
    gate.resolve();
    await drain();
  });

  it('reports a renewal that fails (store outage) and tries again at the next tick', async () => {
    const scheduler = new ManualScheduler();
    let extensions = 0;
    const store = storeOn(scheduler, (memory) => async (k, t) => {
      extensions++;
      if (extensions === 1) throw new Error('redis: connection reset');
      return memory.extend(k, t);
    });
    const { a, b, gate } = setUp(store, scheduler);
    const id = randomUUID();
    void a.handler.handle(notification({ id }));
    await scheduler.whenPending();
    for (let elapsed = 0; elapsed < 3 * LEASE_MS; elapsed += 100) {
      await scheduler.advance(100);
      await drain();
    }
    expect(extensions).toBeGreaterThanOrEqual(4);
    expect(a.errors.map((e) => e.phase)).toEqual(['dedupe']);
    // The second renewal came within the first lease (claimed at 0, renewed at 400): still held.
    expect((await b.handler.handle(notification({ id }))).status).toBe(500);
    gate.resolve();
    await drain();
  });
});

describe('Pay v3 notification handler: a listener that never ends', () => {
  it('stops renewing after ten leases and reports it, so a retry can process the payment', async () => {
    const scheduler = new ManualScheduler();
    const LEASE_MS = 300;
    const store = new MemoryDedupeStore({ now: () => NOW * 1000 + scheduler.now() });
    const a = make({ dedupe: store, scheduler, processingLeaseMs: LEASE_MS, replyBudgetMs: 100 });
    a.handler.on('TRANSACTION.SUCCESS', () => new Promise<void>(() => {}));
    let runsB = 0;
    const b = make({ dedupe: store, scheduler, processingLeaseMs: LEASE_MS, replyBudgetMs: 100 });
    b.handler.on('TRANSACTION.SUCCESS', () => {
      runsB++;
    });
    const id = randomUUID();
    void a.handler.handle(notification({ id }));
    await scheduler.whenPending();
    // Nine leases in: still held.
    for (let t = 0; t < 9 * LEASE_MS; t += 50) {
      await scheduler.advance(50);
      await drain();
    }
    expect((await b.handler.handle(notification({ id }))).status).toBe(500);
    expect(a.errors).toEqual([]);
    // Past ten leases and the last renewed one: reported once, and the retry is processed.
    for (let t = 9 * LEASE_MS; t < 12 * LEASE_MS; t += 50) {
      await scheduler.advance(50);
      await drain();
    }
    expect(a.errors.map((e) => [e.phase, (e.error as { code?: string }).code])).toEqual([
      ['dedupe', 'LEASE_LOST'],
    ]);
    expect(String((a.errors[0]?.error as Error | undefined)?.message)).toContain(
      'still runs after 10 processing leases',
    );
    expect((await b.handler.handle(notification({ id }))).status).toBe(204);
    expect(runsB).toBe(1);
  });
});
