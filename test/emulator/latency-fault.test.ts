// The `latencyMs` fault on a manual emulator clock: the answer waits for the test to advance
// emulated time, so a slow WeChat and the client timeout it provokes cost no wall-clock time.
import { afterEach, describe, expect, it } from 'vitest';
import { createEmulator, type Emulator } from '../../src/emulator/emulator.js';
import { TransportError } from '../../src/errors.js';
import { OfficialAccount } from '../../src/official-account/index.js';
import { drain, ManualScheduler } from '../helpers/manual-scheduler.js';

const APP = {
  appId: 'wx5a6b7c8d9e0f1a2b',
  secret: 'latency-fault-appsecret-000001',
  kind: 'official-account' as const,
};
const OPENID = 'oLatencyTestUser00000000001';

let emulator: Emulator;
afterEach(() => emulator.close());

/** A fresh in-process emulator whose clock moves only when the test advances it. */
function manualEmulator(): Emulator {
  emulator = createEmulator({ apps: [APP], merchants: [], options: { clock: 'manual' } });
  return emulator;
}

const post = (e: Emulator, path: string, body: unknown) =>
  e.fetch(`http://emulator${path}`, { method: 'POST', body: JSON.stringify(body) });

/** Whether `promise` has settled yet, read after letting queued reactions run. */
function tracked(promise: Promise<unknown>): { settled(): boolean } {
  let done = false;
  promise.then(
    () => (done = true),
    () => (done = true),
  );
  return { settled: () => done };
}

describe('emulator latencyMs fault on a manual clock', () => {
  it('answers once emulated time has been advanced past the latency, not before', async () => {
    const e = manualEmulator();
    expect((await post(e, '/_emulator/faults', { path: '/cgi-bin/slow', latencyMs: 1500 })).status).toBe(200);
    const answer = e.fetch('http://emulator/cgi-bin/slow');
    const state = tracked(answer);
    await drain();
    expect(e.state.clock.pending()).toEqual([
      { label: 'latency /cgi-bin/slow', dueAt: e.state.now() + 1500 },
    ]);
    e.state.clock.advance(1499);
    await drain();
    expect(state.settled()).toBe(false);
    e.state.clock.advance(1);
    const response = await answer;
    expect(((await response.json()) as { errcode: number }).errcode).toBe(40066); // the route's own answer
    expect(e.state.clock.pending()).toEqual([]);
    // The fault was used up: the next call answers at once.
    expect((await e.fetch('http://emulator/cgi-bin/slow')).status).toBe(200);
  });

  it('is advanced by the control plane too (POST /_emulator/clock), as a test over HTTP would', async () => {
    const e = manualEmulator();
    await post(e, '/_emulator/faults', { path: '/cgi-bin/slow', latencyMs: 2000 });
    const answer = e.fetch('http://emulator/cgi-bin/slow');
    const state = tracked(answer);
    await drain();
    await post(e, '/_emulator/clock', { advanceSeconds: 1.999 });
    await drain();
    expect(state.settled()).toBe(false);
    await post(e, '/_emulator/clock', { advanceSeconds: 0.001 });
    expect((await answer).status).toBe(200);
  });

  it('a client times out on its scheduler against it, and closing the emulator ends the wait', async () => {
    const e = manualEmulator();
    await post(e, '/_emulator/users', { appId: APP.appId, openId: OPENID });
    const manual = new ManualScheduler();
    // The emulator's own fetch, watched so the test sees the latency wait end.
    const answers: Array<Promise<unknown>> = [];
    const watched: typeof fetch = (input, init) => {
      const answer = e.fetch(input as Request | string | URL, init);
      answers.push(answer.catch((error: unknown) => error));
      return answer;
    };
    const oa = new OfficialAccount({
      appId: APP.appId,
      secret: APP.secret,
      baseUrl: 'http://emulator',
      fetch: watched,
      retries: 0,
      timeoutMs: 150,
      scheduler: manual,
    });
    await oa.getAccessToken();
    await post(e, '/_emulator/faults', { path: '/cgi-bin/user/info', latencyMs: 2000 });
    const call = oa.users.get({ openid: OPENID });
    const state = tracked(call);
    await drain();
    expect(e.state.clock.pending().map((w) => w.label)).toEqual(['latency /cgi-bin/user/info']);
    await manual.advance(149);
    expect(state.settled()).toBe(false);
    await manual.advance(1);
    expect(state.settled()).toBe(true); // at once: nothing waited on the wall clock
    const error = await call.catch((err: unknown) => err);
    expect(error).toBeInstanceOf(TransportError);
    expect((error as TransportError).code).toBe('TIMEOUT');
    expect(manual.pending).toBe(0);
    // The emulator still holds the slow answer; closing it ends the wait instead of leaving it.
    expect(e.state.clock.pending()).toHaveLength(1);
    e.close();
    const ended = (await answers.at(-1)) as Error;
    expect(ended.name).toBe('AbortError');
    expect(e.state.clock.pending()).toEqual([]);
  });

  it('on a closed emulator, a latency fault fails at once instead of hanging', async () => {
    const e = manualEmulator();
    await post(e, '/_emulator/faults', { path: '/cgi-bin/slow', latencyMs: 10 });
    e.close();
    await expect(e.fetch('http://emulator/cgi-bin/slow')).rejects.toMatchObject({ name: 'AbortError' });
  });
});
