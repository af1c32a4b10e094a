import type {
  SuiteCancelAuthEvent,
  SuiteChangeAuthEvent,
  SuiteCreateAuthEvent,
  SuiteTicketEvent,
} from '../callbacks/messages.js';
import type { WeChatCallback } from '../callbacks/wechat-callback.js';
import { ApiClient, type ApiRequestOptions, type RequestOptions } from '../core/api-client.js';
import { APIPromise } from '../core/api-promise.js';
import { quotaBreakerFrom, tokenManagerFrom, transportFrom } from '../core/build-client.js';
import { checkOptions, type TokenClientOptions } from '../core/client-options.js';
import type { SecretInput } from '../core/secret-provider.js';
import { requiredSecret, type SecretSource } from '../core/secret-source.js';
import type { HttpMethod, Transport } from '../core/transport.js';
import {
  type CredentialSettings,
  credentialErrorOf,
  isSecretRefusal,
} from '../credentials/credential-errors.js';
import { MemoryStore } from '../credentials/memory-store.js';
import type { TokenManager } from '../credentials/token-manager.js';
import type { TokenStore } from '../credentials/token-store.js';
import { ArgumentError, ConfigError, WeChatApiError, WeChatKitError } from '../errors.js';
import { LruMap } from '../internal/lru.js';
import { tokenKey } from '../internal/store-keys.js';
import { WORK_TOKEN_SOURCE, type WorkTokenSource } from '../internal/work-token-source.js';
import { Work, type WorkOptions } from './work.js';

/** How long a suite_ticket is accepted after its push (official: 30 minutes; a new one every 10). */
export const SUITE_TICKET_TTL_MS = 30 * 60 * 1000;

/**
 * How long a stored permanent code is kept. WeCom never expires it (it dies when the company
 * cancels the authorisation); stores need a TTL, so it is kept for ten years.
 */
export const PERMANENT_CODE_TTL_MS = 10 * 365 * 24 * 3600 * 1000;

/** Default of {@link WeComSuiteOptions.corpCacheSize}. */
export const DEFAULT_CORP_CACHE_SIZE = 1000;

/** WeCom's errcode for a suite_ticket it does not accept (不合法的suite_ticket). */
const INVALID_SUITE_TICKET = 40085;

/**
 * Options of {@link WeComSuite}. Unknown keys are rejected. `suiteId` and `suiteSecret` take
 * `string | undefined` so that `process.env.X` can be passed as is; a missing one is refused when
 * the client is built, naming the variable to set.
 */
export interface WeComSuiteOptions extends TokenClientOptions {
  /** The third-party app's SuiteID (`ww…` / `wx…`; `dk…` for a 代开发 template). */
  suiteId: string | undefined;
  /**
   * The app's Secret (suite_secret), or a provider that reads it (`secretFromEnv`,
   * `secretFromFile`, `secretFrom`). Never logged, never part of a store key.
   */
  suiteSecret: SecretInput | undefined;
  /** Most companies whose clients are kept in this process (LRU, default 1000); the store keeps them all. */
  corpCacheSize?: number | undefined;
}

/**
 * No suite_ticket is stored (or the stored one expired or was refused), so no suite_access_token
 * can be fetched (code `SUITE_TICKET_MISSING`). WeCom pushes one every 10 minutes to the
 * instruction callback (指令回调URL): save it with {@link WeComSuite.suiteTicketHandler} or
 * {@link WeComSuite.attachCallback} in a store every instance shares; the 服务商管理后台 can also
 * push one at once (刷新Ticket).
 */
export class SuiteTicketMissingError extends ConfigError {
  constructor(message: string) {
    super('SUITE_TICKET_MISSING', message);
  }
}

/**
 * No permanent code is stored for a company: it never installed the app, or it cancelled the
 * authorisation (`cancel_auth`) and was forgotten (code `CORP_NOT_AUTHORIZED`). Nothing is sent
 * on its behalf until it installs the app again (`create_auth`, or `auth.exchangeCode`).
 */
export class CorpNotAuthorizedError extends WeChatKitError {
  readonly corpId: string;

