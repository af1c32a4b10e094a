/**
 * Security events: one typed event for each thing an operator should know was attempted or
 * changed — a forged signature, a replay, a downgrade, a rate-limit hit, a quota breaker opening,
 * a callback from outside WeChat's addresses, a stale `session_key`. Every part of weixin-kit that
 * sees one (callbacks, Pay notification handlers, the guard, API clients) takes the same
 * `onSecurityEvent` function, so one sink (a logger, a metric, {@link createSecurityReporter})
 * gets them all. Events never carry a secret, a token, a message body or an openid.
 */

/** What happened. */
export type SecurityEventType =
  /** A callback or Pay notification whose signature (or appid / receive id) did not verify. */
  | 'signature_failed'
  /** A request whose timestamp is outside the replay window. */
  | 'replay'
  /**
   * A request that tried a weaker protocol than the endpoint requires: a plaintext push to an
   * endpoint in safe mode, a Pay notification whose resource names an algorithm other than
   * AEAD_AES_256_GCM.
   */
  | 'downgrade'
  /** A guarded route answered 429 (per-user or per-IP limit). */
  | 'rate_limited'
  /** A quota breaker of one app and API opened, half-opened or closed. */
  | 'breaker_changed'
  /** A callback request from an address outside WeChat's callback ranges was refused. */
  | 'allowlist_refused'
  /** Decrypting a Mini Program's `encryptedData` showed the stored `session_key` is stale. */
  | 'session_key_stale'
  /** A guarded route refused a session token (forged, expired, revoked) or a reused login code. */
  | 'session_refused';

/** Where the event was seen. */
export type SecurityEventSource = 'callback' | 'pay-notification' | 'guard' | 'client';

/** One security event. */
export interface SecurityEvent {
  /** A unique id (a random UUID): the idempotency key of the event when it is reported. */
  id: string;
  type: SecurityEventType;
  /** When it was seen, ISO 8601 in UTC. */
  time: string;
  source: SecurityEventSource;
  /** The stable error code behind it (`SIGNATURE_MISMATCH`, `RATE_LIMITED`, `QUOTA_EXCEEDED`, …). */
  code: string;
  /** The app (or corp, or merchant) concerned, when known. */
  appId?: string;
  /** The request id (the trace id of the request's `traceparent`), when there was a request. */
  requestId?: string;
  /** The client address, when there was a request (after `trustProxy`). */
  ip?: string;
  /** A few more facts, never secret: a route, an API path, a breaker state, a retry time. */
  detail?: Record<string, string | number | boolean>;
}

/**
 * Receives security events. Called synchronously; what it throws (or a promise it returns
 * rejects with) is swallowed, so a failing sink never changes an answer.
 */
export type SecurityEventHandler = (event: SecurityEvent) => unknown;
