/**
 * The per-call contract every client shares: `method(params, options?: RequestOptions)`, and the
 * response metadata any call exposes through `.withResponse()`.
 */

/**
 * Per-call options, the last argument of every API method of every client (Official Account,
 * Mini Program, WeCom, Open Platform, Pay v3, Pay v2). Each overrides the client's setting for
 * this one call.
 *
 * @example
 * await oa.users.get({ openid }, { timeoutMs: 2000, signal: AbortSignal.timeout(5000) });
 */
export interface RequestOptions {
  /** Time allowed per attempt, ms (overrides the client's `timeoutMs`). */
  timeoutMs?: number | undefined;
  /** Aborts the call; the abort reason is thrown as is and never retried. */
  signal?: AbortSignal | undefined;
  /** Retries after the first attempt for failures that are safe to retry (overrides the client's `retries`; 0 = none). */
  retries?: number | undefined;
  /** Extra HTTP headers for this call (never needed by WeChat itself; for proxies and tracing). */
  headers?: Record<string, string> | undefined;
  /**
   * Declares that sending this call twice is harmless, so a network error or timeout may be
   * retried (default: per method — reads, and writes WeChat de-duplicates, such as Pay calls
   * keyed by `out_trade_no`/`out_refund_no`). Set it only when you made the call idempotent
   * yourself (e.g. a template message with `client_msg_id`).
   */
  idempotent?: boolean | undefined;
}

/** What came back besides the data: the HTTP status, the headers and WeChat's request id. */
export interface ResponseMeta {
  /** HTTP status of the final attempt. */
  status: number;
  /** Response headers of the final attempt. */
  headers: Headers;
  /**
   * WeChat's id of the request, for a support ticket: the `Request-ID` header (WeChat Pay), else
   * undefined (WeChat's other APIs put an `rid` only in error messages, kept on the error).
   */
  requestId: string | undefined;
}

/** The data of a call together with its {@link ResponseMeta}. */
export interface WithResponse<T> {
  data: T;
  response: ResponseMeta;
}

/** The {@link ResponseMeta} of a fetch `Response`-like answer. */
export function responseMeta(status: number, headers: Headers): ResponseMeta {
  return { status, headers, requestId: headers.get('request-id') ?? undefined };
}
