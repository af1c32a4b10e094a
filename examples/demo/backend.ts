/**
 * A sample backend written only with wechat-kit's public API: an Official Account callback in
 * safe mode (welcome reply, echo reply, template delivery events), a Mini Program login endpoint
 * that never lets session_key leave the server, and an endpoint that sends a template message.
 */
import { randomBytes } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createWeChatCallback, MiniProgram, OfficialAccount, reply } from 'wechat-kit';
import { toNodeListener } from 'wechat-kit/node';

export interface BackendConfig {
  /** Where the clients send API calls (the emulator in the demo; WeChat in production). */
  apiBaseUrl: string;
  officialAccount: { appId: string; secret: string; token: string; encodingAESKey: string };
  miniProgram: { appId: string; secret: string };
}

/** What the backend saw, so the demo can check it. */
export interface BackendLog {
  textsHandled: number;
  subscribes: number;
  templateDeliveries: Array<{ MsgID?: string; Status?: string }>;
  refused: Array<{ code: string; status: number }>;
}

export function createBackend(config: BackendConfig) {
  const log: BackendLog = { textsHandled: 0, subscribes: 0, templateDeliveries: [], refused: [] };
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
      const session = await mp.code2Session(String(body.code ?? ''));
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
    send(res, 404, { error: 'not found' });
  }

  const listener = (req: IncomingMessage, res: ServerResponse) => {
    const path = new URL(req.url ?? '/', 'http://backend').pathname;
    if (path === '/wechat') return wechat(req, res);
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
