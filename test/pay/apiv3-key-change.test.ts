// Issue 12, the APIv3 key change procedure (docs/rotation.md): the notification handler and the
// PayV3 client list [new, old] before the key is changed in the merchant platform; the emulator's
// POST /_emulator/pay/apiv3-key plays the change ("修改密钥后，则旧密钥会立即失效": everything
// encrypted from then on uses the new key, while a retry keeps the body it was first sent with);
// onSecretFallback says when the old key is still in use; with the old key removed, a notification
// sealed with it is answered 500 BAD_KEY. Each test has its own emulator on a manual clock.
import { randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { toNodeListener } from '../../src/adapters/node.js';
import {
  type CallbackErrorEvent,
  type CallbackHandler,
  createPayNotificationHandler,
  type SecretFallbackEvent,
} from '../../src/callbacks/index.js';
import { secretFrom } from '../../src/core/secret-provider.js';
import { type RunningEmulator, startEmulator } from '../../src/emulator/server.js';
import { ConfigError, CryptoError } from '../../src/errors.js';
import { PayV3, type PayV3CommonOptions } from '../../src/pay/index.js';
import { makeMerchant, type Platform, type TestMerchant } from './helpers.js';

const APPID = 'wx1234567890abcdef';
/** 32 letters and digits, as the merchant platform asks for. */
const newKey = () =>
  randomBytes(24)
    .toString('base64')
    .replace(/[^A-Za-z0-9]/g, '')
    .padEnd(32, 'k')
    .slice(0, 32);

let emulator: RunningEmulator;
let platform: Platform;
let merchant: TestMerchant;
let OLD: string;
let NEW: string;
let server: Server;
let notifyUrl: string;
/** What the merchant's notify_url runs now; undefined answers 503 (WeChat Pay retries). */
let current: CallbackHandler | undefined;

beforeEach(async () => {
  merchant = makeMerchant(`19000${Math.floor(Math.random() * 1e5)}`.padEnd(10, '0'), 'certificate');
  OLD = merchant.config.apiV3Key;
  NEW = newKey();
  emulator = await startEmulator({
    config: { apps: [], merchants: [merchant.config], options: { clock: 'manual' } },
  });
  platform = (await (await fetch(`${emulator.url}/_emulator/pay/platform`)).json()) as Platform;
  current = undefined;
  server = createServer(
    toNodeListener({
      handle: (request) =>
        current === undefined
          ? Promise.resolve({ status: 503, headers: {}, body: '' })
          : current.handle(request),
    }),
  );
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  notifyUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/pay/notify`;
});

afterEach(async () => {
  await emulator?.close();
  server?.closeAllConnections();
  await new Promise<void>((resolve) => server?.close(() => resolve()));
});

async function control<T = Record<string, unknown>>(path: string, body: unknown): Promise<T> {
  const res = await fetch(`${emulator.url}${path}`, { method: 'POST', body: JSON.stringify(body) });
  expect(res.status, `${path} answered ${res.status}`).toBe(200);
  return (await res.json()) as T;
}

/** The merchant platform's 修改 APIv3密钥. */
const changeKey = async (apiV3Key: string) =>
  expect(
    (
      await control<{ apiV3Key: string }>('/_emulator/pay/apiv3-key', {
        mchid: merchant.config.mchid,
        apiV3Key,
      })
    ).apiV3Key,
  ).toBe(apiV3Key);

function client(extra: Partial<PayV3CommonOptions> = {}): PayV3 {
  return new PayV3({
    mchid: merchant.config.mchid,
    merchantSerialNo: merchant.config.merchantCertificateSerial,
    privateKey: merchant.privateKey,
    apiV3Key: OLD,
    platform: { certificates: platform.certificates.map((c) => c.pem) },
    baseUrl: emulator.url,
    certificateRefreshIntervalMs: 0,
    ...extra,
  });
}

let seq = 0;
/** Creates an order and has the emulator pay it: its notification is sent now (one attempt). */
async function pay(payer: PayV3): Promise<{ outTradeNo: string; status: string }> {
  const outTradeNo = `KEY${Date.now()}${++seq}`;
  await payer.transactions.jsapi({
    appid: APPID,
    description: '测试商品',
    out_trade_no: outTradeNo,
    notify_url: notifyUrl,
    amount: { total: 100, currency: 'CNY' },
    payer: { openid: 'oUser123' },
  });
  const answer = await control<{ notifications: Array<{ status: string }> }>(
    `/_emulator/pay/transactions/${outTradeNo}/succeed`,
    {},
  );
  return { outTradeNo, status: answer.notifications[0]?.status ?? 'none' };
}

/** Runs the emulator's next due work (a notification retry) and waits for it. */
async function runNextRetry(): Promise<void> {
  await emulator.state.clock.settled();
  const [next] = emulator.state.clock.pending();
  if (next === undefined) throw new Error('no retry pending');
  emulator.state.advance(Math.max(0, next.dueAt - emulator.state.now()) / 1000);
  await emulator.state.clock.settled();
}

/** A handler recording fallbacks, errors and the orders it was given. */
function handlerWith(
  apiV3Key: Parameters<typeof createPayNotificationHandler>[0]['apiV3Key'],
  verifier: PayV3,
) {
  const fallbacks: SecretFallbackEvent[] = [];
  const errors: CallbackErrorEvent[] = [];
  const paid: string[] = [];
  const handler = createPayNotificationHandler({
    apiV3Key,
    verifier,
    hooks: { onSecretFallback: (e) => fallbacks.push(e), onError: (e) => errors.push(e) },
  }).on('TRANSACTION.SUCCESS', ({ resource }) => {
    paid.push(resource.out_trade_no);
  });
  return { handler, fallbacks, errors, paid };
}

describe('changing the APIv3 key', () => {
  it('with [new, old] listed: before the change, after it, and a retry of a notification sealed before it all open; onSecretFallback goes quiet once WeChat Pay uses the new key', async () => {
    const payer = client({ apiV3Key: [NEW, OLD] });
    const h = handlerWith([NEW, OLD], payer);
    current = h.handler;

    // Step 2: deployed [new, old] before the change. WeChat Pay still seals with the old key.
    const before = await pay(payer);
    expect(before.status).toBe('delivered');
    expect(h.fallbacks).toEqual([{ option: 'apiV3Key', index: 1, method: 'POST' }]);

    // A notification the merchant's server misses just before the change (answered 503).
    current = undefined;
    const missed = await pay(payer);
    expect(missed.status).toBe('pending');

    // Step 3: the key is changed in the merchant platform.
    await changeKey(NEW);
    current = h.handler;
    const after = await pay(payer);
    expect(after.status).toBe('delivered');
    // Sealed with the new key: no fallback.
    expect(h.fallbacks).toHaveLength(1);

    // WeChat Pay retries the missed one as first sent (old key): still accepted, reported.
    await runNextRetry();
    expect(h.paid).toEqual([before.outTradeNo, after.outTradeNo, missed.outTradeNo]);
    expect(h.fallbacks).toEqual([
      { option: 'apiV3Key', index: 1, method: 'POST' },
      { option: 'apiV3Key', index: 1, method: 'POST' },
    ]);
    expect(h.errors).toEqual([]);

    // Step 5: the old key removed. A notification still sealed with it is answered 500 BAD_KEY
    // (so WeChat Pay retries it), and reported through onError.
    const log = (await (
      await fetch(`${emulator.url}/_emulator/pay/notifications?mchid=${merchant.config.mchid}`)
    ).json()) as {
      notifications: Array<{ body: string; headers: Record<string, string> }>;
    };
    const sealedWithOld = log.notifications[0] as { body: string; headers: Record<string, string> };
    const newOnly = handlerWith(NEW, payer);
    const refused = await newOnly.handler.handle({
      method: 'POST',
      url: '/pay/notify',
      headers: sealedWithOld.headers,
      rawBody: sealedWithOld.body,
    });
    expect(refused.status).toBe(500);
    expect(newOnly.errors).toHaveLength(1);
    expect(newOnly.errors[0]?.phase).toBe('config');
    expect(newOnly.errors[0]?.error).toMatchObject({ code: 'BAD_KEY' });
    // …while one sealed with the new key opens without a fallback.
    const sealedWithNew = log.notifications[2] as { body: string; headers: Record<string, string> };
    const opened = await newOnly.handler.handle({
      method: 'POST',
      url: '/pay/notify',
      headers: sealedWithNew.headers,
      rawBody: sealedWithNew.body,
    });
    expect(opened.status).toBe(204);
    expect(newOnly.fallbacks).toEqual([]);
  });

  it('the PayV3 client with [new, old] decrypts downloaded platform certificates before and after the change; with one key, only on its side of the change', async () => {
    const both = client({ apiV3Key: [NEW, OLD] });
    await both.refreshCertificates();
    expect(both.knownSerials()).toContain(platform.certificates[0]?.serialNo);
    const oldOnly = client({ apiV3Key: OLD });
    await oldOnly.refreshCertificates();
    const newOnlyEarly = client({ apiV3Key: NEW });
    const early = await newOnlyEarly.refreshCertificates().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(early).toBeInstanceOf(CryptoError);
    expect(early).toMatchObject({ code: 'DECRYPT_FAILED' });
    expect((early as Error).message).toContain('does not decrypt with apiV3Key');

    await changeKey(NEW);
    await both.refreshCertificates();
    await client({ apiV3Key: NEW }).refreshCertificates();
    const late = await oldOnly.refreshCertificates().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(late).toMatchObject({ code: 'DECRYPT_FAILED' });
  });

  it('with the key from a provider: after the change and the vault update, the first notification that does not open makes the provider read again, and it is accepted', async () => {
    const vault = { value: OLD, reads: 0 };
    const provider = secretFrom(
      async () => {
        vault.reads++;
        return vault.value;
      },
      { name: 'vault:apiv3' },
    );
    const payer = client({ apiV3Key: provider });
    const h = handlerWith(provider, payer);
    current = h.handler;
    expect((await pay(payer)).status).toBe('delivered');
    expect(vault.reads).toBe(1);

    await changeKey(NEW);
    vault.value = NEW;
    const after = await pay(payer);
    expect(after.status).toBe('delivered');
    expect(vault.reads).toBe(2);
    expect(h.errors).toEqual([]);
    expect(h.fallbacks).toEqual([]);
    // The client's certificate download uses the re-read key too.
    await payer.refreshCertificates();
    expect(vault.reads).toBe(2);
  });

  it('a provider whose key is malformed is refused when first read, with the typed error of a malformed value', async () => {
    const payer = client({ apiV3Key: secretFrom(async () => 'too-short', { name: 'vault:bad' }) });
    const error = await payer.refreshCertificates().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(ConfigError);
    expect(error).toMatchObject({ code: 'BAD_KEY' });
    expect((error as Error).message).toContain(
      'apiV3Key (from secret provider "vault:bad") must be the 32-character APIv3 key',
    );
    expect((error as Error).message).not.toContain('too-short');

    const h = handlerWith([NEW, secretFrom(async () => NEW, { name: 'vault:dup' })], client());
    current = h.handler;
    expect((await pay(client())).status).toBe('pending');
    expect(h.errors[0]?.phase).toBe('config');
    expect(h.errors[0]?.error).toMatchObject({ code: 'INVALID_CONFIG' });
    expect((h.errors[0]?.error as Error | undefined)?.message).toContain('apiV3Key[1] repeats apiV3Key[0]');
  });
});

describe('the apiV3Key option of PayV3', () => {
  it('takes a list, current first, and refuses an empty list, a repeated key or a malformed one when built', () => {
    expect(() => client({ apiV3Key: [NEW, OLD] })).not.toThrow();
    expect(() => client({ apiV3Key: [] })).toThrow(/apiV3Key is an empty list/);
    expect(() => client({ apiV3Key: [NEW, NEW] })).toThrow(
      'PayV3: apiV3Key[1] repeats apiV3Key[0]: list each key once',
    );
    let error: unknown;
    try {
      client({ apiV3Key: [NEW, 'short'] });
    } catch (e) {
      error = e;
    }
    expect(error).toMatchObject({ code: 'BAD_KEY' });
    expect((error as Error).message).toContain('PayV3: apiV3Key[1] must be the 32-character APIv3 key');
    expect(() => client({ apiV3Key: undefined })).toThrow('PayV3: apiV3Key is required (it is undefined');
  });
});
