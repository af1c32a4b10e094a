import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { APIPromise } from '../../src/core/api-promise.js';
import { TransportError } from '../../src/errors.js';
import type { PayV3 } from '../../src/pay/index.js';
import { ManualScheduler } from '../helpers/manual-scheduler.js';
import {
  type LocalHandler,
  localPayClient,
  makeLocalPlatform,
  type PayV3TestOptions,
  spyFetch,
  startLocalServer,
} from './helpers.js';

/**
 * The client contract on Pay v3: every method takes `(params, options?: RequestOptions)` and
 * returns an APIPromise whose `withResponse()` gives the status, headers and WeChat Pay's
 * `Request-ID`; the per-call options (headers, retries, idempotent, signal, timeoutMs) apply to
 * that call only; the common client options (dispatcher, logger) reach the transport.
 */

const platform = makeLocalPlatform();
const merchant = generateKeyPairSync('rsa', { modulusLength: 2048 });
const MCHID = '1900000501';

let server: Awaited<ReturnType<typeof startLocalServer>>;
let route: LocalHandler;

const signed = (status: number, body?: object) => platform.answer(status, body);

beforeAll(async () => {
  server = await startLocalServer((req) => route(req));
});
afterAll(async () => {
  await server?.close();
});

function client(extra: PayV3TestOptions = {}): PayV3 {
  return localPayClient(
    { mchid: MCHID, merchantKey: merchant.privateKey, platform, baseUrl: server.url },
    extra,
  );
}

const order = {
  appid: 'wx1',
  description: 'd',
  out_trade_no: 'opt-000001',
  notify_url: 'https://m.example/n',
  amount: { total: 1 },
};

describe('withResponse(): status, headers and Request-ID on every Pay v3 method', () => {
  it('gives the data when awaited, and the metadata of the same single request through withResponse()', async () => {
    let requestId = '';
    route = () => {
      const answer = signed(200, { trade_state: 'NOTPAY', out_trade_no: 'opt-000001' });
      requestId = (answer.headers as Record<string, string>)['Request-ID'] ?? '';
      return answer;
    };
    const pay = client();
    const before = server.received.length;
    const promise = pay.transactions.getByOutTradeNo({ out_trade_no: 'opt-000001' });
    expect(promise).toBeInstanceOf(APIPromise);
    const { data, response } = await promise.withResponse();
    expect(await promise).toEqual(data);
    expect(data.trade_state).toBe('NOTPAY');
    expect(response.status).toBe(200);
    expect(response.requestId).toBe(requestId);
    expect(response.headers.get('wechatpay-serial')).toBe(platform.id);
    expect(server.received.length - before).toBe(1);
  });

  it('gives a 204 close its status too', async () => {
    route = () => signed(204);
    const { data, response } = await client()
      .transactions.close({ out_trade_no: 'opt-000002' })
      .withResponse();
    expect(data).toBeUndefined();
    expect(response.status).toBe(204);
    expect(response.requestId).toMatch(/^[0-9a-f]{16}$/);
  });

  it('rejects a bad argument through the promise, before anything is sent', async () => {
    const before = server.received.length;
    const pay = client();
    await expect(pay.transactions.getByOutTradeNo({ out_trade_no: '' })).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
    });
    await expect(pay.refunds.get({} as { out_refund_no: string })).rejects.toThrow(/out_refund_no/);
    await expect(pay.request('GET', 'v3/no-slash')).rejects.toThrow(/must start with \/v3\//);
    expect(server.received.length).toBe(before);
  });
});

