/**
 * `weixin-kit/hono` — a callback handler as a Hono handler, on Node (through @hono/node-server),
 * Bun or Deno — each tested. Edge runtimes such as Cloudflare Workers are untested: weixin-kit
 * needs `node:crypto` and `Buffer`.
 *
 * Peer address (for a callback allowlist): taken from `c.env` on @hono/node-server (its
 * `incoming` socket), Deno (`remoteAddr`) and Bun (`requestIP`); elsewhere the callback gets none.
 *
 * Raw body: the handler reads the bytes of `c.req.raw` itself. If a middleware already read the
 * body through Hono's cache, the cached bytes (`arrayBuffer`/`blob`) or text (`text`, `json`:
 * Hono keeps the text it parsed, decoded once as UTF-8) are used. A body read only as form data,
 * or read straight off `c.req.raw`, is gone: the request is answered `500` with a message saying
 * what to change, and `onMisconfigured` is called.
 *
 * Hono is an optional peer dependency: this module imports only its types.
 */

import type { IncomingMessage } from 'node:http';
import type { Context } from 'hono';
import type { CallbackHandler } from '../callbacks/types.js';
import { answerFetch, peerAddressOf, toWebResponse } from './serve.js';
import {
  type BodyFound,
  BodyTooLargeError,
  badRequest,
  declaredLength,
  isBodyless,
  type MisconfigurableAdapterOptions,
  misconfigured,
  type ResolvedOptions,
  readRawBody,
  report,
  resolveOptions,
  runHandler,
  tooLarge,
} from './shared.js';

export type { CallbackHandler, CallbackRequest, CallbackResponse } from '../callbacks/types.js';
export type { MisconfigurableAdapterOptions as WeChatHonoOptions } from './shared.js';

/** A Hono handler: `(c) => Promise<Response>`. */
export type HonoHandler = (c: Context) => Promise<Response>;

/**
 * A Hono handler answering WeChat callbacks; mount it with `app.on(['GET', 'POST'], path, …)`
 * or `app.all`. It never throws into Hono.
 *
 * @example
 * import { Hono } from 'hono';
 * import { wechatHono } from 'weixin-kit/hono';
 *
 * const app = new Hono();
 * app.on(['GET', 'POST'], '/wechat', wechatHono(callback));
 * export default app;
 */
export function wechatHono(handler: CallbackHandler, options?: MisconfigurableAdapterOptions): HonoHandler {
  const resolved = resolveOptions('wechatHono', handler, options);
  return async (c) => {
    // On @hono/node-server with the body untouched: read the Node request itself (its bytes,
    // headers and target), not the Fetch Request built over it.
    const incoming = untouchedIncoming(c);
    if (incoming !== undefined) return answerNode(handler, resolved, c.req.method, incoming);
    const request = c.req.raw;
    let body: Uint8Array | string | undefined;
    try {
      if (!isBodyless(request.method)) {
        const found = await bodyLeftByMiddleware(c);
        if (found.kind === 'misconfigured') {
          report(resolved.onMisconfigured, found.message);
          return toWebResponse(misconfigured(found.message));
        }
        if (found.kind === 'raw') body = found.body;
      }
    } catch (error) {
      report(resolved.onError, error);
      return toWebResponse(badRequest());
    }
    // The peer: @hono/node-server's bindings, Deno's info or Bun's server, whichever is c.env.
    return toWebResponse(await answerFetch(handler, resolved, request, body, peerAddressOf(request, c.env)));
  };
}

/** The Node request under @hono/node-server, when no one has read its body (through Hono or not). */
function untouchedIncoming(c: Context): IncomingMessage | undefined {
  const incoming = (c.env as { incoming?: unknown } | undefined)?.incoming as IncomingMessage | undefined;
  if (
    typeof incoming !== 'object' ||
    incoming === null ||
    typeof incoming.url !== 'string' ||
    !incoming.url.startsWith('/') ||
    typeof incoming.headers !== 'object' ||
    incoming.readableDidRead ||
    incoming.readableEnded
  ) {
    return undefined;
  }
  const cache = c.req.bodyCache as Record<string, unknown>;
  for (const key in cache) if (cache[key] !== undefined) return undefined;
  return incoming;
}

async function answerNode(
  handler: CallbackHandler,
  options: ResolvedOptions,
  method: string,
  incoming: IncomingMessage,
): Promise<Response> {
  let rawBody: Uint8Array | undefined;
  if (!isBodyless(method)) {
    const declared = declaredLength(incoming.headers['content-length']);
    if (declared !== undefined && declared > options.limit) return toWebResponse(tooLarge());
    try {
      rawBody = await readRawBody(incoming, options);
    } catch (error) {
      return toWebResponse(error instanceof BodyTooLargeError ? tooLarge() : badRequest());
    }
  }
  const response = await runHandler(
    handler,
    {
      method,
      url: incoming.url as string,
      headers: incoming.headers,
      rawBody,
      remoteAddress: incoming.socket?.remoteAddress,
    },
    options,
  );
  return toWebResponse(response);
}

async function bodyLeftByMiddleware(c: Context): Promise<BodyFound> {
  // Hono caches promises there, whatever its type says.
  const cache = c.req.bodyCache as Record<string, unknown>;
  if (cache.arrayBuffer !== undefined || cache.blob !== undefined) {
    return { kind: 'raw', body: new Uint8Array(await c.req.arrayBuffer()) };
  }
  if (cache.text !== undefined) return { kind: 'raw', body: await c.req.text() };
  if (c.req.raw.bodyUsed) {
    const path = new URL(c.req.url).pathname;
    return {
      kind: 'misconfigured',
      message:
        `weixin-kit: the body of ${c.req.method} ${path} is no longer the raw bytes WeChat sent: ` +
        'a middleware already read it (as form data, or straight off c.req.raw). The callback ' +
        'cannot be verified on a re-serialised body. Let wechatHono() read the body first, or read ' +
        'it in middleware with c.req.arrayBuffer() / c.req.text().',
    };
  }
  return { kind: 'unread' };
}
