import { type KeyObject, verify, type X509Certificate } from 'node:crypto';
import { ArgumentError, ConfigError, SignatureError } from '../errors.js';
import { type Clock, decodeBase64Strict, defaultClock } from '../internal/bytes.js';
import { sameSerial } from '../internal/cert-serial.js';
import { readPayV3Headers } from '../internal/pay-v3-headers.js';
import { type LoadedCertificate, loadCertificate, loadPublicKey } from './keys.js';
import { assertFreshTimestamp, DEFAULT_MAX_SKEW_SECONDS } from './timestamp.js';

/**
 * Verification of what WeChat Pay v3 sends: response and notification signatures
 * (`Wechatpay-Signature` over `timestamp\nnonce\nbody\n`), with the replay window checked
 * first and the key chosen by `Wechatpay-Serial` (platform certificate or WeChat Pay public key).
 */

/** A WeChat Pay public key (pub_key.pem): a `KeyObject`, or PEM text/bytes. */
export type PublicKeyInput = KeyObject | string | Uint8Array;

/** A platform certificate: PEM text/bytes, an `X509Certificate`, or one from `loadCertificate`. */
export type CertificateInput = string | Uint8Array | X509Certificate | LoadedCertificate;

/** HTTP headers as Node (`IncomingMessage.headers`) or the Fetch API (`Headers`) give them. */
export type HeadersInput = Record<string, string | string[] | undefined> | Headers;

const PROBE_PREFIX = 'WECHATPAY/SIGNTEST/';
const NEWLINE = Buffer.from('\n');
const PUB_KEY_ID_PREFIX = 'PUB_KEY_ID_';

function mismatch(message: string, probe = false): SignatureError {
  return new SignatureError('SIGNATURE_MISMATCH', message, probe ? { probe: true } : undefined);
}

function isCertificateInput(value: unknown): value is LoadedCertificate {
  return typeof value === 'object' && value !== null && 'serialNo' in value && 'x509' in value;
}

function toLoadedCertificate(input: CertificateInput): LoadedCertificate {
  // Reloading from the X509Certificate re-checks a hand-made object (RSA key, serial form).
  return loadCertificate(isCertificateInput(input) ? input.x509 : input);
}

function checkBody(body: unknown): string | Buffer {
  if (typeof body === 'string') return body;
  if (body instanceof Uint8Array) return Buffer.from(body.buffer, body.byteOffset, body.byteLength);
  throw new ArgumentError(
    `body must be the raw request/response body as a string or bytes, but got ${body === null ? 'null' : typeof body}. ` +
      'If a body parser already turned it into an object, the original bytes are lost and the signature cannot be checked: keep the raw body (e.g. express.raw({ type: "*/*" })) for this route.',
  );
}

function checkMaxSkew(value: number | undefined): number {
  if (value === undefined) return DEFAULT_MAX_SKEW_SECONDS;
  if (!Number.isFinite(value) || value < 0) {
    throw new ArgumentError('maxSkewSeconds must be a finite number of seconds, at least 0.');
  }
  return value;
}

/** Shows an attacker-controlled header value safely: short, quoted, no control characters. */
function shown(value: string): string {
  return JSON.stringify(value.length > 80 ? `${value.slice(0, 80)}…` : value);
}

/** Replay window first, as the official SDKs do: a stale message is refused before any RSA work. */
function checkTimestamp(timestamp: string, now: Clock, maxSkewSeconds: number): void {
  try {
    assertFreshTimestamp(timestamp, { now, maxSkewSeconds });
  } catch (error) {
    // Name the header, so the message points at WeChat Pay's timestamp rather than ours.
    if (error instanceof SignatureError) {
      throw new SignatureError('TIMESTAMP_EXPIRED', `Wechatpay-Timestamp: ${error.message}`);
    }
    throw error;
  }
}

function checkProbe(signature: string): void {
  if (signature.startsWith(PROBE_PREFIX)) {
    throw mismatch(
      `Wechatpay-Signature starts with ${PROBE_PREFIX}: this is WeChat Pay's deliberate signature probe, sent to check that you verify signatures. ` +
        'Refusing it is correct — answer with an error status (e.g. 401) and do not process the message.',
      true,
    );
  }
}

/** True when a JSON body looks like it went through a parser and back, not the bytes WeChat Pay sent. */
function looksReserialised(body: string | Buffer): boolean {
  const text = typeof body === 'string' ? body : body.toString('utf8');
  const start = text.trimStart()[0];
  if (start !== '{' && start !== '[') return false;
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return false;
  }
  // WeChat Pay sends compact JSON, which JSON.stringify reproduces; indentation or other spacing
  // means something re-serialised (or pretty-printed) the body before it got here.
  return /\n[ \t]+\S/.test(text) || JSON.stringify(parsed) !== text;
}

