/** Building and sending security events (the types are in `core/security-events.ts`). */
import { randomUUID } from 'node:crypto';
import type {
  SecurityEvent,
  SecurityEventHandler,
  SecurityEventSource,
  SecurityEventType,
} from '../core/security-events.js';

/** The security event a refused request's error code stands for, if any. */
export function securityTypeOfRefusal(code: string, downgrade = false): SecurityEventType | undefined {
  if (downgrade) return 'downgrade';
  switch (code) {
    case 'SIGNATURE_MISMATCH':
    case 'APPID_MISMATCH':
      return 'signature_failed';
    case 'TIMESTAMP_EXPIRED':
      return 'replay';
    case 'UNSUPPORTED_ALGORITHM':
      return 'downgrade';
    case 'IP_NOT_ALLOWED':
      return 'allowlist_refused';
    case 'RATE_LIMITED':
      return 'rate_limited';
    case 'SESSION_INVALID':
    case 'SESSION_EXPIRED':
    case 'SESSION_REVOKED':
    case 'LOGIN_CODE_USED':
      return 'session_refused';
    case 'SESSION_KEY_STALE':
      return 'session_key_stale';
    default:
      return undefined;
  }
}

/** What the caller knows of the event; id and time are added. */
export interface SecurityFacts {
  type: SecurityEventType;
  source: SecurityEventSource;
  code: string;
  appId?: string | undefined;
  requestId?: string | undefined;
  ip?: string | undefined;
  detail?: Record<string, string | number | boolean> | undefined;
  /** Milliseconds since the epoch. */
  now: number;
}

/** Sends one event to `handler` (when there is one); what the handler throws is swallowed. */
export function emitSecurityEvent(handler: SecurityEventHandler | undefined, facts: SecurityFacts): void {
  if (handler === undefined) return;
  const event: SecurityEvent = {
    id: randomUUID(),
    type: facts.type,
    time: new Date(facts.now).toISOString(),
    source: facts.source,
    code: facts.code,
  };
  if (facts.appId !== undefined) event.appId = facts.appId;
  if (facts.requestId !== undefined) event.requestId = facts.requestId;
  if (facts.ip !== undefined) event.ip = facts.ip;
  if (facts.detail !== undefined) event.detail = facts.detail;
  try {
    const result: unknown = handler(event);
    if (typeof (result as PromiseLike<unknown> | undefined)?.then === 'function') {
      (result as Promise<unknown>).then(undefined, () => {});
    }
  } catch {
    // A sink is an observer: its failure must not change an answer.
  }
}

/** Checks an `onSecurityEvent` option: a function or nothing. */
export function isSecurityHandler(value: unknown): value is SecurityEventHandler | undefined {
  return value === undefined || typeof value === 'function';
}
