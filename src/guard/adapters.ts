/**
 * The framework adapters of `weixin-kit/guard`: each turns a framework's request into a
 * {@link GuardRequest}, runs a {@link GuardHandler} (route form) or an {@link Authenticator}
 * (middleware form), and writes the {@link GuardAnswer} back.
 *
 * Every framework is an optional peer: this module imports none of them, and its framework types
 * are structural. What the adapters guarantee, whatever the framework:
 * - `remoteAddress` is the TCP peer and `secure` the TLS state of this process's own connection;
 *   `X-Forwarded-*` headers are left to the guard's `trustProxy`;
 * - `json()` reads the body at most once, as bytes decoded once as UTF-8, at most `limit` bytes
 *   (counted in bytes, not characters), and only as `application/json` (a browser page cannot send
 *   that cross-site without a CORS preflight);
 * - nothing is ever thrown into the framework: a handler that fails gives a bare `500`.
 */
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import { BodyTooLargeError, declaredLength, readRawBody, readWebBody } from '../adapters/shared.js';
import { ConfigError, GuardError } from '../errors.js';
import { isThenable } from '../internal/thenable.js';
import { isTrustedAnswer, type ServeNow, serveNowOf, upperMethod } from './http.js';
import type { GuardAnswer, GuardHandler, GuardRequest, GuardSession } from './types.js';

/** Options of every guard adapter. */
export interface GuardAdapterOptions {
  /**
   * The largest JSON body `json()` reads, in bytes (UTF-8 bytes, not characters). Default 102400
   * (100 KiB); a larger body makes `json()` reject with `GuardError('PAYLOAD_TOO_LARGE')` (413).
   */
  limit?: number;
}

/** Options of {@link guardFetch}. */
export interface GuardFetchOptions extends GuardAdapterOptions {
  /**
   * The client's TCP address, when the host can tell it (a Fetch `Request` does not carry it):
   * e.g. `(request) => server.requestIP(request)?.address` on Bun.
   */
  remoteAddress?: (request: Request) => string | undefined;
}

/**
 * What the middleware adapters need of a guard: its `authenticate` method. On success the
 * session, and headers for the answer (`x-request-id`); else the refusal to send as it is.
 */
export interface Authenticator {
  authenticate(
    request: GuardRequest,
  ): Promise<
    { ok: true; session: GuardSession; headers: Record<string, string> } | { ok: false; answer: GuardAnswer }
  >;
}

/** What the middleware adapters attach to a request: `req.weixin`, `ctx.state.weixin`, `c.get('weixin')`. */
export interface GuardSessionState {
  /** The verified caller. */
  readonly session: GuardSession;
}

/** The part of a Node socket the adapters read. */
export interface GuardSocketLike {
  readonly remoteAddress?: string | undefined;
  /** `true` on a `TLSSocket`. */
  readonly encrypted?: boolean;
}

/** The part of Express's `Request` the Express adapters use (Express 4 and 5). */
export interface GuardExpressRequest extends IncomingMessage {
  /** What a body parser left (`express.json()`: the parsed object). */
  body?: unknown;
  /** The URL before any `app.use(path, …)` mount point was stripped. */
  originalUrl?: string;
  /** Set by {@link expressRequireSession}. */
  weixin?: GuardSessionState;
}

/** The part of Koa's `Context` the Koa adapters use (Koa 2 and 3). */
export interface GuardKoaContext {
  req: IncomingMessage;
  res: ServerResponse;
  method: string;
  /** The URL before any mount point was stripped. */
  originalUrl: string;
  /** `body`: what a body parser left. */
  request: { body?: unknown };
  /** {@link koaRequireSession} sets `state.weixin`. */
  state: Record<string, unknown>;
  status: number;
  body: unknown;
  set(field: string, value: string | string[]): void;
}

/** The part of Fastify's `FastifyRequest` the Fastify adapters use (Fastify 4 and 5). */
export interface GuardFastifyRequest {
  method: string;
  /** Path and query. */
  url: string;
  headers: IncomingHttpHeaders;
  /** What Fastify's content-type parser produced. */
  body?: unknown;
  raw: { readonly socket: GuardSocketLike | null };
  /** Set by {@link fastifyRequireSession}. */
  weixin?: GuardSessionState;
}

/** The part of Fastify's `FastifyReply` the Fastify adapters use. */
export interface GuardFastifyReply {
  code(statusCode: number): GuardFastifyReply;
  header(name: string, value: string | string[]): GuardFastifyReply;
  send(payload?: string): GuardFastifyReply;
  readonly sent: boolean;
  /** Settles once the answer is written (Fastify's replies are thenables). */
  then(fulfilled: () => void, rejected: (error: Error) => void): void;
}

/** The part of Hono's `Context` the Hono adapters use (Hono 4). */
export interface GuardHonoContext {
  req: {
    raw: Request;
    /** Hono's body cache (bodies read with `c.req.json()`, `c.req.text()`, …). */
    bodyCache: object;
  };
  /** On @hono/node-server: `{ incoming, outgoing }`. */
  env?: unknown;
  set(key: 'weixin', value: GuardSessionState): void;
  header(name: string, value: string, options?: { append?: boolean }): void;
}

/**
 * Mounts a guard route on plain `node:http`. The listener answers every request it gets.
 *
 * @example
 * import { createServer } from 'node:http';
 * import { guardNode } from 'weixin-kit/guard';
 *
 * const login = guardNode(guard.loginRoute());
 * createServer(login).listen(3000); // or call login(req, res) for the login path only
 */