const RESERIALISED_HINT =
  ' The body looks re-serialised (pretty-printed or re-encoded JSON): the signature covers the raw bytes received, so pass the body exactly as it arrived — before any body parser (e.g. express.raw(), or the string you read from the request stream).';

/** The RSA part: decode, verify, and explain a failure. `context` names the key used. */
function checkRsaSignature(
  key: KeyObject,
  fields: { timestamp: string; nonce: string; signature: string },
  body: string | Buffer,
  context: string,
): void {
  const signature = fields.signature === '' ? undefined : decodeBase64Strict(fields.signature);
  if (signature === undefined) {
    throw mismatch(`Wechatpay-Signature is not base64, so it cannot be a WeChat Pay signature${context}.`);
  }
  // A string body is encoded once with the rest; bytes are used exactly as received.
  const message =
    typeof body === 'string'
      ? Buffer.from(`${fields.timestamp}\n${fields.nonce}\n${body}\n`, 'utf8')
      : Buffer.concat([Buffer.from(`${fields.timestamp}\n${fields.nonce}\n`, 'utf8'), body, NEWLINE]);
  let ok = false;
  try {
    // RSASSA-PKCS1-v1_5 is the default padding for an RSA KeyObject (loadPublicKey refuses RSA-PSS keys).
    ok = verify('sha256', message, key, signature);
  } catch {
    ok = false;
  }
  if (ok) return;
  const hint = looksReserialised(body) ? RESERIALISED_HINT : '';
  throw mismatch(
    `Wechatpay-Signature does not match${context}: the body, timestamp or nonce differ from what WeChat Pay signed, or the key is not the one WeChat Pay used.${hint}`,
  );
}

/** Options of {@link verifyPayV3Signature}. */
export interface VerifyPayV3SignatureOptions {
  /** `Wechatpay-Timestamp`. */
  timestamp: string;
  /** `Wechatpay-Nonce`. */
  nonce: string;
  /** The raw body exactly as received; bytes are used as they are. */
  body: string | Uint8Array;
  /** `Wechatpay-Signature`. */
  signature: string;
  /** The WeChat Pay public key (public-key mode). */
  publicKey?: PublicKeyInput;
  /** The platform certificate (certificate mode). */
  certificate?: CertificateInput;
  /** Clock in milliseconds; defaults to `Date.now`. */
  now?: Clock;
  /** Replay window in seconds, both directions; default 300. */
  maxSkewSeconds?: number;
}

/**
 * Verifies one WeChat Pay v3 signature with a key you have already chosen; throws on failure.
 * Order (as the official Go SDK): the timestamp must be within `maxSkewSeconds` of now
 * (`TIMESTAMP_EXPIRED`), then the signature must verify (`SIGNATURE_MISMATCH`; a
 * `WECHATPAY/SIGNTEST/` probe is refused with `probe: true`). Prefer {@link PayV3Verifier}, which
 * also chooses the key by `Wechatpay-Serial`.
 *
 * @example
 * verifyPayV3Signature({
 *   timestamp: h['wechatpay-timestamp'], nonce: h['wechatpay-nonce'], signature: h['wechatpay-signature'],
 *   body: rawBody, publicKey: wechatpayPublicKey,
 * });
 */
export function verifyPayV3Signature(options: VerifyPayV3SignatureOptions): void {
  const hasKey = options.publicKey !== undefined;
  const hasCert = options.certificate !== undefined;
  if (hasKey === hasCert) {
    throw new ArgumentError(
      'Pass exactly one of publicKey (WeChat Pay public key) or certificate (platform certificate); to trust both, use PayV3Verifier, which picks by Wechatpay-Serial.',
    );
  }
  const key = hasKey
    ? loadPublicKey(options.publicKey as PublicKeyInput)
    : toLoadedCertificate(options.certificate as CertificateInput).publicKey;
  const body = checkBody(options.body);
  const maxSkew = checkMaxSkew(options.maxSkewSeconds);
  checkTimestamp(String(options.timestamp).trim(), options.now ?? defaultClock, maxSkew);
  const signature = String(options.signature).trim();
  checkProbe(signature);
  checkRsaSignature(
    key,
    { timestamp: String(options.timestamp).trim(), nonce: options.nonce, signature },
    body,
    '',
  );
}

/** The four `Wechatpay-*` headers, read case-insensitively. */
export interface PayV3SignatureHeaders {
  timestamp: string | undefined;
  nonce: string | undefined;
  signature: string | undefined;
  serial: string | undefined;
}

function required(value: string | undefined, name: string): string {
  if (value === undefined || value === '') {
    throw mismatch(
      `The ${name} header is missing, so the message cannot be verified. Pass the request's headers unchanged (a proxy may have dropped it).`,
    );
  }
  return value;
}

