// Outbound WeChat calls as OpenTelemetry client spans: one per logical call, named by method and
// path, with errcode, status and retries, children of the active span — and never a secret: the
// access_token travels in the query, which no span holds.
import { SpanKind, SpanStatusCode } from '@opentelemetry/api';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createEmulator, type Emulator } from '../../src/emulator/emulator.js';
import { ConfigError } from '../../src/errors.js';
import { OfficialAccount } from '../../src/official-account/index.js';
import { harness, useContextManager } from './harness.js';

useContextManager();

const APP = {
  appId: 'wx7e1a2b3c4d5e6f70',
  secret: 'otel-client-appsecret-7a6b5c4d',
  kind: 'official-account' as const,
};
const OPENID = 'oTraceUser000000000000000001';

let emulator: Emulator;
/** Every URL the client sent, to learn the access_token it used. */
let urls: string[];

beforeEach(async () => {
  emulator = createEmulator({ apps: [APP], merchants: [] });
  urls = [];
  await control('/_emulator/users', { appId: APP.appId, openId: OPENID });
});
afterEach(() => emulator.close());

const control = (path: string, body: unknown) =>
  emulator.fetch(`http://emulator${path}`, { method: 'POST', body: JSON.stringify(body) });

function client(tracing: ReturnType<typeof harness>['tracing'] | undefined) {
  const recording: typeof fetch = (input, init) => {
    urls.push(String(input));
    return emulator.fetch(input as string, init);
  };
  return new OfficialAccount({
    appId: APP.appId,
    secret: APP.secret,
    baseUrl: 'http://emulator.local:7070',
    fetch: recording,
    ...(tracing === undefined ? {} : { tracing }),
  });
}

/** The access_token values the client sent in query strings. */
const tokensSent = () =>
  urls.map((u) => new URL(u).searchParams.get('access_token')).filter((t): t is string => t !== null);

