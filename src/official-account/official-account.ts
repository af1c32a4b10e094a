import type { ApiClient, ApiRequestOptions, RequestOptions } from '../core/api-client.js';
import { APIPromise } from '../core/api-promise.js';
import { appClient, tokenManagerFrom } from '../core/build-client.js';
import type { TokenClientOptions } from '../core/client-options.js';
import { type WeChatNetwork, wechatNetwork } from '../core/network.js';
import type { SecretInput } from '../core/secret-provider.js';
import type { SecretSource } from '../core/secret-source.js';
import type { HttpMethod } from '../core/transport.js';
import { isSecretRefusal } from '../credentials/credential-errors.js';
import type { TokenManager } from '../credentials/token-manager.js';
import { buildJsSdkConfig, type JsSdkConfig } from '../crypto/jssdk.js';
import { ArgumentError } from '../errors.js';
import { type AppTokenSource, appTokenSourceOf } from '../internal/app-token-source.js';
import { byteLength } from '../internal/bytes.js';
import { tokenKey } from '../internal/store-keys.js';

/**
 * Options of {@link OfficialAccount}. Unknown keys are rejected. `appId` and `secret` take
 * `string | undefined` so that `process.env.X` can be passed as is; a missing one is refused when
 * the client is built, naming the variable to set.
 */
export interface OfficialAccountOptions extends TokenClientOptions {
  appId: string | undefined;
  /**
   * The AppSecret, or a provider that reads it (`secretFromEnv`, `secretFromFile`, `secretFrom`):
   * read when first needed, and again once when WeChat refuses it (after a reset). Never logged,
   * never part of a store key.
   */
  secret: SecretInput | undefined;
  /**
   * `stable` (default): `cgi-bin/stable_token`, which returns the current token and never
   * invalidates other holders. `classic`: `cgi-bin/token`, where each call replaces the previous token.
   */
  tokenMode?: 'stable' | 'classic' | undefined;
}

/** The languages of user profiles (`lang`). */
export type UserLang = 'zh_CN' | 'zh_TW' | 'en';
/** A follower's profile (`cgi-bin/user/info`); wire names kept. */
export interface UserInfo {
  subscribe: number;
  openid: string;
  language?: string;
  subscribe_time?: number;
  unionid?: string;
  remark?: string;
  groupid?: number;
  tagid_list?: number[];
  subscribe_scene?: string;
  qr_scene?: number;
  qr_scene_str?: string;
}

/** A menu button (`cgi-bin/menu/create`). */
export interface MenuButton {
  type?:
    | 'click'
    | 'view'
    | 'miniprogram'
    | 'scancode_push'
    | 'scancode_waitmsg'
    | 'pic_sysphoto'
    | 'pic_photo_or_album'
    | 'pic_weixin'
    | 'location_select'
    | 'media_id'
    | 'article_id'
    | 'article_view_limited';
  name: string;
  key?: string;
  url?: string;
  appid?: string;
  pagepath?: string;
  media_id?: string;
  article_id?: string;
  sub_button?: MenuButton[];
}

/** `cgi-bin/message/template/send` body; wire names kept. */
export interface TemplateMessage {
  touser: string;
  template_id: string;
  url?: string;
  miniprogram?: { appid: string; pagepath?: string };
  data: Record<string, { value: string }>;
  client_msg_id?: string;
}

/** A file to upload. */
export interface UploadFile {
  data: Uint8Array;
  filename: string;
  contentType: string;
}

/** `users.get` parameters (`cgi-bin/user/info`); `lang` defaults to `zh_CN`. */
export interface GetUserParams {
  openid: string;
  lang?: UserLang | undefined;
}

/** `users.batchGet` parameters (`cgi-bin/user/info/batchget`, ≤ 100 users); each `lang` defaults to `zh_CN`. */
export interface BatchGetUsersParams {
  user_list: Array<{ openid: string; lang?: UserLang | undefined }>;
}

/** `users.list` parameters (`cgi-bin/user/get`): leave `next_openid` out for the first page. */
export interface ListUsersParams {
  next_openid?: string | undefined;
}

/** One page of followers (`cgi-bin/user/get`); wire names kept. */
export interface UserListPage {
  total: number;
  count: number;
  data?: { openid: string[] };
  next_openid: string;
}

/** `menus.create` parameters (`cgi-bin/menu/create`). */
export interface CreateMenuParams {
  button: MenuButton[];
}

