import { describe, expect, it } from 'vitest';
import { byteLength } from '../../src/internal/bytes.js';

describe('byteLength', () => {
  it('counts text as its UTF-8 encoding, as TextEncoder does', () => {
    const samples = ['', 'abc', '公众号', '😀', '你好，世界！🎉👨‍👩‍👧', '\ud800', 'a\udc00b'];
    for (const text of samples) {
      expect(byteLength(text)).toBe(new TextEncoder().encode(text).byteLength);
    }
    expect(byteLength('公众号😀')).toBe(13);
  });

  it('counts only the viewed bytes of a subarray, not its whole buffer', () => {
    const whole = new Uint8Array(64);
    expect(byteLength(whole.subarray(8, 24))).toBe(16);
    expect(byteLength(Buffer.from('你好', 'utf8'))).toBe(6);
  });
});
