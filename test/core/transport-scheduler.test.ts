// Retry back-off on an injected scheduler: the delays are scheduled on virtual time and fire only
// when the test advances it, so minute-long back-offs cost no wall-clock time. The per-attempt
// timeouts are on the same scheduler (a timer is pending during each attempt too), so a test
// waits for the retry event, not for "a timer is pending", before it advances.
import { describe, expect, it } from 'vitest';
import { transportFrom } from '../../src/core/build-client.js';
import { Transport } from '../../src/core/transport.js';
import { ConfigError, TransportError } from '../../src/errors.js';
import { drainUntil, ManualScheduler } from '../helpers/manual-scheduler.js';

/** A fetch that answers 503 `failures` times, then `{ ok: 1 }`, counting its calls. */
function flaky(failures: number) {
  let calls = 0;
  const fetchImpl = (async () => {
    calls += 1;
    if (calls <= failures) return new Response('busy', { status: 503 });
    return Response.json({ ok: 1 });
  }) as typeof fetch;
  return { fetch: fetchImpl, calls: () => calls };
}

const MINUTE = 60_000;

describe('Transport: retry back-off on an injected scheduler', () => {
  it('schedules each back-off delay on the scheduler and retries only when it fires', async () => {
    const manual = new ManualScheduler();
    const server = flaky(2);
    const delays: number[] = [];
    const transport = new Transport({
      fetch: server.fetch,
      retries: 2,
      // Back-offs of 30 s and 60 s: the test would time out if they ran on the wall clock.
      retryBaseMs: MINUTE,
      retryMaxMs: 2 * MINUTE,
      random: () => 0.5,
      scheduler: manual,
      hooks: { onRetry: (e) => delays.push(e.delayMs) },
    });
    let settled = false;
    const answer = transport.request<{ ok: number }>({ method: 'GET', url: 'https://api.example/x' });
    answer.then(
      () => (settled = true),
      () => (settled = true),
    );

    await drainUntil(() => delays.length === 1, 'the first retry');
    expect(server.calls()).toBe(1);
    expect(delays).toEqual([30_000]);
    expect(manual.pending).toBe(1); // the back-off; the attempt's timeout was cleared
    await manual.advance(29_999);
    expect(server.calls()).toBe(1);
    await manual.advance(1);
    expect(server.calls()).toBe(2);

    expect(delays).toEqual([30_000, 60_000]);
    await manual.advance(59_999);
    expect(server.calls()).toBe(2);
    expect(settled).toBe(false);
    await manual.advance(1);

    await expect(answer).resolves.toMatchObject({ status: 200, data: { ok: 1 } });
    expect(server.calls()).toBe(3);
    expect(manual.pending).toBe(0);
    expect(manual.now()).toBe(90_000);
  });

  it('a caller abort during a scheduled back-off rejects at once and clears the timer', async () => {
    const manual = new ManualScheduler();
    const server = flaky(5);
    const controller = new AbortController();
    const reason = new Error('caller gave up');
    let retries = 0;
    const transport = new Transport({
      fetch: server.fetch,
      retryBaseMs: MINUTE,
      scheduler: manual,
      hooks: { onRetry: () => retries++ },
    });
    const answer = transport.request({
      method: 'GET',
      url: 'https://api.example/x',
      signal: controller.signal,
    });
    await drainUntil(() => retries === 1, 'the retry');
    controller.abort(reason);
    await expect(answer).rejects.toBe(reason);
    expect(manual.pending).toBe(0);
    expect(server.calls()).toBe(1);
  });

  it('is passed from the client options (transportFrom), and still gives up once retries are spent', async () => {
    const manual = new ManualScheduler();
    const server = flaky(10);
    let retries = 0;
    const transport = transportFrom({
      fetch: server.fetch,
      retries: 1,
      scheduler: manual,
      hooks: { onRetry: () => retries++ },
    });
    const answer = transport.request({ method: 'GET', url: 'https://api.example/x' });
    const failed = answer.catch((error: unknown) => error);
    await drainUntil(() => retries === 1, 'the retry');
    expect(server.calls()).toBe(1);
    await manual.advance(2000); // the default cap of one back-off delay
    const error = await failed;
    expect(error).toBeInstanceOf(TransportError);
    expect((error as TransportError).code).toBe('HTTP_ERROR');
    expect(server.calls()).toBe(2);
  });

  it('rejects a scheduler without setTimeout/clearTimeout with INVALID_CONFIG', () => {
    const make = () => new Transport({ scheduler: { setTimeout: () => 1 } as never });
    expect(make).toThrow(ConfigError);
    expect(make).toThrow(/scheduler must be an object with setTimeout/);
  });
});
