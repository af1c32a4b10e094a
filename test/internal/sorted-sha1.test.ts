import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { sortedSha1 } from '../../src/internal/sorted-sha1.js';

// The reference is the rule as the official samples write it: sort the strings (code-unit order,
// what Array.prototype.sort does without a comparator), join them with nothing, sha1, hex.
const reference = (parts: readonly unknown[]): string =>
  createHash('sha1').update(parts.map(String).sort().join(''), 'utf8').digest('hex');

// A fixed-seed generator: the same cases on every run (mulberry32).
function generator(seed: number): () => number {
  let state = seed;
  return () => {
    state = (state + 0x6d2b79f5) | 0;
    let t = Math.imul(state ^ (state >>> 15), 1 | state);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

describe('sortedSha1', () => {
  it('matches the official vector of the URL signature (token AAAAA)', () => {
    // conformance/vectors/official.json, server.signature: the message-push doc's URL验证 example.
    expect(sortedSha1(['AAAAA', '1714036504', '1514711492'])).toBe(
      'f464b24fc39322e44b38aa78f5edd27bd1441696',
    );
  });

  it('is sort-then-join-then-sha1 for 2,000 generated lists (prefixes, duplicates, non-ASCII, numbers)', () => {
    const random = generator(20261202);
    const alphabet = ['a', 'b', 'A', 'Z', '0', '9', '=', '+', '/', '_', 'é', '微', '\u{1F600}'];
    const word = (): string => {
      const length = Math.floor(random() * 6);
      let out = '';
      for (let i = 0; i < length; i++) out += alphabet[Math.floor(random() * alphabet.length)];
      return out;
    };
    for (let n = 0; n < 2000; n++) {
      const count = 1 + Math.floor(random() * 5);
      const parts: string[] = [];
      for (let i = 0; i < count; i++) {
        const roll = random();
        // A prefix of an earlier part, an exact duplicate, or a new word.
        const earlier = parts[Math.floor(random() * parts.length)];
        parts.push(
          earlier !== undefined && roll < 0.2
            ? earlier.slice(0, Math.floor(random() * earlier.length))
            : earlier !== undefined && roll < 0.35
              ? earlier
              : word(),
        );
      }
      expect(sortedSha1(parts), JSON.stringify(parts)).toBe(reference(parts));
    }
  });

  it('compares a number the way sort() did: as its decimal string', () => {
    const parts = ['token', 1714036504, '20', '1000'] as unknown as string[];
    expect(sortedSha1(parts)).toBe(reference(parts));
  });

  it('leaves the caller’s array as it was', () => {
    const parts = ['c', 'a', 'b'];
    sortedSha1(parts);
    expect(parts).toEqual(['c', 'a', 'b']);
  });
});
