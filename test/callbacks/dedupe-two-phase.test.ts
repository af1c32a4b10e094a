// The message pipeline's two-phase dedupe: a claim is a processing lease while the handler runs and
// is completed after it, so a throw or a crash mid-handler lets WeChat's retry through, while a
// duplicate arriving during the run is still handled once. In memory (injected clock and scheduler)
// and on a real Redis shared by two callback instances.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type CallbackHooks,
  type CallbackResponse,
  createWeChatCallback,
  type DedupeStore,
  MemoryDedupeStore,
  reply,
  type WeChatCallbackOptions,
} from '../../src/callbacks/index.js';
import { parseXml } from '../../src/crypto/index.js';
import { type RedisDedupeClient, RedisDedupeStore } from '../../src/redis/index.js';
import { clientFactories, redisUp, type TestClient, uniquePrefix } from '../credentials/redis-helper.js';
import { drain, drainUntil, ManualScheduler } from '../helpers/manual-scheduler.js';
import { storeOnScheduler } from '../helpers/virtual-store.js';
import { AES_KEY, APP_ID, deferred, NOW, openReply, push, TOKEN, textMessage } from './fixtures.js';

function make(dedupe: DedupeStore, options: Partial<WeChatCallbackOptions> = {}) {
  const duplicates: string[] = [];
  const errors: unknown[] = [];
  const hooks: CallbackHooks = {
    onDuplicate: (e) => duplicates.push(e.key),
    onError: (e) => errors.push(e),
  };
  const callback = createWeChatCallback({
    appId: APP_ID,
    token: TOKEN,
    encodingAESKey: AES_KEY,
    mode: 'safe',
    now: () => NOW * 1000,
    dedupe,
    hooks,
    ...options,
  });
  return { callback, duplicates, errors };
}

const replyText = (res: CallbackResponse) => parseXml(openReply(res)).Content;

