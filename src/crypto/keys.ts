import { createPrivateKey, createPublicKey, KeyObject, X509Certificate } from 'node:crypto';
import { ConfigError } from '../errors.js';
import { isStrictBase64 } from '../internal/bytes.js';
import { normalizeSerial } from '../internal/cert-serial.js';

/**
 * Key loading for WeChat Pay: merchant private keys, WeChat Pay public keys and certificates,
 * parsed once into `KeyObject`s. Every refusal is a `ConfigError('BAD_KEY')` whose message
 * says what was found and how to fix it — and never echoes the input, which may be a secret.
 */

/** A parsed X.509 certificate plus the facts WeChat Pay needs from it. */
export interface LoadedCertificate {
  /**
   * The serial as WeChat Pay writes it (`serial_no`, `Wechatpay-Serial`): uppercase hex without
   * the leading `00` byte(s) that DER adds when the high bit is set.
   */
  readonly serialNo: string;
  /** The certificate's RSA public key. */
  readonly publicKey: KeyObject;
  /** Start of the validity period. */
  readonly validFrom: Date;
  /** End of the validity period. */
  readonly validTo: Date;
  /** The underlying certificate, for anything not covered above. */
  readonly x509: X509Certificate;
}

/** What a caller wanted; used to pick the right advice when something else was passed. */
type Wanted = 'private' | 'public' | 'certificate';

interface PemBlock {
  label: string;
  headers: string;
  body: string;
}

const WECHAT_RSA_PRIVATE =
  'WeChat Pay uses RSA-2048 keys: use apiclient_key.pem from the merchant platform (商户平台 → 账户中心 → API安全 → API证书).';
const WECHAT_RSA_PUBLIC =
  'WeChat Pay signs with RSA-2048: use the WeChat Pay public key (pub_key.pem, id PUB_KEY_ID_…) from the merchant platform, or a platform certificate downloaded from GET /v3/certificates.';
const OWN_KEY_FOR_VERIFY =
  'Verifying WeChat Pay signatures needs WeChat Pay’s key, not your own: use the WeChat Pay public key (pub_key.pem, id PUB_KEY_ID_…) from the merchant platform, or the platform certificate (GET /v3/certificates). Your apiclient_key.pem / apiclient_cert.pem are only for signing your requests.';
const ENCRYPTED_KEY =
  'found a passphrase-protected (encrypted) private key. Decrypt it once and store the result securely, e.g. `openssl pkcs8 -in key.pem -out apiclient_key.pem -nocrypt` (for a `Proc-Type: 4,ENCRYPTED` key: `openssl pkcs8 -topk8 -nocrypt -in key.pem -out apiclient_key.pem`).';
const P12_HINT =
  'If this is apiclient_cert.p12, extract the PEM files: `openssl pkcs12 -in apiclient_cert.p12 -nocerts -nodes -out apiclient_key.pem` (the password is your mchid).';

function badKey(message: string, cause?: unknown): ConfigError {
  return new ConfigError('BAD_KEY', message, cause === undefined ? undefined : { cause });
}

function wantedNoun(wanted: Wanted): string {
  if (wanted === 'private') return 'an RSA private key (apiclient_key.pem)';
  if (wanted === 'public') return 'an RSA public key or certificate (pub_key.pem or a platform certificate)';
  return 'an X.509 certificate (PEM)';
}

function wantedArmour(wanted: Wanted): string {
  if (wanted === 'private') return '-----BEGIN PRIVATE KEY-----';
  if (wanted === 'public') return '-----BEGIN PUBLIC KEY-----';
  return '-----BEGIN CERTIFICATE-----';
}

