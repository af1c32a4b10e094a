/**
 * The callback allowlist: callback routes answer only requests from the addresses WeChat (or
 * WeCom) publishes as the sources of its pushes (`getcallbackip`), plus a static list. The list is
 * fetched in the background, shared through the token store so one instance fetches for all, and
 * kept when a refresh fails. Every refusal is counted and reported.
 */
import { redactText } from '../core/redact.js';
import type { Lease, StoredToken, TokenStore } from '../credentials/token-store.js';
import { ConfigError, TransportError } from '../errors.js';
import type { Clock } from '../internal/bytes.js';
import {
  type AddressList,
  compileAddressList,
  compileTrustProxy,
  type ProxyTrust,
  parseAddressEntry,
  type TrustProxy,
} from '../internal/client-ip.js';
import { leaseKeyOf, tokenKey } from '../internal/store-keys.js';
import { isScheduler, type Scheduler, systemScheduler } from '../internal/timers.js';
import type { CallbackHeaders } from './types.js';

/**
 * Where the callback addresses come from: a client's `network` resource (`oa.network`,
 * `mp.network`, `work.network`), or your own object of the same shape.
 */
export interface CallbackIpSource {
  /**
   * Names the list in a shared store (`weixin-kit:callback_ips:<platform>`): `wechat` for
   * api.weixin.qq.com, `wecom` for qyapi.weixin.qq.com. Letters, digits, `_.-` only.
   */
  readonly platform: string;
  /** `getcallbackip`: `{ ip_list: ['101.226.103.0/25', …] }`. */
  getCallbackIp(): PromiseLike<{ ip_list: readonly string[] }>;
}

/** A request was refused: its client address is not on the list (or the list is not loaded yet). */
export interface AllowlistRefusedEvent {
  /** The client address after `trustProxy` (`undefined` when the adapter gave no peer address). */
  ip: string | undefined;
  /** The TCP peer's address as the adapter gave it. */
  remoteAddress: string | undefined;
  /** Why, for logs. */
  reason: string;
}

/** A new list was taken into use. */
export interface AllowlistRefreshEvent {
  /** `wechat`: this instance fetched it; `store`: another instance did, and shared it. */
  source: 'wechat' | 'store';
  /** Entries (addresses and CIDR ranges) in the list. */
  size: number;
  /** When it was fetched from WeChat (by whichever instance), ms since the epoch. */
  fetchedAt: number;
  /** False when it holds the same entries as the list it replaces. */
  changed: boolean;
}

/** Something went wrong while refreshing; the previous list (if any) stays in use. */
export interface AllowlistErrorEvent {
  error: unknown;
  /**
   * `fetch`: `getcallbackip` failed (or answered nothing usable); `store`: the shared store failed
   * (the list is then fetched without it); `entries`: some entries of WeChat's answer could not be
   * read and were skipped (the others are used).
   */
  phase: 'fetch' | 'store' | 'entries';
  /** When the next attempt is made, ms from now (`undefined` for `store` and `entries`). */
  retryInMs: number | undefined;
}

/** Observation hooks of the allowlist; what they throw is swallowed. */
export interface CallbackAllowlistHooks {
  onRefused?(event: AllowlistRefusedEvent): unknown;
  onRefresh?(event: AllowlistRefreshEvent): unknown;
  onError?(event: AllowlistErrorEvent): unknown;
}

/** What is logged with a refresh failure. */
export interface AllowlistLogFields {
  /** The error's stable `code`, else its name. */
  code: string;
  phase: AllowlistErrorEvent['phase'];
  err: unknown;
}

/** A logger for refresh failures, pino-style `error(fields, message)`. */
export interface AllowlistLogger {
  error(fields: AllowlistLogFields, message: string): void;
}

