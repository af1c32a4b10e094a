import { APIPromise } from '../../core/api-promise.js';
import type { TransportHooks } from '../../core/hooks.js';
import { redactText, redactUrl } from '../../core/redact.js';
import { type RequestOptions, responseMeta } from '../../core/request-options.js';
import { failSpan, NO_SPAN, type TraceSpan, type Tracing } from '../../core/tracing.js';
import type { HttpMethod, Transport } from '../../core/transport.js';
import { type PayV3MerchantSigner, signAuthorization } from '../../crypto/pay-v3-sign.js';
import { ArgumentError, ConfigError, TransportError, WeChatKitError } from '../../errors.js';
import { anySignal, raceAbort, sleep, timeoutSignal } from '../../internal/abort.js';
import type { Clock, RandomSource } from '../../internal/bytes.js';
import { callHook } from '../../internal/call-hook.js';
import type { Scheduler } from '../../internal/timers.js';
import { isUnsigned, parseVerifiedJson, payApiErrorOf, type RawAnswer } from './answer.js';

/**
 * The one exchange every Pay v3 resource goes through: sign the request with the merchant signer,
 * send it, verify the answer's signature before anything reads it, and retry only what is safe.
 * Internal: resources and `PayV3` hold one; users see it only through them.
 */

/** A query string: `undefined` values are left out. */
export type PayV3Query = Record<string, string | number | boolean | undefined>;

/** One call as a resource describes it: the per-call options plus what goes on the wire. */
export interface PayV3CallInput extends RequestOptions {
  query?: PayV3Query | undefined;
  /** A JSON body (serialised once: the exact string is signed and sent); a string is sent as is. */
  body?: unknown;
  /** `Wechatpay-Serial`, for a request carrying fields encrypted with a platform key. */
  wechatpaySerial?: string | undefined;
}

/** What one signed exchange sends. */
export interface ExchangeOptions {
  body?: string | FormData;
  /** What to sign as the body when it differs from what is sent (media upload: the meta JSON). */
  signedBody?: string;
  /** Extra headers: the caller's, then `Wechatpay-Serial`; never the signature's own. */
  headers?: Record<string, string> | undefined;
  accept?: string;
  signal?: AbortSignal | undefined;
  timeoutMs?: number | undefined;
}

/** How {@link SignedExchange.send} may retry: the call's safety, and the caller's bound. */
export interface RetryOptions {
  /** True only for calls WeChat Pay de-duplicates (queries, same out_trade_no / out_refund_no). */
  idempotent: boolean;
  retries?: number | undefined;
  /**
   * The API's path template, for the span name: the path itself for fixed paths (the default),
   * `''` when unknown (a path with ids in it, whose name would then be one per order).
   */
  route?: string | undefined;
}

/** A raw answer whose 2xx body is still a stream (download), or read whole (any other status). */
export interface StreamedAnswer extends RawAnswer {
  /** The unread 2xx body, each chunk read within `timeoutMs`; undefined for other statuses. */
  stream: AsyncGenerator<Uint8Array> | undefined;
}

/** What {@link SignedExchange} is built from (already checked by `PayV3`). */
export interface SignedExchangeOptions {
  mchid: string;
  signer: PayV3MerchantSigner;
  baseUrl: URL;
  /** Sends one attempt raw (`retries: 0`): retries happen here, after verification. */
  transport: Transport;
  /** For streamed downloads, sent outside the transport (which reads bodies whole). */
  fetch: typeof fetch;
  dispatcher: object | undefined;
  userAgent: string;
  timeoutMs: number;
  retries: number;
  hooks: TransportHooks;
  now: Clock;
  random: RandomSource;
  /** Where the retry back-off waits come from. */
  scheduler: Scheduler;
  /** Verifies a signed answer (the client's platform trust); throws `SignatureError`. */
  verify(message: { headers: Headers; body: Uint8Array }): Promise<void>;
  /** One client span per logical call (retries are events on it), when given. */
  tracing?: Tracing | undefined;
}

let streamCounter = 0;

