import { checkSessionKeySignature } from '../crypto/index.js';
import { safeEqual } from '../internal/bytes.js';
import { controlError, json, wechatError } from './http.js';
import type { Router } from './router.js';
import { registerMpApiSecurity } from './wechat-mp-api-security.js';
import { checkCodeExchange, jsonBody, unauthorizedApi, type WeChatRecords } from './wechat-records.js';

/** Words that make `msg_sec_check` answer `risky` (the emulator's keyword list). */
export const RISKY_WORDS: readonly string[] = ['违规', 'forbidden'];

/**
 * Mini Program login (`/_emulator/mini-program/login` → `sns/jscode2session`), session checks
 * (`wxa/checksession`), phone numbers (`/_emulator/mini-program/phone-code` →
 * `wxa/business/getuserphonenumber`) and text security check (`wxa/msg_sec_check`).
 */
export function registerMiniProgramApis(router: Router, records: WeChatRecords): void {
  const { state } = records;
  registerMpApiSecurity(router, records);

  const miniProgram = (appId: unknown) => {
    if (typeof appId !== 'string') return controlError(400, 'appId (string) is required');
    const app = state.app(appId);
    if (!app) return controlError(404, `no app ${appId}`);
    if (app.kind !== 'mini-program') return controlError(400, `${appId} is not a mini-program`);
    return app;
  };

  // What wx.login gives the client: a js_code. It rotates the user's session_key, as wx.login does.
  router.add('POST', '/_emulator/mini-program/login', async (ctx) => {
    const body = (await ctx.json()) as { appId?: unknown; openId?: unknown; unionId?: unknown } | undefined;
    const app = miniProgram(body?.appId);
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
    const jsCode = checked.code;
    const code = records.loginCodes.get(jsCode);
    if (!code || code.appId !== checked.appId) return wechatError(40029, 'invalid code');
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
  });

  router.add('GET', '/wxa/checksession', (ctx) => {
    const auth = records.authorize(ctx);
    if ('error' in auth) return auth.error;
    if (state.app(auth.appId)?.kind !== 'mini-program') return unauthorizedApi();
    const p = ctx.url.searchParams;
    const openid = p.get('openid');
    if (!openid) return wechatError(40003, 'invalid openid');
    if (p.get('sig_method') !== 'hmac_sha256') return wechatError(87009, 'invalid signature (sig_method)');
    const sessionKey = records.user(auth.appId, openid)?.sessionKey;
    const signature = p.get('signature') ?? '';
    if (!sessionKey || !safeEqual(signature, checkSessionKeySignature(sessionKey))) {
      return wechatError(87009, 'invalid signature');
    }
    return json({ errcode: 0, errmsg: 'ok' });
  });

  router.add('POST', '/_emulator/mini-program/phone-code', async (ctx) => {
    const body = (await ctx.json()) as
      | { appId?: unknown; openId?: unknown; phoneNumber?: unknown }
      | undefined;
    const app = miniProgram(body?.appId);
    if (app instanceof Response) return app;
    const phoneNumber = body?.phoneNumber ?? '13800138000';
    if (typeof phoneNumber !== 'string' || !/^\d{5,15}$/.test(phoneNumber)) {
      return controlError(400, 'phoneNumber must be digits without country code, e.g. "13800138000"');
    }
    const openId = body?.openId ?? records.defaultOpenId(app.appId);
    if (typeof openId !== 'string' || openId === '') return controlError(400, 'openId must be a string');
    records.ensureUser(app.appId, openId);
    const code = records.newCode();
    records.phoneCodes.set(code, {
      appId: app.appId,
      openid: openId,
      issuedAt: state.now(),
      used: false,
      phoneNumber,
    });
    return json({ code });
  });

  router.add('POST', '/wxa/business/getuserphonenumber', async (ctx) => {
    const auth = records.authorize(ctx);
    if ('error' in auth) return auth.error;
    if (state.app(auth.appId)?.kind !== 'mini-program') return unauthorizedApi();
    const body = await jsonBody(ctx);
    if (body instanceof Response) return body;
    if (typeof body.code !== 'string' || body.code === '') return wechatError(40029, 'invalid code');
    const code = records.phoneCodes.get(body.code);
    if (!code || code.appId !== auth.appId || code.used || records.codeExpired(code)) {
      return wechatError(40029, 'invalid code');
    }
    code.used = true;
    const phone = code.phoneNumber ?? '13800138000';
    return json({
      errcode: 0,
      errmsg: 'ok',
      phone_info: {
        phoneNumber: phone,
        purePhoneNumber: phone,
        countryCode: '86',
        watermark: { timestamp: state.nowSeconds(), appid: auth.appId },
      },
    });
  });

  router.add('POST', '/wxa/msg_sec_check', async (ctx) => {
    const auth = records.authorize(ctx);
    if ('error' in auth) return auth.error;
    if (state.app(auth.appId)?.kind !== 'mini-program') return unauthorizedApi();
    const body = await jsonBody(ctx);
    if (body instanceof Response) return body;
    if (typeof body.content !== 'string') return wechatError(47001, 'data format error (content)');
    const texts = [body.content, body.title, body.nickname, body.signature].filter(
      (t): t is string => typeof t === 'string',
    );
    const keyword = RISKY_WORDS.find((w) => texts.some((t) => t.toLowerCase().includes(w.toLowerCase())));
    if (body.version === undefined || body.version === 1) {
      // 1.0 (retired in 2021): 87014 for risky content, else ok.
      return keyword ? wechatError(87014, 'risky content') : json({ errcode: 0, errmsg: 'ok' });
    }
    if (body.version !== 2 && body.version !== '2') return wechatError(47001, 'data format error (version)');
    if (![1, 2, 3, 4].includes(Number(body.scene))) return wechatError(40129, 'invalid scene');
    if (typeof body.openid !== 'string' || !records.user(auth.appId, body.openid)) {
      return wechatError(40003, 'invalid openid');
    }
    const suggest = keyword ? 'risky' : 'pass';
    const label = keyword ? 20006 : 100;
    return json({
      errcode: 0,
      errmsg: 'ok',
      detail: [
        { strategy: 'content_model', errcode: 0, suggest, label, prob: 90 },
        { strategy: 'keyword', errcode: 0, suggest, label, ...(keyword ? { level: 20, keyword } : {}) },
      ],
      trace_id: `${state.randomId(8)}-${state.randomId(8)}-${state.randomId(8)}`,
      result: { suggest, label },
    });
  });
}
