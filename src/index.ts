/**
 * `weixin-kit` — the server side of WeChat. The root entry re-exports the protocol core; product
 * clients, callbacks and the emulator join it (and get their own subpaths) as they land.
 */

export * from './callbacks/index.js';
export type { ApiRequestOptions } from './core/api-client.js';
export { ApiClient } from './core/api-client.js';
export { APIPromise } from './core/api-promise.js';
export type { ClientHooks, ClientOptions, TokenClientOptions } from './core/client-options.js';
export type { Logger } from './core/logger.js';
export { redactText, redactUrl, redactValue } from './core/redact.js';
export type { RequestOptions, ResponseMeta, WithResponse } from './core/request-options.js';
export * from './core/transport.js';
export { joinUrl } from './core/url.js';
export * from './credentials/index.js';
export * from './crypto/index.js';
export * from './mini-program/index.js';
export * from './official-account/index.js';
export * from './open-platform/index.js';
export * from './pay/index.js';
export * from './work/index.js';
