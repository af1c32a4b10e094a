/**
 * A sample backend written only with weixin-kit's public API: an Official Account callback in
 * safe mode (welcome reply, echo reply, template delivery events), a guarded Mini Program API
 * (login → session token, profile, phone number, WeChat Pay order and refund — the user is always
 * the session's, never an openid from the body) and WeChat Pay notifications.
 */
import { randomBytes } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import {
  createAuditLog,
  createContentSecurity,
  createPayNotificationHandler,
  createWeChatCallback,
  type Logger,
  MiniProgram,
  OfficialAccount,
  PayV3,
  reply,
  type SecurityEvent,
} from 'weixin-kit';
import { createGuard, GuardError, guardNode, respond } from 'weixin-kit/guard';
import { toNodeListener } from 'weixin-kit/node';

export interface BackendConfig {
  /** Where the clients send API calls (the emulator in the demo; WeChat in production). */
  apiBaseUrl: string;
  officialAccount: { appId: string; secret: string; token: string; encodingAESKey: string };
  miniProgram: { appId: string; secret: string };
  /** Signs session tokens (HS256, at least 32 bytes). */
  sessionSecret: string;
  /** The origin of an H5 page allowed to call the Mini Program API (CORS). */
  allowedOrigin: string;
  /** WeChat Pay v3: the merchant and the WeChat Pay public key its answers are signed with. */
  pay: {
    mchid: string;
    merchantSerialNo: string;
    privateKeyPem: string;
    apiV3Key: string;
    platformPublicKey: { id: string; pem: string };
    /** This backend's own URL, for notify_url. */
    publicUrl: string;
  };
  /**
   * Where audit records go (pino in production) and the key of their user hashes: one record per
   * guarded request, callback push and Pay notification, with no secret and no openid in it.
   */
  audit: { logger: Logger; userKey: string };
}

/** What the backend saw, so the demo can check it. */
export interface BackendLog {
  textsHandled: number;
  subscribes: number;
  templateDeliveries: Array<{ MsgID?: string; Status?: string }>;
  refused: Array<{ code: string; status: number }>;
  paid: Array<{ out_trade_no: string; transaction_id: string; total: number }>;
  refunded: string[];
  /** Security events (forged pushes, refused tokens, 429s, quota breakers), as a SIEM would get them. */
  security: SecurityEvent[];
}

