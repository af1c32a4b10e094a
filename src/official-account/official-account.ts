import type { ApiClient, ApiRequestOptions, RequestOptions } from '../core/api-client.js';
import { appClient, tokenManagerFrom } from '../core/build-client.js';
import type { TokenClientOptions } from '../core/client-options.js';
import { ConfigError } from '../core/errors.js';
import type { HttpMethod } from '../core/transport.js';
import type { TokenManager } from '../credentials/token-manager.js';
import { tokenKey } from '../credentials/token-store.js';
import { buildJsSdkConfig, type JsSdkConfig } from '../crypto/jssdk.js';

/** Options of {@link OfficialAccount}. Unknown keys are rejected. */
export interface OfficialAccountOptions extends TokenClientOptions {
  appId: string;
  /** The AppSecret. Never logged, never part of a store key. */
  secret: string;
  /**
   * `stable` (default): `cgi-bin/stable_token`, which returns the current token and never
   * invalidates other holders. `classic`: `cgi-bin/token`, where each call replaces the previous token.
   */
  tokenMode?: 'stable' | 'classic';
}

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

/**
 * The Official Account (公众号) client: typed methods over one small client, tokens shared
 * through the store, a typed `request()` escape hatch.
 *
 * @example
 * const oa = new OfficialAccount({ appId, secret, store: new RedisStore(redis) });
 * const user = await oa.users.info('oUpF8uMuAJO_M2pxb1Q9zNjWeS6o');
 */
export class OfficialAccount {
  readonly appId: string;
  readonly client: ApiClient;
  readonly #accessToken: TokenManager;
  readonly #jsapiTicket: TokenManager;
  readonly #cardTicket: TokenManager;
  readonly #options: OfficialAccountOptions;

  constructor(options: OfficialAccountOptions) {
    const { client, accessToken } = appClient('OfficialAccount', options, []);
    this.#options = options;
    this.appId = options.appId;
    this.client = client;
    this.#accessToken = accessToken;
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
      tokenKey('jsapi_ticket', options.appId),
      ticket('jsapi'),
    );
    this.#cardTicket = tokenManagerFrom(
      options,
      options.store,
      tokenKey('wx_card_ticket', options.appId),
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
  request<T = unknown>(method: HttpMethod, path: string, options?: ApiRequestOptions): Promise<T> {
    return this.client.request<T>(method, path, options);
  }

  readonly users = {
    /** `GET /cgi-bin/user/info`. */
    info: (openid: string, lang: 'zh_CN' | 'zh_TW' | 'en' = 'zh_CN', options?: RequestOptions) =>
      this.client.request<UserInfo>('GET', '/cgi-bin/user/info', { ...options, query: { openid, lang } }),
    /** `POST /cgi-bin/user/info/batchget` (≤ 100 openids). */
    batchInfo: (openids: string[], lang: 'zh_CN' | 'zh_TW' | 'en' = 'zh_CN', options?: RequestOptions) =>
      this.client.request<{ user_info_list: UserInfo[] }>('POST', '/cgi-bin/user/info/batchget', {
        ...options,
        idempotent: true,
        body: { user_list: openids.map((openid) => ({ openid, lang })) },
      }),
    /** `GET /cgi-bin/user/get`: followers, 10 000 per page; pass `next_openid` to continue. */
    list: (nextOpenid = '', options?: RequestOptions) =>
      this.client.request<{ total: number; count: number; data?: { openid: string[] }; next_openid: string }>(
        'GET',
        '/cgi-bin/user/get',
        { ...options, query: { next_openid: nextOpenid } },
      ),
  };

  readonly menus = {
    /** `POST /cgi-bin/menu/create`. */
    create: (button: MenuButton[], options?: RequestOptions) =>
      this.client.request<{ errcode: number; errmsg: string }>('POST', '/cgi-bin/menu/create', {
        ...options,
        idempotent: true,
        body: { button },
      }),
    /** `GET /cgi-bin/menu/get`. */
    get: (options?: RequestOptions) =>
      this.client.request<{ menu: { button: MenuButton[] } }>('GET', '/cgi-bin/menu/get', { ...options }),
    /** `GET /cgi-bin/menu/delete`. */
    delete: (options?: RequestOptions) =>
      this.client.request<{ errcode: number; errmsg: string }>('GET', '/cgi-bin/menu/delete', { ...options }),
  };

  readonly templates = {
    /** `POST /cgi-bin/message/template/send` → `{ msgid }`. Not retried after a network error (it could send twice). */
    send: (message: TemplateMessage, options?: RequestOptions) =>
      this.client.request<{ errcode: number; errmsg: string; msgid: number }>(
        'POST',
        '/cgi-bin/message/template/send',
        {
          ...options,
          body: message,
        },
      ),
  };

  readonly customService = {
    /** `POST /cgi-bin/message/custom/send`, e.g. `{ touser, msgtype: 'text', text: { content } }`. */
    send: (
      message: { touser: string; msgtype: string; [field: string]: unknown },
      options?: RequestOptions,
    ) =>
      this.client.request<{ errcode: number; errmsg: string }>('POST', '/cgi-bin/message/custom/send', {
        ...options,
        body: message,
      }),
  };

