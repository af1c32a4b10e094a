/** What the callback pipeline reads of a query: `URLSearchParams.get`'s contract. */
export interface QueryParams {
  get(name: string): string | null;
}

/**
 * An origin-form request target (`/path?query#fragment`, what Node's `req.url` holds) whose query
 * holds only characters that neither the URL parser nor form decoding changes: parsed against any
 * base it cannot fail, and its query reads the same without decoding. The path stops at the first
 * `?` or `#`; the query (after a `?`) at the first `#`.
 */
const PLAIN_URL = /^\/(?!\/)[\x21\x22\x24-\x3e\x40-\x7e]*(?:\?[A-Za-z0-9_.~=&-]*)?(?:#[\x21-\x7e]*)?$/;

/**
 * A query without encoded characters, read without decoding: its names and values in two arrays
 * (a push has six; a scan of six beats building a `Map` per request).
 */
class PlainQuery implements QueryParams {
  readonly #names: string[];
  readonly #values: string[];
  constructor(names: string[], values: string[]) {
    this.#names = names;
    this.#values = values;
  }
  get(name: string): string | null {
    const at = this.#names.indexOf(name);
    return at === -1 ? null : (this.#values[at] as string);
  }
}

/**
 * The query of a request target (a path with its query, or an absolute URL), with the values
 * `new URL(url, base).searchParams` gives; `undefined` when the URL parser refuses the target.
 *
 * A WeChat push's query (signature, timestamp, nonce, openid, encrypt_type, msg_signature) is made
 * of characters that no URL decoding changes, so in an origin-form target it is read as it is,
 * without building a URL (the largest part of reading it). Anything else (an absolute URL, an
 * encoded character) goes through the URL parser itself.
 */
export function readQueryParams(url: string): QueryParams | undefined {
  if (!PLAIN_URL.test(url)) {
    try {
      return new URL(url, 'http://callback.invalid').searchParams;
    } catch {
      return undefined;
    }
  }
  const at = url.indexOf('?');
  const hash = url.indexOf('#');
  const text =
    at === -1 || (hash !== -1 && hash < at) ? '' : url.slice(at + 1, hash === -1 ? undefined : hash);
  const names: string[] = [];
  const values: string[] = [];
  let start = 0;
  while (start < text.length) {
    let end = text.indexOf('&', start);
    if (end === -1) end = text.length;
    if (end > start) {
      const eq = text.indexOf('=', start);
      const named = eq !== -1 && eq < end;
      const name = named ? text.slice(start, eq) : text.slice(start, end);
      // URLSearchParams.get answers the first of repeated names.
      if (!names.includes(name)) {
        names.push(name);
        values.push(named ? text.slice(eq + 1, end) : '');
      }
    }
    start = end + 1;
  }
  return new PlainQuery(names, values);
}
