import { isJsonObject } from '../api-route.js';
import { json, wechatError } from '../http.js';
import type { Router } from '../router.js';
import type { EmulatorState } from '../state.js';
import { appToken } from './app-auth.js';
import { wechatRecords } from './app-records.js';

/** The `msgtype`s of a customer-service message. */
const CUSTOM_MSG_TYPES = new Set([
  'text',
  'image',
  'voice',
  'video',
  'music',
  'news',
  'mpnews',
  'mpnewsarticle',
  'msgmenu',
  'wxcard',
  'miniprogrampage',
  'link',
]);

/**
 * Customer-service messages (`cgi-bin/message/custom/send`, both kinds of app), and the control
 * route `GET /_emulator/messages?appId=` that lists every message apps sent (custom, template,
 * subscribe), newest last.
 */
export function registerMessages(router: Router, state: EmulatorState): void {
  const records = wechatRecords(state);

  router.api(
    'POST',
    '/cgi-bin/message/custom/send',
    { auth: appToken(records), body: 'json' },
    ({ caller, body }) => {
      if (typeof body.touser !== 'string' || !records.user(caller.appId, body.touser)) {
        return wechatError(40003, 'invalid openid');
      }
      const msgtype = body.msgtype;
      if (typeof msgtype !== 'string' || !CUSTOM_MSG_TYPES.has(msgtype)) {
        return wechatError(40008, 'invalid message type');
      }
      const content = body[msgtype];
      if (!isJsonObject(content)) return wechatError(47001, `data format error (${msgtype} missing)`);
      if (msgtype === 'text' && (typeof content.content !== 'string' || content.content === '')) {
        return wechatError(44003, 'empty news data');
      }
      records.recordMessage('custom', caller.appId, body);
      return json({ errcode: 0, errmsg: 'ok' });
    },
  );

  router.add('GET', '/_emulator/messages', (ctx) => {
    const appId = ctx.url.searchParams.get('appId') ?? undefined;
    return json({ messages: records.messages.filter((m) => appId === undefined || m.appId === appId) });
  });
}
