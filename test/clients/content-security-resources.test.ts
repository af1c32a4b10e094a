/**
 * `mp.security.msgSecCheck` and `mp.security.mediaCheckAsync` against the emulator: the wire
 * body, the typed answers, the documented limits refused locally, WeChat's errcodes thrown.
 *
 * Sources (official): msgSecCheck (content ≤ 2500 字, version 2, scene 1–4, openid; result
 * {suggest: risky|pass|review, label}, detail[], trace_id; errcodes 40003, 40129, 43104, 44002,
 * 47001, 61010…)
 * https://developers.weixin.qq.com/miniprogram/dev/server/API/sec-center/sec-check/api_msgseccheck.html
 * mediaCheckAsync (media_url, media_type 1 音频 / 2 图片, version 2, scene, openid → trace_id;
 * errcodes 40004 invalid media type, 43104, 61010, 87020…)
 * https://developers.weixin.qq.com/miniprogram/dev/server/API/sec-center/sec-check/api_mediacheckasync.html
 */
import { afterAll, beforeAll, describe, expect, expectTypeOf, it } from 'vitest';
import { type RunningEmulator, startEmulator } from '../../src/emulator/index.js';
import { ArgumentError, WeChatApiError } from '../../src/errors.js';
import {
  type ContentSecurityLabel,
  MiniProgram,
  MSG_SEC_CHECK_MAX_CHARS,
  type MsgSecCheckParams,
} from '../../src/mini-program/index.js';

const MP = { appId: 'wxc5000000resources', secret: 'cs-res-secret', kind: 'mini-program' as const };
const OTHER = { appId: 'wxc500000000000other', secret: 'cs-other-secret', kind: 'mini-program' as const };

let emulator: RunningEmulator;
let mp: MiniProgram;
/** What the emulator received, per path (its own request log). */
const bodies: Array<{ path: string; body: unknown }> = [];

const control = async <T = Record<string, unknown>>(path: string, body?: unknown) =>
  (await (
    await fetch(`${emulator.url}${path}`, {
      method: body === undefined ? 'GET' : 'POST',
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    })
  ).json()) as T;
const calls = async (path: string) =>
  (await control<{ calls: Record<string, number> }>('/_emulator/stats')).calls[path] ?? 0;
const newUser = async (appId = MP.appId) =>
  (await control<{ openId: string }>('/_emulator/users', { appId })).openId;

beforeAll(async () => {
  emulator = await startEmulator({
    config: {
      apps: [MP, OTHER],
      merchants: [],
      options: { contentSecurity: { textRules: [{ contains: '违规', label: 20006 }] } },
    },
  });
  // The client's fetch records the bodies it sends, then goes to the emulator.
  mp = new MiniProgram({
    appId: MP.appId,
    secret: MP.secret,
    baseUrl: emulator.url,
    fetch: async (input, init) => {
      const url = new URL(String(input instanceof Request ? input.url : input));
      if (typeof init?.body === 'string') bodies.push({ path: url.pathname, body: JSON.parse(init.body) });
      return fetch(input, init);
    },
  });
});
afterAll(() => emulator.close());

