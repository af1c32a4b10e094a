import { constants, createPublicKey, publicEncrypt } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { loadCertificate, loadPublicKey } from '../../src/crypto/keys.js';
import { decryptResource, encryptResource, oaepDecrypt, oaepEncrypt } from '../../src/crypto/pay-v3.js';
import { ConfigError, CryptoError } from '../../src/errors.js';
import { expectCode, fixedRandom } from '../helpers.js';
import { API_V3_KEY, fx, gcmEncrypt } from './pay-v3-fixture.js';

const K = fx.keys;
const JAVA = fx['JAVA-AEAD'];
const java = {
  apiV3Key: JAVA.key,
  algorithm: 'AEAD_AES_256_GCM',
  ciphertext: JAVA.ciphertext,
  nonce: JAVA.nonce,
  associatedData: JAVA.associated_data,
};

function flipLastByte(b64: string): string {
  const bytes = Buffer.from(b64, 'base64');
  bytes[bytes.length - 1] = (bytes[bytes.length - 1] ?? 0) ^ 1;
  return bytes.toString('base64');
}

describe('decryptResource (AEAD_AES_256_GCM)', () => {
  it('decrypts the wechatpay-java vectors (JAVA-AEAD, JAVA-CERT-DOWNLOAD)', () => {
    expect(decryptResource(java)).toBe(JAVA.plaintext);
    const cert = fx['JAVA-CERT-DOWNLOAD'];
    const pem = decryptResource({
      apiV3Key: cert.key,
      ciphertext: cert.ciphertext,
      nonce: cert.nonce,
      associatedData: cert.associated_data,
    });
    expect(pem).toBe(cert.plaintext_pem);
    expect(loadCertificate(pem).serialNo).toBe(cert.serial_no);
  });

  it('decrypts the wechatpay-axios-plugin vectors, whose nonce is 16 bytes and one plaintext empty', () => {
    const ax = fx['AXIOS-GCM'];
    for (const c of ax.cases) {
      expect(
        decryptResource({ apiV3Key: ax.key, ciphertext: c.ciphertext, nonce: ax.iv, associatedData: c.aad }),
      ).toBe(c.plaintext);
    }
  });

  it('uses an empty or absent associated_data as empty AAD, and UTF-8 plaintext', () => {
    const n = fx['SELF-NOTIFY'];
    const nonce = 'fdasflkja484';
    expect(
      decryptResource({
        apiV3Key: n.apiv3_key,
        ciphertext: n.ciphertext_empty_aad,
        nonce,
        associatedData: '',
      }),
    ).toBe(n.plaintext);
    expect(decryptResource({ apiV3Key: n.apiv3_key, ciphertext: n.ciphertext_empty_aad, nonce })).toBe(
      n.plaintext,
    );
  });

  it('refuses the 16-byte keys of the Go test vectors (AES-128-GCM) instead of switching cipher', () => {
    const go = fx['GO-AES-UTIL'];
    const error = expectCode(
      () =>
        decryptResource({
          apiV3Key: go.key,
          ciphertext: go.ciphertext,
          nonce: go.nonce,
          associatedData: go.associated_data,
        }),
      'BAD_KEY',
    );
    expect(error).toBeInstanceOf(ConfigError);
    expect(error.message).toContain('32');
    expect(error.message).toContain('APIv2');
    expect(error.message).not.toContain(go.key);
    const notify = JSON.parse(fx['GO-NOTIFY'].body).resource;
    expectCode(
      () =>
        decryptResource({
          apiV3Key: fx['GO-NOTIFY'].apiv3_key,
          ciphertext: notify.ciphertext,
          nonce: notify.nonce,
          associatedData: notify.associated_data,
        }),
      'BAD_KEY',
    );
  });

  it('refuses a base64-encoded APIv3 key and says it is used as is', () => {
    const encoded = Buffer.from(JAVA.key).toString('base64');
    expect(expectCode(() => decryptResource({ ...java, apiV3Key: encoded }), 'BAD_KEY').message).toMatch(
      /not be base64/,
    );
  });

  it('refuses a flipped tag, a wrong key, a wrong AAD and a wrong nonce with DECRYPT_FAILED', () => {
    for (const changed of [
      { ciphertext: flipLastByte(JAVA.ciphertext) },
      { apiV3Key: `b${JAVA.key.slice(1)}` },
      { associatedData: 'associatedDatA' },
      { associatedData: '' },
      { nonce: 'uluk4a9R25RX' },
    ]) {
      const error = expectCode(() => decryptResource({ ...java, ...changed }), 'DECRYPT_FAILED');
      expect(error).toBeInstanceOf(CryptoError);
      expect(error.message).toContain('APIv3 key');
    }
  });

  it('refuses malformed ciphertext with BAD_CIPHERTEXT', () => {
    expectCode(
      () => decryptResource({ ...java, ciphertext: JAVA.ciphertext.replace('+', '-') }),
      'BAD_CIPHERTEXT',
    );
    expectCode(() => decryptResource({ ...java, ciphertext: 'AAAAAAAAAAAAAAAAAAAA' }), 'BAD_CIPHERTEXT'); // 15 bytes
    expectCode(() => decryptResource({ ...java, nonce: '' }), 'BAD_CIPHERTEXT');
  });

  it('refuses any algorithm other than AEAD_AES_256_GCM', () => {
    for (const algorithm of ['AEAD_AES_128_GCM', 'AEAD_SM4_GCM', 'aead_aes_256_gcm', '']) {
      expect(
        expectCode(() => decryptResource({ ...java, algorithm }), 'UNSUPPORTED_ALGORITHM'),
      ).toBeInstanceOf(CryptoError);
    }
  });

  it('encryptResource round-trips and matches an independent AES-256-GCM encryption', () => {
    const plaintext = '{"out_trade_no":"1217752501201407033233368018","trade_state_desc":"支付成功"}';
    const sealed = encryptResource({
      apiV3Key: API_V3_KEY,
      plaintext,
      nonce: 'fdasflkja484',
      associatedData: 'transaction',
    });
    expect(sealed).toEqual({
      algorithm: 'AEAD_AES_256_GCM',
      ciphertext: gcmEncrypt(API_V3_KEY, 'fdasflkja484', plaintext, 'transaction'),
      nonce: 'fdasflkja484',
      associated_data: 'transaction',
    });
    const random = encryptResource({ apiV3Key: API_V3_KEY, plaintext, random: fixedRandom(0) });
    expect(random.nonce).toMatch(/^[A-Za-z0-9]{12}$/);
    expect(random.associated_data).toBe('');
    expect(decryptResource({ apiV3Key: API_V3_KEY, ...random, associatedData: random.associated_data })).toBe(
      plaintext,
    );
    expectCode(() => encryptResource({ apiV3Key: 'short', plaintext }), 'BAD_KEY');
  });
});

