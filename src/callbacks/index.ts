/**
 * `callbacks/` — the verified pipeline for WeChat pushes: verify → timestamp window → decrypt →
 * parse → dedupe → route → reply, framework-neutral. Adapters wrap {@link WeChatCallback.handle}.
 */

export type { Scheduler } from '../internal/timers.js';
export * from './callback-allowlist.js';
export type * from './callback-hooks.js';
export type { CallbackLogFields, CallbackLogger, CallbackSource } from './callback-logger.js';
export { consoleLogger } from './callback-logger.js';
export type {
  CallbackProduct,
  MessageMode,
  SharedCallbackOptions,
  WeChatCallbackOptions,
  WeComCallbackOptions,
} from './callback-options.js';
export { DEFAULT_REPLY_BUDGET_MS } from './callback-options.js';
export * from './dedupe-store.js';
export * from './messages.js';
export * from './pay-notification.js';

export type * from './replies.js';
export { isReply, MAX_NEWS_ARTICLES, reply } from './replies.js';
export * from './types.js';
export * from './wechat-callback.js';