/** Human name of a KeyObject's algorithm, without any key material. */
function describeKeyType(key: KeyObject): string {
  const type: string = key.asymmetricKeyType ?? 'unknown';
  switch (type) {
    case 'ec': {
      const curve = key.asymmetricKeyDetails?.namedCurve;
      return `an EC (elliptic-curve${curve ? `, ${curve}` : ''}) key`;
    }
    case 'ed25519':
    case 'ed448':
      return `an ${type === 'ed25519' ? 'Ed25519' : 'Ed448'} key`;
    case 'x25519':
    case 'x448':
      return `an ${type.toUpperCase()} key`;
    case 'dsa':
      return 'a DSA key';
    case 'dh':
      return 'a Diffie-Hellman key';
    case 'rsa-pss':
      return 'an RSA-PSS-restricted key (it cannot make PKCS#1 v1.5 signatures)';
    default:
      return `a ${type} key`;
  }
}

function refuseNonRsa(key: KeyObject, wanted: Wanted): never {
  const role = key.type === 'private' ? 'private key' : 'public key';
  const advice = wanted === 'private' ? WECHAT_RSA_PRIVATE : WECHAT_RSA_PUBLIC;
  throw badKey(`Expected ${wantedNoun(wanted)}, but found ${describeKeyType(key)} (${role}). ${advice}`);
}

/** KeyObjects already checked, so that the per-call fast path (a cached KeyObject) costs nothing. */
const checkedKeys = new WeakSet<KeyObject>();

/** Checks a KeyObject is what was wanted and is RSA; returns it unchanged. */
function checkKeyObject(key: KeyObject, wanted: 'private' | 'public'): KeyObject {
  // A private KeyObject is never accepted as public nor the reverse, so one set serves both.
  if (checkedKeys.has(key) && (key.type === 'private') === (wanted === 'private')) return key;
  if (key.type === 'secret') {
    throw badKey(
      `Expected ${wantedNoun(wanted)}, but found a symmetric (secret) key. ${wanted === 'private' ? WECHAT_RSA_PRIVATE : WECHAT_RSA_PUBLIC}`,
    );
  }
  if (wanted === 'private' && key.type === 'public') {
    throw badKey(
      'Expected the merchant RSA private key (apiclient_key.pem), but found a public key: signing needs the private key. ' +
        WECHAT_RSA_PRIVATE,
    );
  }
  if (wanted === 'public' && key.type === 'private') {
    throw badKey(`Expected a public key or certificate, but found a private key. ${OWN_KEY_FOR_VERIFY}`);
  }
  if (key.asymmetricKeyType !== 'rsa') refuseNonRsa(key, wanted);
  checkedKeys.add(key);
  return key;
}

function isLoadedCertificate(value: unknown): value is LoadedCertificate {
  return (
    typeof value === 'object' &&
    value !== null &&
    'x509' in value &&
    value.x509 instanceof X509Certificate &&
    'publicKey' in value &&
    value.publicKey instanceof KeyObject &&
    'serialNo' in value
  );
}

/** Printable ASCII plus whitespace: bytes that are PEM (or base64) text rather than DER. */
function looksLikeText(bytes: Uint8Array): boolean {
  for (const b of bytes) {
    if (!((b >= 0x20 && b < 0x7f) || b === 0x09 || b === 0x0a || b === 0x0d)) return false;
  }
  return true;
}

const PEM_BLOCK = /-----BEGIN ([A-Z0-9 ]+)-----([\s\S]*?)-----END \1-----/g;

function parsePemBlocks(text: string): PemBlock[] {
  const blocks: PemBlock[] = [];
  for (const match of text.matchAll(PEM_BLOCK)) {
    const label = match[1] ?? '';
    const inner = match[2] ?? '';
    // RFC 1421 headers (Proc-Type, DEK-Info) sit before the base64, one per line.
    const headerLines: string[] = [];
    const bodyLines: string[] = [];
    for (const raw of inner.split(/\r?\n/)) {
      const line = raw.trim();
      if (line.includes(':')) headerLines.push(line);
      else bodyLines.push(line);
    }
    // Whitespace is dropped entirely so that indented, CRLF, or space-joined PEMs still load.
    blocks.push({ label, headers: headerLines.join('\n'), body: bodyLines.join('').replace(/\s+/g, '') });
  }
  return blocks;
}

