import { isJsonObject } from '../api-route.js';
import { controlError, json, wechatError } from '../http.js';
import { checkComponentExchange } from '../open-platform/component-exchange.js';
import { unauthorizedApi } from '../platform/app-auth.js';
import { checkCodeExchange } from '../platform/app-credentials.js';
import { CODE_TTL_SECONDS, wechatRecords } from '../platform/app-records.js';
import type { RouteContext, Router } from '../router.js';
import type { EmulatorState } from '../state.js';

/** Web OAuth user access_token lifetime (official: 7200 s). */
export const OAUTH_TOKEN_TTL_SECONDS = 7200;
/** Web OAuth refresh_token lifetime (official: 30 days). */
export const OAUTH_REFRESH_TTL_SECONDS = 30 * 86_400;

interface OAuthCode {
  appId: string;
  openid: string;
  scope: OAuthScope;
  issuedAt: number;
  used: boolean;
  snapshotUser: boolean;
}

interface UserToken {
  appId: string;
  openid: string;
  scope: OAuthScope;
  /** Emulated ms. */
  expiresAt: number;
}

interface RefreshToken extends UserToken {
  snapshotUser: boolean;
}

type OAuthScope = 'snsapi_base' | 'snsapi_userinfo';

/** Users' web profiles (what `sns/userinfo` shows), set by `POST /_emulator/oauth/authorize`. */
interface WebProfile {
  nickname: string;
  headimgurl: string;
}

/**
 * Web OAuth of Official Accounts (网页授权): `sns/oauth2/access_token`, `sns/oauth2/refresh_token`,
 * `sns/userinfo`, `sns/auth`, and the control route `POST /_emulator/oauth/authorize`, which plays
 * the user's consent and gives the `code` WeChat appends to redirect_uri.
 */
