import { ArgumentError, CryptoError, PayloadError } from '../errors.js';
import type { Clock } from '../internal/bytes.js';
import { decryptResource } from './pay-v3-aead.js';
import {
  type CertificateInput,
  type HeadersInput,
  type PayV3Verifier,
  type PublicKeyInput,
  verifyPayV3Headers,
} from './pay-v3-verify.js';

/**
 * Opening a WeChat Pay v3 notification in the official order (as wechatpay-go's notify handler):
 * verify the signature over the raw body, parse the envelope, check the algorithm, decrypt the
 * resource, parse it. Each step has its own error.
 */

/** The encrypted `resource` of a notification, with WeChat's wire names. */
export interface PayV3NotificationResource {
  original_type?: string;
  algorithm: string;
  ciphertext: string;
  associated_data?: string;
  nonce: string;
}

/** The notification envelope as WeChat Pay posts it. */
export interface PayV3NotificationEnvelope {
  id: string;
  create_time: string;
  event_type: string;
  resource_type: string;
  summary: string;
  resource: PayV3NotificationResource;
  [field: string]: unknown;
}

/** A verified and decrypted notification. */
export interface PayV3Notification<T = unknown> {
  id: string;
  event_type: string;
  resource_type: string;
  summary: string;
  create_time: string;
  /** The parsed envelope, as received. */
  notification: PayV3NotificationEnvelope;
  /** The decrypted resource text. */
  plaintext: string;
  /** `JSON.parse(plaintext)` when it is JSON, else `undefined`. */
  resource: T | undefined;
}

/** Options of {@link openNotification}. Give `verifier`, or `publicKey` and/or `certificate`. */
export interface OpenNotificationOptions {
  /** The notification request's headers. */
  headers: HeadersInput;
  /** The raw POST body exactly as received — never a parsed and re-serialised one. */
  body: string | Uint8Array;
  /** The 32-character APIv3 key. */
  apiV3Key: string;
  /** Trusted WeChat Pay keys, chosen by `Wechatpay-Serial` (recommended). */
  verifier?: PayV3Verifier;
  /** The WeChat Pay public key, when not using a verifier. */
  publicKey?: PublicKeyInput;
  /** The platform certificate, when not using a verifier. */
  certificate?: CertificateInput;
  now?: Clock;
  maxSkewSeconds?: number;
}

