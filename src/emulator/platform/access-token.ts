import { controlError, json, wechatError } from '../http.js';
import type { RouteContext, Router } from '../router.js';
import type { EmulatorState } from '../state.js';
import { checkAppCredentials } from './app-credentials.js';
import { wechatRecords } from './app-records.js';

const query = (ctx: RouteContext, name: string) => ctx.url.searchParams.get(name) ?? undefined;

/**
 * Access tokens of Official Accounts and Mini Programs: `cgi-bin/token`, `cgi-bin/stable_token`,
 * and the control route `/_emulator/tokens/revoke` (every token of an app revoked at once; WeChat's
 * pages do not say that an AppSecret reset does this, see `POST /_emulator/secrets/reset`).
 */
export function registerAccessToken(router: Router, state: EmulatorState): void {
  const { tokens } = wechatRecords(state);

  router.add('GET', '/cgi-bin/token', (ctx) => {
    const checked = checkAppCredentials(
      state,
      { grant_type: query(ctx, 'grant_type'), appid: query(ctx, 'appid'), secret: query(ctx, 'secret') },
      'client_credential',
    );
    if ('error' in checked) return checked.error;
    if (!tokens.tokenQuotaLeft(checked.appId)) return wechatError(45009, 'reach max api daily quota limit');
    return json(tokens.issueToken(checked.appId));
  });

  router.api('POST', '/cgi-bin/stable_token', { body: 'json' }, ({ body }) => {
    const checked = checkAppCredentials(state, body, 'client_credential');
    if ('error' in checked) return checked.error;
    const force = body.force_refresh ?? false;
    if (typeof force !== 'boolean') return wechatError(47001, 'data format error (force_refresh)');
    const result = tokens.stableToken(checked.appId, force);
    return result instanceof Response ? result : json(result);
  });

  router.add('POST', '/_emulator/tokens/revoke', async (ctx) => {
    const body = (await ctx.json()) as { appId?: unknown } | undefined;
    if (typeof body?.appId !== 'string') return controlError(400, 'body must be { "appId": string }');
    if (!state.app(body.appId)) return controlError(404, `no app ${body.appId}`);
    return json({ revoked: tokens.revoke(body.appId) });
  });
}
