/**
 * Observation hooks of the transport: one event when an attempt starts, when it gets an answer,
 * before a retry, and when a request finally fails. URLs in events are already redacted.
 */

/** An attempt is about to be sent. */
export interface RequestEvent {
  /** Identifies one logical request across its attempts (`wk-1`, `wk-2`, …). */
  id: string;
  method: string;
  /** The full URL with every secret replaced by `***`. */
  url: string;
  /** 1 for the first attempt, 2 for the first retry, … */
  attempt: number;
}

/** An attempt got an HTTP answer (any status, including errcode answers). */
export interface ResponseEvent {
  id: string;
  method: string;
  /** Redacted, as in {@link RequestEvent}. */
  url: string;
  status: number;
  /** Time of this attempt, from sending to the body being read. */
  durationMs: number;
  /** WeChat's `errcode` when the body is JSON and has one (0 included). */
  errcode?: number;
  attempt: number;
}

/** The attempt that just failed will be retried after `delayMs`. */
export interface RetryEvent {
  id: string;
  method: string;
  /** Redacted, as in {@link RequestEvent}. */
  url: string;
  /** The attempt that failed (the next one is `attempt + 1`). */
  attempt: number;
  delayMs: number;
  /** The failed attempt's error code: `NETWORK_ERROR`, `TIMEOUT`, `HTTP_ERROR`, `BAD_RESPONSE` or `SYSTEM_BUSY`. */
  reason: string;
  /** The failed attempt's error (its message is redacted). */
  error: Error;
}

/** The request failed for good (retries exhausted, not retryable, or aborted by the caller). */
export interface ErrorEvent {
  id: string;
  method: string;
  /** Redacted, as in {@link RequestEvent}. */
  url: string;
  /** A `WeChatApiError`, a `TransportError`, or the caller's abort reason. */
  error: unknown;
  /** Time from the first attempt to the failure, backoff included. */
  durationMs: number;
  /** Attempts made. */
  attempts: number;
}

/**
 * Hooks for logging, metrics and tracing. They are called synchronously; whatever they throw (or
 * a promise they return rejects with) is swallowed, so a logging bug never breaks an API call.
 * Events never contain a secret: URLs are redacted and error messages are built redacted.
 *
 * @example
 * // pino
 * import pino from 'pino';
 * const log = pino();
 * const hooks: TransportHooks = {
 *   onResponse: (e) => log.info(e, 'wechat response'),
 *   onRetry: (e) => log.warn({ ...e, error: e.error.message }, 'wechat retry'),
 *   onError: (e) => log.error(e, 'wechat request failed'), // errors serialise through toJSON()
 * };
 *
 * @example
 * // OpenTelemetry: one span per logical request
 * import { trace, SpanStatusCode, type Span } from '@opentelemetry/api';
 * const tracer = trace.getTracer('weixin-kit');
 * const spans = new Map<string, Span>();
 * const hooks: TransportHooks = {
 *   onRequest: (e) => {
 *     if (e.attempt === 1) spans.set(e.id, tracer.startSpan(`WeChat ${e.method}`, { attributes: { 'url.full': e.url } }));
 *     else spans.get(e.id)?.addEvent('retry', { attempt: e.attempt });
 *   },
 *   onResponse: (e) => {
 *     const span = spans.get(e.id);
 *     span?.setAttributes({ 'http.response.status_code': e.status, 'wechat.errcode': e.errcode ?? 0 });
 *     if (e.status < 400 && !e.errcode) { span?.end(); spans.delete(e.id); }
 *   },
 *   onError: (e) => {
 *     const span = spans.get(e.id);
 *     span?.setStatus({ code: SpanStatusCode.ERROR, message: String((e.error as Error).message) });
 *     span?.end();
 *     spans.delete(e.id);
 *   },
 * };
 */
export interface TransportHooks {
  onRequest?: (event: RequestEvent) => void;
  onResponse?: (event: ResponseEvent) => void;
  onRetry?: (event: RetryEvent) => void;
  onError?: (event: ErrorEvent) => void;
}
