// `otelTracing` on its own, and the promise that the core entry never needs @opentelemetry/api.
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { context, createContextKey, ROOT_CONTEXT, SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import {
  AlwaysOffSampler,
  BasicTracerProvider,
  InMemorySpanExporter,
  SimpleSpanProcessor,
} from '@opentelemetry/sdk-trace-base';
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/errors.js';
import { otelTracing } from '../../src/otel/index.js';
import { CALLER, harness, useContextManager } from './harness.js';

useContextManager();

describe('otelTracing', () => {
  it('continues a traceparent given as Fetch Headers, keeping its tracestate, and exposes the trace id', () => {
    const h = harness();
    const headers = new Headers({ traceparent: CALLER.traceparent, tracestate: 'congo=t61rcWkgMzE' });
    const span = h.tracing.startServerSpan('guard GET /x', headers, { 'url.path': '/x' });
    expect(span.traceId).toBe(CALLER.traceId);
    span.end();
    const [server] = h.spans();
    expect(server?.kind).toBe(SpanKind.SERVER);
    expect(server?.parentSpanContext?.spanId).toBe(CALLER.spanId);
    expect(server?.spanContext().traceState?.get('congo')).toBe('t61rcWkgMzE');
  });

  it('refuses a traceparent W3C calls invalid (version ff, extra fields in version 00, zero span id)', () => {
    const h = harness();
    for (const traceparent of [
      `ff-${CALLER.traceId}-${CALLER.spanId}-01`,
      `${CALLER.traceparent}-extra`,
      `00-${CALLER.traceId}-0000000000000000-01`,
      'not a traceparent',
    ]) {
      h.tracing.startServerSpan('s', { traceparent }, {}).end();
    }
    for (const span of h.spans()) {
      expect(span.parentSpanContext).toBeUndefined();
      expect(span.spanContext().traceId).not.toBe(CALLER.traceId);
    }
  });

  it('runs a function inside a span, so spans started after an await are its children', async () => {
    const h = harness();
    const parent = h.tracing.startServerSpan('parent', undefined, {});
    await h.tracing.withSpan(parent, async () => {
      await new Promise((r) => setImmediate(r));
      h.tracing.startClientSpan('child', {}).end();
    });
    parent.end();
    const child = h.spans().find((s) => s.name === 'child');
    expect(child?.parentSpanContext?.spanId).toBe(
      h
        .spans()
        .find((s) => s.name === 'parent')
        ?.spanContext().spanId,
    );
  });

  it('keeps a sampled-out span active: it records nothing but its trace continues into the calls made under it', async () => {
    const exporter = new InMemorySpanExporter();
    const provider = new BasicTracerProvider({
      sampler: new AlwaysOffSampler(),
      spanProcessors: [new SimpleSpanProcessor(exporter)],
    });
    const tracing = otelTracing(provider.getTracer('sampled-out'));
    const span = tracing.startServerSpan('server', { traceparent: CALLER.traceparent }, {});
    // Not recorded, yet carrying the caller's trace: what runs inside must see it.
    expect(span.traceId).toBe(CALLER.traceId);
    const inside = await tracing.withSpan(span, async () => {
      await new Promise((r) => setImmediate(r));
      return trace.getSpanContext(context.active());
    });
    expect(inside?.traceId).toBe(CALLER.traceId);
    span.setAttributes({ 'wechat.app_id': 'wx1' });
    span.end();
    expect(exporter.getFinishedSpans()).toEqual([]);
  });

  it('runs code under a span of the API without an SDK as it is: no context is made for a span that carries nothing', async () => {
    // The API's own no-op tracer (no provider registered): spans without a valid context.
    const tracing = otelTracing(trace.getTracer('no-sdk'));
    const outer = ROOT_CONTEXT.setValue(createContextKey('outer'), 'kept');
    // No caller's trace to continue (with one, the no-op span carries it, and it is made active).
    const span = tracing.startServerSpan('server', {}, { a: 1 });
    expect(span.traceId).toBeUndefined();
    const seen = await context.with(outer, () =>
      tracing.withSpan(span, async () => {
        await new Promise((r) => setImmediate(r));
        return context.active();
      }),
    );
    // The context the caller had is the one inside: nothing was put on top of it.
    expect(seen).toBe(outer);
    span.setAttributes({ b: 2 });
    span.addEvent('e', { c: 3 });
    span.end();
  });

  it('marks a failure with a type and message only, and leaves undefined attributes out', () => {
    const h = harness();
    const span = h.tracing.startClientSpan('c', { a: 1, b: undefined });
    span.setError('TIMEOUT', 'GET /x got no answer');
    span.end();
    const [done] = h.spans();
    expect(done?.attributes).toEqual({ a: 1, 'error.type': 'TIMEOUT' });
    expect(done?.status).toEqual({ code: SpanStatusCode.ERROR, message: 'GET /x got no answer' });
    expect(done?.events.map((e) => e.attributes)).toEqual([
      { 'exception.type': 'TIMEOUT', 'exception.message': 'GET /x got no answer' },
    ]);
  });

  it('takes a tracer or options, and refuses anything else', () => {
    expect(() => otelTracing(harness().tracer)).not.toThrow();
    expect(() => otelTracing()).not.toThrow();
    // @ts-expect-error: unknown option
    expect(() => otelTracing({ tracer: harness().tracer, sampler: 1 })).toThrow(ConfigError);
    // @ts-expect-error: not a tracer
    expect(() => otelTracing({ tracer: {} })).toThrow(/tracer must be an OpenTelemetry Tracer/);
  });
});

describe('the core entry', () => {
  it('reaches no module that imports @opentelemetry (it must load without the optional peer)', () => {
    const root = resolve(dirname(fileURLToPath(import.meta.url)), '../../src');
    const seen = new Set<string>();
    const visit = (file: string) => {
      if (seen.has(file)) return;
      seen.add(file);
      const text = readFileSync(file, 'utf8');
      // Code, not the doc comments' examples (which start with ` * `).
      expect(text, file).not.toMatch(
        /^(?:import|export|\})[^\n]*'@opentelemetry|[^*]\s(?:import|require)\('@opentelemetry/m,
      );
      for (const [, spec] of text.matchAll(/(?:from|import\()\s*'(\.{1,2}\/[^']+)'/g)) {
        visit(resolve(dirname(file), (spec as string).replace(/\.js$/, '.ts')));
      }
    };
    visit(resolve(root, 'index.ts'));
    expect(seen.size).toBeGreaterThan(50);
    expect(seen.has(resolve(root, 'core/tracing.ts'))).toBe(true);
    expect(seen.has(resolve(root, 'otel/index.ts'))).toBe(false);
  });
});
