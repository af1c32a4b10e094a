import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { inflateSync } from 'node:zlib';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { type EmulatorAppConfig, type RunningEmulator, startEmulator } from '../../src/emulator/index.js';
import { client, MP, MP_PLAIN, OA, tokenPath } from './wechat-fixture.js';

let emulator: RunningEmulator;
let receiver: Server;
const api = client(() => emulator.url);
const tokens = new Map<string, string>();
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

/** Apps one test each has to itself, so that what it lists or configures is its own. */
const OA_QR: EmulatorAppConfig = {
  appId: 'wx7777777777777777',
  secret: 'oa-qr-secret',
  kind: 'official-account',
};
const MP_PAGES: EmulatorAppConfig = {
  appId: 'wx8888888888888888',
  secret: 'mp-pages-secret',
  kind: 'mini-program',
};
const APPS = [OA, MP, MP_PLAIN, OA_QR, MP_PAGES];

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
      apps: [...APPS, { ...MP_PUSH, callbackUrl: `http://127.0.0.1:${port}/mp` }],
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

async function token(app: EmulatorAppConfig, fresh = false): Promise<string> {
  let t = tokens.get(app.appId);
  if (!t || fresh) {
    t = (await api.get(tokenPath(app))).access_token as string;
    tokens.set(app.appId, t);
  }
  return t;
}

const newUser = async (app: EmulatorAppConfig, openId?: string): Promise<string> =>
  (await api.post('/_emulator/users', { appId: app.appId, ...(openId ? { openId } : {}) })).openId;

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

/** Uploads `bytes` as the multipart field `field` (default `media`). */
async function upload(
  app: EmulatorAppConfig,
  type: string,
  bytes: Uint8Array,
  filename: string,
  contentType: string,
  field = 'media',
) {
  const form = new FormData();
  form.append(field, new Blob([new Uint8Array(bytes)], { type: contentType }), filename);
  const res = await fetch(
    `${emulator.url}/cgi-bin/media/upload?access_token=${await token(app)}&type=${type}`,
    {
      method: 'POST',
      body: form,
    },
  );
  // biome-ignore lint/suspicious/noExplicitAny: inspected field by field
  return (await res.json()) as any;
}

describe('temporary media: POST /cgi-bin/media/upload, GET /cgi-bin/media/get', () => {
  const image = Uint8Array.from({ length: 3000 }, (_, i) => (i * 31) % 256);

  it('stores a multipart upload and gives the same bytes back with content-type and disposition', async () => {
    const up = await upload(OA, 'image', image, 'photo.png', 'image/png');
    expect(Object.keys(up).sort()).toEqual(['created_at', 'media_id', 'type']);
    expect(up.type).toBe('image');
    expect(up.media_id).toMatch(/^[A-Za-z0-9_-]{40,}$/);
    expect(Math.abs(up.created_at - emulator.state.now() / 1000)).toBeLessThan(5);
    const res = await fetch(
      `${emulator.url}/cgi-bin/media/get?access_token=${await token(OA)}&media_id=${up.media_id}`,
    );
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('image/png');
    expect(res.headers.get('content-disposition')).toBe(`attachment; filename="${up.media_id}.png"`);
    expect(new Uint8Array(await res.arrayBuffer())).toEqual(image);
  });

  it('answers a video with a video_url that serves the bytes', async () => {
    const video = Uint8Array.from([0, 0, 0, 24, 102, 116, 121, 112]);
    const up = await upload(OA, 'video', video, 'clip.mp4', 'video/mp4');
    const got = await api.get(`/cgi-bin/media/get?access_token=${await token(OA)}&media_id=${up.media_id}`);
    expect(got.video_url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/_emulator\/media\//);
    const res = await fetch(got.video_url);
    expect(new Uint8Array(await res.arrayBuffer())).toEqual(video);
  });

  it('refuses bad uploads: type 40004, no media part 41005, empty 44001, format 40005, size 40006', async () => {
    expect((await upload(OA, 'picture', image, 'a.png', 'image/png')).errcode).toBe(40004);
    expect((await upload(OA, 'image', image, 'a.png', 'image/png', 'file')).errcode).toBe(41005);
    const notMultipart = await api.postRaw(
      `/cgi-bin/media/upload?access_token=${await token(OA)}&type=image`,
      '{}',
    );
    expect(notMultipart.errcode).toBe(41005);
    expect((await upload(OA, 'image', new Uint8Array(0), 'a.png', 'image/png')).errcode).toBe(44001);
    expect((await upload(OA, 'image', image, 'a.txt', 'text/plain')).errcode).toBe(40005);
    expect((await upload(OA, 'voice', image, 'a.png', 'image/png')).errcode).toBe(40005);
    expect((await upload(OA, 'thumb', new Uint8Array(64 * 1024 + 1), 'a.jpg', 'image/jpeg')).errcode).toBe(
      40006,
    );
    expect((await upload(OA, 'thumb', new Uint8Array(64 * 1024), 't.jpg', 'image/jpeg')).type).toBe('thumb');
    // A Mini Program uploads images only.
    expect((await upload(MP, 'voice', image, 'a.mp3', 'audio/mpeg')).errcode).toBe(40004);
    expect((await upload(MP, 'image', image, 'a.jpg', 'image/jpeg')).type).toBe('image');
  });

  it('answers media/get errors as JSON: missing 41006, unknown or foreign 40007, token 41001', async () => {
    expect((await api.get(`/cgi-bin/media/get?access_token=${await token(OA)}`)).errcode).toBe(41006);
    const unknown = await api.call('GET', `/cgi-bin/media/get?access_token=${await token(OA)}&media_id=nope`);
    expect(unknown.body).toMatchObject({ errcode: 40007 });
    expect(unknown.body.errmsg).toMatch(/^invalid media_id/);
    const mine = await upload(OA, 'image', image, 'a.gif', 'image/gif');
    expect(
      (await api.get(`/cgi-bin/media/get?access_token=${await token(MP)}&media_id=${mine.media_id}`)).errcode,
    ).toBe(40007);
    expect((await api.get(`/cgi-bin/media/get?media_id=${mine.media_id}`)).errcode).toBe(41001);
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
    expect((await check({ ...body, media_type: 3 })).errcode).toBe(47001);
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
