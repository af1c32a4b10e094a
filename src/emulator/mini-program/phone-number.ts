import { controlError, json, wechatError } from '../http.js';
import { appToken } from '../platform/app-auth.js';
import { wechatRecords } from '../platform/app-records.js';
import type { Router } from '../router.js';
import type { EmulatorState } from '../state.js';
import { controlMiniProgram } from './login.js';

/**
 * Mini Program phone numbers: `POST /_emulator/mini-program/phone-code` (what the
 * `getPhoneNumber` button gives the client) → `wxa/business/getuserphonenumber`.
 */
export function registerPhoneNumber(router: Router, state: EmulatorState): void {
  const records = wechatRecords(state);

  router.add('POST', '/_emulator/mini-program/phone-code', async (ctx) => {
    const body = (await ctx.json()) as
      | { appId?: unknown; openId?: unknown; phoneNumber?: unknown }
      | undefined;
    const app = controlMiniProgram(state, body?.appId);
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

  router.api(
    'POST',
    '/wxa/business/getuserphonenumber',
    { auth: appToken(records, 'mini-program'), body: 'json' },
    ({ caller, body }) => {
      if (typeof body.code !== 'string' || body.code === '') return wechatError(40029, 'invalid code');
      const code = records.phoneCodes.get(body.code);
      if (!code || code.appId !== caller.appId || code.used || records.codeExpired(code)) {
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
          watermark: { timestamp: state.nowSeconds(), appid: caller.appId },
        },
      });
    },
  );
}
