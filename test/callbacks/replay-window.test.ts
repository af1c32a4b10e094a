/**
 * A captured push must stay a duplicate for as long as it passes the signature and timestamp
 * checks. A push stamped `s` s ahead of our clock (the sender's clock runs fast) is acceptable
 * until `s + maxSkewSeconds` after it arrived: remembering it only `maxSkewSeconds + 60` from
 * arrival let a replay at +400 s be handled a second time.
 */
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { createClient } from 'redis';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import {
  createWeChatCallback,
  createWeComCallback,
  type DedupeStore,
  type DuplicateEvent,
  type RefusedEvent,
} from '../../src/callbacks/index.js';
import { buildXml, MessageCrypto } from '../../src/crypto/index.js';
import { type RedisDedupeClient, RedisDedupeStore } from '../../src/redis/index.js';
import { redisUp } from '../credentials/redis-helper.js';
import { AES_KEY, APP_ID, NOW, push, TOKEN, textMessage } from './fixtures.js';

const AHEAD = 200;

function setup(options: { dedupe?: DedupeStore } = {}) {
  const clock = { ms: NOW * 1000 };
  const duplicates: DuplicateEvent[] = [];
  const refused: RefusedEvent[] = [];
  const callback = createWeChatCallback({
    appId: APP_ID,
    token: TOKEN,
    encodingAESKey: AES_KEY,
    mode: 'safe',
    now: () => clock.ms,
    ...options,
    hooks: { onDuplicate: (e) => duplicates.push(e), onRefused: (e) => refused.push(e) },
  });
  const handler = vi.fn();
  callback.on('text', handler);
  return { callback, clock, handler, duplicates, refused };
}

describe('dedupe covers the whole acceptance window of each push', () => {
  it('does not handle again a push stamped +200 s ahead and replayed 400 s after it arrived', async () => {
    const { callback, clock, handler, duplicates } = setup();
    const captured = push({ fields: textMessage('pay me once'), timestamp: NOW + AHEAD });
    expect((await callback.handle(captured)).status).toBe(200);
    expect(handler).toHaveBeenCalledTimes(1);

    clock.ms += 400_000;
    const replay = await callback.handle(captured);
    expect(replay).toMatchObject({ status: 200, body: 'success' });
    expect(handler).toHaveBeenCalledTimes(1);
    expect(duplicates).toHaveLength(1);
  });

  it('remembers it up to the last second its timestamp is accepted, then the window refuses it', async () => {
    const { callback, clock, handler, refused } = setup();
    const captured = push({ fields: textMessage('pay me once'), timestamp: NOW + AHEAD });
    await callback.handle(captured);

    // The last whole second the ±300 s window accepts: timestamp + 300.
    clock.ms = (NOW + AHEAD + 300) * 1000 + 999;
    expect(await callback.handle(captured)).toMatchObject({ status: 200, body: 'success' });
    expect(handler).toHaveBeenCalledTimes(1);

    clock.ms = (NOW + AHEAD + 301) * 1000;
    expect((await callback.handle(captured)).status).toBe(401);
    expect(refused.map((r) => r.code)).toEqual(['TIMESTAMP_EXPIRED']);
    expect(handler).toHaveBeenCalledTimes(1);
  });

  it('keeps dedupeTtlMs as the least TTL when it outlasts the window', async () => {
    const claims: number[] = [];
    const callback = createWeChatCallback({
      appId: APP_ID,
      token: TOKEN,
      encodingAESKey: AES_KEY,
      mode: 'safe',
      now: () => NOW * 1000,
      dedupe: {
        claim: async (_key, ttlMs) => {
          claims.push(ttlMs);
          return true;
        },
      },
      dedupeTtlMs: 3_600_000,
    });
    await callback.handle(push({ fields: textMessage(), timestamp: NOW + AHEAD }));
    expect(claims).toEqual([3_600_000]);
  });

  it('WeCom: a push stamped +200 s ahead and replayed 400 s after it arrived is a duplicate', async () => {
    const corpId = 'ww0123456789abcdef';
    const clock = { ms: NOW * 1000 };
    const duplicates: DuplicateEvent[] = [];
    const callback = createWeComCallback({
      corpId,
      token: TOKEN,
      encodingAESKey: AES_KEY,
      now: () => clock.ms,
      hooks: { onDuplicate: (e) => duplicates.push(e) },
    });
    const handler = vi.fn();
    callback.on('text', handler);
    const timestamp = NOW + AHEAD;
    const crypto = new MessageCrypto({ token: TOKEN, encodingAESKey: AES_KEY, receiveId: corpId });
    const inner = buildXml({
      ToUserName: corpId,
      FromUserName: 'zhangsan',
      CreateTime: timestamp,
      MsgType: 'text',
      Content: '你好',
      MsgId: '1234567890123456',
      AgentID: '1000002',
    });
    const sealed = crypto.seal(inner, { timestamp, nonce: 'n1' });
    const captured = {
      method: 'POST',
      url: `/wecom?msg_signature=${sealed.msgSignature}&timestamp=${timestamp}&nonce=n1`,
      headers: {},
      rawBody: buildXml({ ToUserName: corpId, AgentID: '1000002', Encrypt: sealed.encrypt }),
    };
    expect((await callback.handle(captured)).status).toBe(200);
    clock.ms += 400_000;
    expect(await callback.handle(captured)).toMatchObject({ status: 200, body: 'success' });
    expect(handler).toHaveBeenCalledTimes(1);
    expect(duplicates).toHaveLength(1);
  });
});

describe.runIf(redisUp)('dedupe in a real Redis covers the whole acceptance window', () => {
  let io: Redis;
  let nr: ReturnType<typeof createClient>;
  const prefix = `weixin-kit-test:${randomUUID()}:`;

  beforeAll(async () => {
    io = new Redis({ host: '127.0.0.1', port: 6379, maxRetriesPerRequest: 1 });
    nr = createClient({ url: 'redis://127.0.0.1:6379' });
    await nr.connect();
  });
  afterAll(async () => {
    const keys = await io.keys(`${prefix}*`);
    if (keys.length > 0) await io.del(...keys);
    await io.quit();
    await nr.quit();
  });

  it.each(['ioredis', 'node-redis'] as const)(
    '%s: keeps a push stamped +200 s ahead until its window closes (+500 s, plus the margin)',
    async (which) => {
      const client = (which === 'ioredis' ? io : nr) as unknown as RedisDedupeClient;
      const { callback, clock, handler, duplicates } = setup({
        dedupe: new RedisDedupeStore(client, { prefix: `${prefix}${which}:` }),
      });
      const msgId = String(6_054_768_590_064_713_728n + BigInt(which.length));
      const captured = push({ fields: textMessage('pay me once', msgId), timestamp: NOW + AHEAD });
      expect((await callback.handle(captured)).status).toBe(200);

      const key = `${prefix}${which}:weixin-kit:dedupe:${APP_ID}:gh_0123456789ab:msg:${msgId}`;
      const ttl = await io.pttl(key);
      // Counted on the callback's clock: (timestamp + 300 s) + 60 s margin − now = 560 s.
      expect(ttl).toBeGreaterThan(550_000);
      expect(ttl).toBeLessThanOrEqual(560_000);

      clock.ms += 400_000;
      expect(await callback.handle(captured)).toMatchObject({ status: 200, body: 'success' });
      expect(handler).toHaveBeenCalledTimes(1);
      expect(duplicates).toHaveLength(1);
    },
  );
});
