/**
 * The quota breaker: when WeChat answers that the quota of one API of one account is spent (45009
 * daily quota) or that it is called too often (45011), further calls to that API fail fast with a
 * {@link QuotaExceededError} instead of reaching WeChat, until a back-off ends; then exactly one
 * call (a probe, across every instance) goes through, and its answer closes or re-opens the
 * breaker. The state lives in the token store, so every instance sharing it (Redis) holds back.
 */
import type { Lease, StoredToken, TokenStore } from '../credentials/token-store.js';
import { ConfigError, QuotaExceededError, WeChatApiError } from '../errors.js';
import { callHook } from '../internal/call-hook.js';
import { leaseKeyOf, tokenKey } from '../internal/store-keys.js';

/**
 * Settings of the quota breaker (`quotaBreaker` on the Official Account, Mini Program, WeCom and
 * Open Platform clients; on by default, `false` turns it off).
 *
 * @example
 * new OfficialAccount({ appId, secret, store: new RedisStore(redis), quotaBreaker: { maxOpenMs: 15 * 60_000 } });
 */
export interface QuotaBreakerOptions {
  /**
   * The longest the breaker stays open, ms (default 3 600 000, one hour). After 45009 it stays
   * open until WeChat resets daily quotas (midnight Beijing time, UTC+8) but at most this long,
   * then lets one probe call through; 45011 back-offs are capped by it too.
   */
  maxOpenMs?: number | undefined;
  /** How long the breaker stays open after a first 45011 (too frequent), ms (default 60 000). */
  backoffMs?: number | undefined;
  /**
   * Each consecutive 45011 (the probe call answered 45011 again) doubles the back-off up to this,
   * ms (default 600 000). The record stays in the store this long after the breaker half-opens, so
   * that the next opening still counts as consecutive.
   */
  maxBackoffMs?: number | undefined;
}

/** The states of a breaker: `open` refuses calls, `half-open` lets one probe through, `closed` lets all. */
export type QuotaBreakerState = 'open' | 'half-open' | 'closed';

/** A state change this instance made (other instances report their own). Never carries a token or a secret. */
export interface QuotaBreakerEvent {
  /** The account whose quota is spent: the AppID (WeCom: `corpId:agentId`). */
  appId: string;
  /** The API path, without its query. */
  path: string;
  /**
   * `open`: WeChat answered a quota/frequency errcode and the breaker (re-)opened until `retryAt`;
   * `half-open`: the back-off ended and this instance sends the one probe call;
   * `closed`: the probe succeeded (or WeChat answered it with something other than a quota error).
   */
  state: QuotaBreakerState;
  /** WeChat's errcode that opened it (45009, 45011), for `open` and `half-open`. */
  errcode?: number;
  /** When the breaker lets a probe through, for `open`. */
  retryAt?: Date;
  /** Consecutive openings (1 for the first; grows while probes keep being refused). */
  openings: number;
}

/** Hooks of the quota breaker, part of every token client's `hooks`. */
export interface QuotaBreakerHooks {
  /** The breaker of one API of one account changed state in this instance. */
  onBreaker?: ((event: QuotaBreakerEvent) => void) | undefined;
}

/** Validated breaker settings. */
export interface ResolvedQuotaBreaker {
  maxOpenMs: number;
  backoffMs: number;
  maxBackoffMs: number;
}

/**
 * The errcodes that open a breaker, with their kind, per PROTOCOL-NOTES §9 (the official global
 * errcode table): 45009 接口调用超过限制 (daily quota; `cgi-bin/token` 2000 a day, resettable with
 * clear_quota) and 45011 API 调用太频繁，请稍候再试 (frequency).
 */
const LIMITS: ReadonlyMap<number, 'daily' | 'frequency'> = new Map([
  [45009, 'daily'],
  [45011, 'frequency'],
]);

/**
 * APIs whose 45011 counts per user, not per account (`sns/jscode2session`: 100 per minute per
 * user, PROTOCOL-NOTES §5): one user's burst must not stop every other user's login.
 */
const PER_USER_FREQUENCY = new Set(['/sns/jscode2session']);

/** The probe's lease: held while the probe call is in flight, expires by itself if its holder dies. */
const PROBE_LEASE_MS = 30_000;
/** What callers refused while a probe is in flight are told to wait. */
const PROBE_RETRY_MS = 1000;
const BEIJING_OFFSET_MS = 8 * 3_600_000;
const DAY_MS = 86_400_000;
const MARKER = 'weixin-kit-breaker:';

/**
 * When WeChat next resets daily quotas after `now` (ms since the epoch): the next midnight in
 * Beijing time (UTC+8, no daylight saving), as the official quota docs state.
 */
export function nextQuotaReset(now: number): number {
  return Math.floor((now + BEIJING_OFFSET_MS) / DAY_MS) * DAY_MS + DAY_MS - BEIJING_OFFSET_MS;
}

