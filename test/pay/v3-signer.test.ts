import { type KeyObject, randomBytes, sign, verify } from 'node:crypto';
import { MessageChannel } from 'node:worker_threads';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  buildAuthorization,
  buildJsapiPayParams,
  type PayV3MerchantSigner,
  PayV3Signer,
  privateKeySigner,
  signAuthorization,
  signJsapiPayParams,
} from '../../src/crypto/pay-v3-sign.js';
import type { RunningEmulator } from '../../src/emulator/server.js';
import { ConfigError } from '../../src/errors.js';
import { PayApiError, PayV3, type PayV3Options } from '../../src/pay/index.js';
import { makeMerchant, type Platform, spyFetch, startLocalServer, startPayEmulator } from './helpers.js';

/**
 * Pay v3 signs through an interface: a signer `{ serialNo, sign(message) }` — here an async one
 * whose key lives behind a message port, as a KMS or an HSM keeps it — signs every request and the
 * pay parameters, and the emulator (which checks signatures as api.mch.weixin.qq.com does) accepts
 * them; a signer with another serial is refused with a typed error.
 */

const M = makeMerchant('1900000401', 'public-key');
const APPID = 'wx1234567890abcdef';

let emulator: RunningEmulator;
let platform: Platform;
let notify: Awaited<ReturnType<typeof startLocalServer>>;

beforeAll(async () => {
  notify = await startLocalServer(() => ({ status: 204 }));
  ({ emulator, platform } = await startPayEmulator([M]));
});
afterAll(async () => {
  await emulator?.close();
  await notify?.close();
});

/**
 * A stand-in for a KMS: the private key lives on the far side of a message port, and each
 * signature is a round trip through the event loop (asynchronous, no timers).
 */
function keyService(privateKey: KeyObject) {
  const { port1, port2 } = new MessageChannel();
  port2.on('message', ({ id, message }: { id: number; message: string }) => {
    port2.postMessage({
      id,
      signature: sign('sha256', Buffer.from(message, 'utf8'), privateKey).toString('base64'),
    });
  });
  const pending = new Map<number, (signature: string) => void>();
  port1.on('message', ({ id, signature }: { id: number; signature: string }) => {
    pending.get(id)?.(signature);
    pending.delete(id);
  });
  const signed: string[] = [];
  let next = 0;
  return {
    signed,
    sign(message: string): Promise<string> {
      signed.push(message);
      const id = ++next;
      return new Promise((resolve) => {
        pending.set(id, resolve);
        port1.postMessage({ id, message });
      });
    },
    close() {
      port1.close();
      port2.close();
    },
  };
}

const common = () => ({
  mchid: M.config.mchid,
  apiV3Key: M.config.apiV3Key,
  platform: { publicKey: { id: platform.publicKey.id, key: platform.publicKey.pem } },
  baseUrl: emulator.url,
});

const order = (outTradeNo: string) => ({
  appid: APPID,
  description: '测试商品',
  out_trade_no: outTradeNo,
  notify_url: `${notify.url}/notify`,
  amount: { total: 100, currency: 'CNY' },
  payer: { openid: 'oUserKms' },
});

const no = (prefix: string) => `${prefix}${randomBytes(6).toString('hex')}`;

