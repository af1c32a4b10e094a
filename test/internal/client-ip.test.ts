/**
 * The address matcher and client-address rules shared by the guard and the callback allowlist:
 * IPv4, IPv6, CIDR ranges, IPv4-mapped IPv6 (both spellings), aliases, and the entries refused.
 */
import { BlockList, isIP } from 'node:net';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/errors.js';
import {
  compileAddressList,
  compileTrustProxy,
  normalizeIp,
  parseAddressEntry,
  readHeader,
} from '../../src/internal/client-ip.js';

const list = (...entries: string[]) => compileAddressList(entries, (entry) => `bad ${String(entry)}`);

describe('the address list', () => {
  it('matches single IPv4 addresses and IPv4 CIDR ranges, bounds included, nothing outside', () => {
    const allowed = list('101.226.103.0/25', '198.51.100.7');
    expect(allowed.has('101.226.103.0')).toBe(true);
    expect(allowed.has('101.226.103.127')).toBe(true);
    expect(allowed.has('101.226.103.128')).toBe(false);
    expect(allowed.has('101.226.102.255')).toBe(false);
    expect(allowed.has('198.51.100.7')).toBe(true);
    expect(allowed.has('198.51.100.8')).toBe(false);
  });

  it('matches IPv6 addresses and ranges, in any textual form', () => {
    const allowed = list('2001:db8:1::/48', '2001:db8:ffff::1');
    expect(allowed.has('2001:db8:1:abcd::42')).toBe(true);
    expect(allowed.has('2001:0db8:0001:0000:0000:0000:0000:0001')).toBe(true);
    expect(allowed.has('[2001:db8:1::9]')).toBe(true);
    expect(allowed.has('2001:db8:2::1')).toBe(false);
    expect(allowed.has('2001:db8:ffff::1')).toBe(true);
    expect(allowed.has('2001:db8:ffff::2')).toBe(false);
  });

  it('matches an IPv4-mapped IPv6 peer (::ffff:a.b.c.d and ::ffff:hhhh:hhhh) against IPv4 entries', () => {
    const allowed = list('192.0.2.0/25');
    // What a dual-stack Node server reports as remoteAddress for an IPv4 client.
    expect(allowed.has('::ffff:192.0.2.5')).toBe(true);
    expect(allowed.has('::FFFF:192.0.2.5')).toBe(true);
    // The same address written in hex: 192.0.2.5 = c000:0205.
    expect(allowed.has('::ffff:c000:205')).toBe(true);
    expect(allowed.has('::ffff:192.0.2.200')).toBe(false);
    // An IPv4 client is not an arbitrary IPv6 address that merely ends the same way.
    expect(allowed.has('64:ff9b::192.0.2.5')).toBe(false);
    expect(normalizeIp('::ffff:192.0.2.5')).toBe('192.0.2.5');
  });

  it('matches IPv4 clients against an entry written as an IPv4-mapped IPv6 range', () => {
    const allowed = list('::ffff:203.0.113.0/120');
    expect(allowed.has('203.0.113.77')).toBe(true);
    expect(allowed.has('203.0.114.1')).toBe(false);
    // Shorter than the mapped prefix (/96) it would cover IPv6 space that is no IPv4 address.
    expect(parseAddressEntry('::ffff:203.0.113.0/95')).toBeUndefined();
  });

  it('expands the aliases loopback, private and linklocal', () => {
    const allowed = list('loopback', 'private');
    for (const ip of ['127.0.0.1', '127.8.9.10', '::1', '10.1.2.3', '172.31.0.1', '192.168.1.1', 'fd12::1']) {
      expect(allowed.has(ip), ip).toBe(true);
    }
    for (const ip of ['172.32.0.1', '169.254.1.1', '8.8.8.8', '2001:db8::1']) {
      expect(allowed.has(ip), ip).toBe(false);
    }
    expect(list('linklocal').has('fe80::1')).toBe(true);
  });

  it('never matches what is not an address', () => {
    const allowed = list('0.0.0.0/0', '::/0');
    expect(allowed.has('8.8.8.8')).toBe(true);
    expect(allowed.has(undefined)).toBe(false);
    expect(allowed.has('')).toBe(false);
    expect(allowed.has('unknown')).toBe(false);
    expect(allowed.has('example.com')).toBe(false);
  });

  it('refuses entries it cannot read, naming them through the caller', () => {
    for (const entry of [
      '10.0.0.0/33',
      '2001:db8::/129',
      '1.2.3.4/',
      '1.2.3.4/8/9',
      '1.2.3.4/x',
      'example.com',
      '01.2.3.4',
    ]) {
      expect(parseAddressEntry(entry), entry).toBeUndefined();
      expect(() => list(entry), entry).toThrow(ConfigError);
      expect(() => list(entry), entry).toThrow(`bad ${entry}`);
    }
    expect(parseAddressEntry(42)).toBeUndefined();
    expect(parseAddressEntry(' 192.0.2.0/24 ')).toEqual({ address: '192.0.2.0', prefix: 24, family: 'ipv4' });
    expect(parseAddressEntry('::ffff:192.0.2.1')).toEqual({
      address: '192.0.2.1',
      prefix: 32,
      family: 'ipv4',
    });
  });
});

