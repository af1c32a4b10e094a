// Every adapter in front of the real pipeline, with the emulator playing WeChat: it signs,
// encrypts and pushes over HTTP, and decrypts the passive reply that comes back.
import express from 'express';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createWeChatCallback, reply } from '../../src/callbacks/index.js';
import { parseXml } from '../../src/crypto/index.js';
import type { EmulatorAppConfig } from '../../src/emulator/config.js';
import { type RunningEmulator, startEmulator } from '../../src/emulator/server.js';
import {
  expressFactory,
  fastifyFactory,
  fetchFactory,
  honoFactory,
  koaBodyParserLike,
  koaFactory,
  nodeFactory,
} from './factories.js';
import type { RunningServer, ServerFactory } from './shared-suite.js';

const adapters: [string, ServerFactory][] = [
  ['node', nodeFactory],
  ['fetch', fetchFactory],
  ['express', expressFactory(() => {})],
  ['express-raw', expressFactory((app) => app.use(express.raw({ type: '*/*' })))],
  ['express-text', expressFactory((app) => app.use(expressText()))],
  ['koa', koaFactory(() => {})],
  ['koa-bodyparser', koaFactory((app) => app.use(koaBodyParserLike))],
  ['fastify', fastifyFactory],
  ['hono', honoFactory],
];

function expressText() {
  return express.text({ type: ['text/xml', 'application/xml'] });
}

const apps = adapters.map(([name], i) => ({
  name,
  appId: `wxad${String(i).padStart(14, '0')}`,
  token: `AdapterToken${i}`,
  encodingAESKey: `${'abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJ'.slice(i, i + 43)}`.padEnd(43, 'K'),
}));

const servers: RunningServer[] = [];
let emulator: RunningEmulator;
const errors: unknown[] = [];

beforeAll(async () => {
  const configs: EmulatorAppConfig[] = [];
  for (const [i, [, factory]] of adapters.entries()) {
    const app = apps[i]!;
    const callback = createWeChatCallback({
      appId: app.appId,
      token: app.token,
      encodingAESKey: app.encodingAESKey,
      mode: 'safe',
    }).on('text', (msg) => reply.text(`echo: ${msg.Content}`));
    const server = await factory(callback, { onError: (e) => errors.push(e) });
    servers.push(server);
    configs.push({
      kind: 'official-account',
      appId: app.appId,
      secret: `secret-${i}`,
      token: app.token,
      encodingAESKey: app.encodingAESKey,
      messageMode: 'safe',
      callbackUrl: `${server.url}/wechat`,
    });
  }
  emulator = await startEmulator({
    config: { apps: configs, merchants: [], options: { pushTimeoutMs: 2000 } },
  });
});

afterAll(async () => {
  await emulator?.close();
  await Promise.all(servers.map((s) => s.close()));
});

async function post(path: string, body: unknown): Promise<Record<string, unknown>> {
  const res = await fetch(`${emulator.url}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  expect(res.status).toBe(200);
  return (await res.json()) as Record<string, unknown>;
}

describe.each(apps)('the $name adapter with the emulator pushing', (app) => {
  it('passes URL verification and refuses a forged one', async () => {
    expect(await post('/_emulator/verify-url', { appId: app.appId })).toMatchObject({ ok: true });
    expect(
      await post('/_emulator/verify-url', { appId: app.appId, faults: { badSignature: true } }),
    ).toMatchObject({ ok: false, status: 401 });
  });

  it('answers a safe-mode Chinese text push with an encrypted reply the emulator decrypts', async () => {
    const content = '你好，世界！🎉 微信';
    const result = await post('/_emulator/push', {
      appId: app.appId,
      message: { MsgType: 'text', Content: content },
    });
    expect(result).toMatchObject({ attempts: 1, status: 200 });
    expect(result.replyError).toBeUndefined();
    expect(parseXml(String(result.reply)).Content).toBe(`echo: ${content}`);
    expect(errors).toEqual([]);
  });
});
