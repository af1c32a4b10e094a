import { CryptoError } from '../errors.js';

/**
 * Strict PKCS#7 removal for 16-byte-block formats (Pay v2 `req_info`, Mini Program
 * `encryptedData`). Not for pushed messages: their cipher pads to 32 bytes (`message-cipher.ts`).
 */
export function unpad16(plain: Buffer, what: string): Buffer {
  const pad = plain[plain.length - 1] ?? 0;
  let ok = pad >= 1 && pad <= 16 && pad <= plain.length;
  for (let i = plain.length - pad; ok && i < plain.length; i++) ok = plain[i] === pad;
  if (!ok) {
    throw new CryptoError('BAD_PADDING', `${what} padding is invalid: the key is probably wrong`);
  }
  return plain.subarray(0, plain.length - pad);
}
