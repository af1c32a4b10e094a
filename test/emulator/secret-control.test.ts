// The emulator's secret changes (POST /_emulator/secrets/reset, POST /_emulator/pay/apiv3-key):
// the old value is refused from then on, the new one accepted, tokens already issued untouched,
// and malformed control requests refused without changing anything.
import { describe, expect, it } from 'vitest';
import { createEmulator, type Emulator } from '../../src/emulator/index.js';

const APP = {
  appId: 'wx7a7a7a7a7a7a7a01',
  secret: 'app-secret-before-reset',
  kind: 'official-account' as const,
};
const CORP = { corpId: 'ww7a7a7a7a7a7a7a02', agents: [{ agentId: 1000002, secret: 'agent-secret-before' }] };
const COMPONENT = {
  componentAppId: 'wx7a7a7a7a7a7a7a03',
  componentSecret: 'component-secret-before',
  token: 'component-token',
  encodingAESKey: 'abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG',
};
const BASE = 'http://emulator';

function setup() {
  const emulator: Emulator = createEmulator({
    apps: [APP],
    merchants: [],
    corps: [CORP],
    components: [COMPONENT],
  });
  const post = async (path: string, body: unknown) => {
    const res = await emulator.fetch(`${BASE}${path}`, { method: 'POST', body: JSON.stringify(body) });
    return { status: res.status, json: (await res.json()) as Record<string, unknown> };
  };
  const get = async (path: string) =>
    (await (await emulator.fetch(`${BASE}${path}`)).json()) as Record<string, unknown>;
  return { emulator, post, get };
}

const token = (get: (path: string) => Promise<Record<string, unknown>>, secret: string) =>
  get(`/cgi-bin/token?grant_type=client_credential&appid=${APP.appId}&secret=${secret}`);

describe('POST /_emulator/secrets/reset', () => {
  it('an app: the old AppSecret is refused with 40125 from then on, the new one works, issued tokens stay valid', async () => {
    const { post, get } = setup();
    const before = await token(get, APP.secret);
    expect(before.access_token).toEqual(expect.any(String));
    const reset = await post('/_emulator/secrets/reset', { appId: APP.appId });
    expect(reset.status).toBe(200);
    const secret = reset.json.secret as string;
    expect(secret).toMatch(/^[0-9a-f]{32}$/);
    expect((await token(get, APP.secret)).errcode).toBe(40125);
    expect((await token(get, secret)).access_token).toEqual(expect.any(String));
    // The token issued before the reset still works (the emulator does not revoke on reset).
    const ticket = await get(`/cgi-bin/ticket/getticket?type=jsapi&access_token=${before.access_token}`);
    expect(ticket).toMatchObject({ errcode: 0, ticket: expect.any(String) });
  });

  it('takes the new secret when given', async () => {
    const { post, get } = setup();
    expect(
      (await post('/_emulator/secrets/reset', { appId: APP.appId, secret: 'chosen-secret-1' })).json,
    ).toEqual({
      secret: 'chosen-secret-1',
    });
    expect((await token(get, 'chosen-secret-1')).access_token).toEqual(expect.any(String));
  });

  it('a WeCom agent: gettoken with the old Secret answers 40001, with the new one a token', async () => {
    const { post, get } = setup();
    const { json } = await post('/_emulator/secrets/reset', { corpId: CORP.corpId, agentId: 1000002 });
    const gettoken = (secret: string) => get(`/cgi-bin/gettoken?corpid=${CORP.corpId}&corpsecret=${secret}`);
    expect((await gettoken('agent-secret-before')).errcode).toBe(40001);
    expect((await gettoken(json.secret as string)).access_token).toEqual(expect.any(String));
  });

  it('a component: api_component_token with the old AppSecret answers 40125', async () => {
    const { post, emulator } = setup();
    const { json: ticket } = await post('/_emulator/open-platform/ticket', {
      componentAppId: COMPONENT.componentAppId,
    });
    const { json } = await post('/_emulator/secrets/reset', { componentAppId: COMPONENT.componentAppId });
    const ask = async (secret: string) =>
      (await (
        await emulator.fetch(`${BASE}/cgi-bin/component/api_component_token`, {
          method: 'POST',
          body: JSON.stringify({
            component_appid: COMPONENT.componentAppId,
            component_appsecret: secret,
            component_verify_ticket: ticket.ticket,
          }),
        })
      ).json()) as Record<string, unknown>;
    expect((await ask('component-secret-before')).errcode).toBe(40125);
    expect((await ask(json.secret as string)).component_access_token).toEqual(expect.any(String));
  });

  it('refuses malformed requests and changes nothing', async () => {
    const { post, get } = setup();
    const status = async (body: unknown) => (await post('/_emulator/secrets/reset', body)).status;
    expect(await status([APP.appId])).toBe(400);
    expect(await status({})).toBe(400);
    expect(await status({ appId: APP.appId, corpId: CORP.corpId })).toBe(400);
    expect(await status({ appId: APP.appId, extra: 1 })).toBe(400);
    expect(await status({ appId: APP.appId, secret: '' })).toBe(400);
    expect(await status({ appId: APP.appId, secret: 'has space' })).toBe(400);
    expect(await status({ appId: 'wx0000000000000000' })).toBe(404);
    expect(await status({ corpId: CORP.corpId, agentId: 9 })).toBe(404);
    expect(await status({ componentAppId: 'wx0000000000000000' })).toBe(404);
    expect((await token(get, APP.secret)).access_token).toEqual(expect.any(String));
  });
});

describe('POST /_emulator/pay/apiv3-key', () => {
  it('sets the merchant’s key (given, or 32 generated letters and digits) and refuses malformed requests', async () => {
    const emulator = createEmulator();
    const mchid = emulator.config.merchants[0]?.mchid as string;
    const post = async (body: unknown) => {
      const res = await emulator.fetch(`${BASE}/_emulator/pay/apiv3-key`, {
        method: 'POST',
        body: JSON.stringify(body),
      });
      return { status: res.status, json: (await res.json()) as Record<string, unknown> };
    };
    const generated = await post({ mchid });
    expect(generated.status).toBe(200);
    expect(generated.json.apiV3Key).toMatch(/^[A-Za-z0-9]{32}$/);
    expect(emulator.config.merchants[0]?.apiV3Key).toBe(generated.json.apiV3Key);
    const chosen = 'ChosenApiV3Key0123456789abcdefAB';
    expect((await post({ mchid, apiV3Key: chosen })).json).toEqual({ apiV3Key: chosen });
    expect((await post({ mchid, apiV3Key: 'short' })).status).toBe(400);
    expect((await post({ mchid, other: 1 })).status).toBe(400);
    expect((await post({ mchid: '1' })).status).toBe(404);
    expect(emulator.config.merchants[0]?.apiV3Key).toBe(chosen);
  });
});
