/**
 * Rate limits of `weixin-kit/guard`: a sliding window per key (an openid on protected routes, an
 * IP on anonymous ones), counted in this process or, through `rate-limiter-flexible`, in the user's
 * Redis.
 *
 * The sliding window is the two-window approximation: with windows indexed by
 * `floor(now / window)`, `estimate = previousCount × (1 − elapsedFractionOfCurrentWindow) + currentCount`.
 *
 * - In Redis, each check is one increment of the current window's counter by rate-limiter-flexible
 *   (its script keeps the increment and the expiry atomic for every instance); the previous
 *   window's count is final once that window has ended, so it is read once per key and cached. A
 *   steady-state check costs one round trip, like a plain fixed-window consume.
 * - In memory, the two counts of a key are kept together and counted synchronously: a guarded
 *   route on the memory limiter decides without waiting (see `waitNowOf`), where
 *   rate-limiter-flexible's memory limiter hands every count back through a promise and starts a
 *   timer per key and window. A key's entry is dropped once a window has passed without it (a
 *   sweep on the first check of each window), so memory holds the keys of the last two windows at
 *   most, as rate-limiter-flexible's timers would. During a Redis outage the fallback still counts
 *   in rate-limiter-flexible's memory limiter (see `onRedisError`).
 */

import type { RateLimiterAbstract } from 'rate-limiter-flexible';
import { RateLimiterMemory, RateLimiterRedis, RateLimiterRes } from 'rate-limiter-flexible';
import { ArgumentError, StoreError } from '../errors.js';

/**
 * How many requests a key may make in a sliding window: `points` per `durationSeconds`.
 *
 * @example
 * const perUser: LimitRule = { points: 100, durationSeconds: 60 };
 */
export interface LimitRule {
  /** Requests allowed per window; a positive integer. */
  points: number;
  /** The window's length in seconds; a positive integer. */
  durationSeconds: number;
}

/**
 * The answer to one {@link Limiter.check}: allowed or not, and what to put in `Retry-After`.
 *
 * @example
 * const decision = await limiter.check(session.openid);
 * if (!decision.allowed) return tooManyRequests({ 'retry-after': String(decision.retryAfterSeconds) });
 */
export interface LimitDecision {
  /** True: run the handler. False: answer 429 with `Retry-After: retryAfterSeconds`. */
  allowed: boolean;
  /** The rule's `points`. */
  limit: number;
  /** Requests still allowed right now (whole, never negative); 0 when refused. */
  remaining: number;
  /**
   * 0 when allowed. Otherwise whole seconds (at least 1) until the estimate has dropped enough
   * for one more request, provided the key makes no request meanwhile: refused requests count
   * too, so a client that ignores `Retry-After` stays limited.
   */
  retryAfterSeconds: number;
}

/**
 * A sliding-window rate limiter, made by {@link createLimiter}.
 *
 * @example
 * const decision = await limiter.check(request.remoteAddress ?? 'unknown');
 */
export interface Limiter {
  /** The rule it enforces (a frozen copy). */
  readonly rule: LimitRule;
  /**
   * Counts one request of `key` (an openid or an IP: never a secret; a non-empty string of at most
   * 256 characters, else it rejects with an {@link ArgumentError}) and decides whether it may run.
   * Never rejects for a store failure: see {@link LimiterOptions.onRedisError}.
   */
  check(key: string): Promise<LimitDecision>;
}

/**
 * Options of {@link createLimiter}.
 *
 * @example
 * const options: LimiterOptions = { name: 'login', redis: ioredisClient, onStoreError: (e) => log.warn(e) };
 */
export interface LimiterOptions {
  /** Names the limiter in store keys: keys are `${prefix}${name}:${key}:${windowIndex}`; default prefix 'weixin-kit:guard:limit:'. */
  name: string;
  /** Prepended to every store key (default 'weixin-kit:guard:limit:'); e.g. to separate environments sharing a Redis. */
  prefix?: string;
  /** The user's own ioredis client or node-redis v4+ client (connected). Absent: memory (this process only). */
  redis?: unknown;
  /** ms since epoch, injected for tests (default Date.now). Window indexes come from it. */
  now?: () => number;
  /**
   * When Redis fails: 'memory' (default: an in-process memory limiter counts instead, for this
   * process only, until Redis answers again) or 'deny' (refuse, with `retryAfterSeconds` =
   * `durationSeconds`). A client that is closed, or was ready and is now reconnecting, counts as
   * failing at once, so an outage does not make requests wait in the client's offline queue; a
   * client that has not been ready yet (still connecting at startup) is left to queue. Each failure is reported
   * through `onStoreError`, as a {@link StoreError} (`STORE_UNAVAILABLE`) whose `cause` is the
   * client's error.
   */
  onRedisError?: 'memory' | 'deny';
  /** Hears each Redis failure (see `onRedisError`); an error it throws is ignored. Called once per failed operation. */
  onStoreError?: (error: unknown) => void;
}

