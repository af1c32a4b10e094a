export * from './mini-program.js';
