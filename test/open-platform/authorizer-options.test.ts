import { describe, expect, it } from 'vitest';
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
});
