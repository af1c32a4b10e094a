import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { type EmulatorAppConfig, type RunningEmulator, startEmulator } from '../../src/emulator/index.js';
import { client, MP, OA, tokenGetter, uploadMedia, userMaker } from './fixture.js';

// src/emulator/official-account: followers, custom menus, template messages, QR codes, web OAuth.

let emulator: RunningEmulator;
let receiver: Server;
const api = client(() => emulator.url);
const tokens = new Map<string, string>();
/** A fresh access_token of the app (cached within a test; `fresh` asks for a new one). */
const token = tokenGetter(api, tokens);
const newUser = userMaker(api);

/** An Official Account with a callbackUrl (a local server answering `success`). */
const OA_PUSH: EmulatorAppConfig = {
  appId: 'wx5555555555555555',
  secret: 'oa-push-secret',
  kind: 'official-account',
  token: 'pushtoken',
};

/** An app one test has to itself, so that the QR codes it lists are its own. */
const OA_QR: EmulatorAppConfig = {
  appId: 'wx7777777777777777',
  secret: 'oa-qr-secret',
  kind: 'official-account',
};

beforeAll(async () => {
  receiver = createServer((req, res) => {
    req.resume();
    req.on('end', () => res.end('success'));
  });
  await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
  const { port } = receiver.address() as AddressInfo;
  emulator = await startEmulator({
    config: {
      apps: [OA, MP, OA_QR, { ...OA_PUSH, callbackUrl: `http://127.0.0.1:${port}/wechat` }],
      merchants: [],
    },
  });
});

afterAll(async () => {
  await emulator.close();
  receiver.closeAllConnections();
  await new Promise((resolve) => receiver.close(resolve));
});

// Tokens are cached within a test only: one test's clock moves must not leave another a stale one.
beforeEach(() => tokens.clear());

/** Uploads `bytes` as the multipart field `field` (default `media`) with a token of `app`. */
const upload = async (
  app: EmulatorAppConfig,
  type: string,
  bytes: Uint8Array,
  filename: string,
  contentType: string,
  field?: string,
) => uploadMedia(emulator.url, await token(app), type, bytes, filename, contentType, field);

describe('GET /cgi-bin/user/info', () => {
  it('user/info: a subscribed profile with unionid for known users, 40003 otherwise', async () => {
    const openId = await newUser(OA, 'o_info_user');
    const info = await api.get(
      `/cgi-bin/user/info?access_token=${await token(OA)}&openid=${openId}&lang=zh_CN`,
    );
    expect(info).toMatchObject({ subscribe: 1, openid: openId, language: 'zh_CN' });
    expect(info.unionid).toMatch(/^o/);
    expect(typeof info.subscribe_time).toBe('number');
    expect(info.errcode).toBeUndefined();
    const unknown = await api.get(`/cgi-bin/user/info?access_token=${await token(OA)}&openid=o_unknown`);
    expect(unknown.errcode).toBe(40003);
    const withUnion = await api.post('/_emulator/users', {
      appId: OA.appId,
      openId: 'o_u2',
      unionId: 'UNION',
    });
    expect(withUnion).toEqual({ appId: OA.appId, openId: 'o_u2', unionId: 'UNION' });
    expect((await api.get(`/cgi-bin/user/info?access_token=${await token(OA)}&openid=o_u2`)).unionid).toBe(
      'UNION',
    );
    // No unionid when the app does not have it enabled.
    const plainUser = await newUser(OA_PUSH);
    const plain = await api.get(
      `/cgi-bin/user/info?access_token=${await token(OA_PUSH)}&openid=${plainUser}`,
    );
    expect(plain.openid).toBe(plainUser);
    expect(plain.unionid).toBeUndefined();
  });
});

