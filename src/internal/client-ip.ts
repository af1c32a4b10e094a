/**
 * Who the client of a request really is: the TCP peer, or — behind proxies the operator trusts
 * (`trustProxy`) — the address those proxies name in `X-Forwarded-For`. Shared by the guard and
 * the callback allowlist; pure functions over node:net.
 */
import { isIP } from 'node:net';
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
    // Chain addresses are normalised already.
    trusted = (address) => list.hasAddress(address);
  } else {
    throw new ConfigError(
      'INVALID_CONFIG',
      `${caller}: trustProxy must be false, a hop count, or a list of addresses/CIDRs (e.g. ['loopback', '10.0.0.0/8']); \`true\` is not accepted: it would let any client choose its IP`,
    );
  }
  // Without trusted proxies the TCP peer, when known, is the client: there is no chain to walk.
  const untrusted = value === false;
  return {
    clientIp(request) {
      // The chain, nearest first: the peer, then the X-Forwarded-For entries from the right
      // (entries that are no address skipped). Walk it while the current hop is trusted and
      // another follows; the first untrusted hop (or the last one) is the client.
      const peer = normalizeIp(request.remoteAddress);
      if (untrusted && peer !== undefined) return peer;
      const forwarded = readHeader(request.headers, 'x-forwarded-for') ?? '';
      // The entries not yet read are forwarded[0, end); -1 once all are.
      let end = forwarded === '' ? -1 : forwarded.length;
      let current = peer;
      let index = peer === undefined ? -1 : 0;
      while (end >= 0) {
        // Nothing left (end 0) is an empty entry, as split(',') would give: skipped, then done.
        const comma = end === 0 ? -1 : forwarded.lastIndexOf(',', end - 1);
        const hop = normalizeIp(forwarded.slice(comma + 1, end).trim());
        end = comma;
        if (hop === undefined) continue;
        if (current !== undefined && !trusted(current, index)) return current;
        current = hop;
        index += 1;
      }
      return current;
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
): CompiledAddressList {
  const ranges: Range128[] = [];
  for (const entry of entries) {
    const items = typeof entry === 'string' ? (ADDRESS_ALIASES[entry] ?? [entry]) : [entry];
    for (const item of items) {
      const parsed = parseAddressEntry(item);
      const words = parsed === undefined ? undefined : addressWords(parsed.address);
      if (parsed === undefined || words === undefined)
        throw new ConfigError('INVALID_CONFIG', message(entry));
      ranges.push(range128(words, parsed.family === 'ipv4' ? 96 + parsed.prefix : parsed.prefix));
    }
  }
  return new CompiledAddressList(ranges);
}

/** One address range over 128 bits (an IPv4 range as its IPv4-mapped IPv6 range). */
interface Range128 {
  /** The range's first address, four 32-bit words. */
  readonly first: readonly number[];
  /** The mask of each word (the prefix). */
  readonly mask: readonly number[];
}

function range128(words: readonly number[], prefix: number): Range128 {
  const mask = [0, 0, 0, 0].map((_, i) => {
    const bits = Math.min(32, Math.max(0, prefix - 32 * i));
    return bits === 0 ? 0 : bits === 32 ? 0xffffffff : (0xffffffff << (32 - bits)) >>> 0;
  });
  return { first: words.map((word, i) => (word & (mask[i] as number)) >>> 0), mask };
}

/** The IPv4-mapped block, `::ffff:0:0/96`: its first three words. */
const MAPPED = [0, 0, 0xffff] as const;

/**
 * A compiled address list. Addresses are matched as 128 bits, an IPv4 address as its IPv4-mapped
 * IPv6 form (`::ffff:a.b.c.d`), which is how `node:net`'s `BlockList` matches across families (an
 * IPv4 client is inside `::/0` and `::ffff:0:0/96`; `::ffff:c000:205` is inside `192.0.2.0/24`).
 * Plain arithmetic instead of `BlockList.check`, which builds a native `SocketAddress` per call
 * (~2 µs on Node 20). Internal: {@link compileAddressList} makes it.
 */
export class CompiledAddressList implements AddressList {
  /** Ranges inside `::ffff:0:0/96` (every IPv4 entry) as IPv4 [first, last] pairs, sorted, merged. */
  readonly #v4: number[] = [];
  /** Every other range, checked one by one (IPv6 lists are short). */
  readonly #v6: Range128[] = [];

  constructor(ranges: readonly Range128[]) {
    const v4: [number, number][] = [];
    for (const range of ranges) {
      const [m0, m1, m2, m3] = range.mask as [number, number, number, number];
      const [f0, f1, f2, f3] = range.first as [number, number, number, number];
      if (
        m0 === 0xffffffff &&
        m1 === 0xffffffff &&
        m2 === 0xffffffff &&
        f0 === 0 &&
        f1 === 0 &&
        f2 === 0xffff
      ) {
        v4.push([f3, f3 + (~m3 >>> 0)]);
      } else {
        this.#v6.push(range);
      }
    }
    v4.sort((x, y) => x[0] - y[0]);
    for (const [first, last] of v4) {
      const end = this.#v4.length - 1;
      // Overlapping or adjacent: one range.
      if (end > 0 && first <= (this.#v4[end] as number) + 1) {
        this.#v4[end] = Math.max(this.#v4[end] as number, last);
      } else {
        this.#v4.push(first, last);
      }
    }
  }

  has(ip: string | undefined): boolean {
    const address = normalizeIp(ip);
    return address !== undefined && this.hasAddress(address);
  }

  /** {@link has} for an address `normalizeIp` gave. */
  hasAddress(address: string): boolean {
    const words = addressWords(address);
    if (words === undefined) return false;
    if (
      words[0] === MAPPED[0] &&
      words[1] === MAPPED[1] &&
      words[2] === MAPPED[2] &&
      this.#inV4(words[3] as number)
    ) {
      return true;
    }
    for (const range of this.#v6) {
      let inside = true;
      for (let i = 0; i < 4 && inside; i++) {
        inside = ((words[i] as number) & (range.mask[i] as number)) >>> 0 === range.first[i];
      }
      if (inside) return true;
    }
    return false;
  }

  /** Binary search of the merged IPv4 ranges. */
  #inV4(value: number): boolean {
    const pairs = this.#v4;
    let low = 0;
    let high = pairs.length / 2 - 1;
    while (low <= high) {
      const middle = (low + high) >>> 1;
      if (value < (pairs[2 * middle] as number)) high = middle - 1;
      else if (value > (pairs[2 * middle + 1] as number)) low = middle + 1;
      else return true;
    }
    return false;
  }
}

/**
 * The 128 bits of an address `normalizeIp` accepted, as four 32-bit words; an IPv4 address as
 * `::ffff:a.b.c.d`. A zone (`%eth0`) is not part of the address. `undefined` for anything else.
 */
function addressWords(address: string): number[] | undefined {
  if (!address.includes(':')) {
    const v4 = ipv4Number(address);
    return v4 === undefined ? undefined : [0, 0, 0xffff, v4];
  }
  let text = address;
  const zone = text.indexOf('%');
  if (zone !== -1) text = text.slice(0, zone);
  // A dotted IPv4 tail (`::ffff:192.0.2.5`, `64:ff9b::192.0.2.5`) is the last two groups.
  let tail: number | undefined;
  const lastColon = text.lastIndexOf(':');
  if (text.indexOf('.', lastColon) !== -1) {
    tail = ipv4Number(text.slice(lastColon + 1));
    if (tail === undefined) return undefined;
    text = `${text.slice(0, lastColon + 1)}0:0`;
  }
  const gap = text.indexOf('::');
  const head = gap === -1 ? text : text.slice(0, gap);
  const rest = gap === -1 ? '' : text.slice(gap + 2);
  const before = head === '' ? [] : head.split(':');
  const after = rest === '' ? [] : rest.split(':');
  if (gap === -1 ? before.length !== 8 : before.length + after.length > 7) return undefined;
  const groups = [0, 0, 0, 0, 0, 0, 0, 0];
  for (let i = 0; i < before.length; i++) groups[i] = hexGroup(before[i] as string);
  for (let i = 0; i < after.length; i++) groups[8 - after.length + i] = hexGroup(after[i] as string);
  if (groups.some((group) => group < 0)) return undefined;
  const words = [0, 1, 2, 3].map((i) => (groups[2 * i] as number) * 0x10000 + (groups[2 * i + 1] as number));
  if (tail !== undefined) words[3] = tail;
  return words;
}

const HEX_GROUP = /^[0-9A-Fa-f]{1,4}$/;

/** One IPv6 group's value, or -1. */
function hexGroup(text: string): number {
  return HEX_GROUP.test(text) ? Number.parseInt(text, 16) : -1;
}

const DECIMAL_OCTET = /^\d{1,3}$/;

/** A dotted IPv4 address as an unsigned 32-bit number, or `undefined`. */
function ipv4Number(text: string): number | undefined {
  const parts = text.split('.');
  if (parts.length !== 4) return undefined;
  let value = 0;
  for (const part of parts) {
    if (!DECIMAL_OCTET.test(part)) return undefined;
    const octet = Number(part);
    if (octet > 255) return undefined;
    value = value * 256 + octet;
  }
  return value;
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
  return ip !== undefined && (ip === '::1' || ip.startsWith('127.'));
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
