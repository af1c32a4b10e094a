import { type KeyObject, randomBytes, sign, X509Certificate } from 'node:crypto';

/**
 * Mints a self-signed X.509 v3 certificate for the emulator's WeChat Pay platform key. Node can
 * parse certificates but not create them; a full X.509 library would be a heavy dependency for a
 * test tool, and the handful of DER structures below is all a platform certificate needs.
 * Used by the emulator, and by tests that need a certificate chain ({@link mintIssuedCertificate}).
 */

function length(n: number): Buffer {
  if (n < 0x80) return Buffer.from([n]);
  const bytes: number[] = [];
  for (let v = n; v > 0; v = Math.floor(v / 256)) bytes.unshift(v & 0xff);
  return Buffer.from([0x80 | bytes.length, ...bytes]);
}

const tlv = (tag: number, ...content: Buffer[]): Buffer => {
  const body = Buffer.concat(content);
  return Buffer.concat([Buffer.from([tag]), length(body.length), body]);
};
const seq = (...items: Buffer[]) => tlv(0x30, ...items);
const set = (...items: Buffer[]) => tlv(0x31, ...items);

function integer(bytes: Buffer): Buffer {
  let i = 0;
  while (i < bytes.length - 1 && bytes[i] === 0) i++;
  const trimmed = bytes.subarray(i);
  // DER integers are signed: a leading 1 bit needs a 0x00 byte in front.
  return tlv(0x02, (trimmed[0] ?? 0) & 0x80 ? Buffer.concat([Buffer.from([0]), trimmed]) : trimmed);
}

function oid(dotted: string): Buffer {
  const [a = 0, b = 0, ...rest] = dotted.split('.').map(Number);
  const out = [a * 40 + b];
  for (const n of rest) {
    const chunk = [n & 0x7f];
    for (let v = Math.floor(n / 128); v > 0; v = Math.floor(v / 128)) chunk.unshift(0x80 | (v & 0x7f));
    out.push(...chunk);
  }
  return tlv(0x06, Buffer.from(out));
}

function utcTime(date: Date): Buffer {
  const p = (n: number) => String(n).padStart(2, '0');
  const text =
    p(date.getUTCFullYear() % 100) +
    p(date.getUTCMonth() + 1) +
    p(date.getUTCDate()) +
    p(date.getUTCHours()) +
    p(date.getUTCMinutes()) +
    p(date.getUTCSeconds()) +
    'Z';
  return tlv(0x17, Buffer.from(text, 'ascii'));
}

function name(parts: Array<[string, string]>): Buffer {
  return seq(...parts.map(([type, value]) => set(seq(oid(type), tlv(0x0c, Buffer.from(value, 'utf8'))))));
}

/**
 * A platform certificate serial as WeChat Pay writes it: 40 uppercase hex digits, first digit not
 * 0, from 20 random bytes. The first digit is forced non-zero (not stripped: stripping a leading
 * `0` left 39 digits, an odd count that `Buffer.from(hex, 'hex')` silently truncates, so the
 * certificate stopped carrying the serial that `Wechatpay-Serial` names — 1 start in 256).
 */
export function platformSerialNo(random: Uint8Array = randomBytes(20)): string {
  if (random.length !== 20)
    throw new RangeError(`platformSerialNo needs 20 random bytes, got ${random.length}`);
  const bytes = Buffer.from(random);
  if (bytes[0]! < 0x10) bytes[0] = bytes[0]! | 0x70;
  return bytes.toString('hex').toUpperCase();
}

/** Options of {@link mintCertificate}. */
export interface MintCertificateOptions {
  /** Serial number as hex (e.g. 40 hex digits, as WeChat Pay's platform certificates have). */
  serialHex: string;
  publicKey: KeyObject;
  /** Signs the certificate (self-signed: the private half of `publicKey`). */
  signingKey: KeyObject;
  commonName: string;
  notBefore: Date;
  notAfter: Date;
}

/** A PEM certificate; parsed back with `X509Certificate` to prove it is well-formed. */
export function mintCertificate(options: MintCertificateOptions): string {
  if (!/^(?:[0-9A-Fa-f]{2})+$/.test(options.serialHex)) {
    // An odd digit count would be truncated by Buffer.from(hex, 'hex'): the certificate would
    // carry another serial than the one its users name.
    throw new RangeError(`serialHex must be an even number of hex digits, got "${options.serialHex}"`);
  }
  const algorithm = seq(oid('1.2.840.113549.1.1.11'), Buffer.from([0x05, 0x00])); // sha256WithRSAEncryption
  const subject = name([
    ['2.5.4.6', 'CN'],
    ['2.5.4.10', 'weixin-kit emulator'],
    ['2.5.4.3', options.commonName],
  ]);
  const tbs = seq(
    tlv(0xa0, integer(Buffer.from([2]))),
    integer(Buffer.from(options.serialHex, 'hex')),
    algorithm,
    subject,
    seq(utcTime(options.notBefore), utcTime(options.notAfter)),
    subject,
    options.publicKey.export({ type: 'spki', format: 'der' }),
  );
  const signature = sign('sha256', tbs, options.signingKey);
  const der = seq(tbs, algorithm, tlv(0x03, Buffer.from([0]), signature));
  const pem = `-----BEGIN CERTIFICATE-----\n${der.toString('base64').replace(/.{64}/g, '$&\n').replace(/\n?$/, '\n')}-----END CERTIFICATE-----\n`;
  const parsed = new X509Certificate(pem); // throws if anything above is malformed
  if (BigInt(`0x${parsed.serialNumber}`) !== BigInt(`0x${options.serialHex}`)) {
    throw new Error(`minted certificate carries serial ${parsed.serialNumber}, not ${options.serialHex}`);
  }
  return pem;
}

