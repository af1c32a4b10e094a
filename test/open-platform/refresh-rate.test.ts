import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { MemoryStore } from '../../src/credentials/memory-store.js';
import { type RunningEmulator, startEmulator } from '../../src/emulator/index.js';
import { ConfigError, type WeChatKitError } from '../../src/errors.js';
import { tokenKey } from '../../src/internal/store-keys.js';
import { raceTimer } from '../../src/internal/timers.js';
import { AuthorizerRefreshTimeoutError, OpenPlatform } from '../../src/open-platform/index.js';
import { RefreshRateLimiter, resolveRefreshRate } from '../../src/open-platform/refresh-rate.js';
import { ManualScheduler } from '../helpers/manual-scheduler.js';

const component = {
  componentAppId: 'wxc0mp0nent0000009',
  componentSecret: 'component-secret-rate-0123456789',
  token: 'ComponentToken',
  encodingAESKey: 'abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG',
};
const ids = Array.from({ length: 5 }, (_, i) => `wxrate${String(i).padStart(10, '0')}`);

// biome-ignore lint/suspicious/noExplicitAny: control-plane answers are inspected field by field
type Json = any;

/** A call that must not wait: bounded, so a regression fails instead of hanging. */
const promptly = <T>(promise: Promise<T>) =>
  raceTimer(promise, 5000, () => {
    throw new Error('the call waited');
  });

