/**
 * A WeChat Pay v3 notification request as WeChat Pay sends it (encrypted resource, signed with the
 * platform's private key over `timestamp\nnonce\nbody\n`), for tests of notification handlers.
 */
import { type KeyObject, randomUUID, sign } from 'node:crypto';
import type { CallbackRequest } from '../../src/callbacks/types.js';
import { encryptResource } from '../../src/crypto/index.js';

export interface SignedNotificationSpec {
  apiV3Key: string;
  /** The decrypted resource (a transaction by default shape of the test). */
  resource: unknown;
  /** Signs the notification (the "WeChat Pay" platform key of the test). */
  privateKey: KeyObject;
  /** `Wechatpay-Serial`: the public key id (or certificate serial) the verifier trusts. */
  serial: string;
  /** Seconds since the epoch. */
  timestamp: number;
  eventType?: string;
  url?: string;
  /** Extra request headers (a traceparent, say). */
  headers?: Record<string, string>;
  remoteAddress?: string;
}

export function signedNotification(spec: SignedNotificationSpec): CallbackRequest {
  const body = JSON.stringify({
    id: randomUUID(),
    create_time: '2024-04-25T17:15:04+08:00',
    resource_type: 'encrypt-resource',
    event_type: spec.eventType ?? 'TRANSACTION.SUCCESS',
    summary: '支付成功',
    resource: {
      original_type: 'transaction',
      ...encryptResource({
        apiV3Key: spec.apiV3Key,
        plaintext: JSON.stringify(spec.resource),
        associatedData: 'transaction',
      }),
    },
  });
  const timestamp = String(spec.timestamp);
  const nonce = 'fdasflkja484w2kjL2ExampleN';
  const signature = sign('sha256', Buffer.from(`${timestamp}\n${nonce}\n${body}\n`), spec.privateKey);
  return {
    method: 'POST',
    url: spec.url ?? '/pay/notify',
    headers: {
      'content-type': 'application/json',
      'wechatpay-timestamp': timestamp,
      'wechatpay-nonce': nonce,
      'wechatpay-signature': signature.toString('base64'),
      'wechatpay-serial': spec.serial,
      'wechatpay-signature-type': 'WECHATPAY2-SHA256-RSA2048',
      ...spec.headers,
    },
    rawBody: Buffer.from(body),
    ...(spec.remoteAddress === undefined ? {} : { remoteAddress: spec.remoteAddress }),
  };
}
