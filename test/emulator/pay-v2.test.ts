import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type PayV2SignType, signPayV2, verifyPayV2 } from '../../src/crypto/pay-v2.js';
import type { EmulatorMerchantConfig } from '../../src/emulator/config.js';
import { type RunningEmulator, startEmulator } from '../../src/emulator/server.js';
import { buildXml, parseXml } from '../../src/xml/index.js';

const API_V2_KEY = randomBytes(16).toString('hex');
const MERCHANT: EmulatorMerchantConfig = {
  mchid: '1900000109',
  apiV3Key: randomBytes(16).toString('hex'),
  apiV2Key: API_V2_KEY,
  merchantCertificateSerial: 'ABCDEF',
  merchantPublicKeyPem: generateKeyPairSync('rsa', { modulusLength: 2048 })
    .publicKey.export({ type: 'spki', format: 'pem' })
    .toString(),
};
const APPID = 'wxd930ea5d5a258f4f';

let emulator: RunningEmulator;
let notifyServer: Server;
let notifyUrl = '';
const received: string[] = [];
const notifyAnswers: string[] = [];

type Fields = Record<string, string>;

/**
 * Lets `seconds` of WeChat time pass for the emulator's delayed work (divided by its
 * retryTimeScale, as the emulator divides the delays) and waits for the work that fell due.
 */
async function elapse(seconds: number): Promise<void> {
  emulator.state.advance(seconds / emulator.config.options.retryTimeScale);
  await emulator.state.clock.settled();
}

async function post(path: string, fields: Fields, signType: PayV2SignType = 'MD5', key = API_V2_KEY) {
  const params: Fields = {
    appid: APPID,
    mch_id: MERCHANT.mchid,
    nonce_str: randomBytes(8).toString('hex'),
    ...fields,
  };
  if (signType === 'HMAC-SHA256') params.sign_type = 'HMAC-SHA256';
  params.sign = signPayV2(params, key, signType);
  const res = await fetch(`${emulator.url}${path}`, { method: 'POST', body: buildXml(params) });
  expect(res.status).toBe(200);
  const out = parseXml(await res.text()) as Fields;
  // Every SUCCESS answer is signed with the same algorithm as the request.
  if (out.return_code === 'SUCCESS') verifyPayV2(out, API_V2_KEY, signType);
  return out;
}

const unifiedOrder = (no: string, extra: Fields = {}, signType: PayV2SignType = 'MD5') =>
  post(
    '/pay/unifiedorder',
    {
      body: '测试商品',
      out_trade_no: no,
      total_fee: '100',
      spbill_create_ip: '127.0.0.1',
      notify_url: notifyUrl,
      trade_type: 'JSAPI',
      openid: 'oUser123',
      ...extra,
    },
    signType,
  );

async function pay(no: string) {
  const res = await fetch(`${emulator.url}/_emulator/pay/v2/transactions/${no}/succeed`, { method: 'POST' });
  expect(res.status).toBe(200);
  return res.json();
}

beforeAll(async () => {
  notifyServer = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      received.push(Buffer.concat(chunks).toString('utf8'));
      res
        .writeHead(200, { 'content-type': 'text/xml' })
        .end(notifyAnswers.shift() ?? buildXml({ return_code: 'SUCCESS', return_msg: 'OK' }));
    });
  });
  await new Promise<void>((resolve) => notifyServer.listen(0, '127.0.0.1', resolve));
  notifyUrl = `http://127.0.0.1:${(notifyServer.address() as AddressInfo).port}/v2notify`;
  emulator = await startEmulator({ config: { apps: [], merchants: [MERCHANT] } });
});

afterAll(async () => {
  await emulator?.close();
  notifyServer?.closeAllConnections();
  await new Promise((resolve) => notifyServer?.close(resolve));
});

describe('Pay v2 signatures', () => {
  it('accepts MD5 and HMAC-SHA256 and signs the answer the same way', async () => {
    const md5 = await unifiedOrder('v2-md5-0001');
    expect(md5).toMatchObject({ return_code: 'SUCCESS', result_code: 'SUCCESS', trade_type: 'JSAPI' });
    expect(md5.prepay_id).toMatch(/^wx\d{14}\w+$/);
    const hmac = await unifiedOrder('v2-hmac-0001', {}, 'HMAC-SHA256');
    expect(hmac).toMatchObject({ return_code: 'SUCCESS', result_code: 'SUCCESS' });
    expect(hmac.sign).toHaveLength(64);
  });

  it('answers return_code FAIL / 签名错误 for a wrong sign, unsigned', async () => {
    const wrong = await post('/pay/orderquery', { out_trade_no: 'v2-md5-0001' }, 'MD5', 'not-the-key');
    expect(wrong).toEqual({ return_code: 'FAIL', return_msg: '签名错误' });
    const wrongHmac = await post('/pay/orderquery', { out_trade_no: 'v2-md5-0001' }, 'HMAC-SHA256', 'x');
    expect(wrongHmac.return_msg).toBe('签名错误');
    const garbage = await fetch(`${emulator.url}/pay/orderquery`, { method: 'POST', body: '<xml><a>' });
    expect(parseXml(await garbage.text()).return_code).toBe('FAIL');
  });

  it('reports missing parameters as LACK_PARAMS', async () => {
    const r = await post('/pay/unifiedorder', { body: 'x', out_trade_no: 'v2-lack-0001' });
    expect(r).toMatchObject({ return_code: 'SUCCESS', result_code: 'FAIL', err_code: 'LACK_PARAMS' });
  });
});

