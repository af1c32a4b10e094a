/**
 * Redaction of secrets (AppSecrets, tokens, tickets, login codes, session keys) from URLs, bodies
 * and free text, so that nothing weixin-kit logs, throws or hands to a hook can leak one.
 */

/**
 * Query-string and body keys whose values are secrets. Matched case-insensitively and after
 * percent-decoding, so `ACCESS_TOKEN=` and `access%5Ftoken=` are caught too.
 */
export const SECRET_KEYS: readonly string[] = Object.freeze([
  'secret',
  'appsecret',
  'access_token',
  'component_access_token',
  'authorizer_access_token',
  'corpsecret',
  'js_code',
  'code',
  'refresh_token',
  'session_key',
  'ticket',
  'component_appsecret',
  'authorizer_refresh_token',
  'component_verify_ticket',
  'suite_secret',
  'suite_ticket',
  'provider_secret',
]);

/** What a secret is replaced with. */
export const REDACTED = '***';

const SECRET_SET: ReadonlySet<string> = new Set(SECRET_KEYS);
const KEY_ALTERNATION = [...SECRET_KEYS].sort((a, b) => b.length - a.length).join('|');

/** True when `key` (raw or percent-encoded, any case) names a secret. */
export function isSecretKey(key: string): boolean {
  return SECRET_SET.has(safeDecode(key).trim().toLowerCase());
}

function safeDecode(text: string): string {
  try {
    return decodeURIComponent(text.replace(/\+/g, ' '));
  } catch {
    return text;
  }
}

// `key=value` in a query string, also nested once or twice inside another parameter's value
// (`redirect_uri=https%3A%2F%2Fx%3Fcode%3Dabc`). The key must start a parameter: the start of the
// text, a non-word character, or an encoded `?`/`&`, so that `errcode=` is not read as `code=`.
const QUERY_PAIR = new RegExp(
  `(^|[^A-Za-z0-9_%]|%3F|%26|%253F|%2526)(${KEY_ALTERNATION})(=|%3D|%253D)((?:(?!%26|%2526)[^&\\s"'<>#])*)`,
  'gi',
);
// `"key": "value"` / `"key": 123` in JSON, also JSON escaped inside a JSON string (`\"key\":\"v\"`).
const JSON_PAIR = new RegExp(
  `(\\\\?")(${KEY_ALTERNATION})\\1(\\s*:\\s*)("(?:[^"\\\\]|\\\\.)*"|\\\\"(?:(?!\\\\").)*\\\\"|[^,}\\]\\s]+)`,
  'gi',
);

/**
 * Replaces secret values in free text: query-string pairs (plain or percent-encoded, e.g. inside
 * a `redirect_uri`) and JSON members. Use it on anything that may embed a URL or a body.
 *
 * @example
 * redactText('GET /sns/jscode2session?appid=wx1&secret=abc&js_code=xyz');
 * // 'GET /sns/jscode2session?appid=wx1&secret=***&js_code=***'
 */
export function redactText(text: string): string {
  return text
    .replace(QUERY_PAIR, (_m, lead: string, key: string, eq: string) => `${lead}${key}${eq}${REDACTED}`)
    .replace(JSON_PAIR, (_m, quote: string, key: string, colon: string, value: string) => {
      const q = value.startsWith(quote) ? quote : '';
      return `${quote}${key}${quote}${colon}${q}${REDACTED}${q}`;
    });
}

// `scheme://user:password@`: the userinfo of a URL (a Redis or proxy URL in a driver's message).
const URL_USERINFO = /(\w+:\/\/)[^@\s/]*@/g;

/**
 * Replaces the userinfo (`user:password@`) of every URL in free text, e.g. the Redis URL a
 * driver puts in its error message. Query and JSON secrets are left to {@link redactText}.
 *
 * @example
 * redactUrlCredentials('connect ECONNREFUSED redis://default:hunter2@10.0.0.5:6379');
 * // 'connect ECONNREFUSED redis://***@10.0.0.5:6379'
 */
