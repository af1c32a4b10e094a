import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { toNodeListener } from '../../src/adapters/node.js';
import {
  type AuthorizedEvent,
  type ComponentVerifyTicketEvent,
  createWeChatCallback,
  type UnauthorizedEvent,
} from '../../src/callbacks/index.js';
import { type RunningEmulator, resolveConfig, startEmulator } from '../../src/emulator/index.js';

// A third-party platform's 授权事件接收URL, served by the SDK's own callback pipeline.
const component = {
  componentAppId: 'wxc0mp0nent0000001',
  componentSecret: 'component-secret-0123456789abcdef',
  token: 'ComponentToken',
  encodingAESKey: 'abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG',
};
// Another platform whose 授权事件接收URL (by mistake) points at the first one's server.
const other = { ...component, componentAppId: 'wxc0mp0nent0000002', componentSecret: 'other-secret' };
const noUrl = { ...component, componentAppId: 'wxc0mp0nent0000003', componentSecret: 'no-url-secret' };
const AUTHORIZER = 'wxa0th0r1zer000001';
const FLOW_AUTHORIZER = 'wxa0th0r1zer000003';

let emulator: RunningEmulator;
let server: Server;
const tickets: ComponentVerifyTicketEvent[] = [];
const authorized: AuthorizedEvent[] = [];
const unauthorized: UnauthorizedEvent[] = [];

// biome-ignore lint/suspicious/noExplicitAny: responses are inspected field by field
type Json = any;
const post = async (path: string, body: unknown): Promise<Json> =>
  (await fetch(`${emulator.url}${path}`, { method: 'POST', body: JSON.stringify(body) })).json();
const postStatus = async (path: string, body: unknown) => {
  const res = await fetch(`${emulator.url}${path}`, { method: 'POST', body: JSON.stringify(body) });
  return { status: res.status, body: (await res.json()) as Json };
};
// Distinct CreateTime per push: the pipeline de-duplicates Open Platform events by AppId + CreateTime + InfoType.
const tick = () => post('/_emulator/clock', { advanceSeconds: 1 });

async function pushTicket(componentAppId = component.componentAppId): Promise<Json> {
  await tick();
  return post('/_emulator/open-platform/ticket', { componentAppId });
}

async function componentToken(ticket: string): Promise<string> {
  const res = await post('/cgi-bin/component/api_component_token', {
    component_appid: component.componentAppId,
    component_appsecret: component.componentSecret,
    component_verify_ticket: ticket,
  });
  expect(res.expires_in).toBe(7200);
  return res.component_access_token as string;
}

