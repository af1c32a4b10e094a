import type { Router } from '../router.js';
import type { EmulatorState } from '../state.js';
import { registerFollowers } from './followers.js';
import { registerMenus } from './menus.js';
import { registerQrCodes } from './qrcodes.js';
import { registerTemplateMessages } from './template-messages.js';
import { registerWebOAuth } from './web-oauth.js';

/**
 * The Official Account (公众号) APIs: followers, custom menus, template messages, parametric QR
 * codes and web OAuth. What Mini Programs share with them (tokens, media, customer-service
 * messages, pushes) is in `../platform/`.
 */
export function registerOfficialAccount(router: Router, state: EmulatorState): void {
  registerFollowers(router, state);
  registerMenus(router, state);
  registerTemplateMessages(router, state);
  registerQrCodes(router, state);
  registerWebOAuth(router, state);
}
