import type { QuotaBreaker } from '../core/quota-breaker.js';
import type { Transport } from '../core/transport.js';
import type { CredentialSettings } from '../credentials/credential-errors.js';
import type { TokenManager } from '../credentials/token-manager.js';

/**
 * The key under which `OpenPlatform` hands an Official Account / Mini Program client the
 * authorizer's credentials instead of an AppSecret. A symbol: `checkOptions` only looks at string
 * keys, and users cannot set it by accident (nor through JSON or `process.env`).
 */
export const APP_TOKEN_SOURCE: unique symbol = Symbol('weixin-kit.appTokenSource');

/**
 * What a client acting for another party (an Open Platform authorizer, a WeCom company) takes
 * instead of its own secret: the token it acts with, the owner's shared transport, credential
 * settings and quota breaker.
 */
export interface TokenSource {
  accessToken: TokenManager;
  transport: Transport;
  credentials: CredentialSettings;
  quotaBreaker: QuotaBreaker | undefined;
}

/** The source attached to `options` under `key`, if any. */
export function tokenSourceOf<T extends TokenSource>(options: object, key: symbol): T | undefined {
  return (options as Record<symbol, T | undefined>)[key];
}

/**
 * Where an app client acting for an Open Platform authorizer gets its credentials: the
 * authorizer_access_token (kept by the platform), the platform's shared transport, the store keys
 * of its tickets, and the component whose token signs OAuth and login on the account's behalf.
 */
export interface AppTokenSource extends TokenSource {
  /** The store key of a JS-SDK ticket of this authorizer (namespaced by the component). */
  ticketKey(type: 'jsapi' | 'wx_card'): string;
  component: {
    appId: string;
    /** The current component_access_token. */
    accessToken(): Promise<string>;
  };
}

/** The source attached to `options`, if any. */
export function appTokenSourceOf(options: object): AppTokenSource | undefined {
  return tokenSourceOf<AppTokenSource>(options, APP_TOKEN_SOURCE);
}
