// The Egg/Midway recipe of docs/nestjs.md: weixin-kit/koa mounted as an Egg-style middleware
// factory `(options, app) => async (ctx, next) => …`, behind a body parser told to ignore the
// callback paths (Egg's `config.bodyParser.ignore`), on a real Koa server driven by the emulator.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import Koa from 'koa';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { wechatKoa } from '../../src/adapters/koa.js';
import {
  createPayNotificationHandler,
  createWeChatCallback,
  type DuplicateEvent,
  type PayNotificationEvent,
  type PayTransactionResource,
  reply,
} from '../../src/callbacks/index.js';
import { buildAuthorization, PayV3Verifier, parseXml } from '../../src/crypto/index.js';
import type { EmulatorAppConfig } from '../../src/emulator/config.js';
import { type RunningEmulator, startEmulator } from '../../src/emulator/server.js';
import { makeMerchant } from '../pay/helpers.js';
import { call, control } from './fixture.js';

const OA: EmulatorAppConfig = {
  appId: 'wxegg000000000000oa',
  secret: 'egg-oa-secret',
  kind: 'official-account',
  token: 'EggToken1',
  encodingAESKey: 'ZYXWVUTSRQPONMLKJIHGFEDCBA9876543210zyxwvut',
  messageMode: 'safe',
};
const MERCHANT = makeMerchant('1900000902', 'public-key');

type EggMiddleware = (ctx: Koa.Context, next: Koa.Next) => Promise<void>;

/** The part of an Egg `app` the middleware factories use here: what app/extend would add. */
interface EggApp {
  texts: string[];
  paid: Array<PayNotificationEvent<PayTransactionResource>>;
  duplicates: DuplicateEvent[];
  platformKey: () => { id: string; pem: string };
}

// ---- app/middleware/wechat.ts -----------------------------------------------------------------
const wechat = (
  options: { path: string; appId: string; token: string; encodingAESKey: string },
  app: EggApp,
) =>
  wechatKoa(
    createWeChatCallback({
      appId: options.appId,
      token: options.token,
      encodingAESKey: options.encodingAESKey,
      mode: 'safe',
    }).on('text', (message) => {
      app.texts.push(String(message.Content));
      return reply.text(`egg: ${message.Content}`);
    }),
    { path: options.path },
  ) as unknown as EggMiddleware;

// ---- app/middleware/pay-notify.ts -------------------------------------------------------------
const payNotify = (options: { path: string; apiV3Key: string }, app: EggApp) => {
  const key = app.platformKey();
  return wechatKoa(
    createPayNotificationHandler({
      apiV3Key: options.apiV3Key,
      verifier: new PayV3Verifier({ publicKey: { id: key.id, key: key.pem } }),
      hooks: { onDuplicate: (event) => app.duplicates.push(event) },
    }).on('TRANSACTION.SUCCESS', (event) => {
      app.paid.push(event);
    }),
    { path: options.path },
  ) as unknown as EggMiddleware;
};

/**
 * Egg's core body parser, reduced to what matters here: it consumes the stream of JSON requests
 * and keeps only the parsed object (no rawBody), except on the paths `ignore` names — which is
 * what `config.bodyParser = { ignore: [...] }` does in Egg (and `ignore()` on a Midway middleware).
 */
const bodyParser =
  (options: { ignore: string[] }): EggMiddleware =>
  async (ctx, next) => {
    if (options.ignore.includes(ctx.path) || !ctx.is('application/json')) return next();
    const chunks: Buffer[] = [];
    for await (const chunk of ctx.req) chunks.push(chunk as Buffer);
    (ctx.request as { body?: unknown }).body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
    return next();
  };

let emulator: RunningEmulator;
let server: Server;
let base: string;
const app: EggApp = {
  texts: [],
  paid: [],
  duplicates: [],
  platformKey: () => emulator.state.platform.publicKey,
};

