import type {
  AuthorizedEvent,
  ComponentVerifyTicketEvent,
  UnauthorizedEvent,
} from '../callbacks/messages.js';
import type { WeChatCallback } from '../callbacks/wechat-callback.js';
import { ApiClient, type ApiRequestOptions, type RequestOptions } from '../core/api-client.js';
import { APIPromise } from '../core/api-promise.js';
import { quotaBreakerFrom, tokenManagerFrom, transportFrom } from '../core/build-client.js';
import { checkOptions, type TokenClientOptions } from '../core/client-options.js';
import type { SecretInput } from '../core/secret-provider.js';
import { requiredSecret, type SecretSource } from '../core/secret-source.js';
import type { HttpMethod, Transport } from '../core/transport.js';
import {
  type CredentialSettings,
  credentialErrorOf,
  isSecretRefusal,
} from '../credentials/credential-errors.js';
import { MemoryStore } from '../credentials/memory-store.js';
import type { TokenManager } from '../credentials/token-manager.js';
import type { TokenStore } from '../credentials/token-store.js';
import { ArgumentError, ConfigError, WeChatApiError, WeChatKitError } from '../errors.js';
import { APP_TOKEN_SOURCE, type AppTokenSource } from '../internal/app-token-source.js';
import { LruMap } from '../internal/lru.js';
import { tokenKey } from '../internal/store-keys.js';
import type { MiniProgramOptions } from '../mini-program/mini-program.js';
import { OfficialAccount, type OfficialAccountOptions } from '../official-account/official-account.js';
import { AuthorizerMiniProgram } from './authorizer-mini-program.js';
import {
  type AuthorizerRefreshOptions,
  appIdShare,
  RefreshRateLimiter,
  resolveRefreshRate,
} from './refresh-rate.js';

/** How long a component_verify_ticket is accepted after its push (official: 12 hours). */
export const VERIFY_TICKET_TTL_MS = 12 * 3600 * 1000;

/**
 * How long a stored authorizer_refresh_token is kept. WeChat never expires it (it dies only when
 * the account revokes the authorisation, and changes on re-authorisation); stores need a TTL, so
 * it is kept for ten years and rewritten on every refresh.
 */
export const AUTHORIZER_REFRESH_TOKEN_TTL_MS = 10 * 365 * 24 * 3600 * 1000;

/**
 * Options of {@link OpenPlatform}. Unknown keys are rejected. `componentAppId` and
 * `componentSecret` take `string | undefined` so that `process.env.X` can be passed as is; a
 * missing one is refused when the client is built, naming the variable to set.
 */
export interface OpenPlatformOptions extends TokenClientOptions {
  /** The third-party platform's (第三方平台) AppID. */
  componentAppId: string | undefined;
  /**
   * How many authorizers' clients are kept in memory (least recently used first out; default
   * 1000). An evicted account's client is rebuilt from the store on its next use, without a token
   * fetch while its stored token is valid, so memory stays bounded with any number of accounts.
   */
  authorizerCacheSize?: number | undefined;
  /**
   * Spreads authorizer token refreshes: at most `maxPerSecond` `api_authorizer_token` calls
   * (across every instance sharing a `RedisStore`, else per process), each authorizer refreshing
   * early at its own point of a `jitterSeconds` window. A call whose token is still valid never
   * waits for a slot; one whose token expired waits at most `maxWaitMs`. Default: no limit.
   * See docs/open-platform.md, "At scale".
   */
  authorizerRefresh?: AuthorizerRefreshOptions | undefined;
  /**
   * The platform's AppSecret, or a provider that reads it (`secretFromEnv`, `secretFromFile`,
   * `secretFrom`): read when first needed, and again once when WeChat refuses it (after a reset).
   * Never logged, never part of a store key.
   */
  componentSecret: SecretInput | undefined;
}

/** With `authorizerRefresh`, a still-valid token is served instead of waiting only if it outlives the wait by this much. */
const EXPIRY_SAFETY_MS = 1000;
/** With `authorizerRefresh`, how far beyond the next free slot deferred refreshes are spread, at most. */
const DEFERRAL_SPREAD_MS = 10_000;

/** Default of {@link OpenPlatformOptions.authorizerCacheSize}. */
export const DEFAULT_AUTHORIZER_CACHE_SIZE = 1000;

/**
 * No component_verify_ticket has been stored yet (or the stored one expired or was refused), so no
 * component_access_token can be fetched (code `VERIFY_TICKET_MISSING`). WeChat pushes a ticket
 * every 10 minutes: make sure the 授权事件接收URL saves it ({@link OpenPlatform.verifyTicketHandler}
 * or {@link OpenPlatform.attachCallback}) in a store every instance shares, and wait for the next push.
 */
export class VerifyTicketMissingError extends ConfigError {
  constructor(message: string) {
    super('VERIFY_TICKET_MISSING', message);
  }
}

/**
 * The account revoked the platform's authorisation (`unauthorized` event, or WeChat refused its
 * refresh token with 61023): its tokens were forgotten and nothing is sent on its behalf (code
 * `AUTHORIZER_REVOKED`). It works again once the account authorises the platform anew (the
 * `authorized` event, or `auth.exchangeCode`).
 */
