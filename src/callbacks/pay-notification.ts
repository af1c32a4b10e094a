/**
 * WeChat Pay v3 notifications (支付 / 退款结果通知) as a {@link CallbackHandler}: raw body in →
 * `openNotification` (verify headers, window, serial and signature over the RAW bytes → parse →
 * check `resource.algorithm` → AEAD open) → dedupe by notification `id` → typed handler → `204`.
 */

import type { AuditLog } from '../core/audit.js';
import type { SecretInput } from '../core/secret-provider.js';
import { SecretList } from '../core/secret-source.js';
import type { SecurityEventHandler } from '../core/security-events.js';
import { inServerSpan, pathOfTarget, recordServerStatus, spanMethod, type Tracing } from '../core/tracing.js';
import { type PayV3NotificationEnvelope, readVerifiedNotificationWithKeys } from '../crypto/pay-v3-notify.js';
import type { PayV3SignatureVerifier, PayV3Verifier, PayV3VerifyRequest } from '../crypto/pay-v3-verify.js';
import { ArgumentError, ConfigError, isWeChatKitError } from '../errors.js';
import { byteLength, type Clock, defaultRandom } from '../internal/bytes.js';
import { InflightRuns } from '../internal/inflight.js';
import { firstHeader, RequestIds } from '../internal/request-id.js';
import { isThenable } from '../internal/thenable.js';
import { elapsedClock, isScheduler, raceTimer, type Scheduler, systemScheduler } from '../internal/timers.js';
import type { PlatformTrust } from '../pay/v3/platform-trust.js';
import type { PaidTransaction, Transaction, TransactionAmount } from '../pay/v3/types.js';
import type { CallbackAllowlist } from './callback-allowlist.js';
import type {
  CallbackErrorEvent,
  DuplicateEvent,
  RefusedEvent,
  SecretFallbackEvent,
} from './callback-hooks.js';
import {
  bodyAlreadyParsed,
  type CallbackLogger,
  errorCodeOf,
  logCallbackError,
  resolveLogger,
} from './callback-logger.js';
import {
  resolveAllowlist,
  resolveAudit,
  resolveSecurityHandler,
  resolveTracing,
} from './callback-options.js';
import { type DedupeStore, MemoryDedupeStore } from './dedupe-store.js';
import { addHandler } from './handler-registry.js';
import { renewLease } from './lease-renewal.js';
import { type RequestFacts, reportRequest } from './request-report.js';
import type { AdapterProblem, CallbackHandler, CallbackRequest, CallbackResponse } from './types.js';

/** @deprecated Use `TransactionAmount` (one model for the query answer and the notification). */
export type PayTransactionAmount = TransactionAmount;

/**
 * @deprecated Use `PaidTransaction`: the decrypted resource of a `TRANSACTION.SUCCESS`
 * notification is the same wire object as the query answer (`Transaction`), paid.
 */
export type PayTransactionResource = PaidTransaction;

/** Amounts of a refund, in fen (分), wire names. */
export interface PayRefundAmount {
  total: number;
  refund: number;
  payer_total: number;
  payer_refund: number;
}

/**
 * The decrypted resource of a `REFUND.SUCCESS` / `REFUND.ABNORMAL` / `REFUND.CLOSED` notification
 * (`original_type` `refund`), with WeChat Pay's wire names.
 */
export interface PayRefundResource {
  mchid: string;
  out_trade_no: string;
  transaction_id: string;
  out_refund_no: string;
  refund_id: string;
  /** `SUCCESS`, `ABNORMAL` or `CLOSED`. */
  refund_status: string;
  success_time?: string;
  /** Where the money went, e.g. `招商银行信用卡0403` or `支付用户零钱`. */
  user_received_account: string;
  amount: PayRefundAmount;
  [field: string]: unknown;
}

/**
 * The documented Pay v3 `event_type`s of the payment and refund notifications (支付成功通知,
 * 退款结果通知), each with its decrypted resource. {@link PayNotificationHandler.on} takes only
 * these, so a misspelt type does not compile; any other type goes through
 * {@link PayNotificationHandler.onCustom}.
 */
export interface PayNotificationEventMap {
  /** 支付成功通知 (`original_type` `transaction`): the paid {@link Transaction}. */
  'TRANSACTION.SUCCESS': PaidTransaction;
  /** 退款成功通知 (`original_type` `refund`). */
  'REFUND.SUCCESS': PayRefundResource;
  /** 退款异常通知: the refund needs handling in the merchant platform. */
  'REFUND.ABNORMAL': PayRefundResource;
  /** 退款关闭通知. */
  'REFUND.CLOSED': PayRefundResource;
}

/** A Pay v3 `event_type` with a typed resource: `'TRANSACTION.SUCCESS' | 'REFUND.SUCCESS' | …`. */
export type PayEventType = keyof PayNotificationEventMap;

const PAY_EVENT_TYPES: ReadonlySet<string> = new Set<PayEventType>([
  'TRANSACTION.SUCCESS',
  'REFUND.SUCCESS',
  'REFUND.ABNORMAL',
  'REFUND.CLOSED',
]);

/**
 * A verified, decrypted notification, as a handler gets it.
 *
 * @example
 * handler.on('REFUND.SUCCESS', async (event: PayNotificationEvent<PayRefundResource>) => {
 *   await refunds.markDone(event.resource.out_refund_no, event.resource.amount.refund);
 * });
 */
export interface PayNotificationEvent<T = unknown, E extends string = string> {
  /** The notification id: the same on every retry of one notification. */
  id: string;
  event_type: E;
  /** RFC 3339. */
  create_time: string;
  /** e.g. `支付成功`. */
  summary: string;
  /** `encrypt-resource`. */
  resource_type: string;
  /** The decrypted resource, parsed from JSON. */
  resource: T;
  /** The envelope exactly as received (parsed). */
  notification: PayV3NotificationEnvelope;
}