describe('POST /cgi-bin/user/info/batchget', () => {
  it('answers user_info_list for known followers, in order, with lang and unionid', async () => {
    const a = await newUser(OA, 'o_batch_a');
    const b = await newUser(OA, 'o_batch_b');
    const res = await api.post(`/cgi-bin/user/info/batchget?access_token=${await token(OA)}`, {
      user_list: [{ openid: a, lang: 'en' }, { openid: b }],
    });
    expect(Object.keys(res)).toEqual(['user_info_list']);
    expect(res.user_info_list).toHaveLength(2);
    expect(res.user_info_list[0]).toMatchObject({ subscribe: 1, openid: a, language: 'en' });
    expect(res.user_info_list[1]).toMatchObject({ openid: b, language: 'zh_CN', tagid_list: [] });
    expect(res.user_info_list[0].unionid).toMatch(/^o/);
    expect(res.user_info_list[0].nickname).toBeUndefined();
  });

  it('checks the request: unknown openid 40003, list size 40032, wrong shape 47001, empty 44002', async () => {
    const path = `/cgi-bin/user/info/batchget?access_token=${await token(OA)}`;
    const a = await newUser(OA);
    expect((await api.post(path, { user_list: [{ openid: a }, { openid: 'o_nobody' }] })).errcode).toBe(
      40003,
    );
    expect((await api.post(path, { user_list: [] })).errcode).toBe(40032);
    const many = Array.from({ length: 101 }, () => ({ openid: a }));
    expect((await api.post(path, { user_list: many })).errcode).toBe(40032);
    expect((await api.post(path, { openid_list: [a] })).errcode).toBe(47001);
    expect((await api.post(path, { user_list: [a] })).errcode).toBe(47001);
    expect((await api.post(path, { user_list: [{ open_id: a }] })).errcode).toBe(47001);
    expect((await api.postForm(path, `openid=${a}`)).errcode).toBe(47001);
    expect((await api.postRaw(path, '')).errcode).toBe(44002);
  });

  it('checks the token and the account kind', async () => {
    const body = { user_list: [{ openid: 'x' }] };
    expect((await api.post('/cgi-bin/user/info/batchget', body)).errcode).toBe(41001);
    expect((await api.post('/cgi-bin/user/info/batchget?access_token=nope', body)).errcode).toBe(40001);
    expect(
      (await api.post(`/cgi-bin/user/info/batchget?access_token=${await token(MP)}`, body)).errcode,
    ).toBe(48001);
  });
});

describe('custom menu', () => {
  it('menu: 46003 before create, validates the button array, then returns the stored menu', async () => {
    const t = await token(OA);
    expect((await api.get(`/cgi-bin/menu/get?access_token=${t}`)).errcode).toBe(46003);
    expect(await api.get(`/cgi-bin/get_current_selfmenu_info?access_token=${t}`)).toEqual({
      is_menu_open: 0,
    });
    const create = (body: unknown) => api.post(`/cgi-bin/menu/create?access_token=${t}`, body);
    expect((await create({})).errcode).toBe(40016);
    expect((await create({ button: [] })).errcode).toBe(40016);
    expect(
      (await create({ button: [1, 2, 3, 4].map((i) => ({ type: 'click', name: `b${i}`, key: 'k' })) }))
        .errcode,
    ).toBe(40016);
    expect((await create({ button: [{ type: 'bogus', name: 'x', key: 'k' }] })).errcode).toBe(40017);
    expect((await create({ button: [{ type: 'click', name: '一二三四五六', key: 'k' }] })).errcode).toBe(
      40018,
    );
    expect((await create({ button: [{ type: 'click', name: 'x' }] })).errcode).toBe(40019);
    expect((await create({ button: [{ type: 'view', name: 'x' }] })).errcode).toBe(40055);
    expect((await api.postRaw(`/cgi-bin/menu/create?access_token=${t}`, 'button=1')).errcode).toBe(47001);
    const menu = {
      button: [
        { type: 'click', name: '今日歌曲', key: 'V1001_TODAY_MUSIC' },
        {
          name: '菜单',
          sub_button: [
            { type: 'view', name: '搜索', url: 'https://www.soso.com/' },
            { type: 'click', name: '赞一下我们', key: 'V1001_GOOD' },
          ],
        },
      ],
    };
    expect(await create(menu)).toEqual({ errcode: 0, errmsg: 'ok' });
    expect(await api.get(`/cgi-bin/menu/get?access_token=${t}`)).toEqual({ menu });
    const self = await api.get(`/cgi-bin/get_current_selfmenu_info?access_token=${t}`);
    expect(self.is_menu_open).toBe(1);
    expect(self.selfmenu_info.button[1].sub_button.list).toEqual(menu.button[1]?.sub_button);
    expect(await api.get(`/cgi-bin/menu/delete?access_token=${t}`)).toEqual({ errcode: 0, errmsg: 'ok' });
    expect((await api.get(`/cgi-bin/menu/get?access_token=${t}`)).errcode).toBe(46003);
    // The menu is an Official Account API.
    expect((await api.get(`/cgi-bin/menu/get?access_token=${await token(MP)}`)).errcode).toBe(48001);
  });
});

