import {
  createPrivateKey,
  createSecretKey,
  generateKeyPairSync,
  type KeyObject,
  X509Certificate,
} from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { certificateSerial, loadCertificate, loadPrivateKey, loadPublicKey } from '../../src/crypto/keys.js';
import { ConfigError, type WeChatKitError } from '../../src/errors.js';
import { normalizeSerial, sameSerial } from '../../src/internal/cert-serial.js';
import { expectCode } from '../helpers.js';
import { fx } from './pay-v3-fixture.js';

const K = fx.keys;

/** The base64 body of a PEM, for checking that an error message never leaks it. */
function pemBody(pem: string): string {
  return pem
    .split(/\r?\n/)
    .filter((line) => line !== '' && !line.startsWith('-----') && !line.includes(':'))
    .join('');
}

/** Asserts a BAD_KEY ConfigError whose message contains every `needle` and none of `secretPem`. */
function expectBadKey(fn: () => unknown, needles: (string | RegExp)[], secretPem?: string): WeChatKitError {
  const error = expectCode(fn, 'BAD_KEY');
  expect(error).toBeInstanceOf(ConfigError);
  for (const needle of needles) {
    if (typeof needle === 'string') expect(error.message).toContain(needle);
    else expect(error.message).toMatch(needle);
  }
  // No long base64 run at all, and no 16-character window of the key in particular.
  expect(error.message).not.toMatch(/[A-Za-z0-9+/]{24,}/);
  if (secretPem !== undefined) {
    const body = pemBody(secretPem);
    for (let i = 0; i + 16 <= body.length; i += 8) expect(error.message).not.toContain(body.slice(i, i + 16));
  }
  // node:crypto / OpenSSL wording never reaches the user.
  expect(error.message).not.toMatch(/error:[0-9A-F]{8}|routines::|ERR_OSSL/);
  return error;
}

function modulus(key: KeyObject): string {
  return String(key.export({ format: 'jwk' }).n);
}

