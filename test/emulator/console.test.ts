import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mask } from '../../src/emulator/control/console.js';
import { EventLog, eventStream } from '../../src/emulator/events.js';
import { createEmulator, type RunningEmulator, startEmulator } from '../../src/emulator/index.js';
import { CONSOLE_HTML } from '../../src/emulator/ui/page.js';
import { CONSOLE_JS } from '../../src/emulator/ui/script.js';
import { PayV3 } from '../../src/index.js';

// The console's server side: the event log (bounded, with verdicts), its SSE stream (heartbeat,
// resume, bounded subscribers, clean-up on disconnect), the Pay order control routes the
// console's buttons call, and the page's own security headers. The page itself is driven in a
// real browser by console-browser.test.ts.

interface LoggedEvent {
  seq: number;
  kind: string;
  verdict: string;
  summary: string;
  reason?: string;
  detail: Record<string, unknown>;
}

/** The newest event that matches. */
function last(events: LoggedEvent[], match: (e: LoggedEvent) => boolean): LoggedEvent | undefined {
  return [...events].reverse().find(match);
}

/** Reads an SSE body until `until` matches what arrived, at most `ms`. */
async function readUntil(body: ReadableStream<Uint8Array>, until: RegExp, ms = 5000): Promise<string> {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  let text = '';
  const deadline = setTimeout(() => reader.cancel(), ms);
  try {
    while (!until.test(text)) {
      const { done, value } = await reader.read();
      if (done) break;
      text += decoder.decode(value);
    }
  } finally {
    clearTimeout(deadline);
    reader.releaseLock();
  }
  return text;
}

describe('event log', () => {
  it('keeps the newest `capacity` events and numbers them', () => {
    const log = new EventLog({ capacity: 3 });
    for (let i = 0; i < 5; i++)
      log.record({ at: i, kind: 'api', verdict: 'accepted', summary: `call ${i}`, detail: {} });
    expect(log.since().map((e) => e.seq)).toEqual([3, 4, 5]);
    expect(log.since(4).map((e) => e.summary)).toEqual(['call 4']);
    expect(log.lastSeq).toBe(5);
  });

  it('refuses subscribers beyond its bound and after close', () => {
    const log = new EventLog({ maxSubscribers: 2 });
    const sub = () => ({ send() {}, end() {} });
    const first = log.subscribe(sub());
    expect(log.subscribe(sub())).toBeDefined();
    expect(log.subscribe(sub())).toBeUndefined();
    first?.();
    expect(log.subscriberCount).toBe(1);
    expect(log.subscribe(sub())).toBeDefined();
    log.close();
    expect(log.subscriberCount).toBe(0);
    expect(log.subscribe(sub())).toBeUndefined();
  });

  it('streams events with ids, sends heartbeats, resumes after Last-Event-ID and unsubscribes on cancel', async () => {
    const log = new EventLog();
    log.record({ at: 0, kind: 'api', verdict: 'accepted', summary: 'old', detail: {} });
    log.record({ at: 0, kind: 'api', verdict: 'refused', summary: 'missed', reason: 'x', detail: {} });
    const response = eventStream(log, { lastEventId: 1, heartbeatMs: 20 });
    expect(response?.headers.get('content-type')).toMatch(/^text\/event-stream/);
    const body = response?.body as ReadableStream<Uint8Array>;
    const text = await readUntil(body, /: heartbeat/);
    expect(text).not.toContain('"old"');
    expect(text).toContain('id: 2\nevent: emulator\ndata: {"seq":2');
    expect(log.subscriberCount).toBe(1);
    log.record({ at: 0, kind: 'push', verdict: 'accepted', summary: 'live', detail: {} });
    expect(await readUntil(body, /"live"/)).toContain('id: 3');
    await body.cancel();
    expect(log.subscriberCount).toBe(0);
  });

  it('is full: no stream for one subscriber too many', () => {
    const log = new EventLog({ maxSubscribers: 1 });
    const first = eventStream(log, { heartbeatMs: 1000 });
    expect(first).toBeDefined();
    expect(eventStream(log)).toBeUndefined();
    void first?.body?.cancel();
    expect(eventStream(log)).toBeDefined();
    log.close();
  });

  it('masks credentials: 4 + 2 characters of a long one, nothing of a short one', () => {
    expect(mask('abcdefghijklmnopqrstuvwxyz')).toBe('abcd••••••yz');
    expect(mask('short')).toBe('••••••••');
    expect(mask(undefined)).toBeNull();
  });
});