export function guardNode(
  handler: GuardHandler,
  options?: GuardAdapterOptions,
): (req: IncomingMessage, res: ServerResponse) => void {
  const limit = resolveOptions('guardNode', options);
  checkHandler('guardNode', handler);
  const serve = serveNowOf(handler);
  return (req, res) => {
    const body = nodeBody(req, () => undefined, limit);
    const request = nodeRequest(req, req.url ?? '/', body);
    runThen('guardNode', serve, request, (answer) => writeNode(res, answer, body));
  };
}

/**
 * Mounts a guard route on Express 4 or 5. Works with or without `express.json()` in front: a body
 * it parsed is used as it is, else the stream is read here. It answers every request that reaches
 * it and never calls `next`.
 *
 * @example
 * import express from 'express';
 * import { guardExpress } from 'weixin-kit/guard';
 *
 * const app = express();
 * app.post('/api/login', guardExpress(guard.loginRoute()));
 * app.get('/api/me', guardExpress(guard.protect(({ session }) => ({ openid: session.openid }))));
 */
export function guardExpress(
  handler: GuardHandler,
  options?: GuardAdapterOptions,
): (req: GuardExpressRequest, res: ServerResponse, next?: (error?: unknown) => void) => void {
  const limit = resolveOptions('guardExpress', options);
  checkHandler('guardExpress', handler);
  const serve = serveNowOf(handler);
  return (req, res) => {
    const body = nodeBody(req, () => req.body, limit);
    const request = nodeRequest(req, req.originalUrl ?? req.url ?? '/', body);
    runThen('guardExpress', serve, request, (answer) => writeNode(res, answer, body));
  };
}

/**
 * Mounts a guard route on Koa 2 or 3 (on a router route, or as the last middleware). A body a
 * body parser left in `ctx.request.body` is used as it is, else `ctx.req` is read here.
 *
 * @example
 * import Koa from 'koa';
 * import Router from '@koa/router';
 * import { guardKoa } from 'weixin-kit/guard';
 *
 * const router = new Router();
 * router.post('/api/login', guardKoa(guard.loginRoute()));
 * new Koa().use(router.routes()).listen(3000);
 */
export function guardKoa(
  handler: GuardHandler,
  options?: GuardAdapterOptions,
): (ctx: GuardKoaContext, next?: () => Promise<unknown>) => Promise<void> {
  const limit = resolveOptions('guardKoa', options);
  checkHandler('guardKoa', handler);
  const serve = serveNowOf(handler);
  return (ctx) => {
    let body: NodeBody;
    let out: ReadyAnswer | Promise<ReadyAnswer>;
    try {
      body = nodeBody(ctx.req, () => ctx.request.body, limit);
      out = runNow('guardKoa', serve, nodeRequest(ctx.req, ctx.originalUrl, body, ctx.method));
    } catch (error) {
      return Promise.reject(error);
    }
    if (out instanceof Promise) return out.then((ready) => writeKoa(ctx, ready, body));
    writeKoa(ctx, out, body);
    return DONE;
  };
}

/**
 * A Fastify 4/5 route handler for a guard route. Fastify parses JSON itself before the handler
 * runs, so two of its own refusals come first: a body over the route's `bodyLimit` (default
 * 1 MiB; give the route `bodyLimit: 102400` to match the guard) and a malformed JSON body are
 * answered by Fastify's error handler, not in the guard's shape. Content types Fastify has no
 * parser for are refused by Fastify (`415`); a non-empty `text/plain` body is `BAD_BODY`.
 *
 * @example
 * import Fastify from 'fastify';
 * import { guardFastify } from 'weixin-kit/guard';
 *
 * const app = Fastify();
 * app.post('/api/login', { bodyLimit: 102400 }, guardFastify(guard.loginRoute()));
 * app.get('/api/me', guardFastify(guard.protect(({ session }) => ({ openid: session.openid }))));
 */
export function guardFastify(
  handler: GuardHandler,
  options?: GuardAdapterOptions,
): (request: GuardFastifyRequest, reply: GuardFastifyReply) => Promise<void> | undefined {
  const limit = resolveOptions('guardFastify', options);
  checkHandler('guardFastify', handler);
  const serve = serveNowOf(handler);
  return (request, reply) => {
    const out = runNow('guardFastify', serve, fastifyRequest(request, limit));
    // Sent in this step, the handler returns nothing: Fastify has no promise to wait for.
    if (!(out instanceof Promise)) {
      sendFastify(reply, out);
      return undefined;
    }
    return out.then((ready) => writeFastify(reply, ready));
  };
}

/**
 * A Hono 4 handler for a guard route. On @hono/node-server the TCP peer and TLS state come from
 * the Node socket (`c.env.incoming`); elsewhere `remoteAddress` is `undefined` and `secure` follows
 * the request URL's scheme. A body a middleware already read through `c.req` is reused.
 *
 * @example
 * import { Hono } from 'hono';
 * import { guardHono } from 'weixin-kit/guard';
 *
 * const app = new Hono();
 * app.post('/api/login', guardHono(guard.loginRoute()));
 * app.get('/api/me', guardHono(guard.protect(({ session }) => ({ openid: session.openid }))));
 */
export function guardHono(
  handler: GuardHandler,
  options?: GuardAdapterOptions,
): (c: GuardHonoContext) => Response | Promise<Response> {
  const limit = resolveOptions('guardHono', options);
  checkHandler('guardHono', handler);
  const serve = serveNowOf(handler);
  return (c) => {
    let answer: GuardAnswer | Promise<GuardAnswer>;
    try {
      answer = serve(honoRequest(c, limit));
    } catch (error) {
      return toResponse(failed('guardHono', error));
    }
    if (!isThenable(answer)) return honoResponse(answer);
    return Promise.resolve(answer).then(honoResponse, (error: unknown) =>
      toResponse(failed('guardHono', error)),
    );
  };
}

