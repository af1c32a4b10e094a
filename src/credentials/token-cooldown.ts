import {
  ConfigError,
  QuotaExceededError,
  TransportError,
  WeChatApiError,
  WeChatKitError,
} from '../errors.js';
import { CredentialConfigError } from './credential-errors.js';
import type { StoredToken } from './token-store.js';

/**
 * The failure cool-down of a token manager: after a failed fetch, callers get a
 * {@link TokenCooldownError} without a new request until it ends, so a WeChat outage (or a wrong
 * AppSecret) does not turn every API call into a token request. The cool-down doubles with each
 * consecutive failure, up to `maxMs`, and ends for good at the next successful fetch. It lives in
 * the token store, in the credential's own slot (a marker never served as a token), so every instance
 * sharing the store (Redis) honours it and the next stored token ends it.
 */
export interface TokenCooldownOptions {
  /** Cool-down after the first failure, ms (default 1000). */
  initialMs?: number;
  /** The cool-down doubles with each consecutive failure up to this, ms (default 30 000). */
  maxMs?: number;
  /**
   * Which fetch failures start a cool-down (default: WeChat's answers — `WeChatApiError`,
   * `TransportError` — and WeChat's refusal of a setting — `CredentialConfigError`). Other
   * errors (a bug in a custom `fetchToken`, a store error) are thrown without one, and so is a
   * `QuotaExceededError`: the quota breaker of the token endpoint already holds fetches back, until
   * its own `retryAt`, in every instance.
   */
  appliesTo?: (error: unknown) => boolean;
}

/** What the store keeps about the last failure: codes and WeChat's errmsg, never a secret or a token. */
export interface CooldownRecord {
  /** Consecutive failed fetches. */
  failures: number;
  /** End of the cool-down, ms since the epoch. */
  until: number;
  /** The failure's stable code (`SYSTEM_BUSY`, `INVALID_APPSECRET`, `TIMEOUT`…), else its name. */
  code: string;
  message: string;
  errcode?: number;
  errmsg?: string;
  rid?: string;
}

/**
 * The default of {@link TokenCooldownOptions.appliesTo}: failures that come from talking to WeChat,
 * except a spent quota that the quota breaker already answers (one back-off, not two).
 */
export function isWeChatFailure(error: unknown): boolean {
  if (error instanceof QuotaExceededError) return false;
  return (
    error instanceof WeChatApiError ||
    error instanceof TransportError ||
    error instanceof CredentialConfigError
  );
}

/** Validated cool-down settings. */
export interface ResolvedCooldown {
  initialMs: number;
  maxMs: number;
  appliesTo: (error: unknown) => boolean;
}

/** Validates {@link TokenCooldownOptions}; `false` turns the cool-down off. */
export function resolveCooldown(
  options: TokenCooldownOptions | false | undefined,
): ResolvedCooldown | undefined {
  if (options === false) return undefined;
  const o = options ?? {};
  if (typeof o !== 'object' || o === null) {
    throw new ConfigError(
      'INVALID_CONFIG',
      'failureCooldown must be { initialMs?, maxMs?, appliesTo? } or false',
    );
  }
  for (const name of Object.keys(o)) {
    if (!['initialMs', 'maxMs', 'appliesTo'].includes(name)) {
      throw new ConfigError('INVALID_CONFIG', `failureCooldown: unknown option "${name}"`);
    }
  }
  const initialMs = o.initialMs ?? 1000;
  const maxMs = o.maxMs ?? Math.max(30_000, initialMs);
  if (!(Number.isFinite(initialMs) && initialMs > 0) || !(Number.isFinite(maxMs) && maxMs >= initialMs)) {
    throw new ConfigError(
      'INVALID_CONFIG',
      'failureCooldown: initialMs must be a positive number of ms and maxMs at least initialMs',
    );
  }
  if (o.appliesTo !== undefined && typeof o.appliesTo !== 'function') {
    throw new ConfigError('INVALID_CONFIG', 'failureCooldown.appliesTo must be a function');
  }
  return { initialMs, maxMs, appliesTo: o.appliesTo ?? isWeChatFailure };
}

