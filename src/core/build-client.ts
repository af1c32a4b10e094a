import { TokenManager } from '../credentials/token-manager.js';
import type { TokenStore } from '../credentials/token-store.js';
import { tokenKey } from '../credentials/token-store.js';
import { ApiClient } from './api-client.js';
import { type CommonClientOptions, checkOptions, splitHooks } from './client-options.js';
import { ConfigError } from './errors.js';
import type { Transport } from './transport.js';
import { Transport as TransportClass } from './transport.js';

/** A transport configured from the common client options. */
export function transportFrom(options: CommonClientOptions): Transport {
  return new TransportClass({
    ...(options.fetch === undefined ? {} : { fetch: options.fetch }),
    ...(options.timeoutMs === undefined ? {} : { timeoutMs: options.timeoutMs }),
    ...(options.retries === undefined ? {} : { retries: options.retries }),
    hooks: splitHooks(options.hooks).transport,
  });
}

/** A token manager for one credential, configured from the common client options. */
export function tokenManagerFrom(
  options: CommonClientOptions,
  store: TokenStore | undefined,
  key: string,
  fetchToken: () => Promise<{ value: string; expiresIn: number }>,
): TokenManager {
  return new TokenManager({
    key,
    fetchToken,
    ...(store === undefined ? {} : { store }),
    ...(options.refreshMarginSeconds === undefined
      ? {}
      : { refreshMarginSeconds: options.refreshMarginSeconds }),
    ...(options.onStoreUnavailable === undefined ? {} : { onStoreUnavailable: options.onStoreUnavailable }),
    ...(options.now === undefined ? {} : { now: options.now }),
    hooks: splitHooks(options.hooks).tokens,
  });
}

/** Fetches an app access_token with `stable_token` (default: it never invalidates other holders) or `cgi-bin/token`. */
export async function fetchAppAccessToken(
  client: ApiClient,
  credentials: { appId: string; secret: string },
  mode: 'stable' | 'classic',
): Promise<{ value: string; expiresIn: number }> {
  const answer =
    mode === 'stable'
      ? await client.request<{ access_token: string; expires_in: number }>('POST', '/cgi-bin/stable_token', {
          auth: false,
          // Asking for the current token is harmless to repeat.
          idempotent: true,
          body: {
            grant_type: 'client_credential',
            appid: credentials.appId,
            secret: credentials.secret,
            force_refresh: false,
          },
        })
      : await client.request<{ access_token: string; expires_in: number }>('GET', '/cgi-bin/token', {
          auth: false,
          // Each cgi-bin/token call replaces the previous token: never resend one blindly.
          idempotent: false,
          query: { grant_type: 'client_credential', appid: credentials.appId, secret: credentials.secret },
        });
  return { value: answer.access_token, expiresIn: answer.expires_in };
}

/** Options of an app (Official Account / Mini Program) client, as {@link appClient} needs them. */
interface AppClientOptions extends CommonClientOptions {
  appId: string;
  secret: string;
  tokenMode?: 'stable' | 'classic';
}

/**
 * The parts every AppID + AppSecret client shares: checked options, one transport, the shared
 * access_token manager and an {@link ApiClient} that uses it.
 */
export function appClient(
  name: string,
  options: AppClientOptions,
  extraOptions: readonly string[],
): { client: ApiClient; accessToken: TokenManager } {
  checkOptions(name, options, ['appId', 'secret', 'tokenMode', ...extraOptions], ['appId', 'secret']);
  const mode = options.tokenMode ?? 'stable';
  if (mode !== 'stable' && mode !== 'classic') {
    throw new ConfigError('INVALID_CONFIG', `${name}: tokenMode must be "stable" or "classic"`);
  }
  const transport = transportFrom(options);
  const baseUrl = options.baseUrl ?? 'https://api.weixin.qq.com';
  const bare = new ApiClient({ baseUrl, transport });
  const accessToken = tokenManagerFrom(options, options.store, tokenKey('access_token', options.appId), () =>
    fetchAppAccessToken(bare, options, mode),
  );
  return { client: new ApiClient({ baseUrl, transport, accessToken }), accessToken };
}

export { ApiClient };
