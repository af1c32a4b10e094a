import type { RefusalCode } from '../callbacks/callback-hooks.js';

/** The HTTP status of a refusal: authentication failures 401, a sender outside the allowlist 403, unusable bodies 400. */
export function refusalStatus(code: RefusalCode): number {
  switch (code) {
    case 'SIGNATURE_MISMATCH':
    case 'TIMESTAMP_EXPIRED':
    case 'APPID_MISMATCH':
      return 401;
    case 'IP_NOT_ALLOWED':
      return 403;
    case 'METHOD_NOT_ALLOWED':
      return 405;
    case 'XML_TOO_LARGE':
      return 413;
    default:
      return 400;
  }
}
