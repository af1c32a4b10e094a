import { createHash, type KeyObject } from 'node:crypto';
import { ConfigError, TransportError, WeChatKitError } from '../../core/errors.js';
import { callHook, type TransportHooks } from '../../core/hooks.js';
import { redactUrl } from '../../core/redact.js';
import { type HttpMethod, Transport } from '../../core/transport.js';
import type { TokenStore } from '../../credentials/token-store.js';
import { loadPrivateKey } from '../../crypto/keys.js';
import { oaepDecrypt, oaepEncrypt } from '../../crypto/pay-v3-oaep.js';
import {
  type AppPayParams,
  buildAppPayParams,
  buildJsapiPayParams,
  type JsapiPayParams,
  PayV3Signer,
  type PrivateKeyInput,
} from '../../crypto/pay-v3-sign.js';
import type { CertificateInput, HeadersInput, PublicKeyInput } from '../../crypto/pay-v3-verify.js';
import { sleep } from '../../internal/abort.js';
import { type Clock, defaultClock, defaultRandom, type RandomSource } from '../../internal/bytes.js';
import { isUnsigned, parseVerifiedJson, payApiErrorOf, type RawAnswer } from './answer.js';
import { checkedBill, DEFAULT_MAX_BILL_BYTES } from './bill-file.js';
import { PlatformTrust } from './platform-trust.js';
import type {
  AppOrder,
  Bill,
  CreateRefund,
  FundFlowBillQuery,
  H5Order,
  JsapiOrder,
  MediaFile,
  NativeOrder,
  Refund,
  TradeBillQuery,
  Transaction,
} from './types.js';

/** The WeChat Pay keys this client trusts to sign answers. Both at once during a migration. */
export interface PayV3PlatformOptions {
  /** The WeChat Pay public key (pub_key.pem) and its id `PUB_KEY_ID_…`, from the merchant platform. */
  publicKey?: { id: string; key: PublicKeyInput };
  /** Platform certificates (PEM), e.g. downloaded once with the official tool. */
  certificates?: CertificateInput[];
}

/** Options of {@link PayV3}. Unknown keys are refused. */
export interface PayV3Options {
  /** Merchant id (商户号). */
  mchid: string;
  /** Serial of the merchant API certificate (apiclient_cert.pem), see `certificateSerial`. */
  merchantSerialNo: string;
  /** The merchant private key (apiclient_key.pem): PEM text/bytes or a `KeyObject`; loaded once. */
  privateKey: PrivateKeyInput;
  /** The 32-character APIv3 key (not the APIv2 key). */
  apiV3Key: string;
  /** Keys WeChat Pay signs with; at least one, unless `autoCertificates` is true. */
  platform?: PayV3PlatformOptions;
  /**
   * Download platform certificates from `GET /v3/certificates` when an answer names an unknown
   * certificate serial, and refresh them before they expire (default: true when
   * `platform.certificates` is given, else false). With nothing configured, the first download is
   * trusted because it decrypts with the APIv3 key (trust on first use; see the docs).
   */
  autoCertificates?: boolean;
  /** Least time between two certificate downloads prompted by unknown serials, ms (default 60 000). */
  certificateRefreshIntervalMs?: number;
  /** Default `https://api.mch.weixin.qq.com`. */
  baseUrl?: string;
  /** The Web `fetch` to send with (default the global one). */
  fetch?: typeof fetch;
  /** Time allowed per attempt, ms (default 10 000). */
  timeoutMs?: number;
  /** Retries of retry-safe calls after a network error, timeout, 5xx or 429 (default 2). */
  retries?: number;
  /** Observation hooks (logging, metrics). */
  hooks?: TransportHooks;
  /** Shares downloaded platform certificates across instances (key `weixin-kit:pay_platform_certificates:<mchid>`). */
  store?: TokenStore;
  /** Clock in ms (default `Date.now`): request timestamps and the ±300 s window. */
  now?: Clock;
  /** Randomness (default `crypto.randomBytes`): nonces and backoff jitter. */
  random?: RandomSource;
  /** `User-Agent` (default `weixin-kit`). */
  userAgent?: string;
}

