import { describe, expect, it } from 'vitest';
import { RequestIds, traceIdOf } from '../../src/internal/request-id.js';

/** A counting randomness source: byte i of call n is (n * 7 + i) mod 256, so every id is known. */
function countingRandom() {
  const calls: number[] = [];
  const random = (size: number) => {
    const n = calls.push(size);
    return Uint8Array.from({ length: size }, (_, i) => (n * 7 + i) % 256);
  };
  return { calls, random };
}

describe('RequestIds', () => {
  it('cuts 32 hex digits per id from one random block, in order, and draws a new block after 768', () => {
    const { calls, random } = countingRandom();
    const ids = new RequestIds(random);
    const made = Array.from({ length: 800 }, () => ids.next(undefined));
    expect(calls).toEqual([12_288, 12_288]);
    const block = (n: number, size: number) =>
      Buffer.from(Uint8Array.from({ length: size }, (_, i) => (n * 7 + i) % 256)).toString('hex');
    const first = block(1, 12_288);
    expect(made[0]).toBe(first.slice(0, 32));
    expect(made[1]).toBe(first.slice(32, 64));
    expect(made[767]).toBe(first.slice(767 * 32));
    expect(made[768]).toBe(block(2, 16));
    for (const id of made) expect(id).toMatch(/^[0-9a-f]{32}$/);
  });

  it('never repeats an id from real randomness', () => {
    const ids = new RequestIds((size) => crypto.getRandomValues(new Uint8Array(size)));
    const made = new Set(Array.from({ length: 2000 }, () => ids.next(undefined)));
    expect(made.size).toBe(2000);
  });

  it("answers a valid traceparent's trace id without drawing randomness, and ignores a malformed one", () => {
    const { calls, random } = countingRandom();
    const ids = new RequestIds(random);
    const traceparent = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
    expect(ids.next(traceparent)).toBe('4bf92f3577b34da6a3ce929d0e0e4736');
    expect(calls).toEqual([]);
    expect(traceIdOf('00-00000000000000000000000000000000-00f067aa0ba902b7-01')).toBeUndefined();
    expect(ids.next('00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01')).toMatch(/^[0-9a-f]{32}$/);
    expect(calls).toEqual([12_288]);
  });
});
