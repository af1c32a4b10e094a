import type { APIPromise } from '../../../core/api-promise.js';
import type { RequestOptions } from '../../../core/request-options.js';
import { ArgumentError } from '../../../errors.js';
import type { SignedExchange } from '../signed-exchange.js';
import type {
  AppOrder,
  H5Order,
  JsapiOrder,
  NativeOrder,
  OutTradeNoParams,
  Transaction,
  TransactionIdParams,
} from '../types.js';
import { paramsObject, segment } from './arguments.js';

/**
 * Orders (`/v3/pay/transactions/…`): create (JSAPI / Mini Program, Native, App, H5), get, close.
 * Creating an order is retried after a network error, since WeChat Pay answers a repeated
 * `out_trade_no` with the identical body by the original answer.
 *
 * @example
 * const { prepay_id } = await pay.transactions.jsapi({ appid, description, out_trade_no, notify_url, amount: { total: 100 }, payer: { openid } });
 * const order = await pay.transactions.getByOutTradeNo({ out_trade_no });
 */
export class PayTransactions {
  readonly #exchange: SignedExchange;

  /** @internal Built by `PayV3`. */
  constructor(exchange: SignedExchange) {
    this.#exchange = exchange;
  }

  /**
   * `POST /v3/pay/transactions/jsapi` (JSAPI and Mini Program); `mchid` is filled in.
   *
   * @example
   * const { prepay_id } = await pay.transactions.jsapi({ appid, description: 'T-shirt', out_trade_no, notify_url, amount: { total: 100 }, payer: { openid } });
   */
  jsapi(params: JsapiOrder, options?: RequestOptions): APIPromise<{ prepay_id: string }> {
    return this.#order('jsapi', params, options);
  }

  /**
   * `POST /v3/pay/transactions/native`: a `code_url` to show as a QR code.
   *
   * @example
   * const { code_url } = await pay.transactions.native({ appid, description, out_trade_no, notify_url, amount: { total: 100 } });
   */
  native(params: NativeOrder, options?: RequestOptions): APIPromise<{ code_url: string }> {
    return this.#order('native', params, options);
  }

  /**
   * `POST /v3/pay/transactions/app`.
   *
   * @example
   * const { prepay_id } = await pay.transactions.app({ appid, description, out_trade_no, notify_url, amount: { total: 100 } });
   */
  app(params: AppOrder, options?: RequestOptions): APIPromise<{ prepay_id: string }> {
    return this.#order('app', params, options);
  }

  /**
   * `POST /v3/pay/transactions/h5`.
   *
   * @example
   * const { h5_url } = await pay.transactions.h5({ ...order, scene_info: { payer_client_ip, h5_info: { type: 'Wap' } } });
   */
  h5(params: H5Order, options?: RequestOptions): APIPromise<{ h5_url: string }> {
    return this.#order('h5', params, options);
  }

  /**
   * `GET /v3/pay/transactions/out-trade-no/{out_trade_no}?mchid=`.
   *
   * @example
   * const { trade_state } = await pay.transactions.getByOutTradeNo({ out_trade_no: 'A20260101001' });
   */
  getByOutTradeNo(params: OutTradeNoParams, options?: RequestOptions): APIPromise<Transaction> {
    return this.#exchange.call(
      'GET',
      () =>
        `/v3/pay/transactions/out-trade-no/${segment('out_trade_no', paramsObject('params', params).out_trade_no)}`,
      { ...options, query: { mchid: this.#exchange.mchid } },
      true,
      '/v3/pay/transactions/out-trade-no/{out_trade_no}',
    );
  }

  /**
   * `GET /v3/pay/transactions/id/{transaction_id}?mchid=`.
   *
   * @example
   * const order = await pay.transactions.getById({ transaction_id: '4200000000202601010000000001' });
   */
  getById(params: TransactionIdParams, options?: RequestOptions): APIPromise<Transaction> {
    return this.#exchange.call(
      'GET',
      () =>
        `/v3/pay/transactions/id/${segment('transaction_id', paramsObject('params', params).transaction_id)}`,
      { ...options, query: { mchid: this.#exchange.mchid } },
      true,
      '/v3/pay/transactions/id/{transaction_id}',
    );
  }

  /**
   * `POST /v3/pay/transactions/out-trade-no/{out_trade_no}/close` (answers 204).
   *
   * @example
   * await pay.transactions.close({ out_trade_no: 'A20260101001' });
   */
  close(params: OutTradeNoParams, options?: RequestOptions): APIPromise<void> {
    return this.#exchange.call<undefined>(
      'POST',
      () =>
        `/v3/pay/transactions/out-trade-no/${segment('out_trade_no', paramsObject('params', params).out_trade_no)}/close`,
      { ...options, body: { mchid: this.#exchange.mchid } },
      true,
      '/v3/pay/transactions/out-trade-no/{out_trade_no}/close',
    );
  }

  #order<R>(kind: string, params: object, options: RequestOptions | undefined): APIPromise<R> {
    return this.#exchange.call<R>(
      'POST',
      `/v3/pay/transactions/${kind}`,
      () => ({ ...options, body: withMchid(params, this.#exchange.mchid) }),
      true,
    );
  }
}

/** The order body with this client's `mchid`; a different one is refused before sending. */
function withMchid(body: object, mchid: string): object {
  if (typeof body !== 'object' || body === null) {
    throw new ArgumentError('the order body must be an object');
  }
  const given = (body as { mchid?: unknown }).mchid;
  if (given !== undefined && given !== mchid) {
    throw new ArgumentError(`body.mchid ${JSON.stringify(given)} is not this client's mchid ${mchid}`);
  }
  return { ...body, mchid };
}
