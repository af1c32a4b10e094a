import { execFileSync } from 'node:child_process';
import { createCipheriv, createHash, generateKeyPairSync, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TLSSocket } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signPayV2 } from '../../src/crypto/pay-v2.js';
import type { RunningEmulator } from '../../src/emulator/server.js';
import { mintCertificate } from '../../src/emulator/x509.js';
import { ConfigError, PayloadError, SignatureError } from '../../src/errors.js';
import { PayV2, PayV2Error, type PayV2Options, payV2NotificationReply } from '../../src/pay/index.js';
import { buildXml, parseXml } from '../../src/xml/index.js';
import { makeMerchant, spyFetch, startLocalServer, startPayEmulator } from './helpers.js';

const MERCHANT = makeMerchant('1900000301', 'public-key');
const APPID = 'wxd930ea5d5a258f4f';
const notifications: string[] = [];

let emulator: RunningEmulator;
let notify: Awaited<ReturnType<typeof startLocalServer>>;

// A merchant certificate for mutual TLS (self-signed here; WeChat Pay issues the real one).
const clientKeys = generateKeyPairSync('rsa', { modulusLength: 2048 });
const clientCert = mintCertificate({
  serialHex: randomBytes(16).toString('hex'),
  publicKey: clientKeys.publicKey,
  signingKey: clientKeys.privateKey,
  commonName: MERCHANT.config.mchid,
  notBefore: new Date(Date.now() - 86_400_000),
  notAfter: new Date(Date.now() + 86_400_000),
});
const clientKeyPem = clientKeys.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
const serverKeys = generateKeyPairSync('rsa', { modulusLength: 2048 });
const serverCert = mintCertificate({
  serialHex: randomBytes(16).toString('hex'),
  publicKey: serverKeys.publicKey,
  signingKey: serverKeys.privateKey,
  commonName: 'localhost',
  notBefore: new Date(Date.now() - 86_400_000),
  notAfter: new Date(Date.now() + 86_400_000),
});

/** An https front of the emulator that demands the merchant certificate, as /secapi/ does. */
let mtls: HttpsServer;
let mtlsUrl = '';
const presented: string[] = [];

beforeAll(async () => {
  notify = await startLocalServer((req) => {
    notifications.push(req.body.toString('utf8'));
    return { status: 200, body: payV2NotificationReply(true), headers: { 'content-type': 'text/xml' } };
  });
  ({ emulator } = await startPayEmulator([MERCHANT]));
  mtls = createHttpsServer(
    {
      key: serverKeys.privateKey.export({ type: 'pkcs8', format: 'pem' }),
      cert: serverCert,
      requestCert: true,
      rejectUnauthorized: true,
      ca: [clientCert],
    },
    (req, res) => {
      const peer = (req.socket as TLSSocket).getPeerCertificate();
      presented.push(String(peer.subject?.CN ?? ''));
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', async () => {
        const answer = await fetch(`${emulator.url}${req.url}`, {
          method: 'POST',
          body: Buffer.concat(chunks),
        });
        res.writeHead(answer.status, { 'content-type': 'text/xml' }).end(await answer.text());
      });
    },
  );
  await new Promise<void>((resolve) => mtls.listen(0, 'localhost', resolve));
  mtlsUrl = `https://localhost:${(mtls.address() as AddressInfo).port}`;
});

afterAll(async () => {
  await emulator?.close();
  await notify?.close();
  mtls?.closeAllConnections();
  await new Promise((resolve) => mtls?.close(resolve));
});

function client(extra: Partial<PayV2Options> = {}): PayV2 {
  return new PayV2({
    appId: APPID,
    mchid: MERCHANT.config.mchid,
    apiKey: MERCHANT.config.apiV2Key,
    baseUrl: emulator.url,
    ...extra,
  });
}

let seq = 0;
const no = (p: string) => `${p}${Date.now()}${++seq}`;