describe('RequestOptions on Pay v3 calls', () => {
  it('sends extra headers, but never lets them replace the signature', async () => {
    route = () => signed(200, { prepay_id: 'wx1' });
    await client().transactions.jsapi(
      { ...order, payer: { openid: 'o1' } },
      { headers: { 'X-Trace-Id': 'trace-1', Authorization: 'forged' } },
    );
    const req = server.received.at(-1);
    expect(req?.headers['x-trace-id']).toBe('trace-1');
    expect(req?.headers.authorization).toMatch(/^WECHATPAY2-SHA256-RSA2048 mchid="1900000501"/);
  });

  it('retries: 0 turns off the retry of a query for that call only', async () => {
    let n = 0;
    route = () =>
      ++n === 1
        ? signed(500, { code: 'SYSTEM_ERROR', message: 'x' })
        : signed(200, { trade_state: 'NOTPAY' });
    const pay = client();
    await expect(
      pay.transactions.getByOutTradeNo({ out_trade_no: 'opt-000003' }, { retries: 0 }),
    ).rejects.toMatchObject({
      status: 500,
      payCode: 'SYSTEM_ERROR',
    });
    expect(n).toBe(1);
    n = 0;
    await expect(pay.transactions.getByOutTradeNo({ out_trade_no: 'opt-000003' })).resolves.toMatchObject({
      trade_state: 'NOTPAY',
    });
    expect(n).toBe(2);
  });

  it('keeps each call retry-safe: an order (same out_trade_no) is resent after a network error, an upload is not', async () => {
    const spy = spyFetch();
    route = (req) =>
      req.url === '/v3/merchant/media/upload'
        ? signed(200, { media_id: 'M1' })
        : signed(200, { code_url: 'weixin://x' });
    const pay = client({ fetch: spy.fetch });
    spy.failNext = 1;
    await expect(pay.transactions.native(order)).resolves.toEqual({ code_url: 'weixin://x' });
    expect(spy.count('/v3/pay/transactions/native')).toBe(2);

    spy.failNext = 1;
    const image = { filename: 'a.png', data: randomBytes(16) };
    await expect(pay.media.uploadImage(image)).rejects.toBeInstanceOf(TransportError);
    expect(spy.count('/v3/merchant/media/upload')).toBe(1);
    // idempotent: true says the caller made it safe to resend.
    spy.failNext = 1;
    await expect(pay.media.uploadImage(image, { idempotent: true })).resolves.toEqual({ media_id: 'M1' });
    expect(spy.count('/v3/merchant/media/upload')).toBe(3);
    // idempotent: false turns the retry of an order off.
    spy.failNext = 1;
    await expect(pay.transactions.native(order, { idempotent: false })).rejects.toBeInstanceOf(
      TransportError,
    );
    expect(spy.count('/v3/pay/transactions/native')).toBe(3);
    // request(): a POST is resent only when marked idempotent.
    spy.failNext = 1;
    route = () => signed(200, { ok: true });
    await expect(pay.request('POST', '/v3/some/api', { body: {}, idempotent: true })).resolves.toEqual({
      ok: true,
    });
    expect(spy.count('/v3/some/api')).toBe(2);
  });

  it('an aborted signal rejects with its reason and sends nothing; timeoutMs bounds one call', async () => {
    const spy = spyFetch();
    const pay = client({ fetch: spy.fetch });
    const controller = new AbortController();
    const reason = new Error('user went away');
    controller.abort(reason);
    await expect(
      pay.transactions.getByOutTradeNo({ out_trade_no: 'opt-000004' }, { signal: controller.signal }),
    ).rejects.toBe(reason);
    expect(spy.calls).toEqual([]);

    // A fetch that never answers: only the call's own timeout ends it, on the client's scheduler.
    const hanging: typeof fetch = (_input, init) =>
      new Promise((_resolve, reject) =>
        init?.signal?.addEventListener('abort', () => reject(init.signal?.reason)),
      );
    const manual = new ManualScheduler();
    const slow = client({ fetch: hanging, retries: 0, scheduler: manual });
    let settled = false;
    const failed = slow.transactions
      .getByOutTradeNo({ out_trade_no: 'opt-000005' }, { timeoutMs: 20 })
      .catch((error: unknown) => error)
      .finally(() => (settled = true));
    await manual.whenPending();
    await manual.advance(19);
    expect(settled).toBe(false);
    await manual.advance(1);
    expect(settled).toBe(true);
    expect(await failed).toMatchObject({ code: 'TIMEOUT' });
  });
});

describe('bill streams on the client scheduler', () => {
  const bill = (base: string) => ({
    download_url: `${base}/v3/billdownload/file?token=t1`,
    hash_type: 'SHA1' as const,
    hash_value: 'da39a3ee5e6b4b0d3255bfef95601890afd80709',
  });

  it('times out waiting for the headers at timeoutMs on the scheduler, not before', async () => {
    const hanging: typeof fetch = (_input, init) =>
      new Promise((_resolve, reject) =>
        init?.signal?.addEventListener('abort', () => reject(init.signal?.reason)),
      );
    const manual = new ManualScheduler();
    const pay = client({ fetch: hanging, retries: 0, scheduler: manual, timeoutMs: 50 });
    let settled = false;
    const failed = pay.bills
      .downloadStream(bill(server.url))
      .then(
        () => undefined,
        (error: unknown) => error,
      )
      .finally(() => (settled = true));
    await manual.whenPending();
    await manual.advance(49);
    expect(settled).toBe(false);
    await manual.advance(1);
    expect(await failed).toMatchObject({ code: 'TIMEOUT' });
  });

  it('fails a download that stalls between chunks after timeoutMs of silence', async () => {
    let push: ((chunk: Uint8Array) => void) | undefined;
    const stalling: typeof fetch = async () =>
      new Response(
        new ReadableStream<Uint8Array>({
          start(controller) {
            push = (chunk) => controller.enqueue(chunk);
          },
        }),
        { status: 200 },
      );
    const manual = new ManualScheduler();
    const pay = client({ fetch: stalling, retries: 0, scheduler: manual, timeoutMs: 50 });
    const stream = await pay.bills.downloadStream(bill(server.url));
    const reader = stream.getReader();
    push?.(new TextEncoder().encode('交易时间,'));
    const first = await reader.read();
    expect(first.done).toBe(false);
    let outcome: unknown = 'pending';
    const next = reader.read().then(
      (value) => (outcome = value),
      (error: unknown) => (outcome = error),
    );
    await manual.whenPending();
    await manual.advance(49);
    expect(outcome).toBe('pending');
    await manual.advance(1);
    await next;
    expect(outcome).toMatchObject({ code: 'TIMEOUT' });
  });
});

describe('ClientOptions on PayV3', () => {
  it('hands the dispatcher to fetch on every request, and tells the logger about a retry', async () => {
    const dispatcher = { name: 'egress-proxy' };
    const seen: unknown[] = [];
    const warnings: string[] = [];
    let n = 0;
    route = () => (++n === 1 ? { status: 502, body: 'bad gateway' } : signed(200, { trade_state: 'NOTPAY' }));
    const pay = client({
      dispatcher,
      fetch: (input, init) => {
        const { dispatcher: given, ...rest } = init as RequestInit & { dispatcher?: unknown };
        seen.push(given);
        return fetch(input, rest);
      },
      logger: { warn: (_fields, message) => warnings.push(message), error: () => {} },
    });
    await pay.transactions.getByOutTradeNo({ out_trade_no: 'opt-000006' });
    expect(seen).toEqual([dispatcher, dispatcher]);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/retrying GET .*\/v3\/pay\/transactions\/out-trade-no\/opt-000006/);
  });

  it('rejects an unknown option, naming the allowed ones', () => {
    expect(() => client({ userAgnet: 'x' } as PayV3TestOptions)).toThrow(
      /PayV3: unknown option "userAgnet" \(allowed: .*dispatcher.*signer/,
    );
  });
});
