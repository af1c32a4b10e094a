import type { TokenCooldownOptions } from '../credentials/token-cooldown.js';
import type { TokenManagerHooks } from '../credentials/token-manager.js';
import type { TokenStore } from '../credentials/token-store.js';
import { ConfigError } from '../errors.js';
import type { Clock, RandomSource } from '../internal/bytes.js';
import type { Scheduler } from '../internal/timers.js';
import type { Logger } from './logger.js';
import type { QuotaBreakerHooks, QuotaBreakerOptions } from './quota-breaker.js';
import type { SecurityEventHandler } from './security-events.js';
import { BAD_TRACING_OPTION, isTracing, type Tracing } from './tracing.js';
import type { TransportHooks } from './transport.js';

/**
 * Hooks every client accepts: transport events, plus token and quota-breaker events on clients
 * that hold tokens.
 */
export type ClientHooks = TransportHooks & TokenManagerHooks & QuotaBreakerHooks;

/**
 * Options every client accepts — `OfficialAccount`, `MiniProgram`, `Work`, `OpenPlatform`,
 * `PayV3` and `PayV2` — each with a safe default. Every field also takes `undefined` (as
 * `process.env.X` gives), which means the default. Unknown keys are rejected.
 *
 * @example
 * const common = { store: new RedisStore(redis), timeoutMs: 3000, dispatcher: new ProxyAgent(process.env.EGRESS_PROXY!) };
 * const oa = new OfficialAccount({ ...common, appId: process.env.WX_APPID, secret: process.env.WX_SECRET });
 * const pay = new PayV3({ ...common, mchid, signer, apiV3Key, platform });
 */
export interface ClientOptions {
  /** Replaces the API host, e.g. the emulator's URL (`http://127.0.0.1:7070`). */
  baseUrl?: string | undefined;
  /** The Web `fetch` to use (default: Node's). Pass `emulator.fetch` to test in-process. */
  fetch?: typeof fetch | undefined;
  /**
   * An undici dispatcher for every request: a `ProxyAgent` to leave through the fixed egress IP
   * that WeChat whitelists (IP白名单), or an `Agent` to tune the pool or TLS. Pass undici's own
   * `fetch` with it, so both come from the same undici version.
   */
  dispatcher?: object | undefined;
  /** Where tokens, tickets and Pay platform certificates live (default: in memory). `RedisStore` shares them between instances. */
  store?: TokenStore | undefined;
  /** Time allowed per attempt, ms (default 5000; Pay 10 000). */
  timeoutMs?: number | undefined;
  /** Retries for safe cases only (default 2): transport errors on idempotent calls, errcode -1. */
  retries?: number | undefined;
  /** Logging and tracing: request/response/retry/error events and token refreshes. Never carry secrets. */
  hooks?: ClientHooks | undefined;
  /** Where the client writes what it cannot throw (a retry, a store fallback): pino-style `warn/error(fields, msg)`. */
  logger?: Logger | undefined;
  /** Clock in ms (default `Date.now`). */
  now?: Clock | undefined;
  /** Randomness (default `crypto.randomBytes`). */
  random?: RandomSource | undefined;
  /**
   * Where waits come from (default: the global timers): request timeouts, retry back-off and token
   * lease polling. A test passes a manual scheduler and advances it instead of sleeping on the
   * wall clock.
   */
  scheduler?: Scheduler | undefined;
  /**
   * Traces every outbound call as one client span (`WeChat GET /cgi-bin/user/info`,
   * `WeChat Pay POST /v3/pay/transactions/jsapi`): method, path (never the query, which holds
   * `access_token`), host, status, WeChat's `errcode` or WeChat Pay's `code`, and one event per
   * retry. Spans are children of the active span, e.g. a callback's or a guarded route's. Get one
   * for OpenTelemetry from `otelTracing()` in `weixin-kit/otel`. Default: no tracing, no cost.
   */
  tracing?: Tracing | undefined;
}

/** {@link ClientOptions} of the clients that hold access tokens (Official Account, Mini Program, WeCom, Open Platform). */
export interface TokenClientOptions extends ClientOptions {
  /** Refresh tokens this many seconds before they expire (default 300). */
  refreshMarginSeconds?: number | undefined;
  /** If the shared store fails: `fail` (default) or fall back to in-process tokens (`local`, with a warning). */
  onStoreUnavailable?: 'fail' | 'local' | undefined;
  /**
   * After a failed token fetch, callers get `TokenCooldownError` without a new request for 1 s,
   * doubling per consecutive failure up to 30 s, shared through `store` (default
   * `{ initialMs: 1000, maxMs: 30000 }`; `false` turns it off).
   */
  failureCooldown?: TokenCooldownOptions | false | undefined;
  /**
   * When WeChat answers that an API's quota is spent (45009, daily) or that it is called too often
   * (45011), calls to that API of this account fail fast with `QuotaExceededError` (no request)
   * until the next daily reset (midnight Beijing time) but at most `maxOpenMs` (default 1 h), or
   * for 60 s doubling up to 10 min after 45011; then one call, across every instance sharing
   * `store`, probes. Default on; `false` turns it off. The token endpoints are covered too.
   */
  quotaBreaker?: QuotaBreakerOptions | false | undefined;
  /**
   * Receives security events: `breaker_changed` when a quota breaker of this account opens,
   * half-opens or closes (the same facts as `hooks.onBreaker`). See docs/security-events.md.
   */
  onSecurityEvent?: SecurityEventHandler | undefined;
}

