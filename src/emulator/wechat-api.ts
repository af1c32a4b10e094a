import { controlError, json, wechatError } from './http.js';
import type { RouteContext, Router } from './router.js';
import type { EmulatorState } from './state.js';
import { registerBusinessApis } from './wechat-business.js';
import { registerMiniProgramApis } from './wechat-mini-program.js';
import { registerMoreApis } from './wechat-more.js';
import { checkAppCredentials, jsonBody, wechatRecords } from './wechat-records.js';

const query = (ctx: RouteContext, name: string) => ctx.url.searchParams.get(name) ?? undefined;

/**
 * Registers the api.weixin.qq.com part of the emulator: tokens (`cgi-bin/token`, `stable_token`),
 * Mini Program login and phone number, a core of business APIs, and their control routes
 * (`/_emulator/tokens/revoke`, `/_emulator/mini-program/*`, `/_emulator/users`, `/_emulator/messages`).
 */
export function registerWeChatApi(router: Router, state: EmulatorState): void {
  const records = wechatRecords(state);
  const { tokens } = records;

  router.add('GET', '/cgi-bin/token', (ctx) => {
    const checked = checkAppCredentials(
      state,
      { grant_type: query(ctx, 'grant_type'), appid: query(ctx, 'appid'), secret: query(ctx, 'secret') },
      'client_credential',
    );
    if ('error' in checked) return checked.error;
    if (!tokens.tokenQuotaLeft(checked.appId)) return wechatError(45009, 'reach max api daily quota limit');
    return json(tokens.issueToken(checked.appId));
  });

  router.add('POST', '/cgi-bin/stable_token', async (ctx) => {
    const body = await jsonBody(ctx);
    if (body instanceof Response) return body;
    const checked = checkAppCredentials(state, body, 'client_credential');
    if ('error' in checked) return checked.error;
    const force = body.force_refresh ?? false;
    if (typeof force !== 'boolean') return wechatError(47001, 'data format error (force_refresh)');
    const result = tokens.stableToken(checked.appId, force);
    return result instanceof Response ? result : json(result);
  });

  router.add('POST', '/_emulator/tokens/revoke', async (ctx) => {
    const body = (await ctx.json()) as { appId?: unknown } | undefined;
    if (typeof body?.appId !== 'string') return controlError(400, 'body must be { "appId": string }');
    if (!state.app(body.appId)) return controlError(404, `no app ${body.appId}`);
    return json({ revoked: tokens.revoke(body.appId) });
  });

  router.add('POST', '/_emulator/users', async (ctx) => {
    const body = (await ctx.json()) as { appId?: unknown; openId?: unknown; unionId?: unknown } | undefined;
    if (typeof body?.appId !== 'string') {
      return controlError(400, 'body must be { "appId": string, "openId"?: string, "unionId"?: string }');
    }
    if (!state.app(body.appId)) return controlError(404, `no app ${body.appId}`);
    if (body.openId !== undefined && (typeof body.openId !== 'string' || body.openId === '')) {
      return controlError(400, 'openId must be a non-empty string');
    }
    if (body.unionId !== undefined && (typeof body.unionId !== 'string' || body.unionId === '')) {
      return controlError(400, 'unionId must be a non-empty string');
    }
    const openid = body.openId ?? records.newOpenId();
    const user = records.ensureUser(body.appId, openid, body.unionId);
    return json({ appId: body.appId, openId: user.openid, unionId: user.unionid });
  });

  router.add('GET', '/_emulator/messages', (ctx) => {
    const appId = query(ctx, 'appId');
    return json({ messages: records.messages.filter((m) => appId === undefined || m.appId === appId) });
  });

  registerMiniProgramApis(router, records);
  registerBusinessApis(router, records);
  registerMoreApis(router, records);
}
