import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { checkSessionKeySignature } from '../../src/crypto/index.js';
import { type EmulatorAppConfig, type RunningEmulator, startEmulator } from '../../src/emulator/index.js';
import { client, MP, MP_PLAIN, OA, tokenPath } from './wechat-fixture.js';

let emulator: RunningEmulator;
let receiver: Server;
const api = client(() => emulator.url);
const tokens = new Map<string, string>();

/** An Official Account with a callbackUrl (a local server answering `success`). */
const OA_PUSH: EmulatorAppConfig = {
  appId: 'wx5555555555555555',
  secret: 'oa-push-secret',
  kind: 'official-account',
  token: 'pushtoken',
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
      apps: [OA, MP, MP_PLAIN, { ...OA_PUSH, callbackUrl: `http://127.0.0.1:${port}/wechat` }],
      merchants: [],
    },
  });
});
afterAll(async () => {
  await emulator.close();
  receiver.closeAllConnections();
  await new Promise((resolve) => receiver.close(resolve));
});

// Tokens are cached within a test only: a test that moves the clock past 7200 s must not leave
// the next one (in whatever order) an expired token.
beforeEach(() => tokens.clear());

/** A fresh access_token of the app (cached; tests that move the clock far get a new one). */
async function token(app: EmulatorAppConfig, fresh = false): Promise<string> {
  let t = tokens.get(app.appId);
  if (!t || fresh) {
    t = (await api.get(tokenPath(app))).access_token as string;
    tokens.set(app.appId, t);
  }
  return t;
}

const login = (app: EmulatorAppConfig, openId?: string) =>
  api.post('/_emulator/mini-program/login', { appId: app.appId, ...(openId ? { openId } : {}) });
const code2Session = (app: EmulatorAppConfig, code: string, secret = app.secret) =>
  api.get(
    `/sns/jscode2session?appid=${app.appId}&secret=${secret}&js_code=${code}&grant_type=authorization_code`,
  );
const newUser = async (app: EmulatorAppConfig, openId?: string): Promise<string> =>
  (await api.post('/_emulator/users', { appId: app.appId, ...(openId ? { openId } : {}) })).openId;

describe('Mini Program login', () => {
  it('gives a code that code2Session exchanges once for openid, session_key and unionid (no errcode)', async () => {
    const { code } = await login(MP, 'o_user_alice');
    expect(code).toMatch(/^[A-Za-z0-9]{32}$/);
    const session = await code2Session(MP, code);
    expect(Object.keys(session).sort()).toEqual(['openid', 'session_key', 'unionid']);
    expect(session.openid).toBe('o_user_alice');
    expect(Buffer.from(session.session_key, 'base64')).toHaveLength(16);
    const reused = await code2Session(MP, code);
    expect(reused.errcode).toBe(40163);
  });

  it('keeps a stable openid per (app, user) and a new session_key on every login', async () => {
    const a = await code2Session(MP, (await login(MP)).code);
    const b = await code2Session(MP, (await login(MP)).code);
    expect(a.openid).toBe(b.openid);
    expect(a.openid).toMatch(/^o[A-Za-z0-9_]{27}$/);
    expect(a.unionid).toBe(b.unionid);
    expect(a.session_key).not.toBe(b.session_key);
    const other = await code2Session(MP, (await login(MP, 'o_user_bob')).code);
    expect(other.openid).toBe('o_user_bob');
    expect(other.unionid).not.toBe(a.unionid);
  });

  it('returns no unionid when the app does not have it enabled', async () => {
    const session = await code2Session(MP_PLAIN, (await login(MP_PLAIN)).code);
    expect(session.openid).toBeTruthy();
    expect(session.unionid).toBeUndefined();
  });

  it('40029 for unknown codes, codes of another app and codes older than 5 minutes', async () => {
    expect((await code2Session(MP, 'unknowncode')).errcode).toBe(40029);
    const foreign = (await login(MP_PLAIN)).code;
    expect((await code2Session(MP, foreign)).errcode).toBe(40029);
    const fresh = (await login(MP)).code;
    const old = (await login(MP)).code;
    await api.advance(299);
    expect((await code2Session(MP, fresh)).openid).toBeTruthy();
    await api.advance(1);
    expect((await code2Session(MP, old)).errcode).toBe(40029);
  });

  it('checks appid / secret / grant_type / js_code like cgi-bin/token', async () => {
    const { code } = await login(MP);
    expect((await code2Session(MP, code, 'wrong')).errcode).toBe(40125);
    const q = (s: string) => api.get(`/sns/jscode2session?${s}`);
    expect((await q(`secret=${MP.secret}&js_code=${code}&grant_type=authorization_code`)).errcode).toBe(
      41002,
    );
    expect((await q(`appid=${MP.appId}&js_code=${code}&grant_type=authorization_code`)).errcode).toBe(41004);
    expect(
      (await q(`appid=wx0000000000000000&secret=x&js_code=${code}&grant_type=authorization_code`)).errcode,
    ).toBe(40013);
    expect(
      (await q(`appid=${MP.appId}&secret=${MP.secret}&js_code=${code}&grant_type=client_credential`)).errcode,
    ).toBe(40002);
    expect((await q(`appid=${MP.appId}&secret=${MP.secret}&grant_type=authorization_code`)).errcode).toBe(
      41008,
    );
    // None of these consumed the code.
    expect((await code2Session(MP, code)).openid).toBeTruthy();
  });

  it('refuses a login for an Official Account or an unknown app (control plane 400/404)', async () => {
    expect((await api.call('POST', '/_emulator/mini-program/login', { appId: OA.appId })).status).toBe(400);
    expect(
      (await api.call('POST', '/_emulator/mini-program/login', { appId: 'wx0000000000000000' })).status,
    ).toBe(404);
  });

  it('wxa/checksession answers 0 for the current session_key and 87009 for a rotated one', async () => {
    const first = await code2Session(MP, (await login(MP, 'o_user_carol')).code);
    const t = await token(MP, true);
    const check = (openid: string, key: string, method = 'hmac_sha256') =>
      api.get(
        `/wxa/checksession?access_token=${t}&openid=${openid}&signature=${checkSessionKeySignature(key)}&sig_method=${method}`,
      );
    expect(await check(first.openid, first.session_key)).toEqual({ errcode: 0, errmsg: 'ok' });
    await login(MP, 'o_user_carol'); // wx.login again rotates the session_key
    expect((await check(first.openid, first.session_key)).errcode).toBe(87009);
    expect((await check('o_nobody', first.session_key)).errcode).toBe(87009);
    expect((await check(first.openid, first.session_key, 'md5')).errcode).toBe(87009);
    expect((await api.get(`/wxa/checksession?openid=${first.openid}&sig_method=hmac_sha256`)).errcode).toBe(
      41001,
    );
  });
});

