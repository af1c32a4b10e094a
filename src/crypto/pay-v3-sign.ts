import { constants, type KeyObject, sign } from 'node:crypto';
import { ArgumentError, ConfigError } from '../errors.js';
import {
  type Clock,
  defaultClock,
  defaultRandom,
  type RandomSource,
  randomHex,
  unixSeconds,
} from '../internal/bytes.js';
import { loadPrivateKey } from './keys.js';

/**
 * WeChat Pay API v3 request signing (SHA256withRSA = RSASSA-PKCS1-v1_5 + SHA-256) and the
 * client-side pay parameters (JSAPI / Mini Program `paySign`, APP `sign`) signed the same way.
 */

/** The merchant private key: a `KeyObject` from {@link loadPrivateKey} (fast path), or PEM text/bytes. */
export type PrivateKeyInput = KeyObject | string | Uint8Array;

/** The `Authorization` scheme WeChat Pay API v3 expects. */
const PAY_V3_AUTH_SCHEME = 'WECHATPAY2-SHA256-RSA2048';

function invalid(message: string): ConfigError {
  return new ArgumentError(message);
}

/** A field that ends up inside the newline-separated message or a quoted header parameter. */
function checkField(name: string, value: unknown): string {
  if (typeof value !== 'string' || value === '') throw invalid(`${name} must be a non-empty string.`);
  if (/[\r\n"]/.test(value)) {
    throw invalid(
      `${name} must not contain line breaks or double quotes: they would corrupt the signed message.`,
    );
  }
  return value;
}

function checkMethod(method: unknown): string {
  if (typeof method !== 'string' || !/^[A-Za-z]+$/.test(method)) {
    throw invalid('method must be an HTTP method such as GET or POST.');
  }
  return method.toUpperCase();
}

function checkUrl(url: unknown): string {
  if (typeof url !== 'string' || url === '') throw invalid('url must be the request path plus query.');
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(url)) {
    throw invalid(
      'url must be the path plus query exactly as sent, without scheme and host — e.g. "/v3/pay/transactions/jsapi", not "https://api.mch.weixin.qq.com/v3/pay/transactions/jsapi".',
    );
  }
  if (!url.startsWith('/') || /\s/.test(url)) {
    throw invalid(
      'url must start with "/" and contain no whitespace: sign the path plus query exactly as sent.',
    );
  }
  return url;
}

/**
 * Formats a Unix timestamp in seconds, refusing milliseconds — a millisecond timestamp makes
 * WeChat Pay answer 401 SIGN_ERROR because it is "more than 5 minutes" off.
 */
function formatTimestamp(timestamp: string | number | undefined, now: Clock = defaultClock): string {
  if (timestamp === undefined) return String(unixSeconds(now));
  const text =
    typeof timestamp === 'number' ? (Number.isSafeInteger(timestamp) ? String(timestamp) : '') : timestamp;
  if (!/^\d+$/.test(text)) throw invalid('timestamp must be a Unix time in whole seconds (digits only).');
  if (text.length > 11) {
    throw invalid(
      'timestamp looks like milliseconds; WeChat Pay expects Unix seconds (Math.floor(Date.now() / 1000)).',
    );
  }
  return text;
}

function toBytes(value: string | Uint8Array): Buffer {
  if (typeof value === 'string') return Buffer.from(value, 'utf8');
  return Buffer.from(value.buffer, value.byteOffset, value.byteLength);
}

/**
 * The string WeChat Pay v3 signs for a request: `METHOD\nURL\nTIMESTAMP\nNONCE\nBODY\n`, with the
 * method uppercased and the URL being the path plus query exactly as sent. A GET has an empty
 * body, so its message ends in `\n\n`. Useful to print when a signature is refused.
 *
 * @example
 * payV3SignatureMessage('GET', '/v3/certificates', '1554208460', '593BEC0C930BF1AFEB40B4A08C8FB242', '');
 * // 'GET\n/v3/certificates\n1554208460\n593BEC0C930BF1AFEB40B4A08C8FB242\n\n'
 */
export function payV3SignatureMessage(
  method: string,
  url: string,
  timestamp: string | number,
  nonce: string,
  body: string | Uint8Array = '',
): string {
  return requestMessage(method, url, formatTimestamp(timestamp), nonce, body).toString('utf8');
}

function requestMessage(
  method: string,
  url: string,
  timestamp: string,
  nonce: string,
  body: string | Uint8Array,
): Buffer {
  const head = `${checkMethod(method)}\n${checkUrl(url)}\n${timestamp}\n${checkField('nonce', nonce)}\n`;
  // Bytes are signed as given: decoding and re-encoding could change them.
  return Buffer.concat([Buffer.from(head, 'utf8'), toBytes(body), Buffer.from('\n', 'utf8')]);
}

