/**
 * What the callback pipelines (WeChat / WeCom callbacks, Pay notifications) report once a request
 * is answered: its security event, if its refusal stands for one, and its audit record.
 */
import type { AuditKind, AuditLog } from '../core/audit.js';
import type { SecurityEventHandler } from '../core/security-events.js';
import { emitSecurityEvent, securityTypeOfRefusal } from '../internal/security-event.js';
import type { CallbackRequest } from './types.js';

/** What one request's report is made of, filled in as it is handled. */
export interface RequestFacts {
  /** Milliseconds since the epoch when the request arrived. */
  startedAt: number;
  /** The refusal or failure code, when the request was not answered normally. */
  code?: string;
  /** The routing key or Pay `event_type`, once known. */
  type?: string;
  /** The sender or payer, once known (hashed in the record, never in an event). */
  openid?: string;
  /** The app or merchant, when the request names it (else the pipeline's own). */
  appId?: string;
  /** The client address, when an allowlist or `trustProxy` worked it out. */
  ip?: string;
  duplicate?: boolean;
  /** The push came without the encryption its endpoint requires. */
  downgrade?: boolean;
}

/** Writes the security event (if any) and the audit record of an answered request. */
export function reportRequest(
  sinks: { audit: AuditLog | undefined; onSecurityEvent: SecurityEventHandler | undefined },
  answered: {
    source: 'callback' | 'pay-notification';
    kind: AuditKind;
    request: CallbackRequest;
    method: string;
    requestId: string;
    status: number;
    latencyMs: number;
    appId: string | undefined;
    now: number;
    detail: Record<string, string | number | boolean>;
  },
  facts: RequestFacts,
): void {
  const { request, method, requestId, status } = answered;
  const ip = facts.ip ?? request?.remoteAddress;
  const appId = facts.appId ?? answered.appId;
  if (facts.code !== undefined && sinks.onSecurityEvent !== undefined) {
    const type = securityTypeOfRefusal(facts.code, facts.downgrade);
    if (type !== undefined) {
      emitSecurityEvent(sinks.onSecurityEvent, {
        type,
        source: answered.source,
        code: facts.code,
        appId,
        requestId,
        ip,
        detail: answered.detail,
        now: answered.now,
      });
    }
  }
  sinks.audit?.write({
    startedAt: facts.startedAt,
    requestId,
    kind: answered.kind,
    method: method.slice(0, 16),
    url: typeof request?.url === 'string' ? request.url : '',
    status,
    outcome: facts.duplicate === true ? 'duplicate' : undefined,
    code: facts.code,
    type: facts.type,
    latencyMs: answered.latencyMs,
    appId,
    openid: facts.openid,
    ip,
  });
}
