/**
 * `weixin-kit/nestjs` — weixin-kit in a NestJS app (Express or Fastify platform): the clients,
 * token stores and session guards of one or more accounts as providers (`WeChatKitModule`,
 * `@InjectWeChat`), WeChat callbacks and Pay notifications served from their raw bytes in a
 * controller (`@WeChatCallbackRoute`, `@PayNotificationRoute`), and the Mini Program session guard
 * as a Nest guard (`@UseGuards(WeChatSession)`, `@WeChatUser()`).
 *
 * `@nestjs/common` and `@nestjs/core` are optional peers, needed only here; the session guard
 * needs those of `weixin-kit/guard` (`jose`, `rate-limiter-flexible`). No decorator metadata is
 * needed (`emitDecoratorMetadata` may stay off): every injection names its token. See
 * docs/nestjs.md.
 */
export {
  DEFAULT_WECHAT_ACCOUNT,
  WeChatAccount,
  type WeChatAccountOptions,
  type WeChatClientClass,
  type WeChatClients,
  type WeChatKitModuleOptions,
  type WeChatProduct,
} from './account.js';
export {
  type CallbackHandlerMethod,
  type CallbackRouteOptions,
  PayNotificationRoute,
  serveCallback,
  WeChatCallbackRoute,
} from './callback-route.js';
export {
  WeChatKitModule,
  type WeChatKitModuleAsyncOptions,
  type WeChatKitModuleRootOptions,
} from './module.js';
export {
  guardNest,
  WeChatSession,
  type WeChatSessionGuard,
  WeChatSessionRefusal,
  WeChatUser,
} from './session.js';
export { getWeChatToken, InjectWeChat, InjectWeChatStore, type WeChatTokenKind } from './tokens.js';
