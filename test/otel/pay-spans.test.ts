// WeChat Pay v3 calls as OpenTelemetry client spans (one per logical call, retries as events, path
// templates as names) and Pay notifications as server spans whose handler's calls are children.
import { generateKeyPairSync, randomUUID } from 'node:crypto';
import { SpanKind, SpanStatusCode } from '@opentelemetry/api';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type CallbackRequest, createPayNotificationHandler } from '../../src/callbacks/index.js';
import { PayV3Verifier } from '../../src/crypto/index.js';
import type { RunningEmulator } from '../../src/emulator/server.js';
import { PayV3 } from '../../src/pay/index.js';
import { signedNotification } from '../helpers/pay-notification.js';
import { makeMerchant, type Platform, startPayEmulator } from '../pay/helpers.js';
import { CALLER, harness, useContextManager } from './harness.js';

useContextManager();

const MERCHANT = makeMerchant('1900000109', 'public-key');
const APPID = 'wx1234567890abcdef';

let emulator: RunningEmulator;
let platform: Platform;
beforeAll(async () => {
  ({ emulator, platform } = await startPayEmulator([MERCHANT]));
});
afterAll(() => emulator?.close());

function payClient(tracing: ReturnType<typeof harness>['tracing']): PayV3 {
  return new PayV3({
    mchid: MERCHANT.config.mchid,
    merchantSerialNo: MERCHANT.config.merchantCertificateSerial,
    privateKey: MERCHANT.privateKey,
    apiV3Key: MERCHANT.config.apiV3Key,
    platform: { publicKey: { id: platform.publicKey.id, key: platform.publicKey.pem } },
    baseUrl: emulator.url,
    tracing,
  });
}

const order = (outTradeNo: string) => ({
  appid: APPID,
  description: '测试商品',
  out_trade_no: outTradeNo,
  notify_url: 'https://shop.example.com/pay/notify',
  amount: { total: 100, currency: 'CNY' },
  payer: { openid: 'oPayer0000000000000000000001' },
});

const fault = (body: unknown) =>
  fetch(`${emulator.url}/_emulator/faults`, { method: 'POST', body: JSON.stringify(body) });

describe('Pay v3 client spans', () => {
  it('names a span by method and path template; the merchant key and signature appear nowhere', async () => {
    const h = harness();
    const pay = payClient(h.tracing);
    const outTradeNo = `otel-${randomUUID().slice(0, 8)}`;
    await pay.transactions.jsapi(order(outTradeNo));
    await pay.transactions.getByOutTradeNo({ out_trade_no: outTradeNo });

    const created = h.span('WeChat Pay POST /v3/pay/transactions/jsapi');
    expect(created.kind).toBe(SpanKind.CLIENT);
    expect(created.attributes).toMatchObject({
      'http.request.method': 'POST',
      'url.path': '/v3/pay/transactions/jsapi',
      'server.address': '127.0.0.1',
      'http.response.status_code': 200,
    });
    const queried = h.span('WeChat Pay GET /v3/pay/transactions/out-trade-no/{out_trade_no}');
    expect(queried.attributes['url.path']).toBe(`/v3/pay/transactions/out-trade-no/${outTradeNo}`);
    expect(queried.status.code).toBe(SpanStatusCode.UNSET);

    const text = h.serialised();
    for (const secret of [MERCHANT.config.apiV3Key, 'WECHATPAY2-SHA256-RSA2048', 'signature=', 'mchid=']) {
      expect(text).not.toContain(secret);
    }
  });

  it('records a retried call as one span with a retry event, and WeChat Pay’s error code on failure', async () => {
    const h = harness();
    const pay = payClient(h.tracing);
    const outTradeNo = `otel-${randomUUID().slice(0, 8)}`;
    await pay.transactions.jsapi(order(outTradeNo));
    h.exporter.reset();
    await fault({ path: `/v3/pay/transactions/out-trade-no/${outTradeNo}`, errcode: 1, count: 1 });
    await pay.transactions.getByOutTradeNo({ out_trade_no: outTradeNo });
    const retried = h.span('WeChat Pay GET /v3/pay/transactions/out-trade-no/{out_trade_no}');
    expect(retried.attributes).toMatchObject({
      'http.request.resend_count': 1,
      'http.response.status_code': 200,
    });
    expect(
      retried.events.map((e) => [
        e.name,
        e.attributes?.['error.type'],
        e.attributes?.['http.response.status_code'],
      ]),
    ).toEqual([['retry', 'API_ERROR', 500]]);
    expect(retried.status.code).toBe(SpanStatusCode.UNSET);

    h.exporter.reset();
    await expect(
      pay.transactions.getByOutTradeNo({ out_trade_no: 'otel-no-such-order' }),
    ).rejects.toMatchObject({
      status: 404,
    });
    const failed = h.span('WeChat Pay GET /v3/pay/transactions/out-trade-no/{out_trade_no}');
    expect(failed.status.code).toBe(SpanStatusCode.ERROR);
    expect(failed.attributes).toMatchObject({ 'http.response.status_code': 404, 'error.type': 'API_ERROR' });
    expect(failed.attributes['wechatpay.error_code']).toMatch(/^[A-Z_]+$/);
  });
});

