/**
 * Where the guard keeps what must never reach a client — sessions with their `session_key` and
 * `unionid`, used login codes, revocations — in this process (default) or in Redis, shared by
 * every instance.
 */
import { redactUrlCredentials } from '../core/redact.js';
import { ArgumentError, ConfigError, StoreError } from '../errors.js';
import { raceTimer } from '../internal/timers.js';

/**
 * A small key-value store with TTLs. Values are opaque strings (the guard stores JSON). Keys hold
 * appids, session ids and openids, never a secret.
 */
export interface GuardStore {
  /** The value under `key`, or `undefined`. */
  get(key: string): Promise<string | undefined>;
  /** Values of several keys in one round trip, in order. */
  getMany(keys: readonly string[]): Promise<Array<string | undefined>>;
  /** Stores `value` for `ttlMs` (> 0) milliseconds. */
  set(key: string, value: string, ttlMs: number): Promise<void>;
  /** Stores `value` only if `key` is absent; true when it did (the claim is yours). */
  setIfAbsent(key: string, value: string, ttlMs: number): Promise<boolean>;
  /** Deletes `key` (absent is fine). */
  delete(key: string): Promise<void>;
}

/** Options of {@link MemoryGuardStore}. */
export interface MemoryGuardStoreOptions {
  /** ms since the epoch (default `Date.now`): expiry is judged with it. */
  now?: () => number;
  /** At most this many entries (default 100 000); the oldest go first. */
  maxEntries?: number;
}

/**
 * A {@link GuardStore} in this process: right for one instance. With several instances, give the
 * guard a Redis client instead, or a login code could be exchanged once per instance and a
 * logout would only reach one of them.
 */
export class MemoryGuardStore implements GuardStore {
  readonly #entries = new Map<string, { value: string; expiresAt: number }>();
  readonly #now: () => number;
  readonly #max: number;

