import { ConfigError, PayloadError, SignatureError } from '../errors.js';
import {
  type Clock,
  defaultClock,
  defaultRandom,
  type RandomSource,
  randomAlphanumeric,
  safeEqual,
  toText,
} from '../internal/bytes.js';
import { sortedSha1 } from '../internal/sorted-sha1.js';
import { buildXml } from '../xml/build.js';
import { parseXml } from '../xml/parse.js';
import { MessageCipher } from './message-cipher.js';
import { assertFreshTimestamp, DEFAULT_MAX_SKEW_SECONDS } from './timestamp.js';

/** Inputs of the message signature (`msg_signature`). */
export interface MessageSignatureInput {
  token: string;
  timestamp: string;
  nonce: string;
  /** The base64 `Encrypt` value. */
  encrypt: string;
}

/**
 * `msg_signature = sha1(sort([token, timestamp, nonce, encrypt]).join(''))`, lowercase hex.
 *
 * @example
 * computeMessageSignature({ token, timestamp: '1409304348', nonce: 'xxxxxx', encrypt });
 */
export function computeMessageSignature(input: MessageSignatureInput): string {
  return sortedSha1([input.token, input.timestamp, input.nonce, input.encrypt]);
}

/**
 * Verifies `msg_signature` in constant time; throws `SignatureError` (`SIGNATURE_MISMATCH`).
 *
 * @example
 * verifyMessageSignature({ token, timestamp, nonce, encrypt, signature: query.msg_signature });
 */
export function verifyMessageSignature(input: MessageSignatureInput & { signature: string }): void {
  if (!safeEqual(computeMessageSignature(input), String(input.signature ?? '').toLowerCase())) {
    throw new SignatureError(
      'SIGNATURE_MISMATCH',
      'msg_signature does not match: check the token configured in the console, and pass the raw POST body ' +
        'and the query strings exactly as received',
    );
  }
}

/** Envelope formats WeChat uses around an `Encrypt` value. */
export type EnvelopeFormat = 'xml' | 'json' | 'wecom-json';

/** What {@link MessageCrypto.open} needs from an incoming request. */
export interface OpenMessageInput {
  /** The raw POST body, exactly as received (bytes or text). */
  body: string | Uint8Array;
  /** `msg_signature` from the query string. */
  msgSignature: string;
  /** `timestamp` from the query string (Unix seconds). */
  timestamp: string;
  /** `nonce` from the query string. */
  nonce: string;
}

/** A verified and decrypted message. */
export interface OpenedMessage {
  /** The decrypted inner message (XML or JSON text). */
  plaintext: string;
  /** The envelope format the message arrived in. */
  format: 'xml' | 'json';
  /** The base64 `Encrypt` value that was verified. */
  encrypt: string;
}

/** A sealed (encrypted and signed) passive reply. */
export interface SealedMessage {
  /** The reply body to send, in the requested envelope format. */
  body: string;
  encrypt: string;
  msgSignature: string;
  /** Unix seconds, as signed. */
  timestamp: string;
  nonce: string;
}

/** Options for {@link MessageCrypto.seal}. */
export interface SealOptions {
  /** Envelope format (default `xml`). `json` is the Mini Program shape, `wecom-json` lower-case keys. */
  format?: EnvelopeFormat;
  /** Unix seconds (default: now). */
  timestamp?: string | number;
  /** Default: 16 random alphanumerics. */
  nonce?: string;
  /** 16 bytes for the cipher's random prefix (tests only). */
  random?: string | Uint8Array;
}

/** Configuration of {@link MessageCrypto}. */
export interface MessageCryptoOptions {
  /** The Token from the console (server configuration). */
  token: string;
  /** The 43-character EncodingAESKey. */
  encodingAESKey: string;
  /** AppID, component AppID, corpid or suite id (see {@link MessageCipher}). */
  receiveId: string;
  /** Replay window in seconds, both directions (default 300). */
  maxSkewSeconds?: number;
  /** Clock in milliseconds (default `Date.now`). */
  now?: Clock;
  /** Randomness for nonces and the cipher prefix (default: CSPRNG). */
  random?: RandomSource;
}

/** A nonce that goes into the reply envelope's CDATA as it is (what `seal` generates). */
const PLAIN_NONCE = /^[A-Za-z0-9]*$/;

/**
 * Safe-mode (安全模式) message crypto for one account: `open` verifies, checks the replay
 * window and decrypts a raw POST body; `seal` encrypts and signs a passive reply.
 *
 * @example
 * const mc = new MessageCrypto({ token, encodingAESKey, receiveId: appId });
 * const { plaintext } = mc.open({ body: rawBody, msgSignature: q.msg_signature, timestamp: q.timestamp, nonce: q.nonce });
 * const reply = mc.seal('<xml>…</xml>');
 */
export class MessageCrypto {
  readonly cipher: MessageCipher;
  readonly #token: string;
  readonly #maxSkew: number;
  readonly #now: Clock;
  readonly #random: RandomSource;

