/**
 * Where the pipeline remembers which pushes it has already processed. WeChat resends a push it got
 * no answer to (3 attempts, 5 s apart), and a captured push can be replayed while its timestamp is
 * inside the window: both must reach the handlers once.
 */
import { ConfigError } from '../errors.js';

/**
 * A set of recently seen keys with expiry. Implementations must make `claim` atomic across every
 * instance that shares the store (Redis `SET NX PX` does), or two instances may both process a retry.
 *
 * @example
 * const store: DedupeStore = { claim: async (key, ttlMs) => myCache.addIfAbsent(key, ttlMs) };
 */
export interface DedupeStore {
  /** Records `key` for `ttlMs` ms; resolves `true` the first time, `false` while it is remembered. */
  claim(key: string, ttlMs: number): Promise<boolean>;
  /**
   * Forgets `key`. Called when the handler failed (HTTP 500), so WeChat's retry is processed
   * instead of being answered as a duplicate. Optional: without it that retry is skipped.
   */
  release?(key: string): Promise<void>;
  /**
   * Marks a claimed `key` as processed and keeps it `ttlMs` ms. With {@link isComplete}, it lets
   * a caller claim with a short "processing" lease and tell "still being processed elsewhere"
   * (answer: retry later) from "done" (answer: duplicate) — so a crash mid-handler loses nothing.
   * Optional.
   */
  complete?(key: string, ttlMs: number): Promise<void>;
  /** `true`: processed; `false`: claimed but not completed yet; `undefined`: not remembered. Optional. */
  isComplete?(key: string): Promise<boolean | undefined>;
  /**
   * Keeps a claim this store made, not completed yet, for `ttlMs` ms from now: a handler that runs
   * longer than its processing lease renews it, so no other instance takes the key meanwhile.
   * Resolves `false` when the claim is no longer this store's to keep (it ran out and was claimed
   * again, or it was completed or released). Optional: without it a lease is never renewed.
   */
  extend?(key: string, ttlMs: number): Promise<boolean>;
}

/** Options of {@link MemoryDedupeStore}. */
export interface MemoryDedupeStoreOptions {
  /** Most keys kept (default 10 000); the oldest are dropped first beyond it. */
  maxEntries?: number;
  /** Clock in ms (default `Date.now`). */
  now?: () => number;
}

/**
 * An in-process {@link DedupeStore}: fine for one instance. Several instances behind a load
 * balancer each see some of WeChat's retries; share a `RedisDedupeStore` (from `weixin-kit/redis`) instead.
 * Bounded: expired keys are dropped as new ones arrive, and at `maxEntries` the oldest go first,
 * so a flood of distinct pushes can only shorten how long old keys are remembered.
 *
 * @example
 * createWeChatCallback({ …, dedupe: new MemoryDedupeStore({ maxEntries: 50_000 }) });
 */
export class MemoryDedupeStore implements DedupeStore {
  // Insertion order is claim order. TTLs differ a little (a push stamped ahead of our clock is kept
  // longer), so the scan from the front stops at the first live key and may leave an expired one
  // behind it: harmless, as every lookup checks the expiry, and `maxEntries` still bounds the map.
  readonly #entries = new Map<string, number>();
  readonly #done = new Set<string>();
  readonly #max: number;
  readonly #now: () => number;

  constructor(options: MemoryDedupeStoreOptions = {}) {
    const max = options.maxEntries ?? 10_000;
    if (!Number.isInteger(max) || max < 1) {
      throw new ConfigError('INVALID_CONFIG', 'MemoryDedupeStore: maxEntries must be a positive integer');
    }
    this.#max = max;
    this.#now = options.now ?? Date.now;
  }

  /** Keys currently remembered (expired ones may linger until the next claim). */
  get size(): number {
    return this.#entries.size;
  }

  async claim(key: string, ttlMs: number): Promise<boolean> {
    const now = this.#now();
    for (const [k, expiresAt] of this.#entries) {
      if (expiresAt > now) break;
      this.#forget(k);
    }
    const expiresAt = this.#entries.get(key);
    if (expiresAt !== undefined && expiresAt > now) return false;
    this.#forget(key);
    this.#remember(key, now + ttlMs);
    return true;
  }

  async release(key: string): Promise<void> {
    this.#forget(key);
  }

  async complete(key: string, ttlMs: number): Promise<void> {
    this.#forget(key);
    this.#remember(key, this.#now() + ttlMs);
    this.#done.add(key);
  }

  async isComplete(key: string): Promise<boolean | undefined> {
    const expiresAt = this.#entries.get(key);
    if (expiresAt === undefined || expiresAt <= this.#now()) return undefined;
    return this.#done.has(key);
  }

  async extend(key: string, ttlMs: number): Promise<boolean> {
    const now = this.#now();
    const expiresAt = this.#entries.get(key);
    if (expiresAt === undefined || expiresAt <= now || this.#done.has(key)) return false;
    // Moved to the end: a claim being kept is the newest, the last to go at maxEntries.
    this.#entries.delete(key);
    this.#remember(key, now + ttlMs);
    return true;
  }

  #remember(key: string, expiresAt: number): void {
    this.#entries.set(key, expiresAt);
    while (this.#entries.size > this.#max) {
      const oldest = this.#entries.keys().next().value;
      if (oldest === undefined) break;
      this.#forget(oldest);
    }
  }

  #forget(key: string): void {
    this.#entries.delete(key);
    this.#done.delete(key);
  }
}
