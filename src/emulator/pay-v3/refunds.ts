import type { Router } from '../router.js';
import type { EmulatorState } from '../state.js';
import { chinaTime, notifyV3 } from './notifications.js';
import {
  currency,
  digits,
  type Json,
  NOTIFY_URL,
  obj,
  ParamError,
  paramError,
  parseBody,
  positiveInt,
  str,
} from './params.js';
import type { Order, PayV3Records, Refund } from './records.js';
import { type Merchant, v3Error, v3Response, v3Route } from './signing.js';

/**
 * How long a refund stays PROCESSING: 60 s of emulated time, divided by `retryTimeScale` like
 * every delay of the emulator (60 ms at the default scale).
 */
export const REFUND_SETTLE_MS = 60_000;

/** What a refund request gives (the rest is filled in by {@link registerRefunds}' refundOrder). */
export type RefundInput = Omit<
  Refund,
  'refund_id' | 'status' | 'create_time' | 'transaction_id' | 'out_trade_no'
>;

/**
 * Pay v3 domestic refunds: `POST /v3/refund/domestic/refunds` (PROCESSING, then SUCCESS once the
 * settlement delay has passed on the emulated clock, with REFUND.SUCCESS sent to `notify_url`)
 * and `GET /v3/refund/domestic/refunds/:outRefundNo`.
 */
