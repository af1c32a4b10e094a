/**
 * The security event reporter: an optional sink for {@link SecurityEvent}s that posts them, in
 * batches, to a collector the operator runs (a SIEM intake, a webhook, a log pipeline). The
 * request that saw an event never waits for it: `report()` only puts the event in a bounded queue;
 * a single background loop sends the queue in order, retries what is worth retrying and gives up
 * on what is not. Every timer goes through an injectable {@link Scheduler} and is unref'd, so the
 * reporter alone never keeps a process alive.
 */
import { createHash } from 'node:crypto';
import { ConfigError, type ErrorCode, PayloadError, TransportError, type WeChatKitError } from '../errors.js';
import { anySignal, raceAbort, timeoutSignal } from '../internal/abort.js';
import type { Clock } from '../internal/bytes.js';
import { isScheduler, type Scheduler, systemScheduler } from '../internal/timers.js';
import type { SecurityEvent } from './security-events.js';

/** Settings of {@link createSecurityReporter}. Only `url` is required. */
export interface SecurityReporterOptions {
  /**
   * Where events are posted. Must be `https://`; `http://` is accepted only for a loopback host
   * (`127.0.0.0/8`, `[::1]`, `localhost`), for tests and development. No `user:password@`: put
   * credentials in `headers`.
   */
  url: string | URL;
  /**
   * Headers sent with every POST, typically the collector's credentials
   * (`{ authorization: 'Bearer …' }`). Never logged nor put in an error. `content-type` and
   * `idempotency-key` are the reporter's own and cannot be set here.
   */
  headers?: Record<string, string> | undefined;
  /** The Web `fetch` to post with (default: the global one). */
  fetch?: typeof fetch | undefined;
  /** Events per POST (default 50): a batch is sent as soon as this many are waiting. */
  batchSize?: number | undefined;
  /** The longest an event waits for its batch to fill, ms (default 5000). */
  flushIntervalMs?: number | undefined;
  /**
   * Events held while the collector is slow or down (default 10 000). When full, the oldest
   * waiting event is dropped for each new one, and counted in {@link SecurityReporterStats.dropped}.
   * At least `batchSize`.
   */
  maxQueue?: number | undefined;
  /** Attempts per batch, the first included (default 8); then the batch is dropped and reported. */
  maxAttempts?: number | undefined;
  /**
   * The back-off between attempts of a batch: before attempt n+1 the reporter waits
   * `min(maxMs, initialMs·2^(n-1))`, scaled by a factor in [0.5, 1) drawn from `random` (defaults
   * 1000 and 60 000 ms). A `Retry-After` answer makes it wait at least that long.
   */
  backoff?: { initialMs?: number | undefined; maxMs?: number | undefined } | undefined;
  /** Randomness for the back-off jitter, in [0, 1) (default `Math.random`). */
  random?: (() => number) | undefined;
  /** Time allowed for one POST, until its answer's status arrives, ms (default 10 000). */
  timeoutMs?: number | undefined;
  /**
   * How long {@link SecurityReporter.close} keeps sending what is queued, ms (default 10 000);
   * what is still unsent then is dropped and counted.
   */
  closeTimeoutMs?: number | undefined;
  /** Where the timers come from (default: the global timers); a test passes a manual one. */
  scheduler?: Scheduler | undefined;
  /** Wall clock, ms since the epoch (default `Date.now`): to read a `Retry-After` HTTP date. */
  now?: Clock | undefined;
  /**
   * Told of every batch that is given up (and of the stop on 401/403, once). Called
   * asynchronously, never from `report()`; what it throws is swallowed. Errors never carry the
   * headers, the URL's path or query, or an event.
   */
  onError?: ((error: WeChatKitError, info: SecurityReportFailure) => void) | undefined;
}

/** What {@link SecurityReporterOptions.onError} is told besides the error. */
export interface SecurityReportFailure {
  /** Events dropped with this failure (the batch; on a stop, the queue too). */
  events: number;
  /** Attempts made for the batch (0 for events that could not be serialised). */
  attempts: number;
}

