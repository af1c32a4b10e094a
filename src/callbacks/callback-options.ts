import { AuditLog } from '../core/audit.js';
import type { SecurityEventHandler } from '../core/security-events.js';
import { BAD_TRACING_OPTION, isTracing, type Tracing } from '../core/tracing.js';
import { decodeEncodingAESKey } from '../crypto/message-cipher.js';
import { ConfigError, type ErrorCode, isWeChatKitError } from '../errors.js';
import type { Clock, RandomSource } from '../internal/bytes.js';
import { HOOK_NAMES } from '../internal/callback-hooks.js';
import { isScheduler, type Scheduler, systemScheduler } from '../internal/timers.js';
import { type CallbackAllowlist, isCallbackAllowlist } from './callback-allowlist.js';
import type { CallbackHooks } from './callback-hooks.js';
import { type CallbackLogger, resolveLogger } from './callback-logger.js';
import type { DedupeStore } from './dedupe-store.js';

/**
 * The console's message encryption mode (消息加解密方式), enforced on every push:
 * - `safe` (安全模式): every push must be encrypted and carry `msg_signature`; a plaintext body is
 *   refused, so a captured URL signature cannot be replayed with a forged plaintext body.
 * - `compatible` (兼容模式): an encrypted push (`encrypt_type=aes`) is verified and decrypted, a
 *   plaintext one is accepted as is. Its body is then only as trustworthy as in `plain` mode.
 * - `plain` (明文模式): only plaintext pushes are accepted; an encrypted one is refused (the app's
 *   console setting and this option disagree). The URL `signature` does not cover the body: in this
 *   mode anyone holding a recent signed URL can change the body. Prefer `safe`.
 */
export type MessageMode = 'safe' | 'compatible' | 'plain';

/** Options every callback flavour shares (WeChat and WeCom). */
export interface SharedCallbackOptions {
  /** Replay window for `timestamp`, seconds either way (default 300). */
  maxSkewSeconds?: number;
  /** Where processed pushes are remembered (default: a {@link MemoryDedupeStore} per callback). */
  dedupe?: DedupeStore;
  /**
   * The least time a push is remembered, ms. Default `(maxSkewSeconds + 60) * 1000` (6 min):
   * WeChat's retries arrive within ~15 s. Whatever this is, a push is also remembered until its
   * own `timestamp` leaves the replay window (`timestamp + maxSkewSeconds`, plus 60 s for clock
   * differences between instances), so a captured push replayed while it still passes the
   * signature and timestamp checks — even one stamped ahead of this server's clock — is a duplicate.
   */
  dedupeTtlMs?: number;
  /**
   * Time a push may take before `success` is answered in the handler's place, ms (default 4500,
   * under WeChat's 5 s). The handler keeps running; its reply goes to `hooks.onLateReply`.
   */
  replyBudgetMs?: number;
  /** Clock in ms (default `Date.now`): timestamp window, reply CreateTime / TimeStamp. */
  now?: Clock;
  /**
   * Timers for `replyBudgetMs` (default: the global `setTimeout`/`clearTimeout`). A test passes
   * a manual scheduler and advances it instead of waiting for the budget to run out.
   */
  scheduler?: Scheduler;
  /** Randomness for reply encryption (default: CSPRNG). */
  random?: RandomSource;
  hooks?: CallbackHooks;
  /**
   * Where failures (a handler that threw, a dedupe store down, a body parser mounted before the
   * route…) are written: `logger.error(fields, message)`, pino-style. Default: one line on
   * `console.error` ({@link consoleLogger}) — unless `hooks.onError` is given, which then is the
   * only sink.
   */
  logger?: CallbackLogger;
  /**
   * Answers only requests from WeChat's callback addresses (and the allowlist's static ones): a
   * request from elsewhere is refused with 403 `IP_NOT_ALLOWED` before any signature work, counted
   * by the allowlist and reported to `hooks.onRefused`. Made by `createCallbackAllowlist` (see
   * docs/allowlist.md); one allowlist can serve several callbacks.
   */
  allowlist?: CallbackAllowlist;
  /**
   * Writes one audit record per request (made by `createAuditLog`): request id, route, status,
   * outcome, message type, latency, app id, the user as a keyed hash of the openid, client address.
   */
  audit?: AuditLog;
  /**
   * Receives security events: forged signatures (`signature_failed`), pushes outside the replay
   * window (`replay`), plaintext pushes to a safe-mode endpoint (`downgrade`), refused addresses
   * (`allowlist_refused`). See docs/security-events.md.
   */
  onSecurityEvent?: SecurityEventHandler;
  /**
   * Traces each request as a server span (`WeChat callback POST`, `WeCom callback POST`) that
   * continues the caller's trace and is active while the handlers run, so the calls they make are
   * its children; attributes: status, routing key (`wechat.callback.type`), refusal code
   * (`error.type`). Get one from `otelTracing()` in `weixin-kit/otel`. Default: none.
   */
  tracing?: Tracing;
}

