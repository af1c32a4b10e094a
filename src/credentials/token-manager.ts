import { ArgumentError, ConfigError, StoreError, WeChatKitError } from '../errors.js';
import { sleep } from '../internal/abort.js';
import { leaseKeyOf } from '../internal/store-keys.js';
import { elapsedClock, isScheduler, type Scheduler, systemScheduler } from '../internal/timers.js';
import { MemoryStore } from './memory-store.js';
import {
  type CooldownRecord,
  cooldownMarker,
  cooldownOf,
  failureRecord,
  type ResolvedCooldown,
  resolveCooldown,
  TokenCooldownError,
  type TokenCooldownOptions,
} from './token-cooldown.js';
import type { Lease, StoredToken, TokenStore } from './token-store.js';

/** What a token fetch answers: the credential and its lifetime as WeChat gave it. */
export interface FetchedToken {
  value: string;
  /** Seconds until WeChat stops accepting it (`expires_in`, used as given). */
  expiresIn: number;
  /**
   * Serve it this many ms only, then refresh again (instead of until `refreshMarginSeconds` before
   * expiry): a fetcher that handed back a still-valid token because it may not refresh yet.
   * Capped at the token's lifetime.
   */
  refreshInMs?: number | undefined;
}

/** Events a {@link TokenManager} reports. Hooks never receive a token value or a secret. */
export interface TokenManagerHooks {
  /** This instance fetched a new token (it held the refresh lease). */
  onRefresh?(event: { key: string; expiresIn: number; durationMs: number }): void;
  /** Another holder has the refresh lease; this instance waits for the value it will store. */
  onWait?(event: { key: string }): void;
  /**
   * The store failed. `fallback: 'local'` means this instance now keeps the token in process
   * (see {@link TokenManagerOptions.onStoreUnavailable}); `'none'` means the error propagates.
   */
  onStoreError?(event: { key: string; error: StoreError; fallback: 'local' | 'none' }): void;
}

/** Options of {@link TokenManager}. Unknown keys are rejected. */
export interface TokenManagerOptions {
  /** Store key naming the token kind and the appid, never the secret: use `tokenKey(kind, appId)`. */
  key: string;
  /** Fetches a new token from WeChat (stable_token, cgi-bin/token, ticket/getticket…). */
  fetchToken: () => Promise<FetchedToken>;
  /** Where the token is kept (default: a new {@link MemoryStore}, i.e. this process only). */
  store?: TokenStore;
  /**
   * Refresh this many seconds before expiry (default 300). Capped at half the token's lifetime, so
   * a token shorter-lived than the margin is still served for half its life.
   */
  refreshMarginSeconds?: number;
  /**
   * How long the refresh lease is held at most, ms (default 10 000). Keep it above the fetch's own
   * timeout: a holder slower than this may see a second instance fetch as well.
   */
  leaseTtlMs?: number;
  /**
   * How long an instance without the lease waits for the holder's new token, polling the store
   * with backoff (default 15 000, above `leaseTtlMs` so a dead holder's lease expires first and a
   * waiter takes over). Past it, `get()` fails with `StoreError('LEASE_TIMEOUT')`.
   */
  waitForPeerMs?: number;
  /** The clock, ms since the epoch (default `Date.now`). */
  now?: () => number;
  /**
   * Where the waits for a peer's lease come from (default: the global timers); its `now()` also
   * measures `waitForPeerMs` and, under `onStoreUnavailable: 'local'`, the few seconds before a
   * failed shared store is tried again. A test passes a manual scheduler and advances it.
   */
  scheduler?: Scheduler | undefined;
  /** Randomness in [0, 1) for the jitter of those waits (default `Math.random`). */
  random?: (() => number) | undefined;
  hooks?: TokenManagerHooks;
  /**
   * What to do when the store answers `STORE_UNAVAILABLE` (default `'fail'`):
   * - `'fail'`: the `StoreError` propagates to the caller of `get()` / `invalidate()`.
   * - `'local'`: keep the token in this process (an in-memory store) and report it through
   *   `hooks.onStoreError` (or `process.emitWarning` without a hook). While it lasts, each instance
   *   refreshes on its own — with several instances that means several token fetches, and with
   *   `cgi-bin/token` (not `stable_token`) they may invalidate each other. The shared store is
   *   tried again after a few seconds.
   */
  onStoreUnavailable?: 'fail' | 'local';
  /**
   * After a failed fetch, callers get a {@link TokenCooldownError} without a new request for
   * `initialMs` (default 1000), doubling with each consecutive failure up to `maxMs` (default
   * 30 000), until a fetch succeeds. Recorded in the token's own store slot as a marker that is
   * never served as a token (no extra key, any store works), so every instance sharing the store
   * holds back too. The caller whose fetch failed gets the original error. `false`
   * turns it off (every caller then asks WeChat again).
   */
  failureCooldown?: TokenCooldownOptions | false;
}