/** The keys of {@link ClientOptions}. */
export const CLIENT_OPTION_NAMES = [
  'baseUrl',
  'fetch',
  'dispatcher',
  'store',
  'timeoutMs',
  'retries',
  'hooks',
  'logger',
  'now',
  'random',
  'scheduler',
  'tracing',
] as const;

/** The keys of {@link TokenClientOptions}. */
export const TOKEN_CLIENT_OPTION_NAMES = [
  ...CLIENT_OPTION_NAMES,
  'refreshMarginSeconds',
  'onStoreUnavailable',
  'failureCooldown',
  'quotaBreaker',
  'onSecurityEvent',
] as const;

/** Rejects unknown option keys and missing required strings, naming the client. */
export function checkOptions(
  client: string,
  options: object,
  extra: readonly string[],
  required: readonly string[],
  base: readonly string[] = TOKEN_CLIENT_OPTION_NAMES,
): void {
  if (typeof options !== 'object' || options === null) {
    throw new ConfigError('INVALID_CONFIG', `${client}: options must be an object`);
  }
  const allowed = new Set<string>([...base, ...extra]);
  for (const key of Object.keys(options)) {
    if (!allowed.has(key)) {
      throw new ConfigError(
        'INVALID_CONFIG',
        `${client}: unknown option "${key}" (allowed: ${[...allowed].join(', ')})`,
      );
    }
  }
  const tracing = (options as { tracing?: unknown }).tracing;
  if (tracing !== undefined && !isTracing(tracing)) {
    throw new ConfigError('INVALID_CONFIG', `${client}: ${BAD_TRACING_OPTION}`);
  }
  for (const key of required) {
    const value = (options as Record<string, unknown>)[key];
    if (typeof value !== 'string' || value === '') {
      const got =
        value === undefined
          ? 'it is undefined — if it comes from process.env, is the variable set?'
          : value === ''
            ? 'it is an empty string'
            : `got a ${typeof value}`;
      throw new ConfigError('INVALID_CONFIG', `${client}: ${key} is required (${got})`);
    }
  }
}

/**
 * Splits transport hooks from token hooks, and routes what a `logger` should hear into them: a
 * retry (`warn`), a quota breaker opening (`warn`) and a token-store fallback (`warn`, only when
 * no `onStoreError` hook is given, which otherwise is the one sink).
 */
export function splitHooks(
  hooks: ClientOptions['hooks'],
  logger?: Logger,
): {
  transport: TransportHooks;
  tokens: TokenManagerHooks;
  breaker: QuotaBreakerHooks;
} {
  const h = hooks ?? {};
  const pick = <K extends string>(keys: readonly K[]) =>
    Object.fromEntries(
      keys
        .filter((k) => (h as Record<string, unknown>)[k] !== undefined)
        .map((k) => [k, (h as Record<string, unknown>)[k]]),
    );
  const transport = pick(['onRequest', 'onResponse', 'onRetry', 'onError']) as TransportHooks;
  const tokens = pick(['onRefresh', 'onWait', 'onStoreError']) as TokenManagerHooks;
  const breaker = pick(['onBreaker']) as QuotaBreakerHooks;
  const warn = logger?.warn?.bind(logger);
  if (warn !== undefined) {
    const onRetry = transport.onRetry;
    transport.onRetry = (event) => {
      warn(
        {
          method: event.method,
          url: event.url,
          attempt: event.attempt,
          delayMs: event.delayMs,
          code: event.reason,
        },
        `weixin-kit: retrying ${event.method} ${event.url} in ${event.delayMs} ms (${event.reason})`,
      );
      onRetry?.(event);
    };
    const onBreaker = breaker.onBreaker;
    breaker.onBreaker = (event) => {
      if (event.state === 'open') {
        warn(
          {
            appId: event.appId,
            path: event.path,
            errcode: event.errcode,
            retryAt: event.retryAt?.toISOString(),
            openings: event.openings,
          },
          `weixin-kit: ${event.path} of ${event.appId} answered errcode ${event.errcode}; holding calls to it until ${event.retryAt?.toISOString()}`,
        );
      }
      onBreaker?.(event);
    };
    if (tokens.onStoreError === undefined) {
      tokens.onStoreError = (event) =>
        warn(
          { key: event.key, code: event.error.code, fallback: event.fallback },
          event.fallback === 'local'
            ? `weixin-kit: token store unavailable for "${event.key}", keeping the token in this process (${event.error.message})`
            : `weixin-kit: token store unavailable for "${event.key}" (${event.error.message})`,
        );
    }
  }
  return { transport, tokens, breaker };
}