/** Options of {@link createWeChatCallback}. Unknown keys are refused. */
export interface WeChatCallbackOptions extends SharedCallbackOptions {
  /**
   * The ReceiveId checked inside every encrypted push: the AppID of an Official Account or Mini
   * Program; for an Open Platform third-party platform, its component AppID.
   */
  appId: string;
  /**
   * The Token of the server configuration (服务器配置). While changing it, a list with the
   * current one first: a request signed with any of them is accepted, and a reply is signed with
   * the token its push was signed with (see docs/rotation.md and `hooks.onSecretFallback`).
   */
  token: string | readonly string[];
  /**
   * The 43-character EncodingAESKey; required in `safe` and `compatible` mode. While changing it,
   * a list with the current one first: a push opens with whichever key it was encrypted with, and
   * its passive reply is encrypted with that same key (see docs/rotation.md).
   */
  encodingAESKey?: string | readonly string[];
  mode: MessageMode;
  /** `json` for a Mini Program whose 数据格式 is JSON; default `xml`. */
  format?: 'xml' | 'json';
}

/**
 * Options of {@link createWeComCallback}: a WeCom (企业微信) app's callback (接收消息服务器配置).
 * There is no message mode: WeCom always encrypts, so `encodingAESKey` is required and every
 * request (the URL-verification GET included) is authenticated by `msg_signature`. Unknown keys
 * are refused.
 *
 * @example
 * createWeComCallback({
 *   corpId: 'ww1234567890abcdef', // 企业ID (我的企业 → 企业信息)
 *   token: process.env.WECOM_CALLBACK_TOKEN!,
 *   encodingAESKey: process.env.WECOM_CALLBACK_AES_KEY!,
 *   dedupe: new RedisDedupeStore(redis),
 * });
 */
export interface WeComCallbackOptions extends SharedCallbackOptions {
  /**
   * The ReceiveId checked inside every encrypted request: the corp id (企业ID, `ww…`/`wx…`) for a
   * self-built app's callback; the suite id for a third-party app's instruction callback (指令回调);
   * `''` for a personal-subject third-party app.
   */
  corpId: string;
  /** The Token of the callback configuration (API接收消息); a list, current first, while changing it. */
  token: string | readonly string[];
  /**
   * The 43-character EncodingAESKey of the callback configuration; a list, current first, while
   * changing it (a request opens with whichever key it was encrypted with; its reply uses that key).
   */
  encodingAESKey: string | readonly string[];
}

/** Which platform's callback protocol a pipeline speaks. */
export type CallbackProduct = 'wechat' | 'wecom';

/** Options with their defaults filled in. */
export interface ResolvedCallbackOptions {
  product: CallbackProduct;
  /** The ReceiveId: AppID, component AppID, or (WeCom) corp id / suite id. */
  appId: string;
  /** The tokens, current first (one for most callbacks). */
  tokens: readonly string[];
  /** The EncodingAESKeys, current first; `undefined` when none is configured (plain mode). */
  encodingAESKeys: readonly string[] | undefined;
  mode: MessageMode;
  format: 'xml' | 'json';
  maxSkewSeconds: number;
  dedupe: DedupeStore | undefined;
  dedupeTtlMs: number;
  replyBudgetMs: number;
  now: Clock;
  scheduler: Scheduler;
  random: RandomSource | undefined;
  hooks: CallbackHooks;
  /** `undefined` when `hooks.onError` is the sink. */
  logger: CallbackLogger | undefined;
  allowlist: CallbackAllowlist | undefined;
  audit: AuditLog | undefined;
  onSecurityEvent: SecurityEventHandler | undefined;
  tracing: Tracing | undefined;
}

export const DEFAULT_REPLY_BUDGET_MS = 4500;
const KEYS = new Set([
  'appId',
  'token',
  'encodingAESKey',
  'mode',
  'format',
  'maxSkewSeconds',
  'dedupe',
  'dedupeTtlMs',
  'replyBudgetMs',
  'now',
  'scheduler',
  'random',
  'hooks',
  'logger',
  'allowlist',
  'audit',
  'onSecurityEvent',
  'tracing',
]);

const WECOM_KEYS = new Set([
  'corpId',
  'token',
  'encodingAESKey',
  'maxSkewSeconds',
  'dedupe',
  'dedupeTtlMs',
  'replyBudgetMs',
  'now',
  'scheduler',
  'random',
  'hooks',
  'logger',
  'allowlist',
  'audit',
  'onSecurityEvent',
  'tracing',
]);

type Fail = (message: string, code?: ErrorCode) => ConfigError;

