/**
 * The soak's growth detector on synthetic heap series: it must pass what a healthy process looks
 * like (flat, noisy, a GC sawtooth, a cache that fills once) and fail a steady climb — else the
 * soak is a check that cannot fail, or one that fails on noise.
 */
import { describe, expect, it } from 'vitest';
import { detectGrowth, median, type Sample, slope } from '../../scripts/soak/growth.js';

const MiB = 1024 * 1024;

/** A deterministic noise source (LCG), values in [-1, 1). */
function noise(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    return state / 2 ** 31 - 1;
  };
}

/** Samples every `every` s for `minutes`, of `f(t)` bytes. */
function series(minutes: number, every: number, f: (t: number) => number): Sample[] {
  const out: Sample[] = [];
  for (let t = 0; t <= minutes * 60 + 1e-9; t += every) out.push({ t, value: f(t) });
  return out;
}

const SEEDS = [1, 2, 3, 42, 1234, 99991];
// The two profiles the soak documents: 3 min sampled every 5 s (CI), 30 min every 10 s.
const PROFILES: Array<[string, number, number]> = [
  ['3-minute', 3, 5],
  ['30-minute', 30, 10],
];

describe('detectGrowth', () => {
  it('computes the least-squares slope and the median', () => {
    expect(slope([0, 1, 2, 3].map((t) => ({ t, value: 5 + 2 * t })))).toBeCloseTo(2, 12);
    expect(slope([{ t: 1, value: 3 }])).toBe(0);
    expect(median([5, 1, 3])).toBe(3);
    expect(median([4, 1, 3, 2])).toBe(2.5);
  });

  for (const [name, minutes, every] of PROFILES) {
    describe(`${name} run`, () => {
      it('passes a flat heap', () => {
        const v = detectGrowth(series(minutes, every, () => 20 * MiB));
        expect(v.verdict).toBe('steady');
        expect(v.slopeBytesPerMin).toBeCloseTo(0, 6);
      });

      it('passes a noisy flat heap (±1 MiB of noise, several seeds)', () => {
        for (const seed of SEEDS) {
          const r = noise(seed);
          const v = detectGrowth(series(minutes, every, () => 20 * MiB + r() * MiB));
          expect(v.verdict, `seed ${seed}: ${v.reason}`).toBe('steady');
        }
      });

      it('passes a GC sawtooth (8 MiB teeth every 40 s, any phase)', () => {
        for (let phase = 0; phase < 40; phase += 5) {
          const v = detectGrowth(
            series(minutes, every, (t) => 20 * MiB + (((t + phase) % 40) / 40) * 8 * MiB),
          );
          expect(v.verdict, `phase ${phase}: ${v.reason}`).toBe('steady');
        }
      });

      it('passes a cache that fills once, early, then stays (a step, not a climb)', () => {
        const r = noise(7);
        const stepAt = minutes * 60 * 0.45;
        const v = detectGrowth(
          series(minutes, every, (t) => 20 * MiB + (t > stepAt ? 6 * MiB : 0) + r() * 0.3 * MiB),
        );
        expect(v.verdict, v.reason).toBe('steady');
        expect(v.riseBytes).toBeGreaterThan(5 * MiB); // it did see the step…
        expect(Math.abs(v.slopeBytesPerMin)).toBeLessThan(MiB); // …but nothing climbing at the end
      });

      it('fails a steady climb of 2 MiB/min under the same noise', () => {
        for (const seed of SEEDS) {
          const r = noise(seed);
          const v = detectGrowth(series(minutes, every, (t) => 20 * MiB + (t / 60) * 2 * MiB + r() * MiB));
          expect(v.verdict, `seed ${seed}: ${v.reason}`).toBe('grew');
          expect(v.slopeBytesPerMin / MiB).toBeGreaterThan(1.2);
          expect(v.slopeBytesPerMin / MiB).toBeLessThan(3);
        }
      });

      it('fails a climb hidden under a GC sawtooth', () => {
        const v = detectGrowth(
          series(minutes, every, (t) => 20 * MiB + ((t % 40) / 40) * 8 * MiB + (t / 60) * 3 * MiB),
        );
        expect(v.verdict, v.reason).toBe('grew');
      });
    });
  }

  it('fails a slow leak (0.3 MiB/min) on a long run when the limit is set to match', () => {
    const r = noise(5);
    const leak = series(30, 10, (t) => 20 * MiB + (t / 60) * 0.3 * MiB + r() * 0.5 * MiB);
    expect(detectGrowth(leak, { maxSlopeBytesPerMin: 0.15 * MiB }).verdict).toBe('grew');
    // …and the default limit (1 MiB/min) lets it through: the limit is a real knob.
    expect(detectGrowth(leak).verdict).toBe('steady');
  });

  it('does not judge a run too short to tell (and says so)', () => {
    const v = detectGrowth(series(0.1, 1, (t) => 20 * MiB + t * MiB));
    expect(v.verdict).toBe('too-short');
    expect(v.reason).toMatch(/no verdict/);
    // Many samples, but 24 s after the warm-up: a slope per minute is not measured over seconds.
    const dense = detectGrowth(series(0.5, 0.5, (t) => 20 * MiB + t * MiB));
    expect(dense.judged).toBeGreaterThan(40);
    expect(dense.verdict).toBe('too-short');
    // The same climb over a judged minute is caught.
    expect(detectGrowth(series(1.5, 0.5, (t) => 20 * MiB + t * MiB)).verdict).toBe('grew');
  });

  it('ignores the warm-up: growth only while warming up passes', () => {
    const v = detectGrowth(series(3, 5, (t) => 20 * MiB + Math.min(t, 30) * 0.5 * MiB));
    expect(v.warmupSeconds).toBe(36);
    expect(v.verdict).toBe('steady');
  });
});