/** Options of {@link createCallbackAllowlist}. Unknown keys are refused. */
export interface CallbackAllowlistOptions {
  /**
   * Where WeChat's callback addresses come from: `oa.network`, `mp.network` (WeChat's list) or
   * `work.network` (WeCom's). Without it only `static` is allowed (e.g. for Pay notifications,
   * whose addresses WeChat Pay publishes in its documentation, not through an API).
   */
  client?: CallbackIpSource | undefined;
  /**
   * Shares the fetched list between instances (the clients' `TokenStore`: `RedisStore` from
   * `weixin-kit/redis`, or `MemoryStore`): one instance fetches per interval, under a lease, and
   * the others read it. Without it each instance fetches its own.
   */
  store?: TokenStore | undefined;
  /**
   * Addresses and CIDR ranges always allowed, whatever WeChat's list says and even before it is
   * loaded (IPv4 or IPv6; the aliases `loopback`, `private`, `linklocal` are accepted).
   */
  static?: readonly string[] | undefined;
  /**
   * How often the list is fetched again, ms (default 3 600 000, one hour; at least 60 000). WeChat
   * recommends once a day; it keeps old and new addresses for a while when they change.
   */
  refreshIntervalMs?: number | undefined;
  /**
   * What happens before a list has ever been loaded (the first fetch has not answered, or failed):
   * `refuse` (default) allows only `static`; `allow` lets every request through (and counts it),
   * so a WeChat outage at startup does not drop pushes. Once loaded, a failed refresh keeps the
   * last list: neither setting applies again.
   */
  beforeFirstLoad?: 'refuse' | 'allow' | undefined;
  /**
   * Which proxies in front of this process may name the client in `X-Forwarded-For`: `false`
   * (default: the TCP peer is the client), a hop count, or their addresses/CIDRs (with the aliases
   * `loopback`, `private`, `linklocal`). Behind a load balancer, without it every request comes
   * from the balancer's address.
   */
  trustProxy?: TrustProxy | undefined;
  /** Clock in ms since the epoch (default `Date.now`): when a list was fetched, when it is due. */
  now?: Clock | undefined;
  /** Timers of the background refresh (default: the global ones, unref'd). Tests pass a manual one. */
  scheduler?: Scheduler | undefined;
  hooks?: CallbackAllowlistHooks | undefined;
  /**
   * Where refresh failures are written. Default: one line on `console.error` — unless
   * `hooks.onError` is given, which then is the only sink.
   */
  logger?: AllowlistLogger | undefined;
}

/** Counters and state of an allowlist. */
export interface AllowlistStats {
  /** Requests allowed since it was created. */
  allowed: number;
  /** Requests refused since it was created. */
  refused: number;
  /** When the list in use was fetched from WeChat (by any instance), ms since the epoch. */
  lastRefreshAt: number | undefined;
  /** Entries (addresses and CIDR ranges) in WeChat's list in use; 0 before it is loaded. */
  size: number;
  /** True once a list is loaded (always true without a `client`). */
  loaded: boolean;
}

/** The verdict on one request. */
export interface AllowlistDecision {
  allowed: boolean;
  /** The client address after `trustProxy`, when known. */
  ip: string | undefined;
  /** Why it was refused (empty when allowed). */
  reason: string;
}

/** The request fields the allowlist reads (a `CallbackRequest` has them). */
export interface AllowlistRequest {
  /** The TCP peer's address. */
  remoteAddress?: string | undefined;
  /** Read for `X-Forwarded-For` when `trustProxy` trusts the peer. */
  headers: CallbackHeaders;
}

/** Default {@link CallbackAllowlistOptions.refreshIntervalMs}: one hour. */
export const DEFAULT_ALLOWLIST_REFRESH_MS = 3_600_000;

/** A fetched list stays in the store this long without a refresh (a week). */
const STORE_KEEP_MS = 7 * 86_400_000;
/** The lease of the instance that fetches; longer than any fetch with its retries. */
const LEASE_MS = 60_000;
/** How soon an instance that found the lease taken reads the store again. */
const LEASE_WAIT_MS = 2_000;
/** The first retry after a failed fetch; doubled on each failure, up to the refresh interval. */
const FIRST_RETRY_MS = 10_000;
const KEY_PART = /^[A-Za-z0-9_.-]{1,64}$/;

