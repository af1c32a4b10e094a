/**
 * A sample backend written only with weixin-kit's public API: an Official Account callback in
 * safe mode (welcome reply, echo reply, template delivery events), a Mini Program login endpoint
 * that never lets session_key leave the server, and an endpoint that sends a template message.
 */
import { randomBytes } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import {
  createPayNotificationHandler,
  createWeChatCallback,
  MiniProgram,
  OfficialAccount,
  PayV3,
  reply,
} from 'weixin-kit';
import { toNodeListener } from 'weixin-kit/node';

export interface BackendConfig {
  /** Where the clients send API calls (the emulator in the demo; WeChat in production). */
  apiBaseUrl: string;
  officialAccount: { appId: string; secret: string; token: string; encodingAESKey: string };
  miniProgram: { appId: string; secret: string };
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
}

/** What the backend saw, so the demo can check it. */
export interface BackendLog {
  textsHandled: number;
  subscribes: number;
  templateDeliveries: Array<{ MsgID?: string; Status?: string }>;
  refused: Array<{ code: string; status: number }>;
  paid: Array<{ out_trade_no: string; transaction_id: string; total: number }>;
  refunded: string[];
}

export function createBackend(config: BackendConfig) {
  const log: BackendLog = {
    textsHandled: 0,
    subscribes: 0,
    templateDeliveries: [],
    refused: [],
    paid: [],
    refunded: [],
  };
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
  });
  const mp = new MiniProgram({ ...config.miniProgram, baseUrl: config.apiBaseUrl });
  // Login sessions: our own opaque token → openid and session_key, kept on the server.
  const sessions = new Map<string, { openid: string; sessionKey: string }>();

  const callback = createWeChatCallback({
    appId: config.officialAccount.appId,
    token: config.officialAccount.token,
    encodingAESKey: config.officialAccount.encodingAESKey,
    mode: 'safe',
    hooks: { onRefused: (event) => log.refused.push({ code: event.code, status: event.status }) },
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

  async function api(req: IncomingMessage, res: ServerResponse, path: string): Promise<void> {
    const body = await readJson(req);
    if (path === '/api/login') {
      const session = await mp.auth.code2Session({ js_code: String(body.code ?? '') });
      const token = randomBytes(24).toString('base64url');
      sessions.set(token, { openid: session.openid, sessionKey: session.session_key });
      return send(res, 200, { token, openid: session.openid });
    }
    if (path === '/api/notify') {
      const answer = await oa.templates.send({
        touser: String(body.openid ?? ''),
        template_id: 'order-shipped',
        data: { thing1: { value: '你的订单已发货' } },
      });
      return send(res, 200, { msgid: answer.msgid });
    }
    if (path === '/api/pay') {
      const outTradeNo = `demo${Date.now()}${randomBytes(3).toString('hex')}`;
      const { prepay_id } = await pay.transactions.jsapi({
        appid: config.miniProgram.appId,
        description: 'weixin-kit demo order',
        out_trade_no: outTradeNo,
        notify_url: `${config.pay.publicUrl}/pay/notify`,
        amount: { total: Number(body.total ?? 1), currency: 'CNY' },
        payer: { openid: String(body.openid ?? '') },
      });
      // What the Mini Program passes to wx.requestPayment.
      return send(res, 200, {
        out_trade_no: outTradeNo,
        payParams: await pay.jsapiPayParams({ appid: config.miniProgram.appId, prepay_id }),
      });
    }
    if (path === '/api/refund') {
      const refund = await pay.refunds.create({
        out_trade_no: String(body.out_trade_no ?? ''),
        out_refund_no: `r${String(body.out_trade_no ?? '')}`,
        notify_url: `${config.pay.publicUrl}/pay/notify`,
        amount: { refund: Number(body.total ?? 1), total: Number(body.total ?? 1), currency: 'CNY' },
      });
      return send(res, 200, refund);
    }
    send(res, 404, { error: 'not found' });
  }

  const listener = (req: IncomingMessage, res: ServerResponse) => {
    const path = new URL(req.url ?? '/', 'http://backend').pathname;
    if (path === '/wechat') return wechat(req, res);
    if (path === '/pay/notify') return payNotify(req, res);
    api(req, res, path).catch((error: unknown) => send(res, 500, { error: (error as Error).message }));
  };
  return { listener, log, sessions };
}

function pick<T extends object, K extends keyof T>(o: T, ...keys: K[]): Pick<T, K> {
  return Object.fromEntries(keys.map((k) => [k, o[k]])) as Pick<T, K>;
}

async function readJson(req: IncomingMessage): Promise<Record<string, unknown>> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  if (chunks.length === 0) return {};
  return JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, unknown>;
}

function send(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8' });
  res.end(JSON.stringify(body));
}
