/**
 * The `network` resource of the token clients: the addresses WeChat's servers use
 * (`getcallbackip`: the source addresses of pushes; `get_api_domain_ip`: the addresses of the API
 * domain) and, on api.weixin.qq.com, the network check of the callback URL (`callback/check`).
 *
 * Sources (official): 获取微信推送服务器IP `GET /cgi-bin/getcallbackip` → `{ ip_list }`
 * (developers.weixin.qq.com/doc/service/api/base/api_getcallbackip; callable by Official Accounts
 * and Mini Programs alike), 网络通信检测 `POST /cgi-bin/callback/check` with
 * `{ action, check_operator }` → `{ dns, ping }` (…/api_callbackcheck; errcodes 40201 no callback
 * URL, 40202 bad action, 40203 bad check_operator), 获取微信API接口IP `GET /cgi-bin/get_api_domain_ip`;
 * WeCom 获取企业微信回调IP段 `GET qyapi…/cgi-bin/getcallbackip` and 获取企业微信接口IP段
 * `GET qyapi…/cgi-bin/get_api_domain_ip` (developer.work.weixin.qq.com/document/path/98988, 97073).
 */
import type { ApiClient, RequestOptions } from './api-client.js';
import type { APIPromise } from './api-promise.js';

/** `getcallbackip` / `get_api_domain_ip`: addresses and CIDR ranges (`101.226.103.0/25`). */
export interface IpListResult {
  ip_list: string[];
}

/** What `callback/check` does: `dns` (resolve the callback URL's host), `ping`, or `all` (both). */
export type CallbackCheckAction = 'dns' | 'ping' | 'all';

/**
 * From which carrier WeChat checks: `CHINANET` (China Telecom), `UNICOM`, `CAP` (Tencent's own
 * egress) or `DEFAULT` (chosen by the address).
 */
export type CallbackCheckOperator = 'CHINANET' | 'UNICOM' | 'CAP' | 'DEFAULT';

/** `callback/check` body; wire names kept. */
export interface CallbackCheckParams {
  action: CallbackCheckAction;
  check_operator: CallbackCheckOperator;
}

/** One address the callback URL's host resolved to. */
export interface CallbackCheckDns {
  ip: string;
  /** The carrier of that address. */
  real_operator: string;
}

/** One ping of a resolved address (WeChat sends a single packet). */
export interface CallbackCheckPing {
  ip: string;
  /** The carrier the ping was sent from (as `check_operator` asked). */
  from_operator: string;
  /** `0%` (answered) or `100%` (lost): one packet is sent. */
  package_loss: string;
  /** The round trip, e.g. `23.079ms`. */
  time: string;
}

/** `callback/check` answer. The part the `action` did not ask for may be absent. */
export interface CallbackCheckResult {
  dns?: CallbackCheckDns[];
  ping?: CallbackCheckPing[];
}

/**
 * The `network` resource of `OfficialAccount` and `MiniProgram` (api.weixin.qq.com). It is also
 * a callback IP source for `createCallbackAllowlist({ client: oa.network })`.
 */
export interface WeChatNetwork {
  /** Which platform's addresses these are: names the list in a shared store. */
  readonly platform: 'wechat';
  /**
   * `GET /cgi-bin/getcallbackip`: the addresses (and CIDR ranges) WeChat pushes to your server
   * from. WeChat recommends fetching it once a day: it changes.
   *
   * @example
   * const { ip_list } = await oa.network.getCallbackIp(); // ['101.226.103.0/25', …]
   */
  getCallbackIp(options?: RequestOptions): APIPromise<IpListResult>;
  /**
   * `GET /cgi-bin/get_api_domain_ip`: the addresses api.weixin.qq.com resolves to, for an egress
   * firewall. WeChat advises against pinning them for long.
   *
   * @example
   * const { ip_list } = await oa.network.getApiDomainIp();
   */
  getApiDomainIp(options?: RequestOptions): APIPromise<IpListResult>;
  /**
   * `POST /cgi-bin/callback/check`: WeChat resolves your callback URL's host and pings each address
   * (from the carrier `check_operator` names), to find why pushes do not arrive. Errcodes: 40201
   * (no callback URL configured), 40202 (bad `action`), 40203 (bad `check_operator`).
   *
   * @example
   * const { dns, ping } = await oa.network.checkCallback({ action: 'all', check_operator: 'DEFAULT' });
   */
  checkCallback(params: CallbackCheckParams, options?: RequestOptions): APIPromise<CallbackCheckResult>;
}

/** The `network` resource of `Work` (qyapi.weixin.qq.com): WeCom's own addresses. */
export interface WeComNetwork {
  /** Which platform's addresses these are: names the list in a shared store. */
  readonly platform: 'wecom';
  /**
   * `GET /cgi-bin/getcallbackip`: the address ranges WeCom calls your callback URL from. When they
   * change, the old and new ranges overlap for a while; WeCom recommends fetching them daily.
   *
   * @example
   * const { ip_list } = await work.network.getCallbackIp();
   */
  getCallbackIp(options?: RequestOptions): APIPromise<IpListResult>;
  /**
   * `GET /cgi-bin/get_api_domain_ip`: the address ranges of qyapi.weixin.qq.com.
   *
   * @example
   * const { ip_list } = await work.network.getApiDomainIp();
   */
  getApiDomainIp(options?: RequestOptions): APIPromise<IpListResult>;
}

/** The api.weixin.qq.com `network` resource over a client (read lazily: built before the client). */
export function wechatNetwork(client: () => ApiClient): WeChatNetwork {
  return {
    platform: 'wechat',
    getCallbackIp: (options) =>
      client().request<IpListResult>('GET', '/cgi-bin/getcallbackip', { ...options }),
    getApiDomainIp: (options) =>
      client().request<IpListResult>('GET', '/cgi-bin/get_api_domain_ip', { ...options }),
    // A diagnostic without side effects: safe to retry.
    checkCallback: (params, options) =>
      client().request<CallbackCheckResult>('POST', '/cgi-bin/callback/check', {
        ...options,
        idempotent: options?.idempotent ?? true,
        body: { action: params.action, check_operator: params.check_operator },
      }),
  };
}

/** The qyapi.weixin.qq.com `network` resource over a client (read lazily). */
export function weComNetwork(client: () => ApiClient): WeComNetwork {
  return {
    platform: 'wecom',
    getCallbackIp: (options) =>
      client().request<IpListResult>('GET', '/cgi-bin/getcallbackip', { ...options }),
    getApiDomainIp: (options) =>
      client().request<IpListResult>('GET', '/cgi-bin/get_api_domain_ip', { ...options }),
  };
}