describe('RSA-OAEP (SHA-1) sensitive fields', () => {
  it('decrypts the known-answer ciphertext with the PKCS#8 and PKCS#1 key', () => {
    const v = fx['SELF-OAEP'];
    expect(oaepDecrypt(v.ciphertext, K.goKeyPkcs8)).toBe(v.plaintext);
    expect(oaepDecrypt(v.ciphertext, K.goKeyPkcs1)).toBe(v.plaintext);
  });

  it('round-trips with a certificate, a public key and a loaded certificate', () => {
    for (const key of [K.goCert, K.goPublicSpki, loadCertificate(K.goCert), loadPublicKey(K.goPublicPkcs1)]) {
      const ciphertext = oaepEncrypt('440106199001011234', key);
      expect(Buffer.from(ciphertext, 'base64')).toHaveLength(256);
      expect(oaepDecrypt(ciphertext, K.goKeyPkcs8)).toBe('440106199001011234');
    }
  });

  it('refuses a flipped byte, another padding and another key with DECRYPT_FAILED', () => {
    expectCode(() => oaepDecrypt(flipLastByte(fx['SELF-OAEP'].ciphertext), K.goKeyPkcs8), 'DECRYPT_FAILED');
    const key = createPublicKey(K.goPublicSpki);
    const sha256 = publicEncrypt(
      { key, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256' },
      Buffer.from('张三'),
    );
    expectCode(() => oaepDecrypt(sha256.toString('base64'), K.goKeyPkcs8), 'DECRYPT_FAILED');
    expectCode(() => oaepDecrypt(fx['SELF-OAEP'].ciphertext, K.platformKeyPkcs8), 'DECRYPT_FAILED');
  });

  it('refuses non-base64 and wrong-length ciphertext with BAD_CIPHERTEXT', () => {
    expectCode(() => oaepDecrypt('张三', K.goKeyPkcs8), 'BAD_CIPHERTEXT');
    expectCode(() => oaepDecrypt('', K.goKeyPkcs8), 'BAD_CIPHERTEXT');
    expectCode(() => oaepDecrypt(Buffer.alloc(128).toString('base64'), K.goKeyPkcs8), 'BAD_CIPHERTEXT');
  });

  it('refuses a plaintext longer than one OAEP block, and wrong keys', () => {
    expect(expectCode(() => oaepEncrypt('x'.repeat(215), K.goCert), 'INVALID_ARGUMENT').message).toContain(
      '214',
    );
    expect(oaepDecrypt(oaepEncrypt('x'.repeat(214), K.goCert), K.goKeyPkcs8)).toHaveLength(214);
    expectCode(() => oaepEncrypt('张三', K.goKeyPkcs8), 'BAD_KEY');
    expectCode(() => oaepDecrypt(fx['SELF-OAEP'].ciphertext, K.goCert), 'BAD_KEY');
  });
});
