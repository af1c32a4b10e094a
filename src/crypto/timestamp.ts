import { SignatureError } from '../errors.js';
import { type Clock, defaultClock } from '../internal/bytes.js';

/** Default replay window, in seconds, for every inbound signature (both directions). */
export const DEFAULT_MAX_SKEW_SECONDS = 300;

/** Options for {@link assertFreshTimestamp}. */
export interface FreshnessOptions {
  /** Clock in milliseconds (default `Date.now`). */
  now?: Clock;
  /** Allowed distance from `now`, past or future, in seconds (default 300). */
  maxSkewSeconds?: number;
}

/**
 * Throws `TIMESTAMP_EXPIRED` unless `timestamp` (Unix seconds, as the decimal string WeChat
 * sends) is within `maxSkewSeconds` of `now`, in either direction.
 *
 * @example
 * assertFreshTimestamp(query.timestamp, { maxSkewSeconds: 300 });
 */
export function assertFreshTimestamp(timestamp: string | number, options: FreshnessOptions = {}): void {
  const maxSkew = options.maxSkewSeconds ?? DEFAULT_MAX_SKEW_SECONDS;
  const text = String(timestamp);
  if (!/^\d{1,12}$/.test(text)) {
    throw new SignatureError(
      'TIMESTAMP_EXPIRED',
      `timestamp "${text.slice(0, 20)}" is not Unix seconds; WeChat sends whole seconds as decimal digits`,
    );
  }
  const nowSeconds = Math.floor((options.now ?? defaultClock)() / 1000);
  const skew = Number(text) - nowSeconds;
  if (Math.abs(skew) > maxSkew) {
    const direction = skew > 0 ? 'ahead of' : 'behind';
    throw new SignatureError(
      'TIMESTAMP_EXPIRED',
      `timestamp ${text} is ${Math.abs(skew)} s ${direction} this server's clock (${nowSeconds}), outside the ` +
        `±${maxSkew} s replay window; if this request is genuine, check the server clock (NTP)`,
    );
  }
}
