import type { EmulatorAppKind } from '../config.js';
import { wechatError } from '../http.js';
import type { RouteContext } from '../router.js';
import type { WeChatRecords } from './app-records.js';

/** 48001 for an API the app's kind (Official Account / Mini Program) does not have. */
export function unauthorizedApi(): Response {
  return wechatError(48001, 'api unauthorized');
}

/** The app an `access_token` acts for. */
export interface AppCaller {
  appId: string;
}

/**
 * The `auth` of an Official Account / Mini Program API route: the `access_token` query parameter
 * (missing 41001, unknown or replaced 40001, expired 42001) and, when `kind` is given, an app of
 * that kind (48001 otherwise).
 *
 * @example
 * router.api('GET', '/cgi-bin/menu/get', { auth: appToken(records, 'official-account') }, ({ caller }) =>
 *   json(records.menus.get(caller.appId)),
 * );
 */
export function appToken(
  records: WeChatRecords,
  kind?: EmulatorAppKind,
): (ctx: RouteContext) => AppCaller | Response {
  return (ctx) => {
    const auth = records.authorize(ctx);
    if ('error' in auth) return auth.error;
    if (kind !== undefined && (records.state.app(auth.appId)?.kind ?? auth.kind) !== kind) {
      return unauthorizedApi();
    }
    return { appId: auth.appId };
  };
}
