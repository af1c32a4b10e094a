import * as nodeCrypto from 'node:crypto';
import { createHash } from 'node:crypto';

/**
 * sha1 over the strings sorted in code-unit order and joined with nothing — the shape shared by
 * the URL signature, msg_signature and the card signature. Code-unit order (what `<` on strings
 * and `Array.prototype.sort` without a comparator use) is exactly WeChat's 字典序 for these ASCII
 * inputs; a locale-aware sort is not. Three or four parts on every push: an insertion sort and a
 * concatenation, instead of a copied array, `sort()` and `join()`, each time.
 */
export function sortedSha1(parts: readonly string[]): string {
  const sorted: string[] = [];
  for (let i = 0; i < parts.length; i++) {
    // String(): untyped callers pass numbers (a timestamp); sort() compared them as strings too.
    const value = String(parts[i]);
    let at = sorted.length;
    while (at > 0 && (sorted[at - 1] as string) > value) {
      sorted[at] = sorted[at - 1] as string;
      at--;
    }
    sorted[at] = value;
  }
  let joined = '';
  for (let i = 0; i < sorted.length; i++) joined += sorted[i];
  return oneShotHash
    ? oneShotHash('sha1', joined, 'hex')
    : createHash('sha1').update(joined, 'utf8').digest('hex');
}

// crypto.hash (Node >= 20.12) skips the Hash object; older 20.x falls back to createHash.
const oneShotHash = (nodeCrypto as { hash?: (algorithm: string, data: string, encoding: 'hex') => string })
  .hash;