/** Validates {@link QuotaBreakerOptions}; `false` turns the breaker off. */
export function resolveQuotaBreaker(
  options: QuotaBreakerOptions | false | undefined,
): ResolvedQuotaBreaker | undefined {
  if (options === false) return undefined;
  const o = options ?? {};
  if (typeof o !== 'object' || o === null) {
    throw new ConfigError(
      'INVALID_CONFIG',
      'quotaBreaker must be { maxOpenMs?, backoffMs?, maxBackoffMs? } or false',
    );
  }
  for (const name of Object.keys(o)) {
    if (!['maxOpenMs', 'backoffMs', 'maxBackoffMs'].includes(name)) {
      throw new ConfigError('INVALID_CONFIG', `quotaBreaker: unknown option "${name}"`);
    }
  }
  const ms = (name: string, value: number | undefined, fallback: number): number => {
    if (value === undefined) return fallback;
    if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) {
      throw new ConfigError('INVALID_CONFIG', `quotaBreaker: ${name} must be a positive number of ms`);
    }
    return value;
  };
  const maxOpenMs = ms('maxOpenMs', o.maxOpenMs, 3_600_000);
  const backoffMs = ms('backoffMs', o.backoffMs, 60_000);
  const maxBackoffMs = ms('maxBackoffMs', o.maxBackoffMs, Math.max(600_000, backoffMs));
  if (maxBackoffMs < backoffMs) {
    throw new ConfigError('INVALID_CONFIG', 'quotaBreaker: maxBackoffMs must be at least backoffMs');
  }
  return { maxOpenMs, backoffMs, maxBackoffMs };
}

/** What the store keeps about an open breaker: WeChat's answer and the back-off, never a secret. */
interface BreakerRecord {
  errcode: number;
  errmsg: string;
  /** End of the open interval, ms since the epoch; from then on the breaker is half-open. */
  until: number;
  /** Consecutive openings. */
  openings: number;
}

function recordOf(stored: StoredToken | undefined): BreakerRecord | undefined {
  if (stored === undefined || !stored.value.startsWith(MARKER)) return undefined;
  try {
    const r = JSON.parse(stored.value.slice(MARKER.length)) as Partial<BreakerRecord> | null;
    if (
      typeof r !== 'object' ||
      r === null ||
      typeof r.errcode !== 'number' ||
      typeof r.errmsg !== 'string' ||
      typeof r.until !== 'number' ||
      typeof r.openings !== 'number'
    ) {
      return undefined;
    }
    return r as BreakerRecord;
  } catch {
    return undefined;
  }
}

