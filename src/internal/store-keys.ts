import type { TokenKind } from '../credentials/token-store.js';
import { ArgumentError } from '../errors.js';

const KEY_PART = /^[A-Za-z0-9_.-]{1,128}$/;

/**
 * The store key of a credential: `weixin-kit:<kind>:<id>[:<sub>]`, where `id` is the appid (or
 * corpid) and `sub` an optional qualifier such as a WeCom agent id. It never contains the secret:
 * pass the appid, not the AppSecret.
 *
 * @example
 * tokenKey('access_token', 'wx1234567890abcdef') // 'weixin-kit:access_token:wx1234567890abcdef'
 * tokenKey('work_access_token', corpId, String(agentId))
 */
export function tokenKey(kind: TokenKind, id: string, sub?: string): string {
  const parts = sub === undefined ? [kind, id] : [kind, id, sub];
  for (const part of parts) {
    if (!KEY_PART.test(part)) {
      // The part itself is left out of the message: a caller passing the wrong argument might pass a secret.
      throw new ArgumentError(
        `tokenKey: each part must be 1-128 characters of [A-Za-z0-9_.-] (an appid, corpid or agent id); got ${part.length} characters`,
      );
    }
  }
  return `weixin-kit:${parts.join(':')}`;
}

/** The key of the refresh lease that belongs to the credential stored under `key`. */
export function leaseKeyOf(key: string): string {
  return `${key}:lease`;
}
