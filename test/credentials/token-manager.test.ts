import { describe, expect, it, vi } from 'vitest';
import { CredentialConfigError } from '../../src/credentials/credential-errors.js';
import { MemoryStore } from '../../src/credentials/memory-store.js';
import { TokenCooldownError } from '../../src/credentials/token-cooldown.js';
import { type FetchedToken, TokenManager } from '../../src/credentials/token-manager.js';
import type { TokenStore } from '../../src/credentials/token-store.js';
import { ConfigError, StoreError, TransportError, WeChatApiError } from '../../src/errors.js';
import { leaseKeyOf, tokenKey } from '../../src/internal/store-keys.js';
import { runWorkers } from '../helpers/cross-process.js';
import { drain, drainUntil, ManualScheduler } from '../helpers/manual-scheduler.js';

const KEY = tokenKey('access_token', 'wx1234567890abcdef');
const SECRET = 'e3b0c44298fc1c149afbf4c8996fb924';

function clock(start = 1_700_000_000_000) {
  let t = start;
  return { now: () => t, advance: (ms: number) => (t += ms) };
}

/** A fetcher that answers tok-1, tok-2, … one event-loop turn later (no timer), counting its calls. */
function counter(expiresIn = 7200) {
  let calls = 0;
  const fetchToken = vi.fn(async (): Promise<FetchedToken> => {
    calls++;
    const n = calls;
    await new Promise((r) => setImmediate(r));
    return { value: `tok-${n}`, expiresIn };
  });
  return { fetchToken, calls: () => calls };
}

/** A fetcher the test answers by hand (tok-1, tok-2, …), with an event for "a fetch has started". */
function gated(expiresIn = 7200) {
  let calls = 0;
  const answers: Array<() => void> = [];
  let started: () => void = () => {};
  const whenStarted = new Promise<void>((resolve) => (started = resolve));
  const fetchToken = async (): Promise<FetchedToken> => {
    calls++;
    const n = calls;
    started();
    await new Promise<void>((resolve) => answers.push(resolve));
    return { value: `tok-${n}`, expiresIn };
  };
  return { fetchToken, whenStarted, answer: () => answers.shift()?.(), calls: () => calls };
}

/** A store whose every operation fails like an unreachable backend. */
const brokenStore: TokenStore = {
  get: () => Promise.reject(new StoreError('STORE_UNAVAILABLE', 'Redis GET failed: connect ECONNREFUSED')),
  set: () => Promise.reject(new StoreError('STORE_UNAVAILABLE', 'Redis SET failed')),
  compareAndDelete: () => Promise.reject(new StoreError('STORE_UNAVAILABLE', 'Redis EVAL failed')),
  acquireLease: () => Promise.reject(new StoreError('STORE_UNAVAILABLE', 'Redis SET NX failed')),
};

