import { ArgumentError } from '../errors.js';

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
 * kind (see {@link tokenKey}), never a secret: keys show up in `redis-cli MONITOR`, slow logs and
 * dashboards.
 *
 * Implementations throw `StoreError('STORE_UNAVAILABLE')` when the backing service cannot be used.
 *
 * @example
 * const store: TokenStore = new MemoryStore();
 * await store.set(tokenKey('access_token', appId), { value, expiresAt, refreshAt }, ttlMs);
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

const KEY_PART = /^[A-Za-z0-9_.-]{1,128}$/;

/**
 * The store key of a credential: `weixin-kit:<kind>:<id>[:<sub>]`, where `id` is the appid (or
 * corpid) and `sub` an optional qualifier such as a WeCom agent id. It never contains the secret:
 * pass the appid, not the AppSecret.
 *
 * @example
 * tokenKey('access_token', 'wx1234567890abcdef') // 'weixin-kit:access_token:wx1234567890abcdef'
 * tokenKey('work_access_token', corpId, String(agentId))
 */
export function tokenKey(kind: TokenKind, id: string, sub?: string): string {
  const parts = sub === undefined ? [kind, id] : [kind, id, sub];
  for (const part of parts) {
    if (!KEY_PART.test(part)) {
      // The part itself is left out of the message: a caller passing the wrong argument might pass a secret.
      throw new ArgumentError(
        `tokenKey: each part must be 1-128 characters of [A-Za-z0-9_.-] (an appid, corpid or agent id); got ${part.length} characters`,
      );
    }
  }
  return `weixin-kit:${parts.join(':')}`;
}

/** The key of the refresh lease that belongs to the credential stored under `key`. */
export function leaseKeyOf(key: string): string {
  return `${key}:lease`;
}