/** Handles one notification; throwing answers 500, so WeChat Pay retries it. */
export type PayNotificationListener<T, E extends string = string> = (
  event: PayNotificationEvent<T, E>,
) => unknown;

/**
 * What verifies notifications: any {@link PayV3SignatureVerifier} — recommended, the
 * {@link PlatformTrust} of the `PayV3` client (`pay.platformTrust`, or the client itself), which
 * follows platform-certificate rotations for both; a {@link PayV3Verifier} (fixed keys); or your
 * own `{ verify(request) }` (sync or async; it throws to refuse).
 */
export type PayNotificationVerifier =
  | PayV3SignatureVerifier
  | { readonly platformTrust: PayV3SignatureVerifier };

/** A notification with no handler and no fallback was acknowledged (WeChat Pay will not resend it). */
export interface UnhandledNotificationEvent {
  id: string;
  event_type: string;
}

/**
 * Observation hooks (called synchronously; whatever they throw is swallowed). Events carry no
 * secret: no APIv3 key, no decrypted resource.
 *
 * @example
 * createPayNotificationHandler({ …, hooks: {
 *   onRefused: (e) => log.warn(e, 'pay notification refused'),
 *   onError: (e) => log.error(e, 'pay notification failed'),
 * } });
 */
export interface PayNotificationHooks {
  /** Verification failed (401), or the body is unusable (400). `reason` is the error's message. */
  onRefused?(event: RefusedEvent): unknown;
  /** A notification id already processed (a retry): answered 204, no handler ran. */
  onDuplicate?(event: DuplicateEvent): unknown;
  /**
   * Answered 500: `handler` (it threw), `config` (the notification verified but does not decrypt —
   * our APIv3 key is wrong), `dedupe` (the store failed; processed anyway), `internal`.
   */
  onError?(event: CallbackErrorEvent): unknown;
  /** No handler for this event type and no fallback: answered 204. */
  onUnhandled?(event: UnhandledNotificationEvent): unknown;
  /**
   * The handler ran past `replyBudgetMs`: answered 500 so WeChat Pay retries later, while the
   * handler goes on. Its retry is a duplicate (204) if the handler finished, or processed again if
   * it threw.
   */
  onSlow?(event: SlowNotificationEvent): unknown;
  /**
   * A notification opened with a listed `apiV3Key` other than the first (option `apiV3Key`, its
   * index): WeChat Pay still encrypts with that key. Called after verification and decryption,
   * before dedupe. See docs/rotation.md.
   */
  onSecretFallback?(event: SecretFallbackEvent): unknown;
}

/** A handler that outran the answer budget. */
export interface SlowNotificationEvent {
  id: string;
  event_type: string;
  budgetMs: number;
}

/**
 * Options of {@link createPayNotificationHandler}. Unknown keys are refused.
 *
 * @example
 * const options: PayNotificationHandlerOptions = {
 *   apiV3Key: process.env.WECHATPAY_APIV3_KEY!,
 *   verifier: pay.platformTrust, // the PayV3 client's trust: certificate rotations are followed
 *   dedupe: new RedisDedupeStore(redis, { prefix: 'shop:' }),
 *   hooks: { onError: (e) => log.error(e, 'pay notification failed') },
 * };
 */
export interface PayNotificationHandlerOptions {
  /**
   * The 32-character APIv3 key (账户中心 → API安全 → APIv3密钥), or a provider that reads it
   * (`secretFromEnv`, `secretFromFile`, `secretFrom`). While changing it, a list with the current
   * key first: a notification opens with whichever listed key its GCM tag verifies under (see
   * docs/rotation.md and `hooks.onSecretFallback`). Keys given as values are checked now, a
   * provider's when first read; when a verified notification opens with no listed key, providers
   * are read again once before it is answered 500.
   */
  apiV3Key: SecretInput | readonly SecretInput[];
  /**
   * The WeChat Pay keys you trust. Recommended: the `PayV3` client's trust (`pay.platformTrust`,
   * or `pay` itself), shared with the client: when WeChat Pay rotates its platform certificate, a
   * notification naming the new serial makes it refresh (from the store, else one download of
   * `GET /v3/certificates`, at most once per `certificateRefreshIntervalMs`) before refusing. A
   * {@link PayV3Verifier} trusts a fixed set of keys (public key, platform certificates, or both
   * while migrating) and never learns a new certificate.
   */
  verifier: PayNotificationVerifier;
  /** Where processed notification ids are remembered (default: a {@link MemoryDedupeStore}). */
  dedupe?: DedupeStore;
  /**
   * How long a notification id is remembered, ms. Default 25 h: WeChat Pay retries one
   * notification for about 24 h 4 min (15 s … 6 h) until it gets a 2xx.
   */
  dedupeTtlMs?: number;
  /** Clock in ms (default `Date.now`), for the `Wechatpay-Timestamp` window. */
  now?: Clock;
  /**
   * Timers for `replyBudgetMs` (default: the global `setTimeout`/`clearTimeout`). A test passes
   * a manual scheduler and advances it instead of waiting for the budget to run out.
   */
  scheduler?: Scheduler;
  /** Replay window for `Wechatpay-Timestamp`, seconds either way (default 300). */
  maxSkewSeconds?: number;
  /**
   * How long a notification id is held while its handler runs, ms (default 60 000), when the
   * dedupe store supports `complete`/`isComplete` (the memory and Redis stores do). A retry that
   * reaches another instance meanwhile is answered 500 (retry later); if the holder crashes, the
   * id is free again when the lease ends. While a listener's promise is pending, the lease is
   * renewed every third of it when the store has `extend` (the memory and Redis stores do), for
   * up to ten leases (10 minutes by default); a renewal the store refuses, and the end of the
   * renewals, are reported to `hooks.onError` as `LEASE_LOST`. With a store without `extend`,
   * keep it above your listener's longest run.
   */
  processingLeaseMs?: number;
  /**
   * Longest the answer waits for the handler, ms (default 4500). WeChat Pay counts a late answer
   * as a failure; past the budget the request is answered 500 (retry later) instead of hanging.
   */
  replyBudgetMs?: number;
  hooks?: PayNotificationHooks;
  /**
   * Where failures (a handler that threw, a wrong APIv3 key, a body parser before the route…) are
   * written, pino-style `error(fields, message)`. Default: one line on `console.error` — unless
   * `hooks.onError` is given, which then is the only sink.
   */
  logger?: CallbackLogger;
  /**
   * Answers only requests from the allowlist's addresses: another is refused with 403
   * `IP_NOT_ALLOWED` before the signature is checked, counted by the allowlist and reported to
   * `hooks.onRefused`. WeChat Pay has no API for its notification addresses: it lists them in its
   * documentation (回调通知注意事项), so give them as the allowlist's `static` list and keep them
   * current yourself (see docs/allowlist.md).
   */
  allowlist?: CallbackAllowlist;
  /**
   * Writes one audit record per notification (made by `createAuditLog`): request id, status,
   * outcome, `event_type`, latency, merchant id, the payer as a keyed hash of the openid.
   */
  audit?: AuditLog;
  /**
   * Receives security events: forged signatures (`signature_failed`), notifications outside the
   * replay window (`replay`), a resource algorithm other than AEAD_AES_256_GCM (`downgrade`).
   */
  onSecurityEvent?: SecurityEventHandler;
  /**
   * Traces each notification as a server span (`WeChat Pay notification`) that continues the
   * caller's trace and is active while the handler runs, so the calls it makes are its children;
   * attributes: status, `wechatpay.event_type`, refusal code (`error.type`). Get one from
   * `otelTracing()` in `weixin-kit/otel`. Default: none.
   */
  tracing?: Tracing;
}

