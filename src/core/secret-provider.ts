/**
 * Secrets given as providers instead of values: read when first needed, cached, re-read on an
 * interval (lazily, on the first use after it), re-read on demand when WeChat refuses the cached
 * value. A provider never shows its value: not in `toString`, `toJSON`, `util.inspect`, errors or
 * hook events.
 */
import { ConfigError, SecretUnavailableError, type WeChatKitError } from '../errors.js';
import { type Clock, defaultClock } from '../internal/bytes.js';
import { callHook } from '../internal/call-hook.js';

/** Marks providers, also across copies of the package (ESM and CJS builds, bundles of entries). */
const BRAND = Symbol.for('weixin-kit.SecretProvider');
const INSPECT = Symbol.for('nodejs.util.inspect.custom');

/** After a failed interval refresh, the next use tries again this long later (or after the interval, if shorter). */
const SECRET_RETRY_AFTER_FAILURE_MS = 30_000;

/** A secret as an option takes it: the value itself, or a {@link SecretProvider} that reads it. */
export type SecretInput = string | SecretProvider;

/** Why a provider read its source: first use, the refresh interval ran out, or a forced re-read. */
export type SecretReadReason = 'first' | 'interval' | 'forced';

/** A provider read its secret. Never carries the value. */
export interface SecretRefreshEvent {
  /** The provider's name (`env:NAME`, `file:PATH`, or the `name` option). */
  provider: string;
  reason: SecretReadReason;
  /** True when the value differs from the one read before (always false on the first read). */
  changed: boolean;
}

/** A provider could not read its secret. Never carries a value. */
export interface SecretRefreshErrorEvent {
  provider: string;
  reason: SecretReadReason;
  /** A {@link SecretUnavailableError} (its `cause` is the reader's own error). */
  error: WeChatKitError;
  /**
   * True when an earlier value exists and is still served (the failure of a refresh); false when
   * nothing was ever read, so the call that needed the secret fails.
   */
  keptPrevious: boolean;
}

/** Options of {@link secretFrom}, {@link secretFromEnv} and {@link secretFromFile}. Unknown keys are rejected. */
export interface SecretProviderOptions {
  /**
   * Read the source again on the first use at least this many ms after the last read (default:
   * never; the value is read once and re-read only by {@link SecretProvider.refresh}, which the
   * clients call when WeChat refuses it). A failed refresh keeps the previous value, reports
   * through `onRefreshError`, and is tried again on a use 30 s later (or one interval later, if
   * shorter).
   */
  refreshIntervalMs?: number | undefined;
  /** Clock in ms (default `Date.now`), for the refresh interval. */
  now?: Clock | undefined;
  /** How errors, events and `util.inspect` name the provider (default `env:NAME`, `file:PATH`, `secretFrom`). Never put the value here. */
  name?: string | undefined;
  /** A read succeeded (`changed` says whether the value is new). */
  onRefresh?: ((event: SecretRefreshEvent) => void) | undefined;
  /**
   * A read failed. Without this hook, a failed refresh that keeps the previous value is reported
   * with `process.emitWarning` (code `WEIXIN_KIT_SECRET_REFRESH`); a failure with nothing to keep
   * reaches the caller as a {@link SecretUnavailableError}.
   */
  onRefreshError?: ((event: SecretRefreshErrorEvent) => void) | undefined;
}

const OPTION_NAMES = new Set(['refreshIntervalMs', 'now', 'name', 'onRefresh', 'onRefreshError']);

/** A provider's own option that cannot be used: the caller's mistake, found where the provider is made. */
function optionError(message: string): ConfigError {
  return new ConfigError('INVALID_CONFIG', message);
}

/**
 * A secret read from somewhere else — an environment variable, a file, a vault — when first
 * needed, then cached. Make one with {@link secretFromEnv}, {@link secretFromFile} or
 * {@link secretFrom}, and pass it wherever a client takes a secret (`secret`, `corpSecret`,
 * `componentSecret`, `apiV3Key`).
 *
 * - Concurrent first uses share one read.
 * - With `refreshIntervalMs`, the first use after the interval reads again (and waits for it); a
 *   failed refresh keeps serving the last good value and reports through `onRefreshError`.
 * - {@link refresh} reads again now: the clients call it when WeChat refuses the cached value
 *   (an AppSecret reset: 40125 / 40001 from a token endpoint; an APIv3 key that no longer
 *   decrypts), then retry once with the new value.
 * - The value never appears in `String(provider)`, `JSON.stringify`, `util.inspect`, errors or
 *   events: only the provider's name does.
 *
 * @example
 * const oa = new OfficialAccount({
 *   appId: process.env.WX_APPID,
 *   secret: secretFrom(() => vault.read('wechat/oa/appsecret'), { refreshIntervalMs: 10 * 60_000 }),
 * });
 */
