import { describe, expect, it } from 'vitest';
import { safeEqual } from '../../src/internal/bytes.js';

// safeEqual backs every signature check (URL signature, msg_signature, Pay v2 sign, paySign of
// wx.checkSessionKey, OAuth state): a wrong answer either way is a forged push accepted or a real
// one refused.
describe('safeEqual', () => {
  const sig = 'f21891de399b4e33a1a93c9a7b8a8fffb5fa443f';

  it('is true for equal strings, including empty and non-ASCII ones', () => {
    expect(safeEqual(sig, `${sig}`)).toBe(true);
    expect(safeEqual('', '')).toBe(true);
    expect(safeEqual('微信支付', '微信支付')).toBe(true);
  });

  it('is false for a difference in any position', () => {
    for (let i = 0; i < sig.length; i++) {
      const flipped = sig.slice(0, i) + (sig[i] === '0' ? '1' : '0') + sig.slice(i + 1);
      expect(safeEqual(sig, flipped)).toBe(false);
      expect(safeEqual(flipped, sig)).toBe(false);
    }
  });

  it('is false for a prefix, an extension or an empty string', () => {
    expect(safeEqual(sig, sig.slice(0, -1))).toBe(false);
    expect(safeEqual(sig.slice(0, -1), sig)).toBe(false);
    expect(safeEqual(sig, `${sig}0`)).toBe(false);
    expect(safeEqual(sig, '')).toBe(false);
    expect(safeEqual('', sig)).toBe(false);
  });

  it('compares code units, not a normalised form or a case-folded one', () => {
    // é as one code point and as e + combining acute: different bytes on the wire.
    expect(safeEqual('\u00e9', 'e\u0301')).toBe(false);
    expect(safeEqual(sig.toUpperCase(), sig)).toBe(false);
    // Code units that differ only above 0xFF.
    expect(safeEqual('\u4e00', '\u4f00')).toBe(false);
  });
});