beforeAll(async () => {
  const callback = createWeChatCallback({
    appId: component.componentAppId,
    token: component.token,
    encodingAESKey: component.encodingAESKey,
    mode: 'safe',
    // The server follows the emulated clock, so pushes after a clock jump are not stale.
    now: () => emulator.state.now(),
  })
    .on('component_verify_ticket', (msg) => {
      tickets.push(msg);
    })
    .on('authorized', (msg) => {
      authorized.push(msg);
    })
    .on('unauthorized', (msg) => {
      unauthorized.push(msg);
    });
  server = createServer(toNodeListener(callback));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const callbackUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/open-platform/events`;
  emulator = await startEmulator({
    config: {
      apps: [],
      merchants: [],
      components: [{ ...component, callbackUrl }, { ...other, callbackUrl }, noUrl],
    },
  });
});

afterAll(async () => {
  await emulator.close();
  await new Promise((resolve) => server.close(resolve));
});

beforeEach(() => {
  tickets.length = 0;
  authorized.length = 0;
  unauthorized.length = 0;
});

describe('Open Platform configuration', () => {
  it('validates components like the rest of the config', () => {
    expect(() =>
      resolveConfig({ apps: [], merchants: [], components: [{ ...component, extra: 1 }] }),
    ).toThrow(/components\[0\]: unknown key "extra"/);
    expect(() =>
      resolveConfig({ apps: [], merchants: [], components: [{ ...component, componentAppId: 'nope' }] }),
    ).toThrow(/components\[0\]\.componentAppId/);
    const { encodingAESKey: _key, ...noKey } = component;
    expect(() => resolveConfig({ apps: [], merchants: [], components: [noKey] })).toThrow(
      /components\[0\]\.encodingAESKey/,
    );
    expect(() =>
      resolveConfig({ apps: [], merchants: [], components: [{ ...component, callbackUrl: 'ftp://x' }] }),
    ).toThrow(/components\[0\]\.callbackUrl/);
    expect(() => resolveConfig({ apps: [], merchants: [], components: [component, component] })).toThrow(
      /appears twice/,
    );
    expect(resolveConfig({ apps: [], merchants: [] }).components).toEqual([]);
  });

  it('shows the components in /_emulator/config', async () => {
    const config = (await (await fetch(`${emulator.url}/_emulator/config`)).json()) as Json;
    expect(config.components.map((c: Json) => c.componentAppId)).toEqual([
      component.componentAppId,
      other.componentAppId,
      noUrl.componentAppId,
    ]);
  });
});

describe('Open Platform pushes (授权事件) through createWeChatCallback', () => {
  it('delivers component_verify_ticket, encrypted for the component AppID, acknowledged with success', async () => {
    const res = await pushTicket();
    expect(res).toMatchObject({ ok: true, status: 200, attempts: 1, rawReply: 'success', expiresIn: 43_200 });
    expect(res.ticket).toMatch(/^ticket@@@/);
    // The envelope carries AppId (not ToUserName); the URL is signed for safe mode.
    expect(res.request.body).toMatch(/^<xml><AppId><!\[CDATA\[wxc0mp0nent0000001\]\]><\/AppId><Encrypt>/);
    const url = new URL(res.request.url);
    for (const name of ['signature', 'timestamp', 'nonce', 'msg_signature']) {
      expect(url.searchParams.get(name)).toBeTruthy();
    }
    expect(url.searchParams.get('encrypt_type')).toBe('aes');
    expect(tickets).toHaveLength(1);
    expect(tickets[0]).toMatchObject({
      AppId: component.componentAppId,
      InfoType: 'component_verify_ticket',
      ComponentVerifyTicket: res.ticket,
    });
  });

  it('delivers authorized with a one-hour authorization code', async () => {
    await tick();
    const res = await post('/_emulator/open-platform/authorize', {
      componentAppId: component.componentAppId,
      authorizerAppId: AUTHORIZER,
    });
    expect(res).toMatchObject({ ok: true, infoType: 'authorized' });
    expect(authorized).toHaveLength(1);
    const event = authorized[0] as AuthorizedEvent;
    expect(event).toMatchObject({
      AppId: component.componentAppId,
      InfoType: 'authorized',
      AuthorizerAppid: AUTHORIZER,
      AuthorizationCode: res.authorizationCode,
      PreAuthCode: res.preAuthCode,
    });
    expect(Number(event.AuthorizationCodeExpiredTime) - Number(event.CreateTime)).toBe(3600);

    // Authorising again (e.g. with other permission sets) is an update.
    await tick();
    const update = await post('/_emulator/open-platform/authorize', {
      componentAppId: component.componentAppId,
      authorizerAppId: AUTHORIZER,
      funcscopes: [1, 2],
    });
    expect(update).toMatchObject({ ok: true, infoType: 'updateauthorized' });
    expect(update.message).toContain('<InfoType><![CDATA[updateauthorized]]></InfoType>');
  });

  it('is refused by the pipeline when encrypted for another component (APPID_MISMATCH → 401)', async () => {
    const res = await pushTicket(other.componentAppId);
    expect(res).toMatchObject({ ok: false, status: 401, replyError: 'HTTP_401', attempts: 1 });
    const faulty = await post('/_emulator/open-platform/ticket', {
      componentAppId: component.componentAppId,
      faults: { receiveId: other.componentAppId },
    });
    expect(faulty).toMatchObject({ ok: false, status: 401 });
    expect(tickets).toHaveLength(0);
  });

  it('reports a component without callbackUrl, and unknown components', async () => {
    const res = await pushTicket(noUrl.componentAppId);
    expect(res).toMatchObject({ ok: false, attempts: 0, replyError: 'NOT_CONFIGURED' });
    const unknown = await postStatus('/_emulator/open-platform/ticket', {
      componentAppId: 'wx0000000000000000',
    });
    expect(unknown.status).toBe(404);
    expect(unknown.body.error).toMatch(/components/);
    const extra = await postStatus('/_emulator/open-platform/ticket', {
      componentAppId: component.componentAppId,
      nope: 1,
    });
    expect(extra.status).toBe(400);
  });
});

describe('Open Platform token flow', () => {
  it('ticket → component token → pre_auth_code → query_auth → authorizer token refresh → unauthorize', async () => {
    const pushed = await pushTicket();
    const ticket = (tickets[0] as ComponentVerifyTicketEvent).ComponentVerifyTicket;
    expect(ticket).toBe(pushed.ticket);
    const cat = await componentToken(ticket);

    const pre = await post(`/cgi-bin/component/api_create_preauthcode?component_access_token=${cat}`, {
      component_appid: component.componentAppId,
    });
    expect(pre.expires_in).toBe(1800);
    expect(typeof pre.pre_auth_code).toBe('string');

    // The account authorises through the link built with this pre_auth_code.
    await tick();
    const authorize = await post('/_emulator/open-platform/authorize', {
      componentAppId: component.componentAppId,
      authorizerAppId: FLOW_AUTHORIZER,
      preAuthCode: pre.pre_auth_code,
    });
    expect(authorize).toMatchObject({ ok: true, infoType: 'authorized' });
    expect(authorized).toHaveLength(1);
    expect(authorized[0]).toMatchObject({
      AuthorizerAppid: FLOW_AUTHORIZER,
      PreAuthCode: pre.pre_auth_code,
    });
    // The handler saw the code the flow continues with.
    const code = (authorized[0] as AuthorizedEvent).AuthorizationCode;
    expect(code).toBe(authorize.authorizationCode);
    // A used pre_auth_code cannot be spent twice.
    const again = await postStatus('/_emulator/open-platform/authorize', {
      componentAppId: component.componentAppId,
      authorizerAppId: FLOW_AUTHORIZER,
      preAuthCode: pre.pre_auth_code,
    });
    expect(again.status).toBe(400);

    const query = await post(`/cgi-bin/component/api_query_auth?component_access_token=${cat}`, {
      component_appid: component.componentAppId,
      authorization_code: code,
    });
    const info = query.authorization_info;
    expect(info).toMatchObject({ authorizer_appid: FLOW_AUTHORIZER, expires_in: 7200 });
    expect(typeof info.authorizer_access_token).toBe('string');
    expect(typeof info.authorizer_refresh_token).toBe('string');
    expect(info.func_info[0]).toEqual({ funcscope_category: { id: 1 } });
    // The authorization code is single-use.
    const reused = await post(`/cgi-bin/component/api_query_auth?component_access_token=${cat}`, {
      component_appid: component.componentAppId,
      authorization_code: code,
    });
    expect(reused.errcode).toBe(61009);

    const refreshed = await post(`/cgi-bin/component/api_authorizer_token?component_access_token=${cat}`, {
      component_appid: component.componentAppId,
      authorizer_appid: FLOW_AUTHORIZER,
      authorizer_refresh_token: info.authorizer_refresh_token,
    });
    expect(refreshed.expires_in).toBe(7200);
    expect(refreshed.authorizer_access_token).not.toBe(info.authorizer_access_token);
    expect(refreshed.authorizer_refresh_token).toBe(info.authorizer_refresh_token);

    const unknownRefresh = await post(
      `/cgi-bin/component/api_authorizer_token?component_access_token=${cat}`,
      {
        component_appid: component.componentAppId,
        authorizer_appid: FLOW_AUTHORIZER,
        authorizer_refresh_token: 'refreshtoken@@@unknown',
      },
    );
    expect(unknownRefresh.errcode).toBe(61023);

    await tick();
    const revoke = await post('/_emulator/open-platform/unauthorize', {
      componentAppId: component.componentAppId,
      authorizerAppId: FLOW_AUTHORIZER,
    });
    expect(revoke.ok).toBe(true);
    expect(unauthorized).toHaveLength(1);
    expect(unauthorized[0]).toMatchObject({ InfoType: 'unauthorized', AuthorizerAppid: FLOW_AUTHORIZER });
    const afterRevoke = await post(`/cgi-bin/component/api_authorizer_token?component_access_token=${cat}`, {
      component_appid: component.componentAppId,
      authorizer_appid: FLOW_AUTHORIZER,
      authorizer_refresh_token: info.authorizer_refresh_token,
    });
    expect(afterRevoke.errcode).toBe(61023);
    const state = await (
      await fetch(
        `${emulator.url}/_emulator/open-platform/authorizations?componentAppId=${component.componentAppId}`,
      )
    ).json();
    const record = (state as Json).authorizations.find((a: Json) => a.authorizerAppId === FLOW_AUTHORIZER);
    expect(record.active).toBe(false);
    expect(record.accessTokens.every((t: Json) => t.revoked)).toBe(true);

    // A fresh authorisation after the revocation is "authorized" again, with a new refresh token.
    await tick();
    const back = await post('/_emulator/open-platform/authorize', {
      componentAppId: component.componentAppId,
      authorizerAppId: FLOW_AUTHORIZER,
    });
    expect(back.infoType).toBe('authorized');
    const requery = await post(`/cgi-bin/component/api_query_auth?component_access_token=${cat}`, {
      component_appid: component.componentAppId,
      authorization_code: back.authorizationCode,
    });
    expect(requery.authorization_info.authorizer_refresh_token).not.toBe(info.authorizer_refresh_token);
  });
});

describe('Open Platform errcodes', () => {
  it('api_component_token: 41002/40013/41004/40125, unknown ticket 61006, expired ticket 61005', async () => {
    const pushed = await pushTicket();
    const call = (body: Record<string, unknown>) =>
      post('/cgi-bin/component/api_component_token', {
        component_appid: component.componentAppId,
        component_appsecret: component.componentSecret,
        component_verify_ticket: pushed.ticket,
        ...body,
      });
    expect((await call({ component_appid: undefined })).errcode).toBe(41002);
    expect((await call({ component_appid: 'wx0000000000000000' })).errcode).toBe(40013);
    expect((await call({ component_appsecret: undefined })).errcode).toBe(41004);
    expect((await call({ component_appsecret: 'wrong' })).errcode).toBe(40125);
    expect((await call({ component_verify_ticket: 'ticket@@@forged' })).errcode).toBe(61006);
    expect((await call({ component_verify_ticket: undefined })).errcode).toBe(61006);
    // Another component's ticket is not valid for this one.
    const otherTicket = (await pushTicket(noUrl.componentAppId)).ticket;
    expect((await call({ component_verify_ticket: otherTicket })).errcode).toBe(61006);
    expect((await call({})).component_access_token).toBeTruthy();

    await post('/_emulator/clock', { advanceSeconds: 12 * 3600 });
    expect((await call({})).errcode).toBe(61005);
    // The next push brings a fresh ticket.
    const fresh = await pushTicket();
    expect(fresh.ok).toBe(true);
    expect((await call({ component_verify_ticket: fresh.ticket })).component_access_token).toBeTruthy();
  });

  it('component_access_token: missing 41001, invalid 40001, expired 42001; codes 61009/61010', async () => {
    const cat = await componentToken((await pushTicket()).ticket);
    const body = { component_appid: component.componentAppId };
    expect((await post('/cgi-bin/component/api_create_preauthcode', body)).errcode).toBe(41001);
    expect(
      (await post('/cgi-bin/component/api_create_preauthcode?component_access_token=forged', body)).errcode,
    ).toBe(40001);
    // The newer doc names the query parameter access_token: accepted as well.
    expect(
      (await post(`/cgi-bin/component/api_create_preauthcode?access_token=${cat}`, body)).pre_auth_code,
    ).toBeTruthy();
    expect(
      (
        await post(`/cgi-bin/component/api_create_preauthcode?component_access_token=${cat}`, {
          component_appid: other.componentAppId,
        })
      ).errcode,
    ).toBe(40013);
    expect(
      (
        await post(`/cgi-bin/component/api_query_auth?component_access_token=${cat}`, {
          ...body,
          authorization_code: 'queryauthcode@@@forged',
        })
      ).errcode,
    ).toBe(61009);

    await tick();
    const auth = await post('/_emulator/open-platform/authorize', {
      componentAppId: component.componentAppId,
      authorizerAppId: 'wxa0th0r1zer000002',
    });
    await post('/_emulator/clock', { advanceSeconds: 3601 });
    // The component token (7200 s) is still valid; the authorization code (1 h) is not.
    expect(
      (
        await post(`/cgi-bin/component/api_query_auth?component_access_token=${cat}`, {
          ...body,
          authorization_code: auth.authorizationCode,
        })
      ).errcode,
    ).toBe(61010);
    await post('/_emulator/clock', { advanceSeconds: 3600 });
    expect(
      (await post(`/cgi-bin/component/api_create_preauthcode?component_access_token=${cat}`, body)).errcode,
    ).toBe(42001);
  });
});