const OPTION_KEYS = new Set([
  'client',
  'store',
  'static',
  'refreshIntervalMs',
  'beforeFirstLoad',
  'trustProxy',
  'now',
  'scheduler',
  'hooks',
  'logger',
]);
const HOOKS = ['onRefused', 'onRefresh', 'onError'] as const;

function bad(message: string): ConfigError {
  return new ConfigError('INVALID_CONFIG', `createCallbackAllowlist: ${message}`);
}

interface LoadedList {
  entries: string[];
  matcher: AddressList;
  fetchedAt: number;
}

type CycleOutcome = 'ok' | 'waiting' | 'failed';

/**
 * An allowlist of callback sources: WeChat's published callback addresses plus a static list.
 * Pass it as the `allowlist` option of `createWeChatCallback`, `createWeComCallback` or
 * `createPayNotificationHandler`; they refuse a request from elsewhere with 403 `IP_NOT_ALLOWED`
 * before any signature work. Create it with {@link createCallbackAllowlist}.
 */
export class CallbackAllowlist {
  readonly #client: CallbackIpSource | undefined;
  readonly #store: TokenStore | undefined;
  readonly #key: string | undefined;
  readonly #static: AddressList;
  readonly #proxy: ProxyTrust;
  readonly #intervalMs: number;
  readonly #allowUnloaded: boolean;
  readonly #now: Clock;
  readonly #scheduler: Scheduler;
  readonly #hooks: CallbackAllowlistHooks;
  readonly #logger: AllowlistLogger | undefined;
  #list: LoadedList | undefined;
  #allowed = 0;
  #refused = 0;
  #failures = 0;
  #timer: unknown;
  #closed = false;
  #running: Promise<CycleOutcome> | undefined;
  #settle: () => void = () => {};
  readonly #ready: Promise<void>;