/** The record of a failure that follows `previous` consecutive ones. */
export function failureRecord(
  error: unknown,
  previous: CooldownRecord | undefined,
  now: number,
  settings: ResolvedCooldown,
): CooldownRecord {
  const failures = (previous?.failures ?? 0) + 1;
  const ms = Math.min(settings.initialMs * 2 ** Math.min(failures - 1, 30), settings.maxMs);
  const record: CooldownRecord = {
    failures,
    until: now + ms,
    code: codeOf(error),
    // Our messages are built redacted; a foreign error's message is cut short all the same.
    message: (error instanceof Error ? error.message : String(error)).slice(0, 500),
  };
  const refused =
    error instanceof WeChatApiError
      ? error
      : error instanceof CredentialConfigError
        ? (error.cause as WeChatApiError)
        : undefined;
  if (refused !== undefined) {
    record.errcode = refused.errcode;
    record.errmsg = refused.errmsg;
    if (refused.rid !== undefined) record.rid = refused.rid;
  }
  return record;
}

function codeOf(error: unknown): string {
  if (error instanceof WeChatKitError) return error.code;
  return error instanceof Error ? error.name : 'UNKNOWN';
}

const MARKER = 'weixin-kit-cooldown:';

/**
 * The cool-down as stored in the credential's slot, in place of the token: a value no token can
 * have, and `expiresAt`/`refreshAt` of 0, so that no holder (an older weixin-kit included) ever
 * serves it as a token; the next token stored overwrites it, which ends the cool-down.
 */
export function cooldownMarker(record: CooldownRecord): StoredToken {
  return { value: MARKER + JSON.stringify(record), expiresAt: 0, refreshAt: 0 };
}

/** The cool-down a stored value holds (written here or by another instance), else undefined. */
export function cooldownOf(stored: StoredToken): CooldownRecord | undefined {
  if (!stored.value.startsWith(MARKER)) return undefined;
  try {
    const parsed = JSON.parse(stored.value.slice(MARKER.length)) as Partial<CooldownRecord> | null;
    if (
      typeof parsed !== 'object' ||
      parsed === null ||
      typeof parsed.failures !== 'number' ||
      typeof parsed.until !== 'number' ||
      typeof parsed.code !== 'string' ||
      typeof parsed.message !== 'string'
    ) {
      return undefined;
    }
    return parsed as CooldownRecord;
  } catch {
    return undefined;
  }
}

/**
 * A token fetch failed moments ago (here or in another instance sharing the store), and the
 * cool-down that followed has not ended: this call was refused without asking WeChat. `lastCode`
 * says what failed (`SYSTEM_BUSY`, `TIMEOUT`, `INVALID_APPSECRET`, `IP_NOT_WHITELISTED`…), with
 * WeChat's `errcode`/`errmsg`/`rid` when it answered one; `cause` is the original error when it
 * happened in this process. Retry after `retryAt`, or fix the cause first.
 *
 * @example
 * catch (e) {
 *   if (e instanceof TokenCooldownError) return reply(503, { retryAfterMs: e.retryAt - Date.now() });
 * }
 */
export class TokenCooldownError extends WeChatKitError {
  /** The store key of the credential (names the kind and the appid, never a secret). */
  readonly key: string;
  /** The code of the failure behind the cool-down. */
  readonly lastCode: string;
  readonly errcode: number | undefined;
  readonly errmsg: string | undefined;
  readonly rid: string | undefined;
  /** Consecutive failed fetches so far. */
  readonly failures: number;
  /** When a fetch is allowed again, ms since the epoch (by the manager's clock). */
  readonly retryAt: number;

  constructor(key: string, record: CooldownRecord, now: number, cause?: unknown) {
    const seconds = Math.max(1, Math.ceil((record.until - now) / 1000));
    const times = record.failures === 1 ? 'failed' : `failed ${record.failures} times in a row`;
    super(
      'TOKEN_COOLDOWN',
      `The last fetch of "${key}" ${times} (${record.code}: ${record.message}). Not asking WeChat again for ` +
        `${seconds} s (the cool-down is shared by every instance using this store); fix the cause or retry later.`,
      cause === undefined ? undefined : { cause },
    );
    this.key = key;
    this.lastCode = record.code;
    this.errcode = record.errcode;
    this.errmsg = record.errmsg;
    this.rid = record.rid;
    this.failures = record.failures;
    this.retryAt = record.until;
  }

  override toJSON() {
    return {
      ...super.toJSON(),
      lastCode: this.lastCode,
      errcode: this.errcode,
      errmsg: this.errmsg,
      rid: this.rid,
      failures: this.failures,
      retryAt: this.retryAt,
    };
  }
}
