import type { PayV2SignType } from '../../crypto/pay-v2.js';
import type { Fields } from './signed-xml.js';

/** A v2 order. */
export interface V2Order {
  mch_id: string;
  appid: string;
  out_trade_no: string;
  body: string;
  total_fee: number;
  trade_type: string;
  notify_url: string;
  openid?: string;
  attach?: string;
  prepay_id: string;
  code_url?: string;
  trade_state: 'NOTPAY' | 'SUCCESS' | 'CLOSED' | 'REFUND';
  transaction_id?: string;
  time_end?: string;
  refunded: number;
  fingerprint: string;
  signType: PayV2SignType;
}

/** A v2 refund. */
export interface V2Refund {
  out_refund_no: string;
  refund_id: string;
  refund_fee: number;
  status: 'PROCESSING' | 'SUCCESS';
  success_time?: string;
}

export const TRADE_STATE_DESC = {
  NOTPAY: '订单未支付',
  SUCCESS: '支付成功',
  CLOSED: '订单已关闭',
  REFUND: '订单转入退款',
} as const;

/** The v2 orders and refunds of every merchant (kept apart from v3), per emulator instance. */
export class PayV2Records {
  /** By {@link PayV2Records.key}(mch_id, out_trade_no). */
  readonly orders = new Map<string, V2Order>();
  /** The refunds of an order, by {@link PayV2Records.key}(mch_id, out_trade_no). */
  readonly refunds = new Map<string, V2Refund[]>();

  key(mchid: string, no: string): string {
    return `${mchid}\u0000${no}`;
  }

  /** The order a request names by transaction_id, else by out_trade_no. */
  findOrder(mchid: string, req: Fields): V2Order | undefined {
    if (req.transaction_id)
      return [...this.orders.values()].find(
        (o) => o.mch_id === mchid && o.transaction_id === req.transaction_id,
      );
    return req.out_trade_no ? this.orders.get(this.key(mchid, req.out_trade_no)) : undefined;
  }
}
