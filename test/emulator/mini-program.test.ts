import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { inflateSync } from 'node:zlib';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { checkSessionKeySignature } from '../../src/crypto/index.js';
import { type EmulatorAppConfig, type RunningEmulator, startEmulator } from '../../src/emulator/index.js';
import { client, MP, MP_PLAIN, miniProgramLogin, OA, tokenGetter, userMaker } from './fixture.js';

// src/emulator/mini-program: login and session checks, phone numbers, content security, wxacodes.

let emulator: RunningEmulator;
let receiver: Server;
const api = client(() => emulator.url);
const tokens = new Map<string, string>();
/** A fresh access_token of the app (cached within a test; `fresh` asks for a new one). */
const token = tokenGetter(api, tokens);
const newUser = userMaker(api);
const { login, code2Session } = miniProgramLogin(api);
/** JSON bodies the receiver got (Mini Program pushes in JSON format). */
const pushes: Record<string, unknown>[] = [];

/** A Mini Program that receives pushes as JSON (plain mode). */
const MP_PUSH: EmulatorAppConfig = {
  appId: 'wx6666666666666666',
  secret: 'mp-push-secret',
  kind: 'mini-program',
  token: 'pushtoken',
  dataFormat: 'json',
};

/** An app one test has to itself, so that the pages it configures are its own. */
const MP_PAGES: EmulatorAppConfig = {
  appId: 'wx8888888888888888',
  secret: 'mp-pages-secret',
  kind: 'mini-program',
};

