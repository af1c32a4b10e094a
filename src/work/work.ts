import { ApiClient, type ApiRequestOptions, type RequestOptions } from '../core/api-client.js';
import type { APIPromise } from '../core/api-promise.js';
import { quotaBreakerFrom, tokenManagerFrom, transportFrom } from '../core/build-client.js';
import { checkOptions, type TokenClientOptions } from '../core/client-options.js';
import { type WeComNetwork, weComNetwork } from '../core/network.js';
import type { SecretInput } from '../core/secret-provider.js';
import { requiredSecret } from '../core/secret-source.js';
import type { HttpMethod } from '../core/transport.js';
import {
  type CredentialSettings,
  credentialErrorOf,
  isSecretRefusal,
} from '../credentials/credential-errors.js';
import type { TokenManager } from '../credentials/token-manager.js';
import { ConfigError } from '../errors.js';
import { tokenKey } from '../internal/store-keys.js';
import { workTokenSourceOf } from '../internal/work-token-source.js';

/**
 * Options of {@link Work}. Unknown keys are rejected. `corpId` and `corpSecret` take
 * `string | undefined` so that `process.env.X` can be passed as is; a missing one is refused when
 * the client is built, naming the variable to set.
 */
export interface WorkOptions extends TokenClientOptions {
  /** The corpid (`ww…`). */
  corpId: string | undefined;
  /**
   * The secret of the app (agent) — each agent has its own secret and its own token — or a
   * provider that reads it (`secretFromEnv`, `secretFromFile`, `secretFrom`): read when first
   * needed, and again once when WeCom refuses it (after a reset).
   */
  corpSecret: SecretInput | undefined;
  /** The app's AgentId: names the token in the store (never the secret) and fills `agentid` in messages. */
  agentId: number;
}

/** `POST /cgi-bin/message/send` body (the `agentid` is filled in); wire names kept. */
export interface WorkMessage {
  touser?: string;
  toparty?: string;
  totag?: string;
  msgtype:
    | 'text'
    | 'image'
    | 'voice'
    | 'video'
    | 'file'
    | 'textcard'
    | 'news'
    | 'mpnews'
    | 'markdown'
    | 'miniprogram_notice'
    | 'template_card';
  safe?: 0 | 1;
  enable_duplicate_check?: 0 | 1;
  duplicate_check_interval?: number;
  [content: string]: unknown;
}

/** `cgi-bin/message/send` answer. */
export interface WorkMessageResult {
  errcode: number;
  errmsg: string;
  invaliduser?: string;
  invalidparty?: string;
  invalidtag?: string;
  unlicenseduser?: string;
  msgid: string;
  response_code?: string;
}

/** `cgi-bin/user/get` (partial; wire names kept). */
export interface WorkUser {
  userid: string;
  name: string;
  department: number[];
  status?: number;
  mobile?: string;
  email?: string;
  [field: string]: unknown;
}

/** `users.get` parameters (`cgi-bin/user/get`). */
export interface GetWorkUserParams {
  userid: string;
}

/**
 * The WeCom (企业微信) client for one self-built app (agent). Every API method is
 * `method(params, options?)` and returns an {@link APIPromise}.
 *
 * @example
 * const work = new Work({ corpId, corpSecret, agentId: 1000002 });
 * await work.messages.send({ touser: 'zhangsan', msgtype: 'text', text: { content: '你好' } });
 */
export class Work {
  readonly corpId: string;
  readonly agentId: number;
  readonly client: ApiClient;
  readonly #accessToken: TokenManager;

