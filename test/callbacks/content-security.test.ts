/**
 * Content security end to end: the helper submits media through the Mini Program client to the
 * emulator, the emulator pushes `wxa_media_check` (signed, encrypted, retried) to a real callback
 * server on loopback, and the verdict comes back to the app with the item it submitted.
 *
 * Sources (official): 文本内容安全识别 msgSecCheck
 * https://developers.weixin.qq.com/miniprogram/dev/server/API/sec-center/sec-check/api_msgseccheck.html
 * and 多媒体内容安全识别 mediaCheckAsync, with its 异步检测结果推送 (`wxa_media_check`: appid,
 * trace_id, version, errcode — valid only when 0, -1008 download error —, result, detail)
 * https://developers.weixin.qq.com/miniprogram/dev/server/API/sec-center/sec-check/api_mediacheckasync.html
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, expectTypeOf, it } from 'vitest';
import { toNodeListener } from '../../src/adapters/node.js';
import {
  type ContentSecurity,
  type ContentSecurityOptions,
  type ContentVerdictEvent,
  createContentSecurity,
  type MediaCheckFailedEvent,
  type UnmatchedMediaCheckEvent,
} from '../../src/callbacks/content-security.js';
import {
  type CallbackHandler,
  type ContentSuggest,
  createWeChatCallback,
  type DuplicateEvent,
  type WeChatCallback,
  type WxaMediaCheckDetail,
  type WxaMediaCheckEvent,
  type WxaMediaCheckResult,
  wxaMediaCheckDetails,
} from '../../src/callbacks/index.js';
import type { EmulatorAppConfig } from '../../src/emulator/config.js';
import { type RunningEmulator, startEmulator } from '../../src/emulator/server.js';
import { ArgumentError, ConfigError } from '../../src/errors.js';
import { MiniProgram } from '../../src/mini-program/index.js';

const key43 = (c: string) => `${c}bcdefghijklmnopqrstuvwxyz0123456789ABCDEFG`.slice(0, 43);

/** A Mini Program pushing JSON in safe mode (encrypted), and one pushing plain XML. */
const APPS = {
  json: {
    appId: 'wxc5000000000000json',
    secret: 'cs-json-secret',
    kind: 'mini-program',
    token: 'CsJsonToken',
    encodingAESKey: key43('j'),
    messageMode: 'safe',
    dataFormat: 'json',
  },
  xml: {
    appId: 'wxc50000000000000xml',
    secret: 'cs-xml-secret',
    kind: 'mini-program',
    token: 'CsXmlToken',
    messageMode: 'plain',
    dataFormat: 'xml',
  },
} as const satisfies Record<string, EmulatorAppConfig>;
type AppName = keyof typeof APPS;

interface Item {
  postId: string;
}

let server: Server;
let emulator: RunningEmulator;
/** What the callback server serves per app; each test installs its own. */
const routes = new Map<AppName, CallbackHandler>();
const clients = new Map<AppName, MiniProgram>();

