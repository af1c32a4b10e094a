/**
 * What every adapter shares: reading the raw body (as bytes, decoded never), enforcing the size
 * limit, running the handler so that nothing ever throws into the host framework, and the few
 * fixed answers (413, 500, misconfiguration). Private to `src/adapters/`.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Readable } from 'node:stream';
import type { CallbackHandler, CallbackRequest, CallbackResponse } from '../callbacks/types.js';
import { ConfigError } from '../errors.js';

/** The default largest body an adapter accepts: 1 MiB. WeChat pushes are a few KiB. */
export const DEFAULT_BODY_LIMIT = 1024 * 1024;

/** Options every adapter accepts. */
export interface AdapterOptions {
  /** The largest body accepted, in bytes; a larger one is answered `413`. Default 1 MiB. */
  limit?: number;
  /**
   * Called with anything the handler threw. The client only ever gets a generic `500`. Default:
   * `console.error`. (weixin-kit's own callbacks and Pay notification handlers never throw: a
   * failing message handler is reported to their `hooks.onError` / `logger`.)
   */
  onError?: (error: unknown) => void;
}

/** Options of the adapters that can find the body already eaten by a body parser. */
export interface MisconfigurableAdapterOptions extends AdapterOptions {
  /**
   * Called when the body had already been parsed by a body parser, so its raw bytes are gone.
   * The request is answered `500` with the same message. The handler is always told as well
   * (`reportAdapterProblem`, code `BODY_ALREADY_PARSED`): weixin-kit's callbacks and Pay
   * notification handlers pass it to their `hooks.onError` and `logger`. Only for a handler that
   * cannot be told, and without this option, one process warning (`WEIXIN_KIT_BODY_PARSED`).
   */
  onMisconfigured?: (message: string) => void;
}

/** Thrown by {@link readRawBody} when the body is larger than the limit. */
export class BodyTooLargeError extends Error {
  constructor(readonly limit: number) {
    super(`request body larger than ${limit} bytes`);
    this.name = 'BodyTooLargeError';
  }
}

/**
 * What a framework left of the body: still the raw body (bytes, or text decoded once as UTF-8),
 * an untouched stream the adapter reads itself, or gone (parsed), with the explanation.
 */
export type BodyFound =
  | { kind: 'raw'; body: Uint8Array | string }
  | { kind: 'unread' }
  | { kind: 'misconfigured'; message: string };

/** Validated adapter options with their defaults applied. */
export interface ResolvedOptions {
  limit: number;
  onError: (error: unknown) => void;
  onMisconfigured: (message: string) => void;
}

/** Validates what an adapter factory was given, when the factory is called (not per request). */
export function resolveOptions(
  name: string,
  handler: CallbackHandler,
  options: MisconfigurableAdapterOptions | undefined,
): ResolvedOptions {
  if (typeof handler !== 'object' || handler === null || typeof handler.handle !== 'function') {
    throw new ConfigError(
      'INVALID_CONFIG',
      `${name}: expected a callback handler (an object with a handle(request) method), got ${describe(handler)}`,
    );
  }
  const limit = options?.limit ?? DEFAULT_BODY_LIMIT;
  if (!Number.isSafeInteger(limit) || limit < 0) {
    throw new ConfigError(
      'INVALID_CONFIG',
      `${name}: limit must be a whole number of bytes >= 0, got ${String(limit)}`,
    );
  }
  let warned = false;
  const warnOnce = (message: string): void => {
    if (warned) return;
    warned = true;
    const proc = (globalThis as { process?: { emitWarning?: (m: string, o: object) => void } }).process;
    if (typeof proc?.emitWarning === 'function') {
      proc.emitWarning(message, { code: 'WEIXIN_KIT_BODY_PARSED' });
    } else {
      console.warn(message);
    }
  };
  const user = options?.onMisconfigured;
  const tellsHandler = typeof handler.reportAdapterProblem === 'function';
  return {
    limit,
    onError:
      options?.onError ?? ((error) => console.error(`weixin-kit ${name}: callback handler failed`, error)),
    onMisconfigured: (message) => {
      // The handler's hooks and logger are where its owner looks: tell it first, whatever else runs.
      if (tellsHandler) {
        try {
          handler.reportAdapterProblem?.({ code: 'BODY_ALREADY_PARSED', message });
        } catch {
          // A failing logger must not stop the answer.
        }
      }
      if (user !== undefined) user(message);
      else if (!tellsHandler) warnOnce(message);
    },
  };
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  return typeof value;
}

