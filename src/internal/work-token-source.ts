import { type TokenSource, tokenSourceOf } from './app-token-source.js';

/**
 * The key under which `WeComSuite` hands a `Work` client a company's corp access_token instead of
 * an app secret. A symbol: `checkOptions` only looks at string keys, and users cannot set it by
 * accident (nor through JSON or `process.env`).
 */
export const WORK_TOKEN_SOURCE: unique symbol = Symbol('weixin-kit.workTokenSource');

/**
 * Where a `Work` client acting for an authorised company gets its credentials: the corp
 * access_token (kept by the suite, from the company's permanent code), the suite's shared transport
 * and the company's quota breaker.
 */
export type WorkTokenSource = TokenSource;

/** The source attached to `options`, if any. */
export function workTokenSourceOf(options: object): WorkTokenSource | undefined {
  return tokenSourceOf<WorkTokenSource>(options, WORK_TOKEN_SOURCE);
}
