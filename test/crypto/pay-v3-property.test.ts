import { generateKeyPairSync, sign } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  decryptResource,
  encryptResource,
  oaepDecrypt,
  oaepEncrypt,
  PayV3Verifier,
  WeChatKitError,
} from '../../src/crypto/index.js';
import { at } from '../helpers.js';

const platform = generateKeyPairSync('rsa', { modulusLength: 2048 });
const KEY_ID = 'PUB_KEY_ID_0000000000000000000000000001';
const verifier = new PayV3Verifier({ publicKey: { id: KEY_ID, key: platform.publicKey } });
const TS = '1700000000';
const NONCE = 'c5ac7061fccab6bf3e254dcf98995b8c';
const API_V3_KEY = 'a7cde1ZJB1kG2e7VfTs3jQzaWizur8Gb';

function signed(body: string) {
  const signature = sign('sha256', Buffer.from(`${TS}\n${NONCE}\n${body}\n`), platform.privateKey).toString(
    'base64',
  );
  return {
    'Wechatpay-Timestamp': TS,
    'Wechatpay-Nonce': NONCE,
    'Wechatpay-Signature': signature,
    'Wechatpay-Serial': KEY_ID,
  };
}

/** Runs `fn` and returns 'ok' or the error code; anything but a WeChatKitError fails the test. */
function outcome(fn: () => unknown): string {
  try {
    fn();
    return 'ok';
  } catch (error) {
    expect(error).toBeInstanceOf(WeChatKitError);
    return (error as WeChatKitError).code;
  }
}

const mutate = (text: string) =>
  fc
    .tuple(fc.nat({ max: Math.max(0, text.length - 1) }), fc.string({ minLength: 1, maxLength: 3 }))
    .map(([pos, insert]) => text.slice(0, pos) + insert + text.slice(pos + 1))
    .filter((t) => t !== text);

describe('Pay v3 refusals under random tampering', () => {
  const body = JSON.stringify({ id: 'EV-1', amount: { total: 100 }, summary: '支付成功' });
  const headers = signed(body);

  it('accepts the untouched message', () => {
    expect(outcome(() => verifier.verify({ headers, body, now: at(Number(TS)) }))).toBe('ok');
  });

  it('refuses a non-canonical spelling of a valid signature (one accepted encoding only)', () => {
    const sig = headers['Wechatpay-Signature'];
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
    const i = sig.replace(/=+$/, '').length - 1;
    // the last character before the padding carries unused low bits: setting one keeps the bytes
    const twisted = sig.slice(0, i) + alphabet[alphabet.indexOf(sig[i] as string) | 1] + sig.slice(i + 1);
    expect(Buffer.from(twisted, 'base64').equals(Buffer.from(sig, 'base64'))).toBe(true);
    const code = outcome(() =>
      verifier.verify({ headers: { ...headers, 'Wechatpay-Signature': twisted }, body, now: at(Number(TS)) }),
    );
    expect(code).toBe('SIGNATURE_MISMATCH');
  });

  it('never accepts a changed body, signature, nonce or timestamp, and only throws typed errors', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          mutate(body).map((b) => ({ body: b, headers })),
          mutate(headers['Wechatpay-Signature']).map((s) => ({
            body,
            headers: { ...headers, 'Wechatpay-Signature': s },
          })),
          mutate(NONCE).map((n) => ({ body, headers: { ...headers, 'Wechatpay-Nonce': n } })),
          mutate(TS).map((t) => ({ body, headers: { ...headers, 'Wechatpay-Timestamp': t } })),
        ),
        (forged) => {
          const code = outcome(() => verifier.verify({ ...forged, now: at(Number(TS)) }));
          expect(['SIGNATURE_MISMATCH', 'TIMESTAMP_EXPIRED']).toContain(code);
        },
      ),
      { numRuns: 200 },
    );
  });

  it('never decrypts a changed AEAD ciphertext, nonce or associated data', () => {
    const resource = encryptResource({
      apiV3Key: API_V3_KEY,
      plaintext: '{"total":100}',
      associatedData: 'transaction',
    });
    const base = {
      apiV3Key: API_V3_KEY,
      ciphertext: resource.ciphertext,
      nonce: resource.nonce,
      associatedData: resource.associated_data,
    };
    expect(decryptResource(base)).toBe('{"total":100}');
    fc.assert(
      fc.property(
        fc.oneof(
          mutate(base.ciphertext).map((ciphertext) => ({ ...base, ciphertext })),
          mutate(base.nonce).map((nonce) => ({ ...base, nonce })),
          mutate(base.associatedData).map((associatedData) => ({ ...base, associatedData })),
          mutate(API_V3_KEY).map((apiV3Key) => ({ ...base, apiV3Key })),
        ),
        (forged) => {
          expect(['DECRYPT_FAILED', 'BAD_CIPHERTEXT', 'BAD_KEY']).toContain(
            outcome(() => decryptResource(forged)),
          );
        },
      ),
      { numRuns: 300 },
    );
  });

  it('round-trips OAEP for random sensitive fields and refuses random ciphertext with typed errors', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'grapheme', maxLength: 60 }), (text) => {
        expect(oaepDecrypt(oaepEncrypt(text, platform.publicKey), platform.privateKey)).toBe(text);
      }),
      { numRuns: 30 },
    );
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 0, maxLength: 300 }), (bytes) => {
        const code = outcome(() => oaepDecrypt(Buffer.from(bytes).toString('base64'), platform.privateKey));
        expect(code).not.toBe('ok');
      }),
      { numRuns: 50 },
    );
  });
});
