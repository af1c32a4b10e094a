/**
 * The HTTP layer every weixin-kit client sends through: an injected Web `fetch`, a timeout on
 * every attempt, WeChat's `errcode` turned into typed errors, bounded retries of what is safe to
 * retry, redaction of secrets, and observation hooks.
 *
 * TLS and connections: Node's global `fetch` (undici) negotiates TLS 1.2 at least and keeps
 * connections alive, so nothing here configures either. To tune them (pool size, a proxy for a
 * fixed egress IP, a custom CA), pass a `dispatcher` (an undici `Agent` or `ProxyAgent`), ideally
 * with undici's own `fetch` so that both come from the same undici version.
 */

import { ArgumentError, ConfigError, TransportError, WeChatApiError, WeChatKitError } from '../errors.js';
import { anySignal, raceAbort, sleep, timeoutSignal, whenAborted } from '../internal/abort.js';
import { callHook } from '../internal/call-hook.js';
import { isScheduler, type Scheduler, systemScheduler } from '../internal/timers.js';
import type { TransportHooks } from './hooks.js';
import { redactText, redactUrl } from './redact.js';
import { errcodeOfError, failSpan, type TraceSpan, type Tracing } from './tracing.js';

export type { ErrorEvent, RequestEvent, ResponseEvent, RetryEvent, TransportHooks } from './hooks.js';

/** HTTP methods the transport sends. */
export type HttpMethod = 'GET' | 'HEAD' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';

/** Options of a {@link Transport}; every one has a safe default. */
export interface TransportOptions {
  /** The Web `fetch` to send with (default: the global one). Point it at the emulator, or at undici with a dispatcher. */
  fetch?: typeof fetch;
  /** Time allowed per attempt, from sending to the body being read, in ms (default 5000). */
  timeoutMs?: number;
  /** Retries after the first attempt, for failures that are safe to retry (default 2: at most 3 attempts). */
  retries?: number;
  /** Base of the exponential backoff, ms (default 100). Each delay is uniform in [0, min(max, base·2^n)]. */
  retryBaseMs?: number;
  /** Cap of one backoff delay, ms (default 2000). */
  retryMaxMs?: number;
  /** Observation hooks (logging, metrics, tracing). */
  hooks?: TransportHooks;
  /** `User-Agent` header (default `weixin-kit`). */
  userAgent?: string;
  /** Randomness for backoff jitter, in [0, 1) (default `Math.random`). */
  random?: () => number;
  /**
   * Where the timers come from (default: the global timers): the retry back-off and every
   * per-attempt timeout (`timeoutMs`, including the header and chunk waits of a stream), so a
   * test advances them instead of sleeping through them.
   */
  scheduler?: Scheduler | undefined;
  /**
   * An undici dispatcher given to every `fetch` call (`init.dispatcher`): an `Agent` to tune the
   * pool or TLS, a `ProxyAgent` to leave through a fixed egress IP that WeChat whitelists.
   * Typed loosely so that no undici type appears in this package's API.
   */
  dispatcher?: object;
  /**
   * Traces every logical request as one client span (retries are events on it), named
   * `<spanPrefix> <METHOD> <path>`. The span holds the path, never the query (`access_token`).
   */
  tracing?: Tracing | undefined;
  /** First word(s) of span names (default `WeChat`; the Pay clients use `WeChat Pay`). */
  spanPrefix?: string | undefined;
}

