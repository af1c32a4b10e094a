/**
 * A {@link DedupeStore} in Redis, shared by every instance of the app. Works with an ioredis client
 * or a node-redis v4+ client, recognised by shape: neither package is imported here.
 */

import { redactUrlCredentials } from '../core/redact.js';
import { ConfigError, StoreError } from '../errors.js';
import { defaultRandom } from '../internal/bytes.js';
import { LruMap } from '../internal/lru.js';
import { raceTimer } from '../internal/timers.js';
import type { DedupeStore } from './dedupe-store.js';

// `never[]` parameters accept any method signature, overloaded or not.
type AnyMethod = (...args: never[]) => unknown;

/** An ioredis `Redis` / `Cluster`: recognised by its `status` string. */
export interface IoRedisDedupeClient {
  readonly status: string;
  set: AnyMethod;
  get: AnyMethod;
  del: AnyMethod;
  /** Used for the atomic compare-and-delete of `release`; every ioredis client has it. */
  eval?: AnyMethod;
}

/** A node-redis v4+ client (`createClient()`, connected): recognised by its `isOpen` boolean. */
export interface NodeRedisDedupeClient {
  readonly isOpen: boolean;
  set: AnyMethod;
  get: AnyMethod;
  del: AnyMethod;
  /** Used for the atomic compare-and-delete of `release`; every node-redis client has it. */
  eval?: AnyMethod;
}

/** A Redis client {@link RedisDedupeStore} accepts. */
export type RedisDedupeClient = IoRedisDedupeClient | NodeRedisDedupeClient;

/** Options of {@link RedisDedupeStore}. */
export interface RedisDedupeStoreOptions {
  /** Prepended to every key (e.g. `'prod:'`); keys then continue with `weixin-kit:dedupe:`. */
  prefix?: string;
  /**
   * A command unanswered after this many ms fails with `STORE_UNAVAILABLE` (default 1000): the
   * whole push must be answered within WeChat's 5 s, so a Redis stuck reconnecting must not hang it.
   */
  commandTimeoutMs?: number;
}

interface DedupeCommands {
  setNxPx(key: string, value: string, ttlMs: number): Promise<boolean>;
  setPx(key: string, value: string, ttlMs: number): Promise<void>;
  get(key: string): Promise<string | null>;
  /** Deletes `key` if it holds `token`, or — `token` empty — if it holds anything but {@link DONE}. */
  release(key: string, token: string): Promise<void>;
  /** Sets `key`'s expiry to `ttlMs` if it still holds `token`; `false` otherwise (or without EVAL). */
  extend(key: string, token: string, ttlMs: number): Promise<boolean>;
}

/** Stored values: a claim's own token (`c:` + 24 hex digits) while processed, then completed. */
const DONE = 'done';

// A release deletes only the claim it made (its token): a lease that ran out and was claimed again
// by another delivery, or a push that another run completed meanwhile, stays as it is. Without a
// token (the claim was made by another store object), only an unfinished claim is deleted.
const RELEASE = `local v = redis.call('GET', KEYS[1])
if v == false then return 0 end
if (ARGV[1] ~= '' and v == ARGV[1]) or (ARGV[1] == '' and v ~= ARGV[2]) then
  return redis.call('DEL', KEYS[1])
end
return 0`;

// An extension renews only the claim it made (its token), never a key another delivery claimed
// after the lease ran out, nor a completed one.
const EXTEND = `if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0`;

/** How many unsettled claims a store remembers the token of; an older one is released without it. */
const MAX_HELD_CLAIMS = 10_000;

function adapt(client: unknown): DedupeCommands {
  if (typeof client === 'object' && client !== null) {
    const c = client as Record<string, unknown>;
    const hasMethods =
      typeof c.set === 'function' && typeof c.get === 'function' && typeof c.del === 'function';
    if (hasMethods && typeof c.status === 'string') {
      // ioredis: positional tokens, `set(key, value, 'PX', ttl, 'NX')` → 'OK' or null.
      const io = client as {
        set(key: string, value: string, px: 'PX', ttl: number, nx?: 'NX'): Promise<string | null>;
        get(key: string): Promise<string | null>;
        del(key: string): Promise<number>;
        eval?(script: string, numKeys: number, ...args: string[]): Promise<unknown>;
      };
      return {
        setNxPx: async (key, value, ttlMs) => (await io.set(key, value, 'PX', ttlMs, 'NX')) === 'OK',
        setPx: async (key, value, ttlMs) => {
          await io.set(key, value, 'PX', ttlMs);
        },
        get: (key) => io.get(key),
        release: async (key, token) => {
          if (typeof io.eval === 'function') await io.eval(RELEASE, 1, key, token, DONE);
          else await io.del(key);
        },
        extend: async (key, token, ttlMs) =>
          typeof io.eval === 'function' && Number(await io.eval(EXTEND, 1, key, token, String(ttlMs))) === 1,
      };
    }
    if (hasMethods && typeof c.isOpen === 'boolean') {
      // node-redis: an options object, `set(key, value, { NX: true, PX: ttl })` → 'OK' or null.
      const nr = client as {
        set(key: string, value: string, options: { NX?: true; PX: number }): Promise<string | null>;
        get(key: string): Promise<string | null>;
        del(key: string): Promise<number>;
        eval?(script: string, options: { keys: string[]; arguments: string[] }): Promise<unknown>;
      };
      return {
        setNxPx: async (key, value, ttlMs) => (await nr.set(key, value, { NX: true, PX: ttlMs })) === 'OK',
        setPx: async (key, value, ttlMs) => {
          await nr.set(key, value, { PX: ttlMs });
        },
        get: (key) => nr.get(key),
        release: async (key, token) => {
          if (typeof nr.eval === 'function')
            await nr.eval(RELEASE, { keys: [key], arguments: [token, DONE] });
          else await nr.del(key);
        },
        extend: async (key, token, ttlMs) =>
          typeof nr.eval === 'function' &&
          Number(await nr.eval(EXTEND, { keys: [key], arguments: [token, String(ttlMs)] })) === 1,
      };
    }
  }
  throw new ConfigError(
    'INVALID_CONFIG',
    'RedisDedupeStore needs an ioredis client (`new Redis(...)`) or a connected node-redis v4+ client (`createClient(...)`)',
  );
}