describe('client address through trustProxy', () => {
  it('reads X-Forwarded-For from Node headers and from Fetch Headers alike', () => {
    const trust = compileTrustProxy(['loopback'], 'test');
    const record = { 'x-forwarded-for': '203.0.113.9, 127.0.0.1' };
    const fetchHeaders = new Headers(record);
    expect(trust.clientIp({ remoteAddress: '127.0.0.1', headers: record })).toBe('203.0.113.9');
    expect(trust.clientIp({ remoteAddress: '127.0.0.1', headers: fetchHeaders })).toBe('203.0.113.9');
    expect(readHeader(fetchHeaders, 'x-forwarded-for')).toBe('203.0.113.9, 127.0.0.1');
    expect(readHeader({ 'x-forwarded-for': ['a', 'b'] }, 'x-forwarded-for')).toBe('a');
    expect(readHeader(undefined, 'x-forwarded-for')).toBeUndefined();
  });

  it('without trusted proxies the peer is the client, whatever X-Forwarded-For claims', () => {
    const trust = compileTrustProxy(false, 'test');
    expect(
      trust.clientIp({ remoteAddress: '::ffff:203.0.113.9', headers: { 'x-forwarded-for': '192.0.2.1' } }),
    ).toBe('203.0.113.9');
  });

  it('names its caller in every configuration error', () => {
    expect(() => compileTrustProxy(true as never, 'createCallbackAllowlist')).toThrow(
      /^createCallbackAllowlist: trustProxy must be false/,
    );
    expect(() => compileTrustProxy(-1, 'createCallbackAllowlist')).toThrow(
      /^createCallbackAllowlist: trustProxy as a hop count/,
    );
    expect(() => compileTrustProxy(['1.2.3.4/'], 'createCallbackAllowlist')).toThrow(
      /^createCallbackAllowlist: trustProxy entry "1\.2\.3\.4\/" is not an address/,
    );
  });
});

