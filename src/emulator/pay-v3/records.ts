import type { Json } from './params.js';

export type TradeType = 'JSAPI' | 'NATIVE';
export type TradeState = 'NOTPAY' | 'SUCCESS' | 'CLOSED' | 'REFUND';

/** A v3 order (JSAPI or Native). */
export interface Order {
  mchid: string;
  appid: string;
  out_trade_no: string;
  description: string;
  notify_url: string;
  attach?: string;
  trade_type: TradeType;
  total: number;
  currency: string;
  openid?: string;
  prepay_id?: string;
  code_url?: string;
  trade_state: TradeState;
  transaction_id?: string;
  success_time?: string;
  /** The identity of the request that created it, for idempotent re-submission. */
  fingerprint: string;
  refunded: number;
}

/** A v3 domestic refund. */
export interface Refund {
  mchid: string;
  refund_id: string;
  out_refund_no: string;
  out_trade_no: string;
  transaction_id: string;
  reason?: string;
  notify_url?: string;
  refund: number;
  total: number;
  currency: string;
  status: 'PROCESSING' | 'SUCCESS';
  create_time: string;
  success_time?: string;
  fingerprint: string;
}

const TRADE_STATE_DESC: Record<TradeState, string> = {
  NOTPAY: '订单未支付',
  SUCCESS: '支付成功',
  CLOSED: '订单已关闭',
  REFUND: '转入退款',
};

/** An order as the query APIs and TRANSACTION.SUCCESS show it. */
export function transactionJson(o: Order): Json {
  const paid = o.trade_state === 'SUCCESS' || o.trade_state === 'REFUND';
  return {
    appid: o.appid,
    mchid: o.mchid,
    out_trade_no: o.out_trade_no,
    ...(paid ? { transaction_id: o.transaction_id } : {}),
    trade_type: o.trade_type,
    trade_state: o.trade_state,
    trade_state_desc: TRADE_STATE_DESC[o.trade_state],
    ...(paid ? { bank_type: 'OTHERS', success_time: o.success_time } : {}),
    attach: o.attach ?? '',
    payer: paid && o.openid ? { openid: o.openid } : {},
    amount: paid
      ? { total: o.total, payer_total: o.total, currency: o.currency, payer_currency: o.currency }
      : { total: o.total, currency: o.currency, payer_currency: o.currency },
    promotion_detail: [],
  };
}

/** The orders and refunds of every merchant, per emulator instance. */
export class PayV3Records {
  /** By {@link PayV3Records.key}(mchid, out_trade_no). */
  readonly orders = new Map<string, Order>();
  /** By {@link PayV3Records.key}(mchid, out_refund_no). */
  readonly refunds = new Map<string, Refund>();

  key(mchid: string, no: string): string {
    return `${mchid}\u0000${no}`;
  }

  /** The merchant's order with this transaction_id. */
  byTransactionId(mchid: string, transactionId: string | undefined): Order | undefined {
    return [...this.orders.values()].find((o) => o.mchid === mchid && o.transaction_id === transactionId);
  }
}
