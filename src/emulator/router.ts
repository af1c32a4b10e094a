import { type ApiContext, type ApiOptions, apiRoute, type BodyOf, type CallerOf } from './api-route.js';
import type { EmulatorState } from './state.js';

/** What a route handler receives. */
export interface RouteContext {
  request: Request;
  url: URL;
  /** Path parameters (`:name` segments). */
  params: Record<string, string>;
  state: EmulatorState;
  /** The raw request body as text (read once, cached). */
  text(): Promise<string>;
  /** The body parsed as JSON; `undefined` when it is not JSON. */
  json(): Promise<unknown>;
}

export type RouteHandler = (ctx: RouteContext) => Response | Promise<Response>;

interface Route {
  method: string;
  segments: string[];
  handler: RouteHandler;
}

/** A tiny exact/param router: `/v3/pay/transactions/out-trade-no/:outTradeNo`. */
export class Router {
  readonly #routes: Route[] = [];

  add(method: string, pattern: string, handler: RouteHandler): this {
    this.#routes.push({
      method: method.toUpperCase(),
      segments: pattern.split('/').filter(Boolean),
      handler,
    });
    return this;
  }

  /**
   * Adds an API route whose caller and body are checked first (see {@link apiRoute}).
   *
   * @example
   * router.api('POST', '/cgi-bin/menu/create', { auth: appToken(records), body: 'json' }, ({ caller, body }) =>
   *   json({ errcode: 0, errmsg: 'ok' }),
   * );
   */
  api<const O extends ApiOptions>(
    method: string,
    pattern: string,
    options: O,
    handler: (ctx: ApiContext<CallerOf<O>, BodyOf<O>>) => Response | Promise<Response>,
  ): this {
    return this.add(method, pattern, apiRoute(options, handler));
  }

  /** The handler for a request, or `undefined` (then `allowed` lists methods the path accepts). */
  match(
    method: string,
    pathname: string,
  ): { handler: RouteHandler; params: Record<string, string> } | { handler: undefined; allowed: string[] } {
    const parts = pathname.split('/').filter(Boolean);
    const allowed: string[] = [];
    for (const route of this.#routes) {
      if (route.segments.length !== parts.length) continue;
      const params: Record<string, string> = {};
      let ok = true;
      for (let i = 0; i < parts.length && ok; i++) {
        const seg = route.segments[i] as string;
        const part = parts[i] as string;
        if (seg.startsWith(':')) params[seg.slice(1)] = decodeURIComponent(part);
        else ok = seg === part;
      }
      if (!ok) continue;
      if (route.method === method.toUpperCase()) return { handler: route.handler, params };
      allowed.push(route.method);
    }
    return { handler: undefined, allowed };
  }
}
