import { createHash } from 'node:crypto';
import type { TokenStore } from '../credentials/token-store.js';
import { ConfigError, WeChatKitError } from '../errors.js';
import { sleep } from '../internal/abort.js';
import type { Scheduler } from '../internal/timers.js';

/**
 * {@link OpenPlatformOptions.authorizerRefresh}: spreads authorizer token refreshes
 * (`api_authorizer_token`) so that thousands of accounts authorised in the same minute are not
 * refreshed in the same second.
 */
export interface AuthorizerRefreshOptions {
  /**
   * At most this many `api_authorizer_token` calls start in any 1.5 s window, counted across every
   * instance sharing a store with `takeRateSlot` (`RedisStore`), or per process otherwise. The
   * window is half a second longer than a second so that request latency and process stalls
   * cannot put more than this many into one second as WeChat counts them.
   */
  maxPerSecond: number;
  /**
   * Each authorizer refreshes early by `refreshMarginSeconds` plus a share of this many seconds
   * fixed by its AppID (the same in every process; default 600), so expiries issued together
   * spread over this window. To refresh N accounts issued in one minute without any call waiting,
   * keep it above N / maxPerSecond.
   */
  jitterSeconds?: number | undefined;
  /**
   * How long a call whose token has already expired waits for a refresh slot, ms (default 5000;
   * keep it below the refresh lease's 10 s). Past it the call fails with
   * {@link AuthorizerRefreshTimeoutError}. A call whose token is still valid never waits: it uses
   * that token and the refresh is tried again once a slot frees.
   */
  maxWaitMs?: number | undefined;
}

/** Default of {@link AuthorizerRefreshOptions.jitterSeconds}. */
export const DEFAULT_AUTHORIZER_REFRESH_JITTER_SECONDS = 600;
/** Default of {@link AuthorizerRefreshOptions.maxWaitMs}. */
export const DEFAULT_AUTHORIZER_REFRESH_MAX_WAIT_MS = 5000;
/** The limiter's window: `maxPerSecond` slots per this many ms (a second plus latency slack). */
export const AUTHORIZER_REFRESH_WINDOW_MS = 1500;

/**
 * An authorizer's token had expired and no refresh slot freed up within `maxWaitMs` (code
 * `AUTHORIZER_REFRESH_TIMEOUT`): raise `authorizerRefresh.maxPerSecond`, or `jitterSeconds` so
 * tokens are refreshed before they expire.
 */
export class AuthorizerRefreshTimeoutError extends WeChatKitError {
  readonly authorizerAppId: string;

  constructor(authorizerAppId: string, message: string) {
    super('AUTHORIZER_REFRESH_TIMEOUT', message);
    this.authorizerAppId = authorizerAppId;
  }
}

/** The checked settings. */
export interface ResolvedRefreshRate {
  maxPerSecond: number;
  jitterSeconds: number;
  maxWaitMs: number;
}

const KEYS = new Set(['maxPerSecond', 'jitterSeconds', 'maxWaitMs']);

function invalid(message: string): ConfigError {
  return new ConfigError('INVALID_CONFIG', `OpenPlatform: authorizerRefresh.${message}`);
}

/** Checks `authorizerRefresh`; undefined when not configured. */
export function resolveRefreshRate(
  value: AuthorizerRefreshOptions | undefined,
): ResolvedRefreshRate | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'object' || value === null) {
    throw invalid('must be { maxPerSecond, jitterSeconds?, maxWaitMs? }');
  }
  for (const key of Object.keys(value)) {
    if (!KEYS.has(key)) throw invalid(`${key} is unknown (allowed: maxPerSecond, jitterSeconds, maxWaitMs)`);
  }
  const { maxPerSecond } = value;
  if (!Number.isSafeInteger(maxPerSecond) || maxPerSecond < 1) {
    throw invalid('maxPerSecond must be a whole number of refreshes per second, at least 1');
  }
  const jitterSeconds = value.jitterSeconds ?? DEFAULT_AUTHORIZER_REFRESH_JITTER_SECONDS;
  if (!Number.isFinite(jitterSeconds) || jitterSeconds < 0) {
    throw invalid('jitterSeconds must be a number of seconds, 0 or more (default 600)');
  }
  const maxWaitMs = value.maxWaitMs ?? DEFAULT_AUTHORIZER_REFRESH_MAX_WAIT_MS;
  if (!Number.isFinite(maxWaitMs) || maxWaitMs < 0) {
    throw invalid('maxWaitMs must be a number of ms, 0 or more (default 5000)');
  }
  return { maxPerSecond, jitterSeconds, maxWaitMs };
}

/** A number in [0, 1) fixed by the AppID, the same in every process. */
export function appIdShare(appId: string): number {
  return createHash('sha256').update(appId).digest().readUInt32BE(0) / 2 ** 32;
}

/**
 * The refresh slots: through the store's `takeRateSlot` when it has one (shared by every
 * instance), else a sliding window of this process.
 */
export class RefreshRateLimiter {
  readonly #settings: ResolvedRefreshRate;
  readonly #store: TokenStore;
  readonly #key: string;
  readonly #now: () => number;
  readonly #scheduler: Scheduler | undefined;
  readonly #local: number[] = [];

  constructor(
    settings: ResolvedRefreshRate,
    store: TokenStore,
    key: string,
    now: () => number,
    scheduler: Scheduler | undefined,
  ) {
    this.#settings = settings;
    this.#store = store;
    this.#key = key;
    this.#now = now;
    this.#scheduler = scheduler;
  }

  get settings(): ResolvedRefreshRate {
    return this.#settings;
  }

  /** Takes a slot now if one is free (0), else answers the ms until one may free up. */
  async tryTake(): Promise<number> {
    const { maxPerSecond } = this.#settings;
    const now = this.#now();
    if (this.#store.takeRateSlot !== undefined) {
      return this.#store.takeRateSlot(this.#key, maxPerSecond, AUTHORIZER_REFRESH_WINDOW_MS, now);
    }
    const slots = this.#local;
    while (slots.length > 0 && (slots[0] as number) <= now - AUTHORIZER_REFRESH_WINDOW_MS) slots.shift();
    if (slots.length < maxPerSecond) {
      slots.push(now);
      return 0;
    }
    return Math.max(1, Math.ceil((slots[0] as number) + AUTHORIZER_REFRESH_WINDOW_MS - now));
  }

  /** Waits for a slot, at most `maxWaitMs`; throws {@link AuthorizerRefreshTimeoutError} past it. */
  async take(appId: string): Promise<void> {
    const { maxWaitMs } = this.#settings;
    const deadline = this.#now() + maxWaitMs;
    for (;;) {
      const waitMs = await this.tryTake();
      if (waitMs === 0) return;
      const left = deadline - this.#now();
      if (left <= 0 || waitMs > left) {
        throw new AuthorizerRefreshTimeoutError(
          appId,
          `OpenPlatform: the authorizer_access_token of ${appId} expired and no refresh slot freed up within ${maxWaitMs} ms ` +
            `(authorizerRefresh.maxPerSecond: ${this.#settings.maxPerSecond}). Raise maxPerSecond, or jitterSeconds so tokens are refreshed before they expire.`,
        );
      }
      await sleep(waitMs, undefined, this.#scheduler);
    }
  }
}