describe('PayV3 with a signer (key in a KMS/HSM)', () => {
  it('signs every request through an async signer, and the emulator accepts each signature', async () => {
    const kms = keyService(M.privateKey);
    try {
      const pay = new PayV3({
        ...common(),
        signer: { serialNo: M.config.merchantCertificateSerial, sign: kms.sign },
      });
      expect(pay.merchantSerialNo).toBe(M.config.merchantCertificateSerial);
      const outTradeNo = no('kms');
      const { prepay_id } = await pay.transactions.jsapi(order(outTradeNo));
      expect(prepay_id).toMatch(/^wx/);
      expect((await pay.transactions.getByOutTradeNo({ out_trade_no: outTradeNo })).trade_state).toBe(
        'NOTPAY',
      );
      await pay.transactions.close({ out_trade_no: outTradeNo });
      // Each request was signed by the key service, over WeChat Pay's request message.
      expect(kms.signed).toHaveLength(3);
      expect(kms.signed[0]).toMatch(
        /^POST\n\/v3\/pay\/transactions\/jsapi\n\d{10}\n[0-9A-F]{32}\n\{.*\}\n$/s,
      );
      expect(kms.signed[1]).toMatch(
        /^GET\n\/v3\/pay\/transactions\/out-trade-no\/kms[0-9a-f]+\?mchid=1900000401\n/,
      );
    } finally {
      kms.close();
    }
  });

  it('signs the JSAPI and App pay parameters through the signer too (async)', async () => {
    const kms = keyService(M.privateKey);
    try {
      const pay = new PayV3({
        ...common(),
        signer: { serialNo: M.config.merchantCertificateSerial, sign: kms.sign },
      });
      const jsapi = await pay.jsapiPayParams({
        appid: APPID,
        prepay_id: 'wx201410272009395522657a690389285100',
      });
      const jsapiMessage = `${jsapi.appId}\n${jsapi.timeStamp}\n${jsapi.nonceStr}\n${jsapi.package}\n`;
      expect(kms.signed).toEqual([jsapiMessage]);
      expect(
        verify('sha256', Buffer.from(jsapiMessage), M.publicKey, Buffer.from(jsapi.paySign, 'base64')),
      ).toBe(true);

      const app = await pay.appPayParams({ appid: APPID, prepay_id: 'wx201410272009395522657a690389285100' });
      expect(app).toMatchObject({ partnerid: M.config.mchid, package: 'Sign=WXPay' });
      const appMessage = `${app.appid}\n${app.timestamp}\n${app.noncestr}\n${app.prepayid}\n`;
      expect(verify('sha256', Buffer.from(appMessage), M.publicKey, Buffer.from(app.sign, 'base64'))).toBe(
        true,
      );
    } finally {
      kms.close();
    }
  });

  it('refuses a signer with another certificate serial: WeChat Pay answers SIGN_ERROR, a PayApiError', async () => {
    const kms = keyService(M.privateKey);
    try {
      const pay = new PayV3({
        ...common(),
        signer: { serialNo: 'ABCDEF0123456789ABCDEF0123456789ABCDEF01', sign: kms.sign },
      });
      const error = await pay.transactions.jsapi(order(no('serial'))).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(PayApiError);
      expect(error).toMatchObject({ status: 401, payCode: 'SIGN_ERROR', code: 'API_ERROR' });
      expect((error as PayApiError).detail).toMatchObject({ field: 'serial_no' });
      expect((error as Error).message).toMatch(/signer\.serialNo/);
    } finally {
      kms.close();
    }
  });

  it('the private-key option is one implementation of the signer: both sign alike', async () => {
    const fixed = { now: () => 1_767_225_600_000, random: (n: number) => new Uint8Array(n).fill(7) };
    const byOption = new PayV3({
      ...common(),
      ...fixed,
      privateKey: M.privateKey,
      merchantSerialNo: M.config.merchantCertificateSerial,
    });
    const bySigner = new PayV3({
      ...common(),
      ...fixed,
      signer: privateKeySigner({ privateKey: M.privateKey, serialNo: M.config.merchantCertificateSerial }),
    });
    const input = { appid: APPID, prepay_id: 'wx201410272009395522657a690389285100' };
    expect(await bySigner.jsapiPayParams(input)).toEqual(await byOption.jsapiPayParams(input));
    const live = new PayV3({
      ...common(),
      signer: privateKeySigner({ privateKey: M.privateKey, serialNo: M.config.merchantCertificateSerial }),
    });
    await expect(live.transactions.jsapi(order(no('pks')))).resolves.toMatchObject({
      prepay_id: expect.any(String),
    });
  });

  it('refuses a signature that is not base64 before anything is sent, and passes a signer failure on as is', async () => {
    const spy = spyFetch();
    const garbled = new PayV3({
      ...common(),
      fetch: spy.fetch,
      signer: { serialNo: M.config.merchantCertificateSerial, sign: () => 'not "base64"\n' },
    });
    const error = await garbled.transactions
      .getByOutTradeNo({ out_trade_no: 'x-0001' })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ConfigError);
    expect(error).toMatchObject({ code: 'BAD_KEY' });
    expect((error as Error).message).toMatch(/base64 SHA256withRSA signature/);

    const outage = new Error('KMS unavailable');
    const failing = new PayV3({
      ...common(),
      fetch: spy.fetch,
      signer: { serialNo: M.config.merchantCertificateSerial, sign: async () => Promise.reject(outage) },
    });
    await expect(failing.transactions.jsapi(order(no('down')))).rejects.toBe(outage);
    expect(spy.calls).toEqual([]);
  });

  it('decrypting a sensitive field needs the key in this process, and says so with a signer', () => {
    const pay = new PayV3({
      ...common(),
      signer: { serialNo: M.config.merchantCertificateSerial, sign: () => 'AA==' },
    });
    expect(() => pay.decryptSensitive('x')).toThrow(/decryptSensitive needs the merchant private key/);
  });
});

