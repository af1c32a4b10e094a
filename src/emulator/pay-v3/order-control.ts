import { isJsonObject } from '../api-route.js';
import { controlError, json } from '../http.js';
import type { Router } from '../router.js';
import type { EmulatorState } from '../state.js';
import type { Json } from './params.js';
import { type Order, type PayV3Records, transactionJson } from './records.js';
import type { RefundInput } from './refunds.js';
import type { Merchant } from './signing.js';

/** The order a control route names: by out_trade_no, and mchid when several merchants have it. */
function findOrder(records: PayV3Records, outTradeNo: string, mchid: unknown): Order | Response {
  const candidates = [...records.orders.values()].filter(
    (o) => o.out_trade_no === outTradeNo && (mchid === undefined || o.mchid === mchid),
  );
  if (candidates.length === 0) return controlError(404, `no v3 order ${outTradeNo}`);
  if (candidates.length > 1)
    return controlError(400, `several merchants have order ${outTradeNo}: pass mchid`);
  return candidates[0] as Order;
}

async function objectBody(ctx: {
  json(): Promise<unknown>;
  text(): Promise<string>;
}): Promise<Json | undefined> {
  if ((await ctx.text()).trim() === '') return {};
  const body = await ctx.json();
  return isJsonObject(body) ? body : undefined;
}

/**
 * What the merchant platform's order pages do, for the console and tests:
 *
 * - `GET /_emulator/pay/orders?mchid=` lists the v3 orders (oldest first) with their refunds.
 * - `POST /_emulator/pay/transactions/:outTradeNo/refund {mchid?, amount?, reason?, notifyUrl?}`
 *   refunds a paid order (default: what is left to refund), as `POST /v3/refund/domestic/refunds`
 *   would: PROCESSING, then SUCCESS and REFUND.SUCCESS to `notifyUrl` (default the order's
 *   notify_url) once the settlement delay has passed. 409 when the order is not paid or nothing
 *   is left to refund.
 * - `POST /_emulator/pay/transactions/:outTradeNo/close {mchid?}` closes an unpaid order (409
 *   when it is paid).
 */
export function registerOrderControl(
  router: Router,
  state: EmulatorState,
  records: PayV3Records,
  refundOrder: (merchant: Merchant, order: Order, input: RefundInput) => { out_refund_no: string },
): void {
  router.add('GET', '/_emulator/pay/orders', (ctx) => {
    const mchid = ctx.url.searchParams.get('mchid');
    const refunds = [...records.refunds.values()];
    const orders = [...records.orders.values()]
      .filter((o) => mchid === null || o.mchid === mchid)
      .map((o) => ({
        ...transactionJson(o),
        description: o.description,
        notify_url: o.notify_url,
        refunded: o.refunded,
        refunds: refunds
          .filter((r) => r.mchid === o.mchid && r.out_trade_no === o.out_trade_no)
          .map((r) => ({ out_refund_no: r.out_refund_no, refund: r.refund, status: r.status })),
      }));
    return json({ orders });
  });

  router.add('POST', '/_emulator/pay/transactions/:outTradeNo/refund', async (ctx) => {
    const body = await objectBody(ctx);
    if (body === undefined)
      return controlError(400, 'body must be { "mchid"?, "amount"?, "reason"?, "notifyUrl"? }');
    const allowed = ['mchid', 'amount', 'reason', 'notifyUrl'];
    const unknown = Object.keys(body).find((k) => !allowed.includes(k));
    if (unknown !== undefined)
      return controlError(400, `unknown field "${unknown}" (allowed: ${allowed.join(', ')})`);
    const order = findOrder(records, ctx.params.outTradeNo as string, body.mchid);
    if (order instanceof Response) return order;
    if (order.trade_state !== 'SUCCESS' && order.trade_state !== 'REFUND')
      return controlError(
        409,
        `order ${order.out_trade_no} is ${order.trade_state}: only a paid order can be refunded`,
      );
    const left = order.total - order.refunded;
    if (left <= 0) return controlError(409, `order ${order.out_trade_no} is refunded in full already`);
    const amount = body.amount ?? left;
    if (typeof amount !== 'number' || !Number.isInteger(amount) || amount < 1 || amount > left)
      return controlError(
        400,
        `amount must be an integer number of fen from 1 to ${left} (what is left to refund)`,
      );
    if (body.reason !== undefined && typeof body.reason !== 'string')
      return controlError(400, 'reason must be a string');
    const notifyUrl = body.notifyUrl ?? order.notify_url;
    if (typeof notifyUrl !== 'string' || !/^https?:\/\//.test(notifyUrl))
      return controlError(400, 'notifyUrl must be an http(s) URL');
    const merchant = state.merchant(order.mchid) as Merchant;
    const refund = refundOrder(merchant, order, {
      mchid: order.mchid,
      out_refund_no: `emu_${state.randomId(20)}`,
      ...(body.reason === undefined ? {} : { reason: body.reason as string }),
      notify_url: notifyUrl,
      refund: amount,
      total: order.total,
      currency: order.currency,
      fingerprint: JSON.stringify([order.out_trade_no, amount, order.total, notifyUrl]),
    });
    return json({ refund, transaction: transactionJson(order) });
  });

  router.add('POST', '/_emulator/pay/transactions/:outTradeNo/close', async (ctx) => {
    const body = await objectBody(ctx);
    if (body === undefined) return controlError(400, 'body must be { "mchid"? }');
    const order = findOrder(records, ctx.params.outTradeNo as string, body.mchid);
    if (order instanceof Response) return order;
    if (order.trade_state === 'SUCCESS' || order.trade_state === 'REFUND')
      return controlError(
        409,
        `order ${order.out_trade_no} is ${order.trade_state}: a paid order cannot be closed`,
      );
    order.trade_state = 'CLOSED';
    return json({ transaction: transactionJson(order) });
  });
}
