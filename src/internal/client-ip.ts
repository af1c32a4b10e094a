/**
 * Who the client of a request really is: the TCP peer, or — behind proxies the operator trusts
 * (`trustProxy`) — the address those proxies name in `X-Forwarded-For`. Shared by the guard and
 * the callback allowlist; pure functions over node:net.
 */
import { BlockList, isIP } from 'node:net';
import { ConfigError } from '../errors.js';

/**
 * Which proxies in front of this process may speak for the client through `X-Forwarded-For` and
 * `X-Forwarded-Proto`: `false` (default: none; the TCP peer is the client), a hop count (the
 * nearest N proxies), or a list of addresses/CIDRs, with the aliases `'loopback'`, `'private'`
 * (RFC 1918 / unique local) and `'linklocal'`.
 */
export type TrustProxy = false | number | readonly string[];

/** Request headers as Node (`IncomingMessage.headers`, names lower-case) or the Fetch API give them. */
export type HeaderSource =
  | Readonly<Record<string, string | string[] | undefined>>
  | { get(name: string): string | null };

/** What the client address is worked out from. */
export interface PeerRequest {
  /** The TCP peer's address, when the runtime knows it. */
  remoteAddress?: string | undefined;
  headers: HeaderSource;
}

/** A compiled `trustProxy`: the client address and protocol of a request. */
export interface ProxyTrust {
  clientIp(request: PeerRequest): string | undefined;
  /** `https` or `http`, from the connection or (when the peer is trusted) `X-Forwarded-Proto`. */
  protocol(request: PeerRequest & { secure: boolean }): 'https' | 'http';
}

/** The named address ranges accepted in `trustProxy` lists and allowlists. */
export const ADDRESS_ALIASES: Readonly<Record<string, readonly string[]>> = {
  loopback: ['127.0.0.0/8', '::1/128'],
  private: ['10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16', 'fc00::/7'],
  linklocal: ['169.254.0.0/16', 'fe80::/10'],
};

/**
 * Compiles a {@link TrustProxy} setting; throws `ConfigError` on an address it cannot read.
 * `caller` names the factory in the messages (`createGuard`, `createCallbackAllowlist`).
 */
export function compileTrustProxy(setting: TrustProxy | undefined, caller: string): ProxyTrust {
  const value = setting ?? false;
  let trusted: (address: string, hop: number) => boolean;
  if (value === false) {
    trusted = () => false;
  } else if (typeof value === 'number') {
    if (!Number.isSafeInteger(value) || value < 0) {
      throw new ConfigError(
        'INVALID_CONFIG',
        `${caller}: trustProxy as a hop count must be a whole number >= 0`,
      );
    }
    trusted = (_address, hop) => hop < value;
  } else if (Array.isArray(value)) {
    const list = compileAddressList(
      value as readonly string[],
      (entry) =>
        `${caller}: trustProxy entry ${describeEntry(entry)} is not an address, a CIDR or one of loopback/private/linklocal`,
    );
    trusted = (address) => list.has(address);
  } else {
    throw new ConfigError(
      'INVALID_CONFIG',
      `${caller}: trustProxy must be false, a hop count, or a list of addresses/CIDRs (e.g. ['loopback', '10.0.0.0/8']); \`true\` is not accepted: it would let any client choose its IP`,
    );
  }
  const chain = (request: PeerRequest): string[] => {
    const peer = normalizeIp(request.remoteAddress);
    const out = peer === undefined ? [] : [peer];
    const forwarded = readHeader(request.headers, 'x-forwarded-for');
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
      const proto = readHeader(request.headers, 'x-forwarded-proto')?.split(',')[0]?.trim().toLowerCase();
      return proto === 'https' ? 'https' : 'http';
    },
  };
}

/** A set of addresses and CIDR ranges (IPv4 and IPv6; IPv4-mapped IPv6 matches its IPv4 range). */
export interface AddressList {
  /** True when `ip` (any textual form `normalizeIp` reads) is inside one of the entries. */
  has(ip: string | undefined): boolean;
}

