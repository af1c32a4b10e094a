import type { EmulatorComponentConfig } from '../config.js';
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

  constructor(state: EmulatorState) {
    this.state = state;
  }

  component(id: unknown): EmulatorComponentConfig | undefined {
    return this.state.config.components.find((c) => c.componentAppId === id);
  }

  /** The emulated ms `seconds` from now. */
  ttl(seconds: number): number {
    return this.state.now() + seconds * 1000;
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
