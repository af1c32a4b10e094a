import { createCipheriv, createDecipheriv } from 'node:crypto';
import { ConfigError, CryptoError } from '../errors.js';
import {
  decodeBase64Strict,
  defaultRandom,
  type RandomSource,
  randomAlphanumeric,
} from '../internal/bytes.js';

/**
 * AEAD_AES_256_GCM as WeChat Pay v3 uses it for notification resources and downloaded platform
 * certificates: the key is the 32-character APIv3 key used as its bytes, the nonce and
 * associated data are used as their bytes, and the base64 ciphertext ends with a 16-byte tag.
 */

/** The only algorithm WeChat Pay v3 uses for resources (the string in `resource.algorithm`). */
const PAY_V3_AEAD_ALGORITHM = 'AEAD_AES_256_GCM';

const TAG_BYTES = 16;

function apiV3KeyBytes(apiV3Key: unknown): Buffer {
  if (typeof apiV3Key !== 'string') {
    throw new ConfigError(
      'BAD_KEY',
      'apiV3Key must be the 32-character APIv3 key string from the merchant platform.',
    );
  }
  const key = Buffer.from(apiV3Key, 'utf8');
  if (key.length !== 32) {
    throw new ConfigError(
      'BAD_KEY',
      `apiV3Key is ${key.length} bytes, but the APIv3 key is exactly 32 characters, used as is: set in the merchant platform (账户中心 → API安全 → 设置APIv3密钥). ` +
        'It is not the APIv2 key, and it must not be base64- or hex-decoded (or encoded) first.' +
        (key.length === 16 ? ' A 16-byte key would mean AES-128-GCM, which WeChat Pay v3 does not use.' : ''),
    );
  }
  return key;
}

function checkAlgorithm(algorithm: unknown): void {
  if (algorithm !== PAY_V3_AEAD_ALGORITHM) {
    const name = typeof algorithm === 'string' ? JSON.stringify(algorithm.slice(0, 40)) : String(algorithm);
    throw new CryptoError(
      'UNSUPPORTED_ALGORITHM',
      `Resource algorithm ${name} is not supported: WeChat Pay v3 resources use ${PAY_V3_AEAD_ALGORITHM}.`,
    );
  }
}

function textBytes(name: string, value: unknown): Buffer {
  if (typeof value !== 'string') throw new CryptoError('BAD_CIPHERTEXT', `${name} must be a string.`);
  return Buffer.from(value, 'utf8');
}

/** Inputs of {@link decryptResource}; wire names in the notification are noted per field. */
export interface DecryptResourceInput {
  /** The 32-character APIv3 key. */
  apiV3Key: string;
  /** `resource.algorithm`; default `AEAD_AES_256_GCM`, anything else is refused. */
  algorithm?: string;
  /** `resource.ciphertext`: base64 of ciphertext ‖ 16-byte tag. */
  ciphertext: string;
  /** `resource.nonce`: used as its UTF-8 bytes (12 in WeChat's messages), never base64-decoded. */
  nonce: string;
  /** `resource.associated_data`, verbatim; absent or empty means empty associated data. */
  associatedData?: string;
}

/**
 * Decrypts a WeChat Pay v3 resource (a notification's `resource`, or an `encrypt_certificate`
 * from `GET /v3/certificates` with associated data `certificate`) and returns the plaintext.
 * Throws `ConfigError('BAD_KEY')` for a key that is not 32 bytes, `CryptoError` with
 * `UNSUPPORTED_ALGORITHM`, `BAD_CIPHERTEXT` (not base64, too short) or `DECRYPT_FAILED`.
 *
 * @example
 * const { resource } = JSON.parse(rawBody);
 * const plaintext = decryptResource({
 *   apiV3Key, algorithm: resource.algorithm, ciphertext: resource.ciphertext,
 *   nonce: resource.nonce, associatedData: resource.associated_data,
 * });
 */
export function decryptResource(input: DecryptResourceInput): string {
  checkAlgorithm(input.algorithm ?? PAY_V3_AEAD_ALGORITHM);
  const key = apiV3KeyBytes(input.apiV3Key);
  const data = decodeBase64Strict(input.ciphertext);
  if (data === undefined) {
    throw new CryptoError('BAD_CIPHERTEXT', 'ciphertext is not standard base64 (with padding).');
  }
  if (data.length < TAG_BYTES) {
    throw new CryptoError(
      'BAD_CIPHERTEXT',
      `ciphertext is ${data.length} bytes, shorter than the ${TAG_BYTES}-byte GCM tag it must end with.`,
    );
  }
  const nonce = textBytes('nonce', input.nonce);
  if (nonce.length === 0) throw new CryptoError('BAD_CIPHERTEXT', 'nonce is empty.');
  const aad = textBytes('associatedData', input.associatedData ?? '');
  try {
    const decipher = createDecipheriv('aes-256-gcm', key, nonce, { authTagLength: TAG_BYTES });
    decipher.setAAD(aad);
    decipher.setAuthTag(data.subarray(data.length - TAG_BYTES));
    const plain = Buffer.concat([
      decipher.update(data.subarray(0, data.length - TAG_BYTES)),
      decipher.final(),
    ]);
    return plain.toString('utf8');
  } catch (cause) {
    throw new CryptoError(
      'DECRYPT_FAILED',
      'AEAD_AES_256_GCM authentication failed: the APIv3 key is wrong (it is the 32-character APIv3 key, not the APIv2 key), ' +
        'or the nonce, associated_data or ciphertext were altered — pass them exactly as received.',
      { cause },
    );
  }
}

/** Inputs of {@link encryptResource}. */
export interface EncryptResourceInput {
  apiV3Key: string;
  plaintext: string;
  /** Defaults to 12 random alphanumeric characters, like WeChat Pay's nonces. */
  nonce?: string;
  /** Defaults to empty. */
  associatedData?: string;
  random?: RandomSource;
}

/** An encrypted resource with WeChat Pay's wire names. */
export interface EncryptedResource {
  algorithm: 'AEAD_AES_256_GCM';
  ciphertext: string;
  nonce: string;
  associated_data: string;
}

/**
 * Encrypts a resource the way WeChat Pay does — for tests and the emulator, to build
 * notifications your handler can open.
 *
 * @example
 * const resource = encryptResource({ apiV3Key, plaintext: JSON.stringify(transaction), associatedData: 'transaction' });
 */
export function encryptResource(input: EncryptResourceInput): EncryptedResource {
  const key = apiV3KeyBytes(input.apiV3Key);
  const nonce = input.nonce ?? randomAlphanumeric(12, input.random ?? defaultRandom);
  const nonceBytes = textBytes('nonce', nonce);
  if (nonceBytes.length === 0) throw new CryptoError('BAD_CIPHERTEXT', 'nonce is empty.');
  const associatedData = input.associatedData ?? '';
  const cipher = createCipheriv('aes-256-gcm', key, nonceBytes, { authTagLength: TAG_BYTES });
  cipher.setAAD(textBytes('associatedData', associatedData));
  const body = Buffer.concat([cipher.update(Buffer.from(input.plaintext, 'utf8')), cipher.final()]);
  return {
    algorithm: PAY_V3_AEAD_ALGORITHM,
    ciphertext: Buffer.concat([body, cipher.getAuthTag()]).toString('base64'),
    nonce,
    associated_data: associatedData,
  };
}
