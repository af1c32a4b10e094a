import type { Router } from '../router.js';
import type { EmulatorState } from '../state.js';
import { registerV2Orders } from './orders.js';
import { PayV2Records } from './records.js';
import { registerV2Refunds } from './refunds.js';

/**
 * WeChat Pay API v2 (api.mch.weixin.qq.com/pay/*, XML): unified order, order query, close, refund
 * and refund query, each checking `sign` (MD5 or HMAC-SHA256 per `sign_type`) with the merchant's
 * APIv2 key and answering signed XML. v2 orders are kept apart from v3 orders.
 * `/secapi/pay/refund` needs the merchant certificate (mutual TLS) on the real host; the emulator
 * serves plain HTTP and does not check it.
 */
export function registerPayV2(router: Router, state: EmulatorState): void {
  const records = new PayV2Records();
  registerV2Orders(router, state, records);
  registerV2Refunds(router, state, records);
}