/** `cgi-bin/message/custom/send` body (客服消息), e.g. `{ touser, msgtype: 'text', text: { content } }`. */
export interface CustomMessage {
  touser: string;
  msgtype: string;
  [field: string]: unknown;
}

/** `media.upload` parameters (`cgi-bin/media/upload`): the media `type` and the file sent as the multipart field `media`. */
export interface UploadMediaParams {
  type: 'image' | 'voice' | 'video' | 'thumb';
  media: UploadFile;
}

/** `media.get` / `media.stream` parameters (`cgi-bin/media/get`). */
export interface GetMediaParams {
  media_id: string;
}

/** A QR code's scene: a number (`scene_id`) or a string (`scene_str`, 1–64 characters). */
export type QrcodeScene =
  | { scene_id: number; scene_str?: undefined }
  | { scene_str: string; scene_id?: undefined };

/** `cgi-bin/qrcode/create` body; wire names kept. */
export interface CreateQrcodeParams {
  action_name: 'QR_SCENE' | 'QR_STR_SCENE' | 'QR_LIMIT_SCENE' | 'QR_LIMIT_STR_SCENE';
  /** Temporary codes only: lifetime in seconds, at most 2 592 000 (30 days). */
  expire_seconds?: number | undefined;
  action_info: { scene: QrcodeScene };
}

/** `cgi-bin/qrcode/create` answer (`expire_seconds` only for temporary codes). */
export interface QrcodeTicket {
  ticket: string;
  expire_seconds?: number;
  url: string;
}

/** `auth.authorizeUrl` parameters (网页授权); WeChat's own query names. */
export interface OAuthAuthorizeUrlParams {
  /** Where WeChat sends the user back with `code` and `state`. Pass it plain: it is encoded here. */
  redirect_uri: string;
  scope: 'snsapi_base' | 'snsapi_userinfo';
  /** Up to 128 bytes; should come from `createOAuthState` (CSRF). */
  state: string;
  forcePopup?: boolean | undefined;
}

/** `auth.userInfo` parameters (`sns/userinfo`): the USER's access token from `auth.exchangeCode`. */
export interface OAuthUserInfoParams {
  access_token: string;
  openid: string;
  lang?: UserLang | undefined;
}

/** `(errcode, errmsg)` of a write that answers nothing else. */
export interface WeChatOk {
  errcode: number;
  errmsg: string;
}

/**
 * The Official Account (公众号) client: typed methods over one small client, tokens shared
 * through the store, a typed `request()` escape hatch. Every API method is
 * `method(params, options?)` and returns an {@link APIPromise}.
 *
 * @example
 * const oa = new OfficialAccount({ appId: process.env.WX_APPID, secret: process.env.WX_SECRET, store: new RedisStore(redis) });
 * const user = await oa.users.get({ openid: 'oUpF8uMuAJO_M2pxb1Q9zNjWeS6o' });
 */
export class OfficialAccount {
  readonly appId: string;
  readonly client: ApiClient;
  readonly #accessToken: TokenManager;
  readonly #jsapiTicket: TokenManager;
  readonly #cardTicket: TokenManager;
  readonly #options: OfficialAccountOptions;
  readonly #secret: SecretSource;
  /** Set when this client acts for an Open Platform authorizer (OAuth goes through the component). */
  readonly #component: AppTokenSource['component'] | undefined;

