import type { ComponentVerifyTicketEvent } from '../callbacks/messages.js';
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
import { tokenKey } from '../internal/store-keys.js';

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
   * The platform's AppSecret, or a provider that reads it (`secretFromEnv`, `secretFromFile`,
   * `secretFrom`): read when first needed, and again once when WeChat refuses it (after a reset).
   * Never logged, never part of a store key.
   */
  componentSecret: SecretInput | undefined;
}

/**
 * No component_verify_ticket has been stored yet (or the stored one expired or was refused), so no
 * component_access_token can be fetched. WeChat pushes a ticket every 10 minutes: make sure the
 * 授权事件接收URL saves it ({@link OpenPlatform.verifyTicketHandler}) and wait for the next push.
 */
export class VerifyTicketMissingError extends ConfigError {}

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
  readonly #authorizers = new Map<string, Authorizer>();

  constructor(options: OpenPlatformOptions) {
    checkOptions('OpenPlatform', options, ['componentAppId', 'componentSecret'], ['componentAppId']);
    this.#componentSecret = requiredSecret('OpenPlatform', 'componentSecret', options.componentSecret);
    this.#options = options;
    // checkOptions made sure it is a non-empty string.
    this.componentAppId = options.componentAppId as string;
    this.#now = options.now ?? Date.now;
    // Ticket, refresh tokens and access tokens must live in one store, even the default one.
    this.#store = options.store ?? new MemoryStore({ now: this.#now });
    this.#transport = transportFrom(options);
    this.#baseUrl = options.baseUrl ?? 'https://api.weixin.qq.com';
    this.#ticketKey = tokenKey('component_verify_ticket', this.componentAppId);
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
   * token) and a client that calls WeChat APIs as that account.
   */
  authorizer(authorizerAppId: string): Authorizer {
    const appId = requireAppId('authorizer', authorizerAppId);
    const known = this.#authorizers.get(appId);
    if (known !== undefined) return known;
    const accessToken = tokenManagerFrom(this.#options, this.#store, this.#accessKey(appId), () =>
      this.#refreshAuthorizerToken(appId),
    );
    const client = new ApiClient({
      baseUrl: this.#baseUrl,
      transport: this.#transport,
      accessToken,
      credentials: this.#credentials,
      // Calls made on an authorizer's behalf count against the authorizer account's quota.
      quotaBreaker: quotaBreakerFrom(this.#options, this.#store, appId),
    });
    const authorizer: Authorizer = {
      appId,
      client,
      getAccessToken: () => accessToken.get(),
      request: <T>(method: HttpMethod, path: string, options?: ApiRequestOptions) =>
        client.request<T>(method, path, options),
    };
    this.#authorizers.set(appId, authorizer);
    return authorizer;
  }

  async #fetchComponentToken(bare: ApiClient): Promise<{ value: string; expiresIn: number }> {
    const ticket = (await this.#store.get(this.#ticketKey))?.value;
    if (ticket === undefined) {
      throw new VerifyTicketMissingError(
        'INVALID_CONFIG',
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
    if (refreshToken === undefined) {
      throw new RefreshTokenMissingError(
        'INVALID_CONFIG',
        `OpenPlatform ${this.componentAppId}: no authorizer_refresh_token stored for ${appId}: ` +
          'call auth.exchangeCode() with the authorization code of its authorisation, or saveRefreshToken()',
      );
    }
    const answer = await this.client.request<{
      authorizer_access_token: string;
      expires_in: number;
      authorizer_refresh_token?: string;
    }>('POST', '/cgi-bin/component/api_authorizer_token', {
      body: {
        component_appid: this.componentAppId,
        authorizer_appid: appId,
        authorizer_refresh_token: refreshToken,
      },
    });
    // Always keep the refresh token WeChat answers with: an older one may stop working.
    if (typeof answer.authorizer_refresh_token === 'string' && answer.authorizer_refresh_token !== '') {
      await this.saveRefreshToken(appId, answer.authorizer_refresh_token);
    }
    return { value: answer.authorizer_access_token, expiresIn: answer.expires_in };
  }

  /** Stores an access token got from api_query_auth the way the token manager would. */
  async #storeAccessToken(appId: string, value: string, expiresIn: number): Promise<void> {
    const now = this.#now();
    const lifetimeMs = expiresIn * 1000;
    const marginMs = Math.min((this.#options.refreshMarginSeconds ?? 300) * 1000, lifetimeMs / 2);
    const ttlMs = Math.floor(lifetimeMs - marginMs);
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
}
