/**
 * Pending media checks shared through real Redis (never a mock): one instance submits, the
 * `wxa_media_check` push reaches another, and a pending item is taken exactly once whichever
 * instances race for it. ioredis and node-redis, each its own connection (as separate processes).
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Redis } from 'ioredis';
import { createClient } from 'redis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { toNodeListener } from '../../src/adapters/node.js';
import {
  type ContentSecurity,
  type ContentVerdictEvent,
  createContentSecurity,
  type UnmatchedMediaCheckEvent,
} from '../../src/callbacks/content-security.js';
import { createWeChatCallback, type WxaMediaCheckEvent } from '../../src/callbacks/index.js';
import { type RunningEmulator, startEmulator } from '../../src/emulator/server.js';
import { MiniProgram } from '../../src/mini-program/index.js';
import { RedisStore } from '../../src/redis/index.js';
import { REDIS_HOST, REDIS_PORT, redisUp, uniquePrefix } from '../credentials/redis-helper.js';

const APP = {
  appId: 'wxc5000000000redis',
  secret: 'cs-redis-secret',
  kind: 'mini-program',
  token: 'CsRedisToken',
  encodingAESKey: 'rbcdefghijklmnopqrstuvwxyz0123456789ABCDEFG',
  messageMode: 'safe',
  dataFormat: 'json',
} as const;

interface Item {
  postId: string;
}

describe.skipIf(!redisUp)('content security with the pending store in Redis', () => {
  const prefix = uniquePrefix();
  let io: Redis;
  let nr: ReturnType<typeof createClient>;
  let server: Server;
  let emulator: RunningEmulator;
  let receiver: ReturnType<typeof createWeChatCallback> | undefined;

  beforeAll(async () => {
    io = new Redis({ host: REDIS_HOST, port: REDIS_PORT, maxRetriesPerRequest: 1 });
    nr = createClient({ socket: { host: REDIS_HOST, port: REDIS_PORT } });
    await nr.connect();
    server = createServer((req, res) => {
      if (receiver === undefined) res.writeHead(404).end();
      else toNodeListener(receiver)(req, res);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/mp`;
    emulator = await startEmulator({
      config: { apps: [{ ...APP, callbackUrl: url }], merchants: [], options: { clock: 'manual' } },
    });
  });

  afterAll(async () => {
    await emulator?.close();
    server?.closeAllConnections();
    await new Promise((resolve) => server?.close(resolve));
    const keys = await io.keys(`${prefix}*`);
    if (keys.length > 0) await io.del(...keys);
    await Promise.all([io.quit(), nr.quit()]);
  });

  /** One "instance": its own Mini Program client, Redis connection and helper, same prefix. */
  function instance(client: 'ioredis' | 'node-redis') {
    const risky: ContentVerdictEvent<Item>[] = [];
    const unmatched: UnmatchedMediaCheckEvent[] = [];
    const mp = new MiniProgram({ appId: APP.appId, secret: APP.secret, baseUrl: emulator.url });
    const security: ContentSecurity<Item> = createContentSecurity<Item>({
      miniProgram: mp,
      store: new RedisStore(client === 'ioredis' ? io : nr, { prefix }),
      pendingTtlSeconds: 1800,
      onRisky: (e) => {
        risky.push(e);
      },
      onUnmatched: (e) => {
        unmatched.push(e);
      },
    });
    return { security, risky, unmatched };
  }

  const newUser = async () =>
    (
      (await (
        await fetch(`${emulator.url}/_emulator/users`, {
          method: 'POST',
          body: JSON.stringify({ appId: APP.appId }),
        })
      ).json()) as { openId: string }
    ).openId;

  const pushNow = async (traceId: string) =>
    (
      (await (
        await fetch(`${emulator.url}/_emulator/mini-program/media-checks/push`, {
          method: 'POST',
          body: JSON.stringify({ traceId }),
        })
      ).json()) as { pushed: Array<{ result: { status: number; reply?: string } }> }
    ).pushed[0]?.result;

  it('submitted on one instance, the verdict pushed to another finds the item', async () => {
    const a = instance('ioredis');
    const b = instance('node-redis');
    const callback = createWeChatCallback({
      appId: APP.appId,
      token: APP.token,
      encodingAESKey: APP.encodingAESKey,
      mode: 'safe',
      format: 'json',
    });
    b.security.attach(callback);
    receiver = callback;
    const openid = await newUser();
    const { traceId } = await a.security.submitMedia({
      openid,
      scene: 3,
      mediaUrl: 'https://cdn.example.com/risky.png',
      mediaType: 2,
      item: { postId: 'shared-1' },
    });
    const key = `${prefix}weixin-kit:content_check:${APP.appId}:${traceId}`;
    const ttl = await io.pttl(key);
    expect(ttl).toBeGreaterThan(1_790_000);
    expect(ttl).toBeLessThanOrEqual(1_800_000);
    expect(await pushNow(traceId)).toMatchObject({ status: 200, reply: '' });
    expect(a.risky).toEqual([]);
    expect(b.risky).toEqual([
      expect.objectContaining({ source: 'media', item: { postId: 'shared-1' }, openid, label: 20002 }),
    ]);
    // Taken: the pending entry is gone, a done mark remains for WeChat's retries.
    expect(await io.exists(key)).toBe(0);
    expect(await io.exists(`${prefix}weixin-kit:content_check_done:${APP.appId}:${traceId}`)).toBe(1);
    // A retry reaching the other instance is a duplicate there, not an unmatched verdict.
    const retry = {
      MsgType: 'event',
      Event: 'wxa_media_check',
      appid: APP.appId,
      trace_id: traceId,
      result: { suggest: 'risky', label: '20002' },
    } as unknown as WxaMediaCheckEvent;
    expect(await a.security.handleEvent(retry)).toEqual({ status: 'duplicate', traceId });
    expect([a.unmatched, b.unmatched]).toEqual([[], []]);
  });

  it('instances racing for one pending item: exactly one runs onRisky', async () => {
    const instances = [
      instance('ioredis'),
      instance('node-redis'),
      instance('ioredis'),
      instance('node-redis'),
    ];
    const openid = await newUser();
    const { traceId } = await (instances[0] as ReturnType<typeof instance>).security.submitMedia({
      openid,
      scene: 2,
      mediaUrl: 'https://cdn.example.com/risky-race.png',
      mediaType: 2,
      item: { postId: 'race' },
    });
    const message = {
      MsgType: 'event',
      Event: 'wxa_media_check',
      appid: APP.appId,
      trace_id: traceId,
      errcode: '0',
      result: { suggest: 'risky', label: '20002' },
    } as unknown as WxaMediaCheckEvent;
    const outcomes = await Promise.all(
      instances.flatMap((i) => [i.security.handleEvent(message), i.security.handleEvent(message)]),
    );
    expect(outcomes.filter((o) => o.status === 'risky')).toHaveLength(1);
    expect(outcomes.filter((o) => o.status === 'duplicate')).toHaveLength(7);
    expect(instances.flatMap((i) => i.risky).map((e) => e.item)).toEqual([{ postId: 'race' }]);
    expect(instances.flatMap((i) => i.unmatched)).toEqual([]);
  });
});