  constructor(corpId: string, message: string) {
    super('CORP_NOT_AUTHORIZED', message);
    this.corpId = corpId;
  }
}

/** A pre_auth_code (`service/get_pre_auth_code`): one per install link; wire names kept. */
export interface SuitePreAuthCode {
  pre_auth_code: string;
  /** Seconds (WeCom: 1200). */
  expires_in: number;
}

/** `auth.installUrl` parameters (企业微信 第三方应用 授权链接); the query's own names. */
export interface SuiteInstallUrlParams {
  /** From `auth.createPreAuthCode()`; one per link. */
  pre_auth_code: string;
  /** Where WeCom sends the admin back with `auth_code`, `expires_in` and `state`. Pass it plain: it is encoded here. */
  redirect_uri: string;
  /** Echoed to `redirect_uri` and in the `create_auth` event (`State`); a-zA-Z0-9, up to 128. */
  state?: string | undefined;
}

/** `auth.setSessionInfo` parameters (`service/set_session_info`). */
export interface SuiteSessionInfoParams {
  pre_auth_code: string;
  session_info: {
    /** Apps of an old multi-app suite allowed in this install; leave out for every app. */
    appid?: number[] | undefined;
    /** 0 正式授权 (default), 1 测试授权 (before the app is published). */
    auth_type?: 0 | 1 | undefined;
  };
}

/** One authorised app of a company (`auth_info.agent[]`, partial; wire names kept). */
export interface SuiteAuthAgent {
  agentid: number;
  name?: string;
  [field: string]: unknown;
}

/** `service/get_permanent_code`'s answer (partial; wire names kept). */
export interface PermanentCodeInfo {
  /** The company's corp access_token, stored by the suite. */
  access_token?: string;
  expires_in?: number;
  /** Never expires; stored by the suite, never logged. */
  permanent_code: string;
  auth_corp_info: { corpid: string; corp_name?: string; [field: string]: unknown };
  auth_info?: { agent?: SuiteAuthAgent[] };
  auth_user_info?: { userid?: string; open_userid?: string; name?: string; [field: string]: unknown };
  state?: string;
  [field: string]: unknown;
}

/** `service/get_auth_info`'s answer (partial; wire names kept). */
export interface SuiteAuthInfo {
  auth_corp_info: { corpid: string; corp_name?: string; [field: string]: unknown };
  auth_info: { agent: SuiteAuthAgent[] };
  [field: string]: unknown;
}

/** What {@link WeComSuite.handleAuthorizationEvent} did. */
export type SuiteAuthorizationOutcome =
  | { type: 'create_auth'; corpId: string; info: PermanentCodeInfo }
  | { type: 'change_auth'; corpId: string; info: SuiteAuthInfo }
  | { type: 'cancel_auth'; corpId: string };

/** Your own steps after the suite handled an authorisation event ({@link WeComSuite.attachCallback}). */
export interface SuiteAuthorizationListeners {
  create_auth?: ((info: PermanentCodeInfo, event: SuiteCreateAuthEvent) => void | Promise<void>) | undefined;
  change_auth?:
    | ((corpId: string, event: SuiteChangeAuthEvent, info: SuiteAuthInfo) => void | Promise<void>)
    | undefined;
  cancel_auth?: ((corpId: string, event: SuiteCancelAuthEvent) => void | Promise<void>) | undefined;
}

/** Sizes of the in-memory company cache, for metrics. */
export interface CorpCacheStats {
  size: number;
  maxSize: number;
  evictions: number;
}

/** What the store keeps per company: the permanent code and the app's AgentId there. */
interface Authorization {
  permanent_code: string;
  agentid: number;
}

interface CorpEntry {
  work: Work;
  source: WorkTokenSource;
}

const ID_SHAPE = /^[A-Za-z0-9_.-]{1,128}$/;
const STATE_SHAPE = /^[A-Za-z0-9]{0,128}$/;
const LISTENERS = new Set(['create_auth', 'change_auth', 'cancel_auth']);

