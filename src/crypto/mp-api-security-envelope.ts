import type { KeyObject } from 'node:crypto';
import { CryptoError, PayloadError, SignatureError } from '../errors.js';
import {
  type Clock,
  defaultClock,
  defaultRandom,
  type RandomSource,
  unixSeconds,
} from '../internal/bytes.js';
import {
  bodyBytes,
  checkPss,
  checkText,
  checkUrlpath,
  decryptMpApiBody,
  encryptMpApiBody,
  invalid,
  type MpPublicKeyInput,
  type MpSymmetricKeyInput,
  mismatch,
  mpApiSignaturePayload,
  PSS_SALT_BYTES,
  privateKeyOf,
  publicKeyOf,
  signMpApiPayload,
} from './mp-api-security-primitives.js';
import { assertFreshTimestamp, DEFAULT_MAX_SKEW_SECONDS } from './timestamp.js';

/**
 * The request/response envelope of Mini Program server-API security (服务端 API 安全鉴权 / API
 * 签名加密): the `Wechatmp-*` headers, the security fields, the replay window, and the order in
 * which a message is sealed and opened. The AES-GCM and RSASSA-PSS primitives it uses are in
 * `mp-api-security-primitives.ts`.
 *
 * Request: the parameters plus `_n`, `_appid`, `_timestamp` are encrypted with AES-256-GCM
 * (12-byte IV, AAD `urlpath|appid|timestamp|sn` with the SYMMETRIC key number), sent as
 * `{"iv","data","authtag"}`, and that exact body is signed with RSASSA-PSS (SHA-256, MGF1-SHA-256,
 * salt 32) over `urlpath\nappid\ntimestamp\nbody` — four fields, no key number, no trailing newline.
 * `Wechatmp-Serial` carries the ASYMMETRIC key number. Responses are the mirror image, signed with
 * the platform certificate, whose console number arrives in `Wechatmp-Serial`.
 *
 * Only RSAwithSHA256 + AES256_GCM are implemented; SM2withSM3 / SM4_GCM keys are refused.
 */

/** HTTP headers as Node (`IncomingMessage.headers`) or the Fetch API (`Headers`) give them. */
export type MpHeadersInput = Record<string, string | string[] | undefined> | Headers;

/**
 * The headers of a secured request or response. A type alias (not an interface) so that it can be
 * passed wherever a plain header record is expected (`fetch`, {@link openMpApiRequest}).
 */
export type MpApiSecurityHeaders = {
  'Wechatmp-Appid': string;
  'Wechatmp-TimeStamp': string;
  'Wechatmp-Signature': string;
  'Wechatmp-Serial': string;
};

const SECURITY_FIELDS = ['_n', '_appid', '_timestamp'] as const;

// ---------------------------------------------------------------------------------------------
// Header and field checks

function checkTimestamp(value: unknown, name: string): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
    throw invalid(`${name} must be Unix seconds as a whole number.`);
  }
  return value;
}

function checkMaxSkew(value: number | undefined): number {
  if (value === undefined) return DEFAULT_MAX_SKEW_SECONDS;
  if (!Number.isFinite(value) || value < 0) {
    throw invalid('maxSkewSeconds must be a finite number of seconds, at least 0.');
  }
  return value;
}

function isFetchHeaders(headers: MpHeadersInput): headers is Headers {
  return typeof (headers as Headers).get === 'function' && typeof (headers as Headers).has === 'function';
}

function headerValue(headers: MpHeadersInput, name: string): string | undefined {
  if (isFetchHeaders(headers)) return headers.get(name)?.trim() || undefined;
  const lower = name.toLowerCase();
  for (const [key, value] of Object.entries(headers)) {
    if (key.toLowerCase() !== lower || value === undefined) continue;
    if (typeof value === 'string') return value.trim() || undefined;
    const distinct = [...new Set(value.map((v) => v.trim()))];
    if (distinct.length > 1)
      throw mismatch(`The ${name} header was sent ${value.length} times with different values.`);
    return distinct[0] || undefined;
  }
  return undefined;
}

