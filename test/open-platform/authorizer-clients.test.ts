import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Redis } from 'ioredis';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { toNodeListener } from '../../src/adapters/node.js';
import { type CallbackHandler, createWeChatCallback, reply } from '../../src/callbacks/index.js';
import { MemoryStore } from '../../src/credentials/memory-store.js';
import { type RunningEmulator, startEmulator } from '../../src/emulator/index.js';
import { WeChatApiError, type WeChatKitError } from '../../src/errors.js';
import { MiniProgram } from '../../src/mini-program/mini-program.js';
import { OfficialAccount } from '../../src/official-account/official-account.js';
import {
  AUTHORIZER_APPID_STATE,
  AuthorizerRevokedError,
  createAuthorizerCallback,
  OpenPlatform,
  VerifyTicketMissingError,
} from '../../src/open-platform/index.js';
import { RedisStore } from '../../src/redis/index.js';
import { REDIS_HOST, REDIS_PORT, redisUp, uniquePrefix } from '../credentials/redis-helper.js';

const component = {
  componentAppId: 'wxc0mp0nent0000002',
  componentSecret: 'component-secret-fedcba9876543210',
  token: 'ComponentToken2',
  encodingAESKey: 'ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789abcdefg',
};
const OA = 'wx0a0a0a0a0a0a0a01';
const MP = 'wx0b0b0b0b0b0b0b02';

// biome-ignore lint/suspicious/noExplicitAny: control-plane answers are inspected field by field
type Json = any;

let emulator: RunningEmulator;
let server: Server;
let store: MemoryStore;
let op: OpenPlatform;
/** Where the test server sends /op/events (授权事件) and /op/messages/$APPID$ (消息与事件). */
let events: CallbackHandler | undefined;
let messages: CallbackHandler | undefined;
/** What the platform's own listeners (attachCallback) heard. */
const granted: string[] = [];
/** What the authorizers' handlers saw: `appId:type:detail`. */
const seen: string[] = [];

const now = () => emulator.state.now();
const post = async (path: string, body: unknown): Promise<Json> =>
  (await fetch(`${emulator.url}${path}`, { method: 'POST', body: JSON.stringify(body) })).json();
const calls = (path: string) => emulator.state.stats.calls[path] ?? 0;
const newPlatform = (overrides: Record<string, unknown> = {}) =>
  new OpenPlatform({
    componentAppId: component.componentAppId,
    componentSecret: component.componentSecret,
    baseUrl: emulator.url,
    store,
    now,
    ...overrides,
  });

async function pushTicket(): Promise<void> {
  await post('/_emulator/clock', { advanceSeconds: 1 });
  const pushed = await post('/_emulator/open-platform/ticket', { componentAppId: component.componentAppId });
  expect(pushed.ok).toBe(true);
}

/** The account authorises the platform; the `authorized` push reaches `op.attachCallback`. */
async function authorize(appId: string, kind?: 'official-account' | 'mini-program'): Promise<Json> {
  await post('/_emulator/clock', { advanceSeconds: 1 });
  const result = await post('/_emulator/open-platform/authorize', {
    componentAppId: component.componentAppId,
    authorizerAppId: appId,
    ...(kind === undefined ? {} : { kind }),
  });
  expect(result).toMatchObject({ ok: true, rawReply: 'success' });
  return result;
}

