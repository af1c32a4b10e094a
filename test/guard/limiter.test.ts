import { RateLimiterMemory } from 'rate-limiter-flexible';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { ArgumentError } from '../../src/errors.js';
import {
  createLimiter,
  type LimitDecision,
  type Limiter,
  memoryKeysOf,
  waitNowOf,
} from '../../src/guard/limiter.js';

const POINTS = 100;
const SECONDS = 60;
const WINDOW_MS = SECONDS * 1000;
// The start of a window (index 29 000 000, in 2025), so that offsets below read as "x s into it".
const WINDOW_START = 29_000_000 * WINDOW_MS;

function clock(start = WINDOW_START) {
  const c = { time: start, now: () => c.time };
  return c;
}

function limiter(now: () => number, points = POINTS): Limiter {
  return createLimiter({ points, durationSeconds: SECONDS }, { name: 'user', now });
}

async function checks(l: Limiter, key: string, n: number): Promise<LimitDecision[]> {
  const out: LimitDecision[] = [];
  for (let i = 0; i < n; i++) out.push(await l.check(key));
  return out;
}

const allowedCount = (decisions: LimitDecision[]) => decisions.filter((d) => d.allowed).length;

// The two-window estimate the limiter documents: the count of the previous window weighted by the
// part of it still inside the sliding window, plus the current window's count.
const estimate = (previous: number, current: number, elapsedFraction: number) =>
  previous * (1 - elapsedFraction) + current;

