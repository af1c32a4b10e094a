export * from './work.js';
