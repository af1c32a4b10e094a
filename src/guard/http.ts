/**
 * The HTTP rules of the guard: who the client really is (`trustProxy`), whether the request came
 * over HTTPS, CORS, and the one JSON answer shape. Pure functions over a {@link GuardRequest}.
 */
import { ConfigError, type GuardError } from '../errors.js';
import {
  compileTrustProxy as compileClientIp,
  headerText,
  type ProxyTrust,
  type TrustProxy,
} from '../internal/client-ip.js';
import type { GuardAnswer, GuardHandler, GuardRequest } from './types.js';

export {
  headerText,
  isLoopback,
  normalizeIp,
  type ProxyTrust,
  type TrustProxy,
} from '../internal/client-ip.js';

/** Compiles the guard's {@link TrustProxy} setting; throws `ConfigError` on an address it cannot read. */
export function compileTrustProxy(setting: TrustProxy | undefined): ProxyTrust {
  return compileClientIp(setting, 'createGuard');
}

/** Options of the guard's CORS. */
export interface CorsOptions {
  /** Exact origins allowed (`https://h5.example.com`), or `['*']` without credentials. */
  origins: readonly string[];
  /** Send `Access-Control-Allow-Credentials: true` (cookies). `*` is refused with it. Default false. */
  credentials?: boolean;
  /** Preflight cache, seconds (default 600). */
  maxAgeSeconds?: number;
  /** Request headers a page may send (default `Authorization, Content-Type, X-Request-Id`). */
  allowHeaders?: readonly string[];
}

/** A compiled CORS policy. */
export interface Cors {
  /** Headers for an allowed origin; `undefined` for a foreign one. */
  headersFor(origin: string): Record<string, string> | undefined;
  preflightHeaders(origin: string): Record<string, string> | undefined;
}

const ORIGIN = /^https?:\/\/[A-Za-z0-9.-]+(:\d{1,5})?$|^https?:\/\/\[[0-9A-Fa-f:.]+\](:\d{1,5})?$/;

/** Checks and compiles the CORS options; `*` with credentials fails here, at startup. */
export function compileCors(options: CorsOptions | undefined): Cors | undefined {
  if (options === undefined) return undefined;
  if (typeof options !== 'object' || options === null || !Array.isArray(options.origins)) {
    throw new ConfigError(
      'INVALID_CONFIG',
      "createGuard: cors must be { origins: ['https://h5.example.com', …] }",
    );
  }
  const credentials = options.credentials === true;
  const wildcard = options.origins.includes('*');
  if (wildcard && credentials) {
    throw new ConfigError(
      'INVALID_CONFIG',
      'createGuard: cors.origins "*" together with credentials: true would let every web site act with your users\' cookies; browsers refuse it as well. List the exact origins of your H5 pages instead.',
    );
  }
  const allowed = new Set<string>();
  for (const origin of options.origins) {
    if (origin === '*') continue;
    if (typeof origin !== 'string' || !ORIGIN.test(origin)) {
      throw new ConfigError(
        'INVALID_CONFIG',
        `createGuard: cors origin ${JSON.stringify(origin)} must be scheme://host[:port] without a path, e.g. https://h5.example.com`,
      );
    }
    allowed.add(origin.toLowerCase());
  }
  const maxAge = options.maxAgeSeconds ?? 600;
  const allowHeaders = (options.allowHeaders ?? ['Authorization', 'Content-Type', 'X-Request-Id']).join(', ');
  const base = (origin: string): Record<string, string> | undefined => {
    if (!wildcard && !allowed.has(origin.toLowerCase())) return undefined;
    const headers: Record<string, string> = {
      'access-control-allow-origin': wildcard ? '*' : origin,
      vary: 'Origin',
    };
    if (credentials) headers['access-control-allow-credentials'] = 'true';
    return headers;
  };
  return {
    headersFor: (origin) => {
      const headers = base(origin);
      if (headers) headers['access-control-expose-headers'] = 'Retry-After, X-Request-Id';
      return headers;
    },
    preflightHeaders: (origin) => {
      const headers = base(origin);
      if (!headers) return undefined;
      headers['access-control-allow-methods'] = 'GET, POST, PUT, PATCH, DELETE';
      headers['access-control-allow-headers'] = allowHeaders;
      headers['access-control-max-age'] = String(maxAge);
      return headers;
    },
  };
}

/** Options of HTTPS enforcement. */
export interface HttpsOptions {
  /**
   * Plain-HTTP requests from non-loopback clients: `GET`/`HEAD` get `308` to the HTTPS URL, other
   * methods `403 HTTPS_REQUIRED` (their body already crossed the network in clear: it is not
   * processed). Default true.
   */
  redirect?: boolean;
  /** `Strict-Transport-Security` on HTTPS answers; `false` to leave it to the proxy. */
  hsts?: false | { maxAgeSeconds?: number; includeSubDomains?: boolean; preload?: boolean };
}

