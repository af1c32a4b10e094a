/** The guard's HTTP rules as pure functions: proxy trust, HTTPS URLs, HSTS and CORS. */
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/errors.js';
import { compileCors, compileTrustProxy, hstsValue, httpsUrl, normalizeIp } from '../../src/guard/http.js';
import { request } from './fixture.js';

const via = (peer: string, xff?: string, proto?: string) =>
  request('GET', '/p', {
    remoteAddress: peer,
    headers: { ...(xff ? { 'x-forwarded-for': xff } : {}), ...(proto ? { 'x-forwarded-proto': proto } : {}) },
  });

describe('trustProxy', () => {
  it('trusts nobody by default: the TCP peer is the client, X-Forwarded-* are ignored', () => {
    const trust = compileTrustProxy(undefined);
    expect(trust.clientIp(via('203.0.113.1', '198.51.100.7'))).toBe('203.0.113.1');
    expect(trust.protocol(via('203.0.113.1', undefined, 'https'))).toBe('http');
  });

  it('with a hop count, walks that many proxies back through X-Forwarded-For, no further', () => {
    const one = compileTrustProxy(1);
    const two = compileTrustProxy(2);
    const chain = via('10.0.0.1', '198.51.100.7, 192.0.2.9');
    expect(one.clientIp(chain)).toBe('192.0.2.9');
    expect(two.clientIp(chain)).toBe('198.51.100.7');
    // Fewer addresses than hops: the left-most one, never something made up.
    expect(compileTrustProxy(5).clientIp(chain)).toBe('198.51.100.7');
    expect(one.protocol(via('10.0.0.1', undefined, 'https, http'))).toBe('https');
  });

  it('with a CIDR list, skips trusted addresses only, so a client cannot prepend its own', () => {
    const trust = compileTrustProxy(['10.0.0.0/8', 'loopback']);
    expect(trust.clientIp(via('10.1.1.1', '203.0.113.5, 127.0.0.1'))).toBe('203.0.113.5');
    // A spoofed left part behind an untrusted hop is not reached.
    expect(trust.clientIp(via('10.1.1.1', '1.2.3.4, 203.0.113.5'))).toBe('203.0.113.5');
    expect(trust.clientIp(via('203.0.113.5', '10.9.9.9'))).toBe('203.0.113.5');
    expect(trust.protocol(via('203.0.113.5', undefined, 'https'))).toBe('http');
    expect(trust.protocol(via('::ffff:10.2.3.4', undefined, 'https'))).toBe('https');
    const v6 = compileTrustProxy(['private']);
    expect(v6.clientIp(via('fd00::1', '2001:db8::9'))).toBe('2001:db8::9');
  });

  it('refuses true, negative hops and unreadable entries at startup', () => {
    expect(() => compileTrustProxy(true as never)).toThrow(/any client choose its IP/);
    expect(() => compileTrustProxy(-1)).toThrow(ConfigError);
    expect(() => compileTrustProxy(['10.0.0.0/33'])).toThrow(/not an address/);
    expect(() => compileTrustProxy(['example.com'])).toThrow(ConfigError);
  });

  it('normalises IPv4-mapped IPv6 and brackets, and drops what is not an IP', () => {
    expect(normalizeIp('::ffff:192.0.2.1')).toBe('192.0.2.1');
    expect(normalizeIp('[2001:db8::1]')).toBe('2001:db8::1');
    expect(normalizeIp('unknown')).toBeUndefined();
  });
});

describe('HTTPS', () => {
  it('builds the https:// URL only from a well-formed Host', () => {
    expect(httpsUrl(request('GET', '/a?b=1', { headers: { host: 'api.example.com:80' } }))).toBe(
      'https://api.example.com/a?b=1',
    );
    expect(httpsUrl(request('GET', '/a', { headers: { host: 'evil.com@good.com' } }))).toBeUndefined();
    expect(
      httpsUrl(request('GET', '//evil.com/a', { headers: { host: 'api.example.com' } })),
    ).toBeUndefined();
  });

  it('sends a year of HSTS with subdomains by default, configurable, or none', () => {
    expect(hstsValue(undefined)).toBe('max-age=31536000; includeSubDomains');
    expect(hstsValue({ hsts: { maxAgeSeconds: 600, includeSubDomains: false, preload: true } })).toBe(
      'max-age=600; preload',
    );
    expect(hstsValue({ hsts: false })).toBeUndefined();
    expect(hstsValue(false)).toBeUndefined();
  });
});

describe('CORS', () => {
  it('answers an allowed origin exactly (never *) and a foreign one not at all', () => {
    const cors = compileCors({ origins: ['https://h5.example.com'] });
    expect(cors?.headersFor('https://h5.example.com')).toMatchObject({
      'access-control-allow-origin': 'https://h5.example.com',
      vary: 'Origin',
    });
    expect(cors?.headersFor('https://h5.example.com')?.['access-control-allow-credentials']).toBeUndefined();
    expect(cors?.headersFor('https://h5.example.com.evil.net')).toBeUndefined();
    expect(cors?.preflightHeaders('null')).toBeUndefined();
  });

  it('allows * only without credentials', () => {
    expect(
      compileCors({ origins: ['*'] })?.headersFor('https://any.example')?.['access-control-allow-origin'],
    ).toBe('*');
    expect(() => compileCors({ origins: ['*'], credentials: true })).toThrow(ConfigError);
  });
});