/** One request. `url` is absolute; secrets may be in `query` or `body`: they are redacted from everything observable. */
export interface TransportRequest {
  method: HttpMethod;
  url: string;
  /** Added to the URL's query; `undefined` values are left out. */
  query?: Record<string, string | number | boolean | undefined>;
  /**
   * The body. A `Uint8Array`, `ArrayBuffer`, string, `FormData`, `URLSearchParams` or `Blob` is sent
   * as is; anything else is sent as JSON (`content-type: application/json`, non-ASCII unescaped as
   * WeChat expects).
   */
  body?: unknown;
  headers?: Record<string, string>;
  /** Overrides the transport's `timeoutMs` for this call. */
  timeoutMs?: number;
  /** Overrides the transport's `retries` for this call. */
  retries?: number;
  /** Aborts the call; the abort reason is thrown as is and never retried. */
  signal?: AbortSignal;
  /**
   * Whether the request may be sent twice safely; only idempotent requests are retried after a
   * network error, a timeout, a 5xx or an unreadable body. Default: true for GET and HEAD.
   */
  idempotent?: boolean;
  /**
   * How to read the body (default `json`). `bytes` still turns a JSON errcode answer into an error.
   * `stream` answers a `ReadableStream<Uint8Array>` as soon as the headers arrive (a JSON answer is
   * still read whole, so an errcode throws): `timeoutMs` then bounds the wait for the headers and
   * each wait for the next chunk, and the caller's `signal` aborts the stream.
   */
  responseType?: 'json' | 'text' | 'bytes' | 'stream';
  /** Throw `WeChatApiError` on an `errcode != 0` answer (default true). */
  checkErrcode?: boolean;
  /** Retry errcode -1 ("system busy, retry later"), on any method (default true). */
  retryOnErrcode?: boolean;
  /**
   * Answer every response as received instead of interpreting it (default false): any HTTP status
   * is returned rather than thrown, the body is returned as bytes without being parsed, and no
   * errcode is checked. For protocols that must verify a signature over the raw bytes before
   * anything reads them (WeChat Pay v3), and then decide themselves what a status means.
   * Network errors and timeouts still throw.
   */
  raw?: boolean;
}

/** An answer with a 2xx status (and no errcode, unless `checkErrcode: false`), or any answer with `raw: true`. */
export interface TransportResponse<T> {
  status: number;
  headers: Headers;
  data: T;
}

const KNOWN_OPTIONS = new Set([
  'fetch',
  'timeoutMs',
  'retries',
  'retryBaseMs',
  'retryMaxMs',
  'hooks',
  'userAgent',
  'random',
  'scheduler',
  'dispatcher',
  'tracing',
  'spanPrefix',
]);

/** One attempt of a request, as {@link Transport.request} prepared it. */
interface Attempt {
  id: string;
  req: TransportRequest;
  method: HttpMethod;
  url: string;
  /** The URL with secrets redacted, for hooks and errors: computed on first use. */
  shownUrl: () => string;
  path: string;
  timeoutMs: number;
  headers: Headers;
  body: BodyInit | undefined;
  attempt: number;
  /** The request's client span, when tracing. */
  span: TraceSpan | undefined;
}

let requestCounter = 0;

/**
 * Sends HTTP requests to WeChat with timeouts, typed errors, safe retries, redaction and hooks.
 *
 * - Every attempt has a timeout (`timeoutMs`, default 5 s) covering the whole answer, body
 *   included, even when an injected `fetch` ignores its signal; it fails with
 *   `TransportError('TIMEOUT')`. A caller's `signal` aborts with its own reason, never retried.
 * - HTTP 200 with `errcode != 0` throws `WeChatApiError` (its `path` has no query string); a
 *   non-2xx status throws `TransportError('HTTP_ERROR')`; an unparsable body `BAD_RESPONSE`; a
 *   failed connection `NETWORK_ERROR`.
 * - Retries (default 2, full-jitter exponential backoff from 100 ms, capped at 2 s): network
 *   errors, timeouts, 5xx and unreadable bodies of idempotent requests; errcode -1 on any
 *   request. Never quota/rate errors (45009, 45011), token errors (the token layer
 *   invalidates and retries once), 4xx, or a caller abort.
 * - Node's fetch uses TLS 1.2 or newer and keep-alive connections; inject undici's `fetch` with
 *   a dispatcher to tune them.
 *
 * @example
 * const transport = new Transport({ timeoutMs: 3000, hooks: { onError: (e) => log.error(e) } });
 * const { data } = await transport.request<{ access_token: string; expires_in: number }>({
 *   method: 'POST',
 *   url: joinUrl('https://api.weixin.qq.com', '/cgi-bin/stable_token'),
 *   body: { grant_type: 'client_credential', appid, secret },
 * });
 */