describe('client spans', () => {
  it('makes one CLIENT span per call, named by method and path, with no access_token or AppSecret in it', async () => {
    const h = harness();
    const oa = client(h.tracing);
    await oa.users.get({ openid: OPENID });

    expect(h.spans().map((s) => s.name)).toEqual([
      'WeChat POST /cgi-bin/stable_token',
      'WeChat GET /cgi-bin/user/info',
    ]);
    const span = h.span('WeChat GET /cgi-bin/user/info');
    expect(span.kind).toBe(SpanKind.CLIENT);
    expect(span.attributes).toEqual({
      'http.request.method': 'GET',
      'url.path': '/cgi-bin/user/info',
      'url.scheme': 'http',
      'server.address': 'emulator.local',
      'server.port': 7070,
      'http.response.status_code': 200,
    });
    expect(span.status.code).toBe(SpanStatusCode.UNSET);
    expect(span.events).toEqual([]);

    const [token] = tokensSent();
    expect(token).toMatch(/^.{20,}$/);
    const text = h.serialised();
    expect(text).not.toContain(token as string);
    expect(text).not.toContain(APP.secret);
    expect(text).not.toContain('access_token');
  });

  it('records a retried call on its one span: a retry event per failed attempt and the resend count', async () => {
    const h = harness();
    const oa = client(h.tracing);
    await oa.users.get({ openid: OPENID }); // the token first, so only user/info is retried
    h.exporter.reset();
    await control('/_emulator/faults', { path: '/cgi-bin/user/info', drop: true, count: 1 });
    await control('/_emulator/faults', { path: '/cgi-bin/user/info', errcode: -1, count: 1 });

    await oa.users.get({ openid: OPENID });

    const span = h.span('WeChat GET /cgi-bin/user/info');
    expect(span.status.code).toBe(SpanStatusCode.UNSET);
    expect(span.attributes['http.request.resend_count']).toBe(2);
    expect(span.attributes['http.response.status_code']).toBe(200);
    expect(span.attributes['wechat.errcode']).toBeUndefined();
    expect(
      span.events.map((e) => [e.name, e.attributes?.['error.type'], e.attributes?.['wechat.errcode']]),
    ).toEqual([
      ['retry', 'NETWORK_ERROR', undefined],
      ['retry', 'SYSTEM_BUSY', -1],
    ]);
    expect(span.events.map((e) => e.attributes?.['weixin_kit.attempt'])).toEqual([1, 2]);
    expect(h.spans()).toHaveLength(1);
  });

  it('marks a call WeChat refused as failed, with its errcode and stable code, and the redacted message only', async () => {
    const h = harness();
    const oa = client(h.tracing);
    await expect(oa.users.get({ openid: 'oNotAFollower0000000000000000' })).rejects.toMatchObject({
      errcode: 40003,
    });
    const span = h.span('WeChat GET /cgi-bin/user/info');
    expect(span.status.code).toBe(SpanStatusCode.ERROR);
    expect(span.attributes['error.type']).toBe('API_ERROR');
    expect(span.attributes['wechat.errcode']).toBe(40003);
    expect(span.status.message).toContain('errcode 40003');
    const exception = span.events.find((e) => e.name === 'exception');
    expect(exception?.attributes?.['exception.type']).toBe('API_ERROR');
    expect(exception?.attributes?.['exception.stacktrace']).toBeUndefined();
    for (const token of tokensSent()) expect(h.serialised()).not.toContain(token);
  });

  it('marks a call that exhausted its retries as failed, after one retry event per retry', async () => {
    const h = harness();
    const oa = client(h.tracing);
    await oa.users.get({ openid: OPENID });
    h.exporter.reset();
    await control('/_emulator/faults', { path: '/cgi-bin/user/info', errcode: -1, count: 3 });
    await expect(oa.users.get({ openid: OPENID })).rejects.toMatchObject({ errcode: -1 });
    const span = h.span('WeChat GET /cgi-bin/user/info');
    expect(span.status.code).toBe(SpanStatusCode.ERROR);
    expect(span.attributes).toMatchObject({
      'error.type': 'SYSTEM_BUSY',
      'wechat.errcode': -1,
      'http.request.resend_count': 2,
    });
    expect(span.events.filter((e) => e.name === 'retry')).toHaveLength(2);
  });

  it('makes client spans children of the active span', async () => {
    const h = harness();
    const oa = client(h.tracing);
    const parent = await h.tracer.startActiveSpan('checkout', async (span) => {
      await oa.users.get({ openid: OPENID });
      span.end();
      return span.spanContext();
    });
    for (const name of ['WeChat POST /cgi-bin/stable_token', 'WeChat GET /cgi-bin/user/info']) {
      const child = h.span(name);
      expect(child.spanContext().traceId).toBe(parent.traceId);
      expect(child.parentSpanContext?.spanId).toBe(parent.spanId);
    }
  });

  it('traces nothing without the tracing option', async () => {
    const h = harness();
    const oa = client(undefined);
    await h.tracer.startActiveSpan('outer', async (span) => {
      await oa.users.get({ openid: OPENID });
      span.end();
    });
    expect(h.spans().map((s) => s.name)).toEqual(['outer']);
  });

  it('refuses a tracing option that is not a Tracing', () => {
    expect(
      () =>
        new OfficialAccount({
          appId: APP.appId,
          secret: APP.secret,
          // @ts-expect-error: a tracer instead of otelTracing(tracer)
          tracing: harness().tracer,
        }),
    ).toThrow(ConfigError);
    expect(
      () =>
        new OfficialAccount({
          appId: APP.appId,
          secret: APP.secret,
          // @ts-expect-error: a tracer instead of otelTracing(tracer)
          tracing: harness().tracer,
        }),
    ).toThrow(/tracing must be a Tracing .*otelTracing\(\) from weixin-kit\/otel/);
  });
});
