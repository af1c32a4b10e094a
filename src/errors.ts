/**
 * Errors thrown by weixin-kit. Every error carries a stable string `code` that programs can
 * switch on; messages are for humans, say what to do, and never contain a secret.
 */

/** Every stable error code weixin-kit emits. New codes are only ever added, never renamed. */
export type ErrorCode =
  // signatures and replay windows
  | 'SIGNATURE_MISMATCH'
  | 'TIMESTAMP_EXPIRED'
  // ciphers
  | 'APPID_MISMATCH'
  | 'BAD_PADDING'
  | 'BAD_CIPHERTEXT'
  | 'DECRYPT_FAILED'
  | 'UNSUPPORTED_ALGORITHM'
  // configuration and keys
  | 'BAD_AES_KEY'
  | 'BAD_KEY'
  | 'INVALID_CONFIG'
  | 'INVALID_ARGUMENT'
  /** A body parser ran before a callback route: the raw bytes the signature covers are gone. */
  | 'BODY_ALREADY_PARSED'
  /**
   * A callback or Pay notification came from an address outside its allowlist (WeChat's published
   * callback addresses plus the static list): answered 403 before any signature work.
   */
  | 'IP_NOT_ALLOWED'
  // payloads
  | 'BAD_XML'
  | 'XML_FORBIDDEN'
  | 'XML_TOO_LARGE'
  | 'BAD_BODY'
  | 'PAYLOAD_TOO_LARGE'
  // WeChat platform answers (HTTP 200 with errcode != 0)
  | 'API_ERROR'
  | 'TOKEN_INVALID'
  | 'QUOTA_EXCEEDED'
  | 'RATE_LIMITED'
  | 'SYSTEM_BUSY'
  | 'INVALID_CODE'
  // WeChat refused the client's own settings (ConfigError, never retried; the WeChatApiError is the cause)
  | 'INVALID_APPSECRET'
  | 'INVALID_APPID'
  | 'IP_NOT_WHITELISTED'
  /** A token fetch failed moments ago: callers get this, without a request, until the cool-down ends. */
  | 'TOKEN_COOLDOWN'
  /** Open Platform: no component_verify_ticket is stored, so no component_access_token can be fetched. */
  | 'VERIFY_TICKET_MISSING'
  /** Open Platform: the account revoked the platform's authorisation (`unauthorized`); nothing is sent for it. */
  | 'AUTHORIZER_REVOKED'
  /**
   * Open Platform: an authorizer's token had expired and no refresh slot of `authorizerRefresh`
   * (the configured refreshes per second) freed up within its `maxWaitMs`.
   */
  | 'AUTHORIZER_REFRESH_TIMEOUT'
  /** WeCom third-party app: no suite_ticket is stored, so no suite_access_token can be fetched. */
  | 'SUITE_TICKET_MISSING'
  /** WeCom third-party app: no permanent code for the company (never installed, or `cancel_auth`). */
  | 'CORP_NOT_AUTHORIZED'
  // transport
  | 'TIMEOUT'
  | 'NETWORK_ERROR'
  | 'HTTP_ERROR'
  | 'BAD_RESPONSE'
  // shared stores (Redis)
  | 'STORE_UNAVAILABLE'
  | 'LEASE_TIMEOUT'
  /** A processing lease could not be renewed while its handler ran: another instance may take the key. */
  | 'LEASE_LOST'
  /** A secret provider (environment variable, file, vault function) could not give its secret. */
  | 'SECRET_UNAVAILABLE'
  // weixin-kit/guard: answers to a Mini Program's requests (GuardError, with an HTTP status)
  | 'SESSION_REQUIRED'
  | 'SESSION_INVALID'
  | 'SESSION_EXPIRED'
  | 'SESSION_REVOKED'
  | 'SESSION_KEY_STALE'
  | 'LOGIN_CODE_USED'
  | 'HTTPS_REQUIRED'
  | 'ORIGIN_NOT_ALLOWED'
  | 'FORBIDDEN'
  | 'NOT_FOUND'
  | 'UPSTREAM_UNAVAILABLE'
  | 'INTERNAL_ERROR';

