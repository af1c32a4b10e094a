import type { KeyObject } from 'node:crypto';
import type { APIPromise } from '../../core/api-promise.js';
import {
  CLIENT_OPTION_NAMES,
  type ClientOptions,
  checkOptions,
  splitHooks,
} from '../../core/client-options.js';
import type { RequestOptions } from '../../core/request-options.js';
import type { SecretInput } from '../../core/secret-provider.js';
import { type HttpMethod, Transport } from '../../core/transport.js';
import { loadPrivateKey } from '../../crypto/keys.js';
import { oaepDecrypt, oaepEncrypt } from '../../crypto/pay-v3-oaep.js';
import {
  type AppPayParams,
  type JsapiPayParams,
  type PayV3MerchantSigner,
  type PrivateKeyInput,
  privateKeySigner,
  signAppPayParams,
  signJsapiPayParams,
} from '../../crypto/pay-v3-sign.js';
import type { CertificateInput, HeadersInput, PublicKeyInput } from '../../crypto/pay-v3-verify.js';
import { ArgumentError, ConfigError } from '../../errors.js';
import { type Clock, defaultClock, defaultRandom, type RandomSource } from '../../internal/bytes.js';
import { systemScheduler } from '../../internal/timers.js';
import { payV3ApiV3Keys } from './api-v3-keys.js';
import { PlatformTrust } from './platform-trust.js';
import { PayBills } from './resources/bills.js';
import { PayCertificates } from './resources/certificates.js';
import { PayMedia } from './resources/media.js';
import { PayRefunds } from './resources/refunds.js';
import { PayTransactions } from './resources/transactions.js';
import { type PayV3Query, SignedExchange } from './signed-exchange.js';

/** The WeChat Pay keys this client trusts to sign answers. Both at once during a migration. */
export interface PayV3PlatformOptions {
  /** The WeChat Pay public key (pub_key.pem) and its id `PUB_KEY_ID_…`, from the merchant platform. */
  publicKey?: { id: string; key: PublicKeyInput } | undefined;
  /** Platform certificates (PEM), e.g. downloaded once with the official tool. */
  certificates?: CertificateInput[] | undefined;
}

/** The options of {@link PayV3} other than how it signs. Unknown keys are refused. */
export interface PayV3CommonOptions extends ClientOptions {
  /** Merchant id (商户号). */
  mchid: string | undefined;
  /**
   * The 32-character APIv3 key (not the APIv2 key), which decrypts downloaded platform
   * certificates; or a provider that reads it (`secretFromEnv`, `secretFromFile`, `secretFrom`).
   * While changing it in the merchant platform, a list with the current key first: a certificate
   * opens with whichever listed key its GCM tag verifies under (see docs/rotation.md). A provider
   * is read when first needed, and again once when no listed key opens a certificate.
   */
  apiV3Key: SecretInput | readonly SecretInput[] | undefined;
  /** Keys WeChat Pay signs with; at least one, unless `autoCertificates` is true. */
  platform?: PayV3PlatformOptions | undefined;
  /**
   * Download platform certificates from `GET /v3/certificates` when an answer names an unknown
   * certificate serial, and refresh them before they expire (default: true when
   * `platform.certificates` is given, else false). With nothing configured, the first download is
   * trusted because it decrypts with the APIv3 key (trust on first use; see the docs).
   */
  autoCertificates?: boolean | undefined;
  /** Least time between two certificate downloads prompted by unknown serials, ms (default 60 000). */
  certificateRefreshIntervalMs?: number | undefined;
  /** `User-Agent` (default `weixin-kit`). */
  userAgent?: string | undefined;
}

/** Signing with a {@link PayV3MerchantSigner}: the key stays in your KMS or HSM. */
export interface PayV3CustomSignerOptions {
  /** Signs requests and pay parameters: `{ serialNo, sign(message) }`, sync or async. */
  signer: PayV3MerchantSigner;
  privateKey?: undefined;
  merchantSerialNo?: undefined;
}