function checkHeaders(headers: unknown): MpHeadersInput {
  if (typeof headers !== 'object' || headers === null) {
    throw invalid('headers must be an object of HTTP headers or a Fetch Headers.');
  }
  return headers as MpHeadersInput;
}

function requiredHeader(headers: MpHeadersInput, name: string, code: string): string {
  const value = headerValue(headers, name);
  if (value === undefined) {
    throw mismatch(
      `The ${name} header is missing (WeChat errcode ${code}), so the message cannot be verified.`,
    );
  }
  return value;
}

function sameSn(a: string, b: string): boolean {
  return a.trim().toLowerCase() === b.trim().toLowerCase();
}

function parsePlaintext(text: string): Record<string, unknown> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    parsed = undefined;
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new PayloadError('BAD_BODY', 'The decrypted data is not a JSON object.');
  }
  return parsed as Record<string, unknown>;
}

function checkSecurityFields(
  data: Record<string, unknown>,
  appId: string,
  what: string,
): { nonce: string; timestamp: number } {
  if (data._appid !== appId) {
    throw new CryptoError(
      'APPID_MISMATCH',
      `The decrypted ${what} is for another appid (_appid ${JSON.stringify(String(data._appid).slice(0, 40))}, expected ${appId}).`,
    );
  }
  const timestamp = data._timestamp;
  if (typeof timestamp !== 'number' || !Number.isSafeInteger(timestamp)) {
    throw new PayloadError(
      'BAD_BODY',
      `The decrypted ${what} has no numeric _timestamp (it must be a JSON number, not a string).`,
    );
  }
  const nonce = data._n;
  if (typeof nonce !== 'string' || nonce === '') {
    throw new PayloadError('BAD_BODY', `The decrypted ${what} has no _n nonce string.`);
  }
  return { nonce, timestamp };
}

function fresh(timestamp: string | number, name: string, now: Clock, maxSkewSeconds: number): void {
  try {
    assertFreshTimestamp(timestamp, { now, maxSkewSeconds });
  } catch (error) {
    if (error instanceof SignatureError)
      throw new SignatureError('TIMESTAMP_EXPIRED', `${name}: ${error.message}`);
    throw error;
  }
}

function randomNonce(random: RandomSource): string {
  // 16–32 random bytes, base64 without padding: "随机字符串, 推荐 16~32 字节随机 base64, 非固定长度".
  const first = random(1)[0] ?? 0;
  const size = 16 + (first % 17);
  return Buffer.from(random(size)).toString('base64').replace(/=+$/, '');
}

function plaintextOf(params: unknown, security: { _n: string; _appid: string; _timestamp: number }): string {
  if (typeof params !== 'object' || params === null || Array.isArray(params)) {
    throw invalid('params must be a plain object of the API’s parameters.');
  }
  const record = params as Record<string, unknown>;
  if ('access_token' in record) {
    throw invalid('params must not contain access_token: it stays in the query string and is not encrypted.');
  }
  for (const name of SECURITY_FIELDS) {
    if (name in record)
      throw invalid(`params must not contain ${name}: the security fields are added for you.`);
  }
  return JSON.stringify({ ...security, ...record });
}

// ---------------------------------------------------------------------------------------------
// Requests

/** Inputs of {@link sealMpApiRequest}. */
export interface SealMpApiRequestInput {
  /** Full API URL without query, e.g. `https://api.weixin.qq.com/wxa/getuserriskrank`. */
  urlpath: string;
  appId: string;
  /** AES256_GCM symmetric key: base64 as shown in the console, or 32 bytes. */
  symmetricKey: MpSymmetricKeyInput;
  /** Symmetric key number (对称密钥编号): goes into the AAD. */
  symmetricSn: string;
  /** RSA private key of the asymmetric key pair (PEM/DER or `KeyObject`). */
  privateKey: string | Uint8Array | KeyObject;
  /** Asymmetric key number (非对称密钥编号): sent as `Wechatmp-Serial`, never signed. */
  asymmetricSn: string;
  /**
   * The API's parameters, WITHOUT access_token (which stays in the query string). They follow
   * `_n`, `_appid`, `_timestamp` in the encrypted JSON, in the object's own property order
   * (insertion order; integer-like keys first, as JavaScript orders them). Order does not
   * matter to WeChat; it only matters to reproduce a known-answer ciphertext.
   */
  params: Record<string, unknown>;
  /** Unix seconds; defaults to `now`. */
  timestamp?: number;
  /** The `_n` nonce; defaults to 16–32 random bytes as unpadded base64. */
  nonce?: string;
  /** 12-byte IV, for known-answer tests only. */
  iv?: Uint8Array | string;
  now?: Clock;
  random?: RandomSource;
}