function failFor(factory: string): Fail {
  return (message, code = 'INVALID_CONFIG') => new ConfigError(code, `${factory}: ${message}`);
}

const bad = failFor('createWeChatCallback');

function positive(value: unknown, name: string, fallback: number, max: number, fail: Fail): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0 || value > max) {
    throw fail(`${name} must be a number above 0 and at most ${max}`);
  }
  return value;
}

/** True when `options` are WeCom options (they name a `corpId`, not an `appId`). */
export function isWeComOptions(options: unknown): options is WeComCallbackOptions {
  return typeof options === 'object' && options !== null && 'corpId' in options && !('appId' in options);
}

/** Validates {@link WeComCallbackOptions}; throws `ConfigError` (`INVALID_CONFIG`). */
export function resolveWeComCallbackOptions(input: WeComCallbackOptions): ResolvedCallbackOptions {
  const fail = failFor('createWeComCallback');
  if (typeof input !== 'object' || input === null) throw fail('options must be an object');
  for (const key of Object.keys(input)) {
    if (!WECOM_KEYS.has(key)) throw fail(`unknown option "${key}" (allowed: ${[...WECOM_KEYS].join(', ')})`);
  }
  const { corpId, encodingAESKey, ...rest } = input;
  if (typeof corpId !== 'string') {
    throw fail(
      'corpId is required: the corp id (企业ID), or the suite id for a third-party instruction callback',
    );
  }
  if (typeof encodingAESKey !== 'string' && !Array.isArray(encodingAESKey)) {
    throw fail('encodingAESKey is required: WeCom always encrypts callbacks');
  }
  return {
    ...resolve({ ...rest, appId: corpId, encodingAESKey, mode: 'safe' }, fail, true),
    product: 'wecom',
  };
}

/** Validates {@link WeChatCallbackOptions}; throws `ConfigError` (`INVALID_CONFIG`). */
export function resolveCallbackOptions(input: WeChatCallbackOptions): ResolvedCallbackOptions {
  if (typeof input !== 'object' || input === null) throw bad('options must be an object');
  for (const key of Object.keys(input)) {
    if (!KEYS.has(key)) throw bad(`unknown option "${key}" (allowed: ${[...KEYS].join(', ')})`);
  }
  return resolve(input, bad, false);
}

function resolve(input: WeChatCallbackOptions, fail: Fail, allowEmptyId: boolean): ResolvedCallbackOptions {
  const { appId, token, encodingAESKey, mode, format, dedupe, now, scheduler, random, hooks, logger } = input;
  if (typeof appId !== 'string' || (appId === '' && !allowEmptyId)) {
    throw fail('appId is required: the AppID (for an Open Platform platform, its component AppID)');
  }
  const tokens = secretList(token, 'token', fail, () =>
    fail('token is required: the Token from the server configuration page'),
  );
  if (mode !== 'safe' && mode !== 'compatible' && mode !== 'plain') {
    throw fail('mode must be "safe", "compatible" or "plain", as set in the console (消息加解密方式)');
  }
  const encodingAESKeys =
    encodingAESKey === undefined
      ? undefined
      : aesKeyList(
          secretList(encodingAESKey, 'encodingAESKey', fail, () =>
            fail('encodingAESKey must be the 43-character string from the console'),
          ),
          typeof encodingAESKey === 'string',
          fail,
        );
  if (mode !== 'plain' && encodingAESKeys === undefined) {
    throw fail(`encodingAESKey is required in ${mode} mode`);
  }
  if (format !== undefined && format !== 'xml' && format !== 'json')
    throw fail('format must be "xml" or "json"');
  if (
    dedupe !== undefined &&
    (typeof dedupe !== 'object' || dedupe === null || typeof dedupe.claim !== 'function')
  ) {
    throw fail('dedupe must be a DedupeStore ({ claim(key, ttlMs) })');
  }
  if (now !== undefined && typeof now !== 'function') throw fail('now must be a function returning ms');
  if (scheduler !== undefined && !isScheduler(scheduler)) {
    throw fail('scheduler must be an object with setTimeout(fn, ms) and clearTimeout(handle)');
  }
  if (random !== undefined && typeof random !== 'function')
    throw fail('random must be a function (size) => bytes');
  if (hooks !== undefined) {
    if (typeof hooks !== 'object' || hooks === null) throw fail('hooks must be an object');
    // A plain object literal is checked for typos; an instance (a logger class) may have other members.
    const proto = Object.getPrototypeOf(hooks);
    if (proto === Object.prototype || proto === null) {
      for (const name of Object.keys(hooks)) {
        if (!(HOOK_NAMES as readonly string[]).includes(name)) {
          throw fail(`unknown hook "${name}" (allowed: ${HOOK_NAMES.join(', ')})`);
        }
      }
    }
    for (const name of HOOK_NAMES) {
      const hook = hooks[name];
      if (hook !== undefined && typeof hook !== 'function') throw fail(`hooks.${name} must be a function`);
    }
  }
  const maxSkewSeconds = positive(input.maxSkewSeconds, 'maxSkewSeconds', 300, 86_400, fail);
  return {
    product: 'wechat',
    appId,
    tokens,
    encodingAESKeys,
    mode,
    format: format ?? 'xml',
    maxSkewSeconds,
    dedupe,
    dedupeTtlMs: positive(
      input.dedupeTtlMs,
      'dedupeTtlMs',
      (maxSkewSeconds + 60) * 1000,
      7 * 86_400_000,
      fail,
    ),
    replyBudgetMs: positive(input.replyBudgetMs, 'replyBudgetMs', DEFAULT_REPLY_BUDGET_MS, 60_000, fail),
    now: now ?? Date.now,
    scheduler: scheduler ?? systemScheduler,
    random,
    hooks: hooks ?? {},
    logger: resolveLogger(logger, typeof hooks?.onError === 'function', fail),
    allowlist: resolveAllowlist(input.allowlist, fail),
    audit: resolveAudit(input.audit, fail),
    onSecurityEvent: resolveSecurityHandler(input.onSecurityEvent, fail),
    tracing: resolveTracing(input.tracing, fail),
  };
}

