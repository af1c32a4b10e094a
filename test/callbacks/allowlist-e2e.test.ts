/**
 * End to end: the emulator serves `getcallbackip`, an Official Account client fetches it into an
 * allowlist, and a callback behind a real node:http adapter on loopback — behind a trusted proxy
 * (loopback) that names the client in X-Forwarded-For — refuses a sender outside WeChat's list with
 * 403 and accepts one inside, while the emulator's own pushes (from 127.0.0.1) get through.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { toNodeListener } from '../../src/adapters/node.js';
import {
  type AllowlistRefusedEvent,
  type CallbackAllowlist,
  createCallbackAllowlist,
  createWeChatCallback,
  type RefusedEvent,
  reply,
} from '../../src/callbacks/index.js';
import { createEmulator, DEFAULT_CALLBACK_IPS, type Emulator } from '../../src/emulator/index.js';
import { OfficialAccount } from '../../src/official-account/index.js';
import { signedQuery } from './fixtures.js';

const BASE = 'https://api.weixin.qq.com';
const APP = {
  appId: 'wxa11e0000000000e2e',
  secret: 'allowlist-e2e-secret',
  kind: 'official-account' as const,
  token: 'AllowlistToken',
  encodingAESKey: 'abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG',
  messageMode: 'safe' as const,
};

let listener: (req: IncomingMessage, res: ServerResponse) => void = (_req, res) => res.end();
const server = createServer((req, res) => listener(req, res));
let url = '';
let emulator: Emulator;
let allowlist: CallbackAllowlist;
const refused: RefusedEvent[] = [];
const allowlistRefused: AllowlistRefusedEvent[] = [];
const texts: string[] = [];

beforeAll(async () => {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/wechat`;
  emulator = createEmulator({ apps: [{ ...APP, callbackUrl: url }], merchants: [] });
  const oa = new OfficialAccount({
    appId: APP.appId,
    secret: APP.secret,
    baseUrl: BASE,
    fetch: emulator.fetch,
  });
  allowlist = createCallbackAllowlist({
    client: oa.network,
    // The test's own requests come from 127.0.0.1, playing the load balancer in front of the app.
    trustProxy: ['loopback'],
    hooks: { onRefused: (e) => allowlistRefused.push(e) },
  });
  const callback = createWeChatCallback({
    appId: APP.appId,
    token: APP.token,
    encodingAESKey: APP.encodingAESKey,
    mode: 'safe',
    allowlist,
    hooks: { onRefused: (e) => refused.push(e) },
  }).on('text', (msg) => {
    texts.push(msg.Content);
    return reply.text(`echo: ${msg.Content}`);
  });
  listener = toNodeListener(callback);
  await allowlist.ready();
});

afterAll(async () => {
  allowlist.close();
  emulator.close();
  await new Promise<void>((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });
});

/** WeChat's URL verification GET, signed with the app's token, arriving through the proxy. */
function verifyUrl(forwardedFor: string): Promise<Response> {
  const query = signedQuery(APP.token, Math.floor(Date.now() / 1000), '1514711492');
  query.set('echostr', '4242424242');
  return fetch(`${url}?${query}`, { headers: { 'x-forwarded-for': forwardedFor } });
}

describe('the callback allowlist end to end', () => {
  it("loaded the emulator's getcallbackip list", () => {
    expect(allowlist.stats()).toMatchObject({ loaded: true, size: 4 });
    expect(allowlist.entries()).toContain('192.0.2.0/25');
  });

  it('accepts a request whose forwarded client address is inside the list', async () => {
    const answer = await verifyUrl('192.0.2.10');
    expect(answer.status).toBe(200);
    expect(await answer.text()).toBe('4242424242');
  });

  it('refuses a request whose forwarded client address is outside the list: 403 IP_NOT_ALLOWED, reported', async () => {
    const before = refused.length;
    const answer = await verifyUrl('203.0.113.9');
    expect(answer.status).toBe(403);
    expect(await answer.text()).toBe(`forbidden (request ${answer.headers.get('x-request-id')})`);
    expect(refused.slice(before)).toEqual([
      { code: 'IP_NOT_ALLOWED', reason: expect.stringContaining('203.0.113.9'), status: 403, method: 'GET' },
    ]);
    expect(allowlistRefused.at(-1)).toMatchObject({ ip: '203.0.113.9', remoteAddress: '127.0.0.1' });
  });

  it('is not fooled by an allowed address the client put in front of X-Forwarded-For', async () => {
    expect((await verifyUrl('192.0.2.10, 203.0.113.9')).status).toBe(403);
  });

  it("lets the emulator's own push (from 127.0.0.1, on the list) through to the handler", async () => {
    const pushed = await emulator.fetch(`${BASE}/_emulator/push`, {
      method: 'POST',
      body: JSON.stringify({
        appId: APP.appId,
        message: { MsgType: 'text', Content: 'from WeChat', FromUserName: 'o-allowlist-user' },
      }),
    });
    const result = (await pushed.json()) as { status: number; reply: string };
    expect(result.status).toBe(200);
    expect(texts).toContain('from WeChat');
  });

  it('follows the list WeChat publishes: after it changes and a refresh, the old range is refused', async () => {
    const publish = (ipList: readonly string[]) =>
      emulator.fetch(`${BASE}/_emulator/callback-ips`, {
        method: 'POST',
        body: JSON.stringify({ ip_list: ipList }),
      });
    await publish(['127.0.0.1', '198.51.100.0/24']);
    try {
      expect(await allowlist.refresh()).toBe(true);
      expect((await verifyUrl('192.0.2.10')).status).toBe(403);
      expect((await verifyUrl('198.51.100.20')).status).toBe(200);
    } finally {
      // Back to the emulator's default list, so the other tests see it whatever the order.
      await publish(DEFAULT_CALLBACK_IPS);
      await allowlist.refresh();
    }
  });
});
