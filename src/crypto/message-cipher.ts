import { type Cipher, createCipheriv, createDecipheriv, type Decipher } from 'node:crypto';
import { ArgumentError, ConfigError, CryptoError } from '../errors.js';
import { decodeBase64Strict, defaultRandom, type RandomSource, toBuffer } from '../internal/bytes.js';

/**
 * WXBizMsgCrypt pads to a 32-byte block (the doc's "K为秘钥字节数（采用32）"), not to AES's 16.
 * Official vectors carry pads of 19, 22 and 30: a 16-byte unpadder fails half of real traffic.
 */
const MESSAGE_BLOCK = 32;
const RANDOM_BYTES = 16;
const HEADER_BYTES = RANDOM_BYTES + 4;

const ENCODING_AES_KEY = /^[A-Za-z0-9+/]{43}$/;

/**
 * Decodes an EncodingAESKey (43 characters) into the 32-byte AES key.
 *
 * Decoding is deliberately lenient about the 2 discarded bits of the last character: keys that
 * WeChat generates (and the official sample key) often have them set, and strict decoders reject them.
 *
 * @example
 * decodeEncodingAESKey('abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG').length; // 32
 */
export function decodeEncodingAESKey(encodingAESKey: string): Buffer {
  if (typeof encodingAESKey !== 'string' || !ENCODING_AES_KEY.test(encodingAESKey)) {
    const length = typeof encodingAESKey === 'string' ? encodingAESKey.length : 0;
    throw new ConfigError(
      'BAD_AES_KEY',
      `EncodingAESKey must be exactly 43 base64 characters (got ${length} characters${
        length === 43 ? ' with characters outside A-Z a-z 0-9 + /' : ''
      }); copy it again from the console (开发设置 → 服务器配置 → 消息加解密密钥), without '=' or spaces`,
    );
  }
  const key = Buffer.from(`${encodingAESKey}=`, 'base64');
  if (key.length !== 32) {
    throw new ConfigError(
      'BAD_AES_KEY',
      'EncodingAESKey does not decode to 32 bytes; copy it again from the console',
    );
  }
  return key;
}

/** Options for {@link MessageCipher}. */
export interface MessageCipherOptions {
  /** The 43-character EncodingAESKey from the console. */
  encodingAESKey: string;
  /**
   * The ReceiveId every message must carry: the AppID (Official Account, Mini Program), the
   * component AppID (Open Platform), the corpid or suite id (WeCom; `''` for personal-subject
   * third-party apps). It is always checked on decrypt.
   */
  receiveId: string;
  /** Randomness for the 16-byte prefix (default: CSPRNG). */
  random?: RandomSource;
}

/**
 * The WXBizMsgCrypt cipher shared by Official Account, Mini Program, Open Platform and WeCom:
 * AES-256-CBC with IV = key[0..16), PKCS#7 to 32 bytes, over
 * `random(16) ‖ uint32be(len(msg)) ‖ msg ‖ receiveId`. The key is decoded once.
 *
 * @example
 * const cipher = new MessageCipher({ encodingAESKey, receiveId: 'wxb11529c136998cb6' });
 * const encrypt = cipher.encrypt('<xml>…</xml>');
 * cipher.decrypt(encrypt); // '<xml>…</xml>'
 */