/** The value of a `Content-Length` header, if it is a plain decimal number. */
export function declaredLength(value: string | string[] | null | undefined): number | undefined {
  const text = Array.isArray(value) ? value[0] : value;
  if (typeof text !== 'string' || !/^\d+$/.test(text.trim())) return undefined;
  return Number(text.trim());
}

/**
 * Reads a Node stream to its end and returns its bytes, joined as bytes: a multi-byte UTF-8
 * character split across two chunks is only ever decoded whole, by whoever reads the result.
 *
 * Past `limit` it rejects with {@link BodyTooLargeError} at once and stops reading: the stream is
 * paused, not drained, so the caller should answer with `Connection: close`.
 */
export function readRawBody(stream: Readable, options: { limit: number }): Promise<Buffer> {
  const { limit } = options;
  return new Promise<Buffer>((resolve, reject) => {
    if (stream.readableEnded) {
      reject(new Error('the request body was already read by someone else'));
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    const cleanup = (): void => {
      stream.off('data', onData);
      stream.off('end', onEnd);
      stream.off('error', onFail);
      stream.off('close', onClose);
    };
    const onData = (chunk: Buffer | string): void => {
      const bytes = typeof chunk === 'string' ? Buffer.from(chunk, 'utf8') : chunk;
      size += bytes.length;
      if (size > limit) {
        cleanup();
        stream.pause();
        // A late error (the client hanging up) must not become an unhandled 'error' event.
        stream.on('error', () => {});
        reject(new BodyTooLargeError(limit));
        return;
      }
      chunks.push(bytes);
    };
    const onEnd = (): void => {
      cleanup();
      resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size));
    };
    const onFail = (error: unknown): void => {
      cleanup();
      reject(error);
    };
    const onClose = (): void => {
      cleanup();
      reject(new Error('request closed before its body was complete'));
    };
    stream.on('data', onData);
    stream.on('end', onEnd);
    stream.on('error', onFail);
    stream.on('close', onClose);
  });
}

/**
 * Reads a Web `ReadableStream` body to its end, joined as bytes, with the same limit rule as
 * {@link readRawBody} (the stream is cancelled past the limit).
 */
export async function readWebBody(
  body: ReadableStream<Uint8Array> | null,
  options: { limit: number },
): Promise<Uint8Array> {
  if (body === null) return new Uint8Array(0);
  const reader = body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > options.limit) {
      reader.cancel().catch(() => {});
      throw new BodyTooLargeError(options.limit);
    }
    chunks.push(value);
  }
  if (chunks.length === 1) return chunks[0]!;
  const out = new Uint8Array(size);
  let offset = 0;
  for (const chunk of chunks) {
    out.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return out;
}

/** True for methods that carry no body we care about: their `rawBody` is `undefined`. */
export function isBodyless(method: string): boolean {
  return method === 'GET' || method === 'HEAD';
}

/** A path with its query from an absolute URL (`http://h/wechat?a=1` → `/wechat?a=1`). */
export function pathAndQuery(url: string): string {
  if (url.startsWith('/')) return url;
  try {
    const parsed = new URL(url);
    return parsed.pathname + parsed.search;
  } catch {
    return url;
  }
}

const PLAIN = 'text/plain; charset=utf-8';
const NOSNIFF = 'nosniff';

/** The answer to a body over the limit. The connection is closed: the rest is never read. */
export function tooLarge(): CallbackResponse {
  return {
    status: 413,
    headers: { 'content-type': PLAIN, 'x-content-type-options': NOSNIFF, connection: 'close' },
    body: 'Payload Too Large',
  };
}

/** The answer to a body that could not be read (the client hung up, a broken stream). */
export function badRequest(): CallbackResponse {
  return {
    status: 400,
    headers: { 'content-type': PLAIN, 'x-content-type-options': NOSNIFF, connection: 'close' },
    body: 'Bad Request',
  };
}