// A self-made "WeChat Pay" platform key signs the notifications, as WeChat Pay signs its own.
const notifier = generateKeyPairSync('rsa', { modulusLength: 2048 });
const PUB_KEY_ID = 'PUB_KEY_ID_0114232134912410000000000001';
const NOW = 1_714_036_504;

function notification(outTradeNo: string, headers: Record<string, string>): CallbackRequest {
  return signedNotification({
    apiV3Key: MERCHANT.config.apiV3Key,
    resource: {
      mchid: MERCHANT.config.mchid,
      appid: APPID,
      out_trade_no: outTradeNo,
      transaction_id: '4200000000202604250000000001',
      trade_state: 'SUCCESS',
      payer: { openid: 'oPayer0000000000000000000001' },
      amount: { total: 100, payer_total: 100, currency: 'CNY', payer_currency: 'CNY' },
    },
    privateKey: notifier.privateKey,
    serial: PUB_KEY_ID,
    timestamp: NOW,
    url: '/pay/notify?source=wechatpay',
    headers,
  });
}

describe('Pay notification server spans', () => {
  function setup() {
    const h = harness();
    const pay = payClient(h.tracing);
    const handler = createPayNotificationHandler({
      apiV3Key: MERCHANT.config.apiV3Key,
      verifier: new PayV3Verifier({ publicKey: { id: PUB_KEY_ID, key: notifier.publicKey } }),
      now: () => NOW * 1000,
      tracing: h.tracing,
      hooks: { onError: () => {} },
    }).on('TRANSACTION.SUCCESS', async ({ resource }) => {
      await pay.transactions.getByOutTradeNo({ out_trade_no: resource.out_trade_no });
    });
    return { h, pay, handler };
  }

  it('continues the traceparent, records the event type, and the handler’s order query is a child', async () => {
    const { h, pay, handler } = setup();
    const outTradeNo = `otel-${randomUUID().slice(0, 8)}`;
    await pay.transactions.jsapi(order(outTradeNo));
    h.exporter.reset();

    const response = await handler.handle(notification(outTradeNo, { traceparent: CALLER.traceparent }));
    expect(response.status).toBe(204);
    const server = h.span('WeChat Pay notification');
    expect(server.kind).toBe(SpanKind.SERVER);
    expect(server.spanContext().traceId).toBe(CALLER.traceId);
    expect(server.parentSpanContext).toMatchObject({ spanId: CALLER.spanId, isRemote: true });
    expect(server.attributes).toEqual({
      'http.request.method': 'POST',
      'url.path': '/pay/notify',
      'wechatpay.event_type': 'TRANSACTION.SUCCESS',
      'http.response.status_code': 204,
    });
    const query = h.span('WeChat Pay GET /v3/pay/transactions/out-trade-no/{out_trade_no}');
    expect(query.parentSpanContext?.spanId).toBe(server.spanContext().spanId);
    expect(query.spanContext().traceId).toBe(CALLER.traceId);
    const text = h.serialised();
    expect(text).not.toContain(MERCHANT.config.apiV3Key);
    expect(text).not.toContain('oPayer0000000000000000000001');
  });

  it('records a forged notification as refused (401, SIGNATURE_MISMATCH), not as a server error', async () => {
    const { h, handler } = setup();
    const forged = notification('otel-forged', { traceparent: CALLER.traceparent });
    (forged.headers as Record<string, string>)['wechatpay-nonce'] = 'another-nonce-than-signed';
    expect((await handler.handle(forged)).status).toBe(401);
    const server = h.span('WeChat Pay notification');
    expect(server.attributes).toMatchObject({
      'http.response.status_code': 401,
      'error.type': 'SIGNATURE_MISMATCH',
    });
    expect(server.attributes['wechatpay.event_type']).toBeUndefined();
    expect(server.status.code).toBe(SpanStatusCode.UNSET);
    expect(h.spans()).toHaveLength(1);
  });
});