export function redactUrlCredentials(text: string): string {
  return text.replace(URL_USERINFO, `$1${REDACTED}@`);
}

/**
 * A secret shown so that its owner can recognise it and nobody can use it: every character but
 * the last 4 becomes `*` (the length is kept), and a value of 8 characters or fewer is masked
 * entirely. Where even the length must not show, use {@link REDACTED}.
 *
 * @example
 * maskSecret('sM4AOVdWfPE4DxkXGEs8VMCPGGVi4C3V'); // '****************************4C3V'
 */
export function maskSecret(value: string): string {
  if (value.length <= 8) return '*'.repeat(value.length);
  return `${'*'.repeat(value.length - 4)}${value.slice(-4)}`;
}

/**
 * Returns `url` with the value of every secret query parameter replaced by `***`. Keys are
 * compared after percent-decoding and case-folding; parameters nested in other parameters'
 * values (an encoded `redirect_uri`) and the fragment are redacted too. Never throws.
 *
 * @example
 * redactUrl('https://api.weixin.qq.com/cgi-bin/user/info?access_token=T&openid=o1');
 * // 'https://api.weixin.qq.com/cgi-bin/user/info?access_token=***&openid=o1'
 */
export function redactUrl(url: string): string {
  const hashAt = url.indexOf('#');
  const beforeHash = hashAt === -1 ? url : url.slice(0, hashAt);
  const fragment = hashAt === -1 ? '' : `#${redactQuery(url.slice(hashAt + 1))}`;
  const queryAt = beforeHash.indexOf('?');
  if (queryAt === -1) return redactText(beforeHash) + fragment;
  return `${beforeHash.slice(0, queryAt)}?${redactQuery(beforeHash.slice(queryAt + 1))}${fragment}`;
}

function redactQuery(query: string): string {
  return query
    .split('&')
    .map((pair) => {
      const eq = pair.indexOf('=');
      if (eq === -1) return redactText(pair);
      const key = pair.slice(0, eq);
      return isSecretKey(key) ? `${key}=${REDACTED}` : `${key}=${redactText(pair.slice(eq + 1))}`;
    })
    .join('&');
}

/**
 * A copy of `value` fit for logs: members whose key names a secret become `***` (whatever their
 * value), strings are passed through {@link redactText} (so a URL or a JSON body inside a string
 * is redacted), arrays and plain objects are copied deeply. `URLSearchParams` becomes a redacted
 * query string, bytes become a `[N bytes]` placeholder; cycles become `[Circular]`.
 *
 * @example
 * redactValue({ appid: 'wx1', secret: 's', nested: { session_key: 'k' } });
 * // { appid: 'wx1', secret: '***', nested: { session_key: '***' } }
 */
export function redactValue(value: unknown): unknown {
  return redactInner(value, new WeakSet());
}

function redactInner(value: unknown, seen: WeakSet<object>): unknown {
  if (typeof value === 'string') return redactText(value);
  if (typeof value !== 'object' || value === null) return value;
  if (value instanceof URLSearchParams) return redactQuery(value.toString());
  if (value instanceof URL) return redactUrl(value.href);
  if (ArrayBuffer.isView(value) || value instanceof ArrayBuffer) return `[${value.byteLength} bytes]`;
  if (seen.has(value)) return '[Circular]';
  seen.add(value);
  try {
    if (Array.isArray(value)) return value.map((item) => redactInner(item, seen));
    if (value instanceof Error) {
      const code = (value as { code?: unknown }).code;
      return {
        name: value.name,
        ...(code === undefined ? {} : { code }),
        message: redactText(value.message),
      };
    }
    const out: Record<string, unknown> = {};
    for (const [key, member] of Object.entries(value)) {
      out[key] = isSecretKey(key) && member !== undefined ? REDACTED : redactInner(member, seen);
    }
    return out;
  } finally {
    seen.delete(value);
  }
}
