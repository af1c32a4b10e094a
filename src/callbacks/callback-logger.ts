/**
 * Where the callback pipelines (WeChat / WeCom callbacks, Pay notifications) write their failures,
 * so that a handler's exception is never answered 500 in silence.
 */

import { redactText } from '../core/redact.js';
import { ConfigError } from '../errors.js';
import type { CallbackErrorEvent } from './callback-hooks.js';

/**
 * A logger the pipelines write failures to: `error(fields, message)`, the argument order of pino
 * and bunyan (`logger.child({ …})` works too). Fields carry no secret: no token, no key, no
 * message body.
 *
 * @example
 * import pino from 'pino';
 * createWeChatCallback({ …, logger: pino() });
 * createWeChatCallback({ …, logger: { error: (fields, message) => winston.error(message, fields) } });
 */
export interface CallbackLogger {
  error(fields: CallbackLogFields, message: string): void;
}

/** What is logged with a failure. */
export interface CallbackLogFields {
  /** The error's stable `code` (`BODY_ALREADY_PARSED`, `STORE_UNAVAILABLE`, …), else its name. */
  code: string;
  /** Where it failed: see {@link CallbackErrorEvent.phase}. */
  phase: CallbackErrorEvent['phase'];
  /** The routing key (`text`, `event.subscribe`, `TRANSACTION.SUCCESS`, …), when known. */
  type: string | undefined;
  /** The error itself (pino serialises `err` with its stack). */
  err: unknown;
}

/** Which pipeline logs: names the source in the message. */
export type CallbackSource = 'wechat callback' | 'wecom callback' | 'pay notification';

const WHAT: Record<CallbackErrorEvent['phase'], string> = {
  handler: 'handler failed, answered 500 so that it is retried',
  'late-handler': 'handler failed after the reply budget (success was already answered)',
  reply: 'the passive reply could not be written, answered success',
  dedupe: 'the dedupe store failed, processed anyway',
  internal: 'internal error, answered 500',
  config: 'misconfigured, answered 500',
};

/** The stable code of whatever was thrown: its string `code`, else its name, else `UNKNOWN`. */
export function errorCodeOf(error: unknown): string {
  if (typeof error === 'object' && error !== null) {
    const { code, name } = error as { code?: unknown; name?: unknown };
    if (typeof code === 'string' && code !== '') return code;
    if (typeof name === 'string' && name !== '') return name;
  }
  return 'UNKNOWN';
}

function describeError(error: unknown): string {
  if (error instanceof Error) return error.stack ?? `${error.name}: ${error.message}`;
  return String(error);
}

/**
 * The default logger: one line per failure on `console.error` (or on `write`), with the error's
 * code and its stack folded onto that line; secret query/JSON values (`access_token=`, `secret`,
 * …) are masked. The error's `cause` is left out, as `WeChatKitError.toJSON` does.
 *
 * @example
 * const lines: string[] = [];
 * createWeChatCallback({ …, logger: consoleLogger((line) => lines.push(line)) });
 */
export function consoleLogger(write: (line: string) => void = (line) => console.error(line)): CallbackLogger {
  return {
    error(fields, message) {
      const type = fields.type === undefined ? '' : ` type=${fields.type}`;
      // Only the error's own text may carry a secret (and `code=` in our framing is no OAuth code).
      const detail = redactText(describeError(fields.err).replace(/\s*\n\s*/g, ' ↵ '));
      write(`[weixin-kit] ${message} (code=${fields.code} phase=${fields.phase}${type}): ${detail}`);
    },
  };
}

/**
 * The logger a pipeline uses: the one given; else, when the user observes errors through
 * `hooks.onError`, none (their hook is the sink); else {@link consoleLogger}.
 */
export function resolveLogger(
  logger: unknown,
  hasOnError: boolean,
  fail: (message: string) => ConfigError,
): CallbackLogger | undefined {
  if (logger === undefined) return hasOnError ? undefined : consoleLogger();
  if (
    typeof logger !== 'object' ||
    logger === null ||
    typeof (logger as CallbackLogger).error !== 'function'
  ) {
    throw fail('logger must have an error(fields, message) method (pino, bunyan, or your own)');
  }
  return logger as CallbackLogger;
}

/** Writes an error event to `logger`; a logger that throws changes nothing. */
export function logCallbackError(
  logger: CallbackLogger | undefined,
  source: CallbackSource,
  event: CallbackErrorEvent,
): void {
  if (logger === undefined) return;
  try {
    logger.error(
      { code: errorCodeOf(event.error), phase: event.phase, type: event.type, err: event.error },
      `${source}: ${WHAT[event.phase]}`,
    );
  } catch {
    // A logging failure must never change what WeChat is answered.
  }
}

/** The error reported when an adapter finds the body already parsed by a body parser. */
export function bodyAlreadyParsed(message: string): ConfigError {
  return new ConfigError('BODY_ALREADY_PARSED', message);
}