describe('template messages', () => {
  it('template send: records the message and answers a msgid; TEMPLATESENDJOBFINISH is scheduled', async () => {
    const user = await newUser(OA_PUSH, 'o_tpl_user');
    const body = {
      touser: user,
      template_id: 'TPL-1',
      url: 'https://example.com',
      data: { first: { value: 'hi' } },
    };
    const sent = await api.post(`/cgi-bin/message/template/send?access_token=${await token(OA_PUSH)}`, body);
    expect(sent).toMatchObject({ errcode: 0, errmsg: 'ok' });
    expect(typeof sent.msgid).toBe('number');
    const { messages } = await api.get(`/_emulator/messages?appId=${OA_PUSH.appId}`);
    expect(messages.at(-1)).toMatchObject({
      kind: 'template',
      appId: OA_PUSH.appId,
      body,
      msgid: sent.msgid,
    });
    expect(typeof messages.at(-1).at).toBe('number');
    // Let the scheduled push run (whatever it does, the send already succeeded): it is due 50 ms
    // of emulated time later (2 s ÷ retryTimeScale, at least 50 ms).
    emulator.state.advance(0.05);
    await emulator.state.clock.settled();
  });

  it('template send: 40003 without touser or for an unknown user, 40037 without template_id, 47001 non-JSON', async () => {
    const url = `/cgi-bin/message/template/send?access_token=${await token(OA)}`;
    const user = await newUser(OA);
    expect((await api.post(url, { template_id: 'T' })).errcode).toBe(40003);
    expect((await api.post(url, { touser: 'o_stranger', template_id: 'T' })).errcode).toBe(40003);
    expect((await api.post(url, { touser: user })).errcode).toBe(40037);
    expect((await api.postRaw(url, '{nope')).errcode).toBe(47001);
    expect(
      (await api.post(`/cgi-bin/message/template/send`, { touser: user, template_id: 'T' })).errcode,
    ).toBe(41001);
  });
});

describe('POST /cgi-bin/qrcode/create', () => {
  const create = async (body: unknown, app: EmulatorAppConfig = OA) =>
    api.post(`/cgi-bin/qrcode/create?access_token=${await token(app)}`, body);

  it('creates temporary codes (default 60 s) and permanent ones (no expire_seconds), listed by /_emulator/qrcodes', async () => {
    const temp = await create({ action_name: 'QR_SCENE', action_info: { scene: { scene_id: 123 } } }, OA_QR);
    expect(Object.keys(temp).sort()).toEqual(['expire_seconds', 'ticket', 'url']);
    expect(temp.expire_seconds).toBe(60);
    expect(temp.url).toMatch(/^http:\/\/weixin\.qq\.com\/q\/[A-Za-z0-9]{22}$/);
    const str = await create(
      {
        expire_seconds: 2_592_000,
        action_name: 'QR_STR_SCENE',
        action_info: { scene: { scene_str: 'invite:42' } },
      },
      OA_QR,
    );
    expect(str.expire_seconds).toBe(2_592_000);
    const limit = await create(
      { action_name: 'QR_LIMIT_SCENE', action_info: { scene: { scene_id: 100_000 } } },
      OA_QR,
    );
    expect(Object.keys(limit).sort()).toEqual(['ticket', 'url']);
    const limitStr = await create(
      { action_name: 'QR_LIMIT_STR_SCENE', action_info: { scene: { scene_str: 'x'.repeat(64) } } },
      OA_QR,
    );
    expect(limitStr.ticket).toBeTypeOf('string');
    const listed = (await api.get(`/_emulator/qrcodes?appId=${OA_QR.appId}`)).qrcodes;
    expect(listed.map((q: { ticket: string }) => q.ticket)).toEqual([
      temp.ticket,
      str.ticket,
      limit.ticket,
      limitStr.ticket,
    ]);
    expect(listed[0]).toMatchObject({ actionName: 'QR_SCENE', sceneId: 123, expireSeconds: 60 });
    expect(listed[1]).toMatchObject({ actionName: 'QR_STR_SCENE', sceneStr: 'invite:42' });
    expect(listed[2].expiresAt).toBeUndefined();
  });

  it('validates action_name, scenes and expire_seconds', async () => {
    const scene = (s: unknown, action = 'QR_SCENE') =>
      create({ action_name: action, action_info: { scene: s } });
    expect(
      (await create({ action_name: 'QR_FOREVER', action_info: { scene: { scene_id: 1 } } })).errcode,
    ).toBe(40097);
    expect((await create({ action_name: 'QR_SCENE', scene: { scene_id: 1 } })).errcode).toBe(40053);
    expect((await scene({ scene_id: 0 })).errcode).toBe(40053);
    expect((await scene({ scene_id: 2 ** 32 })).errcode).toBe(40053);
    expect((await scene({ scene_id: 2 ** 32 - 1 })).ticket).toBeTypeOf('string');
    expect((await scene({ scene_id: '12' })).errcode).toBe(40053);
    expect((await scene({ scene_str: 'abc' })).errcode).toBe(40053);
    expect((await scene({ scene_id: 100_001 }, 'QR_LIMIT_SCENE')).errcode).toBe(40053);
    expect((await scene({ scene_str: '' }, 'QR_LIMIT_STR_SCENE')).errcode).toBe(40053);
    expect((await scene({ scene_str: 'x'.repeat(65) }, 'QR_STR_SCENE')).errcode).toBe(40053);
    const tooLong = {
      expire_seconds: 2_592_001,
      action_name: 'QR_SCENE',
      action_info: { scene: { scene_id: 1 } },
    };
    expect((await create(tooLong)).errcode).toBe(40097);
    expect((await create({ ...tooLong, expire_seconds: '60' })).errcode).toBe(47001);
    expect(
      (await create({ action_name: 'QR_SCENE', action_info: { scene: { scene_id: 1 } } }, MP)).errcode,
    ).toBe(48001);
  });
});

