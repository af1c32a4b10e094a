import type { ApiContext } from '../api-route.js';
import { json, wechatError } from '../http.js';
import type { RouteContext, Router } from '../router.js';
import {
  COMPONENT_TOKEN_TTL_SECONDS,
  type ComponentRecords,
  PRE_AUTH_CODE_TTL_SECONDS,
} from './component-records.js';

const str = (value: unknown) => (typeof value === 'string' ? value : '');

/** The component a component_access_token acts for. */
interface ComponentCaller {
  componentAppId: string;
}

/**
 * The component token APIs of a third-party platform (`/cgi-bin/component/*`):
 * `api_component_token`, `api_create_preauthcode`, `api_query_auth`, `api_authorizer_token`.
 */
export function registerComponentApi(router: Router, records: ComponentRecords): void {
  const { state } = records;

  /**
   * `component_access_token` (or, as the newer doc names it, `access_token`) in the query:
   * missing 41001, unknown 40001, expired 42001.
   */
  const componentToken = (ctx: RouteContext): ComponentCaller | Response => {
    const params = ctx.url.searchParams;
    const token = params.get('component_access_token') || params.get('access_token') || '';
    if (!token) return wechatError(41001, 'access_token missing');
    const record = records.componentTokens.get(token);
    if (!record) return wechatError(40001, 'invalid credential, access_token is invalid or not latest');
    if (record.expiresAt <= state.now()) return wechatError(42001, 'access_token expired');
    return { componentAppId: record.componentAppId };
  };

  /** A component API: token, JSON body, then `component_appid` (missing 41002, not the token's 40013). */
  const componentApi = (
    path: string,
    handler: (ctx: ApiContext<ComponentCaller, Record<string, unknown>>) => Response,
  ) =>
    router.api('POST', path, { auth: componentToken, body: 'json' }, (ctx) => {
      if (!str(ctx.body.component_appid)) return wechatError(41002, 'appid missing');
      if (ctx.body.component_appid !== ctx.caller.componentAppId) {
        return wechatError(40013, 'invalid appid (not the component of this component_access_token)');
      }
      return handler(ctx);
    });

  router.api('POST', '/cgi-bin/component/api_component_token', { body: 'json' }, ({ body }) => {
    const { component_appid, component_appsecret, component_verify_ticket } = body;
    if (!str(component_appid)) return wechatError(41002, 'appid missing');
    const found = records.component(component_appid);
    if (!found) return wechatError(40013, 'invalid appid');
    if (!str(component_appsecret)) return wechatError(41004, 'appsecret missing');
    if (component_appsecret !== found.componentSecret) return wechatError(40125, 'invalid appsecret');
    const ticket = records.tickets.get(str(component_verify_ticket));
    if (!ticket || ticket.componentAppId !== found.componentAppId) {
      return wechatError(61006, 'component ticket is invalid');
    }
    if (ticket.expiresAt <= state.now()) return wechatError(61005, 'component ticket is expired');
    const token = `${state.randomId(43)}-${state.randomId(40)}`;
    records.componentTokens.set(token, {
      componentAppId: found.componentAppId,
      expiresAt: records.ttl(COMPONENT_TOKEN_TTL_SECONDS),
    });
    state.count('tokensIssued', found.componentAppId);
    return json({ component_access_token: token, expires_in: COMPONENT_TOKEN_TTL_SECONDS });
  });

  componentApi('/cgi-bin/component/api_create_preauthcode', ({ caller }) => {
    const code = `preauthcode@@@${state.randomId(48)}`;
    records.preAuthCodes.set(code, {
      componentAppId: caller.componentAppId,
      expiresAt: records.ttl(PRE_AUTH_CODE_TTL_SECONDS),
      used: false,
    });
    return json({ pre_auth_code: code, expires_in: PRE_AUTH_CODE_TTL_SECONDS });
  });

  componentApi('/cgi-bin/component/api_query_auth', ({ caller, body }) => {
    const code = records.authCodes.get(str(body.authorization_code));
    if (!code || code.componentAppId !== caller.componentAppId || code.used) {
      return wechatError(61009, 'code is invalid');
    }
    if (code.expiresAt <= state.now()) return wechatError(61010, 'code is expired');
    code.used = true;
    const authorization = records.authorizations.get(`${code.componentAppId}:${code.authorizerAppId}`);
    if (!authorization?.active) return wechatError(61009, 'code is invalid');
    // A new authorisation gives a new refresh token (always persist the latest one).
    authorization.refreshToken = `refreshtoken@@@${state.randomId(43)}`;
    const issued = records.issueAuthorizerToken(code.componentAppId, code.authorizerAppId);
    return json({
      authorization_info: {
        authorizer_appid: code.authorizerAppId,
        authorizer_access_token: issued.token,
        expires_in: issued.expiresIn,
        authorizer_refresh_token: authorization.refreshToken,
        func_info: code.funcscopes.map((id) => ({ funcscope_category: { id } })),
      },
    });
  });

  componentApi('/cgi-bin/component/api_authorizer_token', ({ caller, body }) => {
    const authorizerAppId = str(body.authorizer_appid);
    const refreshToken = str(body.authorizer_refresh_token);
    if (!authorizerAppId) return wechatError(41002, 'appid missing');
    const authorization = records.authorizations.get(`${caller.componentAppId}:${authorizerAppId}`);
    if (!authorization?.active || !refreshToken || authorization.refreshToken !== refreshToken) {
      return wechatError(61023, 'refresh_token is invalid');
    }
    const issued = records.issueAuthorizerToken(caller.componentAppId, authorizerAppId);
    records.countRefresh(caller.componentAppId, authorizerAppId);
    return json({
      authorizer_access_token: issued.token,
      expires_in: issued.expiresIn,
      authorizer_refresh_token: authorization.refreshToken,
    });
  });
}
