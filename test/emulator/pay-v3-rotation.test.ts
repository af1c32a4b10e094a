import { X509Certificate } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SignatureError } from '../../src/core/errors.js';
import { decryptResource, openNotification, PayV3Verifier } from '../../src/crypto/pay-v3.js';
import type { RunningEmulator } from '../../src/emulator/server.js';
import { PayV3, type PayV3Options } from '../../src/pay/index.js';
import { makeMerchant, type Platform, startLocalServer, startPayEmulator } from '../pay/helpers.js';

/**
 * Platform-certificate rotation: the emulator mints a new certificate on
 * `POST /_emulator/pay/rotate-certificate`, signs with it from then on, and lists the current
 * certificates at `GET /v3/certificates`; a `PayV3` client that only knows the old certificate
 * follows it by downloading the list once.
 */

const CERT = makeMerchant('1900000201', 'certificate');
const APPID = 'wx1234567890abcdef';

let emulator: RunningEmulator;
let platform: Platform;
let notify: Awaited<ReturnType<typeof startLocalServer>>;

beforeEach(async () => {
  notify = await startLocalServer(() => ({ status: 204 }));
  ({ emulator, platform } = await startPayEmulator([CERT]));
});

afterEach(async () => {
  await emulator?.close();
  await notify?.close();
});

