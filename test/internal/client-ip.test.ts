/**
 * The address matcher and client-address rules shared by the guard and the callback allowlist:
 * IPv4, IPv6, CIDR ranges, IPv4-mapped IPv6 (both spellings), aliases, and the entries refused.
 */
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
