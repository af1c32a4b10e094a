import { createDecipheriv, createHash, createHmac } from 'node:crypto';
import { ArgumentError, ConfigError, CryptoError, SignatureError } from '../errors.js';
import { isStrictBase64, safeEqual } from '../internal/bytes.js';
import { unpad16 } from '../internal/pkcs7.js';

/** Pay v2 signature algorithms. MD5 is the default when `sign_type` is absent. */
export type PayV2SignType = 'MD5' | 'HMAC-SHA256';

/** A Pay v2 parameter map: values are written as strings; empty, null and undefined are skipped. */
export type PayV2Params = Readonly<Record<string, string | number | bigint | boolean | null | undefined>>;

/**
 * The exact string Pay v2 signs: non-empty parameters except `sign`, sorted by name in ASCII
 * order, `k=v` joined with `&`, raw values (no URL encoding), then `&key=API_KEY`.
 * Useful to explain a mismatch; it contains the API key, so never log it.
 */
export function payV2StringToSign(params: PayV2Params, apiKey: string): string {
  const parts: string[] = [];
  for (const name of Object.keys(params).sort()) {
    if (name === 'sign') continue;
    const value = params[name];
    if (value === undefined || value === null) continue;
    const text = String(value);
    if (text === '') continue;
    parts.push(`${name}=${text}`);
  }
  parts.push(`key=${apiKey}`);
  return parts.join('&');
}

function checkApiKey(apiKey: string): void {
  if (typeof apiKey !== 'string' || apiKey.length === 0) {
    throw new ConfigError(
      'BAD_KEY',
      'the Pay v2 API key is empty: set the 32-character APIv2 key (商户平台 → API安全)',
    );
  }
}

function signTypeOf(value: unknown): PayV2SignType {
  if (value === 'MD5' || value === 'HMAC-SHA256') return value;
  throw new ArgumentError('Pay v2 sign type must be "MD5" or "HMAC-SHA256"');
}

/**
 * Pay v2 `sign`: uppercase hex MD5 of the string to sign, or HMAC-SHA256 keyed with the API key
 * (the message still ends with `&key=API_KEY`).
 *
 * @example
 * signPayV2({ appid, mch_id, nonce_str, body: 'test' }, apiKey); // 'MD5' by default
 * signPayV2({ ...params, sign_type: 'HMAC-SHA256' }, apiKey, 'HMAC-SHA256');
 */
export function signPayV2(params: PayV2Params, apiKey: string, signType: PayV2SignType = 'MD5'): string {
  checkApiKey(apiKey);
  const type = signTypeOf(signType);
  const message = payV2StringToSign(params, apiKey);
  const hash = type === 'MD5' ? createHash('md5') : createHmac('sha256', apiKey);
  return hash.update(message, 'utf8').digest('hex').toUpperCase();
}

/**
 * Verifies the `sign` of a Pay v2 response or notification over **every** field received (WeChat
 * adds fields over time; verify the raw parsed map, never a typed model). The algorithm is the
 * message's `sign_type` when present, else `signType` (the merchant's configured type: notifications
 * may omit `sign_type` even for HMAC-SHA256). Throws `SignatureError` (`SIGNATURE_MISMATCH`).
 *
 * @example
 * verifyPayV2(parseXml(rawBody), apiKey);
 */
export function verifyPayV2(params: PayV2Params, apiKey: string, signType: PayV2SignType = 'MD5'): void {
  const given = params.sign;
  if (typeof given !== 'string' || given === '') {
    throw new SignatureError(
      'SIGNATURE_MISMATCH',
      'the Pay v2 message has no sign field (WeChat signs only when return_code is SUCCESS)',
    );
  }
  const declared = params.sign_type;
  const type =
    declared === undefined || declared === null || declared === '' ? signType : signTypeOf(declared);
  if (!safeEqual(signPayV2(params, apiKey, type), given.toUpperCase())) {
    throw new SignatureError(
      'SIGNATURE_MISMATCH',
      `Pay v2 sign does not match (${type}): check the APIv2 key and the sign type configured for the merchant`,
    );
  }
}

/**
 * Decrypts a refund notification's `req_info`: AES-256-ECB whose key is the 32 ASCII characters
 * of the lowercase hex MD5 of the API key, PKCS#7 (16-byte block). Returns the `<root>` XML.
 * Succeeding is the authentication: the refund notification carries no `sign`.
 *
 * @example
 * const xml = decryptRefundReqInfo(notification.req_info, apiKey);
 */
export function decryptRefundReqInfo(reqInfo: string, apiKey: string): string {
  checkApiKey(apiKey);
  if (typeof reqInfo !== 'string' || !isStrictBase64(reqInfo)) {
    throw new CryptoError(
      'BAD_CIPHERTEXT',
      'req_info is not standard base64: pass the value exactly as received',
    );
  }
  const data = Buffer.from(reqInfo, 'base64');
  if (data.length === 0 || data.length % 16 !== 0) {
    throw new CryptoError('BAD_CIPHERTEXT', `req_info decodes to ${data.length} bytes, not a multiple of 16`);
  }
  const key = Buffer.from(createHash('md5').update(apiKey, 'utf8').digest('hex'), 'latin1');
  const decipher = createDecipheriv('aes-256-ecb', key, null);
  decipher.setAutoPadding(false);
  const plain = Buffer.concat([decipher.update(data), decipher.final()]);
  return unpad16(plain, 'req_info').toString('utf8');
}
