import type { Router } from '../router.js';
import type { EmulatorState } from '../state.js';
import { registerWeComAccessToken, WeComTokens } from './access-token.js';
import { registerWeComMembers } from './members.js';
import { registerWeComMessages } from './messages.js';
import { registerWeComNetwork } from './network.js';
import { registerWeComPush } from './push.js';
import { registerWeComSuites } from './suites.js';

/**
 * The qyapi.weixin.qq.com part of the emulator (企业微信): `gettoken` per (corpid, agent secret),
 * app message send, member get and the server address ranges (`getcallbackip`,
 * `get_api_domain_ip`), with their control routes; pushes to self-built apps
 * (`/_emulator/wecom/push`); third-party apps (suites: suite_ticket, suite token, install flow,
 * corp tokens, authorisation events, data-callback pushes).
 */
export function registerWeCom(router: Router, state: EmulatorState): void {
  const tokens = new WeComTokens(state);
  registerWeComAccessToken(router, state, tokens);
  registerWeComMessages(router, state, tokens);
  registerWeComMembers(router, state, tokens);
  registerWeComNetwork(router, state, tokens);
  registerWeComPush(router, state);
  registerWeComSuites(router, state, tokens);
}