describe('loadPrivateKey', () => {
  it('loads PKCS#8 and PKCS#1 PEM of the same key to the same RSA private key', () => {
    const pkcs8 = loadPrivateKey(K.goKeyPkcs8);
    const pkcs1 = loadPrivateKey(K.goKeyPkcs1);
    expect(pkcs8.type).toBe('private');
    expect(pkcs8.asymmetricKeyType).toBe('rsa');
    expect(modulus(pkcs1)).toBe(modulus(pkcs8));
  });

  it('accepts PEM bytes as read from a file, and DER', () => {
    expect(modulus(loadPrivateKey(Buffer.from(K.goKeyPkcs8)))).toBe(modulus(loadPrivateKey(K.goKeyPkcs8)));
    const der = createPrivateKey(K.goKeyPkcs8).export({ format: 'der', type: 'pkcs8' });
    expect(modulus(loadPrivateKey(new Uint8Array(der)))).toBe(modulus(loadPrivateKey(K.goKeyPkcs8)));
  });

  it('tolerates CRLF, indentation and newlines collapsed to spaces', () => {
    const expected = modulus(loadPrivateKey(K.goKeyPkcs8));
    expect(modulus(loadPrivateKey(K.goKeyPkcs8.replace(/\n/g, '\r\n')))).toBe(expected);
    expect(modulus(loadPrivateKey(K.goKeyPkcs8.replace(/^/gm, '    ')))).toBe(expected);
    expect(modulus(loadPrivateKey(K.goKeyPkcs8.replace(/\n/g, ' ')))).toBe(expected);
  });

  it('returns an RSA private KeyObject unchanged', () => {
    const key = createPrivateKey(K.goKeyPkcs8);
    expect(loadPrivateKey(key)).toBe(key);
  });

  it('refuses an EC private key (SEC1 and PKCS#8) and says WeChat Pay uses RSA-2048 apiclient_key.pem', () => {
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
    const sec1 = privateKey.export({ format: 'pem', type: 'sec1' }).toString();
    const pkcs8 = privateKey.export({ format: 'pem', type: 'pkcs8' }).toString();
    expectBadKey(() => loadPrivateKey(sec1), ['EC', 'RSA-2048', 'apiclient_key.pem'], sec1);
    expectBadKey(() => loadPrivateKey(pkcs8), ['EC', 'RSA-2048', 'apiclient_key.pem'], pkcs8);
    expectBadKey(() => loadPrivateKey(privateKey), ['EC', 'RSA-2048']);
  });

  it('refuses Ed25519 and DSA keys, naming the type found', () => {
    const ed = generateKeyPairSync('ed25519').privateKey.export({ format: 'pem', type: 'pkcs8' }).toString();
    expectBadKey(() => loadPrivateKey(ed), ['Ed25519', 'RSA-2048', 'apiclient_key.pem'], ed);
    const dsa = generateKeyPairSync('dsa', { modulusLength: 1024, divisorLength: 160 })
      .privateKey.export({ format: 'pem', type: 'pkcs8' })
      .toString();
    expectBadKey(() => loadPrivateKey(dsa), ['DSA', 'RSA-2048'], dsa);
  });

  it('refuses an encrypted private key (PKCS#8 and legacy Proc-Type) and says how to decrypt it', () => {
    const key = createPrivateKey(K.goKeyPkcs8);
    const pkcs8 = key
      .export({ format: 'pem', type: 'pkcs8', cipher: 'aes-256-cbc', passphrase: 'secret' })
      .toString();
    expect(pkcs8).toContain('BEGIN ENCRYPTED PRIVATE KEY');
    expectBadKey(() => loadPrivateKey(pkcs8), ['encrypted', 'openssl pkcs8', '-nocrypt'], pkcs8);
    const legacy = key
      .export({ format: 'pem', type: 'pkcs1', cipher: 'aes-256-cbc', passphrase: 'secret' })
      .toString();
    expect(legacy).toContain('Proc-Type: 4,ENCRYPTED');
    expectBadKey(() => loadPrivateKey(legacy), ['encrypted', 'openssl pkcs8', '-nocrypt'], legacy);
  });

  it('refuses a certificate: "this is apiclient_cert.pem; pass apiclient_key.pem"', () => {
    expectBadKey(() => loadPrivateKey(K.goCert), ['apiclient_cert.pem', 'apiclient_key.pem'], K.goCert);
  });

  it('refuses a public key where the private key is needed', () => {
    expectBadKey(() => loadPrivateKey(K.goPublicSpki), ['public key', 'apiclient_key.pem'], K.goPublicSpki);
  });

  it('refuses a public KeyObject and a secret KeyObject', () => {
    expectBadKey(() => loadPrivateKey(loadPublicKey(K.goPublicSpki)), ['public key']);
    expectBadKey(() => loadPrivateKey(createSecretKey(Buffer.alloc(32))), ['symmetric']);
  });

  it('refuses a PEM whose newlines arrived as literal \\n and shows the replace() fix', () => {
    const literal = K.goKeyPkcs8.replace(/\n/g, '\\n');
    expectBadKey(
      () => loadPrivateKey(literal),
      ['literal "\\n"', "key.replace(/\\\\n/g, '\\n')"],
      K.goKeyPkcs8,
    );
  });

  it('refuses bare base64 without armour and names the armour to add', () => {
    const bare = pemBody(K.goKeyPkcs8);
    expectBadKey(
      () => loadPrivateKey(bare),
      ['without PEM armour', '-----BEGIN PRIVATE KEY-----'],
      K.goKeyPkcs8,
    );
    const barePkcs1 = pemBody(K.goKeyPkcs1);
    expectBadKey(() => loadPrivateKey(barePkcs1), ['-----BEGIN RSA PRIVATE KEY-----'], K.goKeyPkcs1);
  });

  it('refuses empty input, garbage, a file path and non-key bytes', () => {
    expectBadKey(() => loadPrivateKey(''), ['empty']);
    expectBadKey(() => loadPrivateKey('   \n'), ['empty']);
    expectBadKey(() => loadPrivateKey(new Uint8Array()), ['empty']);
    expectBadKey(() => loadPrivateKey('hello world'), ['not PEM', '-----BEGIN PRIVATE KEY-----']);
    expectBadKey(() => loadPrivateKey('/etc/wechatpay/apiclient_key.pem'), ['file path', 'readFileSync']);
    expectBadKey(
      () => loadPrivateKey(new Uint8Array([0x30, 0x82, 0x01, 0x00, 0xff, 0x00])),
      ['apiclient_cert.p12'],
    );
    expectBadKey(() => loadPrivateKey(42 as unknown as string), ['number']);
  });

  it('refuses a truncated or corrupted PEM without leaking OpenSSL errors', () => {
    const noEnd = K.goKeyPkcs8.slice(0, K.goKeyPkcs8.indexOf('-----END'));
    expectBadKey(() => loadPrivateKey(noEnd), ['-----END'], K.goKeyPkcs8);
    const badChars = K.goKeyPkcs8.replace('MIIEvgIBADAN', 'MIIEvg!BADAN');
    expectBadKey(() => loadPrivateKey(badChars), ['not valid base64'], K.goKeyPkcs8);
    // Valid base64, wrong content under the label: node:crypto's error is wrapped, kept as cause.
    const lines = K.goKeyPkcs8.split('\n');
    const cut = [lines[0], ...lines.slice(1, 6), lines.at(-2)].join('\n');
    const error = expectBadKey(() => loadPrivateKey(cut), ['could not be parsed'], K.goKeyPkcs8);
    expect(error.cause).toBeInstanceOf(Error);
  });

  it('refuses a PEM holding two private keys', () => {
    expectBadKey(() => loadPrivateKey(K.goKeyPkcs8 + K.platformKeyPkcs8), ['2 keys']);
  });

  it('takes the key from a bundle of key and certificate', () => {
    expect(modulus(loadPrivateKey(K.goCert + K.goKeyPkcs8))).toBe(modulus(loadPrivateKey(K.goKeyPkcs8)));
  });
});