/** Signing with the merchant private key in this process (the {@link privateKeySigner}). */
export interface PayV3PrivateKeyOptions {
  /** Serial of the merchant API certificate (apiclient_cert.pem), see `certificateSerial`. */
  merchantSerialNo: string | undefined;
  /** The merchant private key (apiclient_key.pem): PEM text/bytes or a `KeyObject`; loaded once. */
  privateKey: PrivateKeyInput | undefined;
  signer?: undefined;
}

/**
 * Options of {@link PayV3}: the common client options, the merchant and its keys, and exactly one
 * way to sign — a `signer`, or `privateKey` + `merchantSerialNo`.
 */
export type PayV3Options = PayV3CommonOptions & (PayV3CustomSignerOptions | PayV3PrivateKeyOptions);

/** Options of {@link PayV3.request}: the per-call options plus what goes on the wire. */
export interface PayV3RequestOptions extends RequestOptions {
  query?: PayV3Query | undefined;
  /** A JSON body (serialised once; the exact string is signed and sent). A string is sent as is. */
  body?: unknown;
  /** `Wechatpay-Serial` for a request carrying sensitive fields: the `serial` from `encryptSensitive`. */
  wechatpaySerial?: string | undefined;
}

/** Params of {@link PayV3.jsapiPayParams} and {@link PayV3.appPayParams}: the order's appid and prepay_id. */
export interface PayParamsInput {
  appid: string;
  /** The bare `prepay_id` the order API answered (without `prepay_id=`). */
  prepay_id: string;
}

/** An encrypted sensitive field and the serial of the key used (send it as `Wechatpay-Serial`). */
export interface SensitiveCiphertext {
  ciphertext: string;
  serial: string;
}

const PAY_V3_OPTIONS = [
  'mchid',
  'signer',
  'merchantSerialNo',
  'privateKey',
  'apiV3Key',
  'platform',
  'autoCertificates',
  'certificateRefreshIntervalMs',
  'userAgent',
] as const;

const DEFAULT_BASE_URL = 'https://api.mch.weixin.qq.com';

function configError(message: string): ConfigError {
  return new ConfigError('INVALID_CONFIG', `PayV3: ${message}`);
}

function unset(value: unknown): string {
  return value === undefined
    ? 'it is undefined — if it comes from process.env, is the variable set?'
    : value === ''
      ? 'it is an empty string'
      : `got a ${typeof value}`;
}