/** Per-call options, last argument of every method. */
export interface PayV3CallOptions {
  signal?: AbortSignal;
  timeoutMs?: number;
}

/** Options of `bills.download`. */
export interface BillDownloadOptions extends PayV3CallOptions {
  /**
   * Largest bill accepted, in bytes once decompressed (default 256 MiB). A GZIP bill is
   * decompressed as a stream and abandoned past it, so a small file that inflates enormously cannot
   * exhaust memory.
   */
  maxBytes?: number;
}

/** Options of {@link PayV3.request}. */
export interface PayV3RequestOptions extends PayV3CallOptions {
  query?: Record<string, string | number | boolean | undefined>;
  /** A JSON body (serialised once; the exact string is signed and sent). A string is sent as is. */
  body?: unknown;
  /** `Wechatpay-Serial` for a request carrying sensitive fields: the `serial` from `encryptSensitive`. */
  wechatpaySerial?: string;
  /**
   * Whether the call may be repeated after a network error, timeout, 5xx or 429. Default: true
   * for GET only. Set it for a POST only when WeChat Pay deduplicates it (same out_trade_no…).
   */
  idempotent?: boolean;
}

/** A verified answer of {@link PayV3.request}. */
export interface PayV3Response<T> {
  status: number;
  headers: Headers;
  /** The parsed JSON body; `undefined` for 204. */
  data: T;
  /** WeChat Pay's `Request-ID`. */
  requestId: string | undefined;
}

/** An encrypted sensitive field and the serial of the key used (send it as `Wechatpay-Serial`). */
export interface SensitiveCiphertext {
  ciphertext: string;
  serial: string;
}

interface ExchangeOptions {
  body?: string | FormData;
  /** What to sign as the body when it differs from what is sent (media upload: the meta JSON). */
  signedBody?: string;
  headers?: Record<string, string>;
  accept?: string;
  signal?: AbortSignal;
  timeoutMs?: number;
}

const KNOWN_OPTIONS = new Set([
  'mchid',
  'merchantSerialNo',
  'privateKey',
  'apiV3Key',
  'platform',
  'autoCertificates',
  'certificateRefreshIntervalMs',
  'baseUrl',
  'fetch',
  'timeoutMs',
  'retries',
  'hooks',
  'store',
  'now',
  'random',
  'userAgent',
]);

const DEFAULT_BASE_URL = 'https://api.mch.weixin.qq.com';

function configError(message: string): ConfigError {
  return new ConfigError('INVALID_CONFIG', `PayV3: ${message}`);
}

function checkApiV3Key(value: unknown): string {
  if (typeof value !== 'string' || Buffer.byteLength(value, 'utf8') !== 32) {
    const length = typeof value === 'string' ? Buffer.byteLength(value, 'utf8') : 0;
    throw new ConfigError(
      'BAD_KEY',
      `PayV3: apiV3Key must be the 32-character APIv3 key set in 账户中心 → API安全 → APIv3密钥 (got ${typeof value === 'string' ? `${length} bytes` : typeof value}); it is used as is — not base64/hex-decoded — and it is not the APIv2 key.`,
    );
  }
  return value;
}

function nonEmpty(name: string, value: unknown): string {
  if (typeof value !== 'string' || value.trim() === '')
    throw configError(`${name} must be a non-empty string`);
  return value;
}

function argument(name: string, value: unknown): string {
  if (typeof value !== 'string' || value === '') {
    throw new WeChatKitError('INVALID_ARGUMENT', `${name} must be a non-empty string`);
  }
  return value;
}

const IMAGE_TYPES: Record<string, string> = {
  jpg: 'image/jpeg',
  jpeg: 'image/jpeg',
  png: 'image/png',
  bmp: 'image/bmp',
};