type DerGuess =
  | { kind: 'private'; key: KeyObject; format: string }
  | { kind: 'public'; key: KeyObject; format: string }
  | { kind: 'certificate'; x509: X509Certificate };

/** Identifies DER bytes by trying each format WeChat users meet. Never throws. */
function guessDer(der: Buffer): DerGuess | undefined {
  for (const type of ['pkcs8', 'pkcs1'] as const) {
    try {
      return { kind: 'private', key: createPrivateKey({ key: der, format: 'der', type }), format: type };
    } catch {
      // try the next format
    }
  }
  for (const type of ['spki', 'pkcs1'] as const) {
    try {
      return { kind: 'public', key: createPublicKey({ key: der, format: 'der', type }), format: type };
    } catch {
      // try the next format
    }
  }
  try {
    return { kind: 'certificate', x509: new X509Certificate(der) };
  } catch {
    return undefined;
  }
}

function derArmour(guess: DerGuess): string {
  if (guess.kind === 'certificate') return 'CERTIFICATE';
  if (guess.kind === 'private') return guess.format === 'pkcs8' ? 'PRIVATE KEY' : 'RSA PRIVATE KEY';
  return guess.format === 'spki' ? 'PUBLIC KEY' : 'RSA PUBLIC KEY';
}

function guessKind(guess: DerGuess): string {
  if (guess.kind === 'certificate') return 'a certificate';
  return guess.kind === 'private' ? 'a private key' : 'a public key';
}

/** The result of decoding the input: a key or certificate of some kind, not yet checked. */
type Decoded =
  | { kind: 'private'; key: KeyObject }
  | { kind: 'public'; key: KeyObject }
  | { kind: 'certificate'; x509: X509Certificate };

function fromGuess(guess: DerGuess): Decoded {
  return guess.kind === 'certificate' ? guess : { kind: guess.kind, key: guess.key };
}

const PRIVATE_LABELS = new Set(['PRIVATE KEY', 'RSA PRIVATE KEY']);
const PUBLIC_LABELS = new Set(['PUBLIC KEY', 'RSA PUBLIC KEY']);
const CERT_LABELS = new Set(['CERTIFICATE', 'TRUSTED CERTIFICATE', 'X509 CERTIFICATE']);
const OTHER_PRIVATE_LABELS = new Set(['EC PRIVATE KEY', 'DSA PRIVATE KEY', 'OPENSSH PRIVATE KEY']);

function isEncrypted(block: PemBlock): boolean {
  return block.label === 'ENCRYPTED PRIVATE KEY' || /Proc-Type:\s*4,\s*ENCRYPTED/i.test(block.headers);
}

function acceptedLabels(wanted: Wanted): Set<string> {
  if (wanted === 'private') return PRIVATE_LABELS;
  if (wanted === 'public') return new Set([...PUBLIC_LABELS, ...CERT_LABELS]);
  return CERT_LABELS;
}