/** Options of {@link PayV3Verifier}. Both may be given at once while migrating from certificates to the public key. */
export interface PayV3VerifierOptions {
  /** The WeChat Pay public key and its id (`PUB_KEY_ID_…`), both from the merchant platform. */
  publicKey?: { id: string; key: PublicKeyInput };
  /** Platform certificates, e.g. decrypted from `GET /v3/certificates`. */
  certificates?: CertificateInput[];
}

/** One message to verify with a {@link PayV3Verifier}. */
export interface PayV3VerifyRequest {
  /** The response or notification headers. */
  headers: HeadersInput;
  /** The raw body exactly as received. */
  body: string | Uint8Array;
  now?: Clock;
  maxSkewSeconds?: number;
}

/**
 * What verifies a message WeChat Pay signed — an answer or a notification — given its headers and
 * raw body: resolves when it is authentic, throws (`SignatureError`) when it must be refused.
 * {@link PayV3Verifier} (fixed keys) and the `PayV3` client's `platformTrust` (keys kept current
 * across certificate rotations) implement it; so can your own (e.g. a shared trust service).
 *
 * @example
 * const verifier: PayV3SignatureVerifier = { verify: (message) => trust.verify(message) };
 * createPayNotificationHandler({ apiV3Key, verifier });
 */
export interface PayV3SignatureVerifier {
  verify(request: PayV3VerifyRequest): void | Promise<void>;
}

const VERIFIER_KEYS = new Set(['publicKey', 'certificates']);

/** Comparison key for a certificate serial: uppercase, no leading zeros. */
function serialKey(serial: string): string {
  return serial.trim().toUpperCase().replace(/^0+/, '');
}

/**
 * Holds the keys you trust to sign WeChat Pay messages — the WeChat Pay public key, platform
 * certificates, or both during a migration — and verifies a response or notification by choosing
 * the key named in `Wechatpay-Serial`.
 *
 * @example
 * const verifier = new PayV3Verifier({
 *   publicKey: { id: 'PUB_KEY_ID_0114232134912410000000000000', key: readFileSync('pub_key.pem') },
 *   certificates: [platformCertPem],
 * });
 * verifier.verify({ headers: req.headers, body: rawBody }); // throws SignatureError on failure
 */
export class PayV3Verifier implements PayV3SignatureVerifier {
  readonly #publicKey: { id: string; key: KeyObject } | undefined;
  readonly #certificates = new Map<string, LoadedCertificate>();

  constructor(options: PayV3VerifierOptions = {}) {
    for (const key of Object.keys(options)) {
      if (!VERIFIER_KEYS.has(key)) {
        throw new ConfigError(
          'INVALID_CONFIG',
          `PayV3Verifier: unknown option "${key}" (expected publicKey, certificates).`,
        );
      }
    }
    if (options.publicKey !== undefined) {
      const { id, key } = options.publicKey;
      if (typeof id !== 'string' || !id.startsWith(PUB_KEY_ID_PREFIX)) {
        throw new ConfigError(
          'INVALID_CONFIG',
          'publicKey.id must be the WeChat Pay public key id shown next to the key in the merchant platform; it starts with PUB_KEY_ID_.',
        );
      }
      this.#publicKey = { id: id.trim(), key: loadPublicKey(key) };
    }
    for (const cert of options.certificates ?? []) this.addCertificate(cert);
  }

  /**
   * Trusts one more platform certificate (e.g. after a rotation); a certificate with the same
   * serial replaces the old one.
   *
   * @example
   * verifier.addCertificate(decryptedPlatformCertPem);
   */
  addCertificate(certificate: CertificateInput): LoadedCertificate {
    const loaded = toLoadedCertificate(certificate);
    this.#certificates.set(serialKey(loaded.serialNo), loaded);
    return loaded;
  }