/** Counters of a {@link SecurityReporter}, since it was created. */
export interface SecurityReporterStats {
  /** Events held and not yet delivered: the waiting queue plus the batch being sent or retried. */
  queued: number;
  /** Events the collector accepted (a 2xx answer to their batch). */
  sent: number;
  /**
   * Events that will never be delivered: pushed out of a full queue, in a batch that was given
   * up, left over by a stop or by `close()`, or reported after either.
   */
  dropped: number;
  /** Batches given up: retries exhausted, a 3xx or 4xx answer, or the 401/403 that stopped the reporter. */
  failedBatches: number;
  /**
   * The code of the most recent failed attempt (kept after later successes): `TIMEOUT`,
   * `NETWORK_ERROR`, `HTTP_ERROR`, `BAD_RESPONSE`, `BAD_BODY`, or `INVALID_CONFIG` for the 401/403 stop.
   */
  lastError?: ErrorCode;
  /** True once the reporter posts no more: after `close()`, or after the collector answered 401/403. */
  stopped: boolean;
}

/**
 * Posts {@link SecurityEvent}s to a collector; see {@link createSecurityReporter}.
 */
export interface SecurityReporter {
  /**
   * A `SecurityEventHandler`: queues the event and returns. Synchronous, O(1), never
   * throws, never waits for the network; already bound, so it can be passed around as is.
   */
  readonly report: (event: SecurityEvent) => void;
  /**
   * Sends everything queued so far, now, and resolves once each of those events is delivered or
   * given up (retries and their back-offs included). Never rejects.
   */
  flush(): Promise<void>;
  /**
   * Stops taking events, sends what is queued for at most `closeTimeoutMs`, then drops the rest,
   * cancels its timers and stops. Call it on shutdown. Idempotent; never rejects.
   */
  close(): Promise<void>;
  /** The counters; see {@link SecurityReporterStats}. */
  stats(): SecurityReporterStats;
}

const KNOWN_OPTIONS = new Set([
  'url',
  'headers',
  'fetch',
  'batchSize',
  'flushIntervalMs',
  'maxQueue',
  'maxAttempts',
  'backoff',
  'random',
  'timeoutMs',
  'closeTimeoutMs',
  'scheduler',
  'now',
  'onError',
]);
const RESERVED_HEADERS = new Set(['content-type', 'content-length', 'idempotency-key']);
/** The longest delay a timer can take (Node fires longer ones at once). */
const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * Creates a reporter that posts security events to `url`, batched, in order, with retries, and
 * without ever making a request wait.
 *
 * The POST: body `{"events": [SecurityEvent, …]}` (the events as reported, each with its own
 * `id` for per-event dedupe), `content-type: application/json`, and an `Idempotency-Key` header
 * that is the same for every attempt of a batch: the SHA-256 of the batch's event ids joined by
 * `\n`, in base64url. Answers:
 * - 2xx: delivered.
 * - network error, timeout, 5xx, 429: the same batch (same body, same key) is tried again after
 *   the back-off, up to `maxAttempts`; a `Retry-After` (seconds or HTTP date) on 429 or 503 makes
 *   the wait at least that long. Later events wait behind it, so order is kept.
 * - 401, 403: the collector refuses the credentials. The reporter stops for good: `onError` gets a
 *   `ConfigError` (`INVALID_CONFIG`) once, the queue is dropped (nothing would ever send it) and
 *   later events are counted as dropped without being kept.
 * - any other status (3xx, other 4xx): the batch is dropped and reported to `onError`; the next
 *   one is sent. A redirect is not followed.
 *
 * @throws ConfigError `INVALID_CONFIG` for an unusable option (a non-https URL, an unknown key, …)
 *
 * @example
 * const reporter = createSecurityReporter({
 *   url: 'https://siem.example.com/intake/wechat',
 *   headers: { authorization: `Bearer ${process.env.SIEM_TOKEN}` },
 *   onError: (error, { events }) => logger.warn({ code: error.code, events }, error.message),
 * });
 * const callback = createWeChatCallback({ ...options, onSecurityEvent: reporter.report });
 * process.once('SIGTERM', () => void reporter.close());
 */
export function createSecurityReporter(options: SecurityReporterOptions): SecurityReporter {
  return new Reporter(resolveOptions(options));
}

