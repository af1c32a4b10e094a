import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { jsSdkSignature } from '../../src/crypto/index.js';
import { type RunningEmulator, startEmulator } from '../../src/emulator/index.js';
import { WeChatApiError } from '../../src/errors.js';
import { MiniProgram } from '../../src/mini-program/index.js';
import { OfficialAccount } from '../../src/official-account/index.js';
import { Work } from '../../src/work/index.js';

const OA = { appId: 'wx0a0b0c0d0e0f1011', secret: 'oa-secret-0001', kind: 'official-account' as const };
const MP = { appId: 'wx1a1b1c1d1e1f2021', secret: 'mp-secret-0001', kind: 'mini-program' as const };
const CORP = { corpId: 'ww2a2b2c2d2e2f3031', agents: [{ agentId: 1000002, secret: 'agent-secret-0001' }] };

let emulator: RunningEmulator;
let oa: OfficialAccount;
let mp: MiniProgram;
let work: Work;
const control = async <T = Record<string, unknown>>(path: string, body: unknown) =>
  (await (await fetch(`${emulator.url}${path}`, { method: 'POST', body: JSON.stringify(body) })).json()) as T;
const sent = async () =>
  (
    (await (await fetch(`${emulator.url}/_emulator/messages`)).json()) as {
      messages: Array<{ kind: string; body: Record<string, unknown> }>;
    }
  ).messages;

beforeAll(async () => {
  emulator = await startEmulator({ config: { apps: [OA, MP], merchants: [], corps: [CORP] } });
  oa = new OfficialAccount({ appId: OA.appId, secret: OA.secret, baseUrl: emulator.url });
  mp = new MiniProgram({ appId: MP.appId, secret: MP.secret, baseUrl: emulator.url });
  work = new Work({
    corpId: CORP.corpId,
    corpSecret: 'agent-secret-0001',
    agentId: 1000002,
    baseUrl: emulator.url,
  });
});
afterAll(() => emulator.close());

describe('OfficialAccount', () => {
  it('reads user info and the follower list', async () => {
    const { openId } = await control<{ openId: string }>('/_emulator/users', { appId: OA.appId });
    expect(await oa.users.get({ openid: openId })).toMatchObject({ subscribe: 1, openid: openId });
    const list = await oa.users.list();
    expect(list.data?.openid).toContain(openId);
    await expect(oa.users.get({ openid: 'oNotAFollower00000000000000' })).rejects.toMatchObject({
      errcode: 40003,
    });
  });

  it('creates, reads and deletes the menu with the documented body', async () => {
    await oa.menus.create({
      button: [
        { type: 'click', name: '今日歌曲', key: 'V1001_TODAY_MUSIC' },
        { name: '菜单', sub_button: [{ type: 'view', name: '搜索', url: 'https://www.soso.com/' }] },
      ],
    });
    const menu = await oa.menus.get();
    expect(menu.menu.button[0]).toMatchObject({ type: 'click', name: '今日歌曲', key: 'V1001_TODAY_MUSIC' });
    await oa.menus.delete();
    await expect(oa.menus.get()).rejects.toMatchObject({ errcode: 46003 });
  });

  it('sends template and customer-service messages as the docs shape them', async () => {
    const { openId } = await control<{ openId: string }>('/_emulator/users', { appId: OA.appId });
    const answer = await oa.templates.send({
      touser: openId,
      template_id: 'tmpl-1',
      data: { thing1: { value: '已发货' } },
    });
    expect(answer.msgid).toEqual(expect.any(Number));
    await oa.customMessages.send({ touser: openId, msgtype: 'text', text: { content: '你好' } });
    const kinds = (await sent()).map((m) => m.kind);
    expect(kinds).toEqual(expect.arrayContaining(['template', 'custom']));
  });

  it('builds wx.config with the shared jsapi_ticket, fetched once', async () => {
    const url = 'https://example.com/page?x=1#frag';
    const [a, b] = await Promise.all([oa.jssdk.config({ url }), oa.jssdk.config({ url })]);
    const ticket = await oa.getJsapiTicket();
    expect(a.signature).toBe(
      jsSdkSignature({ jsapiTicket: ticket, nonceStr: a.nonceStr, timestamp: a.timestamp, url }),
    );
    expect(b.appId).toBe(OA.appId);
  });

  it('keeps the wx_card ticket apart from the jsapi ticket', async () => {
    const [card, card2, jsapi] = await Promise.all([
      oa.getCardTicket(),
      oa.getCardTicket(),
      oa.getJsapiTicket(),
    ]);
    expect(card).toBe(card2);
    expect(card).not.toBe(jsapi);
  });

  it('exposes a typed request() escape hatch', async () => {
    const answer = await oa.request<{ ticket: string }>('GET', '/cgi-bin/ticket/getticket', {
      query: { type: 'wx_card' },
    });
    expect(answer.ticket).toEqual(expect.any(String));
  });

  it('rejects unknown options and a missing secret when built', () => {
    expect(() => new OfficialAccount({ appId: OA.appId, secret: '', baseUrl: emulator.url })).toThrow(
      /secret is required/,
    );
    expect(() => new OfficialAccount({ appId: OA.appId, secret: 's', colour: 'red' } as never)).toThrow(
      /unknown option "colour"/,
    );
  });
});

