import { SignatureError } from '../errors.js';
import { safeEqual } from '../internal/bytes.js';
import { sortedSha1 } from '../internal/sorted-sha1.js';

/** Inputs of the server URL signature (`signature` query parameter). */
export interface ServerSignatureInput {
  token: string;
  timestamp: string;
  nonce: string;
}

/**
 * The `signature` WeChat puts on every push and on the `echostr` handshake:
 * `sha1(sort([token, timestamp, nonce]).join(''))`, lowercase hex.
 *
 * @example
 * computeServerSignature({ token: 'AAAAA', timestamp: '1714036504', nonce: '1514711492' });
 * // 'f464b24fc39322e44b38aa78f5edd27bd1441696'
 */
export function computeServerSignature(input: ServerSignatureInput): string {
  return sortedSha1([input.token, input.timestamp, input.nonce]);
}

/**
 * Verifies the URL `signature` in constant time; throws `SignatureError` (`SIGNATURE_MISMATCH`).
 * It does not check the timestamp window: use {@link assertFreshTimestamp} for that.
 *
 * @example
 * verifyServerSignature({ token, timestamp: q.timestamp, nonce: q.nonce, signature: q.signature });
 */
export function verifyServerSignature(input: ServerSignatureInput & { signature: string }): void {
  const expected = computeServerSignature(input);
  if (!safeEqual(expected, String(input.signature ?? '').toLowerCase())) {
    throw new SignatureError(
      'SIGNATURE_MISMATCH',
      'URL signature does not match: check that the token is the one configured in the WeChat console ' +
        'and that timestamp and nonce are passed as the exact query strings',
    );
  }
}
