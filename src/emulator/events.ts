import { answerBody } from './http.js';
import type { EmulatorState } from './state.js';

/** What the emulator did, as the console's live log shows it. */
export type EmulatorEventKind = 'api' | 'push' | 'pay-notification' | 'control';

/**
 * One entry of the emulator's event log: an API call and its answer, a push to a developer's
 * server and that server's answer, a Pay notification attempt, or a change made through the
 * control plane. `verdict` is the outcome seen from WeChat's side: `accepted` (errcode 0, a 2xx,
 * a valid reply) or `refused` (`reason` says why).
 */
export interface EmulatorEvent {
  /** Increasing number, unique per emulator (the SSE `id`). */
  seq: number;
  /** Emulated time, ms. */
  at: number;
  kind: EmulatorEventKind;
  verdict: 'accepted' | 'refused';
  /** One line, e.g. `GET /cgi-bin/token` or `push text → wx…`. */
  summary: string;
  /** Why it was refused: `40125 invalid appsecret`, `PLAINTEXT_REPLY: …`, `HTTP 500`. */
  reason?: string;
  /** Flat details (path, status, errcode, appId, mchid, attempts…); never a secret or a token. */
  detail: Record<string, string | number | boolean>;
}

/** The default number of events kept (the oldest are dropped first). */
export const EVENT_LOG_CAPACITY = 500;
/** The default number of live subscribers (console tabs) at once. */
export const EVENT_LOG_MAX_SUBSCRIBERS = 8;

type Subscriber = { send(event: EmulatorEvent): void; end(): void };

/**
 * A bounded log of what the emulator did (a ring buffer of `capacity` events) with live
 * subscribers (at most `maxSubscribers`), for the console's SSE stream.
 */
export class EventLog {
  readonly capacity: number;
  readonly maxSubscribers: number;
  readonly #events: EmulatorEvent[] = [];
  readonly #subscribers = new Set<Subscriber>();
  #seq = 0;
  #closed = false;

  constructor(options: { capacity?: number; maxSubscribers?: number } = {}) {
    this.capacity = options.capacity ?? EVENT_LOG_CAPACITY;
    this.maxSubscribers = options.maxSubscribers ?? EVENT_LOG_MAX_SUBSCRIBERS;
  }

