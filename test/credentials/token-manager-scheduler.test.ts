// Waiting on a peer's lease with an injected scheduler: the polls fire when the test advances
// virtual time, and waitForPeerMs is measured on the same time line, so no wall-clock waits.
import { describe, expect, it } from 'vitest';
import { tokenManagerFrom } from '../../src/core/build-client.js';
import { MemoryStore } from '../../src/credentials/memory-store.js';
import { type FetchedToken, TokenManager } from '../../src/credentials/token-manager.js';
import { leaseKeyOf, tokenKey } from '../../src/credentials/token-store.js';
import { ConfigError } from '../../src/errors.js';
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

  it('rejects a scheduler or random of the wrong shape with INVALID_CONFIG', () => {
    const fetchToken = gatedFetch().fetchToken;
    expect(() => new TokenManager({ key: KEY, fetchToken, scheduler: {} as never })).toThrow(ConfigError);
    expect(() => new TokenManager({ key: KEY, fetchToken, random: 0.5 as never })).toThrow(ConfigError);
  });
});
