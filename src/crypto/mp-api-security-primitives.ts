import {
  constants,
  createCipheriv,
  createDecipheriv,
  type KeyObject,
  sign,
  verify,
  type X509Certificate,
} from 'node:crypto';
import {
  ArgumentError,
  ConfigError,
  CryptoError,
  PayloadError,
  SignatureError,
  WeChatKitError,
} from '../errors.js';
import { decodeBase64Strict, defaultRandom, type RandomSource, toBuffer } from '../internal/bytes.js';
import { type LoadedCertificate, loadPrivateKey, loadPublicKey } from './keys.js';

/**
 * The primitives of Mini Program server-API security (服务端 API 安全鉴权): the AES-256-GCM body
 * (12-byte IV, AAD `urlpath|appid|timestamp|sn` with the SYMMETRIC key number, sent as
 * `{"iv","data","authtag"}`), the RSASSA-PSS signature (SHA-256, MGF1-SHA-256, salt 32) over
 * `urlpath\nappid\ntimestamp\nbody`, and the loading of the keys they use. The request/response
 * envelope built on them is in `mp-api-security-envelope.ts`.
 *
 * Only RSAwithSHA256 + AES256_GCM are implemented; SM2withSM3 / SM4_GCM keys are refused.
 */

/** The 32-byte symmetric key (对称密钥) from the MP console: base64 text as shown there, or bytes. */
export type MpSymmetricKeyInput = string | Uint8Array;

/** A public key for verification: PEM/DER text or bytes (public key or certificate), a `KeyObject`, a certificate. */
export type MpPublicKeyInput = string | Uint8Array | KeyObject | X509Certificate | LoadedCertificate;

const IV_BYTES = 12;
const TAG_BYTES = 16;
const KEY_BYTES = 32;
/** The PSS salt length the protocol signs with. */
export const PSS_SALT_BYTES = 32;

// ---------------------------------------------------------------------------------------------
// Checks shared with mp-api-security-envelope.ts (not re-exported by mp-api-security.ts)

export function invalid(message: string): ConfigError {
  return new ArgumentError(message);
}

export function mismatch(message: string): SignatureError {
  return new SignatureError('SIGNATURE_MISMATCH', message);
}

export function checkText(name: string, value: unknown): string {
  if (typeof value !== 'string' || value === '') throw invalid(`${name} must be a non-empty string.`);
  if (/[|\n\r]/.test(value)) {
    throw invalid(
      `${name} must not contain "|" or a line break: it is a field of the signed/authenticated text.`,
    );
  }
  return value;
}

/**
 * The `urlpath` of the protocol: the full `https://` URL of the API, without query or fragment
 * (e.g. `https://api.weixin.qq.com/wxa/getuserriskrank`). A bare path or a URL with
 * `?access_token=…` is refused: either one makes every signature and tag fail on WeChat's side.
 */
