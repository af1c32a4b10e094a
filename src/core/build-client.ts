import {
  type CredentialSettings,
  credentialErrorOf,
  isSecretRefusal,
} from '../credentials/credential-errors.js';
import { MemoryStore } from '../credentials/memory-store.js';
import { isWeChatFailure } from '../credentials/token-cooldown.js';
import { TokenManager } from '../credentials/token-manager.js';
import type { TokenStore } from '../credentials/token-store.js';
import { ConfigError } from '../errors.js';
import { type AppTokenSource, appTokenSourceOf } from '../internal/app-token-source.js';
import { emitSecurityEvent } from '../internal/security-event.js';
import { tokenKey } from '../internal/store-keys.js';
import { ApiClient } from './api-client.js';
import { type ClientOptions, checkOptions, splitHooks, type TokenClientOptions } from './client-options.js';
import { QuotaBreaker, resolveQuotaBreaker } from './quota-breaker.js';
import type { SecretInput } from './secret-provider.js';
import { secretFrom } from './secret-provider.js';
import { requiredSecret, SecretSource } from './secret-source.js';
import type { Transport } from './transport.js';
import { Transport as TransportClass } from './transport.js';

/** A transport configured from the common client options. */
export function transportFrom(options: ClientOptions): Transport {
  return new TransportClass({
    ...(options.fetch === undefined ? {} : { fetch: options.fetch }),
    ...(options.timeoutMs === undefined ? {} : { timeoutMs: options.timeoutMs }),
    ...(options.retries === undefined ? {} : { retries: options.retries }),
    ...(options.dispatcher === undefined ? {} : { dispatcher: options.dispatcher }),
    ...(options.scheduler === undefined ? {} : { scheduler: options.scheduler }),
    ...(options.tracing === undefined ? {} : { tracing: options.tracing }),
    hooks: splitHooks(options.hooks, options.logger).transport,
  });
}

/**
 * The quota breaker of one account (`appId`; WeCom: corpId and `agentId`), configured from the common
 * client options, or undefined under `quotaBreaker: false`. Without a `store` it keeps its state in
 * a memory store of its own (this process only).
 */
export function quotaBreakerFrom(
  options: TokenClientOptions,
  store: TokenStore | undefined,
  appId: string,
  agentId?: string,
): QuotaBreaker | undefined {
  const settings = resolveQuotaBreaker(options.quotaBreaker);
  if (settings === undefined) return undefined;
  const hooks = splitHooks(options.hooks, options.logger).breaker;
  const sink = options.onSecurityEvent;
  if (sink !== undefined && typeof sink !== 'function') {
    throw new ConfigError('INVALID_CONFIG', 'onSecurityEvent must be a function (event) => void');
  }
  if (sink !== undefined) {
    const onBreaker = hooks.onBreaker;
    const now = options.now ?? Date.now;
    hooks.onBreaker = (event) => {
      const detail: Record<string, string | number> = {
        path: event.path,
        state: event.state,
        openings: event.openings,
      };
      if (event.errcode !== undefined) detail.errcode = event.errcode;
      if (event.retryAt !== undefined) detail.retryAt = event.retryAt.toISOString();
      emitSecurityEvent(sink, {
        type: 'breaker_changed',
        source: 'client',
        code: 'QUOTA_EXCEEDED',
        appId: event.appId,
        detail,
        now: now(),
      });
      onBreaker?.(event);
    };
  }
  return new QuotaBreaker({
    appId,
    agentId,
    settings,
    store: store ?? new MemoryStore(options.now === undefined ? {} : { now: options.now }),
    now: options.now,
    hooks,
  });
}

/**
 * A token manager for one credential, configured from the common client options. `coolsDown`
 * narrows which fetch failures start the failure cool-down (default: WeChat's answers), e.g. to
 * leave out a failure after which the next fetch would not reach WeChat anyway.
 */
export function tokenManagerFrom(
  options: TokenClientOptions,
  store: TokenStore | undefined,
  key: string,
  fetchToken: () => Promise<{ value: string; expiresIn: number }>,
  coolsDown?: (error: unknown) => boolean,
): TokenManager {
  const cooldown = options.failureCooldown;
  return new TokenManager({
    key,
    fetchToken,
    ...(store === undefined ? {} : { store }),
    ...(cooldown === false
      ? { failureCooldown: false }
      : {
          failureCooldown: {
            ...cooldown,
            ...(coolsDown === undefined || cooldown?.appliesTo !== undefined
              ? {}
              : { appliesTo: (error: unknown) => isWeChatFailure(error) && coolsDown(error) }),
          },
        }),
    ...(options.refreshMarginSeconds === undefined
      ? {}
      : { refreshMarginSeconds: options.refreshMarginSeconds }),
    ...(options.onStoreUnavailable === undefined ? {} : { onStoreUnavailable: options.onStoreUnavailable }),
    ...(options.now === undefined ? {} : { now: options.now }),
    ...(options.scheduler === undefined ? {} : { scheduler: options.scheduler }),
    hooks: splitHooks(options.hooks, options.logger).tokens,
  });
}