describe('two-phase dedupe in memory', () => {
  it('lets the retry of a push whose handler threw through, then answers later copies as duplicates', async () => {
    const store = new MemoryDedupeStore({ now: () => NOW * 1000 });
    const { callback, duplicates } = make(store);
    let calls = 0;
    callback.on('text', () => {
      calls += 1;
      if (calls === 1) throw new Error('database down');
      return reply.text('stored');
    });
    const req = push({ fields: textMessage() });
    expect((await callback.handle(req)).status).toBe(500);
    const retry = await callback.handle(req);
    expect(retry.status).toBe(200);
    expect(replyText(retry)).toBe('stored');
    expect(await callback.handle(req)).toMatchObject({ status: 200, body: 'success' });
    expect(calls).toBe(2);
    expect(duplicates).toHaveLength(1);
  });

  it('claims with a processing lease (reply budget + 1 s) and completes for the dedupe TTL', async () => {
    const store = new MemoryDedupeStore({ now: () => NOW * 1000 });
    const claims: number[] = [];
    const completes: number[] = [];
    const spy: DedupeStore = {
      claim: (key, ttl) => {
        claims.push(ttl);
        return store.claim(key, ttl);
      },
      release: (key) => store.release(key),
      complete: (key, ttl) => {
        completes.push(ttl);
        return store.complete(key, ttl);
      },
      isComplete: (key) => store.isComplete(key),
    };
    const { callback } = make(spy, { replyBudgetMs: 3000 });
    callback.on('text', () => undefined);
    await callback.handle(push({ fields: textMessage() }));
    expect(claims).toEqual([4000]);
    expect(completes).toEqual([360_000]);
  });

  it('handles concurrent duplicates exactly once: the copy waits for the first run and answers success', async () => {
    const scheduler = new ManualScheduler();
    const { callback, duplicates } = make(new MemoryDedupeStore({ now: () => NOW * 1000 }), {
      scheduler,
    });
    const gate = deferred<void>();
    let calls = 0;
    callback.on('text', async () => {
      calls += 1;
      await gate.promise;
      return reply.text('once');
    });
    const req = push({ fields: textMessage() });
    const first = callback.handle(req);
    await drainUntil(() => calls === 1, 'the first handler run');
    const second = callback.handle(req);
    // The copy polls while the first run holds the lease.
    await scheduler.advance(100);
    gate.resolve();
    await scheduler.advance(400);
    expect(replyText(await first)).toBe('once');
    expect(await second).toMatchObject({ status: 200, body: 'success' });
    expect(calls).toBe(1);
    expect(duplicates).toHaveLength(1);
  });

  it('answers a copy 500 (WeChat sends it again) when the first run outlasts the copy’s budget', async () => {
    const scheduler = new ManualScheduler();
    const { callback } = make(new MemoryDedupeStore({ now: () => NOW * 1000 }), {
      scheduler,
      replyBudgetMs: 1000,
    });
    const gate = deferred<void>();
    let calls = 0;
    callback.on('text', async () => {
      calls += 1;
      await gate.promise;
    });
    const req = push({ fields: textMessage() });
    const first = callback.handle(req);
    await drainUntil(() => calls === 1, 'the first handler run');
    const second = callback.handle(req);
    await scheduler.advance(1000);
    // The first answered success at its budget and keeps running; the copy did not acknowledge.
    expect(await first).toMatchObject({ status: 200, body: 'success' });
    expect((await second).status).toBe(500);
    gate.resolve();
    expect(calls).toBe(1);
  });

  it('takes over a push whose first instance died mid-handler once its lease ends', async () => {
    let now = NOW * 1000;
    const clock = () => now;
    const store = new MemoryDedupeStore({ now: clock });
    // Instance A claims and never finishes: what a process killed mid-handler leaves behind.
    const a = make(store, { now: clock, replyBudgetMs: 4000 });
    let aCalls = 0;
    a.callback.on('text', () => {
      aCalls += 1;
      return new Promise<undefined>(() => {});
    });
    const req = push({ fields: textMessage() });
    void a.callback.handle(req);
    await drainUntil(() => aCalls === 1, "instance A's handler run");
    // WeChat's retry reaches instance B while A's lease (5 s) still holds.
    const scheduler = new ManualScheduler();
    const b = make(store, { now: clock, scheduler, replyBudgetMs: 4500 });
    let bCalls = 0;
    b.callback.on('text', () => {
      bCalls += 1;
      return reply.text('recovered');
    });
    now += 2000;
    const retry = b.callback.handle(req);
    await scheduler.advance(400);
    expect(bCalls).toBe(0);
    now += 3500; // past A's lease
    await scheduler.advance(800);
    const res = await retry;
    expect(bCalls).toBe(1);
    expect(replyText(res)).toBe('recovered');
    expect(await store.isComplete(`${APP_ID}:gh_0123456789ab:msg:6054768590064713728`)).toBe(true);
  });

  // Past its budget the first run answered and keeps going: its lease is renewed until it settles,
  // so a copy reaching another instance later waits (500) instead of running the handler again.
  async function outlivedLease(withExtend: boolean) {
    const scheduler = new ManualScheduler();
    const { store, memory } = storeOnScheduler(
      scheduler,
      NOW * 1000,
      withExtend ? (m) => (k, t) => m.extend(k, t) : undefined,
    );
    // The default-like budget: the lease (budget + 1 s) has 1 s left when the budget ends, less
    // than the first renewal tick (a third of it), so the run must renew at once.
    const a = make(store, { scheduler, replyBudgetMs: 4000 });
    const b = make(store, { scheduler, replyBudgetMs: 4000 });
    const gate = deferred<void>();
    let aCalls = 0;
    let bCalls = 0;
    a.callback.on('text', async () => {
      aCalls += 1;
      await gate.promise;
    });
    b.callback.on('text', () => {
      bCalls += 1;
    });
    const req = push({ fields: textMessage() });
    const first = a.callback.handle(req);
    await drainUntil(() => aCalls === 1, "instance A's handler run");
    await scheduler.advance(4000);
    expect(await first).toMatchObject({ status: 200, body: 'success' });
    // Three leases (5 s each) later, A's handler still runs; a copy reaches B.
    for (let t = 0; t < 15_000; t += 100) {
      await scheduler.advance(100);
      await drain();
    }
    const copy = b.callback.handle(req);
    for (let t = 0; t < 4200; t += 100) {
      await scheduler.advance(100);
      await drain();
    }
    const answer = await copy;
    gate.resolve();
    await drain();
    return { answer, aCalls, bCalls, errors: a.errors, store: memory };
  }

  it('renews the lease of a run that outlives its budget: a later copy on another instance is not run again', async () => {
    const { answer, aCalls, bCalls, errors, store } = await outlivedLease(true);
    expect(answer.status).toBe(500);
    expect({ aCalls, bCalls }).toEqual({ aCalls: 1, bCalls: 0 });
    expect(errors).toEqual([]);
    // Completed by A once its handler finished.
    expect(await store.isComplete(`${APP_ID}:gh_0123456789ab:msg:6054768590064713728`)).toBe(true);
  });

  it('without extend on the store the copy runs the handler a second time (what the renewal prevents)', async () => {
    const { answer, aCalls, bCalls } = await outlivedLease(false);
    expect(answer.status).toBe(200);
    expect({ aCalls, bCalls }).toEqual({ aCalls: 1, bCalls: 1 });
  });

  it('answers a handler that replied at once within the budget when the store’s complete() hangs', async () => {
    // The built-in memory store settles without a timer; any other store (here a subclass of it
    // whose complete() never answers, as a stalled network store) is still raced against the budget.
    class StalledStore extends MemoryDedupeStore {
      completes = 0;
      override complete(): Promise<void> {
        this.completes += 1;
        return new Promise(() => {});
      }
    }
    const scheduler = new ManualScheduler();
    const store = new StalledStore({ now: () => NOW * 1000 });
    const { callback } = make(store, { scheduler, replyBudgetMs: 1000 });
    callback.on('text', () => reply.text('at once'));
    let answered: CallbackResponse | undefined;
    void callback.handle(push({ fields: textMessage() })).then((res) => {
      answered = res;
    });
    await drainUntil(() => store.completes === 1, 'the complete() call');
    expect(answered).toBeUndefined();
    await scheduler.advance(1000);
    await drainUntil(() => answered !== undefined, 'the answer at the budget');
    // The budget ran out before the settle step: the reply is lost, the push acknowledged.
    expect(answered).toMatchObject({ status: 200, body: 'success' });
  });

  it('completes the claim of a handler that replied at once on the built-in memory store', async () => {
    const store = new MemoryDedupeStore({ now: () => NOW * 1000 });
    const { callback } = make(store, { scheduler: new ManualScheduler() });
    callback.on('text', () => reply.text('at once'));
    const req = push({ fields: textMessage() });
    // No timer is advanced: the answer and the completion need none.
    expect(replyText(await callback.handle(req))).toBe('at once');
    expect(store.size).toBe(1);
    // Completed, not merely leased: a copy of a push still being processed would wait (poll on the
    // scheduler, never advanced here) instead of being answered as a duplicate at once.
    expect(await callback.handle(req)).toMatchObject({ status: 200, body: 'success' });
  });

  it('keeps the one-phase behaviour for a store without complete/isComplete', async () => {
    const seen = new Map<string, number>();
    const store: DedupeStore = {
      claim: async (key) => {
        if (seen.has(key)) return false;
        seen.set(key, 1);
        return true;
      },
      release: async (key) => {
        seen.delete(key);
      },
    };
    const { callback } = make(store);
    let calls = 0;
    callback.on('text', () => {
      calls += 1;
      if (calls === 1) throw new Error('once');
    });
    const req = push({ fields: textMessage() });
    expect((await callback.handle(req)).status).toBe(500);
    expect((await callback.handle(req)).body).toBe('success');
    expect((await callback.handle(req)).body).toBe('success');
    expect(calls).toBe(2);
  });
});

