export * from './suite.js';
export * from './work.js';
