import type { Router } from '../router.js';
import type { EmulatorState } from '../state.js';
import { registerApiSecurity } from './api-security.js';
import { registerContentSecurity } from './content-security.js';
import { registerLogin } from './login.js';
import { registerPhoneNumber } from './phone-number.js';
import { registerSubscribeMessages } from './subscribe-messages.js';
import { registerWxaCode } from './wxacode.js';

/**
 * The Mini Program (小程序) APIs: login and session checks, phone numbers, content security,
 * subscribe messages, unlimited wxacodes and server-API security (`wxa/getuserriskrank`). What
 * they share with Official Accounts (tokens, media, customer-service messages, pushes) is in
 * `../platform/`.
 */
export function registerMiniProgram(router: Router, state: EmulatorState): void {
  registerApiSecurity(router, state);
  registerLogin(router, state);
  registerPhoneNumber(router, state);
  registerContentSecurity(router, state);
  registerSubscribeMessages(router, state);
  registerWxaCode(router, state);
}
