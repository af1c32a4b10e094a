import { createServer, type IncomingHttpHeaders, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { signPayV2 } from '../../src/crypto/pay-v2.js';
import { buildAuthorization, decryptResource } from '../../src/crypto/pay-v3.js';
import { EmulatedClock } from '../../src/emulator/clock.js';
import {
  type EmulatorConfig,
  type RunningEmulator,
  resolveConfig,
  startEmulator,
} from '../../src/emulator/index.js';
import { NOTIFY_SCHEDULE_SECONDS } from '../../src/emulator/pay-v3/notifications.js';
import { buildXml, parseXml } from '../../src/xml/index.js';
import { makeMerchant } from '../pay/helpers.js';

// The emulator's delayed work runs on its clock. These emulators use a manual clock (time moves
// only when the test advances it) and WeChat's own delays (retryTimeScale 1), so each piece of
// work can be shown to run exactly when the clock reaches its due time, and not a millisecond
// before. Every test has its own emulator and receiver.

// biome-ignore lint/suspicious/noExplicitAny: answers are inspected field by field
type Json = any;

/** One request a receiver got, answerable later when it was held. */
interface Received {
  path: string;
  query: URLSearchParams;
  headers: IncomingHttpHeaders;
  body: string;
  res: ServerResponse;
}

/** A developer's / merchant's server: records requests, answers per plan, or holds them. */
interface Receiver {
  url: string;
  requests: Received[];
  /** How to answer the next requests, in order: [status, body], or 'hold' (never answered). */
  plan: Array<[number, string] | 'hold'>;
  /** Resolves once `n` requests have arrived (no polling: woken by the server). */
  arrived(n: number): Promise<Received>;
  close(): Promise<void>;
}

async function startReceiver(fallback: [number, string] = [200, 'success']): Promise<Receiver> {
  const requests: Received[] = [];
  const plan: Receiver['plan'] = [];
  let wake: Array<() => void> = [];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const url = new URL(req.url ?? '/', 'http://receiver');
      requests.push({
        path: url.pathname,
        query: url.searchParams,
        headers: req.headers,
        body: Buffer.concat(chunks).toString('utf8'),
        res,
      });
      const step = plan.shift() ?? fallback;
      if (step !== 'hold') res.writeHead(step[0]).end(step[1]);
      for (const w of wake.splice(0)) w();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    plan,
    async arrived(n) {
      while (requests.length < n) await new Promise<void>((resolve) => wake.push(resolve));
      return requests[n - 1] as Received;
    },
    async close() {
      wake = [];
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function receiver(fallback?: [number, string]): Promise<Receiver> {
  const r = await startReceiver(fallback);
  cleanups.push(() => r.close());
  return r;
}

/** An emulator on a manual clock with WeChat's own delays. */
async function manualEmulator(
  config: Omit<EmulatorConfig, 'options'>,
  pushTimeoutMs = 5000,
): Promise<RunningEmulator> {
  const emulator = await startEmulator({
    config: { ...config, options: { clock: 'manual', retryTimeScale: 1, pushTimeoutMs } },
  });
  cleanups.push(() => emulator.close());
  return emulator;
}

/** Moves the emulated clock and waits for the work it started (HTTP included). */
async function advance(emulator: RunningEmulator, seconds: number): Promise<void> {
  emulator.state.advance(seconds);
  await emulator.state.clock.settled();
}

const scheduled = async (emulator: RunningEmulator): Promise<Array<{ label: string; dueInMs: number }>> =>
  (await (await fetch(`${emulator.url}/_emulator/scheduled`)).json()).scheduled;

const post = async (emulator: RunningEmulator, path: string, body: unknown): Promise<Json> =>
  (await fetch(`${emulator.url}${path}`, { method: 'POST', body: JSON.stringify(body) })).json();

// ---------------------------------------------------------------------------------------------

describe('EmulatedClock', () => {
  it('manual: runs work when advance passes its due time, not before, soonest first', () => {
    const clock = new EmulatedClock('manual');
    const ran: string[] = [];
    clock.schedule(60_000, 'b', () => {
      ran.push('b');
    });
    clock.schedule(15_000, 'a', () => {
      ran.push('a');
    });
    const dropped = clock.schedule(30_000, 'dropped', () => {
      ran.push('dropped');
    });
    dropped.cancel();
    clock.advance(14_999);
    expect(ran).toEqual([]);
    clock.advance(1);
    expect(ran).toEqual(['a']);
    clock.advance(44_999);
    expect(ran).toEqual(['a']);
    expect(clock.pending()).toEqual([{ label: 'b', dueAt: expect.any(Number) }]);
    clock.advance(3_600_000);
    expect(ran).toEqual(['a', 'b']);
    expect(clock.pending()).toEqual([]);
    clock.close();
  });

  it('manual: time stands still without advance; settled() waits for async work', async () => {
    const clock = new EmulatedClock('manual');
    const start = clock.now();
    let done = false;
    clock.schedule(0, 'async', async () => {
      await Promise.resolve();
      done = true;
    });
    clock.advance(0);
    expect(done).toBe(false);
    await clock.settled();
    expect(done).toBe(true);
    expect(clock.now()).toBe(start);
    clock.close();
  });

  it('real: work runs when real time reaches it, and at once when the clock is advanced past it', async () => {
    const clock = new EmulatedClock('real');
    await new Promise<void>((resolve) => clock.schedule(1, 'soon', () => resolve()));
    let ran = false;
    clock.schedule(3_600_000, 'in an hour', () => {
      ran = true;
    });
    clock.advance(3_600_000);
    expect(ran).toBe(true);
    clock.close();
  });

  it('close drops pending work and aborts pending timeouts', () => {
    const clock = new EmulatedClock('manual');
    let ran = false;
    clock.schedule(10, 'x', () => {
      ran = true;
    });
    const timeout = clock.timeout(5000, 'push timeout');
    clock.close();
    clock.advance(10_000);
    expect(ran).toBe(false);
    expect(timeout.signal.aborted).toBe(true);
    expect(clock.schedule(0, 'after close', () => {}).dueAt).toBeGreaterThan(0);
    expect(clock.pending()).toEqual([]);
  });

  it('timeout aborts with a TimeoutError when the emulated time passes it, and done() drops it', () => {
    const clock = new EmulatedClock('manual');
    const cut = clock.timeout(5000, 'cut');
    const finished = clock.timeout(5000, 'finished');
    finished.done();
    clock.advance(4999);
    expect(cut.signal.aborted).toBe(false);
    clock.advance(1);
    expect(cut.signal.aborted).toBe(true);
    expect((cut.signal.reason as Error).name).toBe('TimeoutError');
    expect(finished.signal.aborted).toBe(false);
    clock.close();
  });

  it('the clock mode is validated with the rest of the configuration', () => {
    expect(resolveConfig({ apps: [], merchants: [] }).options.clock).toBe('real');
    expect(() =>
      resolveConfig({ apps: [], merchants: [], options: { clock: 'frozen' as 'manual' } }),
    ).toThrow(/options\.clock: must be "real" or "manual"/);
  });
});

// ---------------------------------------------------------------------------------------------

describe('WeChat Pay: refunds settle and notifications are retried on the emulated clock', () => {
  const merchant = makeMerchant('1900000301', 'public-key');
  const APPID = 'wx1234567890abcdef';

  async function v3(emulator: RunningEmulator, method: string, path: string, body?: unknown): Promise<Json> {
    const text = body === undefined ? '' : JSON.stringify(body);
    const res = await fetch(`${emulator.url}${path}`, {
      method,
      headers: {
        Accept: 'application/json',
        'Content-Type': 'application/json',
        Authorization: buildAuthorization({
          method,
          url: path,
          body: text,
          mchid: merchant.config.mchid,
          serialNo: merchant.config.merchantCertificateSerial,
          privateKey: merchant.privateKey,
          // The client's clock is the emulated one: a manual clock stands still.
          timestamp: emulator.state.nowSeconds(),
        }),
      },
      ...(body === undefined ? {} : { body: text }),
    });
    return res.json();
  }

  async function paidOrder(emulator: RunningEmulator, notify: Receiver, no: string): Promise<Json> {
    await v3(emulator, 'POST', '/v3/pay/transactions/jsapi', {
      appid: APPID,
      mchid: merchant.config.mchid,
      description: '测试商品',
      out_trade_no: no,
      notify_url: `${notify.url}/pay`,
      amount: { total: 100, currency: 'CNY' },
      payer: { openid: 'oUser123' },
    });
    return post(emulator, `/_emulator/pay/transactions/${no}/succeed`, {});
  }

  it('a v3 refund is PROCESSING until exactly 60 s of emulated time, then SUCCESS with REFUND.SUCCESS', async () => {
    const notify = await receiver([204, '']);
    const emulator = await manualEmulator({ apps: [], merchants: [merchant.config] });
    await paidOrder(emulator, notify, 'settle-0001');
    const refund = await v3(emulator, 'POST', '/v3/refund/domestic/refunds', {
      out_trade_no: 'settle-0001',
      out_refund_no: 'R-settle-1',
      notify_url: `${notify.url}/refund`,
      amount: { refund: 30, total: 100, currency: 'CNY' },
    });
    expect(refund.status).toBe('PROCESSING');
    expect(await scheduled(emulator)).toEqual([
      {
        label: `refund settlement ${merchant.config.mchid}/R-settle-1`,
        dueAt: expect.any(Number),
        dueInMs: 60_000,
      },
    ]);

    await advance(emulator, 59.999);
    expect((await v3(emulator, 'GET', '/v3/refund/domestic/refunds/R-settle-1')).status).toBe('PROCESSING');
    expect(notify.requests.filter((r) => r.path === '/refund')).toHaveLength(0);

    await advance(emulator, 0.001);
    const settled = await v3(emulator, 'GET', '/v3/refund/domestic/refunds/R-settle-1');
    expect(settled).toMatchObject({ status: 'SUCCESS', success_time: expect.any(String) });
    const sent = notify.requests.filter((r) => r.path === '/refund');
    expect(sent).toHaveLength(1);
    const notification = JSON.parse(sent[0]?.body ?? '');
    expect(notification.event_type).toBe('REFUND.SUCCESS');
    const resource = JSON.parse(
      decryptResource({
        apiV3Key: merchant.config.apiV3Key,
        algorithm: notification.resource.algorithm,
        ciphertext: notification.resource.ciphertext,
        nonce: notification.resource.nonce,
        associatedData: notification.resource.associated_data,
      }),
    );
    expect(resource).toMatchObject({ out_refund_no: 'R-settle-1', refund_status: 'SUCCESS' });
    expect(await scheduled(emulator)).toEqual([]);
  });

  it('a v2 refund is PROCESSING until exactly 60 s of emulated time, then SUCCESS', async () => {
    const notify = await receiver([200, '<xml><return_code><![CDATA[SUCCESS]]></return_code></xml>']);
    const emulator = await manualEmulator({ apps: [], merchants: [merchant.config] });
    const v2 = async (path: string, fields: Record<string, string>) => {
      const params: Record<string, string> = {
        appid: APPID,
        mch_id: merchant.config.mchid,
        nonce_str: 'n0nce',
        ...fields,
      };
      params.sign = signPayV2(params, merchant.config.apiV2Key, 'MD5');
      const res = await fetch(`${emulator.url}${path}`, { method: 'POST', body: buildXml(params) });
      return parseXml(await res.text()) as Record<string, string>;
    };
    await v2('/pay/unifiedorder', {
      body: '测试商品',
      out_trade_no: 'v2-settle-0001',
      total_fee: '100',
      spbill_create_ip: '127.0.0.1',
      notify_url: `${notify.url}/v2`,
      trade_type: 'JSAPI',
      openid: 'oUser123',
    });
    await post(emulator, '/_emulator/pay/v2/transactions/v2-settle-0001/succeed', {});
    const refund = await v2('/secapi/pay/refund', {
      out_trade_no: 'v2-settle-0001',
      out_refund_no: 'v2-R-1',
      total_fee: '100',
      refund_fee: '40',
    });
    expect(refund.result_code).toBe('SUCCESS');
    const status = async () => (await v2('/pay/refundquery', { out_refund_no: 'v2-R-1' })).refund_status_0;

    await advance(emulator, 59.999);
    expect(await status()).toBe('PROCESSING');
    await advance(emulator, 0.001);
    expect(await status()).toBe('SUCCESS');
  });

  it('a notification is retried on the official schedule, each retry exactly when it falls due', async () => {
    const notify = await receiver([500, '']);
    const emulator = await manualEmulator({ apps: [], merchants: [merchant.config] });
    const paid = await paidOrder(emulator, notify, 'retry-0001');
    expect(paid.notifications[0].attempts).toHaveLength(1);
    const deliveryId = paid.notifications[0].deliveryId as string;
    const attempts = async (): Promise<Array<{ at: number; status?: number }>> => {
      const log = await (
        await fetch(`${emulator.url}/_emulator/pay/notifications?mchid=${merchant.config.mchid}`)
      ).json();
      return log.notifications.find((d: { deliveryId: string }) => d.deliveryId === deliveryId).attempts;
    };

    // 15s/15s/30s/3m/10m/20m/30m/30m/30m/60m/3h/3h/3h/6h/6h: 15 retries after the first attempt.
    for (const [n, seconds] of NOTIFY_SCHEDULE_SECONDS.entries()) {
      await advance(emulator, seconds - 0.001);
      expect(await attempts()).toHaveLength(n + 1);
      await advance(emulator, 0.001);
      const after = await attempts();
      expect(after).toHaveLength(n + 2);
      expect((after.at(-1)?.at ?? 0) - (after.at(-2)?.at ?? 0)).toBe(seconds * 1000);
    }
    expect(notify.requests).toHaveLength(NOTIFY_SCHEDULE_SECONDS.length + 1);
    expect(new Set(notify.requests.map((r) => r.body)).size).toBe(1);
    const log = await (
      await fetch(`${emulator.url}/_emulator/pay/notifications?mchid=${merchant.config.mchid}`)
    ).json();
    expect(log.notifications[0].status).toBe('failed');
    expect(await scheduled(emulator)).toEqual([]);
  });

  it('an unanswered notification attempt times out when the emulated clock passes pushTimeoutMs', async () => {
    const notify = await receiver([204, '']);
    notify.plan.push('hold');
    const emulator = await manualEmulator({ apps: [], merchants: [merchant.config] });
    const paying = paidOrder(emulator, notify, 'timeout-0001');
    await notify.arrived(1);
    await advance(emulator, 4.999);
    expect(
      (await scheduled(emulator)).map((s) => [s.label.split(' ').slice(0, 3).join(' '), s.dueInMs]),
    ).toEqual([['pay notification timeout', 1]]);
    await advance(emulator, 0.001);
    const paid = await paying;
    expect(paid.notifications[0].attempts[0]).toMatchObject({ ok: false, error: 'timeout after 5000 ms' });
    // The next attempt is due 15 s after the timed-out one, and is answered.
    await advance(emulator, 15);
    expect(notify.requests).toHaveLength(2);
    const log = await (
      await fetch(`${emulator.url}/_emulator/pay/notifications?mchid=${merchant.config.mchid}`)
    ).json();
    expect(log.notifications[0]).toMatchObject({ status: 'delivered' });
  });
});

// ---------------------------------------------------------------------------------------------

describe('pushes to a callback URL: retries and delayed events on the emulated clock', () => {
  const app = (callbackUrl: string, kind: 'official-account' | 'mini-program' = 'official-account') => ({
    appId: kind === 'official-account' ? 'wx5555555555555555' : 'wx6666666666666666',
    secret: 'delayed-work-secret',
    kind,
    token: 'DelayedToken',
    callbackUrl,
    messageMode: 'plain' as const,
    ...(kind === 'mini-program' ? { dataFormat: 'json' as const } : {}),
  });

  it('a message push is resent exactly when the emulated clock passes pushTimeoutMs', async () => {
    const server = await receiver();
    server.plan.push('hold');
    const oa = app(`${server.url}/oa`);
    const emulator = await manualEmulator({ apps: [oa], merchants: [] });
    const pushing = post(emulator, '/_emulator/push', {
      appId: oa.appId,
      message: { MsgType: 'text', Content: 'hi' },
    });
    await server.arrived(1);
    await advance(emulator, 4.999);
    expect(server.requests).toHaveLength(1);
    expect((await scheduled(emulator)).map((s) => s.dueInMs)).toEqual([1]);
    await advance(emulator, 0.001);
    const second = await server.arrived(2);
    const result = await pushing;
    expect(second.body).toBe(server.requests[0]?.body);
    expect(result).toMatchObject({ attempts: 2, status: 200, reply: '' });
    expect(result.history).toEqual([
      { status: 0, outcome: 'timeout', elapsedMs: 5000 },
      { status: 200, outcome: 'answered', elapsedMs: 0 },
    ]);
  });

  it('an Open Platform push is resent exactly when the emulated clock passes pushTimeoutMs', async () => {
    const server = await receiver();
    server.plan.push('hold');
    const component = {
      componentAppId: 'wxc0mp0nent0000009',
      componentSecret: 'component-secret',
      token: 'ComponentToken',
      encodingAESKey: 'abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG',
      callbackUrl: `${server.url}/component`,
    };
    const emulator = await manualEmulator({ apps: [], merchants: [], components: [component] });
    const pushing = post(emulator, '/_emulator/open-platform/ticket', {
      componentAppId: component.componentAppId,
    });
    await server.arrived(1);
    await advance(emulator, 4.999);
    expect(server.requests).toHaveLength(1);
    await advance(emulator, 0.001);
    await server.arrived(2);
    const result = await pushing;
    expect(result).toMatchObject({ attempts: 2, ok: true });
    expect(result.history.map((h: { outcome: string }) => h.outcome)).toEqual(['timeout', 'answered']);
  });

  it('TEMPLATESENDJOBFINISH is pushed exactly 2 s (emulated) after a template message', async () => {
    const server = await receiver();
    const oa = app(`${server.url}/oa`);
    const emulator = await manualEmulator({ apps: [oa], merchants: [] });
    const token = (
      await (
        await fetch(
          `${emulator.url}/cgi-bin/token?grant_type=client_credential&appid=${oa.appId}&secret=${oa.secret}`,
        )
      ).json()
    ).access_token;
    const { openId } = await post(emulator, '/_emulator/users', { appId: oa.appId });
    const sent = await post(emulator, `/cgi-bin/message/template/send?access_token=${token}`, {
      touser: openId,
      template_id: 'TPL',
    });
    expect(sent.errcode).toBe(0);
    await advance(emulator, 1.999);
    expect(server.requests).toHaveLength(0);
    await advance(emulator, 0.001);
    expect(server.requests).toHaveLength(1);
    const event = parseXml(server.requests[0]?.body ?? '');
    expect(event).toMatchObject({ MsgType: 'event', Event: 'TEMPLATESENDJOBFINISH', Status: 'success' });
    expect(String(event.MsgID)).toBe(String(sent.msgid));
  });

  it('wxa_media_check is pushed exactly 5 s (emulated) after media_check_async', async () => {
    const server = await receiver();
    const mp = app(`${server.url}/mp`, 'mini-program');
    const emulator = await manualEmulator({ apps: [mp], merchants: [] });
    const token = (
      await (
        await fetch(
          `${emulator.url}/cgi-bin/token?grant_type=client_credential&appid=${mp.appId}&secret=${mp.secret}`,
        )
      ).json()
    ).access_token;
    const check = await post(emulator, `/wxa/media_check_async?access_token=${token}`, {
      media_url: 'https://example.com/risky.png',
      media_type: 2,
    });
    expect(check.errcode).toBe(0);
    await advance(emulator, 4.999);
    expect(server.requests).toHaveLength(0);
    await advance(emulator, 0.001);
    expect(server.requests).toHaveLength(1);
    expect(JSON.parse(server.requests[0]?.body ?? '')).toMatchObject({
      Event: 'wxa_media_check',
      trace_id: check.trace_id,
      isrisky: 1,
    });
  });
});

describe('with the real clock (a running demo)', () => {
  it('a refund settles by itself once real time passes its (scaled) delay', async () => {
    const merchant = makeMerchant('1900000302', 'public-key');
    const notify = await receiver([204, '']);
    const emulator = await startEmulator({ config: { apps: [], merchants: [merchant.config] } });
    cleanups.push(() => emulator.close());
    const call = async (method: string, path: string, body?: unknown): Promise<Json> => {
      const text = body === undefined ? '' : JSON.stringify(body);
      const res = await fetch(`${emulator.url}${path}`, {
        method,
        headers: {
          'Content-Type': 'application/json',
          Authorization: buildAuthorization({
            method,
            url: path,
            body: text,
            mchid: merchant.config.mchid,
            serialNo: merchant.config.merchantCertificateSerial,
            privateKey: merchant.privateKey,
          }),
        },
        ...(body === undefined ? {} : { body: text }),
      });
      return res.json();
    };
    await call('POST', '/v3/pay/transactions/native', {
      appid: 'wx1234567890abcdef',
      mchid: merchant.config.mchid,
      description: '测试商品',
      out_trade_no: 'demo-0001',
      notify_url: `${notify.url}/pay`,
      amount: { total: 100 },
    });
    await post(emulator, '/_emulator/pay/transactions/demo-0001/succeed', {});
    await call('POST', '/v3/refund/domestic/refunds', {
      out_trade_no: 'demo-0001',
      out_refund_no: 'R-demo-1',
      notify_url: `${notify.url}/refund`,
      amount: { refund: 100, total: 100, currency: 'CNY' },
    });
    // 60 s ÷ retryTimeScale 1000: REFUND.SUCCESS arrives ~60 ms later without anyone moving the clock.
    const sent = await notify.arrived(2);
    expect(sent.path).toBe('/refund');
    expect((await call('GET', '/v3/refund/domestic/refunds/R-demo-1')).status).toBe('SUCCESS');
  });
});