beforeAll(async () => {
  // The emulator needs the server's URL and the middleware the emulator's keys: listen first.
  let listener: ReturnType<Koa['callback']> | undefined;
  server = createServer((req, res) => listener?.(req, res));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  emulator = await startEmulator({
    config: { apps: [{ ...OA, callbackUrl: `${base}/wechat` }], merchants: [MERCHANT.config] },
  });
  // What Egg does at startup with config.middleware = ['wechat', 'payNotify'] after its core
  // bodyParser, each factory called with its config entry and the app.
  const koa = new Koa();
  koa.use(bodyParser({ ignore: ['/wechat', '/pay/notify'] }));
  koa.use(
    wechat(
      {
        path: '/wechat',
        appId: OA.appId,
        token: OA.token as string,
        encodingAESKey: OA.encodingAESKey as string,
      },
      app,
    ),
  );
  koa.use(payNotify({ path: '/pay/notify', apiV3Key: MERCHANT.config.apiV3Key }, app));
  koa.use((ctx) => {
    ctx.body = { parsed: (ctx.request as { body?: unknown }).body ?? null };
  });
  listener = koa.callback();
});

afterAll(async () => {
  await emulator?.close();
  server?.closeAllConnections();
  await new Promise<void>((resolve) => server?.close(() => resolve()));
});

beforeEach(() => {
  app.texts.length = 0;
  app.paid.length = 0;
  app.duplicates.length = 0;
});

describe('weixin-kit/koa as Egg-style middleware', () => {
  it('answers an encrypted push with an encrypted reply', async () => {
    const result = await control(emulator.url, '/_emulator/push', {
      appId: OA.appId,
      message: { MsgType: 'text', Content: '蛋 Egg' },
    });
    expect(result).toMatchObject({ status: 200 });
    expect(result.replyError).toBeUndefined();
    expect(parseXml(String(result.reply)).Content).toBe('egg: 蛋 Egg');
    expect(app.texts).toEqual(['蛋 Egg']);
  });

  it('refuses a forged push without calling the handler', async () => {
    const result = await control(emulator.url, '/_emulator/push', {
      appId: OA.appId,
      message: { MsgType: 'text', Content: 'forged' },
      faults: { badSignature: true },
    });
    expect(result).toMatchObject({ status: 401 });
    expect(app.texts).toEqual([]);
  });

  it('verifies a Pay notification the body parser was told to ignore, and its duplicate once', async () => {
    const outTradeNo = `egg-${Date.now().toString(36)}`;
    await createOrder(outTradeNo);
    const result = await control(emulator.url, `/_emulator/pay/transactions/${outTradeNo}/succeed`, {
      deliverTwice: true,
    });
    expect(
      result.notifications.map((n: { attempts: Array<{ status?: number }> }) => n.attempts[0]?.status),
    ).toEqual([204, 204]);
    expect(app.paid.map((e) => e.resource.out_trade_no)).toEqual([outTradeNo]);
    expect(app.duplicates).toHaveLength(1);
  });

  it('leaves every other path to the body parser', async () => {
    const answer = await call(`${base}/api/orders`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{"sku":"A1"}',
    });
    expect(answer.json()).toEqual({ parsed: { sku: 'A1' } });
  });
});

async function createOrder(outTradeNo: string): Promise<void> {
  const path = '/v3/pay/transactions/jsapi';
  const body = JSON.stringify({
    appid: OA.appId,
    mchid: MERCHANT.config.mchid,
    description: 'Egg test',
    out_trade_no: outTradeNo,
    notify_url: `${base}/pay/notify`,
    amount: { total: 1, currency: 'CNY' },
    payer: { openid: 'o_egg_payer' },
  });
  const answer = await call(`${emulator.url}${path}`, {
    method: 'POST',
    headers: {
      accept: 'application/json',
      'content-type': 'application/json',
      authorization: buildAuthorization({
        method: 'POST',
        url: path,
        body,
        mchid: MERCHANT.config.mchid,
        serialNo: MERCHANT.config.merchantCertificateSerial,
        privateKey: MERCHANT.privateKey,
      }),
    },
    body,
  });
  expect(answer.status).toBe(200);
}