  /** Appends an event (dropping the oldest beyond capacity) and sends it to every subscriber. */
  record(event: Omit<EmulatorEvent, 'seq'>): EmulatorEvent {
    this.#seq += 1;
    const entry: EmulatorEvent = { seq: this.#seq, ...event };
    this.#events.push(entry);
    if (this.#events.length > this.capacity) this.#events.splice(0, this.#events.length - this.capacity);
    for (const subscriber of this.#subscribers) subscriber.send(entry);
    return entry;
  }

  /** The kept events with `seq` greater than `after`, oldest first. */
  since(after = 0): EmulatorEvent[] {
    return this.#events.filter((e) => e.seq > after);
  }

  /** The `seq` of the newest event (0 when none was recorded). */
  get lastSeq(): number {
    return this.#seq;
  }

  get subscriberCount(): number {
    return this.#subscribers.size;
  }

  /** Adds a live subscriber; `undefined` when `maxSubscribers` are already connected or the log closed. */
  subscribe(subscriber: Subscriber): (() => void) | undefined {
    if (this.#closed || this.#subscribers.size >= this.maxSubscribers) return undefined;
    this.#subscribers.add(subscriber);
    return () => {
      this.#subscribers.delete(subscriber);
    };
  }

  /** Ends every live subscription (the emulator is closing); later subscriptions are refused. */
  close(): void {
    this.#closed = true;
    for (const subscriber of [...this.#subscribers]) subscriber.end();
    this.#subscribers.clear();
  }
}

const logs = new WeakMap<EmulatorState, EventLog>();

/** The event log of an emulator (created on first use). */
export function eventLogOf(state: EmulatorState): EventLog {
  let log = logs.get(state);
  if (log === undefined) {
    log = new EventLog();
    logs.set(state, log);
  }
  return log;
}

/** Records an event on the emulator's log at the emulated now. */
export function recordEvent(state: EmulatorState, event: Omit<EmulatorEvent, 'seq' | 'at'>): EmulatorEvent {
  return eventLogOf(state).record({ at: state.now(), ...event });
}

/** How often an idle SSE stream sends a comment line, so proxies and browsers keep it open. */
export const SSE_HEARTBEAT_MS = 15_000;

/**
 * A `text/event-stream` response of the log: first the kept events after `lastEventId` (what a
 * reconnecting browser missed), then each new one as `event: emulator` with `id: seq`, and a
 * `: heartbeat` comment every `heartbeatMs`. Cancelling the body (the client went away)
 * unsubscribes. `undefined` when the log has no room for another subscriber.
 */
export function eventStream(
  log: EventLog,
  options: { lastEventId?: number; heartbeatMs?: number } = {},
): Response | undefined {
  const encoder = new TextEncoder();
  let cleanup = () => {};
  let refused = false;
  const body = new ReadableStream<Uint8Array>({
    start(controller) {
      let open = true;
      const write = (text: string) => {
        if (!open) return;
        try {
          controller.enqueue(encoder.encode(text));
        } catch {
          cleanup();
        }
      };
      const frame = (event: EmulatorEvent) =>
        write(`id: ${event.seq}\nevent: emulator\ndata: ${JSON.stringify(event)}\n\n`);
      const unsubscribe = log.subscribe({
        send: frame,
        end: () => {
          cleanup();
          try {
            controller.close();
          } catch {
            // already closed
          }
        },
      });
      if (unsubscribe === undefined) {
        refused = true;
        return;
      }
      const heartbeat = setInterval(() => write(': heartbeat\n\n'), options.heartbeatMs ?? SSE_HEARTBEAT_MS);
      heartbeat.unref?.();
      cleanup = () => {
        if (!open) return;
        open = false;
        clearInterval(heartbeat);
        unsubscribe();
      };
      write('retry: 2000\n: connected\n\n');
      for (const event of log.since(options.lastEventId ?? 0)) frame(event);
    },
    cancel() {
      cleanup();
    },
  });
  if (refused) return undefined;
  return new Response(body, {
    status: 200,
    headers: {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-store',
      'x-accel-buffering': 'no',
    },
  });
}

/**
 * The WeChat verdict of an answer, from the body it was built from (no stream is read again):
 * errcode/errmsg (JSON), code/message (Pay v3), return_code/result_code (Pay v2 XML); otherwise
 * the HTTP status.
 */
function verdictOf(response: Response): Pick<EmulatorEvent, 'verdict' | 'reason' | 'detail'> {
  const detail: EmulatorEvent['detail'] = { status: response.status };
  const body = answerBody(response);
  let reason: string | undefined;
  if (typeof body === 'object' && body !== null && !Array.isArray(body)) {
    const b = body as Record<string, unknown>;
    const text = (v: unknown) => (typeof v === 'string' ? v : '');
    if (typeof b.errcode === 'number') {
      detail.errcode = b.errcode;
      if (b.errcode !== 0) reason = `${b.errcode} ${text(b.errmsg).replace(/ rid: \S+$/, '')}`.trim();
    } else if (typeof b.code === 'string' && response.status >= 400) {
      detail.code = b.code;
      reason = `${response.status} ${b.code} ${text(b.message)}`.trim();
    } else if (typeof b.error === 'string' && response.status >= 400) {
      reason = `${response.status} ${b.error}`;
    } else if (typeof b.return_code === 'string') {
      if (b.return_code !== 'SUCCESS') reason = `${b.return_code} ${text(b.return_msg)}`.trim();
      else if (b.result_code === 'FAIL')
        reason = `${text(b.err_code) || 'FAIL'} ${text(b.err_code_des)}`.trim();
    }
  }
  if (reason === undefined && (response.status < 200 || response.status > 299))
    reason = `HTTP ${response.status}`;
  return reason === undefined ? { verdict: 'accepted', detail } : { verdict: 'refused', reason, detail };
}

/**
 * Records a call the emulator answered. API calls and the control plane's changes (POST, DELETE)
 * are logged; reads of the control plane and the console's own routes are not. The query string
 * (which carries access_token) is never logged.
 */
export function recordCall(
  state: EmulatorState,
  request: Request,
  pathname: string,
  outcome: Response | 'dropped',
): void {
  const control = pathname.startsWith('/_emulator/');
  if (control && (request.method === 'GET' || request.method === 'HEAD')) return;
  const summary = `${request.method} ${pathname}`;
  const kind: EmulatorEventKind = control ? 'control' : 'api';
  if (outcome === 'dropped') {
    recordEvent(state, {
      kind,
      verdict: 'refused',
      summary,
      reason: 'connection dropped (injected fault)',
      detail: { path: pathname, method: request.method },
    });
    return;
  }
  const { verdict, reason, detail } = verdictOf(outcome);
  recordEvent(state, {
    kind,
    verdict,
    summary,
    ...(reason === undefined ? {} : { reason }),
    detail: { path: pathname, method: request.method, ...detail },
  });
}