export class MessageCipher {
  readonly receiveId: string;
  readonly #key: Buffer;
  readonly #iv: Buffer;
  /**
   * One long-lived AES-256-CBC decipher (no padding) for `decrypt`, never finalised: creating one
   * per message costs more than the whole rest of `open`. After a message it chains from that
   * message's last ciphertext block (`#openChain`), so OpenSSL XORs the first block of the next
   * message with that block instead of the IV; only those 16 bytes are corrected here (XOR with
   * the chain and the IV), where an ECB decipher would leave the XOR of every block to JavaScript.
   * It is only ever fed whole blocks, so no partial block carries between calls.
   */
  #opener: Decipher | undefined;
  readonly #openChain = Buffer.alloc(16);
  /** Discards the decipher after a failed update (bound once: no closure per message). */
  readonly #dropOpener = (): void => {
    this.#opener = undefined;
  };
  /**
   * One long-lived AES-256-CBC cipher (no padding) for `encrypt`, never finalised: creating one
   * per message costs ~10 µs, more than the rest of sealing a reply. After a message it chains
   * from that message's last ciphertext block (`#chain`), so the next message's first block is
   * fed as P[0] XOR IV XOR chain: the cipher XORs the chain back in and encrypts P[0] XOR IV,
   * which is exactly CBC with IV = key[0..16). It is only ever fed whole blocks.
   */
  #sealer: Cipher | undefined;
  readonly #chain = Buffer.alloc(16);
  /** Discards the cipher after a failed update (bound once: no closure per message). */
  readonly #dropSealer = (): void => {
    this.#sealer = undefined;
  };
  readonly #receiveIdBytes: Buffer;
  readonly #random: RandomSource;

  constructor(options: MessageCipherOptions) {
    this.#key = decodeEncodingAESKey(options.encodingAESKey);
    this.#iv = this.#key.subarray(0, 16);
    if (typeof options.receiveId !== 'string') {
      throw new ConfigError(
        'INVALID_CONFIG',
        'receiveId must be a string (the AppID, component AppID or corpid)',
      );
    }
    this.receiveId = options.receiveId;
    this.#receiveIdBytes = Buffer.from(options.receiveId, 'utf8');
    this.#random = options.random ?? defaultRandom;
  }

  /** AES-256-CBC decryption of whole blocks with IV = key[0..16), through the long-lived decipher. */
  #decryptCbc(data: Buffer): Buffer {
    // A fresh decipher starts from the IV itself: its first message needs no correction.
    let opener = this.#opener;
    if (opener === undefined) {
      opener = startCbc(createDecipheriv('aes-256-cbc', this.#key, this.#iv), this.#iv, this.#openChain);
      this.#opener = opener;
    }
    const plain = updateWhole(opener, data, this.#dropOpener);
    // OpenSSL computed P[0] = D(C[0]) XOR chain; CBC with this IV wants D(C[0]) XOR IV.
    for (let i = 0; i < 16; i++) {
      plain[i] = (plain[i] as number) ^ (this.#openChain[i] as number) ^ (this.#iv[i] as number);
    }
    data.copy(this.#openChain, 0, data.length - 16);
    return plain;
  }

  /**
   * Encrypts `message` and returns the base64 `Encrypt` value. `random` (16 bytes, or a
   * 16-character string as in the official samples) makes the output deterministic for tests.
   */
  encrypt(message: string | Uint8Array, random?: string | Uint8Array): string {
    const prefix = random === undefined ? toBuffer(this.#random(RANDOM_BYTES)) : toBuffer(random);
    if (prefix.length !== RANDOM_BYTES) {
      throw new ArgumentError(`the random prefix must be ${RANDOM_BYTES} bytes`);
    }
    // A string is encoded straight into the plaintext buffer, not into a Buffer of its own first.
    const bodyLength = typeof message === 'string' ? Buffer.byteLength(message, 'utf8') : message.byteLength;
    const unpadded = HEADER_BYTES + bodyLength + this.#receiveIdBytes.length;
    // Always pad, even when already aligned: a whole block of 0x20 then (esap/wechat PR #43).
    const pad = MESSAGE_BLOCK - (unpadded % MESSAGE_BLOCK);
    const plain = Buffer.allocUnsafe(unpadded + pad);
    prefix.copy(plain, 0);
    plain.writeUInt32BE(bodyLength, RANDOM_BYTES);
    if (typeof message === 'string') plain.write(message, HEADER_BYTES, 'utf8');
    else plain.set(message, HEADER_BYTES);
    this.#receiveIdBytes.copy(plain, HEADER_BYTES + bodyLength);
    plain.fill(pad, unpadded);
    return this.#encryptCbc(plain).toString('base64');
  }

  /** AES-256-CBC encryption of whole blocks with IV = key[0..16), through the long-lived cipher. */
  #encryptCbc(plain: Buffer): Buffer {
    // A fresh cipher starts from the IV itself: no compensation on its first message.
    let sealer = this.#sealer;
    if (sealer === undefined) {
      sealer = startCbc(createCipheriv('aes-256-cbc', this.#key, this.#iv), this.#iv, this.#chain);
      this.#sealer = sealer;
    }
    for (let i = 0; i < 16; i++) {
      plain[i] = (plain[i] as number) ^ (this.#iv[i] as number) ^ (this.#chain[i] as number);
    }
    const sealed = updateWhole(sealer, plain, this.#dropSealer);
    sealed.copy(this.#chain, 0, sealed.length - 16);
    return sealed;
  }

  /**
   * Decrypts an `Encrypt` value and checks its ReceiveId. Throws `CryptoError` with
   * `BAD_CIPHERTEXT`, `BAD_PADDING` or `APPID_MISMATCH`. This is not authentication: verify
   * `msg_signature` first (see `MessageCrypto.open`).
   */
  decrypt(encrypt: string): string {
    return this.decryptToBuffer(encrypt).toString('utf8');
  }

  /** Like {@link decrypt}, returning the message bytes. */
  decryptToBuffer(encrypt: string): Buffer {
    const data = decodeBase64Strict(encrypt);
    if (data === undefined) {
      throw new CryptoError(
        'BAD_CIPHERTEXT',
        'Encrypt is not standard base64; pass the value exactly as received',
      );
    }
    if (data.length < MESSAGE_BLOCK || data.length % 16 !== 0) {
      throw new CryptoError(
        'BAD_CIPHERTEXT',
        `Encrypt decodes to ${data.length} bytes; a WeChat message is a non-zero multiple of 32 bytes`,
      );
    }
    const plain = this.#decryptCbc(data);
    const pad = plain[plain.length - 1] ?? 0;
    if (pad < 1 || pad > MESSAGE_BLOCK) {
      throw new CryptoError(
        'BAD_PADDING',
        'message padding is invalid: the EncodingAESKey is probably not the one configured for this account',
      );
    }
    for (let i = plain.length - pad; i < plain.length - 1; i++) {
      if (plain[i] !== pad) {
        throw new CryptoError(
          'BAD_PADDING',
          'message padding is inconsistent: the EncodingAESKey is probably wrong, or the ciphertext was altered',
        );
      }
    }
    const end = plain.length - pad;
    if (end < HEADER_BYTES) {
      throw new CryptoError('BAD_CIPHERTEXT', 'decrypted message is shorter than its 20-byte header');
    }
    const length = plain.readUInt32BE(RANDOM_BYTES);
    if (length > end - HEADER_BYTES) {
      throw new CryptoError(
        'BAD_CIPHERTEXT',
        'the length field does not fit the decrypted payload: wrong EncodingAESKey or altered ciphertext',
      );
    }
    const receiveId = plain.subarray(HEADER_BYTES + length, end);
    if (!receiveId.equals(this.#receiveIdBytes)) {
      throw new CryptoError(
        'APPID_MISMATCH',
        `the message was encrypted for another ReceiveId (expected "${this.receiveId}"); check the AppID ` +
          '(for Open Platform use the component AppID, for WeCom the corpid or suite id)',
      );
    }
    return plain.subarray(HEADER_BYTES, HEADER_BYTES + length);
  }
}

/** Inputs of {@link encryptMessage}. */
export interface EncryptMessageInput {
  encodingAESKey: string;
  receiveId: string;
  message: string;
  /** 16 bytes (or 16 ASCII characters); default: CSPRNG. */
  random?: string | Uint8Array;
}

/**
 * One-shot {@link MessageCipher.encrypt}. Build a `MessageCipher` once when encrypting repeatedly.
 *
 * @example
 * encryptMessage({ encodingAESKey, receiveId: appId, message: '<xml>…</xml>' });
 */
export function encryptMessage(input: EncryptMessageInput): string {
  return new MessageCipher({ encodingAESKey: input.encodingAESKey, receiveId: input.receiveId }).encrypt(
    input.message,
    input.random,
  );
}

/**
 * One-shot {@link MessageCipher.decrypt} (ReceiveId checked).
 *
 * @example
 * decryptMessage({ encodingAESKey, receiveId: appId, encrypt });
 */
export function decryptMessage(input: {
  encodingAESKey: string;
  receiveId: string;
  encrypt: string;
}): string {
  return new MessageCipher(input).decrypt(input.encrypt);
}

/** Readies a new long-lived AES-CBC context: no padding, its chain block reset to the IV. */
function startCbc<T extends Cipher | Decipher>(context: T, iv: Buffer, chain: Buffer): T {
  context.setAutoPadding(false);
  iv.copy(chain);
  return context;
}

/**
 * Feeds whole blocks to a long-lived AES-CBC context and returns as many bytes. On any failure
 * `drop` discards the context: one holding a partial block would corrupt every later message.
 */
function updateWhole(context: Cipher | Decipher, data: Buffer, drop: () => void): Buffer {
  let out: Buffer;
  try {
    out = context.update(data);
  } catch (error) {
    drop();
    throw error;
  }
  if (out.length !== data.length) {
    // Cannot happen for whole blocks without padding.
    drop();
    throw new CryptoError('BAD_CIPHERTEXT', 'AES-CBC output is not the length of its whole-block input');
  }
  return out;
}
