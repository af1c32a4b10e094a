import type { Router } from '../router.js';
import type { EmulatorState } from '../state.js';
import { registerPayV3Bills } from './bills.js';
import { registerCertificates } from './certificates.js';
import { registerNotificationLog } from './notifications.js';
import { registerOrderControl } from './order-control.js';
import { PayV3Records } from './records.js';
import { registerRefunds } from './refunds.js';
import { registerSignTest } from './signing.js';
import { registerTransactions } from './transactions.js';

/**
 * WeChat Pay API v3 (api.mch.weixin.qq.com/v3/*): JSAPI and Native orders, query, close, domestic
 * refunds, the platform certificate list, bills, and the control routes that pay an order (sending
 * TRANSACTION.SUCCESS), switch the SIGNTEST probe on, rotate the platform certificate and list
 * notifications. Every /v3 route checks `Authorization` and every answer is signed.
 */
export function registerPayV3(router: Router, state: EmulatorState): void {
  const records = new PayV3Records();
  registerTransactions(router, state, records);
  const refundOrder = registerRefunds(router, state, records);
  registerOrderControl(router, state, records, refundOrder);
  registerCertificates(router, state);
  registerSignTest(router, state);
  registerPayV3Bills(router, state, {
    orders: (mchid) => [...records.orders.values()].filter((o) => o.mchid === mchid),
    refunds: (mchid) => [...records.refunds.values()].filter((r) => r.mchid === mchid),
  });
  registerNotificationLog(router, state);
}