export function checkUrlpath(urlpath: unknown): string {
  const value = checkText('urlpath', urlpath);
  if (!/^https:\/\/[^/?#\s]+\/[^?#\s]*$/.test(value)) {
    const hint = value.includes('?')
      ? ' It contains a query string: drop "?access_token=…" (the token stays in the query string of the HTTP request, but is not part of urlpath).'
      : value.startsWith('/')
        ? ' It is a bare path: prefix it with the scheme and host, e.g. "https://api.weixin.qq.com".'
        : '';
    throw invalid(
      `urlpath must be the full API URL with scheme and host and without query, e.g. "https://api.weixin.qq.com/wxa/getuserriskrank".${hint}`,
    );
  }
  return value;
}

/** The symmetric key as 32 bytes, or `ConfigError('BAD_KEY')`. */
function symmetricKeyBytes(input: MpSymmetricKeyInput): Buffer {
  let bytes: Buffer | undefined;
  if (typeof input === 'string') {
    bytes = decodeBase64Strict(input.trim());
    if (bytes === undefined) {
      throw new ConfigError(
        'BAD_KEY',
        'symmetricKey is not base64: pass the AES256_GCM key exactly as the MP console shows it (开发管理 → 开发设置 → API安全 → 对称密钥, 44 base64 characters), or its 32 bytes.',
      );
    }
  } else if (input instanceof Uint8Array) {
    bytes = toBuffer(input);
  } else {
    throw new ConfigError('BAD_KEY', 'symmetricKey must be base64 text or a Uint8Array.');
  }
  if (bytes.length !== KEY_BYTES) {
    throw new ConfigError(
      'BAD_KEY',
      `symmetricKey is ${bytes.length} bytes, but AES256_GCM needs 32. Use the AES256_GCM key from the MP console (an SM4_GCM key is 16 bytes and is not supported).`,
    );
  }
  return bytes;
}

export function privateKeyOf(input: string | Uint8Array | KeyObject): KeyObject {
  try {
    return loadPrivateKey(input);
  } catch (cause) {
    if (!(cause instanceof WeChatKitError)) throw cause;
    throw new ConfigError(
      'BAD_KEY',
      `privateKey cannot be used: it must be the RSA private key of the RSAwithSHA256 asymmetric key pair set in the MP console (开发管理 → 开发设置 → API安全 → 非对称密钥; SM2withSM3 is not supported). ${cause.message}`,
      { cause },
    );
  }
}

export function publicKeyOf(input: MpPublicKeyInput, name: string): KeyObject {
  try {
    return loadPublicKey(input);
  } catch (cause) {
    if (!(cause instanceof WeChatKitError)) throw cause;
    throw new ConfigError(
      'BAD_KEY',
      `${name} cannot be used: it must be an RSA public key or certificate (SM2 is not supported). ${cause.message}`,
      { cause },
    );
  }
}

export function bodyBytes(body: unknown): Buffer {
  if (typeof body === 'string' || body instanceof Uint8Array) return toBuffer(body);
  throw new ArgumentError(
    'body must be the raw HTTP body as a string or bytes: the signature covers the exact bytes, so do not pass a parsed object.',
  );
}

// ---------------------------------------------------------------------------------------------
// Building blocks

/**
 * The GCM additional authenticated data: `urlpath|appid|timestamp|sn`, where `sn` is the
 * SYMMETRIC key number (not the asymmetric one, not the platform certificate's).
 *
 * @example
 * mpApiSecurityAad({ urlpath: 'https://api.weixin.qq.com/wxa/getuserriskrank', appId: 'wxba6223c06417af7b',
 *   timestamp: 1635927954, symmetricSn: 'fa05fe1e5bcc79b81ad5ad4b58acf787' });
 * // 'https://api.weixin.qq.com/wxa/getuserriskrank|wxba6223c06417af7b|1635927954|fa05fe1e5bcc79b81ad5ad4b58acf787'
 */
export function mpApiSecurityAad(input: {
  urlpath: string;
  appId: string;
  timestamp: number | string;
  symmetricSn: string;
}): string {
  const urlpath = checkUrlpath(input.urlpath);
  const appId = checkText('appId', input.appId);
  const timestamp = checkText('timestamp', String(input.timestamp));
  return `${urlpath}|${appId}|${timestamp}|${checkText('symmetricSn', input.symmetricSn)}`;
}

/**
 * The signed text: `urlpath\nappid\ntimestamp\nbody` — exactly four fields (the key number is NOT
 * one of them) and no trailing newline. `body` is the encrypted JSON body exactly as sent.
 *
 * @example
 * const payload = mpApiSignaturePayload({ urlpath, appId, timestamp: 1635927954, body });
 */
export function mpApiSignaturePayload(input: {
  urlpath: string;
  appId: string;
  timestamp: number | string;
  body: string | Uint8Array;
}): Buffer {
  const urlpath = checkUrlpath(input.urlpath);
  const appId = checkText('appId', input.appId);
  const timestamp = checkText('timestamp', String(input.timestamp));
  return Buffer.concat([Buffer.from(`${urlpath}\n${appId}\n${timestamp}\n`, 'utf8'), bodyBytes(input.body)]);
}

/** Inputs of {@link encryptMpApiBody}. */
export interface EncryptMpApiBodyInput {
  urlpath: string;
  appId: string;
  /** Unix seconds, the same value as `Wechatmp-TimeStamp`. */
  timestamp: number;
  symmetricKey: MpSymmetricKeyInput;
  /** The symmetric key number (对称密钥编号), part of the AAD. */
  symmetricSn: string;
  /** The JSON text to encrypt, security fields included. */
  plaintext: string;
  /** 12-byte IV; random by default. Only tests and known-answer vectors should set it. */
  iv?: Uint8Array | string;
  random?: RandomSource;
}

/**
 * Encrypts a plaintext JSON into the wire body `{"iv":…,"data":…,"authtag":…}` (base64 each, the
 * 16-byte tag separate). Low-level: {@link sealMpApiRequest} builds the plaintext and signs too.
 *
 * @example
 * const body = encryptMpApiBody({ urlpath, appId, timestamp, symmetricKey, symmetricSn, plaintext });
 */
export function encryptMpApiBody(input: EncryptMpApiBodyInput): string {
  const key = symmetricKeyBytes(input.symmetricKey);
  const aad = mpApiSecurityAad(input);
  let iv: Buffer;
  if (input.iv === undefined) {
    iv = Buffer.from((input.random ?? defaultRandom)(IV_BYTES));
  } else if (typeof input.iv === 'string') {
    iv = decodeBase64Strict(input.iv) ?? Buffer.alloc(0);
  } else {
    iv = Buffer.from(input.iv);
  }
  if (iv.length !== IV_BYTES) throw invalid(`iv must be ${IV_BYTES} bytes (base64 text or bytes).`);
  if (typeof input.plaintext !== 'string') throw invalid('plaintext must be a string.');
  const cipher = createCipheriv('aes-256-gcm', key, iv, { authTagLength: TAG_BYTES });
  cipher.setAAD(Buffer.from(aad, 'utf8'));
  const data = Buffer.concat([cipher.update(Buffer.from(input.plaintext, 'utf8')), cipher.final()]);
  return JSON.stringify({
    iv: iv.toString('base64'),
    data: data.toString('base64'),
    authtag: cipher.getAuthTag().toString('base64'),
  });
}

/** Inputs of {@link decryptMpApiBody}. */
export interface DecryptMpApiBodyInput {
  urlpath: string;
  appId: string;
  /** The sender's `Wechatmp-TimeStamp` (the response's own timestamp for a response). */
  timestamp: number | string;
  symmetricKey: MpSymmetricKeyInput;
  symmetricSn: string;
  /** The raw body `{"iv","data","authtag"}`. */
  body: string | Uint8Array;
}

/**
 * Decrypts a wire body and returns the plaintext JSON text. Throws `PayloadError('BAD_BODY')` when
 * the body is not the `{"iv","data","authtag"}` JSON, `CryptoError('BAD_CIPHERTEXT')` when a field
 * is not base64 or has the wrong size, `CryptoError('DECRYPT_FAILED')` when GCM authentication
 * fails (wrong key, key number, urlpath, appid or timestamp, or altered data).
 *
 * @example
 * const plaintext = decryptMpApiBody({ urlpath, appId, timestamp: '1635927956', symmetricKey, symmetricSn, body });
 */
export function decryptMpApiBody(input: DecryptMpApiBodyInput): string {
  const key = symmetricKeyBytes(input.symmetricKey);
  const aad = mpApiSecurityAad(input);
  const text = bodyBytes(input.body).toString('utf8');
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    parsed = undefined;
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new PayloadError(
      'BAD_BODY',
      'The body is not a JSON object {"iv","data","authtag"}: this API answered without API security (check that it supports it and that the request was encrypted), or the body was altered.',
    );
  }
  const fields = parsed as Record<string, unknown>;
  const decoded: Partial<Record<'iv' | 'data' | 'authtag', Buffer>> = {};
  for (const name of ['iv', 'data', 'authtag'] as const) {
    const value = fields[name];
    if (typeof value !== 'string') {
      throw new PayloadError(
        'BAD_BODY',
        `The body has no string "${name}" field; expected {"iv","data","authtag"}.`,
      );
    }
    const bytes = decodeBase64Strict(value);
    if (bytes === undefined)
      throw new CryptoError('BAD_CIPHERTEXT', `"${name}" is not standard base64 (with padding).`);
    decoded[name] = bytes;
  }
  const iv = decoded.iv ?? Buffer.alloc(0);
  const data = decoded.data ?? Buffer.alloc(0);
  const tag = decoded.authtag ?? Buffer.alloc(0);
  if (iv.length !== IV_BYTES)
    throw new CryptoError('BAD_CIPHERTEXT', `"iv" is ${iv.length} bytes; it must be ${IV_BYTES}.`);
  if (tag.length !== TAG_BYTES) {
    throw new CryptoError('BAD_CIPHERTEXT', `"authtag" is ${tag.length} bytes; it must be ${TAG_BYTES}.`);
  }
  try {
    const decipher = createDecipheriv('aes-256-gcm', key, iv, { authTagLength: TAG_BYTES });
    decipher.setAAD(Buffer.from(aad, 'utf8'));
    decipher.setAuthTag(tag);
    return Buffer.concat([decipher.update(data), decipher.final()]).toString('utf8');
  } catch (cause) {
    throw new CryptoError(
      'DECRYPT_FAILED',
      'AES-256-GCM authentication failed: the symmetric key or its number (symmetricSn) is wrong, urlpath differs (it must be the full https URL without query), ' +
        'the appid or timestamp differ from the sender’s, or the body was altered.',
      { cause },
    );
  }
}

