import { constants, type KeyObject, privateDecrypt, publicEncrypt, type X509Certificate } from 'node:crypto';
import { ArgumentError, CryptoError } from '../errors.js';
import { isStrictBase64 } from '../internal/bytes.js';
import { type LoadedCertificate, loadPrivateKey, loadPublicKey } from './keys.js';

/**
 * RSA-OAEP for WeChat Pay v3 sensitive fields (敏感信息加密): OAEP with SHA-1 and MGF1-SHA-1
 * (Java's `RSA/ECB/OAEPWithSHA-1AndMGF1Padding`), base64 on the wire.
 */

/** SHA-1 OAEP overhead: 2 × 20-byte hash + 2 bytes. */
const OAEP_SHA1_OVERHEAD = 42;

function modulusBytes(key: KeyObject): number {
  const bits = key.asymmetricKeyDetails?.modulusLength ?? 2048;
  return Math.ceil(bits / 8);
}

/**
 * Encrypts a sensitive field (name, phone, ID number…) for a WeChat Pay request with the WeChat
 * Pay public key or platform certificate. The request must also carry `Wechatpay-Serial` naming
 * that key (`PUB_KEY_ID_…` or the certificate serial).
 *
 * @example
 * const encryptedName = oaepEncrypt('张三', wechatpayPublicKey);
 * headers['Wechatpay-Serial'] = 'PUB_KEY_ID_0114232134912410000000000000';
 */
export function oaepEncrypt(
  plaintext: string,
  publicKey: KeyObject | string | Uint8Array | X509Certificate | LoadedCertificate,
): string {
  const key = loadPublicKey(publicKey);
  const data = Buffer.from(plaintext, 'utf8');
  const max = modulusBytes(key) - OAEP_SHA1_OVERHEAD;
  if (data.length > max) {
    throw new ArgumentError(
      `plaintext is ${data.length} bytes in UTF-8; RSA-OAEP (SHA-1) with this key fits at most ${max} bytes.`,
    );
  }
  try {
    return publicEncrypt({ key, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha1' }, data).toString(
      'base64',
    );
  } catch (cause) {
    throw new ArgumentError('RSA-OAEP encryption failed with this key.', { cause });
  }
}

/**
 * Decrypts a sensitive field that WeChat Pay encrypted for you with your merchant certificate,
 * using the merchant private key (apiclient_key.pem).
 *
 * @example
 * const name = oaepDecrypt(response.name, merchantPrivateKey);
 */
export function oaepDecrypt(ciphertext: string, privateKey: KeyObject | string | Uint8Array): string {
  const key = loadPrivateKey(privateKey);
  if (typeof ciphertext !== 'string' || ciphertext === '' || !isStrictBase64(ciphertext)) {
    throw new CryptoError('BAD_CIPHERTEXT', 'ciphertext is not standard base64 (with padding).');
  }
  const data = Buffer.from(ciphertext, 'base64');
  const expected = modulusBytes(key);
  if (data.length !== expected) {
    throw new CryptoError(
      'BAD_CIPHERTEXT',
      `ciphertext is ${data.length} bytes, but RSA with this ${expected * 8}-bit key produces exactly ${expected}: it was truncated, or encrypted for another key.`,
    );
  }
  try {
    return privateDecrypt(
      { key, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha1' },
      data,
    ).toString('utf8');
  } catch (cause) {
    throw new CryptoError(
      'DECRYPT_FAILED',
      'RSA-OAEP decryption failed: the field was encrypted for another key (it must be your merchant certificate’s key), ' +
        'with another padding (WeChat Pay uses OAEP with SHA-1), or altered.',
      { cause },
    );
  }
}