/**
 * WeChat Pay API v3 client for one merchant: every request signed, **every** answer verified —
 * signature, known serial, ±300 s window, `WECHATPAY/SIGNTEST/` probes refused — before its body
 * is read; an answer that fails is an error, never data.
 *
 * Retries (default 2, full-jitter backoff): only after a network error, a timeout, a 5xx or a 429,
 * and only for calls WeChat Pay deduplicates: queries (GET), close, order creation (same
 * `out_trade_no`) and refund creation (same `out_refund_no`) — a repeated order or refund with the
 * identical body gets the original answer. A 4xx is never retried; nor is media upload, nor a
 * `request()` POST unless you pass `idempotent: true`.
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
 * const params = pay.jsapiPayParams(appid, prepay_id); // for wx.requestPayment
 */
export class PayV3 {
  /** Merchant id. */
  readonly mchid: string;
  readonly #signer: PayV3Signer;
  readonly #privateKey: KeyObject;
  readonly #trust: PlatformTrust;
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
  readonly #transport: Transport;
  readonly #baseUrl: URL;
  readonly #retries: number;
  readonly #hooks: TransportHooks;
  readonly #now: Clock;
  readonly #random: RandomSource;
  #calls = 0;

  /** Orders: create (JSAPI/Mini Program, Native, App, H5), query, close. */
  readonly transactions: {
    /** `POST /v3/pay/transactions/jsapi` (JSAPI and Mini Program); `mchid` is filled in. */
    jsapi(body: JsapiOrder, options?: PayV3CallOptions): Promise<{ prepay_id: string }>;
    /** `POST /v3/pay/transactions/native`. */
    native(body: NativeOrder, options?: PayV3CallOptions): Promise<{ code_url: string }>;
    /** `POST /v3/pay/transactions/app`. */
    app(body: AppOrder, options?: PayV3CallOptions): Promise<{ prepay_id: string }>;
    /** `POST /v3/pay/transactions/h5`. */
    h5(body: H5Order, options?: PayV3CallOptions): Promise<{ h5_url: string }>;
    /** `GET /v3/pay/transactions/out-trade-no/{out_trade_no}?mchid=`. */
    queryByOutTradeNo(outTradeNo: string, options?: PayV3CallOptions): Promise<Transaction>;
    /** `GET /v3/pay/transactions/id/{transaction_id}?mchid=`. */
    queryById(transactionId: string, options?: PayV3CallOptions): Promise<Transaction>;
    /** `POST /v3/pay/transactions/out-trade-no/{out_trade_no}/close` (answers 204). */
    close(outTradeNo: string, options?: PayV3CallOptions): Promise<void>;
  };

  /** Domestic refunds. */
  readonly refunds: {
    /** `POST /v3/refund/domestic/refunds`. */
    create(body: CreateRefund, options?: PayV3CallOptions): Promise<Refund>;
    /** `GET /v3/refund/domestic/refunds/{out_refund_no}`. */
    query(outRefundNo: string, options?: PayV3CallOptions): Promise<Refund>;
  };

  /** Trade and fund-flow bills. */
  readonly bills: {
    /** `GET /v3/bill/tradebill`. */
    tradeBill(query: TradeBillQuery, options?: PayV3CallOptions): Promise<Bill>;
    /** `GET /v3/bill/fundflowbill`. */
    fundFlowBill(query: FundFlowBillQuery, options?: PayV3CallOptions): Promise<Bill>;
    /**
     * Downloads a bill file (signed request to `download_url`) and answers the bill itself,
     * checked against the bill's `hash_value`. A GZIP bill (`tar_type: 'GZIP'`) is decompressed
     * first — as a stream, stopped past `maxBytes` (`PayloadError` `PAYLOAD_TOO_LARGE`) — since
     * `hash_value` is the SHA1 of the decompressed bill; a mismatch, or a GZIP file that does not
     * decompress, throws {@link BillHashError}. The file itself is not signed by WeChat Pay: the
     * digest, from a verified answer, is what authenticates it.
     *
     * @example
     * const bill = await pay.bills.tradeBill({ bill_date: '2026-01-01', tar_type: 'GZIP' });
     * const csv = new TextDecoder().decode(await pay.bills.download(bill));
     */
    download(bill: Bill, options?: BillDownloadOptions): Promise<Uint8Array>;
  };

