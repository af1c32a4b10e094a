/** WeChat Pay API v3: the client, its resources, its wire types, signing and verification interfaces, and its errors. */
export {
  type PayParamsInput,
  PayV3,
  type PayV3CommonOptions,
  type PayV3CustomSignerOptions,
  type PayV3Options,
  type PayV3PlatformOptions,
  type PayV3PrivateKeyOptions,
  type PayV3RequestOptions,
  type SensitiveCiphertext,
} from './client.js';
export { BillHashError, PayApiError } from './errors.js';
export { PlatformTrust, type PlatformTrustOptions } from './platform-trust.js';
export { type BillDownloadOptions, PayBills } from './resources/bills.js';
export { PayCertificates } from './resources/certificates.js';
export { PayMedia } from './resources/media.js';
export { PayRefunds } from './resources/refunds.js';
export { PayTransactions } from './resources/transactions.js';
export type {
  AppOrder,
  Bill,
  CreateOrderBase,
  CreateRefund,
  FundFlowBillQuery,
  H5Order,
  JsapiOrder,
  MediaFile,
  NativeOrder,
  OrderAmount,
  OutRefundNoParams,
  OutTradeNoParams,
  PaidTransaction,
  PlatformCertificateEntry,
  PlatformCertificateList,
  Refund,
  RefundStatus,
  TradeBillQuery,
  TradeState,
  Transaction,
  TransactionAmount,
  TransactionIdParams,
} from './types.js';
