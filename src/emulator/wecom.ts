import { controlError, json, wechatError } from './http.js';
import type { RouteContext, Router } from './router.js';
import type { EmulatorState } from './state.js';
import { wechatRecords } from './wechat-records.js';

/** WeCom access_token lifetime (official: 7200 s; repeated gettoken returns the same token meanwhile). */
const WECOM_TOKEN_TTL_SECONDS = 7200;

interface WeComToken {
  token: string;
  corpId: string;
  agentId: number;
  expiresAt: number;
  revoked: boolean;
}

interface SentWeComMessage {
  corpId: string;
  agentId: number;
  body: Record<string, unknown>;
  msgid: string;
  at: number;
}

const query = (ctx: RouteContext, name: string) => ctx.url.searchParams.get(name) ?? '';

/**
 * The qyapi.weixin.qq.com part of the emulator: `gettoken` per (corpid, agent secret), app
 * message send and member get. It shares the origin with api.weixin.qq.com, so
 * `/cgi-bin/user/get` is told apart by its access_token: a WeCom token gets the WeCom member,
 * an Official Account token the follower list.
 */
export function registerWeCom(router: Router, state: EmulatorState): void {
  const tokens = new Map<string, WeComToken>();
  const latest = new Map<string, WeComToken>();
  const sent: SentWeComMessage[] = [];
  const corp = (corpId: string) => state.config.corps.find((c) => c.corpId === corpId);

  const authorize = (ctx: RouteContext): WeComToken | Response => {
    const token = query(ctx, 'access_token');
    if (!token) return wechatError(41001, 'access_token missing');
    const record = tokens.get(token);
    if (!record || record.revoked) return wechatError(40014, 'invalid access_token');
    if (record.expiresAt <= state.now()) return wechatError(42001, 'access_token expired');
    return record;
  };

  router.add('GET', '/cgi-bin/gettoken', (ctx) => {
    const corpId = query(ctx, 'corpid');
    const secret = query(ctx, 'corpsecret');
    if (!corpId) return wechatError(41002, 'corpid missing');
    if (!secret) return wechatError(41004, 'corpsecret missing');
    const found = corp(corpId);
    if (!found) return wechatError(40013, 'invalid corpid');
    const agent = found.agents.find((a) => a.secret === secret);
    if (!agent) return wechatError(40001, 'invalid credential');
    const key = `${corpId}:${agent.agentId}`;
    const now = state.now();
    let record = latest.get(key);
    if (!record || record.revoked || record.expiresAt <= now) {
      record = {
        token: `${state.randomId(64)}-${state.randomId(40)}`,
        corpId,
        agentId: agent.agentId,
        expiresAt: now + WECOM_TOKEN_TTL_SECONDS * 1000,
        revoked: false,
      };
      tokens.set(record.token, record);
      latest.set(key, record);
      state.count('tokensIssued', key);
    }
    return json({
      errcode: 0,
      errmsg: 'ok',
      access_token: record.token,
      expires_in: Math.floor((record.expiresAt - now) / 1000),
    });
  });

  router.add('POST', '/cgi-bin/message/send', async (ctx) => {
    const auth = authorize(ctx);
    if (auth instanceof Response) return auth;
    const body = await ctx.json();
    if (typeof body !== 'object' || body === null) return wechatError(47001, 'data format error');
    const message = body as Record<string, unknown>;
    if (message.agentid !== auth.agentId && Number(message.agentid) !== auth.agentId) {
      return wechatError(301002, 'not allow operate another agent with this accesstoken');
    }
    if (typeof message.msgtype !== 'string') return wechatError(41008, 'missing msgtype');
    const members = new Set((corp(auth.corpId)?.users ?? []).map((u) => u.userid));
    const touser = typeof message.touser === 'string' ? message.touser : '';
    const targets = touser === '@all' ? [...members] : touser.split('|').filter(Boolean);
    const invalid = targets.filter((t) => !members.has(t));
    if (targets.length === 0 || invalid.length === targets.length) {
      return wechatError(81013, 'user & party & tag all invalid');
    }
    const msgid = state.randomId(40);
    sent.push({ corpId: auth.corpId, agentId: auth.agentId, body: message, msgid, at: state.nowSeconds() });
    return json({
      errcode: 0,
      errmsg: 'ok',
      invaliduser: invalid.join('|'),
      invalidparty: '',
      invalidtag: '',
      unlicenseduser: '',
      msgid,
    });
  });

  router.add('GET', '/cgi-bin/user/get', (ctx) => {
    const weComToken = tokens.get(query(ctx, 'access_token'));
    if (weComToken === undefined) return officialAccountUserList(ctx, state);
    const auth = authorize(ctx);
    if (auth instanceof Response) return auth;
    const userid = query(ctx, 'userid');
    if (!userid) return wechatError(41009, 'missing userid');
    const user = corp(auth.corpId)?.users.find((u) => u.userid === userid);
    if (!user) return wechatError(60111, 'userid not found');
    return json({
      errcode: 0,
      errmsg: 'ok',
      userid: user.userid,
      name: user.name ?? user.userid,
      department: [1],
      status: 1,
      ...(user.mobile ? { mobile: user.mobile } : {}),
    });
  });

  router.add('POST', '/_emulator/wecom/tokens/revoke', async (ctx) => {
    const body = (await ctx.json()) as { corpId?: unknown } | undefined;
    if (typeof body?.corpId !== 'string') return controlError(400, 'body must be { "corpId": string }');
    if (!corp(body.corpId)) return controlError(404, `no corp ${body.corpId}`);
    let revoked = 0;
    for (const record of tokens.values()) {
      if (record.corpId === body.corpId && !record.revoked && record.expiresAt > state.now()) {
        record.revoked = true;
        revoked += 1;
      }
    }
    return json({ revoked });
  });

  router.add('GET', '/_emulator/wecom/messages', (ctx) => {
    const corpId = ctx.url.searchParams.get('corpId');
    return json({ messages: sent.filter((m) => corpId === null || m.corpId === corpId) });
  });
}

/** Official Account `GET /cgi-bin/user/get?next_openid=`: followers, 10 000 per page (official). */
function officialAccountUserList(ctx: RouteContext, state: EmulatorState): Response {
  const records = wechatRecords(state);
  const auth = records.tokens.authorize(ctx);
  if ('error' in auth) return auth.error;
  if (state.app(auth.appId)?.kind !== 'official-account') return wechatError(48001, 'api unauthorized');
  const openids = [...(records.users.get(auth.appId)?.keys() ?? [])].sort();
  const next = ctx.url.searchParams.get('next_openid') ?? '';
  const start = next === '' ? 0 : openids.indexOf(next) + 1;
  const page = openids.slice(start, start + 10_000);
  return json({
    total: openids.length,
    count: page.length,
    data: { openid: page },
    next_openid: page.at(-1) ?? '',
  });
}
