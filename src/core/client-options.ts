import type { TokenCooldownOptions } from '../credentials/token-cooldown.js';
import type { TokenManagerHooks } from '../credentials/token-manager.js';
import type { TokenStore } from '../credentials/token-store.js';
import type { Clock, RandomSource } from '../internal/bytes.js';
import { ConfigError } from './errors.js';
import type { TransportHooks } from './transport.js';

/** Options shared by every product client (Official Account, Mini Program, WeCom). */
export interface CommonClientOptions {
  /** Replaces the API host, e.g. the emulator's URL (`http://127.0.0.1:7070`). */
  baseUrl?: string;
  /** The Web `fetch` to use (default: Node's). Pass `emulator.fetch` to test in-process. */
  fetch?: typeof fetch;
  /** Timeout of each request, ms (default 5000). */
  timeoutMs?: number;
  /** Retries for safe cases only (default 2): transport errors on idempotent calls, errcode -1. */
  retries?: number;
  /** Where tokens and tickets live (default: in memory). Use `RedisStore` to share them between instances. */
  store?: TokenStore;
  /** Refresh tokens this many seconds before they expire (default 300). */
  refreshMarginSeconds?: number;
  /** If the shared store fails: `fail` (default) or fall back to in-process tokens (`local`, with a warning). */
  onStoreUnavailable?: 'fail' | 'local';
  /**
   * After a failed token fetch, callers get `TokenCooldownError` without a new request for 1 s,
   * doubling per consecutive failure up to 30 s, shared through `store` (default
   * `{ initialMs: 1000, maxMs: 30000 }`; `false` turns it off).
   */
  failureCooldown?: TokenCooldownOptions | false;
  /** Logging and tracing: request/response/retry/error events and token refreshes. Never carry secrets. */
  hooks?: TransportHooks & TokenManagerHooks;
  now?: Clock;
  random?: RandomSource;
}

export const COMMON_OPTION_NAMES = [
  'baseUrl',
  'fetch',
  'timeoutMs',
  'retries',
  'store',
  'refreshMarginSeconds',
  'onStoreUnavailable',
  'failureCooldown',
  'hooks',
  'now',
  'random',
] as const;

/** Rejects unknown option keys and missing required strings, naming the client. */
export function checkOptions(
  client: string,
  options: object,
  extra: readonly string[],
  required: readonly string[],
): void {
  if (typeof options !== 'object' || options === null) {
    throw new ConfigError('INVALID_CONFIG', `${client}: options must be an object`);
  }
  const allowed = new Set<string>([...COMMON_OPTION_NAMES, ...extra]);
  for (const key of Object.keys(options)) {
    if (!allowed.has(key)) {
      throw new ConfigError(
        'INVALID_CONFIG',
        `${client}: unknown option "${key}" (allowed: ${[...allowed].join(', ')})`,
      );
    }
  }
  for (const key of required) {
    const value = (options as Record<string, unknown>)[key];
    if (typeof value !== 'string' || value === '') {
      throw new ConfigError('INVALID_CONFIG', `${client}: ${key} is required`);
    }
  }
}

/** Splits transport hooks from token hooks. */
export function splitHooks(hooks: CommonClientOptions['hooks']): {
  transport: TransportHooks;
  tokens: TokenManagerHooks;
} {
  const h = hooks ?? {};
  const pick = <K extends string>(keys: readonly K[]) =>
    Object.fromEntries(
      keys
        .filter((k) => (h as Record<string, unknown>)[k] !== undefined)
        .map((k) => [k, (h as Record<string, unknown>)[k]]),
    );
  return {
    transport: pick(['onRequest', 'onResponse', 'onRetry', 'onError']) as TransportHooks,
    tokens: pick(['onRefresh', 'onWait', 'onStoreError']) as TokenManagerHooks,
  };
}
