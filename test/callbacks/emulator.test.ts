// The pipeline behind a real HTTP server on loopback, with the emulator playing WeChat: it signs,
// encrypts, retries and checks the passive replies exactly as it does for any developer server.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  type CallbackHandler,
  createWeChatCallback,
  type LateReplyEvent,
  type RefusedEvent,
  reply,
  type WeChatCallback,
} from '../../src/callbacks/index.js';
import { parseXml } from '../../src/crypto/index.js';
import type { EmulatorAppConfig } from '../../src/emulator/config.js';
import { type RunningEmulator, startEmulator } from '../../src/emulator/server.js';
import { ManualScheduler } from '../helpers/manual-scheduler.js';
import { deferred } from './fixtures.js';

const key43 = (c: string) => `${c}bcdefghijklmnopqrstuvwxyz0123456789ABCDEFG`.slice(0, 43);

const apps = {
  safe: {
    appId: 'wxcb00000000000safe',
    token: 'SafeToken1',
    encodingAESKey: key43('a'),
    messageMode: 'safe',
  },
  compatible: {
    appId: 'wxcb0000000000compat',
    token: 'CompatToken',
    encodingAESKey: key43('c'),
    messageMode: 'compatible',
  },
  plain: { appId: 'wxcb000000000000plain', token: 'PlainToken', messageMode: 'plain' },
  slow: {
    appId: 'wxcb000000000000slow',
    token: 'SlowToken',
    encodingAESKey: key43('s'),
    messageMode: 'safe',
  },
  mp: {
    appId: 'wxcb000000000mpjson',
    token: 'MpToken',
    encodingAESKey: key43('m'),
    messageMode: 'safe',
    kind: 'mini-program',
    dataFormat: 'json',
  },
} as const;
type AppName = keyof typeof apps;

let server: Server;
let emulator: RunningEmulator;
const callbacks = new Map<string, CallbackHandler>();
const calls: string[] = [];
const refused: RefusedEvent[] = [];
let late = deferred<LateReplyEvent>();
/** The slow app's budget runs on this scheduler and its handler waits for this gate: no sleeps. */
const slowScheduler = new ManualScheduler();
let slowGate = deferred<void>();

function build(name: AppName): WeChatCallback {
  const app = apps[name];
  const callback = createWeChatCallback({
    appId: app.appId,
    token: app.token,
    ...('encodingAESKey' in app ? { encodingAESKey: app.encodingAESKey } : {}),
    mode: app.messageMode,
    ...(name === 'mp' ? { format: 'json' as const } : {}),
    ...(name === 'slow' ? { replyBudgetMs: 150, scheduler: slowScheduler } : {}),
    hooks: { onRefused: (e) => refused.push(e), onLateReply: (e) => late.resolve(e) },
  });
  return callback
    .on('text', async (msg) => {
      calls.push(`${name}:text:${msg.Content}`);
      if (name === 'slow') await slowGate.promise;
      return reply.text(`echo: ${msg.Content}`);
    })
    .on('event.subscribe', (msg) => {
      calls.push(`${name}:subscribe`);
      return reply.text(`welcome, ${msg.FromUserName}`);
    })
    .onUnknown((msg) => {
      calls.push(`${name}:unknown:${String(msg.MsgType)}`);
    });
}

