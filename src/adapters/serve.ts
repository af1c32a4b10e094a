/**
 * The two ways an adapter answers: on a `node:http` response (Node, Express, Koa) or as a Fetch
 * `Response` (Fetch hosts, Hono). Private to `src/adapters/`.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { CallbackHandler, CallbackRequest, CallbackResponse } from '../callbacks/types.js';
import { byteLength } from '../internal/bytes.js';
import {
  BodyTooLargeError,
  badRequest,
  declaredLength,
  internalError,
  isBodyless,
  pathAndQuery,
  type ResolvedOptions,
  readNodeBody,
  readWebBody,
  responseHeaders,
  runHandler,
  tooLarge,
  writeNode,
} from './shared.js';

/**
 * Answers one `node:http` request: reads the raw body (unless a caller already has it), runs the
 * handler, writes the answer. Shared by the Node, Express and Koa adapters.
 */
export async function serveNode(
  handler: CallbackHandler,
  options: ResolvedOptions,
  req: IncomingMessage,
  res: ServerResponse,
  url: string,
  body?: Uint8Array | string,
): Promise<void> {
  const method = req.method ?? 'GET';
  let rawBody: Uint8Array | string | undefined = body;
  if (rawBody === undefined && !isBodyless(method)) {
    try {
      rawBody = await readNodeBody(req, options.limit);
    } catch (error) {
      writeNode(res, error instanceof BodyTooLargeError ? tooLarge() : badRequest());
      return;
    }
  }
  if (rawBody !== undefined && byteLength(rawBody) > options.limit) {
    writeNode(res, tooLarge());
    return;
  }
  const request: CallbackRequest = {
    method,
    url,
    headers: req.headers,
    rawBody,
    remoteAddress: req.socket?.remoteAddress,
  };
  writeNode(res, await runHandler(handler, request, options));
}

/**
 * Answers a Fetch `Request` (or the bytes a framework already read from it); never throws. A Fetch
 * `Request` carries no peer address: the host passes it as `remoteAddress` when it knows it.
 */
export async function answerFetch(
  handler: CallbackHandler,
  options: ResolvedOptions,
  request: Request,
  body?: Uint8Array | string,
  remoteAddress?: string,
): Promise<CallbackResponse> {
  const method = request.method;
  let rawBody: Uint8Array | string | undefined = body;
  if (rawBody === undefined && !isBodyless(method)) {
    const declared = declaredLength(request.headers.get('content-length'));
    if (declared !== undefined && declared > options.limit) {
      request.body?.cancel().catch(() => {});
      return tooLarge();
    }
    try {
      // With a declared length within the limit, the runtime's own arrayBuffer() is ~3x faster
      // than pulling the stream chunk by chunk; the size is still checked below.
      rawBody =
        declared !== undefined
          ? new Uint8Array(await request.arrayBuffer())
          : await readWebBody(request.body, options);
    } catch (error) {
      return error instanceof BodyTooLargeError ? tooLarge() : badRequest();
    }
  }
  if (rawBody !== undefined && byteLength(rawBody) > options.limit) return tooLarge();
  return runHandler(
    handler,
    { method, url: pathAndQuery(request.url), headers: request.headers, rawBody, remoteAddress },
    options,
  );
}

/**
 * What a Fetch host knows of the connection, as the second argument of its handler. A Fetch
 * `Request` carries no peer address; these shapes are read, the first that gives one wins:
 * `{ remoteAddress }` (pass it yourself), @hono/node-server's bindings `{ incoming }` (what
 * `getRequestListener` and `serve` pass), Deno's `ServeHandlerInfo` `{ remoteAddr: { hostname } }`
 * (`Deno.serve(handler)`), Bun's `Server` with `requestIP(request)` (`Bun.serve({ fetch: handler })`).
 */
export interface FetchPeer {
  remoteAddress?: string | undefined;
  incoming?: { socket?: { remoteAddress?: string | undefined } | undefined } | undefined;
  remoteAddr?: { hostname?: string | undefined } | undefined;
  requestIP?: ((request: Request) => { address?: string | undefined } | null | undefined) | undefined;
}

/** The peer address a Fetch host passed along with `request` (see {@link FetchPeer}), if any. */
export function peerAddressOf(request: Request, peer: unknown): string | undefined {
  if (typeof peer !== 'object' || peer === null) return undefined;
  const info = peer as FetchPeer & { server?: FetchPeer };
  try {
    if (typeof info.remoteAddress === 'string') return info.remoteAddress;
    const bindings = info.incoming !== undefined ? info : info.server;
    const socketAddress = bindings?.incoming?.socket?.remoteAddress;
    if (typeof socketAddress === 'string') return socketAddress;
    if (typeof info.remoteAddr?.hostname === 'string') return info.remoteAddr.hostname;
    if (typeof info.requestIP === 'function') {
      const address = info.requestIP(request)?.address;
      if (typeof address === 'string') return address;
    }
  } catch {
    // A host object that does not behave: no peer address, so an allowlist refuses.
  }
  return undefined;
}

/** A Fetch `Response` carrying an answer. */
export function toWebResponse(response: CallbackResponse): Response {
  // A plain record is the cheapest headers form for `new Response` (@hono/node-server writes it
  // as it is); names are unique here (one value per name, the last one set wins as with set()).
  const headers: Record<string, string> = {};
  for (const [name, value] of responseHeaders(response)) headers[name.toLowerCase()] = value;
  // A null-body status (204, 304, 1xx) must not be given a body, not even an empty one.
  const noBody = response.status === 204 || response.status === 205 || response.status === 304;
  try {
    return new Response(noBody ? null : response.body, { status: response.status, headers });
  } catch {
    // A header the Fetch API refuses: the handler's answer cannot be sent as it is.
    return toWebResponse(internalError());
  }
}
