/**
 * Where credentials (access_token, jsapi_ticket, …) live between refreshes, and the lease that
 * lets exactly one holder refresh them. The in-memory default serves one process; a shared
 * implementation (`RedisStore` from `weixin-kit/redis`) serves many.
 */

/** A credential as the store keeps it. */
export interface StoredToken {
  /** The credential itself (access_token, ticket). Never logged. */
  value: string;
  /** When WeChat stops accepting it, ms since the epoch. */
  expiresAt: number;
  /**
   * When holders should stop serving it and refresh, ms since the epoch: `expiresAt` minus the
   * refresh margin (the margin is capped at half the lifetime, so a short-lived token is still
   * served for a while instead of being refreshed on every call).
   */
  refreshAt: number;
}

/** A held lease. `token` is the fencing value: only the holder of this exact value may release it. */
export interface Lease {
  readonly token: string;
  /** Compare-and-delete: releases the lease only if the store still holds this lease's token. */
  release(): Promise<void>;
}

/**
 * Storage for credentials shared by every holder of a credential. Keys name the appid and the token
 * kind (`weixin-kit:<kind>:<appid>`), never a secret: keys show up in `redis-cli MONITOR`, slow
 * logs and dashboards.
 *
 * Implementations throw `StoreError('STORE_UNAVAILABLE')` when the backing service cannot be used.
 *
 * @example
 * const store: TokenStore = new MemoryStore();
 * await store.set(`weixin-kit:access_token:${appId}`, { value, expiresAt, refreshAt }, ttlMs);
 */
export interface TokenStore {
  /** The stored token, or `undefined` when there is none (or its TTL elapsed). */
  get(key: string): Promise<StoredToken | undefined>;
  /** Stores `token` under `key` for `ttlMs` milliseconds (must be > 0). */
  set(key: string, token: StoredToken, ttlMs: number): Promise<void>;
  /**
   * Deletes the token under `key` only if its `value` is still `expectedValue`, so a fresh token
   * written by another holder survives the invalidation of an old one. True when it deleted.
   */
  compareAndDelete(key: string, expectedValue: string): Promise<boolean>;
  /**
   * Takes the lease named `key` for `ttlMs` milliseconds, or answers `undefined` when someone
   * else holds it. The lease expires on its own if its holder dies.
   */
  acquireLease(key: string, ttlMs: number): Promise<Lease | undefined>;
  /**
   * Optional: takes one slot of a sliding-window rate limit shared by every holder of the store —
   * at most `limit` slots in any `windowMs` ending at `now` (ms, the caller's clock). Answers 0 when
   * a slot was taken, else how many ms until one frees up. `RedisStore` implements it (Lua, one
   * round trip); without it, callers limit each process on its own.
   */
  takeRateSlot?(key: string, limit: number, windowMs: number, now: number): Promise<number>;
}

/** The credential kinds weixin-kit stores. */
export type TokenKind =
  | 'access_token'
  | 'jsapi_ticket'
  | 'wx_card_ticket'
  | 'component_access_token'
  | 'authorizer_access_token'
  | 'work_access_token'
  | (string & {});
