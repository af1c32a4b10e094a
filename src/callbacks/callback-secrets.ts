/**
 * The tokens and EncodingAESKeys of one callback, current first, and which of them opened a
 * request. Internal to the callback pipeline.
 *
 * A list exists only while a secret is being changed in the console, and WeChat switches the moment
 * the change is saved: a request is checked against every listed value, and its passive reply is
 * signed with the token and encrypted with the key that opened it, since those are the ones WeChat
 * used and will use to read the reply (the Open Platform's 加密解密技术方案: "回包时，用哪个 AESKey
 * 解密成功，则用此 AESKey 加密对应的回包"). With one value the work is exactly that of a single
 * `MessageCrypto`: one signature, one decryption.
 */
import type { MessageCipher } from '../crypto/message-cipher.js';
import {
  computeMessageSignature,
  MessageCrypto,
  type SealedMessage,
  type SealOptions,
  verifyMessageSignature,
} from '../crypto/message-crypto.js';
import { computeServerSignature, verifyServerSignature } from '../crypto/server-signature.js';
import { CryptoError } from '../errors.js';
import { type RandomSource, safeEqual } from '../internal/bytes.js';

/** Where in their lists the token and the key that opened a request are (0: the current one). */
export interface SecretIndexes {
  token: number;
  /** `0` as well for a request that was not encrypted. */
  key: number;
}

/** What {@link CallbackSecrets} is built from (already validated by the callback options). */
export interface CallbackSecretsOptions {
  tokens: readonly string[];
  encodingAESKeys: readonly string[] | undefined;
  receiveId: string;
  random: RandomSource | undefined;
}

export class CallbackSecrets {
  readonly #tokens: readonly string[];
  readonly #keys: readonly string[];
  readonly #receiveId: string;
  readonly #random: RandomSource | undefined;
  /** One per key; the crypto of key `k` with the current token is `#sealers` entry `k`. */
  readonly #ciphers: readonly MessageCipher[];
  /** Sealers by `token * keys + key`, made when first needed (only (0, k) exist up front). */
  readonly #sealers = new Map<number, MessageCrypto>();

  constructor(options: CallbackSecretsOptions) {
    this.#tokens = options.tokens;
    this.#keys = options.encodingAESKeys ?? [];
    this.#receiveId = options.receiveId;
    this.#random = options.random;
    this.#ciphers = this.#keys.map((_, key) => this.#sealer(0, key).cipher);
  }

  /** True when an EncodingAESKey is configured (safe / compatible mode, WeCom). */
  get encrypts(): boolean {
    return this.#ciphers.length > 0;
  }

  /**
   * Verifies the URL `signature` (over token, timestamp, nonce) against every token in constant
   * time each; returns the index of the token that matches. Throws the `SignatureError` of
   * {@link verifyServerSignature} when none does.
   */
  urlToken(timestamp: string, nonce: string, signature: string): number {
    const tokens = this.#tokens;
    if (tokens.length > 1) {
      const given = String(signature ?? '').toLowerCase();
      for (let i = 0; i < tokens.length; i++) {
        const token = tokens[i] as string;
        if (safeEqual(computeServerSignature({ token, timestamp, nonce }), given)) return i;
      }
    }
    // One token, or none matched: the single-token check, which throws the usual error.
    verifyServerSignature({ token: tokens[0] as string, timestamp, nonce, signature });
    return 0;
  }

  /**
   * Verifies `msg_signature` (over token, timestamp, nonce, Encrypt) against every token in
   * constant time each; returns the index of the one that matches, else throws the usual
   * `SignatureError` of {@link verifyMessageSignature}.
   */
  messageToken(timestamp: string, nonce: string, encrypt: string, signature: string): number {
    const tokens = this.#tokens;
    if (tokens.length > 1) {
      const given = String(signature ?? '').toLowerCase();
      for (let i = 0; i < tokens.length; i++) {
        const token = tokens[i] as string;
        if (safeEqual(computeMessageSignature({ token, timestamp, nonce, encrypt }), given)) return i;
      }
    }
    verifyMessageSignature({ token: tokens[0] as string, timestamp, nonce, encrypt, signature });
    return 0;
  }

  /**
   * Decrypts an `Encrypt` value with the first key, in list order, under which it has a valid
   * 32-byte PKCS#7 padding, a length that fits AND the configured ReceiveId — never on padding alone
   * (a wrong key gives valid-looking padding about once in 256 tries; the ReceiveId check makes a
   * false match negligible). When no key opens it, the error is the current key's, unless another
   * key got as far as the ReceiveId (`APPID_MISMATCH`: that key is right, the account is not).
   */
  decrypt(encrypt: string): { plaintext: string; key: number } {
    const ciphers = this.#ciphers;
    const first = ciphers[0];
    if (first === undefined) throw new Error('unreachable: decrypt without an EncodingAESKey');
    if (ciphers.length === 1) return { plaintext: first.decrypt(encrypt), key: 0 };
    let refusal: unknown;
    for (let key = 0; key < ciphers.length; key++) {
      try {
        return { plaintext: (ciphers[key] as MessageCipher).decrypt(encrypt), key };
      } catch (error) {
        if (!(error instanceof CryptoError)) throw error;
        if (refusal === undefined || (error.code === 'APPID_MISMATCH' && !isAppIdMismatch(refusal))) {
          refusal = error;
        }
      }
    }
    throw refusal;
  }

  /** Encrypts and signs a passive reply with the token and key that opened its push. */
  seal(message: string, options: SealOptions, opened: SecretIndexes): SealedMessage {
    return this.#sealer(opened.token, opened.key).seal(message, options);
  }

  #sealer(token: number, key: number): MessageCrypto {
    const slot = token * this.#keys.length + key;
    let sealer = this.#sealers.get(slot);
    if (sealer === undefined) {
      sealer = new MessageCrypto({
        token: this.#tokens[token] as string,
        encodingAESKey: this.#keys[key] as string,
        receiveId: this.#receiveId,
        ...(this.#random === undefined ? {} : { random: this.#random }),
      });
      this.#sealers.set(slot, sealer);
    }
    return sealer;
  }
}

function isAppIdMismatch(error: unknown): boolean {
  return error instanceof CryptoError && error.code === 'APPID_MISMATCH';
}