/** Inputs of {@link signMpApiPayload}. */
export interface SignMpApiPayloadInput {
  urlpath: string;
  appId: string;
  timestamp: number | string;
  /** The encrypted body exactly as it will be sent. */
  body: string | Uint8Array;
  /** RSA private key (PEM/DER text or bytes, or a `KeyObject`). */
  privateKey: string | Uint8Array | KeyObject;
}

/**
 * Signs `urlpath\nappid\ntimestamp\nbody` with RSASSA-PSS (SHA-256, MGF1-SHA-256, salt 32) and
 * returns base64. PSS is randomised: two signatures of the same text differ, both verify.
 *
 * @example
 * const signature = signMpApiPayload({ urlpath, appId, timestamp, body, privateKey });
 */
export function signMpApiPayload(input: SignMpApiPayloadInput): string {
  const key = privateKeyOf(input.privateKey);
  return sign('sha256', mpApiSignaturePayload(input), {
    key,
    padding: constants.RSA_PKCS1_PSS_PADDING,
    saltLength: PSS_SALT_BYTES,
  }).toString('base64');
}

/** Inputs of {@link verifyMpApiSignature}. */
export interface VerifyMpApiSignatureInput {
  urlpath: string;
  appId: string;
  timestamp: number | string;
  body: string | Uint8Array;
  /** `Wechatmp-Signature` (base64). */
  signature: string;
  publicKey: MpPublicKeyInput;
  /**
   * PSS salt length to require: `32` (what the protocol signs with; default) or `'auto'` (what the
   * official doc suggests for verifying WeChat's responses).
   */
  saltLength?: 32 | 'auto';
}