const DEFAULT_PREFIX = 'weixin-kit:guard:limit:';
const MAX_KEY_LENGTH = 256;
// Keys whose window state (see WindowEntry) a limiter keeps; the oldest goes first when it is full.
const WINDOW_CACHE_SIZE = 10_000;
const OPTION_NAMES = new Set(['name', 'prefix', 'redis', 'now', 'onRedisError', 'onStoreError']);

// Sentinel of a read that failed in 'deny' mode.
const DENY = -1;

// What a key needs in its current window: the counter's store key (built once, so a steady-state
// check allocates no key string) and the previous window's count, or the read of it in flight.
interface WindowEntry {
  index: number;
  storeKey: string;
  previousCount: number | Promise<number>;
}

/**
 * Creates a sliding-window {@link Limiter}: `rule.points` requests per `rule.durationSeconds` for
 * each key, never one bucket for everybody. Counters live in this process unless `options.redis`
 * is given; then every instance using the same Redis, prefix and name shares one budget.
 *
 * Builds on `rate-limiter-flexible` (an optional peer dependency: install it to use the guard's
 * rate limits).
 *
 * @example
 * import { Redis } from 'ioredis';
 * const perUser = createLimiter({ points: 100, durationSeconds: 60 }, { name: 'user', redis: new Redis() });
 * const decision = await perUser.check(session.openid);
 * if (!decision.allowed) {
 *   return { status: 429, headers: { 'retry-after': String(decision.retryAfterSeconds) }, body: '' };
 * }
 */