export class Transport {
  readonly #fetch: typeof fetch;
  readonly #timeoutMs: number;
  readonly #retries: number;
  readonly #retryBaseMs: number;
  readonly #retryMaxMs: number;
  readonly #hooks: TransportHooks;
  readonly #userAgent: string;
  readonly #random: () => number;
  readonly #scheduler: Scheduler;
  readonly #dispatcher: object | undefined;
  readonly #tracing: Tracing | undefined;
  readonly #spanPrefix: string;

  constructor(options: TransportOptions = {}) {
    for (const key of Object.keys(options)) {
      if (!KNOWN_OPTIONS.has(key)) {
        throw new ConfigError(
          'INVALID_CONFIG',
          `unknown transport option "${key}" (allowed: ${[...KNOWN_OPTIONS].join(', ')})`,
        );
      }
    }
    const fetchImpl = options.fetch ?? globalThis.fetch;
    if (typeof fetchImpl !== 'function') {
      throw new ConfigError(
        'INVALID_CONFIG',
        'no fetch available: pass options.fetch (Node 20+ has a global fetch)',
      );
    }
    this.#fetch = fetchImpl;
    this.#timeoutMs = positive('timeoutMs', options.timeoutMs, 5000);
    this.#retries = nonNegativeInteger('retries', options.retries, 2);
    this.#retryBaseMs = positive('retryBaseMs', options.retryBaseMs, 100);
    this.#retryMaxMs = positive('retryMaxMs', options.retryMaxMs, 2000);
    this.#hooks = options.hooks ?? {};
    this.#userAgent = options.userAgent ?? 'weixin-kit';
    this.#random = options.random ?? Math.random;
    if (options.scheduler !== undefined && !isScheduler(options.scheduler)) {
      throw new ConfigError(
        'INVALID_CONFIG',
        'scheduler must be an object with setTimeout(fn, ms) and clearTimeout(handle) functions',
      );
    }
    this.#scheduler = options.scheduler ?? systemScheduler;
    if (
      options.dispatcher !== undefined &&
      (typeof options.dispatcher !== 'object' || options.dispatcher === null)
    ) {
      throw new ConfigError(
        'INVALID_CONFIG',
        'dispatcher must be an undici Dispatcher (new Agent(), new ProxyAgent(url)), not a URL string',
      );
    }
    this.#dispatcher = options.dispatcher;
    this.#tracing = options.tracing;
    this.#spanPrefix = options.spanPrefix ?? 'WeChat';
  }

