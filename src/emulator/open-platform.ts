import { MessageCipher } from '../crypto/message-cipher.js';
import { computeMessageSignature } from '../crypto/message-crypto.js';
import { computeServerSignature } from '../crypto/server-signature.js';
import { buildXml } from '../xml/build.js';
import type { EmulatorComponentConfig } from './config.js';
import { controlError, json, wechatError } from './http.js';
import { PUSH_ATTEMPTS, type PushAttempt } from './push.js';
import { randomNonce } from './push-message.js';
import type { RouteContext, Router } from './router.js';
import type { EmulatorState } from './state.js';

/** component_verify_ticket lifetime (official: 12 hours). */
export const VERIFY_TICKET_TTL_SECONDS = 12 * 3600;
/** component_access_token and authorizer_access_token lifetime (official: 7200 s). */
export const COMPONENT_TOKEN_TTL_SECONDS = 7200;
/** pre_auth_code lifetime (doc text: 1800 s; the doc's example shows 600). */
export const PRE_AUTH_CODE_TTL_SECONDS = 1800;
/** authorization_code lifetime (the 授权成功 event's AuthorizationCodeExpiredTime: 1 hour). */
export const AUTHORIZATION_CODE_TTL_SECONDS = 3600;

/** Default permission sets (funcscope_category ids) granted by an emulated authorisation. */
const DEFAULT_FUNCSCOPES = [1, 15, 4, 7, 2, 11, 6];

interface Expiring {
  componentAppId: string;
  /** Emulated ms. */
  expiresAt: number;
}

interface OneTime extends Expiring {
  used: boolean;
}

interface AuthorizationCode extends OneTime {
  authorizerAppId: string;
  funcscopes: number[];
}

interface Authorization {
  componentAppId: string;
  authorizerAppId: string;
  active: boolean;
  funcscopes: number[];
  /** The current authorizer_refresh_token; none until api_query_auth, none after unauthorize. */
  refreshToken?: string;
  /** Emulated Unix seconds of the last authorisation. */
  authorizedAt: number;
}

interface AuthorizerToken extends Expiring {
  authorizerAppId: string;
  revoked: boolean;
}

/** Ways to make an Open Platform push misbehave. */
export interface ComponentPushFaults {
  /** Encrypt with this ReceiveId instead of the component AppID (a server must refuse it). */
  receiveId?: string;
  /** Sign with a wrong token (`signature` and `msg_signature`). */
  badSignature?: boolean;
}

/** What happened to an Open Platform push (授权事件). */
export interface ComponentPushResult {
  attempts: number;
  /** HTTP status of the last answer, 0 when none came. */
  status: number;
  /** True when the server answered 2xx with `success`. */
  ok: boolean;
  /** Why the push is not acknowledged: `NOT_CONFIGURED`, `NO_ANSWER`, `HTTP_<status>`, `NOT_SUCCESS`. */
  replyError?: string;
  replyErrorMessage?: string;
  /** The decrypted push (XML). */
  message: string;
  request?: { url: string; body: string; contentType: string };
  rawReply?: string;
  history: PushAttempt[];
}

/**
 * Builds, encrypts (ReceiveId = component AppID) and signs an InfoType push the way the Open
 * Platform sends 授权事件: inner `<xml><AppId/><CreateTime/><InfoType/>…</xml>`, envelope
 * `<xml><AppId/><Encrypt/></xml>`, URL `signature`, `timestamp`, `nonce`, `encrypt_type=aes`,
 * `msg_signature`. It is POSTed to the component's callbackUrl, resent on timeout, connection
 * error or 5xx (3 requests in total, as message pushes), and acknowledged only by `success`.
 */