  /** Merchant media. */
  readonly media: {
    /** `POST /v3/merchant/media/upload`: multipart `meta` (`{filename, sha256}`, the signed body) + `file`. */
    uploadImage(file: MediaFile, options?: PayV3CallOptions): Promise<{ media_id: string }>;
  };

  constructor(options: PayV3Options) {
    if (typeof options !== 'object' || options === null) throw configError('options must be an object');
    for (const key of Object.keys(options)) {
      if (!KNOWN_OPTIONS.has(key)) {
        throw configError(`unknown option "${key}" (allowed: ${[...KNOWN_OPTIONS].join(', ')})`);
      }
    }
    this.mchid = nonEmpty('mchid', options.mchid);
    const merchantSerialNo = nonEmpty('merchantSerialNo', options.merchantSerialNo);
    this.#privateKey = loadPrivateKey(options.privateKey);
    this.#signer = new PayV3Signer({
      mchid: this.mchid,
      serialNo: merchantSerialNo,
      privateKey: this.#privateKey,
    });
    const apiV3Key = checkApiV3Key(options.apiV3Key);
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
    this.#baseUrl = baseUrl;
    this.#retries = options.retries ?? 2;
    if (!Number.isInteger(this.#retries) || this.#retries < 0 || this.#retries > 10) {
      throw configError(`retries must be an integer from 0 to 10 (got ${options.retries})`);
    }
    const refreshIntervalMs = options.certificateRefreshIntervalMs ?? 60_000;
    if (!Number.isFinite(refreshIntervalMs) || refreshIntervalMs < 0) {
      throw configError('certificateRefreshIntervalMs must be a number of milliseconds ≥ 0');
    }
    this.#hooks = options.hooks ?? {};
    this.#now = options.now ?? defaultClock;
    this.#random = options.random ?? defaultRandom;
    this.#transport = new Transport({
      ...(options.fetch === undefined ? {} : { fetch: options.fetch }),
      timeoutMs: options.timeoutMs ?? 10_000,
      // Retries happen here, after verification, with a fresh signature per attempt.
      retries: 0,
      hooks: this.#hooks,
      userAgent: options.userAgent ?? 'weixin-kit',
    });
    this.#trust = this.platformTrust = new PlatformTrust({
      mchid: this.mchid,
      apiV3Key,
      ...(platform.publicKey === undefined ? {} : { publicKey: platform.publicKey }),
      certificates,
      autoCertificates,
      ...(options.store === undefined ? {} : { store: options.store }),
      now: this.#now,
      refreshIntervalMs,
      download: () => this.#exchange('GET', this.#url('/v3/certificates'), {}),
    });

    const mchid = this.mchid;
    const order =
      <R>(kind: string) =>
      async (body: object, o?: PayV3CallOptions): Promise<R> => {
        const filled = fillMchid(body, mchid);
        return (
          await this.#call<R>('POST', `/v3/pay/transactions/${kind}`, {
            ...o,
            body: filled,
            idempotent: true,
          })
        ).data;
      };
    this.transactions = {
      jsapi: order<{ prepay_id: string }>('jsapi'),
      native: order<{ code_url: string }>('native'),
      app: order<{ prepay_id: string }>('app'),
      h5: order<{ h5_url: string }>('h5'),
      queryByOutTradeNo: async (no, o) =>
        (
          await this.#call<Transaction>(
            'GET',
            `/v3/pay/transactions/out-trade-no/${encodeURIComponent(argument('outTradeNo', no))}`,
            { ...o, query: { mchid } },
          )
        ).data,
      queryById: async (id, o) =>
        (
          await this.#call<Transaction>(
            'GET',
            `/v3/pay/transactions/id/${encodeURIComponent(argument('transactionId', id))}`,
            { ...o, query: { mchid } },
          )
        ).data,
      close: async (no, o) => {
        await this.#call(
          'POST',
          `/v3/pay/transactions/out-trade-no/${encodeURIComponent(argument('outTradeNo', no))}/close`,
          { ...o, body: { mchid }, idempotent: true },
        );
      },
    };
    this.refunds = {
      create: async (body, o) =>
        (await this.#call<Refund>('POST', '/v3/refund/domestic/refunds', { ...o, body, idempotent: true }))
          .data,
      query: async (no, o) =>
        (
          await this.#call<Refund>(
            'GET',
            `/v3/refund/domestic/refunds/${encodeURIComponent(argument('outRefundNo', no))}`,
            o ?? {},
          )
        ).data,
    };
    this.bills = {
      tradeBill: async (query, o) =>
        (await this.#call<Bill>('GET', '/v3/bill/tradebill', { ...o, query: { ...query } })).data,
      fundFlowBill: async (query, o) =>
        (await this.#call<Bill>('GET', '/v3/bill/fundflowbill', { ...o, query: { ...query } })).data,
      download: (bill, o) => this.#downloadBill(bill, o ?? {}),
    };
    this.media = { uploadImage: (file, o) => this.#uploadImage(file, o ?? {}) };
  }

  /**
   * Sends any v3 API call — signed, verified, with the retry rules above — for APIs without a
   * typed method. `path` is the path after the host, e.g. `/v3/pay/transactions/jsapi`.
   *
   * @example
   * const { data } = await pay.request<{ total_count: number }>('GET', '/v3/merchant-service/complaints-v2', {
   *   query: { limit: 10, offset: 0, begin_date: '2026-01-01', end_date: '2026-01-30' },
   * });
   */
  request<T = unknown>(
    method: HttpMethod,
    path: string,
    options: PayV3RequestOptions = {},
  ): Promise<PayV3Response<T>> {
    if (typeof path !== 'string' || !path.startsWith('/v3/')) {
      throw new WeChatKitError(
        'INVALID_ARGUMENT',
        `path must start with /v3/ (got ${JSON.stringify(String(path))})`,
      );
    }
    return this.#call<T>(method, path, options);
  }

  /**
   * The signed `wx.requestPayment` / `WeixinJSBridge` parameters for a JSAPI or Mini Program order.
   *
   * @example
   * const params = pay.jsapiPayParams('wxd678efh567hg6787', prepay_id);
   */
  jsapiPayParams(appId: string, prepayId: string): JsapiPayParams {
    return buildJsapiPayParams({
      appId,
      prepayId,
      privateKey: this.#privateKey,
      now: this.#now,
      random: this.#random,
    });
  }

  /**
   * The signed parameters for the APP SDK's `PayReq`.
   *
   * @example
   * const req = pay.appPayParams('wxd678efh567hg6787', prepay_id);
   */
  appPayParams(appId: string, prepayId: string): AppPayParams {
    return buildAppPayParams({
      appId,
      partnerId: this.mchid,
      prepayId,
      privateKey: this.#privateKey,
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
   * Decrypts a sensitive field WeChat Pay encrypted for this merchant (merchant private key).
   *
   * @example
   * const name = pay.decryptSensitive(answer.name);
   */
  decryptSensitive(ciphertext: string): string {
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
      throw new WeChatKitError(
        'INVALID_ARGUMENT',
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

  #url(path: string, query?: PayV3RequestOptions['query']): URL {
    const url = new URL(path, this.#baseUrl);
    if (this.#baseUrl.pathname !== '/' && this.#baseUrl.pathname !== '') {
      url.pathname = `${this.#baseUrl.pathname.replace(/\/$/, '')}${path.split('?')[0]}`;
    }
    for (const [key, value] of Object.entries(query ?? {})) {
      if (value !== undefined) url.searchParams.append(key, String(value));
    }
    return url;
  }

  /** One signed exchange, answered raw (nothing verified or parsed yet). */
  async #exchange(method: HttpMethod, url: URL, o: ExchangeOptions): Promise<RawAnswer> {
    const signedUrl = `${url.pathname}${url.search}`;
    const authorization = this.#signer.authorization({
      method,
      url: signedUrl,
      body: o.signedBody ?? (typeof o.body === 'string' ? o.body : ''),
      now: this.#now,
      random: this.#random,
    });
    const headers: Record<string, string> = {
      ...o.headers,
      Authorization: authorization,
      Accept: o.accept ?? 'application/json',
    };
    if (typeof o.body === 'string') headers['Content-Type'] = 'application/json';
    const answer = await this.#transport.request<Uint8Array>({
      method,
      url: url.href,
      ...(o.body === undefined ? {} : { body: o.body }),
      headers,
      raw: true,
      idempotent: false,
      ...(o.signal === undefined ? {} : { signal: o.signal }),
      ...(o.timeoutMs === undefined ? {} : { timeoutMs: o.timeoutMs }),
    });
    return { status: answer.status, headers: answer.headers, bytes: answer.data };
  }

  /** Sends with retries; resolves with a verified 2xx answer, throws otherwise. */
  async #send(
    method: HttpMethod,
    url: URL,
    o: ExchangeOptions & { idempotent: boolean },
    verify2xx = true,
  ): Promise<RawAnswer> {
    const path = url.pathname;
    const id = `wk-pay-${++this.#calls}`;
    for (let attempt = 1; ; attempt += 1) {
      let failure: unknown;
      let retryable = false;
      try {
        const answer = await this.#exchange(method, url, o);
        const ok = answer.status >= 200 && answer.status <= 299;
        const transient = answer.status >= 500 || answer.status === 429;
        if (transient && isUnsigned(answer.headers)) {
          // A gateway answer (no WeChat Pay signature): an error whose body is never read.
          failure = new TransportError(
            'HTTP_ERROR',
            `WeChat Pay ${method} ${path} answered HTTP ${answer.status} without a WeChat Pay signature (a gateway error); its body was not used`,
            { status: answer.status },
          );
          retryable = true;
        } else {
          if (!ok || verify2xx) await this.#trust.verify({ headers: answer.headers, body: answer.bytes });
          if (ok) return answer;
          failure = payApiErrorOf(answer, method, path);
          retryable = transient;
        }
      } catch (error) {
        failure = error;
        retryable =
          error instanceof TransportError && (error.code === 'NETWORK_ERROR' || error.code === 'TIMEOUT');
      }
      if (!retryable || !o.idempotent || attempt > this.#retries || o.signal?.aborted) throw failure;
      const bytes = this.#random(4);
      const unit =
        ((bytes[0] ?? 0) * 2 ** 24 + (bytes[1] ?? 0) * 2 ** 16 + (bytes[2] ?? 0) * 256 + (bytes[3] ?? 0)) /
        2 ** 32;
      const delayMs = Math.round(unit * Math.min(2000, 100 * 2 ** (attempt - 1)));
      callHook(this.#hooks.onRetry, {
        id,
        method,
        url: redactUrl(url.href),
        attempt,
        delayMs,
        reason: failure instanceof WeChatKitError ? failure.code : 'UNKNOWN',
        error: failure as Error,
      });
      await sleep(delayMs, o.signal);
    }
  }

  async #call<T>(method: HttpMethod, path: string, options: PayV3RequestOptions): Promise<PayV3Response<T>> {
    const url = this.#url(path, options.query);
    if (options.body !== undefined && (method === 'GET' || method === 'HEAD')) {
      throw new WeChatKitError(
        'INVALID_ARGUMENT',
        `a ${method} request cannot have a body; put the values in query`,
      );
    }
    const body =
      options.body === undefined
        ? undefined
        : typeof options.body === 'string'
          ? options.body
          : JSON.stringify(options.body);
    const answer = await this.#send(method, url, {
      ...(body === undefined ? {} : { body }),
      ...(options.wechatpaySerial === undefined
        ? {}
        : { headers: { 'Wechatpay-Serial': options.wechatpaySerial } }),
      ...(options.signal === undefined ? {} : { signal: options.signal }),
      ...(options.timeoutMs === undefined ? {} : { timeoutMs: options.timeoutMs }),
      idempotent: options.idempotent ?? method === 'GET',
    });
    return {
      status: answer.status,
      headers: answer.headers,
      data: parseVerifiedJson(answer, method, url.pathname) as T,
      requestId: answer.headers.get('request-id') ?? undefined,
    };
  }

  async #downloadBill(bill: Bill, o: BillDownloadOptions): Promise<Uint8Array> {
    const maxBytes = o.maxBytes ?? DEFAULT_MAX_BILL_BYTES;
    if (typeof maxBytes !== 'number' || !Number.isSafeInteger(maxBytes) || maxBytes <= 0) {
      throw new WeChatKitError('INVALID_ARGUMENT', 'maxBytes must be a whole number of bytes above 0');
    }
    if (typeof bill !== 'object' || bill === null) {
      throw new WeChatKitError(
        'INVALID_ARGUMENT',
        'bill must be the answer of bills.tradeBill() or bills.fundFlowBill()',
      );
    }
    const link = argument('bill.download_url', bill.download_url);
    const expected = argument('bill.hash_value', bill.hash_value);
    let url: URL;
    try {
      url = new URL(link);
    } catch {
      throw new WeChatKitError('INVALID_ARGUMENT', 'bill.download_url is not an absolute URL');
    }
    // The signed request goes only where the client is configured to talk.
    if (url.origin !== this.#baseUrl.origin) {
      throw new WeChatKitError(
        'INVALID_ARGUMENT',
        `bill.download_url points at ${url.origin}, not at ${this.#baseUrl.origin}: refusing to send a signed request elsewhere`,
      );
    }
    const hashType = (bill.hash_type ?? 'SHA1').toUpperCase();
    if (hashType !== 'SHA1') {
      throw new WeChatKitError(
        'INVALID_ARGUMENT',
        `bill.hash_type ${JSON.stringify(bill.hash_type)} is not supported (WeChat Pay uses SHA1)`,
      );
    }
    // The file answer is not signed by WeChat Pay; its error answers are, and are verified.
    const answer = await this.#send(
      'GET',
      url,
      {
        accept: '*/*',
        ...(o.signal === undefined ? {} : { signal: o.signal }),
        ...(o.timeoutMs === undefined ? {} : { timeoutMs: o.timeoutMs }),
        idempotent: true,
      },
      false,
    );
    return checkedBill(answer.bytes, { type: hashType, expected }, maxBytes);
  }

  async #uploadImage(file: MediaFile, o: PayV3CallOptions): Promise<{ media_id: string }> {
    if (typeof file !== 'object' || file === null || !(file.data instanceof Uint8Array)) {
      throw new WeChatKitError('INVALID_ARGUMENT', 'file must be { filename, data: Uint8Array }');
    }
    const filename = argument('file.filename', file.filename);
    const ext = /\.([A-Za-z0-9]+)$/.exec(filename)?.[1]?.toLowerCase() ?? '';
    const contentType = file.contentType ?? IMAGE_TYPES[ext];
    if (contentType === undefined) {
      throw new WeChatKitError(
        'INVALID_ARGUMENT',
        'file.filename must end in .jpg, .jpeg, .png or .bmp (or pass contentType)',
      );
    }
    const sha256 = createHash('sha256').update(file.data).digest('hex');
    const meta = JSON.stringify({ filename, sha256 });
    const form = new FormData();
    form.append('meta', new Blob([meta], { type: 'application/json' }));
    form.append('file', new Blob([new Uint8Array(file.data)], { type: contentType }), filename);
    const url = this.#url('/v3/merchant/media/upload');
    const answer = await this.#send('POST', url, {
      body: form,
      signedBody: meta,
      ...(o.signal === undefined ? {} : { signal: o.signal }),
      ...(o.timeoutMs === undefined ? {} : { timeoutMs: o.timeoutMs }),
      idempotent: false,
    });
    return parseVerifiedJson(answer, 'POST', url.pathname) as { media_id: string };
  }
}

function fillMchid(body: object, mchid: string): object {
  if (typeof body !== 'object' || body === null) {
    throw new WeChatKitError('INVALID_ARGUMENT', 'the order body must be an object');
  }
  const given = (body as { mchid?: unknown }).mchid;
  if (given !== undefined && given !== mchid) {
    throw new WeChatKitError(
      'INVALID_ARGUMENT',
      `body.mchid ${JSON.stringify(given)} is not this client's mchid ${mchid}`,
    );
  }
  return { ...body, mchid };
}