export function registerRefunds(
  router: Router,
  state: EmulatorState,
  records: PayV3Records,
): (merchant: Merchant, order: Order, input: RefundInput) => Refund {
  function refundJson(r: Refund): Json {
    return {
      refund_id: r.refund_id,
      out_refund_no: r.out_refund_no,
      transaction_id: r.transaction_id,
      out_trade_no: r.out_trade_no,
      channel: 'ORIGINAL',
      user_received_account: '支付用户零钱',
      ...(r.success_time ? { success_time: r.success_time } : {}),
      create_time: r.create_time,
      status: r.status,
      funds_account: 'AVAILABLE',
      amount: {
        total: r.total,
        refund: r.refund,
        from: [],
        payer_total: r.total,
        payer_refund: r.refund,
        settlement_refund: r.refund,
        settlement_total: r.total,
        discount_refund: 0,
        currency: r.currency,
        refund_fee: 0,
      },
      promotion_detail: [],
    };
  }

  /** PROCESSING → SUCCESS once the settlement delay has passed on the emulated clock, then REFUND.SUCCESS. */
  function settleRefund(merchant: Merchant, r: Refund): void {
    const delay = REFUND_SETTLE_MS / state.config.options.retryTimeScale;
    state.later(
      delay,
      async () => {
        r.status = 'SUCCESS';
        r.success_time = chinaTime(state.now());
        if (r.notify_url === undefined) return;
        await notifyV3(state, {
          merchant,
          url: r.notify_url,
          event_type: 'REFUND.SUCCESS',
          summary: '退款成功',
          originalType: 'refund',
          resource: {
            mchid: r.mchid,
            out_trade_no: r.out_trade_no,
            transaction_id: r.transaction_id,
            out_refund_no: r.out_refund_no,
            refund_id: r.refund_id,
            refund_status: 'SUCCESS',
            success_time: r.success_time,
            user_received_account: '支付用户零钱',
            amount: { total: r.total, refund: r.refund, payer_total: r.total, payer_refund: r.refund },
          },
        });
      },
      `refund settlement ${r.mchid}/${r.out_refund_no}`,
    );
  }

  /** Records a refund of a paid order (checked by the caller), PROCESSING until it settles. */
  function refundOrder(merchant: Merchant, order: Order, input: RefundInput): Refund {
    const refund: Refund = {
      ...input,
      refund_id: `50${digits(27)}`,
      out_trade_no: order.out_trade_no,
      transaction_id: order.transaction_id as string,
      status: 'PROCESSING',
      create_time: chinaTime(state.now()),
    };
    order.refunded += refund.refund;
    order.trade_state = 'REFUND';
    records.refunds.set(records.key(merchant.mchid, refund.out_refund_no), refund);
    settleRefund(merchant, refund);
    return refund;
  }

  router.add(
    'POST',
    '/v3/refund/domestic/refunds',
    v3Route((ctx) => {
      const body = parseBody(state, ctx);
      if (body instanceof Response) return body;
      const { merchant } = ctx;
      let input: RefundInput;
      let transactionId: string | undefined;
      let outTradeNo: string | undefined;
      try {
        transactionId = str(body, '', 'transaction_id', { optional: true, max: 32 });
        outTradeNo = str(body, '', 'out_trade_no', { optional: true, max: 32 });
        if (transactionId === undefined && outTradeNo === undefined)
          throw new ParamError('/transaction_id', 'transaction_id 和 out_trade_no 必须二选一');
        const amount = obj(body, '', 'amount') as Json;
        const reason = str(body, '', 'reason', { optional: true, max: 80 });
        const notifyUrl = str(body, '', 'notify_url', { optional: true, max: 256, re: NOTIFY_URL });
        input = {
          mchid: merchant.mchid,
          out_refund_no: str(body, '', 'out_refund_no', { re: /^[0-9A-Za-z_\-|*@]{1,64}$/ }) as string,
          ...(reason === undefined ? {} : { reason }),
          ...(notifyUrl === undefined ? {} : { notify_url: notifyUrl }),
          refund: positiveInt(amount, '/amount', 'refund'),
          total: positiveInt(amount, '/amount', 'total'),
          currency: currency(amount, '/amount'),
          fingerprint: '',
        };
      } catch (e) {
        if (e instanceof ParamError) return paramError(state, merchant, e);
        throw e;
      }
      const order =
        outTradeNo !== undefined
          ? records.orders.get(records.key(merchant.mchid, outTradeNo))
          : [...records.orders.values()].find(
              (o) => o.mchid === merchant.mchid && o.transaction_id === transactionId,
            );
      if (!order || (transactionId !== undefined && order.transaction_id !== transactionId))
        return v3Error(state, merchant, 404, 'RESOURCE_NOT_EXISTS', '订单不存在');
      input.fingerprint = JSON.stringify([
        order.out_trade_no,
        input.refund,
        input.total,
        input.notify_url ?? '',
      ]);
      const existing = records.refunds.get(records.key(merchant.mchid, input.out_refund_no));
      if (existing) {
        if (existing.fingerprint !== input.fingerprint)
          return v3Error(
            state,
            merchant,
            400,
            'INVALID_REQUEST',
            '订单金额或退款金额与之前请求不一致，请核实后再试',
          );
        return v3Response(state, merchant, 200, refundJson(existing));
      }
      if (order.trade_state !== 'SUCCESS' && order.trade_state !== 'REFUND')
        return v3Error(
          state,
          merchant,
          400,
          'INVALID_REQUEST',
          `订单状态为${order.trade_state}，不能发起退款`,
        );
      if (input.total !== order.total)
        return v3Error(
          state,
          merchant,
          400,
          'INVALID_REQUEST',
          '订单金额或退款金额与之前请求不一致，请核实后再试',
          {
            field: '/amount/total',
            location: 'body',
            value: input.total,
          },
        );
      if (input.refund > order.total - order.refunded)
        return v3Error(state, merchant, 400, 'INVALID_REQUEST', '申请退款金额超过订单可退金额', {
          field: '/amount/refund',
          location: 'body',
          value: input.refund,
          refundable: order.total - order.refunded,
        });
      return v3Response(state, merchant, 200, refundJson(refundOrder(merchant, order, input)));
    }),
  );

  router.add(
    'GET',
    '/v3/refund/domestic/refunds/:outRefundNo',
    v3Route((ctx) => {
      const refund = records.refunds.get(records.key(ctx.merchant.mchid, ctx.params.outRefundNo as string));
      return refund
        ? v3Response(state, ctx.merchant, 200, refundJson(refund))
        : v3Error(state, ctx.merchant, 404, 'RESOURCE_NOT_EXISTS', '退款单不存在');
    }),
  );
  return refundOrder;
}
