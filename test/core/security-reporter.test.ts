// Issue 12: the security event reporter posts events to an operator's collector, batched, in
// order, with retries, and never makes a request wait. The collector is a real HTTP server on
// 127.0.0.1 that records each POST and answers scripted statuses; every timer (interval, back-off,
// per-POST timeout, close bound) is on a manual scheduler, so time moves only when a test says so.
// The fetch is the real one, wrapped to count settled attempts: a test waits for an attempt to be
// answered (over loopback) before it advances virtual time.
import { createHash } from 'node:crypto';
import { createServer, type IncomingHttpHeaders, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import type { SecurityEvent } from '../../src/core/security-events.js';
import {
  createSecurityReporter,
  type SecurityReporterOptions,
  type SecurityReportFailure,
} from '../../src/core/security-reporter.js';
import { ConfigError, PayloadError, TransportError, type WeChatKitError } from '../../src/errors.js';
import type { Scheduler } from '../../src/internal/timers.js';
import { drain, drainUntil, ManualScheduler } from '../helpers/manual-scheduler.js';

const AUTH = 'Bearer sk-live-reporter-credential-7f3a';
const URL_TOKEN = 'url-token-9c2e51';

interface Recorded {
  headers: IncomingHttpHeaders;
  body: string;
  events: SecurityEvent[];
  /** Virtual time when the POST arrived. */
  at: number;
}

type Answer = { status: number; headers?: Record<string, string> } | 'hang';

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0)) await cleanup();
});

