import { controlError, json } from '../http.js';
import type { Router } from '../router.js';
import type { EmulatorState, Fault } from '../state.js';

const CONTROL_PREFIX = '/_emulator/';

/**
 * The pending fault for a call of `pathname`, used up by one call (a `count: 0` fault stays until
 * cleared). The control plane never gets faults.
 */
export function takeFault(state: EmulatorState, pathname: string): Fault | undefined {
  if (pathname.startsWith(CONTROL_PREFIX)) return undefined;
  const index = state.faults.findIndex((f) => f.path === pathname || f.path === '*');
  if (index === -1) return undefined;
  const fault = state.faults[index] as Fault;
  if (fault.remaining > 0) {
    fault.remaining -= 1;
    if (fault.remaining === 0) state.faults.splice(index, 1);
  }
  return fault;
}

/** `POST`, `GET` and `DELETE /_emulator/faults`: inject errcodes, latency, dropped connections, truncated bodies. */
export function registerFaultControl(router: Router, state: EmulatorState): void {
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
}
