/**
 * The emulator's content security: deterministic rules (configured, or replaced through the
 * control plane), the media checks it remembers, and pushing a verdict now instead of waiting.
 * Sources (official) for the answers and the push: api_msgseccheck.html and
 * api_mediacheckasync.html under
 * https://developers.weixin.qq.com/miniprogram/dev/server/API/sec-center/sec-check/
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type EmulatorAppConfig,
  type RunningEmulator,
  resolveConfig,
  startEmulator,
} from '../../src/emulator/index.js';
import { ConfigError } from '../../src/errors.js';
import { client, tokenGetter, userMaker } from './fixture.js';

const APP: EmulatorAppConfig = {
  appId: 'wxc5000000000emurule',
  secret: 'cs-emu-secret',
  kind: 'mini-program',
  token: 'CsEmuToken',
  dataFormat: 'json',
};
/** Without a callbackUrl: checks are answered, nothing is pushed. */
const QUIET: EmulatorAppConfig = { appId: 'wxc500000000000quiet', secret: 'cs-quiet', kind: 'mini-program' };

let emulator: RunningEmulator;
let receiver: Server;
const pushes: Record<string, unknown>[] = [];
const api = client(() => emulator.url);
const token = tokenGetter(api, new Map());
const newUser = userMaker(api);

beforeAll(async () => {
  receiver = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      pushes.push(JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, unknown>);
      res.end('success');
    });
  });
  await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
  const { port } = receiver.address() as AddressInfo;
  emulator = await startEmulator({
    config: {
      apps: [{ ...APP, callbackUrl: `http://127.0.0.1:${port}/mp` }, QUIET],
      merchants: [],
      options: { clock: 'manual' },
    },
  });
});

afterAll(async () => {
  await emulator.close();
  receiver.closeAllConnections();
  await new Promise((resolve) => receiver.close(resolve));
});

const mediaCheck = async (app: EmulatorAppConfig, mediaUrl: string, openid?: string) =>
  api.post(`/wxa/media_check_async?access_token=${await token(app)}`, {
    media_url: mediaUrl,
    media_type: 2,
    version: 2,
    scene: 1,
    openid: openid ?? (await newUser(app)),
  });

describe('content-security rules', () => {
  it('are configurable: options.contentSecurity is validated, naming the field', () => {
    const config = (contentSecurity: unknown) => ({
      apps: [],
      merchants: [],
      options: { contentSecurity } as never,
    });
    const resolved = resolveConfig(
      config({
        textRules: [
          { contains: '广告', label: 10001 },
          { contains: 'x', suggest: 'review', label: 21000 },
        ],
      }),
    );
    expect(resolved.options.contentSecurity.textRules).toEqual([
      { contains: '广告', suggest: 'risky', label: 10001 },
      { contains: 'x', suggest: 'review', label: 21000 },
    ]);
    // Media rules keep their default when only text rules are given.
    expect(resolved.options.contentSecurity.mediaRules[0]).toEqual({
      contains: 'risky',
      suggest: 'risky',
      label: 20002,
    });
    for (const [bad, message] of [
      [{ textRules: 'x' }, /textRules: must be an array/],
      [{ textRules: [{ contains: '', label: 1 }] }, /textRules\[0\]\.contains/],
      [{ mediaRules: [{ contains: 'a', label: 100 }] }, /mediaRules\[0\]\.label/],
      [
        { mediaRules: [{ contains: 'a', label: 20002, suggest: 'pass' }] },
        /suggest: must be "risky" or "review"/,
      ],
      [{ textRules: [{ contains: 'a', label: 20002, word: 'x' }] }, /unknown key "word"/],
      [{ words: [] }, /unknown key "words"/],
    ] as const) {
      expect(() => resolveConfig(config(bad))).toThrow(ConfigError);
      expect(() => resolveConfig(config(bad))).toThrow(message);
    }
  });

  it('are replaced at run time by POST /_emulator/mini-program/content-security (first match wins)', async () => {
    const check = async (content: string) =>
      api.post(`/wxa/msg_sec_check?access_token=${await token(APP)}`, {
        content,
        version: 2,
        scene: 2,
        openid: await newUser(APP),
      });
    const before = await api.get('/_emulator/mini-program/content-security');
    try {
      const set = await api.call('POST', '/_emulator/mini-program/content-security', {
        textRules: [
          { contains: '私聊', label: 10001 },
          { contains: '可疑', suggest: 'review', label: 20012 },
        ],
      });
      expect(set.status).toBe(200);
      expect((await check('请私聊我')).result).toEqual({ suggest: 'risky', label: 10001 });
      expect((await check('有点可疑也私聊')).result).toEqual({ suggest: 'risky', label: 10001 });
      expect((await check('有点可疑')).result).toEqual({ suggest: 'review', label: 20012 });
      // The default words are gone with the rules that held them.
      expect((await check('违规')).result).toEqual({ suggest: 'pass', label: 100 });
      const refused = await api.call('POST', '/_emulator/mini-program/content-security', {
        textRules: [{ contains: 'x' }],
      });
      expect(refused.status).toBe(400);
      expect(refused.body.error).toMatch(/textRules\[0\]\.label/);
    } finally {
      await api.call('POST', '/_emulator/mini-program/content-security', before);
    }
    expect((await check('违规')).result).toEqual({ suggest: 'risky', label: 20006 });
  });

  it('msg_sec_check: empty body 44002, unknown openid 40003, bad scene 40129', async () => {
    const path = `/wxa/msg_sec_check?access_token=${await token(APP)}`;
    expect((await api.postRaw(path, '')).errcode).toBe(44002);
    expect((await api.post(path, { content: 'x', version: 2, scene: 2, openid: 'o_nobody' })).errcode).toBe(
      40003,
    );
    const openid = await newUser(APP);
    expect((await api.post(path, { content: 'x', version: 2, scene: 5, openid })).errcode).toBe(40129);
  });
});