beforeEach(async () => {
  seen.length = 0;
  granted.length = 0;
  events = undefined;
  messages = undefined;
  server = createServer((req, res) => {
    const target = req.url?.startsWith('/op/messages/') ? messages : events;
    if (target === undefined) {
      res.statusCode = 503;
      res.end();
      return;
    }
    toNodeListener(target)(req, res);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  emulator = await startEmulator({
    config: {
      apps: [
        { appId: OA, secret: 'oa-secret-never-used-000000000001', kind: 'official-account' },
        { appId: MP, secret: 'mp-secret-never-used-000000000002', kind: 'mini-program' },
      ],
      merchants: [],
      components: [
        { ...component, callbackUrl: `${base}/op/events`, messageUrl: `${base}/op/messages/$APPID$` },
      ],
      options: { clock: 'manual' },
    },
  });
  store = new MemoryStore({ now });
  op = newPlatform();
  events = op.attachCallback(
    createWeChatCallback({
      appId: component.componentAppId,
      token: component.token,
      encodingAESKey: component.encodingAESKey,
      mode: 'safe',
      now,
    }),
    {
      authorized: (info) => {
        granted.push(`authorized:${info.authorizer_appid}`);
      },
      updateauthorized: (info) => {
        granted.push(`updateauthorized:${info.authorizer_appid}`);
      },
      unauthorized: (appId) => {
        granted.push(`unauthorized:${appId}`);
      },
    },
  );
  messages = createAuthorizerCallback({
    componentAppId: component.componentAppId,
    token: component.token,
    encodingAESKey: component.encodingAESKey,
    now,
    setup: (callback, appId) => {
      callback
        .on('text', (msg, ctx) => {
          seen.push(`${appId}:text:${msg.Content}:${String(ctx.state[AUTHORIZER_APPID_STATE])}`);
          return reply.text(`${appId} got ${msg.Content}`);
        })
        .on('event.weapp_audit_success', (msg) => {
          seen.push(`${appId}:audit_success:${msg.SuccTime}`);
        })
        .on('event.weapp_audit_fail', (msg) => {
          seen.push(`${appId}:audit_fail:${msg.Reason}`);
        });
    },
  });
  await pushTicket();
});

afterEach(async () => {
  await emulator?.close();
  await new Promise((resolve) => server?.close(resolve));
});

describe('OpenPlatform authorizers as full clients (emulator over HTTP)', () => {
  it('stores the authorized event’s tokens and acts as the Official Account with its typed client', async () => {
    await authorize(OA);
    expect(await op.getRefreshToken(OA)).toMatch(/^refreshtoken@@@/);
    const oa = op.officialAccount(OA);
    expect(oa).toBeInstanceOf(OfficialAccount);
    expect(op.officialAccount(OA)).toBe(oa);

    await oa.menus.create({ button: [{ type: 'click', name: '今日', key: 'TODAY' }] });
    const { menu } = await oa.menus.get();
    expect(menu.button[0]).toMatchObject({ name: '今日', key: 'TODAY' });
    const config = await oa.jssdk.config({ url: 'https://example.com/page?x=1' });
    expect(config.appId).toBe(OA);
    expect(config.signature).toMatch(/^[0-9a-f]{40}$/);
    // The token came from api_query_auth; no AppSecret of the account was ever needed.
    expect(calls('/cgi-bin/component/api_authorizer_token')).toBe(0);
    expect(calls('/cgi-bin/stable_token') + calls('/cgi-bin/token')).toBe(0);
    expect(calls('/cgi-bin/ticket/getticket')).toBe(1);

    // Authorising again (updateauthorized) stores the new refresh token; the listeners ran after.
    const first = await op.getRefreshToken(OA);
    const again = await authorize(OA);
    expect(again.infoType).toBe('updateauthorized');
    expect(await op.getRefreshToken(OA)).not.toBe(first);
    expect(granted).toEqual([`authorized:${OA}`, `updateauthorized:${OA}`]);

    // A Mini Program's API is refused for an Official Account's token, as WeChat does.
    await expect(op.miniProgram(OA).code.commit(commitParams())).rejects.toMatchObject({ errcode: 48001 });
  });

  it('runs web OAuth on behalf of the account through the component (sns/oauth2/component/*)', async () => {
    await authorize(OA);
    const oa = op.officialAccount(OA);
    const link = new URL(
      oa.auth.authorizeUrl({ redirect_uri: 'https://example.com/cb', scope: 'snsapi_userinfo', state: 's1' }),
    );
    expect(link.searchParams.get('appid')).toBe(OA);
    expect(link.searchParams.get('component_appid')).toBe(component.componentAppId);

    const consent = await post('/_emulator/oauth/authorize', { appId: OA, scope: 'snsapi_userinfo' });
    const token = await oa.auth.exchangeCode({ code: consent.code });
    expect(token.openid).toBe(consent.openId);
    expect(calls('/sns/oauth2/component/access_token')).toBe(1);
    expect(calls('/sns/oauth2/access_token')).toBe(0);
    const profile = await oa.auth.userInfo({ access_token: token.access_token, openid: token.openid });
    expect(profile.openid).toBe(token.openid);
    const refreshed = await oa.auth.refresh({ refresh_token: token.refresh_token });
    expect(refreshed.openid).toBe(token.openid);
    expect(calls('/sns/oauth2/component/refresh_token')).toBe(1);
    // A code is single-use, also through the component.
    await expect(oa.auth.exchangeCode({ code: consent.code })).rejects.toMatchObject({ errcode: 40163 });
  });

  it('logs Mini Program users in on behalf of the account (sns/component/jscode2session)', async () => {
    await authorize(MP);
    const mp = op.miniProgram(MP);
    expect(mp).toBeInstanceOf(MiniProgram);
    const login = await post('/_emulator/mini-program/login', { appId: MP });
    const session = await mp.auth.code2Session({ js_code: login.code });
    expect(session.openid).toBe(login.openId);
    expect(calls('/sns/component/jscode2session')).toBe(1);
    expect(calls('/sns/jscode2session')).toBe(0);
  });

  it('unauthorized forgets the account in the store and in every process: later calls fail with AUTHORIZER_REVOKED without reaching WeChat', async () => {
    await authorize(OA);
    const peer = newPlatform(); // another instance sharing the store
    await op
      .officialAccount(OA)
      .menus.get()
      .catch(() => undefined);
    await peer.officialAccount(OA).users.list();
    const heldByUser = peer.officialAccount(OA);

    await post('/_emulator/clock', { advanceSeconds: 1 });
    const revoked = await post('/_emulator/open-platform/unauthorize', {
      componentAppId: component.componentAppId,
      authorizerAppId: OA,
    });
    expect(revoked).toMatchObject({ ok: true, rawReply: 'success' });
    expect(granted).toEqual([`authorized:${OA}`, `unauthorized:${OA}`]);
    expect(await op.getRefreshToken(OA)).toBeUndefined();
    expect(
      await store.get(`weixin-kit:authorizer_access_token:${component.componentAppId}:${OA}`),
    ).toBeUndefined();

    const before = {
      list: calls('/cgi-bin/user/get'),
      refresh: calls('/cgi-bin/component/api_authorizer_token'),
    };
    for (const client of [heldByUser, peer.officialAccount(OA), op.officialAccount(OA)]) {
      const error = await client.users.list().catch((e: unknown) => e);
      expect(error).toBeInstanceOf(AuthorizerRevokedError);
      expect((error as WeChatKitError).code).toBe('AUTHORIZER_REVOKED');
      expect((error as AuthorizerRevokedError).authorizerAppId).toBe(OA);
    }
    expect(calls('/cgi-bin/user/get')).toBe(before.list);
    expect(calls('/cgi-bin/component/api_authorizer_token')).toBe(before.refresh);

    // A new authorisation lifts it everywhere.
    await authorize(OA);
    await expect(heldByUser.users.list()).resolves.toMatchObject({ total: expect.any(Number) });
  });

  it('answers AUTHORIZER_REVOKED when WeChat refuses the refresh token (an unauthorized push was missed)', async () => {
    await op.saveRefreshToken(OA, 'refreshtoken@@@not-the-current-one');
    const error = await op
      .officialAccount(OA)
      .users.list()
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(AuthorizerRevokedError);
    expect((error as Error).cause).toBeInstanceOf(WeChatApiError);
    expect(((error as Error).cause as WeChatApiError).errcode).toBe(61023);
  });

  it('a missing ticket is VERIFY_TICKET_MISSING, saying what to do', async () => {
    const fresh = newPlatform({ store: new MemoryStore({ now }) });
    const error = await fresh.getComponentAccessToken().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(VerifyTicketMissingError);
    expect((error as WeChatKitError).code).toBe('VERIFY_TICKET_MISSING');
    expect((error as Error).message).toMatch(/verifyTicketHandler|attachCallback/);
  });

  it('routes each account’s pushes from the platform message URL to that account’s handlers', async () => {
    await authorize(OA);
    await authorize(MP);
    const toOa = await post('/_emulator/open-platform/push', {
      componentAppId: component.componentAppId,
      authorizerAppId: OA,
      message: 'hello',
    });
    const toMp = await post('/_emulator/open-platform/push', {
      componentAppId: component.componentAppId,
      authorizerAppId: MP,
      message: { MsgType: 'text', Content: 'hi mp' },
    });
    expect(toOa.request.url).toContain(`/op/messages/${OA}?`);
    // The passive reply is sealed with the component's key and verified by the emulator.
    expect(toOa.replyError).toBeUndefined();
    expect(toOa.reply).toContain(`${OA} got hello`);
    expect(toMp.reply).toContain(`${MP} got hi mp`);
    expect(seen).toEqual([`${OA}:text:hello:${OA}`, `${MP}:text:hi mp:${MP}`]);

    const forged = await post('/_emulator/open-platform/push', {
      componentAppId: component.componentAppId,
      authorizerAppId: OA,
      message: 'forged',
      faults: { badSignature: true },
    });
    expect(forged.status).toBe(401);
    expect(seen).toHaveLength(2);

    const base = new URL(toOa.request.url).origin;
    const noAppId = await fetch(`${base}/op/messages/`, { method: 'POST', body: '<xml/>' });
    expect(noAppId.status).toBe(404);

    // One pipeline in memory at most: each account's is rebuilt by setup when its turn comes.
    const small = createAuthorizerCallback({
      componentAppId: component.componentAppId,
      token: component.token,
      encodingAESKey: component.encodingAESKey,
      now,
      cacheSize: 1,
      setup: (callback, appId) => {
        callback.on('text', (msg) => reply.text(`${appId} again ${msg.Content}`));
      },
    });
    messages = small;
    for (const [appId, text] of [
      [OA, 'a'],
      [MP, 'b'],
      [OA, 'c'],
    ] as const) {
      const pushed = await post('/_emulator/open-platform/push', {
        componentAppId: component.componentAppId,
        authorizerAppId: appId,
        message: text,
      });
      expect(pushed.reply).toContain(`${appId} again ${text}`);
      expect(small.cached).toEqual({ size: 1, maxSize: 1 });
    }
  });

  it('commit → submit_audit → audit event → release, and a rejected audit cannot be released', async () => {
    await authorize(MP);
    const mp = op.miniProgram(MP);
    await expect(mp.code.submitAudit()).rejects.toMatchObject({ errcode: 86001 });
    await mp.code.commit(commitParams());
    const { auditid } = await mp.code.submitAudit({ version_desc: 'first' });
    expect(auditid).toEqual(expect.any(Number));
    await expect(mp.code.submitAudit()).rejects.toMatchObject({ errcode: 85009 });
    await expect(mp.code.release()).rejects.toMatchObject({ errcode: 85020 });
    expect(await mp.code.getAuditStatus({ auditid })).toMatchObject({ status: 2 });

    const decided = await post('/_emulator/open-platform/audit', { authorizerAppId: MP, result: 'success' });
    expect(decided.push).toMatchObject({ status: 200, reply: '' });
    expect(seen).toEqual([`${MP}:audit_success:${Math.floor(now() / 1000)}`]);
    expect(await mp.code.getLatestAuditStatus()).toMatchObject({
      auditid,
      status: 0,
      user_version: 'v1.0.0',
    });
    await mp.code.release();
    await expect(mp.code.release()).rejects.toMatchObject({ errcode: 85019 });
    const state: Json = await (
      await fetch(`${emulator.url}/_emulator/open-platform/code?authorizerAppId=${MP}`)
    ).json();
    expect(state.released).toMatchObject({ templateId: '7', userVersion: 'v1.0.0' });

    // The second version is rejected by a rule: the event carries the reason, release is refused.
    await post('/_emulator/open-platform/audit-rule', {
      authorizerAppId: MP,
      result: 'fail',
      reason: '类目不符',
      afterSeconds: 3600,
    });
    await mp.code.commit({ ...commitParams(), user_version: 'v1.0.1' });
    const second = await mp.code.submitAudit();
    expect(await mp.code.getAuditStatus({ auditid: second.auditid })).toMatchObject({ status: 2 });
    await post('/_emulator/clock', { advanceSeconds: 3600 });
    await emulator.state.clock.settled();
    await waitFor(() => seen.length === 2);
    expect(seen[1]).toBe(`${MP}:audit_fail:类目不符`);
    expect(await mp.code.getAuditStatus({ auditid: second.auditid })).toMatchObject({
      status: 1,
      reason: '类目不符',
    });
    await expect(mp.code.release()).rejects.toMatchObject({ errcode: 85020 });
  });

  it('sets and reads the server domains of the Mini Program', async () => {
    await authorize(MP);
    const mp = op.miniProgram(MP);
    await mp.domains.modify({ action: 'set', requestdomain: ['https://a.example.com'] });
    await mp.domains.modify({
      action: 'add',
      requestdomain: ['https://b.example.com'],
      uploaddomain: ['https://u.example.com'],
    });
    const domains = await mp.domains.modify({ action: 'get' });
    expect(domains.requestdomain).toEqual(['https://a.example.com', 'https://b.example.com']);
    expect(domains.uploaddomain).toEqual(['https://u.example.com']);
    await expect(mp.domains.modify({ action: 'nope' } as never)).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
    });
  });

  it('keeps at most authorizerCacheSize clients in memory; an evicted account is rebuilt from the store without a token call', async () => {
    const small = newPlatform({ authorizerCacheSize: 3 });
    const ids = Array.from({ length: 12 }, (_, i) => `wx5ca1e${String(i).padStart(11, '0')}`);
    for (const id of ids) await authorize(id);
    for (const id of ids) {
      await small.officialAccount(id).users.list();
      expect(small.authorizerCacheStats().size).toBeLessThanOrEqual(3);
    }
    expect(small.authorizerCacheStats()).toMatchObject({ size: 3, maxSize: 3, evictions: 9 });
    // Every token came from api_query_auth (stored by the events); none was fetched again.
    expect(calls('/cgi-bin/component/api_authorizer_token')).toBe(0);

    const first = ids[0] as string;
    const rebuilt = small.officialAccount(first);
    await rebuilt.users.list();
    expect(calls('/cgi-bin/component/api_authorizer_token')).toBe(0);
    // After the stored token's refresh time, one refresh for the one account in use.
    await post('/_emulator/clock', { advanceSeconds: 7200 - 300 });
    await Promise.all([rebuilt.users.list(), small.officialAccount(first).users.list()]);
    expect(calls('/cgi-bin/component/api_authorizer_token')).toBe(1);
    expect(small.authorizerCacheStats().size).toBeLessThanOrEqual(3);
  });
});