/** The API path a breaker is keyed on: no query or fragment (they may hold secrets), one leading `/`. */
export function breakerPathOf(path: string): string {
  const bare = path.split(/[?#]/, 1)[0] ?? '';
  return `/${bare.replace(/^\/+/, '')}`;
}

/**
 * One call's way through the breaker (see {@link QuotaBreaker.enter}): the client reports how the
 * request ended, and releases the pass whatever happened.
 * @internal
 */
export interface BreakerPass {
  /** WeChat answered the request without an errcode. */
  succeeded(): Promise<void>;
  /** The request failed with `error`: resolves with the error to throw (a {@link QuotaExceededError} when it opened the breaker). */
  failed(error: unknown): Promise<unknown>;
  /** Ends the pass (frees the probe lease, if this call was the probe). */
  release(): Promise<void>;
}

/**
 * The quota breakers of one account (one per API path), kept in a {@link TokenStore} under
 * `weixin-kit:breaker:<appId>:<path>`: a StoredToken-shaped record (never served as a token) whose
 * TTL is the open interval plus `maxBackoffMs`. Store failures never block a call: the breaker
 * then lets it through.
 * @internal
 */
export class QuotaBreaker {
  /** The account: the AppID, or `corpId:agentId` for WeCom. */
  readonly appId: string;
  readonly #prefix: string;
  readonly #store: TokenStore;
  readonly #now: () => number;
  readonly #hooks: QuotaBreakerHooks;
  readonly #settings: ResolvedQuotaBreaker;

  constructor(options: {
    appId: string;
    /** A WeCom app's AgentId: its quotas are kept apart from the other apps of the corp. */
    agentId?: string | undefined;
    store: TokenStore;
    settings: ResolvedQuotaBreaker;
    now?: (() => number) | undefined;
    hooks?: QuotaBreakerHooks | undefined;
  }) {
    // tokenKey refuses anything but an appid-like string, so no secret can end up in a key.
    this.#prefix = tokenKey('breaker', options.appId, options.agentId);
    this.appId = options.agentId === undefined ? options.appId : `${options.appId}:${options.agentId}`;
    this.#store = options.store;
    this.#settings = options.settings;
    this.#now = options.now ?? Date.now;
    this.#hooks = options.hooks ?? {};
  }

  /** The store key of the breaker of `path` (names the account and the API, never a secret). */
  keyOf(path: string): string {
    return `${this.#prefix}:${breakerPathOf(path)}`;
  }

  /**
   * Call before sending a request to `path`. Throws {@link QuotaExceededError} while the breaker
   * is open, or while it is half-open and another call (in any instance) is the probe; otherwise
   * resolves with a pass (the probe's, when this call is the one that tests the quota).
   */
  async enter(path: string): Promise<BreakerPass> {
    const apiPath = breakerPathOf(path);
    const key = this.keyOf(apiPath);
    const record = recordOf(await this.#get(key));
    if (record === undefined) return this.#pass(apiPath, undefined);
    if (this.#now() < record.until) throw this.#refusal(apiPath, record, record.until);
    let lease: Lease | undefined;
    try {
      lease = await this.#store.acquireLease(leaseKeyOf(key), PROBE_LEASE_MS);
    } catch {
      return this.#pass(apiPath, undefined);
    }
    if (lease === undefined) throw this.#refusal(apiPath, record, this.#now() + PROBE_RETRY_MS);
    // A peer's probe may have closed or re-opened the breaker between our read and our lease.
    const stored = await this.#get(key);
    const current = recordOf(stored);
    if (current === undefined || stored === undefined || this.#now() < current.until) {
      await lease.release().catch(() => {});
      if (current === undefined || stored === undefined) return this.#pass(apiPath, undefined);
      throw this.#refusal(apiPath, current, current.until);
    }
    this.#emit({
      appId: this.appId,
      path: apiPath,
      state: 'half-open',
      errcode: current.errcode,
      openings: current.openings,
    });
    return this.#pass(apiPath, { lease, raw: stored.value, record: current });
  }

  #pass(path: string, probe: { lease: Lease; raw: string; record: BreakerRecord } | undefined): BreakerPass {
    return {
      succeeded: async () => {
        if (probe !== undefined) await this.#close(path, probe.raw, probe.record);
      },
      failed: async (error) => {
        if (!(error instanceof WeChatApiError) || error instanceof QuotaExceededError) return error;
        const kind = LIMITS.get(error.errcode);
        if (kind !== undefined && !(kind === 'frequency' && PER_USER_FREQUENCY.has(path))) {
          const record = await this.#open(path, kind, error, probe?.record);
          return new QuotaExceededError(
            {
              errcode: error.errcode,
              errmsg: error.errmsg,
              appId: this.appId,
              path,
              retryAt: new Date(record.until),
              failFast: false,
            },
            { cause: error },
          );
        }
        // WeChat served this API with another answer: the quota is not what stops it. A stale
        // token (retried once by the client) or "system busy" says nothing either way.
        if (probe !== undefined && error.code !== 'TOKEN_INVALID' && error.code !== 'SYSTEM_BUSY') {
          await this.#close(path, probe.raw, probe.record);
        }
        return error;
      },
      release: async () => {
        await probe?.lease.release().catch(() => {});
      },
    };
  }

  async #open(
    path: string,
    kind: 'daily' | 'frequency',
    error: WeChatApiError,
    probed: BreakerRecord | undefined,
  ): Promise<BreakerRecord> {
    const key = this.keyOf(path);
    const now = this.#now();
    let previous = probed;
    if (previous === undefined) {
      const current = recordOf(await this.#get(key));
      // Several calls in flight when the quota ran out: the first answer opened it, keep its end.
      if (current !== undefined && now < current.until) return current;
      previous = current;
    }
    const openings = (previous?.openings ?? 0) + 1;
    const s = this.#settings;
    const ms =
      kind === 'daily'
        ? Math.min(nextQuotaReset(now) - now, s.maxOpenMs)
        : Math.min(s.backoffMs * 2 ** Math.min(openings - 1, 30), s.maxBackoffMs, s.maxOpenMs);
    const record: BreakerRecord = {
      errcode: error.errcode,
      errmsg: error.errmsg.slice(0, 200),
      until: now + ms,
      openings,
    };
    const stored: StoredToken = {
      value: MARKER + JSON.stringify(record),
      expiresAt: record.until,
      refreshAt: record.until,
    };
    try {
      await this.#store.set(key, stored, ms + s.maxBackoffMs);
    } catch {
      // Best effort: this caller still gets the QuotaExceededError.
    }
    this.#emit({
      appId: this.appId,
      path,
      state: 'open',
      errcode: record.errcode,
      retryAt: new Date(record.until),
      openings,
    });
    return record;
  }

  async #close(path: string, raw: string, record: BreakerRecord): Promise<void> {
    try {
      await this.#store.compareAndDelete(this.keyOf(path), raw);
    } catch {
      // The record ends by its TTL.
    }
    this.#emit({ appId: this.appId, path, state: 'closed', openings: record.openings });
  }

  #refusal(path: string, record: BreakerRecord, retryAt: number): QuotaExceededError {
    return new QuotaExceededError({
      errcode: record.errcode,
      errmsg: record.errmsg,
      appId: this.appId,
      path,
      retryAt: new Date(retryAt),
      failFast: true,
    });
  }

  async #get(key: string): Promise<StoredToken | undefined> {
    try {
      return await this.#store.get(key);
    } catch {
      // A breaker must not turn a store outage into failed API calls.
      return undefined;
    }
  }

  #emit(event: QuotaBreakerEvent): void {
    callHook(this.#hooks.onBreaker, event);
  }
}