describe('media checks', () => {
  it('pushes a verdict now on POST /_emulator/mini-program/media-checks/push, in the documented shape', async () => {
    const openid = await newUser(APP);
    const { trace_id } = await mediaCheck(APP, 'https://cdn.example.com/%E8%BF%9D%E8%A7%84.png', openid);
    // Pending: on the manual clock nothing goes out until it is pushed (or the clock moves 5 s).
    const listed = await api.get(`/_emulator/mini-program/media-checks?appId=${APP.appId}`);
    expect(listed.checks).toContainEqual(
      expect.objectContaining({ traceId: trace_id, status: 'pending', suggest: 'risky', label: 20002 }),
    );
    expect(pushes.some((p) => p.trace_id === trace_id)).toBe(false);
    const { status, body } = await api.call('POST', '/_emulator/mini-program/media-checks/push', {
      traceId: trace_id,
    });
    expect(status).toBe(200);
    expect(body.pushed).toEqual([
      { traceId: trace_id, result: expect.objectContaining({ attempts: 1, status: 200, reply: '' }) },
    ]);
    const push = pushes.find((p) => p.trace_id === trace_id);
    expect(push).toEqual({
      ToUserName: expect.stringMatching(/^gh_/),
      FromUserName: openid,
      CreateTime: expect.any(Number),
      MsgType: 'event',
      Event: 'wxa_media_check',
      appid: APP.appId,
      trace_id,
      version: 2,
      errcode: 0,
      result: { suggest: 'risky', label: 20002 },
      detail: [{ strategy: 'content_model', errcode: 0, suggest: 'risky', label: 20002, prob: 90 }],
    });
    // Pushed once: the scheduled push was cancelled, a second push-now is refused.
    emulator.state.advance(10);
    await emulator.state.clock.settled();
    expect(pushes.filter((p) => p.trace_id === trace_id)).toHaveLength(1);
    const again = await api.call('POST', '/_emulator/mini-program/media-checks/push', { traceId: trace_id });
    expect(again.status).toBe(409);
    const after = await api.get(`/_emulator/mini-program/media-checks?appId=${APP.appId}`);
    expect(after.checks).toContainEqual(
      expect.objectContaining({ traceId: trace_id, status: 'pushed', push: { attempts: 1, status: 200 } }),
    );
  });

  it('pushes every pending verdict of an app when no traceId is given', async () => {
    const a = await mediaCheck(APP, 'https://cdn.example.com/a.png');
    const b = await mediaCheck(APP, 'https://cdn.example.com/b-risky.png');
    const { body } = await api.call('POST', '/_emulator/mini-program/media-checks/push', {
      appId: APP.appId,
    });
    const pushed = (body.pushed as Array<{ traceId: string }>).map((p) => p.traceId);
    expect(pushed).toEqual(expect.arrayContaining([a.trace_id, b.trace_id]));
    expect(pushes.find((p) => p.trace_id === a.trace_id)?.result).toEqual({ suggest: 'pass', label: 100 });
    expect(pushes.find((p) => p.trace_id === b.trace_id)?.result).toEqual({ suggest: 'risky', label: 20002 });
  });

  it('answers 404 for an unknown trace_id and 409 for an app without callbackUrl', async () => {
    const unknown = await api.call('POST', '/_emulator/mini-program/media-checks/push', { traceId: 'nope' });
    expect(unknown.status).toBe(404);
    const quiet = await mediaCheck(QUIET, 'https://cdn.example.com/a.png');
    expect(quiet.errcode).toBe(0);
    const refused = await api.call('POST', '/_emulator/mini-program/media-checks/push', {
      traceId: quiet.trace_id,
    });
    expect(refused.status).toBe(409);
    expect(refused.body.error).toMatch(/no callbackUrl/);
    const bad = await api.call('POST', '/_emulator/mini-program/media-checks/push', { trace: 'x' });
    expect(bad.status).toBe(400);
  });

  it('media_check_async: 40004 for a media_type other than 1 or 2, 43104 for another app’s user', async () => {
    const path = `/wxa/media_check_async?access_token=${await token(APP)}`;
    const openid = await newUser(APP);
    const body = { media_url: 'https://cdn.example.com/a.png', version: 2, scene: 1, openid };
    expect((await api.post(path, { ...body, media_type: 0 })).errcode).toBe(40004);
    expect((await api.post(path, { ...body, media_type: '2' })).errcode).toBe(40004);
    const theirs = await newUser(QUIET);
    expect((await api.post(path, { ...body, media_type: 2, openid: theirs })).errcode).toBe(43104);
  });
});