describe('the address list beside node:net BlockList', () => {
  // BlockList is the reference: same ranges, same answers, for IPv4, IPv6 in every spelling
  // (compressed, full, upper case, dotted tail, zone), IPv4-mapped addresses and cross-family ranges.
  const octet = fc.integer({ min: 0, max: 255 });
  const ipv4 = fc.tuple(octet, octet, octet, octet).map((o) => o.join('.'));
  // Few distinct values per group, so generated addresses often fall inside generated ranges.
  const group = fc.constantFrom(0, 1, 0xffff, 0x2001, 0xdb8, 0xfe80, 0xc000, 0x205, 0xa);
  const ipv6Groups = fc.array(group, { minLength: 8, maxLength: 8 });
  const spell = (groups: number[], style: number): string => {
    const hex = groups.map((g) => g.toString(16));
    if (style === 0) return hex.join(':');
    if (style === 1) return groups.map((g) => g.toString(16).padStart(4, '0').toUpperCase()).join(':');
    if (style === 2) {
      // Dotted tail: the last two groups as IPv4.
      const [a, b] = [groups[6] as number, groups[7] as number];
      return `${hex.slice(0, 6).join(':')}:${a >> 8}.${a & 255}.${b >> 8}.${b & 255}`;
    }
    // Compressed: the longest run of zeros (at least two groups) becomes '::'.
    let best = -1;
    let bestLength = 1;
    for (let i = 0; i < 8; ) {
      let j = i;
      while (j < 8 && groups[j] === 0) j++;
      if (j - i > bestLength) [best, bestLength] = [i, j - i];
      i = j === i ? i + 1 : j;
    }
    const text =
      best === -1
        ? hex.join(':')
        : `${hex.slice(0, best).join(':')}::${hex.slice(best + bestLength).join(':')}`;
    return style === 4 ? `${text}%eth0` : text;
  };
  const ipv6 = fc.tuple(ipv6Groups, fc.integer({ min: 0, max: 4 })).map(([g, s]) => spell(g, s));
  const mapped = fc.tuple(ipv4, fc.boolean()).map(([v4, hex]) => {
    if (!hex) return `::ffff:${v4}`;
    const [a, b, c, d] = v4.split('.').map(Number) as [number, number, number, number];
    return `::ffff:${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  });
  const address = fc.oneof(ipv4, ipv6, mapped);
  const entry = fc.oneof(
    fc.tuple(ipv4, fc.integer({ min: 0, max: 32 })).map(([a, p]) => ({ a, p, f: 'ipv4' as const })),
    fc
      .tuple(fc.tuple(ipv6Groups, fc.integer({ min: 0, max: 3 })), fc.integer({ min: 0, max: 128 }))
      .map(([[g, s], p]) => ({ a: spell(g, s), p, f: 'ipv6' as const })),
  );

  it('answers as BlockList does for generated ranges and addresses', () => {
    fc.assert(
      fc.property(
        fc.array(entry, { maxLength: 6 }),
        fc.array(address, { minLength: 1, maxLength: 8 }),
        (entries, addresses) => {
          const reference = new BlockList();
          for (const e of entries) reference.addSubnet(e.a, e.p, e.f);
          const compiled = list(...entries.map((e) => `${e.a}/${e.p}`));
          for (const a of addresses) {
            const bare = a.replace(/%.*$/, '');
            const expected = reference.check(bare, isIP(bare) === 6 ? 'ipv6' : 'ipv4');
            expect(compiled.has(a), `${a} in ${entries.map((e) => `${e.a}/${e.p}`).join(' ')}`).toBe(
              expected,
            );
          }
        },
      ),
      { numRuns: 3000, seed: 20261202 },
    );
  });

  it('answers as BlockList does at the edges of a range, whatever the spelling of either side', () => {
    // The range is made from the address itself (one group or octet possibly changed), spelled
    // another way, so most checks land near a range boundary.
    fc.assert(
      fc.property(
        ipv6Groups,
        fc.integer({ min: 0, max: 4 }),
        fc.integer({ min: 0, max: 3 }),
        fc.integer({ min: 0, max: 7 }),
        fc.constantFrom(0, 1, 0x100, 0x8000),
        fc.integer({ min: 64, max: 128 }),
        (groups, addressStyle, entryStyle, at, flip, prefix) => {
          const changed = groups.map((g, i) => (i === at ? g ^ flip : g));
          const a = spell(groups, addressStyle);
          const e = spell(changed, entryStyle);
          const reference = new BlockList();
          reference.addSubnet(e.replace(/%.*$/, ''), prefix, 'ipv6');
          expect(list(`${e.replace(/%.*$/, '')}/${prefix}`).has(a), `${a} in ${e}/${prefix}`).toBe(
            reference.check(a.replace(/%.*$/, ''), 'ipv6'),
          );
        },
      ),
      { numRuns: 3000, seed: 20261203 },
    );
    fc.assert(
      fc.property(
        ipv4,
        fc.integer({ min: 0, max: 31 }),
        fc.integer({ min: 0, max: 32 }),
        fc.boolean(),
        (a, bit, prefix, asMapped) => {
          const n = a.split('.').reduce((v, o) => v * 256 + Number(o), 0);
          const m = (n ^ (2 ** bit)) >>> 0;
          const e = [m >>> 24, (m >>> 16) & 255, (m >>> 8) & 255, m & 255].join('.');
          const reference = new BlockList();
          reference.addSubnet(e, prefix, 'ipv4');
          const spelled = asMapped ? `::ffff:${a}` : a;
          expect(list(`${e}/${prefix}`).has(spelled), `${spelled} in ${e}/${prefix}`).toBe(
            reference.check(a, 'ipv4'),
          );
        },
      ),
      { numRuns: 3000, seed: 20261204 },
    );
  });

  it('merges and searches many IPv4 ranges (a callback IP list) without losing one', () => {
    const ranges = Array.from(
      { length: 300 },
      (_, i) => `${((i * 37) % 223) + 1}.${(i * 11) % 256}.${i % 7}.0/${20 + (i % 13)}`,
    );
    const reference = new BlockList();
    for (const r of ranges) {
      const [a, p] = r.split('/') as [string, string];
      reference.addSubnet(a, Number(p), 'ipv4');
    }
    const compiled = list(...ranges);
    const random = fc.sample(ipv4, { numRuns: 5000, seed: 7 });
    const inside = ranges.map((r) => r.split('/')[0] as string);
    for (const a of [...random, ...inside]) expect(compiled.has(a), a).toBe(reference.check(a, 'ipv4'));
  });
});

describe('the client address beside a reference walk of the chain', () => {
  // The rule, written the plain way: peer first, then X-Forwarded-For from the right (entries that
  // are no address dropped); walk while the hop is trusted and another follows.
  const reference = (
    trust: (ip: string, hop: number) => boolean,
    peer: string | undefined,
    xff: string | undefined,
  ) => {
    const chain = [
      normalizeIp(peer),
      ...(xff ?? '')
        .split(',')
        .reverse()
        .map((p) => normalizeIp(p.trim())),
    ].filter((ip): ip is string => ip !== undefined);
    let index = 0;
    while (index < chain.length - 1 && trust(chain[index] as string, index)) index += 1;
    return chain[index];
  };
  const part = fc.constantFrom(
    '10.0.0.1',
    '10.9.9.9',
    '203.0.113.7',
    '::1',
    '127.0.0.1',
    'junk',
    '',
    ' ',
    '::ffff:10.0.0.3',
  );

  it('gives the same client for generated peers, headers and settings (hop counts and lists)', () => {
    fc.assert(
      fc.property(
        fc.option(part, { nil: undefined }),
        fc.option(
          fc.array(part, { maxLength: 6 }).map((parts) => parts.join(',')),
          { nil: undefined },
        ),
        fc.oneof(fc.integer({ min: 0, max: 4 }), fc.constant(['10.0.0.0/8', 'loopback'])),
        (peer, xff, setting) => {
          const compiled = compileTrustProxy(setting, 'test');
          const matcher = Array.isArray(setting) ? list(...setting) : undefined;
          const trust = (ip: string, hop: number) =>
            matcher === undefined ? hop < (setting as number) : matcher.has(ip);
          const headers = xff === undefined ? {} : { 'x-forwarded-for': xff };
          expect(compiled.clientIp({ remoteAddress: peer, headers }), `${peer} ${xff}`).toBe(
            reference(trust, peer, xff),
          );
        },
      ),
      { numRuns: 3000, seed: 20261205 },
    );
  });
});