describe('loadPublicKey', () => {
  it('loads SPKI, PKCS#1 public, a certificate PEM, an X509Certificate and a loaded certificate to the same key', () => {
    const expected = modulus(loadPrivateKey(K.goKeyPkcs8));
    for (const input of [
      K.goPublicSpki,
      K.goPublicPkcs1,
      K.goCert,
      Buffer.from(K.goCert),
      new X509Certificate(K.goCert),
      loadCertificate(K.goCert),
    ]) {
      const key = loadPublicKey(input);
      expect(key.type).toBe('public');
      expect(modulus(key)).toBe(expected);
    }
  });

  it('refuses the merchant private key: verify with the WeChat Pay public key or platform certificate', () => {
    for (const pem of [K.goKeyPkcs8, K.goKeyPkcs1]) {
      expectBadKey(
        () => loadPublicKey(pem),
        ['private key', 'pub_key.pem', 'PUB_KEY_ID_', 'platform certificate'],
        pem,
      );
    }
    expectBadKey(() => loadPublicKey(createPrivateKey(K.goKeyPkcs8)), ['pub_key.pem']);
  });

  it('refuses non-RSA public keys and literal \\n PEMs', () => {
    const ec = generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).publicKey;
    expectBadKey(
      () => loadPublicKey(ec.export({ format: 'pem', type: 'spki' }).toString()),
      ['EC', 'RSA-2048'],
    );
    expectBadKey(() => loadPublicKey(K.goPublicSpki.replace(/\n/g, '\\n')), ['literal']);
  });
});

