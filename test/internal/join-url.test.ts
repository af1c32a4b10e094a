import { describe, expect, it } from 'vitest';
import { joinUrl } from '../../src/internal/join-url.js';

describe('joinUrl', () => {
  it.each([
    ['https://api.weixin.qq.com', '/cgi-bin/token', 'https://api.weixin.qq.com/cgi-bin/token'],
    ['https://api.weixin.qq.com/', '/cgi-bin/token', 'https://api.weixin.qq.com/cgi-bin/token'],
    ['https://api.weixin.qq.com//', 'cgi-bin/token', 'https://api.weixin.qq.com/cgi-bin/token'],
    ['http://127.0.0.1:7070/wx', '/cgi-bin/token', 'http://127.0.0.1:7070/wx/cgi-bin/token'],
    ['http://127.0.0.1:7070/wx/', '//cgi-bin/token?a=1', 'http://127.0.0.1:7070/wx/cgi-bin/token?a=1'],
    ['http://proxy/a/b/', 'c', 'http://proxy/a/b/c'],
    ['https://api.weixin.qq.com', '', 'https://api.weixin.qq.com/'],
  ])('joins %s and %s without losing the prefix or doubling a slash', (base, path, expected) => {
    expect(joinUrl(base, path)).toBe(expected);
  });

  it('refuses an absolute URL as the path, so a token never goes to another host', () => {
    expect(() => joinUrl('https://api.weixin.qq.com', 'https://evil.example/x')).toThrow(
      /not an absolute URL/,
    );
  });

  it('refuses a base that is not an absolute http(s) URL or carries a query, without echoing the query', () => {
    expect(() => joinUrl('api.weixin.qq.com', '/x')).toThrow(/absolute http/);
    expect(() => joinUrl('https://h/?secret=S', '/x')).toThrow(/without a query/);
    try {
      joinUrl('https://h/?secret=S', '/x');
    } catch (error) {
      expect((error as Error).message).not.toContain('S"');
      expect((error as Error).message).not.toContain('secret');
    }
  });
});