/** Explains a PEM block that is not what was wanted. */
function refuseBlock(block: PemBlock, wanted: Wanted): never {
  const found = `-----BEGIN ${block.label}-----`;
  if (isEncrypted(block)) {
    if (wanted === 'private') throw badKey(`Expected ${wantedNoun(wanted)}, but ${ENCRYPTED_KEY}`);
    throw badKey(`Expected ${wantedNoun(wanted)}, but found an encrypted private key. ${OWN_KEY_FOR_VERIFY}`);
  }
  if (OTHER_PRIVATE_LABELS.has(block.label)) {
    const what =
      block.label === 'EC PRIVATE KEY'
        ? 'an EC (elliptic-curve) private key'
        : block.label === 'DSA PRIVATE KEY'
          ? 'a DSA private key'
          : 'an OpenSSH-format private key';
    if (wanted === 'private')
      throw badKey(`Expected ${wantedNoun(wanted)}, but found ${what} (${found}). ${WECHAT_RSA_PRIVATE}`);
    throw badKey(`Expected ${wantedNoun(wanted)}, but found ${what} (${found}). ${OWN_KEY_FOR_VERIFY}`);
  }
  if (PRIVATE_LABELS.has(block.label)) {
    throw badKey(`Expected ${wantedNoun(wanted)}, but found a private key (${found}). ${OWN_KEY_FOR_VERIFY}`);
  }
  if (CERT_LABELS.has(block.label)) {
    // Only reachable when a private key was wanted.
    throw badKey(
      `Expected the merchant private key, but found a certificate (${found}) — this is apiclient_cert.pem (or a platform certificate); pass apiclient_key.pem, the private key downloaded with it.`,
    );
  }
  if (PUBLIC_LABELS.has(block.label)) {
    if (wanted === 'private') {
      throw badKey(
        `Expected the merchant private key, but found a public key (${found}); signing needs the private key apiclient_key.pem.`,
      );
    }
    throw badKey(
      `Expected a certificate, but found a public key (${found}). A WeChat Pay public key (pub_key.pem) is configured as a public key with its id PUB_KEY_ID_…, not as a certificate.`,
    );
  }
  if (block.label.includes('CERTIFICATE REQUEST')) {
    throw badKey(
      `Expected ${wantedNoun(wanted)}, but found a certificate signing request (${found}); it is neither a key nor a certificate.`,
    );
  }
  throw badKey(
    `Expected ${wantedNoun(wanted)}, but found a PEM block ${found}, which WeChat Pay does not use.`,
  );
}

function decodeBlock(block: PemBlock, wanted: Wanted): Decoded {
  if (!isStrictBase64(block.body) || block.body.length === 0) {
    throw badKey(
      `The -----BEGIN ${block.label}----- block is not valid base64: the PEM was damaged (truncated, or characters changed) when it was copied. Copy the file again unchanged.`,
    );
  }
  const der = Buffer.from(block.body, 'base64');
  try {
    switch (block.label) {
      case 'PRIVATE KEY':
        return { kind: 'private', key: createPrivateKey({ key: der, format: 'der', type: 'pkcs8' }) };
      case 'RSA PRIVATE KEY':
        return { kind: 'private', key: createPrivateKey({ key: der, format: 'der', type: 'pkcs1' }) };
      case 'PUBLIC KEY':
        return { kind: 'public', key: createPublicKey({ key: der, format: 'der', type: 'spki' }) };
      case 'RSA PUBLIC KEY':
        return { kind: 'public', key: createPublicKey({ key: der, format: 'der', type: 'pkcs1' }) };
      default:
        return { kind: 'certificate', x509: new X509Certificate(der) };
    }
  } catch (cause) {
    throw badKey(
      `The -----BEGIN ${block.label}----- block could not be parsed as ${wantedNoun(wanted)}: its content does not match its label, or the file is damaged. Copy the file again unchanged.`,
      cause,
    );
  }
}

