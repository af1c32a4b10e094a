/**
 * The logger every part of weixin-kit accepts: pino's calling convention (`level(fields, message)`),
 * so a pino, bunyan or console-backed logger works as is. Fields never carry a secret.
 *
 * @example
 * import pino from 'pino';
 * const oa = new OfficialAccount({ appId, secret, logger: pino() });
 */
export interface Logger {
  error(fields: Record<string, unknown>, message: string): void;
  warn?(fields: Record<string, unknown>, message: string): void;
  info?(fields: Record<string, unknown>, message: string): void;
}

/** True when `value` has at least an `error(fields, message)` method. */
export function isLogger(value: unknown): value is Logger {
  return typeof value === 'object' && value !== null && typeof (value as Logger).error === 'function';
}
