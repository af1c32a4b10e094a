export * from './open-platform.js';
