/**
 * `weixin-kit/redis` — a {@link TokenStore} on the user's own Redis client (ioredis, or node-redis
 * v4 and later). Neither package is imported here: the client is recognised by its shape, so a user
 * who never imports this entry never needs either.
 */
import { randomUUID } from 'node:crypto';
import { redactUrlCredentials } from '../core/redact.js';
import type { Lease, StoredToken, TokenStore } from '../credentials/token-store.js';
import { ConfigError, StoreError } from '../errors.js';
import { raceTimer } from '../internal/timers.js';

// `never[]` parameters accept any method signature, overloaded or not; the adapters below call
// the client with the exact argument shapes each library documents.
type AnyMethod = (...args: never[]) => unknown;

/** An ioredis `Redis` (or `Cluster`) instance: recognised by its `status` string. */
export interface IoRedisClientLike {
  readonly status: string;
  get: AnyMethod;
  set: AnyMethod;
  eval: AnyMethod;
}

/** A node-redis v4+ client from `createClient()` (or `createCluster()`): recognised by `isOpen`. */
export interface NodeRedisClientLike {
  readonly isOpen: boolean;
  get: AnyMethod;
  set: AnyMethod;
  eval: AnyMethod;
}

/** A Redis client {@link RedisStore} accepts. */
export type RedisClientLike = IoRedisClientLike | NodeRedisClientLike;

/** Options of {@link RedisStore}. */
export interface RedisStoreOptions {
  /** Prepended to every key (e.g. `'staging:'`); default none. Keys already start with `weixin-kit:`. */
  prefix?: string;
  /**
   * A Redis command that has not answered after this many ms fails with `STORE_UNAVAILABLE`
   * (default 5000), so a client stuck reconnecting cannot hang token refreshes.
   */
  commandTimeoutMs?: number;
  /** Fencing values for leases (default `crypto.randomUUID`). */
  randomId?: () => string;
}

// Compare-and-delete in one round trip, so only the holder of a value deletes it. Mode 'token'
// compares the `value` field of a stored token (JSON); mode 'raw' compares the whole string (leases).
const COMPARE_AND_DELETE = `
local current = redis.call('GET', KEYS[1])
if not current then return 0 end
if ARGV[2] == 'token' then
  local ok, decoded = pcall(cjson.decode, current)
  if not ok or type(decoded) ~= 'table' then return 0 end
  current = decoded['value']
end
if current == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
`;

// A sliding-window limit in one round trip: drop the slots older than the window, take one if
// fewer than the limit remain (answer 0), else answer the ms until the oldest leaves the window.
const TAKE_RATE_SLOT = `
local now = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local limit = tonumber(ARGV[3])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
if redis.call('ZCARD', KEYS[1]) < limit then
  redis.call('ZADD', KEYS[1], now, ARGV[4])
  redis.call('PEXPIRE', KEYS[1], math.ceil(window * 2))
  return 0
end
local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
return math.max(1, math.ceil(tonumber(oldest[2]) + window - now))
`;

interface Commands {
  get(key: string): Promise<string | null>;
  setPx(key: string, value: string, ttlMs: number): Promise<void>;
  setNxPx(key: string, value: string, ttlMs: number): Promise<boolean>;
  compareAndDelete(key: string, expected: string, mode: 'token' | 'raw'): Promise<boolean>;
  takeRateSlot(key: string, args: string[]): Promise<number>;
}

interface IoRedisCalls {
  get(key: string): Promise<string | null>;
  set(key: string, value: string, px: 'PX', ttl: number, nx?: 'NX'): Promise<string | null>;
  eval(script: string, numKeys: number, ...args: string[]): Promise<unknown>;
}

interface NodeRedisCalls {
  get(key: string): Promise<string | null>;
  // `{ PX, NX }` is understood by node-redis v4 through v6 (v5 adds an equivalent newer form).
  set(key: string, value: string, options: { PX: number; NX?: true }): Promise<string | null>;
  eval(script: string, options: { keys: string[]; arguments: string[] }): Promise<unknown>;
}

function adapt(client: unknown): Commands {
  if (typeof client === 'object' && client !== null) {
    const c = client as Record<string, unknown>;
    const hasMethods = ['get', 'set', 'eval'].every((m) => typeof c[m] === 'function');
    if (hasMethods && typeof c.status === 'string') {
      const io = client as IoRedisCalls;
      return {
        get: (key) => io.get(key),
        setPx: async (key, value, ttlMs) => {
          await io.set(key, value, 'PX', ttlMs);
        },
        setNxPx: async (key, value, ttlMs) => (await io.set(key, value, 'PX', ttlMs, 'NX')) === 'OK',
        compareAndDelete: async (key, expected, mode) =>
          Number(await io.eval(COMPARE_AND_DELETE, 1, key, expected, mode)) === 1,
        takeRateSlot: async (key, args) => Number(await io.eval(TAKE_RATE_SLOT, 1, key, ...args)),
      };
    }
    if (hasMethods && typeof c.isOpen === 'boolean') {
      const nr = client as NodeRedisCalls;
      return {
        get: (key) => nr.get(key),
        setPx: async (key, value, ttlMs) => {
          await nr.set(key, value, { PX: ttlMs });
        },
        setNxPx: async (key, value, ttlMs) => (await nr.set(key, value, { PX: ttlMs, NX: true })) === 'OK',
        compareAndDelete: async (key, expected, mode) =>
          Number(await nr.eval(COMPARE_AND_DELETE, { keys: [key], arguments: [expected, mode] })) === 1,
        takeRateSlot: async (key, args) =>
          Number(await nr.eval(TAKE_RATE_SLOT, { keys: [key], arguments: args })),
      };
    }
  }
  throw new ConfigError(
    'INVALID_CONFIG',
    'RedisStore needs an ioredis client (`new Redis(...)`) or a node-redis v4+ client (`createClient(...)`, connected); got something else',
  );
}

