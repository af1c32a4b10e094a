import type { APIPromise } from '../../../core/api-promise.js';
import type { RequestOptions } from '../../../core/request-options.js';
import type { SignedExchange } from '../signed-exchange.js';
import type { CreateRefund, OutRefundNoParams, Refund } from '../types.js';
import { paramsObject, segment } from './arguments.js';

/**
 * Domestic refunds (`/v3/refund/domestic/refunds`). Creating a refund is retried after a network
 * error, since WeChat Pay answers a repeated `out_refund_no` by the original refund.
 *
 * @example
 * const refund = await pay.refunds.create({ out_trade_no, out_refund_no, amount: { refund: 40, total: 100, currency: 'CNY' } });
 * const { status } = await pay.refunds.get({ out_refund_no });
 */
export class PayRefunds {
  readonly #exchange: SignedExchange;

  /** @internal Built by `PayV3`. */
  constructor(exchange: SignedExchange) {
    this.#exchange = exchange;
  }

  /**
   * `POST /v3/refund/domestic/refunds`.
   *
   * @example
   * await pay.refunds.create({ out_trade_no, out_refund_no: 'R1', amount: { refund: 40, total: 100, currency: 'CNY' } });
   */
  create(params: CreateRefund, options?: RequestOptions): APIPromise<Refund> {
    return this.#exchange.call(
      'POST',
      '/v3/refund/domestic/refunds',
      () => ({ ...options, body: paramsObject('params', params) }),
      true,
    );
  }

  /**
   * `GET /v3/refund/domestic/refunds/{out_refund_no}`.
   *
   * @example
   * const { status } = await pay.refunds.get({ out_refund_no: 'R1' });
   */
  get(params: OutRefundNoParams, options?: RequestOptions): APIPromise<Refund> {
    return this.#exchange.call(
      'GET',
      () =>
        `/v3/refund/domestic/refunds/${segment('out_refund_no', paramsObject('params', params).out_refund_no)}`,
      { ...options },
      true,
      '/v3/refund/domestic/refunds/{out_refund_no}',
    );
  }
}