function decodeText(text: string, wanted: Wanted): Decoded {
  if (text.trim() === '') {
    throw badKey(
      `Expected ${wantedNoun(wanted)}, but the value is empty: check that the file or variable is set.`,
    );
  }
  if (text.includes('-----BEGIN') && /\\n/.test(text)) {
    throw badKey(
      'The PEM contains literal "\\n" (backslash + n) instead of line breaks — typical of a key stored in an environment variable. ' +
        "Replace them with real newlines before loading, e.g. `key.replace(/\\\\n/g, '\\n')`, or load the key from a file.",
    );
  }
  const blocks = parsePemBlocks(text);
  if (blocks.length === 0) {
    if (text.includes('-----BEGIN')) {
      throw badKey(
        'The PEM armour is incomplete: a -----BEGIN …----- line has no matching -----END …----- line. Copy the whole file, including both lines.',
      );
    }
    const compact = text.replace(/\s+/g, '');
    if (compact.length >= 64 && isStrictBase64(compact)) {
      const guess = guessDer(Buffer.from(compact, 'base64'));
      const found = guess ? `${guessKind(guess)} as bare base64` : 'bare base64';
      const armour = guess ? derArmour(guess) : wantedArmour(wanted).slice(11, -5);
      throw badKey(
        `Expected ${wantedNoun(wanted)} in PEM format, but found ${found} without PEM armour. ` +
          `Wrap it as "-----BEGIN ${armour}-----", the base64 in lines of 64 characters, then "-----END ${armour}-----" — or better, use the .pem file as downloaded.`,
      );
    }
    if (!/[\r\n]/.test(text) && /^\.{0,2}[/\\]|\.(pem|key|crt|cer)\s*$/i.test(text.trim())) {
      throw badKey(
        `Expected the content of ${wantedNoun(wanted)}, but the value looks like a file path. Pass the file's contents, e.g. readFileSync(path, 'utf8').`,
      );
    }
    throw badKey(
      `Expected ${wantedNoun(wanted)} in PEM format (starting with ${wantedArmour(wanted)}), but the value is not PEM.`,
    );
  }
  const accepted = acceptedLabels(wanted);
  const matching = blocks.filter((b) => accepted.has(b.label) && !isEncrypted(b));
  if (matching.length === 0) {
    const worst =
      blocks.find(isEncrypted) ?? blocks.find((b) => OTHER_PRIVATE_LABELS.has(b.label)) ?? blocks[0]!;
    refuseBlock(worst, wanted);
  }
  const keyBlocks = matching.filter((b) => !CERT_LABELS.has(b.label));
  if (keyBlocks.length > 1) {
    throw badKey(`Expected one key, but the PEM holds ${keyBlocks.length} keys; pass exactly one.`);
  }
  // A key wins over certificates; among certificates the first one (the leaf of a chain) is used.
  return decodeBlock(keyBlocks[0] ?? matching[0]!, wanted);
}

function decodeBytes(bytes: Uint8Array, wanted: Wanted): Decoded {
  if (bytes.length === 0) {
    throw badKey(`Expected ${wantedNoun(wanted)}, but the value is empty: check that the file was read.`);
  }
  let buffer = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  // Editors on Windows may save PEM files with a UTF-8 byte order mark.
  if (buffer[0] === 0xef && buffer[1] === 0xbb && buffer[2] === 0xbf) buffer = buffer.subarray(3);
  if (buffer.includes('-----BEGIN') || looksLikeText(buffer))
    return decodeText(buffer.toString('utf8'), wanted);
  const guess = guessDer(buffer);
  if (guess === undefined) {
    throw badKey(
      `Expected ${wantedNoun(wanted)}, but the bytes are neither PEM text nor a DER key or certificate. ${P12_HINT}`,
    );
  }
  return fromGuess(guess);
}

function decode(input: string | Uint8Array, wanted: Wanted): Decoded {
  if (typeof input === 'string') return decodeText(input, wanted);
  if (input instanceof Uint8Array) return decodeBytes(input, wanted);
  throw badKey(
    `Expected ${wantedNoun(wanted)} as a PEM string, bytes or KeyObject, but got ${typeof input}.`,
  );
}

/**
 * Loads the merchant's RSA private key (apiclient_key.pem) once, for signing requests and pay
 * parameters. Accepts PKCS#8 (`BEGIN PRIVATE KEY`) and PKCS#1 (`BEGIN RSA PRIVATE KEY`) PEM,
 * the same as bytes (or DER), or an RSA private `KeyObject` (returned as is). Anything else —
 * an EC/Ed25519/DSA key, an encrypted key, a certificate, a public key, a PEM whose newlines
 * arrived as literal `\n` — throws `ConfigError('BAD_KEY')` explaining the fix.
 *
 * @example
 * const privateKey = loadPrivateKey(readFileSync('apiclient_key.pem', 'utf8'));
 * const signer = new PayV3Signer({ mchid: '1900009191', serialNo, privateKey });
 */
export function loadPrivateKey(input: string | Uint8Array | KeyObject): KeyObject {
  if (input instanceof KeyObject) return checkKeyObject(input, 'private');
  const decoded = decode(input, 'private');
  if (decoded.kind === 'certificate') {
    throw badKey(
      'Expected the merchant private key, but found a certificate — this is apiclient_cert.pem (or a platform certificate); pass apiclient_key.pem, the private key downloaded with it.',
    );
  }
  return checkKeyObject(decoded.key, 'private');
}

