import { createHash } from 'node:crypto';
import type { EmulatorAppKind, EmulatorComponentConfig } from '../config.js';
import { wechatError } from '../http.js';
import { wechatRecords } from '../platform/app-records.js';
import type { EmulatorState } from '../state.js';

/** component_verify_ticket lifetime (official: 12 hours). */
export const VERIFY_TICKET_TTL_SECONDS = 12 * 3600;
/** component_access_token and authorizer_access_token lifetime (official: 7200 s). */
export const COMPONENT_TOKEN_TTL_SECONDS = 7200;
/** pre_auth_code lifetime (doc text: 1800 s; the doc's example shows 600). */
export const PRE_AUTH_CODE_TTL_SECONDS = 1800;
/** authorization_code lifetime (the 授权成功 event's AuthorizationCodeExpiredTime: 1 hour). */
export const AUTHORIZATION_CODE_TTL_SECONDS = 3600;

/** Something of a component that expires. */
export interface Expiring {
  componentAppId: string;
  /** Emulated ms. */
  expiresAt: number;
}

/** A code that can be spent once. */
export interface OneTime extends Expiring {
  used: boolean;
}

/** An authorization_code, given by the 授权成功 push and spent by `api_query_auth`. */
export interface AuthorizationCode extends OneTime {
  authorizerAppId: string;
  funcscopes: number[];
}

/** An account's authorisation of a component. */
export interface Authorization {
  componentAppId: string;
  authorizerAppId: string;
  active: boolean;
  funcscopes: number[];
  /** What the account is (its configured kind, else what the authorize control route said). */
  kind: EmulatorAppKind;
  /** The current authorizer_refresh_token; none until api_query_auth, none after unauthorize. */
  refreshToken?: string;
  /** Emulated Unix seconds of the last authorisation. */
  authorizedAt: number;
}

/** An authorizer_access_token. */
export interface AuthorizerToken extends Expiring {
  authorizerAppId: string;
  revoked: boolean;
}

/** A code version of an authorised Mini Program (代码管理). */
export interface CodeVersion {
  templateId: string;
  extJson: string;
  userVersion: string;
  userDesc: string;
  /** Emulated Unix seconds. */
  committedAt: number;
}

/** One submission for review (提交审核). Status: 0 approved, 1 rejected, 2 under audit, 3 withdrawn, 4 delayed. */
export interface Audit {
  auditid: number;
  version: CodeVersion;
  status: 0 | 1 | 2 | 3 | 4;
  reason?: string;
  screenshot?: string;
  submittedAt: number;
  /** Set once the approved version was released. */
  released?: boolean;
}

/** The code state machine of one authorised Mini Program: committed → audit → released. */
export interface CodeState {
  committed?: CodeVersion;
  audits: Audit[];
  released?: CodeVersion & { releasedAt: number };
  domains: Record<
    'requestdomain' | 'wsrequestdomain' | 'uploaddomain' | 'downloaddomain' | 'udpdomain' | 'tcpdomain',
    string[]
  >;
}

/** Everything the Open Platform part of the emulator remembers, per emulator instance. */
export class ComponentRecords {
  readonly state: EmulatorState;
  readonly tickets = new Map<string, Expiring>();
  readonly componentTokens = new Map<string, Expiring>();
  readonly preAuthCodes = new Map<string, OneTime>();
  readonly authCodes = new Map<string, AuthorizationCode>();
  /** By `componentAppId:authorizerAppId`. */
  readonly authorizations = new Map<string, Authorization>();
  readonly authorizerTokens = new Map<string, AuthorizerToken>();
  /** By authorizer AppID. */
  readonly code = new Map<string, CodeState>();
  /** `api_authorizer_token` calls that issued a token, by real-clock second (WeChat counts rates in real time). */
  readonly refreshesPerSecond = new Map<number, number>();
  /** `api_authorizer_token` calls that issued a token, by `componentAppId:authorizerAppId`. */
  readonly refreshesByAuthorizer = new Map<string, number>();
  #auditId = 400_000_000 + Math.floor(Math.random() * 100_000_000);

