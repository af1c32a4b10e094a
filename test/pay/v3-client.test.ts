import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPayNotificationHandler } from '../../src/callbacks/index.js';
import { MemoryStore } from '../../src/credentials/memory-store.js';
import { oaepDecrypt, oaepEncrypt } from '../../src/crypto/pay-v3-oaep.js';
import type { PayV3SignatureVerifier } from '../../src/crypto/pay-v3-verify.js';
import type { RunningEmulator } from '../../src/emulator/server.js';
import { ConfigError, CryptoError, SignatureError, TransportError } from '../../src/errors.js';
import { readPayV3Headers } from '../../src/internal/pay-v3-headers.js';
import { PayApiError, PayV3, type PayV3Options } from '../../src/pay/index.js';
import {
  makeMerchant,
  type PayV3TestOptions,
  type Platform,
  type Received,
  type SpyFetch,
  spyFetch,
  startLocalServer,
  startPayEmulator,
  type TestMerchant,
} from './helpers.js';

const PK = makeMerchant('1900000101', 'public-key');
const CERT = makeMerchant('1900000102', 'certificate');
const MIGRATING = makeMerchant('1900000103', 'certificate');
const APPID = 'wx1234567890abcdef';

let emulator: RunningEmulator;
let platform: Platform;
let notify: Awaited<ReturnType<typeof startLocalServer>>;

beforeAll(async () => {
  notify = await startLocalServer(() => ({ status: 204 }));
  ({ emulator, platform } = await startPayEmulator([PK, CERT, MIGRATING]));
});

afterAll(async () => {
  await emulator?.close();
  await notify?.close();
});

type Trust = 'public-key' | 'certificates' | 'both' | 'none';

function client(m: TestMerchant, trust: Trust, extra: PayV3TestOptions = {}): PayV3 {
  const publicKey = { id: platform.publicKey.id, key: platform.publicKey.pem };
  const certificates = platform.certificates.map((c) => c.pem);
  const platformOption =
    trust === 'public-key'
      ? { publicKey }
      : trust === 'certificates'
        ? { certificates }
        : trust === 'both'
          ? { publicKey, certificates }
          : undefined;
  return new PayV3({
    mchid: m.config.mchid,
    merchantSerialNo: m.config.merchantCertificateSerial,
    privateKey: m.privateKey,
    apiV3Key: m.config.apiV3Key,
    ...(platformOption === undefined ? {} : { platform: platformOption }),
    baseUrl: emulator.url,
    ...extra,
  });
}

let seq = 0;
const no = (prefix: string) => `${prefix}${Date.now()}${++seq}`;

function jsapiOrder(outTradeNo: string) {
  return {
    appid: APPID,
    description: '测试商品',
    out_trade_no: outTradeNo,
    notify_url: `${notify.url}/notify`,
    amount: { total: 100, currency: 'CNY' },
    payer: { openid: 'oUser123' },
  };
}

async function pay(outTradeNo: string, mchid: string) {
  const res = await fetch(`${emulator.url}/_emulator/pay/transactions/${outTradeNo}/succeed`, {
    method: 'POST',
    body: JSON.stringify({ mchid }),
  });
  expect(res.status).toBe(200);
}

async function clock(advanceSeconds: number) {
  await fetch(`${emulator.url}/_emulator/clock`, {
    method: 'POST',
    body: JSON.stringify({ advanceSeconds }),
  });
}

