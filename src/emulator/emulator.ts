import { defaultConfig, type EmulatorConfig, type ResolvedEmulatorConfig, resolveConfig } from './config.js';
import { registerControl } from './control.js';
import { controlError, wechatError } from './http.js';
import { registerOpenPlatform } from './open-platform.js';
import { registerPayV2 } from './pay-v2.js';
import { registerPayV3 } from './pay-v3.js';
import { parseAuthorization, v3Error } from './pay-v3-auth.js';
import { registerPush } from './push.js';
import { type RouteContext, Router } from './router.js';
import { EmulatorState, type Fault } from './state.js';
import { registerWeChatApi } from './wechat-api.js';
import { registerWeCom } from './wecom.js';

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
  /** Internal state (clock, stats, platform keys) for tests and the CLI. */
  readonly state: EmulatorState;
  /** Stops background work (retries, scheduled pushes). */
  close(): void;
}

const CONTROL_PREFIX = '/_emulator/';

function takeFault(state: EmulatorState, pathname: string): Fault | undefined {
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

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

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
  registerWeChatApi(router, state);
  registerWeCom(router, state);
  registerOpenPlatform(router, state);
  registerPush(router, state);
  registerPayV3(router, state);
  registerPayV2(router, state);

  async function handle(request: Request): Promise<Response> {
    const url = new URL(request.url);
    const { pathname } = url;
    state.count('calls', pathname);
    const fault = takeFault(state, pathname);
    if (fault?.latencyMs) await sleep(fault.latencyMs);
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
      state.closed = true;
      for (const timer of state.timers) clearTimeout(timer);
      state.timers.clear();
    },
  };
}