export function registerWebOAuth(router: Router, state: EmulatorState): void {
  const records = wechatRecords(state);
  const oauthCodes = new Map<string, OAuthCode>();
  const userTokens = new Map<string, UserToken>();
  const refreshTokens = new Map<string, RefreshToken>();
  const profiles = new Map<string, WebProfile>();

  const profileKey = (appId: string, openid: string) => `${appId}\n${openid}`;

  // What WeChat appends to redirect_uri after the user consents: ?code=…&state=…
  router.add('POST', '/_emulator/oauth/authorize', async (ctx) => {
    const body = (await ctx.json()) as Record<string, unknown> | undefined;
    const usage =
      'body must be { appId, scope: "snsapi_base" | "snsapi_userinfo", openId?, unionId?, state?, nickname?, headImgUrl?, snapshotUser? }';
    if (!isJsonObject(body) || typeof body.appId !== 'string') return controlError(400, usage);
    const app = state.app(body.appId);
    if (!app) return controlError(404, `no app ${body.appId}`);
    if (app.kind !== 'official-account') return controlError(400, `${app.appId} is not an official-account`);
    if (body.scope !== 'snsapi_base' && body.scope !== 'snsapi_userinfo') return controlError(400, usage);
    for (const field of ['openId', 'unionId', 'state', 'nickname', 'headImgUrl'] as const) {
      if (body[field] !== undefined && typeof body[field] !== 'string') {
        return controlError(400, `${field} must be a string`);
      }
    }
    if (body.snapshotUser !== undefined && typeof body.snapshotUser !== 'boolean') {
      return controlError(400, 'snapshotUser must be a boolean');
    }
    const openid = (body.openId as string | undefined) || records.defaultOpenId(app.appId);
    const user = records.ensureUser(app.appId, openid, (body.unionId as string | undefined) || undefined);
    const key = profileKey(app.appId, openid);
    const previous = profiles.get(key);
    profiles.set(key, {
      nickname: (body.nickname as string | undefined) ?? previous?.nickname ?? '微信用户',
      headimgurl:
        (body.headImgUrl as string | undefined) ??
        previous?.headimgurl ??
        `https://thirdwx.qlogo.cn/mmopen/emulator/${user.unionid}/132`,
    });
    const code = records.newCode();
    oauthCodes.set(code, {
      appId: app.appId,
      openid,
      scope: body.scope,
      issuedAt: state.now(),
      used: false,
      snapshotUser: body.snapshotUser === true,
    });
    return json({ code, state: (body.state as string | undefined) ?? '', openId: openid });
  });

  const newUserToken = () => `${state.randomId(40)}_${state.randomId(40)}-${state.randomId(24)}`;

  const issueUserToken = (grant: { appId: string; openid: string; scope: OAuthScope }) => {
    const token = newUserToken();
    userTokens.set(token, { ...grant, expiresAt: state.now() + OAUTH_TOKEN_TTL_SECONDS * 1000 });
    return token;
  };

  router.add('GET', '/sns/oauth2/access_token', (ctx) => {
    const checked = checkCodeExchange(state, ctx, 'code');
    if ('error' in checked) return checked.error;
    return exchangeCode(checked.appId, checked.code);
  });

  // 代公众号发起网页授权: the same exchange, authenticated by the platform's component token.
  router.add('GET', '/sns/oauth2/component/access_token', (ctx) => {
    const checked = checkComponentExchange(state, ctx, 'authorization_code', 'code');
    if ('error' in checked) return checked.error;
    return exchangeCode(checked.appId, checked.value);
  });

  router.add('GET', '/sns/oauth2/component/refresh_token', (ctx) => {
    const checked = checkComponentExchange(state, ctx, 'refresh_token', 'refresh_token');
    if ('error' in checked) return checked.error;
    return refreshUserToken(checked.appId, checked.value);
  });

  function exchangeCode(appId: string, value: string): Response {
    const code = oauthCodes.get(value);
    if (!code || code.appId !== appId) return wechatError(40029, 'invalid code');
    if (code.used) return wechatError(40163, 'code been used');
    if (state.now() - code.issuedAt >= CODE_TTL_SECONDS * 1000) return wechatError(40029, 'invalid code');
    code.used = true;
    const access = issueUserToken(code);
    const refresh = newUserToken();
    refreshTokens.set(refresh, {
      appId: code.appId,
      openid: code.openid,
      scope: code.scope,
      snapshotUser: code.snapshotUser,
      expiresAt: state.now() + OAUTH_REFRESH_TTL_SECONDS * 1000,
    });
    const unionid =
      code.scope === 'snsapi_userinfo' && state.app(code.appId)?.unionIdEnabled
        ? records.user(code.appId, code.openid)?.unionid
        : undefined;
    return json({
      access_token: access,
      expires_in: OAUTH_TOKEN_TTL_SECONDS,
      refresh_token: refresh,
      openid: code.openid,
      scope: code.scope,
      ...(code.snapshotUser ? { is_snapshotuser: 1 } : {}),
      ...(unionid ? { unionid } : {}),
    });
  }

  router.add('GET', '/sns/oauth2/refresh_token', (ctx) => {
    const p = ctx.url.searchParams;
    const appid = p.get('appid');
    if (!appid) return wechatError(41002, 'appid missing');
    if (p.get('grant_type') !== 'refresh_token') return wechatError(40002, 'invalid grant_type');
    const value = p.get('refresh_token');
    if (!value) return wechatError(41003, 'refresh_token missing');
    if (!state.app(appid)) return wechatError(40013, 'invalid appid');
    return refreshUserToken(appid, value);
  });

  function refreshUserToken(appid: string, value: string): Response {
    const refresh = refreshTokens.get(value);
    if (!refresh || refresh.appId !== appid) return wechatError(40030, 'invalid refresh_token');
    if (refresh.expiresAt <= state.now()) return wechatError(42002, 'refresh_token expired');
    const access = issueUserToken(refresh);
    // The refresh_token keeps its 30-day life (the doc: re-authorize once it expires).
    return json({
      access_token: access,
      expires_in: OAUTH_TOKEN_TTL_SECONDS,
      refresh_token: value,
      openid: refresh.openid,
      scope: refresh.scope,
    });
  }

  /** The user token of `access_token`: missing 41001, unknown 40001, expired 42001. */
  const userToken = (ctx: RouteContext, unknown: () => Response): UserToken | Response => {
    const value = ctx.url.searchParams.get('access_token');
    if (!value) return wechatError(41001, 'access_token missing');
    const token = userTokens.get(value);
    if (!token) return unknown();
    if (token.expiresAt <= state.now()) return wechatError(42001, 'access_token expired');
    return token;
  };

  router.add('GET', '/sns/userinfo', (ctx) => {
    const token = userToken(ctx, () =>
      wechatError(40001, 'invalid credential, access_token is invalid or not latest'),
    );
    if (token instanceof Response) return token;
    const openid = ctx.url.searchParams.get('openid');
    if (!openid) return wechatError(41009, 'missing openid');
    if (openid !== token.openid) return wechatError(40003, 'invalid openid');
    // The doc: only with a snsapi_userinfo authorization, else 48001.
    if (token.scope !== 'snsapi_userinfo') return unauthorizedApi();
    const user = records.user(token.appId, token.openid);
    const profile = profiles.get(profileKey(token.appId, token.openid));
    // Since 2021-10-20 sex and region are no longer returned (0 and empty strings).
    return json({
      openid: token.openid,
      nickname: profile?.nickname ?? '微信用户',
      sex: 0,
      province: '',
      city: '',
      country: '',
      headimgurl: profile?.headimgurl ?? '',
      privilege: [],
      ...(user && state.app(token.appId)?.unionIdEnabled ? { unionid: user.unionid } : {}),
    });
  });

  router.add('GET', '/sns/auth', (ctx) => {
    // The doc's example answers an invalid credential with 40003 invalid openid.
    const token = userToken(ctx, () => wechatError(40003, 'invalid openid'));
    if (token instanceof Response) return token;
    const openid = ctx.url.searchParams.get('openid');
    if (!openid) return wechatError(41009, 'missing openid');
    if (openid !== token.openid) return wechatError(40003, 'invalid openid');
    return json({ errcode: 0, errmsg: 'ok' });
  });
}