interface Resolved {
  url: URL;
  origin: string;
  headers: Record<string, string>;
  fetch: typeof fetch;
  batchSize: number;
  flushIntervalMs: number;
  maxQueue: number;
  maxAttempts: number;
  initialMs: number;
  maxMs: number;
  random: () => number;
  timeoutMs: number;
  closeTimeoutMs: number;
  scheduler: Scheduler;
  now: Clock;
  onError: ((error: WeChatKitError, info: SecurityReportFailure) => void) | undefined;
}

function invalid(message: string): ConfigError {
  return new ConfigError('INVALID_CONFIG', `createSecurityReporter: ${message}`);
}

function isLoopback(hostname: string): boolean {
  return (
    hostname === 'localhost' || hostname === '[::1]' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(hostname)
  );
}

function resolveUrl(value: unknown): URL {
  if (typeof value !== 'string' && !(value instanceof URL)) {
    throw invalid('url is required: the https:// address of the collector that receives the events');
  }
  let url: URL;
  try {
    url = new URL(String(value));
  } catch {
    // The value is not echoed: a collector URL may hold a token.
    throw invalid('url is not an absolute URL; give the full https:// address of the collector');
  }
  if (url.username !== '' || url.password !== '') {
    throw invalid(
      'url must not carry credentials (user:password@): they would end up wherever URLs are logged; ' +
        "pass them in headers, e.g. { authorization: 'Bearer …' }",
    );
  }
  const loopbackHttp = url.protocol === 'http:' && isLoopback(url.hostname);
  if (url.protocol !== 'https:' && !loopbackHttp) {
    throw invalid(
      `url must use https:// (events describe attacks and must not cross the network in clear); ` +
        `http:// is accepted only for a loopback host (127.0.0.1, [::1], localhost), not for ${url.protocol}//${url.host}`,
    );
  }
  url.hash = '';
  return url;
}

function resolveHeaders(value: unknown): Record<string, string> {
  if (value === undefined) return {};
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw invalid(
      "headers must be an object of header names to string values, e.g. { authorization: 'Bearer …' }",
    );
  }
  const headers: Record<string, string> = {};
  for (const [name, headerValue] of Object.entries(value)) {
    if (RESERVED_HEADERS.has(name.toLowerCase())) {
      throw invalid(`headers: "${name}" is set by the reporter itself; remove it`);
    }
    if (typeof headerValue !== 'string') throw invalid(`headers: the value of "${name}" must be a string`);
    try {
      new Headers([[name, headerValue]]);
    } catch {
      // The value is not echoed: it is likely a credential.
      throw invalid(
        `headers: "${name}" is not a valid header name, or its value is not a valid header value`,
      );
    }
    headers[name] = headerValue;
  }
  return headers;
}

function positive(name: string, value: unknown, fallback: number, integer: boolean): number {
  if (value === undefined) return fallback;
  if (
    typeof value !== 'number' ||
    !Number.isFinite(value) ||
    value <= 0 ||
    (integer && !Number.isInteger(value))
  ) {
    throw invalid(`${name} must be a positive ${integer ? 'integer' : 'number of ms'}`);
  }
  return value;
}

function optionalFunction<T>(name: string, value: unknown): T | undefined {
  if (value !== undefined && typeof value !== 'function') throw invalid(`${name} must be a function`);
  return value as T | undefined;
}