describe('TokenManager', () => {
  it('200 concurrent get() on a cold cache call fetchToken once', async () => {
    const f = counter();
    const manager = new TokenManager({ key: KEY, fetchToken: f.fetchToken });
    const tokens = await Promise.all(Array.from({ length: 200 }, () => manager.get()));
    expect(f.calls()).toBe(1);
    expect(new Set(tokens)).toEqual(new Set(['tok-1']));
    expect(await manager.get()).toBe('tok-1');
    expect(f.calls()).toBe(1);
  });

  it('refreshes refreshMarginSeconds before expiry, not before', async () => {
    const c = clock();
    const f = counter(7200);
    const manager = new TokenManager({
      key: KEY,
      fetchToken: f.fetchToken,
      now: c.now,
      refreshMarginSeconds: 300,
    });
    expect(await manager.get()).toBe('tok-1');
    c.advance((7200 - 300) * 1000 - 1);
    expect(await manager.get()).toBe('tok-1');
    c.advance(1);
    expect(await manager.get()).toBe('tok-2');
    expect(f.calls()).toBe(2);
  });

  it('uses expiresIn as given and caps the margin at half a short lifetime (no refresh on every call)', async () => {
    const c = clock();
    const f = counter(200); // shorter than the 300 s margin
    const store = new MemoryStore({ now: c.now });
    const set = vi.spyOn(store, 'set');
    const manager = new TokenManager({ key: KEY, fetchToken: f.fetchToken, now: c.now, store });
    expect(await manager.get()).toBe('tok-1');
    expect(set).toHaveBeenCalledWith(KEY, expect.objectContaining({ value: 'tok-1' }), 100_000);
    c.advance(99_999);
    expect(await manager.get()).toBe('tok-1');
    c.advance(1);
    expect(await manager.get()).toBe('tok-2');
  });

  it('invalidate drops the failed token, and the next get() fetches a new one', async () => {
    const f = counter();
    const manager = new TokenManager({ key: KEY, fetchToken: f.fetchToken });
    const failed = await manager.get();
    expect(await manager.invalidate(failed)).toBe(true);
    expect(await manager.get()).toBe('tok-2');
    expect(f.calls()).toBe(2);
  });

  it('invalidate of an old token keeps the fresh one another instance stored (compare-and-delete)', async () => {
    const store = new MemoryStore();
    const a = counter();
    const b = counter();
    const instanceA = new TokenManager({ key: KEY, store, fetchToken: a.fetchToken });
    const instanceB = new TokenManager({
      key: KEY,
      store,
      fetchToken: async () => ({ value: 'fresh', expiresIn: 7200 }),
    });
    const old = await instanceA.get();
    await instanceB.invalidate(old);
    expect(await instanceB.get()).toBe('fresh');
    // A sees its old token fail and invalidates it late: the fresh one must survive.
    expect(await instanceA.invalidate(old)).toBe(false);
    expect(await instanceA.get()).toBe('fresh');
    expect(a.calls()).toBe(1);
    expect(b.calls()).toBe(0);
  });

  it('a get() after invalidate does not join a lookup that started before it', async () => {
    const store = new MemoryStore();
    const f = counter();
    const manager = new TokenManager({ key: KEY, store, fetchToken: f.fetchToken });
    await manager.get();
    const before = manager.get(); // in flight, will read tok-1
    await manager.invalidate('tok-1');
    const after = manager.get();
    expect(await before).toBe('tok-1');
    expect(await after).toBe('tok-2');
  });

  // The waits on a held lease below run on a manual scheduler (store and manager read the same
  // virtual clock): polls fire when the test advances time, never on the wall clock.
  it('instances sharing a store: one takes the lease and fetches, the others wait for its token', async () => {
    const manual = new ManualScheduler();
    const store = new MemoryStore();
    const f = gated();
    const waits: string[] = [];
    const instances = Array.from(
      { length: 4 },
      () =>
        new TokenManager({
          key: KEY,
          store,
          fetchToken: f.fetchToken,
          scheduler: manual,
          random: () => 0.5,
          hooks: { onWait: (e) => waits.push(e.key) },
        }),
    );
    const all = Promise.all(instances.flatMap((m) => Array.from({ length: 50 }, () => m.get())));
    await f.whenStarted;
    // The other three found the lease taken and each wait for their first poll.
    await drainUntil(() => manual.pending === 3, 'three waiting instances');
    expect(waits).toEqual([KEY, KEY, KEY]);
    f.answer();
    await drain(); // the holder stores the token and lets the lease go
    await manual.advance(15); // the first poll: 20/2 + 0.5·20/2 ms
    const tokens = await all;
    expect(f.calls()).toBe(1);
    expect(new Set(tokens)).toEqual(new Set(['tok-1']));
    expect(manual.pending).toBe(0);
  });

  it('a waiter takes over when the holder never writes and its lease expires', async () => {
    const manual = new ManualScheduler();
    const now = () => 1_700_000_000_000 + manual.now();
    const store = new MemoryStore({ now });
    const dead = await store.acquireLease(leaseKeyOf(KEY), 80); // a holder that died
    expect(dead).toBeDefined();
    const f = counter();
    const manager = new TokenManager({
      key: KEY,
      store,
      now,
      fetchToken: f.fetchToken,
      waitForPeerMs: 2000,
      scheduler: manual,
      random: () => 0.5,
    });
    let served: string | undefined;
    const got = manager.get().then((token) => (served = token));
    await manual.whenPending();
    // Polls at 15, 45 and 105 ms (jittered waits of 20, 40, 80 ms): the lease expires at 80 ms,
    // and the first poll after that takes it over.
    await manual.advance(104);
    expect(f.calls()).toBe(0);
    expect(served).toBeUndefined();
    await manual.advance(1);
    await got;
    expect(served).toBe('tok-1');
    expect(f.calls()).toBe(1);
  });

  it('fails with LEASE_TIMEOUT when the holder neither writes nor lets go within waitForPeerMs', async () => {
    const manual = new ManualScheduler();
    const store = new MemoryStore();
    await store.acquireLease(leaseKeyOf(KEY), 60_000);
    const f = counter();
    const manager = new TokenManager({
      key: KEY,
      store,
      fetchToken: f.fetchToken,
      waitForPeerMs: 150,
      scheduler: manual,
    });
    const failed = manager.get().catch((error: unknown) => error);
    await manual.whenPending();
    await manual.advance(150);
    expect(await failed).toMatchObject({ name: 'StoreError', code: 'LEASE_TIMEOUT' });
    expect(f.calls()).toBe(0);
    expect(manual.pending).toBe(0);
  });

  it('releases the lease when fetchToken fails, and the next get() tries again', async () => {
    const store = new MemoryStore();
    let calls = 0;
    const manager = new TokenManager({
      key: KEY,
      store,
      fetchToken: async () => {
        calls++;
        if (calls === 1) throw new Error('WeChat said no');
        return { value: 'ok', expiresIn: 7200 };
      },
    });
    await expect(manager.get()).rejects.toThrow('WeChat said no');
    expect(await manager.get()).toBe('ok');
    expect(await store.acquireLease(leaseKeyOf(KEY), 10)).toBeDefined();
  });

  it('refuses a fetchToken answer without a value or with a non-positive expiresIn', async () => {
    const bad = new TokenManager({ key: KEY, fetchToken: async () => ({ value: '', expiresIn: 7200 }) });
    await expect(bad.get()).rejects.toBeInstanceOf(ConfigError);
    const negative = new TokenManager({ key: KEY, fetchToken: async () => ({ value: 'x', expiresIn: -1 }) });
    await expect(negative.get()).rejects.toBeInstanceOf(ConfigError);
  });

  it('reports refreshes through hooks without the token value', async () => {
    const events: unknown[] = [];
    const manager = new TokenManager({
      key: KEY,
      fetchToken: async () => ({ value: 'VALUE-NEVER-LOGGED', expiresIn: 7200 }),
      hooks: { onRefresh: (e) => events.push(e) },
    });
    await manager.get();
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({ key: KEY, expiresIn: 7200 });
    expect(JSON.stringify(events)).not.toContain('VALUE-NEVER-LOGGED');
  });

  it('keys name the appid and kind; the secret given to fetchToken never reaches the store', async () => {
    const store = new MemoryStore();
    const seen: string[] = [];
    const spy: TokenStore = {
      get: (k) => {
        seen.push(k);
        return store.get(k);
      },
      set: (k, t, ttl) => {
        seen.push(k);
        return store.set(k, t, ttl);
      },
      compareAndDelete: (k, v) => {
        seen.push(k);
        return store.compareAndDelete(k, v);
      },
      acquireLease: (k, ttl) => {
        seen.push(k);
        return store.acquireLease(k, ttl);
      },
    };
    const manager = new TokenManager({
      key: tokenKey('access_token', 'wx1234567890abcdef'),
      store: spy,
      fetchToken: async () => ({ value: `token-from-${SECRET.length}`, expiresIn: 7200 }),
    });
    await manager.invalidate(await manager.get());
    expect(new Set(seen)).toEqual(new Set([KEY, `${KEY}:lease`]));
    for (const k of seen) expect(k).not.toContain(SECRET);
  });

  describe('failure cool-down', () => {
    const busy = () => new WeChatApiError(-1, 'system error rid: 1-2-3', { path: '/cgi-bin/stable_token' });
    /** A fetcher that fails with `fail()` while `failing` is true, else answers tok-1, tok-2, … */
    function flaky(fail: () => unknown = busy) {
      const state = { failing: true, calls: 0 };
      const fetchToken = async (): Promise<FetchedToken> => {
        state.calls++;
        if (state.failing) throw fail();
        return { value: `tok-${state.calls}`, expiresIn: 7200 };
      };
      return { state, fetchToken };
    }

    it('callers after a failed fetch get TOKEN_COOLDOWN without a fetch until the cool-down ends', async () => {
      const c = clock();
      const f = flaky();
      const manager = new TokenManager({ key: KEY, fetchToken: f.fetchToken, now: c.now });
      const first = await manager.get().catch((e: unknown) => e);
      expect(first).toBeInstanceOf(WeChatApiError);
      for (let i = 0; i < 19; i++) {
        const error = await manager.get().catch((e: unknown) => e);
        expect(error).toBeInstanceOf(TokenCooldownError);
        expect(error).toMatchObject({
          code: 'TOKEN_COOLDOWN',
          lastCode: 'SYSTEM_BUSY',
          errcode: -1,
          errmsg: 'system error rid: 1-2-3',
          rid: '1-2-3',
          failures: 1,
          retryAt: c.now() + 1000,
        });
        expect((error as TokenCooldownError).cause).toBe(first);
        expect((error as Error).message).toMatch(/Not asking WeChat again for 1 s/);
      }
      expect(f.state.calls).toBe(1);
      c.advance(999);
      await expect(manager.get()).rejects.toBeInstanceOf(TokenCooldownError);
      expect(f.state.calls).toBe(1);
      f.state.failing = false;
      c.advance(1);
      expect(await manager.get()).toBe('tok-2');
      expect(f.state.calls).toBe(2);
    });

    it('doubles with each consecutive failure up to maxMs, and a success resets it', async () => {
      const c = clock();
      const f = flaky();
      const manager = new TokenManager({ key: KEY, fetchToken: f.fetchToken, now: c.now });
      const waits: number[] = [];
      for (let i = 0; i < 7; i++) {
        await expect(manager.get()).rejects.toBeInstanceOf(WeChatApiError);
        const refused = (await manager.get().catch((e: unknown) => e)) as TokenCooldownError;
        expect(refused.failures).toBe(i + 1);
        waits.push(refused.retryAt - c.now());
        c.advance(refused.retryAt - c.now());
      }
      expect(waits).toEqual([1000, 2000, 4000, 8000, 16_000, 30_000, 30_000]);
      f.state.failing = false;
      expect(await manager.get()).toBe('tok-8');
      // A failure after the success starts again at 1 s.
      f.state.failing = true;
      c.advance(7_200_000);
      await expect(manager.get()).rejects.toBeInstanceOf(WeChatApiError);
      expect(((await manager.get().catch((e: unknown) => e)) as TokenCooldownError).retryAt - c.now()).toBe(
        1000,
      );
    });

    it('is shared through the store: another instance makes no request during it', async () => {
      const c = clock();
      const store = new MemoryStore({ now: c.now });
      const a = flaky(
        () => new TransportError('TIMEOUT', 'POST https://api.weixin.qq.com/cgi-bin/stable_token timed out'),
      );
      const b = counter();
      const instanceA = new TokenManager({ key: KEY, store, fetchToken: a.fetchToken, now: c.now });
      const instanceB = new TokenManager({ key: KEY, store, fetchToken: b.fetchToken, now: c.now });
      await expect(instanceA.get()).rejects.toMatchObject({ code: 'TIMEOUT' });
      const error = await instanceB.get().catch((e: unknown) => e);
      expect(error).toMatchObject({ code: 'TOKEN_COOLDOWN', lastCode: 'TIMEOUT', errcode: undefined });
      // Another instance has no original error object: only the recorded codes.
      expect((error as Error).cause).toBeUndefined();
      expect(b.calls()).toBe(0);
      c.advance(1000);
      expect(await instanceB.get()).toBe('tok-1');
      expect(await instanceA.get()).toBe('tok-1');
      expect(a.state.calls).toBe(1);
    });

    it('a refused setting (ConfigError of issue 9) enters the cool-down too', async () => {
      const c = clock();
      const refusal = () =>
        new CredentialConfigError(
          'INVALID_APPSECRET',
          'check the secret option',
          new WeChatApiError(40125, 'invalid appsecret'),
        );
      const f = flaky(refusal);
      const manager = new TokenManager({ key: KEY, fetchToken: f.fetchToken, now: c.now });
      await expect(manager.get()).rejects.toMatchObject({ code: 'INVALID_APPSECRET' });
      await expect(manager.get()).rejects.toMatchObject({
        code: 'TOKEN_COOLDOWN',
        lastCode: 'INVALID_APPSECRET',
        errcode: 40125,
      });
      expect(f.state.calls).toBe(1);
    });

    it('other errors (a bug in a custom fetchToken) and failureCooldown: false start none', async () => {
      const c = clock();
      const plain = flaky(() => new TypeError('cannot read properties of undefined'));
      const custom = new TokenManager({ key: KEY, fetchToken: plain.fetchToken, now: c.now });
      await expect(custom.get()).rejects.toBeInstanceOf(TypeError);
      await expect(custom.get()).rejects.toBeInstanceOf(TypeError);
      expect(plain.state.calls).toBe(2);
      const off = flaky();
      const manager = new TokenManager({
        key: KEY,
        fetchToken: off.fetchToken,
        now: c.now,
        failureCooldown: false,
      });
      await expect(manager.get()).rejects.toBeInstanceOf(WeChatApiError);
      await expect(manager.get()).rejects.toBeInstanceOf(WeChatApiError);
      expect(off.state.calls).toBe(2);
    });

    it('honours configured initialMs / maxMs and refuses bad values', async () => {
      const c = clock();
      const f = flaky();
      const manager = new TokenManager({
        key: KEY,
        fetchToken: f.fetchToken,
        now: c.now,
        failureCooldown: { initialMs: 250, maxMs: 400 },
      });
      const waits: number[] = [];
      for (let i = 0; i < 3; i++) {
        await expect(manager.get()).rejects.toBeInstanceOf(WeChatApiError);
        const refused = (await manager.get().catch((e: unknown) => e)) as TokenCooldownError;
        waits.push(refused.retryAt - c.now());
        c.advance(refused.retryAt - c.now());
      }
      expect(waits).toEqual([250, 400, 400]);
      const make = (failureCooldown: unknown) => () =>
        new TokenManager({ key: KEY, fetchToken: f.fetchToken, failureCooldown } as never);
      expect(make({ initialMs: 0 })).toThrow(ConfigError);
      expect(make({ initialMs: 5000, maxMs: 1000 })).toThrow(ConfigError);
      expect(make({ ms: 1 })).toThrow(/unknown option "ms"/);
    });

    it('never puts a secret or a token into the stored cool-down', async () => {
      const c = clock();
      const store = new MemoryStore({ now: c.now });
      let calls = 0;
      const manager = new TokenManager({
        key: KEY,
        store,
        now: c.now,
        fetchToken: async () => {
          if (++calls === 1) return { value: 'VALUE-NEVER-STORED-IN-COOLDOWN', expiresIn: 7200 };
          throw new WeChatApiError(-1, 'system error');
        },
      });
      const old = await manager.get();
      await manager.invalidate(old);
      await expect(manager.get()).rejects.toBeInstanceOf(WeChatApiError);
      const stored = await store.get(KEY);
      expect(stored?.value).toMatch(/^weixin-kit-cooldown:/);
      expect(stored).toMatchObject({ expiresAt: 0, refreshAt: 0 });
      expect(stored?.value).not.toContain(old);
      expect(stored?.value).not.toContain(SECRET);
    });
  });

  describe('store unavailable', () => {
    it("'fail' (default): the StoreError propagates, typed, and nothing is fetched", async () => {
      const f = counter();
      const errors: string[] = [];
      const manager = new TokenManager({
        key: KEY,
        store: brokenStore,
        fetchToken: f.fetchToken,
        hooks: { onStoreError: (e) => errors.push(`${e.fallback}:${e.error.code}`) },
      });
      await expect(manager.get()).rejects.toMatchObject({ name: 'StoreError', code: 'STORE_UNAVAILABLE' });
      await expect(manager.invalidate('x')).rejects.toMatchObject({ code: 'STORE_UNAVAILABLE' });
      expect(f.calls()).toBe(0);
      expect(errors).toEqual(['none:STORE_UNAVAILABLE', 'none:STORE_UNAVAILABLE']);
    });

    it('wraps a foreign store error into STORE_UNAVAILABLE', async () => {
      const manager = new TokenManager({
        key: KEY,
        store: { ...brokenStore, get: () => Promise.reject(new Error('socket hang up')) },
        fetchToken: counter().fetchToken,
      });
      await expect(manager.get()).rejects.toMatchObject({ name: 'StoreError', code: 'STORE_UNAVAILABLE' });
    });

    it("'local': falls back to this process with a warning, still single-flight", async () => {
      const f = counter();
      const warnings: Array<{ key: string; code: string; fallback: string }> = [];
      const manager = new TokenManager({
        key: KEY,
        store: brokenStore,
        fetchToken: f.fetchToken,
        onStoreUnavailable: 'local',
        hooks: {
          onStoreError: (e) => warnings.push({ key: e.key, code: e.error.code, fallback: e.fallback }),
        },
      });
      const tokens = await Promise.all(Array.from({ length: 200 }, () => manager.get()));
      expect(new Set(tokens)).toEqual(new Set(['tok-1']));
      expect(f.calls()).toBe(1);
      expect(warnings[0]).toEqual({ key: KEY, code: 'STORE_UNAVAILABLE', fallback: 'local' });
      expect(await manager.invalidate('tok-1')).toBe(true);
      expect(await manager.get()).toBe('tok-2');
    });

    // Run in a child process: the default warning is printed by Node, and printed here it would
    // put "Redis GET failed: connect ECONNREFUSED" in the output of a passing test run.
    it("'local' without a hook emits a process warning instead of staying silent (in a child process)", async () => {
      // runWorkers fails unless the worker exits 0 with its result.
      const [run] = await runWorkers<string>(
        new URL('./fixtures/store-fallback-worker.ts', import.meta.url),
        {
          timeoutMs: 10_000,
        },
      );
      const err = run?.stderr ?? '';
      expect(run?.result).toBe('tok-1');
      expect(err).toContain('[WEIXIN_KIT_STORE_FALLBACK]');
      expect(err).toContain(`token store unavailable for "${KEY}"`);
    }, 15_000);

    it("'local' keeps a token fetched before the shared store failed on SET, instead of fetching again", async () => {
      const store = new MemoryStore();
      const f = counter();
      const warnings: string[] = [];
      const manager = new TokenManager({
        key: KEY,
        store: {
          get: (k) => store.get(k),
          set: brokenStore.set,
          compareAndDelete: (k, v) => store.compareAndDelete(k, v),
          acquireLease: (k, t) => store.acquireLease(k, t),
        },
        fetchToken: f.fetchToken,
        onStoreUnavailable: 'local',
        hooks: { onStoreError: (e) => warnings.push(e.fallback) },
      });
      expect(await manager.get()).toBe('tok-1');
      expect(await manager.get()).toBe('tok-1');
      expect(f.calls()).toBe(1);
      expect(warnings).toEqual(['local']);
    });
  });

  describe('configuration', () => {
    it('rejects unknown options, a missing key or fetchToken and bad numbers', () => {
      const fetchToken = async () => ({ value: 'x', expiresIn: 1 });
      const make = (o: object) => () => new TokenManager(o as never);
      expect(make({ key: KEY, fetchToken, secret: SECRET })).toThrow(/unknown option "secret"/);
      expect(make({ key: '', fetchToken })).toThrow(ConfigError);
      expect(make({ key: KEY })).toThrow(ConfigError);
      expect(make({ key: KEY, fetchToken, refreshMarginSeconds: -1 })).toThrow(ConfigError);
      expect(make({ key: KEY, fetchToken, leaseTtlMs: 0 })).toThrow(ConfigError);
      expect(make({ key: KEY, fetchToken, waitForPeerMs: Number.NaN })).toThrow(ConfigError);
      expect(make({ key: KEY, fetchToken, onStoreUnavailable: 'ignore' })).toThrow(ConfigError);
      expect(make({ key: KEY, fetchToken, refreshMarginSeconds: 0 })).not.toThrow();
    });
  });
});
