/**
 * Audit records: one structured line per request a server-side pipeline answered (a guarded
 * route, a callback push or URL verification, a Pay notification), written to any logger with
 * pino's calling convention. A record says who (a keyed hash of the openid, the client address),
 * what (route, outcome, status, error code, message type), when and how long; it never carries a
 * secret, a token, a `session_key`, a message body, a phone or ID number, or the openid itself
 * (unless {@link AuditOptions.includeOpenid} is set).
 */
import { createHmac } from 'node:crypto';
import { ConfigError } from '../errors.js';
import type { Logger } from './logger.js';

/** What kind of endpoint answered. */
export type AuditKind = 'guard' | 'callback' | 'pay-notification';

/**
 * How a request ended: `ok` (answered 2xx/3xx), `refused` (a 4xx: a forged signature, a missing
 * session, a limit), `duplicate` (a retry or replay of something already processed, answered
 * `success` without running the handler), `error` (a 5xx).
 */
export type AuditOutcome = 'ok' | 'refused' | 'duplicate' | 'error';

/** One audit record: the fields written to the logger (the message is `weixin-kit audit`). */
export interface AuditRecord {
  /** Always `'audit'`: lets a log pipeline route these lines. */
  event: 'audit';
  /**
   * When the request arrived, ISO 8601 in UTC. (Not `time`: pino and bunyan write their own `time`,
   * and a line with the key twice is refused by strict JSON readers such as Elasticsearch's.)
   */
  receivedAt: string;
  /** The request id (the trace id of the request's `traceparent`, else a new one), as answered in `X-Request-Id`. */
  requestId: string;
  kind: AuditKind;
  method: string;
  /** The path, without the query (callback queries carry signatures). */
  route: string;
  status: number;
  outcome: AuditOutcome;
  /** The stable error code of a refusal or failure (`SIGNATURE_MISMATCH`, `SESSION_EXPIRED`, …). */
  code?: string;
  /** The message routing key (`text`, `event.subscribe`) or Pay `event_type`, when known. */
  type?: string;
  /** Milliseconds from the request reaching weixin-kit to its answer. */
  latencyMs: number;
  /** The app (AppID, corp id or merchant id) of the endpoint, when known. */
  appId?: string;
  /**
   * The user, as a keyed hash of the openid (`u_` + 24 hex digits of HMAC-SHA256 with
   * {@link AuditOptions.userKey}): the same user gives the same value across records and
   * instances sharing the key, and the openid cannot be recovered from it without the key.
   */
  user?: string;
  /** The openid itself: only with {@link AuditOptions.includeOpenid}. */
  openid?: string;
  /** The client address (after `trustProxy`), when known. */
  ip?: string;
}

/** What a pipeline knows about a request when it has answered it. */
export interface AuditFacts {
  /** Milliseconds since the epoch when the request arrived. */
  startedAt: number;
  requestId: string;
  kind: AuditKind;
  method: string;
  /** The request target; the query is dropped here. */
  url: string;
  status: number;
  /** Set for a duplicate; else derived from the status. */
  outcome?: AuditOutcome | undefined;
  code?: string | undefined;
  type?: string | undefined;
  latencyMs: number;
  appId?: string | undefined;
  openid?: string | undefined;
  ip?: string | undefined;
}

/** Settings of {@link createAuditLog}. */
export interface AuditOptions {
  /** Where records go: `info` (2xx, duplicates), `warn` (4xx), `error` (5xx); pino, bunyan or your own. */
  logger: Logger;
  /**
   * The key of the user hash: at least 16 bytes (a string of at least 16 characters or bytes).
   * Keep it secret and stable; rotating it changes every user's hash.
   */
  userKey: string | Uint8Array;
  /** Write the openid itself beside its hash (for systems allowed to keep it). Default false. */
  includeOpenid?: boolean;
}

/**
 * Paths to give pino's `redact` option so that, whatever else is logged beside weixin-kit's
 * records and events, the fields that could carry a secret or a personal number are censored.
 * weixin-kit never writes them; these paths protect the app's own log lines (a request logger
 * dumping headers, a handler logging a session).
 *
 * @example
 * import pino from 'pino';
 * import { PINO_REDACT_PATHS } from 'weixin-kit';
 * const logger = pino({ redact: { paths: [...PINO_REDACT_PATHS], censor: '***' } });
 */
export const PINO_REDACT_PATHS: readonly string[] = Object.freeze([
  // Exact paths only: pino checks each one on every line, and a wildcard (`*.openid`) costs
  // several microseconds per line where an exact path costs almost nothing.
  'openid',
  'unionid',
  'session_key',
  'sessionKey',
  'access_token',
  'accessToken',
  'token',
  'refreshToken',
  'secret',
  'appSecret',
  'apiV3Key',
  'encodingAESKey',
  'phoneNumber',
  'purePhoneNumber',
  'idNumber',
  'authorization',
  'cookie',
  'headers.authorization',
  'headers.cookie',
  'req.headers.authorization',
  'req.headers.cookie',
  'res.headers["set-cookie"]',
  'session.sessionKey',
  'session.openid',
  'user.openid',
  'user.phoneNumber',
]);

