import type { QuotaBreaker } from '../core/quota-breaker.js';
import type { Transport } from '../core/transport.js';
import type { CredentialSettings } from '../credentials/credential-errors.js';
import type { TokenManager } from '../credentials/token-manager.js';

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
export interface WorkTokenSource {
  accessToken: TokenManager;
  transport: Transport;
  credentials: CredentialSettings;
  quotaBreaker: QuotaBreaker | undefined;
}

/** The source attached to `options`, if any. */
export function workTokenSourceOf(options: object): WorkTokenSource | undefined {
  return (options as { [WORK_TOKEN_SOURCE]?: WorkTokenSource })[WORK_TOKEN_SOURCE];
}
