// Callbacks as OpenTelemetry server spans: the caller's W3C trace continues, the outcome (status,
// routing key, refusal) is recorded, and the calls a handler makes are children of the span.
import { SpanKind, SpanStatusCode } from '@opentelemetry/api';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createWeChatCallback } from '../../src/callbacks/index.js';
import { createEmulator, type Emulator } from '../../src/emulator/emulator.js';
import { OfficialAccount } from '../../src/official-account/index.js';
import { AES_KEY, APP_ID, clock, push, TOKEN, textMessage } from '../callbacks/fixtures.js';
import { CALLER, harness, useContextManager } from './harness.js';

useContextManager();

const OA = { appId: APP_ID, secret: 'otel-callback-appsecret-91b2c3', kind: 'official-account' as const };
const SENDER = String(textMessage().FromUserName);

let emulator: Emulator;
beforeEach(async () => {
  emulator = createEmulator({ apps: [OA], merchants: [] });
  await emulator.fetch('http://emulator/_emulator/users', {
    method: 'POST',
    body: JSON.stringify({ appId: OA.appId, openId: SENDER }),
  });
});
afterEach(() => emulator.close());

/** A callback whose text handler looks the sender up with the Official Account API. */
function setup(options: { continueIncomingTrace?: boolean } = {}) {
  const h = harness(options);
  const oa = new OfficialAccount({
    appId: OA.appId,
    secret: OA.secret,
    baseUrl: 'http://emulator',
    fetch: emulator.fetch,
    tracing: h.tracing,
  });
  const callback = createWeChatCallback({
    appId: APP_ID,
    token: TOKEN,
    encodingAESKey: AES_KEY,
    mode: 'safe',
    now: clock,
    tracing: h.tracing,
    hooks: { onError: () => {} },
  })
    .on('text', async (message) => {
      await oa.users.get({ openid: message.FromUserName });
    })
    .on('event', () => {
      throw new Error('handler failed');
    });
  return { h, callback };
}

function withTraceparent(request: ReturnType<typeof push>, traceparent: string) {
  return { ...request, headers: { ...(request.headers as Record<string, string>), traceparent } };
}

describe('callback server spans', () => {
  it('continues the incoming traceparent, and the handler’s WeChat call is a child of the push’s span', async () => {
    const { h, callback } = setup();
    const response = await callback.handle(
      withTraceparent(push({ fields: textMessage() }), CALLER.traceparent),
    );
    expect(response.status).toBe(200);

    const server = h.span('WeChat callback POST');
    expect(server.kind).toBe(SpanKind.SERVER);
    expect(server.spanContext().traceId).toBe(CALLER.traceId);
    expect(server.parentSpanContext).toMatchObject({ spanId: CALLER.spanId, isRemote: true });
    expect(server.attributes).toEqual({
      'http.request.method': 'POST',
      'url.path': '/wechat',
      'wechat.app_id': APP_ID,
      'wechat.callback.type': 'text',
      'http.response.status_code': 200,
    });
    expect(server.status.code).toBe(SpanStatusCode.UNSET);

    const call = h.span('WeChat GET /cgi-bin/user/info');
    expect(call.spanContext().traceId).toBe(CALLER.traceId);
    expect(call.parentSpanContext?.spanId).toBe(server.spanContext().spanId);
    const token = h.span('WeChat POST /cgi-bin/stable_token');
    expect(token.parentSpanContext?.spanId).toBe(server.spanContext().spanId);

    const text = h.serialised();
    for (const secret of [TOKEN, AES_KEY, OA.secret, 'msg_signature', 'signature=']) {
      expect(text).not.toContain(secret);
    }
  });

  it('starts a new trace for a push without traceparent, or with a malformed one', async () => {
    const { h, callback } = setup();
    await callback.handle(push({ fields: textMessage('a', '1001') }));
    await callback.handle(
      withTraceparent(
        push({ fields: textMessage('b', '1002') }),
        '00-00000000000000000000000000000000-00f067aa0ba902b7-01',
      ),
    );
    const servers = h.spans().filter((s) => s.name === 'WeChat callback POST');
    expect(servers).toHaveLength(2);
    for (const server of servers) {
      expect(server.parentSpanContext).toBeUndefined();
      expect(server.spanContext().traceId).not.toBe(CALLER.traceId);
    }
    expect(servers[0]?.spanContext().traceId).not.toBe(servers[1]?.spanContext().traceId);
  });

  it('records a refused push (forged signature) with its status and code, not as a server error', async () => {
    const { h, callback } = setup();
    const forged = push({ fields: textMessage(), token: 'NotTheToken' });
    expect((await callback.handle(withTraceparent(forged, CALLER.traceparent))).status).toBe(401);
    const server = h.span('WeChat callback POST');
    expect(server.spanContext().traceId).toBe(CALLER.traceId);
    expect(server.attributes).toMatchObject({
      'http.response.status_code': 401,
      'error.type': 'SIGNATURE_MISMATCH',
    });
    expect(server.attributes['wechat.callback.type']).toBeUndefined();
    expect(server.status.code).toBe(SpanStatusCode.UNSET);
    expect(h.spans()).toHaveLength(1);
  });

  it('marks a push whose handler threw as a server error, without the handler’s message', async () => {
    const { h, callback } = setup();
    const event = { ...textMessage(), MsgType: 'event', Event: 'CLICK', EventKey: 'k' };
    expect((await callback.handle(push({ fields: event }))).status).toBe(500);
    const server = h.span('WeChat callback POST');
    expect(server.attributes).toMatchObject({
      'http.response.status_code': 500,
      'wechat.callback.type': 'event.CLICK',
    });
    expect(server.status.code).toBe(SpanStatusCode.ERROR);
    expect(h.serialised()).not.toContain('handler failed');
  });

  it('nests under the span HTTP instrumentation already started for the request (INTERNAL)', async () => {
    const { h, callback } = setup();
    const outer = await h.tracer.startActiveSpan('POST /wechat', { kind: SpanKind.SERVER }, async (span) => {
      await callback.handle(withTraceparent(push({ fields: textMessage() }), CALLER.traceparent));
      span.end();
      return span.spanContext();
    });
    const inner = h.span('WeChat callback POST');
    expect(inner.kind).toBe(SpanKind.INTERNAL);
    expect(inner.parentSpanContext?.spanId).toBe(outer.spanId);
  });

  it('with continueIncomingTrace: false, starts its own trace whatever the push carries', async () => {
    const { h, callback } = setup({ continueIncomingTrace: false });
    await callback.handle(withTraceparent(push({ fields: textMessage() }), CALLER.traceparent));
    const server = h.span('WeChat callback POST');
    expect(server.parentSpanContext).toBeUndefined();
    expect(server.spanContext().traceId).not.toBe(CALLER.traceId);
    expect(h.span('WeChat GET /cgi-bin/user/info').parentSpanContext?.spanId).toBe(
      server.spanContext().spanId,
    );
  });
});