describe('PayV3 against the emulator: order → query → pay → refund', () => {
  it.each([
    ['public-key mode', PK, 'public-key'],
    ['certificate mode', CERT, 'certificates'],
  ] as const)('runs the whole flow with every answer verified (%s)', async (_name, m, trust) => {
    const pay3 = client(m, trust);
    const outTradeNo = no('flow');
    const { prepay_id } = await pay3.transactions.jsapi(jsapiOrder(outTradeNo));
    expect(prepay_id).toMatch(/^wx/);
    // An identical re-submission (what a retry sends) gets the same prepay_id.
    expect((await pay3.transactions.jsapi(jsapiOrder(outTradeNo))).prepay_id).toBe(prepay_id);

    const params = await pay3.jsapiPayParams({ appid: APPID, prepay_id });
    expect(params).toMatchObject({ appId: APPID, package: `prepay_id=${prepay_id}`, signType: 'RSA' });

    expect((await pay3.transactions.getByOutTradeNo({ out_trade_no: outTradeNo })).trade_state).toBe(
      'NOTPAY',
    );
    await pay(outTradeNo, m.config.mchid);
    const paid = await pay3.transactions.getByOutTradeNo({ out_trade_no: outTradeNo });
    expect(paid.trade_state).toBe('SUCCESS');
    const byId = await pay3.transactions.getById({ transaction_id: paid.transaction_id as string });
    expect(byId.out_trade_no).toBe(outTradeNo);

    const outRefundNo = no('refund');
    const refund = await pay3.refunds.create({
      out_trade_no: outTradeNo,
      out_refund_no: outRefundNo,
      amount: { refund: 40, total: 100, currency: 'CNY' },
    });
    expect(refund).toMatchObject({ out_refund_no: outRefundNo, status: 'PROCESSING' });
    const queried = await pay3.refunds.get({ out_refund_no: outRefundNo });
    expect(queried.refund_id).toBe(refund.refund_id);
  });

  it('closes an order (a verified 204) and queries it as CLOSED', async () => {
    const pay3 = client(PK, 'public-key');
    const outTradeNo = no('close');
    const { code_url } = await pay3.transactions.native({
      appid: APPID,
      description: 'x',
      out_trade_no: outTradeNo,
      notify_url: `${notify.url}/n`,
      amount: { total: 1 },
    });
    expect(code_url).toMatch(/^weixin:\/\//);
    await expect(pay3.transactions.close({ out_trade_no: outTradeNo })).resolves.toBeUndefined();
    expect((await pay3.transactions.getByOutTradeNo({ out_trade_no: outTradeNo })).trade_state).toBe(
      'CLOSED',
    );
  });

  it('the generic request() signs the query exactly as sent and offers status, data and Request-ID through withResponse()', async () => {
    const pay3 = client(PK, 'public-key');
    const outTradeNo = no('generic');
    await pay3.transactions.jsapi(jsapiOrder(outTradeNo));
    const answer = await pay3
      .request<{ trade_state: string }>('GET', `/v3/pay/transactions/out-trade-no/${outTradeNo}`, {
        query: { mchid: PK.config.mchid },
      })
      .withResponse();
    expect(answer.response.status).toBe(200);
    expect(answer.data.trade_state).toBe('NOTPAY');
    expect(answer.response.requestId).toBeTruthy();
  });

  it('turns a verified 4xx into PayApiError with status, code, message and detail', async () => {
    const pay3 = client(PK, 'public-key');
    const missing = await pay3.transactions
      .getByOutTradeNo({ out_trade_no: 'no-such-order-1' })
      .catch((e: unknown) => e);
    expect(missing).toBeInstanceOf(PayApiError);
    expect(missing).toMatchObject({ status: 404, payCode: 'ORDER_NOT_EXIST', code: 'API_ERROR' });
    const bad = await pay3.transactions
      .jsapi({ ...jsapiOrder(no('bad')), amount: { total: -1, currency: 'CNY' } })
      .catch((e: unknown) => e);
    expect(bad).toBeInstanceOf(PayApiError);
    expect((bad as PayApiError).status).toBe(400);
    expect((bad as PayApiError).payCode).toBe('PARAM_ERROR');
    expect((bad as PayApiError).detail).toMatchObject({ location: 'body' });
  });

  it('explains a SIGN_ERROR answer (wrong merchant key) with the detail WeChat Pay sends', async () => {
    const wrongKey = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
    const pay3 = client(PK, 'public-key', { privateKey: wrongKey });
    const error = (await pay3.transactions
      .getByOutTradeNo({ out_trade_no: 'x123456' })
      .catch((e: unknown) => e)) as PayApiError;
    expect(error).toBeInstanceOf(PayApiError);
    expect([error.status, error.payCode]).toEqual([401, 'SIGN_ERROR']);
    expect(error.message).toMatch(/merchantSerialNo/);
    expect(JSON.stringify(error.detail)).toMatch(/truncated_sign_message/);
  });
});

describe('PayV3 trust: public key, certificates, migration, automatic download', () => {
  it('verifies both kinds of answer during a migration (both trusted, chosen by Wechatpay-Serial)', async () => {
    const spy: SpyFetch = spyFetch();
    const serials: string[] = [];
    spy.rewrite = (_path, a) => {
      serials.push(a.headers.get('wechatpay-serial') ?? '');
      return undefined;
    };
    const pay3 = client(MIGRATING, 'both', { fetch: spy.fetch });
    // WeChat Pay ramps from certificate to public-key signatures: the header is mixed meanwhile.
    const merchant = emulator.state.merchant(MIGRATING.config.mchid) as { verifyMode: string };
    merchant.verifyMode = 'certificate';
    await pay3.transactions.jsapi(jsapiOrder(no('mig')));
    merchant.verifyMode = 'public-key';
    await pay3.transactions.jsapi(jsapiOrder(no('mig')));
    merchant.verifyMode = 'certificate';
    await pay3.transactions.jsapi(jsapiOrder(no('mig')));
    expect(serials).toEqual([
      platform.certificates[0]?.serialNo,
      platform.publicKey.id,
      platform.certificates[0]?.serialNo,
    ]);
    expect(spy.count('/v3/certificates')).toBe(0);
  });

  it('refuses a certificate-signed answer when only the public key is trusted (no download)', async () => {
    const spy = spyFetch();
    const pay3 = client(CERT, 'public-key', { fetch: spy.fetch });
    const error = await pay3.transactions.jsapi(jsapiOrder(no('pkonly'))).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(SignatureError);
    expect(spy.count('/v3/certificates')).toBe(0);
  });

  it('downloads certificates on first use with autoCertificates alone, and shares them through the store', async () => {
    const store = new MemoryStore();
    const spy = spyFetch();
    const first = client(CERT, 'none', { autoCertificates: true, store, fetch: spy.fetch });
    await first.transactions.jsapi(jsapiOrder(no('tofu')));
    expect(spy.count('/v3/certificates')).toBe(1);
    expect(first.knownSerials()).toContain(platform.certificates[0]?.serialNo);

    const second = client(CERT, 'none', { autoCertificates: true, store, fetch: spy.fetch });
    await second.transactions.jsapi(jsapiOrder(no('tofu')));
    // The second instance took the certificates from the store.
    expect(spy.count('/v3/certificates')).toBe(1);
  });

  it('re-downloads certificates after the 12 h refresh period, without failing calls', async () => {
    const spy = spyFetch();
    let offsetMs = 0;
    const pay3 = client(CERT, 'certificates', { fetch: spy.fetch, now: () => Date.now() + offsetMs });
    await pay3.transactions.jsapi(jsapiOrder(no('rot')));
    // Configured certificates alone: nothing downloaded yet, so nothing to rotate.
    expect(spy.count('/v3/certificates')).toBe(0);
    await pay3.refreshCertificates();
    expect(spy.count('/v3/certificates')).toBe(1);
    offsetMs = 13 * 3600 * 1000;
    await clock(13 * 3600);
    try {
      await pay3.transactions.jsapi(jsapiOrder(no('rot')));
      expect(spy.count('/v3/certificates')).toBe(2);
      await pay3.transactions.jsapi(jsapiOrder(no('rot')));
      expect(spy.count('/v3/certificates')).toBe(2);
    } finally {
      await clock(-13 * 3600);
    }
  });

  it('encrypts sensitive fields with the public key (serial PUB_KEY_ID_…) and decrypts with the merchant key', async () => {
    const pay3 = client(PK, 'both');
    const sealed = await pay3.encryptSensitive('张三');
    expect(sealed.serial).toBe(platform.publicKey.id);
    const certOnly = client(CERT, 'certificates');
    const sealedByCert = await certOnly.encryptSensitive('张三');
    expect(sealedByCert.serial).toBe(platform.certificates[0]?.serialNo);
    const forMerchant = oaepEncrypt('李四', PK.publicKey);
    expect(pay3.decryptSensitive(forMerchant)).toBe('李四');
    expect(() => oaepDecrypt(sealed.ciphertext, PK.privateKey)).toThrow(CryptoError);
  });
});

describe('PayV3 refusals: an answer that fails verification is an error, never data', () => {
  it('refuses a tampered body', async () => {
    const spy = spyFetch();
    spy.rewrite = (path, a) =>
      path.includes('/out-trade-no/')
        ? { ...a, body: Buffer.from(new TextDecoder().decode(a.body).replace('NOTPAY', 'SUCCESS')) }
        : undefined;
    const pay3 = client(PK, 'public-key', { fetch: spy.fetch });
    const outTradeNo = no('tamper');
    await pay3.transactions.jsapi(jsapiOrder(outTradeNo));
    const error = await pay3.transactions
      .getByOutTradeNo({ out_trade_no: outTradeNo })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(SignatureError);
    expect((error as SignatureError).code).toBe('SIGNATURE_MISMATCH');
  });

  it('refuses a tampered error answer too (no PayApiError from unverified bytes)', async () => {
    const spy = spyFetch();
    spy.rewrite = (_path, a) =>
      a.status === 404
        ? { ...a, body: Buffer.from(new TextDecoder().decode(a.body).replace('ORDER', 'XRDER')) }
        : undefined;
    const pay3 = client(PK, 'public-key', { fetch: spy.fetch });
    await expect(pay3.transactions.getByOutTradeNo({ out_trade_no: 'missing-123' })).rejects.toBeInstanceOf(
      SignatureError,
    );
  });

  it('refuses a stale answer (emulator clock moved by more than 300 s)', async () => {
    const pay3 = client(PK, 'public-key');
    await clock(400);
    try {
      const error = await pay3.transactions
        .getByOutTradeNo({ out_trade_no: 'stale-1234' })
        .catch((e: unknown) => e);
      expect(error).toBeInstanceOf(SignatureError);
      expect((error as SignatureError).code).toBe('TIMESTAMP_EXPIRED');
    } finally {
      await clock(-400);
    }
  });

  it('refuses a WECHATPAY/SIGNTEST/ probe as a SignatureError with probe: true', async () => {
    const set = (enabled: boolean) =>
      fetch(`${emulator.url}/_emulator/pay/signtest`, {
        method: 'POST',
        body: JSON.stringify({ mchid: PK.config.mchid, enabled }),
      });
    const pay3 = client(PK, 'public-key');
    await set(true);
    try {
      const error = await pay3.transactions
        .getByOutTradeNo({ out_trade_no: 'probe-1234' })
        .catch((e: unknown) => e);
      expect(error).toBeInstanceOf(SignatureError);
      expect((error as SignatureError).probe).toBe(true);
    } finally {
      await set(false);
    }
  });

  it('answers an unknown serial with one certificate download, then refuses', async () => {
    const spy = spyFetch();
    spy.rewrite = (path, a) => {
      if (path === '/v3/certificates') return undefined;
      const headers = new Headers(a.headers);
      headers.set('wechatpay-serial', 'ABCDEF0123456789ABCDEF0123456789ABCDEF01');
      return { ...a, headers };
    };
    const pay3 = client(CERT, 'certificates', { fetch: spy.fetch });
    const error = await pay3.transactions
      .getByOutTradeNo({ out_trade_no: 'forged-0001' })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(SignatureError);
    expect((error as Error).message).toMatch(/matches no trusted platform certificate/);
    expect(spy.count('/v3/certificates')).toBe(1);

    // Ten more forged answers inside the interval: no further download.
    for (let i = 0; i < 10; i++) {
      await expect(
        pay3.transactions.getByOutTradeNo({ out_trade_no: `forged-${i}000` }),
      ).rejects.toBeInstanceOf(SignatureError);
    }
    expect(spy.count('/v3/certificates')).toBe(1);
  });

  it('does not amplify concurrent forged answers either (one shared download)', async () => {
    const spy = spyFetch();
    spy.rewrite = (path, a) => {
      if (path === '/v3/certificates') return undefined;
      const headers = new Headers(a.headers);
      headers.set('wechatpay-serial', '0123456789');
      return { ...a, headers };
    };
    const pay3 = client(PK, 'public-key', { fetch: spy.fetch, autoCertificates: true });
    const results = await Promise.allSettled(
      Array.from({ length: 10 }, (_, i) =>
        pay3.transactions.getByOutTradeNo({ out_trade_no: `conc-${i}0000` }),
      ),
    );
    expect(results.every((r) => r.status === 'rejected' && r.reason instanceof SignatureError)).toBe(true);
    expect(spy.count('/v3/certificates')).toBe(1);
  });

  it('fails the certificate download with DECRYPT_FAILED when the APIv3 key is wrong', async () => {
    const pay3 = client(CERT, 'none', { autoCertificates: true, apiV3Key: randomBytes(16).toString('hex') });
    const error = await pay3.transactions
      .getByOutTradeNo({ out_trade_no: 'wrongkey-1' })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(CryptoError);
    expect((error as CryptoError).code).toBe('DECRYPT_FAILED');
    expect((error as Error).message).toMatch(/APIv3 key/);
  });
});

describe('PayV3.verifySignature (notifications)', () => {
  it('verifies a TRANSACTION.SUCCESS notification the emulator sends, and refuses it altered', async () => {
    const outTradeNo = no('notif');
    const pay3 = client(CERT, 'none', { autoCertificates: true });
    await pay3.transactions.jsapi(jsapiOrder(outTradeNo));
    const before = notify.received.length;
    await pay(outTradeNo, CERT.config.mchid);
    const delivered = notify.received.slice(before).find((r) => r.url === '/notify');
    expect(delivered).toBeDefined();
    const { headers, body } = delivered as {
      headers: Record<string, string | string[] | undefined>;
      body: Buffer;
    };
    await pay3.verifySignature({ headers, body: new Uint8Array(body) });
    await expect(
      pay3.verifySignature({ headers, body: body.toString('utf8').replace('"id"', '"Id"') }),
    ).rejects.toBeInstanceOf(SignatureError);
    await expect(pay3.verifySignature({ headers, body: JSON.parse(body.toString('utf8')) })).rejects.toThrow(
      /raw body/,
    );
  });
});

describe('a notification handler takes any verifier { verify(request) }', () => {
  it('accepts an async verifier of its own (here wrapping the client trust), and refuses what it refuses', async () => {
    const outTradeNo = no('ownverifier');
    const pay3 = client(PK, 'public-key');
    await pay3.transactions.jsapi(jsapiOrder(outTradeNo));
    const before = notify.received.length;
    await pay(outTradeNo, PK.config.mchid);
    const delivered = notify.received.slice(before).find((r) => r.url === '/notify') as Received;
    expect(delivered).toBeDefined();
    const asked: string[] = [];
    const verifier: PayV3SignatureVerifier = {
      async verify(request) {
        asked.push(String(readPayV3Headers(request.headers).serial));
        await pay3.platformTrust.verify(request);
      },
    };
    const paid: string[] = [];
    const handler = createPayNotificationHandler({ apiV3Key: PK.config.apiV3Key, verifier }).on(
      'TRANSACTION.SUCCESS',
      ({ resource }) => {
        paid.push(resource.out_trade_no);
      },
    );
    const request = {
      method: 'POST',
      url: '/notify',
      headers: delivered.headers,
      rawBody: new Uint8Array(delivered.body),
    };
    expect((await handler.handle(request)).status).toBe(204);
    expect(paid).toEqual([outTradeNo]);
    expect(asked).toEqual([platform.publicKey.id]);
    const altered = { ...request, rawBody: delivered.body.toString('utf8').replace('"id"', '"Id"') };
    expect((await handler.handle(altered)).status).toBe(401);
  });
});

describe('PayV3 retries: only safe calls, only transient failures', () => {
  async function fault(path: string, count: number) {
    const res = await fetch(`${emulator.url}/_emulator/faults`, {
      method: 'POST',
      body: JSON.stringify({ path, count, errcode: -1 }),
    });
    expect(res.status).toBe(200);
  }

  it('retries a query after a signed 500 and a network error, with a fresh signature', async () => {
    const spy = spyFetch();
    const retries: number[] = [];
    const pay3 = client(PK, 'public-key', {
      fetch: spy.fetch,
      hooks: { onRetry: (e) => retries.push(e.attempt) },
    });
    const outTradeNo = no('retry');
    await pay3.transactions.jsapi(jsapiOrder(outTradeNo));
    const path = `/v3/pay/transactions/out-trade-no/${outTradeNo}`;
    await fault(path, 1);
    spy.failNext = 0;
    expect((await pay3.transactions.getByOutTradeNo({ out_trade_no: outTradeNo })).trade_state).toBe(
      'NOTPAY',
    );
    expect(spy.count(path)).toBe(2);
    spy.failNext = 1;
    expect((await pay3.transactions.getByOutTradeNo({ out_trade_no: outTradeNo })).trade_state).toBe(
      'NOTPAY',
    );
    expect(retries).toEqual([1, 1]);
  });

  it('never retries a 4xx', async () => {
    const spy = spyFetch();
    const pay3 = client(PK, 'public-key', { fetch: spy.fetch });
    await expect(pay3.transactions.getByOutTradeNo({ out_trade_no: 'no-such-x' })).rejects.toBeInstanceOf(
      PayApiError,
    );
    expect(spy.count('/v3/pay/transactions/out-trade-no/no-such-x')).toBe(1);
  });

  it('does not retry a POST sent through request() unless marked idempotent', async () => {
    const spy = spyFetch();
    const pay3 = client(PK, 'public-key', { fetch: spy.fetch });
    spy.failNext = 1;
    const error = await pay3
      .request('POST', '/v3/pay/transactions/native', { body: {} })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TransportError);
    expect(spy.count('/v3/pay/transactions/native')).toBe(1);
  });
});

