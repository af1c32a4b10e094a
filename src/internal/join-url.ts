import { ArgumentError } from '../errors.js';

/**
 * Joins a base URL and an API path. The base's own path is kept (a proxy or emulator mounted at
 * `http://host/wx/` works) and exactly one `/` separates the two, whatever slashes either side
 * carries. `path` must be a path (it may carry a query string), not an absolute URL: a client
 * never sends its token to a host other than its base.
 *
 * @example
 * joinUrl('https://api.weixin.qq.com', '/cgi-bin/token'); // 'https://api.weixin.qq.com/cgi-bin/token'
 * joinUrl('http://127.0.0.1:7070/wx/', 'cgi-bin/token');  // 'http://127.0.0.1:7070/wx/cgi-bin/token'
 */
export function joinUrl(base: string, path: string): string {
  if (!/^https?:\/\/[^/?#]+/i.test(base) || /[?#]/.test(base)) {
    throw new ArgumentError(
      `base URL must be an absolute http(s) URL without a query or fragment, like "https://api.weixin.qq.com" (got "${base.split(/[?#]/)[0]}")`,
    );
  }
  if (/^[a-z][a-z0-9+.-]*:/i.test(path)) {
    throw new ArgumentError(
      `path must be a path like "/cgi-bin/token", not an absolute URL (got "${path.split(/[?#]/)[0]}")`,
    );
  }
  const head = base.replace(/\/+$/, '');
  const tail = path.replace(/^\/+/, '');
  return `${head}/${tail}`;
}