  /**
   * Sends `req`, retrying what is safe to retry, and resolves with the parsed answer.
   *
   * @throws WeChatApiError when WeChat answers `errcode != 0` (and `checkErrcode` is not false)
   * @throws TransportError `TIMEOUT`, `NETWORK_ERROR`, `HTTP_ERROR` or `BAD_RESPONSE`
   * @throws the caller's abort reason when `req.signal` aborts
   */
  async request<T = unknown>(req: TransportRequest): Promise<TransportResponse<T>> {
    requestCounter += 1;
    const id = `wk-${requestCounter}`;
    const method = req.method;
    const url = buildUrl(req.url, req.query);
    // Redacted only when a hook or an error shows it: ~2 µs per call otherwise spent for nothing.
    let shown: string | undefined;
    const shownUrl = (): string => {
      shown ??= redactUrl(url);
      return shown;
    };
    const path = pathOf(url);
    const timeoutMs = positive('timeoutMs', req.timeoutMs, this.#timeoutMs);
    const retries = nonNegativeInteger('retries', req.retries, this.#retries);
    const idempotent = req.idempotent ?? (method === 'GET' || method === 'HEAD');
    const { body, contentType } = encodeBody(method, req.body);
    const headers = new Headers(req.headers);
    if (!headers.has('user-agent')) headers.set('user-agent', this.#userAgent);
    if (!headers.has('accept'))
      headers.set('accept', req.responseType === 'bytes' ? '*/*' : 'application/json');
    if (contentType !== undefined && !headers.has('content-type')) headers.set('content-type', contentType);

    const span = this.#tracing === undefined ? undefined : this.#startSpan(this.#tracing, method, url, path);
    const started = performance.now();
    let attempt = 0;
    for (;;) {
      attempt += 1;
      try {
        req.signal?.throwIfAborted();
        if (this.#hooks.onRequest !== undefined)
          callHook(this.#hooks.onRequest, { id, method, url: shownUrl(), attempt });
        const answer = await this.#attempt<T>({
          id,
          req,
          method,
          url,
          shownUrl,
          path,
          timeoutMs,
          headers,
          body,
          attempt,
          span,
        });
        if (span !== undefined) {
          span.setAttributes({ 'http.response.status_code': answer.status });
          span.end();
        }
        return answer;
      } catch (error) {
        const retryable =
          attempt <= retries && !req.signal?.aborted && isRetryable(error, idempotent, req.retryOnErrcode);
        if (!retryable) {
          if (span !== undefined) endFailed(span, error);
          callHook(this.#hooks.onError, {
            id,
            method,
            url: shownUrl(),
            error,
            durationMs: performance.now() - started,
            attempts: attempt,
          });
          throw error;
        }
        const delayMs = Math.round(
          this.#random() * Math.min(this.#retryMaxMs, this.#retryBaseMs * 2 ** (attempt - 1)),
        );
        callHook(this.#hooks.onRetry, {
          id,
          method,
          url: shownUrl(),
          attempt,
          delayMs,
          reason: (error as WeChatKitError).code,
          error: error as WeChatKitError,
        });
        span?.addEvent('retry', {
          'weixin_kit.attempt': attempt,
          'error.type': (error as WeChatKitError).code,
          'wechat.errcode': errcodeOfError(error),
          'http.response.status_code': statusOfError(error),
          'weixin_kit.retry_delay_ms': delayMs,
        });
        span?.setAttributes({ 'http.request.resend_count': attempt });
        try {
          await sleep(delayMs, req.signal, this.#scheduler);
        } catch (abortReason) {
          if (span !== undefined) endFailed(span, abortReason);
          callHook(this.#hooks.onError, {
            id,
            method,
            url: shownUrl(),
            error: abortReason,
            durationMs: performance.now() - started,
            attempts: attempt,
          });
          throw abortReason;
        }
      }
    }
  }

  /** The client span of one logical request: method, path (never the query), host. */
  #startSpan(tracing: Tracing, method: HttpMethod, url: string, path: string): TraceSpan | undefined {
    const { hostname, port, protocol } = new URL(url);
    try {
      return tracing.startClientSpan(`${this.#spanPrefix} ${method} ${path}`, {
        'http.request.method': method,
        'url.path': path,
        'url.scheme': protocol.slice(0, -1),
        'server.address': hostname,
        'server.port': port === '' ? (protocol === 'https:' ? 443 : 80) : Number(port),
      });
    } catch {
      return undefined;
    }
  }

  /** Sends an attempt, inside its client span when tracing (so instrumented fetches nest under it). */
  #send(a: Attempt, init: RequestInit): Promise<Response> {
    const span = a.span;
    if (span === undefined || this.#tracing === undefined) return this.#fetch(a.url, init);
    return this.#tracing.withSpan(span, () => this.#fetch(a.url, init));
  }

  /** The fetch `init` of an attempt. A redirect is not followed: the query (access_token) would travel to wherever it points. */
  #init(a: Attempt, signal: AbortSignal): RequestInit {
    const init: RequestInit = { method: a.method, headers: a.headers, signal, redirect: 'manual' };
    if (a.body !== undefined) init.body = a.body;
    if (this.#dispatcher !== undefined) (init as { dispatcher?: object }).dispatcher = this.#dispatcher;
    return init;
  }

