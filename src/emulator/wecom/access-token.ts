import { controlError, json, wechatError } from '../http.js';
import type { RouteContext, Router } from '../router.js';
import type { EmulatorState } from '../state.js';

/** WeCom access_token lifetime (official: 7200 s; repeated gettoken returns the same token meanwhile). */
const WECOM_TOKEN_TTL_SECONDS = 7200;

/** A WeCom access_token: one per (corp, agent). */
export interface WeComToken {
  token: string;
  corpId: string;
  agentId: number;
  expiresAt: number;
  revoked: boolean;
}

/** The access tokens of WeCom agents, with the checks WeCom makes of them. */
export class WeComTokens {
  readonly #state: EmulatorState;
  readonly #tokens = new Map<string, WeComToken>();
  readonly #latest = new Map<string, WeComToken>();

  constructor(state: EmulatorState) {
    this.#state = state;
  }

  /** The token record of a value, whatever its state (undefined when WeCom never issued it). */
  get(token: string): WeComToken | undefined {
    return this.#tokens.get(token);
  }

  /** The current token of an agent, or a new one when there is none, it expired or was revoked. */
  issue(corpId: string, agentId: number, now: number): WeComToken {
    const key = `${corpId}:${agentId}`;
    let record = this.#latest.get(key);
    if (!record || record.revoked || record.expiresAt <= now) {
      record = {
        token: `${this.#state.randomId(64)}-${this.#state.randomId(40)}`,
        corpId,
        agentId,
        expiresAt: now + WECOM_TOKEN_TTL_SECONDS * 1000,
        revoked: false,
      };
      this.#tokens.set(record.token, record);
      this.#latest.set(key, record);
      this.#state.count('tokensIssued', key);
    }
    return record;
  }

  /** Revokes every live token of a corp; answers how many. */
  revoke(corpId: string): number {
    let revoked = 0;
    for (const record of this.#tokens.values()) {
      if (record.corpId === corpId && !record.revoked && record.expiresAt > this.#state.now()) {
        record.revoked = true;
        revoked += 1;
      }
    }
    return revoked;
  }

  /** Revokes the live tokens of one app (agent) of a corp, e.g. a third-party app it uninstalled; answers how many. */
  revokeAgent(corpId: string, agentId: number): number {
    let revoked = 0;
    for (const record of this.#tokens.values()) {
      if (record.corpId === corpId && record.agentId === agentId && !record.revoked) {
        record.revoked = true;
        revoked += 1;
      }
    }
    return revoked;
  }

  /**
   * The `auth` of a WeCom API route: the `access_token` query parameter (missing 41001, unknown or
   * revoked 40014, expired 42001).
   */
  readonly auth = (ctx: RouteContext): WeComToken | Response => {
    const token = ctx.url.searchParams.get('access_token') ?? '';
    if (!token) return wechatError(41001, 'access_token missing');
    const record = this.#tokens.get(token);
    if (!record || record.revoked) return wechatError(40014, 'invalid access_token');
    if (record.expiresAt <= this.#state.now()) return wechatError(42001, 'access_token expired');
    return record;
  };
}

/** `GET /cgi-bin/gettoken?corpid&corpsecret` and the control route `POST /_emulator/wecom/tokens/revoke`. */
export function registerWeComAccessToken(router: Router, state: EmulatorState, tokens: WeComTokens): void {
  const corp = (corpId: string) => state.config.corps.find((c) => c.corpId === corpId);

  router.add('GET', '/cgi-bin/gettoken', (ctx) => {
    const corpId = ctx.url.searchParams.get('corpid') ?? '';
    const secret = ctx.url.searchParams.get('corpsecret') ?? '';
    if (!corpId) return wechatError(41002, 'corpid missing');
    if (!secret) return wechatError(41004, 'corpsecret missing');
    const found = corp(corpId);
    if (!found) return wechatError(40013, 'invalid corpid');
    const agent = found.agents.find((a) => a.secret === secret);
    if (!agent) return wechatError(40001, 'invalid credential');
    const now = state.now();
    const record = tokens.issue(corpId, agent.agentId, now);
    return json({
      errcode: 0,
      errmsg: 'ok',
      access_token: record.token,
      expires_in: Math.floor((record.expiresAt - now) / 1000),
    });
  });

  router.add('POST', '/_emulator/wecom/tokens/revoke', async (ctx) => {
    const body = (await ctx.json()) as { corpId?: unknown } | undefined;
    if (typeof body?.corpId !== 'string') return controlError(400, 'body must be { "corpId": string }');
    if (!corp(body.corpId)) return controlError(404, `no corp ${body.corpId}`);
    return json({ revoked: tokens.revoke(body.corpId) });
  });
}