function requireString(method: string, name: string, value: unknown): string {
  if (typeof value !== 'string' || value === '') {
    throw new ArgumentError(`WeComSuite.${method}: ${name} must be a non-empty string`);
  }
  return value;
}

function requireCorpId(method: string, value: unknown): string {
  const corpId = requireString(method, 'corpId', value);
  if (!ID_SHAPE.test(corpId)) throw new ArgumentError(`WeComSuite.${method}: corpId must be a corpid (ww…)`);
  return corpId;
}

function readAuthorization(value: string): Authorization | undefined {
  try {
    const parsed = JSON.parse(value) as Partial<Authorization>;
    if (typeof parsed.permanent_code === 'string' && Number.isInteger(parsed.agentid)) {
      return parsed as Authorization;
    }
  } catch {}
  return undefined;
}

/**
 * A WeCom third-party app (企业微信 第三方应用, "suite") acting for every company that installed
 * it: keeps the suite_ticket, the suite_access_token, each company's permanent code and corp
 * access_token in the store — one refresh per token across every instance sharing it (single
 * flight, lease, compare-and-delete) — and gives a {@link Work} client per company.
 *
 * @example
 * const suite = new WeComSuite({ suiteId, suiteSecret, store: new RedisStore(redis) });
 * suite.attachCallback(createWeComCallback({ corpId: suiteId, token, encodingAESKey }));
 * const { pre_auth_code } = await suite.auth.createPreAuthCode();
 * const link = suite.auth.installUrl({ pre_auth_code, redirect_uri: 'https://example.com/wecom/back' });
 * // after the install (create_auth, or the redirect's auth_code):
 * const corp = await suite.corp('wwcorp1234567890');
 * await corp.messages.send({ touser: '@all', msgtype: 'text', text: { content: 'installed' } });
 */
export class WeComSuite {
  readonly suiteId: string;
  /** A client whose calls carry `suite_access_token` (`/cgi-bin/service/*`). */
  readonly client: ApiClient;
  readonly #options: WeComSuiteOptions;
  readonly #store: TokenStore;
  readonly #transport: Transport;
  readonly #baseUrl: string;
  readonly #now: () => number;
  readonly #ticketKey: string;
  readonly #suiteToken: TokenManager;
  readonly #suiteSecret: SecretSource;
  readonly #credentials: CredentialSettings;
  readonly #corps: LruMap<string, CorpEntry>;

