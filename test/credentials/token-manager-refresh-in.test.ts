import { describe, expect, it } from 'vitest';
import { MemoryStore } from '../../src/credentials/memory-store.js';
import { TokenManager } from '../../src/credentials/token-manager.js';

describe('TokenManager: a fetcher asking for an early refresh (refreshInMs)', () => {
  it('serves the token for refreshInMs only, capped at its lifetime, then fetches again', async () => {
    let t = 1_700_000_000_000;
    const now = () => t;
    const answers = [
      { value: 'old', expiresIn: 200, refreshInMs: 1500 },
      { value: 'short', expiresIn: 2, refreshInMs: 60_000 },
      { value: 'new', expiresIn: 7200 },
    ];
    let fetches = 0;
    const manager = new TokenManager({
      key: 'weixin-kit:access_token:wxrefreshin000001',
      store: new MemoryStore({ now }),
      now,
      fetchToken: async () => answers[fetches++] as (typeof answers)[number],
    });
    expect(await manager.get()).toBe('old');
    t += 1499;
    expect(await manager.get()).toBe('old');
    expect(fetches).toBe(1);
    t += 1;
    expect(await manager.get()).toBe('short');
    // refreshInMs beyond the lifetime is capped at it: refreshed when the token expires.
    t += 1999;
    expect(await manager.get()).toBe('short');
    t += 1;
    expect(await manager.get()).toBe('new');
    expect(fetches).toBe(3);
  });
});