/** What to send: the body (send exactly this text) and the four `Wechatmp-*` headers. */
export interface SealedMpApiRequest {
  body: string;
  headers: MpApiSecurityHeaders;
}

/**
 * Encrypts and signs a request to an API that has API security enabled. POST `body` with
 * `headers` (plus `Content-Type: application/json`) to `urlpath?access_token=…`; open the answer
 * with {@link openMpApiResponse}.
 *
 * @example
 * const urlpath = 'https://api.weixin.qq.com/wxa/getuserriskrank';
 * const { body, headers } = sealMpApiRequest({
 *   urlpath, appId, symmetricKey, symmetricSn, privateKey, asymmetricSn,
 *   params: { appid: appId, openid, scene: 0, client_ip: '127.0.0.1' },
 * });
 * const res = await fetch(`${urlpath}?access_token=${token}`, { method: 'POST', body, headers });
 */
export function sealMpApiRequest(input: SealMpApiRequestInput): SealedMpApiRequest {
  const urlpath = checkUrlpath(input.urlpath);
  const appId = checkText('appId', input.appId);
  const asymmetricSn = checkText('asymmetricSn', input.asymmetricSn);
  const key = privateKeyOf(input.privateKey);
  const timestamp =
    input.timestamp === undefined
      ? unixSeconds(input.now ?? defaultClock)
      : checkTimestamp(input.timestamp, 'timestamp');
  const random = input.random ?? defaultRandom;
  const nonce = input.nonce ?? randomNonce(random);
  if (typeof nonce !== 'string' || nonce === '') throw invalid('nonce must be a non-empty string.');
  const plaintext = plaintextOf(input.params, { _n: nonce, _appid: appId, _timestamp: timestamp });
  const body = encryptMpApiBody({
    urlpath,
    appId,
    timestamp,
    symmetricKey: input.symmetricKey,
    symmetricSn: input.symmetricSn,
    plaintext,
    random,
    ...(input.iv === undefined ? {} : { iv: input.iv }),
  });
  const signature = signMpApiPayload({ urlpath, appId, timestamp, body, privateKey: key });
  return {
    body,
    headers: {
      'Wechatmp-Appid': appId,
      'Wechatmp-TimeStamp': String(timestamp),
      'Wechatmp-Signature': signature,
      'Wechatmp-Serial': asymmetricSn,
    },
  };
}

/** Inputs of {@link openMpApiRequest}. Give `publicKey` or `publicKeys`. */
export interface OpenMpApiRequestInput {
  urlpath: string;
  appId: string;
  symmetricKey: MpSymmetricKeyInput;
  symmetricSn: string;
  /** The developer's RSA public key (when only one is registered). */
  publicKey?: MpPublicKeyInput;
  /** When set with `publicKey`, `Wechatmp-Serial` must equal it. */
  asymmetricSn?: string;
  /** Public keys by asymmetric key number; `Wechatmp-Serial` picks one. */
  publicKeys?: Record<string, MpPublicKeyInput>;
  headers: MpHeadersInput;
  body: string | Uint8Array;
  now?: Clock;
  maxSkewSeconds?: number;
}

/** An opened request: the API parameters and the security fields. */
export interface OpenedMpApiRequest {
  /** The API parameters (the decrypted object without `_n`, `_appid`, `_timestamp`). */
  params: Record<string, unknown>;
  /** The whole decrypted object. */
  data: Record<string, unknown>;
  nonce: string;
  timestamp: number;
  /** The asymmetric key number from `Wechatmp-Serial`. */
  serial: string;
}