/**
 * A Fetch API handler (`Request → Response`) for a guard route: Bun, Deno, Next.js route
 * handlers, … `secure` is the scheme of `request.url`; trust it only where the host builds that
 * URL from the connection itself (Bun, Deno). `remoteAddress` comes from the `remoteAddress`
 * option, else is `undefined`.
 *
 * @example
 * import { guardFetch } from 'weixin-kit/guard';
 *
 * const login = guardFetch(guard.loginRoute(), {
 *   remoteAddress: (request) => server.requestIP(request)?.address,
 * });
 * const server = Bun.serve({ fetch: (request) => login(request) });
 */
export function guardFetch(
  handler: GuardHandler,
  options?: GuardFetchOptions,
): (request: Request) => Promise<Response> {
  const limit = resolveOptions('guardFetch', options, ['remoteAddress']);
  checkHandler('guardFetch', handler);
  const peer = options?.remoteAddress;
  if (peer !== undefined && typeof peer !== 'function') {
    throw new ConfigError(
      'INVALID_CONFIG',
      'guardFetch: remoteAddress must be a function (request) => string | undefined',
    );
  }
  return async (request) => {
    let remoteAddress: string | undefined;
    try {
      const address = peer?.(request);
      remoteAddress = typeof address === 'string' ? address : undefined;
    } catch (error) {
      return toResponse(failed('guardFetch', error));
    }
    const guardRequest = fetchRequest(request, limit, {
      remoteAddress,
      secure: protocolOf(request.url) === 'https:',
    });
    return toResponse(await runHandler('guardFetch', handler, guardRequest));
  };
}

/**
 * Express middleware that lets only callers with a valid session through: it sets
 * `req.weixin = { session }`, copies the guard's headers onto the response and calls `next()`;
 * else it answers with the guard's refusal (`401`, `429`, …) and the route never runs.
 *
 * @example
 * import { expressRequireSession } from 'weixin-kit/guard';
 *
 * app.use('/api/private', expressRequireSession(guard));
 * app.get('/api/private/orders', (req, res) => res.json(listOrders(req.weixin.session.openid)));
 */
export function expressRequireSession(
  guard: Authenticator,
  options?: GuardAdapterOptions,
): (req: GuardExpressRequest, res: ServerResponse, next: (error?: unknown) => void) => void {
  const limit = resolveOptions('expressRequireSession', options);
  checkAuthenticator('expressRequireSession', guard);
  return (req, res, next) => {
    const body = nodeBody(req, () => req.body, limit);
    const request = nodeRequest(req, req.originalUrl ?? req.url ?? '/', body);
    void authenticate('expressRequireSession', guard, request)
      .then((result) => {
        if (!result.ok) {
          writeNode(res, result.answer, body);
          return;
        }
        try {
          eachHeader(result.headers, (name, value) => setNodeHeader(res, name, value));
          req.weixin = { session: result.session };
        } catch (error) {
          writeNode(res, failed('expressRequireSession', error), body);
          return;
        }
        next();
      })
      .catch((error: unknown) => {
        // Only a throwing next() lands here: the app's error, reported, answered if still possible.
        writeNode(res, failed('expressRequireSession', error), body);
      });
  };
}

/**
 * Koa middleware that lets only callers with a valid session through: it sets
 * `ctx.state.weixin = { session }`, copies the guard's headers and awaits `next()`; else it
 * answers with the guard's refusal and the rest of the chain never runs.
 *
 * @example
 * import { koaRequireSession } from 'weixin-kit/guard';
 *
 * router.use('/api/private', koaRequireSession(guard));
 * router.get('/api/private/orders', (ctx) => {
 *   ctx.body = listOrders(ctx.state.weixin.session.openid);
 * });
 */
export function koaRequireSession(
  guard: Authenticator,
  options?: GuardAdapterOptions,
): (ctx: GuardKoaContext, next: () => Promise<unknown>) => Promise<void> {
  const limit = resolveOptions('koaRequireSession', options);
  checkAuthenticator('koaRequireSession', guard);
  return async (ctx, next) => {
    const body = nodeBody(ctx.req, () => ctx.request.body, limit);
    const request = nodeRequest(ctx.req, ctx.originalUrl, body, ctx.method);
    const result = await authenticate('koaRequireSession', guard, request);
    if (!result.ok) {
      writeKoa(ctx, result.answer, body);
      return;
    }
    try {
      eachHeader(result.headers, (name, value) => setNodeHeader(ctx.res, name, value));
      ctx.state.weixin = { session: result.session } satisfies GuardSessionState;
    } catch (error) {
      writeKoa(ctx, failed('koaRequireSession', error), body);
      return;
    }
    // Errors of the routes behind the guard are the app's: they go to Koa untouched.
    await next();
  };
}

/**
 * A Fastify `preHandler` hook that lets only callers with a valid session through: it sets
 * `request.weixin = { session }` and the guard's headers on the reply; else it answers with the
 * guard's refusal and the route handler never runs.
 *
 * @example
 * import { fastifyRequireSession } from 'weixin-kit/guard';
 *
 * app.decorateRequest('weixin', null);
 * app.get('/api/private/orders', { preHandler: fastifyRequireSession(guard) }, async (request) =>
 *   listOrders(request.weixin.session.openid),
 * );
 */
export function fastifyRequireSession(
  guard: Authenticator,
  options?: GuardAdapterOptions,
): (request: GuardFastifyRequest, reply: GuardFastifyReply) => Promise<void> {
  const limit = resolveOptions('fastifyRequireSession', options);
  checkAuthenticator('fastifyRequireSession', guard);
  return async (request, reply) => {
    const result = await authenticate('fastifyRequireSession', guard, fastifyRequest(request, limit));
    if (!result.ok) {
      await writeFastify(reply, result.answer);
      return;
    }
    try {
      eachHeader(result.headers, (name, value) => reply.header(name, value));
      request.weixin = { session: result.session };
    } catch (error) {
      await writeFastify(reply, failed('fastifyRequireSession', error));
    }
  };
}

