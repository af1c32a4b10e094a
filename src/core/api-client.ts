import { type CredentialSettings, credentialErrorOf } from '../credentials/credential-errors.js';
import type { TokenManager } from '../credentials/token-manager.js';
import { ConfigError, WeChatApiError } from '../errors.js';
import { joinUrl } from '../internal/join-url.js';
import { APIPromise } from './api-promise.js';
import type { BreakerPass, QuotaBreaker } from './quota-breaker.js';
import { type RequestOptions, responseMeta, type WithResponse } from './request-options.js';
import type { HttpMethod, Transport } from './transport.js';

export type { RequestOptions } from './request-options.js';

/** Options of {@link ApiClient.request}, the typed escape hatch for APIs without a method yet. */
export interface ApiRequestOptions extends RequestOptions {
  query?: Record<string, string | number | boolean | undefined> | undefined;
  /** A JSON body (objects), or a `FormData`/`Uint8Array`/string sent as is. */
  body?: unknown;
  /**
   * `bytes` for binary answers (media, QR images), `stream` for a `ReadableStream<Uint8Array>` of
   * a large one; JSON errcode answers still throw.
   */
  responseType?: 'json' | 'text' | 'bytes' | 'stream' | undefined;
  /** Add the token (`access_token`, or the client's `tokenQueryName`) to the query (default true). */
  auth?: boolean | undefined;
}

/**
 * One small client over one host: joins paths to `baseUrl`, adds the access_token, and on a token
 * error (40001, 40014, 42001) invalidates the token — only if the store still holds the one that
 * failed — fetches a fresh one and retries the call once. Never a loop.
 *
 * With `credentials`, WeChat's refusal of a setting — a wrong AppSecret (40125) or a caller IP
 * outside the IP whitelist (40164, Open Platform 61004), which can come on any call — is thrown as
 * a `CredentialConfigError` (`INVALID_APPSECRET`, `IP_NOT_WHITELISTED`) naming the setting to fix,
 * and is neither retried nor taken for a stale token.
 *
 * With a quota breaker (the token clients build one unless `quotaBreaker: false`), an API whose
 * quota WeChat reports spent (45009, 45011) fails fast with `QuotaExceededError` until its back-off
 * ends, without a token request or a request to WeChat.
 */
export class ApiClient {
  readonly baseUrl: string;
  readonly transport: Transport;
  readonly #accessToken: TokenManager | undefined;
  readonly #tokenQueryName: string;
  readonly #credentials: CredentialSettings | undefined;
  readonly #breaker: QuotaBreaker | undefined;

  constructor(options: {
    baseUrl: string;
    transport: Transport;
    accessToken?: TokenManager;
    /** The query parameter that carries the token (default `access_token`; Open Platform component APIs: `component_access_token`). */
    tokenQueryName?: string;
    /** Names of the client's credential settings, for the errors WeChat's refusal of one becomes. */
    credentials?: CredentialSettings;
    /** Holds calls back while WeChat reports an API's quota spent (45009, 45011). @internal */
    quotaBreaker?: QuotaBreaker | undefined;
  }) {
    this.baseUrl = options.baseUrl;
    this.transport = options.transport;
    this.#accessToken = options.accessToken;
    this.#tokenQueryName = options.tokenQueryName ?? 'access_token';
    this.#credentials = options.credentials;
    this.#breaker = options.quotaBreaker;
  }

  /**
   * `error` as this client throws it: WeChat's refusal of a credential setting (40125, 40164,
   * 61004) becomes a `CredentialConfigError`; anything else is returned as is. For requests sent
   * past {@link request} (sealed Mini Program calls).
   * @internal
   */
  credentialError(error: unknown): unknown {
    return this.#credentials === undefined ? error : credentialErrorOf(error, this.#credentials, 'api');
  }