function resolveOptions(options: SecurityReporterOptions): Resolved {
  if (typeof options !== 'object' || options === null) {
    throw invalid("pass an options object: createSecurityReporter({ url: 'https://…' })");
  }
  for (const key of Object.keys(options)) {
    if (!KNOWN_OPTIONS.has(key)) throw invalid(`unknown option "${key}"`);
  }
  const url = resolveUrl(options.url);
  const batchSize = positive('batchSize', options.batchSize, 50, true);
  const maxQueue = positive('maxQueue', options.maxQueue, Math.max(10_000, batchSize), true);
  if (maxQueue < batchSize) {
    throw invalid(`maxQueue (${maxQueue}) must be at least batchSize (${batchSize})`);
  }
  const backoff = options.backoff ?? {};
  if (typeof backoff !== 'object' || backoff === null)
    throw invalid('backoff must be { initialMs?, maxMs? }');
  for (const key of Object.keys(backoff)) {
    if (key !== 'initialMs' && key !== 'maxMs') throw invalid(`backoff: unknown option "${key}"`);
  }
  const initialMs = positive('backoff.initialMs', backoff.initialMs, 1000, false);
  const maxMs = positive('backoff.maxMs', backoff.maxMs, Math.max(60_000, initialMs), false);
  if (maxMs < initialMs) throw invalid('backoff.maxMs must be at least backoff.initialMs');
  if (options.scheduler !== undefined && !isScheduler(options.scheduler)) {
    throw invalid('scheduler must be an object with setTimeout(fn, ms) and clearTimeout(handle) functions');
  }
  const fetchImpl =
    optionalFunction<typeof fetch>('fetch', options.fetch) ??
    (typeof globalThis.fetch === 'function'
      ? (((input, init) => globalThis.fetch(input, init)) as typeof fetch)
      : undefined);
  if (fetchImpl === undefined)
    throw invalid('no fetch available: pass options.fetch (Node 20+ has a global fetch)');
  return {
    url,
    origin: url.origin,
    headers: resolveHeaders(options.headers),
    fetch: fetchImpl,
    batchSize,
    flushIntervalMs: positive('flushIntervalMs', options.flushIntervalMs, 5000, false),
    maxQueue,
    maxAttempts: positive('maxAttempts', options.maxAttempts, 8, true),
    initialMs,
    maxMs,
    random: optionalFunction<() => number>('random', options.random) ?? Math.random,
    timeoutMs: positive('timeoutMs', options.timeoutMs, 10_000, false),
    closeTimeoutMs: positive('closeTimeoutMs', options.closeTimeoutMs, 10_000, false),
    scheduler: options.scheduler ?? systemScheduler,
    now: optionalFunction<Clock>('now', options.now) ?? Date.now,
    onError: optionalFunction('onError', options.onError),
  };
}

/**
 * A FIFO with O(1) push and shift (amortised): an array read from `head`, compacted once the
 * consumed part is the larger half.
 */
class Fifo<T> {
  #items: Array<T | undefined> = [];
  #head = 0;

  get length(): number {
    return this.#items.length - this.#head;
  }

  push(item: T): void {
    this.#items.push(item);
  }

