import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  buildAuthorization,
  decryptResource,
  openNotification,
  PayV3Verifier,
  verifyPayV3Headers,
} from '../../src/crypto/pay-v3.js';
import { type RunningEmulator, startEmulator } from '../../src/emulator/server.js';
import { SignatureError } from '../../src/errors.js';
import { makeMerchant, type TestMerchant } from '../pay/helpers.js';

const PK = makeMerchant('1900000001', 'public-key');
const CERT = makeMerchant('1900000002', 'certificate');
const APPID = 'wx1234567890abcdef';

let emulator: RunningEmulator;
let verifier: PayV3Verifier;
let platform: {
  certificates: Array<{ serialNo: string; pem: string }>;
  publicKey: { id: string; pem: string };
};

/** A merchant's notify server: records requests, answers with the queued statuses (then 204). */
interface NotifyServer {
  url: string;
  server: Server;
  received: Array<{ headers: IncomingHttpHeaders; body: string }>;
  statuses: number[];
  waitFor(n: number): Promise<void>;
}

async function startNotifyServer(): Promise<NotifyServer> {
  const received: NotifyServer['received'] = [];
  const statuses: number[] = [];
  const waiters: Array<() => void> = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      received.push({ headers: req.headers, body: Buffer.concat(chunks).toString('utf8') });
      const status = statuses.shift() ?? 204;
      // 0: answer too late (after the emulator's per-attempt timeout used in the tests).
      if (status === 0) setTimeout(() => res.writeHead(204).end(), 400).unref();
      else if (status === 204) res.writeHead(204).end();
      else if (status >= 400)
        res
          .writeHead(status, { 'content-type': 'application/json' })
          .end(JSON.stringify({ code: 'FAIL', message: '失败' }));
      else res.writeHead(status).end();
      for (const w of waiters.splice(0)) w();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/notify`,
    server,
    received,
    statuses,
    async waitFor(n) {
      // Woken by the server on each request; bounded by the test's own timeout, not a deadline.
      while (received.length < n) await new Promise<void>((resolve) => waiters.push(resolve));
    },
  };
}

let notify: NotifyServer;

/**
 * Lets `seconds` of WeChat time pass for the emulator's delayed work (divided by its
 * retryTimeScale, as the emulator divides the delays) and waits for the work that fell due.
 */
async function elapse(seconds: number): Promise<void> {
  emulator.state.advance(seconds / emulator.config.options.retryTimeScale);
  await emulator.state.clock.settled();
}

interface Call {
  status: number;
  headers: Headers;
  text: string;
  // biome-ignore lint/suspicious/noExplicitAny: test convenience over JSON answers
  json: any;
}

async function call(
  m: TestMerchant,
  method: string,
  path: string,
  body?: unknown,
  auth: Partial<Parameters<typeof buildAuthorization>[0]> | string | null = {},
): Promise<Call> {
  const text = body === undefined ? '' : JSON.stringify(body);
  const headers: Record<string, string> = { Accept: 'application/json', 'User-Agent': 'weixin-kit-test' };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  if (typeof auth === 'string') headers.Authorization = auth;
  else if (auth !== null)
    headers.Authorization = buildAuthorization({
      method,
      url: path,
      body: text,
      mchid: m.config.mchid,
      serialNo: m.config.merchantCertificateSerial,
      privateKey: m.privateKey,
      ...auth,
    });
  const res = await fetch(`${emulator.url}${path}`, {
    method,
    headers,
    ...(body === undefined ? {} : { body: text }),
  });
  const resText = await res.text();
  return {
    status: res.status,
    headers: res.headers,
    text: resText,
    json: resText ? JSON.parse(resText) : undefined,
  };
}

/** Every answer must verify against what the emulator publishes. */
function verified(r: Call): Call {
  verifier.verify({ headers: r.headers, body: r.text });
  return r;
}

function order(m: TestMerchant, outTradeNo: string, extra: Record<string, unknown> = {}) {
  return {
    appid: APPID,
    mchid: m.config.mchid,
    description: '测试商品',
    out_trade_no: outTradeNo,
    notify_url: notify.url,
    amount: { total: 100, currency: 'CNY' },
    ...extra,
  };
}

const jsapi = (m: TestMerchant, no: string, extra: Record<string, unknown> = {}) =>
  call(m, 'POST', '/v3/pay/transactions/jsapi', order(m, no, { payer: { openid: 'oUser123' }, ...extra }));

async function succeed(no: string, body: Record<string, unknown> = {}) {
  const res = await fetch(`${emulator.url}/_emulator/pay/transactions/${no}/succeed`, {
    method: 'POST',
    body: JSON.stringify(body),
  });
  expect(res.status).toBe(200);
  return res.json() as Promise<{ transaction: Record<string, unknown>; notifications: unknown[] }>;
}

beforeAll(async () => {
  notify = await startNotifyServer();
  emulator = await startEmulator({ config: { apps: [], merchants: [PK.config, CERT.config] } });
  platform = await (await fetch(`${emulator.url}/_emulator/pay/platform`)).json();
  verifier = new PayV3Verifier({
    publicKey: { id: platform.publicKey.id, key: platform.publicKey.pem },
    certificates: platform.certificates.map((c) => c.pem),
  });
});

afterAll(async () => {
  await emulator?.close();
  notify?.server.closeAllConnections();
  await new Promise((resolve) => notify?.server.close(resolve));
});

describe('Pay v3 authentication and response signatures', () => {
  it('signs answers with the WeChat Pay public key in public-key mode', async () => {
    const r = verified(await call(PK, 'POST', '/v3/pay/transactions/native', order(PK, 'native-pk-0001')));
    expect(r.status).toBe(200);
    expect(r.json.code_url).toMatch(/^weixin:\/\/wxpay\/bizpayurl\?pr=\w+$/);
    expect(r.headers.get('wechatpay-serial')).toBe(platform.publicKey.id);
    expect(r.headers.get('request-id')).toBeTruthy();
    verifyPayV3Headers({ headers: r.headers, body: r.text, publicKey: platform.publicKey.pem });
  });

  it('signs answers with the platform certificate in certificate mode', async () => {
    const r = await jsapi(CERT, 'jsapi-cert-0001');
    expect(r.status).toBe(200);
    expect(r.json.prepay_id).toMatch(/^wx\d{14}\w+$/);
    expect(r.headers.get('wechatpay-serial')).toBe(platform.certificates[0]?.serialNo);
    verifyPayV3Headers({
      headers: r.headers,
      body: r.text,
      certificate: platform.certificates[0]?.pem as string,
    });
    // The public key alone does not verify it.
    expect(() =>
      verifyPayV3Headers({ headers: r.headers, body: r.text, publicKey: platform.publicKey.pem }),
    ).toThrow(SignatureError);
  });

  it('refuses a bad signature with a signed 401 SIGN_ERROR that shows the expected message', async () => {
    const other = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
    const r = verified(
      await call(PK, 'POST', '/v3/pay/transactions/native', order(PK, 'badsig-0001'), { privateKey: other }),
    );
    expect(r.status).toBe(401);
    expect(r.json.code).toBe('SIGN_ERROR');
    const info = r.json.detail.sign_information;
    expect(info.method).toBe('POST');
    expect(info.url).toBe('/v3/pay/transactions/native');
    expect(info.truncated_sign_message).toMatch(
      /^POST\n\/v3\/pay\/transactions\/native\n\d+\n[0-9A-F]{32}\n\{/,
    );
  });

  it('refuses a wrong serial_no, a stale timestamp, a missing or garbled header', async () => {
    const path = `/v3/pay/transactions/out-trade-no/x?mchid=${PK.config.mchid}`;
    const wrongSerial = verified(await call(PK, 'GET', path, undefined, { serialNo: 'ABCDEF0123' }));
    expect([wrongSerial.status, wrongSerial.json.code, wrongSerial.json.detail.field]).toEqual([
      401,
      'SIGN_ERROR',
      'serial_no',
    ]);
    const stale = verified(
      await call(PK, 'GET', path, undefined, { timestamp: Math.floor(Date.now() / 1000) - 301 }),
    );
    expect([stale.status, stale.json.code, stale.json.detail.field]).toEqual([
      401,
      'SIGN_ERROR',
      'timestamp',
    ]);
    const missing = verified(await call(PK, 'GET', path, undefined, null));
    expect([missing.status, missing.json.code]).toEqual([401, 'SIGN_ERROR']);
    const garbled = verified(
      await call(PK, 'GET', path, undefined, 'WECHATPAY2-SHA256-RSA2048 mchid=1900000001'),
    );
    expect([garbled.status, garbled.json.code]).toEqual([401, 'SIGN_ERROR']);
    const unknown = verified(await call(PK, 'GET', path, undefined, { mchid: '1999999999' }));
    expect([unknown.status, unknown.json.code]).toEqual([401, 'SIGN_ERROR']);
    // Signing the path without the query is a classic mistake: refused.
    const noQuery = verified(
      await call(PK, 'GET', path, undefined, { url: '/v3/pay/transactions/out-trade-no/x' }),
    );
    expect(noQuery.status).toBe(401);
  });

  it('checks the window against emulated time (POST /_emulator/clock)', async () => {
    const clock = (advanceSeconds: number) =>
      fetch(`${emulator.url}/_emulator/clock`, { method: 'POST', body: JSON.stringify({ advanceSeconds }) });
    await clock(400);
    try {
      const r = await call(PK, 'GET', '/v3/certificates');
      // The answer is signed at emulated time too.
      verifier.verify({ headers: r.headers, body: r.text, now: () => Date.now() + 400_000 });
      expect([r.status, r.json.detail.field]).toEqual([401, 'timestamp']);
      expect(Number(r.headers.get('wechatpay-timestamp'))).toBeGreaterThan(Date.now() / 1000 + 300);
    } finally {
      await clock(-400);
    }
  });

  it('accepts a timestamp within the 5-minute window', async () => {
    const r = verified(
      await call(
        PK,
        'GET',
        `/v3/pay/transactions/out-trade-no/none-0001?mchid=${PK.config.mchid}`,
        undefined,
        {
          timestamp: Math.floor(Date.now() / 1000) - 200,
        },
      ),
    );
    expect([r.status, r.json.code]).toEqual([404, 'ORDER_NOT_EXIST']);
  });
});

describe('Pay v3 orders', () => {
  it('validates the order and names the field', async () => {
    const r = verified(await jsapi(PK, 'invalid-0001', { amount: { currency: 'CNY' } }));
    expect([r.status, r.json.code]).toEqual([400, 'PARAM_ERROR']);
    expect(r.json.message).toContain('/amount/total');
    const payer = verified(await call(PK, 'POST', '/v3/pay/transactions/jsapi', order(PK, 'invalid-0002')));
    expect(payer.json.message).toContain('/payer');
    const mchid = verified(await jsapi(PK, 'invalid-0003', { mchid: CERT.config.mchid }));
    expect([mchid.status, mchid.json.code, mchid.json.detail.field]).toEqual([400, 'PARAM_ERROR', '/mchid']);
  });

  it('is idempotent for an identical re-submission and refuses a changed one', async () => {
    const first = verified(await jsapi(PK, 'idem-0001'));
    const again = verified(await jsapi(PK, 'idem-0001'));
    expect(again.json.prepay_id).toBe(first.json.prepay_id);
    const changed = verified(await jsapi(PK, 'idem-0001', { amount: { total: 200 } }));
    expect([changed.status, changed.json.code]).toEqual([400, 'INVALID_REQUEST']);
  });

  it('queries, closes (204, signed) and reports ORDER_NOT_EXIST', async () => {
    verified(await jsapi(PK, 'close-0001'));
    const q = verified(
      await call(PK, 'GET', `/v3/pay/transactions/out-trade-no/close-0001?mchid=${PK.config.mchid}`),
    );
    expect(q.json).toMatchObject({
      trade_state: 'NOTPAY',
      out_trade_no: 'close-0001',
      amount: { total: 100 },
    });
    expect(q.json.transaction_id).toBeUndefined();
    const closed = verified(
      await call(PK, 'POST', '/v3/pay/transactions/out-trade-no/close-0001/close', {
        mchid: PK.config.mchid,
      }),
    );
    expect([closed.status, closed.text]).toEqual([204, '']);
    const after = verified(
      await call(PK, 'GET', `/v3/pay/transactions/out-trade-no/close-0001?mchid=${PK.config.mchid}`),
    );
    expect(after.json.trade_state).toBe('CLOSED');
    const none = verified(
      await call(PK, 'GET', `/v3/pay/transactions/out-trade-no/nope-0001?mchid=${PK.config.mchid}`),
    );
    expect([none.status, none.json.code]).toEqual([404, 'ORDER_NOT_EXIST']);
    const noMchid = verified(await call(PK, 'GET', '/v3/pay/transactions/out-trade-no/close-0001'));
    expect([noMchid.status, noMchid.json.code]).toEqual([400, 'PARAM_ERROR']);
  });

  it('serves the platform certificate encrypted with the APIv3 key', async () => {
    for (const m of [PK, CERT]) {
      const r = verified(await call(m, 'GET', '/v3/certificates'));
      const [entry] = r.json.data;
      expect(entry.serial_no).toBe(platform.certificates[0]?.serialNo);
      expect(entry.encrypt_certificate).toMatchObject({
        algorithm: 'AEAD_AES_256_GCM',
        associated_data: 'certificate',
      });
      const pem = decryptResource({
        apiV3Key: m.config.apiV3Key,
        algorithm: entry.encrypt_certificate.algorithm,
        ciphertext: entry.encrypt_certificate.ciphertext,
        nonce: entry.encrypt_certificate.nonce,
        associatedData: entry.encrypt_certificate.associated_data,
      });
      expect(pem).toBe(platform.certificates[0]?.pem);
      expect(entry.effective_time).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+08:00$/);
    }
  });
});

describe('Pay v3 notifications', () => {
  it('pays an order and sends a signed, encrypted TRANSACTION.SUCCESS', async () => {
    notify.received.length = 0;
    verified(await jsapi(CERT, 'paid-0001'));
    const result = await succeed('paid-0001');
    expect(result.transaction.trade_state).toBe('SUCCESS');
    await notify.waitFor(1);
    const [req] = notify.received;
    const n = openNotification<Record<string, unknown>>({
      headers: req?.headers ?? {},
      body: req?.body ?? '',
      apiV3Key: CERT.config.apiV3Key,
      verifier,
    });
    expect(n).toMatchObject({
      event_type: 'TRANSACTION.SUCCESS',
      resource_type: 'encrypt-resource',
      summary: '支付成功',
    });
    expect(n.notification.resource).toMatchObject({
      original_type: 'transaction',
      associated_data: 'transaction',
    });
    expect(req?.headers['wechatpay-serial']).toBe(platform.certificates[0]?.serialNo);
    expect(n.resource).toMatchObject({
      out_trade_no: 'paid-0001',
      mchid: CERT.config.mchid,
      trade_state: 'SUCCESS',
      payer: { openid: 'oUser123' },
      amount: { total: 100, payer_total: 100 },
    });
    const transactionId = n.resource?.transaction_id as string;
    expect(transactionId).toMatch(/^\d{28}$/);
    const byId = verified(
      await call(CERT, 'GET', `/v3/pay/transactions/id/${transactionId}?mchid=${CERT.config.mchid}`),
    );
    expect(byId.json).toMatchObject({
      out_trade_no: 'paid-0001',
      trade_state: 'SUCCESS',
      transaction_id: transactionId,
    });
    // A paid order cannot be closed or re-ordered.
    const close = verified(
      await call(CERT, 'POST', '/v3/pay/transactions/out-trade-no/paid-0001/close', {
        mchid: CERT.config.mchid,
      }),
    );
    expect([close.status, close.json.code]).toEqual([400, 'ORDERPAID']);
    const stats = await (await fetch(`${emulator.url}/_emulator/stats`)).json();
    expect(stats.notifications['TRANSACTION.SUCCESS']).toBeGreaterThanOrEqual(1);
  });

  it('retries on the compressed schedule until the merchant answers 2xx, with the identical body', async () => {
    notify.received.length = 0;
    notify.statuses.push(500, 404);
    verified(await jsapi(PK, 'retry-0001'));
    await succeed('retry-0001');
    await elapse(15);
    await elapse(15);
    await notify.waitFor(3);
    const bodies = notify.received.map((r) => r.body);
    expect(new Set(bodies).size).toBe(1);
    for (const r of notify.received)
      openNotification({ headers: r.headers, body: r.body, apiV3Key: PK.config.apiV3Key, verifier });
    const log = await (
      await fetch(`${emulator.url}/_emulator/pay/notifications?mchid=${PK.config.mchid}`)
    ).json();
    const delivery = log.notifications.find((d: { body: string }) => d.body === bodies[0]);
    expect(delivery.status).toBe('delivered');
    expect(delivery.attempts.map((a: { status: number }) => a.status)).toEqual([500, 404, 204]);
    // 15 s then 15 s, divided by retryTimeScale (1000): at least ~15 ms apart.
    expect(delivery.attempts[1].at - delivery.attempts[0].at).toBeGreaterThanOrEqual(14);
  });

  it('counts a timeout as a failed attempt and retries', async () => {
    notify.received.length = 0;
    notify.statuses.push(0);
    verified(await jsapi(PK, 'timeout-0001'));
    const started = Date.now();
    const paying = succeed('timeout-0001', { timeoutMs: 150 });
    await notify.waitFor(1);
    // The 150 ms are emulated: moving the clock cuts the attempt, without waiting for them.
    emulator.state.advance(0.15);
    const result = await paying;
    expect(Date.now() - started).toBeLessThan(1000);
    const [first] = result.notifications as Array<{ attempts: Array<{ error?: string; ok: boolean }> }>;
    expect(first?.attempts[0]).toMatchObject({ ok: false, error: 'timeout after 150 ms' });
    await elapse(15);
    await notify.waitFor(2);
    expect(notify.received[0]?.body).toBe(notify.received[1]?.body);
  });

  it('deliverTwice sends the identical notification twice', async () => {
    notify.received.length = 0;
    verified(await jsapi(PK, 'twice-0001'));
    const result = await succeed('twice-0001', { deliverTwice: true });
    expect(result.notifications).toHaveLength(2);
    await notify.waitFor(2);
    const [a, b] = notify.received;
    expect(a?.body).toBe(b?.body);
    const ids = notify.received.map(
      (r) =>
        openNotification({ headers: r.headers, body: r.body, apiV3Key: PK.config.apiV3Key, verifier }).id,
    );
    expect(ids[0]).toBe(ids[1]);
  });

  it('refunds: limits, PROCESSING then SUCCESS, REFUND.SUCCESS notification, query', async () => {
    verified(await jsapi(PK, 'refund-0001'));
    const unpaid = verified(
      await call(PK, 'POST', '/v3/refund/domestic/refunds', {
        out_trade_no: 'refund-0001',
        out_refund_no: 'R-unpaid-1',
        amount: { refund: 10, total: 100, currency: 'CNY' },
      }),
    );
    expect([unpaid.status, unpaid.json.code]).toEqual([400, 'INVALID_REQUEST']);
    await succeed('refund-0001');
    notify.received.length = 0;
    const refund = (no: string, amount: number, extra: Record<string, unknown> = {}) =>
      call(PK, 'POST', '/v3/refund/domestic/refunds', {
        out_trade_no: 'refund-0001',
        out_refund_no: no,
        amount: { refund: amount, total: 100, currency: 'CNY' },
        ...extra,
      });
    const first = verified(await refund('R-0001', 60, { notify_url: notify.url }));
    expect(first.status).toBe(200);
    expect(first.json).toMatchObject({
      out_refund_no: 'R-0001',
      status: 'PROCESSING',
      amount: { refund: 60, total: 100 },
    });
    const tooMuch = verified(await refund('R-0002', 41));
    expect([tooMuch.status, tooMuch.json.code]).toEqual([400, 'INVALID_REQUEST']);
    const changed = verified(await refund('R-0001', 50, { notify_url: notify.url }));
    expect([changed.status, changed.json.code]).toEqual([400, 'INVALID_REQUEST']);
    // The refund settles 60 s later (emulated, divided by retryTimeScale) and REFUND.SUCCESS is sent.
    await elapse(60);
    await notify.waitFor(1);
    const n = openNotification<Record<string, unknown>>({
      headers: notify.received[0]?.headers ?? {},
      body: notify.received[0]?.body ?? '',
      apiV3Key: PK.config.apiV3Key,
      verifier,
    });
    expect(n.event_type).toBe('REFUND.SUCCESS');
    expect(n.notification.resource.original_type).toBe('refund');
    expect(n.resource).toMatchObject({
      out_refund_no: 'R-0001',
      refund_status: 'SUCCESS',
      amount: { refund: 60 },
    });
    const q = verified(await call(PK, 'GET', '/v3/refund/domestic/refunds/R-0001'));
    expect(q.json).toMatchObject({ status: 'SUCCESS', refund_id: first.json.refund_id });
    const rest = verified(await refund('R-0003', 40));
    expect(rest.json.status).toBe('PROCESSING');
    const missing = verified(await call(PK, 'GET', '/v3/refund/domestic/refunds/R-none'));
    expect([missing.status, missing.json.code]).toEqual([404, 'RESOURCE_NOT_EXISTS']);
  });

  it('SIGNTEST probes are refused by PayV3Verifier with probe: true', async () => {
    const toggle = (enabled: boolean) =>
      fetch(`${emulator.url}/_emulator/pay/signtest`, {
        method: 'POST',
        body: JSON.stringify({ mchid: PK.config.mchid, enabled }),
      });
    expect((await toggle(true)).status).toBe(200);
    try {
      const r = await jsapi(PK, 'probe-0001');
      expect(r.status).toBe(200);
      expect(r.headers.get('wechatpay-signature')).toMatch(/^WECHATPAY\/SIGNTEST\//);
      let error: unknown;
      try {
        verifier.verify({ headers: r.headers, body: r.text });
      } catch (e) {
        error = e;
      }
      expect(error).toBeInstanceOf(SignatureError);
      expect((error as SignatureError).probe).toBe(true);
      notify.received.length = 0;
      notify.statuses.push(204);
      await succeed('probe-0001');
      await notify.waitFor(1);
      const req = notify.received[0];
      expect(() =>
        openNotification({
          headers: req?.headers ?? {},
          body: req?.body ?? '',
          apiV3Key: PK.config.apiV3Key,
          verifier,
        }),
      ).toThrow(expect.objectContaining({ probe: true }));
    } finally {
      await toggle(false);
    }
    verified(await jsapi(PK, 'probe-0002'));
  });
});

/** The part of the plugin's chained API these tests use (its typings index with optional chains). */
interface PluginEndpoint {
  post(data: unknown): Promise<{ status: number; data: Record<string, unknown> }>;
  get(config: unknown): Promise<{ status: number; data: Record<string, unknown> }>;
}
interface PluginTransactions {
  native: PluginEndpoint;
  outTradeNo: { _out_trade_no_: PluginEndpoint };
}

describe('a third-party client: wechatpay-axios-plugin', () => {
  it('creates a Native order and verifies the signed answer with the published key', async () => {
    const { Wechatpay } = await import('wechatpay-axios-plugin');
    const client = (mchid: string, serial: string, privateKey: KeyObject, certs: Record<string, string>) =>
      (
        new Wechatpay({
          mchid,
          serial,
          privateKey: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
          certs,
          baseURL: `${emulator.url}/`,
        }) as unknown as { v3: { pay: { transactions: PluginTransactions } } }
      ).v3.pay.transactions;
    for (const [m, serial, pem] of [
      [PK, platform.publicKey.id, platform.publicKey.pem],
      [CERT, platform.certificates[0]?.serialNo as string, platform.certificates[0]?.pem as string],
    ] as const) {
      const transactions = client(m.config.mchid, m.config.merchantCertificateSerial, m.privateKey, {
        [serial]: pem,
      });
      const res = await transactions.native.post(order(m, `axios-${m.config.mchid}`));
      expect(res.status).toBe(200);
      expect(res.data.code_url).toMatch(/^weixin:\/\/wxpay\/bizpayurl\?pr=/);
      const q = await transactions.outTradeNo._out_trade_no_.get({
        params: { mchid: m.config.mchid },
        out_trade_no: `axios-${m.config.mchid}`,
      });
      expect(q.data.trade_state).toBe('NOTPAY');
    }
    // Trusting another key under the same id, the plugin refuses the emulator's answer.
    const otherKey = generateKeyPairSync('rsa', { modulusLength: 2048 })
      .publicKey.export({ type: 'spki', format: 'pem' })
      .toString();
    const wrong = client(PK.config.mchid, PK.config.merchantCertificateSerial, PK.privateKey, {
      [platform.publicKey.id]: otherKey,
    });
    await expect(wrong.native.post(order(PK, 'axios-wrongkey'))).rejects.toMatchObject({
      code: 'EV3_RES_HEADER_SIGNATURE_DIGEST',
    });
  });
});
