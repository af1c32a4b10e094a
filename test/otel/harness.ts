// An OpenTelemetry SDK for the tracing tests: spans are kept in memory, and the context follows
// async work through AsyncLocalStorage, as the Node SDK sets it up. No global tracer provider is
// registered: each test gives its tracer to `otelTracing` explicitly.
import { context, type SpanContext } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  type ReadableSpan,
  SimpleSpanProcessor,
} from '@opentelemetry/sdk-trace-base';
import { afterAll, beforeAll } from 'vitest';
import { otelTracing } from '../../src/otel/index.js';

/** Installs the AsyncLocalStorage context manager for the test file (each file has its own process). */
export function useContextManager(): void {
  const manager = new AsyncLocalStorageContextManager();
  beforeAll(() => {
    context.setGlobalContextManager(manager.enable());
  });
  afterAll(() => {
    context.disable();
  });
}

/** A fresh in-memory exporter and tracer, and the weixin-kit tracing over it. */
export function harness(options: { continueIncomingTrace?: boolean } = {}) {
  const exporter = new InMemorySpanExporter();
  const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
  const tracer = provider.getTracer('weixin-kit-test');
  const tracing = otelTracing({ tracer, ...options });
  const spans = (): ReadableSpan[] => exporter.getFinishedSpans();
  return {
    exporter,
    tracer,
    tracing,
    spans,
    /** The one finished span called `name`. */
    span(name: string): ReadableSpan {
      const found = spans().filter((s) => s.name === name);
      if (found.length !== 1) {
        throw new Error(`expected one span "${name}", got ${found.length} of: ${spans().map((s) => s.name)}`);
      }
      return found[0] as ReadableSpan;
    },
    /** Everything a backend would receive of the spans, as text, to search for secrets. */
    serialised(): string {
      return JSON.stringify(
        spans().map((s) => ({
          name: s.name,
          attributes: s.attributes,
          status: s.status,
          events: s.events.map((e) => ({ name: e.name, attributes: e.attributes })),
          links: s.links,
        })),
      );
    },
  };
}

/** A caller's W3C trace context. */
export const CALLER = {
  traceId: '4bf92f3577b34da6a3ce929d0e0e4736',
  spanId: '00f067aa0ba902b7',
  traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01',
};

export function parentOf(span: ReadableSpan): SpanContext | undefined {
  return span.parentSpanContext;
}
