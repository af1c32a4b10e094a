import { randomUUID } from 'node:crypto';
import { encryptResource } from '../../crypto/pay-v3.js';
import { recordEvent } from '../events.js';
import { json } from '../http.js';
import type { Router } from '../router.js';
import type { EmulatorState } from '../state.js';
import { type Merchant, platformHeaders } from './signing.js';

/**
 * Notification delivery to a merchant's `notify_url`, shared by Pay v3 (signed JSON, AEAD
 * resource) and Pay v2 (signed XML): one attempt now, then retries on the official schedule
 * 15s/15s/30s/3m/10m/20m/30m/30m/30m/60m/3h/3h/3h/6h/6h divided by `options.retryTimeScale`,
 * until the merchant acknowledges. Each retry is due that long after the previous attempt ended,
 * on the emulated clock (see clock.ts): advancing the clock past it sends it.
 */

/** The official retry intervals, in seconds (total 24h4m). */
export const NOTIFY_SCHEDULE_SECONDS = [
  15, 15, 30, 180, 600, 1200, 1800, 1800, 1800, 3600, 10800, 10800, 10800, 21600, 21600,
] as const;

export interface DeliveryAttempt {
  /** Emulated time of the attempt (ms). */
  at: number;
  /** HTTP status of the answer, when one came. */
  status?: number;
  /** Connection error or timeout. */
  error?: string;
  ok: boolean;
}

export interface Delivery {
  /** Delivery id (unique per delivery, unlike `notificationId` which repeats with deliverTwice). */
  deliveryId: string;
  notificationId: string;
  mchid: string;
  event_type: string;
  url: string;
  /** The body sent on every attempt (identical across retries). */
  body: string;
  /** Headers of the last attempt. */
  headers: Record<string, string>;
  status: 'pending' | 'delivered' | 'failed';
  attempts: DeliveryAttempt[];
}

interface DeliveryJob {
  delivery: Delivery;
  /** Fresh headers per attempt (v3 signs each attempt with a new timestamp and nonce). */
  headers: () => Record<string, string>;
  accept: (status: number, text: string) => boolean;
  timeoutMs: number;
  /** Called once, when the merchant acknowledged. */
  onDelivered?: () => void;
}

const deliveries = new WeakMap<EmulatorState, Delivery[]>();

export function deliveriesOf(state: EmulatorState): Delivery[] {
  let list = deliveries.get(state);
  if (list === undefined) {
    list = [];
    deliveries.set(state, list);
  }
  return list;
}

async function attempt(state: EmulatorState, job: DeliveryJob): Promise<boolean> {
  const { delivery } = job;
  const headers = job.headers();
  delivery.headers = headers;
  const record: DeliveryAttempt = { at: state.now(), ok: false };
  delivery.attempts.push(record);
  // The merchant's answer is awaited on the emulated clock, as every wait of the emulator.
  const timeout = state.clock.timeout(
    job.timeoutMs,
    `pay notification timeout ${delivery.event_type} ${delivery.deliveryId}`,
  );
  try {
    const res = await fetch(delivery.url, {
      method: 'POST',
      headers,
      body: delivery.body,
      signal: timeout.signal,
    });
    const text = await res.text();
    record.status = res.status;
    record.ok = job.accept(res.status, text);
  } catch (error) {
    const e = error as Error & { cause?: { code?: string } };
    record.error =
      e.name === 'TimeoutError' ? `timeout after ${job.timeoutMs} ms` : (e.cause?.code ?? e.message);
  } finally {
    timeout.done();
  }
  const reason = record.ok
    ? undefined
    : (record.error ??
      (record.status !== undefined && record.status >= 200 && record.status < 300
        ? `HTTP ${record.status} but not acknowledged (the answer is not SUCCESS)`
        : `HTTP ${record.status}`));
  recordEvent(state, {
    kind: 'pay-notification',
    verdict: record.ok ? 'accepted' : 'refused',
    summary: `notify ${delivery.event_type} → ${delivery.mchid}`,
    ...(reason === undefined ? {} : { reason }),
    detail: {
      mchid: delivery.mchid,
      eventType: delivery.event_type,
      deliveryId: delivery.deliveryId,
      attempt: delivery.attempts.length,
      url: delivery.url.split('?')[0] as string,
      ...(record.status === undefined ? {} : { status: record.status }),
    },
  });
  if (record.ok) {
    delivery.status = 'delivered';
    job.onDelivered?.();
  } else if (delivery.attempts.length > NOTIFY_SCHEDULE_SECONDS.length) {
    delivery.status = 'failed';
  }
  return record.ok;
}

