/**
 * Tracing without a tracing library: the small interface the clients, callbacks and guard speak
 * when a `tracing` option is given. `weixin-kit/otel` implements it with `@opentelemetry/api`;
 * anything else (another tracer, a test double) can implement it too. Nothing here runs when no
 * `tracing` is configured.
 */

import { WeChatKitError } from '../errors.js';
import { redactText, redactUrl } from './redact.js';

/** One attribute value. `undefined` values are left out. */
export type TraceAttributeValue = string | number | boolean;

/** Span attributes: OpenTelemetry semantic-convention names where one fits (`http.request.method`, `url.path`). */
export type TraceAttributes = Readonly<Record<string, TraceAttributeValue | undefined>>;

/** Request headers as Node (`req.headers`, names lower-case) or the Fetch API (`Headers`) give them. */
export type TraceCarrier = Readonly<Record<string, string | string[] | undefined>> | Headers;

/** A span in progress, as a {@link Tracing} started it. Its methods never throw. */
export interface TraceSpan {
  /** The span's W3C trace id (32 hex digits), or `undefined` when it has no valid one (no SDK installed). */
  readonly traceId: string | undefined;
  setAttributes(attributes: TraceAttributes): void;
  addEvent(name: string, attributes?: TraceAttributes): void;
  /**
   * Marks the span failed. `type` is a stable code (`TIMEOUT`, `INVALID_TOKEN`, `SIGNATURE_MISMATCH`,
   * an error's name); `message`, when given, is already free of secrets.
   */
  setError(type: string, message?: string): void;
  end(): void;
}

/**
 * What weixin-kit needs of a tracer: client spans for outbound WeChat and WeChat Pay calls, server
 * spans for callbacks, Pay notifications and guarded routes, and a way to make a span the active
 * one while a handler runs (so the calls it makes become its children). Pass one as the `tracing`
 * option of a client, a callback, a Pay notification handler or the guard. Get one for
 * OpenTelemetry from `otelTracing()` in `weixin-kit/otel`.
 *
 * Nothing weixin-kit puts in a span carries a secret: URLs are reduced to their path (the query
 * holds `access_token`), error messages are redacted, user identities are left out.
 *
 * @example
 * import { trace } from '@opentelemetry/api';
 * import { otelTracing } from 'weixin-kit/otel';
 * const tracing = otelTracing(trace.getTracer('my-service'));
 * const oa = new OfficialAccount({ appId, secret, tracing });
 * const callback = createWeChatCallback({ appId, token, encodingAESKey, mode: 'safe', tracing });
 */
export interface Tracing {
  /** Starts a client span (an outbound call), a child of the active span if there is one. */
  startClientSpan(name: string, attributes: TraceAttributes): TraceSpan;
  /**
   * Starts a server span (an incoming request), continuing the caller's trace when `headers` carry
   * one (W3C `traceparent`, or whatever the configured propagator reads).
   */
  startServerSpan(name: string, headers: TraceCarrier | undefined, attributes: TraceAttributes): TraceSpan;
  /** Runs `fn` with `span` as the active span; spans started inside it (even after an `await`) are its children. */
  withSpan<T>(span: TraceSpan, fn: () => T): T;
}

/** True when `value` looks like a {@link Tracing}; used to check options. */
export function isTracing(value: unknown): value is Tracing {
  const t = value as Partial<Tracing> | null;
  return (
    typeof t === 'object' &&
    t !== null &&
    typeof t.startClientSpan === 'function' &&
    typeof t.startServerSpan === 'function' &&
    typeof t.withSpan === 'function'
  );
}

/** What a bad `tracing` option is told. */
export const BAD_TRACING_OPTION =
  'tracing must be a Tracing ({ startClientSpan, startServerSpan, withSpan }), e.g. otelTracing() from weixin-kit/otel';

/**
 * Marks `span` failed with `error`: its stable code as the type and, for weixin-kit's own errors,
 * the (redacted) message. Anything else — a handler's own error — contributes its class name only,
 * since its message may hold anything.
 */
export function failSpan(span: TraceSpan, error: unknown): void {
  if (error instanceof WeChatKitError) {
    span.setError(error.code, redactText(redactUrl(error.message)));
  } else if (error instanceof Error) {
    span.setError(error.name || 'Error');
  } else {
    span.setError(typeof error);
  }
}

/** `errcode` of a WeChat API error, when `error` is one. */
export function errcodeOfError(error: unknown): number | undefined {
  const errcode = (error as { errcode?: unknown } | null)?.errcode;
  return typeof errcode === 'number' ? errcode : undefined;
}

/** The path of a request target (`/wechat?signature=…` or an absolute URL), without the query. */
export function pathOfTarget(target: unknown): string {
  const text = typeof target === 'string' ? target : '';
  let path = text;
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(text)) {
    try {
      path = new URL(text).pathname;
    } catch {
      path = '';
    }
  }
  const end = path.search(/[?#]/);
  const bare = end === -1 ? path : path.slice(0, end);
  return bare.slice(0, 200) || '/';
}

/**
 * Runs one incoming request in a server span: started with the request's headers (so the
 * caller's trace continues), active while `run` works (so the handler's outbound calls are its
 * children), given its outcome by `finish`, and ended when the answer is ready. A tracing that
 * fails to start a span leaves the request untraced.
 */
export async function inServerSpan<R>(
  tracing: Tracing,
  name: string,
  headers: TraceCarrier | undefined,
  attributes: TraceAttributes,
  run: (span: TraceSpan) => Promise<R>,
  finish: (span: TraceSpan, result: R) => void,
): Promise<R> {
  let span: TraceSpan;
  try {
    span = tracing.startServerSpan(name, headers, attributes);
  } catch {
    return run(NO_SPAN);
  }
  let result: R;
  try {
    result = await tracing.withSpan(span, () => run(span));
  } catch (error) {
    observe(() => failSpan(span, error));
    observe(() => span.end());
    throw error;
  }
  observe(() => finish(span, result));
  observe(() => span.end());
  return result;
}

/** Runs an observer; what it throws never changes the request's outcome. */
function observe(fn: () => void): void {
  try {
    fn();
  } catch {
    // A tracer's failure must not fail the request it observes.
  }
}

const HTTP_METHODS = new Set([
  'GET',
  'HEAD',
  'POST',
  'PUT',
  'PATCH',
  'DELETE',
  'OPTIONS',
  'CONNECT',
  'TRACE',
]);

/** An incoming method for a span name or attribute: a known HTTP method, else `_OTHER` (as the HTTP conventions say). */
export function spanMethod(method: string): string {
  return HTTP_METHODS.has(method) ? method : '_OTHER';
}

/** Records an HTTP answer's status on a server span; a 5xx marks it failed (4xx do not, per the HTTP conventions). */
export function recordServerStatus(span: TraceSpan, status: number, refusal?: string): void {
  span.setAttributes({ 'http.response.status_code': status, 'error.type': refusal });
  if (status >= 500) span.setError(refusal ?? String(status));
}

/** A span that records nothing. */
export const NO_SPAN: TraceSpan = Object.freeze({
  traceId: undefined,
  setAttributes() {},
  addEvent() {},
  setError() {},
  end() {},
});