/** The answer to a handler that threw: no detail leaves the server. */
export function internalError(): CallbackResponse {
  return {
    status: 500,
    headers: { 'content-type': PLAIN, 'x-content-type-options': NOSNIFF },
    body: 'Internal Server Error',
  };
}

/** The answer to a body already parsed by a body parser: it tells the developer what to change. */
export function misconfigured(message: string): CallbackResponse {
  return {
    status: 500,
    headers: { 'content-type': PLAIN, 'x-content-type-options': NOSNIFF },
    body: message,
  };
}

/**
 * Runs the handler and never throws: an exception (or a malformed answer) becomes a generic
 * `500`, reported through `onError`.
 */
export async function runHandler(
  handler: CallbackHandler,
  request: CallbackRequest,
  options: ResolvedOptions,
): Promise<CallbackResponse> {
  try {
    const response = await handler.handle(request);
    if (
      typeof response !== 'object' ||
      response === null ||
      !Number.isInteger(response.status) ||
      response.status < 200 ||
      response.status > 599 ||
      typeof response.body !== 'string'
    ) {
      throw new TypeError(
        'callback handler returned something that is not a { status, headers, body } answer',
      );
    }
    return response;
  } catch (error) {
    report(options.onError, error);
    return internalError();
  }
}

/** Calls a user hook; a hook that throws must not break the answer. */
export function report<T>(hook: (value: T) => void, value: T): void {
  try {
    hook(value);
  } catch {
    // A failing logger is not the client's problem.
  }
}

// Computed by every framework from the body actually sent; a handler's value could only be wrong.
const SKIPPED_HEADERS = new Set(['content-length', 'transfer-encoding']);

/**
 * The handler's headers to copy onto the framework's response, with `X-Content-Type-Options:
 * nosniff` added unless the handler set it: answers such as the `echostr` handshake reflect request
 * data verbatim as `text/plain`, which a browser must never sniff into HTML.
 */
export function responseHeaders(response: CallbackResponse): [string, string][] {
  const out: [string, string][] = [];
  let nosniff = false;
  for (const [name, value] of Object.entries(response.headers ?? {})) {
    const lower = name.toLowerCase();
    if (typeof value !== 'string' || SKIPPED_HEADERS.has(lower)) continue;
    if (lower === 'x-content-type-options') nosniff = true;
    out.push([name, value]);
  }
  if (!nosniff) out.push(['x-content-type-options', NOSNIFF]);
  return out;
}

/** The media type's charset parameter, lower-cased, or `undefined`. */
export function charsetOf(contentType: string | string[] | undefined): string | undefined {
  const text = Array.isArray(contentType) ? contentType[0] : contentType;
  if (typeof text !== 'string') return undefined;
  const match = /;\s*charset\s*=\s*"?([^";\s]+)"?/i.exec(text);
  return match?.[1]?.toLowerCase();
}

/** True when a body parser decoded the text as UTF-8 (the default when no charset is given). */
export function isUtf8Charset(contentType: string | string[] | undefined): boolean {
  const charset = charsetOf(contentType);
  return charset === undefined || charset === 'utf-8' || charset === 'utf8';
}

/**
 * Reads a Node request's body under the limit. A declared `Content-Length` over the limit is
 * refused before a single byte is read.
 */
export function readNodeBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  const declared = declaredLength(req.headers['content-length']);
  if (declared !== undefined && declared > limit) return Promise.reject(new BodyTooLargeError(limit));
  return readRawBody(req, { limit });
}

/** Writes an answer on a Node response; a response already sent is left alone. */
export function writeNode(res: ServerResponse, response: CallbackResponse): void {
  if (res.headersSent || res.writableEnded) return;
  let answer = response;
  const set: string[] = [];
  try {
    for (const [name, value] of responseHeaders(answer)) {
      res.setHeader(name, value);
      set.push(name);
    }
  } catch {
    // A header Node refuses (a newline in a value, say): the handler's answer cannot be sent.
    for (const name of set) res.removeHeader(name);
    answer = internalError();
    for (const [name, value] of responseHeaders(answer)) res.setHeader(name, value);
  }
  res.statusCode = answer.status;
  res.end(answer.body);
}
