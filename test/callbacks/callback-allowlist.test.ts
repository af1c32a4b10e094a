/**
 * The callback allowlist on its own and inside the callbacks: WeChat's list loaded, refreshed on an
 * injected scheduler, kept when a refresh fails, shared through a store (one fetch), trustProxy,
 * and the 403 `IP_NOT_ALLOWED` refusal before any signature work (WeChat, WeCom, Pay).
 */
import { generateKeyPairSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  type AllowlistErrorEvent,
  type AllowlistRefreshEvent,
  type AllowlistRefusedEvent,
  type CallbackAllowlistOptions,
  type CallbackIpSource,
  type CallbackRequest,
  createCallbackAllowlist,
  createPayNotificationHandler,
  createWeChatCallback,
  createWeComCallback,
  type RefusedEvent,
} from '../../src/callbacks/index.js';
import { MemoryStore } from '../../src/credentials/memory-store.js';
import type { Lease, StoredToken, TokenStore } from '../../src/credentials/token-store.js';
import { PayV3Verifier } from '../../src/crypto/index.js';
import { ConfigError, StoreError } from '../../src/errors.js';
import type { Scheduler } from '../../src/internal/timers.js';
import { drain, ManualScheduler } from '../helpers/manual-scheduler.js';
import { AES_KEY, APP_ID, clock, deferred, handshake, TOKEN } from './fixtures.js';

const HOUR = 3_600_000;
const BASE = 1_714_036_504_000;
const LIST_A = ['192.0.2.0/25', '198.51.100.7'];
const LIST_B = ['203.0.113.0/24'];

type Answer = readonly string[] | Error | Promise<{ ip_list: readonly string[] }>;

/** A callback IP source answering the given lists (or failures) in turn; the last one repeats. */
function source(...answers: Answer[]): CallbackIpSource & { calls: number } {
  const src = {
    platform: 'wechat',
    calls: 0,
    getCallbackIp() {
      const answer = answers[Math.min(src.calls, answers.length - 1)] as Answer;
      src.calls += 1;
      if (answer instanceof Error) return Promise.reject(answer);
      if (answer instanceof Promise) return answer;
      return Promise.resolve({ ip_list: answer });
    },
  };
  return src;
}

/** An allowlist on virtual time (the clock follows the manual scheduler), with its events recorded. */
function setup(options: Partial<CallbackAllowlistOptions> = {}, scheduler = new ManualScheduler()) {
  const refused: AllowlistRefusedEvent[] = [];
  const refreshes: AllowlistRefreshEvent[] = [];
  const errors: AllowlistErrorEvent[] = [];
  const allowlist = createCallbackAllowlist({
    now: () => BASE + scheduler.now(),
    scheduler,
    hooks: {
      onRefused: (e) => refused.push(e),
      onRefresh: (e) => refreshes.push(e),
      onError: (e) => errors.push(e),
    },
    ...options,
  });
  return { allowlist, scheduler, refused, refreshes, errors };
}

const from = (remoteAddress: string | undefined, headers: Record<string, string> = {}) => ({
  remoteAddress,
  headers,
});