describe('loadCertificate', () => {
  it('reads a serial whose DER has a leading 00 byte without it (wechatpay-go test certificate)', () => {
    const cert = loadCertificate(K.goCert);
    // The DER INTEGER is 02 09 00 D7 CE …: nine bytes, the first one only there for the sign bit.
    expect(cert.x509.raw.includes(Buffer.from('020900d7ce59d1f522d701', 'hex'))).toBe(true);
    expect(cert.serialNo).toBe(K.goCertSerial);
    expect(cert.serialNo).toBe('D7CE59D1F522D701');
  });

  it('strips the leading 00 of a 20-byte high-bit serial and keeps a leading 0 nibble', () => {
    const cert = loadCertificate(K.platformCert);
    expect(cert.x509.raw.includes(Buffer.from('021500', 'hex'))).toBe(true);
    expect(cert.serialNo).toBe('80A1B2C3D4E5F60718293A4B5C6D7E8F90A1B2C3');
    expect(certificateSerial(K.lowSerialCert)).toBe('0ABC');
  });

  it('exposes the RSA public key and the validity period', () => {
    const cert = loadCertificate(K.goCert);
    expect(cert.publicKey.asymmetricKeyType).toBe('rsa');
    expect(cert.validFrom.toISOString()).toBe('2021-04-27T08:55:23.000Z');
    expect(cert.validTo.toISOString()).toBe('2031-04-25T08:55:23.000Z');
    expect(loadCertificate(new X509Certificate(K.goCert)).serialNo).toBe('D7CE59D1F522D701');
    expect(loadCertificate(new X509Certificate(K.goCert).raw).serialNo).toBe('D7CE59D1F522D701');
  });

  it('gives the serial of the platform certificate decrypted from the wechatpay-java download vector', () => {
    const v = fx['JAVA-CERT-DOWNLOAD'];
    expect(certificateSerial(v.plaintext_pem)).toBe(v.serial_no);
  });

  it('refuses keys where a certificate is expected', () => {
    expectBadKey(() => loadCertificate(K.goKeyPkcs8), ['private key', 'pub_key.pem'], K.goKeyPkcs8);
    expectBadKey(() => loadCertificate(K.goPublicSpki), ['public key', 'PUB_KEY_ID_']);
    expectBadKey(() => loadCertificate('not a certificate'), ['-----BEGIN CERTIFICATE-----']);
  });
});

describe('certificate serials', () => {
  it('normalises to uppercase without leading 00 bytes', () => {
    expect(normalizeSerial('00d7ce59d1f522d701')).toBe('D7CE59D1F522D701');
    expect(normalizeSerial('0000abc')).toBe('0ABC');
    expect(normalizeSerial('5dea10ef55877e3cf6c33255c2e7deff f7e427ec'.replace(' ', ''))).toBe(
      '5DEA10EF55877E3CF6C33255C2E7DEFFF7E427EC',
    );
  });

  it('compares case-insensitively, ignoring leading zeros', () => {
    expect(sameSerial('00d7ce59d1f522d701', 'D7CE59D1F522D701')).toBe(true);
    expect(sameSerial('0ABC', 'abc')).toBe(true);
    expect(sameSerial('D7CE59D1F522D701', 'D7CE59D1F522D702')).toBe(false);
  });
});

describe('key files as bytes', () => {
  it('reads PEM bytes with a UTF-8 byte order mark or non-ASCII text around the armour', () => {
    const expected = modulus(loadPrivateKey(K.goKeyPkcs8));
    const bom = Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(K.goKeyPkcs8)]);
    expect(modulus(loadPrivateKey(bom))).toBe(expected);
    expect(modulus(loadPrivateKey(Buffer.from(`商户私钥 (test)\n${K.goKeyPkcs8}`)))).toBe(expected);
    expect(loadCertificate(Buffer.from(`Bag Attributes\n    friendlyName: 证书\n${K.goCert}`)).serialNo).toBe(
      'D7CE59D1F522D701',
    );
  });
});
