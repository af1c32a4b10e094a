/**
 * The HTTP rules of the guard: who the client really is (`trustProxy`), whether the request came
 * over HTTPS, CORS, and the one JSON answer shape. Pure functions over a {@link GuardRequest}.
 */
import { BlockList, isIP } from 'node:net';
import { ConfigError, type GuardError } from '../errors.js';
import type { GuardAnswer, GuardRequest } from './types.js';

/**
 * Which proxies in front of this process may speak for the client through `X-Forwarded-For` and
 * `X-Forwarded-Proto`: `false` (default: none; the TCP peer is the client), a hop count (the
 * nearest N proxies), or a list of addresses/CIDRs, with the aliases `'loopback'`, `'private'`
 * (RFC 1918 / unique local) and `'linklocal'`.
 */
export type TrustProxy = false | number | readonly string[];

const ALIASES: Record<string, string[]> = {
  loopback: ['127.0.0.0/8', '::1/128'],
  private: ['10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16', 'fc00::/7'],
  linklocal: ['169.254.0.0/16', 'fe80::/10'],
};

/** A compiled `trustProxy`: the client address and protocol of a request. */
export interface ProxyTrust {
  clientIp(request: GuardRequest): string | undefined;
  /** `https` or `http`, from the connection or (when the peer is trusted) `X-Forwarded-Proto`. */
  protocol(request: GuardRequest): 'https' | 'http';
}

/** Compiles a {@link TrustProxy} setting; throws `ConfigError` on an address it cannot read. */
export function compileTrustProxy(setting: TrustProxy | undefined): ProxyTrust {
  const value = setting ?? false;
  let trusted: (address: string, hop: number) => boolean;
  if (value === false) {
    trusted = () => false;
  } else if (typeof value === 'number') {
    if (!Number.isSafeInteger(value) || value < 0) {
      throw new ConfigError(
        'INVALID_CONFIG',
        'createGuard: trustProxy as a hop count must be a whole number >= 0',
      );
    }
    trusted = (_address, hop) => hop < value;
  } else if (Array.isArray(value)) {
    const list = new BlockList();
    for (const entry of value as readonly string[]) {
      for (const item of ALIASES[entry] ?? [entry]) addToList(list, item);
    }
    trusted = (address) => {
      const family = isIP(address);
      return family !== 0 && list.check(address, family === 6 ? 'ipv6' : 'ipv4');
    };
  } else {
    throw new ConfigError(
      'INVALID_CONFIG',
      "createGuard: trustProxy must be false, a hop count, or a list of addresses/CIDRs (e.g. ['loopback', '10.0.0.0/8']); `true` is not accepted: it would let any client choose its IP",
    );
  }
  const chain = (request: GuardRequest): string[] => {
    const peer = normalizeIp(request.remoteAddress);
    const out = peer === undefined ? [] : [peer];
    const forwarded = headerText(request.headers['x-forwarded-for']);
    if (forwarded === undefined) return out;
    const hops = forwarded
      .split(',')
      .map((part) => normalizeIp(part.trim()))
      .filter((ip): ip is string => ip !== undefined);
    return out.concat(hops.reverse());
  };
  // Without trusted proxies the TCP peer, when known, is the client: there is no chain to walk.
  const untrusted = value === false;
  return {
    clientIp(request) {
      if (untrusted) {
        const peer = normalizeIp(request.remoteAddress);
        if (peer !== undefined) return peer;
      }
      const addresses = chain(request);
      let index = 0;
      while (index < addresses.length - 1 && trusted(addresses[index] as string, index)) index += 1;
      return addresses[index];
    },
    protocol(request) {
      if (request.secure) return 'https';
      if (untrusted) return 'http';
      const peer = normalizeIp(request.remoteAddress);
      if (peer === undefined || !trusted(peer, 0)) return 'http';
      const proto = headerText(request.headers['x-forwarded-proto'])?.split(',')[0]?.trim().toLowerCase();
      return proto === 'https' ? 'https' : 'http';
    },
  };
}

function addToList(list: BlockList, entry: string): void {
  const [address, prefix] = entry.split('/');
  const family = isIP(normalizeIp(address) ?? '');
  const bits = prefix === undefined ? (family === 6 ? 128 : 32) : Number(prefix);
  if (family === 0 || !Number.isInteger(bits) || bits < 0 || bits > (family === 6 ? 128 : 32)) {
    throw new ConfigError(
      'INVALID_CONFIG',
      `createGuard: trustProxy entry "${entry}" is not an address, a CIDR or one of loopback/private/linklocal`,
    );
  }
  list.addSubnet(normalizeIp(address) as string, bits, family === 6 ? 'ipv6' : 'ipv4');
}

/** An address without IPv4-mapped IPv6 wrapping or brackets; `undefined` when not an IP. */
export function normalizeIp(value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  let ip = value.trim();
  if (ip.startsWith('[') && ip.endsWith(']')) ip = ip.slice(1, -1);
  if (ip.toLowerCase().startsWith('::ffff:') && isIP(ip.slice(7)) === 4) ip = ip.slice(7);
  return isIP(ip) === 0 ? undefined : ip;
}

/** True for 127.0.0.0/8 and ::1. */
export function isLoopback(ip: string | undefined): boolean {
  return ip !== undefined && (ip === '::1' || /^127\./.test(ip));
}

/** The first value of a header. */
export function headerText(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
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
export function jsonAnswer(status: number, body: unknown, headers: Record<string, string>): GuardAnswer {
  const all: Record<string, string> = {
    'content-type': 'application/json; charset=utf-8',
    'x-content-type-options': 'nosniff',
    'cache-control': 'no-store',
  };
  for (const name in headers) all[name] = headers[name] as string;
  return {
    status,
    headers: all,
    body: status === 204 || status === 308 ? '' : JSON.stringify(body),
  };
}

/** The error answer: `{ "error": { "code", "message", "requestId" } }`. */
export function errorAnswer(
  error: GuardError,
  requestId: string,
  headers: Record<string, string>,
): GuardAnswer {
  const extra = { ...headers };
  if (error.retryAfterSeconds !== undefined) extra['retry-after'] = String(error.retryAfterSeconds);
  return jsonAnswer(error.status, { error: { code: error.code, message: error.message, requestId } }, extra);
}
