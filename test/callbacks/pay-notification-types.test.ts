import { generateKeyPairSync, randomUUID, sign } from 'node:crypto';
import { describe, expect, expectTypeOf, it } from 'vitest';
import {
  type CallbackRequest,
  createPayNotificationHandler,
  type PayEventType,
  type PayNotificationEvent,
  type PayRefundResource,
  type PayTransactionResource,
} from '../../src/callbacks/index.js';
import { encryptResource, PayV3Verifier } from '../../src/crypto/index.js';
import { ConfigError } from '../../src/errors.js';

/**
 * Pay v3 event types are a typed union: a misspelt type does not compile (the `@ts-expect-error`
 * lines are checked by `tsc --noEmit`, which covers test/), each known type hands its handler the
 * resource it carries, and a type the SDK does not know is registered only through `onCustom`.
 */

const platform = generateKeyPairSync('rsa', { modulusLength: 2048 });
const PUB_KEY_ID = 'PUB_KEY_ID_0114232134912410000000000000';
const API_V3_KEY = 'a7cde1ef52c8e9f7b3a04cd2e6f1b8d9';
const NOW = 1_714_036_504;
const verifier = new PayV3Verifier({ publicKey: { id: PUB_KEY_ID, key: platform.publicKey } });
const make = () => createPayNotificationHandler({ apiV3Key: API_V3_KEY, verifier, now: () => NOW * 1000 });

function notification(eventType: string, resource: object): CallbackRequest {
  const body = JSON.stringify({
    id: randomUUID(),
    create_time: '2024-04-25T17:15:04+08:00',
    resource_type: 'encrypt-resource',
    event_type: eventType,
    summary: 'x',
    resource: {
      original_type: 'mch_payment',
      ...encryptResource({ apiV3Key: API_V3_KEY, plaintext: JSON.stringify(resource), associatedData: '' }),
    },
  });
  const nonce = 'n0nce';
  const signature = sign('sha256', Buffer.from(`${NOW}\n${nonce}\n${body}\n`), platform.privateKey);
  return {
    method: 'POST',
    url: '/pay/notify',
    headers: {
      'wechatpay-timestamp': String(NOW),
      'wechatpay-nonce': nonce,
      'wechatpay-signature': signature.toString('base64'),
      'wechatpay-serial': PUB_KEY_ID,
    },
    rawBody: body,
  };
}

describe('Pay notification event types', () => {
  it('does not compile a misspelt event type, and refuses it at run time too', () => {
    const handler = make();
    // Regression: 'TRANSACTION.SUCESS' compiled and registered a handler that never ran.
    // @ts-expect-error — a typo of TRANSACTION.SUCCESS is not a Pay event type
    expect(() => handler.on('TRANSACTION.SUCESS', () => {})).toThrow(ConfigError);
    // @ts-expect-error — event types are case-sensitive, as WeChat Pay sends them
    expect(() => handler.on('transaction.success', () => {})).toThrow(/onCustom/);
    expectTypeOf<PayEventType>().toEqualTypeOf<
      'TRANSACTION.SUCCESS' | 'REFUND.SUCCESS' | 'REFUND.ABNORMAL' | 'REFUND.CLOSED'
    >();
  });

  it('types each known event with its decrypted resource', () => {
    make()
      .on('TRANSACTION.SUCCESS', (event) => {
        expectTypeOf(event).toEqualTypeOf<
          PayNotificationEvent<PayTransactionResource, 'TRANSACTION.SUCCESS'>
        >();
        expectTypeOf(event.resource.amount.total).toEqualTypeOf<number>();
        expectTypeOf(event.resource.payer.openid).toEqualTypeOf<string>();
      })
      .on('REFUND.SUCCESS', ({ resource }) => {
        expectTypeOf(resource).toEqualTypeOf<PayRefundResource>();
        expectTypeOf(resource.out_refund_no).toEqualTypeOf<string>();
      })
      .on('REFUND.ABNORMAL', ({ resource, event_type }) => {
        expectTypeOf(resource).toEqualTypeOf<PayRefundResource>();
        expectTypeOf(event_type).toEqualTypeOf<'REFUND.ABNORMAL'>();
      })
      .on('REFUND.CLOSED', ({ resource }) => {
        expectTypeOf(resource).toEqualTypeOf<PayRefundResource>();
        // @ts-expect-error — a refund names no trade_state: it is an unknown extra field, not a string
        expectTypeOf(resource.trade_state).toEqualTypeOf<string>();
      })
      .on('*', (event) => {
        expectTypeOf(event.resource).toEqualTypeOf<unknown>();
      });
  });

  it('registers a type the SDK does not know only through onCustom, with an unknown resource', async () => {
    const handler = make();
    const seen: unknown[] = [];
    handler.onCustom('MCHTRANSFER.BILL.FINISHED', (event) => {
      expectTypeOf(event.resource).toEqualTypeOf<unknown>();
      expectTypeOf(event.event_type).toEqualTypeOf<'MCHTRANSFER.BILL.FINISHED'>();
      seen.push(event.resource);
    });
    // @ts-expect-error — a known type must use on(), which types its resource
    expect(() => handler.onCustom('TRANSACTION.SUCCESS', () => {})).toThrow(/on\("TRANSACTION.SUCCESS"/);
    // @ts-expect-error — the fallback is onUnknown / on('*')
    expect(() => handler.onCustom('*', () => {})).toThrow(/onUnknown/);
    const res = await handler.handle(
      notification('MCHTRANSFER.BILL.FINISHED', { out_bill_no: 'plfk2020042013', state: 'SUCCESS' }),
    );
    expect(res.status).toBe(204);
    expect(seen).toEqual([{ out_bill_no: 'plfk2020042013', state: 'SUCCESS' }]);
  });
});