describe('createCallbackAllowlist', () => {
  it("loads WeChat's list at once and allows only the addresses it holds; every decision is counted", async () => {
    const client = source(LIST_A);
    const { allowlist, refused } = setup({ client });
    await allowlist.ready();
    expect(client.calls).toBe(1);
    expect(allowlist.check(from('192.0.2.9')).allowed).toBe(true);
    expect(allowlist.check(from('::ffff:198.51.100.7')).allowed).toBe(true);
    const no = allowlist.check(from('203.0.113.1'));
    expect(no).toEqual({
      allowed: false,
      ip: '203.0.113.1',
      reason: "203.0.113.1 is not among WeChat's callback addresses or the static ones",
    });
    expect(refused).toEqual([{ ip: '203.0.113.1', remoteAddress: '203.0.113.1', reason: no.reason }]);
    expect(allowlist.stats()).toEqual({ allowed: 2, refused: 1, lastRefreshAt: BASE, size: 2, loaded: true });
    expect(allowlist.entries()).toEqual(LIST_A);
    allowlist.close();
  });

  it('before the first load refuses all but the static list by default, and allows all with beforeFirstLoad: allow', async () => {
    const pending = deferred<{ ip_list: readonly string[] }>();
    const closed = setup({ client: source(pending.promise), static: ['10.0.0.0/8'] });
    const open = setup({ client: source(pending.promise), beforeFirstLoad: 'allow' });
    await drain();
    expect(closed.allowlist.stats().loaded).toBe(false);
    expect(closed.allowlist.check(from('10.1.2.3')).allowed).toBe(true);
    const early = closed.allowlist.check(from('192.0.2.9'));
    expect(early.allowed).toBe(false);
    expect(early.reason).toMatch(/not loaded yet and 192\.0\.2\.9 is not in the static list/);
    expect(open.allowlist.check(from('203.0.113.1')).allowed).toBe(true);
    expect(open.allowlist.stats()).toMatchObject({ allowed: 1, refused: 0, loaded: false });

    pending.resolve({ ip_list: LIST_A });
    await Promise.all([closed.allowlist.ready(), open.allowlist.ready()]);
    expect(closed.allowlist.check(from('192.0.2.9')).allowed).toBe(true);
    // Loaded: beforeFirstLoad no longer applies.
    expect(open.allowlist.check(from('203.0.113.1')).allowed).toBe(false);
    closed.allowlist.close();
    open.allowlist.close();
  });

  it('refreshes in the background every refreshIntervalMs on the injected scheduler; the new list replaces the old', async () => {
    const client = source(LIST_A, LIST_B);
    const { allowlist, scheduler, refreshes } = setup({ client, refreshIntervalMs: HOUR });
    await allowlist.ready();
    await scheduler.advance(HOUR - 1);
    expect(client.calls).toBe(1);
    await scheduler.advance(1);
    expect(client.calls).toBe(2);
    expect(allowlist.check(from('203.0.113.5')).allowed).toBe(true);
    expect(allowlist.check(from('192.0.2.9')).allowed).toBe(false);
    expect(refreshes).toEqual([
      { source: 'wechat', size: 2, fetchedAt: BASE, changed: true },
      { source: 'wechat', size: 1, fetchedAt: BASE + HOUR, changed: true },
    ]);
    await scheduler.advance(HOUR);
    expect(client.calls).toBe(3);
    expect(refreshes[2]).toEqual({ source: 'wechat', size: 1, fetchedAt: BASE + 2 * HOUR, changed: false });
    allowlist.close();
  });

  it('keeps the last good list when a refresh fails, reports each failure, and retries with back-off', async () => {
    const down = new Error('getaddrinfo ENOTFOUND api.weixin.qq.com');
    const client = source(LIST_A, down, down, LIST_B);
    const { allowlist, scheduler, errors } = setup({ client, refreshIntervalMs: HOUR });
    await allowlist.ready();
    await scheduler.advance(HOUR);
    expect(client.calls).toBe(2);
    expect(errors).toEqual([{ error: down, phase: 'fetch', retryInMs: 10_000 }]);
    // The list fetched an hour ago is still in use.
    expect(allowlist.check(from('192.0.2.9')).allowed).toBe(true);
    expect(allowlist.stats()).toMatchObject({ loaded: true, size: 2, lastRefreshAt: BASE });

    await scheduler.advance(10_000);
    expect(client.calls).toBe(3);
    expect(errors[1]).toEqual({ error: down, phase: 'fetch', retryInMs: 20_000 });
    await scheduler.advance(19_999);
    expect(client.calls).toBe(3);
    await scheduler.advance(1);
    expect(client.calls).toBe(4);
    expect(allowlist.check(from('203.0.113.5')).allowed).toBe(true);
    expect(allowlist.stats().lastRefreshAt).toBe(BASE + HOUR + 30_000);
    // Back on the normal schedule.
    await scheduler.advance(HOUR - 1);
    expect(client.calls).toBe(4);
    await scheduler.advance(1);
    expect(client.calls).toBe(5);
    allowlist.close();
  });

  it('a failed first load settles ready(), refuses everything outside the static list, and is retried', async () => {
    const client = source(new Error('timeout'), LIST_A);
    const { allowlist, scheduler, errors } = setup({ client, static: ['127.0.0.1'] });
    await allowlist.ready();
    expect(allowlist.stats()).toMatchObject({ loaded: false, size: 0 });
    expect(errors).toHaveLength(1);
    expect(allowlist.check(from('127.0.0.1')).allowed).toBe(true);
    expect(allowlist.check(from('192.0.2.9')).allowed).toBe(false);
    await scheduler.advance(10_000);
    expect(allowlist.check(from('192.0.2.9')).allowed).toBe(true);
    allowlist.close();
  });

  it('skips unreadable entries of the answer and reports them; an answer with none usable is a failure', async () => {
    const client = source(['192.0.2.0/25', '300.1.1.1', 'example.com'], ['nonsense'], []);
    const { allowlist, scheduler, errors } = setup({ client, refreshIntervalMs: HOUR });
    await allowlist.ready();
    expect(allowlist.entries()).toEqual(['192.0.2.0/25']);
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatchObject({ phase: 'entries', retryInMs: undefined });
    expect(String((errors[0]?.error as Error | undefined)?.message)).toMatch(
      /skipped: "300\.1\.1\.1", "example\.com"/,
    );
    await scheduler.advance(HOUR);
    expect(errors[1]).toMatchObject({ phase: 'fetch', error: { code: 'BAD_RESPONSE' } });
    await scheduler.advance(10_000);
    expect(errors[2]).toMatchObject({ phase: 'fetch', error: { code: 'BAD_RESPONSE' } });
    expect(allowlist.entries()).toEqual(['192.0.2.0/25']);
    allowlist.close();
  });

  it('close() stops the background refresh; its timer never holds the process open', async () => {
    const manual = new ManualScheduler();
    let unrefs = 0;
    const scheduler: Scheduler = {
      setTimeout: (fn, ms) => ({ id: manual.setTimeout(fn, ms), unref: () => (unrefs += 1) }),
      clearTimeout: (handle) => manual.clearTimeout((handle as { id: unknown }).id),
      now: () => manual.now(),
    };
    const client = source(LIST_A);
    const allowlist = createCallbackAllowlist({ client, scheduler, now: () => BASE + manual.now() });
    await allowlist.ready();
    expect(manual.pending).toBe(1);
    expect(unrefs).toBe(1);
    allowlist.close();
    allowlist.close();
    expect(manual.pending).toBe(0);
    await manual.advance(10 * HOUR);
    expect(client.calls).toBe(1);
    // The list stays usable after close.
    expect(allowlist.check(from('192.0.2.9')).allowed).toBe(true);
  });

  it('with a shared store, a second instance takes the first one’s list without fetching', async () => {
    const scheduler = new ManualScheduler();
    const store = new MemoryStore({ now: () => BASE + scheduler.now() });
    const client = source(LIST_A, LIST_B);
    const one = setup({ client, store, refreshIntervalMs: HOUR }, scheduler);
    await one.allowlist.ready();
    await scheduler.advance(60_000);
    const two = setup({ client, store, refreshIntervalMs: HOUR }, scheduler);
    await two.allowlist.ready();
    expect(client.calls).toBe(1);
    expect(two.refreshes).toEqual([{ source: 'store', size: 2, fetchedAt: BASE, changed: true }]);
    expect(two.allowlist.check(from('192.0.2.9')).allowed).toBe(true);
    // An hour after the fetch, one instance fetches again and the other reads what it stored.
    await scheduler.advance(HOUR - 60_000);
    await scheduler.advance(2_000);
    expect(client.calls).toBe(2);
    for (const instance of [one, two]) {
      expect(instance.allowlist.check(from('203.0.113.5')).allowed).toBe(true);
      expect(instance.allowlist.stats().lastRefreshAt).toBe(BASE + HOUR);
    }
    one.allowlist.close();
    two.allowlist.close();
  });

  it('instances starting together under a shared store fetch once: the lease holder fetches, the other waits and reads', async () => {
    const scheduler = new ManualScheduler();
    const store = new MemoryStore({ now: () => BASE + scheduler.now() });
    const answer = deferred<{ ip_list: readonly string[] }>();
    const client = source(answer.promise);
    const instances = [1, 2, 3].map(() => setup({ client, store }, scheduler));
    await drain();
    expect(client.calls).toBe(1);
    answer.resolve({ ip_list: LIST_A });
    await instances[0]?.allowlist.ready();
    await scheduler.advance(2_000);
    for (const { allowlist } of instances) {
      await allowlist.ready();
      expect(allowlist.stats()).toMatchObject({ loaded: true, size: 2, lastRefreshAt: BASE });
      allowlist.close();
    }
    expect(client.calls).toBe(1);
  });

  it('a failing store does not stop the refresh: the list is fetched without it and the failure reported', async () => {
    const broken: TokenStore = {
      get: () => Promise.reject(new StoreError('STORE_UNAVAILABLE', 'Redis GET failed: connection refused')),
      set: (_key: string, _token: StoredToken) => Promise.reject(new StoreError('STORE_UNAVAILABLE', 'down')),
      compareAndDelete: () => Promise.resolve(false),
      acquireLease: (): Promise<Lease | undefined> => Promise.resolve(undefined),
    };
    const client = source(LIST_A);
    const { allowlist, errors } = setup({ client, store: broken });
    await allowlist.ready();
    expect(client.calls).toBe(1);
    expect(allowlist.check(from('192.0.2.9')).allowed).toBe(true);
    expect(errors.map((e) => e.phase)).toEqual(['store']);
    allowlist.close();
  });

  it('takes the client address from X-Forwarded-For only behind trusted proxies (trustProxy)', async () => {
    const client = source(LIST_A);
    const trusting = setup({ client, trustProxy: ['loopback'] });
    const plain = setup({ client });
    await Promise.all([trusting.allowlist.ready(), plain.allowlist.ready()]);
    const viaProxy = from('127.0.0.1', { 'x-forwarded-for': '192.0.2.9' });
    expect(trusting.allowlist.check(viaProxy)).toEqual({ allowed: true, ip: '192.0.2.9', reason: '' });
    expect(plain.allowlist.check(viaProxy)).toMatchObject({ allowed: false, ip: '127.0.0.1' });
    // A client cannot prepend an allowed address: the first untrusted hop from the right is the client.
    const spoofed = from('127.0.0.1', { 'x-forwarded-for': '192.0.2.9, 203.0.113.66' });
    expect(trusting.allowlist.check(spoofed)).toMatchObject({ allowed: false, ip: '203.0.113.66' });
    // A direct (untrusted) peer is the client, whatever it claims.
    expect(trusting.allowlist.check(from('203.0.113.66', { 'x-forwarded-for': '192.0.2.9' })).allowed).toBe(
      false,
    );
    trusting.allowlist.close();
    plain.allowlist.close();
  });

  it('refuses a request whose peer address is unknown, saying why', async () => {
    const { allowlist, refused } = setup({ static: ['0.0.0.0/0', '::/0'] });
    expect(allowlist.check(from(undefined))).toMatchObject({ allowed: false, ip: undefined });
    expect(refused[0]?.reason).toMatch(/adapter gave no remoteAddress/);
    expect(allowlist.stats()).toEqual({
      allowed: 0,
      refused: 1,
      lastRefreshAt: undefined,
      size: 0,
      loaded: true,
    });
  });

  it('validates its options when created', () => {
    const bad = (options: unknown) => () => createCallbackAllowlist(options as CallbackAllowlistOptions);
    expect(bad({})).toThrow(/give client .* and\/or a static list/);
    expect(bad({ static: ['10.0.0.0/33'] })).toThrow(/static entry "10\.0\.0\.0\/33" is not an address/);
    expect(bad({ static: ['127.0.0.1'], colour: 'red' })).toThrow(/unknown option "colour"/);
    expect(bad({ client: {} })).toThrow(/client must have getCallbackIp/);
    expect(
      bad({ client: { platform: 'we chat', getCallbackIp: () => Promise.resolve({ ip_list: [] }) } }),
    ).toThrow(/client\.platform/);
    expect(bad({ static: ['127.0.0.1'], store: new MemoryStore() })).toThrow(
      /store shares the list fetched by client/,
    );
    expect(bad({ static: ['127.0.0.1'], refreshIntervalMs: 1000 })).toThrow(/refreshIntervalMs/);
    expect(bad({ static: ['127.0.0.1'], beforeFirstLoad: 'open' })).toThrow(/beforeFirstLoad/);
    expect(bad({ static: ['127.0.0.1'], trustProxy: true })).toThrow(/^createCallbackAllowlist: trustProxy/);
    expect(bad({ static: ['127.0.0.1'], hooks: { onRefuse: () => {} } })).toThrow(/unknown hook "onRefuse"/);
    expect(bad({ static: ['127.0.0.1'], scheduler: setTimeout })).toThrow(ConfigError);
  });
});

