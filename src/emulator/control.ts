import { controlError, json } from './http.js';
import type { Router } from './router.js';
import type { EmulatorState, Fault } from './state.js';

/**
 * The emulator-wide part of the control plane: clock, faults, configuration, stats and the Pay
 * platform keys (and their rotation). Product modules register their own `/_emulator/*` routes.
 */
export function registerControl(router: Router, state: EmulatorState): void {
  router.add('POST', '/_emulator/clock', async (ctx) => {
    const body = (await ctx.json()) as { advanceSeconds?: unknown } | undefined;
    const seconds = body?.advanceSeconds;
    if (typeof seconds !== 'number' || !Number.isFinite(seconds)) {
      return controlError(400, 'body must be { "advanceSeconds": number }');
    }
    state.advance(seconds);
    return json({ now: state.nowSeconds() });
  });
  router.add('GET', '/_emulator/clock', () => json({ now: state.nowSeconds() }));

  router.add('POST', '/_emulator/faults', async (ctx) => {
    const body = (await ctx.json()) as Record<string, unknown> | undefined;
    if (typeof body !== 'object' || body === null) return controlError(400, 'body must be a JSON object');
    const allowed = new Set(['path', 'count', 'errcode', 'errmsg', 'latencyMs', 'drop', 'truncate']);
    for (const key of Object.keys(body)) {
      if (!allowed.has(key))
        return controlError(400, `unknown fault field "${key}" (allowed: ${[...allowed].join(', ')})`);
    }
    const path = body.path ?? '*';
    if (typeof path !== 'string' || (path !== '*' && !path.startsWith('/'))) {
      return controlError(400, 'path must be an API pathname like "/cgi-bin/token", or "*"');
    }
    const count = body.count ?? 1;
    if (typeof count !== 'number' || !Number.isInteger(count) || count < 0) {
      return controlError(400, 'count must be a non-negative integer (0 = until cleared)');
    }
    const fault: Fault = { path, remaining: count };
    if (body.errcode !== undefined) {
      if (typeof body.errcode !== 'number') return controlError(400, 'errcode must be a number');
      fault.errcode = body.errcode;
    }
    if (typeof body.errmsg === 'string') fault.errmsg = body.errmsg;
    if (body.latencyMs !== undefined) {
      if (typeof body.latencyMs !== 'number' || body.latencyMs < 0)
        return controlError(400, 'latencyMs must be ≥ 0');
      fault.latencyMs = body.latencyMs;
    }
    if (body.drop === true) fault.drop = true;
    if (body.truncate === true) fault.truncate = true;
    if (fault.errcode === undefined && !fault.latencyMs && !fault.drop && !fault.truncate) {
      return controlError(400, 'a fault needs errcode, latencyMs, drop or truncate');
    }
    state.faults.push(fault);
    return json({ faults: state.faults });
  });
  router.add('DELETE', '/_emulator/faults', () => {
    state.faults = [];
    return json({ faults: [] });
  });
  router.add('GET', '/_emulator/faults', () => json({ faults: state.faults }));

  // A local test tool: it shows the test credentials it serves, so clients can be configured from it.
  router.add('GET', '/_emulator/config', () =>
    json({
      apps: state.config.apps,
      merchants: state.config.merchants,
      corps: state.config.corps,
      components: state.config.components,
      options: state.config.options,
    }),
  );
  router.add('GET', '/_emulator/stats', () => json(state.stats));
  router.add('GET', '/_emulator/pay/platform', () =>
    json({
      certificates: state.platform.certificates.map(({ serialNo, pem }) => ({ serialNo, pem })),
      publicKey: { id: state.platform.publicKey.id, pem: state.platform.publicKey.pem },
    }),
  );
  router.add('POST', '/_emulator/pay/rotate-certificate', async (ctx) => {
    const text = (await ctx.text()).trim();
    const body = (text === '' ? {} : await ctx.json()) as Record<string, unknown> | undefined;
    if (typeof body !== 'object' || body === null || Array.isArray(body))
      return controlError(400, 'body must be a JSON object { "retireOld"?: boolean }');
    for (const key of Object.keys(body)) {
      if (key !== 'retireOld') return controlError(400, `unknown field "${key}" (allowed: retireOld)`);
    }
    if (body.retireOld !== undefined && typeof body.retireOld !== 'boolean')
      return controlError(400, 'retireOld must be a boolean');
    const fresh = state.rotateCertificate(body.retireOld === true);
    return json({ serialNo: fresh.serialNo });
  });
}
