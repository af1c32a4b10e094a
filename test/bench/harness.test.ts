import { describe, expect, it } from 'vitest';
import { arrayBufferAllocationNs, compare, summarise } from '../../bench/harness.js';

// The bench's ratios are the median of per-round ratios: both sides of a round run back to back,
// so a machine that slows down between rounds slows both and the ratio stays put.
describe('bench harness', () => {
  it('takes the median of paired per-round ratios, not the ratio of the two medians', () => {
    // Round speeds swing (fast, slow, fast...); the candidate is 0.9x its neighbour every round.
    const baseline = [1000, 600, 1100, 500, 900];
    const candidate = baseline.map((ops) => ops * 0.9);
    const result = summarise('swing', candidate, baseline);
    expect(result.ratio).toBe(0.9);
    expect(result.opsPerSec).toBe(810);
    expect(result.baselineOpsPerSec).toBe(900);
    // A swing that hits one side only in some rounds: medians 0.6/1.0 = 0.6, paired median 1.0.
    const lopsided = summarise('lopsided', [1000, 600, 600, 1000, 600], [1000, 600, 600, 1000, 1000]);
    expect(lopsided.ratio).toBe(1);
  });

  it('warms each side up, then runs both the same number of rounds, flipping their order each round', () => {
    const calls: string[] = [];
    const counts: Record<string, number> = { c: 0, b: 0 };
    let last = '';
    const track = (side: string) => () => {
      counts[side] = (counts[side] ?? 0) + 1;
      if (side !== last) calls.push(side);
      last = side;
    };
    const result = compare('order', track('c'), track('b'), { rounds: 4, msPerRound: 5 });
    // warm-up c, b; then rounds: c b | b c | c b | b c  (consecutive repeats collapse).
    expect(calls).toEqual(['c', 'b', 'c', 'b', 'c', 'b', 'c']);
    expect(result.ratio).toBeGreaterThan(0);
    // Warmed up by count as well as by time: a slow job is not measured before V8 has tiered it up.
    expect(counts.c).toBeGreaterThanOrEqual(3000);
    expect(counts.b).toBeGreaterThanOrEqual(3000);
  });
});

describe('arrayBufferAllocationNs', () => {
  it('times the allocation loop: a positive whole number of ns, scaled per allocation', () => {
    const ns = arrayBufferAllocationNs(2_000);
    expect(Number.isInteger(ns)).toBe(true);
    expect(ns).toBeGreaterThan(0);
    // Per allocation, not per loop: 2,000 allocations do not take a millisecond each.
    expect(ns).toBeLessThan(1_000_000);
  });
});