const OPTION_NAMES = new Set([
  'key',
  'fetchToken',
  'store',
  'refreshMarginSeconds',
  'leaseTtlMs',
  'waitForPeerMs',
  'now',
  'scheduler',
  'random',
  'hooks',
  'onStoreUnavailable',
  'failureCooldown',
]);

/** A failed fetch's cool-down as read from the store: the stored value and what it says. */
interface Failure {
  raw: string;
  record: CooldownRecord;
}

/** After the shared store failed under the 'local' policy, go straight to the local store this long. */
const STORE_RETRY_AFTER_MS = 5000;
const POLL_FIRST_MS = 20;
const POLL_MAX_MS = 250;

function asStoreError(error: unknown, key: string): unknown {
  if (error instanceof WeChatKitError) return error;
  const reason = error instanceof Error ? error.message : String(error);
  return new StoreError('STORE_UNAVAILABLE', `The token store failed on "${key}": ${reason}`, {
    cause: error,
  });
}

function isUnavailable(error: unknown): error is StoreError {
  return error instanceof StoreError && error.code === 'STORE_UNAVAILABLE';
}

function positive(name: string, value: number | undefined, fallback: number, allowZero = false): number {
  if (value === undefined) return fallback;
  if (!Number.isFinite(value) || value < 0 || (!allowZero && value === 0)) {
    throw new ConfigError(
      'INVALID_CONFIG',
      `TokenManager: ${name} must be a ${allowZero ? 'non-negative' : 'positive'} number`,
    );
  }
  return value;
}

/**
 * Keeps one credential (an access_token, a jsapi_ticket…) fresh for every caller.
 *
 * - `get()` serves the stored token until `refreshMarginSeconds` before expiry.
 * - In one process, concurrent callers share one lookup and at most one refresh.
 * - Across processes sharing a store, one instance takes the refresh lease and fetches; the others
 *   poll the store until its new token appears (or the lease expires and one of them takes it).
 * - `invalidate(failed)` drops the stored token only if it is still the one that failed.
 * - After a failed fetch, a cool-down (1 s, doubling per consecutive failure up to 30 s, recorded
 *   in the store) answers {@link TokenCooldownError} without a request, here and in every instance
 *   sharing the store, so an outage or a wrong AppSecret costs WeChat a bounded number of requests.
 *
 * @example
 * const manager = new TokenManager({
 *   key: tokenKey('access_token', appId),
 *   store: new RedisStore(redis),
 *   fetchToken: async () => ({ value: json.access_token, expiresIn: json.expires_in }),
 * });
 * const token = await manager.get();
 * // on errcode 40001: await manager.invalidate(token); then get() again and retry once.
 */