/**
 * Hono middleware that lets only callers with a valid session through: it sets
 * `c.set('weixin', { session })` and the guard's headers, then awaits `next()`; else it returns
 * the guard's refusal and the route never runs.
 *
 * @example
 * import { Hono } from 'hono';
 * import { type GuardSessionState, honoRequireSession } from 'weixin-kit/guard';
 *
 * const app = new Hono<{ Variables: { weixin: GuardSessionState } }>();
 * app.use('/api/private/*', honoRequireSession(guard));
 * app.get('/api/private/orders', (c) => c.json(listOrders(c.get('weixin').session.openid)));
 */
export function honoRequireSession(
  guard: Authenticator,
  options?: GuardAdapterOptions,
): (c: GuardHonoContext, next: () => Promise<void>) => Promise<Response | undefined> {
  const limit = resolveOptions('honoRequireSession', options);
  checkAuthenticator('honoRequireSession', guard);
  return async (c, next) => {
    const result = await authenticate('honoRequireSession', guard, honoRequest(c, limit));
    if (!result.ok) return toResponse(result.answer);
    try {
      eachHeader(result.headers, (name, value) => {
        for (const one of toArray(value)) c.header(name, one, { append: name === 'set-cookie' });
      });
      c.set('weixin', { session: result.session });
    } catch (error) {
      return toResponse(failed('honoRequireSession', error));
    }
    await next();
    return undefined;
  };
}

// ---- options --------------------------------------------------------------------------------

/** 100 KiB: a login code, a refresh token or a form; nothing a Mini Program sends is larger. */
const DEFAULT_LIMIT = 102_400;

function resolveOptions(
  name: string,
  options: GuardAdapterOptions | undefined,
  extra: string[] = [],
): number {
  if (options === undefined) return DEFAULT_LIMIT;
  if (typeof options !== 'object' || options === null) {
    throw new ConfigError('INVALID_CONFIG', `${name}: options must be an object, e.g. { limit: 102400 }`);
  }
  const known = ['limit', ...extra];
  for (const key of Object.keys(options)) {
    if (!known.includes(key)) {
      throw new ConfigError(
        'INVALID_CONFIG',
        `${name}: unknown option "${key}" (known: ${known.join(', ')})`,
      );
    }
  }
  const limit = options.limit ?? DEFAULT_LIMIT;
  if (!Number.isSafeInteger(limit) || limit < 0) {
    throw new ConfigError(
      'INVALID_CONFIG',
      `${name}: limit must be a whole number of bytes >= 0, got ${String(limit)}`,
    );
  }
  return limit;
}

function checkHandler(name: string, handler: unknown): void {
  if (typeof handler !== 'function') {
    throw new ConfigError(
      'INVALID_CONFIG',
      `${name}: expected a guard route (a function, e.g. guard.loginRoute() or guard.protect(…)), got ${typeName(handler)}`,
    );
  }
}

function checkAuthenticator(name: string, guard: unknown): void {
  if (
    typeof guard !== 'object' ||
    guard === null ||
    typeof (guard as Authenticator).authenticate !== 'function'
  ) {
    throw new ConfigError(
      'INVALID_CONFIG',
      `${name}: expected the guard (an object with authenticate(request), from createGuard()), got ${typeName(guard)}`,
    );
  }
}

function typeName(value: unknown): string {
  return value === null ? 'null' : typeof value;
}

// ---- bodies ---------------------------------------------------------------------------------

const NOT_JSON = 'the body must be JSON (Content-Type: application/json)';
const utf8 = new TextDecoder('utf-8', { fatal: true });

function badBody(): GuardError {
  return new GuardError('BAD_BODY', NOT_JSON);
}

function tooLarge(limit: number): GuardError {
  return new GuardError('PAYLOAD_TOO_LARGE', `the body is larger than ${limit} bytes`);
}

function unreadable(cause: unknown): GuardError {
  return new GuardError('BAD_BODY', 'the request body could not be read (the client hung up?)', { cause });
}