async function control<T = Record<string, unknown>>(path: string, body: unknown): Promise<T> {
  const res = await fetch(`${emulator.url}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  expect(res.status, `${path} answered ${res.status}`).toBe(200);
  return (await res.json()) as T;
}

interface PushOutcome {
  attempts: number;
  status: number;
  reply?: string;
  replyError?: string;
}

/** Pushes the pending verdict of `traceId` now and answers how the push went. */
async function pushNow(traceId: string): Promise<PushOutcome> {
  const { pushed } = await control<{ pushed: Array<{ traceId: string; result: PushOutcome }> }>(
    '/_emulator/mini-program/media-checks/push',
    { traceId },
  );
  expect(pushed.map((p) => p.traceId)).toEqual([traceId]);
  return pushed[0]?.result as PushOutcome;
}

/** Pushes any message to an app as WeChat would (signed, encrypted per its mode). */
async function pushMessage(app: AppName, message: Record<string, unknown>, faults?: object) {
  return control<PushOutcome>('/_emulator/push', {
    appId: APPS[app].appId,
    message,
    ...(faults === undefined ? {} : { faults }),
  });
}

const newUser = async (app: AppName) =>
  (await control<{ openId: string }>('/_emulator/users', { appId: APPS[app].appId })).openId;

/** A fresh callback + helper for one test, mounted on the app's callback URL. */
function world(app: AppName = 'json', extra: Partial<ContentSecurityOptions<Item>> = {}) {
  const risky: ContentVerdictEvent<Item>[] = [];
  const review: ContentVerdictEvent<Item>[] = [];
  const passed: ContentVerdictEvent<Item>[] = [];
  const failed: MediaCheckFailedEvent<Item>[] = [];
  const unmatched: UnmatchedMediaCheckEvent[] = [];
  const duplicates: DuplicateEvent[] = [];
  const errors: unknown[] = [];
  const config = APPS[app];
  const callback: WeChatCallback = createWeChatCallback({
    appId: config.appId,
    token: config.token,
    ...('encodingAESKey' in config ? { encodingAESKey: config.encodingAESKey } : {}),
    mode: config.messageMode,
    format: config.dataFormat,
    hooks: { onDuplicate: (e) => duplicates.push(e), onError: (e) => errors.push(e.error) },
  });
  const security: ContentSecurity<Item> = createContentSecurity<Item>({
    miniProgram: clients.get(app) as MiniProgram,
    onRisky: (e) => {
      risky.push(e);
    },
    onReview: (e) => {
      review.push(e);
    },
    onPass: (e) => {
      passed.push(e);
    },
    onCheckFailed: (e) => {
      failed.push(e);
    },
    onUnmatched: (e) => {
      unmatched.push(e);
    },
    ...extra,
  }).attach(callback);
  routes.set(app, callback);
  return { security, callback, risky, review, passed, failed, unmatched, duplicates, errors };
}

beforeAll(async () => {
  server = createServer((req, res) => {
    const name = new URL(req.url ?? '/', 'http://x').pathname.slice(1) as AppName;
    const handler = routes.get(name);
    if (handler === undefined) {
      res.writeHead(404).end();
      return;
    }
    toNodeListener(handler)(req, res);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  emulator = await startEmulator({
    config: {
      apps: [
        { ...APPS.json, callbackUrl: `${base}/json` },
        { ...APPS.xml, callbackUrl: `${base}/xml` },
      ],
      merchants: [],
      // Manual: nothing is pushed unless a test says so (media-checks/push), never on a timer.
      options: {
        clock: 'manual',
        pushTimeoutMs: 5000,
        contentSecurity: {
          textRules: [
            { contains: '违规', label: 20006 },
            { contains: '加微信', label: 10001 },
            { contains: '时政词', suggest: 'review', label: 20001 },
          ],
          mediaRules: [
            { contains: 'risky', label: 20002 },
            { contains: 'maybe', suggest: 'review', label: 21000 },
          ],
        },
      },
    },
  });
  for (const name of Object.keys(APPS) as AppName[]) {
    const app = APPS[name];
    clients.set(name, new MiniProgram({ appId: app.appId, secret: app.secret, baseUrl: emulator.url }));
  }
});

afterAll(async () => {
  await emulator.close();
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

describe('the wxa_media_check event in the callback pipeline', () => {
  it('routes event.wxa_media_check with its documented fields typed (JSON push, encrypted)', async () => {
    const openid = await newUser('json');
    const seen: WxaMediaCheckEvent[] = [];
    const callback = createWeChatCallback({
      appId: APPS.json.appId,
      token: APPS.json.token,
      encodingAESKey: APPS.json.encodingAESKey,
      mode: 'safe',
      format: 'json',
    }).on('event.wxa_media_check', (msg) => {
      expectTypeOf(msg.trace_id).toEqualTypeOf<string>();
      expectTypeOf(msg.appid).toEqualTypeOf<string>();
      expectTypeOf(msg.result).toEqualTypeOf<WxaMediaCheckResult | undefined>();
      expectTypeOf(msg.detail).toEqualTypeOf<WxaMediaCheckDetail | WxaMediaCheckDetail[] | undefined>();
      expectTypeOf<NonNullable<typeof msg.result>['suggest']>().toMatchTypeOf<string>();
      expectTypeOf<ContentSuggest>().toEqualTypeOf<'pass' | 'review' | 'risky'>();
      seen.push(msg);
    });
    routes.set('json', callback);
    const { trace_id } = await (clients.get('json') as MiniProgram).security.mediaCheckAsync({
      media_url: 'https://cdn.example.com/u/risky.png',
      media_type: 2,
      openid,
      scene: 3,
    });
    expect(await pushNow(trace_id)).toMatchObject({ attempts: 1, status: 200, reply: '' });
    expect(seen).toHaveLength(1);
    // Numbers arrive as their digits (the pipeline never rounds a JSON number).
    expect(seen[0]).toMatchObject({
      MsgType: 'event',
      Event: 'wxa_media_check',
      FromUserName: openid,
      appid: APPS.json.appId,
      trace_id,
      version: '2',
      errcode: '0',
      result: { suggest: 'risky', label: '20002' },
    });
    expect(wxaMediaCheckDetails(seen[0] as WxaMediaCheckEvent)).toEqual([
      { strategy: 'content_model', errcode: '0', suggest: 'risky', label: '20002', prob: '90' },
    ]);
  });

  it('reads one XML <detail> as a list of one, and the helper matches XML pushes too', async () => {
    const openid = await newUser('xml');
    const w = world('xml');
    const { traceId } = await w.security.submitMedia({
      openid,
      scene: 1,
      mediaUrl: 'https://cdn.example.com/avatar-risky.jpg',
      mediaType: 2,
      item: { postId: 'avatar-1' },
    });
    expect(await pushNow(traceId)).toMatchObject({ status: 200, reply: '' });
    expect(w.risky).toEqual([
      expect.objectContaining({ source: 'media', label: 20002, item: { postId: 'avatar-1' }, traceId }),
    ]);
    const single = { detail: { strategy: 'content_model', label: '100' } } as unknown as WxaMediaCheckEvent;
    expect(wxaMediaCheckDetails(single)).toEqual([{ strategy: 'content_model', label: '100' }]);
    expect(wxaMediaCheckDetails({} as WxaMediaCheckEvent)).toEqual([]);
  });

  it('does not take two verdicts for one user pushed in the same second for a retry of each other', async () => {
    // Events are de-duplicated by FromUserName + CreateTime (official guidance); two media checks
    // of one user land in the same second, so the key carries the trace_id as well.
    const openid = await newUser('json');
    const w = world();
    const submit = (postId: string, mediaUrl: string) =>
      w.security.submitMedia({ openid, scene: 3, mediaUrl, mediaType: 2, item: { postId } });
    const a = await submit('p-a', 'https://cdn.example.com/a-risky.png');
    const b = await submit('p-b', 'https://cdn.example.com/b-risky.png');
    await pushNow(a.traceId);
    await pushNow(b.traceId);
    expect(w.duplicates).toEqual([]);
    expect(w.risky.map((e) => e.item)).toEqual([{ postId: 'p-a' }, { postId: 'p-b' }]);
  });
});

describe('createContentSecurity: media', () => {
  it('submit media → the emulator pushes the verdict to the callback server → onRisky gets the item', async () => {
    const openid = await newUser('json');
    const w = world();
    const { traceId } = await w.security.submitMedia({
      openid,
      scene: 3,
      mediaUrl: 'https://cdn.example.com/posts/42/risky.png?sign=abc',
      mediaType: 2,
      item: { postId: 'post-42' },
    });
    expect(traceId).toMatch(/^[0-9a-f]{8}-[0-9a-f]{8}-[0-9a-f]{8}$/);
    expect(w.risky).toEqual([]);
    expect(await pushNow(traceId)).toMatchObject({ attempts: 1, status: 200, reply: '' });
    expect(w.risky).toEqual([
      {
        source: 'media',
        suggest: 'risky',
        label: 20002,
        traceId,
        openid,
        scene: 3,
        mediaType: 2,
        submittedAt: expect.any(Number),
        item: { postId: 'post-42' },
      },
    ]);
    expect([w.passed, w.review, w.unmatched, w.errors]).toEqual([[], [], [], []]);
  });

  it('routes pass to onPass and review to onReview, with their labels', async () => {
    const openid = await newUser('json');
    const w = world();
    const ok = await w.security.submitMedia({
      openid,
      scene: 2,
      mediaUrl: 'https://cdn.example.com/voice.mp3',
      mediaType: 1,
      item: { postId: 'v-1' },
    });
    const unsure = await w.security.submitMedia({
      openid,
      scene: 2,
      mediaUrl: 'https://cdn.example.com/maybe.png',
      mediaType: 2,
      item: { postId: 'i-2' },
    });
    await pushNow(ok.traceId);
    await pushNow(unsure.traceId);
    expect(w.passed).toEqual([
      expect.objectContaining({ suggest: 'pass', label: 100, mediaType: 1, item: { postId: 'v-1' } }),
    ]);
    expect(w.review).toEqual([
      expect.objectContaining({ suggest: 'review', label: 21000, item: { postId: 'i-2' } }),
    ]);
    expect(w.risky).toEqual([]);
  });

  it('reports a verdict whose trace_id was never submitted, and answers WeChat success', async () => {
    const w = world();
    const openid = await newUser('json');
    const result = await pushMessage('json', {
      MsgType: 'event',
      Event: 'wxa_media_check',
      FromUserName: openid,
      appid: APPS.json.appId,
      trace_id: 'aaaaaaaa-bbbbbbbb-cccccccc',
      version: 2,
      errcode: 0,
      result: { suggest: 'risky', label: 20001 },
      detail: [{ strategy: 'content_model', errcode: 0, suggest: 'risky', label: 20001, prob: 90 }],
    });
    expect(result).toMatchObject({ attempts: 1, status: 200, reply: '' });
    expect(w.unmatched).toEqual([
      {
        reason: 'not-pending',
        traceId: 'aaaaaaaa-bbbbbbbb-cccccccc',
        appid: APPS.json.appId,
        openid,
        suggest: 'risky',
        label: '20001',
      },
    ]);
    expect([w.risky, w.errors]).toEqual([[], []]);
  });

  it('reports a verdict that arrives after pendingTtlSeconds as unmatched, without calling onRisky', async () => {
    let now = Date.UTC(2025, 0, 1);
    const openid = await newUser('json');
    const w = world('json', { pendingTtlSeconds: 60, now: () => now });
    const { traceId } = await w.security.submitMedia({
      openid,
      scene: 3,
      mediaUrl: 'https://cdn.example.com/late-risky.png',
      mediaType: 2,
      item: { postId: 'late' },
    });
    now += 60_000;
    expect(await pushNow(traceId)).toMatchObject({ status: 200, reply: '' });
    expect(w.risky).toEqual([]);
    expect(w.unmatched).toEqual([
      expect.objectContaining({ reason: 'not-pending', traceId, suggest: 'risky' }),
    ]);
  });

  it('one 59.999 s before the end of pendingTtlSeconds is still matched', async () => {
    let now = Date.UTC(2025, 0, 1);
    const openid = await newUser('json');
    const w = world('json', { pendingTtlSeconds: 60, now: () => now });
    const { traceId } = await w.security.submitMedia({
      openid,
      scene: 3,
      mediaUrl: 'https://cdn.example.com/risky.png',
      mediaType: 2,
      item: { postId: 'in-time' },
    });
    now += 59_999;
    await pushNow(traceId);
    expect(w.risky.map((e) => e.item)).toEqual([{ postId: 'in-time' }]);
    expect(w.unmatched).toEqual([]);
  });

  it('consumes a pending item once: WeChat resending the push, or handleEvent racing itself', async () => {
    const openid = await newUser('json');
    const w = world();
    const { traceId } = await w.security.submitMedia({
      openid,
      scene: 3,
      mediaUrl: 'https://cdn.example.com/risky.png',
      mediaType: 2,
      item: { postId: 'once' },
    });
    const message = {
      MsgType: 'event',
      Event: 'wxa_media_check',
      FromUserName: openid,
      appid: APPS.json.appId,
      trace_id: traceId,
      version: 2,
      errcode: 0,
      result: { suggest: 'risky', label: 20002 },
    };
    // The identical request twice: the pipeline's dedupe answers the second.
    const sent = (await pushMessage('json', message, { duplicate: true })) as PushOutcome & {
      duplicates: PushOutcome[];
    };
    expect(sent.status).toBe(200);
    expect(sent.duplicates[0]?.status).toBe(200);
    expect(w.duplicates).toHaveLength(1);
    // Past the pipeline (another CreateTime, or a dedupe store outage): the helper still runs once.
    const decoded = { ...message, ToUserName: 'gh_x', CreateTime: '1', version: '2', errcode: '0' };
    const again = await Promise.all(
      [1, 2, 3].map(() => w.security.handleEvent(decoded as unknown as WxaMediaCheckEvent)),
    );
    expect(again.map((o) => o.status)).toEqual(['duplicate', 'duplicate', 'duplicate']);
    expect(w.risky.map((e) => e.item)).toEqual([{ postId: 'once' }]);
    expect(w.unmatched).toEqual([]);
  });

  it('takes a pending item exactly once when several deliveries race', async () => {
    const openid = await newUser('json');
    const w = world();
    const { traceId } = await w.security.submitMedia({
      openid,
      scene: 3,
      mediaUrl: 'https://cdn.example.com/risky.png',
      mediaType: 2,
      item: { postId: 'race' },
    });
    const message = {
      MsgType: 'event',
      Event: 'wxa_media_check',
      appid: APPS.json.appId,
      trace_id: traceId,
      result: { suggest: 'risky', label: '20002' },
    } as unknown as WxaMediaCheckEvent;
    const outcomes = await Promise.all(Array.from({ length: 5 }, () => w.security.handleEvent(message)));
    expect(outcomes.filter((o) => o.status === 'risky')).toHaveLength(1);
    expect(outcomes.filter((o) => o.status === 'duplicate')).toHaveLength(4);
    expect(w.risky).toHaveLength(1);
  });

  it('keeps the item when onRisky throws: the push is answered 500 and WeChat retry runs it again', async () => {
    const openid = await newUser('json');
    let calls = 0;
    const hidden: Item[] = [];
    const w = world('json', {
      onRisky: async (e) => {
        calls += 1;
        if (calls === 1) throw new Error('database briefly down');
        hidden.push(e.item as Item);
      },
    });
    const { traceId } = await w.security.submitMedia({
      openid,
      scene: 3,
      mediaUrl: 'https://cdn.example.com/risky.png',
      mediaType: 2,
      item: { postId: 'retry-me' },
    });
    // WeChat's retry follows a 5xx at once, with the identical request (3 attempts in total).
    expect(await pushNow(traceId)).toMatchObject({ attempts: 2, status: 200, reply: '' });
    expect(calls).toBe(2);
    expect(hidden).toEqual([{ postId: 'retry-me' }]);
    expect(w.errors).toEqual([new Error('database briefly down')]);
    expect(w.unmatched).toEqual([]);
  });

  it('reports a push without a verdict (errcode -1008: media not downloadable) to onCheckFailed', async () => {
    const openid = await newUser('json');
    const w = world();
    const { traceId } = await w.security.submitMedia({
      openid,
      scene: 4,
      mediaUrl: 'https://cdn.example.com/gone.png',
      mediaType: 2,
      item: { postId: 'gone' },
    });
    await pushMessage('json', {
      MsgType: 'event',
      Event: 'wxa_media_check',
      FromUserName: openid,
      appid: APPS.json.appId,
      trace_id: traceId,
      version: 2,
      errcode: -1008,
    });
    expect(w.failed).toEqual([
      {
        item: { postId: 'gone' },
        traceId,
        openid,
        scene: 4,
        mediaType: 2,
        submittedAt: expect.any(Number),
        errcode: -1008,
      },
    ]);
    expect([w.risky, w.passed, w.review, w.unmatched]).toEqual([[], [], [], []]);
  });

  it('reports pushes for another appid or without a trace_id, never matching them', async () => {
    const w = world();
    const base = { MsgType: 'event', Event: 'wxa_media_check', result: { suggest: 'pass', label: '100' } };
    const other = await w.security.handleEvent({
      ...base,
      appid: 'wxsomeoneelse000000',
      trace_id: 'aaaaaaaa-00000000-11111111',
    } as unknown as WxaMediaCheckEvent);
    const none = await w.security.handleEvent(base as unknown as WxaMediaCheckEvent);
    const odd = await w.security.handleEvent({
      ...base,
      trace_id: '../../etc:passwd',
    } as unknown as WxaMediaCheckEvent);
    expect([other.status, none.status, odd.status]).toEqual(['unmatched', 'unmatched', 'unmatched']);
    expect(w.unmatched.map((e) => e.reason)).toEqual(['other-app', 'malformed', 'malformed']);
  });

  it('never stores the media URL (it may be signed), only the item and the check', async () => {
    const openid = await newUser('json');
    const stored: string[] = [];
    const store = new (await import('../../src/credentials/memory-store.js')).MemoryStore();
    const spy = {
      get: store.get.bind(store),
      compareAndDelete: store.compareAndDelete.bind(store),
      acquireLease: store.acquireLease.bind(store),
      set: async (
        key: string,
        token: { value: string; expiresAt: number; refreshAt: number },
        ttl: number,
      ) => {
        stored.push(`${key} ${token.value}`);
        return store.set(key, token, ttl);
      },
    };
    const w = world('json', { store: spy });
    const { traceId } = await w.security.submitMedia({
      openid,
      scene: 3,
      mediaUrl: 'https://cdn.example.com/x.png?Signature=SECRET-SIGNATURE-123',
      mediaType: 2,
      item: { postId: 'p' },
    });
    expect(stored).toHaveLength(1);
    expect(stored[0]).toContain(`weixin-kit:content_check:${APPS.json.appId}:${traceId}`);
    expect(stored.join('\n')).not.toContain('SECRET-SIGNATURE-123');
    expect(stored.join('\n')).not.toContain('cdn.example.com');
  });

  it('refuses items it cannot store and bad options when built', async () => {
    const w = world();
    const openid = await newUser('json');
    const submit = (item: unknown) =>
      w.security.submitMedia({
        openid,
        scene: 3,
        mediaUrl: 'https://cdn.example.com/a.png',
        mediaType: 2,
        item: item as Item,
      });
    await expect(submit(undefined)).rejects.toBeInstanceOf(ArgumentError);
    await expect(submit({ postId: 'x'.repeat(5000) })).rejects.toThrow(/4096 bytes/);
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    await expect(submit(cyclic)).rejects.toBeInstanceOf(ArgumentError);
    const mp = clients.get('json') as MiniProgram;
    const build = (options: object) => () =>
      createContentSecurity({
        miniProgram: mp,
        onRisky: () => {},
        ...options,
      } as ContentSecurityOptions<Item>);
    expect(build({ pendingTtlSeconds: 0 })).toThrow(ConfigError);
    expect(build({ pendingTtlSeconds: 8 * 86_400 })).toThrow(/pendingTtlSeconds/);
    expect(build({ onRisk: () => {} })).toThrow(/"onRisk" is not an option/);
    expect(build({ store: {} })).toThrow(/TokenStore/);
    expect(build({ onRisky: 'hide' })).toThrow(/onRisky must be a function/);
    expect(build({ miniProgram: { appId: 'wx' } })).toThrow(/MiniProgram client/);
    // attach registers the one handler of the key: a second attach is refused, not ignored.
    expect(() => w.security.attach(w.callback)).toThrow(/already registered/);
  });
});

describe('createContentSecurity: text', () => {
  it('checkText answers risky with its label for a configured risky word and calls onRisky', async () => {
    const openid = await newUser('json');
    const w = world();
    const verdict = await w.security.checkText({
      openid,
      scene: 2,
      content: '这里有违规内容',
      item: { postId: 'comment-7' },
    });
    expect(verdict).toEqual({
      suggest: 'risky',
      label: 20006,
      traceId: expect.stringMatching(/^[0-9a-f]{8}-[0-9a-f]{8}-[0-9a-f]{8}$/),
      detail: expect.arrayContaining([
        expect.objectContaining({ strategy: 'keyword', errcode: 0, keyword: '违规', label: 20006 }),
      ]),
    });
    expect(w.risky).toEqual([
      {
        source: 'text',
        suggest: 'risky',
        label: 20006,
        traceId: verdict.traceId,
        openid,
        scene: 2,
        item: { postId: 'comment-7' },
      },
    ]);
  });

  it('checkText: ads label 10001, review for a review rule, pass (label 100) otherwise', async () => {
    const openid = await newUser('json');
    const w = world();
    const ads = await w.security.checkText({ openid, scene: 3, content: '快来加微信领红包' });
    const unsure = await w.security.checkText({ openid, scene: 3, content: 'x', title: '一个时政词' });
    const fine = await w.security.checkText({ openid, scene: 1, content: '你好', nickname: '小明' });
    expect([ads.suggest, ads.label]).toEqual(['risky', 10001]);
    expect([unsure.suggest, unsure.label]).toEqual(['review', 20001]);
    expect([fine.suggest, fine.label]).toEqual(['pass', 100]);
    expect(w.risky.map((e) => [e.source, e.label, e.item])).toEqual([['text', 10001, undefined]]);
    expect(w.review.map((e) => e.label)).toEqual([20001]);
    expect(w.passed.map((e) => e.label)).toEqual([100]);
  });

  it('checkText rejects with the error of onRisky, and with WeChat errors (40003 unknown openid)', async () => {
    const openid = await newUser('json');
    const w = world('json', {
      onRisky: () => {
        throw new Error('could not hide');
      },
    });
    await expect(w.security.checkText({ openid, scene: 2, content: '违规' })).rejects.toThrow(
      'could not hide',
    );
    await expect(
      w.security.checkText({ openid: 'o_not_a_user_of_this_app', scene: 2, content: 'hi' }),
    ).rejects.toMatchObject({ errcode: 40003 });
  });
});