async function post(path: string, body: unknown): Promise<Record<string, unknown>> {
  const res = await fetch(`${emulator.url}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  expect(res.status).toBe(200);
  return (await res.json()) as Record<string, unknown>;
}

const pushTo = (name: AppName, message: Record<string, unknown>, faults?: Record<string, unknown>) =>
  post('/_emulator/push', { appId: apps[name].appId, message, ...(faults ? { faults } : {}) });

beforeAll(async () => {
  // A minimal node:http adapter: join the body as bytes, hand it over undecoded, write the answer.
  server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const path = new URL(req.url ?? '/', 'http://x').pathname.slice(1);
      const handler = callbacks.get(path);
      if (!handler) {
        res.writeHead(404).end();
        return;
      }
      void handler
        .handle({
          method: req.method ?? 'GET',
          url: req.url ?? '/',
          headers: req.headers,
          rawBody: chunks.length ? Buffer.concat(chunks) : undefined,
        })
        .then((answer) => {
          res.writeHead(answer.status, answer.headers).end(answer.body);
        });
    });
  });
  server.keepAliveTimeout = 500;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  for (const name of Object.keys(apps) as AppName[]) callbacks.set(name, build(name));
  emulator = await startEmulator({
    config: {
      apps: (Object.keys(apps) as AppName[]).map(
        (name): EmulatorAppConfig => ({
          kind: 'official-account',
          secret: `secret-${name}`,
          ...apps[name],
          callbackUrl: `${base}/${name}`,
        }),
      ),
      merchants: [],
      options: { pushTimeoutMs: 2000 },
    },
  });
});

afterAll(async () => {
  await emulator?.close();
  server?.closeAllConnections();
  await new Promise<void>((resolve) => server?.close(() => resolve()));
});

beforeEach(() => {
  calls.length = 0;
  refused.length = 0;
});

describe('with the emulator pushing over HTTP', () => {
  it('passes the URL verification and fails a forged one', async () => {
    expect(await post('/_emulator/verify-url', { appId: apps.safe.appId })).toMatchObject({ ok: true });
    expect(
      await post('/_emulator/verify-url', { appId: apps.safe.appId, faults: { badSignature: true } }),
    ).toMatchObject({ ok: false, status: 401 });
    expect(refused.map((e) => e.code)).toEqual(['SIGNATURE_MISMATCH']);
  });

  it('answers a safe-mode text message with an encrypted reply the emulator decrypts', async () => {
    const result = await pushTo('safe', { MsgType: 'text', Content: '你好 weixin-kit' });
    expect(result).toMatchObject({ attempts: 1, status: 200 });
    expect(result.replyError).toBeUndefined();
    expect(parseXml(String(result.reply)).Content).toBe('echo: 你好 weixin-kit');
    expect(String(result.rawReply)).toContain('<Encrypt>');
  });

  it('answers subscribe with a welcome reply', async () => {
    const result = await pushTo('safe', { MsgType: 'event', Event: 'subscribe' });
    expect(parseXml(String(result.reply)).Content).toMatch(/^welcome, o/);
    expect(calls).toEqual(['safe:subscribe']);
  });

  it('refuses a forged push (wrong token) without calling the handler', async () => {
    const result = await pushTo('safe', { MsgType: 'text', Content: 'forged' }, { badSignature: true });
    expect(result).toMatchObject({ status: 401, replyError: 'HTTP_401' });
    expect(calls).toEqual([]);
    expect(refused[0]?.code).toBe('SIGNATURE_MISMATCH');
  });

  it('processes a duplicated push once, answering the copy success', async () => {
    const result = await pushTo('safe', { MsgType: 'text', Content: 'twice' }, { duplicate: true });
    expect(parseXml(String(result.reply)).Content).toBe('echo: twice');
    expect(result.duplicates).toEqual([expect.objectContaining({ status: 200, reply: '' })]);
    expect(calls).toEqual(['safe:text:twice']);
  });

  it('refuses a stale push and a truncated one', async () => {
    expect(await pushTo('safe', { MsgType: 'text', Content: 'old' }, { staleSeconds: 900 })).toMatchObject({
      status: 401,
    });
    expect(await pushTo('safe', { MsgType: 'text', Content: 'cut' }, { malformed: true })).toMatchObject({
      status: 400,
    });
    expect(refused.map((e) => e.code)).toEqual(['TIMESTAMP_EXPIRED', 'BAD_XML']);
    expect(calls).toEqual([]);
  });

  it('works in compatible and plain mode', async () => {
    const compat = await pushTo('compatible', { MsgType: 'text', Content: 'c' });
    expect(compat.replyError).toBeUndefined();
    expect(parseXml(String(compat.reply)).Content).toBe('echo: c');
    expect(String(compat.rawReply)).toContain('<Encrypt>');
    const plainResult = await pushTo('plain', { MsgType: 'text', Content: 'p' });
    expect(plainResult.replyError).toBeUndefined();
    expect(parseXml(String(plainResult.reply)).Content).toBe('echo: p');
  });

  it('speaks JSON with a Mini Program that pushes JSON', async () => {
    const result = await pushTo('mp', { MsgType: 'text', Content: 'json!' });
    expect(result.replyError).toBeUndefined();
    expect(JSON.parse(String(result.reply))).toMatchObject({ MsgType: 'text', Content: 'echo: json!' });
    expect(calls).toEqual(['mp:text:json!']);
  });

  it('sends an unknown MsgType to the fallback', async () => {
    const result = await pushTo('safe', { MsgType: 'miniprogrampage', Title: 't' });
    expect(result).toMatchObject({ status: 200, reply: '' });
    expect(calls).toEqual(['safe:unknown:miniprogrampage']);
  });

  it('answers success within the reply budget so WeChat does not retry; the reply arrives late', async () => {
    late = deferred<LateReplyEvent>();
    slowGate = deferred<void>();
    const pushed = pushTo('slow', { MsgType: 'text', Content: 'slow' });
    await slowScheduler.whenPending();
    await slowScheduler.advance(150);
    const result = await pushed;
    expect(result).toMatchObject({ attempts: 1, status: 200, reply: '' });
    slowGate.resolve();
    const event = await late.promise;
    expect(event.reply).toEqual({ type: 'text', content: 'echo: slow' });
    expect(calls).toEqual(['slow:text:slow']);
  });
});