export async function deliverComponentPush(
  state: EmulatorState,
  component: EmulatorComponentConfig,
  infoType: string,
  fields: Record<string, string | number>,
  faults: ComponentPushFaults = {},
): Promise<ComponentPushResult> {
  const now = state.nowSeconds();
  const message = buildXml({
    AppId: component.componentAppId,
    CreateTime: BigInt(now),
    InfoType: infoType,
    ...Object.fromEntries(Object.entries(fields).map(([k, v]) => [k, typeof v === 'number' ? BigInt(v) : v])),
  });
  if (component.callbackUrl === undefined) {
    return {
      attempts: 0,
      status: 0,
      ok: false,
      replyError: 'NOT_CONFIGURED',
      replyErrorMessage: `component ${component.componentAppId} has no callbackUrl (授权事件接收URL) in the emulator config`,
      message,
      history: [],
    };
  }
  const cipher = new MessageCipher({
    encodingAESKey: component.encodingAESKey,
    receiveId: faults.receiveId ?? component.componentAppId,
  });
  const encrypt = cipher.encrypt(message);
  const timestamp = String(now);
  const nonce = randomNonce();
  const token = faults.badSignature ? `${component.token}-wrong` : component.token;
  const url = new URL(component.callbackUrl);
  url.searchParams.set('signature', computeServerSignature({ token, timestamp, nonce }));
  url.searchParams.set('timestamp', timestamp);
  url.searchParams.set('nonce', nonce);
  url.searchParams.set('encrypt_type', 'aes');
  url.searchParams.set('msg_signature', computeMessageSignature({ token, timestamp, nonce, encrypt }));
  const body = buildXml({ AppId: component.componentAppId, Encrypt: encrypt });
  const request = { url: url.toString(), body, contentType: 'text/xml' };

  state.count('pushes', component.componentAppId);
  const timeoutMs = state.config.options.pushTimeoutMs;
  const history: PushAttempt[] = [];
  let status = 0;
  let text: string | undefined;
  let outcome: PushAttempt['outcome'] = 'timeout';
  for (let attempt = 1; attempt <= PUSH_ATTEMPTS && !state.closed; attempt++) {
    const started = Date.now();
    text = undefined;
    try {
      const response = await fetch(request.url, {
        method: 'POST',
        headers: { 'content-type': request.contentType },
        body,
        signal: AbortSignal.timeout(timeoutMs),
      });
      text = await response.text();
      status = response.status;
      outcome = status >= 500 ? 'server-error' : 'answered';
    } catch (error) {
      const name = (error as Error).name;
      status = 0;
      outcome = name === 'TimeoutError' || name === 'AbortError' ? 'timeout' : 'connection-error';
    }
    history.push({ status, outcome, elapsedMs: Date.now() - started });
    if (outcome === 'answered') break;
  }
  const result: ComponentPushResult = {
    attempts: history.length,
    status,
    ok: false,
    message,
    request,
    history,
  };
  if (outcome !== 'answered' || text === undefined) {
    result.replyError = outcome === 'server-error' ? `HTTP_${status}` : 'NO_ANSWER';
    result.replyErrorMessage = `no answer within ${timeoutMs} ms after ${history.length} attempt(s) (last: ${outcome})`;
    return result;
  }
  result.rawReply = text;
  if (status < 200 || status > 299) {
    result.replyError = `HTTP_${status}`;
    result.replyErrorMessage = `the server answered HTTP ${status}`;
  } else if (text.trim() !== 'success') {
    result.replyError = 'NOT_SUCCESS';
    result.replyErrorMessage = 'an Open Platform push must be answered with the string "success"';
  } else {
    result.ok = true;
  }
  return result;
}

const query = (ctx: RouteContext, name: string) => ctx.url.searchParams.get(name) ?? '';
const str = (value: unknown) => (typeof value === 'string' ? value : '');
const APPID = /^wx[0-9A-Za-z]{8,32}$/;

/**
 * The Open Platform (第三方平台) part of the emulator: component_verify_ticket and authorisation
 * pushes (control plane), and the component token APIs (`/cgi-bin/component/*`). Authorizer
 * access tokens are kept here; business APIs do not accept them (yet).
 */
