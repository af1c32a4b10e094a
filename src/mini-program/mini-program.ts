import type { KeyObject } from 'node:crypto';
import type { ApiClient, ApiRequestOptions, RequestOptions } from '../core/api-client.js';
import { APIPromise } from '../core/api-promise.js';
import { appClient } from '../core/build-client.js';
import type { TokenClientOptions } from '../core/client-options.js';
import { type WeChatNetwork, wechatNetwork } from '../core/network.js';
import { responseMeta, type WithResponse } from '../core/request-options.js';
import type { SecretInput } from '../core/secret-provider.js';
import type { SecretSource } from '../core/secret-source.js';
import type { HttpMethod } from '../core/transport.js';
import { isSecretRefusal } from '../credentials/credential-errors.js';
import type { TokenManager } from '../credentials/token-manager.js';
import { loadPrivateKey, loadPublicKey } from '../crypto/keys.js';
import {
  checkSessionKeySignature,
  decryptMiniProgramData,
  type MiniProgramOpenData,
} from '../crypto/mini-program.js';
import {
  type MpPublicKeyInput,
  type MpSymmetricKeyInput,
  openMpApiResponse,
  sealMpApiRequest,
} from '../crypto/mp-api-security.js';
import {
  ArgumentError,
  ConfigError,
  SignatureError,
  TransportError,
  WeChatApiError,
  WeChatKitError,
} from '../errors.js';
import { type AppTokenSource, appTokenSourceOf } from '../internal/app-token-source.js';
import type { Clock, RandomSource } from '../internal/bytes.js';
import { joinUrl } from '../internal/join-url.js';

/**
 * Options of {@link MiniProgram}. Unknown keys are rejected. `appId` and `secret` take
 * `string | undefined` so that `process.env.X` can be passed as is; a missing one is refused when
 * the client is built, naming the variable to set.
 */
export interface MiniProgramOptions extends TokenClientOptions {
  appId: string | undefined;
  /**
   * The AppSecret, or a provider that reads it (`secretFromEnv`, `secretFromFile`, `secretFrom`):
   * read when first needed, and again once when WeChat refuses it (after a reset). Never logged,
   * never part of a store key.
   */
  secret: SecretInput | undefined;
  /** `stable` (default) or `classic`; see `OfficialAccountOptions.tokenMode`. */
  tokenMode?: 'stable' | 'classic' | undefined;
  /**
   * Server-API security (API安全: AES256_GCM + RSAwithSHA256), for {@link MiniProgram.secureRequest}
   * and the APIs that use it (`security.riskRank`). Without it those APIs are called in plain JSON.
   */
  apiSecurity?: MiniProgramApiSecurity | undefined;
}

/**
 * The MP console's API安全 settings. Give `platformCertificate` or `platformCertificates`.
 * Only RSAwithSHA256 + AES256_GCM keys are supported.
 */
export interface MiniProgramApiSecurity {
  /** The AES256_GCM symmetric key (对称密钥): base64 as the console shows it, or its 32 bytes. */
  symmetricKey: MpSymmetricKeyInput;
  /** The symmetric key number (part of the AAD). */
  symmetricSn: string;
  /** The RSA private key of the asymmetric key pair (非对称密钥): PEM/DER or a `KeyObject`. */
  privateKey: string | Uint8Array | KeyObject;
  /** The asymmetric key number, sent as `Wechatmp-Serial`. */
  asymmetricSn: string;
  /** The platform certificate (开放平台证书, PEM) or its public key. */
  platformCertificate?: MpPublicKeyInput | undefined;
  /** Platform certificates by their console number (during rotation: both). */
  platformCertificates?: Record<string, MpPublicKeyInput> | undefined;
  /**
   * Scheme and host of the `urlpath` that is signed and authenticated (default
   * `https://api.weixin.qq.com`). It is NOT taken from `baseUrl`: WeChat (and the emulator)
   * authenticate the official URL even when requests go through a proxy or to the emulator.
   */
  urlBase?: string | undefined;
  /** Replay window for response timestamps, seconds (default 300). */
  maxSkewSeconds?: number | undefined;
}