describe('web OAuth (网页授权)', () => {
  const authorize = (body: Record<string, unknown>) =>
    api.post('/_emulator/oauth/authorize', { appId: OA.appId, ...body });
  const exchange = (code: string, secret = OA.secret) =>
    api.get(
      `/sns/oauth2/access_token?appid=${OA.appId}&secret=${secret}&code=${code}&grant_type=authorization_code`,
    );

  it('runs authorize → code → token → userinfo → refresh → auth, each code once', async () => {
    const { code, state } = await authorize({
      scope: 'snsapi_userinfo',
      openId: 'o_web_alice',
      state: 'xyz',
      nickname: 'Alice',
    });
    expect(code).toMatch(/^[A-Za-z0-9]{32}$/);
    expect(state).toBe('xyz');
    const grant = await exchange(code);
    expect(Object.keys(grant).sort()).toEqual([
      'access_token',
      'expires_in',
      'openid',
      'refresh_token',
      'scope',
      'unionid',
    ]);
    expect(grant).toMatchObject({ expires_in: 7200, openid: 'o_web_alice', scope: 'snsapi_userinfo' });
    expect((await exchange(code)).errcode).toBe(40163);

    const info = await api.get(
      `/sns/userinfo?access_token=${grant.access_token}&openid=o_web_alice&lang=zh_CN`,
    );
    expect(info).toEqual({
      openid: 'o_web_alice',
      nickname: 'Alice',
      sex: 0,
      province: '',
      city: '',
      country: '',
      headimgurl: expect.stringMatching(/^https:\/\//),
      privilege: [],
      unionid: grant.unionid,
    });

    const refreshed = await api.get(
      `/sns/oauth2/refresh_token?appid=${OA.appId}&grant_type=refresh_token&refresh_token=${grant.refresh_token}`,
    );
    expect(Object.keys(refreshed).sort()).toEqual([
      'access_token',
      'expires_in',
      'openid',
      'refresh_token',
      'scope',
    ]);
    expect(refreshed.access_token).not.toBe(grant.access_token);
    expect(refreshed.refresh_token).toBe(grant.refresh_token);

    expect(await api.get(`/sns/auth?access_token=${refreshed.access_token}&openid=o_web_alice`)).toEqual({
      errcode: 0,
      errmsg: 'ok',
    });
    expect((await api.get(`/sns/auth?access_token=${refreshed.access_token}&openid=o_other`)).errcode).toBe(
      40003,
    );
    expect((await api.get(`/sns/auth?access_token=nope&openid=o_web_alice`)).errcode).toBe(40003);
    expect((await api.get('/sns/auth?openid=o_web_alice')).errcode).toBe(41001);
  });

  it('snsapi_base gives an openid only: no unionid, userinfo 48001; snapshot users are flagged', async () => {
    const { code } = await authorize({ scope: 'snsapi_base' });
    const grant = await exchange(code);
    expect(grant.scope).toBe('snsapi_base');
    expect(grant.unionid).toBeUndefined();
    expect(grant.is_snapshotuser).toBeUndefined();
    expect(
      (await api.get(`/sns/userinfo?access_token=${grant.access_token}&openid=${grant.openid}`)).errcode,
    ).toBe(48001);
    const snap = await exchange((await authorize({ scope: 'snsapi_base', snapshotUser: true })).code);
    expect(snap.is_snapshotuser).toBe(1);
  });

  it('refuses wrong codes, secrets and tokens', async () => {
    const { code } = await authorize({ scope: 'snsapi_userinfo' });
    expect((await exchange(code, 'wrong-secret')).errcode).toBe(40125);
    expect((await exchange('not-a-code')).errcode).toBe(40029);
    expect(
      (
        await api.get(
          `/sns/oauth2/access_token?appid=${OA.appId}&secret=${OA.secret}&grant_type=authorization_code`,
        )
      ).errcode,
    ).toBe(41008);
    expect(
      (await api.get(`/sns/oauth2/access_token?appid=${OA.appId}&secret=${OA.secret}&code=${code}`)).errcode,
    ).toBe(40002);
    const grant = await exchange(code);
    // An app access_token is not a user token.
    const appToken = await token(OA);
    expect((await api.get(`/sns/userinfo?access_token=${appToken}&openid=${grant.openid}`)).errcode).toBe(
      40001,
    );
    expect((await api.get(`/sns/userinfo?access_token=${grant.access_token}&openid=o_else`)).errcode).toBe(
      40003,
    );
    expect((await api.get(`/sns/userinfo?access_token=${grant.access_token}`)).errcode).toBe(41009);
    expect((await api.get(`/sns/userinfo?openid=${grant.openid}`)).errcode).toBe(41001);
    const refresh = (q: string) => api.get(`/sns/oauth2/refresh_token?${q}`);
    expect((await refresh(`appid=${OA.appId}&grant_type=refresh_token&refresh_token=nope`)).errcode).toBe(
      40030,
    );
    expect((await refresh(`appid=${OA.appId}&grant_type=refresh_token`)).errcode).toBe(41003);
    expect((await refresh(`appid=${OA.appId}&grant_type=client_credential&refresh_token=x`)).errcode).toBe(
      40002,
    );
    expect((await refresh(`grant_type=refresh_token&refresh_token=${grant.refresh_token}`)).errcode).toBe(
      41002,
    );
    expect(
      (await refresh(`appid=${MP.appId}&grant_type=refresh_token&refresh_token=${grant.refresh_token}`))
        .errcode,
    ).toBe(40030);
    const control = await api.call('POST', '/_emulator/oauth/authorize', {
      appId: MP.appId,
      scope: 'snsapi_base',
    });
    expect(control.status).toBe(400);
  });
});

describe('lifetimes (emulated clock)', () => {
  // This test moves the clock by weeks: it runs on an emulator of its own, so that no other test
  // meets expired tokens, codes or media, whatever the order.
  let shared: RunningEmulator;
  beforeAll(async () => {
    shared = emulator;
    emulator = await startEmulator({ config: { apps: [OA], merchants: [] } });
  });
  afterAll(async () => {
    await emulator.close();
    emulator = shared;
  });

  it('expires OAuth codes after 5 minutes, user tokens after 2 hours, refresh tokens after 30 days, media after 3 days', async () => {
    const image = Uint8Array.from([1, 2, 3]);
    const up = await upload(OA, 'image', image, 'a.jpg', 'image/jpeg');
    const old = (await api.post('/_emulator/oauth/authorize', { appId: OA.appId, scope: 'snsapi_userinfo' }))
      .code;
    const fresh = (
      await api.post('/_emulator/oauth/authorize', { appId: OA.appId, scope: 'snsapi_userinfo' })
    ).code;
    const exchange = (code: string) =>
      api.get(
        `/sns/oauth2/access_token?appid=${OA.appId}&secret=${OA.secret}&code=${code}&grant_type=authorization_code`,
      );
    const grant = await exchange(fresh);
    await api.advance(300);
    expect((await exchange(old)).errcode).toBe(40029);

    await api.advance(7200);
    expect(
      (await api.get(`/sns/userinfo?access_token=${grant.access_token}&openid=${grant.openid}`)).errcode,
    ).toBe(42001);
    expect(
      (await api.get(`/sns/auth?access_token=${grant.access_token}&openid=${grant.openid}`)).errcode,
    ).toBe(42001);
    const refreshPath = `/sns/oauth2/refresh_token?appid=${OA.appId}&grant_type=refresh_token&refresh_token=${grant.refresh_token}`;
    const renewed = await api.get(refreshPath);
    expect(
      (await api.get(`/sns/auth?access_token=${renewed.access_token}&openid=${grant.openid}`)).errcode,
    ).toBe(0);

    await api.advance(3 * 86_400);
    expect(
      (await api.get(`/cgi-bin/media/get?access_token=${await token(OA, true)}&media_id=${up.media_id}`))
        .errcode,
    ).toBe(40007);
    await api.advance(30 * 86_400);
    expect((await api.get(refreshPath)).errcode).toBe(42002);
  });
});