/** SHA256withRSA over `message`, base64-encoded: the building block of every v3 signature. */
function rsaSha256Sign(message: string | Uint8Array, privateKey: PrivateKeyInput): string {
  const key = loadPrivateKey(privateKey);
  try {
    return sign('sha256', toBytes(message), { key, padding: constants.RSA_PKCS1_PADDING }).toString('base64');
  } catch (cause) {
    throw new ConfigError(
      'BAD_KEY',
      'The private key could not make an RSA SHA-256 signature (is it far smaller than 2048 bits?). WeChat Pay uses RSA-2048 keys: use apiclient_key.pem from the merchant platform.',
      { cause },
    );
  }
}

/** Options of {@link buildAuthorization}. */
export interface AuthorizationOptions {
  /** HTTP method; uppercased for signing. */
  method: string;
  /** Path plus query exactly as it goes on the wire, e.g. `/v3/refund/domestic/refunds/123?sub_mchid=1`. */
  url: string;
  /** The exact request body; empty (the default) for GET and DELETE. */
  body?: string | Uint8Array;
  /** Merchant id (商户号). */
  mchid: string;
  /** Serial of the merchant API certificate (apiclient_cert.pem), see `certificateSerial`. */
  serialNo: string;
  /** The merchant private key; pass a `KeyObject` from `loadPrivateKey` to avoid parsing PEM per call. */
  privateKey: PrivateKeyInput;
  /** Unix seconds; defaults to now from `now`. */
  timestamp?: string | number;
  /** Request nonce; defaults to 32 uppercase hex characters from `random`. */
  nonce?: string;
  /** Clock used when `timestamp` is absent. */
  now?: Clock;
  /** Randomness used when `nonce` is absent. */
  random?: RandomSource;
}

/**
 * Builds the whole `Authorization` header value for a WeChat Pay v3 request:
 * `WECHATPAY2-SHA256-RSA2048 mchid="…",nonce_str="…",signature="…",timestamp="…",serial_no="…"`.
 * A PEM string is parsed on every call and nothing is cached globally; for repeated use pass a
 * `KeyObject` from {@link loadPrivateKey}, or build a {@link PayV3Signer} once.
 *
 * @example
 * const authorization = buildAuthorization({
 *   method: 'POST', url: '/v3/pay/transactions/jsapi', body: json,
 *   mchid: '1900009191', serialNo, privateKey,
 * });
 * await fetch(`https://api.mch.weixin.qq.com/v3/pay/transactions/jsapi`, { method: 'POST', body: json, headers: { Authorization: authorization } });
 */
export function buildAuthorization(options: AuthorizationOptions): string {
  const mchid = checkField('mchid', options.mchid);
  const serialNo = checkField('serialNo', options.serialNo);
  const timestamp = formatTimestamp(options.timestamp, options.now ?? defaultClock);
  const nonce = options.nonce ?? randomHex(16, options.random ?? defaultRandom);
  const message = requestMessage(options.method, options.url, timestamp, nonce, options.body ?? '');
  const signature = rsaSha256Sign(message, options.privateKey);
  return `${PAY_V3_AUTH_SCHEME} mchid="${mchid}",nonce_str="${nonce}",signature="${signature}",timestamp="${timestamp}",serial_no="${serialNo}"`;
}

/**
 * What signs WeChat Pay v3 requests and pay parameters for a merchant: the serial of its API
 * certificate, and a SHA256withRSA signature (RSASSA-PKCS1-v1_5, base64) of a message with the
 * certificate's private key. Implement it to keep the key in a KMS or an HSM (sync or async);
 * {@link privateKeySigner} is the implementation over a key in this process.
 *
 * @example
 * const signer: PayV3MerchantSigner = {
 *   serialNo: process.env.WXPAY_CERT_SERIAL!,
 *   sign: async (message) => (await kms.sign({ keyId, message, algorithm: 'RSA_PKCS1_SHA_256' })).base64,
 * };
 * const pay = new PayV3({ mchid, signer, apiV3Key, platform });
 */
export interface PayV3MerchantSigner {
  /** Serial of the merchant API certificate (apiclient_cert.pem) whose key signs. */
  readonly serialNo: string;
  /** The base64 SHA256withRSA signature of `message` (its UTF-8 bytes). */
  sign(message: string): string | Promise<string>;
}