/** Checks an `allowlist` option: a {@link CallbackAllowlist} (from `createCallbackAllowlist`) or nothing. */
export function resolveAllowlist(
  value: unknown,
  fail: (message: string) => ConfigError,
): CallbackAllowlist | undefined {
  if (value === undefined) return undefined;
  if (!isCallbackAllowlist(value)) {
    throw fail('allowlist must be an allowlist made by createCallbackAllowlist({ client, static, … })');
  }
  return value;
}

/** Checks a `tracing` option: a {@link Tracing} (e.g. `otelTracing()`) or nothing. */
export function resolveTracing(value: unknown, fail: (message: string) => ConfigError): Tracing | undefined {
  if (value === undefined) return undefined;
  if (!isTracing(value)) throw fail(BAD_TRACING_OPTION);
  return value;
}

/** Checks an `audit` option: an {@link AuditLog} (from `createAuditLog`) or nothing. */
export function resolveAudit(value: unknown, fail: (message: string) => ConfigError): AuditLog | undefined {
  if (value === undefined) return undefined;
  if (!(value instanceof AuditLog))
    throw fail('audit must be an audit log made by createAuditLog({ logger, userKey })');
  return value;
}

/** Checks an `onSecurityEvent` option: a function or nothing. */
export function resolveSecurityHandler(
  value: unknown,
  fail: (message: string) => ConfigError,
): SecurityEventHandler | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'function') throw fail('onSecurityEvent must be a function (event) => void');
  return value as SecurityEventHandler;
}

/**
 * A secret option given as one value or as a list with the current value first (rotation): the
 * values, checked to be non-empty strings listed once each. `missing` is the error for a value
 * that is neither a string nor an array (the option's usual "required" message).
 */
function secretList(value: unknown, name: string, fail: Fail, missing: () => ConfigError): string[] {
  if (typeof value === 'string') {
    if (value === '') throw missing();
    return [value];
  }
  if (!Array.isArray(value)) throw missing();
  if (value.length === 0) {
    throw fail(
      `${name} is an empty list: give the current value (while rotating: the current one first, then the previous)`,
    );
  }
  const list: string[] = [];
  for (const [index, item] of value.entries()) {
    if (typeof item !== 'string' || item === '') throw fail(`${name}[${index}] must be a non-empty string`);
    const first = list.indexOf(item);
    if (first !== -1) throw fail(`${name}[${index}] repeats ${name}[${first}]: list each value once`);
    list.push(item);
  }
  return list;
}

/**
 * Checks that every EncodingAESKey decodes to 32 bytes and that no two are the same key (two
 * spellings may differ only in the 2 bits the last character carries but the key does not use).
 * A single string keeps the cipher's own error; a list's error names the index.
 */
function aesKeyList(keys: string[], single: boolean, fail: Fail): string[] {
  const decoded: string[] = [];
  for (const [index, key] of keys.entries()) {
    let bytes: string;
    try {
      bytes = decodeEncodingAESKey(key).toString('hex');
    } catch (error) {
      if (single || !isWeChatKitError(error)) throw error;
      throw fail(`encodingAESKey[${index}]: ${error.message}`, error.code);
    }
    const first = decoded.indexOf(bytes);
    if (first !== -1) {
      throw fail(
        `encodingAESKey[${index}] is the same key as encodingAESKey[${first}]` +
          (keys[first] === key ? '' : ' (they differ only in the unused bits of the last character)') +
          ': list each key once',
      );
    }
    decoded.push(bytes);
  }
  return keys;
}
