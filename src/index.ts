/**
 * `wechat-kit` — the server side of WeChat. The root entry re-exports the protocol core; product
 * clients, callbacks and the emulator join it (and get their own subpaths) as they land.
 */

export * from './credentials/index.js';
export * from './crypto/index.js';