async function control<T>(
  method: string,
  path: string,
  body?: unknown,
): Promise<{ status: number; json: T }> {
  const res = await fetch(`${emulator.url}${path}`, {
    method,
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  return { status: res.status, json: (await res.json()) as T };
}

const rotate = async (body?: { retireOld?: boolean }) => {
  const r = await control<{ serialNo: string }>('POST', '/_emulator/pay/rotate-certificate', body);
  expect(r.status).toBe(200);
  return r.json.serialNo;
};

const currentPlatform = async () => (await control<Platform>('GET', '/_emulator/pay/platform')).json;

const downloads = async () =>
  (await control<{ calls: Record<string, number> }>('GET', '/_emulator/stats')).json.calls[
    '/v3/certificates'
  ] ?? 0;

/** A client that trusts only the certificate(s) the emulator had at start, with autoCertificates. */
function client(extra: Partial<PayV3Options> = {}): PayV3 {
  return new PayV3({
    mchid: CERT.config.mchid,
    merchantSerialNo: CERT.config.merchantCertificateSerial,
    privateKey: CERT.privateKey,
    apiV3Key: CERT.config.apiV3Key,
    platform: { certificates: platform.certificates.map((c) => c.pem) },
    autoCertificates: true,
    baseUrl: emulator.url,
    ...extra,
  });
}

let seq = 0;
const no = (prefix: string) => `${prefix}${Date.now()}${++seq}`;

/** Creates a JSAPI order through `request` (to see the answer's headers). */
async function order(pay: PayV3, outTradeNo = no('rot')) {
  return pay.request<{ prepay_id: string }>('POST', '/v3/pay/transactions/jsapi', {
    body: {
      appid: APPID,
      mchid: CERT.config.mchid,
      description: '测试商品',
      out_trade_no: outTradeNo,
      notify_url: `${notify.url}/notify`,
      amount: { total: 100, currency: 'CNY' },
      payer: { openid: 'oUser123' },
    },
    idempotent: true,
  });
}

describe('POST /_emulator/pay/rotate-certificate', () => {
  it('mints a new certificate, appends it newest last, and answers its serial', async () => {
    const [original] = platform.certificates;
    expect(platform.certificates).toHaveLength(1);
    const before = Date.now();
    const serialNo = await rotate();
    expect(serialNo).toMatch(/^[0-9A-F]{40}$/);
    expect(serialNo).not.toBe(original?.serialNo);

    const now = await currentPlatform();
    expect(now.certificates.map((c) => c.serialNo)).toEqual([original?.serialNo, serialNo]);
    expect(now.certificates[0]?.pem).toBe(original?.pem);
    expect(now.publicKey).toEqual(platform.publicKey);
    const x509 = new X509Certificate(now.certificates[1]?.pem as string);
    expect(x509.serialNumber.toUpperCase()).toBe(serialNo);
    // A new key, valid from now (whole seconds).
    expect(x509.publicKey.equals(new X509Certificate(original?.pem as string).publicKey)).toBe(false);
    const validFrom = new Date(x509.validFrom).getTime();
    expect(validFrom).toBeGreaterThanOrEqual(Math.floor(before / 1000) * 1000);
    expect(validFrom).toBeLessThanOrEqual(Date.now());

    // retireOld keeps only the newest.
    const third = await rotate({ retireOld: true });
    expect((await currentPlatform()).certificates.map((c) => c.serialNo)).toEqual([third]);
  });

  it('refuses a malformed body', async () => {
    const bad = async (body: unknown) =>
      (await control<{ error?: unknown }>('POST', '/_emulator/pay/rotate-certificate', body)).status;
    expect(await bad({ retireOld: 'yes' })).toBe(400);
    expect(await bad({ retire: true })).toBe(400);
    expect(await bad([true])).toBe(400);
    expect((await currentPlatform()).certificates).toHaveLength(1);
  });
});

describe('a PayV3 client across a rotation', () => {
  it('downloads /v3/certificates once on the new serial, then keeps working without downloading', async () => {
    const pay = client();
    const [original] = platform.certificates;

    const first = await order(pay);
    expect(first.headers.get('wechatpay-serial')).toBe(original?.serialNo);
    expect(await downloads()).toBe(0);

    const newSerial = await rotate();
    const second = await order(pay);
    expect(second.headers.get('wechatpay-serial')).toBe(newSerial);
    expect(second.data.prepay_id).toMatch(/^wx/);
    expect(await downloads()).toBe(1);
    expect(pay.knownSerials()).toEqual(expect.arrayContaining([original?.serialNo, newSerial]));

    for (let i = 0; i < 3; i++) {
      const next = await order(pay);
      expect(next.headers.get('wechatpay-serial')).toBe(newSerial);
    }
    expect(await downloads()).toBe(1);
  });

  it('still works when the rotation retires the old certificate', async () => {
    const pay = client();
    await order(pay);

    const newSerial = await rotate({ retireOld: true });
    const answer = await order(pay);
    expect(answer.headers.get('wechatpay-serial')).toBe(newSerial);
    expect(await downloads()).toBe(1);
    await order(pay);
    expect(await downloads()).toBe(1);
  });
});

describe('notifications after a rotation', () => {
  it('are signed with the new certificate, which a verifier trusting only the old one refuses', async () => {
    const oldOnly = new PayV3Verifier({ certificates: platform.certificates.map((c) => c.pem) });
    const pay = client();
    const outTradeNo = no('paid');
    const { data } = await order(pay, outTradeNo);
    expect(data.prepay_id).toBeTruthy();

    const newSerial = await rotate();
    const paid = await control<{ notifications: unknown[] }>(
      'POST',
      `/_emulator/pay/transactions/${outTradeNo}/succeed`,
      {},
    );
    expect(paid.status).toBe(200);
    const [req] = notify.received;
    expect(req?.headers['wechatpay-serial']).toBe(newSerial);

    const open = (verifier: PayV3Verifier) =>
      openNotification<Record<string, unknown>>({
        headers: req?.headers ?? {},
        body: req?.body ?? '',
        apiV3Key: CERT.config.apiV3Key,
        verifier,
      });
    let refused: unknown;
    try {
      open(oldOnly);
    } catch (error) {
      refused = error;
    }
    expect(refused).toBeInstanceOf(SignatureError);
    expect((refused as SignatureError).code).toBe('SIGNATURE_MISMATCH');
    expect((refused as SignatureError).message).toContain(newSerial);
    // The crypto core on its own says the same.
    expect(() => oldOnly.verify({ headers: req?.headers ?? {}, body: req?.body ?? '' })).toThrow(
      expect.objectContaining({ code: 'SIGNATURE_MISMATCH', message: expect.stringContaining(newSerial) }),
    );

    // Trusting what /_emulator/pay/platform now lists, it opens.
    const current = await currentPlatform();
    const opened = open(new PayV3Verifier({ certificates: current.certificates.map((c) => c.pem) }));
    expect(opened.resource).toMatchObject({ trade_state: 'SUCCESS', mchid: CERT.config.mchid });
  });
});

describe('GET /v3/certificates across rotations', () => {
  async function listed(pay: PayV3) {
    const { data } = await pay.request<{
      data: Array<{
        serial_no: string;
        effective_time: string;
        expire_time: string;
        encrypt_certificate: {
          algorithm: string;
          ciphertext: string;
          nonce: string;
          associated_data: string;
        };
      }>;
    }>('GET', '/v3/certificates');
    return data.data;
  }

  it('decrypts to exactly the PEMs /_emulator/pay/platform lists, newest last', async () => {
    // Two rotations within a minute: let the client download on each new serial.
    const pay = client({ certificateRefreshIntervalMs: 0 });
    const serials = [platform.certificates[0]?.serialNo, await rotate(), await rotate()];
    const entries = await listed(pay);
    const current = await currentPlatform();
    expect(current.certificates.map((c) => c.serialNo)).toEqual(serials);
    expect(entries.map((e) => e.serial_no)).toEqual(serials);
    const pems = entries.map((e) => {
      expect(e.encrypt_certificate.associated_data).toBe('certificate');
      expect(e.effective_time).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+08:00$/);
      expect(e.expire_time).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+08:00$/);
      return decryptResource({
        apiV3Key: CERT.config.apiV3Key,
        algorithm: e.encrypt_certificate.algorithm,
        ciphertext: e.encrypt_certificate.ciphertext,
        nonce: e.encrypt_certificate.nonce,
        associatedData: 'certificate',
      });
    });
    expect(pems).toEqual(current.certificates.map((c) => c.pem));

    const last = await rotate({ retireOld: true });
    const after = await listed(pay);
    expect(after.map((e) => e.serial_no)).toEqual([last]);
    const [only] = after;
    expect(
      decryptResource({
        apiV3Key: CERT.config.apiV3Key,
        algorithm: only?.encrypt_certificate.algorithm ?? '',
        ciphertext: only?.encrypt_certificate.ciphertext ?? '',
        nonce: only?.encrypt_certificate.nonce ?? '',
        associatedData: 'certificate',
      }),
    ).toBe((await currentPlatform()).certificates[0]?.pem);
  });
});