/**
 * Verifies an RSASSA-PSS/SHA-256 signature over `urlpath\nappid\ntimestamp\nbody`. Throws
 * `SignatureError('SIGNATURE_MISMATCH')` otherwise — including for PKCS#1 v1.5 signatures.
 *
 * @example
 * verifyMpApiSignature({ urlpath, appId, timestamp, body, signature, publicKey: platformCertPem, saltLength: 'auto' });
 */
export function verifyMpApiSignature(input: VerifyMpApiSignatureInput): void {
  const key = publicKeyOf(input.publicKey, 'publicKey');
  const payload = mpApiSignaturePayload(input);
  if (!checkPss(key, payload, input.signature, input.saltLength ?? PSS_SALT_BYTES)) {
    throw mismatch(
      'Wechatmp-Signature does not match: the body, urlpath, appid or timestamp differ from what was signed, the key is not the signer’s, ' +
        'or the signature is not RSASSA-PSS/SHA-256 (PKCS#1 v1.5 signatures are refused).',
    );
  }
}

export function checkPss(
  key: KeyObject,
  payload: Buffer,
  signature: unknown,
  saltLength: number | 'auto',
): boolean {
  const bytes = typeof signature === 'string' && signature !== '' ? decodeBase64Strict(signature) : undefined;
  if (bytes === undefined) return false;
  try {
    return verify(
      'sha256',
      payload,
      {
        key,
        padding: constants.RSA_PKCS1_PSS_PADDING,
        saltLength: saltLength === 'auto' ? constants.RSA_PSS_SALTLEN_AUTO : saltLength,
      },
      bytes,
    );
  } catch {
    return false;
  }
}
