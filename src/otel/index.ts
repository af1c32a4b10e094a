/**
 * `weixin-kit/otel` — OpenTelemetry tracing for weixin-kit, on `@opentelemetry/api` (an optional
 * peer: `npm i @opentelemetry/api`, with an SDK of your choice). {@link otelTracing} gives the
 * `tracing` option of the clients, the callbacks, the Pay notification handler and the guard.
 * See docs/tracing.md.
 */
import {
  type Attributes,
  type Context,
  context,
  createTraceState,
  isSpanContextValid,
  propagation,
  ROOT_CONTEXT,
  type Span,
  SpanKind,
  SpanStatusCode,
  type TextMapGetter,
  type Tracer,
  trace,
} from '@opentelemetry/api';
import type { TraceAttributes, TraceCarrier, TraceSpan, Tracing } from '../core/tracing.js';
import { ConfigError } from '../errors.js';

export type {
  TraceAttributes,
  TraceAttributeValue,
  TraceCarrier,
  TraceSpan,
  Tracing,
} from '../core/tracing.js';

/** Options of {@link otelTracing}. */
export interface OtelTracingOptions {
  /** The tracer to start spans with (default: `trace.getTracer('weixin-kit')` of the global provider). */
  tracer?: Tracer | undefined;
  /**
   * Whether a server span continues the trace its request carries (default true): the active span
   * when your HTTP instrumentation already started one, else the request's headers through the
   * global propagator, else its W3C `traceparent` header. `false` starts a new trace for every
   * request that is not already inside a span (for endpoints whose callers you do not trust).
   */
  continueIncomingTrace?: boolean | undefined;
}

/**
 * A {@link Tracing} on OpenTelemetry, for the `tracing` option of every client
 * (`OfficialAccount`, `MiniProgram`, `Work`, `OpenPlatform`, `PayV3`, `PayV2`), of
 * `createWeChatCallback` / `createWeComCallback`, `createPayNotificationHandler` and `createGuard`.
 *
 * - Outbound calls are CLIENT spans, one per logical call (`WeChat GET /cgi-bin/user/info`,
 *   `WeChat Pay POST /v3/pay/transactions/jsapi`), children of the active span: attributes
 *   `http.request.method`, `url.path` (never the query: it holds `access_token`), `server.address`,
 *   `server.port`, `http.response.status_code`, `wechat.errcode` or `wechatpay.error_code`,
 *   `http.request.resend_count`; one `retry` event per retry; status ERROR and `error.type` (the
 *   error's stable code) on failure.
 * - Callbacks, Pay notifications and guarded routes are SERVER spans (INTERNAL when your HTTP
 *   instrumentation already started a span for the request), continuing the caller's trace, and
 *   active while the handler runs: its outbound calls are their children.
 *
 * Spans only appear once an SDK is registered (or a `tracer` from one is given); without one the
 * API's no-op tracer makes this cost next to nothing.
 *
 * @example
 * import { trace } from '@opentelemetry/api';
 * import { OfficialAccount, createWeChatCallback } from 'weixin-kit';
 * import { otelTracing } from 'weixin-kit/otel';
 *
 * const tracing = otelTracing(trace.getTracer('shop-backend'));
 * const oa = new OfficialAccount({ appId, secret, tracing });
 * const callback = createWeChatCallback({ appId, token, encodingAESKey, mode: 'safe', tracing })
 *   .on('event.subscribe', async (msg) => { await oa.users.info({ openid: msg.FromUserName }); });
 */
export function otelTracing(tracerOrOptions?: Tracer | OtelTracingOptions): Tracing {
  const options: OtelTracingOptions = isTracer(tracerOrOptions)
    ? { tracer: tracerOrOptions }
    : (tracerOrOptions ?? {});
  if (typeof options !== 'object' || options === null) {
    throw new ConfigError(
      'INVALID_CONFIG',
      'otelTracing: pass a Tracer, or options { tracer?, continueIncomingTrace? }',
    );
  }
  for (const key of Object.keys(options)) {
    if (key !== 'tracer' && key !== 'continueIncomingTrace') {
      throw new ConfigError(
        'INVALID_CONFIG',
        `otelTracing: unknown option "${key}" (allowed: tracer, continueIncomingTrace)`,
      );
    }
  }
  if (options.tracer !== undefined && !isTracer(options.tracer)) {
    throw new ConfigError(
      'INVALID_CONFIG',
      'otelTracing: tracer must be an OpenTelemetry Tracer (trace.getTracer(name))',
    );
  }
  const tracer = options.tracer ?? trace.getTracer('weixin-kit');
  const continueIncoming = options.continueIncomingTrace !== false;
  return {
    startClientSpan(name, attributes) {
      return new OtelSpan(tracer.startSpan(name, { kind: SpanKind.CLIENT, attributes: clean(attributes) }));
    },
    startServerSpan(name, headers, attributes) {
      const active = context.active();
      const current = trace.getSpanContext(active);
      if (current !== undefined && isSpanContextValid(current)) {
        // HTTP instrumentation already made the request's server span: ours goes under it.
        return new OtelSpan(
          tracer.startSpan(name, { kind: SpanKind.INTERNAL, attributes: clean(attributes) }, active),
        );
      }
      const parent = continueIncoming && headers !== undefined ? incomingContext(headers) : ROOT_CONTEXT;
      return new OtelSpan(
        tracer.startSpan(name, { kind: SpanKind.SERVER, attributes: clean(attributes) }, parent),
      );
    },
    withSpan(span, fn) {
      // A span that records nothing and carries no valid context (the API without an SDK) gives
      // the code inside nothing to continue: children would be roots either way, so the context
      // is not rebuilt for it.
      if (!(span instanceof OtelSpan) || span.inert) return fn();
      return context.with(trace.setSpan(context.active(), span.span), fn);
    },
  };
}