  /**
   * The serials and public-key id this verifier trusts (they are public, safe to log).
   *
   * @example
   * verifier.knownSerials(); // ['PUB_KEY_ID_0114…', '5DEA10EF55877E3CF6C33255C2E7DEFFF7E427EC']
   */
  knownSerials(): string[] {
    const serials = [...this.#certificates.values()].map((c) => c.serialNo);
    return this.#publicKey ? [this.#publicKey.id, ...serials] : serials;
  }

  /** The key for a `Wechatpay-Serial`, or a SIGNATURE_MISMATCH that says how to trust it. */
  #select(serial: string): KeyObject {
    if (serial.startsWith(PUB_KEY_ID_PREFIX)) {
      if (this.#publicKey && this.#publicKey.id === serial) return this.#publicKey.key;
      const configured = this.#publicKey ? ` (the configured public key id is ${this.#publicKey.id})` : '';
      throw mismatch(
        `Wechatpay-Serial ${shown(serial)} is a WeChat Pay public key id that this verifier does not trust${configured}. ` +
          'Configure the WeChat Pay public key (pub_key.pem) with this id: merchant platform → 账户中心 → API安全 → 微信支付公钥.',
      );
    }
    const cert = this.#certificates.get(serialKey(serial));
    if (cert) return cert.publicKey;
    const known = this.knownSerials();
    throw mismatch(
      `Wechatpay-Serial ${shown(serial)} matches no trusted platform certificate (trusted: ${known.length ? known.join(', ') : 'none'}). ` +
        'Download the current platform certificates (GET /v3/certificates, decrypted with your APIv3 key) and add them with addCertificate(); ' +
        'if your merchant uses the WeChat Pay public key, configure it (PUB_KEY_ID_…) too — during a migration both are in use.',
    );
  }

  /**
   * Verifies a response or notification; returns nothing and throws `SignatureError` when it must
   * be refused (missing header, replay window, probe, unknown serial, bad signature).
   *
   * @example
   * verifier.verify({ headers: response.headers, body: await response.text() });
   */
  verify(request: PayV3VerifyRequest): void {
    const h = readPayV3Headers(request.headers);
    const timestamp = required(h.timestamp, 'Wechatpay-Timestamp');
    const nonce = required(h.nonce, 'Wechatpay-Nonce');
    const signature = required(h.signature, 'Wechatpay-Signature');
    const serial = required(h.serial, 'Wechatpay-Serial');
    const body = checkBody(request.body);
    checkTimestamp(timestamp, request.now ?? defaultClock, checkMaxSkew(request.maxSkewSeconds));
    checkProbe(signature);
    const key = this.#select(serial);
    checkRsaSignature(key, { timestamp, nonce, signature }, body, ` (Wechatpay-Serial ${shown(serial)})`);
  }
}

/** Options of {@link verifyPayV3Headers}. */
export interface VerifyPayV3HeadersOptions {
  headers: HeadersInput;
  body: string | Uint8Array;
  /** The WeChat Pay public key, used when `Wechatpay-Serial` is a `PUB_KEY_ID_…` (or when it is the only key). */
  publicKey?: PublicKeyInput;
  /** The platform certificate, used for certificate serials (or when it is the only key). */
  certificate?: CertificateInput;
  now?: Clock;
  maxSkewSeconds?: number;
}

/**
 * Verifies a response or notification by its headers with one key you pass (or one of each, chosen
 * by `Wechatpay-Serial`). A lighter form of {@link PayV3Verifier} for a single trusted key: when the
 * serial does not fit the key given, the failure message says so.
 *
 * @example
 * verifyPayV3Headers({ headers: req.headers, body: rawBody, publicKey: wechatpayPublicKey });
 */
export function verifyPayV3Headers(options: VerifyPayV3HeadersOptions): void {
  const publicKey = options.publicKey === undefined ? undefined : loadPublicKey(options.publicKey);
  const certificate =
    options.certificate === undefined ? undefined : toLoadedCertificate(options.certificate);
  if (publicKey === undefined && certificate === undefined) {
    throw new ArgumentError(
      'Pass the key that WeChat Pay signs with: publicKey (WeChat Pay public key), certificate (platform certificate), or a PayV3Verifier.',
    );
  }
  const h = readPayV3Headers(options.headers);
  const timestamp = required(h.timestamp, 'Wechatpay-Timestamp');
  const nonce = required(h.nonce, 'Wechatpay-Nonce');
  const signature = required(h.signature, 'Wechatpay-Signature');
  const serial = h.serial;
  const body = checkBody(options.body);
  checkTimestamp(timestamp, options.now ?? defaultClock, checkMaxSkew(options.maxSkewSeconds));
  checkProbe(signature);

  const wantsPublicKey = serial?.startsWith(PUB_KEY_ID_PREFIX) ?? false;
  let key: KeyObject;
  let context = '';
  if (publicKey !== undefined && (wantsPublicKey || certificate === undefined)) {
    key = publicKey;
    if (serial !== undefined && !wantsPublicKey) {
      context = ` (Wechatpay-Serial ${shown(serial)} is a platform certificate serial, but only a WeChat Pay public key was given)`;
    }
  } else {
    // Checked above: with no public key to use, a certificate was given.
    const cert = certificate!;
    key = cert.publicKey;
    if (serial !== undefined && wantsPublicKey) {
      context = ` (Wechatpay-Serial ${shown(serial)} is a WeChat Pay public key id, but only a platform certificate was given)`;
    } else if (serial !== undefined && !sameSerial(serial, cert.serialNo)) {
      context = ` (Wechatpay-Serial ${shown(serial)} names another certificate than the one given, serial ${cert.serialNo})`;
    }
  }
  checkRsaSignature(key, { timestamp, nonce, signature }, body, context);
}