describe.runIf(redisUp).each(clientFactories)('two-phase dedupe on a real Redis (%s)', (_name, factory) => {
  let redis: TestClient;
  const prefix = uniquePrefix();

  beforeAll(async () => {
    redis = await factory();
  });
  afterAll(async () => {
    await redis.del(await redis.keys(`${prefix}*`));
    await redis.quit();
  });

  const storeOf = () => new RedisDedupeStore(redis.client as unknown as RedisDedupeClient, { prefix });

  it('lets the retry of a push whose handler threw through, on another instance', async () => {
    const a = make(storeOf());
    const b = make(storeOf());
    const msgId = String(6_000_000_000_000_000_000n + BigInt(Math.floor(Math.random() * 1e9)));
    const req = push({ fields: textMessage('hi', msgId) });
    let calls = 0;
    a.callback.on('text', () => {
      calls += 1;
      throw new Error('database down');
    });
    b.callback.on('text', () => {
      calls += 1;
      return reply.text('stored');
    });
    expect((await a.callback.handle(req)).status).toBe(500);
    expect(replyText(await b.callback.handle(req))).toBe('stored');
    expect(await a.callback.handle(req)).toMatchObject({ status: 200, body: 'success' });
    expect(calls).toBe(2);
    const stored = await redis.get(`${prefix}weixin-kit:dedupe:${APP_ID}:gh_0123456789ab:msg:${msgId}`);
    expect(stored).toBe('done');
  });

  it('handles concurrent copies on two instances exactly once', async () => {
    const a = make(storeOf());
    const b = make(storeOf());
    const msgId = String(7_000_000_000_000_000_000n + BigInt(Math.floor(Math.random() * 1e9)));
    const req = push({ fields: textMessage('hi', msgId) });
    const gate = deferred<void>();
    let calls = 0;
    const handler = async () => {
      calls += 1;
      await gate.promise;
      return reply.text('once');
    };
    a.callback.on('text', handler);
    b.callback.on('text', handler);
    const answers = [a.callback.handle(req), b.callback.handle(req), a.callback.handle(req)];
    await drainUntil(() => calls >= 1, 'a handler run');
    gate.resolve();
    const res = await Promise.all(answers);
    expect(calls).toBe(1);
    expect(res.filter((r) => r.body === 'success')).toHaveLength(2);
    expect(res.every((r) => r.status === 200)).toBe(true);
    expect(a.duplicates.length + b.duplicates.length).toBe(2);
  });
});