beforeAll(async () => {
  receiver = createServer((req, res) => {
    let text = '';
    req.setEncoding('utf8');
    req.on('data', (chunk: string) => {
      text += chunk;
    });
    req.on('end', () => {
      try {
        pushes.push(JSON.parse(text) as Record<string, unknown>);
      } catch {
        // not JSON: ignored
      }
      res.end('success');
    });
  });
  await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
  const { port } = receiver.address() as AddressInfo;
  emulator = await startEmulator({
    config: {
      apps: [OA, MP, MP_PLAIN, MP_PAGES, { ...MP_PUSH, callbackUrl: `http://127.0.0.1:${port}/mp` }],
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

describe('POST /wxa/msg_sec_check', () => {
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
});

const PNG_SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];

describe('POST /wxa/getwxacodeunlimit', () => {
  const wxacode = async (body: unknown, app: EmulatorAppConfig = MP) =>
    fetch(`${emulator.url}/wxa/getwxacodeunlimit?access_token=${await token(app)}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: typeof body === 'string' ? body : JSON.stringify(body),
    });
  const errcode = async (body: unknown, app?: EmulatorAppConfig) =>
    ((await (await wxacode(body, app)).json()) as { errcode?: number }).errcode;

  it('answers a valid PNG image that records what was asked', async () => {
    const res = await wxacode({
      scene: 'id=42&from=share',
      page: 'pages/item/item',
      env_version: 'trial',
      width: 300,
    });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('image/png');
    const png = Buffer.from(await res.arrayBuffer());
    expect([...png.subarray(0, 8)]).toEqual(PNG_SIGNATURE);
    // IHDR, then the tEXt chunk, then IDAT that inflates to height × (1 + width) bytes.
    expect(png.subarray(12, 16).toString('latin1')).toBe('IHDR');
    const width = png.readUInt32BE(16);
    const textLength = png.readUInt32BE(33);
    const text = png.subarray(41, 41 + textLength).toString('latin1');
    expect(text.split('\0')[0]).toBe('weixin-kit-emulator');
    expect(JSON.parse(text.split('\0')[1] as string)).toEqual({
      scene: 'id=42&from=share',
      page: 'pages/item/item',
      env_version: 'trial',
      width: 300,
    });
    const idatAt = 41 + textLength + 4;
    expect(png.subarray(idatAt + 4, idatAt + 8).toString('latin1')).toBe('IDAT');
    const idat = png.subarray(idatAt + 8, idatAt + 8 + png.readUInt32BE(idatAt));
    expect(inflateSync(idat)).toHaveLength(width * (width + 1));
    expect(png.subarray(-8, -4).toString('latin1')).toBe('IEND');
  });

  it('answers errors as JSON: scene 40169, page 41030, types 47001, env_version 40097, kind 48001', async () => {
    expect(await errcode({ scene: 'x'.repeat(33) })).toBe(40169);
    expect(await errcode({ scene: '' })).toBe(40169);
    expect(await errcode({ page: 'pages/index/index' })).toBe(40169);
    expect(await errcode({ scene: '中文' })).toBe(40169);
    expect(await errcode({ scene: 'a%20b' })).toBe(40169);
    expect(await errcode('scene=abc')).toBe(40169);
    expect(await errcode({ scene: 'a', page: '/pages/index/index' })).toBe(41030);
    expect(await errcode({ scene: 'a', page: 'pages/index/index?x=1' })).toBe(41030);
    expect(await errcode({ scene: 'a', check_path: 'false' })).toBe(47001);
    expect(await errcode({ scene: 'a', width: '430' })).toBe(47001);
    expect(await errcode({ scene: 'a', env_version: 'beta' })).toBe(40097);
    expect(await errcode({ scene: 'a' }, OA)).toBe(48001);
    const res = await wxacode({ scene: 'x'.repeat(32) });
    expect(res.headers.get('content-type')).toBe('image/png');
  });

  it('checks page against released pages when check_path is not false', async () => {
    await api.post('/_emulator/mini-program/pages', { appId: MP_PAGES.appId, pages: ['pages/index/index'] });
    expect(
      (await wxacode({ scene: 'a', page: 'pages/index/index' }, MP_PAGES)).headers.get('content-type'),
    ).toBe('image/png');
    expect(await errcode({ scene: 'a', page: 'pages/draft/draft' }, MP_PAGES)).toBe(41030);
    const unchecked = await wxacode({ scene: 'a', page: 'pages/draft/draft', check_path: false }, MP_PAGES);
    expect(unchecked.headers.get('content-type')).toBe('image/png');
  });
});

describe('POST /wxa/media_check_async', () => {
  const check = async (body: unknown, app: EmulatorAppConfig = MP_PUSH) =>
    api.post(`/wxa/media_check_async?access_token=${await token(app)}`, body);
  const waitForPush = async (traceId: string) => {
    // The verdict is pushed 50 ms of emulated time later (5 s ÷ retryTimeScale, at least 50 ms):
    // move the clock there and wait for the push to be answered.
    emulator.state.advance(0.05);
    await emulator.state.clock.settled();
    const push = pushes.find((p) => p.trace_id === traceId);
    if (!push) throw new Error(`no push for ${traceId}`);
    return push;
  };

  it('answers a trace_id, then pushes wxa_media_check with the result', async () => {
    const openid = await newUser(MP_PUSH, 'o_mp_media');
    const body = { media_url: 'https://example.com/a.png', media_type: 2, version: 2, scene: 1, openid };
    const res = await check(body);
    expect(res).toEqual({
      errcode: 0,
      errmsg: 'ok',
      trace_id: expect.stringMatching(/^[0-9a-f]{8}-[0-9a-f]{8}-[0-9a-f]{8}$/),
    });
    const push = await waitForPush(res.trace_id);
    expect(push).toMatchObject({
      MsgType: 'event',
      Event: 'wxa_media_check',
      FromUserName: openid,
      appid: MP_PUSH.appId,
      version: 2,
      result: { suggest: 'pass', label: 100 },
      detail: [{ strategy: 'content_model', errcode: 0, suggest: 'pass', label: 100 }],
    });
    const risky = await check({ ...body, media_url: 'https://example.com/risky.png' });
    expect((await waitForPush(risky.trace_id)).result).toEqual({ suggest: 'risky', label: 20002 });
  });

  it('validates the request and the account kind', async () => {
    const openid = await newUser(MP_PUSH);
    const body = { media_url: 'https://example.com/a.mp3', media_type: 1, version: 2, scene: 2, openid };
    // mediaCheckAsync errcodes (official): 40004 「media type错误（目前支持多媒体类型 1 音频；2 图片）」.
    expect((await check({ ...body, media_type: 3 })).errcode).toBe(40004);
    expect((await check({ ...body, media_url: 'not a url' })).errcode).toBe(47001);
    expect((await check({ ...body, version: 3 })).errcode).toBe(47001);
    expect((await check({ ...body, scene: 5 })).errcode).toBe(40129);
    expect((await check({ ...body, openid: 'o_unknown' })).errcode).toBe(40003);
    expect(
      (await check({ mediaUrl: body.media_url, media_type: 1, version: 2, scene: 2, openid })).errcode,
    ).toBe(47001);
    expect(
      (await api.postRaw(`/wxa/media_check_async?access_token=${await token(MP_PUSH)}`, '')).errcode,
    ).toBe(44002);
    expect((await check(body, OA)).errcode).toBe(48001);
    // Without a callbackUrl nothing is pushed, the request still succeeds.
    const plainUser = await newUser(MP_PLAIN);
    expect((await check({ ...body, openid: plainUser }, MP_PLAIN)).errcode).toBe(0);
  });
});