export class AuthorizerRevokedError extends WeChatKitError {
  readonly authorizerAppId: string;

  constructor(authorizerAppId: string, message: string, options?: { cause?: unknown }) {
    super('AUTHORIZER_REVOKED', message, options);
    this.authorizerAppId = authorizerAppId;
  }
}

/** What {@link OpenPlatform.handleAuthorizationEvent} did with an authorisation event. */
export type AuthorizationEventOutcome =
  | { type: 'authorized' | 'updateauthorized'; authorizerAppId: string; info: AuthorizationInfo }
  | { type: 'unauthorized'; authorizerAppId: string };

/**
 * Your own steps after the platform handled an authorisation event (see
 * {@link OpenPlatform.attachCallback}); they run after the tokens were stored or forgotten.
 */
export interface AuthorizationListeners {
  authorized?: ((info: AuthorizationInfo, event: AuthorizedEvent) => void | Promise<void>) | undefined;
  updateauthorized?: ((info: AuthorizationInfo, event: AuthorizedEvent) => void | Promise<void>) | undefined;
  unauthorized?: ((authorizerAppId: string, event: UnauthorizedEvent) => void | Promise<void>) | undefined;
}

/** Sizes of the in-memory authorizer cache, for metrics. */
export interface AuthorizerCacheStats {
  /** Authorizers whose clients are in memory now (never more than `maxSize`). */
  size: number;
  maxSize: number;
  /** Clients dropped to make room since the platform was created. */
  evictions: number;
}

/** No authorizer_refresh_token is stored for an authorizer: run `auth.exchangeCode` (or `saveRefreshToken`) first. */
export class RefreshTokenMissingError extends ConfigError {}

/** `api_query_auth`'s `authorization_info`; wire names kept. */
export interface AuthorizationInfo {
  authorizer_appid: string;
  authorizer_access_token: string;
  expires_in: number;
  authorizer_refresh_token: string;
  func_info?: Array<{ funcscope_category: { id: number } }>;
}

/** A pre_auth_code (`api_create_preauthcode`): single use, short-lived; wire names kept. */
export interface PreAuthCode {
  pre_auth_code: string;
  /** Seconds. */
  expires_in: number;
}

/** `auth.authorizeUrl` parameters (the PC authorisation page); WeChat's own query names. */
export interface ComponentAuthorizeUrlParams {
  /** From {@link OpenPlatform.auth}`.createPreAuthCode()`; one per link. */
  pre_auth_code: string;
  /** Where WeChat sends the admin back (`auth_code` and `expires_in` in the query). Must be on the platform's 授权回调域. Pass it plain: it is encoded here. */
  redirect_uri: string;
  /**
   * Which accounts the page offers: 1 Official Accounts only, 2 Mini Programs only, 3 both; the
   * newer doc adds 4, 5, 6. Left out: WeChat shows both kinds.
   */
  auth_type?: number | undefined;
  /** Restricts the page to this account. */
  biz_appid?: string | undefined;
}

/** `auth.exchangeCode` parameters (`api_query_auth`): the redirect's `auth_code` or the `authorized` event's `AuthorizationCode`. */
export interface ExchangeAuthorizationCodeParams {
  authorization_code: string;
}

/** One authorised account (公众号 / 小程序) as seen by the platform: its token and a client using it. */
export interface Authorizer {
  readonly appId: string;
  /** A client over the API host whose calls carry this account's authorizer_access_token as `access_token`. */
  readonly client: ApiClient;
  /** The account's authorizer_access_token, refreshed through `api_authorizer_token` as needed. */
  getAccessToken(): Promise<string>;
  /** Calls a WeChat API as this account (on 40001/40014/42001: a fresh token, one retry). */
  request<T = unknown>(method: HttpMethod, path: string, options?: ApiRequestOptions): APIPromise<T>;
}

/** Everything kept in memory for one authorizer: rebuilt from the store when evicted. */
interface AuthorizerEntry {
  readonly appId: string;
  readonly source: AppTokenSource;
  authorizer?: Authorizer;
  officialAccount?: OfficialAccount;
  miniProgram?: AuthorizerMiniProgram;
}

const APPID_SHAPE = /^[A-Za-z0-9_.-]{1,128}$/;
const AUTH_TYPES = new Set([1, 2, 3, 4, 5, 6]);

function requireString(method: string, name: string, value: unknown): string {
  if (typeof value !== 'string' || value === '') {
    throw new ArgumentError(`OpenPlatform.${method}: ${name} must be a non-empty string`);
  }
  return value;
}

function requireAppId(method: string, value: unknown): string {
  const appId = requireString(method, 'authorizerAppId', value);
  if (!APPID_SHAPE.test(appId)) {
    throw new ArgumentError(`OpenPlatform.${method}: authorizerAppId must be an AppID (wx…)`);
  }
  return appId;
}