describe('Pay v2 orders and refunds', () => {
  it('native orders carry a code_url; duplicates are idempotent or INVALID_REQUEST', async () => {
    const native = await unifiedOrder('v2-native-0001', { trade_type: 'NATIVE', product_id: 'p1' });
    expect(native.code_url).toMatch(/^weixin:\/\/wxpay\/bizpayurl\?pr=/);
    const again = await unifiedOrder('v2-native-0001', { trade_type: 'NATIVE', product_id: 'p1' });
    expect(again.code_url).toBe(native.code_url);
    const changed = await unifiedOrder('v2-native-0001', {
      trade_type: 'NATIVE',
      product_id: 'p1',
      total_fee: '5',
    });
    expect(changed).toMatchObject({ result_code: 'FAIL', err_code: 'INVALID_REQUEST' });
  });

  it('queries, closes, and reports ORDERNOTEXIST / ORDERCLOSED', async () => {
    await unifiedOrder('v2-close-0001');
    expect(await post('/pay/orderquery', { out_trade_no: 'v2-close-0001' })).toMatchObject({
      result_code: 'SUCCESS',
      trade_state: 'NOTPAY',
    });
    expect(await post('/pay/closeorder', { out_trade_no: 'v2-close-0001' })).toMatchObject({
      result_code: 'SUCCESS',
    });
    expect(await post('/pay/orderquery', { out_trade_no: 'v2-close-0001' })).toMatchObject({
      trade_state: 'CLOSED',
    });
    expect(await post('/pay/closeorder', { out_trade_no: 'v2-close-0001' })).toMatchObject({
      err_code: 'ORDERCLOSED',
    });
    expect(await unifiedOrder('v2-close-0001')).toMatchObject({ err_code: 'ORDERCLOSED' });
    expect(await post('/pay/orderquery', { out_trade_no: 'v2-none-0001' })).toMatchObject({
      result_code: 'FAIL',
      err_code: 'ORDERNOTEXIST',
    });
  });

  it('pays (signed XML notification, retried until SUCCESS), then ORDERPAID and refunds', async () => {
    await unifiedOrder('v2-paid-0001', {}, 'HMAC-SHA256');
    received.length = 0;
    notifyAnswers.push(buildXml({ return_code: 'FAIL', return_msg: 'busy' }));
    const result = await pay('v2-paid-0001');
    expect(result.order.trade_state).toBe('SUCCESS');
    // The retry is due 15 s later (emulated, divided by retryTimeScale): move the clock there.
    await elapse(15);
    expect(received).toHaveLength(2);
    expect(received[0]).toBe(received[1]);
    const notice = parseXml(received[0] as string) as Fields;
    // The notification omits sign_type even for HMAC-SHA256: verify with the merchant's type.
    expect(notice.sign_type).toBeUndefined();
    verifyPayV2(notice, API_V2_KEY, 'HMAC-SHA256');
    expect(notice).toMatchObject({ result_code: 'SUCCESS', out_trade_no: 'v2-paid-0001', total_fee: '100' });
    expect(notice.transaction_id).toMatch(/^\d{28}$/);

    const q = await post('/pay/orderquery', { transaction_id: notice.transaction_id as string });
    expect(q).toMatchObject({ trade_state: 'SUCCESS', out_trade_no: 'v2-paid-0001', cash_fee: '100' });
    expect(await post('/pay/closeorder', { out_trade_no: 'v2-paid-0001' })).toMatchObject({
      err_code: 'ORDERPAID',
    });

    const refund = (no: string, fee: string) =>
      post('/secapi/pay/refund', {
        out_trade_no: 'v2-paid-0001',
        out_refund_no: no,
        total_fee: '100',
        refund_fee: fee,
      });
    expect(await refund('v2-r-0001', '70')).toMatchObject({ result_code: 'SUCCESS', refund_fee: '70' });
    expect(await refund('v2-r-0002', '31')).toMatchObject({
      result_code: 'FAIL',
      err_code: 'INVALID_REQUEST',
    });
    expect(await refund('v2-r-0001', '60')).toMatchObject({ err_code: 'INVALID_REQUEST' });
    const rq = await post('/pay/refundquery', { out_trade_no: 'v2-paid-0001' });
    expect(rq).toMatchObject({ result_code: 'SUCCESS', refund_count: '1', out_refund_no_0: 'v2-r-0001' });
    expect(['PROCESSING', 'SUCCESS']).toContain(rq.refund_status_0);
    await elapse(60);
    expect(await post('/pay/refundquery', { out_refund_no: 'v2-r-0001' })).toMatchObject({
      refund_status_0: 'SUCCESS',
    });
    expect(await post('/pay/refundquery', { out_refund_no: 'v2-r-none' })).toMatchObject({
      err_code: 'REFUNDNOTEXIST',
    });
  });
});
