import { describe, expect, it } from 'vitest';
import { MemoryStore } from '../../src/credentials/memory-store.js';
import { ConfigError } from '../../src/errors.js';
import { leaseKeyOf, tokenKey } from '../../src/internal/store-keys.js';

function clock(start = 1_700_000_000_000) {
  let t = start;
  return { now: () => t, advance: (ms: number) => (t += ms) };
}

const token = (value: string, at = 0) => ({ value, expiresAt: at + 7_200_000, refreshAt: at + 6_900_000 });

describe('MemoryStore', () => {
  it('serves a token until its TTL elapses on the injected clock, then forgets it', async () => {
    const c = clock();
    const store = new MemoryStore({ now: c.now });
    await store.set('k', token('A'), 1000);
    c.advance(999);
    expect((await store.get('k'))?.value).toBe('A');
    c.advance(1);
    expect(await store.get('k')).toBeUndefined();
  });

  it('does not store a token with a TTL of zero or less', async () => {
    const store = new MemoryStore();
    await store.set('k', token('A'), 0);
    await store.set('j', token('B'), -5);
    expect(await store.get('k')).toBeUndefined();
    expect(await store.get('j')).toBeUndefined();
  });

  it('returns a copy, so a caller cannot mutate the stored token', async () => {
    const store = new MemoryStore();
    await store.set('k', token('A'), 1000);
    const got = await store.get('k');
    if (got) got.value = 'mutated';
    expect((await store.get('k'))?.value).toBe('A');
  });

  it('compareAndDelete removes only the token it was asked about (a fresh one survives)', async () => {
    const store = new MemoryStore();
    await store.set('k', token('fresh'), 1000);
    expect(await store.compareAndDelete('k', 'old')).toBe(false);
    expect((await store.get('k'))?.value).toBe('fresh');
    expect(await store.compareAndDelete('k', 'fresh')).toBe(true);
    expect(await store.get('k')).toBeUndefined();
    expect(await store.compareAndDelete('missing', 'x')).toBe(false);
  });

  it('grants a lease to one holder at a time until it is released or expires', async () => {
    const c = clock();
    const store = new MemoryStore({ now: c.now });
    const first = await store.acquireLease('L', 100);
    expect(first).toBeDefined();
    expect(await store.acquireLease('L', 100)).toBeUndefined();
    await first?.release();
    const second = await store.acquireLease('L', 100);
    expect(second).toBeDefined();
    c.advance(100);
    expect(await store.acquireLease('L', 100)).toBeDefined();
  });

  it("a stale holder's release does not delete a newer holder's lease (fencing)", async () => {
    const c = clock();
    let n = 0;
    const store = new MemoryStore({ now: c.now, randomId: () => `lease-${++n}` });
    const stale = await store.acquireLease('L', 100);
    c.advance(150);
    const current = await store.acquireLease('L', 100);
    expect(current?.token).toBe('lease-2');
    await stale?.release();
    expect(await store.acquireLease('L', 100)).toBeUndefined();
    await current?.release();
    expect(await store.acquireLease('L', 100)).toBeDefined();
  });
});

describe('tokenKey', () => {
  it('names the token kind and the appid, never anything else', () => {
    expect(tokenKey('access_token', 'wx1234567890abcdef')).toBe('weixin-kit:access_token:wx1234567890abcdef');
    expect(tokenKey('work_access_token', 'ww0123', '1000002')).toBe(
      'weixin-kit:work_access_token:ww0123:1000002',
    );
    expect(leaseKeyOf(tokenKey('jsapi_ticket', 'wxabc'))).toBe('weixin-kit:jsapi_ticket:wxabc:lease');
  });

  it('refuses a part that is not an identifier, without echoing it', () => {
    const secret = 'not an appid: s3cr3t/with+slash=';
    let thrown: unknown;
    try {
      tokenKey('access_token', secret);
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(ConfigError);
    expect((thrown as ConfigError).code).toBe('INVALID_ARGUMENT');
    expect((thrown as Error).message).not.toContain('s3cr3t');
    expect(() => tokenKey('access_token', '')).toThrow(ConfigError);
  });
});
