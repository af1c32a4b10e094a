// weixin-kit/nestjs in a real Nest app on each platform (Express and Fastify, Nest's default body
// parsers on), driven by the emulator over HTTP: pushes, Pay notifications and the session guard.
import 'reflect-metadata';
import { randomUUID, sign } from 'node:crypto';
import { Body, Controller, Inject, Module, Post, Req, Res, UseGuards } from '@nestjs/common';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  type CallbackHandler,
  createPayNotificationHandler,
  createWeChatCallback,
  type DuplicateEvent,
  type PayNotificationEvent,
  type PayTransactionResource,
  type RefusedEvent,
  reply,
} from '../../src/callbacks/index.js';
import { buildAuthorization, encryptResource, PayV3Verifier, parseXml } from '../../src/crypto/index.js';
import type { EmulatorAppConfig } from '../../src/emulator/config.js';
import { type RunningEmulator, startEmulator } from '../../src/emulator/server.js';
import { createGuard, type GuardSession } from '../../src/guard/index.js';
import {
  guardNest,
  InjectWeChat,
  PayNotificationRoute,
  type WeChatAccount,
  WeChatCallbackRoute,
  WeChatKitModule,
  WeChatSession,
  WeChatUser,
} from '../../src/nestjs/index.js';
import { makeMerchant } from '../pay/helpers.js';
import { boot, call, control, PLATFORMS, type Platform, type RunningApp } from './fixture.js';

const OA: EmulatorAppConfig = {
  appId: 'wxnest00000000000oa',
  secret: 'nest-oa-secret',
  kind: 'official-account',
  token: 'NestToken1',
  encodingAESKey: 'abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG',
  messageMode: 'safe',
};
const MP: EmulatorAppConfig = {
  appId: 'wxnest00000000000mp',
  secret: 'nest-mp-secret-0123456789',
  kind: 'mini-program',
};
const MERCHANT = makeMerchant('1900000901', 'public-key');
const SESSION_SECRET = 'a-nest-session-secret-of-32-bytes-or-more';

/** What the controllers of one app read at request time (the handlers need the emulator's keys). */
interface World {
  callback?: CallbackHandler;
  pay?: CallbackHandler;
  texts: string[];
  refused: RefusedEvent[];
  paid: Array<PayNotificationEvent<PayTransactionResource>>;
  duplicates: DuplicateEvent[];
  payRefused: Array<{ code: string }>;
}
const WORLD = 'test:world';

@Controller()
class CallbackController {
  constructor(@Inject(WORLD) private readonly world: World) {}

  @WeChatCallbackRoute('wechat')
  messages() {
    return this.world.callback as CallbackHandler;
  }

  @PayNotificationRoute('pay/notify')
  payNotifications() {
    return this.world.pay as CallbackHandler;
  }

  /** An ordinary JSON route: Nest's own parser still serves it. */
  @Post('echo')
  echo(@Body() body: unknown) {
    return { body };
  }
}

@Controller()
class SessionController {
  constructor(@InjectWeChat() private readonly account: WeChatAccount) {}

  @Post('login')
  login(@Req() req: unknown, @Res() res: unknown) {
    return guardNest(this.account.guard.loginRoute())(req, res);
  }

  @Post('me')
  @UseGuards(WeChatSession)
  me(
    @WeChatUser() user: GuardSession,
    @WeChatUser('openid') openid: string,
    @Body() body: { openid?: string },
  ) {
    return {
      openid: user.openid,
      sameOpenid: openid === user.openid,
      sessionId: user.sessionId,
      claimed: body.openid,
    };
  }
}