describe('getuserphonenumber', () => {
  const phoneApi = async (body: unknown) =>
    api.post(`/wxa/business/getuserphonenumber?access_token=${await token(MP)}`, body);

  it('exchanges a phone code once for phone_info with a watermark', async () => {
    const { code } = await api.post('/_emulator/mini-program/phone-code', {
      appId: MP.appId,
      phoneNumber: '13912345678',
    });
    const now = (await api.get('/_emulator/clock')).now;
    const body = await phoneApi({ code });
    expect(body).toMatchObject({
      errcode: 0,
      errmsg: 'ok',
      phone_info: {
        phoneNumber: '13912345678',
        purePhoneNumber: '13912345678',
        countryCode: '86',
        watermark: { appid: MP.appId },
      },
    });
    expect(Math.abs(body.phone_info.watermark.timestamp - now)).toBeLessThanOrEqual(1);
    expect((await phoneApi({ code })).errcode).toBe(40029);
  });

  it('40029 for unknown, foreign or expired codes; 47001 for a non-JSON body', async () => {
    expect((await phoneApi({ code: 'nope' })).errcode).toBe(40029);
    const foreign = (await api.post('/_emulator/mini-program/phone-code', { appId: MP_PLAIN.appId })).code;
    expect((await phoneApi({ code: foreign })).errcode).toBe(40029);
    const old = (await api.post('/_emulator/mini-program/phone-code', { appId: MP.appId })).code;
    await api.advance(301);
    expect((await phoneApi({ code: old })).errcode).toBe(40029);
    const form = await api.postForm(
      `/wxa/business/getuserphonenumber?access_token=${await token(MP)}`,
      'code=x',
    );
    expect(form.errcode).toBe(47001);
    expect(
      (
        await api.call('POST', '/_emulator/mini-program/phone-code', {
          appId: MP.appId,
          phoneNumber: '+86 1',
        })
      ).status,
    ).toBe(400);
  });
});

