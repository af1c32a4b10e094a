/**
 * Errors thrown by wechat-kit. Every error carries a stable string `code` that programs can
 * switch on; messages are for humans, say what to do, and never contain a secret.
 */

/** Every stable error code wechat-kit emits. New codes are only ever added, never renamed. */
export type ErrorCode =
  // signatures and replay windows
  | 'SIGNATURE_MISMATCH'
  | 'TIMESTAMP_EXPIRED'
  // ciphers
  | 'APPID_MISMATCH'
  | 'BAD_PADDING'
  | 'BAD_CIPHERTEXT'
  | 'DECRYPT_FAILED'
  | 'UNSUPPORTED_ALGORITHM'
  // configuration and keys
  | 'BAD_AES_KEY'
  | 'BAD_KEY'
  | 'INVALID_CONFIG'
  | 'INVALID_ARGUMENT'
  // payloads
  | 'BAD_XML'
  | 'XML_FORBIDDEN'
  | 'XML_TOO_LARGE'
  | 'BAD_BODY';

/** Options accepted by every wechat-kit error constructor. */
export interface WeChatKitErrorOptions {
  /** The lower-level error, if any. Never put a secret in it. */
  cause?: unknown;
}

/**
 * Base class of every error wechat-kit throws.
 *
 * @example
 * try { crypto.open(req) } catch (e) {
 *   if (e instanceof WeChatKitError && e.code === 'SIGNATURE_MISMATCH') return reply(401);
 *   throw e;
 * }
 */
export class WeChatKitError extends Error {
  /** Stable machine-readable code; see {@link ErrorCode}. */
  readonly code: ErrorCode;

  constructor(code: ErrorCode, message: string, options?: WeChatKitErrorOptions) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.name = new.target.name;
  }

  /** A log-friendly shape: name, code and message (the cause is left out on purpose). */
  toJSON(): { name: string; code: ErrorCode; message: string } {
    return { name: this.name, code: this.code, message: this.message };
  }
}

/** A signature did not match, or its timestamp is outside the replay window. */
export class SignatureError extends WeChatKitError {
  /**
   * True when the signature is a WeChat Pay `WECHATPAY/SIGNTEST/` probe: WeChat Pay sends these
   * on purpose to check that merchants really verify signatures. Refusing it is correct.
   */
  readonly probe: boolean;

  constructor(
    code: 'SIGNATURE_MISMATCH' | 'TIMESTAMP_EXPIRED',
    message: string,
    options?: WeChatKitErrorOptions & { probe?: boolean },
  ) {
    super(code, message, options);
    this.probe = options?.probe ?? false;
  }
}

/** Ciphertext that cannot be decrypted, or decrypts to something that must be refused. */
export class CryptoError extends WeChatKitError {}

/** A configuration value (key, certificate, option) that cannot be used as given. */
export class ConfigError extends WeChatKitError {}

/** A payload (XML, JSON envelope) that is malformed, too large or forbidden. */
export class PayloadError extends WeChatKitError {}

/** True when `value` is a wechat-kit error, optionally with the given code. */
export function isWeChatKitError(value: unknown, code?: ErrorCode): value is WeChatKitError {
  return value instanceof WeChatKitError && (code === undefined || value.code === code);
}