  /** The current access_token (fetched or refreshed as needed). */
  getAccessToken(): Promise<string> {
    if (!this.#accessToken) throw new ConfigError('INVALID_CONFIG', 'this client has no access_token');
    return this.#accessToken.get();
  }

  /**
   * Calls a WeChat API: `request('GET', '/cgi-bin/user/info', { query: { openid } })`.
   *
   * @example
   * const res = await oa.request<{ total: number }>('GET', '/cgi-bin/user/get', { query: { next_openid: '' } });
   */
  request<T = unknown>(method: HttpMethod, path: string, options: ApiRequestOptions = {}): APIPromise<T> {
    return APIPromise.from(async () => {
      try {
        return await this.#request<T>(method, path, options);
      } catch (error) {
        throw this.credentialError(error);
      }
    });
  }

  /**
   * Runs requests to `path` sent past {@link request} (sealed Mini Program calls) through this
   * client's quota breaker: `run` wraps each request it sends in `send`. Throws
   * `QuotaExceededError` without calling `run` while the breaker of `path` is open.
   * @internal
   */
  async withQuotaBreaker<T>(
    path: string,
    run: (send: <R>(request: () => Promise<R>) => Promise<R>) => Promise<T>,
  ): Promise<T> {
    const pass = await this.#breaker?.enter(path);
    try {
      return await run((request) => through(pass, request));
    } finally {
      await pass?.release();
    }
  }

  async #request<T>(method: HttpMethod, path: string, options: ApiRequestOptions): Promise<WithResponse<T>> {
    // Before the token too: an aborted call on a cold client must not cost a token request.
    options.signal?.throwIfAborted();
    // Before the token as well: an API whose quota is spent must not cost a token request either.
    const pass = await this.#breaker?.enter(path);
    try {
      return await this.#call<T>(method, path, options, pass);
    } finally {
      await pass?.release();
    }
  }

  async #call<T>(
    method: HttpMethod,
    path: string,
    options: ApiRequestOptions,
    pass: BreakerPass | undefined,
  ): Promise<WithResponse<T>> {
    const auth = options.auth ?? true;
    if (!auth) return this.#send<T>(method, path, options, undefined, pass);
    const manager = this.#accessToken;
    if (!manager)
      throw new ConfigError('INVALID_CONFIG', `${path} needs an access_token, and this client has none`);
    const token = await manager.get();
    try {
      return await this.#send<T>(method, path, options, token, pass);
    } catch (error) {
      if (!(error instanceof WeChatApiError) || error.code !== 'TOKEN_INVALID') throw error;
      // The token was revoked or replaced elsewhere: drop it only if it is still the stored one,
      // take the fresh one, and try once more.
      await manager.invalidate(token);
      const fresh = await manager.get();
      return this.#send<T>(method, path, options, fresh, pass);
    }
  }

  async #send<T>(
    method: HttpMethod,
    path: string,
    options: ApiRequestOptions,
    token: string | undefined,
    pass: BreakerPass | undefined,
  ): Promise<WithResponse<T>> {
    // Object.assign, not `{ ...query, [name]: token }`: a spread followed by a property costs ~1 µs on Node 20.
    const query =
      token === undefined
        ? options.query
        : Object.assign({}, options.query, { [this.#tokenQueryName]: token });
    const response = await through(pass, () =>
      this.transport.request<T>({
        method,
        url: joinUrl(this.baseUrl, path),
        ...(query === undefined ? {} : { query }),
        ...(options.body === undefined ? {} : { body: options.body }),
        ...(options.timeoutMs === undefined ? {} : { timeoutMs: options.timeoutMs }),
        ...(options.signal === undefined ? {} : { signal: options.signal }),
        ...(options.responseType === undefined ? {} : { responseType: options.responseType }),
        ...(options.idempotent === undefined ? {} : { idempotent: options.idempotent }),
        ...(options.retries === undefined ? {} : { retries: options.retries }),
        ...(options.headers === undefined ? {} : { headers: options.headers }),
      }),
    );
    return { data: response.data, response: responseMeta(response.status, response.headers) };
  }
}

/** One request through a breaker pass: its outcome is reported, a quota errcode becomes `QuotaExceededError`. */
async function through<R>(pass: BreakerPass | undefined, request: () => Promise<R>): Promise<R> {
  if (pass === undefined) return request();
  let result: R;
  try {
    result = await request();
  } catch (error) {
    throw await pass.failed(error);
  }
  await pass.succeeded();
  return result;
}
