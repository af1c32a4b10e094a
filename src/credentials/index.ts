/** Credentials: the token store interface, the in-memory default and the token manager. */
export {
  CredentialConfigError,
  type CredentialErrorCode,
  type CredentialSettings,
} from './credential-errors.js';
export { MemoryStore, type MemoryStoreOptions } from './memory-store.js';
export { TokenCooldownError, type TokenCooldownOptions } from './token-cooldown.js';
export {
  type FetchedToken,
  TokenManager,
  type TokenManagerHooks,
  type TokenManagerOptions,
} from './token-manager.js';
export type {
  Lease,
  StoredToken,
  TokenKind,
  TokenStore,
} from './token-store.js';