/** `wxa/getuserriskrank` parameters (用户安全等级); wire names kept. `appid` defaults to this app. */
export interface UserRiskRankParams {
  appid?: string;
  openid: string;
  /** 0 registration, 1 marketing fraud. */
  scene: 0 | 1;
  client_ip: string;
  mobile_no?: string;
  email_address?: string;
  extended_info?: string;
  is_test?: boolean;
}

/** `wxa/getuserriskrank` answer. `unoin_id` is spelt as WeChat sends it. */
export interface UserRiskRankResult {
  errcode: number;
  errmsg: string;
  risk_rank: number;
  unoin_id: number;
}

interface ResolvedApiSecurity {
  symmetricKey: MpSymmetricKeyInput;
  symmetricSn: string;
  privateKey: KeyObject;
  asymmetricSn: string;
  certificates: { platformCertificate: KeyObject } | { platformCertificates: Record<string, KeyObject> };
  urlBase: string;
  maxSkewSeconds?: number;
}

const API_SECURITY_KEYS = new Set([
  'symmetricKey',
  'symmetricSn',
  'privateKey',
  'asymmetricSn',
  'platformCertificate',
  'platformCertificates',
  'urlBase',
  'maxSkewSeconds',
]);
const SECURITY_FIELDS = new Set(['_n', '_appid', '_timestamp']);

function apiSecurityError(message: string, cause?: unknown): ConfigError {
  return new ConfigError(
    'INVALID_CONFIG',
    `MiniProgram: apiSecurity.${message}`,
    cause === undefined ? undefined : { cause },
  );
}

