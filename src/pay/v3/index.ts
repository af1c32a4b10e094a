/** WeChat Pay API v3: the client, its wire types and its errors. */
export {
  type BillDownloadOptions,
  PayV3,
  type PayV3CallOptions,
  type PayV3Options,
  type PayV3PlatformOptions,
  type PayV3RequestOptions,
  type PayV3Response,
  type SensitiveCiphertext,
} from './client.js';
export { BillHashError, PayApiError } from './errors.js';
export { PlatformTrust, type PlatformTrustOptions } from './platform-trust.js';
export type * from './types.js';
