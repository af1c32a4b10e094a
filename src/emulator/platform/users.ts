import { controlError, json } from '../http.js';
import type { Router } from '../router.js';
import type { EmulatorState } from '../state.js';
import { wechatRecords } from './app-records.js';

/**
 * `POST /_emulator/users {appId, openId?, unionId?}`: makes a user known to an app (a follower of
 * an Official Account, a user of a Mini Program), as following or logging in does on WeChat.
 */
export function registerUsers(router: Router, state: EmulatorState): void {
  const records = wechatRecords(state);

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
}
