import { randomBytes } from 'node:crypto';

/** Randomness source: returns `size` cryptographically secure random bytes. Injectable in tests. */
export type RandomSource = (size: number) => Uint8Array;

/** Clock: milliseconds since the Unix epoch, like `Date.now`. Injectable in tests. */
export type Clock = () => number;

const POOL_SIZE = 4096;
let pool = Buffer.alloc(0);
let poolOffset = 0;

/**
 * CSPRNG bytes. Small requests (nonces, the 16-byte message prefix) are served from a pooled
 * `randomBytes(4096)`, each byte handed out once and copied out of the pool: one OpenSSL call per
 * ~200 messages instead of two per message.
 */
export const defaultRandom: RandomSource = (size) => {
  if (size > 256) return randomBytes(size);
  if (poolOffset + size > pool.length) {
    pool = randomBytes(POOL_SIZE);
    poolOffset = 0;
  }
  const out = Buffer.from(pool.subarray(poolOffset, poolOffset + size));
  poolOffset += size;
  return out;
};
export const defaultClock: Clock = () => Date.now();

export function toBuffer(value: string | Uint8Array): Buffer {
  if (typeof value === 'string') return Buffer.from(value, 'utf8');
  return Buffer.isBuffer(value) ? value : Buffer.from(value.buffer, value.byteOffset, value.byteLength);
}

export function toText(value: string | Uint8Array): string {
  return typeof value === 'string' ? value : toBuffer(value).toString('utf8');
}

/** Size in bytes of a body given as bytes or as text (its UTF-8 encoding, counted without copying). */
export function byteLength(body: string | Uint8Array): number {
  return typeof body === 'string' ? Buffer.byteLength(body, 'utf8') : body.byteLength;
}

/**
 * Constant-time string comparison: every UTF-16 code unit is compared whatever the first
 * difference, without the two Buffer copies a `timingSafeEqual` of strings needs (it runs on every
 * signature check). Only the length can leak, and signatures have a public, fixed length anyway.
 */
export function safeEqual(a: string, b: string): boolean {
  const length = a.length;
  // Different lengths: still walk `a`, so the time depends on the expected value's length alone.
  let diff = length === b.length ? 0 : 1;
  const other = diff === 0 ? b : a;
  for (let i = 0; i < length; i++) diff |= a.charCodeAt(i) ^ other.charCodeAt(i);
  return diff === 0;
}

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/** Strict standard base64 (with padding). Node's own decoder silently skips bad characters. */
export function isStrictBase64(value: string): boolean {
  return value.length % 4 === 0 && BASE64.test(value);
}

/**
 * Decodes canonical standard base64 (padded, unused trailing bits zero — what every encoder emits),
 * or returns `undefined`. Re-encoding confirms it, which is cheaper than a regular expression and
 * gives each value exactly one accepted spelling: a signature cannot be "changed" into an
 * equivalent string that still verifies.
 */
export function decodeBase64Strict(value: string): Buffer | undefined {
  if (typeof value !== 'string') return undefined;
  const bytes = Buffer.from(value, 'base64');
  return bytes.toString('base64') === value ? bytes : undefined;
}

const ALNUM = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';

/** A random alphanumeric string of `length` characters, without modulo bias. */
export function randomAlphanumeric(length: number, random: RandomSource = defaultRandom): string {
  let out = '';
  while (out.length < length) {
    const bytes = random(length * 2);
    for (let i = 0; i < bytes.length && out.length < length; i++) {
      const b = bytes[i] as number;
      if (b < 248) out += ALNUM[b % 62];
    }
  }
  return out;
}

/** Random bytes as uppercase hex (`2 * size` characters). */
export function randomHex(size: number, random: RandomSource = defaultRandom): string {
  return Buffer.from(random(size)).toString('hex').toUpperCase();
}

/** The current Unix time in whole seconds, from an injectable clock. */
export function unixSeconds(now: Clock = defaultClock): number {
  return Math.floor(now() / 1000);
}
