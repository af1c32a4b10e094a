import { createDecipheriv, createHash, createHmac } from 'node:crypto';
import { ConfigError, CryptoError, SignatureError } from '../errors.js';
import { isStrictBase64, safeEqual } from '../internal/bytes.js';
import { unpad16 } from '../internal/pkcs7.js';

/** Inputs of {@link decryptMiniProgramData}. */
export interface DecryptMiniProgramDataInput {
  /** The user's `session_key` from code2Session (base64, 16 bytes). Never send it to the client. */
  sessionKey: string;
  /** `encryptedData` from the client (base64). */
  encryptedData: string;
  /** `iv` from the client (base64, 16 bytes). */
  iv: string;
  /** Your AppID: `watermark.appid` must equal it. */
  appId: string;
}

/** The decrypted open data: at least a `watermark`; other fields depend on the API. */
export interface MiniProgramOpenData {
  watermark: { appid: string; timestamp: number };
  [field: string]: unknown;
}

/**
 * Decrypts Mini Program `encryptedData` (AES-128-CBC, PKCS#7 to 16 bytes, key = base64-decoded
 * session_key, IV from the client) and checks `watermark.appid`, so data encrypted for another app
 * cannot be replayed at yours.
 *
 * @example
 * const data = decryptMiniProgramData({ sessionKey, encryptedData, iv, appId });
 */
export function decryptMiniProgramData(input: DecryptMiniProgramDataInput): MiniProgramOpenData {
  const key = decode16(input.sessionKey, 'sessionKey');
  if (
    typeof input.iv !== 'string' ||
    !isStrictBase64(input.iv) ||
    Buffer.from(input.iv, 'base64').length !== 16
  ) {
    throw new CryptoError(
      'BAD_CIPHERTEXT',
      'iv must be 16 bytes of base64; send encryptedData and iv in a JSON body (in a query string "+" becomes a space)',
    );
  }
  const iv = Buffer.from(input.iv, 'base64');
  if (typeof input.encryptedData !== 'string' || !isStrictBase64(input.encryptedData)) {
    throw new CryptoError(
      'BAD_CIPHERTEXT',
      'encryptedData is not standard base64; send it in a JSON body, exactly as the client received it',
    );
  }
  const data = Buffer.from(input.encryptedData, 'base64');
  if (data.length === 0 || data.length % 16 !== 0) {
    throw new CryptoError(
      'BAD_CIPHERTEXT',
      `encryptedData decodes to ${data.length} bytes, not a multiple of 16`,
    );
  }
  const decipher = createDecipheriv('aes-128-cbc', key, iv);
  decipher.setAutoPadding(false);
  const plain = unpad16(Buffer.concat([decipher.update(data), decipher.final()]), 'encryptedData');
  let parsed: unknown;
  try {
    parsed = JSON.parse(plain.toString('utf8'));
  } catch {
    throw new CryptoError(
      'DECRYPT_FAILED',
      'encryptedData did not decrypt to JSON: the session_key is stale (the user called wx.login again) or wrong',
    );
  }
  const watermark = (parsed as { watermark?: { appid?: unknown } } | null)?.watermark;
  if (typeof watermark?.appid !== 'string' || !safeEqual(watermark.appid, input.appId)) {
    throw new CryptoError(
      'APPID_MISMATCH',
      `the data's watermark.appid is not ${input.appId}: it was encrypted for another app and must not be trusted`,
    );
  }
  return parsed as MiniProgramOpenData;
}

function decode16(sessionKey: string, name: string): Buffer {
  if (
    typeof sessionKey !== 'string' ||
    !isStrictBase64(sessionKey) ||
    Buffer.from(sessionKey, 'base64').length !== 16
  ) {
    throw new ConfigError('BAD_KEY', `${name} must be the base64 session_key from code2Session (16 bytes)`);
  }
  return Buffer.from(sessionKey, 'base64');
}

/**
 * rawData signature: `sha1(rawData + session_key)` with the session_key text as returned.
 *
 * @example
 * rawDataSignature(res.rawData, sessionKey) === res.signature;
 */
export function rawDataSignature(rawData: string, sessionKey: string): string {
  return createHash('sha1')
    .update(rawData + sessionKey, 'utf8')
    .digest('hex');
}

/**
 * Verifies the `signature` that `wx.getUserInfo` returned with `rawData`, in constant time.
 * Throws `SignatureError` (`SIGNATURE_MISMATCH`).
 */
export function verifyRawDataSignature(rawData: string, sessionKey: string, signature: string): void {
  if (!safeEqual(rawDataSignature(rawData, sessionKey), String(signature ?? '').toLowerCase())) {
    throw new SignatureError(
      'SIGNATURE_MISMATCH',
      'rawData signature does not match: the session_key is stale, or rawData was changed',
    );
  }
}

/**
 * User login-state signature (用户登录态签名, `sig_method=hmac_sha256`): hex HMAC-SHA256 of
 * `body`, keyed with the session_key **text** as returned (not base64-decoded). With an empty
 * body it is the `checkSessionKey` signature.
 *
 * @example
 * const signature = sessionSignature(sessionKey, JSON.stringify(body));
 */
export function sessionSignature(sessionKey: string, body: string | Uint8Array = ''): string {
  return createHmac('sha256', sessionKey).update(body).digest('hex');
}

/**
 * The `signature` for `GET /wxa/checksession`: {@link sessionSignature} of the empty string.
 */
export function checkSessionKeySignature(sessionKey: string): string {
  return sessionSignature(sessionKey, '');
}
