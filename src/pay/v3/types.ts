/**
 * Wire types of the WeChat Pay v3 APIs this client covers. Field names are WeChat Pay's own;
 * only the commonly used fields are typed, and answers may carry more (read them through
 * `request()` if you need an untyped view).
 */

/** `amount` of an order: fen (integer), currency `CNY`. */
export interface OrderAmount {
  total: number;
  currency?: string;
}

/** Fields shared by every order-creation body. `mchid` is filled in by the client. */
export interface CreateOrderBase {
  appid: string;
  /** Defaults to the client's mchid; a different value is refused before sending. */
  mchid?: string;
  description: string;
  out_trade_no: string;
  notify_url: string;
  amount: OrderAmount;
  time_expire?: string;
  attach?: string;
  goods_tag?: string;
  support_fapiao?: boolean;
  detail?: Record<string, unknown>;
  scene_info?: Record<string, unknown>;
  settle_info?: { profit_sharing?: boolean };
}

/** `POST /v3/pay/transactions/jsapi` body (JSAPI and Mini Program). */
export interface JsapiOrder extends CreateOrderBase {
  payer: { openid: string };
}

/** `POST /v3/pay/transactions/native` body. */
export type NativeOrder = CreateOrderBase;

/** `POST /v3/pay/transactions/app` body. */
export type AppOrder = CreateOrderBase;

/** `POST /v3/pay/transactions/h5` body: `scene_info.h5_info` is required by WeChat Pay. */
export interface H5Order extends CreateOrderBase {
  scene_info: {
    payer_client_ip: string;
    device_id?: string;
    h5_info: { type: 'Wap' | 'iOS' | 'Android' | (string & {}); app_name?: string; app_url?: string };
    [key: string]: unknown;
  };
}

/** Trade states of a transaction. */
export type TradeState =
  | 'SUCCESS'
  | 'REFUND'
  | 'NOTPAY'
  | 'CLOSED'
  | 'REVOKED'
  | 'USERPAYING'
  | 'PAYERROR'
  | (string & {});

/** Amounts of a transaction, in fen (分). */
export interface TransactionAmount {
  total: number;
  payer_total?: number;
  currency?: string;
  payer_currency?: string;
}

/**
 * A transaction, as the query APIs answer it and as a `TRANSACTION.SUCCESS` notification carries
 * it (the decrypted `resource`, `original_type` `transaction`): one wire object. Fields filled
 * only once the order is paid are optional here; {@link PaidTransaction} has them. Fields WeChat
 * Pay adds later still arrive, typed as unknown extras.
 */
export interface Transaction {
  appid: string;
  mchid: string;
  out_trade_no: string;
  transaction_id?: string;
  /** `JSAPI`, `NATIVE`, `APP`, `MICROPAY`, `MWEB`, `FACEPAY`. */
  trade_type?: string;
  trade_state: TradeState;
  trade_state_desc: string;
  bank_type?: string;
  attach?: string;
  /** RFC 3339, e.g. `2018-06-08T10:34:56+08:00`. */
  success_time?: string;
  payer?: { openid: string };
  amount?: TransactionAmount;
  scene_info?: { device_id?: string };
  promotion_detail?: Array<Record<string, unknown>>;
  [field: string]: unknown;
}

/** A {@link Transaction} that was paid: what a `TRANSACTION.SUCCESS` notification carries. */
export type PaidTransaction = Transaction & {
  transaction_id: string;
  trade_type: string;
  payer: { openid: string };
  amount: TransactionAmount;
};

/** Params of `transactions.getByOutTradeNo` and `transactions.close`. */
export interface OutTradeNoParams {
  out_trade_no: string;
}

/** Params of `transactions.getById`. */
export interface TransactionIdParams {
  transaction_id: string;
}

/** Params of `refunds.get`. */
export interface OutRefundNoParams {
  out_refund_no: string;
}

/** `POST /v3/refund/domestic/refunds` body: one of `transaction_id` / `out_trade_no` is required. */
export interface CreateRefund {
  transaction_id?: string;
  out_trade_no?: string;
  out_refund_no: string;
  reason?: string;
  notify_url?: string;
  funds_account?: string;
  amount: {
    refund: number;
    total: number;
    currency: string;
    from?: Array<{ account: string; amount: number }>;
  };
  goods_detail?: unknown[];
}

/** Refund states. */
export type RefundStatus = 'SUCCESS' | 'CLOSED' | 'PROCESSING' | 'ABNORMAL' | (string & {});

/** A refund as the refund APIs answer it. */
export interface Refund {
  refund_id: string;
  out_refund_no: string;
  transaction_id: string;
  out_trade_no: string;
  channel: string;
  user_received_account: string;
  success_time?: string;
  create_time: string;
  status: RefundStatus;
  funds_account?: string;
  amount: {
    total: number;
    refund: number;
    payer_total: number;
    payer_refund: number;
    settlement_refund?: number;
    settlement_total?: number;
    discount_refund?: number;
    currency: string;
    refund_fee?: number;
    from?: unknown[];
  };
  promotion_detail?: unknown[];
}

/** Query of `GET /v3/bill/tradebill`. */
export interface TradeBillQuery {
  /** `yyyy-MM-dd`. */
  bill_date: string;
  bill_type?: 'ALL' | 'SUCCESS' | 'REFUND' | (string & {});
  tar_type?: 'GZIP';
  sub_mchid?: string;
}

/** Query of `GET /v3/bill/fundflowbill`. */
export interface FundFlowBillQuery {
  /** `yyyy-MM-dd`. */
  bill_date: string;
  account_type?: 'BASIC' | 'OPERATION' | 'FEES' | (string & {});
  tar_type?: 'GZIP';
}

/** What a bill API answers: where to download the file and the digest it must have. */
export interface Bill {
  download_url: string;
  hash_type: 'SHA1' | (string & {});
  hash_value: string;
}

/** A file for `media.uploadImage`. */
export interface MediaFile {
  /** File name with an image extension (jpg, jpeg, bmp, png). */
  filename: string;
  /** The file's bytes. */
  data: Uint8Array;
  /** MIME type; default guessed from the extension. */
  contentType?: string;
}

/** One entry of `GET /v3/certificates`: a platform certificate, sealed with the APIv3 key. */
export interface PlatformCertificateEntry {
  serial_no: string;
  /** RFC 3339. */
  effective_time: string;
  /** RFC 3339. */
  expire_time: string;
  encrypt_certificate: {
    algorithm: string;
    ciphertext: string;
    nonce: string;
    associated_data: string;
  };
}

/** What `GET /v3/certificates` answers. */
export interface PlatformCertificateList {
  data: PlatformCertificateEntry[];
}
