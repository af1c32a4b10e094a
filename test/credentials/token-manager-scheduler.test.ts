// Waiting on a peer's lease with an injected scheduler: the polls fire when the test advances
// virtual time, and waitForPeerMs is measured on the same time line, so no wall-clock waits.
import { describe, expect, it } from 'vitest';
import { tokenManagerFrom } from '../../src/core/build-client.js';
import { MemoryStore } from '../../src/credentials/memory-store.js';
import { type FetchedToken, TokenManager } from '../../src/credentials/token-manager.js';
import type { TokenStore } from '../../src/credentials/token-store.js';
import { ConfigError, StoreError } from '../../src/errors.js';
import { leaseKeyOf, tokenKey } from '../../src/internal/store-keys.js';
import { ManualScheduler } from '../helpers/manual-scheduler.js';

const KEY = tokenKey('access_token', 'wx1234567890abcdef');

/** A fetch the test answers by hand, with an event for "the fetch has started". */
function gatedFetch() {
  let started: () => void = () => {};
  const whenStarted = new Promise<void>((resolve) => (started = resolve));
  let answer: (token: FetchedToken) => void = () => {};
  let calls = 0;
  const fetchToken = () => {
    calls += 1;
    started();
    return new Promise<FetchedToken>((resolve) => (answer = resolve));
  };
  return { fetchToken, whenStarted, answer: (t: FetchedToken) => answer(t), calls: () => calls };
}

describe('TokenManager: waiting on a peer lease with an injected scheduler', () => {
  it('polls on the scheduler with injected jitter and serves the token the lease holder stored', async () => {
    const store = new MemoryStore();
    const peer = gatedFetch();
    const holder = new TokenManager({ key: KEY, store, fetchToken: peer.fetchToken });
    const held = holder.get();
    await peer.whenStarted; // the holder has the lease and is fetching

    const manual = new ManualScheduler();
    const own = gatedFetch();
    const waits: string[] = [];
    const waiter = new TokenManager({
      key: KEY,
      store,
      fetchToken: own.fetchToken,
      scheduler: manual,
      random: () => 0.5,
      hooks: { onWait: (e) => waits.push(e.key) },
    });
    let served: string | undefined;
    const waited = waiter.get().then((token) => (served = token));

    await manual.whenPending();
    expect(waits).toEqual([KEY]);
    // First poll after 20/2 + 0.5·20/2 = 15 ms of virtual time, then 30 ms (delay doubled).
    await manual.advance(15);
    expect(manual.pending).toBe(1);
    peer.answer({ value: 'tok-peer', expiresIn: 7200 });
    expect(await held).toBe('tok-peer');
    await manual.advance(29);
    expect(served).toBeUndefined();
    await manual.advance(1);
    await waited;

    expect(served).toBe('tok-peer');
    expect(own.calls()).toBe(0);
    expect(manual.pending).toBe(0);
    expect(manual.now()).toBe(45);
  });

  it('fails with LEASE_TIMEOUT once waitForPeerMs has passed on the scheduler, without fetching', async () => {
    const store = new MemoryStore();
    await store.acquireLease(leaseKeyOf(KEY), 10 * 60_000); // a holder that neither writes nor lets go
    const manual = new ManualScheduler();
    const own = gatedFetch();
    const manager = tokenManagerFrom({ scheduler: manual }, store, KEY, own.fetchToken);
    const failed = manager.get().catch((error: unknown) => error);

    await manual.whenPending();
    // The default waitForPeerMs (15 s) of virtual time, spent in no real time.
    await manual.advance(15_000);
    expect(await failed).toMatchObject({ name: 'StoreError', code: 'LEASE_TIMEOUT' });
    expect(manual.pending).toBe(0);
    expect(own.calls()).toBe(0);
  });

  it("'local': tries the failed shared store again only once 5 s have passed on the scheduler", async () => {
    const manual = new ManualScheduler();
    const shared = new MemoryStore();
    const health = { down: true, calls: 0 };
    // The shared store (Redis, say) is unreachable at first, then comes back.
    const flaky = <T>(run: () => Promise<T>): Promise<T> => {
      health.calls += 1;
      return health.down
        ? Promise.reject(new StoreError('STORE_UNAVAILABLE', 'connect ECONNREFUSED'))
        : run();
    };
    const store: TokenStore = {
      get: (k) => flaky(() => shared.get(k)),
      set: (k, t, ttl) => flaky(() => shared.set(k, t, ttl)),
      compareAndDelete: (k, v) => flaky(() => shared.compareAndDelete(k, v)),
      acquireLease: (k, ttl) => flaky(() => shared.acquireLease(k, ttl)),
    };
    let fetched = 0;
    const fallbacks: string[] = [];
    const manager = new TokenManager({
      key: KEY,
      store,
      fetchToken: async () => ({ value: `tok-${++fetched}`, expiresIn: 7200 }),
      onStoreUnavailable: 'local',
      scheduler: manual,
      hooks: { onStoreError: (e) => fallbacks.push(e.fallback) },
    });

    expect(await manager.get()).toBe('tok-1'); // kept in this process
    expect(fallbacks).toEqual(['local']);
    const askedWhileDown = health.calls;
    health.down = false;
    await manual.advance(4999);
    expect(await manager.get()).toBe('tok-1');
    expect(health.calls).toBe(askedWhileDown); // not asked again yet, though it is back
    await manual.advance(1);
    // Back on the shared store, which has no token yet: this instance fetches one and shares it.
    expect(await manager.get()).toBe('tok-2');
    expect(health.calls).toBeGreaterThan(askedWhileDown);
    expect((await shared.get(KEY))?.value).toBe('tok-2');
    expect(manual.pending).toBe(0);
  });

  it('rejects a scheduler or random of the wrong shape with INVALID_CONFIG', () => {
    const fetchToken = gatedFetch().fetchToken;
    expect(() => new TokenManager({ key: KEY, fetchToken, scheduler: {} as never })).toThrow(ConfigError);
    expect(() => new TokenManager({ key: KEY, fetchToken, random: 0.5 as never })).toThrow(ConfigError);
  });
});
