// Changing the Token and EncodingAESKey of a safe-mode account, with the emulator playing WeChat
// before and after the console change (one emulator configured with the old secrets, one with the
// new, both pushing to the same server). The emulator decrypts each passive reply with the key it
// used for the push and checks its signature with its token, as WeChat does.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { toNodeListener } from '../../src/adapters/node.js';
import { createWeChatCallback, reply, type SecretFallbackEvent } from '../../src/callbacks/index.js';
import { parseXml } from '../../src/crypto/index.js';
import { type RunningEmulator, startEmulator } from '../../src/emulator/server.js';

const APP_ID = 'wxrotation000000001';
const OLD = { token: 'OldToken2019', encodingAESKey: 'abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG' };
const NEW = { token: 'NewToken2025', encodingAESKey: 'Zyxwvutsrqponmlkjihgfedcba9876543210ZYXWVUT' };

let server: Server;
let before: RunningEmulator;
let after: RunningEmulator;
const fallbacks: SecretFallbackEvent[] = [];

async function control(emulator: RunningEmulator, path: string, body: unknown) {
  const res = await fetch(`${emulator.url}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  expect(res.status).toBe(200);
  return (await res.json()) as Record<string, unknown>;
}

function emulatorFor(secrets: typeof OLD, callbackUrl: string): Promise<RunningEmulator> {
  return startEmulator({
    config: {
      apps: [
        {
          kind: 'official-account',
          appId: APP_ID,
          secret: 'app-secret',
          messageMode: 'safe',
          callbackUrl,
          ...secrets,
        },
      ],
      merchants: [],
      options: { pushTimeoutMs: 2000 },
    },
  });
}

beforeAll(async () => {
  // Deployed before the console change: the new values first, the old ones after them.
  const callback = createWeChatCallback({
    appId: APP_ID,
    token: [NEW.token, OLD.token],
    encodingAESKey: [NEW.encodingAESKey, OLD.encodingAESKey],
    mode: 'safe',
    hooks: { onSecretFallback: (e) => fallbacks.push(e) },
  }).on('text', (msg) => reply.text(`echo: ${msg.Content}`));
  server = createServer(toNodeListener(callback));
  server.keepAliveTimeout = 500;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/wechat`;
  before = await emulatorFor(OLD, url);
  after = await emulatorFor(NEW, url);
});

afterAll(async () => {
  await before?.close();
  await after?.close();
  server?.closeAllConnections();
  await new Promise<void>((resolve) => server?.close(() => resolve()));
});

describe('rotating a safe-mode account’s Token and EncodingAESKey against the emulator', () => {
  it('serves WeChat with the old secrets, passes the console’s handshake with the new token, then serves the new secrets', async () => {
    // Before the change: WeChat pushes with the old secrets; the reply is readable with them.
    const early = await control(before, '/_emulator/push', {
      appId: APP_ID,
      message: { MsgType: 'text', Content: '旧' },
    });
    expect(early.replyError).toBeUndefined();
    expect(parseXml(String(early.reply)).Content).toBe('echo: 旧');
    expect(fallbacks.map((e) => e.option)).toEqual(['token', 'encodingAESKey']);

    // Saving the console form: WeChat verifies the URL with the new token before it switches.
    expect(await control(after, '/_emulator/verify-url', { appId: APP_ID })).toMatchObject({ ok: true });

    // After the change: pushes use the new secrets, the reply uses them too, and the hook is quiet.
    fallbacks.length = 0;
    const late = await control(after, '/_emulator/push', {
      appId: APP_ID,
      message: { MsgType: 'text', Content: '新' },
    });
    expect(late.replyError).toBeUndefined();
    expect(parseXml(String(late.reply)).Content).toBe('echo: 新');
    expect(fallbacks).toEqual([]);
  });
});
