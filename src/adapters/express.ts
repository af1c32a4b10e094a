/**
 * `weixin-kit/express` — a callback handler as Express middleware (Express 4 and 5).
 *
 * Raw body: the middleware reads the request stream itself when nothing read it before. It also
 * accepts what `express.raw()` left in `req.body` (a Buffer: the bytes as received) and what
 * `express.text()` left there (a string) when that string was decoded as UTF-8 — the default,
 * and WeChat's only charset — because decoding UTF-8 once, whole, loses nothing a signature
 * covers. A body that `express.json()` / `express.urlencoded()` (or any parser) already turned
 * into an object, or text decoded from another charset, cannot be trusted to be what WeChat
 * sent: it is never re-serialised; the request is answered `500` with a message saying how to
 * mount the middleware, and `onMisconfigured` is called.
 *
 * Express is an optional peer dependency: this module imports nothing from it, and its types
 * are structural, so `@types/express` is not needed either.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { CallbackHandler } from '../callbacks/types.js';
import { serveNode } from './serve.js';
import {
  type BodyFound,
  charsetOf,
  isBodyless,
  isUtf8Charset,
  type MisconfigurableAdapterOptions,
  misconfigured,
  report,
  resolveOptions,
  writeNode,
} from './shared.js';

export type { CallbackHandler, CallbackRequest, CallbackResponse } from '../callbacks/types.js';
export type { MisconfigurableAdapterOptions as WeChatExpressOptions } from './shared.js';

/** The part of Express's `Request` the middleware uses. */
export interface ExpressLikeRequest extends IncomingMessage {
  /** Whatever a body parser left: a Buffer (`express.raw`), a string (`express.text`), an object. */
  body?: unknown;
  /** The URL before any `app.use(path, …)` mount point was stripped. */
  originalUrl?: string;
}

/** Express middleware: `(req, res, next) => void`. */
export type ExpressMiddleware = (
  req: ExpressLikeRequest,
  res: ServerResponse,
  next?: (error?: unknown) => void,
) => void;

/**
 * Express middleware answering WeChat callbacks on the route it is mounted on. Mount it before
 * any body parser (or give its route `express.raw({ type: '*\/*' })`); it answers every request
 * that reaches it and never passes an error to `next`.
 *
 * @example
 * import express from 'express';
 * import { wechatExpress } from 'weixin-kit/express';
 *
 * const app = express();
 * app.all('/wechat', wechatExpress(callback)); // before app.use(express.json()) elsewhere
 * app.listen(3000);
 */
export function wechatExpress(
  handler: CallbackHandler,
  options?: MisconfigurableAdapterOptions,
): ExpressMiddleware {
  const resolved = resolveOptions('wechatExpress', handler, options);
  return (req, res) => {
    const url = req.originalUrl ?? req.url ?? '/';
    const method = req.method ?? 'GET';
    let body: Uint8Array | string | undefined;
    if (!isBodyless(method)) {
      const found = bodyLeftByParser(req, method, url);
      if (found.kind === 'misconfigured') {
        report(resolved.onMisconfigured, found.message);
        writeNode(res, misconfigured(found.message));
        return;
      }
      if (found.kind === 'raw') body = found.body;
    }
    serveNode(handler, resolved, req, res, url, body).catch((error: unknown) => {
      report(resolved.onError, error);
    });
  };
}

/** What a body parser left of the raw body, if anything. */
function bodyLeftByParser(req: ExpressLikeRequest, method: string, url: string): BodyFound {
  const { body } = req;
  if (body instanceof Uint8Array) return { kind: 'raw', body };
  const contentType = req.headers['content-type'];
  if (typeof body === 'string') {
    if (isUtf8Charset(contentType)) return { kind: 'raw', body };
    return {
      kind: 'misconfigured',
      message: explain(
        method,
        url,
        `express.text() decoded it from charset ${charsetOf(contentType)}, not UTF-8`,
      ),
    };
  }
  if (req.readableEnded || req.readableDidRead) {
    return {
      kind: 'misconfigured',
      message: explain(method, url, `a body parser already parsed it into ${describe(body)}`),
    };
  }
  return { kind: 'unread' };
}

function describe(body: unknown): string {
  if (body === undefined) return 'nothing (the stream was read)';
  if (body === null) return 'null';
  return Array.isArray(body) ? 'an array' : `a${typeof body === 'object' ? 'n object' : ` ${typeof body}`}`;
}

function explain(method: string, url: string, what: string): string {
  const path = url.split('?')[0];
  return (
    `weixin-kit: the body of ${method} ${path} is no longer the raw bytes WeChat sent: ${what}. ` +
    'The callback cannot be verified on a re-serialised body. Mount wechatExpress() before any ' +
    "body parser (app.use(express.json()) etc.), or give this route express.raw({ type: '*/*' })."
  );
}
