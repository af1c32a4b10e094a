import { isJsonObject } from '../api-route.js';
import { json, wechatError } from '../http.js';
import { appToken } from '../platform/app-auth.js';
import { type EmulatedUser, wechatRecords } from '../platform/app-records.js';
import type { RouteContext, Router } from '../router.js';
import type { EmulatorState } from '../state.js';

/** A follower's profile as `user/info` shows it: no nickname, avatar, sex or region since 2021-12-27. */
function profile(user: EmulatedUser, language: string, withUnionId: boolean): Record<string, unknown> {
  return {
    subscribe: 1,
    openid: user.openid,
    language,
    subscribe_time: user.subscribeTime,
    ...(withUnionId ? { unionid: user.unionid } : {}),
    remark: '',
    groupid: 0,
    tagid_list: [],
    subscribe_scene: 'ADD_SCENE_OTHERS',
    qr_scene: 0,
    qr_scene_str: '',
  };
}

/**
 * An Official Account's followers: `cgi-bin/user/info` and `user/info/batchget`. The follower list
 * (`GET /cgi-bin/user/get`) shares its path with WeCom's member API, which hands it over
 * ({@link followerList}).
 */
export function registerFollowers(router: Router, state: EmulatorState): void {
  const records = wechatRecords(state);
  const auth = appToken(records, 'official-account');

  router.api('GET', '/cgi-bin/user/info', { auth }, ({ caller, url }) => {
    const openid = url.searchParams.get('openid');
    const user = records.user(caller.appId, openid);
    if (!user) return wechatError(40003, 'invalid openid');
    const lang = url.searchParams.get('lang') ?? 'zh_CN';
    return json(profile(user, lang, state.app(caller.appId)?.unionIdEnabled === true));
  });

  router.api('POST', '/cgi-bin/user/info/batchget', { auth, body: 'non-empty-json' }, ({ caller, body }) => {
    const list = body.user_list;
    if (!Array.isArray(list)) return wechatError(47001, 'data format error (user_list)');
    if (list.length === 0 || list.length > 100) return wechatError(40032, 'invalid openid list size');
    const unionId = state.app(caller.appId)?.unionIdEnabled === true;
    const infos: unknown[] = [];
    for (const entry of list) {
      if (!isJsonObject(entry) || typeof entry.openid !== 'string') {
        return wechatError(47001, 'data format error (user_list[].openid)');
      }
      if (entry.lang !== undefined && typeof entry.lang !== 'string') {
        return wechatError(47001, 'data format error (user_list[].lang)');
      }
      const user = records.user(caller.appId, entry.openid);
      if (!user) return wechatError(40003, 'invalid openid');
      infos.push(profile(user, (entry.lang as string | undefined) ?? 'zh_CN', unionId));
    }
    return json({ user_info_list: infos });
  });
}

/** Official Account `GET /cgi-bin/user/get?next_openid=`: followers, 10 000 per page (official). */
export function followerList(ctx: RouteContext, state: EmulatorState): Response {
  const records = wechatRecords(state);
  const caller = appToken(records, 'official-account')(ctx);
  if (caller instanceof Response) return caller;
  const openids = [...(records.users.get(caller.appId)?.keys() ?? [])].sort();
  const next = ctx.url.searchParams.get('next_openid') ?? '';
  const start = next === '' ? 0 : openids.indexOf(next) + 1;
  const page = openids.slice(start, start + 10_000);
  return json({
    total: openids.length,
    count: page.length,
    data: { openid: page },
    next_openid: page.at(-1) ?? '',
  });
}
