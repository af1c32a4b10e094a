export * from './authorizer-callback.js';
export * from './authorizer-mini-program.js';
export * from './open-platform.js';
export {
  AUTHORIZER_REFRESH_WINDOW_MS,
  type AuthorizerRefreshOptions,
  AuthorizerRefreshTimeoutError,
  DEFAULT_AUTHORIZER_REFRESH_JITTER_SECONDS,
  DEFAULT_AUTHORIZER_REFRESH_MAX_WAIT_MS,
} from './refresh-rate.js';
