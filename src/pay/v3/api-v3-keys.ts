import { SecretList } from '../../core/secret-source.js';
import { ConfigError } from '../../errors.js';

function unset(value: unknown): string {
  return value === undefined
    ? 'it is undefined — if it comes from process.env, is the variable set?'
    : value === ''
      ? 'it is an empty string'
      : `got a ${typeof value}`;
}

/**
 * The `apiV3Key` option of {@link PayV3}: one key or a list, current first (while the key is being
 * changed in the merchant platform), each a value or a secret provider. Values given as such are
 * checked now, provider values when first read, with the same errors: `BAD_KEY` for a key that is
 * not 32 bytes, `INVALID_CONFIG` for a missing key, an empty list or a key listed twice.
 */
export function payV3ApiV3Keys(input: unknown): SecretList {
  return new SecretList('apiV3Key', input, {
    check(value, label, from) {
      const where = from === undefined ? label : `${label} (from secret provider "${from}")`;
      if (value === undefined || value === '') {
        throw new ConfigError('INVALID_CONFIG', `PayV3: ${where} is required (${unset(value)})`);
      }
      if (typeof value !== 'string' || Buffer.byteLength(value, 'utf8') !== 32) {
        const length = typeof value === 'string' ? Buffer.byteLength(value, 'utf8') : 0;
        throw new ConfigError(
          'BAD_KEY',
          `PayV3: ${where} must be the 32-character APIv3 key set in 账户中心 → API安全 → APIv3密钥 (got ${typeof value === 'string' ? `${length} bytes` : typeof value}); it is used as is — not base64/hex-decoded — and it is not the APIv2 key.`,
        );
      }
      return value;
    },
    empty: () =>
      new ConfigError(
        'INVALID_CONFIG',
        'PayV3: apiV3Key is an empty list: give the current APIv3 key (while changing it: the new key first, then the old)',
      ),
    repeated: (label, first) =>
      new ConfigError('INVALID_CONFIG', `PayV3: ${label} repeats ${first}: list each key once`),
  });
}