export function registerOpenPlatform(router: Router, state: EmulatorState): void {
  const tickets = new Map<string, Expiring>();
  const componentTokens = new Map<string, Expiring>();
  const preAuthCodes = new Map<string, OneTime>();
  const authCodes = new Map<string, AuthorizationCode>();
  const authorizations = new Map<string, Authorization>();
  const authorizerTokens = new Map<string, AuthorizerToken>();
  const component = (id: unknown) => state.config.components.find((c) => c.componentAppId === id);
  const ttl = (seconds: number) => state.now() + seconds * 1000;
  const secondsLeft = (expiresAt: number) => Math.max(0, Math.floor((expiresAt - state.now()) / 1000));

  const issueAuthorizerToken = (componentAppId: string, authorizerAppId: string) => {
    const token = `${state.randomId(40)}-${state.randomId(40)}`;
    const record = {
      componentAppId,
      authorizerAppId,
      expiresAt: ttl(COMPONENT_TOKEN_TTL_SECONDS),
      revoked: false,
    };
    authorizerTokens.set(token, record);
    state.count('tokensIssued', `${componentAppId}:${authorizerAppId}`);
    return { token, expiresIn: COMPONENT_TOKEN_TTL_SECONDS };
  };

  /** The body (JSON object) and the component the component_access_token belongs to, or the error. */
  const authorize = async (
    ctx: RouteContext,
  ): Promise<{ body: Record<string, unknown>; componentAppId: string } | Response> => {
    const token = query(ctx, 'component_access_token') || query(ctx, 'access_token');
    if (!token) return wechatError(41001, 'access_token missing');
    const record = componentTokens.get(token);
    if (!record) return wechatError(40001, 'invalid credential, access_token is invalid or not latest');
    if (record.expiresAt <= state.now()) return wechatError(42001, 'access_token expired');
    const body = await ctx.json();
    if (typeof body !== 'object' || body === null || Array.isArray(body)) {
      return wechatError(47001, 'data format error');
    }
    const fields = body as Record<string, unknown>;
    if (!str(fields.component_appid)) return wechatError(41002, 'appid missing');
    if (fields.component_appid !== record.componentAppId) {
      return wechatError(40013, 'invalid appid (not the component of this component_access_token)');
    }
    return { body: fields, componentAppId: record.componentAppId };
  };

  router.add('POST', '/cgi-bin/component/api_component_token', async (ctx) => {
    const body = await ctx.json();
    if (typeof body !== 'object' || body === null || Array.isArray(body)) {
      return wechatError(47001, 'data format error');
    }
    const { component_appid, component_appsecret, component_verify_ticket } = body as Record<string, unknown>;
    if (!str(component_appid)) return wechatError(41002, 'appid missing');
    const found = component(component_appid);
    if (!found) return wechatError(40013, 'invalid appid');
    if (!str(component_appsecret)) return wechatError(41004, 'appsecret missing');
    if (component_appsecret !== found.componentSecret) return wechatError(40125, 'invalid appsecret');
    const ticket = tickets.get(str(component_verify_ticket));
    if (!ticket || ticket.componentAppId !== found.componentAppId) {
      return wechatError(61006, 'component ticket is invalid');
    }
    if (ticket.expiresAt <= state.now()) return wechatError(61005, 'component ticket is expired');
    const token = `${state.randomId(43)}-${state.randomId(40)}`;
    componentTokens.set(token, {
      componentAppId: found.componentAppId,
      expiresAt: ttl(COMPONENT_TOKEN_TTL_SECONDS),
    });
    state.count('tokensIssued', found.componentAppId);
    return json({ component_access_token: token, expires_in: COMPONENT_TOKEN_TTL_SECONDS });
  });

  router.add('POST', '/cgi-bin/component/api_create_preauthcode', async (ctx) => {
    const auth = await authorize(ctx);
    if (auth instanceof Response) return auth;
    const code = `preauthcode@@@${state.randomId(48)}`;
    preAuthCodes.set(code, {
      componentAppId: auth.componentAppId,
      expiresAt: ttl(PRE_AUTH_CODE_TTL_SECONDS),
      used: false,
    });
    return json({ pre_auth_code: code, expires_in: PRE_AUTH_CODE_TTL_SECONDS });
  });

  router.add('POST', '/cgi-bin/component/api_query_auth', async (ctx) => {
    const auth = await authorize(ctx);
    if (auth instanceof Response) return auth;
    const code = authCodes.get(str(auth.body.authorization_code));
    if (!code || code.componentAppId !== auth.componentAppId || code.used) {
      return wechatError(61009, 'code is invalid');
    }
    if (code.expiresAt <= state.now()) return wechatError(61010, 'code is expired');
    code.used = true;
    const key = `${code.componentAppId}:${code.authorizerAppId}`;
    const authorization = authorizations.get(key);
    if (!authorization?.active) return wechatError(61009, 'code is invalid');
    // A new authorisation gives a new refresh token (always persist the latest one).
    authorization.refreshToken = `refreshtoken@@@${state.randomId(43)}`;
    const issued = issueAuthorizerToken(code.componentAppId, code.authorizerAppId);
    return json({
      authorization_info: {
        authorizer_appid: code.authorizerAppId,
        authorizer_access_token: issued.token,
        expires_in: issued.expiresIn,
        authorizer_refresh_token: authorization.refreshToken,
        func_info: code.funcscopes.map((id) => ({ funcscope_category: { id } })),
      },
    });
  });

  router.add('POST', '/cgi-bin/component/api_authorizer_token', async (ctx) => {
    const auth = await authorize(ctx);
    if (auth instanceof Response) return auth;
    const authorizerAppId = str(auth.body.authorizer_appid);
    const refreshToken = str(auth.body.authorizer_refresh_token);
    if (!authorizerAppId) return wechatError(41002, 'appid missing');
    const authorization = authorizations.get(`${auth.componentAppId}:${authorizerAppId}`);
    if (!authorization?.active || !refreshToken || authorization.refreshToken !== refreshToken) {
      return wechatError(61023, 'refresh_token is invalid');
    }
    const issued = issueAuthorizerToken(auth.componentAppId, authorizerAppId);
    return json({
      authorizer_access_token: issued.token,
      expires_in: issued.expiresIn,
      authorizer_refresh_token: authorization.refreshToken,
    });
  });

  // ---- control plane -------------------------------------------------------------------------

  const readComponent = async (
    ctx: RouteContext,
    extra: string,
  ): Promise<{ body: Record<string, unknown>; component: EmulatorComponentConfig } | Response> => {
    const body = await ctx.json();
    if (typeof body !== 'object' || body === null || Array.isArray(body)) {
      return controlError(400, `body must be { "componentAppId": "wx…"${extra} }`);
    }
    const fields = body as Record<string, unknown>;
    if (typeof fields.componentAppId !== 'string') return controlError(400, 'componentAppId is required');
    const found = component(fields.componentAppId);
    if (!found) {
      const known = state.config.components.map((c) => c.componentAppId).join(', ') || 'none';
      return controlError(
        404,
        `unknown componentAppId "${fields.componentAppId}": add it under "components" in the emulator config (configured: ${known})`,
      );
    }
    return { body: fields, component: found };
  };

  const readFaults = (value: unknown): ComponentPushFaults | string => {
    if (value === undefined) return {};
    if (typeof value !== 'object' || value === null || Array.isArray(value))
      return 'faults must be an object';
    const faults: ComponentPushFaults = {};
    for (const [key, v] of Object.entries(value)) {
      if (key === 'receiveId' && typeof v === 'string') faults.receiveId = v;
      else if (key === 'badSignature' && typeof v === 'boolean') faults.badSignature = v;
      else return `unknown or malformed fault "${key}" (allowed: receiveId: string, badSignature: boolean)`;
    }
    return faults;
  };

  const checkKeys = (body: Record<string, unknown>, allowed: string[]): string | undefined => {
    const unknown = Object.keys(body).find((k) => !allowed.includes(k));
    return unknown === undefined ? undefined : `unknown field "${unknown}" (allowed: ${allowed.join(', ')})`;
  };

  router.add('POST', '/_emulator/open-platform/ticket', async (ctx) => {
    const read = await readComponent(ctx, '');
    if (read instanceof Response) return read;
    const problem = checkKeys(read.body, ['componentAppId', 'faults']);
    if (problem) return controlError(400, problem);
    const faults = readFaults(read.body.faults);
    if (typeof faults === 'string') return controlError(400, faults);
    const { componentAppId } = read.component;
    const ticket = `ticket@@@${state.randomId(64)}`;
    // The ticket exists whether or not the server stores it: WeChat generated it.
    tickets.set(ticket, { componentAppId, expiresAt: ttl(VERIFY_TICKET_TTL_SECONDS) });
    const push = await deliverComponentPush(
      state,
      read.component,
      'component_verify_ticket',
      { ComponentVerifyTicket: ticket },
      faults,
    );
    return json({ ticket, expiresIn: VERIFY_TICKET_TTL_SECONDS, ...push });
  });

  router.add('POST', '/_emulator/open-platform/authorize', async (ctx) => {
    const read = await readComponent(ctx, ', "authorizerAppId": "wx…"');
    if (read instanceof Response) return read;
    const { body } = read;
    const problem = checkKeys(body, [
      'componentAppId',
      'authorizerAppId',
      'preAuthCode',
      'funcscopes',
      'faults',
    ]);
    if (problem) return controlError(400, problem);
    const authorizerAppId = body.authorizerAppId;
    if (typeof authorizerAppId !== 'string' || !APPID.test(authorizerAppId)) {
      return controlError(400, "authorizerAppId must be the authorising account's AppID (wx…)");
    }
    const funcscopes = body.funcscopes ?? DEFAULT_FUNCSCOPES;
    if (!Array.isArray(funcscopes) || !funcscopes.every((n) => Number.isInteger(n))) {
      return controlError(400, 'funcscopes must be an array of funcscope_category ids (integers)');
    }
    const faults = readFaults(body.faults);
    if (typeof faults === 'string') return controlError(400, faults);
    const { componentAppId } = read.component;
    let preAuthCode: string;
    if (body.preAuthCode === undefined) {
      // The account went through an authorisation link: a pre_auth_code was spent on it.
      preAuthCode = `preauthcode@@@${state.randomId(48)}`;
    } else {
      const pre = preAuthCodes.get(str(body.preAuthCode));
      if (!pre || pre.componentAppId !== componentAppId || pre.used) {
        return controlError(400, "preAuthCode is unknown, already used, or not this component's");
      }
      if (pre.expiresAt <= state.now()) return controlError(400, 'preAuthCode has expired');
      pre.used = true;
      preAuthCode = str(body.preAuthCode);
    }
    const key = `${componentAppId}:${authorizerAppId}`;
    const previous = authorizations.get(key);
    const infoType = previous?.active ? 'updateauthorized' : 'authorized';
    authorizations.set(key, {
      componentAppId,
      authorizerAppId,
      active: true,
      funcscopes: funcscopes as number[],
      ...(previous?.active && previous.refreshToken ? { refreshToken: previous.refreshToken } : {}),
      authorizedAt: state.nowSeconds(),
    });
    const code = `queryauthcode@@@${state.randomId(48)}`;
    const expiresAt = ttl(AUTHORIZATION_CODE_TTL_SECONDS);
    authCodes.set(code, {
      componentAppId,
      authorizerAppId,
      expiresAt,
      used: false,
      funcscopes: funcscopes as number[],
    });
    const push = await deliverComponentPush(
      state,
      read.component,
      infoType,
      {
        AuthorizerAppid: authorizerAppId,
        AuthorizationCode: code,
        AuthorizationCodeExpiredTime: Math.floor(expiresAt / 1000),
        PreAuthCode: preAuthCode,
      },
      faults,
    );
    return json({ infoType, authorizationCode: code, preAuthCode, ...push });
  });

  router.add('POST', '/_emulator/open-platform/unauthorize', async (ctx) => {
    const read = await readComponent(ctx, ', "authorizerAppId": "wx…"');
    if (read instanceof Response) return read;
    const problem = checkKeys(read.body, ['componentAppId', 'authorizerAppId', 'faults']);
    if (problem) return controlError(400, problem);
    const faults = readFaults(read.body.faults);
    if (typeof faults === 'string') return controlError(400, faults);
    const authorizerAppId = str(read.body.authorizerAppId);
    const { componentAppId } = read.component;
    const authorization = authorizations.get(`${componentAppId}:${authorizerAppId}`);
    if (!authorization?.active) {
      return controlError(
        404,
        `${authorizerAppId || 'authorizerAppId'} has not authorised ${componentAppId}`,
      );
    }
    authorization.active = false;
    delete authorization.refreshToken;
    for (const record of authorizerTokens.values()) {
      if (record.componentAppId === componentAppId && record.authorizerAppId === authorizerAppId) {
        record.revoked = true;
      }
    }
    const push = await deliverComponentPush(
      state,
      read.component,
      'unauthorized',
      { AuthorizerAppid: authorizerAppId },
      faults,
    );
    return json(push);
  });

  router.add('GET', '/_emulator/open-platform/authorizations', (ctx) => {
    const componentAppId = ctx.url.searchParams.get('componentAppId');
    const list = [...authorizations.values()]
      .filter((a) => componentAppId === null || a.componentAppId === componentAppId)
      .map((a) => ({
        ...a,
        accessTokens: [...authorizerTokens.entries()]
          .filter(([, t]) => t.componentAppId === a.componentAppId && t.authorizerAppId === a.authorizerAppId)
          .map(([token, t]) => ({ token, expiresIn: secondsLeft(t.expiresAt), revoked: t.revoked })),
      }));
    return json({ authorizations: list });
  });
}
