/**
 * `weixin-kit/koa` — a callback handler as Koa middleware (Koa 2 and 3).
 *
 * Raw body: the middleware reads `ctx.req` itself when nothing read it before. It also accepts
 * a Buffer left in `ctx.request.body` (a raw-body reader) and the string that koa-bodyparser /
 * @koa/bodyparser keep in `ctx.request.rawBody` when it was decoded as UTF-8 (the default, and
 * WeChat's only charset): that string is the original text decoded once, whole, so it still is
 * what WeChat signed. If a parser consumed the stream and kept neither, the request is answered
 * `500` with a message saying how to mount the middleware, and `onMisconfigured` is called.
 *
 * Koa is an optional peer dependency: this module imports nothing from it, and its types are
 * structural, so `@types/koa` is not needed either.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { CallbackHandler, CallbackResponse } from '../callbacks/types.js';
import { byteLength } from '../internal/bytes.js';
import {
  type BodyFound,
  BodyTooLargeError,
  badRequest,
  charsetOf,
  internalError,
  isBodyless,
  isUtf8Charset,
  type MisconfigurableAdapterOptions,
  misconfigured,
  type ResolvedOptions,
  readNodeBody,
  report,
  resolveOptions,
  responseHeaders,
  runHandler,
  tooLarge,
} from './shared.js';

export type { CallbackHandler, CallbackRequest, CallbackResponse } from '../callbacks/types.js';

/** Options of {@link wechatKoa}. */
export interface WeChatKoaOptions extends MisconfigurableAdapterOptions {
  /**
   * Answer only requests whose path is exactly this (`/wechat`) and pass the others to `next`.
   * Without it the middleware answers everything that reaches it (mount it on a router route).
   */
  path?: string;
}

/** The part of Koa's `Context` the middleware uses. */
export interface KoaLikeContext {
  req: IncomingMessage;
  res: ServerResponse;
  method: string;
  path: string;
  /** The URL before any mount point was stripped. */
  originalUrl: string;
  request: { body?: unknown; rawBody?: unknown };
  status: number;
  body: unknown;
  set(field: string, value: string): void;
}

/** Koa middleware. */
export type KoaMiddleware = (ctx: KoaLikeContext, next: () => Promise<unknown>) => Promise<void>;

/**
 * Koa middleware answering WeChat callbacks. Mount it before any body parser, or keep one that
 * leaves `ctx.request.rawBody` (koa-bodyparser does); it never throws into Koa.
 *
 * @example
 * import Koa from 'koa';
 * import { wechatKoa } from 'weixin-kit/koa';
 *
 * const app = new Koa();
 * app.use(wechatKoa(callback, { path: '/wechat' }));
 * app.listen(3000);
 */
export function wechatKoa(handler: CallbackHandler, options?: WeChatKoaOptions): KoaMiddleware {
  const resolved = resolveOptions('wechatKoa', handler, options);
  const only = options?.path;
  if (only !== undefined && (typeof only !== 'string' || !only.startsWith('/'))) {
    throw new TypeError(`wechatKoa: path must start with "/", got ${String(only)}`);
  }
  return async (ctx, next) => {
    if (only !== undefined && ctx.path !== only) {
      await next();
      return;
    }
    try {
      answer(ctx, await respond(handler, resolved, ctx));
    } catch (error) {
      // Only a failing hook or a broken context can land here; Koa still gets no exception.
      report(resolved.onError, error);
      answer(ctx, internalError());
    }
  };
}

async function respond(
  handler: CallbackHandler,
  resolved: ResolvedOptions,
  ctx: KoaLikeContext,
): Promise<CallbackResponse> {
  const method = ctx.method;
  let body: Uint8Array | string | undefined;
  if (!isBodyless(method)) {
    const found = bodyLeftByParser(ctx, method);
    if (found.kind === 'misconfigured') {
      report(resolved.onMisconfigured, found.message);
      return misconfigured(found.message);
    }
    if (found.kind === 'raw') {
      body = found.body;
    } else {
      try {
        body = await readNodeBody(ctx.req, resolved.limit);
      } catch (error) {
        return error instanceof BodyTooLargeError ? tooLarge() : badRequest();
      }
    }
    if (byteLength(body) > resolved.limit) return tooLarge();
  }
  return runHandler(
    handler,
    {
      method,
      url: ctx.originalUrl,
      headers: ctx.req.headers,
      rawBody: body,
      remoteAddress: ctx.req.socket?.remoteAddress,
    },
    resolved,
  );
}

function bodyLeftByParser(ctx: KoaLikeContext, method: string): BodyFound {
  const { body, rawBody } = ctx.request;
  if (body instanceof Uint8Array) return { kind: 'raw', body };
  if (rawBody instanceof Uint8Array) return { kind: 'raw', body: rawBody };
  const contentType = ctx.req.headers['content-type'];
  if (typeof rawBody === 'string') {
    if (isUtf8Charset(contentType)) return { kind: 'raw', body: rawBody };
    return {
      kind: 'misconfigured',
      message: explain(method, ctx.path, `the body parser decoded it from charset ${charsetOf(contentType)}`),
    };
  }
  if (ctx.req.readableEnded || ctx.req.readableDidRead) {
    return {
      kind: 'misconfigured',
      message: explain(method, ctx.path, 'a body parser already read it and kept no ctx.request.rawBody'),
    };
  }
  return { kind: 'unread' };
}

function explain(method: string, path: string, what: string): string {
  return (
    `weixin-kit: the body of ${method} ${path} is no longer the raw bytes WeChat sent: ${what}. ` +
    'The callback cannot be verified on a re-serialised body. Mount wechatKoa() before any body ' +
    'parser, or use one that keeps ctx.request.rawBody (koa-bodyparser does).'
  );
}

function answer(ctx: KoaLikeContext, response: CallbackResponse): void {
  ctx.status = response.status;
  for (const [name, value] of responseHeaders(response)) ctx.set(name, value);
  ctx.body = response.body;
}
