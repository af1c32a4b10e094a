export * from './authorizer-callback.js';
export * from './authorizer-mini-program.js';
export * from './open-platform.js';
