import { isJsonObject } from '../api-route.js';
import { controlError, json } from '../http.js';
import type { Router } from '../router.js';
import type { EmulatorState } from '../state.js';
import { chinaTime, notifyV3 } from './notifications.js';
import {
  compactTime,
  currency,
  digits,
  type Json,
  NOTIFY_URL,
  OUT_NO,
  obj,
  ParamError,
  paramError,
  parseBody,
  positiveInt,
  str,
} from './params.js';
import { type Order, type PayV3Records, type TradeType, transactionJson } from './records.js';
import { type Merchant, type V3Context, v3Error, v3Response, v3Route } from './signing.js';

/**
 * Pay v3 orders: JSAPI and Native orders (`/v3/pay/transactions/jsapi|native`), query by
 * out_trade_no or transaction_id, close, and the control route that pays an order and sends
 * TRANSACTION.SUCCESS (`POST /_emulator/pay/transactions/:outTradeNo/succeed`).
 */
export function registerTransactions(router: Router, state: EmulatorState, records: PayV3Records): void {
  function createOrder(tradeType: TradeType) {
    return v3Route((ctx) => {
      const body = parseBody(state, ctx);
      if (body instanceof Response) return body;
      let order: Order;
      try {
        const mchid = str(body, '', 'mchid', { max: 32 }) as string;
        if (mchid !== ctx.merchant.mchid)
          throw new ParamError(
            '/mchid',
            `/mchid 与 Authorization 中的商户号 ${ctx.merchant.mchid} 不一致`,
            mchid,
          );
        const amount = obj(body, '', 'amount') as Json;
        const payer = tradeType === 'JSAPI' ? (obj(body, '', 'payer') as Json) : undefined;
        const attach = str(body, '', 'attach', { optional: true, max: 128 });
        const openid = payer ? str(payer, '/payer', 'openid', { max: 128 }) : undefined;
        order = {
          mchid,
          appid: str(body, '', 'appid', { max: 32 }) as string,
          description: str(body, '', 'description', { max: 127 }) as string,
          out_trade_no: str(body, '', 'out_trade_no', { re: OUT_NO }) as string,
          notify_url: str(body, '', 'notify_url', { max: 255, re: NOTIFY_URL }) as string,
          ...(attach === undefined ? {} : { attach }),
          trade_type: tradeType,
          total: positiveInt(amount, '/amount', 'total'),
          currency: currency(amount, '/amount'),
          ...(openid === undefined ? {} : { openid }),
          trade_state: 'NOTPAY',
          fingerprint: '',
          refunded: 0,
        };
      } catch (e) {
        if (e instanceof ParamError) return paramError(state, ctx.merchant, e);
        throw e;
      }
      order.fingerprint = JSON.stringify([
        order.trade_type,
        order.appid,
        order.description,
        order.notify_url,
        order.attach ?? '',
        order.total,
        order.currency,
        order.openid ?? '',
      ]);
      const existing = records.orders.get(records.key(order.mchid, order.out_trade_no));
      if (existing) {
        if (existing.trade_state === 'SUCCESS' || existing.trade_state === 'REFUND')
          return v3Error(state, ctx.merchant, 400, 'ORDERPAID', '该订单已支付');
        if (existing.trade_state === 'CLOSED')
          return v3Error(state, ctx.merchant, 400, 'ORDER_CLOSED', '该订单已关闭');
        if (existing.fingerprint !== order.fingerprint)
          return v3Error(state, ctx.merchant, 400, 'INVALID_REQUEST', '201 商户订单号重复');
        // Identical re-submission of an unpaid order: answered again with the same result.
        order = existing;
      } else {
        if (tradeType === 'JSAPI')
          order.prepay_id = `wx${compactTime(state.now())}${state.randomId(20).toLowerCase()}`;
        else order.code_url = `weixin://wxpay/bizpayurl?pr=${state.randomId(7)}`;
        records.orders.set(records.key(order.mchid, order.out_trade_no), order);
      }
      return v3Response(
        state,
        ctx.merchant,
        200,
        tradeType === 'JSAPI' ? { prepay_id: order.prepay_id } : { code_url: order.code_url },
      );
    });
  }

  router.add('POST', '/v3/pay/transactions/jsapi', createOrder('JSAPI'));
  router.add('POST', '/v3/pay/transactions/native', createOrder('NATIVE'));

  function queryMchid(ctx: V3Context): Response | undefined {
    const mchid = ctx.url.searchParams.get('mchid');
    if (mchid === null || mchid === '')
      return v3Error(state, ctx.merchant, 400, 'PARAM_ERROR', 'mchid 为必填的查询参数', {
        field: 'mchid',
        location: 'query',
      });
    if (mchid !== ctx.merchant.mchid)
      return v3Error(state, ctx.merchant, 400, 'PARAM_ERROR', `mchid 与 Authorization 中的商户号不一致`, {
        field: 'mchid',
        location: 'query',
        value: mchid,
      });
    return undefined;
  }

  const orderNotFound = (merchant: Merchant) =>
    v3Error(state, merchant, 404, 'ORDER_NOT_EXIST', '订单不存在');

  router.add(
    'GET',
    '/v3/pay/transactions/out-trade-no/:outTradeNo',
    v3Route((ctx) => {
      const bad = queryMchid(ctx);
      if (bad) return bad;
      const order = records.orders.get(records.key(ctx.merchant.mchid, ctx.params.outTradeNo as string));
      return order
        ? v3Response(state, ctx.merchant, 200, transactionJson(order))
        : orderNotFound(ctx.merchant);
    }),
  );

  router.add(
    'GET',
    '/v3/pay/transactions/id/:transactionId',
    v3Route((ctx) => {
      const bad = queryMchid(ctx);
      if (bad) return bad;
      const id = ctx.params.transactionId;
      const order = [...records.orders.values()].find(
        (o) => o.mchid === ctx.merchant.mchid && o.transaction_id === id,
      );
      return order
        ? v3Response(state, ctx.merchant, 200, transactionJson(order))
        : orderNotFound(ctx.merchant);
    }),
  );

  router.add(
    'POST',
    '/v3/pay/transactions/out-trade-no/:outTradeNo/close',
    v3Route((ctx) => {
      const body = parseBody(state, ctx);
      if (body instanceof Response) return body;
      if (body.mchid !== ctx.merchant.mchid)
        return v3Error(
          state,
          ctx.merchant,
          400,
          'PARAM_ERROR',
          body.mchid === undefined ? '/mchid 为必填参数' : '/mchid 与 Authorization 中的商户号不一致',
          { field: '/mchid', location: 'body' },
        );
      const order = records.orders.get(records.key(ctx.merchant.mchid, ctx.params.outTradeNo as string));
      if (!order) return orderNotFound(ctx.merchant);
      if (order.trade_state === 'SUCCESS' || order.trade_state === 'REFUND')
        return v3Error(state, ctx.merchant, 400, 'ORDERPAID', '订单已支付，不能关闭');
      order.trade_state = 'CLOSED';
      return v3Response(state, ctx.merchant, 204);
    }),
  );

  // ---- control plane -------------------------------------------------------------------------

  router.add('POST', '/_emulator/pay/transactions/:outTradeNo/succeed', async (ctx) => {
    const body = ((await ctx.json()) ?? {}) as Json;
    if (!isJsonObject(body)) return controlError(400, 'body must be a JSON object');
    const outTradeNo = ctx.params.outTradeNo as string;
    const candidates = [...records.orders.values()].filter(
      (o) => o.out_trade_no === outTradeNo && (body.mchid === undefined || o.mchid === body.mchid),
    );
    if (candidates.length === 0) return controlError(404, `no v3 order ${outTradeNo}`);
    if (candidates.length > 1)
      return controlError(400, `several merchants have order ${outTradeNo}: pass mchid`);
    const order = candidates[0] as Order;
    if (order.trade_state !== 'NOTPAY')
      return controlError(409, `order ${outTradeNo} is ${order.trade_state}, only NOTPAY orders can be paid`);
    const merchant = state.merchant(order.mchid) as Merchant;
    order.trade_state = 'SUCCESS';
    order.transaction_id = `42000${digits(23)}`;
    order.success_time = chinaTime(state.now());
    if (typeof body.openid === 'string' && body.openid !== '') order.openid = body.openid;
    order.openid ??= `o${state.randomId(27)}`;
    const timeoutMs = typeof body.timeoutMs === 'number' && body.timeoutMs > 0 ? body.timeoutMs : undefined;
    const deliveries = await notifyV3(state, {
      merchant,
      url: order.notify_url,
      event_type: 'TRANSACTION.SUCCESS',
      summary: '支付成功',
      originalType: 'transaction',
      resource: transactionJson(order),
      deliverTwice: body.deliverTwice === true,
      ...(timeoutMs === undefined ? {} : { timeoutMs }),
    });
    return json({ transaction: transactionJson(order), notifications: deliveries });
  });
}