/** A collector on 127.0.0.1: records every POST, answers `script` in order, then `otherwise`. */
async function startCollector(
  manual: ManualScheduler,
  script: Answer[] = [],
  otherwise: Answer = { status: 200 },
) {
  const requests: Recorded[] = [];
  const server = createServer((req, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      requests.push({ headers: req.headers, body, events: JSON.parse(body).events, at: manual.now() });
      const answer = script.shift() ?? otherwise;
      if (answer === 'hang') return;
      res.writeHead(answer.status, { 'content-type': 'application/json', ...answer.headers });
      res.end('{"ok":true}');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  cleanups.push(
    () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  );
  return { url: `http://127.0.0.1:${port}/intake/wechat?token=${URL_TOKEN}`, requests };
}

/** The real fetch, counting calls and settled attempts. */
function countingFetch() {
  let calls = 0;
  let settled = 0;
  const fetchImpl: typeof fetch = async (input, init) => {
    calls += 1;
    try {
      return await fetch(input, init);
    } finally {
      settled += 1;
    }
  };
  return { fetch: fetchImpl, calls: () => calls, settled: () => settled };
}

function event(n: number, overrides: Partial<SecurityEvent> = {}): SecurityEvent {
  return {
    id: `00000000-0000-4000-8000-${String(n).padStart(12, '0')}`,
    type: 'signature_failed',
    time: '2030-01-01T02:00:00.000Z',
    source: 'callback',
    code: 'SIGNATURE_MISMATCH',
    appId: 'wx1a2b3c4d5e6f7081',
    requestId: '4bf92f3577b34da6a3ce929d0e0e4736',
    ip: '203.0.113.7',
    detail: { route: '/wechat', probe: false, n },
    ...overrides,
  };
}

const keyOf = (events: SecurityEvent[]) =>
  createHash('sha256')
    .update(events.map((e) => e.id).join('\n'))
    .digest('base64url');

async function setup(
  options: Partial<SecurityReporterOptions> = {},
  script: Answer[] = [],
  otherwise?: Answer,
) {
  const manual = new ManualScheduler();
  const collector = await startCollector(manual, script, otherwise);
  const counter = countingFetch();
  const errors: Array<{ error: WeChatKitError; info: SecurityReportFailure }> = [];
  const reporter = createSecurityReporter({
    url: collector.url,
    headers: { authorization: AUTH },
    fetch: counter.fetch,
    scheduler: manual,
    random: () => 0.5,
    onError: (error, info) => errors.push({ error, info }),
    ...options,
  });
  cleanups.unshift(async () => {
    const closing = reporter.close();
    await manual.advance(60_000); // past the close bound, whatever a test left in flight
    await closing;
  });
  /** Waits until `n` attempts have been answered and the reporter has acted on the answer. */
  const answered = async (n: number) => {
    await drainUntil(() => counter.settled() >= n, `attempt ${n} answered`);
    await drain();
  };
  return { manual, collector, counter, reporter, errors, answered };
}

describe('createSecurityReporter: batching', () => {
  it('posts a batch as soon as batchSize events wait, in order, with the protocol headers', async () => {
    const { manual, collector, counter, reporter, answered } = await setup({ batchSize: 3 });
    const events = Array.from({ length: 7 }, (_, i) => event(i + 1));
    for (const e of events) reporter.report(e);
    expect(counter.calls()).toBe(0); // report() only queues

    await answered(2);
    expect(collector.requests.map((r) => r.events)).toEqual([events.slice(0, 3), events.slice(3, 6)]);
    expect(manual.now()).toBe(0);
    const [first, second] = collector.requests;
    expect(first?.headers['content-type']).toBe('application/json');
    expect(first?.headers.authorization).toBe(AUTH);
    expect(first?.headers['idempotency-key']).toBe(keyOf(events.slice(0, 3)));
    expect(second?.headers['idempotency-key']).toBe(keyOf(events.slice(3, 6)));
    expect(reporter.stats()).toMatchObject({ queued: 1, sent: 6, dropped: 0 });

    // The seventh waits for the interval, not for a full batch.
    await manual.advance(4999);
    expect(counter.calls()).toBe(2);
    await manual.advance(1);
    await answered(3);
    expect(collector.requests[2]?.events).toEqual([events[6]]);
    expect(reporter.stats()).toEqual({ queued: 0, sent: 7, dropped: 0, failedBatches: 0, stopped: false });
  });

  it('posts a partial batch flushIntervalMs after it started waiting, not before', async () => {
    const { manual, collector, counter, reporter, answered } = await setup({ flushIntervalMs: 2000 });
    reporter.report(event(1));
    await manual.advance(1500);
    reporter.report(event(2));
    await manual.advance(499);
    expect(counter.calls()).toBe(0);
    await manual.advance(1);
    await answered(1);
    expect(collector.requests).toHaveLength(1);
    expect(collector.requests[0]?.events).toEqual([event(1), event(2)]);
    expect(collector.requests[0]?.at).toBe(2000);
  });

  it('flush() sends what is queued now and resolves once it is delivered', async () => {
    const { collector, reporter } = await setup();
    reporter.report(event(1));
    reporter.report(event(2));
    await reporter.flush();
    expect(collector.requests.map((r) => r.events)).toEqual([[event(1), event(2)]]);
    expect(reporter.stats()).toMatchObject({ queued: 0, sent: 2 });
    await expect(reporter.flush()).resolves.toBeUndefined(); // nothing queued: at once
  });
});

describe('createSecurityReporter: retries', () => {
  it('retries a 500 after the computed back-offs, with the same body and Idempotency-Key, keeping order', async () => {
    // random 0.5: each wait is min(maxMs, 1000·2^(n-1)) · 0.75 → 750, 1500, 3000 ms.
    const { manual, collector, counter, reporter, answered } = await setup({}, [
      { status: 500 },
      { status: 500 },
      { status: 500 },
    ]);
    reporter.report(event(1));
    reporter.report(event(2));
    let flushed = false;
    void reporter.flush().then(() => (flushed = true));
    await answered(1);

    reporter.report(event(3)); // reported while its predecessors are being retried
    for (const [attempt, delay] of [
      [2, 750],
      [3, 1500],
      [4, 3000],
    ] as const) {
      await manual.advance(delay - 1);
      expect(counter.calls()).toBe(attempt - 1);
      await manual.advance(1);
      await answered(attempt);
    }
    expect(flushed).toBe(true);
    expect(collector.requests.map((r) => r.at)).toEqual([0, 750, 2250, 5250]);
    const keys = new Set(collector.requests.map((r) => r.headers['idempotency-key']));
    expect([...keys]).toEqual([keyOf([event(1), event(2)])]);
    expect(new Set(collector.requests.map((r) => r.body)).size).toBe(1);

    // The third event follows only after the batch before it was delivered.
    await manual.advance(5000);
    await answered(5);
    expect(collector.requests[4]?.events).toEqual([event(3)]);
    expect(collector.requests[4]?.headers['idempotency-key']).toBe(keyOf([event(3)]));
    expect(reporter.stats()).toMatchObject({ sent: 3, failedBatches: 0, lastError: 'HTTP_ERROR' });
  });

  it('caps each back-off at backoff.maxMs', async () => {
    const { manual, counter, reporter, answered } = await setup(
      { random: () => 0, backoff: { initialMs: 1000, maxMs: 3000 }, maxAttempts: 5 },
      [],
      { status: 502 },
    );
    reporter.report(event(1));
    void reporter.flush();
    await answered(1);
    const waits: number[] = [];
    for (let attempt = 2; attempt <= 5; attempt += 1) {
      const before = manual.now();
      while (counter.calls() < attempt) await manual.advance(250);
      waits.push(manual.now() - before);
      await answered(attempt);
    }
    // random 0 → half of min(3000, 1000·2^(n-1)): 500, 1000, 1500, 1500.
    expect(waits).toEqual([500, 1000, 1500, 1500]);
  });

  it('waits at least a 429 Retry-After given in seconds, not the shorter back-off', async () => {
    const { manual, collector, counter, reporter, answered } = await setup({}, [
      { status: 429, headers: { 'retry-after': '30' } },
    ]);
    reporter.report(event(1));
    void reporter.flush();
    await answered(1);
    await manual.advance(29_999);
    expect(counter.calls()).toBe(1);
    await manual.advance(1);
    await answered(2);
    expect(collector.requests[1]?.at).toBe(30_000);
    expect(reporter.stats()).toMatchObject({ sent: 1, lastError: 'HTTP_ERROR' });
  });

  it('waits until a 429 Retry-After HTTP date, read on the injected wall clock', async () => {
    const wallClock = Date.UTC(2030, 0, 1, 2, 0, 0);
    const { manual, counter, reporter, answered } = await setup({ now: () => wallClock }, [
      { status: 429, headers: { 'retry-after': 'Tue, 01 Jan 2030 02:01:00 GMT' } },
    ]);
    reporter.report(event(1));
    void reporter.flush();
    await answered(1);
    await manual.advance(59_999);
    expect(counter.calls()).toBe(1);
    await manual.advance(1);
    await answered(2);
    expect(reporter.stats().sent).toBe(1);
  });

  it('a Retry-After shorter than the back-off does not shorten it', async () => {
    const { manual, counter, reporter, answered } = await setup({}, [
      { status: 503, headers: { 'retry-after': '0' } },
    ]);
    reporter.report(event(1));
    void reporter.flush();
    await answered(1);
    await manual.advance(749);
    expect(counter.calls()).toBe(1);
    await manual.advance(1);
    await answered(2);
    expect(reporter.stats().sent).toBe(1);
  });

  it('retries a POST that gets no answer within timeoutMs', async () => {
    const { manual, collector, counter, reporter, answered } = await setup({ timeoutMs: 2000 }, ['hang']);
    reporter.report(event(1));
    void reporter.flush();
    await drainUntil(() => collector.requests.length === 1, 'the first POST');
    await manual.advance(1999);
    expect(counter.settled()).toBe(0);
    await manual.advance(1);
    await answered(1);
    expect(reporter.stats()).toMatchObject({ lastError: 'TIMEOUT', queued: 1 });
    await manual.advance(750);
    await answered(2);
    expect(collector.requests[1]?.headers['idempotency-key']).toBe(
      collector.requests[0]?.headers['idempotency-key'],
    );
    expect(reporter.stats()).toMatchObject({ sent: 1, queued: 0 });
  });

  it('gives a batch up after maxAttempts, reports it once and goes on with the next', async () => {
    const { manual, collector, reporter, errors, answered } = await setup(
      { maxAttempts: 3, random: () => 0, batchSize: 2 },
      [{ status: 503 }, { status: 503 }, { status: 503 }],
    );
    for (let n = 1; n <= 4; n += 1) reporter.report(event(n));
    await answered(1);
    await manual.advance(500);
    await answered(2);
    await manual.advance(1000);
    await answered(4); // the third attempt fails, the next batch goes at once
    expect(collector.requests.map((r) => r.events.map((e) => e.detail?.n))).toEqual([
      [1, 2],
      [1, 2],
      [1, 2],
      [3, 4],
    ]);
    expect(errors).toHaveLength(1);
    expect(errors[0]?.error).toBeInstanceOf(TransportError);
    expect(errors[0]?.error).toMatchObject({ code: 'HTTP_ERROR', status: 503 });
    expect(errors[0]?.info).toEqual({ events: 2, attempts: 3 });
    expect(reporter.stats()).toEqual({
      queued: 0,
      sent: 2,
      dropped: 2,
      failedBatches: 1,
      lastError: 'HTTP_ERROR',
      stopped: false,
    });
  });

  it('drops a batch the collector refuses with another 4xx, without retrying it', async () => {
    const { collector, reporter, errors, answered } = await setup({ batchSize: 2 }, [{ status: 400 }]);
    for (let n = 1; n <= 4; n += 1) reporter.report(event(n));
    await answered(2);
    expect(collector.requests.map((r) => r.events.map((e) => e.detail?.n))).toEqual([
      [1, 2],
      [3, 4],
    ]);
    expect(errors.map((e) => [e.error.code, (e.error as TransportError).status, e.info])).toEqual([
      ['HTTP_ERROR', 400, { events: 2, attempts: 1 }],
    ]);
    expect(reporter.stats()).toMatchObject({ sent: 2, dropped: 2, failedBatches: 1, stopped: false });
  });
});

describe('createSecurityReporter: a collector that refuses the credentials', () => {
  it.each([401, 403])(
    'stops for good on %i: reported once, queue dropped, nothing posted again',
    async (status) => {
      const { manual, counter, reporter, errors, answered } = await setup({ batchSize: 2 }, [{ status }]);
      for (let n = 1; n <= 3; n += 1) reporter.report(event(n));
      await answered(1);
      expect(errors).toHaveLength(1);
      const { error, info } = errors[0]!;
      expect(error).toBeInstanceOf(ConfigError);
      expect(error.code).toBe('INVALID_CONFIG');
      expect(error.message).toContain(`answered ${status}`);
      expect((error.cause as TransportError).status).toBe(status);
      expect(info).toEqual({ events: 3, attempts: 1 });
      expect(reporter.stats()).toEqual({
        queued: 0,
        sent: 0,
        dropped: 3,
        failedBatches: 1,
        lastError: 'INVALID_CONFIG',
        stopped: true,
      });

      reporter.report(event(4));
      reporter.report(event(5));
      await reporter.flush();
      await manual.advance(60_000);
      expect(counter.calls()).toBe(1);
      expect(manual.pending).toBe(0);
      expect(errors).toHaveLength(1);
      expect(reporter.stats()).toMatchObject({ dropped: 5, queued: 0 });
    },
  );
});

describe('createSecurityReporter: the queue', () => {
  it('holds at most maxQueue events, dropping the oldest and counting them', async () => {
    const { collector, reporter, answered } = await setup({ batchSize: 5, maxQueue: 5 });
    for (let n = 1; n <= 8; n += 1) reporter.report(event(n));
    expect(reporter.stats()).toMatchObject({ queued: 5, dropped: 3 });
    await answered(1);
    expect(collector.requests[0]?.events.map((e) => e.detail?.n)).toEqual([4, 5, 6, 7, 8]);
    expect(reporter.stats()).toMatchObject({ queued: 0, sent: 5, dropped: 3 });
  });

  it('keeps taking events while a batch is retried, and drops the oldest waiting ones when full', async () => {
    const { manual, collector, reporter, answered } = await setup({ batchSize: 2, maxQueue: 3 }, [
      { status: 500 },
    ]);
    reporter.report(event(1));
    reporter.report(event(2));
    await answered(1); // batch [1, 2] now waits for its retry
    for (let n = 3; n <= 7; n += 1) reporter.report(event(n));
    expect(reporter.stats()).toMatchObject({ queued: 5, dropped: 2 }); // 2 in flight + 3 waiting
    await manual.advance(750);
    await answered(3);
    await manual.advance(5000);
    await answered(4);
    expect(collector.requests.map((r) => r.events.map((e) => e.detail?.n))).toEqual([
      [1, 2],
      [1, 2],
      [5, 6],
      [7],
    ]);
  });

  it('drops an event that cannot be serialised alone, and sends the rest of its batch', async () => {
    const { collector, reporter, errors } = await setup();
    const bad = event(2, { detail: { n: 10n as unknown as number } });
    reporter.report(event(1));
    reporter.report(bad);
    reporter.report(event(3));
    await reporter.flush();
    expect(collector.requests[0]?.events).toEqual([event(1), event(3)]);
    expect(collector.requests[0]?.headers['idempotency-key']).toBe(keyOf([event(1), event(3)]));
    expect(errors.map((e) => [e.error.constructor, e.error.code, e.info])).toEqual([
      [PayloadError, 'BAD_BODY', { events: 1, attempts: 0 }],
    ]);
    expect(reporter.stats()).toMatchObject({ sent: 2, dropped: 1 });
  });
});

describe('createSecurityReporter: close()', () => {
  it('sends what is queued at once, then stops: later events are dropped, no timer is left', async () => {
    const { manual, collector, counter, reporter } = await setup();
    reporter.report(event(1));
    reporter.report(event(2));
    await reporter.close();
    expect(collector.requests.map((r) => r.events)).toEqual([[event(1), event(2)]]);
    expect(manual.now()).toBe(0);
    expect(manual.pending).toBe(0);
    reporter.report(event(3));
    await reporter.flush();
    await manual.advance(10_000);
    expect(counter.calls()).toBe(1);
    expect(reporter.stats()).toEqual({ queued: 0, sent: 2, dropped: 1, failedBatches: 0, stopped: true });
    await expect(reporter.close()).resolves.toBeUndefined();
  });

  it('gives up after closeTimeoutMs, dropping and counting what was not delivered', async () => {
    const { manual, collector, reporter, answered } = await setup({ closeTimeoutMs: 3000 }, [], {
      status: 500,
    });
    reporter.report(event(1));
    let closed = false;
    void reporter.close().then(() => (closed = true));
    await answered(1);
    await manual.advance(750);
    await answered(2);
    await manual.advance(1500); // the third attempt, at 2250
    await answered(3);
    expect(closed).toBe(false);
    await manual.advance(749);
    expect(closed).toBe(false);
    await manual.advance(1); // 3000: the bound, before the back-off ends at 5250
    await drainUntil(() => closed, 'close() resolved');
    expect(collector.requests).toHaveLength(3);
    expect(manual.pending).toBe(0);
    expect(reporter.stats()).toMatchObject({ queued: 0, sent: 0, dropped: 1, stopped: true });
  });

  it('aborts a POST still in flight when the bound ends', async () => {
    const { manual, collector, reporter } = await setup({ closeTimeoutMs: 1000 }, ['hang']);
    reporter.report(event(1));
    const closed = reporter.close();
    await drainUntil(() => collector.requests.length === 1, 'the POST');
    await manual.advance(1000);
    await closed;
    expect(manual.pending).toBe(0);
    expect(reporter.stats()).toMatchObject({ queued: 0, dropped: 1, stopped: true, sent: 0 });
  });
});

describe('createSecurityReporter: never in the way of a request', () => {
  it('report() returns at once and never throws, whatever fetch does', async () => {
    const manual = new ManualScheduler();
    const errors: WeChatKitError[] = [];
    const broken = [
      () => {
        throw new Error('fetch exploded synchronously');
      },
      () => Promise.reject(new TypeError('fetch failed')),
      () => Promise.resolve({} as Response),
      () => new Promise<Response>(() => {}),
    ];
    const reporters = broken.map((fetchImpl) =>
      createSecurityReporter({
        url: 'https://collector.example/intake',
        fetch: fetchImpl as unknown as typeof fetch,
        scheduler: manual,
        batchSize: 1,
        maxAttempts: 2,
        timeoutMs: 100,
        random: () => 0,
        onError: (error) => errors.push(error),
      }),
    );
    for (const reporter of reporters) {
      const { report } = reporter; // detached: already bound
      expect(() => report(event(1))).not.toThrow();
      expect(() => report(null as unknown as SecurityEvent)).not.toThrow();
      expect(() => report(event(2, { detail: { n: 1n as unknown as number } }))).not.toThrow();
    }
    await drain();
    await manual.advance(100); // the hanging fetch times out
    await manual.advance(500); // every back-off
    await manual.advance(100);
    await drain();
    const failures = errors.filter((e) => e.code !== 'BAD_BODY').map((e) => e.code);
    expect(failures.sort()).toEqual(['BAD_RESPONSE', 'NETWORK_ERROR', 'NETWORK_ERROR', 'TIMEOUT']);
    for (const reporter of reporters) {
      expect(reporter.stats()).toMatchObject({ queued: 0, sent: 0, dropped: 3, failedBatches: 1 });
      await reporter.close();
    }
  });

  it('unrefs every timer it sets, so it never keeps a process alive', async () => {
    const manual = new ManualScheduler();
    const handles: Array<{ id: unknown; unrefd: boolean }> = [];
    const tracking: Scheduler = {
      setTimeout(fn, ms) {
        const handle = { id: manual.setTimeout(fn, ms), unrefd: false, unref: () => (handle.unrefd = true) };
        handles.push(handle);
        return handle;
      },
      clearTimeout: (handle) => manual.clearTimeout((handle as { id: unknown }).id),
      now: () => manual.now(),
    };
    const reporter = createSecurityReporter({
      url: 'https://collector.example/intake',
      fetch: (() => Promise.reject(new TypeError('fetch failed'))) as typeof fetch,
      scheduler: tracking,
      random: () => 0.5,
    });
    reporter.report(event(1)); // the interval timer
    await manual.advance(5000); // a POST (its timeout) and a back-off
    const closed = reporter.close(); // the close bound
    await manual.advance(10_000);
    await closed;
    expect(handles.length).toBeGreaterThanOrEqual(4);
    expect(handles.filter((h) => !h.unrefd)).toEqual([]);
    expect(manual.pending).toBe(0);
  });
});

describe('createSecurityReporter: nothing secret', () => {
  it('sends events exactly as reported, and no credential or URL token reaches an error or the stats', async () => {
    const { manual, collector, reporter, errors, answered } = await setup(
      { batchSize: 1, maxAttempts: 2, random: () => 0 },
      [
        { status: 400 },
        { status: 500 },
        { status: 500 },
        { status: 302, headers: { location: '/x' } },
        { status: 401 },
      ],
    );
    const events = [1, 2, 3, 4].map((n) => event(n));
    for (const e of events) reporter.report(e);
    await answered(2);
    await manual.advance(500);
    await answered(5);
    expect(collector.requests.map((r) => r.events[0])).toEqual([
      events[0],
      events[1],
      events[1],
      events[2],
      events[3],
    ]);
    for (const request of collector.requests) {
      expect(JSON.parse(request.body)).toEqual({ events: request.events });
    }
    expect(errors.map((e) => e.error.code)).toEqual([
      'HTTP_ERROR',
      'HTTP_ERROR',
      'HTTP_ERROR',
      'INVALID_CONFIG',
    ]);
    const seen = JSON.stringify([
      errors.map(({ error, info }) => [
        error.message,
        error.toJSON(),
        (error.cause as Error | undefined)?.message,
        info,
      ]),
      reporter.stats(),
    ]);
    for (const secret of ['sk-live', URL_TOKEN, '/intake/wechat', 'authorization']) {
      expect(seen).not.toContain(secret);
    }
    expect(seen).toContain('http://127.0.0.1:'); // the origin is named, so an operator knows which collector
  });
});

describe('createSecurityReporter: configuration', () => {
  const base = { fetch: (() => Promise.resolve(new Response())) as typeof fetch };

  it.each([
    ['http to a remote host', { url: 'http://collector.example/intake' }],
    ['another scheme', { url: 'ftp://collector.example/intake' }],
    ['not a URL', { url: 'collector.example/intake' }],
    ['no url', {}],
    ['credentials in the URL', { url: 'https://user:pa55@collector.example/intake' }],
    ['an unknown option', { url: 'https://collector.example', batchsize: 10 }],
    ['a zero batch size', { url: 'https://collector.example', batchSize: 0 }],
    ['a fractional batch size', { url: 'https://collector.example', batchSize: 1.5 }],
    ['a queue smaller than a batch', { url: 'https://collector.example', batchSize: 100, maxQueue: 10 }],
    ['a negative timeout', { url: 'https://collector.example', timeoutMs: -1 }],
    ['an unknown backoff key', { url: 'https://collector.example', backoff: { baseMs: 10 } }],
    ['maxMs below initialMs', { url: 'https://collector.example', backoff: { initialMs: 10, maxMs: 5 } }],
    ['a reserved header', { url: 'https://collector.example', headers: { 'Content-Type': 'text/plain' } }],
    ['a non-string header', { url: 'https://collector.example', headers: { 'x-api-key': 42 } }],
    ['a bad scheduler', { url: 'https://collector.example', scheduler: {} }],
  ])('refuses %s with a ConfigError', (_, options) => {
    const create = () =>
      createSecurityReporter({ ...base, ...options } as unknown as SecurityReporterOptions);
    expect(create).toThrow(ConfigError);
    try {
      create();
    } catch (error) {
      expect((error as ConfigError).code).toBe('INVALID_CONFIG');
      expect((error as Error).message).not.toContain('pa55');
    }
  });

  it('does not echo a header value it refuses', () => {
    let message = '';
    try {
      createSecurityReporter({
        ...base,
        url: 'https://c.example',
        headers: { authorization: 'Bearer s3cr3t\nX: y' },
      });
    } catch (error) {
      expect(error).toBeInstanceOf(ConfigError);
      message = (error as Error).message;
    }
    expect(message).toContain('authorization');
    expect(message).not.toContain('s3cr3t');
  });

  it.each([
    'https://collector.example/intake',
    'http://127.0.0.1:8080/intake',
    'http://127.5.6.7/intake',
    'http://localhost:3000/intake',
    'http://[::1]:3000/intake',
  ])('accepts %s', (url) => {
    expect(() => createSecurityReporter({ ...base, url })).not.toThrow();
    expect(() => createSecurityReporter({ ...base, url: new URL(url) })).not.toThrow();
  });
});