/** Checks the API安全 option once, loading the keys so that a bad one fails at construction. */
function resolveApiSecurity(input: unknown): ResolvedApiSecurity {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) {
    throw apiSecurityError('must be an object');
  }
  for (const key of Object.keys(input)) {
    if (!API_SECURITY_KEYS.has(key)) {
      throw apiSecurityError(`${key} is not an option (allowed: ${[...API_SECURITY_KEYS].join(', ')})`);
    }
  }
  const o = input as Partial<MiniProgramApiSecurity>;
  for (const name of ['symmetricSn', 'asymmetricSn'] as const) {
    if (typeof o[name] !== 'string' || o[name] === '')
      throw apiSecurityError(`${name} must be a non-empty string`);
  }
  if (typeof o.symmetricKey !== 'string' && !(o.symmetricKey instanceof Uint8Array)) {
    throw apiSecurityError('symmetricKey must be base64 text or bytes');
  }
  const load = <K>(name: string, fn: () => K): K => {
    try {
      return fn();
    } catch (cause) {
      if (!(cause instanceof WeChatKitError)) throw cause;
      throw apiSecurityError(`${name} cannot be used: ${cause.message}`, cause);
    }
  };
  if (o.privateKey === undefined) throw apiSecurityError('privateKey is required');
  const privateKey = load('privateKey', () =>
    loadPrivateKey(o.privateKey as string | Uint8Array | KeyObject),
  );
  let certificates: ResolvedApiSecurity['certificates'];
  if ((o.platformCertificate === undefined) === (o.platformCertificates === undefined)) {
    throw apiSecurityError('give exactly one of platformCertificate and platformCertificates');
  }
  if (o.platformCertificate !== undefined) {
    const certificate = o.platformCertificate;
    certificates = { platformCertificate: load('platformCertificate', () => loadPublicKey(certificate)) };
  } else {
    const entries = Object.entries(o.platformCertificates ?? {});
    if (entries.length === 0) throw apiSecurityError('platformCertificates is empty');
    certificates = {
      platformCertificates: Object.fromEntries(
        entries.map(([sn, cert]) => [sn, load(`platformCertificates[${sn}]`, () => loadPublicKey(cert))]),
      ),
    };
  }
  const urlBase = o.urlBase ?? 'https://api.weixin.qq.com';
  if (typeof urlBase !== 'string' || !/^https:\/\/[^/?#\s]+$/.test(urlBase)) {
    throw apiSecurityError('urlBase must be "https://host" without path, query or trailing slash');
  }
  if (o.maxSkewSeconds !== undefined && (!Number.isFinite(o.maxSkewSeconds) || o.maxSkewSeconds < 0)) {
    throw apiSecurityError('maxSkewSeconds must be a finite number, at least 0');
  }
  return {
    symmetricKey: o.symmetricKey,
    symmetricSn: o.symmetricSn as string,
    privateKey,
    asymmetricSn: o.asymmetricSn as string,
    certificates,
    urlBase,
    ...(o.maxSkewSeconds === undefined ? {} : { maxSkewSeconds: o.maxSkewSeconds }),
  };
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

/**
 * A content-security scene (场景枚举值): 1 profile (资料), 2 comment (评论), 3 forum (论坛),
 * 4 social log (社交日志). WeChat answers 40129 for any other value.
 */
export type ContentSecurityScene = 1 | 2 | 3 | 4;

/**
 * A content-security label (命中标签枚举值) as the official documentation lists them: 100 normal
 * (正常), 10001 ads (广告), 20001 politics (时政), 20002 pornography (色情), 20003 abuse (辱骂),
 * 20006 crime (违法犯罪), 20008 fraud (欺诈), 20012 vulgarity (低俗), 20013 copyright (版权),
 * 21000 other (其他). Media checks use 100, 20001, 20002, 20006 and 21000. A value WeChat adds
 * later is still a number.
 */
export type ContentSecurityLabel =
  | 100
  | 10001
  | 20001
  | 20002
  | 20003
  | 20006
  | 20008
  | 20012
  | 20013
  | 21000
  | (number & {});

/** One strategy's result in a `msg_sec_check` answer (详细检测结果). */
export interface MsgSecCheckDetail {
  /** The strategy, e.g. `content_model`, `keyword`. */
  strategy: string;
  /** This item is valid only when 0. */
  errcode: number;
  suggest?: 'pass' | 'review' | 'risky' | (string & {});
  label?: ContentSecurityLabel;
  /** The custom keyword (自定义关键词, set in the MP console) that matched. */
  keyword?: string;
  /** Confidence 0–100 that `label` applies. */
  prob?: number;
  [field: string]: unknown;
}

/** `wxa/msg_sec_check` (version 2) answer; judge by `result` (综合结果). */
export interface MsgSecCheckResult {
  errcode: number;
  errmsg: string;
  /** Identifies this check (唯一请求标识). */
  trace_id: string;
  result: { suggest: 'pass' | 'review' | 'risky'; label: ContentSecurityLabel };
  detail?: MsgSecCheckDetail[];
}

/** `wxa/media_check_async` answer: the `trace_id` the `wxa_media_check` push will carry. */
export interface MediaCheckAsyncResult {
  errcode: number;
  errmsg: string;
  trace_id: string;
}

/** The most characters `msg_sec_check` checks (文本字数的上限为2500字). */
export const MSG_SEC_CHECK_MAX_CHARS = 2500;

/** `auth.code2Session` parameters (`sns/jscode2session`): the code from `wx.login`. */
export interface Code2SessionParams {
  js_code: string;
}

/** `auth.checkSession` parameters (`wxa/checksession`). The signature is computed here: `session_key` never leaves the server. */
export interface CheckSessionParams {
  openid: string;
  session_key: string;
}

/** `phoneNumbers.get` parameters (`wxa/business/getuserphonenumber`): the code from the `getPhoneNumber` button. */
export interface GetPhoneNumberParams {
  code: string;
  openid?: string | undefined;
}

/** `security.msgSecCheck` parameters (`wxa/msg_sec_check`); `version: 2` is filled in. */
export interface MsgSecCheckParams {
  /** The text to check, UTF-8, at most {@link MSG_SEC_CHECK_MAX_CHARS} characters. */
  content: string;
  /** The author, who must have opened the Mini Program in the last 2 hours (else 61010). */
  openid: string;
  scene: ContentSecurityScene;
  /** Only 2 (the 2.0 interface) is accepted; it is sent whether given or not. */
  version?: 2 | undefined;
  title?: string | undefined;
  nickname?: string | undefined;
  /** The user's signature (个性签名); WeChat reads it in scene 1 only. */
  signature?: string | undefined;
}

/** `security.mediaCheckAsync` parameters (`wxa/media_check_async`); `version: 2` is filled in. */
export interface MediaCheckAsyncParams {
  /**
   * Where WeChat downloads the media (at most 10 MB): images jpg, jpeg, png, bmp, gif (first
   * frame); audio mp3, aac, ac3, wma, flac, vorbis, opus, wav. It must be reachable from the internet.
   */
  media_url: string;
  /** 1 audio, 2 image; it must match what `media_url` holds. */
  media_type: 1 | 2;
  /** The author, who must have opened the Mini Program in the last 2 hours (else 61010). */
  openid: string;
  scene: ContentSecurityScene;
  /** Only 2 (the 2.0 interface) is accepted; it is sent whether given or not. */
  version?: 2 | undefined;
}

/**
 * The Mini Program (小程序) client. Every API method is `method(params, options?)` and returns an
 * {@link APIPromise}.
 *
 * @example
 * const mp = new MiniProgram({ appId: process.env.MP_APPID, secret: process.env.MP_SECRET });
 * const { openid, session_key } = await mp.auth.code2Session({ js_code: codeFromWxLogin });
 */
export class MiniProgram {
  readonly appId: string;
  readonly client: ApiClient;
  readonly #accessToken: TokenManager;
  readonly #secret: SecretSource;
  readonly #apiSecurity: ResolvedApiSecurity | undefined;
  readonly #now: Clock | undefined;
  readonly #random: RandomSource | undefined;
  /** Set when this client acts for an Open Platform authorizer (login goes through the component). */
  readonly #component: AppTokenSource['component'] | undefined;

  constructor(options: MiniProgramOptions) {
    // appClient checks that appId is a non-empty string and secret one or a provider.
    const { client, accessToken, secret } = appClient('MiniProgram', options as AppClientOptions, [
      'apiSecurity',
    ]);
    this.appId = options.appId as string;
    this.#secret = secret;
    this.client = client;
    this.#accessToken = accessToken;
    this.#apiSecurity =
      options.apiSecurity === undefined ? undefined : resolveApiSecurity(options.apiSecurity);
    this.#now = options.now;
    this.#random = options.random;
    this.#component = appTokenSourceOf(options)?.component;
  }

  /** Whether `apiSecurity` is configured (then `security.riskRank` and similar APIs are sealed). */
  get apiSecurityEnabled(): boolean {
    return this.#apiSecurity !== undefined;
  }

  /**
   * Calls an API with server-API security: seals `params` (AES-256-GCM + RSASSA-PSS, fresh
   * timestamp and nonce), POSTs the sealed body to `baseUrl + path?access_token=…`, then verifies
   * the platform signature and decrypts the answer; `_n`, `_appid`, `_timestamp` are removed from
   * the result. The signed `urlpath` is `apiSecurity.urlBase + path`, not `baseUrl + path`.
   *
   * An answer that is not signed, fails verification or decryption throws (`SIGNATURE_MISMATCH`,
   * `TIMESTAMP_EXPIRED`, `DECRYPT_FAILED`, …) — it is never returned as data. An unsigned
   * `errcode` answer (WeChat cannot seal e.g. 40234) and a decrypted `errcode != 0` throw
   * `WeChatApiError`. On a token error the token is refreshed and the call re-sealed once. A sealed
   * call is never retried after a network error (WeChat may have acted on it).
   *
   * @example
   * const result = await mp.secureRequest<{ risk_rank: number }>('/wxa/getuserriskrank', params);
   */
  secureRequest<T = Record<string, unknown>>(
    path: string,
    params: Record<string, unknown>,
    options: RequestOptions = {},
  ): APIPromise<T> {
    return APIPromise.from(() => this.#secureRequest<T>(path, params, options));
  }

  async #secureRequest<T>(
    path: string,
    params: Record<string, unknown>,
    options: RequestOptions,
  ): Promise<WithResponse<T>> {
    // An aborted call does nothing, not even a token fetch or a seal.
    options.signal?.throwIfAborted();
    const security = this.#apiSecurity;
    if (!security) {
      throw new ConfigError('INVALID_CONFIG', 'MiniProgram: secureRequest needs the apiSecurity option');
    }
    if (typeof path !== 'string' || !/^\/[^?#\s]*$/.test(path)) {
      throw new ArgumentError('path must start with "/" and have no query, e.g. "/wxa/getuserriskrank"');
    }
    try {
      // Through the quota breaker, as client.request: a spent quota (45009, 45011) fails fast.
      return await this.client.withQuotaBreaker(path, async (send) => {
        const token = await this.#accessToken.get();
        try {
          return await send(() => this.#sendSealed<T>(security, path, params, options, token));
        } catch (error) {
          if (!(error instanceof WeChatApiError) || error.code !== 'TOKEN_INVALID') throw error;
          await this.#accessToken.invalidate(token);
          const fresh = await this.#accessToken.get();
          // Sealed again: a new timestamp, nonce and IV.
          return await send(() => this.#sendSealed<T>(security, path, params, options, fresh));
        }
      });
    } catch (error) {
      // A 40164 (IP whitelist) comes in plain JSON here too: name the setting, as client.request does.
      throw this.client.credentialError(error);
    }
  }

  async #sendSealed<T>(
    security: ResolvedApiSecurity,
    path: string,
    params: Record<string, unknown>,
    options: RequestOptions,
    token: string,
  ): Promise<WithResponse<T>> {
    const urlpath = `${security.urlBase}${path}`;
    const sealed = sealMpApiRequest({
      urlpath,
      appId: this.appId,
      symmetricKey: security.symmetricKey,
      symmetricSn: security.symmetricSn,
      privateKey: security.privateKey,
      asymmetricSn: security.asymmetricSn,
      params,
      ...(this.#now === undefined ? {} : { now: this.#now }),
      ...(this.#random === undefined ? {} : { random: this.#random }),
    });
    const response = await this.client.transport.request<Uint8Array>({
      method: 'POST',
      url: joinUrl(this.client.baseUrl, path),
      query: { access_token: token },
      body: sealed.body,
      headers: { ...options.headers, ...sealed.headers, 'content-type': 'application/json; charset=utf-8' },
      raw: true,
      // Each seal is fresh, but WeChat may have acted on a request whose answer was lost.
      idempotent: false,
      ...(options.timeoutMs === undefined ? {} : { timeoutMs: options.timeoutMs }),
      ...(options.signal === undefined ? {} : { signal: options.signal }),
      ...(options.retries === undefined ? {} : { retries: options.retries }),
    });
    if (response.status < 200 || response.status > 299) {
      throw new TransportError('HTTP_ERROR', `POST ${path} answered HTTP ${response.status}`, {
        status: response.status,
      });
    }
    const headers = response.headers;
    if (!headers.has('Wechatmp-Signature') && !headers.has('Wechatmp-Signature-Deprecated')) {
      // Errors WeChat cannot seal (missing headers, bad signature, token errors) come in plain JSON.
      let plain: unknown;
      try {
        plain = JSON.parse(new TextDecoder().decode(response.data));
      } catch {
        plain = undefined;
      }
      const errcode = (plain as { errcode?: unknown } | undefined)?.errcode;
      if (typeof errcode === 'number' && errcode !== 0) {
        const errmsg = (plain as { errmsg?: unknown }).errmsg;
        throw new WeChatApiError(errcode, typeof errmsg === 'string' ? errmsg : '', { path });
      }
      throw new SignatureError(
        'SIGNATURE_MISMATCH',
        `POST ${path} answered without a Wechatmp-Signature: an unsigned answer is refused (does this API support API security, and is it enabled in the console?).`,
      );
    }
    const data = openMpApiResponse({
      urlpath,
      appId: this.appId,
      symmetricKey: security.symmetricKey,
      symmetricSn: security.symmetricSn,
      ...security.certificates,
      headers,
      body: response.data,
      ...(this.#now === undefined ? {} : { now: this.#now }),
      ...(security.maxSkewSeconds === undefined ? {} : { maxSkewSeconds: security.maxSkewSeconds }),
    });
    const errcode = data.errcode;
    if (typeof errcode === 'number' && errcode !== 0) {
      throw new WeChatApiError(errcode, typeof data.errmsg === 'string' ? data.errmsg : '', { path });
    }
    const result: Record<string, unknown> = {};
    for (const [name, value] of Object.entries(data)) if (!SECURITY_FIELDS.has(name)) result[name] = value;
    return { data: result as T, response: responseMeta(response.status, headers) };
  }

  /** The current access_token, shared by every caller (and instance, with a shared store). */
  getAccessToken(): Promise<string> {
    return this.#accessToken.get();
  }

  /**
   * The typed escape hatch for any API without a method here.
   *
   * @example
   * const { errcode } = await mp.request<{ errcode: number }>('POST', '/wxa/business/getliveinfo', { body: { start: 0, limit: 10 } });
   */
  request<T = unknown>(method: HttpMethod, path: string, options?: ApiRequestOptions): APIPromise<T> {
    return this.client.request<T>(method, path, options);
  }

  /** Decrypts `encryptedData` with the user's session_key and checks `watermark.appid` against this app. */
  decryptData(input: { sessionKey: string; encryptedData: string; iv: string }): MiniProgramOpenData {
    return decryptMiniProgramData({ ...input, appId: this.appId });
  }

  /** Login (小程序登录): the `wx.login` code exchange and the session-key check. */
  /** WeChat's server addresses (`getcallbackip`, `get_api_domain_ip`) and the callback URL check (`callback/check`). */
  readonly network: WeChatNetwork = wechatNetwork(() => this.client);

  readonly auth = {
    /**
     * `GET /sns/jscode2session`: the code from `wx.login` → openid and session_key. Codes are
     * single-use (never retried after a network error): an `INVALID_CODE` error (40029, 40163)
     * means "ask the client for a new code". Keep `session_key` on the server. For an Open
     * Platform authorizer (`op.miniProgram(appId)`): `GET /sns/component/jscode2session` with the
     * platform's `component_appid` and `component_access_token` instead of an AppSecret.
     *
     * @example
     * const { openid, session_key } = await mp.auth.code2Session({ js_code: body.code });
     */
    code2Session: (params: Code2SessionParams, options?: RequestOptions): APIPromise<Code2SessionResult> => {
      const component = this.#component;
      if (component !== undefined) {
        // 第三方平台代小程序登录: sns/component/jscode2session with the component's token.
        return APIPromise.from(async () =>
          this.client
            .request<Code2SessionResult>('GET', '/sns/component/jscode2session', {
              ...options,
              auth: false,
              idempotent: false,
              query: {
                appid: this.appId,
                js_code: params.js_code,
                grant_type: 'authorization_code',
                component_appid: component.appId,
                component_access_token: await component.accessToken(),
              },
            })
            .withResponse(),
        );
      }
      return APIPromise.from(() =>
        // A refused AppSecret re-reads a provider for the next login; this code is not resent.
        this.#secret.useOnce(
          (secret) =>
            this.client
              .request<Code2SessionResult>('GET', '/sns/jscode2session', {
                ...options,
                auth: false,
                idempotent: false,
                query: {
                  appid: this.appId,
                  secret,
                  js_code: params.js_code,
                  grant_type: 'authorization_code',
                },
              })
              .withResponse(),
          isSecretRefusal,
        ),
      );
    },
    /**
     * `GET /wxa/checksession`: whether `session_key` is still the user's current one (false on
     * 87009; the response metadata of that answer has its status but no headers).
     *
     * @example
     * if (!(await mp.auth.checkSession({ openid, session_key }))) askForLogin();
     */
    checkSession: (params: CheckSessionParams, options?: RequestOptions): APIPromise<boolean> =>
      APIPromise.from(async () => {
        try {
          const { response } = await this.client
            .request('GET', '/wxa/checksession', {
              ...options,
              query: {
                openid: params.openid,
                signature: checkSessionKeySignature(params.session_key),
                sig_method: 'hmac_sha256',
              },
            })
            .withResponse();
          return { data: true, response };
        } catch (error) {
          if (error instanceof WeChatApiError && error.errcode === 87009) {
            return { data: false, response: responseMeta(200, new Headers()) };
          }
          throw error;
        }
      }),
  };

  readonly phoneNumbers = {
    /**
     * `POST /wxa/business/getuserphonenumber`: the code from the `getPhoneNumber` button → the
     * user's `phone_info`.
     *
     * @example
     * const { purePhoneNumber } = await mp.phoneNumbers.get({ code: body.code });
     */
    get: (params: GetPhoneNumberParams, options?: RequestOptions): APIPromise<PhoneInfo> =>
      this.client
        .request<{ phone_info: PhoneInfo }>('POST', '/wxa/business/getuserphonenumber', {
          ...options,
          body:
            params.openid === undefined
              ? { code: params.code }
              : { code: params.code, openid: params.openid },
        })
        .map((answer) => answer.phone_info),
  };

  readonly subscribeMessages = {
    /**
     * `POST /cgi-bin/message/subscribe/send`. Not retried after a network error (it could send twice).
     *
     * @example
     * await mp.subscribeMessages.send({ touser: openid, template_id, data: { thing1: { value: '已发货' } } });
     */
    send: (
      message: SubscribeMessage,
      options?: RequestOptions,
    ): APIPromise<{ errcode: number; errmsg: string; msgid?: number }> =>
      this.client.request<{ errcode: number; errmsg: string; msgid?: number }>(
        'POST',
        '/cgi-bin/message/subscribe/send',
        {
          ...options,
          body: message,
        },
      ),
  };

  readonly wxacodes = {
    /**
     * `POST /wxa/getwxacodeunlimit`: the image bytes (PNG/JPEG); a JSON errcode answer throws.
     *
     * @example
     * const png = await mp.wxacodes.getUnlimited({ scene: 'id=42', page: 'pages/item/item' });
     */
    getUnlimited: (params: UnlimitedCodeParams, options?: RequestOptions): APIPromise<Uint8Array> =>
      this.client.request<Uint8Array>('POST', '/wxa/getwxacodeunlimit', {
        ...options,
        idempotent: options?.idempotent ?? true,
        responseType: 'bytes',
        body: params,
      }),
  };

  readonly security = {
    /**
     * `POST /wxa/msg_sec_check` (文本内容安全识别, version 2): judge by `result.suggest` — errcode 0
     * does not mean the text passed. Bad params (empty or over-long `content`, a `scene` other than
     * 1–4, no `openid`) reject with an `ArgumentError` before any request. WeChat's errcodes throw
     * `WeChatApiError`: 40003 unknown openid, 43104 openid of another app, 61010 the user has not
     * opened the Mini Program in the last 2 hours. Quota: 4000 calls a minute, 2 000 000 a day.
     *
     * @example
     * const { result } = await mp.security.msgSecCheck({ content, openid, scene: 2 });
     * if (result.suggest !== 'pass') hide(post);
     */
    msgSecCheck: (params: MsgSecCheckParams, options?: RequestOptions): APIPromise<MsgSecCheckResult> =>
      APIPromise.from(async () =>
        this.client
          .request<MsgSecCheckResult>('POST', '/wxa/msg_sec_check', {
            ...options,
            // A check has no effect on WeChat's side: safe to resend after a network error.
            idempotent: options?.idempotent ?? true,
            body: msgSecCheckBody(params),
          })
          .withResponse(),
      ),
    /**
     * `POST /wxa/media_check_async` (多媒体内容安全识别, version 2): answers a `trace_id`; the verdict
     * arrives within 30 minutes as a `wxa_media_check` push carrying it (`createContentSecurity`
     * matches the two). Bad params reject with an `ArgumentError` before any request; WeChat's
     * errcodes throw `WeChatApiError` (40004 bad media_type, 40003/43104/61010 as for
     * `msgSecCheck`, 87020 the same request repeated too often). Not resent after a network error:
     * a second check would get a second trace_id. Quota: 2000 calls a minute, 200 000 a day.
     *
     * @example
     * const { trace_id } = await mp.security.mediaCheckAsync({ media_url, media_type: 2, openid, scene: 1 });
     */
    mediaCheckAsync: (
      params: MediaCheckAsyncParams,
      options?: RequestOptions,
    ): APIPromise<MediaCheckAsyncResult> =>
      APIPromise.from(async () =>
        this.client
          .request<MediaCheckAsyncResult>('POST', '/wxa/media_check_async', {
            ...options,
            body: mediaCheckAsyncBody(params),
          })
          .withResponse(),
      ),
    /**
     * `POST /wxa/getuserriskrank` (用户安全等级): sealed with {@link MiniProgram.secureRequest} when
     * `apiSecurity` is configured, plain JSON otherwise. `appid` defaults to this app.
     *
     * @example
     * const { risk_rank } = await mp.security.riskRank({ openid, scene: 0, client_ip: '203.0.113.7' });
     */
    riskRank: (params: UserRiskRankParams, options?: RequestOptions): APIPromise<UserRiskRankResult> => {
      const body = { ...params, appid: params.appid ?? this.appId };
      if (this.#apiSecurity)
        return this.secureRequest<UserRiskRankResult>('/wxa/getuserriskrank', body, options);
      return this.client.request<UserRiskRankResult>('POST', '/wxa/getuserriskrank', { ...options, body });
    },
  };
}

type AppClientOptions = Parameters<typeof appClient>[1];

function checkOpenidAndScene(
  method: string,
  params: { openid?: unknown; scene?: unknown; version?: unknown },
): void {
  if (typeof params.openid !== 'string' || params.openid === '') {
    throw new ArgumentError(`security.${method}: openid (the author's openid) must be a non-empty string`);
  }
  if (params.scene !== 1 && params.scene !== 2 && params.scene !== 3 && params.scene !== 4) {
    throw new ArgumentError(
      `security.${method}: scene must be 1 (profile), 2 (comment), 3 (forum) or 4 (social log)`,
    );
  }
  if (params.version !== undefined && params.version !== 2) {
    throw new ArgumentError(`security.${method}: version must be 2 (the 1.0 interface is retired)`);
  }
}

/** The `msg_sec_check` body: checked params, wire names, `version: 2`. */
function msgSecCheckBody(params: MsgSecCheckParams): Record<string, unknown> {
  if (typeof params !== 'object' || params === null) {
    throw new ArgumentError('security.msgSecCheck: params must be an object');
  }
  checkOpenidAndScene('msgSecCheck', params);
  const { content } = params;
  if (typeof content !== 'string' || content === '') {
    throw new ArgumentError('security.msgSecCheck: content must be a non-empty string');
  }
  // Characters (code points), not UTF-16 units or bytes: 「文本字数的上限为2500字」.
  let chars = 0;
  for (const _ of content) chars++;
  if (chars > MSG_SEC_CHECK_MAX_CHARS) {
    throw new ArgumentError(
      `security.msgSecCheck: content has ${chars} characters, WeChat checks at most ${MSG_SEC_CHECK_MAX_CHARS}: check it in parts`,
    );
  }
  const body: Record<string, unknown> = { content, version: 2, scene: params.scene, openid: params.openid };
  for (const name of ['title', 'nickname', 'signature'] as const) {
    const value = params[name];
    if (value === undefined) continue;
    if (typeof value !== 'string') throw new ArgumentError(`security.msgSecCheck: ${name} must be a string`);
    body[name] = value;
  }
  return body;
}

/** The `media_check_async` body: checked params, wire names, `version: 2`. */
function mediaCheckAsyncBody(params: MediaCheckAsyncParams): Record<string, unknown> {
  if (typeof params !== 'object' || params === null) {
    throw new ArgumentError('security.mediaCheckAsync: params must be an object');
  }
  checkOpenidAndScene('mediaCheckAsync', params);
  if (typeof params.media_url !== 'string' || !/^https?:\/\/\S+$/i.test(params.media_url)) {
    throw new ArgumentError(
      'security.mediaCheckAsync: media_url must be an http(s) URL WeChat can download the media from',
    );
  }
  if (params.media_type !== 1 && params.media_type !== 2) {
    throw new ArgumentError('security.mediaCheckAsync: media_type must be 1 (audio) or 2 (image)');
  }
  return {
    media_url: params.media_url,
    media_type: params.media_type,
    version: 2,
    scene: params.scene,
    openid: params.openid,
  };
}