describe('the allowlist in the callbacks', () => {
  const inside = (request: CallbackRequest): CallbackRequest => ({ ...request, remoteAddress: '192.0.2.9' });
  const outside = (request: CallbackRequest): CallbackRequest => ({
    ...request,
    remoteAddress: '203.0.113.66',
  });

  it('a WeChat callback answers 403 IP_NOT_ALLOWED to an outside sender, before the signature is looked at', async () => {
    const allowlist = createCallbackAllowlist({ static: LIST_A });
    const refused: RefusedEvent[] = [];
    const callback = createWeChatCallback({
      appId: APP_ID,
      token: TOKEN,
      encodingAESKey: AES_KEY,
      mode: 'safe',
      now: clock,
      allowlist,
      hooks: { onRefused: (e) => refused.push(e) },
    });
    const ok = await callback.handle(inside(handshake({ echostr: 'hello' })));
    expect(ok).toMatchObject({ status: 200, body: 'hello' });

    const signed = await callback.handle(outside(handshake({ echostr: 'hello' })));
    expect(signed).toMatchObject({
      status: 403,
      body: `forbidden (request ${signed.headers['x-request-id']})`,
    });
    // A forged signature from outside is refused for its address, not its signature: no HMAC ran.
    const forged = await callback.handle(outside(handshake({ token: 'wrong-token' })));
    expect(forged.status).toBe(403);
    const forgedInside = await callback.handle(inside(handshake({ token: 'wrong-token' })));
    expect(forgedInside.status).toBe(401);
    expect(refused.map((e) => [e.code, e.status])).toEqual([
      ['IP_NOT_ALLOWED', 403],
      ['IP_NOT_ALLOWED', 403],
      ['SIGNATURE_MISMATCH', 401],
    ]);
    expect(refused[0]?.reason).toMatch(/203\.0\.113\.66 is not among the static addresses/);
    expect(allowlist.stats()).toMatchObject({ allowed: 2, refused: 2 });
  });

  it('a WeCom callback and a Pay notification handler refuse an outside sender the same way', async () => {
    const allowlist = createCallbackAllowlist({ static: LIST_A });
    const refused: RefusedEvent[] = [];
    const wecom = createWeComCallback({
      corpId: 'ww1234567890abcdef',
      token: TOKEN,
      encodingAESKey: AES_KEY,
      now: clock,
      allowlist,
      hooks: { onRefused: (e) => refused.push(e) },
    });
    const post = {
      method: 'POST',
      url: '/wecom?msg_signature=x&timestamp=1&nonce=n',
      headers: {},
      rawBody: '<xml><Encrypt><![CDATA[c2VhbGVk]]></Encrypt></xml>',
    };
    expect((await wecom.handle(outside(post))).status).toBe(403);
    expect((await wecom.handle(inside(post))).status).toBe(401);

    const platform = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const pay = createPayNotificationHandler({
      apiV3Key: 'a7cde1ef52c8e9f7b3a04cd2e6f1b8d9',
      verifier: new PayV3Verifier({
        publicKey: { id: 'PUB_KEY_ID_0114232134912410000000000000', key: platform.publicKey },
      }),
      now: clock,
      allowlist,
      hooks: { onRefused: (e) => refused.push(e) },
    });
    const notification = { method: 'POST', url: '/pay/notify', headers: {}, rawBody: '{"id":"x"}' };
    const answer = await pay.handle(outside(notification));
    expect(answer.status).toBe(403);
    expect(JSON.parse(answer.body)).toEqual({
      code: 'FAIL',
      message: 'forbidden',
      requestId: answer.headers['x-request-id'],
    });
    expect((await pay.handle(inside(notification))).status).toBe(401);
    expect(refused.map((e) => [e.code, e.status])).toEqual([
      ['IP_NOT_ALLOWED', 403],
      ['SIGNATURE_MISMATCH', 401],
      ['IP_NOT_ALLOWED', 403],
      ['SIGNATURE_MISMATCH', 401],
    ]);
  });

  it('is refused as an option when it was not made by createCallbackAllowlist', () => {
    expect(() =>
      createWeChatCallback({
        appId: APP_ID,
        token: TOKEN,
        mode: 'plain',
        allowlist: { check: () => ({ allowed: true }) } as never,
      }),
    ).toThrow(/allowlist must be an allowlist made by createCallbackAllowlist/);
  });
});
