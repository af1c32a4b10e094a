import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { type EmulatorAppConfig, type RunningEmulator, startEmulator } from '../../src/emulator/index.js';
import {
  client,
  MP,
  miniProgramLogin,
  OA,
  tokenGetter,
  tokenPath,
  uploadMedia,
  userMaker,
} from './fixture.js';

// src/emulator/platform, what Official Accounts and Mini Programs share: temporary media,
// customer-service messages, JS-SDK tickets and the api.weixin.qq.com routes. Access tokens are
// in platform-tokens.test.ts, pushes to a callbackUrl in platform-push.test.ts.

let emulator: RunningEmulator;
const api = client(() => emulator.url);
const tokens = new Map<string, string>();
/** A fresh access_token of the app (cached within a test; `fresh` asks for a new one). */
const token = tokenGetter(api, tokens);
const newUser = userMaker(api);
const { login, code2Session } = miniProgramLogin(api);

beforeAll(async () => {
  emulator = await startEmulator({ config: { apps: [OA, MP], merchants: [] } });
});

afterAll(async () => {
  await emulator.close();
});

// Tokens are cached within a test only: a test that moves the clock past 7200 s must not leave
// the next one (in whatever order) an expired token.
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

describe('messages', () => {
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

describe('GET /cgi-bin/ticket/getticket', () => {
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
});

describe('routing on api.weixin.qq.com', () => {
  it('wrong method on a known path is 405; unknown cgi-bin path is 40066', async () => {
    expect(
      (await api.call('GET', `/cgi-bin/message/custom/send?access_token=${await token(OA)}`)).status,
    ).toBe(405);
    expect((await api.call('POST', tokenPath(OA))).status).toBe(405);
    expect((await api.get(`/cgi-bin/nothing/here?access_token=${await token(OA)}`)).errcode).toBe(40066);
  });
});