export function createBackend(config: BackendConfig) {
  const log: BackendLog = {
    textsHandled: 0,
    subscribes: 0,
    templateDeliveries: [],
    refused: [],
    paid: [],
    refunded: [],
    security: [],
  };
  const audit = createAuditLog(config.audit);
  const onSecurityEvent = (event: SecurityEvent) => log.security.push(event);
  const trust = { id: config.pay.platformPublicKey.id, key: config.pay.platformPublicKey.pem };
  const pay = new PayV3({
    mchid: config.pay.mchid,
    merchantSerialNo: config.pay.merchantSerialNo,
    privateKey: config.pay.privateKeyPem,
    apiV3Key: config.pay.apiV3Key,
    platform: { publicKey: trust },
    baseUrl: config.apiBaseUrl,
  });
  // Notifications are verified on their raw bytes with the client's own trust (so a platform
  // certificate rotation is followed by both), decrypted, and handled once per id.
  const payNotifications = createPayNotificationHandler({
    apiV3Key: config.pay.apiV3Key,
    verifier: pay.platformTrust,
    audit,
    onSecurityEvent,
  })
    .on('TRANSACTION.SUCCESS', ({ resource }) => {
      log.paid.push({
        out_trade_no: resource.out_trade_no,
        transaction_id: resource.transaction_id,
        total: resource.amount.total,
      });
    })
    .on('REFUND.SUCCESS', ({ resource }) => {
      log.refunded.push(resource.out_refund_no);
    });
  const payNotify = toNodeListener(payNotifications);
  const oa = new OfficialAccount({
    ...pick(config.officialAccount, 'appId', 'secret'),
    baseUrl: config.apiBaseUrl,
    // A quota error (45009 daily, 45011 too frequent) holds further calls to that API (default on).
    onSecurityEvent,
  });
  const mp = new MiniProgram({ ...config.miniProgram, baseUrl: config.apiBaseUrl });
  // User-generated text is checked with msg_sec_check before it is published.
  const contentSecurity = createContentSecurity({ miniProgram: mp, onRisky: () => {} });
  // The Mini Program API's guard: sessions (session_key stays here), per-user limits, strict HTTP.
  const guard = createGuard({
    miniProgram: mp,
    keys: [{ kid: 'demo-1', alg: 'HS256', secret: config.sessionSecret }],
    cors: { origins: [config.allowedOrigin] },
    logger: { error: (fields, message) => console.error(`backend: ${message}`, fields) },
    audit,
    onSecurityEvent,
  });
  // The app's own data: profiles by openid, orders with their owner.
  const profiles = new Map<string, { phone?: string }>();
  const orders = new Map<string, { openid: string; total: number }>();

  const callback = createWeChatCallback({
    appId: config.officialAccount.appId,
    token: config.officialAccount.token,
    encodingAESKey: config.officialAccount.encodingAESKey,
    mode: 'safe',
    hooks: { onRefused: (event) => log.refused.push({ code: event.code, status: event.status }) },
    audit,
    onSecurityEvent,
  });
  callback.on('event.subscribe', () => {
    log.subscribes += 1;
    return reply.text('欢迎关注！Welcome aboard.');
  });
  callback.on('text', (message) => {
    log.textsHandled += 1;
    return reply.text(`You said: ${message.Content}`);
  });
  callback.on('event.TEMPLATESENDJOBFINISH', (message) => {
    log.templateDeliveries.push({ MsgID: message.MsgID, Status: message.Status });
  });
  const wechat = toNodeListener(callback);

  const routes: Record<string, (req: IncomingMessage, res: ServerResponse) => void> = {
    'POST /api/login': guardNode(guard.loginRoute()),
    'POST /api/refresh': guardNode(guard.refreshRoute()),
    'POST /api/logout': guardNode(guard.logoutRoute()),
    'GET /api/me': guardNode(
      guard.protect(({ session }) => ({
        openid: session.openid,
        phone: profiles.get(session.openid)?.phone ?? null,
      })),
    ),
    'POST /api/phone': guardNode(
      guard.protect(async (ctx) => {
        const { code } = (await ctx.json()) as { code?: unknown };
        const info = await ctx.phoneNumber(String(code ?? ''));
        profiles.set(ctx.session.openid, {
          ...profiles.get(ctx.session.openid),
          phone: info.purePhoneNumber,
        });
        return { phone: info.purePhoneNumber }; // masked on the way out: 139****5678
      }),
    ),
    'POST /api/comment': guardNode(
      guard.protect(async (ctx) => {
        const { text } = (await ctx.json()) as { text?: unknown };
        if (typeof text !== 'string' || text === '') throw new GuardError('BAD_BODY', 'send { "text": "…" }');
        // scene 2: a comment. A risky verdict is never published.
        const verdict = await contentSecurity.checkText({
          openid: ctx.session.openid,
          scene: 2,
          content: text,
        });
        if (verdict.suggest === 'risky') {
          return respond({ published: false, label: verdict.label }, { status: 422 });
        }
        return { published: true, suggest: verdict.suggest };
      }),
    ),
    'POST /api/pay': guardNode(
      guard.protect(async (ctx) => {
        const { total } = (await ctx.json()) as { total?: unknown };
        const amount = Number(total ?? 1);
        if (!Number.isSafeInteger(amount) || amount < 1)
          throw new GuardError('BAD_BODY', 'total must be a whole number of fen >= 1');
        const outTradeNo = `demo${Date.now()}${randomBytes(3).toString('hex')}`;
        const { prepay_id } = await pay.transactions.jsapi({
          appid: config.miniProgram.appId,
          description: 'weixin-kit demo order',
          out_trade_no: outTradeNo,
          notify_url: `${config.pay.publicUrl}/pay/notify`,
          amount: { total: amount, currency: 'CNY' },
          // The payer is the session's user, whatever the body says.
          payer: { openid: ctx.session.openid },
        });
        orders.set(outTradeNo, { openid: ctx.session.openid, total: amount });
        // What the Mini Program passes to wx.requestPayment.
        return {
          out_trade_no: outTradeNo,
          payParams: await pay.jsapiPayParams({ appid: config.miniProgram.appId, prepay_id }),
        };
      }),
    ),
    'POST /api/refund': guardNode(
      guard.protect(async (ctx) => {
        const { out_trade_no } = (await ctx.json()) as { out_trade_no?: unknown };
        const order = orders.get(String(out_trade_no ?? ''));
        if (order === undefined || order.openid !== ctx.session.openid) {
          throw new GuardError('NOT_FOUND', 'no such order of yours');
        }
        const refund = await pay.refunds.create({
          out_trade_no: String(out_trade_no),
          out_refund_no: `r${String(out_trade_no)}`,
          notify_url: `${config.pay.publicUrl}/pay/notify`,
          amount: { refund: order.total, total: order.total, currency: 'CNY' },
        });
        return { out_refund_no: refund.out_refund_no, status: refund.status };
      }),
    ),
  };
  const notFound = guardNode(
    guard.open(() => {
      throw new GuardError('NOT_FOUND', 'no such route');
    }),
  );

  /**
   * Server-side work, not an HTTP endpoint: a template message to an Official Account follower
   * (e.g. when an order ships). Which user to notify is the server's decision, never a client's.
   */
  async function notifyFollower(openid: string): Promise<number> {
    const answer = await oa.templates.send({
      touser: openid,
      template_id: 'order-shipped',
      data: { thing1: { value: '你的订单已发货' } },
    });
    return answer.msgid;
  }

  const listener = (req: IncomingMessage, res: ServerResponse) => {
    const path = new URL(req.url ?? '/', 'http://backend').pathname;
    if (path === '/wechat') return wechat(req, res);
    if (path === '/pay/notify') return payNotify(req, res);
    // Preflights (OPTIONS) reach notFound, whose guard answers them for the allowed origin.
    const route = routes[`${req.method} ${path}`] ?? notFound;
    route(req, res);
  };
  return { listener, log, notifyFollower };
}

function pick<T extends object, K extends keyof T>(o: T, ...keys: K[]): Pick<T, K> {
  return Object.fromEntries(keys.map((k) => [k, o[k]])) as Pick<T, K>;
}
