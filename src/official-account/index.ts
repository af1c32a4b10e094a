export * from './oauth-state.js';
export * from './official-account.js';
