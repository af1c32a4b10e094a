import { describe, expect, it } from 'vitest';
import { defaultRandom } from '../../src/internal/bytes.js';

describe('defaultRandom', () => {
  it('hands out every pooled byte once: no two draws share bytes, across pool refills', () => {
    const seen = new Set<string>();
    for (let i = 0; i < 2000; i++) {
      const draw = Buffer.from(defaultRandom(16)).toString('hex');
      expect(draw).toHaveLength(32);
      expect(seen.has(draw)).toBe(false);
      seen.add(draw);
    }
  });

  it('returns copies, so a caller that mutates its bytes cannot change later draws', () => {
    const a = defaultRandom(8);
    a.fill(0);
    const b = defaultRandom(8);
    expect(Buffer.from(b).equals(Buffer.alloc(8))).toBe(false);
  });

  it('serves large requests directly', () => {
    expect(defaultRandom(1000)).toHaveLength(1000);
  });
});
