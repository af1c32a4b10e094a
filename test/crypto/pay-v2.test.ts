import { createCipheriv, createHash } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decryptRefundReqInfo, payV2StringToSign, signPayV2, verifyPayV2 } from '../../src/crypto/index.js';
import { WeChatKitError } from '../../src/errors.js';
import { expectCode, vector } from '../helpers.js';

const DOC = vector('official.json', 'pay.v2.sign/V2-DOC-MD5').input as {
  params: Record<string, string>;
  key: string;
};

describe('Pay v2 signatures', () => {
  it('skips empty values and sign, keeps zero, and sorts names by ASCII (upper case first)', () => {
    expect(payV2StringToSign({ b: '1', a: '', sign: 'X', Z: '0', c: undefined, d: null, e: 0 }, 'K')).toBe(
      'Z=0&b=1&e=0&key=K',
    );
  });

  it('verifies what it signs and refuses any changed field', () => {
    const signed = { ...DOC.params, sign: signPayV2(DOC.params, DOC.key) };
    verifyPayV2(signed, DOC.key);
    expectCode(() => verifyPayV2({ ...signed, body: 'test2' }, DOC.key), 'SIGNATURE_MISMATCH');
    expectCode(() => verifyPayV2({ ...signed, extra: 'field' }, DOC.key), 'SIGNATURE_MISMATCH');
    expectCode(() => verifyPayV2(signed, 'another-key'), 'SIGNATURE_MISMATCH');
    expectCode(() => verifyPayV2(DOC.params, DOC.key), 'SIGNATURE_MISMATCH');
  });

  it('uses the sign_type carried by the message, else the configured one (WxJava #1633, #1407)', () => {
    const withType = { ...DOC.params, sign_type: 'HMAC-SHA256' };
    verifyPayV2({ ...withType, sign: signPayV2(withType, DOC.key, 'HMAC-SHA256') }, DOC.key);
    const hmacNoType = { ...DOC.params, sign: signPayV2(DOC.params, DOC.key, 'HMAC-SHA256') };
    expectCode(() => verifyPayV2(hmacNoType, DOC.key), 'SIGNATURE_MISMATCH');
    verifyPayV2(hmacNoType, DOC.key, 'HMAC-SHA256');
  });

  it('accepts a lower-case hex sign on verify and refuses an unknown sign type', () => {
    verifyPayV2({ ...DOC.params, sign: signPayV2(DOC.params, DOC.key).toLowerCase() }, DOC.key);
    expectCode(
      () => verifyPayV2({ ...DOC.params, sign_type: 'SHA1', sign: 'AA' }, DOC.key),
      'INVALID_ARGUMENT',
    );
  });

  it('signs random parameter maps identically to a direct md5/hmac of the documented string', () => {
    fc.assert(
      fc.property(
        fc.dictionary(fc.stringMatching(/^[A-Za-z_]{1,8}$/), fc.string({ unit: 'grapheme', maxLength: 12 })),
        fc.string({ minLength: 1, maxLength: 32 }),
        (params, key) => {
          const s = payV2StringToSign(params, key);
          expect(signPayV2(params, key)).toBe(createHash('md5').update(s).digest('hex').toUpperCase());
          expect(signPayV2(params, key, 'HMAC-SHA256')).toMatch(/^[0-9A-F]{64}$/);
        },
      ),
    );
  });
});

describe('Pay v2 refund req_info', () => {
  const v = vector('sdk-suites.json', 'pay.v2.decryptRefund/V2-REFUND-REQINFO');
  const input = v.input as { key: string; reqInfo: string };

  it('decrypts with the lowercase hex md5 of the API key as a 32-byte AES-256 key', () => {
    expect(decryptRefundReqInfo(input.reqInfo, input.key)).toBe(v.expect.output);
  });

  it('refuses non-base64, truncated or wrongly keyed input with typed errors', () => {
    expectCode(() => decryptRefundReqInfo('not base64!', input.key), 'BAD_CIPHERTEXT');
    expectCode(() => decryptRefundReqInfo(input.reqInfo.slice(0, 20), input.key), 'BAD_CIPHERTEXT');
    const key = Buffer.from(createHash('md5').update(input.key).digest('hex'));
    const cipher = createCipheriv('aes-256-ecb', key, null);
    cipher.setAutoPadding(false);
    const badPad = Buffer.concat([cipher.update(Buffer.alloc(32, 0)), cipher.final()]).toString('base64');
    expectCode(() => decryptRefundReqInfo(badPad, input.key), 'BAD_PADDING');
    for (let i = 0; i < 20; i++) {
      try {
        decryptRefundReqInfo(input.reqInfo, `wrong-key-${i}`);
      } catch (error) {
        expect(error).toBeInstanceOf(WeChatKitError);
      }
    }
  });
});