export class SecretProvider {
  /** The provider's name, as errors and events show it. Never the value. */
  readonly name: string;
  /** The refresh interval in ms, or undefined (read once, re-read only on demand). */
  readonly refreshIntervalMs: number | undefined;
  readonly #read: () => unknown;
  readonly #now: Clock;
  readonly #onRefresh: ((event: SecretRefreshEvent) => void) | undefined;
  readonly #onRefreshError: ((event: SecretRefreshErrorEvent) => void) | undefined;
  #value: string | undefined;
  /** Clock time from which a use reads again (Infinity without an interval). */
  #dueAt = Number.POSITIVE_INFINITY;
  #pending: Promise<string> | undefined;

  /**
   * @param read reads the secret (sync or async); it must give a non-empty string.
   * @param options see {@link SecretProviderOptions}; `name` defaults to `secretFrom`.
   */
  constructor(read: () => string | Promise<string>, options: SecretProviderOptions = {}) {
    if (typeof read !== 'function') {
      throw optionError('secretFrom: read must be a function that returns the secret (or a Promise of it)');
    }
    if (typeof options !== 'object' || options === null) {
      throw optionError('secretFrom: options must be an object');
    }
    for (const key of Object.keys(options)) {
      if (!OPTION_NAMES.has(key)) {
        throw optionError(
          `secret provider: unknown option "${key}" (allowed: ${[...OPTION_NAMES].join(', ')})`,
        );
      }
    }
    const { refreshIntervalMs, now, name, onRefresh, onRefreshError } = options;
    if (
      refreshIntervalMs !== undefined &&
      (typeof refreshIntervalMs !== 'number' || !Number.isFinite(refreshIntervalMs) || refreshIntervalMs <= 0)
    ) {
      throw optionError('secret provider: refreshIntervalMs must be a number of ms above 0');
    }
    if (now !== undefined && typeof now !== 'function') {
      throw optionError('secret provider: now must be a function returning ms');
    }
    if (name !== undefined && (typeof name !== 'string' || name.trim() === '')) {
      throw optionError('secret provider: name must be a non-empty string (never the secret)');
    }
    for (const [hook, fn] of [
      ['onRefresh', onRefresh],
      ['onRefreshError', onRefreshError],
    ] as const) {
      if (fn !== undefined && typeof fn !== 'function') {
        throw optionError(`secret provider: ${hook} must be a function`);
      }
    }
    this.name = name ?? 'secretFrom';
    this.refreshIntervalMs = refreshIntervalMs;
    this.#read = read;
    this.#now = now ?? defaultClock;
    this.#onRefresh = onRefresh;
    this.#onRefreshError = onRefreshError;
    Object.defineProperty(this, BRAND, { value: true });
  }

  /**
   * The secret: the cached value, or — on first use, or the first use after the refresh interval —
   * a fresh read (concurrent callers share it). A failed refresh resolves the previous value; a
   * failed first read rejects with a {@link SecretUnavailableError} (and the next use tries again).
   */
  get(): Promise<string> {
    const value = this.#value;
    if (value !== undefined && this.#now() < this.#dueAt) return Promise.resolve(value);
    const load = this.#pending ?? this.#load(value === undefined ? 'first' : 'interval');
    return load.catch((error: unknown) => {
      const kept = this.#value;
      if (kept !== undefined) return kept;
      throw error;
    });
  }

  /**
   * Reads the source again now (joining a read already under way), e.g. after the secret was
   * changed in the console and in your vault. Resolves the value read; rejects with a
   * {@link SecretUnavailableError} when the read fails, while {@link get} keeps serving the
   * previous value.
   *
   * @example
   * process.on('SIGHUP', () => void provider.refresh().catch(() => {}));
   */
  refresh(): Promise<string> {
    return this.#pending ?? this.#load('forced');
  }

  #load(reason: SecretReadReason): Promise<string> {
    const promise = this.#readOnce(reason).finally(() => {
      if (this.#pending === promise) this.#pending = undefined;
    });
    this.#pending = promise;
    return promise;
  }

  async #readOnce(reason: SecretReadReason): Promise<string> {
    let value: string;
    try {
      const raw = await this.#read();
      if (typeof raw !== 'string' || raw === '') {
        throw new SecretUnavailableError(
          this.name,
          `Secret provider "${this.name}" gave ${raw === '' ? 'an empty string' : `a ${raw === null ? 'null' : typeof raw}`}; it must give the secret as a non-empty string.`,
        );
      }
      value = raw;
    } catch (cause) {
      const error = this.#failure(cause);
      const keptPrevious = this.#value !== undefined;
      if (keptPrevious && reason === 'interval') {
        this.#dueAt =
          this.#now() +
          Math.min(this.refreshIntervalMs ?? SECRET_RETRY_AFTER_FAILURE_MS, SECRET_RETRY_AFTER_FAILURE_MS);
      }
      this.#reportFailure({ provider: this.name, reason, error, keptPrevious });
      throw error;
    }
    const previous = this.#value;
    this.#value = value;
    if (this.refreshIntervalMs !== undefined) this.#dueAt = this.#now() + this.refreshIntervalMs;
    callHook(this.#onRefresh, {
      provider: this.name,
      reason,
      changed: previous !== undefined && previous !== value,
    });
    return value;
  }

  /** The reader's failure as a SecretUnavailableError, with any known value scrubbed from its text. */
  #failure(cause: unknown): WeChatKitError {
    if (cause instanceof SecretUnavailableError) return cause;
    let reason = cause instanceof Error ? `${cause.name}: ${cause.message}` : String(cause);
    const known = this.#value;
    if (known !== undefined && known.length >= 8) reason = reason.split(known).join('[redacted]');
    return new SecretUnavailableError(
      this.name,
      `Secret provider "${this.name}" could not read the secret (${reason}). Check that its source is reachable and holds the secret.`,
      { cause },
    );
  }

  #reportFailure(event: SecretRefreshErrorEvent): void {
    if (this.#onRefreshError !== undefined) {
      callHook(this.#onRefreshError, event);
      return;
    }
    if (event.keptPrevious && typeof process !== 'undefined' && typeof process.emitWarning === 'function') {
      process.emitWarning(`weixin-kit: ${event.error.message} Still using the value read before.`, {
        code: 'WEIXIN_KIT_SECRET_REFRESH',
      });
    }
  }

  /** `[SecretProvider env:WX_SECRET]`: the name, never the value. */
  toString(): string {
    return `[SecretProvider ${this.name}]`;
  }

  /** `{ secretProvider: name }`: what `JSON.stringify` writes, never the value. */
  toJSON(): { secretProvider: string } {
    return { secretProvider: this.name };
  }

  [INSPECT](): string {
    return this.toString();
  }
}