/**
 * The platform side of a request (for the emulator): checks the headers, the replay window and
 * the RSASSA-PSS signature (salt 32) with the developer's public key, then decrypts and checks
 * `_appid` and that `_timestamp` is a number equal to `Wechatmp-TimeStamp`.
 *
 * @example
 * const { params } = openMpApiRequest({ urlpath, appId, symmetricKey, symmetricSn,
 *   publicKeys: { [asymmetricSn]: publicKeyPem }, headers: req.headers, body: rawBody });
 */
export function openMpApiRequest(input: OpenMpApiRequestInput): OpenedMpApiRequest {
  const urlpath = checkUrlpath(input.urlpath);
  const appId = checkText('appId', input.appId);
  const maxSkew = checkMaxSkew(input.maxSkewSeconds);
  const now = input.now ?? defaultClock;
  const headers = checkHeaders(input.headers);
  const body = bodyBytes(input.body);
  const serial = requiredHeader(headers, 'Wechatmp-Serial', '40230');
  const timestamp = requiredHeader(headers, 'Wechatmp-TimeStamp', '40231');
  const signature = requiredHeader(headers, 'Wechatmp-Signature', '40232');
  const headerAppId = requiredHeader(headers, 'Wechatmp-Appid', '40233');
  if (headerAppId !== appId) {
    throw new CryptoError(
      'APPID_MISMATCH',
      `Wechatmp-Appid is ${JSON.stringify(headerAppId.slice(0, 40))}, expected ${appId}.`,
    );
  }
  let key: KeyObject | undefined;
  if (input.publicKeys !== undefined) {
    const found = Object.entries(input.publicKeys).find(([sn]) => sameSn(sn, serial));
    if (found === undefined)
      throw mismatch(
        `Wechatmp-Serial ${JSON.stringify(serial.slice(0, 80))} is not a known asymmetric key number.`,
      );
    key = publicKeyOf(found[1], `publicKeys[${found[0]}]`);
  } else if (input.publicKey !== undefined) {
    if (input.asymmetricSn !== undefined && !sameSn(input.asymmetricSn, serial)) {
      throw mismatch(
        `Wechatmp-Serial ${JSON.stringify(serial.slice(0, 80))} is not the asymmetric key number ${input.asymmetricSn}.`,
      );
    }
    key = publicKeyOf(input.publicKey, 'publicKey');
  } else {
    throw invalid('Pass publicKey or publicKeys to verify the request signature.');
  }
  fresh(timestamp, 'Wechatmp-TimeStamp', now, maxSkew);
  if (!checkPss(key, mpApiSignaturePayload({ urlpath, appId, timestamp, body }), signature, PSS_SALT_BYTES)) {
    throw mismatch(
      'Wechatmp-Signature does not match (WeChat errcode 40234): the request must be signed with RSASSA-PSS/SHA-256, salt 32, over urlpath\\nappid\\ntimestamp\\nbody.',
    );
  }
  const plaintext = decryptMpApiBody({
    urlpath,
    appId,
    timestamp,
    symmetricKey: input.symmetricKey,
    symmetricSn: input.symmetricSn,
    body,
  });
  const data = parsePlaintext(plaintext);
  const fields = checkSecurityFields(data, appId, 'request');
  if (String(fields.timestamp) !== timestamp) {
    throw new SignatureError(
      'TIMESTAMP_EXPIRED',
      `The decrypted _timestamp ${fields.timestamp} differs from Wechatmp-TimeStamp ${timestamp}; they must be equal.`,
    );
  }
  const params: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(data)) {
    if (!(SECURITY_FIELDS as readonly string[]).includes(name)) params[name] = value;
  }
  return { params, data, nonce: fields.nonce, timestamp: fields.timestamp, serial };
}

// ---------------------------------------------------------------------------------------------
// Responses

/** Inputs of {@link sealMpApiResponse}. */
export interface SealMpApiResponseInput {
  urlpath: string;
  appId: string;
  symmetricKey: MpSymmetricKeyInput;
  symmetricSn: string;
  /** The platform certificate's private key. */
  privateKey: string | Uint8Array | KeyObject;
  /** The platform certificate number (sent as `Wechatmp-Serial`). */
  platformSn: string;
  /** The answer, e.g. `{ errcode: 0, errmsg: 'ok', … }`, without the security fields. */
  result: Record<string, unknown>;
  /** During rotation: the old certificate's key and number, sent as the `-Deprecated` pair. */
  deprecated?: { privateKey: string | Uint8Array | KeyObject; platformSn: string };
  timestamp?: number;
  nonce?: string;
  iv?: Uint8Array | string;
  now?: Clock;
  random?: RandomSource;
}