const order = (outTradeNo: string) => ({
  body: '测试商品',
  out_trade_no: outTradeNo,
  total_fee: 100,
  spbill_create_ip: '127.0.0.1',
  notify_url: `${notify.url}/v2notify`,
  trade_type: 'JSAPI' as const,
  openid: 'oUser123',
});

async function payV2(outTradeNo: string) {
  const res = await fetch(`${emulator.url}/_emulator/pay/v2/transactions/${outTradeNo}/succeed`, {
    method: 'POST',
  });
  expect(res.status).toBe(200);
}

describe('PayV2 (legacy) against the emulator', () => {
  it.each(['MD5', 'HMAC-SHA256'] as const)(
    'unified order → query → close, answers verified (%s)',
    async (signType) => {
      const pay = client({ signType });
      const outTradeNo = no('v2o');
      const created = await pay.unifiedOrder(order(outTradeNo));
      expect(created.prepay_id).toMatch(/^wx/);
      expect((await pay.orderQuery({ out_trade_no: outTradeNo })).trade_state).toBe('NOTPAY');
      await pay.closeOrder({ out_trade_no: outTradeNo });
      expect((await pay.orderQuery({ out_trade_no: outTradeNo })).trade_state).toBe('CLOSED');
    },
  );

  it('maps result_code FAIL to PayV2Error with err_code', async () => {
    const error = await client()
      .orderQuery({ out_trade_no: 'v2-missing-1' })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(PayV2Error);
    expect(error).toMatchObject({ returnCode: 'SUCCESS', resultCode: 'FAIL', errCode: 'ORDERNOTEXIST' });
  });

  it('maps return_code FAIL (wrong API key: 签名错误) to PayV2Error', async () => {
    const error = await client({ apiKey: randomBytes(16).toString('hex') })
      .orderQuery({ out_trade_no: 'v2-x-1' })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(PayV2Error);
    expect(error).toMatchObject({ returnCode: 'FAIL', returnMsg: '签名错误' });
  });

  it('refuses an answer whose sign does not verify', async () => {
    const spy = spyFetch();
    spy.rewrite = (_p, a) => ({
      ...a,
      body: Buffer.from(new TextDecoder().decode(a.body).replace('NOTPAY', 'SUCCESS')),
    });
    const pay = client();
    const outTradeNo = no('v2t');
    await pay.unifiedOrder(order(outTradeNo));
    const error = await client({ fetch: spy.fetch })
      .orderQuery({ out_trade_no: outTradeNo })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(SignatureError);
  });

  it('refunds over mutual TLS (the server sees the merchant certificate), then queries the refund', async () => {
    const pay = client({ baseUrl: mtlsUrl, tls: { cert: clientCert, key: clientKeyPem, ca: serverCert } });
    const outTradeNo = no('v2r');
    await client().unifiedOrder(order(outTradeNo));
    await payV2(outTradeNo);
    const outRefundNo = no('v2rf');
    const refund = await pay.refund({
      out_trade_no: outTradeNo,
      out_refund_no: outRefundNo,
      total_fee: 100,
      refund_fee: 30,
    });
    expect(refund.refund_id).toMatch(/^50/);
    expect(presented).toContain(MERCHANT.config.mchid);
    const queried = await client().refundQuery({ out_refund_no: outRefundNo });
    expect(queried.out_refund_no_0).toBe(outRefundNo);
    await pay.close();
  });

  it('refunds with a PKCS#12 merchant certificate too', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'wk-p12-'));
    writeFileSync(join(dir, 'cert.pem'), clientCert);
    writeFileSync(join(dir, 'key.pem'), clientKeyPem);
    execFileSync('openssl', [
      'pkcs12',
      '-export',
      '-in',
      join(dir, 'cert.pem'),
      '-inkey',
      join(dir, 'key.pem'),
      '-out',
      join(dir, 'apiclient_cert.p12'),
      '-passout',
      `pass:${MERCHANT.config.mchid}`,
    ]);
    const pfx = readFileSync(join(dir, 'apiclient_cert.p12'));
    const pay = client({ baseUrl: mtlsUrl, tls: { pfx, passphrase: MERCHANT.config.mchid, ca: serverCert } });
    const outTradeNo = no('v2p');
    await client().unifiedOrder(order(outTradeNo));
    await payV2(outTradeNo);
    const refund = await pay.refund({
      out_trade_no: outTradeNo,
      out_refund_no: no('v2pf'),
      total_fee: 100,
      refund_fee: 100,
    });
    expect(refund.result_code).toBe('SUCCESS');
    await pay.close();
  });

  it('refunds through a dispatcher you built with the merchant certificate (tls: { dispatcher })', async () => {
    const { Agent, fetch: undiciFetch } = await import('undici');
    const agent = new Agent({ connect: { cert: clientCert, key: clientKeyPem, ca: serverCert } });
    try {
      const pay = client({
        baseUrl: mtlsUrl,
        fetch: undiciFetch as unknown as typeof fetch,
        tls: { dispatcher: agent },
      });
      const outTradeNo = no('v2d');
      await client().unifiedOrder(order(outTradeNo));
      await payV2(outTradeNo);
      const before = presented.length;
      const refund = await pay.refund({
        out_trade_no: outTradeNo,
        out_refund_no: no('v2df'),
        total_fee: 100,
        refund_fee: 10,
      });
      expect(refund.result_code).toBe('SUCCESS');
      expect(presented.slice(before)).toContain(MERCHANT.config.mchid);
      await pay.close(); // leaves a dispatcher it did not make open
    } finally {
      await agent.close();
    }
  });

  it('refuses a refund without the merchant certificate (mutual TLS is required)', async () => {
    await expect(
      client().refund({ out_trade_no: 'x', out_refund_no: 'y', total_fee: 1, refund_fee: 1 }),
    ).rejects.toBeInstanceOf(ConfigError);
  });
});