/** Options accepted by every weixin-kit error constructor. */
export interface WeChatKitErrorOptions {
  /** The lower-level error, if any. Never put a secret in it. */
  cause?: unknown;
}

/**
 * Base class of every error weixin-kit throws.
 *
 * @example
 * try { crypto.open(req) } catch (e) {
 *   if (e instanceof WeChatKitError && e.code === 'SIGNATURE_MISMATCH') return reply(401);
 *   throw e;
 * }
 */
export class WeChatKitError extends Error {
  /** Stable machine-readable code; see {@link ErrorCode}. */
  readonly code: ErrorCode;

  constructor(code: ErrorCode, message: string, options?: WeChatKitErrorOptions) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.name = new.target.name;
  }

  /** A log-friendly shape: name, code and message (the cause is left out on purpose). */
  toJSON(): { name: string; code: ErrorCode; message: string } {
    return { name: this.name, code: this.code, message: this.message };
  }
}

/** A signature did not match, or its timestamp is outside the replay window. */
export class SignatureError extends WeChatKitError {
  /**
   * True when the signature is a WeChat Pay `WECHATPAY/SIGNTEST/` probe: WeChat Pay sends these
   * on purpose to check that merchants really verify signatures. Refusing it is correct.
   */
  readonly probe: boolean;

  constructor(
    code: 'SIGNATURE_MISMATCH' | 'TIMESTAMP_EXPIRED',
    message: string,
    options?: WeChatKitErrorOptions & { probe?: boolean },
  ) {
    super(code, message, options);
    this.probe = options?.probe ?? false;
  }
}

/** Ciphertext that cannot be decrypted, or decrypts to something that must be refused. */
export class CryptoError extends WeChatKitError {}

/** A configuration value (key, certificate, option) that cannot be used as given. */
export class ConfigError extends WeChatKitError {}

/**
 * A function or method was called with an argument it cannot use (code `INVALID_ARGUMENT`):
 * always this class, whichever layer refuses it. A {@link ConfigError}, since both mean "our
 * caller must change something", never WeChat's or the network's fault.
 *
 * @example
 * try { reply.text(42 as never); } catch (e) { if (e instanceof ArgumentError) … }
 */
export class ArgumentError extends ConfigError {
  constructor(message: string, options?: WeChatKitErrorOptions) {
    super('INVALID_ARGUMENT', message, options);
  }
}

/** A payload (XML, JSON envelope) that is malformed, too large or forbidden. */
export class PayloadError extends WeChatKitError {}

/**
 * The code of a WeChat platform `errcode`: token errors (40001, 40014, 42001), quota (45009),
 * rate limit (45011), system busy (-1), bad login/OAuth code (40029, 40163), else `API_ERROR`.
 */
export function codeOfErrcode(errcode: number): ErrorCode {
  switch (errcode) {
    case 40001:
    case 40014:
    case 42001:
    // WeCom third-party apps: invalid (40082) and expired (42009) suite_access_token.
    case 40082:
    case 42009:
      return 'TOKEN_INVALID';
    case 45009:
      return 'QUOTA_EXCEEDED';
    case 45011:
      return 'RATE_LIMITED';
    case -1:
      return 'SYSTEM_BUSY';
    case 40029:
    case 40163:
      return 'INVALID_CODE';
    default:
      return 'API_ERROR';
  }
}

/**
 * WeChat answered HTTP 200 with `errcode != 0`. `code` classifies the errcode (see
 * the errcode table in the README); `errcode`, `errmsg` and `rid` are WeChat's own.
 *
 * @example
 * catch (e) { if (e instanceof WeChatApiError && e.code === 'QUOTA_EXCEEDED') alert(); }
 */
export class WeChatApiError extends WeChatKitError {
  readonly errcode: number;
  readonly errmsg: string;
  /** WeChat's request id (from `errmsg`'s `rid: …`), for support tickets. */
  readonly rid: string | undefined;
  /** The API path called (no query string: it may hold secrets). */
  readonly path: string | undefined;