export class TokenManager {
  readonly #key: string;
  readonly #leaseKey: string;
  readonly #store: TokenStore;
  readonly #fetchToken: () => Promise<FetchedToken>;
  readonly #marginMs: number;
  readonly #leaseTtlMs: number;
  readonly #waitForPeerMs: number;
  readonly #now: () => number;
  readonly #scheduler: Scheduler;
  readonly #random: () => number;
  readonly #hooks: TokenManagerHooks;
  readonly #policy: 'fail' | 'local';
  readonly #cooldown: ResolvedCooldown | undefined;
  /** The last failure this process recorded, so its own callers get it as the cause. */
  #lastFailure: { raw: string; error: unknown } | undefined;
  #local: MemoryStore | undefined;
  /** Scheduler time before which the shared store is not tried again (after it failed, under 'local'). */
  #sharedRetryAt = Number.NEGATIVE_INFINITY;
  #generation = 0;
  #pending: { generation: number; promise: Promise<string> } | undefined;

  constructor(options: TokenManagerOptions) {
    for (const name of Object.keys(options)) {
      if (!OPTION_NAMES.has(name))
        throw new ConfigError('INVALID_CONFIG', `TokenManager: unknown option "${name}"`);
    }
    if (typeof options.key !== 'string' || options.key === '') {
      throw new ConfigError(
        'INVALID_CONFIG',
        'TokenManager: key must be a non-empty string, e.g. tokenKey(kind, appId)',
      );
    }
    if (typeof options.fetchToken !== 'function') {
      throw new ConfigError('INVALID_CONFIG', 'TokenManager: fetchToken must be a function');
    }
    const policy = options.onStoreUnavailable ?? 'fail';
    if (policy !== 'fail' && policy !== 'local') {
      throw new ConfigError('INVALID_CONFIG', `TokenManager: onStoreUnavailable must be 'fail' or 'local'`);
    }
    if (options.scheduler !== undefined && !isScheduler(options.scheduler)) {
      throw new ConfigError(
        'INVALID_CONFIG',
        'TokenManager: scheduler must be an object with setTimeout(fn, ms) and clearTimeout(handle) functions',
      );
    }
    if (options.random !== undefined && typeof options.random !== 'function') {
      throw new ConfigError(
        'INVALID_CONFIG',
        'TokenManager: random must be a function returning a number in [0, 1)',
      );
    }
    this.#key = options.key;
    this.#leaseKey = leaseKeyOf(options.key);
    this.#now = options.now ?? Date.now;
    this.#scheduler = options.scheduler ?? systemScheduler;
    this.#random = options.random ?? Math.random;
    this.#store = options.store ?? new MemoryStore({ now: this.#now });
    this.#fetchToken = options.fetchToken;
    this.#marginMs = positive('refreshMarginSeconds', options.refreshMarginSeconds, 300, true) * 1000;
    this.#leaseTtlMs = positive('leaseTtlMs', options.leaseTtlMs, 10_000);
    this.#waitForPeerMs = positive('waitForPeerMs', options.waitForPeerMs, 15_000);
    this.#hooks = options.hooks ?? {};
    this.#policy = policy;
    this.#cooldown = resolveCooldown(options.failureCooldown);
  }

  /** The store key this manager uses (names the kind and appid, never a secret). */
  get key(): string {
    return this.#key;
  }

  /** A token that is valid for at least the refresh margin, fetching one only when needed. */
  get(): Promise<string> {
    const generation = this.#generation;
    if (this.#pending !== undefined && this.#pending.generation === generation) return this.#pending.promise;
    const promise: Promise<string> = this.#resolve().finally(() => {
      if (this.#pending?.promise === promise) this.#pending = undefined;
    });
    this.#pending = { generation, promise };
    return promise;
  }