/** The HSTS header value, or `undefined` when off. */
export function hstsValue(https: HttpsOptions | false | undefined): string | undefined {
  if (https === false || https?.hsts === false) return undefined;
  const hsts = https?.hsts ?? {};
  const maxAge = hsts.maxAgeSeconds ?? 31_536_000;
  if (!Number.isSafeInteger(maxAge) || maxAge < 0) {
    throw new ConfigError(
      'INVALID_CONFIG',
      'createGuard: https.hsts.maxAgeSeconds must be a whole number >= 0',
    );
  }
  let value = `max-age=${maxAge}`;
  if (hsts.includeSubDomains ?? true) value += '; includeSubDomains';
  if (hsts.preload === true) value += '; preload';
  return value;
}

/**
 * A method in upper case. The usual ones, as Node and the Fetch API already spell them, are
 * returned as they are: `toUpperCase` goes through ICU even on a string that is upper case.
 */
export function upperMethod(method: string): string {
  return method === 'GET' || method === 'POST' || method === 'HEAD' || method === 'OPTIONS'
    ? method
    : method.toUpperCase();
}

const HOST = /^(?:[A-Za-z0-9-]{1,63}\.)*[A-Za-z0-9-]{1,63}(?::\d{1,5})?$|^\[[0-9A-Fa-f:.]+\](?::\d{1,5})?$/;

/** The `https://` URL of a request, or `undefined` when its Host header cannot be trusted to build one. */
export function httpsUrl(request: GuardRequest): string | undefined {
  const host = headerText(request.headers.host);
  if (
    host === undefined ||
    !HOST.test(host) ||
    !request.url.startsWith('/') ||
    request.url.startsWith('//')
  ) {
    return undefined;
  }
  return `https://${host.replace(/:80$/, '')}${request.url}`;
}

/** Headers on every guard answer. */
export const BASE_HEADERS: Readonly<Record<string, string>> = {
  'content-type': 'application/json; charset=utf-8',
  'x-content-type-options': 'nosniff',
  'cache-control': 'no-store',
};

/** A JSON answer with the base headers plus `headers`. */
export function jsonAnswer(
  status: number,
  body: unknown,
  headers: Record<string, string>,
  trusted = false,
): GuardAnswer {
  const all: Record<string, string> = {
    'content-type': 'application/json; charset=utf-8',
    'x-content-type-options': 'nosniff',
    'cache-control': 'no-store',
  };
  for (const name in headers) all[name] = headers[name] as string;
  const text = status === 204 || status === 308 ? '' : JSON.stringify(body);
  return trusted ? new OwnAnswer(status, all, text) : { status, headers: all, body: text };
}

/**
 * An answer whose headers the guard made itself (lower-case names of its own, values it built or
 * that came from request headers Node already checked, no `Set-Cookie`): adapters write them
 * without checking each header again. An answer with a handler's own headers is never in it.
 */
class OwnAnswer implements GuardAnswer {
  readonly #own = true;

  constructor(
    readonly status: number,
    readonly headers: Record<string, string>,
    readonly body: string,
  ) {}

  static is(answer: unknown): boolean {
    return typeof answer === 'object' && answer !== null && #own in answer;
  }
}

/** True for an answer made by {@link jsonAnswer} with `trusted` (see `OwnAnswer`). */
export function isTrustedAnswer(answer: unknown): boolean {
  return OwnAnswer.is(answer);
}

/** The error answer: `{ "error": { "code", "message", "requestId" } }`. */
export function errorAnswer(
  error: GuardError,
  requestId: string,
  headers: Record<string, string>,
): GuardAnswer {
  // jsonAnswer copies `headers`; a copy is made here only to add Retry-After (with Object.assign:
  // `{ ...headers }` given a property afterwards takes ~2 µs on Node 20, which a flood of 429s pays).
  const extra =
    error.retryAfterSeconds === undefined
      ? headers
      : Object.assign({}, headers, { 'retry-after': String(error.retryAfterSeconds) });
  return jsonAnswer(error.status, { error: { code: error.code, message: error.message, requestId } }, extra);
}

/** A guard route that answers in the same step when it can: an answer, or a promise of one. */
export type ServeNow = (request: GuardRequest) => GuardAnswer | Promise<GuardAnswer>;

// The routes the guard made, with their same-step form; not public API.
const SERVE_NOW = new WeakMap<GuardHandler, ServeNow>();

/** Records `serve` as the same-step form of the guard route `handler` (the guard, for its routes). */
export function registerServeNow(handler: GuardHandler, serve: ServeNow): void {
  SERVE_NOW.set(handler, serve);
}

/**
 * What an adapter calls for `handler`: the same-step form of a guard route, or the handler itself
 * (a route wrapped in tracing, or made by hand). Looked up once, when the adapter is made.
 */
export function serveNowOf(handler: GuardHandler): ServeNow {
  return SERVE_NOW.get(handler) ?? handler;
}
