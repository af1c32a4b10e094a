import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { readQueryParams } from '../../src/internal/query.js';

const BASE = 'http://callback.invalid';
const reference = (url: string, name: string): string | null => new URL(url, BASE).searchParams.get(name);

// Names the pipeline reads, plus others; characters from the plain set and from what needs decoding.
const NAMES = ['signature', 'timestamp', 'nonce', 'openid', 'encrypt_type', 'msg_signature', 'echostr', 'a'];
const piece = fc.string({
  unit: fc.constantFrom(...'aZ09_.~-=&%+#? \t/\\é😀:'.split(''), '%2B', '%20', '%zz', '%E4%BD%A0'),
  maxLength: 12,
});

describe('readQueryParams', () => {
  it('gives the values new URL(url).searchParams gives, for plain and encoded queries', () => {
    fc.assert(
      fc.property(
        fc.constantFrom('/wechat', 'http://example.com/wechat', '/a#x', ''),
        fc.array(fc.tuple(fc.oneof(fc.constantFrom(...NAMES), piece), piece), { maxLength: 8 }),
        fc.boolean(),
        (path, pairs, withFragment) => {
          const query = pairs.map(([n, v]) => `${n}=${v}`).join('&');
          const url = `${path}?${query}${withFragment ? '#frag&nonce=9' : ''}`;
          const read = readQueryParams(url);
          if (read === undefined) return;
          for (const name of [...NAMES, ...pairs.map(([n]) => n)])
            expect(read.get(name), url).toBe(reference(url, name));
        },
      ),
      { numRuns: 3000, seed: 20261202 },
    );
  });

  it('reads a WeChat push query without decoding and keeps the first of repeated names', () => {
    const url =
      '/wechat?signature=0f5a&timestamp=1700000000&nonce=1320562132&openid=oUpF8u_M2-x.y~z&encrypt_type=aes&msg_signature=2b3c&nonce=2&flag';
    const read = readQueryParams(url);
    expect(read?.get('nonce')).toBe('1320562132');
    expect(read?.get('openid')).toBe('oUpF8u_M2-x.y~z');
    expect(read?.get('flag')).toBe('');
    expect(read?.get('missing')).toBeNull();
    // a '?' inside the fragment is no query; '+' is a space and %2B a plus, as form decoding says
    expect(readQueryParams('/wechat#x?nonce=1')?.get('nonce')).toBeNull();
    expect(readQueryParams('/wechat?echostr=a+b%2Bc')?.get('echostr')).toBe('a b+c');
  });

  it('answers undefined for a target the URL parser refuses', () => {
    expect(readQueryParams('http://[::1/?nonce=1')).toBeUndefined();
  });
});