/**
 * The Open Platform third-party platform (第三方平台) client: keeps the component_verify_ticket,
 * the component_access_token and every authorizer's tokens in the store, so any instance sharing
 * the store (e.g. `RedisStore`) can act after a restart without waiting for the next ticket push.
 *
 * @example
 * const op = new OpenPlatform({ componentAppId, componentSecret, store: new RedisStore(redis) });
 * callback.on('component_verify_ticket', op.verifyTicketHandler());
 * const { pre_auth_code } = await op.auth.createPreAuthCode();
 * const link = op.auth.authorizeUrl({ pre_auth_code, redirect_uri: 'https://example.com/op/back' });
 * // later, with the auth_code of the redirect or of the `authorized` event:
 * const info = await op.auth.exchangeCode({ authorization_code: authCode });
 * const user = await op.authorizer(info.authorizer_appid).request('GET', '/cgi-bin/user/get');
 */
export class OpenPlatform {
  readonly componentAppId: string;
  /** A client whose calls carry `component_access_token` (the component APIs, `/cgi-bin/component/*`). */
  readonly client: ApiClient;
  readonly #options: OpenPlatformOptions;
  readonly #store: TokenStore;
  readonly #transport: Transport;
  readonly #baseUrl: string;
  readonly #now: () => number;
  readonly #ticketKey: string;
  readonly #componentToken: TokenManager;
  readonly #componentSecret: SecretSource;
  readonly #credentials: CredentialSettings;
  readonly #authorizers: LruMap<string, AuthorizerEntry>;
  /** Options for the authorizers' Official Account / Mini Program clients. */
  readonly #appOptions: TokenClientOptions;
  /** The refresh slots of `authorizerRefresh`, when configured. */
  readonly #refreshRate: RefreshRateLimiter | undefined;