export function createLimiter(rule: LimitRule, options: LimiterOptions): Limiter {
  const checkedRule = checkRule(rule);
  checkOptions(options);
  const windowMs = checkedRule.durationSeconds * 1000;
  const limit = checkedRule.points;
  const keyBase = `${options.prefix ?? DEFAULT_PREFIX}${options.name}:`;
  const now = options.now ?? Date.now;
  const mode = options.onRedisError ?? 'memory';
  const onStoreError = options.onStoreError;

  // The counters decide nothing: `points` is out of reach, and the duration of two windows keeps
  // the previous window's count alive for the whole of the current one.
  const counterOptions = {
    points: Number.MAX_SAFE_INTEGER,
    duration: 2 * checkedRule.durationSeconds,
    keyPrefix: '',
  };
  const redis = options.redis === undefined ? undefined : redisCounter(options.redis, counterOptions);
  // Redis's stand-in during an outage (onRedisError: 'memory'), for this process only.
  const memory = new RateLimiterMemory(counterOptions);
  const store: RateLimiterAbstract = redis === undefined ? memory : redis.limiter;
  const fallback = redis === undefined ? undefined : memory;
  const report = (error: unknown) => {
    if (onStoreError === undefined) return;
    try {
      onStoreError(
        new StoreError(
          'STORE_UNAVAILABLE',
          mode === 'memory'
            ? 'Redis failed while counting a rate limit; this process counts in memory until it answers again (check the Redis connection)'
            : "Redis failed while counting a rate limit; the request is refused (onRedisError: 'deny')",
          { cause: error },
        ),
      );
    } catch {
      // A failing hook must not turn a limiter decision into an error.
    }
  };

  // A store failure: report it, then refuse (DENY) or count in this process instead.
  const failOver = async (op: 'consume' | 'get', storeKey: string, error: unknown): Promise<number> => {
    if (fallback === undefined) throw error;
    report(error);
    if (mode === 'deny') return DENY;
    try {
      return countOf(await fallback[op](storeKey));
    } catch (fallbackError) {
      if (isRes(fallbackError)) return fallbackError.consumedPoints;
      throw fallbackError;
    }
  };

  // A consume the counter itself refused still carries the count, in the RateLimiterRes it
  // rejects with; anything else is a store failure.
  const consumeFailed = (storeKey: string, error: unknown): Promise<number> =>
    isRes(error) ? Promise.resolve(error.consumedPoints) : failOver('consume', storeKey, error);

  // The previous window's count is read once per key and window: once that window has ended it
  // cannot change. Only a count the store gave is kept; one from the fallback (or a failure) is
  // read again on the next check.
  const windows = new Map<string, WindowEntry>();
  const enterWindow = (key: string, index: number): WindowEntry => {
    const previousKey = `${keyBase}${key}:${index - 1}`;
    const entry: WindowEntry = { index, storeKey: `${keyBase}${key}:${index}`, previousCount: 0 };
    entry.previousCount = store.get(previousKey).then(
      (res) => {
        const value = countOf(res);
        entry.previousCount = value;
        return value;
      },
      (error: unknown) => {
        if (windows.get(key) === entry) windows.delete(key);
        return failOver('get', previousKey, error);
      },
    );
    windows.delete(key);
    windows.set(key, entry);
    if (windows.size > WINDOW_CACHE_SIZE) {
      const oldest = windows.keys().next();
      if (oldest.done !== true) windows.delete(oldest.value);
    }
    return entry;
  };

  const decide = (previousValue: number, currentValue: number, elapsedMs: number): LimitDecision => {
    if (previousValue === DENY || currentValue === DENY) {
      return { allowed: false, limit, remaining: 0, retryAfterSeconds: checkedRule.durationSeconds };
    }
    if (fits(previousValue, currentValue, elapsedMs)) {
      const weightedPrevious = previousValue * (windowMs - elapsedMs);
      const remaining = Math.max(
        0,
        Math.floor((limit * windowMs - weightedPrevious) / windowMs) - currentValue,
      );
      return { allowed: true, limit, remaining, retryAfterSeconds: 0 };
    }
    return {
      allowed: false,
      limit,
      remaining: 0,
      retryAfterSeconds: retryAfter(previousValue, currentValue, elapsedMs),
    };
  };

  // Whether the estimate stays within the limit. Scaled by windowMs so that whole-ms times compare
  // exactly, without fractions.
  const fits = (previousValue: number, currentValue: number, elapsedMs: number): boolean =>
    previousValue * (windowMs - elapsedMs) + currentValue * windowMs <= limit * windowMs;

  const retryAfter = (previousValue: number, currentValue: number, elapsedMs: number): number =>
    Math.max(1, Math.ceil(waitMs(previousValue, currentValue, elapsedMs) / 1000));

  // How long until one more request fits, if none is counted meanwhile. The estimate only falls
  // with time, continuously across the window boundary.
  const waitMs = (previousValue: number, currentValue: number, elapsedMs: number): number => {
    // Still in this window: previousValue × (windowMs − t) ≤ (limit − currentValue − 1) × windowMs.
    const room = limit - currentValue - 1;
    if (room >= 0 && previousValue > 0) {
      const at = windowMs - (room * windowMs) / previousValue;
      if (at < windowMs) return Math.max(0, at - elapsedMs);
    }
    // In the next window, where this window's count is the previous one and nothing is counted yet.
    const next = Math.max(0, windowMs - ((limit - 1) * windowMs) / currentValue);
    return windowMs - elapsedMs + next;
  };

  // The client is known to be unable to answer (see RedisCounter.unavailable): no command is tried,
  // and the window cache is left as it is for when Redis is back.
  const outage = async (key: string, index: number, elapsedMs: number, error: Error) => {
    report(error);
    if (mode === 'deny') return decide(DENY, DENY, elapsedMs);
    const [previousRes, currentRes] = await Promise.all([
      memory.get(`${keyBase}${key}:${index - 1}`),
      memory.consume(`${keyBase}${key}:${index}`),
    ]);
    return decide(countOf(previousRes), currentRes.consumedPoints, elapsedMs);
  };

  // Memory: both counts of each key, counted here and now (see the module's comment).
  const counts = new Map<string, MemoryCount>();
  let sweptIndex = Number.NEGATIVE_INFINITY;
  const countNow = (key: string, time: number): MemoryCount => {
    const index = Math.floor(time / windowMs);
    if (index > sweptIndex) {
      // The first check of a window: keys not seen in this window or the last have nothing to count.
      sweptIndex = index;
      for (const [name, entry] of counts) if (entry.index < index - 1) counts.delete(name);
    }
    let entry = counts.get(key);
    if (entry === undefined) {
      entry = { index, previous: 0, current: 0 };
      counts.set(key, entry);
    } else if (entry.index < index) {
      entry.previous = entry.index === index - 1 ? entry.current : 0;
      entry.current = 0;
      entry.index = index;
    }
    // A clock stepped back counts into the newest window the key has, as early in it as can be.
    entry.current += 1;
    return entry;
  };
  const elapsedIn = (entry: MemoryCount, time: number): number => Math.max(0, time - entry.index * windowMs);
  const decideInMemory = (key: string): LimitDecision => {
    const time = now();
    const entry = countNow(key, time);
    return decide(entry.previous, entry.current, elapsedIn(entry, time));
  };
  // The guard's hot path: only what it needs (0: allowed, else Retry-After seconds), no object.
  const waitInMemory = (key: string, at?: number): number | undefined => {
    if (!validKey(key)) return undefined;
    const time = at ?? now();
    const entry = countNow(key, time);
    const elapsedMs = elapsedIn(entry, time);
    return fits(entry.previous, entry.current, elapsedMs)
      ? 0
      : retryAfter(entry.previous, entry.current, elapsedMs);
  };
  const validKey = (key: string): boolean =>
    typeof key === 'string' && key.length !== 0 && key.length <= MAX_KEY_LENGTH;

  const check = (key: string): Promise<LimitDecision> => {
    if (!validKey(key)) {
      return Promise.reject(
        new ArgumentError(
          `limiter "${options.name}": the key must be a non-empty string of at most ${MAX_KEY_LENGTH} characters (an openid or an IP); got ${describe(key)}`,
        ),
      );
    }
    if (redis === undefined) return Promise.resolve(decideInMemory(key));
    const time = now();
    const index = Math.floor(time / windowMs);
    const elapsedMs = time - index * windowMs;
    const down = redis?.unavailable();
    if (down !== undefined) return outage(key, index, elapsedMs, down);
    let entry = windows.get(key);
    if (entry === undefined || entry.index !== index) entry = enterWindow(key, index);
    const { storeKey, previousCount } = entry;
    if (typeof previousCount === 'number') {
      // The steady state: one store operation.
      return store.consume(storeKey).then(
        (res) => decide(previousCount, res.consumedPoints, elapsedMs),
        (error: unknown) =>
          consumeFailed(storeKey, error).then((currentCount) =>
            decide(previousCount, currentCount, elapsedMs),
          ),
      );
    }
    const currentCount = store.consume(storeKey).then(
      (res) => res.consumedPoints,
      (error: unknown) => consumeFailed(storeKey, error),
    );
    return Promise.all([previousCount, currentCount]).then(([previousValue, currentValue]) =>
      decide(previousValue, currentValue, elapsedMs),
    );
  };

  const limiter: Limiter = { rule: Object.freeze({ ...checkedRule }), check };
  if (redis === undefined) {
    MEMORY.set(limiter, { waitNow: waitInMemory, keys: () => counts.size });
  }
  return limiter;
}