  constructor(options: MemoryGuardStoreOptions = {}) {
    this.#now = options.now ?? Date.now;
    this.#max = options.maxEntries ?? 100_000;
    if (!Number.isSafeInteger(this.#max) || this.#max < 1) {
      throw new ArgumentError('MemoryGuardStore: maxEntries must be a whole number >= 1');
    }
  }

  async get(key: string): Promise<string | undefined> {
    return this.#read(key, this.#now());
  }

  async getMany(keys: readonly string[]): Promise<Array<string | undefined>> {
    const now = this.#now();
    return keys.map((key) => this.#read(key, now));
  }

  /**
   * @internal The values of two keys now, without a promise, judged at one reading of this store's
   * clock: the guard's fast path (a session and its user's revocation time). A caller whose clock
   * is this store's (`clock`, the same function) passes its reading (`at`) and spares one.
   */
  readPairNow(
    first: string,
    second: string,
    clock?: () => number,
    at?: number,
  ): [string | undefined, string | undefined] {
    const now = clock === this.#now && at !== undefined ? at : this.#now();
    return [this.#read(first, now), this.#read(second, now)];
  }

  async set(key: string, value: string, ttlMs: number): Promise<void> {
    if (!(ttlMs > 0)) return;
    this.#entries.delete(key);
    this.#entries.set(key, { value, expiresAt: this.#now() + ttlMs });
    this.#trim();
  }

  async setIfAbsent(key: string, value: string, ttlMs: number): Promise<boolean> {
    if (this.#read(key, this.#now()) !== undefined) return false;
    await this.set(key, value, Math.max(1, ttlMs));
    return true;
  }

  async delete(key: string): Promise<void> {
    this.#entries.delete(key);
  }

  #read(key: string, now: number): string | undefined {
    const entry = this.#entries.get(key);
    if (entry === undefined) return undefined;
    if (entry.expiresAt <= now) {
      this.#entries.delete(key);
      return undefined;
    }
    return entry.value;
  }

  #trim(): void {
    while (this.#entries.size > this.#max) {
      const oldest = this.#entries.keys().next().value;
      if (oldest === undefined) return;
      this.#entries.delete(oldest);
    }
  }
}

type AnyMethod = (...args: never[]) => unknown;

/** The user's ioredis client (`status` string) or node-redis v4+ client (`isOpen` boolean). */
export type GuardRedisClient =
  | { readonly status: string; get: AnyMethod; set: AnyMethod; del: AnyMethod; mget: AnyMethod }
  | { readonly isOpen: boolean; get: AnyMethod; set: AnyMethod; del: AnyMethod; mGet: AnyMethod };

interface Commands {
  get(key: string): Promise<string | null>;
  mget(keys: string[]): Promise<Array<string | null>>;
  set(key: string, value: string, ttlMs: number, nx: boolean): Promise<boolean>;
  del(key: string): Promise<unknown>;
}

/** Which Redis library a client comes from, judged by its shape; `undefined` when neither. */
export function redisKind(client: unknown): 'ioredis' | 'node-redis' | undefined {
  if (typeof client !== 'object' || client === null) return undefined;
  const c = client as Record<string, unknown>;
  if (typeof c.get !== 'function' || typeof c.set !== 'function') return undefined;
  if (typeof c.status === 'string') return 'ioredis';
  if (typeof c.isOpen === 'boolean') return 'node-redis';
  return undefined;
}

function adapt(client: unknown): Commands {
  const kind = redisKind(client);
  if (kind === 'ioredis') {
    const io = client as {
      get(k: string): Promise<string | null>;
      mget(...k: string[]): Promise<Array<string | null>>;
      set(k: string, v: string, px: 'PX', ttl: number, nx?: 'NX'): Promise<string | null>;
      del(k: string): Promise<number>;
    };
    return {
      get: (k) => io.get(k),
      mget: (keys) => io.mget(...keys),
      set: async (k, v, ttl, nx) =>
        (await (nx ? io.set(k, v, 'PX', ttl, 'NX') : io.set(k, v, 'PX', ttl))) === 'OK',
      del: (k) => io.del(k),
    };
  }
  if (kind === 'node-redis') {
    const nr = client as {
      get(k: string): Promise<string | null>;
      mGet(k: string[]): Promise<Array<string | null>>;
      set(k: string, v: string, o: { PX: number; NX?: true }): Promise<string | null>;
      del(k: string): Promise<number>;
    };
    return {
      get: (k) => nr.get(k),
      mget: (keys) => nr.mGet(keys),
      set: async (k, v, ttl, nx) => (await nr.set(k, v, nx ? { PX: ttl, NX: true } : { PX: ttl })) === 'OK',
      del: (k) => nr.del(k),
    };
  }
  throw new ConfigError(
    'INVALID_CONFIG',
    'weixin-kit/guard: redis must be an ioredis client (`new Redis(...)`) or a connected node-redis v4+ client (`createClient(...)`)',
  );
}

/**
 * A {@link GuardStore} on the user's own Redis client, shared by every instance. Failures become
 * `StoreError('STORE_UNAVAILABLE')`; the guard answers those `503`.
 */
export class RedisGuardStore implements GuardStore {
  readonly #redis: Commands;
  readonly #timeoutMs: number;

  /** `commandTimeoutMs` (default 2000): a command unanswered by then fails with `STORE_UNAVAILABLE`. */
  constructor(client: GuardRedisClient, options: { commandTimeoutMs?: number } = {}) {
    this.#redis = adapt(client);
    this.#timeoutMs = options.commandTimeoutMs ?? 2000;
    if (!(Number.isFinite(this.#timeoutMs) && this.#timeoutMs > 0)) {
      throw new ArgumentError('RedisGuardStore: commandTimeoutMs must be a positive number of ms');
    }
  }

  get(key: string): Promise<string | undefined> {
    return this.#run('GET', async () => (await this.#redis.get(key)) ?? undefined);
  }

  getMany(keys: readonly string[]): Promise<Array<string | undefined>> {
    if (keys.length === 0) return Promise.resolve([]);
    return this.#run('MGET', async () => (await this.#redis.mget([...keys])).map((v) => v ?? undefined));
  }

  async set(key: string, value: string, ttlMs: number): Promise<void> {
    const ttl = Math.ceil(ttlMs);
    if (!(ttl > 0)) return;
    await this.#run('SET', () => this.#redis.set(key, value, ttl, false));
  }

  setIfAbsent(key: string, value: string, ttlMs: number): Promise<boolean> {
    return this.#run('SET NX', () => this.#redis.set(key, value, Math.max(1, Math.ceil(ttlMs)), true));
  }

  async delete(key: string): Promise<void> {
    await this.#run('DEL', () => this.#redis.del(key));
  }

  async #run<T>(command: string, call: () => Promise<T>): Promise<T> {
    try {
      return await raceTimer(
        Promise.resolve().then(call),
        this.#timeoutMs,
        () => {
          throw new Error(`no answer within ${this.#timeoutMs} ms`);
        },
        { unref: true },
      );
    } catch (error) {
      const reason = redactUrlCredentials(error instanceof Error ? error.message : String(error));
      throw new StoreError(
        'STORE_UNAVAILABLE',
        `weixin-kit/guard: Redis ${command} failed: ${reason}. Check that Redis is reachable and the client connected.`,
        { cause: error },
      );
    }
  }
}