/** The subject of a certificate minted by {@link mintIssuedCertificate}; also names its issuer. */
export interface CertificateSubject {
  commonName: string;
  /** `O=`; omitted when not given. */
  organization?: string;
}

/** Options of {@link mintIssuedCertificate}. */
export interface MintIssuedCertificateOptions {
  /** Serial number as an even number of hex digits. */
  serialHex: string;
  subject: CertificateSubject;
  publicKey: KeyObject;
  /** The issuer's subject (byte-for-byte the one its own certificate carries); the subject when omitted (self-signed). */
  issuer?: CertificateSubject;
  /** The issuer's private key (RSA → sha256WithRSAEncryption, EC → ecdsa-with-SHA256). */
  signingKey: KeyObject;
  notBefore: Date;
  notAfter: Date;
  /** A CA certificate (basicConstraints cA, keyUsage keyCertSign + cRLSign); else a TLS server leaf. */
  ca?: boolean;
  /** subjectAltName dNSName entries (a leaf's host names). */
  dnsNames?: string[];
  /** subjectAltName iPAddress entries, IPv4 dotted (e.g. `127.0.0.1`). */
  ipAddresses?: string[];
}

const OID_KEY_USAGE = '2.5.29.15';
const OID_SUBJECT_ALT_NAME = '2.5.29.17';
const OID_BASIC_CONSTRAINTS = '2.5.29.19';
const OID_EXT_KEY_USAGE = '2.5.29.37';
const OID_SERVER_AUTH = '1.3.6.1.5.5.7.3.1';

function extension(id: string, critical: boolean, value: Buffer): Buffer {
  return seq(oid(id), ...(critical ? [tlv(0x01, Buffer.from([0xff]))] : []), tlv(0x04, value));
}

function subjectName(subject: CertificateSubject): Buffer {
  return name([
    ...(subject.organization === undefined ? [] : [['2.5.4.10', subject.organization] as [string, string]]),
    ['2.5.4.3', subject.commonName],
  ]);
}

function ipv4(text: string): Buffer {
  const parts = text.split('.').map(Number);
  if (parts.length !== 4 || parts.some((n) => !Number.isInteger(n) || n < 0 || n > 255)) {
    throw new RangeError(`ipAddresses takes IPv4 dotted addresses, got "${text}"`);
  }
  return Buffer.from(parts);
}

/**
 * A PEM X.509 v3 certificate signed by an issuer (or self-signed), with the extensions TLS needs:
 * basicConstraints and keyUsage (a CA, or a server leaf with extKeyUsage serverAuth) and
 * subjectAltName (host names and IPv4 addresses, which `tls.checkServerIdentity` matches). Tests
 * build a root → intermediate → leaf chain with it for local TLS servers (`weixin-kit doctor
 * --server`). Parsed back with `X509Certificate` to prove it is well-formed.
 */
export function mintIssuedCertificate(options: MintIssuedCertificateOptions): string {
  if (!/^(?:[0-9A-Fa-f]{2})+$/.test(options.serialHex)) {
    throw new RangeError(`serialHex must be an even number of hex digits, got "${options.serialHex}"`);
  }
  const keyType = options.signingKey.asymmetricKeyType;
  let algorithm: Buffer;
  if (keyType === 'rsa') algorithm = seq(oid('1.2.840.113549.1.1.11'), Buffer.from([0x05, 0x00]));
  else if (keyType === 'ec')
    algorithm = seq(oid('1.2.840.10045.4.3.2')); // ecdsa-with-SHA256, no parameters
  else throw new RangeError(`signingKey must be an RSA or EC key, got ${keyType}`);
  const extensions: Buffer[] = [];
  if (options.ca === true) {
    extensions.push(extension(OID_BASIC_CONSTRAINTS, true, seq(tlv(0x01, Buffer.from([0xff])))));
    // keyCertSign (bit 5) and cRLSign (bit 6): 0b0000_0110, the last bit unused.
    extensions.push(extension(OID_KEY_USAGE, true, tlv(0x03, Buffer.from([0x01, 0x06]))));
  } else {
    extensions.push(extension(OID_BASIC_CONSTRAINTS, true, seq()));
    // digitalSignature (bit 0) and keyEncipherment (bit 2): 0b1010_0000, 5 bits unused.
    extensions.push(extension(OID_KEY_USAGE, true, tlv(0x03, Buffer.from([0x05, 0xa0]))));
    extensions.push(extension(OID_EXT_KEY_USAGE, false, seq(oid(OID_SERVER_AUTH))));
  }
  const altNames = [
    ...(options.dnsNames ?? []).map((dns) => tlv(0x82, Buffer.from(dns, 'ascii'))),
    ...(options.ipAddresses ?? []).map((ip) => tlv(0x87, ipv4(ip))),
  ];
  if (altNames.length > 0) extensions.push(extension(OID_SUBJECT_ALT_NAME, false, seq(...altNames)));
  const tbs = seq(
    tlv(0xa0, integer(Buffer.from([2]))),
    integer(Buffer.from(options.serialHex, 'hex')),
    algorithm,
    subjectName(options.issuer ?? options.subject),
    seq(utcTime(options.notBefore), utcTime(options.notAfter)),
    subjectName(options.subject),
    options.publicKey.export({ type: 'spki', format: 'der' }),
    tlv(0xa3, seq(...extensions)),
  );
  const signature = sign('sha256', tbs, options.signingKey);
  const der = seq(tbs, algorithm, tlv(0x03, Buffer.from([0]), signature));
  const pem = `-----BEGIN CERTIFICATE-----\n${der.toString('base64').replace(/.{64}/g, '$&\n').replace(/\n?$/, '\n')}-----END CERTIFICATE-----\n`;
  new X509Certificate(pem); // throws if anything above is malformed
  return pem;
}
