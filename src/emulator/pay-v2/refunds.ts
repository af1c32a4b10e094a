import { chinaTime } from '../pay-v3/notifications.js';
import { digits } from '../pay-v3/params.js';
import type { Router } from '../router.js';
import type { EmulatorState } from '../state.js';
import type { PayV2Records, V2Order, V2Refund } from './records.js';
import { type Fields, v2Route } from './signed-xml.js';

/**
 * How long a v2 refund stays PROCESSING: 60 s of emulated time, divided by `retryTimeScale`
 * (60 ms at the default scale).
 */
export const V2_REFUND_SETTLE_MS = 60_000;

/** Pay v2 refunds: `/secapi/pay/refund` (PROCESSING, then SUCCESS on the emulated clock) and `/pay/refundquery`. */
export function registerV2Refunds(router: Router, state: EmulatorState, records: PayV2Records): void {
  router.add(
    'POST',
    '/secapi/pay/refund',
    v2Route(state, ['out_refund_no', 'total_fee', 'refund_fee'], ({ merchant, req, fail, ok }) => {
      if (!req.out_trade_no && !req.transaction_id)
        return fail('LACK_PARAMS', 'transaction_id 和 out_trade_no 至少填一个');
      const order = records.findOrder(merchant.mchid, req);
      if (!order) return fail('ORDERNOTEXIST', '订单不存在');
      const total = Number(req.total_fee);
      const amount = Number(req.refund_fee);
      if (!Number.isSafeInteger(amount) || amount <= 0)
        return fail('PARAM_ERROR', 'refund_fee 必须是正整数（分）');
      const list = records.refunds.get(records.key(merchant.mchid, order.out_trade_no)) ?? [];
      const prior = list.find((r) => r.out_refund_no === req.out_refund_no);
      const fields = (r: V2Refund): Fields => ({
        transaction_id: order.transaction_id ?? '',
        out_trade_no: order.out_trade_no,
        out_refund_no: r.out_refund_no,
        refund_id: r.refund_id,
        refund_fee: String(r.refund_fee),
        total_fee: String(order.total_fee),
        cash_fee: String(order.total_fee),
        cash_refund_fee: String(r.refund_fee),
      });
      if (prior) {
        if (prior.refund_fee !== amount || total !== order.total_fee)
          return fail('INVALID_REQUEST', '订单金额或退款金额与之前请求不一致，请核实后再试');
        return ok(fields(prior));
      }
      if (order.trade_state !== 'SUCCESS' && order.trade_state !== 'REFUND')
        return fail('TRADE_STATE_ERROR', '订单状态错误');
      if (total !== order.total_fee)
        return fail('INVALID_REQUEST', '订单金额或退款金额与之前请求不一致，请核实后再试');
      if (amount > order.total_fee - order.refunded)
        return fail('INVALID_REQUEST', '申请退款金额超过订单可退金额');
      const refund: V2Refund = {
        out_refund_no: req.out_refund_no as string,
        refund_id: `50${digits(27)}`,
        refund_fee: amount,
        status: 'PROCESSING',
      };
      list.push(refund);
      records.refunds.set(records.key(merchant.mchid, order.out_trade_no), list);
      order.refunded += amount;
      order.trade_state = 'REFUND';
      state.later(
        V2_REFUND_SETTLE_MS / state.config.options.retryTimeScale,
        () => {
          refund.status = 'SUCCESS';
          refund.success_time = chinaTime(state.now()).slice(0, 19).replace('T', ' ');
        },
        `v2 refund settlement ${merchant.mchid}/${refund.out_refund_no}`,
      );
      return ok(fields(refund));
    }),
  );

  router.add(
    'POST',
    '/pay/refundquery',
    v2Route(state, [], ({ merchant, req, fail, ok }) => {
      let order: V2Order | undefined;
      let list: V2Refund[] = [];
      if (req.out_refund_no || req.refund_id) {
        for (const o of records.orders.values()) {
          if (o.mch_id !== merchant.mchid) continue;
          const found = (records.refunds.get(records.key(o.mch_id, o.out_trade_no)) ?? []).filter(
            (r) => r.out_refund_no === req.out_refund_no || r.refund_id === req.refund_id,
          );
          if (found.length) {
            order = o;
            list = found;
            break;
          }
        }
      } else if (req.out_trade_no || req.transaction_id) {
        order = records.findOrder(merchant.mchid, req);
        if (order) list = records.refunds.get(records.key(merchant.mchid, order.out_trade_no)) ?? [];
      } else {
        return fail('LACK_PARAMS', 'out_refund_no、refund_id、out_trade_no、transaction_id 至少填一个');
      }
      if (!order || list.length === 0) return fail('REFUNDNOTEXIST', '退款订单查询失败');
      const fields: Fields = {
        transaction_id: order.transaction_id ?? '',
        out_trade_no: order.out_trade_no,
        total_fee: String(order.total_fee),
        cash_fee: String(order.total_fee),
        refund_count: String(list.length),
      };
      list.forEach((r, n) => {
        fields[`out_refund_no_${n}`] = r.out_refund_no;
        fields[`refund_id_${n}`] = r.refund_id;
        fields[`refund_fee_${n}`] = String(r.refund_fee);
        fields[`refund_status_${n}`] = r.status;
        fields[`refund_channel_${n}`] = 'ORIGINAL';
        fields[`refund_recv_accout_${n}`] = '支付用户的零钱';
        if (r.success_time) fields[`refund_success_time_${n}`] = r.success_time;
      });
      return ok(fields);
    }),
  );
}