describe('messages', () => {
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

  it('custom send and subscribe send are recorded, newest last', async () => {
    const oaUser = await newUser(OA);
    const custom = { touser: oaUser, msgtype: 'text', text: { content: 'hello' } };
    const sentCustom = await api.post(`/cgi-bin/message/custom/send?access_token=${await token(OA)}`, custom);
    expect(sentCustom).toEqual({ errcode: 0, errmsg: 'ok' });
    const customUrl = `/cgi-bin/message/custom/send?access_token=${await token(OA)}`;
    expect((await api.post(customUrl, { ...custom, msgtype: 'fax' })).errcode).toBe(40008);
    expect((await api.post(customUrl, { ...custom, touser: 'o_x' })).errcode).toBe(40003);

    const { openid } = await code2Session(MP, (await login(MP, 'o_sub_user')).code);
    const subscribe = {
      touser: openid,
      template_id: 'SUB-1',
      page: 'index',
      data: { thing1: { value: 'x' } },
    };
    const subUrl = `/cgi-bin/message/subscribe/send?access_token=${await token(MP)}`;
    expect(await api.post(subUrl, subscribe)).toMatchObject({ errcode: 0, errmsg: 'ok' });
    expect((await api.post(subUrl, { ...subscribe, template_id: undefined })).errcode).toBe(40037);
    // subscribe/send is a Mini Program API here.
    expect(
      (await api.post(`/cgi-bin/message/subscribe/send?access_token=${await token(OA)}`, subscribe)).errcode,
    ).toBe(48001);

    const all = (await api.get('/_emulator/messages')).messages;
    expect(all.slice(-2).map((m: { kind: string }) => m.kind)).toEqual(['custom', 'subscribe']);
    const mine = (await api.get(`/_emulator/messages?appId=${MP.appId}`)).messages;
    expect(mine.every((m: { appId: string }) => m.appId === MP.appId)).toBe(true);
    expect(mine.at(-1).body).toEqual(subscribe);
  });
});

describe('user info, menu, tickets, msg_sec_check', () => {
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

  it('getticket: the same ticket per type while valid, a new one after 7200 s', async () => {
    const get = async (type: string) =>
      api.get(`/cgi-bin/ticket/getticket?access_token=${await token(OA)}&type=${type}`);
    const jsapi = await get('jsapi');
    expect(jsapi).toMatchObject({ errcode: 0, errmsg: 'ok', expires_in: 7200 });
    expect(jsapi.ticket.length).toBeGreaterThan(60);
    expect((await get('jsapi')).ticket).toBe(jsapi.ticket);
    const card = await get('wx_card');
    expect(card.ticket).not.toBe(jsapi.ticket);
    expect((await get('other')).errcode).toBe(40097);
    await api.advance(7200);
    await token(OA, true);
    const next = await get('jsapi');
    expect(next.ticket).not.toBe(jsapi.ticket);
    expect(next.expires_in).toBe(7200);
  });

  it('msg_sec_check v2: risky for configured words, pass otherwise, in the documented shape', async () => {
    const { openid } = await code2Session(MP, (await login(MP, 'o_sec_user')).code);
    const check = async (content: string, extra: Record<string, unknown> = {}) =>
      api.post(`/wxa/msg_sec_check?access_token=${await token(MP, true)}`, {
        content,
        version: 2,
        scene: 2,
        openid,
        ...extra,
      });
    const pass = await check('hello world');
    expect(pass).toMatchObject({ errcode: 0, errmsg: 'ok', result: { suggest: 'pass', label: 100 } });
    expect(typeof pass.trace_id).toBe('string');
    expect(pass.detail[0]).toMatchObject({ strategy: 'content_model', errcode: 0, suggest: 'pass' });
    for (const content of ['这是违规内容', 'Some FORBIDDEN text']) {
      const risky = await check(content);
      expect(risky.errcode).toBe(0);
      expect(risky.result.suggest).toBe('risky');
      expect(risky.result.label).not.toBe(100);
      expect(risky.detail.some((d: { keyword?: string }) => d.keyword)).toBe(true);
    }
    expect((await check('x', { scene: 9 })).errcode).toBe(40129);
    expect((await check('x', { openid: 'o_stranger' })).errcode).toBe(40003);
    const v1 = (content: string) =>
      api.post(`/wxa/msg_sec_check?access_token=${tokens.get(MP.appId)}`, { content });
    expect(await v1('fine')).toEqual({ errcode: 0, errmsg: 'ok' });
    expect((await v1('违规')).errcode).toBe(87014);
    expect(
      (await api.postForm(`/wxa/msg_sec_check?access_token=${tokens.get(MP.appId)}`, 'content=x')).errcode,
    ).toBe(47001);
  });

  it('wrong method on a known path is 405; unknown cgi-bin path is 40066', async () => {
    expect(
      (await api.call('GET', `/cgi-bin/message/custom/send?access_token=${await token(OA)}`)).status,
    ).toBe(405);
    expect((await api.call('POST', tokenPath(OA))).status).toBe(405);
    expect((await api.get(`/cgi-bin/nothing/here?access_token=${await token(OA)}`)).errcode).toBe(40066);
  });
});