/** Options of {@link privateKeySigner}. */
export interface PrivateKeySignerOptions {
  /** The merchant private key (apiclient_key.pem): PEM text/bytes or a `KeyObject`; loaded and checked once, here. */
  privateKey: PrivateKeyInput;
  /** Serial of the merchant API certificate (apiclient_cert.pem), see `certificateSerial`. */
  serialNo: string;
}

/**
 * A {@link PayV3MerchantSigner} over a merchant private key held in this process. The key is
 * loaded and checked when the signer is made, so a wrong key fails at startup.
 *
 * @example
 * const signer = privateKeySigner({ privateKey: readFileSync('apiclient_key.pem'), serialNo });
 * const pay = new PayV3({ mchid, signer, apiV3Key, platform });
 */
export function privateKeySigner(options: PrivateKeySignerOptions): PayV3MerchantSigner {
  if (typeof options !== 'object' || options === null) {
    throw new ConfigError('INVALID_CONFIG', 'privateKeySigner: options must be { privateKey, serialNo }');
  }
  for (const key of Object.keys(options)) {
    if (key !== 'privateKey' && key !== 'serialNo') {
      throw new ConfigError(
        'INVALID_CONFIG',
        `privateKeySigner: unknown option "${key}" (expected privateKey, serialNo).`,
      );
    }
  }
  const serialNo = checkField('serialNo', options.serialNo);
  const key = loadPrivateKey(options.privateKey);
  return { serialNo, sign: (message: string) => rsaSha256Sign(message, key) };
}

/** The signature a {@link PayV3MerchantSigner} gave, checked: it goes inside a quoted header parameter. */
async function signedBy(signer: PayV3MerchantSigner, message: string): Promise<string> {
  const signature = await signer.sign(message);
  if (typeof signature !== 'string' || !/^[A-Za-z0-9+/]+={0,2}$/.test(signature)) {
    throw new ConfigError(
      'BAD_KEY',
      `the signer's sign(message) must return the base64 SHA256withRSA signature of the message (got ${typeof signature === 'string' ? `a string of ${signature.length} characters that is not base64` : typeof signature}); a KMS that answers bytes needs Buffer.from(bytes).toString('base64').`,
    );
  }
  return signature;
}

/** Options of {@link signAuthorization}. */
export interface SignAuthorizationOptions {
  /** HTTP method; uppercased for signing. */
  method: string;
  /** Path plus query exactly as it goes on the wire. */
  url: string;
  /** The exact request body (empty for GET). */
  body?: string;
  /** Merchant id (商户号). */
  mchid: string;
  /** Unix seconds; defaults to now from `now`. */
  timestamp?: string | number;
  /** Request nonce; defaults to 32 uppercase hex characters from `random`. */
  nonce?: string;
  now?: Clock;
  random?: RandomSource;
}

/**
 * The `Authorization` header value of a WeChat Pay v3 request, signed by any
 * {@link PayV3MerchantSigner} (a KMS, an HSM, or {@link privateKeySigner}).
 *
 * @example
 * const authorization = await signAuthorization(signer, { method: 'GET', url: '/v3/certificates', mchid });
 */
export async function signAuthorization(
  signer: PayV3MerchantSigner,
  options: SignAuthorizationOptions,
): Promise<string> {
  const mchid = checkField('mchid', options.mchid);
  const serialNo = checkField('signer.serialNo', signer.serialNo);
  const timestamp = formatTimestamp(options.timestamp, options.now ?? defaultClock);
  const nonce = options.nonce ?? randomHex(16, options.random ?? defaultRandom);
  const message = requestMessage(options.method, options.url, timestamp, nonce, options.body ?? '');
  const signature = await signedBy(signer, message.toString('utf8'));
  return `${PAY_V3_AUTH_SCHEME} mchid="${mchid}",nonce_str="${nonce}",signature="${signature}",timestamp="${timestamp}",serial_no="${serialNo}"`;
}

/** Options of the {@link PayV3Signer} constructor. */
export interface PayV3SignerOptions {
  /** Merchant id (商户号). */
  mchid: string;
  /** Serial of the merchant API certificate (apiclient_cert.pem). */
  serialNo: string;
  /** The merchant private key (apiclient_key.pem), loaded once here. */
  privateKey: PrivateKeyInput;
}

/** One request to sign with a {@link PayV3Signer}. */
export interface PayV3SignRequest {
  method: string;
  url: string;
  body?: string | Uint8Array;
  timestamp?: string | number;
  nonce?: string;
  now?: Clock;
  random?: RandomSource;
}

const SIGNER_KEYS = new Set(['mchid', 'serialNo', 'privateKey']);