/** The one signer of a client, from `signer` or from `privateKey` + `merchantSerialNo`; and the key, when held here. */
function signerOf(options: PayV3Options): { signer: PayV3MerchantSigner; privateKey: KeyObject | undefined } {
  const { signer, privateKey, merchantSerialNo } = options as {
    signer?: unknown;
    privateKey?: unknown;
    merchantSerialNo?: unknown;
  };
  if (signer !== undefined) {
    if (privateKey !== undefined || merchantSerialNo !== undefined) {
      throw configError(
        'give either signer, or privateKey + merchantSerialNo — not both (a signer holds its own key and serial)',
      );
    }
    const s = signer as Partial<PayV3MerchantSigner>;
    if (typeof s !== 'object' || s === null || typeof s.sign !== 'function') {
      throw configError('signer must be { serialNo, sign(message) } (see privateKeySigner)');
    }
    if (typeof s.serialNo !== 'string' || s.serialNo.trim() === '' || /[\r\n"]/.test(s.serialNo)) {
      throw configError(
        `signer.serialNo must be the serial of the merchant API certificate (${unset(s.serialNo)})`,
      );
    }
    return { signer: s as PayV3MerchantSigner, privateKey: undefined };
  }
  if (privateKey === undefined && merchantSerialNo === undefined) {
    throw configError(
      'needs a way to sign: privateKey (apiclient_key.pem) + merchantSerialNo, or a signer { serialNo, sign(message) } for a key kept in a KMS/HSM',
    );
  }
  if (typeof merchantSerialNo !== 'string' || merchantSerialNo.trim() === '') {
    throw configError(`merchantSerialNo is required with privateKey (${unset(merchantSerialNo)})`);
  }
  if (privateKey === undefined || privateKey === '') {
    throw configError(`privateKey is required with merchantSerialNo (${unset(privateKey)})`);
  }
  const key = loadPrivateKey(privateKey as PrivateKeyInput);
  return { signer: privateKeySigner({ privateKey: key, serialNo: merchantSerialNo }), privateKey: key };
}

/**
 * WeChat Pay API v3 client for one merchant: every request signed, **every** answer verified —
 * signature, known serial, ±300 s window, `WECHATPAY/SIGNTEST/` probes refused — before its body
 * is read; an answer that fails is an error, never data.
 *
 * Every API method is `method(params, options?)` and returns an `APIPromise`: await it for the
 * data, or call `.withResponse()` for the HTTP status, headers and `requestId` (WeChat Pay's
 * `Request-ID`, for a support ticket).
 *
 * Signing goes through a {@link PayV3MerchantSigner}: pass `signer` to keep the key in a KMS or an
 * HSM, or `privateKey` + `merchantSerialNo` for a key in this process.
 *
 * Retries (default 2, full-jitter backoff): only after a network error, a timeout, a 5xx or a 429,
 * and only for calls WeChat Pay deduplicates: queries (GET), close, order creation (same
 * `out_trade_no`) and refund creation (same `out_refund_no`) — a repeated order or refund with the
 * identical body gets the original answer. A 4xx is never retried; nor is media upload, nor a
 * `request()` POST, unless you pass `idempotent: true`.
 *
 * @example
 * const pay = new PayV3({
 *   mchid: '1900009191', merchantSerialNo, privateKey: readFileSync('apiclient_key.pem'), apiV3Key,
 *   platform: { publicKey: { id: 'PUB_KEY_ID_0119…', key: readFileSync('pub_key.pem') } },
 * });
 * const { prepay_id } = await pay.transactions.jsapi({
 *   appid, description: 'T-shirt', out_trade_no: 'A20260101001', notify_url,
 *   amount: { total: 100, currency: 'CNY' }, payer: { openid },
 * });
 * const params = await pay.jsapiPayParams({ appid, prepay_id }); // for wx.requestPayment
 */
export class PayV3 {
  /** Merchant id. */
  readonly mchid: string;
  /** Serial of the merchant API certificate that signs this client's requests. */
  readonly merchantSerialNo: string;
  readonly #signer: PayV3MerchantSigner;
  readonly #privateKey: KeyObject | undefined;
  readonly #trust: PlatformTrust;
  readonly #exchange: SignedExchange;
  readonly #now: Clock;
  readonly #random: RandomSource;
  /**
   * The WeChat Pay keys this client trusts, kept current across platform-certificate rotations.
   * Give it to the notification handler (`verifier: pay.platformTrust`), so notifications and
   * answers are verified by one trust: a rotation learnt by either side (or by another instance
   * through `store`) serves both, without a redeploy.
   *
   * @example
   * const notifications = createPayNotificationHandler({ apiV3Key, verifier: pay.platformTrust });
   */
  readonly platformTrust: PlatformTrust;

  /** Orders: create (JSAPI/Mini Program, Native, App, H5), get, close. */
  readonly transactions: PayTransactions;
  /** Domestic refunds: create, get. */
  readonly refunds: PayRefunds;
  /** Trade and fund-flow bills, and their download (whole or streamed). */
  readonly bills: PayBills;
  /** Merchant media: image upload. */
  readonly media: PayMedia;
  /** Platform certificates as `GET /v3/certificates` lists them. */
  readonly certificates: PayCertificates;

  constructor(options: PayV3Options) {
    checkOptions('PayV3', options, PAY_V3_OPTIONS, ['mchid'], CLIENT_OPTION_NAMES);
    this.mchid = options.mchid as string;
    const { signer, privateKey } = signerOf(options);
    this.#signer = signer;
    this.#privateKey = privateKey;
    this.merchantSerialNo = signer.serialNo;
    // Checked now when given as values; a provider's value when first read.
    const apiV3Key = options.apiV3Key as SecretInput | readonly SecretInput[];
    payV3ApiV3Keys(apiV3Key);
    const platform = options.platform ?? {};
    for (const key of Object.keys(platform)) {
      if (key !== 'publicKey' && key !== 'certificates') {
        throw configError(`unknown platform option "${key}" (allowed: publicKey, certificates)`);
      }
    }
    const certificates = platform.certificates ?? [];
    const autoCertificates = options.autoCertificates ?? certificates.length > 0;
    if (platform.publicKey === undefined && certificates.length === 0 && !autoCertificates) {
      throw configError(
        'platform needs the WeChat Pay public key (platform.publicKey: { id: "PUB_KEY_ID_…", key: pub_key.pem }, from 账户中心 → API安全 → 微信支付公钥) ' +
          'and/or platform certificates (platform.certificates); or set autoCertificates: true to download certificates (trusted on first use).',
      );
    }
    let baseUrl: URL;
    try {
      baseUrl = new URL(options.baseUrl ?? DEFAULT_BASE_URL);
    } catch {
      throw configError('baseUrl must be an absolute URL such as https://api.mch.weixin.qq.com');
    }
    if (baseUrl.protocol !== 'https:' && baseUrl.protocol !== 'http:') {
      throw configError('baseUrl must be an http(s) URL');
    }
    const retries = options.retries ?? 2;
    if (!Number.isInteger(retries) || retries < 0 || retries > 10) {
      throw configError(`retries must be an integer from 0 to 10 (got ${options.retries})`);
    }
    const refreshIntervalMs = options.certificateRefreshIntervalMs ?? 60_000;
    if (!Number.isFinite(refreshIntervalMs) || refreshIntervalMs < 0) {
      throw configError('certificateRefreshIntervalMs must be a number of milliseconds ≥ 0');
    }
    const hooks = splitHooks(options.hooks, options.logger).transport;
    this.#now = options.now ?? defaultClock;
    this.#random = options.random ?? defaultRandom;
    const timeoutMs = options.timeoutMs ?? 10_000;
    const userAgent = options.userAgent ?? 'weixin-kit';
    const fetchImpl = options.fetch ?? globalThis.fetch;
    const transport = new Transport({
      fetch: fetchImpl,
      timeoutMs,
      // Retries happen in the exchange, after verification, with a fresh signature per attempt.
      retries: 0,
      hooks,
      userAgent,
      ...(options.dispatcher === undefined ? {} : { dispatcher: options.dispatcher }),
      ...(options.scheduler === undefined ? {} : { scheduler: options.scheduler }),
    });
    const exchange = new SignedExchange({
      mchid: this.mchid,
      signer,
      baseUrl,
      transport,
      fetch: fetchImpl,
      dispatcher: options.dispatcher,
      userAgent,
      timeoutMs,
      retries,
      hooks,
      now: this.#now,
      random: this.#random,
      scheduler: options.scheduler ?? systemScheduler,
      verify: (message) => this.#trust.verify(message),
      tracing: options.tracing,
    });
    this.#exchange = exchange;
    this.#trust = this.platformTrust = new PlatformTrust({
      mchid: this.mchid,
      apiV3Key,
      ...(platform.publicKey === undefined ? {} : { publicKey: platform.publicKey }),
      certificates,
      autoCertificates,
      ...(options.store === undefined ? {} : { store: options.store }),
      now: this.#now,
      refreshIntervalMs,
      download: () => exchange.exchange('GET', exchange.url('/v3/certificates'), {}),
    });
    this.transactions = new PayTransactions(exchange);
    this.refunds = new PayRefunds(exchange);
    this.bills = new PayBills(exchange);
    this.media = new PayMedia(exchange);
    this.certificates = new PayCertificates(exchange);
  }

  /**
   * Sends any v3 API call — signed, verified, with the retry rules above — for APIs without a
   * typed method. `path` is the path after the host, e.g. `/v3/pay/transactions/jsapi`.
   *
   * @example
   * const page = await pay.request<{ total_count: number }>('GET', '/v3/merchant-service/complaints-v2', {
   *   query: { limit: 10, offset: 0, begin_date: '2026-01-01', end_date: '2026-01-30' },
   * });
   * const { data, response } = await pay.request('GET', path).withResponse(); // response.requestId
   */
  request<T = unknown>(method: HttpMethod, path: string, options: PayV3RequestOptions = {}): APIPromise<T> {
    return this.#exchange.call<T>(
      method,
      () => {
        if (typeof path !== 'string' || !path.startsWith('/v3/')) {
          throw new ArgumentError(`path must start with /v3/ (got ${JSON.stringify(String(path))})`);
        }
        return path;
      },
      options,
      method === 'GET',
    );
  }

  /**
   * The signed `wx.requestPayment` / `WeixinJSBridge` parameters for a JSAPI or Mini Program order,
   * signed by the client's signer — async, since a KMS or HSM may answer asynchronously.
   *
   * @example
   * const params = await pay.jsapiPayParams({ appid: 'wxd678efh567hg6787', prepay_id });
   */
  jsapiPayParams(params: PayParamsInput): Promise<JsapiPayParams> {
    return signJsapiPayParams(this.#signer, {
      appId: params?.appid,
      prepayId: params?.prepay_id,
      now: this.#now,
      random: this.#random,
    });
  }

  /**
   * The signed parameters for the APP SDK's `PayReq`, signed by the client's signer (async).
   *
   * @example
   * const req = await pay.appPayParams({ appid: 'wxd678efh567hg6787', prepay_id });
   */
  appPayParams(params: PayParamsInput): Promise<AppPayParams> {
    return signAppPayParams(this.#signer, {
      appId: params?.appid,
      partnerId: this.mchid,
      prepayId: params?.prepay_id,
      now: this.#now,
      random: this.#random,
    });
  }

  /**
   * Encrypts a sensitive field (RSA-OAEP SHA-1) with the WeChat Pay public key, or the newest
   * valid platform certificate when no public key is configured. Send the request with
   * `wechatpaySerial: serial`; encrypt every field of one request with the same key.
   *
   * @example
   * const name = await pay.encryptSensitive('张三');
   * await pay.request('POST', '/v3/…', { body: { name: name.ciphertext }, wechatpaySerial: name.serial });
   */
  async encryptSensitive(plaintext: string): Promise<SensitiveCiphertext> {
    const { serial, key } = await this.#trust.encryptionKey();
    return { ciphertext: oaepEncrypt(plaintext, key), serial };
  }

  /**
   * Decrypts a sensitive field WeChat Pay encrypted for this merchant (merchant private key). Needs
   * the key in this process (`privateKey`); with a `signer`, decrypt with your KMS (RSA-OAEP, SHA-1).
   *
   * @example
   * const name = pay.decryptSensitive(answer.name);
   */
  decryptSensitive(ciphertext: string): string {
    if (this.#privateKey === undefined) {
      throw configError(
        'decryptSensitive needs the merchant private key in this process (the privateKey option); with a signer, decrypt the field where the key is (RSA-OAEP with SHA-1)',
      );
    }
    return oaepDecrypt(ciphertext, this.#privateKey);
  }

  /**
   * Verifies something else WeChat Pay signed — a notification — with this client's trust, by
   * the same rules as answers (window, probe, serial, signature; an unknown certificate serial
   * triggers one rate-limited download when `autoCertificates` is on). Pass the raw body.
   *
   * @example
   * await pay.verifySignature({ headers: req.headers, body: rawBody }); // throws SignatureError
   */
  async verifySignature(input: { headers: HeadersInput; body: string | Uint8Array }): Promise<void> {
    const headers = new Headers();
    if (input.headers instanceof Headers) {
      input.headers.forEach((value, name) => {
        headers.append(name, value);
      });
    } else {
      for (const [name, value] of Object.entries(input.headers ?? {})) {
        if (typeof value === 'string') headers.append(name, value);
        else if (Array.isArray(value)) for (const v of value) headers.append(name, v);
      }
    }
    const body = input.body;
    if (typeof body !== 'string' && !(body instanceof Uint8Array)) {
      throw new ArgumentError(
        'body must be the raw body (string or bytes) exactly as received; a parsed body cannot be verified',
      );
    }
    await this.#trust.verify({ headers, body });
  }

  /** Serials and public-key id currently trusted (public values). */
  knownSerials(): string[] {
    return this.#trust.knownSerials();
  }

  /**
   * Downloads the platform certificates now (still at most once per `certificateRefreshIntervalMs`).
   *
   * @example
   * await pay.refreshCertificates();
   */
  refreshCertificates(): Promise<void> {
    return this.#trust.refresh();
  }
}