  /**
   * Drops the stored token if it is still `failedValue` (WeChat refused it: 40001, 40014, 42001), so a
   * token another instance has just stored is kept. Call `get()` afterwards for a fresh one. Resolves
   * true when a token was dropped.
   */
  async invalidate(failedValue: string): Promise<boolean> {
    // Callers arriving after this point must not join a lookup that may still answer the failed value.
    this.#generation++;
    let removed = (await this.#local?.compareAndDelete(this.#key, failedValue)) ?? false;
    try {
      removed = (await this.#op(() => this.#store.compareAndDelete(this.#key, failedValue))) || removed;
    } catch (error) {
      if (!isUnavailable(error) || this.#policy === 'fail') {
        if (isUnavailable(error)) this.#report(error, 'none');
        throw error;
      }
      this.#report(error, 'local');
    }
    return removed;
  }

  async #resolve(): Promise<string> {
    if (this.#policy === 'local' && elapsedClock(this.#scheduler) < this.#sharedRetryAt) {
      return this.#resolveIn(this.#localStore());
    }
    try {
      return await this.#resolveIn(this.#store);
    } catch (error) {
      if (!isUnavailable(error)) throw error;
      if (this.#policy === 'fail') {
        this.#report(error, 'none');
        throw error;
      }
      this.#fallBack(error);
      return this.#resolveIn(this.#localStore());
    }
  }

  async #resolveIn(store: TokenStore): Promise<string> {
    const current = await this.#read(store);
    if ('token' in current) return current.token;
    this.#refuseDuringCooldown(current.failure);

    const started = elapsedClock(this.#scheduler);
    let delay = POLL_FIRST_MS;
    let announced = false;
    for (;;) {
      const lease = await this.#op(() => store.acquireLease(this.#leaseKey, this.#leaseTtlMs));
      if (lease !== undefined) {
        try {
          // A peer may have stored a token, or failed, between our read and our lease.
          const again = await this.#read(store);
          if ('token' in again) return again.token;
          this.#refuseDuringCooldown(again.failure);
          return await this.#fetchAndStore(store, again.failure);
        } finally {
          await this.#release(lease);
        }
      }
      if (!announced) {
        announced = true;
        this.#call(() => this.#hooks.onWait?.({ key: this.#key }));
      }
      if (elapsedClock(this.#scheduler) - started + delay > this.#waitForPeerMs) {
        throw new StoreError(
          'LEASE_TIMEOUT',
          `Waited ${this.#waitForPeerMs} ms for another instance to refresh "${this.#key}" without seeing a new token. ` +
            'Check that the instance holding the lease can reach WeChat, or raise waitForPeerMs above leaseTtlMs.',
        );
      }
      // Jitter keeps waiters that started together from polling in lockstep.
      await sleep(delay / 2 + this.#random() * (delay / 2), undefined, this.#scheduler);
      delay = Math.min(delay * 2, POLL_MAX_MS);
      const appeared = await this.#read(store);
      if ('token' in appeared) return appeared.token;
      // The holder's fetch failed: share its cool-down instead of fetching in turn.
      this.#refuseDuringCooldown(appeared.failure);
    }
  }

  #refuseDuringCooldown(failure: Failure | undefined): void {
    if (failure === undefined) return;
    const now = this.#now();
    if (now >= failure.record.until) return;
    const cause = this.#lastFailure?.raw === failure.raw ? this.#lastFailure.error : undefined;
    throw new TokenCooldownError(this.#key, failure.record, now, cause);
  }

  /** Starts (or lengthens) the cool-down after a failed fetch. Best effort: the fetch's error matters more. */
  async #recordFailure(
    store: TokenStore,
    error: unknown,
    previous: CooldownRecord | undefined,
  ): Promise<void> {
    const settings = this.#cooldown;
    if (settings === undefined || !settings.appliesTo(error)) return;
    const now = this.#now();
    const record = failureRecord(error, previous, now, settings);
    const marker = cooldownMarker(record);
    this.#lastFailure = { raw: marker.value, error };
    // Kept past its end for maxMs, so that the next failure still counts as consecutive.
    const ttlMs = record.until - now + settings.maxMs;
    try {
      // A token stored meanwhile (its lease expired under a slow fetch, or written directly) wins.
      if ('token' in (await this.#read(store))) return;
      await this.#op(() => store.set(this.#key, marker, ttlMs));
    } catch {}
  }

  /**
   * What the store holds: a token still fresh (before its refresh time), or else the cool-down of
   * the last failed fetch, if one is recorded.
   */
  async #read(store: TokenStore): Promise<{ token: string } | { failure: Failure | undefined }> {
    const stored = await this.#op(() => store.get(this.#key));
    if (stored === undefined) return { failure: undefined };
    const now = this.#now();
    if (now < stored.refreshAt && now < stored.expiresAt) return { token: stored.value };
    const record = this.#cooldown === undefined ? undefined : cooldownOf(stored);
    return { failure: record === undefined ? undefined : { raw: stored.value, record } };
  }

  async #fetchAndStore(store: TokenStore, failure: Failure | undefined): Promise<string> {
    const started = performance.now();
    let fetched: FetchedToken;
    try {
      fetched = await this.#fetchToken();
    } catch (error) {
      await this.#recordFailure(store, error, failure?.record);
      throw error;
    }
    if (
      typeof fetched !== 'object' ||
      fetched === null ||
      typeof fetched.value !== 'string' ||
      fetched.value === '' ||
      !Number.isFinite(fetched.expiresIn) ||
      fetched.expiresIn <= 0
    ) {
      throw new ArgumentError(
        `fetchToken for "${this.#key}" must resolve to { value: non-empty string, expiresIn: seconds > 0 }`,
      );
    }
    const now = this.#now();
    const lifetimeMs = fetched.expiresIn * 1000;
    const marginMs = Math.min(this.#marginMs, lifetimeMs / 2);
    const early = fetched.refreshInMs;
    const ttlMs =
      early !== undefined && Number.isFinite(early) && early > 0
        ? Math.floor(Math.min(early, lifetimeMs))
        : Math.floor(lifetimeMs - marginMs);
    const token: StoredToken = { value: fetched.value, expiresAt: now + lifetimeMs, refreshAt: now + ttlMs };
    if (ttlMs > 0) {
      try {
        await this.#op(() => store.set(this.#key, token, ttlMs));
      } catch (error) {
        // The token is good: under the 'local' policy keep it here rather than fetch another one.
        if (!isUnavailable(error) || this.#policy === 'fail' || store !== this.#store) throw error;
        this.#fallBack(error);
        await this.#localStore().set(this.#key, token, ttlMs);
      }
    }
    // Storing the token ended the cool-down and reset its growth; a token too short-lived to store
    // must end it too.
    this.#lastFailure = undefined;
    if (failure !== undefined && !(ttlMs > 0)) {
      await this.#op(() => store.compareAndDelete(this.#key, failure.raw)).catch(() => {});
    }
    const durationMs = performance.now() - started;
    this.#call(() => this.#hooks.onRefresh?.({ key: this.#key, expiresIn: fetched.expiresIn, durationMs }));
    return fetched.value;
  }

  async #release(lease: Lease): Promise<void> {
    try {
      await this.#op(() => lease.release());
    } catch (error) {
      // The token is already stored; an unreleased lease only expires by its TTL.
      if (isUnavailable(error)) this.#report(error, this.#policy === 'local' ? 'local' : 'none');
    }
  }

  async #op<T>(run: () => Promise<T>): Promise<T> {
    try {
      return await run();
    } catch (error) {
      throw asStoreError(error, this.#key);
    }
  }

  #localStore(): MemoryStore {
    this.#local ??= new MemoryStore({ now: this.#now });
    return this.#local;
  }

  #fallBack(error: StoreError): void {
    this.#sharedRetryAt = elapsedClock(this.#scheduler) + STORE_RETRY_AFTER_MS;
    this.#report(error, 'local');
  }

  #report(error: StoreError, fallback: 'local' | 'none'): void {
    if (this.#hooks.onStoreError !== undefined) {
      this.#call(() => this.#hooks.onStoreError?.({ key: this.#key, error, fallback }));
    } else if (fallback === 'local') {
      process.emitWarning(
        `weixin-kit: token store unavailable for "${this.#key}", keeping the token in this process; ` +
          `each instance now refreshes on its own (${error.message})`,
        { code: 'WEIXIN_KIT_STORE_FALLBACK' },
      );
    }
  }

  // A throwing hook must not break token handling.
  #call(run: () => void): void {
    try {
      run();
    } catch {}
  }
}