  constructor(options: OpenPlatformOptions) {
    checkOptions(
      'OpenPlatform',
      options,
      ['componentAppId', 'componentSecret', 'authorizerCacheSize', 'authorizerRefresh'],
      ['componentAppId'],
    );
    const cacheSize = options.authorizerCacheSize ?? DEFAULT_AUTHORIZER_CACHE_SIZE;
    if (!Number.isSafeInteger(cacheSize) || cacheSize < 1) {
      throw new ConfigError(
        'INVALID_CONFIG',
        'OpenPlatform: authorizerCacheSize must be a whole number of authorizers, at least 1 (default 1000)',
      );
    }
    this.#authorizers = new LruMap(cacheSize);
    this.#componentSecret = requiredSecret('OpenPlatform', 'componentSecret', options.componentSecret);
    this.#options = options;
    // checkOptions made sure it is a non-empty string.
    this.componentAppId = options.componentAppId as string;
    this.#now = options.now ?? Date.now;
    // Ticket, refresh tokens and access tokens must live in one store, even the default one.
    this.#store = options.store ?? new MemoryStore({ now: this.#now });
    this.#transport = transportFrom(options);
    const {
      componentAppId: _id,
      componentSecret: _secret,
      authorizerCacheSize: _size,
      authorizerRefresh: _refresh,
      ...appOptions
    } = options;
    this.#appOptions = { ...appOptions, store: this.#store };
    this.#baseUrl = options.baseUrl ?? 'https://api.weixin.qq.com';
    this.#ticketKey = tokenKey('component_verify_ticket', this.componentAppId);
    const rate = resolveRefreshRate(options.authorizerRefresh);
    this.#refreshRate =
      rate === undefined
        ? undefined
        : new RefreshRateLimiter(
            rate,
            this.#store,
            tokenKey('authorizer_refresh_rate', this.componentAppId),
            this.#now,
            options.scheduler,
          );
    this.#credentials = {
      client: 'OpenPlatform',
      id: this.componentAppId,
      idOption: 'componentAppId',
      secretOption: 'componentSecret',
      console:
        'the Open Platform console (open.weixin.qq.com → 管理中心 → 第三方平台 → 开发资料: AppSecret, 白名单IP)',
    };
    const credentials = this.#credentials;
    // The component's own APIs and token endpoint, under the component's AppID.
    const quotaBreaker = quotaBreakerFrom(options, this.#store, this.componentAppId);
    const bare = new ApiClient({
      baseUrl: this.#baseUrl,
      transport: this.#transport,
      credentials,
      quotaBreaker,
    });
    this.#componentToken = tokenManagerFrom(
      options,
      this.#store,
      tokenKey('component_access_token', this.componentAppId),
      () => this.#fetchComponentToken(bare),
      // After 61005/61006 the ticket is dropped: the next fetch fails here, without asking WeChat,
      // and must succeed as soon as a new ticket is pushed.
      (error) => !(error instanceof WeChatApiError && (error.errcode === 61005 || error.errcode === 61006)),
    );
    this.client = new ApiClient({
      baseUrl: this.#baseUrl,
      transport: this.#transport,
      accessToken: this.#componentToken,
      tokenQueryName: 'component_access_token',
      credentials,
      quotaBreaker,
    });
  }

  /**
   * Persists the latest component_verify_ticket (valid 12 h) in the store, where every instance
   * finds it — also after a restart, before the next push.
   */
  async saveVerifyTicket(ticket: string): Promise<void> {
    const value = requireString('saveVerifyTicket', 'ticket', ticket);
    const expiresAt = this.#now() + VERIFY_TICKET_TTL_MS;
    await this.#store.set(this.#ticketKey, { value, expiresAt, refreshAt: expiresAt }, VERIFY_TICKET_TTL_MS);
  }

  /**
   * A handler for `callback.on('component_verify_ticket', …)`: saves the ticket; returning nothing
   * makes the callback answer `success`, as WeChat expects. A push for another component is refused.
   *
   * @example
   * createWeChatCallback({ appId: componentAppId, token, encodingAESKey, mode: 'safe' })
   *   .on('component_verify_ticket', op.verifyTicketHandler());
   */
  verifyTicketHandler(): (message: ComponentVerifyTicketEvent) => Promise<void> {
    return async (message) => {
      if (message.AppId !== this.componentAppId) {
        throw new ArgumentError(
          `a component_verify_ticket for another component (${message.AppId}) reached the OpenPlatform of ${this.componentAppId}`,
        );
      }
      await this.saveVerifyTicket(message.ComponentVerifyTicket);
    };
  }

  /** The current component_access_token (one fetch for all callers; one instance fetches with a shared store). */
  getComponentAccessToken(): Promise<string> {
    return this.#componentToken.get();
  }

  /**
   * The typed escape hatch for component APIs without a method here: the call carries
   * `component_access_token`. To call an API as an authorised account, use `authorizer(appId).request`.
   *
   * @example
   * const info = await op.request('POST', '/cgi-bin/component/api_get_authorizer_info', {
   *   body: { component_appid: op.componentAppId, authorizer_appid },
   * });
   */
  request<T = unknown>(method: HttpMethod, path: string, options?: ApiRequestOptions): APIPromise<T> {
    return this.client.request<T>(method, path, options);
  }

  /** The authorisation flow (授权流程): pre_auth_code → authorisation link → authorization code → the account's tokens. */
  readonly auth = {
    /**
     * `POST /cgi-bin/component/api_create_preauthcode`: a new pre_auth_code, one per authorisation
     * link (WeChat takes nothing but the component's AppID, filled in here).
     *
     * @example
     * const { pre_auth_code } = await op.auth.createPreAuthCode();
     */
    createPreAuthCode: (options?: RequestOptions): APIPromise<PreAuthCode> =>
      this.client
        .request<{ pre_auth_code: string; expires_in: number }>(
          'POST',
          '/cgi-bin/component/api_create_preauthcode',
          { ...options, body: { component_appid: this.componentAppId } },
        )
        .map((answer) => ({ pre_auth_code: answer.pre_auth_code, expires_in: answer.expires_in })),

    /**
     * The PC authorisation page link (`https://mp.weixin.qq.com/cgi-bin/componentloginpage?…`); no
     * request is sent. It must be opened from a page on the platform's 登录授权的发起页域名.
     *
     * @example
     * const link = op.auth.authorizeUrl({ pre_auth_code, redirect_uri: 'https://example.com/op/back', auth_type: 3 });
     */
    authorizeUrl: (params: ComponentAuthorizeUrlParams): string => {
      const method = 'auth.authorizeUrl';
      const preAuthCode = requireString(method, 'pre_auth_code', params?.pre_auth_code);
      const redirectUri = requireString(method, 'redirect_uri', params.redirect_uri);
      if (!/^https?:\/\/[^/?#]+/i.test(redirectUri)) {
        throw new ArgumentError(`OpenPlatform.${method}: redirect_uri must be an http(s) URL`);
      }
      const query: Array<[string, string]> = [
        ['component_appid', this.componentAppId],
        ['pre_auth_code', preAuthCode],
        ['redirect_uri', redirectUri],
      ];
      if (params.auth_type !== undefined) {
        if (!AUTH_TYPES.has(params.auth_type)) {
          throw new ArgumentError(`OpenPlatform.${method}: auth_type must be 1 to 6`);
        }
        query.push(['auth_type', String(params.auth_type)]);
      }
      if (params.biz_appid !== undefined) {
        query.push(['biz_appid', requireString(method, 'biz_appid', params.biz_appid)]);
      }
      const encoded = query.map(([k, v]) => `${k}=${encodeURIComponent(v)}`).join('&');
      return `https://mp.weixin.qq.com/cgi-bin/componentloginpage?${encoded}`;
    },

    /**
     * `POST /cgi-bin/component/api_query_auth`: exchanges an authorization code (the redirect's
     * `auth_code`, or the `authorized` event's `AuthorizationCode`) for the account's tokens, and
     * stores both: the refresh token (the latest one always wins) and the access token.
     *
     * @example
     * const info = await op.auth.exchangeCode({ authorization_code: query.auth_code });
     * const account = op.authorizer(info.authorizer_appid);
     */
    exchangeCode: (
      params: ExchangeAuthorizationCodeParams,
      options?: RequestOptions,
    ): APIPromise<AuthorizationInfo> =>
      APIPromise.from(async () => {
        const code = requireString('auth.exchangeCode', 'authorization_code', params?.authorization_code);
        const { data: answer, response } = await this.client
          .request<{ authorization_info: AuthorizationInfo }>('POST', '/cgi-bin/component/api_query_auth', {
            ...options,
            body: { component_appid: this.componentAppId, authorization_code: code },
          })
          .withResponse();
        const info = answer.authorization_info;
        const appId = info?.authorizer_appid;
        if (
          typeof appId !== 'string' ||
          !APPID_SHAPE.test(appId) ||
          typeof info.authorizer_refresh_token !== 'string'
        ) {
          throw new WeChatKitError(
            'BAD_RESPONSE',
            'api_query_auth answered without a usable authorization_info',
          );
        }
        await this.saveRefreshToken(appId, info.authorizer_refresh_token);
        if (typeof info.authorizer_access_token === 'string' && info.expires_in > 0) {
          await this.#storeAccessToken(appId, info.authorizer_access_token, info.expires_in);
        }
        return { data: info, response };
      }),
  };

  /**
   * Stores an authorizer_refresh_token obtained elsewhere (e.g. migrated from a database). The
   * platform keeps the latest one it receives in the store from then on.
   */
  async saveRefreshToken(authorizerAppId: string, refreshToken: string): Promise<void> {
    const appId = requireAppId('saveRefreshToken', authorizerAppId);
    const value = requireString('saveRefreshToken', 'refreshToken', refreshToken);
    // A new authorisation lifts a revocation mark.
    const revoked = await this.#store.get(this.#revokedKey(appId));
    if (revoked !== undefined) await this.#store.compareAndDelete(this.#revokedKey(appId), revoked.value);
    await this.#writeRefreshToken(appId, value);
  }

  async #writeRefreshToken(appId: string, value: string): Promise<void> {
    const expiresAt = this.#now() + AUTHORIZER_REFRESH_TOKEN_TTL_MS;
    await this.#store.set(
      this.#refreshKey(appId),
      { value, expiresAt, refreshAt: expiresAt },
      AUTHORIZER_REFRESH_TOKEN_TTL_MS,
    );
  }

  /** The stored authorizer_refresh_token of an account, if any. */
  async getRefreshToken(authorizerAppId: string): Promise<string | undefined> {
    const appId = requireAppId('getRefreshToken', authorizerAppId);
    return (await this.#store.get(this.#refreshKey(appId)))?.value;
  }

  /**
   * An authorised account: its authorizer_access_token (refreshed with the latest stored refresh
   * token) and a client that calls WeChat APIs as that account. For typed APIs use
   * {@link officialAccount} or {@link miniProgram}.
   */
  authorizer(authorizerAppId: string): Authorizer {
    const entry = this.#entry(requireAppId('authorizer', authorizerAppId));
    if (entry.authorizer === undefined) {
      const { accessToken } = entry.source;
      const client = new ApiClient({
        baseUrl: this.#baseUrl,
        transport: this.#transport,
        accessToken,
        credentials: this.#credentials,
        quotaBreaker: entry.source.quotaBreaker,
      });
      entry.authorizer = {
        appId: entry.appId,
        client,
        getAccessToken: () => accessToken.get(),
        request: <T>(method: HttpMethod, path: string, options?: ApiRequestOptions) =>
          client.request<T>(method, path, options),
      };
    }
    return entry.authorizer;
  }

  /**
   * The typed {@link OfficialAccount} client of an authorised Official Account: every resource
   * (users, menus, templates, media, QR codes, JS-SDK, …) called with its authorizer_access_token;
   * web OAuth goes through the platform (代公众号发起网页授权: `component_appid` in the
   * authorisation URL, `sns/oauth2/component/access_token`). No AppSecret of the account is needed.
   *
   * @example
   * const oa = op.officialAccount('wx1234567890abcdef');
   * await oa.menus.create({ button: [{ type: 'click', name: '今日', key: 'TODAY' }] });
   * const config = await oa.jssdk.config({ url: pageUrl });
   */
  officialAccount(authorizerAppId: string): OfficialAccount {
    const entry = this.#entry(requireAppId('officialAccount', authorizerAppId));
    entry.officialAccount ??= new OfficialAccount({
      ...this.#appOptions,
      appId: entry.appId,
      secret: undefined,
      [APP_TOKEN_SOURCE]: entry.source,
    } as OfficialAccountOptions);
    return entry.officialAccount;
  }

  /**
   * The typed {@link MiniProgram} client of an authorised Mini Program, acting with its
   * authorizer_access_token (login through `sns/component/jscode2session`), plus the management
   * only a platform has: `code` (commit → submit_audit → release) and `domains` (modify_domain).
   *
   * @example
   * const mp = op.miniProgram('wx1234567890abcdef');
   * await mp.code.commit({ template_id: '1', ext_json: { extAppid: mp.appId }, user_version: 'v1.0.0', user_desc: 'first' });
   * const { auditid } = await mp.code.submitAudit();
   */
  miniProgram(authorizerAppId: string): AuthorizerMiniProgram {
    const entry = this.#entry(requireAppId('miniProgram', authorizerAppId));
    entry.miniProgram ??= new AuthorizerMiniProgram({
      ...this.#appOptions,
      appId: entry.appId,
      secret: undefined,
      [APP_TOKEN_SOURCE]: entry.source,
    } as MiniProgramOptions);
    return entry.miniProgram;
  }

  /** How many authorizers' clients are in memory, out of how many allowed. */
  authorizerCacheStats(): AuthorizerCacheStats {
    const cache = this.#authorizers;
    return { size: cache.size, maxSize: cache.maxSize, evictions: cache.evictions };
  }

  /**
   * Forgets an account that revoked the platform's authorisation: its refresh token, access token
   * and JS-SDK tickets leave the store (so every instance sharing it stops too), its clients leave
   * this process, and a revocation mark stays, so a later call on its behalf fails with
   * {@link AuthorizerRevokedError} (`AUTHORIZER_REVOKED`) without reaching WeChat. A new
   * authorisation (`auth.exchangeCode`) lifts the mark. `handleAuthorizationEvent` calls this on
   * `unauthorized`.
   */
  async forgetAuthorizer(authorizerAppId: string): Promise<void> {
    const appId = requireAppId('forgetAuthorizer', authorizerAppId);
    const expiresAt = this.#now() + AUTHORIZER_REFRESH_TOKEN_TTL_MS;
    // The mark first: a peer refreshing right now finds it before asking WeChat.
    await this.#store.set(
      this.#revokedKey(appId),
      { value: String(this.#now()), expiresAt, refreshAt: expiresAt },
      AUTHORIZER_REFRESH_TOKEN_TTL_MS,
    );
    const entry = this.#authorizers.get(appId);
    this.#authorizers.delete(appId);
    const keys = [
      this.#refreshKey(appId),
      this.#accessKey(appId),
      this.#validKey(appId),
      this.#ticketKeyOf(appId, 'jsapi'),
      this.#ticketKeyOf(appId, 'wx_card'),
    ];
    for (const key of keys) {
      const stored = await this.#store.get(key);
      if (stored === undefined) continue;
      await this.#store.compareAndDelete(key, stored.value);
      // A token manager's own fallback copy (onStoreUnavailable: 'local') goes too.
      if (key === keys[1]) await entry?.source.accessToken.invalidate(stored.value);
    }
  }

  /**
   * Acts on an authorisation event of the 授权事件接收URL: `authorized` and `updateauthorized`
   * exchange the event's AuthorizationCode (`api_query_auth`) and store the account's refresh and
   * access tokens; `unauthorized` forgets the account ({@link forgetAuthorizer}). An event for
   * another component is refused.
   *
   * @example
   * callback.on('unauthorized', async (event) => { await op.handleAuthorizationEvent(event); });
   */
  async handleAuthorizationEvent(
    event: AuthorizedEvent | UnauthorizedEvent,
  ): Promise<AuthorizationEventOutcome> {
    if (event?.AppId !== this.componentAppId) {
      throw new ArgumentError(
        `an authorisation event for another component (${String(event?.AppId)}) reached the OpenPlatform of ${this.componentAppId}`,
      );
    }
    const appId = requireAppId('handleAuthorizationEvent', event.AuthorizerAppid);
    if (event.InfoType === 'unauthorized') {
      await this.forgetAuthorizer(appId);
      return { type: 'unauthorized', authorizerAppId: appId };
    }
    if (event.InfoType !== 'authorized' && event.InfoType !== 'updateauthorized') {
      throw new ArgumentError(
        `handleAuthorizationEvent: InfoType must be authorized, updateauthorized or unauthorized (got ${String((event as { InfoType?: unknown }).InfoType)})`,
      );
    }
    const info = await this.auth.exchangeCode({ authorization_code: event.AuthorizationCode });
    if (info.authorizer_appid !== appId) {
      throw new WeChatKitError(
        'BAD_RESPONSE',
        `api_query_auth answered for ${info.authorizer_appid}, but the event was for ${appId}`,
      );
    }
    return { type: event.InfoType, authorizerAppId: appId, info };
  }

  /**
   * Wires the platform onto the callback of its 授权事件接收URL in one line: the
   * component_verify_ticket is stored, `authorized` / `updateauthorized` store the account's tokens,
   * `unauthorized` forgets them everywhere; `listeners` then run your own steps. Every handler
   * answers `success`.
   *
   * @example
   * const events = createWeChatCallback({ appId: componentAppId, token, encodingAESKey, mode: 'safe' });
   * op.attachCallback(events, { authorized: (info) => accounts.add(info.authorizer_appid) });
   */
  attachCallback(callback: WeChatCallback, listeners: AuthorizationListeners = {}): WeChatCallback {
    for (const key of Object.keys(listeners)) {
      if (key !== 'authorized' && key !== 'updateauthorized' && key !== 'unauthorized') {
        throw new ArgumentError(
          `attachCallback: unknown listener "${key}" (allowed: authorized, updateauthorized, unauthorized)`,
        );
      }
    }
    const granted = async (event: AuthorizedEvent) => {
      const outcome = await this.handleAuthorizationEvent(event);
      if (outcome.type === 'unauthorized') return;
      await listeners[outcome.type]?.(outcome.info, event);
    };
    callback
      .on('component_verify_ticket', this.verifyTicketHandler())
      .on('authorized', granted)
      .on('updateauthorized', granted)
      .on('unauthorized', async (event) => {
        await this.handleAuthorizationEvent(event);
        await listeners.unauthorized?.(event.AuthorizerAppid, event);
      });
    return callback;
  }

  /** The cached entry of an authorizer, or a new one (its token manager reads the shared store). */
  #entry(appId: string): AuthorizerEntry {
    const known = this.#authorizers.get(appId);
    if (known !== undefined) return known;
    const tokenOptions =
      this.#refreshRate === undefined
        ? this.#options
        : { ...this.#options, refreshMarginSeconds: this.#marginMsOf(appId) / 1000 };
    const accessToken = tokenManagerFrom(tokenOptions, this.#store, this.#accessKey(appId), () =>
      this.#refreshAuthorizerToken(appId),
    );
    const entry: AuthorizerEntry = {
      appId,
      source: {
        accessToken,
        transport: this.#transport,
        credentials: this.#credentials,
        // Calls made on an authorizer's behalf count against the authorizer account's quota.
        quotaBreaker: quotaBreakerFrom(this.#options, this.#store, appId),
        ticketKey: (type) => this.#ticketKeyOf(appId, type),
        component: { appId: this.componentAppId, accessToken: () => this.#componentToken.get() },
      },
    };
    this.#authorizers.set(appId, entry);
    return entry;
  }

  async #fetchComponentToken(bare: ApiClient): Promise<{ value: string; expiresIn: number }> {
    const ticket = (await this.#store.get(this.#ticketKey))?.value;
    if (ticket === undefined) {
      throw new VerifyTicketMissingError(
        `OpenPlatform ${this.componentAppId}: no component_verify_ticket stored yet, so no component_access_token can be fetched. ` +
          'WeChat pushes one every 10 minutes to the 授权事件接收URL: save it with verifyTicketHandler() (or saveVerifyTicket) ' +
          'in a store every instance shares, and wait for the next push (at most 10 minutes).',
      );
    }
    // A refused componentSecret from a provider is read again once, and with a new value the
    // request is made once more (asking again with the same ticket is harmless).
    return this.#componentSecret.use(async (secret) => {
      try {
        const answer = await bare.request<{ component_access_token: string; expires_in: number }>(
          'POST',
          '/cgi-bin/component/api_component_token',
          {
            auth: false,
            // Asking again with the same ticket is harmless.
            idempotent: true,
            body: {
              component_appid: this.componentAppId,
              component_appsecret: secret,
              component_verify_ticket: ticket,
            },
          },
        );
        return { value: answer.component_access_token, expiresIn: answer.expires_in };
      } catch (error) {
        // 61005 expired / 61006 invalid ticket: drop it (unless a newer one arrived meanwhile), so the
        // next callers get the clear "wait for the next push" error instead of asking WeChat again.
        if (error instanceof WeChatApiError && (error.errcode === 61005 || error.errcode === 61006)) {
          await this.#store.compareAndDelete(this.#ticketKey, ticket);
        }
        throw credentialErrorOf(error, this.#credentials, 'token');
      }
    }, isSecretRefusal);
  }

  async #refreshAuthorizerToken(appId: string): Promise<{ value: string; expiresIn: number }> {
    const refreshToken = (await this.#store.get(this.#refreshKey(appId)))?.value;
    if (refreshToken === undefined && (await this.#store.get(this.#revokedKey(appId))) !== undefined) {
      throw new AuthorizerRevokedError(
        appId,
        `OpenPlatform ${this.componentAppId}: ${appId} revoked its authorisation (unauthorized), so nothing is sent on its behalf; ` +
          'it works again after the account authorises the platform anew (the authorized event, or auth.exchangeCode)',
      );
    }
    if (refreshToken === undefined) {
      throw new RefreshTokenMissingError(
        'INVALID_CONFIG',
        `OpenPlatform ${this.componentAppId}: no authorizer_refresh_token stored for ${appId}: ` +
          'call auth.exchangeCode() with the authorization code of its authorisation, or saveRefreshToken()',
      );
    }
    if (this.#refreshRate !== undefined) {
      // The component token first, so the slot is spent right before the request.
      await this.#componentToken.get();
      const deferred = await this.#refreshSlot(appId, this.#refreshRate);
      if (deferred !== undefined) return deferred;
    }
    let answer: { authorizer_access_token: string; expires_in: number; authorizer_refresh_token?: string };
    try {
      answer = await this.client.request<typeof answer>('POST', '/cgi-bin/component/api_authorizer_token', {
        body: {
          component_appid: this.componentAppId,
          authorizer_appid: appId,
          authorizer_refresh_token: refreshToken,
        },
      });
    } catch (error) {
      // 61023: the refresh token is no longer valid — the account revoked the authorisation (an
      // unauthorized push this platform missed) or re-authorised (a newer token exists elsewhere).
      if (error instanceof WeChatApiError && error.errcode === 61023) {
        throw new AuthorizerRevokedError(
          appId,
          `OpenPlatform ${this.componentAppId}: WeChat refused the stored authorizer_refresh_token of ${appId} (61023): ` +
            'the account revoked the authorisation, or re-authorised and a newer refresh token was not stored; ' +
            'it works again once the authorized event (or auth.exchangeCode) stores a new one',
          { cause: error },
        );
      }
      throw error;
    }
    // Always keep the refresh token WeChat answers with: an older one may stop working.
    if (typeof answer.authorizer_refresh_token === 'string' && answer.authorizer_refresh_token !== '') {
      await this.#writeRefreshToken(appId, answer.authorizer_refresh_token);
    }
    await this.#keepValidCopy(appId, answer.authorizer_access_token, answer.expires_in);
    return { value: answer.authorizer_access_token, expiresIn: answer.expires_in };
  }

  /**
   * Takes a refresh slot. None free and the current token still valid for a while: answers that
   * token, to be served until a slot may free (the caller never waits). Token expired: waits for a
   * slot, at most `maxWaitMs` (then `AUTHORIZER_REFRESH_TIMEOUT`).
   */
  async #refreshSlot(
    appId: string,
    limiter: RefreshRateLimiter,
  ): Promise<{ value: string; expiresIn: number; refreshInMs: number } | undefined> {
    const waitMs = await limiter.tryTake();
    if (waitMs === 0) return undefined;
    const valid = await this.#store.get(this.#validKey(appId));
    const now = this.#now();
    const leftMs = valid === undefined ? 0 : valid.expiresAt - now;
    // Before the copy's refresh point the token manager asks only because the token was dropped
    // (WeChat refused it: 40001/42001): that one is never served again.
    if (valid !== undefined && now >= valid.refreshAt && leftMs > waitMs + EXPIRY_SAFETY_MS) {
      // Retry once a slot may free, spread by AppID so a backlog of thousands does not retry in
      // the same window (each retry costs store round trips), and well before expiry.
      const spreadMs = Math.min((leftMs - waitMs) / 4, DEFERRAL_SPREAD_MS);
      const refreshInMs = waitMs + Math.floor(appIdShare(`${appId}:retry`) * spreadMs);
      await this.#store.set(
        this.#validKey(appId),
        { value: valid.value, expiresAt: valid.expiresAt, refreshAt: now + refreshInMs },
        leftMs,
      );
      return { value: valid.value, expiresIn: leftMs / 1000, refreshInMs };
    }
    await limiter.take(appId);
    return undefined;
  }

  /**
   * With `authorizerRefresh`, the current token is also kept until it expires (the token manager's
   * copy leaves the store at its refresh point), so it can still be served while no slot is free.
   */
  async #keepValidCopy(appId: string, value: string, expiresIn: number): Promise<void> {
    if (this.#refreshRate === undefined) return;
    const now = this.#now();
    const lifetimeMs = expiresIn * 1000;
    // The refresh point the token manager gives it (see #storeAccessToken).
    const refreshAt = now + Math.floor(lifetimeMs - Math.min(this.#marginMsOf(appId), lifetimeMs / 2));
    await this.#store.set(
      this.#validKey(appId),
      { value, expiresAt: now + lifetimeMs, refreshAt },
      lifetimeMs,
    );
  }

  /** How early an authorizer's token is refreshed: the margin, plus its share of the jitter window. */
  #marginMsOf(appId: string): number {
    const base = (this.#options.refreshMarginSeconds ?? 300) * 1000;
    const jitter = this.#refreshRate?.settings.jitterSeconds ?? 0;
    return base + Math.floor(appIdShare(appId) * jitter * 1000);
  }

  /** Stores an access token got from api_query_auth the way the token manager would. */
  async #storeAccessToken(appId: string, value: string, expiresIn: number): Promise<void> {
    const now = this.#now();
    const lifetimeMs = expiresIn * 1000;
    const marginMs = Math.min(this.#marginMsOf(appId), lifetimeMs / 2);
    const ttlMs = Math.floor(lifetimeMs - marginMs);
    await this.#keepValidCopy(appId, value, expiresIn);
    if (ttlMs <= 0) return;
    await this.#store.set(
      this.#accessKey(appId),
      { value, expiresAt: now + lifetimeMs, refreshAt: now + ttlMs },
      ttlMs,
    );
  }

  #refreshKey(appId: string): string {
    return tokenKey('authorizer_refresh_token', this.componentAppId, appId);
  }

  #accessKey(appId: string): string {
    return tokenKey('authorizer_access_token', this.componentAppId, appId);
  }

  #validKey(appId: string): string {
    return tokenKey('authorizer_access_token_valid', this.componentAppId, appId);
  }

  #revokedKey(appId: string): string {
    return tokenKey('authorizer_revoked', this.componentAppId, appId);
  }

  #ticketKeyOf(appId: string, type: 'jsapi' | 'wx_card'): string {
    return tokenKey(
      type === 'jsapi' ? 'authorizer_jsapi_ticket' : 'authorizer_wx_card_ticket',
      this.componentAppId,
      appId,
    );
  }
}