/** @internal */
export class SignedExchange {
  readonly mchid: string;
  readonly baseUrl: URL;
  readonly #o: SignedExchangeOptions;
  #calls = 0;

  constructor(options: SignedExchangeOptions) {
    this.#o = options;
    this.mchid = options.mchid;
    this.baseUrl = options.baseUrl;
  }

  /** The absolute URL of `path` (after the host) with `query`. */
  url(path: string, query?: PayV3Query): URL {
    const base = this.#o.baseUrl;
    const url = new URL(path, base);
    if (base.pathname !== '/' && base.pathname !== '') {
      url.pathname = `${base.pathname.replace(/\/$/, '')}${path.split('?')[0]}`;
    }
    for (const [key, value] of Object.entries(query ?? {})) {
      if (value !== undefined) url.searchParams.append(key, String(value));
    }
    return url;
  }

  /**
   * A typed call: signed, verified, retried as allowed, parsed; metadata through `withResponse()`.
   * `path` and `input` may be thunks, so that a bad argument rejects the promise rather than throws.
   */
  call<T>(
    method: HttpMethod,
    pathOf: string | (() => string),
    inputOf: PayV3CallInput | (() => PayV3CallInput),
    idempotentByDefault: boolean,
    template?: string,
  ): APIPromise<T> {
    return APIPromise.from(async () => {
      const path = typeof pathOf === 'function' ? pathOf() : pathOf;
      const input = typeof inputOf === 'function' ? inputOf() : inputOf;
      const url = this.url(path, input.query);
      if (input.body !== undefined && (method === 'GET' || method === 'HEAD')) {
        throw new ArgumentError(`a ${method} request cannot have a body; put the values in query`);
      }
      const body =
        input.body === undefined
          ? undefined
          : typeof input.body === 'string'
            ? input.body
            : JSON.stringify(input.body);
      const headers =
        input.wechatpaySerial === undefined
          ? input.headers
          : // Object.assign, not a spread followed by a property (~1 µs on Node 20; the same result).
            Object.assign({}, input.headers, { 'Wechatpay-Serial': input.wechatpaySerial });
      const answer = await this.send(
        method,
        url,
        {
          headers,
          signal: input.signal,
          timeoutMs: input.timeoutMs,
          ...(body === undefined ? {} : { body }),
        },
        {
          idempotent: input.idempotent ?? idempotentByDefault,
          retries: input.retries,
          route: typeof pathOf === 'string' ? pathOf : (template ?? ''),
        },
      );
      return {
        data: parseVerifiedJson(answer, method, url.pathname) as T,
        response: responseMeta(answer.status, answer.headers),
      };
    });
  }

