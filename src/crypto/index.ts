/**
 * `weixin-kit/crypto` — the pure protocol core: signatures, message crypto, Pay v2/v3 signing
 * and verification, AEAD, OAEP, key loading and the WeChat XML codec. No I/O.
 */
export * from '../core/errors.js';
export type { Clock, RandomSource } from '../internal/bytes.js';
export * from '../xml/index.js';
export * from './jssdk.js';
export * from './keys.js';
export * from './message-cipher.js';
export * from './message-crypto.js';
export * from './mini-program.js';
export * from './mp-api-security.js';
export * from './pay-v2.js';
export * from './pay-v3.js';
export * from './server-signature.js';
export * from './timestamp.js';