describe.each(PLATFORMS)('weixin-kit/nestjs on %s', (platform: Platform) => {
  let emulator: RunningEmulator;
  let nest: RunningApp;
  const world: World = { texts: [], refused: [], paid: [], duplicates: [], payRefused: [] };

  beforeAll(async () => {
    @Module({
      imports: [
        WeChatKitModule.forRoot({
          miniProgram: {
            appId: MP.appId,
            secret: MP.secret,
            // The emulator starts after the app (it needs the app's URL); it serves this in-process.
            baseUrl: 'http://emulator',
            fetch: ((input: Request | string | URL, init?: RequestInit) =>
              emulator.fetch(input, init)) as typeof fetch,
          },
          guard: (account) =>
            createGuard({
              miniProgram: account.miniProgram,
              keys: [{ kid: 'k1', alg: 'HS256', secret: SESSION_SECRET }],
            }),
        }),
      ],
      controllers: [CallbackController, SessionController],
      providers: [{ provide: WORLD, useValue: world }],
    })
    class AppModule {}

    nest = await boot(AppModule, platform);
    emulator = await startEmulator({
      config: {
        apps: [{ ...OA, callbackUrl: `${nest.url}/wechat` }, MP],
        merchants: [MERCHANT.config],
        options: { pushTimeoutMs: 3000 },
      },
    });
    const platformKeys = emulator.state.platform.publicKey;
    world.callback = createWeChatCallback({
      appId: OA.appId,
      token: OA.token as string,
      encodingAESKey: OA.encodingAESKey as string,
      mode: 'safe',
      hooks: { onRefused: (event) => world.refused.push(event) },
    }).on('text', (message) => {
      world.texts.push(String(message.Content));
      return reply.text(`echo: ${message.Content}`);
    });
    world.pay = createPayNotificationHandler({
      apiV3Key: MERCHANT.config.apiV3Key,
      verifier: new PayV3Verifier({ publicKey: { id: platformKeys.id, key: platformKeys.pem } }),
      hooks: {
        onDuplicate: (event) => world.duplicates.push(event),
        onRefused: (event) => world.payRefused.push(event),
      },
    }).on('TRANSACTION.SUCCESS', (event) => {
      world.paid.push(event);
    });
  });

  afterAll(async () => {
    await emulator?.close();
    await nest?.close();
  });

  beforeEach(() => {
    world.texts.length = 0;
    world.refused.length = 0;
    world.paid.length = 0;
    world.duplicates.length = 0;
    world.payRefused.length = 0;
  });

  describe('WeChat pushes', () => {
    it('passes the URL verification (GET echostr) on the same route', async () => {
      expect(await control(emulator.url, '/_emulator/verify-url', { appId: OA.appId })).toMatchObject({
        ok: true,
      });
    });

    it('answers an encrypted text push with an encrypted reply the emulator decrypts', async () => {
      const result = await control(emulator.url, '/_emulator/push', {
        appId: OA.appId,
        message: { MsgType: 'text', Content: '你好 Nest' },
      });
      expect(result).toMatchObject({ attempts: 1, status: 200 });
      expect(result.replyError).toBeUndefined();
      expect(String(result.rawReply)).toContain('<Encrypt>');
      expect(parseXml(String(result.reply)).Content).toBe('echo: 你好 Nest');
      expect(world.texts).toEqual(['你好 Nest']);
    });

    it('refuses a forged push (wrong token) without calling the handler', async () => {
      const result = await control(emulator.url, '/_emulator/push', {
        appId: OA.appId,
        message: { MsgType: 'text', Content: 'forged' },
        faults: { badSignature: true },
      });
      expect(result).toMatchObject({ status: 401 });
      expect(world.texts).toEqual([]);
      expect(world.refused.map((event) => event.code)).toEqual(['SIGNATURE_MISMATCH']);
    });

    it('refuses an unsigned JSON post to the callback route, and Nest still parses JSON elsewhere', async () => {
      const forged = await call(`${nest.url}/wechat`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: '{"ToUserName":"x"}',
      });
      expect(forged.status).toBeGreaterThanOrEqual(400);
      expect(forged.status).toBeLessThan(500);
      expect(world.texts).toEqual([]);
      const echo = await call(`${nest.url}/echo`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: '{ "a" : [1, 2] }',
      });
      expect(echo.status).toBe(201);
      expect(echo.json()).toEqual({ body: { a: [1, 2] } });
    });
  });

  describe('Pay v3 notifications', () => {
    it('verifies a notification from its raw bytes and handles its duplicate once', async () => {
      const outTradeNo = `nest-${platform}-${randomUUID().slice(0, 8)}`;
      await createJsapiOrder(emulator.url, outTradeNo, `${nest.url}/pay/notify`);
      const result = await control(emulator.url, `/_emulator/pay/transactions/${outTradeNo}/succeed`, {
        deliverTwice: true,
      });
      expect(
        result.notifications.map((n: { attempts: Array<{ status?: number }> }) => n.attempts[0]?.status),
      ).toEqual([204, 204]);
      expect(world.payRefused).toEqual([]);
      expect(world.paid).toHaveLength(1);
      expect(world.paid[0]?.resource).toMatchObject({ out_trade_no: outTradeNo, trade_state: 'SUCCESS' });
      expect(world.duplicates.map((d) => d.key)).toEqual([world.paid[0]?.id]);
    });

    it('verifies a JSON body with unusual whitespace byte for byte; the same body re-serialised fails', async () => {
      const outTradeNo = `ws-${platform}-${randomUUID().slice(0, 8)}`;
      const notification = {
        id: randomUUID(),
        create_time: '2026-12-02T12:00:00+08:00',
        resource_type: 'encrypt-resource',
        event_type: 'TRANSACTION.SUCCESS',
        summary: '支付成功',
        resource: {
          original_type: 'transaction',
          ...encryptResource({
            apiV3Key: MERCHANT.config.apiV3Key,
            plaintext: JSON.stringify({
              mchid: MERCHANT.config.mchid,
              out_trade_no: outTradeNo,
              trade_state: 'SUCCESS',
              amount: { total: 1, currency: 'CNY' },
            }),
            associatedData: 'transaction',
          }),
        },
      };
      // Tabs, CRLF, a space before each colon and trailing blanks: what no serialiser writes back.
      const unusual = `${JSON.stringify(notification, null, '\t').replace(/":/g, '" :').replace(/\n/g, '\r\n')} \r\n\t`;
      const compact = JSON.stringify(JSON.parse(unusual));
      expect(compact).not.toBe(unusual);
      const timestamp = String(Math.floor(emulator.state.now() / 1000));
      const nonce = randomUUID().replace(/-/g, '');
      const keys = emulator.state.platform.publicKey;
      const headers = {
        'content-type': 'application/json',
        'wechatpay-timestamp': timestamp,
        'wechatpay-nonce': nonce,
        'wechatpay-serial': keys.id,
        'wechatpay-signature-type': 'WECHATPAY2-SHA256-RSA2048',
        'wechatpay-signature': sign(
          'sha256',
          Buffer.from(`${timestamp}\n${nonce}\n${unusual}\n`),
          keys.privateKey,
        ).toString('base64'),
      };

      const reserialised = await call(`${nest.url}/pay/notify`, { method: 'POST', headers, body: compact });
      expect(reserialised.status).toBe(401);
      expect(world.payRefused.map((e) => e.code)).toEqual(['SIGNATURE_MISMATCH']);
      expect(world.paid).toEqual([]);

      const raw = await call(`${nest.url}/pay/notify`, { method: 'POST', headers, body: unusual });
      expect(raw.status).toBe(204);
      expect(world.paid.map((e) => e.resource.out_trade_no)).toEqual([outTradeNo]);
    });
  });

  describe('the session guard', () => {
    const login = async (openId: string): Promise<string> => {
      const { code } = await control(emulator.url, '/_emulator/mini-program/login', {
        appId: MP.appId,
        openId,
      });
      const answer = await call(`${nest.url}/login`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ code }),
      });
      expect(answer.status).toBe(200);
      return answer.json().token as string;
    };
    const me = (headers: Record<string, string>) =>
      call(`${nest.url}/me`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...headers },
        body: JSON.stringify({ openid: 'o_attacker_in_body' }),
      });

    it('hands the route the caller from the verified token, never from the body', async () => {
      const token = await login(`o_nest_${platform}`);
      const answer = await me({ authorization: `Bearer ${token}` });
      expect(answer.status).toBe(201);
      expect(answer.json()).toMatchObject({
        openid: `o_nest_${platform}`,
        sameOpenid: true,
        claimed: 'o_attacker_in_body',
      });
      expect(answer.json().sessionId).toEqual(expect.any(String));
      expect(answer.headers.get('x-request-id')).toMatch(/^[0-9a-f]{32}$/);
    });

    it("refuses a request without a token in the guard's JSON shape, with its headers", async () => {
      const answer = await me({});
      expect(answer.status).toBe(401);
      const body = answer.json();
      expect(body).toEqual({
        error: { code: 'SESSION_REQUIRED', message: expect.any(String), requestId: expect.any(String) },
      });
      expect(answer.headers.get('x-request-id')).toBe(body.error.requestId);
      expect(answer.headers.get('cache-control')).toBe('no-store');
      expect(answer.headers.get('content-type')).toBe('application/json; charset=utf-8');
      expect(answer.headers.get('x-content-type-options')).toBe('nosniff');
    });

    it('refuses a forged token', async () => {
      const token = await login(`o_forged_${platform}`);
      const [head, payload] = token.split('.');
      const claims = JSON.parse(Buffer.from(payload as string, 'base64url').toString());
      const forgedPayload = Buffer.from(JSON.stringify({ ...claims, sub: 'o_someone_else' })).toString(
        'base64url',
      );
      const forged = `${head}.${forgedPayload}.${token.split('.')[2]}`;
      const answer = await me({ authorization: `Bearer ${forged}` });
      expect(answer.status).toBe(401);
      expect(answer.json().error.code).toBe('SESSION_INVALID');
    });
  });
});

async function createJsapiOrder(base: string, outTradeNo: string, notifyUrl: string): Promise<void> {
  const path = '/v3/pay/transactions/jsapi';
  const body = JSON.stringify({
    appid: MP.appId,
    mchid: MERCHANT.config.mchid,
    description: 'Nest test',
    out_trade_no: outTradeNo,
    notify_url: notifyUrl,
    amount: { total: 1, currency: 'CNY' },
    payer: { openid: 'o_payer' },
  });
  const answer = await call(`${base}${path}`, {
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