/** True when `value` is a {@link SecretProvider} (also one made by another copy of the package). */
export function isSecretProvider(value: unknown): value is SecretProvider {
  return (
    typeof value === 'object' &&
    value !== null &&
    (value as Record<symbol, unknown>)[BRAND] === true &&
    typeof (value as SecretProvider).get === 'function' &&
    typeof (value as SecretProvider).refresh === 'function'
  );
}

/**
 * A secret read by your own function — typically from a vault or a secrets manager — when first
 * needed, cached, and re-read every `refreshIntervalMs` (lazily, on use) or when WeChat refuses it.
 *
 * @example
 * const secret = secretFrom(async () => (await vault.read('secret/wechat/oa')).data.appSecret, {
 *   name: 'vault:wechat/oa',
 *   refreshIntervalMs: 10 * 60_000,
 *   onRefreshError: (e) => log.warn({ provider: e.provider, code: e.error.code }, 'vault read failed'),
 * });
 * const oa = new OfficialAccount({ appId, secret });
 */
export function secretFrom(
  read: () => string | Promise<string>,
  options: SecretProviderOptions = {},
): SecretProvider {
  return new SecretProvider(read, options);
}

/**
 * A secret read from the environment variable `variable` (an unset or empty variable is a
 * {@link SecretUnavailableError} naming it). Read on first use; with `refreshIntervalMs`, or when
 * WeChat refuses it, `process.env` is read again.
 *
 * @example
 * const mp = new MiniProgram({ appId: process.env.MP_APPID, secret: secretFromEnv('MP_SECRET') });
 */
export function secretFromEnv(variable: string, options: SecretProviderOptions = {}): SecretProvider {
  if (typeof variable !== 'string' || variable === '') {
    throw optionError('secretFromEnv: give the name of the environment variable');
  }
  const name = options.name ?? `env:${variable}`;
  return new SecretProvider(
    () => {
      const value = process.env[variable];
      if (value === undefined || value === '') {
        throw new SecretUnavailableError(
          name,
          `Secret provider "${name}": the environment variable ${variable} is ${value === undefined ? 'not set' : 'empty'}. Set it to the secret.`,
        );
      }
      return value;
    },
    { ...options, name },
  );
}

/**
 * A secret read from a file, e.g. a Docker or Kubernetes secret mount, with trailing line breaks
 * removed (`echo secret > file` adds one). Read on first use; with `refreshIntervalMs` (a mounted
 * secret that is updated in place), or when WeChat refuses it, the file is read again.
 *
 * @example
 * const pay = new PayV3({ …, apiV3Key: secretFromFile('/run/secrets/wechatpay_apiv3_key') });
 */
export function secretFromFile(path: string, options: SecretProviderOptions = {}): SecretProvider {
  if (typeof path !== 'string' || path === '') {
    throw optionError('secretFromFile: give the path of the file that holds the secret');
  }
  const name = options.name ?? `file:${path}`;
  return new SecretProvider(
    async () => {
      // Loaded on first use, so the core entry does not need node:fs to be imported.
      const { readFile } = await import('node:fs/promises');
      let text: string;
      try {
        text = await readFile(path, 'utf8');
      } catch (cause) {
        const code = (cause as { code?: unknown }).code;
        throw new SecretUnavailableError(
          name,
          `Secret provider "${name}": cannot read ${path}${typeof code === 'string' ? ` (${code})` : ''}. Check the path and that this process may read it.`,
          { cause },
        );
      }
      const value = text.replace(/[\r\n]+$/, '');
      if (value === '') {
        throw new SecretUnavailableError(
          name,
          `Secret provider "${name}": ${path} is empty. Write the secret into it.`,
        );
      }
      return value;
    },
    { ...options, name },
  );
}