/** Writes audit records; create it with {@link createAuditLog} and pass it as the `audit` option. */
export class AuditLog {
  readonly #logger: Logger;
  readonly #key: Buffer;
  readonly #includeOpenid: boolean;
  // The same users come back: their hashes are kept (bounded) instead of recomputed.
  readonly #hashes = new Map<string, string>();

  constructor(options: AuditOptions) {
    if (typeof options !== 'object' || options === null) {
      throw new ConfigError('INVALID_CONFIG', 'createAuditLog: options { logger, userKey } are required');
    }
    const logger = options.logger;
    if (typeof logger !== 'object' || logger === null || typeof logger.error !== 'function') {
      throw new ConfigError(
        'INVALID_CONFIG',
        'createAuditLog: logger must have info/warn/error(fields, message) methods (pino, bunyan, or your own)',
      );
    }
    const key = options.userKey;
    const bytes =
      typeof key === 'string'
        ? Buffer.from(key, 'utf8')
        : key instanceof Uint8Array
          ? Buffer.from(key)
          : undefined;
    if (bytes === undefined || bytes.length < 16) {
      throw new ConfigError(
        'INVALID_CONFIG',
        'createAuditLog: userKey must be a string or bytes of at least 16 (e.g. 32 random bytes kept with your other secrets)',
      );
    }
    this.#logger = logger;
    this.#key = bytes;
    this.#includeOpenid = options.includeOpenid === true;
  }

  // Many records share a millisecond under load: its ISO text is made once.
  #lastMs = Number.NaN;
  #lastIso = '';

  #isoTime(ms: number): string {
    if (ms !== this.#lastMs) {
      this.#lastIso = new Date(ms).toISOString();
      this.#lastMs = ms;
    }
    return this.#lastIso;
  }

  /** The keyed hash of `openid` as written in {@link AuditRecord.user}. */
  userOf(openid: string): string {
    const known = this.#hashes.get(openid);
    if (known !== undefined) return known;
    const hash = `u_${createHmac('sha256', this.#key).update(openid, 'utf8').digest('hex').slice(0, 24)}`;
    if (this.#hashes.size >= 10_000) this.#hashes.clear();
    this.#hashes.set(openid, hash);
    return hash;
  }

  /** Builds the record of `facts` and writes it; a logger that throws changes nothing. */
  write(facts: AuditFacts): void {
    try {
      const record = this.#record(facts);
      const logger = this.#logger;
      if (record.status >= 500)
        logger.error(record as unknown as Record<string, unknown>, 'weixin-kit audit');
      else if (record.status >= 400)
        (logger.warn ?? logger.error).call(
          logger,
          record as unknown as Record<string, unknown>,
          'weixin-kit audit',
        );
      else
        (logger.info ?? logger.error).call(
          logger,
          record as unknown as Record<string, unknown>,
          'weixin-kit audit',
        );
    } catch {
      // An audit sink that fails must not change an answer.
    }
  }

  #record(facts: AuditFacts): AuditRecord {
    const query = facts.url.indexOf('?');
    const record: AuditRecord = {
      event: 'audit',
      receivedAt: this.#isoTime(facts.startedAt),
      requestId: facts.requestId,
      kind: facts.kind,
      method: facts.method,
      route: (query === -1 ? facts.url : facts.url.slice(0, query)).slice(0, 256),
      status: facts.status,
      outcome: facts.outcome ?? (facts.status >= 500 ? 'error' : facts.status >= 400 ? 'refused' : 'ok'),
      latencyMs: Math.round(facts.latencyMs * 1000) / 1000,
    };
    if (facts.code !== undefined) record.code = facts.code;
    if (facts.type !== undefined) record.type = facts.type;
    if (facts.appId !== undefined) record.appId = facts.appId;
    if (facts.openid !== undefined && facts.openid !== '') {
      record.user = this.userOf(facts.openid);
      if (this.#includeOpenid) record.openid = facts.openid;
    }
    if (facts.ip !== undefined) record.ip = facts.ip;
    return record;
  }
}

/**
 * Creates the audit log that guards, callbacks and Pay notification handlers write to (their
 * `audit` option). One record per request, at `info` for 2xx and duplicates, `warn` for 4xx,
 * `error` for 5xx.
 *
 * @example
 * import pino from 'pino';
 * import { createAuditLog, PINO_REDACT_PATHS } from 'weixin-kit';
 * const audit = createAuditLog({
 *   logger: pino({ redact: [...PINO_REDACT_PATHS] }),
 *   userKey: process.env.AUDIT_USER_KEY!, // ≥ 16 characters, secret, stable
 * });
 * const callback = createWeChatCallback({ appId, token, encodingAESKey, audit });
 * const guard = createGuard({ miniProgram, keys, audit });
 */
export function createAuditLog(options: AuditOptions): AuditLog {
  return new AuditLog(options);
}
