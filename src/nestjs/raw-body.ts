/**
 * Keeps the raw bytes of WeChat's signed requests away from Nest's body parsers, on both Nest
 * platforms. Nest registers its JSON and urlencoded parsers for the whole app, before any route
 * runs, and Fastify refuses content types it has no parser for (`text/xml`, `415`). Pay v3
 * signatures are over the exact bytes, and a parsed body cannot be turned back into them.
 *
 * So, when the module is instantiated (inside `NestFactory.create`, before `app.init()` registers
 * the parsers and the routes), it installs one early step on the HTTP platform:
 * - Express: a middleware registered before Nest's parsers;
 * - Fastify: a `preParsing` hook (and a `preValidation` one to undo it).
 *
 * The step acts only on requests signed the WeChat way — a `signature` or `msg_signature` query
 * parameter (Official Account, Mini Program, WeCom and Open Platform pushes) or a
 * `Wechatpay-Signature` header (Pay v3 notifications) — with a body: it reads the body as bytes
 * (at most 1 MiB, else `413`), keeps them for the callback route, and leaves nothing for a parser.
 * Other requests are untouched. Private to `weixin-kit/nestjs`.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { Readable } from 'node:stream';
import {
  BodyTooLargeError,
  badRequest,
  DEFAULT_BODY_LIMIT,
  declaredLength,
  isBodyless,
  readRawBody,
  responseHeaders,
  tooLarge,
  writeNode,
} from '../adapters/shared.js';
import type { CallbackResponse } from '../callbacks/types.js';

/** What the early step left for a request: the raw bytes, or the answer it could not read them. */
export type Captured = { bytes: Buffer } | { refusal: CallbackResponse };

const captured = new WeakMap<IncomingMessage, Captured>();
/** Fastify: the headers hidden from its content-type parsers, put back before the route runs. */
const hidden = new WeakMap<IncomingMessage, Record<string, string | string[] | undefined>>();
const installed = new WeakSet<object>();

/** The raw body the early step kept for this request, if it kept one. */
export function capturedBody(req: IncomingMessage): Captured | undefined {
  return captured.get(req);
}

/** True when the request carries WeChat's signature (query parameter or Pay v3 header). */
export function isSignedByWeChat(url: string | undefined, headers: IncomingMessage['headers']): boolean {
  if (headers['wechatpay-signature'] !== undefined) return true;
  const q = url?.indexOf('?') ?? -1;
  if (q === -1 || url === undefined) return false;
  const params = new URLSearchParams(url.slice(q + 1));
  return params.has('signature') || params.has('msg_signature');
}

function wantsCapture(req: IncomingMessage): boolean {
  return (
    !isBodyless((req.method ?? 'GET').toUpperCase()) &&
    !req.readableEnded &&
    !req.readableDidRead &&
    isSignedByWeChat(req.url, req.headers)
  );
}

async function read(req: IncomingMessage, stream: NodeJS.ReadableStream): Promise<Captured> {
  const declared = declaredLength(req.headers['content-length']);
  if (declared !== undefined && declared > DEFAULT_BODY_LIMIT) return { refusal: tooLarge() };
  try {
    return { bytes: await readRawBody(stream as Readable, { limit: DEFAULT_BODY_LIMIT }) };
  } catch (error) {
    return { refusal: error instanceof BodyTooLargeError ? tooLarge() : badRequest() };
  }
}

/** The part of Nest's HTTP adapter used here (`HttpAdapterHost.httpAdapter`). */
export interface NestHttpAdapterLike {
  getType?(): string;
  getInstance?(): unknown;
  use?(...args: unknown[]): unknown;
}

interface FastifyLike {
  addHook(name: string, hook: (...args: never[]) => unknown): unknown;
}

interface FastifyRequestLike {
  raw: IncomingMessage;
}

interface FastifyReplyLike {
  code(status: number): FastifyReplyLike;
  header(name: string, value: string): FastifyReplyLike;
  send(body: string): FastifyReplyLike;
}

/**
 * Installs the early step on the app's HTTP platform, once per platform instance. Returns the
 * platform it was installed on, or `undefined` (no HTTP app, or a platform other than Express and
 * Fastify: callback routes then refuse with a message saying so).
 */
export function installRawBodyCapture(adapter: NestHttpAdapterLike | undefined): string | undefined {
  if (adapter === undefined || adapter === null || typeof adapter.getType !== 'function') return undefined;
  const type = adapter.getType();
  const instance = adapter.getInstance?.();
  if (typeof instance !== 'object' && typeof instance !== 'function') return undefined;
  if (instance === null) return undefined;
  if (installed.has(instance)) return type;
  if (type === 'express' && typeof adapter.use === 'function') {
    adapter.use(expressCapture);
  } else if (type === 'fastify' && typeof (instance as FastifyLike).addHook === 'function') {
    const fastify = instance as FastifyLike;
    fastify.addHook('preParsing', fastifyCapture as never);
    fastify.addHook('preValidation', fastifyRestore as never);
  } else {
    return undefined;
  }
  installed.add(instance);
  return type;
}

function expressCapture(req: IncomingMessage, res: ServerResponse, next: (error?: unknown) => void): void {
  if (!wantsCapture(req)) {
    next();
    return;
  }
  void read(req, req).then((result) => {
    if ('refusal' in result) {
      writeNode(res, result.refusal);
      return;
    }
    captured.set(req, result);
    // The stream has ended: body-parser 2 skips a finished request, body-parser 1 (Express 4)
    // one marked `_body`.
    (req as { _body?: boolean })._body = true;
    next();
  });
}

async function fastifyCapture(
  request: FastifyRequestLike,
  _reply: unknown,
  payload: NodeJS.ReadableStream,
): Promise<NodeJS.ReadableStream> {
  const req = request.raw;
  if (!wantsCapture(req)) return payload;
  const result = await read(req, payload);
  captured.set(req, result);
  // No content type and no length: Fastify runs no parser at all (no JSON parse, no 415).
  const headers = req.headers;
  hidden.set(req, {
    'content-type': headers['content-type'],
    'content-length': headers['content-length'],
    'transfer-encoding': headers['transfer-encoding'],
  });
  delete headers['content-type'];
  delete headers['transfer-encoding'];
  headers['content-length'] = '0';
  return Readable.from([]);
}

async function fastifyRestore(request: FastifyRequestLike, reply: FastifyReplyLike): Promise<unknown> {
  const req = request.raw;
  const saved = hidden.get(req);
  if (saved === undefined) return undefined;
  hidden.delete(req);
  for (const [name, value] of Object.entries(saved)) {
    if (value === undefined) delete req.headers[name];
    else (req.headers as Record<string, string | string[]>)[name] = value;
  }
  const result = captured.get(req);
  if (result !== undefined && 'refusal' in result) {
    const { refusal } = result;
    reply.code(refusal.status);
    for (const [name, value] of responseHeaders(refusal)) reply.header(name, value);
    return reply.send(refusal.body);
  }
  return undefined;
}