/**
 * Signs WeChat Pay v3 requests for one merchant. The private key is loaded and checked once, in
 * the constructor, so a wrong key fails at startup rather than on the first payment.
 *
 * @example
 * const signer = new PayV3Signer({ mchid: '1900009191', serialNo, privateKey: readFileSync('apiclient_key.pem') });
 * const authorization = signer.authorization({ method: 'GET', url: '/v3/certificates' });
 */
export class PayV3Signer implements PayV3MerchantSigner {
  /** Merchant id. */
  readonly mchid: string;
  /** Merchant API certificate serial. */
  readonly serialNo: string;
  readonly #privateKey: KeyObject;

  constructor(options: PayV3SignerOptions) {
    for (const key of Object.keys(options)) {
      if (!SIGNER_KEYS.has(key)) {
        throw new ConfigError(
          'INVALID_CONFIG',
          `PayV3Signer: unknown option "${key}" (expected mchid, serialNo, privateKey).`,
        );
      }
    }
    this.mchid = checkField('mchid', options.mchid);
    this.serialNo = checkField('serialNo', options.serialNo);
    this.#privateKey = loadPrivateKey(options.privateKey);
  }

  /**
   * The `Authorization` header value for one request.
   *
   * @example
   * headers.Authorization = signer.authorization({ method: 'POST', url: '/v3/pay/transactions/jsapi', body });
   */
  authorization(request: PayV3SignRequest): string {
    return buildAuthorization({
      ...request,
      mchid: this.mchid,
      serialNo: this.serialNo,
      privateKey: this.#privateKey,
    });
  }