describe('createLimiter (memory)', () => {
  afterEach(() => {
    vi.restoreAllMocks();
  });

  it('allows `points` requests in a window and refuses the next with a Retry-After of at least 1 s', async () => {
    const c = clock(WINDOW_START + 10_000);
    const l = limiter(c.now);
    const decisions = await checks(l, 'oUser1', POINTS);
    expect(decisions.every((d) => d.allowed && d.retryAfterSeconds === 0 && d.limit === POINTS)).toBe(true);
    expect(decisions.map((d) => d.remaining)).toEqual(
      Array.from({ length: POINTS }, (_, i) => POINTS - 1 - i),
    );

    const refused = await l.check('oUser1');
    expect(refused).toMatchObject({ allowed: false, limit: POINTS, remaining: 0 });
    expect(Number.isInteger(refused.retryAfterSeconds)).toBe(true);
    expect(refused.retryAfterSeconds).toBeGreaterThanOrEqual(1);
  });

  it('slides: half-way into the window after a full one, only what the estimate leaves is allowed', async () => {
    const c = clock(WINDOW_START + 5_000);
    const l = limiter(c.now);
    expect(allowedCount(await checks(l, 'oUser1', POINTS))).toBe(POINTS);

    const fraction = 0.5;
    c.time = WINDOW_START + WINDOW_MS + fraction * WINDOW_MS;
    // The largest current count n with estimate(100, n, 0.5) <= 100.
    let expected = 0;
    while (estimate(POINTS, expected + 1, fraction) <= POINTS) expected++;
    expect(expected).toBeLessThan(POINTS); // a fixed window would allow all 100 again

    const decisions = await checks(l, 'oUser1', POINTS);
    expect(allowedCount(decisions)).toBe(expected);
    // The allowed ones come first: once refused, the key stays refused at this instant.
    expect(decisions.slice(0, expected).every((d) => d.allowed)).toBe(true);
    expect(decisions.slice(expected).every((d) => !d.allowed)).toBe(true);
  });

  it('slides at any point of the window, not only half-way', async () => {
    for (const fraction of [0, 0.1, 0.25, 0.9, 0.999]) {
      const c = clock(WINDOW_START);
      const l = limiter(c.now);
      await checks(l, 'oUser1', 80);
      c.time = WINDOW_START + WINDOW_MS + Math.round(fraction * WINDOW_MS);
      const f = Math.round(fraction * WINDOW_MS) / WINDOW_MS;
      let expected = 0;
      while (estimate(80, expected + 1, f) <= POINTS) expected++;
      expect(allowedCount(await checks(l, 'oUser1', POINTS)), `at ${fraction}`).toBe(expected);
    }
  });

  it('forgets a window that ended more than a window ago', async () => {
    const c = clock();
    const l = limiter(c.now);
    await checks(l, 'oUser1', POINTS + 5);
    c.time = WINDOW_START + 2 * WINDOW_MS;
    expect(allowedCount(await checks(l, 'oUser1', POINTS))).toBe(POINTS);
  });

  it('gives every key its own budget (no global bucket)', async () => {
    const c = clock();
    const l = limiter(c.now);
    await checks(l, 'oUserA', POINTS);
    expect((await l.check('oUserA')).allowed).toBe(false);
    expect(allowedCount(await checks(l, 'oUserB', POINTS))).toBe(POINTS);
    expect((await l.check('203.0.113.7')).remaining).toBe(POINTS - 1);
    // Another limiter (another name) counts the same key separately.
    const other = createLimiter({ points: 5, durationSeconds: SECONDS }, { name: 'login', now: c.now });
    expect((await other.check('oUserA')).allowed).toBe(true);
  });

  describe('Retry-After', () => {
    // Scenarios: the estimate falls enough within the current window (a full previous window, and
    // refused requests that count too), or only in the next one (everything in the current window).
    const scenarios = [
      { name: 'within the current window', previous: POINTS, at: 0.3, refused: 30 },
      { name: 'in the next window', previous: 0, at: 10 / 60, refused: 1 },
    ];

    // Brings `keys` to the same state: `previous` requests in the window before, then requests at
    // `at` into the current window until `refused` were refused. Returns the last refusal per key.
    async function exhaust(
      l: Limiter,
      c: { time: number },
      keys: string[],
      s: { previous: number; at: number; refused: number },
    ): Promise<LimitDecision[]> {
      c.time = WINDOW_START - WINDOW_MS;
      for (const key of keys) await checks(l, key, s.previous);
      c.time = WINDOW_START + Math.round(s.at * WINDOW_MS);
      const refusals: LimitDecision[] = [];
      for (const key of keys) {
        let refused = 0;
        let d: LimitDecision | undefined;
        while (refused < s.refused) {
          d = await l.check(key);
          if (!d.allowed) refused++;
        }
        if (d !== undefined) refusals.push(d);
      }
      return refusals;
    }

    for (const s of scenarios) {
      it(`is the first whole second at which the request is allowed (${s.name})`, async () => {
        const c = clock();
        const l = limiter(c.now);
        const [a, b] = await exhaust(l, c, ['oEarly', 'oOnTime'], s);
        const refusedAt = c.time;
        expect(a?.retryAfterSeconds).toBe(b?.retryAfterSeconds);
        const retryAfter = a?.retryAfterSeconds ?? 0;
        expect(retryAfter).toBeGreaterThanOrEqual(2);

        c.time = refusedAt + (retryAfter - 1) * 1000;
        expect((await l.check('oEarly')).allowed).toBe(false);
        c.time = refusedAt + retryAfter * 1000;
        expect((await l.check('oOnTime')).allowed).toBe(true);
      });

      it(`decreases as time passes (${s.name})`, async () => {
        const c = clock();
        const l = limiter(c.now);
        const [first] = await exhaust(l, c, ['oUser1'], s);
        const refusedAt = c.time;
        const r1 = first?.retryAfterSeconds ?? 0;

        c.time = refusedAt + 5_000;
        const second = await l.check('oUser1');
        expect(second.allowed).toBe(false);
        expect(second.retryAfterSeconds).toBeLessThan(r1);
        expect(second.retryAfterSeconds).toBeGreaterThanOrEqual(1);

        c.time += second.retryAfterSeconds * 1000;
        expect(await l.check('oUser1')).toMatchObject({ allowed: true, retryAfterSeconds: 0 });
      });
    }

    it('is 1 s when the wait is a fraction of a second', async () => {
      const c = clock(WINDOW_START - WINDOW_MS);
      const l = limiter(c.now);
      await checks(l, 'oUser1', POINTS);
      // 99.9 % into the next window: 0.1 of the previous count remains, so 99 more fit; the 100th
      // waits for 60 ms until the window ends, then 600 ms more.
      c.time = WINDOW_START + WINDOW_MS - 60;
      expect(allowedCount(await checks(l, 'oUser1', 99))).toBe(99);
      const d = await l.check('oUser1');
      expect(d).toMatchObject({ allowed: false, retryAfterSeconds: 1 });
      c.time += 1000;
      expect((await l.check('oUser1')).allowed).toBe(true);
    });
  });

  describe('counting in memory', () => {
    it('counts synchronously through waitNowOf, on the same counts as check(), with the same Retry-After', async () => {
      const c = clock(WINDOW_START + 30_000);
      const l = limiter(c.now, 10);
      const twin = limiter(c.now, 10);
      const wait = waitNowOf(l) as (key: string) => number | undefined;
      expect(wait).toBeTypeOf('function');
      expect(wait('oUser1')).toBe(0);
      expect((await l.check('oUser1')).remaining).toBe(8);
      for (let i = 0; i < 8; i++) expect(wait('oUser1')).toBe(0);
      await checks(twin, 'oUser1', 10);
      // The 11th request: refused, with what check() says on a limiter that counted the same.
      const refused = await twin.check('oUser1');
      expect(refused.allowed).toBe(false);
      expect(wait('oUser1')).toBe(refused.retryAfterSeconds);
      expect((await l.check('oUser1')).allowed).toBe(false);
      // A key check() refuses is left to check(): no answer, nothing counted.
      expect(wait('')).toBeUndefined();
      expect(wait('x'.repeat(257))).toBeUndefined();
      expect(memoryKeysOf(l)).toBe(1);
    });

    it('never touches rate-limiter-flexible in memory (no promise, no timer per key)', async () => {
      const consume = vi.spyOn(RateLimiterMemory.prototype, 'consume');
      const get = vi.spyOn(RateLimiterMemory.prototype, 'get');
      const l = limiter(clock().now);
      await checks(l, 'oUser1', 5);
      expect(consume).not.toHaveBeenCalled();
      expect(get).not.toHaveBeenCalled();
    });

    it('holds the keys of the last two windows at most: the first check of a window sweeps older ones', async () => {
      const c = clock(WINDOW_START + 1_000);
      const l = limiter(c.now);
      for (let i = 0; i < 1_000; i++) await l.check(`key-${i}`);
      expect(memoryKeysOf(l)).toBe(1_000);
      c.time += WINDOW_MS; // their window is now the previous one: still needed
      await l.check('key-0');
      expect(memoryKeysOf(l)).toBe(1_000);
      c.time += WINDOW_MS; // two windows on: only key-0 (counted in the last window) is left
      await l.check('fresh');
      expect(memoryKeysOf(l)).toBe(2);
      // key-0's count of the last window still weighs on this one.
      expect((await l.check('key-0')).remaining).toBeLessThan(POINTS - 1);
      expect((await l.check('key-1')).remaining).toBe(POINTS - 1);
    });

    it('counts into the newest window when the clock steps back, never resetting a key', async () => {
      const c = clock(WINDOW_START + WINDOW_MS + 10_000);
      const l = limiter(c.now, 10);
      await checks(l, 'oUser1', 10);
      c.time = WINDOW_START + 50_000; // the window before, as a clock stepped back would say
      const d = await l.check('oUser1');
      expect(d.allowed).toBe(false);
      c.time = WINDOW_START + WINDOW_MS + 10_000;
      expect((await l.check('oUser1')).allowed).toBe(false);
    });

    it('keeps every key counted within a window, however many keys there are (no cache drops one)', async () => {
      const l = limiter(clock().now);
      await l.check('key-0');
      for (let i = 1; i <= 10_000; i++) await l.check(`key-${i}`);
      expect((await l.check('key-0')).remaining).toBe(POINTS - 2);
      expect(memoryKeysOf(l)).toBe(10_001);
    });
  });

  describe('validation', () => {
    it.each([
      [{ points: 0, durationSeconds: 60 }],
      [{ points: -1, durationSeconds: 60 }],
      [{ points: 1.5, durationSeconds: 60 }],
      [{ points: Number.NaN, durationSeconds: 60 }],
      [{ points: 100, durationSeconds: 0 }],
      [{ points: 100, durationSeconds: 0.5 }],
      [{ points: '100', durationSeconds: 60 }],
      [{ points: 100 }],
    ])('refuses the rule %j with an ArgumentError', (rule) => {
      expect(() => createLimiter(rule as never, { name: 'user' })).toThrow(ArgumentError);
    });

    it('refuses bad options with an ArgumentError', () => {
      const rule = { points: 1, durationSeconds: 1 };
      expect(() => createLimiter(rule, { name: '' })).toThrow(ArgumentError);
      expect(() => createLimiter(rule, {} as never)).toThrow(ArgumentError);
      expect(() => createLimiter(rule, { name: 'a', window: 5 } as never)).toThrow(/unknown option "window"/);
      expect(() => createLimiter(rule, { name: 'a', onRedisError: 'allow' as never })).toThrow(ArgumentError);
      expect(() => createLimiter(rule, { name: 'a', redis: {} })).toThrow(/ioredis client/);
      expect(() => createLimiter(rule, { name: 'a', redis: null })).toThrow(ArgumentError);
    });

    it('rejects a key that is empty, too long or not a string, before counting anything', async () => {
      const l = limiter(clock().now);
      await expect(l.check('')).rejects.toThrow(ArgumentError);
      await expect(l.check('x'.repeat(257))).rejects.toThrow(/at most 256/);
      await expect(l.check(42 as never)).rejects.toThrow(ArgumentError);
      expect(memoryKeysOf(l)).toBe(0);
      expect((await l.check('x'.repeat(256))).allowed).toBe(true);
    });

    it('exposes its rule, frozen', () => {
      const l = limiter(clock().now);
      expect(l.rule).toEqual({ points: POINTS, durationSeconds: SECONDS });
      expect(Object.isFrozen(l.rule)).toBe(true);
    });
  });
});
