import { randomUUID } from 'node:crypto';
import type { Lease, StoredToken, TokenStore } from './token-store.js';

/** Options of {@link MemoryStore}. */
export interface MemoryStoreOptions {
  /** The clock, ms since the epoch (default `Date.now`). Inject one in tests instead of sleeping. */
  now?: () => number;
  /** Fencing values for leases (default `crypto.randomUUID`). */
  randomId?: () => string;
}

interface Entry<T> {
  item: T;
  until: number;
}

/**
 * The default {@link TokenStore}: a `Map` in this process. TTLs are honoured against the injected
 * clock; leases are in-process (they coordinate concurrent refreshes of this process only). Use
 * `RedisStore` from `weixin-kit/redis` when several instances share an appid.
 *
 * @example
 * const store = new MemoryStore();
 * const manager = new TokenManager({ key: tokenKey('access_token', appId), store, fetchToken });
 */
export class MemoryStore implements TokenStore {
  readonly #tokens = new Map<string, Entry<StoredToken>>();
  readonly #leases = new Map<string, Entry<string>>();
  readonly #now: () => number;
  readonly #randomId: () => string;

  constructor(options: MemoryStoreOptions = {}) {
    this.#now = options.now ?? Date.now;
    this.#randomId = options.randomId ?? randomUUID;
  }

  async get(key: string): Promise<StoredToken | undefined> {
    const entry = this.#live(this.#tokens, key);
    return entry === undefined ? undefined : { ...entry.item };
  }

  async set(key: string, token: StoredToken, ttlMs: number): Promise<void> {
    if (!(ttlMs > 0)) {
      this.#tokens.delete(key);
      return;
    }
    this.#tokens.set(key, { item: { ...token }, until: this.#now() + ttlMs });
  }

  async compareAndDelete(key: string, expectedValue: string): Promise<boolean> {
    const entry = this.#live(this.#tokens, key);
    if (entry === undefined || entry.item.value !== expectedValue) return false;
    this.#tokens.delete(key);
    return true;
  }

  async acquireLease(key: string, ttlMs: number): Promise<Lease | undefined> {
    if (this.#live(this.#leases, key) !== undefined) return undefined;
    const token = this.#randomId();
    this.#leases.set(key, { item: token, until: this.#now() + ttlMs });
    return {
      token,
      release: async () => {
        const held = this.#leases.get(key);
        if (held !== undefined && held.item === token) this.#leases.delete(key);
      },
    };
  }

  #live<T>(map: Map<string, Entry<T>>, key: string): Entry<T> | undefined {
    const entry = map.get(key);
    if (entry === undefined) return undefined;
    if (this.#now() >= entry.until) {
      map.delete(key);
      return undefined;
    }
    return entry;
  }
}
