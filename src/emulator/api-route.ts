import { wechatError } from './http.js';
import type { RouteContext, RouteHandler } from './router.js';

/** How an API route reads its body, and what WeChat answers when it cannot. */
export type ApiBody =
  /** A JSON object; anything else (form data, broken or empty JSON, an array) is 47001. */
  | 'json'
  /** As `json`, but an empty body is 44002 (「POST的数据包为空」) first. */
  | 'non-empty-json'
  /** A JSON object or array, as WeCom checks it; anything else is 47001. */
  | 'json-or-array';

/** The preamble an API route shares with its siblings: who calls, and the body. */
export interface ApiOptions<Caller = unknown> {
  /**
   * Who is calling, from the request's credentials (an `access_token` and the like), or the
   * answer that refuses the call (41001, 40001, 42001, 48001…). Checked before the body.
   */
  auth?: (ctx: RouteContext) => Caller | Response | Promise<Caller | Response>;
  /** Read the body (see {@link ApiBody}); without it the handler reads what it needs itself. */
  body?: ApiBody;
  /** The answer for an unreadable body instead of 47001/44002 (`getwxacodeunlimit`: 40169). */
  badBody?: () => Response;
}

/** What an API handler receives: the route context, the caller and the body. */
export interface ApiContext<Caller, Body> extends RouteContext {
  caller: Caller;
  body: Body;
}

/** The caller an {@link ApiOptions.auth} gives (its answer without the refusals). */
export type CallerOf<O> = O extends { auth: (ctx: RouteContext) => infer R }
  ? Exclude<Awaited<R>, Response>
  : undefined;

/** The body an {@link ApiOptions.body} gives. */
export type BodyOf<O> = O extends { body: 'json' | 'non-empty-json' }
  ? Record<string, unknown>
  : O extends { body: 'json-or-array' }
    ? Record<string, unknown> | unknown[]
    : undefined;

/** A JSON object: not null, not an array. */
export function isJsonObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

async function readBody(
  ctx: RouteContext,
  mode: ApiBody,
): Promise<Record<string, unknown> | unknown[] | Response> {
  if (mode === 'non-empty-json' && (await ctx.text()).trim() === '')
    return wechatError(44002, 'empty post data');
  const body = await ctx.json();
  const readable = mode === 'json-or-array' ? typeof body === 'object' && body !== null : isJsonObject(body);
  if (!readable) {
    return wechatError(47001, 'data format error');
  }
  return body as Record<string, unknown> | unknown[];
}

/**
 * Wraps an API handler in the checks WeChat makes before serving a call: the caller's
 * credentials first (`auth`), then the body (`body`); the handler runs only when both pass.
 *
 * @example
 * router.add('POST', '/cgi-bin/menu/create', apiRoute(
 *   { auth: appToken(records, 'official-account'), body: 'json' },
 *   ({ caller, body }) => json({ errcode: 0, errmsg: 'ok' }),
 * ));
 */
export function apiRoute<const O extends ApiOptions>(
  options: O,
  handler: (ctx: ApiContext<CallerOf<O>, BodyOf<O>>) => Response | Promise<Response>,
): RouteHandler {
  return async (ctx) => {
    let caller: unknown;
    if (options.auth !== undefined) {
      const checked = await options.auth(ctx);
      if (checked instanceof Response) return checked;
      caller = checked;
    }
    let body: unknown;
    if (options.body !== undefined) {
      const read = await readBody(ctx, options.body);
      if (read instanceof Response) return options.badBody?.() ?? read;
      body = read;
    }
    return handler({ ...ctx, caller: caller as CallerOf<O>, body: body as BodyOf<O> });
  };
}