/** A sealed response: the body and its headers (with the `-Deprecated` pair during rotation). */
export interface SealedMpApiResponse {
  body: string;
  headers: MpApiSecurityHeaders & {
    'Wechatmp-Serial-Deprecated'?: string;
    'Wechatmp-Signature-Deprecated'?: string;
  };
}

/**
 * The platform side of a response (for the emulator and tests): encrypts `result` and signs it
 * with the platform key, like WeChat does.
 *
 * @example
 * const { body, headers } = sealMpApiResponse({ urlpath, appId, symmetricKey, symmetricSn,
 *   privateKey: platformKey, platformSn, result: { errcode: 0, errmsg: 'ok' } });
 */
export function sealMpApiResponse(input: SealMpApiResponseInput): SealedMpApiResponse {
  const sealed = sealMpApiRequest({
    urlpath: input.urlpath,
    appId: input.appId,
    symmetricKey: input.symmetricKey,
    symmetricSn: input.symmetricSn,
    privateKey: input.privateKey,
    asymmetricSn: input.platformSn,
    params: input.result,
    ...(input.timestamp === undefined ? {} : { timestamp: input.timestamp }),
    ...(input.nonce === undefined ? {} : { nonce: input.nonce }),
    ...(input.iv === undefined ? {} : { iv: input.iv }),
    ...(input.now === undefined ? {} : { now: input.now }),
    ...(input.random === undefined ? {} : { random: input.random }),
  });
  if (input.deprecated === undefined) return sealed;
  return {
    body: sealed.body,
    headers: {
      ...sealed.headers,
      'Wechatmp-Serial-Deprecated': checkText('deprecated.platformSn', input.deprecated.platformSn),
      'Wechatmp-Signature-Deprecated': signMpApiPayload({
        urlpath: input.urlpath,
        appId: input.appId,
        timestamp: sealed.headers['Wechatmp-TimeStamp'],
        body: sealed.body,
        privateKey: input.deprecated.privateKey,
      }),
    },
  };
}

/** Inputs of {@link openMpApiResponse}. Give `platformCertificate` or `platformCertificates`. */
export interface OpenMpApiResponseInput {
  urlpath: string;
  appId: string;
  symmetricKey: MpSymmetricKeyInput;
  symmetricSn: string;
  /**
   * The platform certificate (开放平台证书, PEM, or its public key). With a single certificate, the
   * current signature is tried, then the `-Deprecated` one during rotation.
   */
  platformCertificate?: MpPublicKeyInput;
  /**
   * Platform certificates by their console number (not the X.509 serial); the signature whose
   * `Wechatmp-Serial` / `Wechatmp-Serial-Deprecated` names one of them is verified.
   */
  platformCertificates?: Record<string, MpPublicKeyInput>;
  headers: MpHeadersInput;
  /** The raw response body, exactly as received. */
  body: string | Uint8Array;
  now?: Clock;
  /** Replay window for the response timestamp and `_timestamp` (default 300 s). */
  maxSkewSeconds?: number;
}

/**
 * Verifies and decrypts a response from an API with API security enabled and returns the
 * decrypted object as is (`errcode`, `errmsg`, the result fields, and `_n`, `_appid`,
 * `_timestamp`). Order: replay window of `Wechatmp-TimeStamp`, RSASSA-PSS signature with the
 * platform certificate (picked by `Wechatmp-Serial`, or `Wechatmp-Serial-Deprecated` during
 * rotation), GCM decryption with AAD `urlpath|appid|<response timestamp>|sn`, then `_appid` and
 * `_timestamp` freshness. Refusals: `SIGNATURE_MISMATCH`, `TIMESTAMP_EXPIRED`, `DECRYPT_FAILED`,
 * `APPID_MISMATCH`, `BAD_BODY`, `BAD_CIPHERTEXT`, `BAD_KEY`.
 *
 * @example
 * const result = openMpApiResponse({ urlpath, appId, symmetricKey, symmetricSn,
 *   platformCertificates: { '79ba700ea147819f640941bceb38b1d1': certPem },
 *   headers: res.headers, body: await res.text() });
 * if (result.errcode !== 0) throw new Error(String(result.errmsg));
 */
