import { json } from '../http.js';
import { callbackIps, wechatApiDomainIpRoute, wechatCallbackIpRoute } from '../platform/network.js';
import type { RouteContext, Router } from '../router.js';
import type { EmulatorState } from '../state.js';
import type { WeComTokens } from './access-token.js';

/** What WeCom's `get_api_domain_ip` answers: the emulator itself is qyapi.weixin.qq.com. */
const API_DOMAIN_IPS = ['127.0.0.1'];

/**
 * `GET /cgi-bin/getcallbackip` and `GET /cgi-bin/get_api_domain_ip`. qyapi.weixin.qq.com shares the
 * emulator's origin with api.weixin.qq.com, where both paths exist too: the access_token tells them
 * apart (a WeCom token gets WeCom's answer with `errcode: 0`, any other the Official Account / Mini
 * Program route). Both platforms answer the one configured callback list.
 */
export function registerWeComNetwork(router: Router, state: EmulatorState, tokens: WeComTokens): void {
  const isWeCom = (ctx: RouteContext) =>
    tokens.get(ctx.url.searchParams.get('access_token') ?? '') !== undefined;
  const answer = (ctx: RouteContext, list: () => string[]) => {
    const caller = tokens.auth(ctx);
    if (caller instanceof Response) return caller;
    return json({ ip_list: [...list()], errcode: 0, errmsg: 'ok' });
  };
  const wechatCallback = wechatCallbackIpRoute(state);
  const wechatApiDomain = wechatApiDomainIpRoute(state);
  router.add('GET', '/cgi-bin/getcallbackip', (ctx) =>
    isWeCom(ctx) ? answer(ctx, () => callbackIps(state)) : wechatCallback(ctx),
  );
  router.add('GET', '/cgi-bin/get_api_domain_ip', (ctx) =>
    isWeCom(ctx) ? answer(ctx, () => API_DOMAIN_IPS) : wechatApiDomain(ctx),
  );
}