describe('MiniProgram', () => {
  it('logs a user in: code → openid + session_key, code single-use, session key checked', async () => {
    const { code } = await control<{ code: string }>('/_emulator/mini-program/login', { appId: MP.appId });
    const session = await mp.auth.code2Session({ js_code: code });
    expect(session.openid).toMatch(/^o/);
    expect(Buffer.from(session.session_key, 'base64')).toHaveLength(16);
    const reused = await mp.auth.code2Session({ js_code: code }).catch((e: unknown) => e);
    expect(reused).toBeInstanceOf(WeChatApiError);
    expect((reused as WeChatApiError).code).toBe('INVALID_CODE');
    expect(await mp.auth.checkSession({ openid: session.openid, session_key: session.session_key })).toBe(
      true,
    );
    expect(
      await mp.auth.checkSession({
        openid: session.openid,
        session_key: Buffer.alloc(16).toString('base64'),
      }),
    ).toBe(false);
  });

  it('gets a phone number by code', async () => {
    const { code } = await control<{ code: string }>('/_emulator/mini-program/phone-code', {
      appId: MP.appId,
      phoneNumber: '13912345678',
    });
    expect(await mp.phoneNumbers.get({ code })).toMatchObject({
      purePhoneNumber: '13912345678',
      watermark: { appid: MP.appId },
    });
  });

  it('sends a subscribe message and checks content', async () => {
    const { code } = await control<{ code: string }>('/_emulator/mini-program/login', { appId: MP.appId });
    const { openid } = await mp.auth.code2Session({ js_code: code });
    await mp.subscribeMessages.send({
      touser: openid,
      template_id: 'sub-1',
      data: { thing1: { value: 'x' } },
    });
    expect((await sent()).some((m) => m.kind === 'subscribe' && m.body.touser === openid)).toBe(true);
    expect((await mp.security.msgSecCheck({ content: '你好', openid, scene: 2 })).result.suggest).toBe(
      'pass',
    );
    expect((await mp.security.msgSecCheck({ content: '违规内容', openid, scene: 2 })).result.suggest).toBe(
      'risky',
    );
  });
});

describe('Work', () => {
  it('sends an app message as its agent and reads a member', async () => {
    const result = await work.messages.send({
      touser: 'zhangsan',
      msgtype: 'text',
      text: { content: '你好' },
    });
    expect(result).toMatchObject({ errcode: 0, invaliduser: '' });
    expect(await work.users.get({ userid: 'zhangsan' })).toMatchObject({ userid: 'zhangsan' });
    await expect(work.users.get({ userid: 'ghost' })).rejects.toMatchObject({ errcode: 60111 });
  });

  it('recovers when the corp tokens are revoked (40014 → refresh once)', async () => {
    await work.getAccessToken();
    await control('/_emulator/wecom/tokens/revoke', { corpId: CORP.corpId });
    expect(await work.users.get({ userid: 'zhangsan' })).toMatchObject({ userid: 'zhangsan' });
  });
});