  constructor(options: MessageCryptoOptions) {
    if (typeof options.token !== 'string' || options.token.length === 0) {
      throw new ConfigError(
        'INVALID_CONFIG',
        'token is required: the Token from the server configuration page',
      );
    }
    this.#random = options.random ?? defaultRandom;
    this.cipher = new MessageCipher({
      encodingAESKey: options.encodingAESKey,
      receiveId: options.receiveId,
      random: this.#random,
    });
    this.#token = options.token;
    this.#maxSkew = options.maxSkewSeconds ?? DEFAULT_MAX_SKEW_SECONDS;
    this.#now = options.now ?? defaultClock;
  }

  /** `msg_signature` for an `Encrypt` value. */
  sign(timestamp: string, nonce: string, encrypt: string): string {
    return computeMessageSignature({ token: this.#token, timestamp, nonce, encrypt });
  }

  /**
   * Opens a raw POST body (XML `<Encrypt>`, or JSON `Encrypt`/`encrypt`) in the only safe order:
   * verify `msg_signature` → check the timestamp window → decrypt (ReceiveId checked).
   */
  open(input: OpenMessageInput): OpenedMessage {
    const { encrypt, format } = extractEncrypt(input.body);
    verifyMessageSignature({
      token: this.#token,
      timestamp: String(input.timestamp ?? ''),
      nonce: String(input.nonce ?? ''),
      encrypt,
      signature: input.msgSignature,
    });
    assertFreshTimestamp(input.timestamp, { now: this.#now, maxSkewSeconds: this.#maxSkew });
    return { plaintext: this.cipher.decrypt(encrypt), format, encrypt };
  }

  /** Encrypts and signs a reply, returning the envelope body and its parts. */
  seal(message: string, options: SealOptions = {}): SealedMessage {
    const timestamp = String(options.timestamp ?? Math.floor(this.#now() / 1000));
    const nonce = options.nonce ?? randomAlphanumeric(16, this.#random);
    const encrypt = this.cipher.encrypt(message, options.random);
    const msgSignature = this.sign(timestamp, nonce, encrypt);
    const format = options.format ?? 'xml';
    let body: string;
    const stamp = Number(timestamp);
    if (format === 'xml' && PLAIN_NONCE.test(nonce) && Number.isSafeInteger(stamp)) {
      // What buildXml writes for these fields, without walking an object: the base64 value, the
      // hex signature, an integer and an alphanumeric nonce need no escaping.
      body = `<xml><Encrypt><![CDATA[${encrypt}]]></Encrypt><MsgSignature><![CDATA[${msgSignature}]]></MsgSignature><TimeStamp>${stamp}</TimeStamp><Nonce><![CDATA[${nonce}]]></Nonce></xml>`;
    } else if (format === 'xml') {
      body = buildXml({
        Encrypt: encrypt,
        MsgSignature: msgSignature,
        TimeStamp: Number(timestamp),
        Nonce: nonce,
      });
    } else if (format === 'json') {
      body = JSON.stringify({
        Encrypt: encrypt,
        MsgSignature: msgSignature,
        TimeStamp: Number(timestamp),
        Nonce: nonce,
      });
    } else {
      body = JSON.stringify({ encrypt, msgsignature: msgSignature, timestamp: Number(timestamp), nonce });
    }
    return { body, encrypt, msgSignature, timestamp, nonce };
  }
}

/**
 * Pulls the `Encrypt` value out of a raw safe-mode body (XML, or JSON with `Encrypt` or `encrypt`).
 * A body without one is refused: an app in safe mode must never fall back to plaintext.
 */
export function extractEncrypt(body: string | Uint8Array): { encrypt: string; format: 'xml' | 'json' } {
  const text = toText(body);
  let start = 0;
  while (start < text.length && text.charCodeAt(start) <= 0x20) start++;
  if (text.charCodeAt(start) === 0x7b /* { */) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      throw new PayloadError(
        'BAD_BODY',
        'the JSON body is not valid JSON: pass the raw request body, unparsed',
      );
    }
    const record = (typeof parsed === 'object' && parsed !== null ? parsed : {}) as Record<string, unknown>;
    const encrypt = record.Encrypt ?? record.encrypt;
    if (typeof encrypt !== 'string') throw missingEncrypt();
    return { encrypt, format: 'json' };
  }
  const encrypt = parseXml(text).Encrypt;
  if (typeof encrypt !== 'string') throw missingEncrypt();
  return { encrypt, format: 'xml' };
}

function missingEncrypt(): PayloadError {
  return new PayloadError(
    'BAD_BODY',
    'the body has no Encrypt field: it is a plaintext message, which an app in safe mode (安全模式) refuses; ' +
      'if this is not a forgery, check the message encryption mode in the console',
  );
}

/** Everything {@link openMessage} needs, in one object (the conformance `message.open` shape). */
export interface OpenMessageParams extends OpenMessageInput {
  token: string;
  encodingAESKey: string;
  receiveId: string;
  now?: Clock;
  maxSkewSeconds?: number;
}

/**
 * One-shot {@link MessageCrypto.open}, returning the plaintext.
 *
 * @example
 * const xml = openMessage({ token, encodingAESKey, receiveId: appId, body, msgSignature, timestamp, nonce });
 */
export function openMessage(params: OpenMessageParams): string {
  return new MessageCrypto(params).open(params).plaintext;
}
