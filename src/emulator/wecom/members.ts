import { apiRoute } from '../api-route.js';
import { json, wechatError } from '../http.js';
import { followerList } from '../official-account/followers.js';
import type { Router } from '../router.js';
import type { EmulatorState } from '../state.js';
import type { WeComTokens } from './access-token.js';

/**
 * `GET /cgi-bin/user/get?userid=`: a member of the corp. qyapi.weixin.qq.com shares the emulator's
 * origin with api.weixin.qq.com, where the same path is an Official Account's follower list: the
 * access_token tells them apart (a WeCom token gets the member, any other the follower list).
 */
export function registerWeComMembers(router: Router, state: EmulatorState, tokens: WeComTokens): void {
  const corp = (corpId: string) => state.config.corps.find((c) => c.corpId === corpId);
  const member = apiRoute({ auth: tokens.auth }, ({ caller, url }) => {
    const userid = url.searchParams.get('userid') ?? '';
    if (!userid) return wechatError(41009, 'missing userid');
    const user = corp(caller.corpId)?.users.find((u) => u.userid === userid);
    if (!user) return wechatError(60111, 'userid not found');
    return json({
      errcode: 0,
      errmsg: 'ok',
      userid: user.userid,
      name: user.name ?? user.userid,
      department: [1],
      status: 1,
      ...(user.mobile ? { mobile: user.mobile } : {}),
    });
  });

  router.add('GET', '/cgi-bin/user/get', (ctx) =>
    tokens.get(ctx.url.searchParams.get('access_token') ?? '') === undefined
      ? followerList(ctx, state)
      : member(ctx),
  );
}
