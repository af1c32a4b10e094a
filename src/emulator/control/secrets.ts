import { randomBytes } from 'node:crypto';
import { controlError, json } from '../http.js';
import type { Router } from '../router.js';
import type { EmulatorState } from '../state.js';

/** A secret as the console shows one: 32 lowercase hex digits. */
function newSecret(): string {
  return randomBytes(16).toString('hex');
}

/** A new APIv3 key: 32 letters and digits, as the merchant platform asks for. */
function newApiV3Key(state: EmulatorState): string {
  let key = '';
  while (key.length < 32) key += state.randomId(32);
  return key.slice(0, 32);
}

function unknownField(body: Record<string, unknown>, allowed: readonly string[]): string | undefined {
  const unknown = Object.keys(body).find((k) => !allowed.includes(k));
  return unknown === undefined ? undefined : `unknown field "${unknown}" (allowed: ${allowed.join(', ')})`;
}

async function objectBody(ctx: { json(): Promise<unknown> }): Promise<Record<string, unknown> | undefined> {
  const body = await ctx.json();
  return typeof body === 'object' && body !== null && !Array.isArray(body)
    ? (body as Record<string, unknown>)
    : undefined;
}

/**
 * What changing a secret in a console does, for the rotation procedures of docs/rotation.md:
 *
 * - `POST /_emulator/secrets/reset` with `{ appId }` (Official Account / Mini Program AppSecret),
 *   `{ corpId, agentId }` (a WeCom app's Secret) or `{ componentAppId }` (a third-party platform's
 *   AppSecret), and optionally the new `secret` (default: 32 random hex digits): the old secret is
 *   refused from now on (40125; WeCom gettoken 40001), as the console says ("重置后旧的 AppSecret
 *   将立即失效"). Tokens already issued are left alone — WeChat's pages do not say what happens
 *   to them; `POST /_emulator/tokens/revoke` models the other case. Answers `{ secret }`.
 * - `POST /_emulator/pay/apiv3-key {mchid, apiV3Key?}`: the merchant's APIv3 key becomes
 *   `apiV3Key` (default: 32 random letters and digits). Certificates downloaded and notifications
 *   sent from now on are encrypted with it; a retry of a notification sent before keeps the body
 *   it was first sent with (old key). Answers `{ apiV3Key }`.
 */
export function registerSecretControl(router: Router, state: EmulatorState): void {
  router.add('POST', '/_emulator/secrets/reset', async (ctx) => {
    const body = await objectBody(ctx);
    const usage =
      'body must be { "appId" } or { "corpId", "agentId" } or { "componentAppId" }, with an optional new "secret"';
    if (body === undefined) return controlError(400, usage);
    const problem = unknownField(body, ['appId', 'corpId', 'agentId', 'componentAppId', 'secret']);
    if (problem) return controlError(400, problem);
    const given = body.secret;
    if (given !== undefined && (typeof given !== 'string' || !/^[\x21-\x7e]{1,128}$/.test(given))) {
      return controlError(400, 'secret must be 1 to 128 printable ASCII characters without spaces');
    }
    const targets = [body.appId, body.corpId, body.componentAppId].filter((t) => t !== undefined);
    if (targets.length !== 1) return controlError(400, usage);
    const secret = (given as string | undefined) ?? newSecret();
    if (body.appId !== undefined) {
      const app = typeof body.appId === 'string' ? state.app(body.appId) : undefined;
      if (!app) return controlError(404, `no app ${String(body.appId)}`);
      app.secret = secret;
    } else if (body.corpId !== undefined) {
      const corp = state.config.corps.find((c) => c.corpId === body.corpId);
      if (!corp) return controlError(404, `no corp ${String(body.corpId)}`);
      const agent = corp.agents.find((a) => a.agentId === body.agentId);
      if (!agent) return controlError(404, `no agent ${String(body.agentId)} in corp ${corp.corpId}`);
      agent.secret = secret;
    } else {
      const component = state.config.components.find((c) => c.componentAppId === body.componentAppId);
      if (!component) return controlError(404, `no component ${String(body.componentAppId)}`);
      component.componentSecret = secret;
    }
    return json({ secret });
  });

  router.add('POST', '/_emulator/pay/apiv3-key', async (ctx) => {
    const body = await objectBody(ctx);
    if (body === undefined) return controlError(400, 'body must be { "mchid", "apiV3Key"? }');
    const problem = unknownField(body, ['mchid', 'apiV3Key']);
    if (problem) return controlError(400, problem);
    const merchant = typeof body.mchid === 'string' ? state.merchant(body.mchid) : undefined;
    if (!merchant) return controlError(404, `no merchant ${String(body.mchid)}`);
    const given = body.apiV3Key;
    if (given !== undefined && (typeof given !== 'string' || Buffer.byteLength(given, 'utf8') !== 32)) {
      return controlError(400, 'apiV3Key must be 32 characters');
    }
    merchant.apiV3Key = (given as string | undefined) ?? newApiV3Key(state);
    return json({ apiV3Key: merchant.apiV3Key });
  });
}
