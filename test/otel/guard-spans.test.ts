// Guarded routes as OpenTelemetry server spans: the caller's traceparent continues, the outcome is
// recorded (status, refusal code), and the WeChat calls the route makes are children of the span —
// without the login code, the AppSecret, the access_token or the session token in any span.
import { SpanKind, SpanStatusCode } from '@opentelemetry/api';
import { afterEach, describe, expect, it } from 'vitest';
import { NO_SPAN, type Tracing } from '../../src/core/tracing.js';
import { createGuard } from '../../src/guard/index.js';
import { MiniProgram } from '../../src/index.js';
import { bearer, body, MP, request, SECRET, world } from '../guard/fixture.js';
import { CALLER, harness, useContextManager } from './harness.js';

useContextManager();

const quiet = { error: () => {}, warn: () => {} };

const worlds: Array<ReturnType<typeof world>> = [];
afterEach(() => {
  for (const w of worlds.splice(0)) w.emulator.close();
});

function setup() {
  const h = harness();
  const w = world();
  worlds.push(w);
  const mp = new MiniProgram({
    appId: MP.appId,
    secret: MP.secret,
    baseUrl: 'http://emulator',
    fetch: w.emulator.fetch as typeof fetch,
    tracing: h.tracing,
  });
  const guard = createGuard({
    miniProgram: mp,
    keys: [{ kid: 'k1', alg: 'HS256', secret: SECRET }],
    logger: quiet,
    tracing: h.tracing,
  });
  return { h, w, guard };
}

describe('guard server spans', () => {
  it('traces login as a server span continuing the traceparent, with code2Session as its child and no secret anywhere', async () => {
    const { h, w, guard } = setup();
    const code = await w.loginCode();
    const answer = await guard.loginRoute()(
      request('POST', '/api/login?from=share', {
        headers: { traceparent: CALLER.traceparent },
        body: { code },
      }),
    );
    expect(answer.status).toBe(200);
    const issued = body(answer);

    const server = h.span('guard POST /api/login');
    expect(server.kind).toBe(SpanKind.SERVER);
    expect(server.spanContext().traceId).toBe(CALLER.traceId);
    expect(server.parentSpanContext).toMatchObject({ spanId: CALLER.spanId, isRemote: true });
    expect(server.attributes).toEqual({
      'http.request.method': 'POST',
      'url.path': '/api/login',
      'wechat.app_id': MP.appId,
      'http.response.status_code': 200,
    });

    const exchange = h.span('WeChat GET /sns/jscode2session');
    expect(exchange.kind).toBe(SpanKind.CLIENT);
    expect(exchange.parentSpanContext?.spanId).toBe(server.spanContext().spanId);
    expect(exchange.spanContext().traceId).toBe(CALLER.traceId);

    const text = h.serialised();
    for (const secret of [code, MP.secret, issued.token, issued.refreshToken, 'js_code']) {
      expect(text).not.toContain(secret);
    }
  });

  it('traces a protected route: its WeChat calls are children, the user’s phone number appears nowhere', async () => {
    const { h, w, guard } = setup();
    const login = guard.loginRoute();
    const issued = body(
      await login(
        request('POST', '/api/login', { body: { code: await w.loginCode('oPhoneUser000000000000001') } }),
      ),
    );
    const phoneCode = await w.phoneCode('13912345678', 'oPhoneUser000000000000001');
    h.exporter.reset();
    const route = guard.protect(async (ctx) => ({
      phone: (await ctx.phoneNumber(phoneCode)).purePhoneNumber,
    }));
    const answer = await route(
      request('GET', '/api/phone', { headers: { ...bearer(issued.token), traceparent: CALLER.traceparent } }),
    );
    expect(answer.status).toBe(200);
    const server = h.span('guard GET /api/phone');
    expect(server.spanContext().traceId).toBe(CALLER.traceId);
    const children = h.spans().filter((s) => s.parentSpanContext?.spanId === server.spanContext().spanId);
    expect(children.map((s) => s.name).sort()).toEqual([
      'WeChat POST /cgi-bin/stable_token',
      'WeChat POST /wxa/business/getuserphonenumber',
    ]);
    const text = h.serialised();
    expect(text).not.toContain('13912345678');
    expect(text).not.toContain(phoneCode);
    expect(text).not.toContain(issued.token);
  });

  it('records a refusal with its status and code: a 4xx is not a server error, a 5xx is', async () => {
    const { h, guard } = setup();
    const route = guard.protect(() => ({ ok: true }));
    expect((await route(request('GET', '/api/me'))).status).toBe(401);
    const refused = h.span('guard GET /api/me');
    expect(refused.attributes).toMatchObject({
      'http.response.status_code': 401,
      'error.type': 'SESSION_REQUIRED',
    });
    expect(refused.status.code).toBe(SpanStatusCode.UNSET);
    expect(refused.parentSpanContext).toBeUndefined();

    h.exporter.reset();
    const failing = guard.open(() => {
      throw new Error('database password is hunter2');
    });
    expect((await failing(request('GET', '/api/open'))).status).toBe(500);
    const failed = h.span('guard GET /api/open');
    expect(failed.attributes).toMatchObject({
      'http.response.status_code': 500,
      'error.type': 'INTERNAL_ERROR',
    });
    expect(failed.status.code).toBe(SpanStatusCode.ERROR);
    expect(h.serialised()).not.toContain('hunter2');
  });

  it('answers as usual when the tracing itself throws (starting a span, or ending one)', async () => {
    const w = world();
    worlds.push(w);
    const broken = (where: 'start' | 'end'): Tracing => ({
      startClientSpan: () => NO_SPAN,
      startServerSpan: () => {
        if (where === 'start') throw new Error('tracer down');
        return {
          ...NO_SPAN,
          end: () => {
            throw new Error('exporter down');
          },
        };
      },
      withSpan: (_span, fn) => fn(),
    });
    for (const where of ['start', 'end'] as const) {
      const guard = createGuard({
        miniProgram: w.mp,
        keys: [{ kid: 'k1', alg: 'HS256', secret: SECRET }],
        logger: quiet,
        tracing: broken(where),
      });
      const answer = await guard.open(() => ({ ok: true }))(request('GET', '/api/open'));
      expect([where, answer.status, body(answer)]).toEqual([where, 200, { ok: true }]);
    }
  });

  it('refuses a tracing option that is not a Tracing', () => {
    const w = world();
    worlds.push(w);
    expect(() =>
      createGuard({
        miniProgram: w.mp,
        keys: [{ kid: 'k1', alg: 'HS256', secret: SECRET }],
        // @ts-expect-error: not a Tracing
        tracing: {},
      }),
    ).toThrow(/createGuard: tracing must be a Tracing/);
  });
});