  constructor(options: WeComSuiteOptions) {
    checkOptions('WeComSuite', options, ['suiteId', 'suiteSecret', 'corpCacheSize'], ['suiteId']);
    this.#suiteSecret = requiredSecret('WeComSuite', 'suiteSecret', options.suiteSecret);
    const suiteId = options.suiteId as string;
    if (!ID_SHAPE.test(suiteId)) {
      throw new ConfigError('INVALID_CONFIG', 'WeComSuite: suiteId must be the SuiteID (ww…, wx… or dk…)');
    }
    const cacheSize = options.corpCacheSize ?? DEFAULT_CORP_CACHE_SIZE;
    if (!Number.isSafeInteger(cacheSize) || cacheSize < 1) {
      throw new ConfigError('INVALID_CONFIG', 'WeComSuite: corpCacheSize must be a positive integer');
    }
    this.suiteId = suiteId;
    this.#options = options;
    this.#corps = new LruMap(cacheSize);
    this.#now = options.now ?? Date.now;
    // Ticket, permanent codes and tokens must live in one store, even the default one.
    this.#store = options.store ?? new MemoryStore({ now: this.#now });
    this.#transport = transportFrom(options);
    this.#baseUrl = options.baseUrl ?? 'https://qyapi.weixin.qq.com';
    this.#ticketKey = tokenKey('suite_ticket', suiteId);
    this.#credentials = {
      client: 'WeComSuite',
      id: suiteId,
      idOption: 'suiteId',
      secretOption: 'suiteSecret',
      console:
        'the WeCom service provider console (open.work.weixin.qq.com → 应用管理 → the app: Secret, IP白名单)',
    };
    const quotaBreaker = quotaBreakerFrom(options, this.#store, suiteId);
    const bare = new ApiClient({
      baseUrl: this.#baseUrl,
      transport: this.#transport,
      credentials: this.#credentials,
      quotaBreaker,
    });
    this.#suiteToken = tokenManagerFrom(
      options,
      this.#store,
      tokenKey('suite_access_token', suiteId),
      () => this.#fetchSuiteToken(bare),
      // After a refused ticket it is dropped: the next fetch fails here, without asking WeCom.
      (error) => !(error instanceof WeChatApiError && error.errcode === INVALID_SUITE_TICKET),
    );
    this.client = new ApiClient({
      baseUrl: this.#baseUrl,
      transport: this.#transport,
      accessToken: this.#suiteToken,
      tokenQueryName: 'suite_access_token',
      credentials: this.#credentials,
      quotaBreaker,
    });
  }

  /** Stores the latest suite_ticket (valid 30 min) where every instance finds it. */
  async saveSuiteTicket(ticket: string): Promise<void> {
    const value = requireString('saveSuiteTicket', 'ticket', ticket);
    const expiresAt = this.#now() + SUITE_TICKET_TTL_MS;
    await this.#store.set(this.#ticketKey, { value, expiresAt, refreshAt: expiresAt }, SUITE_TICKET_TTL_MS);
  }

  /**
   * A handler for `callback.on('suite_ticket', …)`: saves the ticket (the callback answers
   * `success`). A ticket for another suite is refused.
   *
   * @example
   * createWeComCallback({ corpId: suite.suiteId, token, encodingAESKey }).on('suite_ticket', suite.suiteTicketHandler());
   */
  suiteTicketHandler(): (message: SuiteTicketEvent) => Promise<void> {
    return async (message) => {
      this.#checkSuite(message.SuiteId, 'suite_ticket');
      await this.saveSuiteTicket(message.SuiteTicket);
    };
  }

  /** The current suite_access_token (one fetch for all callers; one instance fetches with a shared store). */
  getSuiteAccessToken(): Promise<string> {
    return this.#suiteToken.get();
  }

  /**
   * The typed escape hatch for suite APIs without a method here: the call carries
   * `suite_access_token`. To call an API as a company, use `(await suite.corp(corpId)).request`.
   *
   * @example
   * const info = await suite.request('POST', '/cgi-bin/service/get_auth_info', { body: { auth_corpid, permanent_code } });
   */
  request<T = unknown>(method: HttpMethod, path: string, options?: ApiRequestOptions): APIPromise<T> {
    return this.client.request<T>(method, path, options);
  }

  /** The install flow (应用授权): pre_auth_code → session info → install link → auth code → permanent code. */
  readonly auth = {
    /**
     * `GET /cgi-bin/service/get_pre_auth_code`: a new pre_auth_code, one per install link.
     *
     * @example
     * const { pre_auth_code } = await suite.auth.createPreAuthCode();
     */
    createPreAuthCode: (options?: RequestOptions): APIPromise<SuitePreAuthCode> =>
      this.client
        .request<SuitePreAuthCode>('GET', '/cgi-bin/service/get_pre_auth_code', options)
        .map((answer) => ({ pre_auth_code: answer.pre_auth_code, expires_in: answer.expires_in })),

    /**
     * `POST /cgi-bin/service/set_session_info`: configures one install, e.g. `auth_type: 1` (test
     * install) for an app not yet published.
     *
     * @example
     * await suite.auth.setSessionInfo({ pre_auth_code, session_info: { auth_type: 1 } });
     */
    setSessionInfo: (params: SuiteSessionInfoParams, options?: RequestOptions): APIPromise<void> =>
      APIPromise.from(async () => {
        const code = requireString('auth.setSessionInfo', 'pre_auth_code', params?.pre_auth_code);
        const info = params.session_info;
        if (typeof info !== 'object' || info === null) {
          throw new ArgumentError('WeComSuite.auth.setSessionInfo: session_info must be an object');
        }
        if (info.auth_type !== undefined && info.auth_type !== 0 && info.auth_type !== 1) {
          throw new ArgumentError('WeComSuite.auth.setSessionInfo: session_info.auth_type must be 0 or 1');
        }
        const { response } = await this.client
          .request('POST', '/cgi-bin/service/set_session_info', {
            ...options,
            body: { pre_auth_code: code, session_info: info },
          })
          .withResponse();
        return { data: undefined, response };
      }),

    /**
     * The install link (`https://open.work.weixin.qq.com/3rdapp/install?…`); no request is sent.
     * `redirect_uri` must be on the app's 授权完成回调域名.
     *
     * @example
     * const link = suite.auth.installUrl({ pre_auth_code, redirect_uri: 'https://example.com/wecom/back', state: 'abc' });
     */
    installUrl: (params: SuiteInstallUrlParams): string => {
      const method = 'auth.installUrl';
      const preAuthCode = requireString(method, 'pre_auth_code', params?.pre_auth_code);
      const redirectUri = requireString(method, 'redirect_uri', params.redirect_uri);
      if (!/^https?:\/\/[^/?#]+/i.test(redirectUri)) {
        throw new ArgumentError(`WeComSuite.${method}: redirect_uri must be an http(s) URL`);
      }
      const state = params.state ?? '';
      if (typeof state !== 'string' || !STATE_SHAPE.test(state)) {
        throw new ArgumentError(`WeComSuite.${method}: state must be up to 128 letters and digits`);
      }
      const query: Array<[string, string]> = [
        ['suite_id', this.suiteId],
        ['pre_auth_code', preAuthCode],
        ['redirect_uri', redirectUri],
        ['state', state],
      ];
      const encoded = query.map(([k, v]) => `${k}=${encodeURIComponent(v)}`).join('&');
      return `https://open.work.weixin.qq.com/3rdapp/install?${encoded}`;
    },

    /**
     * `POST /cgi-bin/service/get_permanent_code`: exchanges an install's temporary auth code (the
     * redirect's `auth_code`, or the `create_auth` event's `AuthCode`; single use, 10 min) for the
     * company's permanent code, and stores it with the app's AgentId and the corp access_token it
     * came with. A company forgotten after `cancel_auth` is known again from then on.
     *
     * @example
     * const info = await suite.auth.exchangeCode({ auth_code: query.auth_code });
     * const corp = await suite.corp(info.auth_corp_info.corpid);
     */
    exchangeCode: (params: { auth_code: string }, options?: RequestOptions): APIPromise<PermanentCodeInfo> =>
      APIPromise.from(async () => {
        const code = requireString('auth.exchangeCode', 'auth_code', params?.auth_code);
        const { data: info, response } = await this.client
          .request<PermanentCodeInfo>('POST', '/cgi-bin/service/get_permanent_code', {
            ...options,
            body: { auth_code: code },
          })
          .withResponse();
        const corpId = info?.auth_corp_info?.corpid;
        const agentId = info?.auth_info?.agent?.[0]?.agentid;
        if (
          typeof corpId !== 'string' ||
          !ID_SHAPE.test(corpId) ||
          typeof info.permanent_code !== 'string' ||
          info.permanent_code === '' ||
          !Number.isInteger(agentId)
        ) {
          throw new WeChatKitError(
            'BAD_RESPONSE',
            'get_permanent_code answered without a usable permanent_code, auth_corp_info.corpid and auth_info.agent',
          );
        }
        await this.savePermanentCode(corpId, info.permanent_code, agentId as number);
        if (typeof info.access_token === 'string' && typeof info.expires_in === 'number') {
          await this.#storeCorpToken(corpId, info.access_token, info.expires_in);
        }
        return { data: info, response };
      }),
  };

  /**
   * Stores a company's permanent code obtained elsewhere (e.g. migrated from a database) with the
   * app's AgentId in that company.
   */
  async savePermanentCode(corpId: string, permanentCode: string, agentId: number): Promise<void> {
    const id = requireCorpId('savePermanentCode', corpId);
    const code = requireString('savePermanentCode', 'permanentCode', permanentCode);
    if (!Number.isInteger(agentId)) {
      throw new ArgumentError(
        "WeComSuite.savePermanentCode: agentId must be the app's AgentId in that company",
      );
    }
    const value = JSON.stringify({ permanent_code: code, agentid: agentId } satisfies Authorization);
    const expiresAt = this.#now() + PERMANENT_CODE_TTL_MS;
    await this.#store.set(
      this.#codeKey(id),
      { value, expiresAt, refreshAt: expiresAt },
      PERMANENT_CODE_TTL_MS,
    );
    // A client cached before (e.g. with another AgentId) is rebuilt from the new record.
    this.#corps.delete(id);
  }

  /** Whether a permanent code is stored for a company (it installed the app and did not cancel). */
  async isAuthorized(corpId: string): Promise<boolean> {
    const id = requireCorpId('isAuthorized', corpId);
    return (await this.#authorization(id)) !== undefined;
  }

  /**
   * A {@link Work} client acting for one company with its corp access_token (refreshed from the
   * stored permanent code: one fetch per expiry across every instance sharing the store). Clients
   * are kept in an LRU of `corpCacheSize`; an evicted one is rebuilt from the store. Rejects with
   * {@link CorpNotAuthorizedError} when the company never installed the app or cancelled.
   *
   * @example
   * const corp = await suite.corp('wwcorp1234567890');
   * const member = await corp.users.get({ userid: 'zhangsan' });
   */
  async corp(corpId: string): Promise<Work> {
    const id = requireCorpId('corp', corpId);
    const known = this.#corps.get(id);
    if (known !== undefined) return known.work;
    const authorization = await this.#authorization(id);
    if (authorization === undefined) throw this.#notAuthorized(id);
    // Another caller may have built it meanwhile: keep one client (one token manager) per company.
    const raced = this.#corps.get(id);
    if (raced !== undefined) return raced.work;
    const accessToken = tokenManagerFrom(this.#options, this.#store, this.#corpTokenKey(id), () =>
      this.#fetchCorpToken(id),
    );
    const source: WorkTokenSource = {
      accessToken,
      transport: this.#transport,
      credentials: { ...this.#credentials, id: `${this.suiteId} for ${id}` },
      // Calls made for a company count against that company's quota.
      quotaBreaker: quotaBreakerFrom(this.#options, this.#store, id, String(authorization.agentid)),
    };
    const options: WorkOptions & { [WORK_TOKEN_SOURCE]: WorkTokenSource } = {
      corpId: id,
      corpSecret: undefined,
      agentId: authorization.agentid,
      baseUrl: this.#baseUrl,
      [WORK_TOKEN_SOURCE]: source,
    };
    const work = new Work(options);
    this.#corps.set(id, { work, source });
    return work;
  }

  /**
   * `POST /cgi-bin/service/get_auth_info`: what a company granted the app now (its AgentId,
   * visible range, permissions), asked with its stored permanent code.
   *
   * @example
   * const { auth_info } = await suite.getAuthInfo('wwcorp1234567890');
   */
  getAuthInfo(corpId: string, options?: RequestOptions): APIPromise<SuiteAuthInfo> {
    return APIPromise.from(async () => {
      const id = requireCorpId('getAuthInfo', corpId);
      const authorization = await this.#authorization(id);
      if (authorization === undefined) throw this.#notAuthorized(id);
      return this.client
        .request<SuiteAuthInfo>('POST', '/cgi-bin/service/get_auth_info', {
          ...options,
          body: { auth_corpid: id, permanent_code: authorization.permanent_code },
        })
        .withResponse();
    });
  }

  /** How many companies' clients are in memory, out of how many allowed. */
  corpCacheStats(): CorpCacheStats {
    return { size: this.#corps.size, maxSize: this.#corps.maxSize, evictions: this.#corps.evictions };
  }

  /**
   * Forgets a company that cancelled the authorisation: its permanent code and corp token leave
   * the store (so every instance sharing it stops too) and its client leaves this process; calls
   * for it then fail with {@link CorpNotAuthorizedError}. `handleAuthorizationEvent` calls this on
   * `cancel_auth`.
   */
  async forgetCorp(corpId: string): Promise<void> {
    const id = requireCorpId('forgetCorp', corpId);
    const entry = this.#corps.get(id);
    this.#corps.delete(id);
    for (const key of [this.#codeKey(id), this.#corpTokenKey(id)]) {
      const stored = await this.#store.get(key);
      if (stored === undefined) continue;
      await this.#store.compareAndDelete(key, stored.value);
      // The token manager's own fallback copy (onStoreUnavailable: 'local') goes too.
      if (key !== this.#codeKey(id)) await entry?.source.accessToken.invalidate(stored.value);
    }
  }

  /**
   * Acts on an authorisation event of the instruction callback: `create_auth` exchanges the
   * AuthCode and stores the company's permanent code; `cancel_auth` forgets the company
   * ({@link forgetCorp}); `change_auth` (visible range, permissions or auth mode changed) reads
   * what the company grants now ({@link getAuthInfo}) and keeps the stored AgentId current. An
   * event for another suite is refused.
   */
  async handleAuthorizationEvent(
    event: SuiteCreateAuthEvent | SuiteChangeAuthEvent | SuiteCancelAuthEvent,
  ): Promise<SuiteAuthorizationOutcome> {
    this.#checkSuite(event?.SuiteId, String(event?.InfoType));
    switch (event.InfoType) {
      case 'create_auth': {
        const info = await this.auth.exchangeCode({ auth_code: event.AuthCode });
        return { type: 'create_auth', corpId: info.auth_corp_info.corpid, info };
      }
      case 'change_auth': {
        const corpId = requireCorpId('handleAuthorizationEvent', event.AuthCorpId);
        const info = await this.getAuthInfo(corpId);
        const agentId = info.auth_info?.agent?.[0]?.agentid;
        const authorization = await this.#authorization(corpId);
        if (authorization !== undefined && Number.isInteger(agentId) && agentId !== authorization.agentid) {
          await this.savePermanentCode(corpId, authorization.permanent_code, agentId as number);
        }
        return { type: 'change_auth', corpId, info };
      }
      case 'cancel_auth': {
        const corpId = requireCorpId('handleAuthorizationEvent', event.AuthCorpId);
        await this.forgetCorp(corpId);
        return { type: 'cancel_auth', corpId };
      }
      default:
        throw new ArgumentError(
          `handleAuthorizationEvent: InfoType must be create_auth, change_auth or cancel_auth (got ${String((event as { InfoType?: unknown }).InfoType)})`,
        );
    }
  }

  /**
   * Wires the suite onto the callback of its instruction callback URL (指令回调URL, created with
   * `createWeComCallback({ corpId: suiteId, … })`: the suite id is the ReceiveId) in one line:
   * `suite_ticket` is stored, `create_auth` stores the company's permanent code, `cancel_auth`
   * forgets the company everywhere; `listeners` then run your own steps.
   *
   * @example
   * suite.attachCallback(createWeComCallback({ corpId: suite.suiteId, token, encodingAESKey }), {
   *   create_auth: (info) => companies.add(info.auth_corp_info.corpid),
   * });
   */
  attachCallback(callback: WeChatCallback, listeners: SuiteAuthorizationListeners = {}): WeChatCallback {
    for (const key of Object.keys(listeners)) {
      if (!LISTENERS.has(key)) {
        throw new ArgumentError(
          `attachCallback: unknown listener "${key}" (allowed: create_auth, change_auth, cancel_auth)`,
        );
      }
    }
    callback
      .on('suite_ticket', this.suiteTicketHandler())
      .on('create_auth', async (event) => {
        const outcome = await this.handleAuthorizationEvent(event);
        if (outcome.type === 'create_auth') await listeners.create_auth?.(outcome.info, event);
      })
      .on('change_auth', async (event) => {
        const outcome = await this.handleAuthorizationEvent(event);
        if (outcome.type === 'change_auth')
          await listeners.change_auth?.(outcome.corpId, event, outcome.info);
      })
      .on('cancel_auth', async (event) => {
        const outcome = await this.handleAuthorizationEvent(event);
        await listeners.cancel_auth?.(outcome.corpId, event);
      });
    return callback;
  }

  #checkSuite(suiteId: unknown, what: string): void {
    if (suiteId !== this.suiteId) {
      throw new ArgumentError(
        `a ${what} push for another suite (${String(suiteId)}) reached the WeComSuite of ${this.suiteId}`,
      );
    }
  }

  async #fetchSuiteToken(bare: ApiClient): Promise<{ value: string; expiresIn: number }> {
    const ticket = (await this.#store.get(this.#ticketKey))?.value;
    if (ticket === undefined) {
      throw new SuiteTicketMissingError(
        `WeComSuite ${this.suiteId}: no suite_ticket stored yet, so no suite_access_token can be fetched. ` +
          'WeCom pushes one every 10 minutes to the instruction callback URL (指令回调URL): save it with attachCallback() ' +
          '(or suiteTicketHandler / saveSuiteTicket) in a store every instance shares, or push one now from the ' +
          'service provider console (刷新Ticket).',
      );
    }
    return this.#suiteSecret.use(async (secret) => {
      try {
        const answer = await bare.request<{ suite_access_token: string; expires_in: number }>(
          'POST',
          '/cgi-bin/service/get_suite_token',
          {
            auth: false,
            // Asking again with the same ticket is harmless.
            idempotent: true,
            body: { suite_id: this.suiteId, suite_secret: secret, suite_ticket: ticket },
          },
        );
        return { value: answer.suite_access_token, expiresIn: answer.expires_in };
      } catch (error) {
        // A refused ticket is dropped (unless a newer one arrived meanwhile): the next callers get
        // the clear "wait for the next push" error instead of asking WeCom again.
        if (error instanceof WeChatApiError && error.errcode === INVALID_SUITE_TICKET) {
          await this.#store.compareAndDelete(this.#ticketKey, ticket);
        }
        throw credentialErrorOf(error, this.#credentials, 'token');
      }
    }, isSecretRefusal);
  }

  async #fetchCorpToken(corpId: string): Promise<{ value: string; expiresIn: number }> {
    const authorization = await this.#authorization(corpId);
    if (authorization === undefined) throw this.#notAuthorized(corpId);
    const answer = await this.client.request<{ access_token: string; expires_in: number }>(
      'POST',
      '/cgi-bin/service/get_corp_token',
      {
        // Asking again with the same permanent code is harmless.
        idempotent: true,
        body: { auth_corpid: corpId, permanent_code: authorization.permanent_code },
      },
    );
    return { value: answer.access_token, expiresIn: answer.expires_in };
  }

  async #authorization(corpId: string): Promise<Authorization | undefined> {
    const stored = await this.#store.get(this.#codeKey(corpId));
    return stored === undefined ? undefined : readAuthorization(stored.value);
  }

  #notAuthorized(corpId: string): CorpNotAuthorizedError {
    return new CorpNotAuthorizedError(
      corpId,
      `WeComSuite ${this.suiteId}: no permanent code stored for company ${corpId}: it never installed the app, ` +
        'or it cancelled the authorisation (cancel_auth). It works again after a new install (create_auth, or ' +
        'auth.exchangeCode with the install’s auth_code); savePermanentCode() imports one kept elsewhere.',
    );
  }

  /** Stores a corp token got with the permanent code the way the token manager would. */
  async #storeCorpToken(corpId: string, value: string, expiresIn: number): Promise<void> {
    const now = this.#now();
    const lifetimeMs = expiresIn * 1000;
    const marginMs = Math.min((this.#options.refreshMarginSeconds ?? 300) * 1000, lifetimeMs / 2);
    const ttlMs = Math.floor(lifetimeMs - marginMs);
    if (ttlMs <= 0) return;
    await this.#store.set(
      this.#corpTokenKey(corpId),
      { value, expiresAt: now + lifetimeMs, refreshAt: now + ttlMs },
      ttlMs,
    );
  }

  #codeKey(corpId: string): string {
    return tokenKey('suite_permanent_code', this.suiteId, corpId);
  }

  #corpTokenKey(corpId: string): string {
    return tokenKey('suite_corp_access_token', this.suiteId, corpId);
  }
}
