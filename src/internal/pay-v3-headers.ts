import type { HeadersInput, PayV3SignatureHeaders } from '../crypto/pay-v3-verify.js';
import { ArgumentError, SignatureError } from '../errors.js';

function mismatch(message: string): SignatureError {
  return new SignatureError('SIGNATURE_MISMATCH', message);
}

function isFetchHeaders(headers: HeadersInput): headers is Headers {
  return typeof (headers as Headers).get === 'function' && typeof (headers as Headers).has === 'function';
}

function headerValue(headers: HeadersInput, name: string, lower = name.toLowerCase()): string | undefined {
  if (isFetchHeaders(headers)) return headers.get(name)?.trim() ?? undefined;
  // Fast path: Node gives lower-case names, and many callers pass the documented spelling.
  const direct = headers[lower] ?? headers[name];
  if (typeof direct === 'string') return direct.trim();
  for (const [key, value] of Object.entries(headers)) {
    if (key.toLowerCase() !== lower || value === undefined) continue;
    if (typeof value === 'string') return value.trim();
    const distinct = [...new Set(value.map((v) => v.trim()))];
    if (distinct.length > 1)
      throw mismatch(`The ${name} header was sent ${value.length} times with different values.`);
    return distinct[0];
  }
  return undefined;
}

/**
 * Reads `Wechatpay-Timestamp`, `-Nonce`, `-Signature` and `-Serial` from Node or Fetch headers,
 * whatever the case of their names.
 *
 * @example
 * const { serial } = readPayV3Headers(req.headers);
 */
export function readPayV3Headers(headers: HeadersInput): PayV3SignatureHeaders {
  if (typeof headers !== 'object' || headers === null) {
    throw new ArgumentError('headers must be an object of HTTP headers or a Fetch Headers.');
  }
  return {
    // Lower-case names given as such: four toLowerCase() copies fewer per notification or answer.
    timestamp: headerValue(headers, 'Wechatpay-Timestamp', 'wechatpay-timestamp'),
    nonce: headerValue(headers, 'Wechatpay-Nonce', 'wechatpay-nonce'),
    signature: headerValue(headers, 'Wechatpay-Signature', 'wechatpay-signature'),
    serial: headerValue(headers, 'Wechatpay-Serial', 'wechatpay-serial'),
  };
}