  constructor(options: WorkOptions) {
    checkOptions('Work', options, ['corpId', 'corpSecret', 'agentId'], ['corpId']);
    // A company's client from `WeComSuite.corp()`: its corp token comes from the suite, no secret.
    const source = workTokenSourceOf(options);
    if (!Number.isInteger(options.agentId)) {
      const value: unknown = options.agentId;
      const got =
        value === undefined
          ? 'it is undefined'
          : typeof value === 'number'
            ? `got ${value}${Number.isNaN(value) ? ' — from Number(process.env.X) of an unset variable?' : ''}`
            : `got a ${typeof value}`;
      throw new ConfigError('INVALID_CONFIG', `Work: agentId must be the app’s AgentId (an integer; ${got})`);
    }
    const corpId = options.corpId as string;
    this.corpId = corpId;
    this.agentId = options.agentId;
    const baseUrl = options.baseUrl ?? 'https://qyapi.weixin.qq.com';
    if (source !== undefined) {
      this.#accessToken = source.accessToken;
      this.client = new ApiClient({
        baseUrl,
        transport: source.transport,
        accessToken: source.accessToken,
        credentials: source.credentials,
        quotaBreaker: source.quotaBreaker,
      });
      return;
    }
    const corpSecret = requiredSecret('Work', 'corpSecret', options.corpSecret);
    const transport = transportFrom(options);
    const credentials: CredentialSettings = {
      client: 'Work',
      id: corpId,
      idOption: 'corpId',
      secretOption: `corpSecret (the Secret of agent ${options.agentId})`,
      console: 'the WeCom admin console (work.weixin.qq.com → 应用管理 → the app: Secret, 企业可信IP)',
    };
    // Per app of the corp (corpId and AgentId): one app's spent quota never holds back another's.
    const quotaBreaker = quotaBreakerFrom(options, options.store, corpId, String(options.agentId));
    const bare = new ApiClient({ baseUrl, transport, credentials, quotaBreaker });
    this.#accessToken = tokenManagerFrom(
      options,
      options.store,
      tokenKey('work_access_token', corpId, String(options.agentId)),
      () =>
        corpSecret.use(async (secret) => {
          try {
            const answer = await bare.request<{ access_token: string; expires_in: number }>(
              'GET',
              '/cgi-bin/gettoken',
              {
                auth: false,
                query: { corpid: corpId, corpsecret: secret },
              },
            );
            return { value: answer.access_token, expiresIn: answer.expires_in };
          } catch (error) {
            // gettoken answers 40001 for a wrong corpsecret and 40013 for a wrong corpid.
            throw credentialErrorOf(error, credentials, 'token');
          }
        }, isSecretRefusal),
    );
    this.client = new ApiClient({
      baseUrl,
      transport,
      accessToken: this.#accessToken,
      credentials,
      quotaBreaker,
    });
  }

  /** The app's current access_token. */
  getAccessToken(): Promise<string> {
    return this.#accessToken.get();
  }

  /**
   * The typed escape hatch for any API without a method here.
   *
   * @example
   * const { department } = await work.request<{ department: unknown[] }>('GET', '/cgi-bin/department/list');
   */
  request<T = unknown>(method: HttpMethod, path: string, options?: ApiRequestOptions): APIPromise<T> {
    return this.client.request<T>(method, path, options);
  }

  /** WeCom's server address ranges: its callback sources (`getcallbackip`) and its API domain (`get_api_domain_ip`). */
  readonly network: WeComNetwork = weComNetwork(() => this.client);

  readonly messages = {
    /**
     * `POST /cgi-bin/message/send` as this app (`agentid` filled in). Not retried after a network
     * error (it could send twice) unless you pass `idempotent: true` with `enable_duplicate_check`.
     *
     * @example
     * await work.messages.send({ touser: 'zhangsan', msgtype: 'text', text: { content: '你好' } });
     */
    send: (message: WorkMessage, options?: RequestOptions): APIPromise<WorkMessageResult> =>
      this.client.request<WorkMessageResult>('POST', '/cgi-bin/message/send', {
        ...options,
        body: { ...message, agentid: this.agentId },
      }),
  };

  readonly users = {
    /**
     * `GET /cgi-bin/user/get`: one member.
     *
     * @example
     * const member = await work.users.get({ userid: 'zhangsan' });
     */
    get: (params: GetWorkUserParams, options?: RequestOptions): APIPromise<WorkUser> =>
      this.client.request<WorkUser>('GET', '/cgi-bin/user/get', {
        ...options,
        query: { userid: params.userid },
      }),
  };
}
