import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type RunningEmulator, resolveConfig, startEmulator } from '../../src/emulator/index.js';
import { client } from './fixture.js';

const component = {
  componentAppId: 'wxc0mp0nent0000009',
  componentSecret: 'component-secret-authorizers-000',
  token: 'ComponentToken9',
  encodingAESKey: 'abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG',
};
const MP = {
  appId: 'wx0d0d0d0d0d0d0d09',
  secret: 'mp-own-secret-000000000000000009',
  kind: 'mini-program' as const,
};
const UNCONFIGURED = 'wx0e0e0e0e0e0e0e09';

let emulator: RunningEmulator;
const api = client(() => emulator.url);

/** The component token and an authorizer token of `appId` (authorised with `kind`). */
async function authorizerToken(
  appId: string,
  kind?: string,
): Promise<{ component: string; authorizer: string }> {
  const { ticket } = await api.post('/_emulator/open-platform/ticket', {
    componentAppId: component.componentAppId,
  });
  const { component_access_token } = await api.post('/cgi-bin/component/api_component_token', {
    component_appid: component.componentAppId,
    component_appsecret: component.componentSecret,
    component_verify_ticket: ticket,
  });
  const { authorizationCode } = await api.post('/_emulator/open-platform/authorize', {
    componentAppId: component.componentAppId,
    authorizerAppId: appId,
    ...(kind === undefined ? {} : { kind }),
  });
  const { authorization_info } = await api.post(
    `/cgi-bin/component/api_query_auth?component_access_token=${component_access_token}`,
    { component_appid: component.componentAppId, authorization_code: authorizationCode },
  );
  return { component: component_access_token, authorizer: authorization_info.authorizer_access_token };
}

beforeEach(async () => {
  emulator = await startEmulator({
    config: { apps: [MP], merchants: [], components: [component], options: { clock: 'manual' } },
  });
});

afterEach(async () => {
  await emulator?.close();
});

describe('emulator: Open Platform on behalf of authorised accounts', () => {
  it('refuses a messageUrl without $APPID$ in the config', () => {
    expect(() =>
      resolveConfig({ components: [{ ...component, messageUrl: 'http://127.0.0.1:1/wechat' }] }),
    ).toThrow(/messageUrl.*\$APPID\$/);
  });

  it('takes authorizer tokens on business APIs with the account’s kind, and refuses them once revoked', async () => {
    const { authorizer } = await authorizerToken(UNCONFIGURED, 'mini-program');
    // An unconfigured account is what the authorize route said: a Mini Program, not an Official Account.
    expect(await api.get(`/cgi-bin/menu/get?access_token=${authorizer}`)).toMatchObject({ errcode: 48001 });
    expect(await api.post(`/wxa/modify_domain?access_token=${authorizer}`, { action: 'get' })).toMatchObject({
      errcode: 0,
      requestdomain: [],
    });
    await api.post('/_emulator/open-platform/unauthorize', {
      componentAppId: component.componentAppId,
      authorizerAppId: UNCONFIGURED,
    });
    expect(await api.post(`/wxa/modify_domain?access_token=${authorizer}`, { action: 'get' })).toMatchObject({
      errcode: 40001,
    });
  });

  it('serves code management to authorizer tokens only (86000 for the account’s own token)', async () => {
    const own = (
      await api.post('/cgi-bin/stable_token', {
        grant_type: 'client_credential',
        appid: MP.appId,
        secret: MP.secret,
      })
    ).access_token;
    const commit = { template_id: 1, ext_json: '{}', user_version: 'v1', user_desc: 'd' };
    expect(await api.post(`/wxa/commit?access_token=${own}`, commit)).toMatchObject({ errcode: 86000 });
    const { authorizer } = await authorizerToken(MP.appId);
    expect(
      await api.post(`/wxa/commit?access_token=${authorizer}`, { ...commit, ext_json: 'not json' }),
    ).toMatchObject({
      errcode: 85013,
    });
    expect(await api.post(`/wxa/commit?access_token=${authorizer}`, commit)).toMatchObject({ errcode: 0 });
    const { auditid } = await api.post(`/wxa/submit_audit?access_token=${authorizer}`, {});
    expect(
      await api.post(`/wxa/get_auditstatus?access_token=${authorizer}`, { auditid: auditid + 1 }),
    ).toMatchObject({
      errcode: 85012,
    });
    // No messageUrl configured: the decision is made, its push reports NOT_CONFIGURED.
    const decided = await api.post('/_emulator/open-platform/audit', {
      authorizerAppId: MP.appId,
      result: 'delay',
    });
    expect(decided).toMatchObject({ auditid, status: 4, push: { replyError: 'NOT_CONFIGURED' } });
    expect(await api.post(`/wxa/submit_audit?access_token=${authorizer}`, {})).toMatchObject({
      errcode: 85009,
    });
  });

  it('exchanges codes through the component only for an account that authorised it (61003)', async () => {
    const { component: componentToken } = await authorizerToken(UNCONFIGURED);
    const { code } = await api.post('/_emulator/mini-program/login', { appId: MP.appId });
    const query = (appid: string) =>
      `/sns/component/jscode2session?appid=${appid}&js_code=${code}&grant_type=authorization_code` +
      `&component_appid=${component.componentAppId}&component_access_token=${componentToken}`;
    expect(await api.get(query(MP.appId))).toMatchObject({ errcode: 61003 });
    expect(await api.get(query(MP.appId).replace(componentToken, 'unknown'))).toMatchObject({
      errcode: 40001,
    });
  });
});
