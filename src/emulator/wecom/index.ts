import type { Router } from '../router.js';
import type { EmulatorState } from '../state.js';
import { registerWeComAccessToken, WeComTokens } from './access-token.js';
import { registerWeComMembers } from './members.js';
import { registerWeComMessages } from './messages.js';
import { registerWeComNetwork } from './network.js';

/**
 * The qyapi.weixin.qq.com part of the emulator (企业微信): `gettoken` per (corpid, agent secret),
 * app message send, member get and the server address ranges (`getcallbackip`,
 * `get_api_domain_ip`), with their control routes.
 */
export function registerWeCom(router: Router, state: EmulatorState): void {
  const tokens = new WeComTokens(state);
  registerWeComAccessToken(router, state, tokens);
  registerWeComMessages(router, state, tokens);
  registerWeComMembers(router, state, tokens);
  registerWeComNetwork(router, state, tokens);
}