  constructor(options: CallbackAllowlistOptions) {
    if (typeof options !== 'object' || options === null) throw bad('options must be an object');
    for (const key of Object.keys(options)) {
      if (!OPTION_KEYS.has(key))
        throw bad(`unknown option "${key}" (allowed: ${[...OPTION_KEYS].join(', ')})`);
    }
    const { client, store, now, scheduler, hooks, logger } = options;
    if (client !== undefined) {
      if (typeof client !== 'object' || client === null || typeof client.getCallbackIp !== 'function') {
        throw bad(
          "client must have getCallbackIp(): pass a client's network resource (oa.network, mp.network or work.network)",
        );
      }
      if (typeof client.platform !== 'string' || !KEY_PART.test(client.platform)) {
        throw bad('client.platform must name the platform (wechat, wecom): letters, digits and _.- only');
      }
    }
    if (store !== undefined) {
      if (
        typeof store !== 'object' ||
        store === null ||
        typeof store.get !== 'function' ||
        typeof store.set !== 'function' ||
        typeof store.acquireLease !== 'function'
      ) {
        throw bad('store must be a TokenStore (RedisStore from weixin-kit/redis, or MemoryStore)');
      }
      if (client === undefined) throw bad('store shares the list fetched by client: give client too');
    }
    const staticList = options.static ?? [];
    if (!Array.isArray(staticList)) throw bad('static must be a list of addresses or CIDRs');
    if (client === undefined && staticList.length === 0) {
      throw bad(
        'give client (oa.network, mp.network or work.network) and/or a static list of addresses: as it is, every request would be refused',
      );
    }
    this.#static = compileAddressList(
      staticList,
      (entry) =>
        `createCallbackAllowlist: static entry ${typeof entry === 'string' ? JSON.stringify(entry.slice(0, 64)) : typeof entry} is not an address, a CIDR (192.0.2.0/24, 2001:db8::/32) or one of loopback/private/linklocal`,
    );
    const interval = options.refreshIntervalMs ?? DEFAULT_ALLOWLIST_REFRESH_MS;
    if (
      typeof interval !== 'number' ||
      !Number.isFinite(interval) ||
      interval < 60_000 ||
      interval > 7 * 86_400_000
    ) {
      throw bad('refreshIntervalMs must be a number of ms from 60 000 (a minute) to 604 800 000 (a week)');
    }
    const before = options.beforeFirstLoad ?? 'refuse';
    if (before !== 'refuse' && before !== 'allow') throw bad('beforeFirstLoad must be "refuse" or "allow"');
    if (now !== undefined && typeof now !== 'function') throw bad('now must be a function returning ms');
    if (scheduler !== undefined && !isScheduler(scheduler)) {
      throw bad('scheduler must be an object with setTimeout(fn, ms) and clearTimeout(handle)');
    }
    if (hooks !== undefined) {
      if (typeof hooks !== 'object' || hooks === null) throw bad('hooks must be an object');
      const proto = Object.getPrototypeOf(hooks);
      if (proto === Object.prototype || proto === null) {
        for (const name of Object.keys(hooks)) {
          if (!(HOOKS as readonly string[]).includes(name)) {
            throw bad(`unknown hook "${name}" (allowed: ${HOOKS.join(', ')})`);
          }
        }
      }
      for (const name of HOOKS) {
        if (hooks[name] !== undefined && typeof hooks[name] !== 'function')
          throw bad(`hooks.${name} must be a function`);
      }
    }
    if (
      logger !== undefined &&
      (typeof logger !== 'object' || logger === null || typeof logger.error !== 'function')
    ) {
      throw bad('logger must have an error(fields, message) method (pino, bunyan, or your own)');
    }
    this.#proxy = compileTrustProxy(options.trustProxy, 'createCallbackAllowlist');
    this.#client = client;
    this.#store = store;
    this.#key = client === undefined ? undefined : tokenKey('callback_ips', client.platform);
    this.#intervalMs = interval;
    this.#allowUnloaded = before === 'allow';
    this.#now = now ?? Date.now;
    this.#scheduler = scheduler ?? systemScheduler;
    this.#hooks = hooks ?? {};
    this.#logger = logger ?? (typeof hooks?.onError === 'function' ? undefined : consoleAllowlistLogger());
    this.#ready = new Promise((resolve) => {
      this.#settle = resolve;
    });
    if (client === undefined) this.#settle();
    else void this.#cycle(false);
  }

  /**
   * Decides on one request: allowed when its client address (after `trustProxy`) is in the static
   * list or in WeChat's list. Counted in {@link CallbackAllowlist.stats}; a refusal goes to `hooks.onRefused`.
   * The callbacks call it for you; call it yourself to guard another route.
   *
   * @example
   * const { allowed, ip } = allowlist.check({ remoteAddress: req.socket.remoteAddress, headers: req.headers });
   */
  check(request: AllowlistRequest): AllowlistDecision {
    const remoteAddress = typeof request?.remoteAddress === 'string' ? request.remoteAddress : undefined;
    const ip = this.#proxy.clientIp({ remoteAddress, headers: request?.headers ?? {} });
    let reason = '';
    if (ip !== undefined && this.#static.has(ip)) {
      // listed statically: allowed whatever the list says
    } else if (this.#client !== undefined && this.#list === undefined) {
      if (!this.#allowUnloaded) {
        reason =
          ip === undefined
            ? 'the client address is unknown and the callback address list is not loaded yet'
            : `the callback address list is not loaded yet and ${ip} is not in the static list (beforeFirstLoad: refuse)`;
      }
    } else if (ip === undefined) {
      reason =
        'the client address is unknown: the adapter gave no remoteAddress (with a plain Fetch handler, pass the peer address)';
    } else if (this.#list === undefined || !this.#list.matcher.has(ip)) {
      reason = `${ip} is not among ${this.#client === undefined ? 'the static addresses' : "WeChat's callback addresses or the static ones"}`;
    }
    if (reason === '') {
      this.#allowed += 1;
      return { allowed: true, ip, reason };
    }
    this.#refused += 1;
    this.#call('onRefused', { ip, remoteAddress, reason });
    return { allowed: false, ip, reason };
  }

  /** Counters and state: `{ allowed, refused, lastRefreshAt, size, loaded }`. */
  stats(): AllowlistStats {
    return {
      allowed: this.#allowed,
      refused: this.#refused,
      lastRefreshAt: this.#list?.fetchedAt,
      size: this.#list?.entries.length ?? 0,
      loaded: this.#client === undefined || this.#list !== undefined,
    };
  }

  /** The entries of WeChat's list in use (addresses and CIDR ranges), empty before it is loaded. */
  entries(): string[] {
    return [...(this.#list?.entries ?? [])];
  }

  /**
   * Resolves once the first load has settled: a list is in use, or the first attempt failed (it is
   * retried in the background). Await it at startup to serve with the list in place.
   *
   * @example
   * await allowlist.ready();
   * if (!allowlist.stats().loaded) log.warn('callback allowlist not loaded: only the static list is allowed');
   */
  ready(): Promise<void> {
    return this.#ready;
  }

  /**
   * Fetches the list now (from the store when another instance fetched it less than an interval
   * ago), whatever the schedule; resolves to true when a list is in use afterwards. A failure keeps
   * the previous list and is reported to `hooks.onError`.
   */
  async refresh(): Promise<boolean> {
    if (this.#client === undefined) return true;
    await this.#cycle(true);
    return this.#list !== undefined;
  }

  /** Stops the background refresh (the list in use stays). Idempotent. */
  close(): void {
    this.#closed = true;
    if (this.#timer !== undefined) this.#scheduler.clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#settle();
  }

  /** One refresh at a time: a call while one runs joins it. */
  #cycle(force: boolean): Promise<CycleOutcome> {
    if (this.#running !== undefined) return this.#running;
    const running = this.#load(force)
      .catch((error: unknown): CycleOutcome => {
        // #load reports its own failures; this is a bug, reported the same way.
        this.#reportError(error, 'fetch', undefined);
        return 'failed';
      })
      .then((outcome) => {
        this.#running = undefined;
        if (outcome === 'failed') this.#failures += 1;
        else if (outcome === 'ok') this.#failures = 0;
        if (outcome !== 'waiting' || this.#list !== undefined) this.#settle();
        this.#schedule(outcome);
        return outcome;
      });
    this.#running = running;
    return running;
  }

  #schedule(outcome: CycleOutcome): void {
    if (this.#closed) return;
    if (this.#timer !== undefined) this.#scheduler.clearTimeout(this.#timer);
    let delay = this.#intervalMs;
    if (outcome === 'waiting') delay = LEASE_WAIT_MS;
    else if (outcome === 'failed') delay = this.#retryDelay();
    else if (this.#list !== undefined) {
      // Due one interval after the list in use was fetched (by whichever instance).
      delay = Math.min(
        this.#intervalMs,
        Math.max(LEASE_WAIT_MS, this.#list.fetchedAt + this.#intervalMs - this.#now()),
      );
    }
    const handle = this.#scheduler.setTimeout(() => {
      this.#timer = undefined;
      if (!this.#closed) void this.#cycle(false);
    }, delay);
    // A background refresh must not keep the process alive.
    (handle as { unref?: () => void } | undefined)?.unref?.();
    this.#timer = handle;
  }

  #retryDelay(): number {
    return Math.min(this.#intervalMs, FIRST_RETRY_MS * 2 ** Math.max(0, this.#failures - 1));
  }

  async #load(force: boolean): Promise<CycleOutcome> {
    const client = this.#client as CallbackIpSource;
    const key = this.#key as string;
    let store = this.#store;
    if (store !== undefined) {
      try {
        const shared = parseStored(await store.get(key));
        if (shared !== undefined) {
          if (this.#list === undefined || shared.fetchedAt > this.#list.fetchedAt)
            this.#adopt(shared, 'store');
          if (!force && shared.fetchedAt + this.#intervalMs > this.#now()) return 'ok';
        }
      } catch (error) {
        this.#reportError(error, 'store', undefined);
        store = undefined;
      }
    }
    let lease: Lease | undefined;
    if (store !== undefined) {
      try {
        lease = await store.acquireLease(leaseKeyOf(key), LEASE_MS);
        // Another instance is fetching: read what it stores shortly.
        if (lease === undefined) return 'waiting';
        // Another instance may have fetched, stored and released between our read and our lease.
        const again = parseStored(await store.get(key));
        if (again !== undefined && (this.#list === undefined || again.fetchedAt > this.#list.fetchedAt)) {
          this.#adopt(again, 'store');
          if (!force && again.fetchedAt + this.#intervalMs > this.#now()) {
            await lease.release().catch((error: unknown) => this.#reportError(error, 'store', undefined));
            return 'ok';
          }
        }
      } catch (error) {
        this.#reportError(error, 'store', undefined);
        store = undefined;
      }
    }
    try {
      let answer: unknown;
      try {
        answer = await client.getCallbackIp();
      } catch (error) {
        this.#reportError(error, 'fetch', this.#retryDelayAfterFailure());
        return 'failed';
      }
      const read = readList(answer);
      if (read.entries.length === 0) {
        this.#reportError(
          new TransportError(
            'BAD_RESPONSE',
            `getcallbackip answered no usable address${read.skipped.length > 0 ? ` (unreadable: ${read.skipped.join(', ')})` : ''}; the previous list stays in use`,
          ),
          'fetch',
          this.#retryDelayAfterFailure(),
        );
        return 'failed';
      }
      if (read.skipped.length > 0) {
        this.#reportError(
          new TransportError(
            'BAD_RESPONSE',
            `getcallbackip answered entries that are not addresses or CIDRs; skipped: ${read.skipped.join(', ')}`,
          ),
          'entries',
          undefined,
        );
      }
      const fetched = { entries: read.entries, fetchedAt: this.#now() };
      this.#adopt(fetched, 'wechat');
      if (store !== undefined) {
        try {
          await store.set(key, toStored(fetched, this.#intervalMs), STORE_KEEP_MS);
        } catch (error) {
          this.#reportError(error, 'store', undefined);
        }
      }
      return 'ok';
    } finally {
      if (lease !== undefined) {
        await lease.release().catch((error: unknown) => this.#reportError(error, 'store', undefined));
      }
    }
  }

  /** The delay of the retry that follows the failure being reported (the count is not bumped yet). */
  #retryDelayAfterFailure(): number {
    return Math.min(this.#intervalMs, FIRST_RETRY_MS * 2 ** this.#failures);
  }

  #adopt(list: { entries: string[]; fetchedAt: number }, source: 'wechat' | 'store'): void {
    const previous = this.#list;
    const matcher = compileAddressList(list.entries, () => 'unreachable: entries were checked');
    this.#list = { entries: [...list.entries], matcher, fetchedAt: list.fetchedAt };
    const changed = previous === undefined || !sameEntries(previous.entries, list.entries);
    this.#call('onRefresh', { source, size: list.entries.length, fetchedAt: list.fetchedAt, changed });
  }

  #reportError(error: unknown, phase: AllowlistErrorEvent['phase'], retryInMs: number | undefined): void {
    this.#call('onError', { error, phase, retryInMs });
    if (this.#logger === undefined) return;
    try {
      this.#logger.error(
        { code: codeOf(error), phase, err: error },
        phase === 'store'
          ? 'callback allowlist: the shared store failed; the list is fetched without it'
          : phase === 'entries'
            ? 'callback allowlist: unreadable entries in the callback address list were skipped'
            : `callback allowlist: fetching the callback addresses failed; ${this.#list === undefined ? 'no list is loaded yet' : 'the previous list stays in use'}`,
      );
    } catch {
      // A failing logger changes nothing.
    }
  }

  #call<K extends keyof CallbackAllowlistHooks>(
    name: K,
    event: Parameters<NonNullable<CallbackAllowlistHooks[K]>>[0],
  ): void {
    const hook = this.#hooks[name] as
      | ((this: CallbackAllowlistHooks, e: typeof event) => unknown)
      | undefined;
    if (hook === undefined) return;
    try {
      const result = hook.call(this.#hooks, event);
      if (result instanceof Promise) result.catch(() => {});
    } catch {
      // An observer's failure must not change a decision.
    }
  }
}

/**
 * Creates an allowlist of callback sources. Options are validated now; the first fetch starts at
 * once and the list is refreshed in the background (call `close()` on shutdown).
 *
 * @example
 * const allowlist = createCallbackAllowlist({
 *   client: oa.network,               // getcallbackip, with the account's token
 *   store: new RedisStore(redis),     // one instance fetches for all
 *   trustProxy: ['10.0.0.0/8'],       // the load balancer's addresses
 *   hooks: { onRefused: (e) => log.warn(e, 'callback from outside WeChat refused') },
 * });
 * const callback = createWeChatCallback({ appId, token, encodingAESKey, mode: 'safe', allowlist });
 */
export function createCallbackAllowlist(options: CallbackAllowlistOptions): CallbackAllowlist {
  return new CallbackAllowlist(options);
}

/** True when `value` is an allowlist made by {@link createCallbackAllowlist}. */
export function isCallbackAllowlist(value: unknown): value is CallbackAllowlist {
  return value instanceof CallbackAllowlist;
}

function readList(answer: unknown): { entries: string[]; skipped: string[] } {
  const list = (answer as { ip_list?: unknown } | undefined)?.ip_list;
  const entries: string[] = [];
  const skipped: string[] = [];
  if (!Array.isArray(list)) return { entries, skipped };
  for (const entry of list) {
    if (typeof entry === 'string' && parseAddressEntry(entry) !== undefined) {
      if (!entries.includes(entry.trim())) entries.push(entry.trim());
    } else {
      skipped.push(typeof entry === 'string' ? JSON.stringify(entry.slice(0, 64)) : typeof entry);
    }
  }
  return { entries, skipped };
}

function toStored(list: { entries: string[]; fetchedAt: number }, intervalMs: number): StoredToken {
  return {
    value: JSON.stringify({ ip_list: list.entries, fetchedAt: list.fetchedAt }),
    expiresAt: list.fetchedAt + STORE_KEEP_MS,
    refreshAt: list.fetchedAt + intervalMs,
  };
}

function parseStored(stored: StoredToken | undefined): { entries: string[]; fetchedAt: number } | undefined {
  if (stored === undefined) return undefined;
  try {
    const parsed = JSON.parse(stored.value) as { ip_list?: unknown; fetchedAt?: unknown };
    if (typeof parsed.fetchedAt !== 'number' || !Number.isFinite(parsed.fetchedAt)) return undefined;
    const { entries, skipped } = readList(parsed);
    // Written by us from checked entries: anything else is not ours, and is ignored.
    if (entries.length === 0 || skipped.length > 0) return undefined;
    return { entries, fetchedAt: parsed.fetchedAt };
  } catch {
    return undefined;
  }
}

function sameEntries(a: readonly string[], b: readonly string[]): boolean {
  if (a.length !== b.length) return false;
  const set = new Set(a);
  return b.every((entry) => set.has(entry));
}

function codeOf(error: unknown): string {
  if (typeof error === 'object' && error !== null) {
    const { code, name } = error as { code?: unknown; name?: unknown };
    if (typeof code === 'string' && code !== '') return code;
    if (typeof name === 'string' && name !== '') return name;
  }
  return 'UNKNOWN';
}

/** The default logger: one line on `console.error`, secrets in the error text masked. */
function consoleAllowlistLogger(): AllowlistLogger {
  return {
    error(fields, message) {
      const err = fields.err;
      const detail = err instanceof Error ? `${err.name}: ${err.message}` : String(err);
      console.error(
        `[weixin-kit] ${message} (code=${fields.code} phase=${fields.phase}): ${redactText(detail)}`,
      );
    },
  };
}