describe('security.msgSecCheck', () => {
  it('sends version 2 with the wire names and answers the documented shape', async () => {
    const openid = await newUser();
    const answer = await mp.security.msgSecCheck({
      content: '今天天气不错',
      openid,
      scene: 2,
      title: '标题',
    });
    expectTypeOf(answer.result.suggest).toEqualTypeOf<'pass' | 'review' | 'risky'>();
    expectTypeOf(answer.result.label).toEqualTypeOf<ContentSecurityLabel>();
    expect(answer).toMatchObject({
      errcode: 0,
      errmsg: 'ok',
      trace_id: expect.stringMatching(/^[0-9a-f]{8}-[0-9a-f]{8}-[0-9a-f]{8}$/),
      result: { suggest: 'pass', label: 100 },
    });
    for (const item of answer.detail ?? []) {
      for (const field of Object.keys(item)) {
        expect(['strategy', 'errcode', 'suggest', 'label', 'keyword', 'prob']).toContain(field);
      }
    }
    expect(bodies.filter((b) => b.path === '/wxa/msg_sec_check').at(-1)?.body).toEqual({
      content: '今天天气不错',
      version: 2,
      scene: 2,
      openid,
      title: '标题',
    });
  });

  it('answers risky with the label of the matching rule (judge by result, errcode is 0)', async () => {
    const openid = await newUser();
    const answer = await mp.security.msgSecCheck({ content: '含违规词', openid, scene: 4 });
    expect(answer.errcode).toBe(0);
    expect(answer.result).toEqual({ suggest: 'risky', label: 20006 });
    expect(answer.detail).toContainEqual(expect.objectContaining({ strategy: 'keyword', keyword: '违规' }));
  });

  it('refuses locally what WeChat documents as invalid, without a request', async () => {
    const openid = await newUser();
    const before = await calls('/wxa/msg_sec_check');
    const bad: Array<[Partial<MsgSecCheckParams> & Record<string, unknown>, RegExp]> = [
      [{ content: 'x', openid, scene: 5 as never }, /scene must be 1/],
      [{ content: 'x', openid, scene: 0 as never }, /scene must be 1/],
      [{ content: '', openid, scene: 1 }, /content must be a non-empty string/],
      [{ content: 'x', openid: '', scene: 1 }, /openid/],
      [{ content: 'x', openid, scene: 1, version: 1 as never }, /version must be 2/],
      [{ content: 'x', openid, scene: 1, title: 7 as never }, /title must be a string/],
      [{ content: '字'.repeat(MSG_SEC_CHECK_MAX_CHARS + 1), openid, scene: 1 }, /2501 characters/],
    ];
    for (const [params, message] of bad) {
      const call = mp.security.msgSecCheck(params as MsgSecCheckParams);
      await expect(call).rejects.toBeInstanceOf(ArgumentError);
      await expect(call).rejects.toThrow(message);
    }
    expect(await calls('/wxa/msg_sec_check')).toBe(before);
  });

  it('counts the 2500-character limit in characters: 2500 emoji (5000 UTF-16 units) pass', async () => {
    const openid = await newUser();
    const emoji = '😀'.repeat(MSG_SEC_CHECK_MAX_CHARS);
    expect(emoji.length).toBe(5000);
    expect((await mp.security.msgSecCheck({ content: emoji, openid, scene: 1 })).result.suggest).toBe('pass');
  });

  it("throws WeChat's errcodes: 40003 unknown openid, 43104 another app's user", async () => {
    const stranger = mp.security.msgSecCheck({ content: 'x', openid: 'o_nobody', scene: 2 });
    await expect(stranger).rejects.toBeInstanceOf(WeChatApiError);
    await expect(stranger).rejects.toMatchObject({ errcode: 40003 });
    const theirs = await newUser(OTHER.appId);
    await expect(mp.security.msgSecCheck({ content: 'x', openid: theirs, scene: 2 })).rejects.toMatchObject({
      errcode: 43104,
    });
  });
});

describe('security.mediaCheckAsync', () => {
  it('sends version 2 with the wire names and answers the trace_id', async () => {
    const openid = await newUser();
    const answer = await mp.security.mediaCheckAsync({
      media_url: 'https://cdn.example.com/a.png',
      media_type: 2,
      openid,
      scene: 1,
    });
    expect(answer).toEqual({
      errcode: 0,
      errmsg: 'ok',
      trace_id: expect.stringMatching(/^[0-9a-f]{8}-[0-9a-f]{8}-[0-9a-f]{8}$/),
    });
    expect(bodies.filter((b) => b.path === '/wxa/media_check_async').at(-1)?.body).toEqual({
      media_url: 'https://cdn.example.com/a.png',
      media_type: 2,
      version: 2,
      scene: 1,
      openid,
    });
  });

  it('refuses a bad media_type, media_url or scene locally, without a request', async () => {
    const openid = await newUser();
    const before = await calls('/wxa/media_check_async');
    const ok = {
      media_url: 'https://cdn.example.com/a.mp3',
      media_type: 1 as const,
      openid,
      scene: 2 as const,
    };
    for (const [params, message] of [
      [{ ...ok, media_type: 3 }, /media_type must be 1 \(audio\) or 2 \(image\)/],
      [{ ...ok, media_url: 'cloud://env/a.png' }, /media_url must be an http\(s\) URL/],
      [{ ...ok, scene: 9 }, /scene must be 1/],
      [{ ...ok, openid: undefined }, /openid/],
    ] as const) {
      await expect(mp.security.mediaCheckAsync(params as never)).rejects.toThrow(message);
    }
    expect(await calls('/wxa/media_check_async')).toBe(before);
  });

  it('throws 43104 for the user of another app', async () => {
    const theirs = await newUser(OTHER.appId);
    await expect(
      mp.security.mediaCheckAsync({
        media_url: 'https://cdn.example.com/a.png',
        media_type: 2,
        openid: theirs,
        scene: 1,
      }),
    ).rejects.toMatchObject({ errcode: 43104 });
  });
});
