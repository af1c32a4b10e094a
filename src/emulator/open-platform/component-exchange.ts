import { wechatError } from '../http.js';
import type { RouteContext } from '../router.js';
import type { EmulatorState } from '../state.js';
import { componentRecords } from './component-records.js';

/**
 * Checks the query of an exchange a platform makes on an authorised account's behalf
 * (`sns/oauth2/component/access_token`, `sns/oauth2/component/refresh_token`,
 * `sns/component/jscode2session`): `appid` (41002), `grant_type` (40002), `component_appid`
 * (41002), `component_access_token` (41001 missing, 40001 unknown, 42001 expired, 40013 another
 * component's), the account's active authorisation of that component (61003), and the value
 * under `param` (41008 for a code, 41003 for a refresh token).
 */
export function checkComponentExchange(
  state: EmulatorState,
  ctx: RouteContext,
  grantType: string,
  param: string,
): { appId: string; value: string } | { error: Response } {
  const records = componentRecords(state);
  const p = ctx.url.searchParams;
  const appid = p.get('appid');
  if (!appid) return { error: wechatError(41002, 'appid missing') };
  if (p.get('grant_type') !== grantType) return { error: wechatError(40002, 'invalid grant_type') };
  const componentAppId = p.get('component_appid');
  if (!componentAppId) return { error: wechatError(41002, 'component_appid missing') };
  const token = p.get('component_access_token');
  if (!token) return { error: wechatError(41001, 'access_token missing') };
  const record = records.componentTokens.get(token);
  if (!record) {
    return { error: wechatError(40001, 'invalid credential, access_token is invalid or not latest') };
  }
  if (record.expiresAt <= state.now()) return { error: wechatError(42001, 'access_token expired') };
  if (record.componentAppId !== componentAppId) {
    return { error: wechatError(40013, 'invalid appid (not the component of this component_access_token)') };
  }
  if (!records.authorizations.get(`${componentAppId}:${appid}`)?.active) {
    return { error: wechatError(61003, 'component is not authorized by this account') };
  }
  const value = p.get(param);
  if (!value) {
    return {
      error:
        param === 'refresh_token'
          ? wechatError(41003, 'refresh_token missing')
          : wechatError(41008, 'missing code'),
    };
  }
  return { appId: appid, value };
}