  constructor(errcode: number, errmsg: string, options?: WeChatKitErrorOptions & { path?: string }) {
    const rid = /rid:\s*([\w-]+)/.exec(errmsg)?.[1];
    super(
      codeOfErrcode(errcode),
      `WeChat API${options?.path ? ` ${options.path}` : ''} answered errcode ${errcode}: ${errmsg}`,
      options,
    );
    this.errcode = errcode;
    this.errmsg = errmsg;
    this.rid = rid;
    this.path = options?.path;
  }

  override toJSON() {
    return { ...super.toJSON(), errcode: this.errcode, errmsg: this.errmsg, rid: this.rid, path: this.path };
  }
}

/**
 * WeChat's quota or frequency limit for one API of one account is spent (45009 daily quota, 45011
 * too frequent), and the quota breaker holds calls to that API back until `retryAt`: this call was
 * refused without a request (`failFast`), or it is the call whose answer opened the breaker. A
 * {@link WeChatApiError} with WeChat's `errcode`/`errmsg` from the answer that opened it (here or
 * in another instance sharing the store), so code that checks `code === 'QUOTA_EXCEEDED'` on a
 * `WeChatApiError` keeps working. `code` is `QUOTA_EXCEEDED` (45009) or `RATE_LIMITED` (45011).
 *
 * @example
 * catch (e) {
 *   if (e instanceof QuotaExceededError) return reply(503, { retryAfterMs: e.retryAt.getTime() - Date.now() });
 * }
 */
export class QuotaExceededError extends WeChatApiError {
  /** The account whose quota is spent: the AppID (WeCom: `corpId:agentId`). */
  readonly appId: string;
  /** When the breaker lets a call through again (one probe call, across every instance). */
  readonly retryAt: Date;
  /** True when this call was refused without a request; false for the call WeChat answered. */
  readonly failFast: boolean;

  constructor(
    info: {
      errcode: number;
      errmsg: string;
      appId: string;
      path: string;
      retryAt: Date;
      failFast: boolean;
    },
    options?: WeChatKitErrorOptions,
  ) {
    super(info.errcode, info.errmsg, { ...options, path: info.path });
    this.appId = info.appId;
    this.retryAt = info.retryAt;
    this.failFast = info.failFast;
    const when = Number.isNaN(info.retryAt.getTime()) ? 'later' : info.retryAt.toISOString();
    this.message =
      `WeChat API ${info.path} of ${info.appId} answered errcode ${info.errcode}: ${info.errmsg}` +
      `${info.failFast ? ' (recorded earlier)' : ''}. Not calling it again before ${when}: the quota ` +
      'breaker is shared by every instance using this store; lower the call rate or raise the quota.';
  }

  override toJSON() {
    return {
      ...super.toJSON(),
      appId: this.appId,
      retryAt: this.retryAt.toISOString(),
      failFast: this.failFast,
    };
  }
}

/** The request never got a usable answer: timeout, connection failure, HTTP error status, unreadable body. */
export class TransportError extends WeChatKitError {
  /** HTTP status when one was received. */
  readonly status: number | undefined;

  constructor(
    code: 'TIMEOUT' | 'NETWORK_ERROR' | 'HTTP_ERROR' | 'BAD_RESPONSE',
    message: string,
    options?: WeChatKitErrorOptions & { status?: number },
  ) {
    super(code, message, options);
    this.status = options?.status;
  }
}

/** A shared store (Redis) could not be used, or a lease could not be obtained in time. */
export class StoreError extends WeChatKitError {}

/**
 * A secret provider (`secretFromEnv`, `secretFromFile`, `secretFrom`) could not give its secret:
 * the variable is unset, the file unreadable, the vault function threw or resolved to something
 * other than a non-empty string. Code `SECRET_UNAVAILABLE`. `provider` names the provider
 * (`env:WX_SECRET`, `file:/run/secrets/wx`, or the name you gave), never the value; the reader's
 * own error is the `cause`.
 *
 * @example
 * catch (e) { if (e instanceof SecretUnavailableError) log.error({ provider: e.provider }, e.message); }
 */