function badBody(message: string, cause?: unknown): PayloadError {
  return new PayloadError('BAD_BODY', message, cause === undefined ? undefined : { cause });
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function textField(envelope: Record<string, unknown>, name: string): string {
  const value = envelope[name];
  return typeof value === 'string' ? value : '';
}

function parseEnvelope(text: string): PayV3NotificationEnvelope {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (cause) {
    throw badBody('The notification body is not JSON, though its signature is valid.', cause);
  }
  if (!isRecord(parsed)) throw badBody('The notification body is not a JSON object.');
  const resource = parsed.resource;
  if (!isRecord(resource)) throw badBody('The notification has no "resource" object to decrypt.');
  for (const field of ['ciphertext', 'nonce'] as const) {
    if (typeof resource[field] !== 'string')
      throw badBody(`The notification resource has no string "${field}".`);
  }
  if (resource.associated_data !== undefined && resource.associated_data !== null) {
    if (typeof resource.associated_data !== 'string') {
      throw badBody('The notification resource "associated_data" is not a string.');
    }
  }
  return parsed as PayV3NotificationEnvelope;
}

/**
 * Verifies, parses and decrypts a WeChat Pay v3 notification (支付/退款/… 回调通知). The signature
 * is checked first, over the raw body; only then is anything parsed or decrypted. Throws
 * `SignatureError` (SIGNATURE_MISMATCH / TIMESTAMP_EXPIRED), `PayloadError('BAD_BODY')`,
 * `CryptoError` (UNSUPPORTED_ALGORITHM / BAD_CIPHERTEXT / DECRYPT_FAILED) or
 * `ConfigError('BAD_KEY')`. Answer 200/204 only after you have processed it.
 *
 * @example
 * const n = openNotification<Transaction>({ headers: req.headers, body: rawBody, apiV3Key, verifier });
 * if (n.event_type === 'TRANSACTION.SUCCESS') await markPaid(n.resource!.out_trade_no);
 */
export function openNotification<T = unknown>(options: OpenNotificationOptions): PayV3Notification<T> {
  const { headers, body, now, maxSkewSeconds } = options;
  // Built up, not from two spreads (a spread followed by another costs ~1 µs on Node 20).
  const window: { now?: Clock; maxSkewSeconds?: number } = {};
  if (now !== undefined) window.now = now;
  if (maxSkewSeconds !== undefined) window.maxSkewSeconds = maxSkewSeconds;
  if (options.verifier !== undefined) {
    options.verifier.verify({ headers, body, ...window });
  } else if (options.publicKey !== undefined || options.certificate !== undefined) {
    verifyPayV3Headers({
      headers,
      body,
      ...(options.publicKey === undefined ? {} : { publicKey: options.publicKey }),
      ...(options.certificate === undefined ? {} : { certificate: options.certificate }),
      ...window,
    });
  } else {
    throw new ArgumentError(
      'openNotification needs the key WeChat Pay signs with: verifier (PayV3Verifier), publicKey or certificate. Notifications are never opened unverified.',
    );
  }
  return readVerifiedNotification<T>(body, options.apiV3Key);
}

/**
 * The steps after verification: parse the envelope, check the algorithm, AEAD-open, parse the
 * resource. Internal (not re-exported): only for a caller that has just verified `body` itself —
 * the Pay notification handler, whose verifier may be asynchronous (a platform trust that
 * refreshes its certificates).
 */
export function readVerifiedNotification<T = unknown>(
  body: string | Uint8Array,
  apiV3Key: string,
): PayV3Notification<T> {
  return readVerifiedNotificationWithKeys<T>(body, [apiV3Key]).notification;
}

/**
 * {@link readVerifiedNotification} with several APIv3 keys, current first (while the key is being
 * changed): the resource is opened with the first key whose GCM tag verifies — the tag check is
 * definitive, a wrong key never passes it — and `key` is that key's index. When none opens it,
 * the first key's `DECRYPT_FAILED` is thrown, as with one key; any other failure (algorithm,
 * ciphertext not base64) does not depend on the key and is thrown at once. Internal.
 */
export function readVerifiedNotificationWithKeys<T = unknown>(
  body: string | Uint8Array,
  apiV3Keys: readonly string[],
): { notification: PayV3Notification<T>; key: number } {
  const text =
    typeof body === 'string'
      ? body
      : Buffer.from(body.buffer, body.byteOffset, body.byteLength).toString('utf8');
  const notification = parseEnvelope(text);
  const { resource } = notification;
  // A missing algorithm is refused, not defaulted: the notification must say what it is.
  const algorithm = typeof resource.algorithm === 'string' ? resource.algorithm : '(missing)';
  let plaintext: string | undefined;
  let key = 0;
  let refusal: unknown;
  for (; key < apiV3Keys.length; key++) {
    try {
      // A literal, not `{ ...input, apiV3Key }`: Node 20's V8 takes ~1 µs for a spread followed by
      // another property (30 ns on Node 22).
      plaintext = decryptResource({
        algorithm,
        ciphertext: resource.ciphertext,
        nonce: resource.nonce,
        associatedData: resource.associated_data ?? '',
        apiV3Key: apiV3Keys[key] as string,
      });
      break;
    } catch (error) {
      if (!(error instanceof CryptoError) || error.code !== 'DECRYPT_FAILED') throw error;
      refusal ??= error;
    }
  }
  if (plaintext === undefined)
    throw refusal ?? new ArgumentError('no APIv3 key to open the notification with');
  let parsed: T | undefined;
  try {
    parsed = JSON.parse(plaintext) as T;
  } catch {
    parsed = undefined;
  }
  const envelope = notification as unknown as Record<string, unknown>;
  return {
    notification: {
      id: textField(envelope, 'id'),
      event_type: textField(envelope, 'event_type'),
      resource_type: textField(envelope, 'resource_type'),
      summary: textField(envelope, 'summary'),
      create_time: textField(envelope, 'create_time'),
      notification,
      plaintext,
      resource: parsed,
    },
    key,
  };
}
