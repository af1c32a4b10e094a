import { json, wechatError } from '../http.js';
import type { Router } from '../router.js';
import type { EmulatorState } from '../state.js';
import type { WeComTokens } from './access-token.js';

interface SentWeComMessage {
  corpId: string;
  agentId: number;
  body: Record<string, unknown>;
  msgid: string;
  at: number;
}

/** App messages (`cgi-bin/message/send`) and the control route `GET /_emulator/wecom/messages?corpId=`. */
export function registerWeComMessages(router: Router, state: EmulatorState, tokens: WeComTokens): void {
  const sent: SentWeComMessage[] = [];
  const corp = (corpId: string) => state.config.corps.find((c) => c.corpId === corpId);

  router.api(
    'POST',
    '/cgi-bin/message/send',
    { auth: tokens.auth, body: 'json-or-array' },
    ({ caller, body }) => {
      const message = body as Record<string, unknown>;
      if (message.agentid !== caller.agentId && Number(message.agentid) !== caller.agentId) {
        return wechatError(301002, 'not allow operate another agent with this accesstoken');
      }
      if (typeof message.msgtype !== 'string') return wechatError(41008, 'missing msgtype');
      const members = new Set((corp(caller.corpId)?.users ?? []).map((u) => u.userid));
      const touser = typeof message.touser === 'string' ? message.touser : '';
      const targets = touser === '@all' ? [...members] : touser.split('|').filter(Boolean);
      const invalid = targets.filter((t) => !members.has(t));
      if (targets.length === 0 || invalid.length === targets.length) {
        return wechatError(81013, 'user & party & tag all invalid');
      }
      const msgid = state.randomId(40);
      sent.push({
        corpId: caller.corpId,
        agentId: caller.agentId,
        body: message,
        msgid,
        at: state.nowSeconds(),
      });
      return json({
        errcode: 0,
        errmsg: 'ok',
        invaliduser: invalid.join('|'),
        invalidparty: '',
        invalidtag: '',
        unlicenseduser: '',
        msgid,
      });
    },
  );

  router.add('GET', '/_emulator/wecom/messages', (ctx) => {
    const corpId = ctx.url.searchParams.get('corpId');
    return json({ messages: sent.filter((m) => corpId === null || m.corpId === corpId) });
  });
}