/** Default of {@link PayNotificationHandlerOptions.replyBudgetMs}. */
export const DEFAULT_PAY_REPLY_BUDGET_MS = 4500;

/** Largest notification body accepted (64 KiB; real ones are about 1 KiB). */
export const MAX_PAY_NOTIFICATION_BYTES = 65_536;

/** Default of {@link PayNotificationHandlerOptions.dedupeTtlMs}: 25 hours. */
export const DEFAULT_PAY_DEDUPE_TTL_MS = 25 * 3_600_000;

const OPTION_KEYS = new Set([
  'apiV3Key',
  'verifier',
  'dedupe',
  'dedupeTtlMs',
  'now',
  'scheduler',
  'maxSkewSeconds',
  'replyBudgetMs',
  'processingLeaseMs',
  'hooks',
  'logger',
  'allowlist',
  'audit',
  'onSecurityEvent',
  'tracing',
]);
const HOOKS = ['onRefused', 'onDuplicate', 'onError', 'onUnhandled', 'onSlow', 'onSecretFallback'] as const;
const JSON_TYPE = 'application/json; charset=utf-8';

function bad(message: string): ConfigError {
  return new ConfigError('INVALID_CONFIG', `createPayNotificationHandler: ${message}`);
}

function fail(status: number, message: string, headers: Record<string, string> = {}): CallbackResponse {
  return {
    status,
    headers: { 'content-type': JSON_TYPE, ...headers },
    body: JSON.stringify({ code: 'FAIL', message }),
  };
}

/** The documented failure messages: generic, never the reason (that goes to the hooks). */
const FAIL_MESSAGE: Record<number, string> = {
  400: 'bad request',
  401: 'signature verification failed',
  403: 'forbidden',
  405: 'method not allowed',
  413: 'payload too large',
  500: 'internal error',
};

class Refusal extends Error {
  constructor(
    readonly code: RefusedEvent['code'],
    readonly status: number,
    readonly reason: string,
  ) {
    super(reason);
  }
}

/** What one notification's report is made of (see `request-report.ts`). */
type NotificationFacts = RequestFacts;

/** Errors that mean our configuration is wrong, not the request: 500 so WeChat Pay retries later. */
class Misconfigured extends Error {
  constructor(readonly error: unknown) {
    super('misconfigured');
  }
}

/**
 * The status for a failure of `openNotification`. Authentication (`SIGNATURE_MISMATCH`,
 * `TIMESTAMP_EXPIRED`: a forgery, a replay, an unknown serial, a re-serialised body) → 401.
 * A verified notification that is unusable (`BAD_BODY`, `UNSUPPORTED_ALGORITHM`,
 * `BAD_CIPHERTEXT`) → 400. `DECRYPT_FAILED` after the signature verified means WeChat Pay sent it
 * and our APIv3 key does not open it: our misconfiguration → 500 (retried), reported via `onError`.
 */
function classify(error: unknown): Refusal | Misconfigured {
  if (!isWeChatKitError(error)) return new Misconfigured(error);
  switch (error.code) {
    case 'SIGNATURE_MISMATCH':
    case 'TIMESTAMP_EXPIRED':
      return new Refusal(error.code, 401, error.message);
    case 'BAD_BODY':
    case 'UNSUPPORTED_ALGORITHM':
    case 'BAD_CIPHERTEXT':
    case 'INVALID_ARGUMENT':
      return new Refusal(error.code, 400, error.message);
    default:
      // DECRYPT_FAILED, BAD_KEY, …
      return new Misconfigured(error);
  }
}

/**
 * The `apiV3Key` option as a list, current first: each 32 bytes, each listed once. A list's error
 * names the index; a provider's value is checked when read, with the same error naming the provider.
 */
