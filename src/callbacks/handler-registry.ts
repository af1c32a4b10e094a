import { ConfigError } from '../core/errors.js';

/**
 * Adds `handler` under `type`, refusing an empty type, a non-function and a second handler for
 * the same type — the registration rules shared by WeChat callbacks and Pay notifications.
 */
export function addHandler(handlers: Map<string, unknown>, type: string, handler: unknown): void {
  if (typeof type !== 'string' || type === '')
    throw new ConfigError('INVALID_ARGUMENT', 'on(type, handler): type must be a non-empty string');
  if (typeof handler !== 'function')
    throw new ConfigError('INVALID_ARGUMENT', `on('${type}', handler): handler must be a function`);
  if (handlers.has(type)) {
    throw new ConfigError('INVALID_ARGUMENT', `on('${type}'): a handler is already registered for this type`);
  }
  handlers.set(type, handler);
}