  constructor(state: EmulatorState) {
    this.state = state;
    // The business APIs (users, menus, wxa/…) accept authorizer tokens as the account's own.
    wechatRecords(state).tokens.addResolver((token) => {
      const record = this.authorizerTokens.get(token);
      if (record === undefined) return undefined;
      if (record.revoked) {
        return { error: wechatError(40001, 'invalid credential, access_token is invalid or not latest') };
      }
      if (record.expiresAt <= state.now()) return { error: wechatError(42001, 'access_token expired') };
      const kind = this.authorizations.get(`${record.componentAppId}:${record.authorizerAppId}`)?.kind;
      return { appId: record.authorizerAppId, ...(kind === undefined ? {} : { kind }) };
    });
  }

  /** The authorisation an authorizer token belongs to (for component-only APIs such as wxa/commit). */
  authorizationOfToken(token: string | null): Authorization | undefined {
    const record = token === null ? undefined : this.authorizerTokens.get(token);
    if (record === undefined) return undefined;
    return this.authorizations.get(`${record.componentAppId}:${record.authorizerAppId}`);
  }

  /** The active authorisation of `authorizerAppId` by any component, if any. */
  activeAuthorization(authorizerAppId: string): Authorization | undefined {
    for (const a of this.authorizations.values()) {
      if (a.authorizerAppId === authorizerAppId && a.active) return a;
    }
    return undefined;
  }

  /** The code state of an authorised Mini Program (created on first use). */
  codeState(authorizerAppId: string): CodeState {
    let code = this.code.get(authorizerAppId);
    if (code === undefined) {
      code = {
        audits: [],
        domains: {
          requestdomain: [],
          wsrequestdomain: [],
          uploaddomain: [],
          downloaddomain: [],
          udpdomain: [],
          tcpdomain: [],
        },
      };
      this.code.set(authorizerAppId, code);
    }
    return code;
  }

  nextAuditId(): number {
    this.#auditId += 1 + Math.floor(Math.random() * 5);
    return this.#auditId;
  }

  /** The account's original id (`gh_…`): the configured one, else one derived from its AppID. */
  originalIdOf(authorizerAppId: string): string {
    return (
      this.state.app(authorizerAppId)?.originalId ??
      `gh_${createHash('sha256').update(authorizerAppId).digest('hex').slice(0, 12)}`
    );
  }

  component(id: unknown): EmulatorComponentConfig | undefined {
    return this.state.config.components.find((c) => c.componentAppId === id);
  }

  /** The emulated ms `seconds` from now. */
  ttl(seconds: number): number {
    return this.state.now() + seconds * 1000;
  }

  /** Counts an `api_authorizer_token` refresh for the refresh stats. */
  countRefresh(componentAppId: string, authorizerAppId: string): void {
    const second = Math.floor(Date.now() / 1000);
    this.refreshesPerSecond.set(second, (this.refreshesPerSecond.get(second) ?? 0) + 1);
    const key = `${componentAppId}:${authorizerAppId}`;
    this.refreshesByAuthorizer.set(key, (this.refreshesByAuthorizer.get(key) ?? 0) + 1);
  }

  secondsLeft(expiresAt: number): number {
    return Math.max(0, Math.floor((expiresAt - this.state.now()) / 1000));
  }

  issueAuthorizerToken(
    componentAppId: string,
    authorizerAppId: string,
  ): { token: string; expiresIn: number } {
    const token = `${this.state.randomId(40)}-${this.state.randomId(40)}`;
    const record = {
      componentAppId,
      authorizerAppId,
      expiresAt: this.ttl(COMPONENT_TOKEN_TTL_SECONDS),
      revoked: false,
    };
    this.authorizerTokens.set(token, record);
    this.state.count('tokensIssued', `${componentAppId}:${authorizerAppId}`);
    return { token, expiresIn: COMPONENT_TOKEN_TTL_SECONDS };
  }
}

const registries = new WeakMap<EmulatorState, ComponentRecords>();

/** The Open Platform records of an emulator instance (created on first use). */
export function componentRecords(state: EmulatorState): ComponentRecords {
  let records = registries.get(state);
  if (!records) {
    records = new ComponentRecords(state);
    registries.set(state, records);
  }
  return records;
}
