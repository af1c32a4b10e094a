import { ConfigError, WeChatApiError } from '../errors.js';

/**
 * How a product client names its credential settings, so that WeChat's refusal of one of them
 * (wrong AppSecret, unknown AppID, IP not whitelisted) can say which setting to fix and where.
 */
export interface CredentialSettings {
  /** The client's name, e.g. `OfficialAccount`. */
  client: string;
  /** The id WeChat checks: the appid or corpid (not a secret, safe to show). */
  id: string;
  /** The option that holds the id: `appId`, `corpId`, `componentAppId`. */
  idOption: string;
  /** The option that holds the secret: `secret`, `corpSecret`, `componentSecret`. */
  secretOption: string;
  /** Where the secret and the IP whitelist are managed, e.g. `mp.weixin.qq.com → 设置与开发 → 基本配置`. */
  console: string;
}

/** The codes of {@link CredentialConfigError}. */
export type CredentialErrorCode = 'INVALID_APPSECRET' | 'INVALID_APPID' | 'IP_NOT_WHITELISTED';

/**
 * WeChat refused one of the client's own settings: the AppSecret (40125, or 40001 from a token
 * endpoint), the AppID (40013 from a token endpoint) or this server's IP (40164, Open Platform
 * 61004). Retrying or refreshing the token cannot help, so neither happens: fix the setting named
 * in the message. WeChat's own answer stays available as `errcode`, `errmsg`, `rid` and `cause`
 * (the {@link WeChatApiError}).
 *
 * @example
 * catch (e) {
 *   if (e instanceof CredentialConfigError && e.code === 'IP_NOT_WHITELISTED') alert(`whitelist ${e.ip}`);
 * }
 */
export class CredentialConfigError extends ConfigError {
  declare readonly code: CredentialErrorCode;
  readonly errcode: number;
  readonly errmsg: string;
  /** WeChat's request id, for support tickets. */
  readonly rid: string | undefined;
  /** The caller IP WeChat saw, when its `errmsg` names it (IP_NOT_WHITELISTED only). */
  readonly ip: string | undefined;

  constructor(code: CredentialErrorCode, message: string, refused: WeChatApiError, ip?: string) {
    super(code, message, { cause: refused });
    this.errcode = refused.errcode;
    this.errmsg = refused.errmsg;
    this.rid = refused.rid;
    this.ip = ip;
  }

  override toJSON() {
    return { ...super.toJSON(), errcode: this.errcode, errmsg: this.errmsg, rid: this.rid, ip: this.ip };
  }
}

/**
 * True when `error` says WeChat refused a secret: a {@link CredentialConfigError}
 * `INVALID_APPSECRET`, or WeChat's own 40125 answer. A secret from a provider is then read again
 * once (it may have been reset in the console and updated at its source).
 */
export function isSecretRefusal(error: unknown): boolean {
  if (error instanceof CredentialConfigError) return error.code === 'INVALID_APPSECRET';
  return error instanceof WeChatApiError && error.errcode === 40125;
}

/** The caller IP in a 40164 errmsg: `invalid ip 1.2.3.4 ipv6 ::ffff:1.2.3.4, not in whitelist rid: …`. */
function callerIpOf(errmsg: string): string | undefined {
  const named = /invalid ip\s+([0-9A-Fa-f.:]*[0-9A-Fa-f])/.exec(errmsg)?.[1];
  return named ?? /\b(\d{1,3}(?:\.\d{1,3}){3})\b/.exec(errmsg)?.[1];
}

/**
 * Turns WeChat's refusal of a credential setting into a {@link CredentialConfigError}; anything
 * else is returned as is. `at: 'token'` is for the secret-based token endpoints (stable_token,
 * cgi-bin/token, WeCom gettoken, api_component_token), where 40001 means a wrong secret (not a
 * stale token) and 40013 the configured appid; elsewhere 40013 may name an appid in a request body.
 */
export function credentialErrorOf(
  error: unknown,
  settings: CredentialSettings,
  at: 'token' | 'api',
): unknown {
  if (!(error instanceof WeChatApiError)) return error;
  const { client, id, idOption, secretOption, console: where } = settings;
  const answer = `errcode ${error.errcode}: ${error.errmsg}`;
  const errcode = error.errcode;
  if (errcode === 40125 || (at === 'token' && errcode === 40001)) {
    return new CredentialConfigError(
      'INVALID_APPSECRET',
      `${client}: WeChat refused the secret of ${id} (${answer}). Check the ${secretOption} option: it must be ` +
        `the current secret of ${id} in ${where}; resetting it there invalidates the old one. Not retried.`,
      error,
    );
  }
  if (errcode === 40164 || errcode === 61004) {
    const ip = callerIpOf(error.errmsg);
    const seen = ip === undefined ? "this server's egress IP" : `this server's egress IP ${ip}`;
    return new CredentialConfigError(
      'IP_NOT_WHITELISTED',
      `${client}: WeChat refused a call for ${id} because ${seen} is not in its IP whitelist (${answer}). ` +
        `Add ${ip ?? "the public IP WeChat sees for this server (behind NAT or a proxy, the gateway's)"} to the IP whitelist (IP白名单) in ${where}. Not retried.`,
      error,
      ip,
    );
  }
  if (at === 'token' && errcode === 40013) {
    return new CredentialConfigError(
      'INVALID_APPID',
      `${client}: WeChat does not accept ${idOption} ${id} (${answer}). Check the ${idOption} option against ${where}, ` +
        `and that ${secretOption} belongs to the same account. Not retried.`,
      error,
    );
  }
  return error;
}
