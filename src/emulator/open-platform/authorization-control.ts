import type { EmulatorComponentConfig } from '../config.js';
import { controlError, json } from '../http.js';
import type { RouteContext, Router } from '../router.js';
import { type ComponentPushFaults, deliverComponentPush } from './component-push.js';
import {
  AUTHORIZATION_CODE_TTL_SECONDS,
  type ComponentRecords,
  VERIFY_TICKET_TTL_SECONDS,
} from './component-records.js';

/** Default permission sets (funcscope_category ids) granted by an emulated authorisation. */
const DEFAULT_FUNCSCOPES = [1, 15, 4, 7, 2, 11, 6];

const str = (value: unknown) => (typeof value === 'string' ? value : '');
const APPID = /^wx[0-9A-Za-z]{8,32}$/;
/** Most accounts one `authorize-many` call creates. */
const MAX_AUTHORIZE_MANY = 100_000;

/**
 * The Open Platform control plane: push `component_verify_ticket`, play an account's
 * authorisation and its withdrawal (pushing 授权事件 to the component's callbackUrl), and list
 * the authorisations (`/_emulator/open-platform/*`).
 */
export function registerAuthorizationControl(router: Router, records: ComponentRecords): void {
  const { state } = records;

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
    const found = records.component(fields.componentAppId);
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
    records.tickets.set(ticket, { componentAppId, expiresAt: records.ttl(VERIFY_TICKET_TTL_SECONDS) });
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
      'kind',
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
    const configured = state.app(authorizerAppId)?.kind;
    const kind = body.kind ?? configured ?? 'official-account';
    if (kind !== 'official-account' && kind !== 'mini-program') {
      return controlError(400, 'kind must be "official-account" or "mini-program"');
    }
    if (configured !== undefined && kind !== configured) {
      return controlError(400, `${authorizerAppId} is configured as a ${configured}`);
    }
    const { componentAppId } = read.component;
    let preAuthCode: string;
    if (body.preAuthCode === undefined) {
      // The account went through an authorisation link: a pre_auth_code was spent on it.
      preAuthCode = `preauthcode@@@${state.randomId(48)}`;
    } else {
      const pre = records.preAuthCodes.get(str(body.preAuthCode));
      if (!pre || pre.componentAppId !== componentAppId || pre.used) {
        return controlError(400, "preAuthCode is unknown, already used, or not this component's");
      }
      if (pre.expiresAt <= state.now()) return controlError(400, 'preAuthCode has expired');
      pre.used = true;
      preAuthCode = str(body.preAuthCode);
    }
    const key = `${componentAppId}:${authorizerAppId}`;
    const previous = records.authorizations.get(key);
    const infoType = previous?.active ? 'updateauthorized' : 'authorized';
    records.authorizations.set(key, {
      componentAppId,
      authorizerAppId,
      active: true,
      funcscopes: funcscopes as number[],
      kind,
      ...(previous?.active && previous.refreshToken ? { refreshToken: previous.refreshToken } : {}),
      authorizedAt: state.nowSeconds(),
    });
    const code = `queryauthcode@@@${state.randomId(48)}`;
    const expiresAt = records.ttl(AUTHORIZATION_CODE_TTL_SECONDS);
    records.authCodes.set(code, {
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
    const authorization = records.authorizations.get(`${componentAppId}:${authorizerAppId}`);
    if (!authorization?.active) {
      return controlError(
        404,
        `${authorizerAppId || 'authorizerAppId'} has not authorised ${componentAppId}`,
      );
    }
    authorization.active = false;
    delete authorization.refreshToken;
    for (const record of records.authorizerTokens.values()) {
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

  // Many accounts at once (load tests): each authorises the component as if through a link, without
  // pushes; the answer carries the authorization codes to exchange with api_query_auth.
  router.add('POST', '/_emulator/open-platform/authorize-many', async (ctx) => {
    const read = await readComponent(ctx, ', "authorizerAppIds": ["wx…"]');
    if (read instanceof Response) return read;
    const problem = checkKeys(read.body, ['componentAppId', 'authorizerAppIds', 'kind']);
    if (problem) return controlError(400, problem);
    const ids = read.body.authorizerAppIds;
    if (!Array.isArray(ids) || ids.length === 0 || ids.length > MAX_AUTHORIZE_MANY) {
      return controlError(400, `authorizerAppIds must be an array of 1 to ${MAX_AUTHORIZE_MANY} AppIDs`);
    }
    const bad = ids.find((id) => typeof id !== 'string' || !APPID.test(id) || state.app(id) !== undefined);
    if (bad !== undefined) {
      return controlError(
        400,
        `authorizerAppIds: ${String(bad)} is not an AppID (wx…) or is a configured app`,
      );
    }
    const kind = read.body.kind ?? 'official-account';
    if (kind !== 'official-account' && kind !== 'mini-program') {
      return controlError(400, 'kind must be "official-account" or "mini-program"');
    }
    const { componentAppId } = read.component;
    const codes = (ids as string[]).map((authorizerAppId) => {
      records.authorizations.set(`${componentAppId}:${authorizerAppId}`, {
        componentAppId,
        authorizerAppId,
        active: true,
        funcscopes: DEFAULT_FUNCSCOPES,
        kind,
        authorizedAt: state.nowSeconds(),
      });
      const authorizationCode = `queryauthcode@@@${state.randomId(48)}`;
      records.authCodes.set(authorizationCode, {
        componentAppId,
        authorizerAppId,
        expiresAt: records.ttl(AUTHORIZATION_CODE_TTL_SECONDS),
        used: false,
        funcscopes: DEFAULT_FUNCSCOPES,
      });
      return { authorizerAppId, authorizationCode };
    });
    return json({ authorizations: codes });
  });

  // What api_authorizer_token issued: per real-clock second and per account.
  router.add('GET', '/_emulator/open-platform/refresh-stats', () => {
    const perSecond = [...records.refreshesPerSecond.entries()]
      .sort(([a], [b]) => a - b)
      .map(([second, count]) => ({ second, count }));
    const counts = [...records.refreshesByAuthorizer.values()];
    return json({
      total: counts.reduce((sum, n) => sum + n, 0),
      authorizers: counts.length,
      maxPerAuthorizer: counts.reduce((max, n) => Math.max(max, n), 0),
      maxPerSecond: perSecond.reduce((max, s) => Math.max(max, s.count), 0),
      perSecond,
    });
  });

  router.add('GET', '/_emulator/open-platform/authorizations', (ctx) => {
    const componentAppId = ctx.url.searchParams.get('componentAppId');
    const list = [...records.authorizations.values()]
      .filter((a) => componentAppId === null || a.componentAppId === componentAppId)
      .map((a) => ({
        ...a,
        accessTokens: [...records.authorizerTokens.entries()]
          .filter(([, t]) => t.componentAppId === a.componentAppId && t.authorizerAppId === a.authorizerAppId)
          .map(([token, t]) => ({ token, expiresIn: records.secondsLeft(t.expiresAt), revoked: t.revoked })),
      }));
    return json({ authorizations: list });
  });
}
