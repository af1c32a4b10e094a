import * as nodeCrypto from 'node:crypto';
import { createHash } from 'node:crypto';

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