/** `application/json` or `application/*+json`, in UTF-8 (the only charset JSON has, RFC 8259). */
function isJsonType(contentType: string | string[] | null | undefined): boolean {
  const text = Array.isArray(contentType) ? contentType[0] : contentType;
  if (typeof text !== 'string') return false;
  const [essence = '', ...params] = text.split(';');
  const type = essence.trim().toLowerCase();
  if (type !== 'application/json' && !/^application\/[!#$%&'*+.^_`|~0-9a-z-]+\+json$/.test(type))
    return false;
  for (const param of params) {
    const [key = '', value = ''] = param.split('=');
    if (key.trim().toLowerCase() !== 'charset') continue;
    const charset = value.trim().replace(/^"|"$/g, '').toLowerCase();
    if (charset !== 'utf-8' && charset !== 'utf8') return false;
  }
  return true;
}

/** The body as JSON, from its bytes (decoded once, whole) or from text a parser decoded. */
function parseBody(body: Uint8Array | string, contentType: string | string[] | null | undefined): unknown {
  const empty = typeof body === 'string' ? body.length === 0 : body.byteLength === 0;
  if (empty) return {};
  if (!isJsonType(contentType)) throw badBody();
  let text: string;
  try {
    text = typeof body === 'string' ? body : utf8.decode(body);
  } catch {
    throw badBody();
  }
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw badBody();
  }
}

/** Whether the request declares a body: a non-zero `Content-Length` or any `Transfer-Encoding`. */
function declaresBody(headers: IncomingHttpHeaders): boolean {
  const declared = declaredLength(headers['content-length']);
  if (declared !== undefined) return declared > 0;
  return headers['transfer-encoding'] !== undefined;
}

/**
 * The body a framework's parser left, as JSON: bytes or text are parsed here; a parsed value is
 * used as it is when the content type was JSON. Its size is the declared `Content-Length`, else
 * (chunked) the UTF-8 size of the value re-serialised, which is never much more than what was sent.
 */
function fromParsed(parsed: unknown, headers: IncomingHttpHeaders, limit: number): unknown {
  if (parsed instanceof Uint8Array || typeof parsed === 'string') {
    const size = typeof parsed === 'string' ? Buffer.byteLength(parsed, 'utf8') : parsed.byteLength;
    if (size > limit) throw tooLarge(limit);
    return parseBody(parsed, headers['content-type']);
  }
  if (!isJsonType(headers['content-type'])) {
    // A form or text a parser turned into something else: not JSON, unless there was nothing.
    if (declaresBody(headers)) throw badBody();
    return {};
  }
  if (parsed === undefined) return {};
  if (declaredLength(headers['content-length']) === undefined) {
    let size = 0;
    try {
      size = Buffer.byteLength(JSON.stringify(parsed) ?? '', 'utf8');
    } catch {
      // A value JSON cannot print (a BigInt from a custom parser): its size cannot be told.
    }
    if (size > limit) throw tooLarge(limit);
  }
  return parsed;
}

/** The lazy, memoised body of a Node request; `cutShort` tells the writer to close the connection. */
interface NodeBody {
  json(): Promise<unknown>;
  /** The body was refused part-way: its unread rest must not be drained on a kept-alive connection. */
  cutShort: boolean;
}

function nodeBody(req: IncomingMessage, parsed: () => unknown, limit: number): NodeBody {
  let memo: Promise<unknown> | undefined;
  const body: NodeBody = {
    cutShort: false,
    json: () => {
      memo ??= readNodeBody(req, parsed, limit).catch((error: unknown) => {
        if (!req.readableEnded) body.cutShort = true;
        throw error;
      });
      return memo;
    },
  };
  return body;
}

async function readNodeBody(req: IncomingMessage, parsed: () => unknown, limit: number): Promise<unknown> {
  const method = (req.method ?? 'GET').toUpperCase();
  if (method === 'GET' || method === 'HEAD') return {};
  const headers = req.headers;
  const declared = declaredLength(headers['content-length']);
  if (declared !== undefined && declared > limit) throw tooLarge(limit);
  if (!req.readableEnded && !req.readableDidRead) {
    let bytes: Buffer;
    try {
      bytes = await readRawBody(req, { limit });
    } catch (error) {
      throw error instanceof BodyTooLargeError ? tooLarge(limit) : unreadable(error);
    }
    return parseBody(bytes, headers['content-type']);
  }
  // A body parser read the stream: use what it left.
  const left = parsed();
  if (left === undefined && declaresBody(headers)) {
    // A plain Error: the guard answers a generic 500 and logs this for the developer.
    throw new Error(
      `weixin-kit guard: the body of ${method} ${req.url ?? '/'} was read by another middleware, which kept nothing ` +
        'in req.body / ctx.request.body; mount a JSON body parser (express.json()) or none before the guard route',
    );
  }
  return fromParsed(left, headers, limit);
}

function nodeRequest(req: IncomingMessage, url: string, body: NodeBody, method?: string): GuardRequest {
  const socket = req.socket as GuardSocketLike | null | undefined;
  return {
    method: upperMethod(method ?? req.method ?? 'GET'),
    url: pathAndQuery(url),
    headers: req.headers,
    remoteAddress: socket?.remoteAddress,
    secure: socket?.encrypted === true,
    json: body.json,
  };
}

function fastifyRequest(request: GuardFastifyRequest, limit: number): GuardRequest {
  const method = upperMethod(request.method);
  const headers = request.headers;
  let memo: Promise<unknown> | undefined;
  const socket = request.raw.socket;
  return {
    method,
    url: pathAndQuery(request.url),
    headers,
    remoteAddress: socket?.remoteAddress,
    secure: socket?.encrypted === true,
    json: () => {
      memo ??= readFastifyBody(request, method, limit);
      return memo;
    },
  };
}

async function readFastifyBody(
  request: GuardFastifyRequest,
  method: string,
  limit: number,
): Promise<unknown> {
  if (method === 'GET' || method === 'HEAD') return {};
  const declared = declaredLength(request.headers['content-length']);
  if (declared !== undefined && declared > limit) throw tooLarge(limit);
  // Fastify's parsers ran before the handler; the raw bytes are gone whatever the type was.
  return fromParsed(request.body, request.headers, limit);
}

function protocolOf(url: string): string | undefined {
  try {
    return new URL(url).protocol;
  } catch {
    return undefined;
  }
}

/**
 * Path and query. A Node request target may be absolute-form (`GET https://host/p?q HTTP/1.1`,
 * which proxies send and any client may): the guard is given its path and query all the same.
 */
function pathAndQuery(url: string): string {
  if (url.startsWith('/')) return url;
  try {
    const parsed = new URL(url);
    return parsed.pathname + parsed.search;
  } catch {
    return url;
  }
}

/** Hono's body cache (`c.req.bodyCache`): bodies a middleware read through `c.req`, by kind. */
type BodyCache = Record<string, Promise<unknown> | undefined>;

function fetchRequest(
  request: Request,
  limit: number,
  from: { remoteAddress: string | undefined; secure: boolean; bodyCache?: BodyCache },
): GuardRequest {
  const method = upperMethod(request.method);
  const headers: Record<string, string> = {};
  request.headers.forEach((value, name) => {
    headers[name] = value;
  });
  let memo: Promise<unknown> | undefined;
  return {
    method,
    url: fetchPathAndQuery(request.url),
    headers,
    remoteAddress: from.remoteAddress,
    secure: from.secure,
    json: () => {
      memo ??= readFetchBody(request, method, limit, from.bodyCache);
      return memo;
    },
  };
}

async function readFetchBody(
  request: Request,
  method: string,
  limit: number,
  cache: BodyCache | undefined,
): Promise<unknown> {
  if (method === 'GET' || method === 'HEAD') return {};
  const declared = declaredLength(request.headers.get('content-length'));
  if (declared !== undefined && declared > limit) {
    request.body?.cancel().catch(() => {});
    throw tooLarge(limit);
  }
  if (cache === undefined) {
    return parseBody(await readFetchBytes(request, limit), request.headers.get('content-type'));
  }
  const cached = Object.keys(cache).find((key) => cache[key] !== undefined);
  if (cached === undefined) {
    const bytes = await readFetchBytes(request, limit);
    // Kept where Hono looks, so routes behind honoRequireSession can still read the body.
    cache.arrayBuffer = Promise.resolve(bytes.slice().buffer);
    return parseBody(bytes, request.headers.get('content-type'));
  }
  // A middleware read it through c.req: what Hono kept (bytes, or text decoded once).
  const value = await cache[cached];
  const left = value instanceof Blob ? await value.arrayBuffer() : value;
  return fromParsed(left instanceof ArrayBuffer ? new Uint8Array(left) : left, headersOf(request), limit);
}

/**
 * The path and query of a Fetch request's URL, as `pathname + search`. `request.url` is a
 * serialised URL: for http(s) its path starts at the first `/` after the scheme's `//` (a `/` in
 * the user info is percent-encoded) and runs to the fragment, so it is sliced out without parsing
 * the URL again on every request.
 */
function fetchPathAndQuery(url: string): string {
  const after = url.startsWith('http://') ? 7 : url.startsWith('https://') ? 8 : -1;
  const start = after === -1 ? -1 : url.indexOf('/', after);
  if (start === -1) return pathAndQuery(url);
  const hash = url.indexOf('#', start);
  const path = hash === -1 ? url.slice(start) : url.slice(start, hash);
  // `search` is '' for an empty query: a lone '?' at the end is dropped.
  return path.indexOf('?') === path.length - 1 ? path.slice(0, -1) : path;
}

async function readFetchBytes(request: Request, limit: number): Promise<Uint8Array> {
  if (request.bodyUsed) {
    // A plain Error: the guard answers a generic 500 and logs this for the developer.
    throw new Error('weixin-kit guard: the request body was already read by someone else');
  }
  try {
    return await readWebBody(request.body, { limit });
  } catch (error) {
    throw error instanceof BodyTooLargeError ? tooLarge(limit) : unreadable(error);
  }
}

/** The Node socket of @hono/node-server (`c.env.incoming.socket`), when Hono runs there. */
function honoSocket(env: unknown): GuardSocketLike | undefined {
  if (typeof env !== 'object' || env === null) return undefined;
  const incoming = (env as { incoming?: unknown }).incoming;
  if (typeof incoming !== 'object' || incoming === null) return undefined;
  const socket = (incoming as { socket?: unknown }).socket;
  return typeof socket === 'object' && socket !== null ? (socket as GuardSocketLike) : undefined;
}

function honoRequest(c: GuardHonoContext, limit: number): GuardRequest {
  const request = c.req.raw;
  const socket = honoSocket(c.env);
  // On @hono/node-server the Node request is at hand: its headers and target are read as they
  // are, instead of building the Fetch Headers (and URL) of the request for them. The body is
  // still read through Hono (its body cache).
  const incoming = (
    c.env as { incoming?: { headers?: unknown; url?: unknown; method?: unknown } } | undefined
  )?.incoming;
  if (
    socket !== undefined &&
    typeof incoming?.headers === 'object' &&
    incoming.headers !== null &&
    typeof incoming.url === 'string' &&
    incoming.url.startsWith('/')
  ) {
    const method = upperMethod(request.method);
    const bodyCache = c.req.bodyCache as BodyCache;
    let memo: Promise<unknown> | undefined;
    return {
      method,
      url: incoming.url,
      headers: incoming.headers as IncomingHttpHeaders,
      remoteAddress: socket.remoteAddress,
      secure: socket.encrypted === true,
      json: () => {
        memo ??= readFetchBody(request, method, limit, bodyCache);
        return memo;
      },
    };
  }
  return fetchRequest(request, limit, {
    remoteAddress: socket?.remoteAddress,
    // The URL's scheme is what the client wrote when it sends an absolute-form target: on Node,
    // only the socket says whether this connection is TLS.
    secure: socket !== undefined ? socket.encrypted === true : protocolOf(request.url) === 'https:',
    bodyCache: c.req.bodyCache as BodyCache,
  });
}

function headersOf(request: Request): IncomingHttpHeaders {
  const out: IncomingHttpHeaders = {};
  request.headers.forEach((value, name) => {
    out[name] = value;
  });
  return out;
}

// ---- answers --------------------------------------------------------------------------------

/** An answer checked once and ready to write. */
interface ReadyAnswer {
  status: number;
  /** See {@link HeaderList}. */
  headers: HeaderList;
  /** `undefined`: no body at all. */
  body: string | undefined;
}

/**
 * Headers to write, flat: `[name, value, name, value, …]` (one array per answer rather than one per
 * header). Names lower-case; several cookies of one `Set-Cookie` as an array of values.
 */
type HeaderList = (string | string[])[];

function allText(list: HeaderList): list is string[] {
  for (let i = 1; i < list.length; i += 2) if (typeof list[i] !== 'string') return false;
  return true;
}

function eachHeader(list: HeaderList, visit: (name: string, value: string | string[]) => void): void {
  for (let i = 0; i < list.length; i += 2) visit(list[i] as string, list[i + 1] as string | string[]);
}

type AuthResult =
  | { ok: true; session: GuardSession; headers: HeaderList }
  | { ok: false; answer: ReadyAnswer };

const INTERNAL_ERROR_BODY = '{"error":{"code":"INTERNAL_ERROR","message":"internal error","requestId":""}}';

/** The answer to a handler that failed: nothing about the failure leaves the server. */
function internalError(): ReadyAnswer {
  return {
    status: 500,
    headers: [
      'content-type',
      'application/json; charset=utf-8',
      'x-content-type-options',
      'nosniff',
      'cache-control',
      'no-store',
    ],
    body: INTERNAL_ERROR_BODY,
  };
}

function failed(name: string, error: unknown): ReadyAnswer {
  try {
    console.error(`weixin-kit ${name}: the guard failed; answered 500`, error);
  } catch {
    // A broken console is not the client's problem.
  }
  return internalError();
}

const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
// What Node and the Fetch API both accept in a header value: no CR, LF, NUL or other controls.
const FIELD_VALUE = /^[\t\x20-\x7e\x80-\xff]*$/;
// Computed by every framework from the body actually sent; a handler's value could only be wrong.
const SKIPPED = new Set(['content-length', 'transfer-encoding']);

/**
 * The answer's headers as written, or `undefined` when one cannot be sent. `Set-Cookie` may hold
 * several cookies, one per line (one header each on the wire).
 */
function headerList(headers: unknown): HeaderList | undefined {
  if (typeof headers !== 'object' || headers === null) return undefined;
  const out: HeaderList = [];
  for (const name of Object.keys(headers)) {
    const value: unknown = (headers as Record<string, unknown>)[name];
    if (typeof value !== 'string' || !TOKEN.test(name)) return undefined;
    const lower = name.toLowerCase();
    if (SKIPPED.has(lower)) continue;
    if (lower === 'set-cookie') {
      const cookies = value.split('\n').filter((line) => line !== '');
      if (!cookies.every((line) => FIELD_VALUE.test(line))) return undefined;
      out.push(lower, cookies.length === 1 ? (cookies[0] as string) : cookies);
      continue;
    }
    if (!FIELD_VALUE.test(value)) return undefined;
    out.push(lower, value);
  }
  return out;
}

/** The headers of an answer the guard made itself ({@link isTrustedAnswer}): already sendable. */
function ownHeaderList(headers: Record<string, string>): HeaderList {
  // Made at its size (a few headers): no growing on the way.
  let size = 0;
  for (const _ in headers) size += 2;
  const out: HeaderList = new Array(size);
  let at = 0;
  for (const name in headers) {
    out[at++] = name;
    out[at++] = headers[name] as string;
  }
  return out;
}

/** The answer ready to write, or why it cannot be sent. */
function prepare(answer: unknown): ReadyAnswer | string {
  if (typeof answer !== 'object' || answer === null) return 'it is not a { status, headers, body } answer';
  const { status, body, headers } = answer as GuardAnswer;
  if (!Number.isInteger(status) || status < 200 || status > 599)
    return 'its status is not a number from 200 to 599';
  if (typeof body !== 'string') return 'its body is not a string';
  const list = isTrustedAnswer(answer) ? ownHeaderList(headers) : headerList(headers);
  if (list === undefined) return 'a header name or value cannot be sent (a line break?)';
  const noBody = body === '' || status === 204 || status === 205 || status === 304;
  return { status, headers: list, body: noBody ? undefined : body };
}

/**
 * An answer checked (once) and ready to write; a malformed one is reported (`what` says whose)
 * and replaced by the generic 500: nothing malformed ever leaves.
 */
function ready(name: string, answer: unknown, what: string): ReadyAnswer {
  const out = prepare(answer);
  return typeof out === 'string' ? failed(name, new TypeError(`${what}: ${out}`)) : out;
}

function toArray(value: string | string[]): string[] {
  return Array.isArray(value) ? value : [value];
}

/**
 * Runs a guard route and hands its checked answer to `write`: in this step when the route answered
 * at once, else in the same step as its promise settles.
 */
function runThen(
  name: string,
  serve: ServeNow,
  request: GuardRequest,
  write: (answer: ReadyAnswer) => void,
): void {
  let answer: GuardAnswer | Promise<GuardAnswer>;
  try {
    answer = serve(request);
  } catch (error) {
    writeSafely(write, failed(name, error));
    return;
  }
  // The writers catch what they meet; the guard below makes sure nothing escapes either.
  if (!isThenable(answer)) {
    writeSafely(write, ready(name, answer, ROUTE_ANSWER));
    return;
  }
  void Promise.resolve(answer).then(
    (value) => writeSafely(write, ready(name, value, ROUTE_ANSWER)),
    (error: unknown) => writeSafely(write, failed(name, error)),
  );
}

const ROUTE_ANSWER = 'the guard route answered something that cannot be sent';

// What Koa is handed when the answer was written in the same step (koa-compose wraps it as is).
const DONE: Promise<void> = Promise.resolve();

function writeSafely(write: (answer: ReadyAnswer) => void, answer: ReadyAnswer): void {
  try {
    write(answer);
  } catch {
    // Nothing sensible is left to send; never let it reach the framework.
  }
}

/** Runs a guard route: its checked answer now when it answered at once, else a promise of it. Never rejects. */
function runNow(name: string, serve: ServeNow, request: GuardRequest): ReadyAnswer | Promise<ReadyAnswer> {
  let answer: GuardAnswer | Promise<GuardAnswer>;
  try {
    answer = serve(request);
  } catch (error) {
    return failed(name, error);
  }
  if (!isThenable(answer)) return ready(name, answer, ROUTE_ANSWER);
  return Promise.resolve(answer).then(
    (value) => ready(name, value, ROUTE_ANSWER),
    (error: unknown) => failed(name, error),
  );
}

/** Runs a guard route to its checked answer. Never rejects. */
function runHandler(name: string, handler: GuardHandler, request: GuardRequest): Promise<ReadyAnswer> {
  const out = runNow(name, handler, request);
  return out instanceof Promise ? out : Promise.resolve(out);
}

async function authenticate(name: string, guard: Authenticator, request: GuardRequest): Promise<AuthResult> {
  try {
    const result = await guard.authenticate(request);
    if (typeof result !== 'object' || result === null) throw new TypeError('authenticate() answered nothing');
    if (result.ok === true) {
      const headers = headerList(result.headers ?? {});
      if (typeof result.session !== 'object' || result.session === null || headers === undefined) {
        throw new TypeError(
          'authenticate() answered ok without a session or with headers that cannot be sent',
        );
      }
      return { ok: true, session: result.session, headers };
    }
    return {
      ok: false,
      answer: ready(name, result.answer, 'authenticate() refused with an answer that cannot be sent'),
    };
  } catch (error) {
    return { ok: false, answer: failed(name, error) };
  }
}

function setNodeHeader(res: ServerResponse, name: string, value: string | string[]): void {
  if (name === 'set-cookie') {
    // Cookies other middleware set stay: one more Set-Cookie header each.
    const before = res.getHeader('set-cookie');
    const kept = before === undefined ? [] : Array.isArray(before) ? before : [String(before)];
    res.setHeader(name, [...kept, ...toArray(value)]);
    return;
  }
  res.setHeader(name, value);
}

function writeNode(res: ServerResponse, out: ReadyAnswer, body: NodeBody): void {
  if (res.headersSent || res.writableEnded) return;
  try {
    // One writeHead with a flat [name, value, …] list: Node's fast path when no header was set
    // before (a middleware's headers, if any, are merged by Node; cookies are kept, see below).
    const list = out.headers;
    let raw: string[];
    if (res.getHeaderNames().length > 0) {
      raw = [];
      eachHeader(list, (name, value) => setNodeHeader(res, name, value));
    } else if (allText(list)) {
      // The usual case (no cookie list): the answer's own list is the raw list. Every ReadyAnswer
      // is made for one request (internalError() builds a new one too), so extending it is safe.
      raw = list;
    } else {
      raw = [];
      eachHeader(list, (name, value) => {
        for (const one of toArray(value)) raw.push(name, one);
      });
    }
    if (body.cutShort) raw.push('connection', 'close');
    if (out.body === undefined) {
      res.writeHead(out.status, raw);
      res.end();
    } else {
      raw.push('content-length', String(Buffer.byteLength(out.body, 'utf8')));
      res.writeHead(out.status, raw);
      res.end(out.body);
    }
  } catch {
    // Nothing sensible is left to send; never let it reach the framework.
    if (!res.headersSent) res.statusCode = 500;
    if (!res.writableEnded) res.end();
  }
}

function writeKoa(ctx: GuardKoaContext, out: ReadyAnswer, body: NodeBody): void {
  try {
    ctx.status = out.status;
    eachHeader(out.headers, (name, value) => setNodeHeader(ctx.res, name, value));
    if (body.cutShort) ctx.set('connection', 'close');
    // '' rather than null: Koa turns a null body into 204 (or the text "null" for JSON).
    ctx.body = out.body ?? '';
  } catch {
    ctx.status = 500;
    ctx.body = '';
  }
}

/** Sends an answer on Fastify's reply; false when that threw (the client went away). */
function sendFastify(reply: GuardFastifyReply, out: ReadyAnswer): boolean {
  try {
    reply.code(out.status);
    const list = out.headers;
    for (let i = 0; i < list.length; i += 2)
      reply.header(list[i] as string, list[i + 1] as string | string[]);
    reply.send(out.body);
    return true;
  } catch {
    // The client went away while the answer was written: nothing left to do.
    return false;
  }
}

/** Sends an answer from an async handler and waits until it is written. */
async function writeFastify(reply: GuardFastifyReply, out: ReadyAnswer): Promise<void> {
  if (!sendFastify(reply, out)) return;
  try {
    // Settles once written, so Fastify never sends a second answer (async onSend hooks).
    await reply;
  } catch {
    // The client went away while the answer was written: nothing left to do.
  }
}

/** A Hono answer: the guard's own answers (headers it made, one value each) go out as they are. */
function honoResponse(answer: GuardAnswer): Response {
  return isTrustedAnswer(answer)
    ? new Response(answer.body, { status: answer.status, headers: answer.headers })
    : toResponse(ready('guardHono', answer, ROUTE_ANSWER));
}

function toResponse(out: ReadyAnswer): Response {
  return new Response(out.body ?? null, { status: out.status, headers: responseHeaders(out.headers) });
}

/**
 * The headers as a plain record, the cheapest form for `new Response` (on @hono/node-server it is
 * written as it is); a `Headers` only when a name has several values (cookies).
 */
function responseHeaders(list: HeaderList): Record<string, string> | Headers {
  const record: Record<string, string> = Object.create(null);
  for (let i = 0; i < list.length; i += 2) {
    const name = list[i] as string;
    const value = list[i + 1];
    if (typeof value !== 'string' || name in record) return fetchHeaders(list);
    record[name] = value;
  }
  return record;
}

function fetchHeaders(list: HeaderList): Headers {
  const headers = new Headers();
  eachHeader(list, (name, value) => {
    for (const one of toArray(value)) headers.append(name, one);
  });
  return headers;
}
