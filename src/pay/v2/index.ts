/** WeChat Pay API v2 (legacy XML API). */
export {
  type CloseOrderParams,
  PayV2,
  type PayV2Fields,
  type PayV2Options,
  type PayV2PaymentNotification,
  type PayV2RefundNotification,
  type PayV2Request,
  type PayV2Tls,
  payV2NotificationReply,
  type RefundParams,
  type UnifiedOrderParams,
} from './client.js';
export { PayV2Error } from './errors.js';
