import type { ApiClient, ApiRequestOptions, RequestOptions } from '../core/api-client.js';
import { appClient } from '../core/build-client.js';
import type { CommonClientOptions } from '../core/client-options.js';
import { WeChatApiError } from '../core/errors.js';
import type { HttpMethod } from '../core/transport.js';
import type { TokenManager } from '../credentials/token-manager.js';
import {
  checkSessionKeySignature,
  decryptMiniProgramData,
  type MiniProgramOpenData,
} from '../crypto/mini-program.js';

/** Options of {@link MiniProgram}. Unknown keys are rejected. */
export interface MiniProgramOptions extends CommonClientOptions {
  appId: string;
  /** The AppSecret. Never logged, never part of a store key. */
  secret: string;
  /** `stable` (default) or `classic`; see `OfficialAccountOptions.tokenMode`. */
  tokenMode?: 'stable' | 'classic';
}

/** `sns/jscode2session`. Keep `session_key` on the server: never send it to the client. */
export interface Code2SessionResult {
  openid: string;
  session_key: string;
  unionid?: string;
}

/** `wxa/business/getuserphonenumber`'s `phone_info`. */
export interface PhoneInfo {
  phoneNumber: string;
  purePhoneNumber: string;
  countryCode: string | number;
  watermark: { timestamp: number; appid: string };
}

/** `POST /cgi-bin/message/subscribe/send` body; wire names kept. */
export interface SubscribeMessage {
  touser: string;
  template_id: string;
  page?: string;
  data: Record<string, { value: string }>;
  miniprogram_state?: 'developer' | 'trial' | 'formal';
  lang?: 'zh_CN' | 'en_US' | 'zh_HK' | 'zh_TW';
}

/** `wxa/getwxacodeunlimit` body; wire names kept. */
export interface UnlimitedCodeParams {
  /** Up to 32 visible characters, passed to the page as `scene`. */
  scene: string;
  page?: string;
  check_path?: boolean;
  env_version?: 'release' | 'trial' | 'develop';
  width?: number;
  auto_color?: boolean;
  line_color?: { r: number; g: number; b: number };
  is_hyaline?: boolean;
}

/** `wxa/msg_sec_check` (version 2) answer. */
export interface MsgSecCheckResult {
  errcode: number;
  errmsg: string;
  trace_id: string;
  result: { suggest: 'pass' | 'review' | 'risky'; label: number };
  detail?: Array<Record<string, unknown>>;
}

/**
 * The Mini Program (小程序) client.
 *
 * @example
 * const mp = new MiniProgram({ appId, secret });
 * const { openid, session_key } = await mp.code2Session(codeFromWxLogin);
 */
export class MiniProgram {
  readonly appId: string;
  readonly client: ApiClient;
  readonly #accessToken: TokenManager;
  readonly #secret: string;

  constructor(options: MiniProgramOptions) {
    const { client, accessToken } = appClient('MiniProgram', options, []);
    this.appId = options.appId;
    this.#secret = options.secret;
    this.client = client;
    this.#accessToken = accessToken;
  }

  /** The current access_token, shared by every caller (and instance, with a shared store). */
  getAccessToken(): Promise<string> {
    return this.#accessToken.get();
  }

  /** The typed escape hatch for any API without a method here. */
  request<T = unknown>(method: HttpMethod, path: string, options?: ApiRequestOptions): Promise<T> {
    return this.client.request<T>(method, path, options);
  }

  /**
   * `GET /sns/jscode2session`: the code from `wx.login` → openid and session_key. Codes are
   * single-use: an `INVALID_CODE` error (40029, 40163) means "ask the client for a new code".
   */
  code2Session(jsCode: string, options?: RequestOptions): Promise<Code2SessionResult> {
    return this.client.request<Code2SessionResult>('GET', '/sns/jscode2session', {
      ...options,
      auth: false,
      idempotent: false,
      query: { appid: this.appId, secret: this.#secret, js_code: jsCode, grant_type: 'authorization_code' },
    });
  }

  /** `POST /wxa/business/getuserphonenumber` with the code from the `getPhoneNumber` button. */
  async getPhoneNumber(code: string, openid?: string, options?: RequestOptions): Promise<PhoneInfo> {
    const answer = await this.client.request<{ phone_info: PhoneInfo }>(
      'POST',
      '/wxa/business/getuserphonenumber',
      {
        ...options,
        body: openid === undefined ? { code } : { code, openid },
      },
    );
    return answer.phone_info;
  }

  /**
   * `GET /wxa/checksession`: whether `sessionKey` is still the user's current session_key
   * (false on 87009). The signature is computed here; the key never leaves the server.
   */
  async checkSessionKey(openid: string, sessionKey: string, options?: RequestOptions): Promise<boolean> {
    try {
      await this.client.request('GET', '/wxa/checksession', {
        ...options,
        query: { openid, signature: checkSessionKeySignature(sessionKey), sig_method: 'hmac_sha256' },
      });
      return true;
    } catch (error) {
      if (error instanceof WeChatApiError && error.errcode === 87009) return false;
      throw error;
    }
  }

  /** Decrypts `encryptedData` with the user's session_key and checks `watermark.appid` against this app. */
  decryptData(input: { sessionKey: string; encryptedData: string; iv: string }): MiniProgramOpenData {
    return decryptMiniProgramData({ ...input, appId: this.appId });
  }

  readonly subscribeMessage = {
    /** `POST /cgi-bin/message/subscribe/send`. */
    send: (message: SubscribeMessage, options?: RequestOptions) =>
      this.client.request<{ errcode: number; errmsg: string; msgid?: number }>(
        'POST',
        '/cgi-bin/message/subscribe/send',
        {
          ...options,
          body: message,
        },
      ),
  };

  readonly wxacode = {
    /** `POST /wxa/getwxacodeunlimit`: the image bytes (PNG/JPEG); a JSON errcode answer throws. */
    getUnlimited: (params: UnlimitedCodeParams, options?: RequestOptions) =>
      this.client.request<Uint8Array>('POST', '/wxa/getwxacodeunlimit', {
        ...options,
        idempotent: true,
        responseType: 'bytes',
        body: params,
      }),
  };

  readonly security = {
    /** `POST /wxa/msg_sec_check` (version 2). */
    msgSecCheck: (
      params: {
        content: string;
        openid: string;
        scene: 1 | 2 | 3 | 4;
        title?: string;
        nickname?: string;
        signature?: string;
      },
      options?: RequestOptions,
    ) =>
      this.client.request<MsgSecCheckResult>('POST', '/wxa/msg_sec_check', {
        ...options,
        idempotent: true,
        body: { ...params, version: 2 },
      }),
    /** `POST /wxa/media_check_async` (version 2); the verdict arrives later as a `wxa_media_check` push. */
    mediaCheckAsync: (
      params: { media_url: string; media_type: 1 | 2; openid: string; scene: 1 | 2 | 3 | 4 },
      options?: RequestOptions,
    ) =>
      this.client.request<{ errcode: number; errmsg: string; trace_id: string }>(
        'POST',
        '/wxa/media_check_async',
        {
          ...options,
          body: { ...params, version: 2 },
        },
      ),
  };
}