/**
 * Loads an RSA public key for verifying WeChat Pay signatures or encrypting sensitive fields:
 * the WeChat Pay public key (`BEGIN PUBLIC KEY`, pub_key.pem), a PKCS#1 `BEGIN RSA PUBLIC KEY`,
 * or a certificate (PEM, bytes, `X509Certificate` or {@link LoadedCertificate}) whose public key is
 * taken. A private key is refused on purpose: verifying with the merchant's own key is the classic
 * mistake, and the error says which key to use instead.
 *
 * @example
 * const wechatpayKey = loadPublicKey(readFileSync('pub_key.pem', 'utf8'));
 */
export function loadPublicKey(
  input: string | Uint8Array | KeyObject | X509Certificate | LoadedCertificate,
): KeyObject {
  if (input instanceof KeyObject) return checkKeyObject(input, 'public');
  if (input instanceof X509Certificate) return checkKeyObject(input.publicKey, 'public');
  if (isLoadedCertificate(input)) return checkKeyObject(input.publicKey, 'public');
  const decoded = decode(input, 'public');
  if (decoded.kind === 'certificate') return checkKeyObject(decoded.x509.publicKey, 'public');
  if (decoded.kind === 'private') {
    throw badKey(`Expected a public key or certificate, but found a private key. ${OWN_KEY_FOR_VERIFY}`);
  }
  return checkKeyObject(decoded.key, 'public');
}

function parseCertDate(value: string): Date {
  const date = new Date(value);
  if (Number.isNaN(date.getTime())) throw badKey('The certificate has an unreadable validity date.');
  return date;
}

/**
 * Loads an X.509 certificate (PEM text, bytes/DER, or an `X509Certificate`): the merchant API
 * certificate (apiclient_cert.pem, whose serial goes into `serial_no`) or a WeChat Pay platform
 * certificate (whose serial appears in `Wechatpay-Serial`). The serial is given in WeChat's form.
 *
 * @example
 * const cert = loadCertificate(readFileSync('apiclient_cert.pem', 'utf8'));
 * cert.serialNo; // '1DDE55AD98ED71D6EDD4A4A16996DE7B47773A8C'
 */
export function loadCertificate(input: string | Uint8Array | X509Certificate): LoadedCertificate {
  let x509: X509Certificate;
  if (input instanceof X509Certificate) {
    x509 = input;
  } else {
    const decoded = decode(input, 'certificate');
    if (decoded.kind === 'private') {
      throw badKey(`Expected a certificate, but found a private key. ${OWN_KEY_FOR_VERIFY}`);
    }
    if (decoded.kind === 'public') {
      throw badKey(
        'Expected a certificate, but found a public key. A WeChat Pay public key (pub_key.pem) is configured as a public key with its id PUB_KEY_ID_…, not as a certificate.',
      );
    }
    x509 = decoded.x509;
  }
  let publicKey: KeyObject;
  try {
    publicKey = x509.publicKey;
  } catch (cause) {
    throw badKey('The certificate’s public key could not be read.', cause);
  }
  if (publicKey.asymmetricKeyType !== 'rsa') refuseNonRsa(publicKey, 'certificate');
  return {
    serialNo: normalizeSerial(x509.serialNumber),
    publicKey,
    validFrom: parseCertDate(x509.validFrom),
    validTo: parseCertDate(x509.validTo),
    x509,
  };
}

/**
 * The serial number of a certificate in WeChat Pay's form — the value for `serial_no` in the
 * `Authorization` header (from apiclient_cert.pem) or to match against `Wechatpay-Serial`.
 *
 * @example
 * const serialNo = certificateSerial(readFileSync('apiclient_cert.pem', 'utf8'));
 */
export function certificateSerial(input: string | Uint8Array | X509Certificate): string {
  return loadCertificate(input).serialNo;
}
