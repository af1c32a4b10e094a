import { isJsonObject } from '../api-route.js';
import { json, wechatError } from '../http.js';
import { appToken } from '../platform/app-auth.js';
import { wechatRecords } from '../platform/app-records.js';
import type { Router } from '../router.js';
import type { EmulatorState } from '../state.js';

/** Subscribe messages of Mini Programs (`cgi-bin/message/subscribe/send`), recorded for `GET /_emulator/messages`. */
export function registerSubscribeMessages(router: Router, state: EmulatorState): void {
  const records = wechatRecords(state);

  router.api(
    'POST',
    '/cgi-bin/message/subscribe/send',
    { auth: appToken(records, 'mini-program'), body: 'json' },
    ({ caller, body }) => {
      if (typeof body.touser !== 'string' || !records.user(caller.appId, body.touser)) {
        return wechatError(40003, 'invalid openid');
      }
      if (typeof body.template_id !== 'string' || body.template_id === '') {
        return wechatError(40037, 'invalid template_id');
      }
      if (!isJsonObject(body.data)) return wechatError(47003, 'argument invalid! data is empty');
      const message = records.recordMessage('subscribe', caller.appId, body);
      return json({ errcode: 0, errmsg: 'ok', msgid: message.msgid });
    },
  );
}