  shift(): T | undefined {
    if (this.#head >= this.#items.length) return undefined;
    const item = this.#items[this.#head];
    this.#items[this.#head] = undefined;
    this.#head += 1;
    if (this.#head >= 1024 && this.#head * 2 >= this.#items.length) {
      this.#items = this.#items.slice(this.#head);
      this.#head = 0;
    }
    return item;
  }

  clear(): void {
    this.#items = [];
    this.#head = 0;
  }
}

/** A batch taken off the queue: serialised once, posted with the same body and key on every attempt. */
interface Batch {
  /** Queue sequence numbers of its first and last event. */
  firstSeq: number;
  size: number;
  body: string;
  key: string;
}

type Outcome =
  | { kind: 'sent' }
  | { kind: 'retry'; error: WeChatKitError; retryAfterMs: number | undefined }
  | { kind: 'drop'; error: WeChatKitError }
  | { kind: 'stop'; error: WeChatKitError }
  | { kind: 'aborted' };

function unref(handle: unknown): void {
  (handle as { unref?: () => void } | undefined)?.unref?.();
}

/** `Retry-After` as ms from now: delta-seconds or an HTTP date; `undefined` when absent or unreadable. */
function retryAfterMs(value: string | null, now: number): number | undefined {
  if (value === null) return undefined;
  const text = value.trim();
  if (/^\d+$/.test(text)) return Number(text) * 1000;
  const at = Date.parse(text);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

class Reporter implements SecurityReporter {
  readonly #o: Resolved;
  readonly #queue = new Fifo<SecurityEvent>();
  /** Sequence number of the event at the head of the queue; events are numbered from 0 as reported. */
  #headSeq = 0;
  /** Sequence number of the last event queued (-1: none yet). */
  #lastSeq = -1;
  /** Events up to this sequence number are due now, whatever the batch size (set by the timer, flush, close). */
  #flushThrough = -1;
  #inflight: Batch | undefined;
  #loop: Promise<void> | undefined;
  #timer: unknown;
  #timerArmed = false;
  #kickQueued = false;
  #closing = false;
  #closed: Promise<void> | undefined;
  #stopped = false;
  readonly #abort = new AbortController();
  #waiters: Array<{ target: number; resolve: () => void }> = [];
  #sent = 0;
  #dropped = 0;
  #failedBatches = 0;
  #lastError: ErrorCode | undefined;

  constructor(options: Resolved) {
    this.#o = options;
  }

  readonly report = (event: SecurityEvent): void => {
    try {
      if (this.#stopped || this.#closing || typeof event !== 'object' || event === null) {
        this.#dropped += 1;
        return;
      }
      this.#queue.push(event);
      this.#lastSeq += 1;
      if (this.#queue.length > this.#o.maxQueue) {
        this.#queue.shift();
        this.#headSeq += 1;
        this.#dropped += 1;
        if (this.#waiters.length > 0) this.#settleWaiters();
      }
      if (this.#queue.length >= this.#o.batchSize) this.#kick();
      else if (this.#loop === undefined && !this.#timerArmed) this.#armTimer();
    } catch {
      // A sink never changes the outcome of the request that reported to it.
    }
  };

  flush(): Promise<void> {
    try {
      if (this.#stopped || (this.#queue.length === 0 && this.#inflight === undefined)) {
        return Promise.resolve();
      }
      const target = this.#lastSeq;
      this.#flushThrough = Math.max(this.#flushThrough, target);
      const done = new Promise<void>((resolve) => this.#waiters.push({ target, resolve }));
      this.#pump();
      return done;
    } catch {
      return Promise.resolve();
    }
  }

  close(): Promise<void> {
    this.#closed ??= this.#close().catch(() => {});
    return this.#closed;
  }

  stats(): SecurityReporterStats {
    const stats: SecurityReporterStats = {
      queued: this.#queue.length + (this.#inflight?.size ?? 0),
      sent: this.#sent,
      dropped: this.#dropped,
      failedBatches: this.#failedBatches,
      stopped: this.#stopped,
    };
    if (this.#lastError !== undefined) stats.lastError = this.#lastError;
    return stats;
  }

  async #close(): Promise<void> {
    this.#closing = true;
    this.#clearTimer();
    if (!this.#stopped) {
      let bound: unknown;
      const expired = new Promise<void>((resolve) => {
        bound = this.#o.scheduler.setTimeout(resolve, Math.min(this.#o.closeTimeoutMs, MAX_TIMER_MS));
        unref(bound);
      });
      await Promise.race([this.flush(), expired]);
      this.#o.scheduler.clearTimeout(bound);
    }
    this.#halt();
    await this.#loop;
  }

  /** Stops for good: aborts the POST or back-off in progress, drops (and counts) what is left. */
  #halt(): void {
    this.#stopped = true;
    this.#clearTimer();
    this.#abort.abort();
    this.#dropped += this.#queue.length + (this.#inflight?.size ?? 0);
    this.#inflight = undefined;
    this.#clearQueue();
    this.#settleWaiters();
  }

  #clearQueue(): void {
    this.#queue.clear();
    this.#headSeq = this.#lastSeq + 1;
  }

  #due(): boolean {
    const length = this.#queue.length;
    return length >= this.#o.batchSize || (length > 0 && this.#headSeq <= this.#flushThrough);
  }

  /** Starts the send loop on a microtask: `report()` itself does no more than queue. */
  #kick(): void {
    if (this.#kickQueued) return;
    this.#kickQueued = true;
    queueMicrotask(() => {
      this.#kickQueued = false;
      this.#pump();
    });
  }

  #pump(): void {
    if (this.#loop !== undefined || this.#stopped || !this.#due()) return;
    this.#clearTimer();
    this.#loop = this.#run().finally(() => {
      this.#loop = undefined;
      if (this.#stopped) return;
      // Events reported while the last batch was being answered.
      if (this.#due()) this.#pump();
      else if (this.#queue.length > 0 && !this.#closing) this.#armTimer();
    });
  }

  #armTimer(): void {
    if (this.#timerArmed) return;
    this.#timerArmed = true;
    this.#timer = this.#o.scheduler.setTimeout(
      () => {
        this.#timerArmed = false;
        this.#flushThrough = Math.max(this.#flushThrough, this.#lastSeq);
        this.#pump();
      },
      Math.min(this.#o.flushIntervalMs, MAX_TIMER_MS),
    );
    unref(this.#timer);
  }

  #clearTimer(): void {
    if (!this.#timerArmed) return;
    this.#timerArmed = false;
    this.#o.scheduler.clearTimeout(this.#timer);
  }

  async #run(): Promise<void> {
    try {
      while (!this.#stopped && this.#due()) {
        const batch = this.#takeBatch();
        if (batch !== undefined) {
          this.#inflight = batch;
          await this.#deliver(batch);
          this.#inflight = undefined;
        }
        this.#settleWaiters();
      }
    } catch {
      // Nothing above throws by design; a bug must not leave the loop marked as running.
      this.#dropped += this.#inflight?.size ?? 0;
      this.#inflight = undefined;
    }
  }

  /** Takes up to `batchSize` events off the queue and serialises them; unserialisable events are dropped. */
  #takeBatch(): Batch | undefined {
    const firstSeq = this.#headSeq;
    const count = Math.min(this.#o.batchSize, this.#queue.length);
    const parts: string[] = [];
    const ids: string[] = [];
    let unserialisable = 0;
    for (let i = 0; i < count; i += 1) {
      const event = this.#queue.shift() as SecurityEvent;
      this.#headSeq += 1;
      let json: string | undefined;
      try {
        json = JSON.stringify(event) as string | undefined;
      } catch {
        json = undefined;
      }
      if (typeof json !== 'string') {
        unserialisable += 1;
        continue;
      }
      parts.push(json);
      ids.push(typeof event.id === 'string' ? event.id : json);
    }
    if (unserialisable > 0) {
      this.#dropped += unserialisable;
      this.#lastError = 'BAD_BODY';
      this.#notify(
        new PayloadError(
          'BAD_BODY',
          `${unserialisable} security event(s) could not be serialised as JSON and were dropped: ` +
            'report plain SecurityEvent objects (no BigInt, no cycles)',
        ),
        { events: unserialisable, attempts: 0 },
      );
    }
    if (parts.length === 0) return undefined;
    return {
      firstSeq,
      size: parts.length,
      body: `{"events":[${parts.join(',')}]}`,
      key: createHash('sha256').update(ids.join('\n')).digest('base64url'),
    };
  }

  async #deliver(batch: Batch): Promise<void> {
    for (let attempt = 1; ; attempt += 1) {
      const outcome = await this.#post(batch);
      if (outcome.kind === 'aborted' || this.#stopped) return;
      if (outcome.kind === 'sent') {
        this.#sent += batch.size;
        return;
      }
      this.#lastError = outcome.error.code;
      if (outcome.kind === 'stop') {
        this.#failedBatches += 1;
        const events = this.#queue.length + batch.size;
        this.#halt(); // counts the batch (still in flight) and the queue as dropped
        this.#notify(outcome.error, { events, attempts: attempt });
        return;
      }
      if (outcome.kind === 'drop' || attempt >= this.#o.maxAttempts) {
        this.#failedBatches += 1;
        this.#dropped += batch.size;
        this.#inflight = undefined;
        this.#notify(outcome.error, { events: batch.size, attempts: attempt });
        return;
      }
      const base = Math.min(this.#o.maxMs, this.#o.initialMs * 2 ** (attempt - 1));
      const jitter = this.#jitter();
      const delay = Math.max(Math.round(base * (0.5 + jitter / 2)), outcome.retryAfterMs ?? 0);
      if (!(await this.#sleep(Math.min(delay, MAX_TIMER_MS)))) return;
    }
  }

  /** The injected random, kept in [0, 1] whatever it returns or throws. */
  #jitter(): number {
    try {
      return Math.min(Math.max(Number(this.#o.random()) || 0, 0), 1);
    } catch {
      return 0.5;
    }
  }

  /** Resolves true after `ms`, or false as soon as the reporter halts. */
  #sleep(ms: number): Promise<boolean> {
    const signal = this.#abort.signal;
    if (signal.aborted) return Promise.resolve(false);
    return new Promise((resolve) => {
      const onAbort = () => {
        this.#o.scheduler.clearTimeout(handle);
        resolve(false);
      };
      const handle = this.#o.scheduler.setTimeout(() => {
        signal.removeEventListener('abort', onAbort);
        resolve(true);
      }, ms);
      unref(handle);
      signal.addEventListener('abort', onAbort, { once: true });
    });
  }

  async #post(batch: Batch): Promise<Outcome> {
    const { origin, timeoutMs } = this.#o;
    const timeout = timeoutSignal(timeoutMs, this.#o.scheduler);
    // The listener fallback (`null`), not `AbortSignal.any`: the reporter's own signal lives as long
    // as the reporter, and every POST would otherwise hang one more dependent signal on it.
    const signal = anySignal([timeout.signal, this.#abort.signal], null);
    try {
      let response: Response;
      try {
        const init: RequestInit = {
          method: 'POST',
          headers: { ...this.#o.headers, 'content-type': 'application/json', 'idempotency-key': batch.key },
          body: batch.body,
          signal: signal.signal,
          redirect: 'manual',
        };
        // A fetch that throws synchronously fails the attempt like one that rejects.
        response = await raceAbort(
          Promise.resolve().then(() => this.#o.fetch(this.#o.url, init)),
          signal.signal,
        );
      } catch {
        if (this.#abort.signal.aborted) return { kind: 'aborted' };
        const error = timeout.signal.aborted
          ? new TransportError(
              'TIMEOUT',
              `the security event collector ${origin} did not answer within ${timeoutMs} ms (timeoutMs); the batch will be retried`,
            )
          : new TransportError(
              'NETWORK_ERROR',
              `could not reach the security event collector ${origin} (connection refused, DNS or TLS failure); the batch will be retried`,
            );
        return { kind: 'retry', error, retryAfterMs: undefined };
      }
      const status = (response as Partial<Response> | undefined)?.status;
      if (typeof status !== 'number') {
        const error = new TransportError(
          'BAD_RESPONSE',
          'the fetch given to the security reporter did not resolve with a Response',
        );
        return { kind: 'retry', error, retryAfterMs: undefined };
      }
      try {
        // The answer's body is not needed; releasing it frees the connection.
        response.body?.cancel().catch(() => {});
      } catch {
        // Not a real Response body: nothing to release.
      }
      if (status >= 200 && status < 300) return { kind: 'sent' };
      const httpError = (message: string) =>
        new TransportError(
          'HTTP_ERROR',
          `the security event collector ${origin} answered ${status}: ${message}`,
          {
            status,
          },
        );
      if (status === 401 || status === 403) {
        return {
          kind: 'stop',
          error: new ConfigError(
            'INVALID_CONFIG',
            `the security event collector ${origin} answered ${status}: it refuses the reporter's credentials. ` +
              'Check the headers given to createSecurityReporter. The reporter has stopped and drops every ' +
              'event until it is created again.',
            { cause: httpError('credentials refused') },
          ),
        };
      }
      if (status === 429 || status >= 500) {
        const retryAfter =
          status === 429 || status === 503
            ? retryAfterMs(response.headers?.get?.('retry-after') ?? null, this.#o.now())
            : undefined;
        return {
          kind: 'retry',
          error: httpError('the batch will be retried'),
          retryAfterMs: retryAfter,
        };
      }
      return {
        kind: 'drop',
        error: httpError(
          status >= 300 && status < 400
            ? 'a redirect, which is not followed; give the final URL'
            : 'the batch was refused and is dropped; check what the collector expects',
        ),
      };
    } finally {
      timeout.clear();
      signal.dispose();
    }
  }

  #settleWaiters(): void {
    if (this.#waiters.length === 0) return;
    const inflightFirst = this.#inflight?.firstSeq ?? Number.POSITIVE_INFINITY;
    const queuedFirst = this.#queue.length > 0 ? this.#headSeq : Number.POSITIVE_INFINITY;
    const pendingFrom = this.#stopped ? Number.POSITIVE_INFINITY : Math.min(inflightFirst, queuedFirst);
    const waiting: Array<{ target: number; resolve: () => void }> = [];
    for (const waiter of this.#waiters) {
      if (waiter.target < pendingFrom) waiter.resolve();
      else waiting.push(waiter);
    }
    this.#waiters = waiting;
  }

  #notify(error: WeChatKitError, info: SecurityReportFailure): void {
    const onError = this.#o.onError;
    if (onError === undefined) return;
    try {
      const result: unknown = onError(error, info);
      if (typeof (result as PromiseLike<unknown> | undefined)?.then === 'function') {
        (result as Promise<unknown>).then(undefined, () => {});
      }
    } catch {
      // An observer's failure changes nothing.
    }
  }
}
