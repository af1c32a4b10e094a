import { defaultConfig, type EmulatorConfig, type ResolvedEmulatorConfig, resolveConfig } from './config.js';
import { takeFault } from './control/faults.js';
import { registerControl } from './control/index.js';
import { eventLogOf, recordCall } from './events.js';
import { controlError, wechatError } from './http.js';
import { registerMiniProgram } from './mini-program/index.js';
import { registerOfficialAccount } from './official-account/index.js';
import { registerOpenPlatform } from './open-platform/index.js';
import { registerPayV2 } from './pay-v2/index.js';
import { registerPayV3 } from './pay-v3/index.js';
import { parseAuthorization, v3Error } from './pay-v3/signing.js';
import { registerPlatform } from './platform/index.js';
import { type RouteContext, Router } from './router.js';
import { EmulatorState } from './state.js';
import { registerWeCom } from './wecom/index.js';

/** Thrown by the in-process fetch when a `drop` fault is injected: what a reset connection looks like. */
export class EmulatorConnectionDropped extends TypeError {
  constructor() {
    super('fetch failed', { cause: Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' }) });
  }
}

/** An emulator instance: a Fetch handler plus its state. */
export interface Emulator {
  /** Serves every route in-process: pass it as the `fetch` of a client. */
  fetch(input: Request | string | URL, init?: RequestInit): Promise<Response>;
  /** The resolved configuration (with generated credentials). */
  readonly config: ResolvedEmulatorConfig;
  /**
   * Internal state for tests and the CLI: the emulated clock (`state.advance(seconds)`,
   * `state.clock.settled()`), stats, platform keys.
   */
  readonly state: EmulatorState;
  /** Stops background work (retries, scheduled pushes). */
  close(): void;
}

const CONTROL_PREFIX = '/_emulator/';

/**
 * Creates an offline WeChat platform (api.weixin.qq.com, api.mch.weixin.qq.com, and the pushes
 * they make) served in-process by `fetch`. With no config, one app of each kind and one merchant
 * are generated.
 *
 * @example
 * const emulator = createEmulator();
 * const res = await emulator.fetch(`http://emulator/cgi-bin/token?grant_type=client_credential&appid=${appId}&secret=${secret}`);
 */
export function createEmulator(config: EmulatorConfig = defaultConfig()): Emulator {
  const resolved = resolveConfig(config);
  const state = new EmulatorState(resolved);
  const router = new Router();
  registerControl(router, state);
  registerPlatform(router, state);
  registerOfficialAccount(router, state);
  registerMiniProgram(router, state);
  registerWeCom(router, state);
  registerOpenPlatform(router, state);
  registerPayV3(router, state);
  registerPayV2(router, state);

  // Every call is recorded on the event log (the console's live log) with its verdict.
  async function handle(request: Request): Promise<Response> {
    const { pathname } = new URL(request.url);
    let response: Response;
    try {
      response = await serve(request);
    } catch (error) {
      if (error instanceof EmulatorConnectionDropped) recordCall(state, request, pathname, 'dropped');
      throw error;
    }
    recordCall(state, request, pathname, response);
    return response;
  }

  async function serve(request: Request): Promise<Response> {
    const url = new URL(request.url);
    const { pathname } = url;
    state.count('calls', pathname);
    const fault = takeFault(state, pathname);
    // On a manual clock the answer waits until the test advances it past the latency.
    if (fault?.latencyMs) await state.clock.delay(fault.latencyMs, `latency ${pathname}`);
    if (fault?.drop) throw new EmulatorConnectionDropped();
    const v3Merchant = () => state.merchant(parseAuthorization(request.headers.get('authorization'))?.mchid);
    if (fault?.errcode !== undefined) {
      // Pay v3 has no errcode: an injected failure there is a signed 500 SYSTEM_ERROR.
      if (pathname.startsWith('/v3/')) {
        return v3Error(
          state,
          v3Merchant(),
          500,
          'SYSTEM_ERROR',
          fault.errmsg ?? `injected fault (errcode ${fault.errcode})`,
        );
      }
      return wechatError(fault.errcode, fault.errmsg ?? 'injected fault');
    }

    const found = router.match(request.method, pathname);
    let response: Response;
    if (found.handler === undefined) {
      if (found.allowed.length > 0)
        response = controlError(405, `use ${found.allowed.join(' or ')} for ${pathname}`);
      else if (pathname.startsWith(CONTROL_PREFIX))
        response = controlError(404, `no control route ${pathname}`);
      else if (pathname.startsWith('/v3/')) {
        response = v3Error(
          state,
          v3Merchant(),
          404,
          'RESOURCE_NOT_EXISTS',
          '资源不存在 (no such API in the emulator)',
        );
      } else response = wechatError(40066, 'invalid url hint: [emulator]');
    } else {
      let cached: Promise<string> | undefined;
      const text = () => {
        cached ??= request.text();
        return cached;
      };
      const ctx: RouteContext = {
        request,
        url,
        params: found.params,
        state,
        text,
        json: async () => {
          try {
            return JSON.parse(await text());
          } catch {
            return undefined;
          }
        },
      };
      response = await found.handler(ctx);
    }
    if (fault?.truncate) {
      const body = await response.text();
      const headers = new Headers(response.headers);
      headers.delete('content-length');
      return new Response(body.slice(0, Math.floor(body.length / 2)), { status: response.status, headers });
    }
    return response;
  }

  return {
    fetch: (input, init) =>
      handle(input instanceof Request && init === undefined ? input : new Request(input, init)),
    config: resolved,
    state,
    close() {
      state.close();
      eventLogOf(state).close();
    },
  };
}