describe('OfficialAccount media, QR codes and OAuth', () => {
  it('uploads media as multipart and downloads the same bytes', async () => {
    const data = new Uint8Array([0xff, 0xd8, 0xff, 0xe0, ...Buffer.from('jpeg-ish bytes 你好')]);
    const uploaded = await oa.media.upload({
      type: 'image',
      media: { data, filename: 'photo.jpg', contentType: 'image/jpeg' },
    });
    expect(uploaded).toMatchObject({ type: 'image', media_id: expect.any(String) });
    const downloaded = await oa.media.get({ media_id: uploaded.media_id });
    expect(Buffer.from(downloaded as Uint8Array).equals(Buffer.from(data))).toBe(true);
    await expect(oa.media.get({ media_id: 'no-such-media' })).rejects.toMatchObject({ errcode: 40007 });
  });

  it('creates temporary and permanent QR codes with the documented action names', async () => {
    const temp = await oa.qrcodes.createTemporary({ scene_id: 123, expire_seconds: 600 });
    expect(temp).toMatchObject({ ticket: expect.any(String), expire_seconds: 600 });
    const perm = await oa.qrcodes.createPermanent({ scene_str: 'channel-a' });
    expect(perm.ticket).toEqual(expect.any(String));
    expect(oa.qrcodes.imageUrl({ ticket: 'a+b/c' })).toBe(
      'https://mp.weixin.qq.com/cgi-bin/showqrcode?ticket=a%2Bb%2Fc',
    );
    const tickets = (await (await fetch(`${emulator.url}/_emulator/qrcodes?appId=${OA.appId}`)).json()) as {
      qrcodes?: Array<Record<string, unknown>>;
    };
    expect(JSON.stringify(tickets)).toContain('QR_LIMIT_STR_SCENE');
    await expect(oa.qrcodes.createPermanent({ scene_id: 100_001 })).rejects.toMatchObject({ errcode: 40053 });
  });

  it('runs the web OAuth flow: authorize URL, code, user token, userinfo, refresh', async () => {
    const url = new URL(
      oa.auth.authorizeUrl({
        redirect_uri: 'https://example.com/cb?x=1',
        scope: 'snsapi_userinfo',
        state: 'st',
      }),
    );
    expect(url.origin + url.pathname).toBe('https://open.weixin.qq.com/connect/oauth2/authorize');
    expect(url.searchParams.get('redirect_uri')).toBe('https://example.com/cb?x=1');
    expect(url.hash).toBe('#wechat_redirect');
    const { code } = await control<{ code: string }>('/_emulator/oauth/authorize', {
      appId: OA.appId,
      scope: 'snsapi_userinfo',
    });
    const token = await oa.auth.exchangeCode({ code });
    expect(token).toMatchObject({ openid: expect.any(String), scope: 'snsapi_userinfo' });
    const info = await oa.auth.userInfo({ access_token: token.access_token, openid: token.openid });
    expect(info.openid).toBe(token.openid);
    const refreshed = await oa.auth.refresh({ refresh_token: token.refresh_token });
    expect(refreshed.openid).toBe(token.openid);
    await expect(oa.auth.exchangeCode({ code })).rejects.toMatchObject({ code: 'INVALID_CODE' });
  });

  it('batch-reads user info', async () => {
    const a = await control<{ openId: string }>('/_emulator/users', { appId: OA.appId });
    const b = await control<{ openId: string }>('/_emulator/users', { appId: OA.appId });
    const answer = await oa.users.batchGet({ user_list: [{ openid: a.openId }, { openid: b.openId }] });
    expect(answer.user_info_list.map((u) => u.openid)).toEqual([a.openId, b.openId]);
  });
});

describe('MiniProgram wxacode and media check', () => {
  it('returns the wxacode image bytes and refuses a bad scene', async () => {
    const png = await mp.wxacodes.getUnlimited({
      scene: 'id=42',
      page: 'pages/item/item',
      check_path: false,
    });
    expect(Buffer.from(png.subarray(0, 8)).toString('hex')).toBe('89504e470d0a1a0a');
    await expect(mp.wxacodes.getUnlimited({ scene: 'x'.repeat(33) })).rejects.toMatchObject({
      errcode: 40169,
    });
  });

  it('queues an async media check', async () => {
    const { code } = await control<{ code: string }>('/_emulator/mini-program/login', { appId: MP.appId });
    const { openid } = await mp.auth.code2Session({ js_code: code });
    const answer = await mp.security.mediaCheckAsync({
      media_url: 'https://example.com/a.png',
      media_type: 2,
      openid,
      scene: 1,
    });
    expect(answer.trace_id).toEqual(expect.any(String));
  });
});