/** One address or CIDR, read: `undefined` when it is neither. */
export function parseAddressEntry(
  entry: unknown,
): { address: string; prefix: number; family: 'ipv4' | 'ipv6' } | undefined {
  if (typeof entry !== 'string') return undefined;
  const parts = entry.trim().split('/');
  if (parts.length > 2) return undefined;
  const [rawAddress, rawPrefix] = parts;
  const address = normalizeIp(rawAddress);
  if (address === undefined) return undefined;
  const family = isIP(address) === 6 ? 'ipv6' : 'ipv4';
  const max = family === 'ipv6' ? 128 : 32;
  if (rawPrefix !== undefined && !/^\d{1,3}$/.test(rawPrefix)) return undefined;
  let prefix = rawPrefix === undefined ? max : Number(rawPrefix);
  // An IPv4-mapped range (::ffff:192.0.2.0/120) is read as the IPv4 range it covers (/24).
  if (rawPrefix !== undefined && family === 'ipv4' && isIP(stripBrackets(rawAddress ?? '')) === 6)
    prefix -= 96;
  if (prefix < 0 || prefix > max) return undefined;
  return { address, prefix, family };
}

/**
 * Compiles addresses, CIDRs and the {@link ADDRESS_ALIASES}; throws `ConfigError` with
 * `message(entry)` on the first entry it cannot read.
 */
export function compileAddressList(
  entries: readonly unknown[],
  message: (entry: unknown) => string,
): AddressList {
  const list = new BlockList();
  for (const entry of entries) {
    const items = typeof entry === 'string' ? (ADDRESS_ALIASES[entry] ?? [entry]) : [entry];
    for (const item of items) {
      const parsed = parseAddressEntry(item);
      if (parsed === undefined) throw new ConfigError('INVALID_CONFIG', message(entry));
      list.addSubnet(parsed.address, parsed.prefix, parsed.family);
    }
  }
  return blockListMatcher(list);
}

/** An {@link AddressList} over a filled `BlockList`. */
export function blockListMatcher(list: BlockList): AddressList {
  return {
    has(ip) {
      const address = normalizeIp(ip);
      if (address === undefined) return false;
      return list.check(address, isIP(address) === 6 ? 'ipv6' : 'ipv4');
    },
  };
}

/** An address without IPv4-mapped IPv6 wrapping or brackets; `undefined` when not an IP. */
export function normalizeIp(value: string | undefined): string | undefined {
  if (typeof value !== 'string') return undefined;
  // A keep-alive connection asks again and again with the same peer string.
  if (value === lastRaw) return lastIp;
  const ip = normalizeOnce(value);
  lastRaw = value;
  lastIp = ip;
  return ip;
}

let lastRaw: string | undefined;
let lastIp: string | undefined;

function normalizeOnce(value: string): string | undefined {
  let ip = value.trim();
  if (ip.startsWith('[') && ip.endsWith(']')) ip = ip.slice(1, -1);
  if (ip.toLowerCase().startsWith('::ffff:') && isIP(ip.slice(7)) === 4) ip = ip.slice(7);
  return isIP(ip) === 0 ? undefined : ip;
}

function stripBrackets(value: string): string {
  const text = value.trim();
  return text.startsWith('[') && text.endsWith(']') ? text.slice(1, -1) : text;
}

/** True for 127.0.0.0/8 and ::1. */
export function isLoopback(ip: string | undefined): boolean {
  return ip !== undefined && (ip === '::1' || /^127\./.test(ip));
}

/** The first value of a header. */
export function headerText(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

/** The first value of the header `name` (lower-case), from Node-style or Fetch headers. */
export function readHeader(headers: HeaderSource | undefined, name: string): string | undefined {
  if (headers === undefined || headers === null) return undefined;
  if (typeof (headers as { get?: unknown }).get === 'function') {
    return (headers as { get(name: string): string | null }).get(name) ?? undefined;
  }
  return headerText((headers as Readonly<Record<string, string | string[] | undefined>>)[name]);
}

/** An entry as it may appear in a message: a short quoted string, or its type. */
function describeEntry(entry: unknown): string {
  return typeof entry === 'string' ? JSON.stringify(entry.slice(0, 64)) : typeof entry;
}
