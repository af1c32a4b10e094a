import { randomBytes, X509Certificate } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Redis } from 'ioredis';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { toNodeListener } from '../../src/adapters/node.js';
import {
  type CallbackRequest,
  createPayNotificationHandler,
  type PayNotificationHandler,
  type PayNotificationVerifier,
  type RefusedEvent,
} from '../../src/callbacks/index.js';
import { decryptResource, openNotification, PayV3Verifier } from '../../src/crypto/pay-v3.js';
import type { RunningEmulator } from '../../src/emulator/server.js';
import { SignatureError } from '../../src/errors.js';
import { PayV3, type PayV3CommonOptions } from '../../src/pay/index.js';
import { RedisStore } from '../../src/redis/index.js';
import { REDIS_HOST, REDIS_PORT, redisUp, uniquePrefix } from '../credentials/redis-helper.js';
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
function client(extra: Partial<PayV3CommonOptions> = {}): PayV3 {
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
async function order(pay: PayV3, outTradeNo = no('rot'), notifyUrl = `${notify.url}/notify`) {
  const { data, response } = await pay
    .request<{ prepay_id: string }>('POST', '/v3/pay/transactions/jsapi', {
      body: {
        appid: APPID,
        mchid: CERT.config.mchid,
        description: '测试商品',
        out_trade_no: outTradeNo,
        notify_url: notifyUrl,
        amount: { total: 100, currency: 'CNY' },
        payer: { openid: 'oUser123' },
      },
      idempotent: true,
    })
    .withResponse();
  return { status: response.status, headers: response.headers, data };
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

describe("a notification handler sharing the client's platform trust across a rotation", () => {
  /** Serves a notification handler on a port, as a merchant's notify_url. */
  async function serve(handler: PayNotificationHandler) {
    const server = createServer(toNodeListener(handler));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/pay/notify`;
    return {
      url,
      close: () =>
        new Promise<void>((resolve) => {
          server.closeAllConnections();
          server.close(() => resolve());
        }),
    };
  }

  /** Pays an order: the emulator delivers TRANSACTION.SUCCESS and answers the first attempt's status. */
  async function payOrder(outTradeNo: string): Promise<number | undefined> {
    const paid = await control<{ notifications: Array<{ attempts: Array<{ status?: number }> }> }>(
      'POST',
      `/_emulator/pay/transactions/${outTradeNo}/succeed`,
      {},
    );
    expect(paid.status).toBe(200);
    return paid.json.notifications[0]?.attempts[0]?.status;
  }

  function handlerOf(verifier: PayNotificationVerifier, now: () => number, refused: RefusedEvent[] = []) {
    const paid: string[] = [];
    const handler = createPayNotificationHandler({
      apiV3Key: CERT.config.apiV3Key,
      verifier,
      now,
      hooks: { onRefused: (e) => refused.push(e) },
    }).on('TRANSACTION.SUCCESS', ({ resource }) => {
      paid.push(resource.out_trade_no);
    });
    return { handler, paid, refused };
  }

  it('accepts a notification signed with the new certificate without a redeploy, and refuses forged serials with a bounded number of downloads', async () => {
    // One clock for client and handler, stepped by hand: the refresh interval is 60 s.
    let offset = 0;
    const now = () => Date.now() + offset;
    const pay = client({ now });
    const { handler, paid, refused } = handlerOf(pay.platformTrust, now);
    const server = await serve(handler);
    try {
      const outTradeNo = no('rotnotify');
      await order(pay, outTradeNo, server.url);
      expect(await downloads()).toBe(0);

      const newSerial = await rotate();
      // Regression: the handler had its own fixed PayV3Verifier, so this answered 401 until a redeploy.
      expect(await payOrder(outTradeNo)).toBe(204);
      expect(paid).toEqual([outTradeNo]);
      expect(refused).toEqual([]);
      // The notification made the shared trust download once; the client now knows the serial too.
      expect(await downloads()).toBe(1);
      expect(pay.knownSerials()).toContain(newSerial);
      const next = await order(pay);
      expect(next.headers.get('wechatpay-serial')).toBe(newSerial);
      expect(await downloads()).toBe(1);

      // Forged serials: refused, and they cannot make the trust download more than once per interval.
      const [genuine] = (
        await control<{ notifications: Array<{ body: string; headers: Record<string, string> }> }>(
          'GET',
          `/_emulator/pay/notifications?mchid=${CERT.config.mchid}`,
        )
      ).json.notifications;
      const forged = (): CallbackRequest => ({
        method: 'POST',
        url: '/pay/notify',
        headers: {
          ...Object.fromEntries(Object.entries(genuine?.headers ?? {}).map(([k, v]) => [k.toLowerCase(), v])),
          'wechatpay-serial': randomBytes(20).toString('hex').toUpperCase(),
        },
        rawBody: genuine?.body ?? '',
      });
      const burst = async (n: number) =>
        (await Promise.all(Array.from({ length: n }, () => handler.handle(forged())))).map((r) => r.status);
      expect(await burst(5)).toEqual([401, 401, 401, 401, 401]);
      expect(await downloads()).toBe(1);
      offset += 61_000;
      expect(await burst(5)).toEqual([401, 401, 401, 401, 401]);
      expect(await downloads()).toBe(2);
      expect(await burst(3)).toEqual([401, 401, 401]);
      expect(await downloads()).toBe(2);
      expect(refused.every((e) => e.code === 'SIGNATURE_MISMATCH')).toBe(true);
      expect(paid).toEqual([outTradeNo]);
    } finally {
      await server.close();
    }
  });

  it('a fixed PayV3Verifier keeps working for the keys it holds, and still refuses the new certificate', async () => {
    const fixed = new PayV3Verifier({ certificates: platform.certificates.map((c) => c.pem) });
    const { handler, paid, refused } = handlerOf(fixed, Date.now);
    const server = await serve(handler);
    try {
      const pay = client();
      const before = no('fixed');
      await order(pay, before, server.url);
      expect(await payOrder(before)).toBe(204);
      await rotate();
      const after = no('fixed');
      await order(pay, after, server.url);
      expect(await payOrder(after)).toBe(401);
      expect(paid).toEqual([before]);
      expect(refused[0]?.code).toBe('SIGNATURE_MISMATCH');
    } finally {
      await server.close();
    }
  });

  it.skipIf(!redisUp)(
    'another instance learns the new certificate through the shared store, without downloading',
    async () => {
      const redis = new Redis({ host: REDIS_HOST, port: REDIS_PORT, maxRetriesPerRequest: 1 });
      const prefix = uniquePrefix();
      try {
        const store = () => new RedisStore(redis, { prefix });
        const instanceA = client({ store: store() });
        const instanceB = client({ store: store() });
        // Instance B's handler is given the client itself.
        const { handler, paid } = handlerOf(instanceB, Date.now);
        const server = await serve(handler);
        try {
          const outTradeNo = no('shared');
          await order(instanceA, outTradeNo, server.url);
          const newSerial = await rotate();
          await order(instanceA); // instance A meets the new serial first: one download, shared
          expect(await downloads()).toBe(1);
          expect(await payOrder(outTradeNo)).toBe(204);
          expect(paid).toEqual([outTradeNo]);
          expect(await downloads()).toBe(1);
          expect(instanceB.knownSerials()).toContain(newSerial);
        } finally {
          await server.close();
        }
      } finally {
        const keys = await redis.keys(`${prefix}*`);
        if (keys.length > 0) await redis.del(...keys);
        await redis.quit();
      }
    },
  );

  it('refuses a verifier that is neither a PayV3Verifier nor a platform trust nor any { verify(request) }', () => {
    expect(() =>
      createPayNotificationHandler({
        apiV3Key: CERT.config.apiV3Key,
        verifier: { check: () => {} } as unknown as PayNotificationVerifier,
      }),
    ).toThrow(/pay\.platformTrust/);
  });
});

describe('GET /v3/certificates across rotations', () => {
  async function listed(pay: PayV3) {
    const { data } = await pay
      .request<{
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
      }>('GET', '/v3/certificates')
      .withResponse();
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
