import { generateKeyPairSync, sign } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadCertificate, loadPublicKey, PayV3Verifier } from '../../src/crypto/index.js';
import {
  createEmulator,
  defaultConfig,
  type RunningEmulator,
  startEmulator,
} from '../../src/emulator/index.js';
import { mintCertificate, platformSerialNo } from '../../src/emulator/x509.js';

// Regression: the serial used to be `hex.replace(/^0+/, '7')`, which left 39 digits whenever the
// random hex started with "00" (1 start in 256); the minted certificate then carried a truncated
// serial and certificate-mode verification of every Pay answer failed.
const WELL_FORMED = /^[1-9A-F][0-9A-F]{39}$/;
const key = generateKeyPairSync('rsa', { modulusLength: 2048 });

function mint(serialHex: string): string {
  return mintCertificate({
    serialHex,
    publicKey: key.publicKey,
    signingKey: key.privateKey,
    commonName: 'test',
    notBefore: new Date(0),
    notAfter: new Date(86_400_000),
  });
}

describe('emulator platform certificate serials', () => {
  it('is 40 hex digits for every first byte, including the leading-zero ones that used to lose a digit', () => {
    for (let first = 0; first < 256; first++) {
      for (const second of [0x00, 0x0f, 0xff]) {
        const bytes = new Uint8Array(20).fill(0xab);
        bytes[0] = first;
        bytes[1] = second;
        const serial = platformSerialNo(bytes);
        expect(serial).toMatch(WELL_FORMED);
        // Only a zero first digit is rewritten; every other digit is the random one.
        expect(serial.slice(1)).toBe(Buffer.from(bytes).toString('hex').toUpperCase().slice(1));
      }
    }
  });

  it('mints certificates that carry exactly the serial they are announced with', () => {
    for (const first of [0x00, 0x01, 0x0f, 0x10, 0x7f, 0x80, 0xff]) {
      const bytes = new Uint8Array(20).fill(first);
      const serial = platformSerialNo(bytes);
      expect(loadCertificate(mint(serial)).serialNo).toBe(serial);
    }
  });

  it('refuses to mint from an odd number of hex digits instead of truncating the serial', () => {
    expect(() => mint('7'.repeat(39))).toThrow(/even number of hex digits/);
  });

  it('gives every emulator a well-formed serial that names its certificate and verifies its signatures', () => {
    for (let i = 0; i < 6; i++) {
      const emulator = createEmulator(defaultConfig());
      try {
        const { certificate } = emulator.state.platform;
        expect(certificate.serialNo).toMatch(WELL_FORMED);
        expect(loadCertificate(certificate.pem).serialNo).toBe(certificate.serialNo);
        // A Pay answer signed the way the emulator signs it verifies in certificate mode.
        const timestamp = String(Math.floor(Date.now() / 1000));
        const body = '{"ok":true}';
        const signature = sign(
          'sha256',
          Buffer.from(`${timestamp}\nnonce${i}\n${body}\n`),
          certificate.privateKey,
        );
        const headers = {
          'wechatpay-timestamp': timestamp,
          'wechatpay-nonce': `nonce${i}`,
          'wechatpay-signature': signature.toString('base64'),
          'wechatpay-serial': certificate.serialNo,
        };
        new PayV3Verifier({ certificates: [certificate.pem] }).verify({ headers, body });
      } finally {
        emulator.close?.();
      }
    }
  });
});

describe('the platform certificate over HTTP', () => {
  let emulator: RunningEmulator;

  beforeAll(async () => {
    emulator = await startEmulator({ config: { apps: [], merchants: [] } });
  });
  afterAll(() => emulator.close());

  it('publishes a platform certificate whose serial is the one announced, and a PUB_KEY_ID public key', async () => {
    const platform = (await (await fetch(`${emulator.url}/_emulator/pay/platform`)).json()) as {
      certificates: Array<{ serialNo: string; pem: string }>;
      publicKey: { id: string; pem: string };
    };
    const [cert] = platform.certificates;
    expect(loadCertificate(cert!.pem).serialNo).toBe(cert!.serialNo);
    expect(platform.publicKey.id).toMatch(/^PUB_KEY_ID_\d+$/);
    expect(loadPublicKey(platform.publicKey.pem).asymmetricKeyType).toBe('rsa');
  });
});