  readonly media = {
    /** `POST /cgi-bin/media/upload` (temporary media, multipart field `media`). */
    upload: (type: 'image' | 'voice' | 'video' | 'thumb', file: UploadFile, options?: RequestOptions) => {
      const form = new FormData();
      form.append('media', new Blob([new Uint8Array(file.data)], { type: file.contentType }), file.filename);
      return this.client.request<{ type: string; media_id: string; created_at: number }>(
        'POST',
        '/cgi-bin/media/upload',
        {
          ...options,
          query: { type },
          body: form,
        },
      );
    },
    /**
     * `GET /cgi-bin/media/get`: the file's bytes, or `{ video_url }` for a video (the docs answer
     * videos with a download URL instead of the bytes).
     */
    get: async (mediaId: string, options?: RequestOptions): Promise<Uint8Array | { video_url: string }> => {
      const bytes = await this.client.request<Uint8Array>('GET', '/cgi-bin/media/get', {
        ...options,
        query: { media_id: mediaId },
        responseType: 'bytes',
      });
      // A media file never starts with '{'; a JSON answer without errcode is the video form.
      if (bytes[0] === 0x7b) {
        const parsed = JSON.parse(Buffer.from(bytes).toString('utf8')) as { video_url?: unknown };
        if (typeof parsed.video_url === 'string') return { video_url: parsed.video_url };
      }
      return bytes;
    },
  };

  readonly qrcodes = {
    /** A temporary QR code (`QR_SCENE` for a number, `QR_STR_SCENE` for a string), up to 30 days. */
    createTemporary: (scene: number | string, expireSeconds = 2_592_000, options?: RequestOptions) =>
      this.client.request<{ ticket: string; expire_seconds: number; url: string }>(
        'POST',
        '/cgi-bin/qrcode/create',
        {
          ...options,
          body: {
            expire_seconds: expireSeconds,
            action_name: typeof scene === 'number' ? 'QR_SCENE' : 'QR_STR_SCENE',
            action_info: { scene: typeof scene === 'number' ? { scene_id: scene } : { scene_str: scene } },
          },
        },
      ),
    /** A permanent QR code (`QR_LIMIT_SCENE` 1..100000, or `QR_LIMIT_STR_SCENE`). */
    createPermanent: (scene: number | string, options?: RequestOptions) =>
      this.client.request<{ ticket: string; url: string }>('POST', '/cgi-bin/qrcode/create', {
        ...options,
        body: {
          action_name: typeof scene === 'number' ? 'QR_LIMIT_SCENE' : 'QR_LIMIT_STR_SCENE',
          action_info: { scene: typeof scene === 'number' ? { scene_id: scene } : { scene_str: scene } },
        },
      }),
    /** The image URL of a ticket (the ticket URL-encoded, as the docs require). */
    imageUrl: (ticket: string) =>
      `https://mp.weixin.qq.com/cgi-bin/showqrcode?ticket=${encodeURIComponent(ticket)}`,
  };

  readonly oauth = {
    /**
     * The 网页授权 URL to redirect the user to. `state` should come from `createOAuthState` (CSRF).
     * `redirectUri` is encoded here: pass it plain.
     */
    authorizeUrl: (params: {
      redirectUri: string;
      scope: 'snsapi_base' | 'snsapi_userinfo';
      state: string;
      forcePopup?: boolean;
    }) => {
      if (Buffer.byteLength(params.state) > 128) {
        throw new ConfigError('INVALID_ARGUMENT', 'OAuth state must be at most 128 bytes (WeChat limit)');
      }
      const q = new URLSearchParams({
        appid: this.appId,
        redirect_uri: params.redirectUri,
        response_type: 'code',
        scope: params.scope,
        state: params.state,
        ...(params.forcePopup ? { forcePopup: 'true' } : {}),
      });
      return `https://open.weixin.qq.com/connect/oauth2/authorize?${q.toString()}#wechat_redirect`;
    },
    /** `GET /sns/oauth2/access_token`: a user's code → the user's own access token (not the app's). */
    exchangeCode: (code: string, options?: RequestOptions) =>
      this.client.request<OAuthToken>('GET', '/sns/oauth2/access_token', {
        ...options,
        auth: false,
        idempotent: false,
        query: { appid: this.appId, secret: this.#options.secret, code, grant_type: 'authorization_code' },
      }),
    /** `GET /sns/oauth2/refresh_token`. */
    refresh: (refreshToken: string, options?: RequestOptions) =>
      this.client.request<OAuthToken>('GET', '/sns/oauth2/refresh_token', {
        ...options,
        auth: false,
        query: { appid: this.appId, grant_type: 'refresh_token', refresh_token: refreshToken },
      }),
    /** `GET /sns/userinfo` with the USER's access token (scope `snsapi_userinfo`). */
    userInfo: (
      userAccessToken: string,
      openid: string,
      lang: 'zh_CN' | 'zh_TW' | 'en' = 'zh_CN',
      options?: RequestOptions,
    ) =>
      this.client.request<OAuthUserInfo>('GET', '/sns/userinfo', {
        ...options,
        auth: false,
        query: { access_token: userAccessToken, openid, lang },
      }),
  };

  readonly jssdk = {
    /** `wx.config` parameters for a page URL, signed with the shared jsapi_ticket. */
    config: async (url: string): Promise<JsSdkConfig> =>
      buildJsSdkConfig({
        appId: this.appId,
        jsapiTicket: await this.#jsapiTicket.get(),
        url,
        ...(this.#options.now === undefined ? {} : { now: this.#options.now }),
        ...(this.#options.random === undefined ? {} : { random: this.#options.random }),
      }),
  };
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
