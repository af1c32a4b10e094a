import { checkSessionKeySignature } from '../../crypto/index.js';
import { safeEqual } from '../../internal/bytes.js';
import { controlError, json, wechatError } from '../http.js';
import { checkComponentExchange } from '../open-platform/component-exchange.js';
import { appToken } from '../platform/app-auth.js';
import { checkCodeExchange } from '../platform/app-credentials.js';
import { wechatRecords } from '../platform/app-records.js';
import type { Router } from '../router.js';
import type { EmulatorState } from '../state.js';

/** The Mini Program a control route names, or the 400/404 to answer. */
export function controlMiniProgram(state: EmulatorState, appId: unknown) {
  if (typeof appId !== 'string') return controlError(400, 'appId (string) is required');
  const app = state.app(appId);
  if (!app) return controlError(404, `no app ${appId}`);
  if (app.kind !== 'mini-program') return controlError(400, `${appId} is not a mini-program`);
  return app;
}

/**
 * Mini Program login: `POST /_emulator/mini-program/login` (what `wx.login` gives the client) →
 * `sns/jscode2session`, and session checks (`wxa/checksession`).
 */
export function registerLogin(router: Router, state: EmulatorState): void {
  const records = wechatRecords(state);

  // What wx.login gives the client: a js_code. It rotates the user's session_key, as wx.login does.
  router.add('POST', '/_emulator/mini-program/login', async (ctx) => {
    const body = (await ctx.json()) as { appId?: unknown; openId?: unknown; unionId?: unknown } | undefined;
    const app = controlMiniProgram(state, body?.appId);
    if (app instanceof Response) return app;
    const openId = body?.openId ?? records.defaultOpenId(app.appId);
    if (typeof openId !== 'string' || openId === '') return controlError(400, 'openId must be a string');
    const unionId = typeof body?.unionId === 'string' ? body.unionId : undefined;
    const user = records.ensureUser(app.appId, openId, unionId);
    user.sessionKey = records.newSessionKey();
    const code = records.newCode();
    records.loginCodes.set(code, {
      appId: app.appId,
      openid: openId,
      issuedAt: state.now(),
      used: false,
      sessionKey: user.sessionKey,
    });
    return json({ code, openId });
  });

  router.add('GET', '/sns/jscode2session', (ctx) => {
    const checked = checkCodeExchange(state, ctx, 'js_code');
    if ('error' in checked) return checked.error;
    return codeToSession(checked.appId, checked.code);
  });

  // 第三方平台代小程序登录: the same exchange, authenticated by the platform's component token.
  router.add('GET', '/sns/component/jscode2session', (ctx) => {
    const checked = checkComponentExchange(state, ctx, 'authorization_code', 'js_code');
    if ('error' in checked) return checked.error;
    return codeToSession(checked.appId, checked.value);
  });

  function codeToSession(appId: string, jsCode: string): Response {
    const code = records.loginCodes.get(jsCode);
    if (!code || code.appId !== appId) return wechatError(40029, 'invalid code');
    if (code.used) return wechatError(40163, 'code been used');
    if (records.codeExpired(code)) return wechatError(40029, 'invalid code');
    code.used = true;
    const user = records.ensureUser(code.appId, code.openid);
    const app = state.app(code.appId);
    // As the doc: success has no errcode field.
    return json({
      session_key: code.sessionKey,
      openid: code.openid,
      ...(app?.unionIdEnabled ? { unionid: user.unionid } : {}),
    });
  }

  router.api('GET', '/wxa/checksession', { auth: appToken(records, 'mini-program') }, ({ caller, url }) => {
    const p = url.searchParams;
    const openid = p.get('openid');
    if (!openid) return wechatError(40003, 'invalid openid');
    if (p.get('sig_method') !== 'hmac_sha256') return wechatError(87009, 'invalid signature (sig_method)');
    const sessionKey = records.user(caller.appId, openid)?.sessionKey;
    const signature = p.get('signature') ?? '';
    if (!sessionKey || !safeEqual(signature, checkSessionKeySignature(sessionKey))) {
      return wechatError(87009, 'invalid signature');
    }
    return json({ errcode: 0, errmsg: 'ok' });
  });
}