function scheduleRetry(state: EmulatorState, job: DeliveryJob): void {
  const index = job.delivery.attempts.length - 1;
  const seconds = NOTIFY_SCHEDULE_SECONDS[index];
  if (seconds === undefined || job.delivery.status !== 'pending') return;
  const scale = state.config.options.retryTimeScale;
  state.later(
    (seconds * 1000) / scale,
    async () => {
      if (!(await attempt(state, job))) scheduleRetry(state, job);
    },
    `pay notification retry ${index + 2} ${job.delivery.event_type} ${job.delivery.deliveryId}`,
  );
}

/**
 * Registers and starts a delivery; resolves after the first attempt (later ones run in the
 * background, stopped by the emulator's close()).
 */
export async function deliver(
  state: EmulatorState,
  job: Omit<DeliveryJob, 'delivery'> & {
    notificationId: string;
    mchid: string;
    event_type: string;
    url: string;
    body: string;
  },
): Promise<Delivery> {
  const delivery: Delivery = {
    deliveryId: state.randomId(16),
    notificationId: job.notificationId,
    mchid: job.mchid,
    event_type: job.event_type,
    url: job.url,
    body: job.body,
    headers: {},
    status: 'pending',
    attempts: [],
  };
  deliveriesOf(state).push(delivery);
  state.count('notifications', job.event_type);
  const full: DeliveryJob = { ...job, delivery };
  if (!(await attempt(state, full))) scheduleRetry(state, full);
  return delivery;
}

/** RFC 3339 in China time, as WeChat Pay writes times: `2018-06-08T10:34:56+08:00`. */
export function chinaTime(ms: number): string {
  const d = new Date(ms + 8 * 3_600_000);
  return `${d.toISOString().slice(0, 19)}+08:00`;
}

/** Options of a v3 notification. */
export interface V3NotifyOptions {
  merchant: Merchant;
  url: string;
  event_type: string;
  summary: string;
  /** `transaction` or `refund`: both `original_type` and `associated_data`. */
  originalType: string;
  resource: unknown;
  deliverTwice?: boolean;
  timeoutMs?: number;
  onDelivered?: () => void;
}

/**
 * Sends a v3 notification: the resource AEAD-encrypted with the merchant's APIv3 key, the body
 * signed with the platform key of the merchant's verify mode. Acknowledged by HTTP 2xx; any other
 * status, a connection error or a timeout is a failure (the status decides, not the body).
 */
export async function notifyV3(state: EmulatorState, options: V3NotifyOptions): Promise<Delivery[]> {
  const { merchant } = options;
  const id = randomUUID();
  const body = JSON.stringify({
    id,
    create_time: chinaTime(state.now()),
    resource_type: 'encrypt-resource',
    event_type: options.event_type,
    summary: options.summary,
    resource: {
      original_type: options.originalType,
      ...encryptResource({
        apiV3Key: merchant.apiV3Key,
        plaintext: JSON.stringify(options.resource),
        associatedData: options.originalType,
      }),
    },
  });
  const job = {
    notificationId: id,
    mchid: merchant.mchid,
    event_type: options.event_type,
    url: options.url,
    body,
    headers: () => ({
      'Content-Type': 'application/json',
      'User-Agent': 'Mozilla/4.0 (weixin-kit emulator)',
      ...platformHeaders(state, merchant, body),
    }),
    accept: (status: number) => status >= 200 && status < 300,
    timeoutMs: options.timeoutMs ?? state.config.options.pushTimeoutMs,
    ...(options.onDelivered ? { onDelivered: options.onDelivered } : {}),
  };
  const sent = [await deliver(state, job)];
  if (options.deliverTwice) sent.push(await deliver(state, job));
  return sent;
}

/** `GET /_emulator/pay/notifications?mchid=` — every delivery with its attempts. */
export function registerNotificationLog(router: Router, state: EmulatorState): void {
  router.add('GET', '/_emulator/pay/notifications', (ctx) => {
    const mchid = ctx.url.searchParams.get('mchid');
    const list = deliveriesOf(state).filter((d) => mchid === null || d.mchid === mchid);
    return json({ notifications: list });
  });
}