// A key's two counts in memory: `current` in window `index`, `previous` in the one before.
interface MemoryCount {
  index: number;
  previous: number;
  current: number;
}

interface MemoryCounter {
  waitNow(key: string, at?: number): number | undefined;
  keys(): number;
}

// The memory limiters this module made, for the guard's synchronous path; not public API.
const MEMORY = new WeakMap<Limiter, MemoryCounter>();

/**
 * Counts `key` now, without waiting, on a memory limiter: `0` when the request may run, else the
 * `Retry-After` seconds (what {@link Limiter.check} would decide, without the decision object).
 * `at` is the time to judge by, read from the limiter's own clock (`options.now`) by the caller
 * (the guard, whose clock it is), else read here.
 * For a Redis limiter, a limiter made elsewhere or a key `check` would refuse, the function is
 * `undefined` or answers `undefined`, having counted nothing: call {@link Limiter.check} then.
 * Internal (the guard's hot path).
 */
export function waitNowOf(limiter: Limiter): ((key: string, at?: number) => number | undefined) | undefined {
  return MEMORY.get(limiter)?.waitNow;
}

/** How many keys a memory limiter holds counts for (tests: the sweep bounds it). Internal. */
export function memoryKeysOf(limiter: Limiter): number | undefined {
  return MEMORY.get(limiter)?.keys();
}

// A previous window's count; a value that is not a number (a key of another type under our name:
// ioredis hands MULTI errors back as results) counts as nothing rather than poisoning decisions.
function countOf(res: RateLimiterRes | null): number {
  const count = res === null ? 0 : res.consumedPoints;
  return Number.isFinite(count) ? count : 0;
}

function isRes(value: unknown): value is RateLimiterRes {
  return value instanceof RateLimiterRes;
}