  /**
   * SHA256withRSA signature (base64) of an arbitrary message with the merchant key — for
   * messages this library has no helper for.
   *
   * @example
   * const signature = signer.sign('appid\ntimestamp\nnonce\nprepay_id\n');
   */
  sign(message: string | Uint8Array): string {
    return rsaSha256Sign(message, this.#privateKey);
  }
}

/** Inputs of {@link jsapiPaySign}: the four values the JSAPI / Mini Program client receives. */
export interface JsapiPaySignInput {
  appId: string;
  timeStamp: string;
  nonceStr: string;
  /** `prepay_id=…` */
  package: string;
  privateKey: PrivateKeyInput;
}

/**
 * The v3 JSAPI / Mini Program `paySign`: SHA256withRSA over `appId\ntimeStamp\nnonceStr\npackage\n`,
 * base64-encoded (signType `RSA`).
 *
 * @example
 * const paySign = jsapiPaySign({ appId, timeStamp: '1414561699', nonceStr, package: `prepay_id=${prepayId}`, privateKey });
 */
export function jsapiPaySign(input: JsapiPaySignInput): string {
  const message = [
    checkField('appId', input.appId),
    checkField('timeStamp', input.timeStamp),
    checkField('nonceStr', input.nonceStr),
    checkField('package', input.package),
  ].join('\n');
  return rsaSha256Sign(`${message}\n`, input.privateKey);
}

/** What `wx.requestPayment` (Mini Program) or `WeixinJSBridge getBrandWCPayRequest` (JSAPI) needs. */
export interface JsapiPayParams {
  appId: string;
  timeStamp: string;
  nonceStr: string;
  package: string;
  signType: 'RSA';
  paySign: string;
}

/** Options of {@link buildJsapiPayParams}. */
export interface JsapiPayParamsOptions {
  appId: string;
  /** The bare `prepay_id` returned by the JSAPI order API (without `prepay_id=`). */
  prepayId: string;
  privateKey: PrivateKeyInput;
  /** Unix seconds; defaults to now. */
  timeStamp?: string | number;
  /** Defaults to 32 uppercase hex characters. */
  nonceStr?: string;
  now?: Clock;
  random?: RandomSource;
}

function checkPrepayId(prepayId: unknown): string {
  const value = checkField('prepayId', prepayId);
  if (value.startsWith('prepay_id=')) {
    throw invalid('prepayId must be the bare prepay_id value; the "prepay_id=" prefix is added for you.');
  }
  return value;
}

/**
 * Builds the signed parameters for JSAPI / Mini Program payment (v3) from a `prepay_id`.
 *
 * @example
 * const params = buildJsapiPayParams({ appId: 'wxd678efh567hg6787', prepayId, privateKey });
 * // send `params` to the page / Mini Program and call wx.requestPayment(params)
 */
export function buildJsapiPayParams(options: JsapiPayParamsOptions): JsapiPayParams {
  const pkg = `prepay_id=${checkPrepayId(options.prepayId)}`;
  const timeStamp = formatTimestamp(options.timeStamp, options.now ?? defaultClock);
  const nonceStr = options.nonceStr ?? randomHex(16, options.random ?? defaultRandom);
  const paySign = jsapiPaySign({
    appId: options.appId,
    timeStamp,
    nonceStr,
    package: pkg,
    privateKey: options.privateKey,
  });
  return { appId: options.appId, timeStamp, nonceStr, package: pkg, signType: 'RSA', paySign };
}

/** What the APP SDK's `PayReq` needs (wire names as the APP SDK spells them). */
export interface AppPayParams {
  appid: string;
  partnerid: string;
  prepayid: string;
  package: 'Sign=WXPay';
  noncestr: string;
  timestamp: string;
  sign: string;
}

/** Options of {@link buildAppPayParams}. */
export interface AppPayParamsOptions {
  appId: string;
  /** The merchant id (partnerid). */
  partnerId: string;
  /** The bare `prepay_id` returned by the APP order API. */
  prepayId: string;
  privateKey: PrivateKeyInput;
  /** Unix seconds; defaults to now. */
  timestamp?: string | number;
  /** Defaults to 32 uppercase hex characters. */
  nonceStr?: string;
  now?: Clock;
  random?: RandomSource;
}

/**
 * Builds the signed parameters for APP payment (v3): `sign` is SHA256withRSA over
 * `appid\ntimestamp\nnoncestr\nprepayid\n` — the bare prepay id, unlike JSAPI's `package`.
 *
 * @example
 * const req = buildAppPayParams({ appId, partnerId: '1900000109', prepayId, privateKey });
 */
export function buildAppPayParams(options: AppPayParamsOptions): AppPayParams {
  const appid = checkField('appId', options.appId);
  const partnerid = checkField('partnerId', options.partnerId);
  const prepayid = checkPrepayId(options.prepayId);
  const timestamp = formatTimestamp(options.timestamp, options.now ?? defaultClock);
  const noncestr = checkField('nonceStr', options.nonceStr ?? randomHex(16, options.random ?? defaultRandom));
  const sign = rsaSha256Sign(`${appid}\n${timestamp}\n${noncestr}\n${prepayid}\n`, options.privateKey);
  return { appid, partnerid, prepayid, package: 'Sign=WXPay', noncestr, timestamp, sign };
}

/** Options of {@link signJsapiPayParams}: those of {@link buildJsapiPayParams} without the key. */
export type SignJsapiPayParamsOptions = Omit<JsapiPayParamsOptions, 'privateKey'>;

/**
 * {@link buildJsapiPayParams} with the `paySign` made by a {@link PayV3MerchantSigner} (a KMS or
 * HSM may answer asynchronously, so this is async).
 *
 * @example
 * const params = await signJsapiPayParams(signer, { appId: 'wxd678efh567hg6787', prepayId });
 */
export async function signJsapiPayParams(
  signer: PayV3MerchantSigner,
  options: SignJsapiPayParamsOptions,
): Promise<JsapiPayParams> {
  const pkg = `prepay_id=${checkPrepayId(options.prepayId)}`;
  const timeStamp = formatTimestamp(options.timeStamp, options.now ?? defaultClock);
  const nonceStr = options.nonceStr ?? randomHex(16, options.random ?? defaultRandom);
  const message = [
    checkField('appId', options.appId),
    checkField('timeStamp', timeStamp),
    checkField('nonceStr', nonceStr),
    checkField('package', pkg),
  ].join('\n');
  const paySign = await signedBy(signer, `${message}\n`);
  return { appId: options.appId, timeStamp, nonceStr, package: pkg, signType: 'RSA', paySign };
}

/** Options of {@link signAppPayParams}: those of {@link buildAppPayParams} without the key. */
export type SignAppPayParamsOptions = Omit<AppPayParamsOptions, 'privateKey'>;

/**
 * {@link buildAppPayParams} with the `sign` made by a {@link PayV3MerchantSigner}.
 *
 * @example
 * const req = await signAppPayParams(signer, { appId, partnerId: '1900000109', prepayId });
 */
export async function signAppPayParams(
  signer: PayV3MerchantSigner,
  options: SignAppPayParamsOptions,
): Promise<AppPayParams> {
  const appid = checkField('appId', options.appId);
  const partnerid = checkField('partnerId', options.partnerId);
  const prepayid = checkPrepayId(options.prepayId);
  const timestamp = formatTimestamp(options.timestamp, options.now ?? defaultClock);
  const noncestr = checkField('nonceStr', options.nonceStr ?? randomHex(16, options.random ?? defaultRandom));
  const sign = await signedBy(signer, `${appid}\n${timestamp}\n${noncestr}\n${prepayid}\n`);
  return { appid, partnerid, prepayid, package: 'Sign=WXPay', noncestr, timestamp, sign };
}