  constructor(options: OfficialAccountOptions) {
    // appClient checks that appId is a non-empty string and secret one or a provider.
    const { client, accessToken, secret } = appClient('OfficialAccount', options as AppClientOptions, []);
    this.#options = options;
    this.appId = options.appId as string;
    this.#secret = secret;
    this.client = client;
    this.#accessToken = accessToken;
    const source = appTokenSourceOf(options);
    this.#component = source?.component;
    const ticket = (type: 'jsapi' | 'wx_card') => async () => {
      const answer = await this.client.request<{ ticket: string; expires_in: number }>(
        'GET',
        '/cgi-bin/ticket/getticket',
        {
          query: { type },
        },
      );
      return { value: answer.ticket, expiresIn: answer.expires_in };
    };
    this.#jsapiTicket = tokenManagerFrom(
      options,
      options.store,
      source?.ticketKey('jsapi') ?? tokenKey('jsapi_ticket', this.appId),
      ticket('jsapi'),
    );
    this.#cardTicket = tokenManagerFrom(
      options,
      options.store,
      source?.ticketKey('wx_card') ?? tokenKey('wx_card_ticket', this.appId),
      ticket('wx_card'),
    );
  }

  /** The current access_token, fetched once and shared by every caller (and instance, with a shared store). */
  getAccessToken(): Promise<string> {
    return this.#accessToken.get();
  }

  /** The current jsapi_ticket (same lifecycle as the token). */
  getJsapiTicket(): Promise<string> {
    return this.#jsapiTicket.get();
  }

  /** The current wx_card api_ticket (卡券), for `cardSignature`. */
  getCardTicket(): Promise<string> {
    return this.#cardTicket.get();
  }

  /**
   * The typed escape hatch for any API without a method here.
   *
   * @example
   * await oa.request('POST', '/cgi-bin/tags/create', { body: { tag: { name: 'vip' } } });
   */
  request<T = unknown>(method: HttpMethod, path: string, options?: ApiRequestOptions): APIPromise<T> {
    return this.client.request<T>(method, path, options);
  }

  /** WeChat's server addresses (`getcallbackip`, `get_api_domain_ip`) and the callback URL check (`callback/check`). */
  readonly network: WeChatNetwork = wechatNetwork(() => this.client);

  readonly users = {
    /**
     * `GET /cgi-bin/user/info`: one follower's profile.
     *
     * @example
     * const user = await oa.users.get({ openid, lang: 'en' });
     */
    get: (params: GetUserParams, options?: RequestOptions): APIPromise<UserInfo> =>
      this.client.request<UserInfo>('GET', '/cgi-bin/user/info', {
        ...options,
        query: { openid: params.openid, lang: params.lang ?? 'zh_CN' },
      }),
    /**
     * `POST /cgi-bin/user/info/batchget` (≤ 100 users).
     *
     * @example
     * const { user_info_list } = await oa.users.batchGet({ user_list: [{ openid: a }, { openid: b }] });
     */
    batchGet: (
      params: BatchGetUsersParams,
      options?: RequestOptions,
    ): APIPromise<{ user_info_list: UserInfo[] }> =>
      this.client.request<{ user_info_list: UserInfo[] }>('POST', '/cgi-bin/user/info/batchget', {
        ...options,
        idempotent: options?.idempotent ?? true,
        body: {
          user_list: params.user_list.map((user) => ({ openid: user.openid, lang: user.lang ?? 'zh_CN' })),
        },
      }),
    /**
     * `GET /cgi-bin/user/get`: followers, 10 000 per page; pass the page's `next_openid` to continue.
     *
     * @example
     * const page = await oa.users.list();
     * const next = await oa.users.list({ next_openid: page.next_openid });
     */
    list: (params: ListUsersParams = {}, options?: RequestOptions): APIPromise<UserListPage> =>
      this.client.request<UserListPage>('GET', '/cgi-bin/user/get', {
        ...options,
        query: { next_openid: params.next_openid ?? '' },
      }),
  };

  readonly menus = {
    /**
     * `POST /cgi-bin/menu/create`: replaces the custom menu.
     *
     * @example
     * await oa.menus.create({ button: [{ type: 'click', name: '今日歌曲', key: 'V1001_TODAY_MUSIC' }] });
     */
    create: (params: CreateMenuParams, options?: RequestOptions): APIPromise<WeChatOk> =>
      this.client.request<WeChatOk>('POST', '/cgi-bin/menu/create', {
        ...options,
        idempotent: options?.idempotent ?? true,
        body: { button: params.button },
      }),
    /**
     * `GET /cgi-bin/menu/get` (WeChat takes no parameters).
     *
     * @example
     * const { menu } = await oa.menus.get();
     */
    get: (options?: RequestOptions): APIPromise<{ menu: { button: MenuButton[] } }> =>
      this.client.request<{ menu: { button: MenuButton[] } }>('GET', '/cgi-bin/menu/get', { ...options }),
    /**
     * `GET /cgi-bin/menu/delete` (WeChat takes no parameters).
     *
     * @example
     * await oa.menus.delete();
     */
    delete: (options?: RequestOptions): APIPromise<WeChatOk> =>
      this.client.request<WeChatOk>('GET', '/cgi-bin/menu/delete', { ...options }),
  };

  readonly templates = {
    /**
     * `POST /cgi-bin/message/template/send` → `{ msgid }`. Not retried after a network error (it
     * could send twice) unless you pass `idempotent: true` with a `client_msg_id`.
     *
     * @example
     * await oa.templates.send({ touser: openid, template_id, data: { thing1: { value: '已发货' } } });
     */
    send: (message: TemplateMessage, options?: RequestOptions): APIPromise<WeChatOk & { msgid: number }> =>
      this.client.request<WeChatOk & { msgid: number }>('POST', '/cgi-bin/message/template/send', {
        ...options,
        body: message,
      }),
  };

  readonly customMessages = {
    /**
     * `POST /cgi-bin/message/custom/send` (客服消息, within 48 hours of the user's last message).
     * Not retried after a network error (it could send twice).
     *
     * @example
     * await oa.customMessages.send({ touser: openid, msgtype: 'text', text: { content: '你好' } });
     */
    send: (message: CustomMessage, options?: RequestOptions): APIPromise<WeChatOk> =>
      this.client.request<WeChatOk>('POST', '/cgi-bin/message/custom/send', {
        ...options,
        body: message,
      }),
  };

  readonly media = {
    /**
     * `POST /cgi-bin/media/upload`: a temporary media file (kept 3 days), sent as the multipart field `media`.
     *
     * @example
     * const { media_id } = await oa.media.upload({ type: 'image', media: { data, filename: 'a.jpg', contentType: 'image/jpeg' } });
     */
    upload: (
      params: UploadMediaParams,
      options?: RequestOptions,
    ): APIPromise<{ type: string; media_id: string; created_at: number }> => {
      const file = params.media;
      const form = new FormData();
      form.append('media', new Blob([new Uint8Array(file.data)], { type: file.contentType }), file.filename);
      return this.client.request<{ type: string; media_id: string; created_at: number }>(
        'POST',
        '/cgi-bin/media/upload',
        {
          ...options,
          query: { type: params.type },
          body: form,
        },
      );
    },
    /**
     * `GET /cgi-bin/media/get`: the whole file's bytes, or `{ video_url }` for a video (the docs
     * answer videos with a download URL instead of the bytes). For large files see `media.stream`.
     *
     * @example
     * const file = await oa.media.get({ media_id });
     * if (file instanceof Uint8Array) await writeFile('photo.jpg', file);
     */
    get: (params: GetMediaParams, options?: RequestOptions): APIPromise<Uint8Array | { video_url: string }> =>
      this.client
        .request<Uint8Array>('GET', '/cgi-bin/media/get', {
          ...options,
          query: { media_id: params.media_id },
          responseType: 'bytes',
        })
        .map((bytes) => {
          // A media file never starts with '{'; a JSON answer without errcode is the video form.
          if (bytes[0] === 0x7b) {
            const parsed = JSON.parse(Buffer.from(bytes).toString('utf8')) as { video_url?: unknown };
            if (typeof parsed.video_url === 'string') return { video_url: parsed.video_url };
          }
          return bytes;
        }),
    /**
     * `GET /cgi-bin/media/get` as a stream: resolves once WeChat's headers arrive, with the file's
     * bytes as a `ReadableStream` (nothing is buffered), or `{ video_url }` for a video. An errcode
     * answer (40007 invalid media_id, …) still rejects with a `WeChatApiError`. `timeoutMs` bounds
     * the wait for the headers and for each chunk; `signal` aborts the download.
     *
     * @example
     * const file = await oa.media.stream({ media_id }, { signal });
     * if (file instanceof ReadableStream) await pipeline(Readable.fromWeb(file), createWriteStream('a.jpg'));
     */
    stream: (
      params: GetMediaParams,
      options?: RequestOptions,
    ): APIPromise<ReadableStream<Uint8Array> | { video_url: string }> =>
      APIPromise.from<ReadableStream<Uint8Array> | { video_url: string }>(async () => {
        const { data, response } = await this.client
          .request<ReadableStream<Uint8Array>>('GET', '/cgi-bin/media/get', {
            ...options,
            query: { media_id: params.media_id },
            responseType: 'stream',
          })
          .withResponse();
        // WeChat answers a video with JSON (read whole by the transport, so this is no download).
        if (/\bjson\b/i.test(response.headers.get('content-type') ?? '')) {
          const parsed = JSON.parse(await new Response(data).text()) as { video_url?: unknown };
          if (typeof parsed.video_url === 'string')
            return { data: { video_url: parsed.video_url }, response };
          return { data: new Response(JSON.stringify(parsed)).body as ReadableStream<Uint8Array>, response };
        }
        return { data, response };
      }),
  };

  readonly qrcodes = {
    /**
     * `POST /cgi-bin/qrcode/create` with WeChat's own body.
     *
     * @example
     * await oa.qrcodes.create({ action_name: 'QR_STR_SCENE', expire_seconds: 600, action_info: { scene: { scene_str: 'order-42' } } });
     */
    create: (params: CreateQrcodeParams, options?: RequestOptions): APIPromise<QrcodeTicket> =>
      this.client.request<QrcodeTicket>('POST', '/cgi-bin/qrcode/create', { ...options, body: params }),
    /**
     * A temporary QR code (`QR_SCENE` for `scene_id`, `QR_STR_SCENE` for `scene_str`); `expire_seconds`
     * defaults to 2 592 000 (30 days, the most WeChat allows).
     *
     * @example
     * const { ticket } = await oa.qrcodes.createTemporary({ scene_id: 123, expire_seconds: 600 });
     */
    createTemporary: (
      params: QrcodeScene & { expire_seconds?: number | undefined },
      options?: RequestOptions,
    ): APIPromise<QrcodeTicket & { expire_seconds: number }> =>
      inPromise(() =>
        this.client.request<QrcodeTicket & { expire_seconds: number }>('POST', '/cgi-bin/qrcode/create', {
          ...options,
          body: {
            expire_seconds: params.expire_seconds ?? 2_592_000,
            action_name: params.scene_str === undefined ? 'QR_SCENE' : 'QR_STR_SCENE',
            action_info: { scene: sceneOf(params) },
          },
        }),
      ),
    /**
     * A permanent QR code (`QR_LIMIT_SCENE` for `scene_id` 1..100000, `QR_LIMIT_STR_SCENE` for `scene_str`).
     *
     * @example
     * const { ticket } = await oa.qrcodes.createPermanent({ scene_str: 'channel-a' });
     */
    createPermanent: (params: QrcodeScene, options?: RequestOptions): APIPromise<QrcodeTicket> =>
      inPromise(() =>
        this.client.request<QrcodeTicket>('POST', '/cgi-bin/qrcode/create', {
          ...options,
          body: {
            action_name: params.scene_str === undefined ? 'QR_LIMIT_SCENE' : 'QR_LIMIT_STR_SCENE',
            action_info: { scene: sceneOf(params) },
          },
        }),
      ),
    /**
     * The image URL of a ticket (`showqrcode`, the ticket URL-encoded as the docs require). No request is sent.
     *
     * @example
     * const src = oa.qrcodes.imageUrl({ ticket });
     */
    imageUrl: (params: { ticket: string }): string =>
      `https://mp.weixin.qq.com/cgi-bin/showqrcode?ticket=${encodeURIComponent(params.ticket)}`,
  };

  /** Web OAuth (网页授权): the user's own token and profile, not the app's. */
  readonly auth = {
    /**
     * The 网页授权 URL to redirect the user to (no request is sent). `state` should come from
     * `createOAuthState` (CSRF). For an Open Platform authorizer (`op.officialAccount(appId)`) it
     * carries `component_appid` (代公众号发起网页授权).
     *
     * @example
     * res.redirect(oa.auth.authorizeUrl({ redirect_uri: 'https://example.com/cb', scope: 'snsapi_base', state }));
     */
    authorizeUrl: (params: OAuthAuthorizeUrlParams): string => {
      if (byteLength(params.state) > 128) {
        throw new ArgumentError('OAuth state must be at most 128 bytes (WeChat limit)');
      }
      const q = new URLSearchParams({
        appid: this.appId,
        redirect_uri: params.redirect_uri,
        response_type: 'code',
        scope: params.scope,
        state: params.state,
        // 代公众号发起网页授权: the same page, naming the platform that acts for the account.
        ...(this.#component === undefined ? {} : { component_appid: this.#component.appId }),
        ...(params.forcePopup ? { forcePopup: 'true' } : {}),
      });
      return `https://open.weixin.qq.com/connect/oauth2/authorize?${q.toString()}#wechat_redirect`;
    },
    /**
     * `GET /sns/oauth2/access_token`: the redirect's `code` → the user's own access token. Codes
     * are single-use, so this is never retried after a network error. For an Open Platform
     * authorizer: `GET /sns/oauth2/component/access_token` with the platform's `component_appid`
     * and `component_access_token` instead of an AppSecret.
     *
     * @example
     * const { openid, access_token } = await oa.auth.exchangeCode({ code: query.code });
     */
    exchangeCode: (params: { code: string }, options?: RequestOptions): APIPromise<OAuthToken> => {
      const component = this.#component;
      if (component !== undefined) {
        // 代公众号发起网页授权: the component's token replaces the AppSecret.
        return APIPromise.from(async () =>
          this.client
            .request<OAuthToken>('GET', '/sns/oauth2/component/access_token', {
              ...options,
              auth: false,
              idempotent: false,
              query: {
                appid: this.appId,
                code: params.code,
                grant_type: 'authorization_code',
                component_appid: component.appId,
                component_access_token: await component.accessToken(),
              },
            })
            .withResponse(),
        );
      }
      return APIPromise.from(() =>
        // A refused AppSecret re-reads a provider for the next exchange; this code is not resent.
        this.#secret.useOnce(
          (secret) =>
            this.client
              .request<OAuthToken>('GET', '/sns/oauth2/access_token', {
                ...options,
                auth: false,
                idempotent: false,
                query: {
                  appid: this.appId,
                  secret,
                  code: params.code,
                  grant_type: 'authorization_code',
                },
              })
              .withResponse(),
          isSecretRefusal,
        ),
      );
    },
    /**
     * `GET /sns/oauth2/refresh_token`: a fresh user access token (valid 2 h) from the refresh token
     * (30 days); for an Open Platform authorizer `GET /sns/oauth2/component/refresh_token`.
     *
     * @example
     * const token = await oa.auth.refresh({ refresh_token });
     */
    refresh: (params: { refresh_token: string }, options?: RequestOptions): APIPromise<OAuthToken> => {
      const component = this.#component;
      if (component === undefined) {
        return this.client.request<OAuthToken>('GET', '/sns/oauth2/refresh_token', {
          ...options,
          auth: false,
          query: { appid: this.appId, grant_type: 'refresh_token', refresh_token: params.refresh_token },
        });
      }
      return APIPromise.from(async () =>
        this.client
          .request<OAuthToken>('GET', '/sns/oauth2/component/refresh_token', {
            ...options,
            auth: false,
            query: {
              appid: this.appId,
              grant_type: 'refresh_token',
              component_appid: component.appId,
              component_access_token: await component.accessToken(),
              refresh_token: params.refresh_token,
            },
          })
          .withResponse(),
      );
    },
    /**
     * `GET /sns/userinfo` with the USER's access token (scope `snsapi_userinfo`).
     *
     * @example
     * const profile = await oa.auth.userInfo({ access_token: token.access_token, openid: token.openid });
     */
    userInfo: (params: OAuthUserInfoParams, options?: RequestOptions): APIPromise<OAuthUserInfo> =>
      this.client.request<OAuthUserInfo>('GET', '/sns/userinfo', {
        ...options,
        auth: false,
        query: { access_token: params.access_token, openid: params.openid, lang: params.lang ?? 'zh_CN' },
      }),
  };

  readonly jssdk = {
    /**
     * `wx.config` parameters for a page URL, signed with the shared jsapi_ticket (fetched through
     * the token store, so no per-call options apply).
     *
     * @example
     * const config = await oa.jssdk.config({ url: req.query.url });
     */
    config: async (params: { url: string }): Promise<JsSdkConfig> =>
      buildJsSdkConfig({
        appId: this.appId,
        jsapiTicket: await this.#jsapiTicket.get(),
        url: params.url,
        ...(this.#options.now === undefined ? {} : { now: this.#options.now }),
        ...(this.#options.random === undefined ? {} : { random: this.#options.random }),
      }),
  };
}

type AppClientOptions = Parameters<typeof appClient>[1];

/** Builds the call inside the promise, so that bad params reject rather than throw. */
function inPromise<T>(call: () => APIPromise<T>): APIPromise<T> {
  return APIPromise.from(async () => call().withResponse());
}

function sceneOf(params: QrcodeScene): QrcodeScene {
  if (typeof params.scene_str === 'string') return { scene_str: params.scene_str };
  if (typeof params.scene_id === 'number') return { scene_id: params.scene_id };
  throw new ArgumentError('a QR code needs scene_id (a number) or scene_str (a string)');
}

/** A user's OAuth token (`sns/oauth2/access_token`); wire names kept. */
export interface OAuthToken {
  access_token: string;
  expires_in: number;
  refresh_token: string;
  openid: string;
  scope: string;
  is_snapshotuser?: number;
  unionid?: string;
}

/** `sns/userinfo`; wire names kept. */
export interface OAuthUserInfo {
  openid: string;
  nickname: string;
  sex: number;
  province: string;
  city: string;
  country: string;
  headimgurl: string;
  privilege: string[];
  unionid?: string;
}