interface RedisCounter {
  limiter: RateLimiterAbstract;
  /**
   * Why the client cannot answer now: it is closed for good, or it was ready before and is not any
   * more (reconnecting). Its commands would fail anyway, or wait in the client's offline queue for
   * as long as its retry policy says; failing at once lets the fallback answer without that wait.
   * A client that has not been ready yet (still connecting at startup) is given its commands.
   */
  unavailable(): Error | undefined;
}

function redisCounter(
  client: unknown,
  counterOptions: { points: number; duration: number; keyPrefix: string },
): RedisCounter {
  // Recognised by shape, as weixin-kit/redis does: neither client package is imported.
  if (typeof client === 'object' && client !== null) {
    const c = client as Record<string, unknown>;
    if (typeof c.status === 'string') {
      // ioredis: `status` is 'ready' once connected, 'end' once closed for good.
      return {
        limiter: new RateLimiterRedis({ ...counterOptions, storeClient: client }),
        unavailable: availability(
          () => c.status === 'ready',
          () => c.status === 'end',
          () => `status "${String(c.status)}"`,
        ),
      };
    }
    if (typeof c.isOpen === 'boolean') {
      // node-redis v4+: `isOpen` until closed; `isReady` while connected (a cluster has no
      // `isReady`: its nodes are ready or not each, so open is as ready as it tells).
      const ready = typeof c.isReady === 'boolean' ? () => c.isReady === true : () => c.isOpen === true;
      return {
        limiter: new RateLimiterRedis({ ...counterOptions, storeClient: client, useRedisPackage: true }),
        unavailable: availability(
          ready,
          () => c.isOpen !== true,
          () => (c.isOpen === true ? 'reconnecting' : 'closed'),
        ),
      };
    }
  }
  throw new ArgumentError(
    'createLimiter: redis must be an ioredis client (`new Redis(...)`) or a node-redis v4+ client (`createClient(...)`, connected); got something else',
  );
}

function availability(
  isReady: () => boolean,
  isClosed: () => boolean,
  state: () => string,
): () => Error | undefined {
  let wasReady = false;
  return () => {
    if (isReady()) {
      wasReady = true;
      return undefined;
    }
    return wasReady || isClosed() ? new Error(`the Redis client is not ready (${state()})`) : undefined;
  };
}

function checkRule(rule: LimitRule): LimitRule {
  if (typeof rule !== 'object' || rule === null) {
    throw new ArgumentError('createLimiter: the rule must be an object { points, durationSeconds }');
  }
  for (const field of ['points', 'durationSeconds'] as const) {
    const value: unknown = rule[field];
    if (typeof value !== 'number' || !Number.isSafeInteger(value) || value <= 0) {
      throw new ArgumentError(
        `createLimiter: rule.${field} must be a positive integer; got ${describe(value)}`,
      );
    }
  }
  return { points: rule.points, durationSeconds: rule.durationSeconds };
}

function checkOptions(options: LimiterOptions): void {
  if (typeof options !== 'object' || options === null) {
    throw new ArgumentError('createLimiter: options must be an object with at least a `name`');
  }
  for (const key of Object.keys(options)) {
    if (!OPTION_NAMES.has(key)) {
      throw new ArgumentError(
        `createLimiter: unknown option "${key}" (allowed: ${[...OPTION_NAMES].join(', ')})`,
      );
    }
  }
  if (typeof options.name !== 'string' || options.name === '') {
    throw new ArgumentError(
      `createLimiter: name must be a non-empty string (it names the limiter in store keys); got ${describe(options.name)}`,
    );
  }
  if (options.prefix !== undefined && typeof options.prefix !== 'string') {
    throw new ArgumentError(`createLimiter: prefix must be a string; got ${describe(options.prefix)}`);
  }
  if (options.now !== undefined && typeof options.now !== 'function') {
    throw new ArgumentError('createLimiter: now must be a function returning ms since the epoch');
  }
  if (
    options.onRedisError !== undefined &&
    options.onRedisError !== 'memory' &&
    options.onRedisError !== 'deny'
  ) {
    throw new ArgumentError(
      `createLimiter: onRedisError must be 'memory' or 'deny'; got ${describe(options.onRedisError)}`,
    );
  }
  if (options.onStoreError !== undefined && typeof options.onStoreError !== 'function') {
    throw new ArgumentError('createLimiter: onStoreError must be a function');
  }
}

function describe(value: unknown): string {
  if (typeof value === 'string')
    return value.length === 0 ? 'an empty string' : `a string of ${value.length} characters`;
  if (typeof value === 'number') return String(value);
  return value === null ? 'null' : typeof value;
}
