import { json, wechatError } from '../http.js';
import type { Router } from '../router.js';
import type { EmulatorState } from '../state.js';
import { appToken } from './app-auth.js';
import { wechatRecords } from './app-records.js';

/** `GET /cgi-bin/ticket/getticket?type=jsapi|wx_card`: the same ticket while it is valid (7200 s). */
export function registerTickets(router: Router, state: EmulatorState): void {
  const records = wechatRecords(state);

  router.api('GET', '/cgi-bin/ticket/getticket', { auth: appToken(records) }, ({ caller, url }) => {
    const type = url.searchParams.get('type') ?? 'jsapi';
    if (type !== 'jsapi' && type !== 'wx_card') return wechatError(40097, 'invalid args (type)');
    return json({ errcode: 0, errmsg: 'ok', ...records.tokens.ticket(caller.appId, type) });
  });
}