/**
 * A {@link TokenStore} in Redis, shared by every instance that uses the same Redis and prefix.
 * Tokens are JSON strings set with `PX`; a lease is `SET key token NX PX ttl`, released by a Lua
 * compare-and-delete so only its holder can delete it. Any Redis failure (connection refused,
 * closed client, timeout) becomes `StoreError('STORE_UNAVAILABLE')`.
 *
 * The client stays yours: connect it before use (node-redis: `await client.connect()`) and quit it
 * on shutdown.
 *
 * @example
 * import { Redis } from 'ioredis';
 * import { RedisStore } from 'weixin-kit/redis';
 * const store = new RedisStore(new Redis(process.env.REDIS_URL!), { prefix: 'prod:' });
 */
export class RedisStore implements TokenStore {
  readonly #redis: Commands;
  readonly #prefix: string;
  readonly #timeoutMs: number;
  readonly #randomId: () => string;

  constructor(client: RedisClientLike, options: RedisStoreOptions = {}) {
    const known = new Set(['prefix', 'commandTimeoutMs', 'randomId']);
    for (const name of Object.keys(options)) {
      if (!known.has(name)) throw new ConfigError('INVALID_CONFIG', `RedisStore: unknown option "${name}"`);
    }
    const timeoutMs = options.commandTimeoutMs ?? 5000;
    if (!(Number.isFinite(timeoutMs) && timeoutMs > 0)) {
      throw new ConfigError('INVALID_CONFIG', 'RedisStore: commandTimeoutMs must be a positive number of ms');
    }
    this.#redis = adapt(client);
    this.#prefix = options.prefix ?? '';
    this.#timeoutMs = timeoutMs;
    this.#randomId = options.randomId ?? randomUUID;
  }

  async get(key: string): Promise<StoredToken | undefined> {
    const raw = await this.#run('GET', key, (k) => this.#redis.get(k));
    return raw === null ? undefined : parseToken(raw);
  }

  async set(key: string, token: StoredToken, ttlMs: number): Promise<void> {
    const ttl = Math.floor(ttlMs);
    if (!(ttl > 0)) return;
    const raw = JSON.stringify({
      value: token.value,
      expiresAt: token.expiresAt,
      refreshAt: token.refreshAt,
    });
    await this.#run('SET', key, (k) => this.#redis.setPx(k, raw, ttl));
  }

  async compareAndDelete(key: string, expectedValue: string): Promise<boolean> {
    return this.#run('EVAL (compare-and-delete)', key, (k) =>
      this.#redis.compareAndDelete(k, expectedValue, 'token'),
    );
  }

  async acquireLease(key: string, ttlMs: number): Promise<Lease | undefined> {
    const token = this.#randomId();
    const ttl = Math.max(1, Math.ceil(ttlMs));
    const won = await this.#run('SET NX', key, (k) => this.#redis.setNxPx(k, token, ttl));
    if (!won) return undefined;
    return {
      token,
      release: async () => {
        await this.#run('EVAL (release lease)', key, (k) => this.#redis.compareAndDelete(k, token, 'raw'));
      },
    };
  }

  async takeRateSlot(key: string, limit: number, windowMs: number, now: number): Promise<number> {
    const args = [String(Math.floor(now)), String(windowMs), String(limit), `${now}:${this.#randomId()}`];
    return this.#run('EVAL (rate slot)', key, (k) => this.#redis.takeRateSlot(k, args));
  }

  async #run<T>(command: string, key: string, call: (fullKey: string) => Promise<T>): Promise<T> {
    const fullKey = this.#prefix + key;
    try {
      // The call may throw synchronously (node-redis on a closed client): keep it inside the try.
      const answer = Promise.resolve().then(() => call(fullKey));
      return await raceTimer(
        answer,
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
        `Redis ${command} on "${fullKey}" failed: ${reason}. Check that Redis is reachable from this host ` +
          '(host, port, TLS, password), that the client is connected (node-redis: await client.connect()) ' +
          'and has not been quit.',
        { cause: error },
      );
    }
  }
}

function parseToken(raw: string): StoredToken | undefined {
  try {
    const parsed: unknown = JSON.parse(raw);
    if (typeof parsed !== 'object' || parsed === null) return undefined;
    const { value, expiresAt, refreshAt } = parsed as Record<string, unknown>;
    if (typeof value !== 'string' || typeof expiresAt !== 'number') return undefined;
    return { value, expiresAt, refreshAt: typeof refreshAt === 'number' ? refreshAt : expiresAt };
  } catch {
    // Not ours (or corrupted): treat as absent; the next refresh overwrites it.
    return undefined;
  }
}

export type { DedupeStore } from '../callbacks/dedupe-store.js';
export {
  type IoRedisDedupeClient,
  type NodeRedisDedupeClient,
  type RedisDedupeClient,
  RedisDedupeStore,
  type RedisDedupeStoreOptions,
} from '../callbacks/redis-dedupe-store.js';
export type { Lease, StoredToken, TokenStore } from '../credentials/token-store.js';