describe('signing primitives over a signer', () => {
  it('sign the same bytes as the private-key builders (PKCS#1 v1.5 is deterministic)', async () => {
    const inputs = {
      method: 'POST',
      url: '/v3/pay/transactions/jsapi?x=1',
      body: '{"a":"中文"}',
      mchid: M.config.mchid,
    };
    const fixed = { timestamp: 1_767_225_600, nonce: '593BEC0C930BF1AFEB40B4A08C8FB242' };
    const serialNo = M.config.merchantCertificateSerial;
    const expected = buildAuthorization({ ...inputs, ...fixed, serialNo, privateKey: M.privateKey });
    expect(
      await signAuthorization(privateKeySigner({ privateKey: M.privateKey, serialNo }), {
        ...inputs,
        ...fixed,
      }),
    ).toBe(expected);
    // The PayV3Signer class is a signer too.
    const classic = new PayV3Signer({ mchid: M.config.mchid, serialNo, privateKey: M.privateKey });
    expect(await signAuthorization(classic, { ...inputs, ...fixed })).toBe(expected);
    const pay = {
      appId: APPID,
      prepayId: 'wx201410272009395522657a690389285100',
      timeStamp: '1414561699',
      nonceStr: 'abc',
    };
    expect(await signJsapiPayParams(classic, pay)).toEqual(
      buildJsapiPayParams({ ...pay, privateKey: M.privateKey }),
    );
  });

  it('refuses a private-key signer with an unknown option or a serial that would corrupt the header', () => {
    expect(() => privateKeySigner({ privateKey: M.privateKey, serialNo: 'A"B' })).toThrow(/double quotes/);
    expect(() =>
      privateKeySigner({ privateKey: M.privateKey, serialNo: 'AB', mchid: '1' } as unknown as {
        privateKey: KeyObject;
        serialNo: string;
      }),
    ).toThrow(/unknown option "mchid"/);
  });
});

describe('PayV3 signing options are checked when the client is built', () => {
  const signer: PayV3MerchantSigner = { serialNo: M.config.merchantCertificateSerial, sign: () => 'AA==' };

  it('takes exactly one of signer, or privateKey + merchantSerialNo', () => {
    const both = {
      ...common(),
      signer,
      privateKey: M.privateKey,
      merchantSerialNo: M.config.merchantCertificateSerial,
    } as unknown as PayV3Options;
    expect(() => new PayV3(both)).toThrow(/either signer, or privateKey \+ merchantSerialNo — not both/);
    expect(() => new PayV3(common() as unknown as PayV3Options)).toThrow(/needs a way to sign/);
    expect(
      () => new PayV3({ ...common(), signer: { sign: () => 'AA==' } } as unknown as PayV3Options),
    ).toThrow(/signer\.serialNo/);
    expect(() => new PayV3({ ...common(), signer: { serialNo: 'X' } } as unknown as PayV3Options)).toThrow(
      /signer must be \{ serialNo, sign\(message\) \}/,
    );
  });

  it('says a required setting is undefined, as process.env gives it', () => {
    const env: Record<string, string | undefined> = {};
    const error = (make: () => unknown) => {
      try {
        make();
      } catch (e) {
        return e as ConfigError;
      }
      throw new Error('expected a ConfigError');
    };
    const noMchid = error(() => new PayV3({ ...common(), mchid: env.WXPAY_MCHID, signer }));
    expect(noMchid).toBeInstanceOf(ConfigError);
    expect(noMchid.message).toMatch(/mchid is required \(it is undefined — if it comes from process\.env/);
    const noSerial = error(
      () => new PayV3({ ...common(), privateKey: M.privateKey, merchantSerialNo: env.WXPAY_SERIAL }),
    );
    expect(noSerial.message).toMatch(/merchantSerialNo is required with privateKey \(it is undefined/);
    const noKey = error(
      () =>
        new PayV3({
          ...common(),
          privateKey: env.WXPAY_KEY,
          merchantSerialNo: M.config.merchantCertificateSerial,
        }),
    );
    expect(noKey.message).toMatch(/privateKey is required with merchantSerialNo \(it is undefined/);
    const noApiV3Key = error(() => new PayV3({ ...common(), apiV3Key: env.WXPAY_APIV3_KEY, signer }));
    expect(noApiV3Key.message).toMatch(/apiV3Key is required \(it is undefined/);
  });
});
