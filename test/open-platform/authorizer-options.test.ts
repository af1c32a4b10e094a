import { describe, expect, it } from 'vitest';
import { computeServerSignature, MessageCrypto } from '../../src/crypto/index.js';
import { ConfigError } from '../../src/errors.js';
import { LruMap } from '../../src/internal/lru.js';
import { createAuthorizerCallback, OpenPlatform } from '../../src/open-platform/index.js';

const base = { componentAppId: 'wxc0mp0nent0000003', componentSecret: 'secret' };
const callbackBase = {
  componentAppId: base.componentAppId,
  token: 'Token',
  encodingAESKey: 'abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG',
  setup: () => {},
};

describe('OpenPlatform authorizer options', () => {
  it('refuses an authorizerCacheSize that is not a whole number of at least 1', () => {
    for (const size of [0, -1, 1.5, Number.NaN, '10']) {
      expect(() => new OpenPlatform({ ...base, authorizerCacheSize: size as number })).toThrow(
        /authorizerCacheSize must be a whole number/,
      );
    }
    expect(new OpenPlatform(base).authorizerCacheStats()).toEqual({ size: 0, maxSize: 1000, evictions: 0 });
  });

  it('refuses an authorizer AppID that cannot be one, before any request', () => {
    const op = new OpenPlatform(base);
    expect(() => op.officialAccount('wx1:../x')).toThrow(/authorizerAppId must be an AppID/);
    expect(() => op.miniProgram('')).toThrow(/authorizerAppId must be a non-empty string/);
    expect(op.authorizerCacheStats().size).toBe(0);
  });

  it('refuses an unknown attachCallback listener (it would never run)', () => {
    const op = new OpenPlatform(base);
    expect(() => op.attachCallback({} as never, { authorised: () => {} } as never)).toThrow(
      /unknown listener "authorised"/,
    );
  });

  it('createAuthorizerCallback checks its options when created', () => {
    expect(() => createAuthorizerCallback({ ...callbackBase, mode: 'plain' as never })).toThrow(ConfigError);
    expect(() => createAuthorizerCallback({ ...callbackBase, setup: undefined as never })).toThrow(
      /setup must be a function/,
    );
    expect(() => createAuthorizerCallback({ ...callbackBase, cacheSize: 0 })).toThrow(/cacheSize/);
    // A bad pipeline option fails now, not on the first push.
    expect(() => createAuthorizerCallback({ ...callbackBase, encodingAESKey: 'short' })).toThrow(ConfigError);
    expect(() => createAuthorizerCallback({ ...callbackBase, colour: 'red' } as never)).toThrow(/colour/);
  });
});

describe('LruMap', () => {
  it('drops the least recently used entry, counting evictions', () => {
    const lru = new LruMap<string, number>(2);
    lru.set('a', 1);
    lru.set('b', 2);
    expect(lru.get('a')).toBe(1); // a is now the most recent
    lru.set('c', 3);
    expect(lru.get('b')).toBeUndefined();
    expect(lru.get('a')).toBe(1);
    expect(lru.get('c')).toBe(3);
    expect({ size: lru.size, evictions: lru.evictions }).toEqual({ size: 2, evictions: 1 });
  });

  it('builds an account’s pipeline (and runs setup) only for a push WeChat signed', async () => {
    const NOW = 1_764_633_600;
    const built: string[] = [];
    const refused: string[] = [];
    let duplicates = 0;
    const messages = createAuthorizerCallback({
      ...callbackBase,
      now: () => NOW * 1000,
      hooks: {
        onRefused: (e) => refused.push(e.code),
        onDuplicate: () => {
          duplicates += 1;
        },
      },
      setup: (_callback, appId) => {
        built.push(appId);
      },
    });
    const crypto = new MessageCrypto({
      token: callbackBase.token,
      encodingAESKey: callbackBase.encodingAESKey,
      receiveId: callbackBase.componentAppId,
    });
    const request = (appId: string, timestamp: number, signed: boolean) => {
      const ts = String(timestamp);
      const sealed = crypto.seal(
        `<xml><ToUserName><![CDATA[gh_0]]></ToUserName><FromUserName><![CDATA[o1]]></FromUserName><CreateTime>${ts}</CreateTime><MsgType><![CDATA[text]]></MsgType><Content><![CDATA[hi]]></Content><MsgId>1${appId.slice(-6)}</MsgId></xml>`,
        { timestamp: ts, nonce: '42' },
      );
      const signature = signed
        ? computeServerSignature({ token: callbackBase.token, timestamp: ts, nonce: '42' })
        : '0'.repeat(40);
      return {
        method: 'POST',
        url: `/op/messages/${appId}?signature=${signature}&timestamp=${ts}&nonce=42&encrypt_type=aes&msg_signature=${sealed.msgSignature}`,
        headers: {},
        rawBody: `<xml><ToUserName><![CDATA[gh_0]]></ToUserName><Encrypt><![CDATA[${sealed.encrypt}]]></Encrypt></xml>`,
      };
    };
    // Forged pushes naming 50 AppIDs, and a correctly signed one from outside the replay window.
    for (let i = 0; i < 50; i++) {
      const appId = `wx${String(i).padStart(16, '0')}`;
      expect((await messages.handle(request(appId, NOW, false))).status).toBe(401);
    }
    expect((await messages.handle(request('wx00000000000000aa', NOW - 3600, true))).status).toBe(401);
    expect(built).toEqual([]);
    expect(messages.cached.size).toBe(0);
    expect(refused).toHaveLength(51);
    // A signed push builds its account's pipeline once; a forged one to it then meets that pipeline.
    expect((await messages.handle(request('wx00000000000000bb', NOW, true))).status).toBe(200);
    expect((await messages.handle(request('wx00000000000000bb', NOW, false))).status).toBe(401);
    expect(built).toEqual(['wx00000000000000bb']);
    expect(messages.cached.size).toBe(1);
    // A signed push replayed to another account's path within the window: the signature does not
    // cover the path, so that pipeline is built, but the push is a duplicate in the shared store.
    const signed = request('wx00000000000000bb', NOW, true);
    const replay = { ...signed, url: signed.url.replace('wx00000000000000bb', 'wx00000000000000cc') };
    expect(await messages.handle(replay)).toMatchObject({ status: 200, body: 'success' });
    expect(duplicates).toBe(1);
    expect(built).toEqual(['wx00000000000000bb', 'wx00000000000000cc']);
  });
});