  /** The `onResponse` hook of an attempt's answer; its event is built only when the hook is set. */
  #responded(a: Attempt, status: number, durationMs: number, errcode: number | undefined): void {
    if (this.#hooks.onResponse === undefined) return;
    callHook(this.#hooks.onResponse, {
      id: a.id,
      method: a.method,
      url: a.shownUrl(),
      status,
      durationMs,
      ...(errcode === undefined ? {} : { errcode }),
      attempt: a.attempt,
    });
  }

  async #attempt<T>(a: Attempt): Promise<TransportResponse<T>> {
    if (a.req.responseType === 'stream') return this.#attemptStream<T>(a);
    const { req, method, shownUrl, timeoutMs } = a;
    const timeout = timeoutSignal(timeoutMs, this.#scheduler);
    const combined =
      req.signal === undefined
        ? { signal: timeout.signal, dispose() {} }
        : anySignal([req.signal, timeout.signal]);
    // The exchange's steps (for a fetch that ignores signals) are raced against the deadline's own
    // promise and, when the caller gave a signal, one listener on it: a listener per step on the
    // combined signal cost ~12 µs per request on Node 20. The stops come first in each race: one
    // already rejected wins over a step already settled, as raceAbort did.
    const callerAborted = req.signal === undefined ? undefined : whenAborted(req.signal);
    const stops: Promise<never>[] =
      callerAborted === undefined ? [timeout.expired] : [timeout.expired, callerAborted.promise];
    const started = performance.now();
    // Raised as the one error of a failed exchange: the caller's reason, a timeout, or `fallback`.
    const failure = (cause: unknown, fallback: () => TransportError): unknown => {
      if (req.signal?.aborted) return req.signal.reason;
      if (timeout.signal.aborted) {
        return new TransportError(
          'TIMEOUT',
          `${method} ${shownUrl()} got no complete answer within ${timeoutMs} ms (timeoutMs); raise timeoutMs if this API is slow`,
        );
      }
      return cause instanceof WeChatKitError ? cause : fallback();
    };

    try {
      let response: Response;
      try {
        const init = this.#init(a, combined.signal);
        response = await Promise.race([...stops, this.#send(a, init)]);
      } catch (cause) {
        throw failure(
          cause,
          () =>
            new TransportError('NETWORK_ERROR', `${method} ${shownUrl()} failed: ${describeCause(cause)}`, {
              cause: safeCause(cause),
            }),
        );
      }

      let bytes: Uint8Array;
      try {
        bytes = new Uint8Array(await Promise.race([...stops, response.arrayBuffer()]));
      } catch (cause) {
        throw failure(
          cause,
          () =>
            new TransportError(
              'NETWORK_ERROR',
              `${method} ${shownUrl()} answered HTTP ${response.status} but the body could not be read: ${describeCause(cause)}`,
              { cause: safeCause(cause), status: response.status },
            ),
        );
      }
      const durationMs = performance.now() - started;
      if (req.raw === true) {
        this.#responded(a, response.status, durationMs, undefined);
        return { status: response.status, headers: response.headers, data: bytes as T };
      }
      const contentType = response.headers.get('content-type') ?? '';
      const responseType = req.responseType ?? 'json';
      const looksJson =
        /\bjson\b/i.test(contentType) || (responseType === 'bytes' && firstByteIsBrace(bytes));

      const bodiless = method === 'HEAD' || response.status === 204 || response.status === 304;
      let parsed: unknown;
      let parseFailed = false;
      if (!bodiless && (responseType === 'json' || looksJson)) {
        try {
          parsed = JSON.parse(new TextDecoder().decode(bytes));
        } catch {
          parseFailed = true;
        }
      }
      const errcode = errcodeOf(parsed);
      this.#responded(a, response.status, durationMs, errcode);

      if (response.status < 200 || response.status > 299) {
        // 3xx included: see `redirect: 'manual'` above.
        throw new TransportError(
          'HTTP_ERROR',
          `${method} ${shownUrl()} answered HTTP ${response.status}${snippet(bytes)}`,
          { status: response.status },
        );
      }
      if (parseFailed && (responseType === 'json' || /\bjson\b/i.test(contentType))) {
        throw new TransportError(
          'BAD_RESPONSE',
          `${method} ${shownUrl()} answered a body that is not valid JSON (${bytes.length} bytes, maybe truncated)${snippet(bytes)}`,
          { status: response.status },
        );
      }
      if (errcode !== undefined && errcode !== 0 && req.checkErrcode !== false) {
        const errmsg = (parsed as { errmsg?: unknown }).errmsg;
        throw new WeChatApiError(errcode, redactText(typeof errmsg === 'string' ? errmsg : ''), {
          path: a.path,
        });
      }
      let data: unknown;
      if (responseType === 'bytes') data = bytes;
      else if (responseType === 'text') data = new TextDecoder().decode(bytes);
      else data = parsed;
      return { status: response.status, headers: response.headers, data: data as T };
    } finally {
      timeout.clear();
      combined.dispose();
      callerAborted?.dispose();
    }
  }

  /**
   * One attempt of a `stream` request: the timeout covers the headers, then each chunk; the
   * stream is returned once the headers say it is a 2xx, non-JSON answer.
   */
  async #attemptStream<T>(a: Attempt): Promise<TransportResponse<T>> {
    const { req, method, shownUrl, timeoutMs } = a;
    // Cleared once the headers are in: the signal given to fetch also governs the body, which may
    // rightly take longer than timeoutMs in all; only the wait for the headers is bounded by this one.
    const headerTimeout = timeoutSignal(timeoutMs, this.#scheduler);
    const combined =
      req.signal === undefined
        ? { signal: headerTimeout.signal, dispose() {} }
        : anySignal([req.signal, headerTimeout.signal]);
    const timedOut = (what: string) =>
      new TransportError(
        'TIMEOUT',
        `${method} ${shownUrl()} sent no ${what} within ${timeoutMs} ms (timeoutMs); raise timeoutMs if this API is slow`,
      );
    let handedOver = false;
    try {
      let response: Response;
      try {
        const init = this.#init(a, combined.signal);
        response = await raceAbort(this.#send(a, init), combined.signal);
      } catch (cause) {
        if (req.signal?.aborted) throw req.signal.reason;
        if (headerTimeout.signal.aborted) throw timedOut('headers');
        throw cause instanceof WeChatKitError
          ? cause
          : new TransportError('NETWORK_ERROR', `${method} ${shownUrl()} failed: ${describeCause(cause)}`, {
              cause: safeCause(cause),
            });
      } finally {
        headerTimeout.clear();
      }
      callHook(this.#hooks.onResponse, {
        id: a.id,
        method,
        url: shownUrl(),
        status: response.status,
        durationMs: 0,
        attempt: a.attempt,
      });
      const contentType = response.headers.get('content-type') ?? '';
      if (response.status < 200 || response.status > 299 || /\bjson\b/i.test(contentType) || !response.body) {
        // Errors and JSON answers are small: read them whole and judge them as usual.
        const bodyTimeout = timeoutSignal(timeoutMs, this.#scheduler);
        const bytes = new Uint8Array(
          await raceAbort(response.arrayBuffer(), bodyTimeout.signal)
            .catch((cause) => {
              if (req.signal?.aborted) throw req.signal.reason;
              if (bodyTimeout.signal.aborted) throw timedOut('body');
              throw new TransportError(
                'NETWORK_ERROR',
                `${method} ${shownUrl()} answered HTTP ${response.status} but the body could not be read: ${describeCause(cause)}`,
                { cause: safeCause(cause), status: response.status },
              );
            })
            .finally(() => bodyTimeout.clear()),
        );
        if (response.status < 200 || response.status > 299) {
          throw new TransportError(
            'HTTP_ERROR',
            `${method} ${shownUrl()} answered HTTP ${response.status}${snippet(bytes)}`,
            {
              status: response.status,
            },
          );
        }
        let parsed: unknown;
        try {
          parsed = JSON.parse(new TextDecoder().decode(bytes));
        } catch {
          parsed = undefined;
        }
        const errcode = errcodeOf(parsed);
        if (errcode !== undefined && errcode !== 0 && req.checkErrcode !== false) {
          const errmsg = (parsed as { errmsg?: unknown }).errmsg;
          throw new WeChatApiError(errcode, redactText(typeof errmsg === 'string' ? errmsg : ''), {
            path: a.path,
          });
        }
        handedOver = true;
        combined.dispose();
        return { status: response.status, headers: response.headers, data: bytesStream(bytes) as T };
      }
      handedOver = true;
      return {
        status: response.status,
        headers: response.headers,
        data: idleBoundedStream(
          response.body,
          timeoutMs,
          this.#scheduler,
          req.signal,
          () => timedOut('data'),
          () => combined.dispose(),
        ) as T,
      };
    } finally {
      if (!handedOver) combined.dispose();
    }
  }
}

/**
 * Ends a request's client span as failed: the final attempt's status and WeChat's errcode when
 * it had them, the error's code and its (redacted) message.
 */
function endFailed(span: TraceSpan, error: unknown): void {
  span.setAttributes({
    'http.response.status_code': statusOfError(error),
    'wechat.errcode': errcodeOfError(error),
  });
  failSpan(span, error);
  span.end();
}

/** The HTTP status a failed attempt was answered with, when it got an answer. */
function statusOfError(error: unknown): number | undefined {
  const status = error instanceof TransportError ? error.status : undefined;
  return typeof status === 'number' ? status : undefined;
}

function positive(name: string, value: number | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) {
    throw new ConfigError(
      'INVALID_CONFIG',
      `${name} must be a positive number of milliseconds (got ${value})`,
    );
  }
  return value;
}

function nonNegativeInteger(name: string, value: number | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  if (!Number.isInteger(value) || value < 0 || value > 10) {
    throw new ConfigError('INVALID_CONFIG', `${name} must be an integer from 0 to 10 (got ${value})`);
  }
  return value;
}

function buildUrl(base: string, query: TransportRequest['query']): string {
  let url: URL;
  try {
    url = new URL(base);
  } catch {
    throw new ArgumentError(
      `url must be absolute, like "https://api.weixin.qq.com/cgi-bin/token" (got "${redactUrl(base)}")`,
    );
  }
  for (const [key, value] of Object.entries(query ?? {})) {
    if (value !== undefined) url.searchParams.append(key, String(value));
  }
  return url.href;
}

function pathOf(url: string): string {
  return new URL(url).pathname;
}

function encodeBody(method: HttpMethod, body: unknown): { body: BodyInit | undefined; contentType?: string } {
  if (body === undefined) return { body: undefined };
  if (method === 'GET' || method === 'HEAD') {
    throw new ArgumentError(`a ${method} request cannot have a body; put the values in query`);
  }
  if (
    typeof body === 'string' ||
    body instanceof FormData ||
    body instanceof URLSearchParams ||
    body instanceof Blob
  ) {
    return { body };
  }
  if (body instanceof Uint8Array || body instanceof ArrayBuffer) {
    return { body: body as BodyInit, contentType: 'application/octet-stream' };
  }
  return { body: JSON.stringify(body), contentType: 'application/json; charset=utf-8' };
}

function errcodeOf(parsed: unknown): number | undefined {
  if (typeof parsed !== 'object' || parsed === null || !('errcode' in parsed)) return undefined;
  const value = (parsed as { errcode: unknown }).errcode;
  const errcode = typeof value === 'string' ? Number(value) : value;
  return typeof errcode === 'number' && Number.isFinite(errcode) ? errcode : undefined;
}

function firstByteIsBrace(bytes: Uint8Array): boolean {
  for (const byte of bytes) {
    if (byte === 0x20 || byte === 0x0a || byte === 0x0d || byte === 0x09) continue;
    return byte === 0x7b;
  }
  return false;
}

/** Up to 200 characters of a body, redacted, for an error message. */
function snippet(bytes: Uint8Array): string {
  if (bytes.length === 0) return '';
  const text = new TextDecoder().decode(bytes.subarray(0, 400)).replace(/\s+/g, ' ').trim();
  const cut = text.length > 200 ? `${text.slice(0, 200)}…` : text;
  return `: ${redactText(cut)}`;
}

function describeCause(cause: unknown): string {
  const parts: string[] = [];
  let current: unknown = cause;
  for (let depth = 0; depth < 3 && current instanceof Error; depth += 1) {
    const code = (current as { code?: unknown }).code;
    parts.push(typeof code === 'string' ? `${current.message} (${code})` : current.message);
    current = current.cause;
  }
  return redactMessage(parts.length ? parts.join(': ') : String(cause));
}

/** Redacts free text that may hold a URL with percent-encoded secret keys. */
function redactMessage(text: string): string {
  return redactText(redactUrl(text));
}

/**
 * The cause to attach to an error: the original (its `code`, like `ECONNRESET`, helps), unless a
 * message in its chain holds a secret (a custom fetch may put the URL in it), then a redacted copy.
 */
function safeCause(cause: unknown): unknown {
  const chain: Error[] = [];
  for (let current = cause; current instanceof Error && chain.length < 5; current = current.cause) {
    chain.push(current);
  }
  if (chain.every((error) => redactMessage(error.message) === error.message)) return cause;
  let copy: unknown;
  for (const error of chain.reverse()) {
    const next = new Error(redactMessage(error.message), copy === undefined ? undefined : { cause: copy });
    next.name = error.name;
    const code = (error as { code?: unknown }).code;
    if (code !== undefined) Object.assign(next, { code });
    copy = next;
  }
  return copy ?? cause;
}

function isRetryable(error: unknown, idempotent: boolean, retryOnErrcode: boolean | undefined): boolean {
  if (error instanceof WeChatApiError) return error.errcode === -1 && retryOnErrcode !== false;
  if (!(error instanceof TransportError)) return false;
  if (error.code === 'HTTP_ERROR') return idempotent && error.status !== undefined && error.status >= 500;
  return idempotent;
}

/** A stream of `bytes` in one chunk. */
function bytesStream(bytes: Uint8Array): ReadableStream<Uint8Array> {
  return new ReadableStream({
    start(controller) {
      if (bytes.length > 0) controller.enqueue(bytes);
      controller.close();
    },
  });
}

/**
 * `body` with a bound on each wait for the next chunk: a stalled download errors with `timeout()`
 * instead of hanging, however long the whole transfer rightly takes. `done` runs once at the end.
 */
function idleBoundedStream(
  body: ReadableStream<Uint8Array>,
  idleMs: number,
  scheduler: Scheduler,
  signal: AbortSignal | undefined,
  timeout: () => Error,
  done: () => void,
): ReadableStream<Uint8Array> {
  const reader = body.getReader();
  let finished = false;
  const finish = () => {
    if (!finished) {
      finished = true;
      done();
    }
  };
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      const idle = timeoutSignal(idleMs, scheduler);
      const waiting =
        signal === undefined ? { signal: idle.signal, dispose() {} } : anySignal([signal, idle.signal]);
      try {
        const { done: end, value } = await raceAbort(reader.read(), waiting.signal);
        if (end) {
          finish();
          controller.close();
        } else {
          controller.enqueue(value);
        }
      } catch (cause) {
        finish();
        reader.cancel().catch(() => {});
        controller.error(signal?.aborted ? signal.reason : idle.signal.aborted ? timeout() : cause);
      } finally {
        idle.clear();
        waiting.dispose();
      }
    },
    cancel(reason) {
      finish();
      return reader.cancel(reason);
    },
  });
}
