/** What the callback pipeline reads of a query: `URLSearchParams.get`'s contract. */
export interface QueryParams {
  get(name: string): string | null;
}

/** Query characters that neither the URL parser nor form decoding changes. */
const PLAIN_QUERY = /^[A-Za-z0-9_.~=&-]*$/;
/**
 * An origin-form request target (`/path?query`, what Node's `req.url` holds) with nothing the URL
 * parser would strip or re-encode: parsed against any base, it cannot fail.
 */
const PLAIN_URL = /^\/(?!\/)[\x21-\x7e]*$/;

/** A query without encoded characters, read without decoding. */
class PlainQuery implements QueryParams {
  readonly #values: Map<string, string>;
  constructor(values: Map<string, string>) {
    this.#values = values;
  }
  get(name: string): string | null {
    return this.#values.get(name) ?? null;
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
  const at = url.indexOf('?');
  const hash = url.indexOf('#');
  const text =
    at === -1 || (hash !== -1 && hash < at) ? '' : url.slice(at + 1, hash === -1 ? undefined : hash);
  if (!PLAIN_QUERY.test(text) || !PLAIN_URL.test(url)) {
    try {
      return new URL(url, 'http://callback.invalid').searchParams;
    } catch {
      return undefined;
    }
  }
  const values = new Map<string, string>();
  let start = 0;
  while (start < text.length) {
    let end = text.indexOf('&', start);
    if (end === -1) end = text.length;
    if (end > start) {
      const eq = text.indexOf('=', start);
      const named = eq !== -1 && eq < end;
      const name = named ? text.slice(start, eq) : text.slice(start, end);
      // URLSearchParams.get answers the first of repeated names.
      if (!values.has(name)) values.set(name, named ? text.slice(eq + 1, end) : '');
    }
    start = end + 1;
  }
  return new PlainQuery(values);
}