export function openMpApiResponse(input: OpenMpApiResponseInput): Record<string, unknown> {
  const urlpath = checkUrlpath(input.urlpath);
  const appId = checkText('appId', input.appId);
  const maxSkew = checkMaxSkew(input.maxSkewSeconds);
  const now = input.now ?? defaultClock;
  const headers = checkHeaders(input.headers);
  const body = bodyBytes(input.body);
  const headerAppId = headerValue(headers, 'Wechatmp-Appid');
  if (headerAppId !== undefined && headerAppId !== appId) {
    throw new CryptoError(
      'APPID_MISMATCH',
      `Wechatmp-Appid is ${JSON.stringify(headerAppId.slice(0, 40))}, expected ${appId}.`,
    );
  }
  const timestamp = headerValue(headers, 'Wechatmp-TimeStamp');
  if (timestamp === undefined) {
    throw mismatch(
      'The response has no Wechatmp-TimeStamp header, so it is not a signed API-security response: check that this API supports API security and that the request was sealed.',
    );
  }
  const candidates: { serial: string | undefined; signature: string }[] = [];
  const current = headerValue(headers, 'Wechatmp-Signature');
  if (current !== undefined)
    candidates.push({ serial: headerValue(headers, 'Wechatmp-Serial'), signature: current });
  const old = headerValue(headers, 'Wechatmp-Signature-Deprecated');
  if (old !== undefined)
    candidates.push({ serial: headerValue(headers, 'Wechatmp-Serial-Deprecated'), signature: old });
  if (candidates.length === 0) throw mismatch('The response has no Wechatmp-Signature header.');

  let tries: { key: KeyObject; signature: string }[];
  if (input.platformCertificates !== undefined) {
    const entries = Object.entries(input.platformCertificates);
    const chosen = candidates
      .map((c) => ({ c, entry: entries.find(([sn]) => c.serial !== undefined && sameSn(sn, c.serial)) }))
      .find((x) => x.entry !== undefined);
    if (chosen?.entry === undefined) {
      const sent = candidates.map((c) => JSON.stringify((c.serial ?? '(none)').slice(0, 80))).join(' / ');
      throw mismatch(
        `No configured platform certificate matches Wechatmp-Serial ${sent}. Download the current 开放平台证书 from the MP console (API安全) and key it by its number (not the X.509 serial).`,
      );
    }
    tries = [
      {
        key: publicKeyOf(chosen.entry[1], `platformCertificates[${chosen.entry[0]}]`),
        signature: chosen.c.signature,
      },
    ];
  } else if (input.platformCertificate !== undefined) {
    const key = publicKeyOf(input.platformCertificate, 'platformCertificate');
    tries = candidates.map((c) => ({ key, signature: c.signature }));
  } else {
    throw invalid('Pass platformCertificate or platformCertificates to verify the response signature.');
  }

  fresh(timestamp, 'Wechatmp-TimeStamp', now, maxSkew);
  const payload = mpApiSignaturePayload({ urlpath, appId, timestamp, body });
  if (!tries.some((t) => checkPss(t.key, payload, t.signature, 'auto'))) {
    throw mismatch(
      'Wechatmp-Signature does not match: the body was altered or re-serialised (pass the raw body), urlpath/appid differ, or the platform certificate is not the one WeChat signed with.',
    );
  }
  const plaintext = decryptMpApiBody({
    urlpath,
    appId,
    timestamp,
    symmetricKey: input.symmetricKey,
    symmetricSn: input.symmetricSn,
    body,
  });
  const data = parsePlaintext(plaintext);
  const fields = checkSecurityFields(data, appId, 'response');
  fresh(fields.timestamp, 'the decrypted _timestamp', now, maxSkew);
  return data;
}
