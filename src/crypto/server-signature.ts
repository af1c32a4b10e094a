import * as nodeCrypto from 'node:crypto';
import { createHash } from 'node:crypto';
import { SignatureError } from '../errors.js';
import { safeEqual } from '../internal/bytes.js';

/**
 * sha1 over the strings sorted in code-unit order and joined with nothing — the shape shared by
 * the URL signature, msg_signature and the card signature. `Array.prototype.sort` without a
 * comparator is exactly WeChat's 字典序 for these ASCII inputs; a locale-aware sort is not.
 */
export function sortedSha1(parts: readonly string[]): string {
  const joined = [...parts].sort().join('');
  return oneShotHash
    ? oneShotHash('sha1', joined, 'hex')
    : createHash('sha1').update(joined, 'utf8').digest('hex');
}

// crypto.hash (Node >= 20.12) skips the Hash object; older 20.x falls back to createHash.
const oneShotHash = (nodeCrypto as { hash?: (algorithm: string, data: string, encoding: 'hex') => string })
  .hash;

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
