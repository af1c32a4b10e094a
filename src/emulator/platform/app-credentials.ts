import { wechatError } from '../http.js';
import type { RouteContext } from '../router.js';
import type { EmulatorState } from '../state.js';

/**
 * Checks `appid` / `secret` / `grant_type` as `cgi-bin/token` and `stable_token` do: missing appid
 * 41002, missing secret 41004, wrong grant_type 40002, unknown appid 40013, wrong secret 40125
 * ("invalid appsecret", what WeChat answers today on both token endpoints and the code exchanges;
 * older docs list 40001 for getAccessToken, which clients must read as a wrong secret too).
 */
export function checkAppCredentials(
  state: EmulatorState,
  params: { grant_type?: unknown; appid?: unknown; secret?: unknown },
  grantType: string,
  wrongSecret: () => Response = () => wechatError(40125, 'invalid appsecret'),
): { appId: string } | { error: Response } {
  const { appid, secret } = params;
  if (typeof appid !== 'string' || appid === '') return { error: wechatError(41002, 'appid missing') };
  if (typeof secret !== 'string' || secret === '') return { error: wechatError(41004, 'appsecret missing') };
  if (params.grant_type !== grantType) return { error: wechatError(40002, 'invalid grant_type') };
  const app = state.app(appid);
  if (!app) return { error: wechatError(40013, 'invalid appid') };
  if (app.secret !== secret) return { error: wrongSecret() };
  return { appId: app.appId };
}

/**
 * The query of a code exchange (`sns/jscode2session`, `sns/oauth2/access_token`): appid, secret
 * (wrong: 40125), `grant_type=authorization_code`, and the code under `codeParam` (missing: 41008).
 */
export function checkCodeExchange(
  state: EmulatorState,
  ctx: RouteContext,
  codeParam: string,
): { appId: string; code: string } | { error: Response } {
  const p = ctx.url.searchParams;
  const checked = checkAppCredentials(
    state,
    {
      grant_type: p.get('grant_type') ?? undefined,
      appid: p.get('appid') ?? undefined,
      secret: p.get('secret') ?? undefined,
    },
    'authorization_code',
    () => wechatError(40125, 'invalid appsecret'),
  );
  if ('error' in checked) return checked;
  const code = p.get(codeParam);
  if (!code) return { error: wechatError(41008, 'missing code') };
  return { appId: checked.appId, code };
}