/**
 * Remembers processed pushes in Redis with `SET key 1 NX PX ttl`: atomic, so exactly one
 * instance wins a retried push; Redis expires the key. Failures become `StoreError`
 * (`STORE_UNAVAILABLE`). The client stays yours: connect it before use and quit it on shutdown.
 *
 * @example
 * import { Redis } from 'ioredis';
 * const callback = createWeChatCallback({ …, dedupe: new RedisDedupeStore(new Redis(url), { prefix: 'prod:' }) });
 */
export class RedisDedupeStore implements DedupeStore {
  readonly #redis: DedupeCommands;
  readonly #prefix: string;
  readonly #timeoutMs: number;
  /** The token of each claim this store made and has not settled yet (bounded). */
  readonly #held = new LruMap<string, string>(MAX_HELD_CLAIMS);

  constructor(client: RedisDedupeClient, options: RedisDedupeStoreOptions = {}) {
    this.#redis = adapt(client);
    const prefix = options.prefix ?? '';
    if (typeof prefix !== 'string')
      throw new ConfigError('INVALID_CONFIG', 'RedisDedupeStore: prefix must be a string');
    this.#prefix = `${prefix}weixin-kit:dedupe:`;
    const timeout = options.commandTimeoutMs ?? 1000;
    if (!Number.isFinite(timeout) || timeout <= 0) {
      throw new ConfigError('INVALID_CONFIG', 'RedisDedupeStore: commandTimeoutMs must be a positive number');
    }
    this.#timeoutMs = timeout;
  }

  async claim(key: string, ttlMs: number): Promise<boolean> {
    // Redis wants a positive integer for PX. The value is this claim's own token (see release).
    const px = Math.max(1, Math.ceil(ttlMs));
    const token = `c:${Buffer.from(defaultRandom(12)).toString('hex')}`;
    const won = await this.#run('claim', () => this.#redis.setNxPx(this.#prefix + key, token, px));
    if (won) this.#held.set(key, token);
    return won;
  }

  /**
   * Gives up a claim this store made, so the push's retry is processed — and only that claim: if
   * its lease ran out and another delivery claimed the push again, or a run completed it, the key
   * is left as it is (deleting it would let a third copy through, or re-run a processed push).
   */
  release(key: string): Promise<void> {
    const token = this.#held.get(key) ?? '';
    this.#held.delete(key);
    return this.#run('release', () => this.#redis.release(this.#prefix + key, token));
  }

  complete(key: string, ttlMs: number): Promise<void> {
    const px = Math.max(1, Math.ceil(ttlMs));
    this.#held.delete(key);
    return this.#run('complete', () => this.#redis.setPx(this.#prefix + key, DONE, px));
  }

  async isComplete(key: string): Promise<boolean | undefined> {
    const value = await this.#run('lookup', () => this.#redis.get(this.#prefix + key));
    return value === null ? undefined : value === DONE;
  }

  /**
   * Renews a claim this store made and has not settled, atomically (a script compares the claim's
   * token): `false` for a claim it does not hold — made by another store object, run out and
   * claimed again, completed or released — and on a client without `eval`.
   */
  async extend(key: string, ttlMs: number): Promise<boolean> {
    const token = this.#held.get(key);
    if (token === undefined) return false;
    const px = Math.max(1, Math.ceil(ttlMs));
    const kept = await this.#run('extension', () => this.#redis.extend(this.#prefix + key, token, px));
    if (!kept) this.#held.delete(key);
    return kept;
  }

  async #run<T>(what: string, command: () => Promise<T>): Promise<T> {
    try {
      return await raceTimer(command(), this.#timeoutMs, () => {
        throw new StoreError(
          'STORE_UNAVAILABLE',
          `Redis did not answer the dedupe ${what} within ${this.#timeoutMs} ms`,
        );
      });
    } catch (error) {
      if (error instanceof StoreError) throw error;
      throw new StoreError(
        'STORE_UNAVAILABLE',
        `Redis failed the dedupe ${what}: ${redactUrlCredentials(error instanceof Error ? error.message : String(error))}`,
        { cause: error },
      );
    }
  }
}