function apiV3KeyList(value: unknown): SecretList {
  const what =
    'the 32-character APIv3 key from the merchant platform (not the APIv2 key, not base64- or hex-decoded)';
  return new SecretList('apiV3Key', value, {
    check(key, label, from) {
      if (typeof key !== 'string' || Buffer.byteLength(key, 'utf8') !== 32) {
        throw bad(`${label}${from === undefined ? '' : ` (from secret provider "${from}")`} must be ${what}`);
      }
      return key;
    },
    empty: () =>
      bad(
        'apiV3Key is an empty list: give the current APIv3 key (while changing it: the new key first, then the old)',
      ),
    repeated: (label, first) => bad(`${label} repeats ${first}: list each key once`),
  });
}

/** The {@link PayV3SignatureVerifier} of a `verifier` option: itself, or a client's `platformTrust`. */
function verifierOf(verifier: unknown): PayV3SignatureVerifier | undefined {
  const verifies = (v: unknown): v is PayV3SignatureVerifier =>
    typeof v === 'object' && v !== null && typeof (v as { verify?: unknown }).verify === 'function';
  if (verifies(verifier)) return verifier;
  const trust =
    typeof verifier === 'object' && verifier !== null
      ? (verifier as { platformTrust?: unknown }).platformTrust
      : undefined;
  return verifies(trust) ? trust : undefined;
}

/**
 * A WeChat Pay v3 notification endpoint. Register handlers with {@link on}; serve it with any
 * adapter (`toNodeListener`, express, koa, fastify, hono, Fetch), which passes the raw body.
 * Create it with {@link createPayNotificationHandler}.
 *
 * Answers: `204` (no body) once the handler finished, for a duplicate, or for an event nobody
 * handles; otherwise `{"code":"FAIL","message":"…"}` with 401 (signature, timestamp, serial,
 * re-serialised body), 400 (unusable body), 405, 413, or 500 (handler threw, APIv3 key wrong,
 * internal) — WeChat Pay retries on any non-2xx.
 *
 * @example
 * const notifications = new PayNotificationHandler({ apiV3Key, verifier })
 *   .on('TRANSACTION.SUCCESS', async ({ id, resource }) => orders.markPaid(resource.out_trade_no, id));
 * app.post('/pay/notify', wechatExpress(notifications)); // weixin-kit/express: reads the raw bytes itself
 */
export class PayNotificationHandler implements CallbackHandler {
  /** Current first. */
  readonly #apiV3Keys: SecretList;
  readonly #verifier: PayV3SignatureVerifier;
  readonly #dedupe: DedupeStore;
  readonly #dedupeTtlMs: number;
  readonly #replyBudgetMs: number;
  readonly #processingLeaseMs: number;
  readonly #now: Clock;
  readonly #scheduler: Scheduler;
  readonly #maxSkewSeconds: number | undefined;
  readonly #hooks: PayNotificationHooks;
  readonly #logger: CallbackLogger | undefined;
  readonly #allowlist: CallbackAllowlist | undefined;
  readonly #audit: AuditLog | undefined;
  readonly #onSecurityEvent: SecurityEventHandler | undefined;
  readonly #tracing: Tracing | undefined;
  readonly #ids: RequestIds;
  readonly #handlers = new Map<string, PayNotificationListener<never>>();
  /** Notifications being processed here: a concurrent duplicate gets the first one's answer. */
  readonly #inflight = new InflightRuns<CallbackResponse>();

  constructor(options: PayNotificationHandlerOptions) {
    if (typeof options !== 'object' || options === null) throw bad('options must be an object');
    for (const key of Object.keys(options)) {
      if (!OPTION_KEYS.has(key))
        throw bad(`unknown option "${key}" (allowed: ${[...OPTION_KEYS].join(', ')})`);
    }
    const {
      apiV3Key,
      verifier,
      dedupe,
      dedupeTtlMs,
      now,
      scheduler,
      maxSkewSeconds,
      replyBudgetMs,
      processingLeaseMs,
      hooks,
    } = options;
    if (
      processingLeaseMs !== undefined &&
      (typeof processingLeaseMs !== 'number' || !Number.isFinite(processingLeaseMs) || processingLeaseMs <= 0)
    ) {
      throw bad('processingLeaseMs must be a number of ms above 0');
    }
    this.#processingLeaseMs = processingLeaseMs ?? 60_000;
    if (
      replyBudgetMs !== undefined &&
      (typeof replyBudgetMs !== 'number' || !Number.isFinite(replyBudgetMs) || replyBudgetMs <= 0)
    ) {
      throw bad('replyBudgetMs must be a number of ms above 0');
    }
    this.#replyBudgetMs = replyBudgetMs ?? DEFAULT_PAY_REPLY_BUDGET_MS;
    const apiV3Keys = apiV3KeyList(apiV3Key);
    const trust = verifierOf(verifier);
    if (trust === undefined) {
      throw bad(
        "verifier must be the PayV3 client's trust (pay.platformTrust, or pay), a PayV3Verifier trusting the WeChat Pay public key and/or platform certificates, or your own { verify(request) }",
      );
    }
    if (
      dedupe !== undefined &&
      (typeof dedupe !== 'object' || dedupe === null || typeof dedupe.claim !== 'function')
    ) {
      throw bad('dedupe must be a DedupeStore ({ claim(key, ttlMs) })');
    }
    if (
      dedupeTtlMs !== undefined &&
      (typeof dedupeTtlMs !== 'number' || !Number.isFinite(dedupeTtlMs) || dedupeTtlMs <= 0)
    ) {
      throw bad('dedupeTtlMs must be a number of ms above 0');
    }
    if (now !== undefined && typeof now !== 'function') throw bad('now must be a function returning ms');
    if (scheduler !== undefined && !isScheduler(scheduler)) {
      throw bad('scheduler must be an object with setTimeout(fn, ms) and clearTimeout(handle)');
    }
    if (
      maxSkewSeconds !== undefined &&
      (typeof maxSkewSeconds !== 'number' || !Number.isFinite(maxSkewSeconds) || maxSkewSeconds <= 0)
    ) {
      throw bad('maxSkewSeconds must be a number of seconds above 0');
    }
    // A notification stamped maxSkewSeconds ahead stays acceptable until 2 × maxSkewSeconds after
    // it arrives: an id forgotten sooner lets a captured notification be replayed and handled twice.
    const acceptanceMs = (2 * (maxSkewSeconds ?? 300) + 60) * 1000;
    if (dedupeTtlMs !== undefined && dedupeTtlMs < acceptanceMs) {
      throw bad(
        `dedupeTtlMs (${dedupeTtlMs}) is shorter than the time a notification stays acceptable (${acceptanceMs} ms = 2 × maxSkewSeconds + 60 s), ` +
          "so a replay could be processed twice; keep the default (25 h, which also covers WeChat Pay's retries) or raise it",
      );
    }
    if (hooks !== undefined) {
      if (typeof hooks !== 'object' || hooks === null) throw bad('hooks must be an object');
      const proto = Object.getPrototypeOf(hooks);
      if (proto === Object.prototype || proto === null) {
        for (const name of Object.keys(hooks)) {
          if (!(HOOKS as readonly string[]).includes(name))
            throw bad(`unknown hook "${name}" (allowed: ${HOOKS.join(', ')})`);
        }
      }
      for (const name of HOOKS) {
        if (hooks[name] !== undefined && typeof hooks[name] !== 'function')
          throw bad(`hooks.${name} must be a function`);
      }
    }
    this.#apiV3Keys = apiV3Keys;
    this.#verifier = trust;
    this.#now = now ?? Date.now;
    this.#scheduler = scheduler ?? systemScheduler;
    this.#dedupe = dedupe ?? new MemoryDedupeStore({ now: this.#now });
    this.#dedupeTtlMs = dedupeTtlMs ?? DEFAULT_PAY_DEDUPE_TTL_MS;
    this.#maxSkewSeconds = maxSkewSeconds;
    this.#hooks = hooks ?? {};
    this.#logger = resolveLogger(options.logger, typeof hooks?.onError === 'function', bad);
    this.#allowlist = resolveAllowlist(options.allowlist, bad);
    this.#audit = resolveAudit(options.audit, bad);
    this.#onSecurityEvent = resolveSecurityHandler(options.onSecurityEvent, bad);
    this.#tracing = resolveTracing(options.tracing, bad);
    this.#ids = new RequestIds(defaultRandom);
  }