describe('PayV2 notifications', () => {
  it('verifies the payment notification the emulator sends (no sign_type, merchant uses HMAC-SHA256)', async () => {
    const pay = client({ signType: 'HMAC-SHA256' });
    const outTradeNo = no('v2n');
    await pay.unifiedOrder(order(outTradeNo));
    await payV2(outTradeNo);
    const raw = notifications.find((n) => n.includes(outTradeNo)) as string;
    expect(raw).toBeDefined();
    expect(raw).not.toContain('sign_type');
    const n = pay.parsePaymentNotification(raw);
    expect(n).toMatchObject({ out_trade_no: outTradeNo, total_fee: '100', result_code: 'SUCCESS' });
    // A changed amount breaks the sign.
    expect(() =>
      pay.parsePaymentNotification(raw.replace(/(<total_fee>(?:<!\[CDATA\[)?)100/, '$11')),
    ).toThrow(SignatureError);
  });

  it('refuses a notification for another merchant, or a parsed body', () => {
    const pay = client();
    const fields: Record<string, string> = {
      return_code: 'SUCCESS',
      appid: APPID,
      mch_id: '1999999999',
      nonce_str: 'abc',
      out_trade_no: 'o1',
      total_fee: '1',
    };
    fields.sign = signPayV2(fields, MERCHANT.config.apiV2Key);
    expect(() => pay.parsePaymentNotification(buildXml(fields))).toThrow(PayloadError);
    expect(() => pay.parsePaymentNotification({} as unknown as string)).toThrow(/raw notification body/);
  });

  it('decrypts a refund notification req_info (AES-256-ECB, key = md5(apiKey) hex)', () => {
    const pay = client();
    const inner = buildXml({
      out_refund_no: 'R1',
      out_trade_no: 'O1',
      refund_status: 'SUCCESS',
      refund_fee: '30',
    }).replace(/^<xml>|<\/xml>$/g, '');
    const plain = `<root>${inner}</root>`;
    const key = Buffer.from(createHash('md5').update(MERCHANT.config.apiV2Key).digest('hex'), 'latin1');
    const cipher = createCipheriv('aes-256-ecb', key, null);
    const reqInfo = Buffer.concat([cipher.update(plain, 'utf8'), cipher.final()]).toString('base64');
    const raw = buildXml({
      return_code: 'SUCCESS',
      appid: APPID,
      mch_id: MERCHANT.config.mchid,
      nonce_str: 'n',
      req_info: reqInfo,
    });
    const n = pay.parseRefundNotification(raw);
    expect(n).toMatchObject({ out_refund_no: 'R1', refund_status: 'SUCCESS', mch_id: MERCHANT.config.mchid });
    const other = client({ apiKey: randomBytes(16).toString('hex') });
    expect(() => other.parseRefundNotification(raw)).toThrow();
  });

  it('answers notifications with the documented XML', () => {
    expect(parseXml(payV2NotificationReply(true))).toEqual({ return_code: 'SUCCESS', return_msg: 'OK' });
    expect(parseXml(payV2NotificationReply(false, '参数错误')).return_code).toBe('FAIL');
  });
});

describe('PayV2 client contract', () => {
  it('answers every call as an APIPromise: data when awaited, status and headers through withResponse()', async () => {
    const pay = client();
    const outTradeNo = no('v2w');
    const { data, response } = await pay.unifiedOrder(order(outTradeNo)).withResponse();
    expect(data.prepay_id).toMatch(/^wx/);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toMatch(/xml/);
    expect(response.requestId).toBeUndefined(); // v2 answers carry no Request-ID
  });

  it('retries a call WeChat Pay de-duplicates after a network error, unless the call says idempotent: false', async () => {
    const spy = spyFetch();
    const pay = client({ fetch: spy.fetch });
    spy.failNext = 1;
    await expect(pay.orderQuery({ out_trade_no: 'v2-retry-1' })).rejects.toBeInstanceOf(PayV2Error);
    expect(spy.count('/pay/orderquery')).toBe(2);
    spy.failNext = 1;
    await expect(pay.orderQuery({ out_trade_no: 'v2-retry-1' }, { idempotent: false })).rejects.toMatchObject(
      {
        code: 'NETWORK_ERROR',
      },
    );
    expect(spy.count('/pay/orderquery')).toBe(3);
  });
});

describe('PayV2 configuration', () => {
  it('says a required setting is undefined, as process.env gives it', () => {
    const env: Record<string, string | undefined> = {};
    expect(() => client({ apiKey: env.WXPAY_V2_KEY })).toThrow(
      /apiKey is required \(it is undefined — if it comes from process\.env/,
    );
    expect(() => client({ mchid: env.WXPAY_MCHID })).toThrow(/PayV2: mchid is required \(it is undefined/);
  });

  it('refuses dispatcher together with a tls certificate, saying why and what to do', () => {
    expect(() =>
      client({ dispatcher: { name: 'proxy' }, tls: { cert: clientCert, key: clientKeyPem } }),
    ).toThrow(
      /cannot be combined: refunds need a dispatcher that presents the merchant certificate.*tls: \{ dispatcher \}/,
    );
    expect(() =>
      client({ dispatcher: { name: 'proxy' }, tls: { dispatcher: { name: 'mtls' } } }),
    ).not.toThrow();
  });

  it('rejects unknown options, a wrong-length key and a half-configured tls', () => {
    expect(() => client({ appid: 'x' } as unknown as PayV2Options)).toThrow(/unknown option "appid"/);
    expect(() => client({ apiKey: 'short' })).toThrow(expect.objectContaining({ code: 'BAD_KEY' }));
    expect(() => client({ tls: { cert: clientCert } as unknown as PayV2Options['tls'] & object })).toThrow(
      /tls must be/,
    );
  });
});