/**
 * Fetches an app access_token with `stable_token` (default: it never invalidates other holders) or
 * `cgi-bin/token`. A refused AppSecret (40125, or 40001 from these endpoints), AppID (40013) or
 * caller IP (40164) is thrown as a `CredentialConfigError` naming the setting to fix. An AppSecret
 * from a provider that WeChat refuses is read again once (it may have been reset and updated in
 * the vault): with a new value the fetch is made once more; no token was issued for the refused one.
 */
export async function fetchAppAccessToken(
  client: ApiClient,
  credentials: { appId: string; secret: SecretSource },
  mode: 'stable' | 'classic',
  settings?: CredentialSettings,
): Promise<{ value: string; expiresIn: number }> {
  return credentials.secret.use(async (secret) => {
    try {
      return await requestAppAccessToken(client, { appId: credentials.appId, secret }, mode);
    } catch (error) {
      throw settings === undefined ? error : credentialErrorOf(error, settings, 'token');
    }
  }, isSecretRefusal);
}

async function requestAppAccessToken(
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
interface AppClientOptions extends TokenClientOptions {
  appId: string;
  secret: SecretInput;
  tokenMode?: 'stable' | 'classic';
}

/** Where each app kind manages its AppSecret and IP whitelist, for the errors that name them. */
const APP_CONSOLES: Record<string, string> = {
  OfficialAccount:
    'the Official Account platform (mp.weixin.qq.com → 设置与开发 → 基本配置: AppSecret, IP白名单)',
  MiniProgram:
    'the Mini Program platform (mp.weixin.qq.com → 开发 → 开发管理 → 开发设置: AppSecret, IP白名单)',
};

/**
 * The parts every AppID + AppSecret client shares: checked options, one transport, the shared
 * access_token manager and an {@link ApiClient} that uses it, and the AppSecret (a value or a
 * provider) for the other calls that send it (code exchanges).
 */
export function appClient(
  name: string,
  options: AppClientOptions,
  extraOptions: readonly string[],
): { client: ApiClient; accessToken: TokenManager; secret: SecretSource } {
  checkOptions(name, options, ['appId', 'secret', 'tokenMode', ...extraOptions], ['appId']);
  const source = appTokenSourceOf(options);
  if (source !== undefined) return authorizerClient(name, options, source);
  const secret = requiredSecret(name, 'secret', options.secret);
  const mode = options.tokenMode ?? 'stable';
  if (mode !== 'stable' && mode !== 'classic') {
    throw new ConfigError('INVALID_CONFIG', `${name}: tokenMode must be "stable" or "classic"`);
  }
  const transport = transportFrom(options);
  const baseUrl = options.baseUrl ?? 'https://api.weixin.qq.com';
  const credentials: CredentialSettings = {
    client: name,
    id: options.appId,
    idOption: 'appId',
    secretOption: 'secret',
    console: APP_CONSOLES[name] ?? 'the mp.weixin.qq.com console (AppSecret, IP白名单)',
  };
  // One breaker for the app: its token endpoint and its APIs, each path on its own.
  const quotaBreaker = quotaBreakerFrom(options, options.store, options.appId);
  const bare = new ApiClient({ baseUrl, transport, credentials, quotaBreaker });
  const accessToken = tokenManagerFrom(options, options.store, tokenKey('access_token', options.appId), () =>
    fetchAppAccessToken(bare, { appId: options.appId, secret }, mode, credentials),
  );
  return {
    client: new ApiClient({ baseUrl, transport, accessToken, credentials, quotaBreaker }),
    accessToken,
    secret,
  };
}

/**
 * An app client acting for an Open Platform authorizer: the platform's authorizer_access_token and
 * shared transport, no AppSecret (code exchanges go through the component instead).
 */
function authorizerClient(
  name: string,
  options: AppClientOptions,
  source: AppTokenSource,
): { client: ApiClient; accessToken: TokenManager; secret: SecretSource } {
  const secret = new SecretSource(
    secretFrom(
      async () => {
        throw new ConfigError(
          'INVALID_CONFIG',
          `${name} ${options.appId} acts for an Open Platform authorizer and has no AppSecret: ` +
            `its code exchanges go through component ${source.component.appId}`,
        );
      },
      { name: 'open-platform-authorizer' },
    ),
  );
  const client = new ApiClient({
    baseUrl: options.baseUrl ?? 'https://api.weixin.qq.com',
    transport: source.transport,
    accessToken: source.accessToken,
    credentials: source.credentials,
    quotaBreaker: source.quotaBreaker,
  });
  return { client, accessToken: source.accessToken, secret };
}

export { ApiClient };