describe('PayV3 configuration is checked when the client is built', () => {
  const base = () => ({
    mchid: PK.config.mchid,
    merchantSerialNo: PK.config.merchantCertificateSerial,
    privateKey: PK.privateKey,
    apiV3Key: PK.config.apiV3Key,
    platform: {
      publicKey: { id: 'PUB_KEY_ID_0000000000000000000000000001', key: PK.config.merchantPublicKeyPem },
    },
  });

  it('rejects unknown options', () => {
    expect(() => new PayV3({ ...base(), apiv3Key: 'x' } as unknown as PayV3Options)).toThrow(
      /unknown option "apiv3Key"/,
    );
  });

  it('rejects an APIv3 key that is not 32 bytes, with BAD_KEY', () => {
    expect(() => new PayV3({ ...base(), apiV3Key: 'short' })).toThrow(
      expect.objectContaining({ code: 'BAD_KEY' }),
    );
  });

  it('rejects a certificate passed as the private key, with BAD_KEY and guidance', () => {
    expect(() => new PayV3({ ...base(), privateKey: 'not a key' })).toThrow(ConfigError);
  });

  it('requires some platform trust unless autoCertificates is on', () => {
    const { platform: _p, ...rest } = base();
    expect(() => new PayV3(rest)).toThrow(/PUB_KEY_ID_/);
    expect(() => new PayV3({ ...rest, autoCertificates: true })).not.toThrow();
  });

  it('refuses an order body for another mchid before sending', async () => {
    const pay3 = client(PK, 'public-key');
    await expect(pay3.transactions.jsapi({ ...jsapiOrder(no('m')), mchid: '1' })).rejects.toThrow(
      /not this client's mchid/,
    );
  });
});
