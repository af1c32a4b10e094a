import type { Router } from '../router.js';
import type { EmulatorState } from '../state.js';
import { registerAccessToken } from './access-token.js';
import { registerMedia } from './media.js';
import { registerMessages } from './messages.js';
import { registerNetwork } from './network.js';
import { registerPush } from './push.js';
import { registerTickets } from './tickets.js';
import { registerUsers } from './users.js';

/**
 * What Official Accounts and Mini Programs share on api.weixin.qq.com: access tokens, JS-SDK
 * tickets, temporary media, customer-service messages, users, the message pushes WeChat sends
 * to an app's callbackUrl, and the network APIs (`callback/check`; `getcallbackip` is served with
 * WeCom's route of the same path), with their control routes.
 */
export function registerPlatform(router: Router, state: EmulatorState): void {
  registerAccessToken(router, state);
  registerUsers(router, state);
  registerMessages(router, state);
  registerTickets(router, state);
  registerMedia(router, state);
  registerPush(router, state);
  registerNetwork(router, state);
}