/** A weixin-kit span over an OpenTelemetry span. */
class OtelSpan implements TraceSpan {
  /** Not recording, and without a valid span context: nothing set on it is kept or propagated. */
  readonly inert: boolean;

  constructor(readonly span: Span) {
    this.inert = !span.isRecording() && !isSpanContextValid(span.spanContext());
  }

  get traceId(): string | undefined {
    const spanContext = this.span.spanContext();
    return isSpanContextValid(spanContext) ? spanContext.traceId : undefined;
  }

  // A span that does not record drops attributes and events (the API's contract): not cleaned for it.
  setAttributes(attributes: TraceAttributes): void {
    if (this.span.isRecording()) this.span.setAttributes(clean(attributes));
  }

  addEvent(name: string, attributes?: TraceAttributes): void {
    if (this.span.isRecording())
      this.span.addEvent(name, attributes === undefined ? undefined : clean(attributes));
  }

  setError(type: string, message?: string): void {
    this.span.setAttribute('error.type', type);
    // No stack: only the stable type and a message weixin-kit built free of secrets.
    this.span.recordException(message === undefined ? { name: type } : { name: type, message });
    this.span.setStatus(
      message === undefined ? { code: SpanStatusCode.ERROR } : { code: SpanStatusCode.ERROR, message },
    );
  }

  end(): void {
    this.span.end();
  }
}

function isTracer(value: unknown): value is Tracer {
  const t = value as Partial<Tracer> | null | undefined;
  return (
    typeof t === 'object' &&
    t !== null &&
    typeof t.startSpan === 'function' &&
    typeof t.startActiveSpan === 'function'
  );
}

/** The attributes without their `undefined` values. */
function clean(attributes: TraceAttributes): Attributes {
  const out: Attributes = {};
  for (const key in attributes) {
    const value = attributes[key];
    if (value !== undefined) out[key] = value;
  }
  return out;
}

/** Reads Node-style header records (names lower-case) and Fetch `Headers`. */
const headerGetter: TextMapGetter<TraceCarrier> = {
  keys(carrier) {
    if (!isFetchHeaders(carrier)) return Object.keys(carrier);
    const names: string[] = [];
    carrier.forEach((_value, name) => {
      names.push(name);
    });
    return names;
  },
  get(carrier, key) {
    if (isFetchHeaders(carrier)) return carrier.get(key) ?? undefined;
    return carrier[key.toLowerCase()] ?? carrier[key];
  },
};

function isFetchHeaders(carrier: TraceCarrier): carrier is Headers {
  return typeof (carrier as Headers).get === 'function' && typeof (carrier as Headers).forEach === 'function';
}

// W3C Trace Context: version-traceid-parentid-flags, lower-case hex.
const TRACEPARENT = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?$/;

/**
 * The caller's context: what the global propagator extracts from the headers (W3C by default with
 * the Node SDK), else — no propagator registered — the W3C `traceparent` read here.
 */
function incomingContext(headers: TraceCarrier): Context {
  const extracted = propagation.extract(ROOT_CONTEXT, headers, headerGetter);
  const spanContext = trace.getSpanContext(extracted);
  if (spanContext !== undefined && isSpanContextValid(spanContext)) return extracted;
  const traceparent = first(headerGetter.get(headers, 'traceparent'));
  const match =
    traceparent === undefined || traceparent.length > 512 ? null : TRACEPARENT.exec(traceparent.trim());
  if (match === null) return ROOT_CONTEXT;
  const [, version, traceId, spanId, flags, rest] = match as unknown as [
    string,
    string,
    string,
    string,
    string,
    string | undefined,
  ];
  // Version ff is invalid; version 00 has exactly four fields.
  if (version === 'ff' || (version === '00' && rest !== undefined)) return ROOT_CONTEXT;
  const tracestate = first(headerGetter.get(headers, 'tracestate'));
  const remote = {
    traceId,
    spanId,
    traceFlags: Number.parseInt(flags, 16) & 1,
    isRemote: true,
    ...(tracestate === undefined ? {} : { traceState: createTraceState(tracestate) }),
  };
  return isSpanContextValid(remote) ? trace.setSpanContext(ROOT_CONTEXT, remote) : ROOT_CONTEXT;
}

function first(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}
