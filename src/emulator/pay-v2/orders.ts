import { signPayV2 } from '../../crypto/pay-v2.js';
import { buildXml, parseXml } from '../../xml/index.js';
import { controlError, json } from '../http.js';
import { deliver } from '../pay-v3/notifications.js';
import { compactTime, digits } from '../pay-v3/params.js';
import type { Merchant } from '../pay-v3/signing.js';
import type { Router } from '../router.js';
import type { EmulatorState } from '../state.js';
import { type PayV2Records, TRADE_STATE_DESC, type V2Order } from './records.js';
import { type Fields, v2Route } from './signed-xml.js';

/**
 * Pay v2 orders: `/pay/unifiedorder`, `/pay/orderquery`, `/pay/closeorder`, and the control route
 * `POST /_emulator/pay/v2/transactions/:outTradeNo/succeed` that pays an order and sends the
 * signed v2 payment notification until the merchant answers SUCCESS.
 */
export function registerV2Orders(router: Router, state: EmulatorState, records: PayV2Records): void {
  router.add(
    'POST',
    '/pay/unifiedorder',
    v2Route(
      state,
      ['body', 'out_trade_no', 'total_fee', 'spbill_create_ip', 'notify_url', 'trade_type'],
      ({ merchant, signType, req, fail, ok }) => {
        const total = Number(req.total_fee);
        if (!/^[1-9]\d*$/.test(req.total_fee as string) || !Number.isSafeInteger(total))
          return fail('PARAM_ERROR', 'total_fee 必须是正整数（分）');
        const tradeType = req.trade_type as string;
        if (!['JSAPI', 'NATIVE', 'APP', 'MWEB'].includes(tradeType))
          return fail('PARAM_ERROR', 'trade_type 参数错误');
        if (tradeType === 'JSAPI' && !req.openid)
          return fail('LACK_PARAMS', 'trade_type=JSAPI时，openid为必填参数');
        if (tradeType === 'NATIVE' && !req.product_id)
          return fail('LACK_PARAMS', 'trade_type=NATIVE时，product_id为必填参数');
        const fingerprint = JSON.stringify([
          req.appid,
          req.body,
          total,
          tradeType,
          req.notify_url,
          req.openid ?? '',
          req.attach ?? '',
        ]);
        const existing = records.orders.get(records.key(merchant.mchid, req.out_trade_no as string));
        let order: V2Order;
        if (existing) {
          if (existing.trade_state === 'SUCCESS' || existing.trade_state === 'REFUND')
            return fail('ORDERPAID', '该订单已支付');
          if (existing.trade_state === 'CLOSED') return fail('ORDERCLOSED', '该订单已关闭');
          if (existing.fingerprint !== fingerprint) return fail('INVALID_REQUEST', '201 商户订单号重复');
          order = existing;
        } else {
          order = {
            mch_id: merchant.mchid,
            appid: req.appid as string,
            out_trade_no: req.out_trade_no as string,
            body: req.body as string,
            total_fee: total,
            trade_type: tradeType,
            notify_url: req.notify_url as string,
            ...(req.openid ? { openid: req.openid } : {}),
            ...(req.attach ? { attach: req.attach } : {}),
            prepay_id: `wx${compactTime(state.now())}${state.randomId(20).toLowerCase()}`,
            ...(tradeType === 'NATIVE'
              ? { code_url: `weixin://wxpay/bizpayurl?pr=${state.randomId(7)}` }
              : {}),
            trade_state: 'NOTPAY',
            refunded: 0,
            fingerprint,
            signType,
          };
          records.orders.set(records.key(merchant.mchid, order.out_trade_no), order);
        }
        return ok({
          trade_type: order.trade_type,
          prepay_id: order.prepay_id,
          ...(order.code_url ? { code_url: order.code_url } : {}),
        });
      },
    ),
  );

  function orderFields(o: V2Order): Fields {
    const paid = o.trade_state === 'SUCCESS' || o.trade_state === 'REFUND';
    return {
      out_trade_no: o.out_trade_no,
      trade_state: o.trade_state,
      trade_state_desc: TRADE_STATE_DESC[o.trade_state],
      total_fee: String(o.total_fee),
      fee_type: 'CNY',
      ...(o.attach ? { attach: o.attach } : {}),
      ...(paid
        ? {
            openid: o.openid ?? '',
            is_subscribe: 'N',
            trade_type: o.trade_type,
            bank_type: 'OTHERS',
            cash_fee: String(o.total_fee),
            transaction_id: o.transaction_id ?? '',
            time_end: o.time_end ?? '',
          }
        : {}),
    };
  }

  router.add(
    'POST',
    '/pay/orderquery',
    v2Route(state, [], ({ merchant, req, fail, ok }) => {
      if (!req.out_trade_no && !req.transaction_id)
        return fail('LACK_PARAMS', 'transaction_id 和 out_trade_no 至少填一个');
      const order = records.findOrder(merchant.mchid, req);
      return order ? ok(orderFields(order)) : fail('ORDERNOTEXIST', '订单不存在');
    }),
  );

  router.add(
    'POST',
    '/pay/closeorder',
    v2Route(state, ['out_trade_no'], ({ merchant, req, fail, ok }) => {
      const order = records.orders.get(records.key(merchant.mchid, req.out_trade_no as string));
      if (!order) return fail('ORDERNOTEXIST', '订单不存在');
      if (order.trade_state === 'SUCCESS' || order.trade_state === 'REFUND')
        return fail('ORDERPAID', '订单已支付');
      if (order.trade_state === 'CLOSED') return fail('ORDERCLOSED', '订单已关闭');
      order.trade_state = 'CLOSED';
      return ok({ result_msg: 'OK' });
    }),
  );

  // Control: pay a v2 order and send the v2 payment notification (signed XML) to its notify_url.
  router.add('POST', '/_emulator/pay/v2/transactions/:outTradeNo/succeed', async (ctx) => {
    const body = ((await ctx.json()) ?? {}) as Record<string, unknown>;
    const outTradeNo = ctx.params.outTradeNo as string;
    const candidates = [...records.orders.values()].filter(
      (o) => o.out_trade_no === outTradeNo && (body.mch_id === undefined || o.mch_id === body.mch_id),
    );
    if (candidates.length !== 1)
      return controlError(candidates.length ? 400 : 404, `no unique v2 order ${outTradeNo} (pass mch_id)`);
    const order = candidates[0] as V2Order;
    if (order.trade_state !== 'NOTPAY')
      return controlError(409, `order ${outTradeNo} is ${order.trade_state}`);
    const merchant = state.merchant(order.mch_id) as Merchant;
    order.trade_state = 'SUCCESS';
    order.transaction_id = `42000${digits(23)}`;
    order.time_end = compactTime(state.now());
    order.openid ??= `o${state.randomId(27)}`;
    const notice: Fields = {
      return_code: 'SUCCESS',
      appid: order.appid,
      mch_id: order.mch_id,
      nonce_str: state.randomId(16),
      result_code: 'SUCCESS',
      openid: order.openid,
      is_subscribe: 'N',
      trade_type: order.trade_type,
      bank_type: 'OTHERS',
      total_fee: String(order.total_fee),
      fee_type: 'CNY',
      cash_fee: String(order.total_fee),
      transaction_id: order.transaction_id,
      out_trade_no: order.out_trade_no,
      ...(order.attach ? { attach: order.attach } : {}),
      time_end: order.time_end,
    };
    notice.sign = signPayV2(notice, merchant.apiV2Key, order.signType);
    const xml = buildXml(notice);
    const delivery = await deliver(state, {
      notificationId: order.transaction_id,
      mchid: order.mch_id,
      event_type: 'V2.TRANSACTION.SUCCESS',
      url: order.notify_url,
      body: xml,
      headers: () => ({ 'Content-Type': 'text/xml' }),
      // Acknowledged by <return_code>SUCCESS</return_code> in a 200 answer.
      accept: (status, text) => {
        if (status !== 200) return false;
        try {
          return parseXml(text).return_code === 'SUCCESS';
        } catch {
          return false;
        }
      },
      timeoutMs: state.config.options.pushTimeoutMs,
    });
    return json({ order: orderFields(order), notification: delivery });
  });
}