describe.skipIf(!redisUp)('OpenPlatform revocation across instances sharing Redis', () => {
  it('an unauthorized push handled by one instance stops every other instance at once', async () => {
    const redis = new Redis({ host: REDIS_HOST, port: REDIS_PORT, maxRetriesPerRequest: 1 });
    const prefix = uniquePrefix();
    try {
      const a = newPlatform({ store: new RedisStore(redis, { prefix }) });
      const b = newPlatform({ store: new RedisStore(redis, { prefix }) });
      events = a.attachCallback(
        createWeChatCallback({
          appId: component.componentAppId,
          token: component.token,
          encodingAESKey: component.encodingAESKey,
          mode: 'safe',
          now,
        }),
      );
      await pushTicket();
      await authorize(OA);
      // b uses the tokens a stored: no token request of its own.
      await b.officialAccount(OA).users.list();
      expect(calls('/cgi-bin/component/api_authorizer_token')).toBe(0);

      await post('/_emulator/clock', { advanceSeconds: 1 });
      await post('/_emulator/open-platform/unauthorize', {
        componentAppId: component.componentAppId,
        authorizerAppId: OA,
      });
      const listed = calls('/cgi-bin/user/get');
      await expect(b.officialAccount(OA).users.list()).rejects.toMatchObject({ code: 'AUTHORIZER_REVOKED' });
      expect(calls('/cgi-bin/user/get')).toBe(listed);
      expect(await b.getRefreshToken(OA)).toBeUndefined();
    } finally {
      const keys = await redis.keys(`${prefix}*`);
      if (keys.length > 0) await redis.del(...keys);
      await redis.quit();
    }
  });
});

function commitParams() {
  return {
    template_id: 7,
    ext_json: { extAppid: MP, ext: { shop: 'a' } },
    user_version: 'v1.0.0',
    user_desc: 'first',
  };
}

async function waitFor(condition: () => boolean, timeoutMs = 2000): Promise<void> {
  const started = Date.now();
  while (!condition()) {
    if (Date.now() - started > timeoutMs) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}