  /**
   * Registers the handler of one documented `event_type` ({@link PayEventType}), whose resource
   * is typed; `*` is the fallback for every other type. A misspelt type does not compile (and is
   * refused at run time); a type this SDK does not know goes through {@link onCustom}. One handler
   * per type. The handler's result is ignored: finishing means "processed" (204), throwing means
   * "retry me" (500).
   *
   * @example
   * handler
   *   .on('TRANSACTION.SUCCESS', async ({ resource }) => orders.markPaid(resource.out_trade_no, resource.transaction_id))
   *   .on('REFUND.SUCCESS', async ({ resource }) => refunds.markDone(resource.out_refund_no))
   *   .on('*', async (event) => log.info({ type: event.event_type }, 'other pay notification'));
   */
  on<K extends PayEventType>(type: K, handler: PayNotificationListener<PayNotificationEventMap[K], K>): this;
  on(type: '*', handler: PayNotificationListener<unknown>): this;
  on(type: string, handler: PayNotificationListener<never, never>): this {
    if (type !== '*' && !PAY_EVENT_TYPES.has(type)) {
      throw new ArgumentError(
        `on(${JSON.stringify(String(type))}): not a Pay v3 event type this SDK knows (${[...PAY_EVENT_TYPES].join(', ')}); check the spelling, or register another type with onCustom(type, handler)`,
      );
    }
    addHandler(this.#handlers, type, handler);
    return this;
  }

  /**
   * Registers the handler of an `event_type` this SDK has no type for (another product's
   * notification, a type WeChat Pay adds later); its resource is `unknown` — check it before use.
   * The spelling is explicit on purpose, so a typo in {@link on} cannot silently become a handler
   * that never runs. A documented type must use {@link on}.
   *
   * @example
   * handler.onCustom('MCHTRANSFER.BILL.FINISHED', async ({ resource }) => transfers.settle(resource));
   */
  onCustom<K extends string>(
    type: K extends PayEventType | '*' ? never : K,
    handler: PayNotificationListener<unknown, K>,
  ): this;
  onCustom(type: string, handler: PayNotificationListener<never, never>): this {
    if (PAY_EVENT_TYPES.has(type) || type === '*') {
      throw new ArgumentError(
        type === '*'
          ? "onCustom('*'): use onUnknown(handler) for the fallback"
          : `onCustom(${JSON.stringify(type)}): a documented Pay event type; register it with on(${JSON.stringify(type)}, handler), which types its resource`,
      );
    }
    addHandler(this.#handlers, type, handler);
    return this;
  }

  /**
   * The fallback for event types without a handler of their own (same as `on('*', handler)`).
   *
   * @example
   * handler.onUnknown(async (event) => log.warn({ type: event.event_type }, 'unhandled pay notification'));
   */
  onUnknown(handler: PayNotificationListener<unknown>): this {
    return this.on('*', handler);
  }

  /**
   * Answers one notification request. Never throws: every failure becomes a status and a hook.
   *
   * @example
   * const response = await handler.handle({ method: 'POST', url: '/pay/notify', headers, rawBody });
   */
  async handle(request: CallbackRequest): Promise<CallbackResponse> {
    const method = typeof request?.method === 'string' ? request.method.toUpperCase() : '';
    const reporting = this.#audit !== undefined || this.#onSecurityEvent !== undefined;
    const started = reporting ? elapsedClock(this.#scheduler) : 0;
    const requestId = this.#ids.next(firstHeader(request?.headers, 'traceparent'));
    const facts: NotificationFacts = { startedAt: this.#now() };
    const tracing = this.#tracing;
    const response =
      tracing === undefined
        ? await this.#answer(request, method, facts)
        : await this.#tracedAnswer(tracing, request, method, facts);
    response.headers['x-request-id'] = requestId;
    // Refusals and failures name their request ({ code, message, requestId }): a support ticket
    // quoting it is matched to the logs. WeChat Pay reads code and message.
    if (response.status >= 400) {
      // spread-ok: refusals only (a parsed body is spread rather than Object.assign'd: no __proto__ setter)
      response.body = JSON.stringify({ ...(JSON.parse(response.body) as object), requestId });
    }
    if (reporting) {
      reportRequest(
        { audit: this.#audit, onSecurityEvent: this.#onSecurityEvent },
        {
          source: 'pay-notification',
          kind: 'pay-notification',
          request,
          method,
          requestId,
          status: response.status,
          latencyMs: elapsedClock(this.#scheduler) - started,
          appId: undefined,
          now: this.#now(),
          detail: { status: response.status },
        },
        facts,
      );
    }
    return response;
  }

  /**
   * {@link #answer} in a server span (`WeChat Pay notification`) that continues the caller's trace
   * and is active while the handler runs; status, `event_type` and refusal code are recorded on it.
   */
  #tracedAnswer(
    tracing: Tracing,
    request: CallbackRequest,
    method: string,
    facts: NotificationFacts,
  ): Promise<CallbackResponse> {
    return inServerSpan(
      tracing,
      'WeChat Pay notification',
      request?.headers,
      { 'http.request.method': spanMethod(method), 'url.path': pathOfTarget(request?.url) },
      () => this.#answer(request, method, facts),
      (span, response) => {
        span.setAttributes({ 'wechatpay.event_type': facts.type, 'wechatpay.duplicate': facts.duplicate });
        recordServerStatus(span, response.status, facts.code);
      },
    );
  }

  /**
   * The answer to one request. Not async, and without a promise step of its own when the
   * notification opens synchronously (a {@link PayV3Verifier} and keys given as values): the
   * promise returned is the dispatch's. Never rejects: every failure is answered.
   */
  #answer(request: CallbackRequest, method: string, facts: NotificationFacts): Promise<CallbackResponse> {
    let opened: PayNotificationEvent<unknown> | Promise<PayNotificationEvent<unknown>>;
    try {
      // Before the signature is checked: a sender outside the allowlist costs no RSA verification.
      if (this.#allowlist !== undefined) {
        const decision = this.#allowlist.check({
          remoteAddress: request?.remoteAddress,
          headers: request?.headers ?? {},
        });
        if (decision.ip !== undefined) facts.ip = decision.ip;
        if (!decision.allowed) throw new Refusal('IP_NOT_ALLOWED', 403, decision.reason);
      }
      if (method !== 'POST') {
        throw new Refusal('METHOD_NOT_ALLOWED', 405, `method ${method.slice(0, 16) || '(none)'} is not POST`);
      }
      const body = request.rawBody;
      if (typeof body !== 'string' && !(body instanceof Uint8Array)) {
        throw new Refusal(
          'BAD_BODY',
          400,
          body === undefined || body === null
            ? 'the POST has no body'
            : 'rawBody is a parsed object: pass the raw bytes (Uint8Array) or their text, captured before any body parser — the signature covers the exact bytes',
        );
      }
      const size = byteLength(body);
      if (size === 0) throw new Refusal('BAD_BODY', 400, 'the POST has no body');
      if (size > MAX_PAY_NOTIFICATION_BYTES) {
        throw new Refusal('PAYLOAD_TOO_LARGE', 413, `the body is over ${MAX_PAY_NOTIFICATION_BYTES} bytes`);
      }
      opened = this.#open(request.headers, body);
    } catch (error) {
      return Promise.resolve(this.#failed(error, method, facts));
    }
    if (opened instanceof Promise) {
      return opened.then(
        (event) => this.#dispatch(event, method, facts),
        (error: unknown) => this.#failed(error, method, facts),
      );
    }
    return this.#dispatch(opened, method, facts);
  }

  /** An opened notification to its listener: at most one run per id at a time, within the budget. */
  #dispatch(
    opened: PayNotificationEvent<unknown>,
    method: string,
    facts: NotificationFacts,
  ): Promise<CallbackResponse> {
    try {
      facts.type = opened.event_type;
      const resource = opened.resource as {
        mchid?: unknown;
        sp_mchid?: unknown;
        payer?: { openid?: unknown; sp_openid?: unknown };
      };
      const merchant = resource.mchid ?? resource.sp_mchid;
      if (typeof merchant === 'string') facts.appId = merchant;
      const payer = resource.payer?.openid ?? resource.payer?.sp_openid;
      if (typeof payer === 'string') facts.openid = payer;
      const previous = this.#inflight.get(opened.id);
      if (previous !== undefined) {
        facts.duplicate = true;
        this.#call('onDuplicate', { key: opened.id, type: opened.event_type });
        return this.#withinBudget(previous, opened);
      }
      // #process answers its own failures: it never rejects.
      const running = this.#process(opened, facts);
      this.#inflight.start(opened.id, running);
      return this.#withinBudget(running, opened);
    } catch (error) {
      return Promise.resolve(this.#failed(error, method, facts));
    }
  }

  /** The answer to a refusal (4xx) or a failure (500), reported to its hook. */
  #failed(error: unknown, method: string, facts: NotificationFacts): CallbackResponse {
    if (error instanceof Refusal) {
      facts.code = error.code;
      this.#call('onRefused', {
        code: error.code,
        reason: error.reason,
        status: error.status,
        method: method.slice(0, 16),
      });
      return fail(
        error.status,
        FAIL_MESSAGE[error.status] ?? 'refused',
        error.status === 405 ? { allow: 'POST' } : {},
      );
    }
    const misconfigured = error instanceof Misconfigured;
    facts.code = errorCodeOf(misconfigured ? error.error : error);
    this.#call('onError', {
      error: misconfigured ? error.error : error,
      type: undefined,
      phase: misconfigured && isWeChatKitError(error.error) ? 'config' : 'internal',
    });
    return fail(500, FAIL_MESSAGE[500] ?? '');
  }

  /** The handler's answer, or — past the budget — a 500 so WeChat Pay retries instead of timing out. */
  #withinBudget(
    running: Promise<CallbackResponse>,
    event: PayNotificationEvent<unknown>,
  ): Promise<CallbackResponse> {
    // Not async: the race's own promise is the answer (one promise step fewer per notification).
    return raceTimer(
      running,
      this.#replyBudgetMs,
      () => {
        this.#call('onSlow', { id: event.id, event_type: event.event_type, budgetMs: this.#replyBudgetMs });
        return fail(500, 'still processing, retry later');
      },
      { scheduler: this.#scheduler },
    );
  }

  /**
   * Verify → parse → algorithm → AEAD open (the crypto core's order), then the checks we need.
   * Synchronous when the verifier is (a {@link PayV3Verifier}) and the keys are values: the event
   * itself, no promise step. A promise otherwise: verification may wait for a platform trust's
   * certificate refresh (an unknown serial), keys may come from providers.
   */
  #open(
    headers: CallbackRequest['headers'],
    body: string | Uint8Array,
  ): PayNotificationEvent<unknown> | Promise<PayNotificationEvent<unknown>> {
    const request: PayV3VerifyRequest = { headers, body, now: this.#now };
    if (this.#maxSkewSeconds !== undefined) request.maxSkewSeconds = this.#maxSkewSeconds;
    let read: ReturnType<typeof readVerifiedNotificationWithKeys<unknown>>;
    try {
      const verifying = this.#verifier.verify(request);
      // Keys are read after verification: a forged notification never reaches a provider.
      const keys = this.#apiV3Keys.plain;
      if (verifying !== undefined || keys === undefined) return this.#openLater(verifying, body);
      // Values given as such: a key that fails here has no provider to read again.
      read = readVerifiedNotificationWithKeys<unknown>(body, keys);
    } catch (error) {
      throw this.#openFailure(error);
    }
    return this.#checked(read);
  }

  /** {@link #open} waiting for the verifier or for key providers. */
  async #openLater(
    verifying: void | Promise<void>,
    body: string | Uint8Array,
  ): Promise<PayNotificationEvent<unknown>> {
    let read: ReturnType<typeof readVerifiedNotificationWithKeys<unknown>>;
    try {
      if (verifying !== undefined) await verifying;
      const keys = this.#apiV3Keys.plain ?? (await this.#apiV3Keys.values());
      try {
        read = readVerifiedNotificationWithKeys<unknown>(body, keys);
      } catch (error) {
        // WeChat Pay sent it (it verified) and no listed key opens it: a provider may hold a key
        // changed since it was read. Read providers again once.
        if (!isWeChatKitError(error, 'DECRYPT_FAILED')) throw error;
        const fresh = await this.#apiV3Keys.changed(keys);
        if (fresh === undefined) throw error;
        read = readVerifiedNotificationWithKeys<unknown>(body, fresh);
      }
    } catch (error) {
      throw this.#openFailure(error);
    }
    return this.#checked(read);
  }

  /** What a failure to open becomes: a refusal (4xx) or a misconfiguration (500, a `BAD_KEY` named). */
  #openFailure(error: unknown): Refusal | Misconfigured {
    const classified = classify(error);
    if (classified instanceof Misconfigured && isWeChatKitError(error) && error.code === 'DECRYPT_FAILED') {
      const which =
        this.#apiV3Keys.size === 1
          ? 'the apiV3Key configured here is not'
          : `none of the ${this.#apiV3Keys.size} apiV3Keys configured here is`;
      return new Misconfigured(
        new ConfigError(
          'BAD_KEY',
          `A WeChat Pay notification verified but its resource does not decrypt: ${which} ` +
            "this merchant's APIv3 key (账户中心 → API安全 → APIv3密钥; not the APIv2 key). Answered 500, so WeChat Pay retries it after the key is fixed.",
          { cause: error },
        ),
      );
    }
    return classified;
  }

  /** The opened notification as the listeners get it, once it has what de-duplication needs. */
  #checked(
    read: ReturnType<typeof readVerifiedNotificationWithKeys<unknown>>,
  ): PayNotificationEvent<unknown> {
    const opened = read.notification;
    if (read.key > 0) this.#call('onSecretFallback', { option: 'apiV3Key', index: read.key, method: 'POST' });
    if (opened.id === '')
      throw new Refusal('BAD_BODY', 400, 'the notification has no "id", so it cannot be de-duplicated');
    if (opened.event_type === '') throw new Refusal('BAD_BODY', 400, 'the notification has no "event_type"');
    const { resource } = opened;
    if (typeof resource !== 'object' || resource === null) {
      throw new Refusal('BAD_BODY', 400, 'the decrypted notification resource is not a JSON object');
    }
    return {
      id: opened.id,
      event_type: opened.event_type,
      create_time: opened.create_time,
      summary: opened.summary,
      resource_type: opened.resource_type,
      resource,
      notification: opened.notification,
    };
  }

  async #process(event: PayNotificationEvent<unknown>, facts: NotificationFacts): Promise<CallbackResponse> {
    const type = event.event_type;
    const handler = this.#handlers.get(type) ?? this.#handlers.get('*');
    if (handler === undefined) {
      this.#call('onUnhandled', { id: event.id, event_type: type });
      return { status: 204, headers: {}, body: '' };
    }
    const key = `wechatpay:notification:${event.id}`;
    const store = this.#dedupe;
    // With complete/isComplete the claim is a short processing lease, made long-lived once the
    // handler finished: a retry reaching another instance mid-processing is told to come back
    // (500) instead of being acknowledged, and a crash mid-handler frees the id when the lease ends.
    const twoPhase = typeof store.complete === 'function' && typeof store.isComplete === 'function';
    const claimMs = twoPhase ? this.#processingLeaseMs : this.#dedupeTtlMs;
    let first = true;
    let done: boolean | undefined = true;
    // The claim was made (not processed on a store outage): only then is there a lease to renew.
    let held = false;
    try {
      first = (await store.claim(key, claimMs)) !== false;
      held = first;
      // Lost the claim: done, or still held by a run elsewhere. `undefined` means the key went away
      // between the two commands (that run's lease ended: it died, or failed and released), so
      // the id is free: claim it again rather than acknowledge a payment nobody processed.
      for (let tries = 0; !first && twoPhase && tries < 2; tries += 1) {
        done = await store.isComplete?.(key);
        if (done !== undefined) break;
        done = false;
        first = (await store.claim(key, claimMs)) !== false;
        held = first;
      }
    } catch (error) {
      // At-least-once: a store outage must not drop a payment, so process it (claim failed) or
      // answer "retry later" (lookup failed), and report it.
      this.#call('onError', { error, type, phase: 'dedupe' });
      done = false;
    }
    if (!first) {
      facts.duplicate = true;
      if (done !== true) {
        // Being processed by another instance right now: acknowledging could lose it if that fails.
        this.#call('onDuplicate', { key: event.id, type });
        return fail(500, 'still processing, retry later');
      }
      this.#call('onDuplicate', { key: event.id, type });
      return { status: 204, headers: {}, body: '' };
    }
    try {
      // A listener that returns no promise is not awaited: one promise step fewer.
      const returned = (handler as PayNotificationListener<unknown>)(event);
      if (isThenable(returned)) {
        // Still running: its processing lease is renewed until it settles (see renewLease).
        const stop =
          twoPhase && held
            ? renewLease({
                store,
                key,
                leaseMs: this.#processingLeaseMs,
                scheduler: this.#scheduler,
                what: `notification ${event.id.slice(0, 64)}`,
                onError: (error) => this.#call('onError', { error, type, phase: 'dedupe' }),
              })
            : undefined;
        try {
          await returned;
        } finally {
          stop?.();
        }
      }
    } catch (error) {
      // Forget the id, so WeChat Pay's retry of this notification is processed.
      try {
        await store.release?.(key);
      } catch (releaseError) {
        this.#call('onError', { error: releaseError, type, phase: 'dedupe' });
      }
      facts.code = errorCodeOf(error);
      this.#call('onError', { error, type, phase: 'handler' });
      return fail(500, FAIL_MESSAGE[500] ?? '');
    }
    if (twoPhase) {
      try {
        await store.complete?.(key, this.#dedupeTtlMs);
      } catch (error) {
        // Processed: still acknowledge. Until the lease ends, a retry elsewhere is told to wait.
        this.#call('onError', { error, type, phase: 'dedupe' });
      }
    }
    return { status: 204, headers: {}, body: '' };
  }

  /**
   * Told by an adapter of a body parser mounted before this route: reported to `hooks.onError`
   * (phase `config`, error code `BODY_ALREADY_PARSED`) and to the logger.
   */
  reportAdapterProblem(problem: AdapterProblem): void {
    this.#call('onError', {
      error: bodyAlreadyParsed(String(problem?.message)),
      type: undefined,
      phase: 'config',
    });
  }

  #call<K extends keyof PayNotificationHooks>(
    name: K,
    event: Parameters<NonNullable<PayNotificationHooks[K]>>[0],
  ): void {
    if (name === 'onError') logCallbackError(this.#logger, 'pay notification', event as CallbackErrorEvent);
    const hook = this.#hooks[name] as ((this: PayNotificationHooks, e: typeof event) => unknown) | undefined;
    if (hook === undefined) return;
    try {
      const result = hook.call(this.#hooks, event);
      if (result instanceof Promise) result.catch(() => {});
    } catch {
      // A hook's failure never changes the answer.
    }
  }
}

/**
 * Creates a WeChat Pay v3 notification endpoint (the `notify_url` of orders and refunds).
 * Idempotent by notification `id`: a retry, or the same notification delivered to two instances
 * sharing a `RedisDedupeStore` (`weixin-kit/redis`), reaches the handler once — unless the process
 * dies between the handler's end and the store recording the id as done: WeChat Pay's retry then
 * runs the handler again, so keep its effect idempotent (mark the order paid only if it is not yet),
 * as WeChat Pay asks of merchants. A wrong APIv3 key is our
 * misconfiguration: such notifications are answered 500 (WeChat Pay retries for ~24 h) and
 * `onError` is called with phase `config`.
 *
 * @example
 * const pay = new PayV3({ mchid, merchantSerialNo, privateKey, apiV3Key, platform: { certificates: [platformCertPem] } });
 * // The client's own trust: a platform-certificate rotation is followed by client and handler alike.
 * const notifications = createPayNotificationHandler({ apiV3Key, verifier: pay.platformTrust, dedupe: new RedisDedupeStore(redis) })
 *   .on('TRANSACTION.SUCCESS', async ({ resource }) => {
 *     await orders.markPaid(resource.out_trade_no, resource.transaction_id, resource.amount.total);
 *   })
 *   .on('REFUND.SUCCESS', async ({ resource }) => refunds.markDone(resource.out_refund_no));
 * createServer(toNodeListener(notifications)).listen(3000);
 */
export function createPayNotificationHandler(options: PayNotificationHandlerOptions): PayNotificationHandler {
  return new PayNotificationHandler(options);
}