describe('emulator event log over HTTP', () => {
  let emulator: RunningEmulator;
  let merchantServer: Server;
  let merchantStatus = 204;
  let notifyUrl = '';
  let pay: PayV3;
  const log = async (): Promise<LoggedEvent[]> =>
    ((await (await fetch(`${emulator.url}/_emulator/log`)).json()) as { events: LoggedEvent[] }).events;
  const post = (path: string, body: unknown = {}) =>
    fetch(`${emulator.url}${path}`, { method: 'POST', body: JSON.stringify(body) });

  beforeAll(async () => {
    merchantServer = createServer((req, res) => {
      req.resume();
      req.on('end', () => {
        res.statusCode = merchantStatus;
        res.end();
      });
    });
    await new Promise<void>((resolve) => merchantServer.listen(0, '127.0.0.1', resolve));
    notifyUrl = `http://127.0.0.1:${(merchantServer.address() as AddressInfo).port}/notify`;
    emulator = await startEmulator();
    const merchant = emulator.config.merchants[0]!;
    pay = new PayV3({
      mchid: merchant.mchid,
      merchantSerialNo: merchant.merchantCertificateSerial,
      privateKey: merchant.merchantPrivateKeyPem as string,
      apiV3Key: merchant.apiV3Key,
      platform: {
        publicKey: { id: emulator.state.platform.publicKey.id, key: emulator.state.platform.publicKey.pem },
      },
      baseUrl: emulator.url,
    });
  });
  afterAll(async () => {
    await emulator.close();
    await new Promise<void>((resolve) => merchantServer.close(() => resolve()));
  });

  const order = (outTradeNo: string, total = 1000) =>
    pay.transactions.native({
      appid: emulator.config.apps[0]!.appId,
      description: 'console test',
      out_trade_no: outTradeNo,
      notify_url: notifyUrl,
      amount: { total },
    });

  it('records API calls with their verdicts, without the query string (access_token)', async () => {
    const app = emulator.config.apps[0]!;
    await fetch(
      `${emulator.url}/cgi-bin/token?grant_type=client_credential&appid=${app.appId}&secret=wrong-one`,
    );
    await fetch(`${emulator.url}/cgi-bin/menu/get?access_token=SECRET-TOKEN-VALUE`);
    await fetch(`${emulator.url}/v3/pay/transactions/out-trade-no/nope?mchid=1`);
    await fetch(`${emulator.url}/pay/orderquery`, { method: 'POST', body: '<xml><sign>bad</sign></xml>' });
    const events = await log();
    expect(last(events, (e) => e.summary === 'POST /pay/orderquery')).toMatchObject({
      verdict: 'refused',
      reason: expect.stringMatching(/^FAIL /),
    });
    const token = last(events, (e) => e.summary === 'GET /cgi-bin/token');
    expect(token).toMatchObject({ kind: 'api', verdict: 'refused', reason: '40125 invalid appsecret' });
    expect(token?.detail).toMatchObject({ errcode: 40125, status: 200 });
    expect(last(events, (e) => e.summary === 'GET /cgi-bin/menu/get')?.reason).toMatch(/^40001 /);
    expect(last(events, (e) => e.summary.startsWith('GET /v3/pay/'))?.reason).toMatch(/^401 SIGN_ERROR/);
    const text = JSON.stringify(events);
    expect(text).not.toContain('SECRET-TOKEN-VALUE');
    expect(text).not.toContain('wrong-one');
  });

  it('records dropped connections and control changes, but not control reads', async () => {
    await post('/_emulator/faults', { path: '/cgi-bin/getcallbackip', drop: true });
    await fetch(`${emulator.url}/cgi-bin/getcallbackip`).catch(() => undefined);
    await fetch(`${emulator.url}/_emulator/stats`);
    await fetch(`${emulator.url}/_emulator/overview`);
    const events = await log();
    // Control reads leave no event. (Not a count of all events: on a busy machine an event of the
    // shared emulator — the drop above, a delayed notification — may land between two reads.)
    const reads = events.filter((e) => /^GET \/_emulator\/(stats|overview|log)\b/.test(String(e.summary)));
    expect(reads).toEqual([]);
    expect(events.some((e) => e.summary === 'POST /_emulator/faults')).toBe(true);
    expect(last(events, (e) => e.summary === 'GET /cgi-bin/getcallbackip')).toMatchObject({
      verdict: 'refused',
      reason: 'connection dropped (injected fault)',
    });
    expect(last(events, (e) => e.summary === 'POST /_emulator/faults')).toMatchObject({
      kind: 'control',
      verdict: 'accepted',
    });
    expect((await post('/_emulator/clock', { advanceSeconds: 'x' })).status).toBe(400);
    expect(last(await log(), (e) => e.summary === 'POST /_emulator/clock')).toMatchObject({
      kind: 'control',
      verdict: 'refused',
      reason: '400 body must be { "advanceSeconds": number }',
    });
  });

  it('pays, refunds (in parts) and closes orders through the control routes, logging the notifications', async () => {
    await order('LOG-PAY-1', 1000);
    expect((await post('/_emulator/pay/transactions/LOG-PAY-1/refund')).status).toBe(409);
    expect((await post('/_emulator/pay/transactions/LOG-PAY-1/succeed')).status).toBe(200);
    expect((await post('/_emulator/pay/transactions/LOG-PAY-1/close')).status).toBe(409);
    expect((await post('/_emulator/pay/transactions/LOG-PAY-1/refund', { amount: 1001 })).status).toBe(400);
    expect((await post('/_emulator/pay/transactions/LOG-PAY-1/refund', { bogus: 1 })).status).toBe(400);
    const part = (await (
      await post('/_emulator/pay/transactions/LOG-PAY-1/refund', { amount: 400 })
    ).json()) as {
      refund: { out_refund_no: string; refund: number; status: string; notify_url: string };
    };
    expect(part.refund).toMatchObject({ refund: 400, status: 'PROCESSING', notify_url: notifyUrl });
    // The refund is a real one: the v3 query API sees it.
    expect((await pay.refunds.get({ out_refund_no: part.refund.out_refund_no })).amount.refund).toBe(400);
    expect((await post('/_emulator/pay/transactions/LOG-PAY-1/refund')).status).toBe(200);
    const full = await post('/_emulator/pay/transactions/LOG-PAY-1/refund');
    expect(full.status).toBe(409);
    expect(((await full.json()) as { error: string }).error).toMatch(/refunded in full/);

    await order('LOG-CLOSE-1');
    expect((await post('/_emulator/pay/transactions/LOG-CLOSE-1/close')).status).toBe(200);
    expect((await pay.transactions.getByOutTradeNo({ out_trade_no: 'LOG-CLOSE-1' })).trade_state).toBe(
      'CLOSED',
    );
    expect((await post('/_emulator/pay/transactions/NO-SUCH/close')).status).toBe(404);

    const { orders } = (await (await fetch(`${emulator.url}/_emulator/pay/orders`)).json()) as {
      orders: Array<{ out_trade_no: string; trade_state: string; refunded: number; refunds: unknown[] }>;
    };
    expect(orders.find((o) => o.out_trade_no === 'LOG-PAY-1')).toMatchObject({
      trade_state: 'REFUND',
      refunded: 1000,
    });
    expect(orders.find((o) => o.out_trade_no === 'LOG-PAY-1')?.refunds).toHaveLength(2);
    const paid = last(
      await log(),
      (e) => e.kind === 'pay-notification' && e.detail.eventType === 'TRANSACTION.SUCCESS',
    );
    // Accepted on the first attempt normally; a busy machine can miss the push timeout once, and
    // the emulator's retry (attempt 2) is the one accepted then.
    expect(paid).toMatchObject({ verdict: 'accepted', detail: { status: 204, url: notifyUrl } });
    expect(paid?.detail.attempt).toBeGreaterThanOrEqual(1);
  });

  it("logs a Pay notification the merchant refuses with the merchant's answer", async () => {
    await order('LOG-REFUSED-1', 10);
    merchantStatus = 500;
    try {
      await post('/_emulator/pay/transactions/LOG-REFUSED-1/succeed');
    } finally {
      merchantStatus = 204;
    }
    const refused = last(
      await log(),
      (e) =>
        e.kind === 'pay-notification' &&
        e.verdict === 'refused' &&
        e.detail.eventType === 'TRANSACTION.SUCCESS',
    );
    expect(refused).toMatchObject({ reason: 'HTTP 500', detail: { status: 500, attempt: 1 } });
  });

  it('streams the log over SSE from the start, and forgets a subscriber that left', async () => {
    const controller = new AbortController();
    const response = await fetch(`${emulator.url}/_emulator/events`, { signal: controller.signal });
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toMatch(/^text\/event-stream/);
    await fetch(`${emulator.url}/cgi-bin/no_such_api_for_sse`);
    const text = await readUntil(response.body as ReadableStream<Uint8Array>, /no_such_api_for_sse/);
    expect(text).toContain('"reason":"40066 invalid url hint: [emulator]"');
    const subscribers = async () =>
      ((await (await fetch(`${emulator.url}/_emulator/overview`)).json()) as { log: { subscribers: number } })
        .log.subscribers;
    expect(await subscribers()).toBe(1);
    controller.abort();
    const deadline = Date.now() + 5000;
    while ((await subscribers()) !== 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    expect(await subscribers()).toBe(0);
  });

  it('answers 503 to one event stream too many', async () => {
    const controllers = Array.from({ length: 8 }, () => new AbortController());
    try {
      const open = await Promise.all(
        controllers.map((c) => fetch(`${emulator.url}/_emulator/events`, { signal: c.signal })),
      );
      expect(open.map((r) => r.status)).toEqual(Array(8).fill(200));
      const refused = await fetch(`${emulator.url}/_emulator/events`);
      expect(refused.status).toBe(503);
      expect(((await refused.json()) as { error: string }).error).toMatch(/too many live subscribers \(8\)/);
    } finally {
      for (const c of controllers) c.abort();
    }
  });

  it('serves the page, script and stylesheet under a self-only CSP, with no inline script or style', async () => {
    for (const [path, type] of [
      ['/_emulator/ui', 'text/html'],
      ['/_emulator/ui/app.js', 'text/javascript'],
      ['/_emulator/ui/app.css', 'text/css'],
    ] as const) {
      const res = await fetch(`${emulator.url}${path}`);
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toBe(`${type}; charset=utf-8`);
      const csp = res.headers.get('content-security-policy') ?? '';
      expect(csp).toContain("default-src 'none'");
      expect(csp).toContain("script-src 'self';");
      expect(csp).not.toMatch(/unsafe|https?:/);
      expect(res.headers.get('x-content-type-options')).toBe('nosniff');
    }
    // Everything comes from the emulator itself: no external URL, no inline script/style/handler.
    expect(CONSOLE_HTML).not.toMatch(/https?:\/\/|<script>|<script [^>]*>[^<]|\sstyle=|\son[a-z]+=/);
    expect(CONSOLE_JS).not.toMatch(
      /innerHTML|outerHTML|insertAdjacentHTML|document\.write|eval\(|https?:\/\//,
    );
  });
});

describe('pushes on the event log', () => {
  it("records each push with its type and the developer server's verdict", async () => {
    let answer = 'success';
    const server = createServer((req, res) => {
      req.resume();
      req.on('end', () => res.end(answer));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const callbackUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/wechat`;
    const emulator = createEmulator({
      apps: [
        {
          appId: 'wx00000000000000aa',
          secret: 'secret',
          kind: 'official-account',
          token: 'token',
          encodingAESKey: 'abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG',
          messageMode: 'safe',
          callbackUrl,
        },
      ],
      merchants: [],
    });
    try {
      const push = (message: unknown) =>
        emulator.fetch('http://emulator/_emulator/push', {
          method: 'POST',
          body: JSON.stringify({ appId: 'wx00000000000000aa', message }),
        });
      await push({ MsgType: 'event', Event: 'subscribe' });
      answer = '<xml><ToUserName>x</ToUserName><MsgType>text</MsgType><Content>plain</Content></xml>';
      await push({ MsgType: 'text', Content: 'hi' });
      const events = (
        (await (await emulator.fetch('http://emulator/_emulator/log')).json()) as { events: LoggedEvent[] }
      ).events.filter((e) => e.kind === 'push');
      expect(events.map((e) => [e.summary, e.verdict])).toEqual([
        ['push event subscribe → wx00000000000000aa', 'accepted'],
        ['push text → wx00000000000000aa', 'refused'],
      ]);
      expect(events[0]?.detail).toMatchObject({ status: 200, attempts: 1, url: callbackUrl, replied: false });
      expect(events[1]?.reason).toMatch(/^PLAINTEXT_REPLY: /);
    } finally {
      emulator.close();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });
});

describe('the event log of an in-process emulator', () => {
  it('ends its streams when the emulator closes', async () => {
    const emulator = createEmulator();
    const response = await emulator.fetch('http://emulator/_emulator/events');
    const body = response.body as ReadableStream<Uint8Array>;
    expect(await readUntil(body, /: connected/)).toContain('retry: 2000');
    emulator.close();
    const reader = body.getReader();
    expect((await reader.read()).done).toBe(true);
    expect((await emulator.fetch('http://emulator/_emulator/events')).status).toBe(503);
  });
});