export class SecretUnavailableError extends WeChatKitError {
  /** The provider's name (`env:NAME`, `file:PATH`, or the `name` option). */
  readonly provider: string;

  constructor(provider: string, message: string, options?: WeChatKitErrorOptions) {
    super('SECRET_UNAVAILABLE', message, options);
    this.provider = provider;
  }

  override toJSON() {
    return { ...super.toJSON(), provider: this.provider };
  }
}

/**
 * A refusal `weixin-kit/guard` answers to a Mini Program (or web page) with an HTTP status and the
 * body `{ "error": { "code", "message", "requestId" } }`. Its message is written for the client
 * and never holds a secret; a protected handler may throw one (`FORBIDDEN`, `NOT_FOUND`, …) to
 * answer with it. Any other exception answers `500 INTERNAL_ERROR` without its message.
 *
 * @example
 * throw new GuardError('FORBIDDEN', 'this order belongs to another user');
 */
export class GuardError extends WeChatKitError {
  /** The HTTP status of the answer. */
  readonly status: number;
  /** Seconds the client should wait (`Retry-After`), for `RATE_LIMITED`. */
  readonly retryAfterSeconds: number | undefined;

  constructor(
    code: ErrorCode,
    message: string,
    options?: WeChatKitErrorOptions & { status?: number; retryAfterSeconds?: number },
  ) {
    super(code, message, options);
    this.status = options?.status ?? (GUARD_ERROR_STATUS as Partial<Record<ErrorCode, number>>)[code] ?? 400;
    this.retryAfterSeconds = options?.retryAfterSeconds;
  }
}

const GUARD_ERROR_STATUS: Readonly<Record<GuardErrorCode, number>> = {
  SESSION_REQUIRED: 401,
  SESSION_INVALID: 401,
  SESSION_EXPIRED: 401,
  SESSION_REVOKED: 401,
  SESSION_KEY_STALE: 401,
  LOGIN_CODE_USED: 409,
  INVALID_CODE: 400,
  BAD_BODY: 400,
  PAYLOAD_TOO_LARGE: 413,
  HTTPS_REQUIRED: 403,
  ORIGIN_NOT_ALLOWED: 403,
  FORBIDDEN: 403,
  NOT_FOUND: 404,
  RATE_LIMITED: 429,
  UPSTREAM_UNAVAILABLE: 503,
  INTERNAL_ERROR: 500,
};

/**
 * The codes of guard answers (`weixin-kit/guard`), each with its HTTP status: 401 for the
 * `SESSION_*` codes, 409 `LOGIN_CODE_USED`, 400 `INVALID_CODE` / `BAD_BODY`, 413, 403
 * `HTTPS_REQUIRED` / `ORIGIN_NOT_ALLOWED` / `FORBIDDEN`, 404, 429 `RATE_LIMITED` (with
 * `Retry-After`), 503 `UPSTREAM_UNAVAILABLE`, 500 `INTERNAL_ERROR`. See {@link GuardError}.
 */
export type GuardErrorCode =
  | 'SESSION_REQUIRED'
  | 'SESSION_INVALID'
  | 'SESSION_EXPIRED'
  | 'SESSION_REVOKED'
  | 'SESSION_KEY_STALE'
  | 'LOGIN_CODE_USED'
  | 'INVALID_CODE'
  | 'BAD_BODY'
  | 'PAYLOAD_TOO_LARGE'
  | 'HTTPS_REQUIRED'
  | 'ORIGIN_NOT_ALLOWED'
  | 'FORBIDDEN'
  | 'NOT_FOUND'
  | 'RATE_LIMITED'
  | 'UPSTREAM_UNAVAILABLE'
  | 'INTERNAL_ERROR';

/** True when `value` is a weixin-kit error, optionally with the given code. */
export function isWeChatKitError(value: unknown, code?: ErrorCode): value is WeChatKitError {
  return value instanceof WeChatKitError && (code === undefined || value.code === code);
}