  /** The `Authorization` and the other headers of one attempt (signed afresh each time). */
  async #headers(method: HttpMethod, url: URL, o: ExchangeOptions): Promise<Record<string, string>> {
    const authorization = await signAuthorization(this.#o.signer, {
      method,
      url: `${url.pathname}${url.search}`,
      body: o.signedBody ?? (typeof o.body === 'string' ? o.body : ''),
      mchid: this.#o.mchid,
      now: this.#o.now,
      random: this.#o.random,
    });
    const headers: Record<string, string> = Object.assign({}, o.headers, {
      Authorization: authorization,
      Accept: o.accept ?? 'application/json',
    });
    if (typeof o.body === 'string') headers['Content-Type'] = 'application/json';
    return headers;
  }

  /** One signed exchange, answered raw (nothing verified or parsed yet); traced on its own. */
  exchange(method: HttpMethod, url: URL, o: ExchangeOptions): Promise<RawAnswer> {
    const tracing = this.#o.tracing;
    if (tracing === undefined) return this.#exchangeOnce(method, url, o);
    return this.#traced(tracing, method, url, url.pathname, async (span) => {
      const answer = await this.#exchangeOnce(method, url, o);
      span.setAttributes({ 'http.response.status_code': answer.status });
      return answer;
    });
  }

  async #exchangeOnce(method: HttpMethod, url: URL, o: ExchangeOptions): Promise<RawAnswer> {
    const headers = await this.#headers(method, url, o);
    const answer = await this.#o.transport.request<Uint8Array>({
      method,
      url: url.href,
      ...(o.body === undefined ? {} : { body: o.body }),
      headers,
      raw: true,
      idempotent: false,
      ...(o.signal === undefined ? {} : { signal: o.signal }),
      ...(o.timeoutMs === undefined ? {} : { timeoutMs: o.timeoutMs }),
    });
    return { status: answer.status, headers: answer.headers, bytes: answer.data };
  }

  /**
   * Sends with retries; resolves with a verified 2xx answer (or, with `verify2xx: false`, an
   * unsigned 2xx file), throws otherwise: a verified error answer as `PayApiError`.
   */
  send(
    method: HttpMethod,
    url: URL,
    o: ExchangeOptions,
    retry: RetryOptions,
    verify2xx = true,
  ): Promise<RawAnswer> {
    return this.#retrying(method, url, o, retry, verify2xx, () => this.#exchangeOnce(method, url, o));
  }

  /**
   * A signed GET whose 2xx body (unsigned, e.g. a bill file) is handed over unread, as chunks; an
   * error answer is read whole and verified like any other. Retried only before the body is handed
   * over. Sent outside the transport, which reads every body whole.
   */
  stream(url: URL, o: ExchangeOptions, retry: RetryOptions): Promise<StreamedAnswer> {
    let attempt = 0;
    return this.#retrying('GET', url, o, retry, false, () => this.#exchangeStream(url, o, ++attempt));
  }

  /**
   * Runs `run` in a client span named `WeChat Pay <METHOD> <route>`: method, path (never the
   * query), host; marked failed with the error's code (and WeChat Pay's `code`) when `run` throws.
   */
  async #traced<A>(
    tracing: Tracing,
    method: HttpMethod,
    url: URL,
    route: string,
    run: (span: TraceSpan) => Promise<A>,
  ): Promise<A> {
    let span: TraceSpan;
    try {
      span = tracing.startClientSpan(
        route === '' ? `WeChat Pay ${method}` : `WeChat Pay ${method} ${route}`,
        {
          'http.request.method': method,
          'url.path': url.pathname,
          'url.scheme': url.protocol.slice(0, -1),
          'server.address': url.hostname,
          'server.port': url.port === '' ? (url.protocol === 'https:' ? 443 : 80) : Number(url.port),
        },
      );
    } catch {
      return run(NO_SPAN);
    }
    try {
      return await tracing.withSpan(span, () => run(span));
    } catch (error) {
      const { payCode, status } = error as { payCode?: unknown; status?: unknown };
      span.setAttributes({
        'http.response.status_code': typeof status === 'number' ? status : undefined,
        'wechatpay.error_code': typeof payCode === 'string' ? payCode : undefined,
      });
      failSpan(span, error);
      throw error;
    } finally {
      span.end();
    }
  }

  #retrying<A extends RawAnswer>(
    method: HttpMethod,
    url: URL,
    o: ExchangeOptions,
    retry: RetryOptions,
    verify2xx: boolean,
    attemptOnce: () => Promise<A>,
  ): Promise<A> {
    const tracing = this.#o.tracing;
    if (tracing === undefined)
      return this.#attempts(method, url, o, retry, verify2xx, attemptOnce, undefined);
    return this.#traced(tracing, method, url, retry.route ?? url.pathname, (span) =>
      this.#attempts(method, url, o, retry, verify2xx, attemptOnce, span),
    );
  }

  async #attempts<A extends RawAnswer>(
    method: HttpMethod,
    url: URL,
    o: ExchangeOptions,
    retry: RetryOptions,
    verify2xx: boolean,
    attemptOnce: () => Promise<A>,
    span: TraceSpan | undefined,
  ): Promise<A> {
    const retries = retry.retries ?? this.#o.retries;
    if (!Number.isInteger(retries) || retries < 0 || retries > 10) {
      throw new ConfigError('INVALID_CONFIG', `retries must be an integer from 0 to 10 (got ${retries})`);
    }
    const path = url.pathname;
    const id = `wk-pay-${++this.#calls}`;
    for (let attempt = 1; ; attempt += 1) {
      let failure: unknown;
      let retryable = false;
      try {
        const answer = await attemptOnce();
        const ok = answer.status >= 200 && answer.status <= 299;
        const transient = answer.status >= 500 || answer.status === 429;
        if (transient && isUnsigned(answer.headers)) {
          // A gateway answer (no WeChat Pay signature): an error whose body is never read.
          failure = new TransportError(
            'HTTP_ERROR',
            `WeChat Pay ${method} ${path} answered HTTP ${answer.status} without a WeChat Pay signature (a gateway error); its body was not used`,
            { status: answer.status },
          );
          retryable = true;
        } else {
          if (!ok || verify2xx) await this.#o.verify({ headers: answer.headers, body: answer.bytes });
          if (ok) {
            span?.setAttributes({ 'http.response.status_code': answer.status });
            return answer;
          }
          failure = payApiErrorOf(answer, method, path);
          retryable = transient;
        }
      } catch (error) {
        failure = error;
        retryable =
          error instanceof TransportError && (error.code === 'NETWORK_ERROR' || error.code === 'TIMEOUT');
      }
      if (!retryable || !retry.idempotent || attempt > retries || o.signal?.aborted) throw failure;
      const bytes = this.#o.random(4);
      const unit =
        ((bytes[0] ?? 0) * 2 ** 24 + (bytes[1] ?? 0) * 2 ** 16 + (bytes[2] ?? 0) * 256 + (bytes[3] ?? 0)) /
        2 ** 32;
      const delayMs = Math.round(unit * Math.min(2000, 100 * 2 ** (attempt - 1)));
      callHook(this.#o.hooks.onRetry, {
        id,
        method,
        url: redactUrl(url.href),
        attempt,
        delayMs,
        reason: failure instanceof WeChatKitError ? failure.code : 'UNKNOWN',
        error: failure as Error,
      });
      span?.addEvent('retry', {
        'weixin_kit.attempt': attempt,
        'error.type': failure instanceof WeChatKitError ? failure.code : 'UNKNOWN',
        'http.response.status_code': (failure as { status?: number }).status,
        'weixin_kit.retry_delay_ms': delayMs,
      });
      span?.setAttributes({ 'http.request.resend_count': attempt });
      await sleep(delayMs, o.signal, this.#o.scheduler);
    }
  }

  /** One attempt of {@link stream}: the timeout bounds the headers, then each wait for a chunk. */
  async #exchangeStream(url: URL, o: ExchangeOptions, attempt: number): Promise<StreamedAnswer> {
    const headers = { 'User-Agent': this.#o.userAgent, ...(await this.#headers('GET', url, o)) };
    const timeoutMs = o.timeoutMs ?? this.#o.timeoutMs;
    const shown = redactUrl(url.href);
    const id = `wk-pay-stream-${++streamCounter}`;
    const started = performance.now();
    callHook(this.#o.hooks.onRequest, { id, method: 'GET', url: shown, attempt });
    const timedOut = (what: string) =>
      new TransportError(
        'TIMEOUT',
        `WeChat Pay GET ${shown} sent no ${what} within ${timeoutMs} ms (timeoutMs); raise timeoutMs if the network is slow`,
      );
    // Not AbortSignal.timeout on the fetch: its signal also governs the body, which may rightly
    // take longer than timeoutMs in all; only the wait for the headers is bounded by this one.
    const headerTimeout = timeoutSignal(timeoutMs, this.#o.scheduler);
    const combined =
      o.signal === undefined
        ? { signal: headerTimeout.signal, dispose() {} }
        : anySignal([o.signal, headerTimeout.signal]);
    let response: Response;
    try {
      const init: RequestInit & { dispatcher?: object } = {
        method: 'GET',
        headers,
        signal: combined.signal,
        redirect: 'manual',
      };
      if (this.#o.dispatcher !== undefined) init.dispatcher = this.#o.dispatcher;
      response = await raceAbort(this.#o.fetch(url.href, init), combined.signal);
    } catch (cause) {
      combined.dispose();
      if (o.signal?.aborted) throw o.signal.reason;
      if (headerTimeout.signal.aborted) throw timedOut('headers');
      throw new TransportError('NETWORK_ERROR', `WeChat Pay GET ${shown} failed: ${describe(cause)}`);
    } finally {
      headerTimeout.clear();
    }
    callHook(this.#o.hooks.onResponse, {
      id,
      method: 'GET',
      url: shown,
      status: response.status,
      durationMs: performance.now() - started,
      attempt,
    });
    const ok = response.status >= 200 && response.status <= 299;
    if (ok && response.body !== null) {
      const stream = chunksOf(
        response.body,
        timeoutMs,
        o.signal,
        () => timedOut('data'),
        shown,
        () => combined.dispose(),
        this.#o.scheduler,
      );
      return { status: response.status, headers: response.headers, bytes: new Uint8Array(0), stream };
    }
    // An error answer is small and signed: read it whole, to be verified before it is used.
    const bodyTimeout = timeoutSignal(timeoutMs, this.#o.scheduler);
    const waiting =
      o.signal === undefined
        ? { signal: bodyTimeout.signal, dispose() {} }
        : anySignal([o.signal, bodyTimeout.signal]);
    try {
      const bytes = new Uint8Array(await raceAbort(response.arrayBuffer(), waiting.signal));
      return { status: response.status, headers: response.headers, bytes, stream: undefined };
    } catch (cause) {
      if (o.signal?.aborted) throw o.signal.reason;
      if (bodyTimeout.signal.aborted) throw timedOut('body');
      throw new TransportError(
        'NETWORK_ERROR',
        `WeChat Pay GET ${shown} answered HTTP ${response.status} but the body could not be read: ${describe(cause)}`,
        { status: response.status },
      );
    } finally {
      bodyTimeout.clear();
      waiting.dispose();
      combined.dispose();
    }
  }
}

/**
 * The chunks of `body`, each waited for at most `idleMs`: a stalled download fails with
 * `TIMEOUT` instead of hanging, however long the whole transfer rightly takes. Stopping early
 * (`return()`) cancels the body.
 */
async function* chunksOf(
  body: ReadableStream<Uint8Array>,
  idleMs: number,
  signal: AbortSignal | undefined,
  timedOut: () => Error,
  shown: string,
  done: () => void,
  scheduler: Scheduler,
): AsyncGenerator<Uint8Array> {
  const reader = body.getReader();
  let finished = false;
  try {
    for (;;) {
      const idle = timeoutSignal(idleMs, scheduler);
      const waiting =
        signal === undefined ? { signal: idle.signal, dispose() {} } : anySignal([signal, idle.signal]);
      let chunk: ReadableStreamReadResult<Uint8Array>;
      try {
        chunk = await raceAbort(reader.read(), waiting.signal);
      } catch (cause) {
        if (signal?.aborted) throw signal.reason;
        if (idle.signal.aborted) throw timedOut();
        throw new TransportError(
          'NETWORK_ERROR',
          `WeChat Pay GET ${shown}: the download broke off: ${describe(cause)}`,
        );
      } finally {
        idle.clear();
        waiting.dispose();
      }
      if (chunk.done) {
        finished = true;
        return;
      }
      yield chunk.value;
    }
  } finally {
    if (!finished) reader.cancel().catch(() => undefined);
    done();
  }
}

/** A failure's message and code (e.g. `ECONNRESET`), redacted: a custom fetch may put the URL in it. */
function describe(cause: unknown): string {
  const parts: string[] = [];
  let current: unknown = cause;
  for (let depth = 0; depth < 3 && current instanceof Error; depth += 1) {
    const code = (current as { code?: unknown }).code;
    parts.push(typeof code === 'string' ? `${current.message} (${code})` : current.message);
    current = current.cause;
  }
  return redactText(redactUrl(parts.length ? parts.join(': ') : String(cause)));
}
