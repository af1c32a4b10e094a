/**
 * `weixin-kit/node` — serve a callback handler from plain `node:http` (`toNodeListener`) or from
 * any host that speaks the Fetch API's `Request -> Response` (`toFetchHandler`: Bun and Deno, both
 * tested; Hono; Next.js route handlers on the Node runtime; …). Edge runtimes such as Cloudflare
 * Workers are untested: weixin-kit needs `node:crypto` and `Buffer`.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { CallbackHandler } from '../callbacks/types.js';
import { answerFetch, type FetchPeer, peerAddressOf, serveNode, toWebResponse } from './serve.js';
import { type AdapterOptions, report, resolveOptions } from './shared.js';

export type {
  CallbackHandler,
  CallbackHeaders,
  CallbackRequest,
  CallbackResponse,
} from '../callbacks/types.js';
export type { FetchPeer } from './serve.js';
export type { AdapterOptions } from './shared.js';

/** A `node:http` request listener, as `http.createServer` takes it. */
export type NodeListener = (req: IncomingMessage, res: ServerResponse) => void;

/**
 * A Fetch API handler: a `Request` in, a `Response` out. The optional second argument is what the
 * host knows of the connection (see {@link FetchPeer}): it gives the callback the peer address an
 * allowlist needs.
 */
export type FetchHandler = (request: Request, peer?: FetchPeer) => Promise<Response>;

/**
 * Turns a callback handler into a `node:http` request listener. The listener answers every
 * request it gets, so mount it on the callback path only. Its body is read as bytes (at most
 * `limit`, default 1 MiB, else `413`); a handler that throws gives a generic `500`.
 *
 * @example
 * import { createServer } from 'node:http';
 * import { toNodeListener } from 'weixin-kit/node';
 *
 * createServer(toNodeListener(callback)).listen(3000);
 */
export function toNodeListener(handler: CallbackHandler, options?: AdapterOptions): NodeListener {
  const resolved = resolveOptions('toNodeListener', handler, options);
  return (req, res) => {
    serveNode(handler, resolved, req, res, req.url ?? '/').catch((error: unknown) => {
      report(resolved.onError, error);
    });
  };
}

/**
 * Turns a callback handler into a Fetch API handler (`Request -> Response`). The body is read
 * from `request.body` as bytes, at most `limit` (default 1 MiB, else `413`); the handler sees the
 * request's path and query as its `url`.
 *
 * A Fetch `Request` does not say who sent it. The handler's second argument does, when the host
 * passes one: Deno's `info`, Bun's `server`, @hono/node-server's bindings, or your own
 * `{ remoteAddress }` ({@link FetchPeer}). Without it the callback gets no `remoteAddress`, and an
 * allowlist refuses the request.
 *
 * @example
 * import { toFetchHandler } from 'weixin-kit/node';
 *
 * const wechat = toFetchHandler(callback);
 * Deno.serve(wechat); // or Bun.serve({ fetch: wechat }); both pass the peer along
 * // elsewhere: (request) => wechat(request, { remoteAddress: peerOf(request) })
 */
export function toFetchHandler(handler: CallbackHandler, options?: AdapterOptions): FetchHandler {
  const resolved = resolveOptions('toFetchHandler', handler, options);
  return async (request, peer) =>
    toWebResponse(await answerFetch(handler, resolved, request, undefined, peerAddressOf(request, peer)));
}
