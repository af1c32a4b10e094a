import { describe, expect, it } from 'vitest';
import {
  assertFreshTimestamp,
  computeServerSignature,
  verifyServerSignature,
} from '../../src/crypto/index.js';
import { sortedSha1 } from '../../src/internal/sorted-sha1.js';
import { at, expectCode } from '../helpers.js';

describe('server URL signature', () => {
  const input = { token: 'AAAAA', timestamp: '1714036504', nonce: '1514711492' };

  it('matches the official handshake example and verifies it', () => {
    expect(computeServerSignature(input)).toBe('f464b24fc39322e44b38aa78f5edd27bd1441696');
    verifyServerSignature({ ...input, signature: 'f464b24fc39322e44b38aa78f5edd27bd1441696' });
  });

  it('refuses a wrong, truncated or empty signature', () => {
    for (const signature of ['f464b24fc39322e44b38aa78f5edd27bd1441697', 'f464b24f', '']) {
      expectCode(() => verifyServerSignature({ ...input, signature }), 'SIGNATURE_MISMATCH');
    }
  });

  it('sorts by code unit, not by locale (upper case before lower case)', () => {
    expect(sortedSha1(['b', 'B', 'a'])).toBe(sortedSha1(['B', 'a', 'b']));
    expect(['b', 'B', 'a'].sort()).toEqual(['B', 'a', 'b']);
  });
});

describe('timestamp window', () => {
  it('accepts ±maxSkewSeconds and refuses one second more, in both directions', () => {
    assertFreshTimestamp('1000', { now: at(1300) });
    assertFreshTimestamp('1300', { now: at(1000) });
    expectCode(() => assertFreshTimestamp('1000', { now: at(1301) }), 'TIMESTAMP_EXPIRED');
    expectCode(() => assertFreshTimestamp('1301', { now: at(1000) }), 'TIMESTAMP_EXPIRED');
    assertFreshTimestamp('1000', { now: at(1010), maxSkewSeconds: 10 });
    expectCode(
      () => assertFreshTimestamp('1000', { now: at(1011), maxSkewSeconds: 10 }),
      'TIMESTAMP_EXPIRED',
    );
  });

  it('refuses milliseconds and non-numeric timestamps', () => {
    expectCode(
      () => assertFreshTimestamp(String(1_700_000_000_000), { now: at(1_700_000_000) }),
      'TIMESTAMP_EXPIRED',
    );
    expectCode(() => assertFreshTimestamp('1e9', { now: at(1_000_000_000) }), 'TIMESTAMP_EXPIRED');
    expectCode(() => assertFreshTimestamp('', {}), 'TIMESTAMP_EXPIRED');
  });
});
