import { isJsonObject } from '../api-route.js';
import { json, wechatError } from '../http.js';
import { appToken } from '../platform/app-auth.js';
import { wechatRecords } from '../platform/app-records.js';
import { deliverPush } from '../platform/push.js';
import type { Router } from '../router.js';
import type { EmulatorState } from '../state.js';

/** How long after a template message WeChat reports its delivery (emulator's choice: ~2 s). */
export const TEMPLATE_REPORT_DELAY_MS = 2000;

/**
 * `cgi-bin/message/template/send` (Official Accounts): recorded for `GET /_emulator/messages`,
 * then reported to the app's callbackUrl with a `TEMPLATESENDJOBFINISH` event.
 */
export function registerTemplateMessages(router: Router, state: EmulatorState): void {
  const records = wechatRecords(state);

  router.api(
    'POST',
    '/cgi-bin/message/template/send',
    { auth: appToken(records, 'official-account'), body: 'json' },
    ({ caller, body }) => {
      const touser = body.touser;
      if (typeof touser !== 'string' || !records.user(caller.appId, touser)) {
        return wechatError(40003, 'invalid openid');
      }
      if (typeof body.template_id !== 'string' || body.template_id === '') {
        return wechatError(40037, 'invalid template_id');
      }
      if (body.data !== undefined && !isJsonObject(body.data)) return wechatError(47001, 'data format error');
      const message = records.recordMessage('template', caller.appId, body);
      const app = state.app(caller.appId);
      if (app?.callbackUrl) {
        // WeChat reports the delivery with a TEMPLATESENDJOBFINISH event a moment later
        // (~2 s of emulated time here, divided by retryTimeScale: 50 ms at the default scale).
        const delay = Math.max(
          50,
          Math.round(TEMPLATE_REPORT_DELAY_MS / state.config.options.retryTimeScale),
        );
        state.later(
          delay,
          async () => {
            try {
              await deliverPush(state, caller.appId, {
                MsgType: 'event',
                Event: 'TEMPLATESENDJOBFINISH',
                MsgID: message.msgid,
                Status: 'success',
                FromUserName: touser,
              });
            } catch {
              // The push module reports its own failures; a send never fails because of them.
            }
          },
          `TEMPLATESENDJOBFINISH ${message.msgid}`,
        );
      }
      return json({ errcode: 0, errmsg: 'ok', msgid: message.msgid });
    },
  );
}