describe('authorizerRefresh options', () => {
  const base = { componentAppId: component.componentAppId, componentSecret: 'secret' };

  it('refuses settings that cannot limit anything, naming the field', () => {
    const bad: Array<[unknown, RegExp]> = [
      [{ maxPerSecond: 0 }, /maxPerSecond must be a whole number/],
      [{ maxPerSecond: 1.5 }, /maxPerSecond must be a whole number/],
      [{}, /maxPerSecond must be a whole number/],
      [{ maxPerSecond: 10, jitterSeconds: -1 }, /jitterSeconds must be/],
      [{ maxPerSecond: 10, maxWaitMs: Number.NaN }, /maxWaitMs must be/],
      [{ maxPerSecond: 10, rate: 3 }, /rate is unknown/],
      ['fast', /must be \{ maxPerSecond/],
    ];
    for (const [value, message] of bad) {
      const build = () => new OpenPlatform({ ...base, authorizerRefresh: value as never });
      expect(build).toThrow(ConfigError);
      expect(build).toThrow(message);
    }
    expect(resolveRefreshRate({ maxPerSecond: 3 })).toEqual({
      maxPerSecond: 3,
      jitterSeconds: 600,
      maxWaitMs: 5000,
    });
  });
});

describe('RefreshRateLimiter (one process, injected clock)', () => {
  it('gives maxPerSecond slots per 1.5 s window and says when the next frees', async () => {
    const scheduler = new ManualScheduler();
    const now = () => scheduler.now();
    const limiter = new RefreshRateLimiter(
      { maxPerSecond: 2, jitterSeconds: 0, maxWaitMs: 5000 },
      new MemoryStore({ now }),
      'k',
      now,
      scheduler,
    );
    expect(await limiter.tryTake()).toBe(0);
    await scheduler.advance(100);
    expect(await limiter.tryTake()).toBe(0);
    expect(await limiter.tryTake()).toBe(1400);
    // take() waits on the scheduler for the oldest slot to leave the window.
    let taken = false;
    const waiting = limiter.take('wxrate0000000000').then(() => {
      taken = true;
    });
    await scheduler.whenPending();
    await scheduler.advance(1399);
    expect(taken).toBe(false);
    await scheduler.advance(1);
    await waiting;
    expect(taken).toBe(true);
    expect(await limiter.tryTake()).toBe(100);
  });

  it('fails with AUTHORIZER_REFRESH_TIMEOUT when no slot frees within maxWaitMs', async () => {
    const scheduler = new ManualScheduler();
    const now = () => scheduler.now();
    const limiter = new RefreshRateLimiter(
      { maxPerSecond: 1, jitterSeconds: 0, maxWaitMs: 500 },
      new MemoryStore({ now }),
      'k',
      now,
      scheduler,
    );
    await limiter.take('wxrate0000000000');
    const error = (await limiter.take('wxrate0000000001').catch((e: unknown) => e)) as WeChatKitError;
    expect(error).toBeInstanceOf(AuthorizerRefreshTimeoutError);
    expect(error.code).toBe('AUTHORIZER_REFRESH_TIMEOUT');
    expect(error.message).toMatch(/wxrate0000000001.*maxPerSecond: 1/);
  });
});

describe('OpenPlatform with authorizerRefresh (emulator over HTTP, manual clock)', () => {
  let emulator: RunningEmulator;
  let store: MemoryStore;
  const now = () => emulator.state.now();
  const post = async (path: string, body: unknown): Promise<Json> =>
    (await fetch(`${emulator.url}${path}`, { method: 'POST', body: JSON.stringify(body) })).json();
  const refreshStats = async (): Promise<Json> =>
    (await fetch(`${emulator.url}/_emulator/open-platform/refresh-stats`)).json();
  const advance = (advanceSeconds: number) => post('/_emulator/clock', { advanceSeconds });

  /** A platform with a ticket, and `ids` authorised and exchanged (their tokens issued together). */
  async function platform(overrides: Record<string, unknown>): Promise<OpenPlatform> {
    const op = new OpenPlatform({
      componentAppId: component.componentAppId,
      componentSecret: component.componentSecret,
      baseUrl: emulator.url,
      store,
      now,
      ...overrides,
    });
    const { ticket } = await post('/_emulator/open-platform/ticket', {
      componentAppId: component.componentAppId,
    });
    await op.saveVerifyTicket(ticket);
    const { authorizations } = await post('/_emulator/open-platform/authorize-many', {
      componentAppId: component.componentAppId,
      authorizerAppIds: ids,
    });
    for (const a of authorizations) await op.auth.exchangeCode({ authorization_code: a.authorizationCode });
    return op;
  }

  beforeEach(async () => {
    emulator = await startEmulator({
      config: { apps: [], merchants: [], components: [component], options: { clock: 'manual' } },
    });
    store = new MemoryStore({ now });
  });

  afterEach(async () => {
    await emulator?.close();
  });

  it('emulator: authorize-many refuses what it cannot authorise, refresh-stats starts empty', async () => {
    const send = (body: unknown) =>
      fetch(`${emulator.url}/_emulator/open-platform/authorize-many`, {
        method: 'POST',
        body: JSON.stringify(body),
      });
    const componentAppId = component.componentAppId;
    for (const [body, message] of [
      [{ componentAppId, authorizerAppIds: [] }, /array of 1 to 100000/],
      [{ componentAppId, authorizerAppIds: ['nope'] }, /nope is not an AppID/],
      [{ componentAppId, authorizerAppIds: ids, kind: 'shop' }, /kind must be/],
      [{ componentAppId, authorizerAppIds: ids, extra: 1 }, /unknown field "extra"/],
    ] as const) {
      const res = await send(body);
      expect(res.status).toBe(400);
      expect(((await res.json()) as { error: string }).error).toMatch(message);
    }
    expect(await refreshStats()).toEqual({
      total: 0,
      authorizers: 0,
      maxPerAuthorizer: 0,
      maxPerSecond: 0,
      perSecond: [],
    });
  });

  it('spreads the refresh points of tokens issued together over the jitter window, per AppID', async () => {
    await platform({ authorizerRefresh: { maxPerSecond: 10, jitterSeconds: 600 } });
    const margins = await Promise.all(
      ids.map(async (id) => {
        const stored = await store.get(tokenKey('authorizer_access_token', component.componentAppId, id));
        if (stored === undefined) throw new Error(`no token stored for ${id}`);
        return (stored.expiresAt - stored.refreshAt) / 1000;
      }),
    );
    for (const margin of margins) {
      expect(margin).toBeGreaterThanOrEqual(300);
      expect(margin).toBeLessThan(900);
    }
    expect(new Set(margins.map(Math.floor)).size).toBe(ids.length);
  });

  it('past the refresh point, refreshes maxPerSecond per window and serves the valid tokens meanwhile', async () => {
    const op = await platform({ authorizerRefresh: { maxPerSecond: 2, jitterSeconds: 0 } });
    const before = await Promise.all(ids.map((id) => op.authorizer(id).getAccessToken()));
    await advance(6950); // past every refresh point (expiry - 300 s), 250 s before expiry
    const seen = new Map(ids.map((id, i) => [id, before[i]]));
    const refreshed = new Set<string>();
    const rounds: number[] = [];
    while (refreshed.size < ids.length && rounds.length < 30) {
      const tokens = await promptly(Promise.all(ids.map((id) => op.authorizer(id).getAccessToken())));
      let fresh = 0;
      tokens.forEach((token, i) => {
        const id = ids[i] as string;
        if (token !== seen.get(id) && !refreshed.has(id)) {
          refreshed.add(id);
          fresh += 1;
        }
      });
      rounds.push(fresh);
      await advance(2); // the next window
    }
    // 2 per window at most (the first window full), each exactly once, and no call waited.
    expect(rounds[0]).toBe(2);
    expect(Math.max(...rounds)).toBe(2);
    expect(refreshed.size).toBe(ids.length);
    const stats = await refreshStats();
    expect(stats.total).toBe(ids.length);
    expect(stats.maxPerAuthorizer).toBe(1);
  });

  it('a token dropped before its refresh point (WeChat refused it) is never served again while slots are busy', async () => {
    const op = await platform({ authorizerRefresh: { maxPerSecond: 1, jitterSeconds: 0, maxWaitMs: 100 } });
    const [a, b] = ids as [string, string];
    const oldA = await op.authorizer(a).getAccessToken();
    // What TokenManager.invalidate does after a 40001: the stored token goes (compare-and-delete).
    const drop = async (id: string, value: string) =>
      store.compareAndDelete(tokenKey('authorizer_access_token', component.componentAppId, id), value);
    await drop(b, await op.authorizer(b).getAccessToken());
    await promptly(op.authorizer(b).getAccessToken()); // takes the one slot of this window
    await drop(a, oldA);
    const error = (await promptly(op.authorizer(a).getAccessToken()).catch(
      (e: unknown) => e,
    )) as WeChatKitError;
    expect(error.code).toBe('AUTHORIZER_REFRESH_TIMEOUT');
    await advance(2);
    const newA = await promptly(op.authorizer(a).getAccessToken());
    expect(newA).not.toBe(oldA);
    expect((await refreshStats()).total).toBe(2);
  });

  it('an expired token waits for its slot, and fails with AUTHORIZER_REFRESH_TIMEOUT past maxWaitMs', async () => {
    const scheduler = new ManualScheduler();
    const op = await platform({ authorizerRefresh: { maxPerSecond: 1, jitterSeconds: 0 }, scheduler });
    await advance(7300); // every token expired
    const [a, b, c] = ids as [string, string, string];
    const first = await promptly(op.authorizer(a).getAccessToken());
    expect(first).toMatch(/-/);
    let second: string | undefined;
    const waiting = op
      .authorizer(b)
      .getAccessToken()
      .then((token) => {
        second = token;
      });
    await scheduler.whenPending();
    expect(second).toBeUndefined();
    expect((await refreshStats()).total).toBe(1);
    await advance(2);
    await scheduler.advance(1500);
    await promptly(waiting);
    expect(second).toMatch(/-/);
    expect((await refreshStats()).total).toBe(2);

    const impatient = await platform({
      authorizerRefresh: { maxPerSecond: 1, jitterSeconds: 0, maxWaitMs: 100 },
      scheduler,
    });
    await advance(7300);
    await promptly(impatient.authorizer(a).getAccessToken());
    const error = (await promptly(impatient.authorizer(c).getAccessToken()).catch(
      (e: unknown) => e,
    )) as WeChatKitError;
    expect(error).toBeInstanceOf(AuthorizerRefreshTimeoutError);
    expect(error.code).toBe('AUTHORIZER_REFRESH_TIMEOUT');
  });
});
