import { createCipheriv } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  computeMessageSignature,
  decodeEncodingAESKey,
  MessageCipher,
  MessageCrypto,
  openMessage,
} from '../../src/crypto/index.js';
import { WeChatKitError } from '../../src/errors.js';
import { buildXml, parseXml } from '../../src/xml/index.js';
import { at, expectCode, fixedRandom, vector } from '../helpers.js';

const KEY = 'abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG';
const APPID = 'wxb11529c136998cb6';
const TOKEN = 'pamtest';

interface OpenVector {
  token: string;
  encodingAESKey: string;
  appId: string;
  body: string;
  msgSignature: string;
  timestamp: string;
  nonce: string;
  now: number;
}

const encodingKeyArb = fc
  .uint8Array({ minLength: 32, maxLength: 32 })
  .map((bytes) => Buffer.from(bytes).toString('base64').slice(0, 43));
const receiveIdArb = fc.oneof(
  fc.constant(''),
  fc.stringMatching(/^wx[0-9a-f]{16}$/),
  fc.string({ unit: 'grapheme', maxLength: 24 }),
);
const messageArb = fc.oneof(
  fc.string({ unit: 'grapheme', maxLength: 300 }),
  fc.string({ unit: 'binary', maxLength: 300 }),
  // lengths around block boundaries, where padding bugs live
  fc
    .integer({ min: 0, max: 8 })
    .chain((blocks) => fc.integer({ min: -2, max: 2 }).map((d) => 'a'.repeat(Math.max(0, blocks * 32 + d)))),
  fc.constantFrom('我是中文abcd123', '😀🎉 emoji', '<xml><Content><![CDATA[你好]]></Content></xml>'),
);

describe('MessageCipher', () => {
  it('decodes the official sample key although its discarded bits are non-zero', () => {
    expect(decodeEncodingAESKey(KEY)).toHaveLength(32);
  });

  it('reproduces the official ciphertext when given the official random prefix', () => {
    const v = vector('official.json', 'message.encrypt/MC-PAMTEST-1');
    const cipher = new MessageCipher({ encodingAESKey: KEY, receiveId: APPID });
    expect(cipher.encrypt('我是中文abcd123', 'aaaabbbbccccdddd')).toBe(v.expect.output);
  });

  it('reproduces the official ciphertext on every message of a long-lived cipher, not only the first', () => {
    // The cipher keeps one CBC context across messages and compensates its chaining block: the
    // official vector must come out the same after other messages have gone through it.
    const v = vector('official.json', 'message.encrypt/MC-PAMTEST-1');
    const cipher = new MessageCipher({ encodingAESKey: KEY, receiveId: APPID });
    for (const message of ['a', '<xml>longer message spanning several blocks</xml>'.repeat(5), '']) {
      cipher.encrypt(message);
      expect(cipher.encrypt('我是中文abcd123', 'aaaabbbbccccdddd')).toBe(v.expect.output);
    }
  });

  it('encrypts every message of a sequence exactly as a fresh AES-256-CBC with IV = key[0..16)', () => {
    // Reference: one new node:crypto CBC cipher per message, over the documented plaintext layout.
    const reference = (key: Buffer, receiveId: string, message: string, prefix: Buffer): string => {
      const body = Buffer.from(message, 'utf8');
      const id = Buffer.from(receiveId, 'utf8');
      const length = Buffer.alloc(4);
      length.writeUInt32BE(body.length);
      const unpadded = Buffer.concat([prefix, length, body, id]);
      const pad = 32 - (unpadded.length % 32);
      const c = createCipheriv('aes-256-cbc', key, key.subarray(0, 16));
      c.setAutoPadding(false);
      return Buffer.concat([c.update(Buffer.concat([unpadded, Buffer.alloc(pad, pad)])), c.final()]).toString(
        'base64',
      );
    };
    fc.assert(
      fc.property(
        encodingKeyArb,
        receiveIdArb,
        fc.array(fc.tuple(messageArb, fc.uint8Array({ minLength: 16, maxLength: 16 })), {
          minLength: 1,
          maxLength: 6,
        }),
        (encodingAESKey, receiveId, messages) => {
          const key = decodeEncodingAESKey(encodingAESKey);
          const cipher = new MessageCipher({ encodingAESKey, receiveId });
          for (const [message, prefix] of messages) {
            expect(cipher.encrypt(message, prefix)).toBe(
              reference(key, receiveId, message, Buffer.from(prefix)),
            );
          }
        },
      ),
      { numRuns: 200 },
    );
  });

  it('decrypts every message of a sequence, refused ones among them, as a cipher that saw none before', () => {
    // The decipher too keeps one CBC context across messages and corrects only the first block:
    // whatever went through it before (valid messages, bad padding, a foreign ReceiveId, base64
    // that is not a whole number of blocks), each outcome must be that of a fresh MessageCipher.
    const outcome = (cipher: MessageCipher, encrypt: string): string => {
      try {
        return `ok:${cipher.decrypt(encrypt)}`;
      } catch (error) {
        return `error:${(error as WeChatKitError).code}`;
      }
    };
    const entryArb = fc.oneof(
      fc.record({ message: messageArb, prefix: fc.uint8Array({ minLength: 16, maxLength: 16 }) }),
      // Random whole blocks: mostly BAD_PADDING or APPID_MISMATCH once decrypted.
      fc
        .integer({ min: 2, max: 12 })
        .chain((blocks) =>
          fc
            .uint8Array({ minLength: blocks * 16, maxLength: blocks * 16 })
            .map((b) => Buffer.from(b).toString('base64')),
        ),
      // Not a whole number of blocks: refused before any decryption.
      fc.uint8Array({ minLength: 33, maxLength: 47 }).map((b) => Buffer.from(b).toString('base64')),
    );
    fc.assert(
      fc.property(
        encodingKeyArb,
        receiveIdArb,
        fc.array(entryArb, { minLength: 1, maxLength: 8 }),
        (encodingAESKey, receiveId, entries) => {
          const sealer = new MessageCipher({ encodingAESKey, receiveId });
          const longLived = new MessageCipher({ encodingAESKey, receiveId });
          for (const entry of entries) {
            const encrypt = typeof entry === 'string' ? entry : sealer.encrypt(entry.message, entry.prefix);
            const expected = outcome(new MessageCipher({ encodingAESKey, receiveId }), encrypt);
            expect(outcome(longLived, encrypt)).toBe(expected);
            if (typeof entry !== 'string') expect(expected).toBe(`ok:${entry.message}`);
          }
        },
      ),
      { numRuns: 300 },
    );
  });

  it('judges a padding that reaches into the first block the same after other messages', () => {
    // 32 bytes of 0x20 decrypt to a padding that covers the random prefix too: the first block
    // must come out as it would from a fresh decipher, or the refusal would depend on history.
    const key = decodeEncodingAESKey(KEY);
    const c = createCipheriv('aes-256-cbc', key, key.subarray(0, 16));
    c.setAutoPadding(false);
    const allPadding = c.update(Buffer.alloc(32, 32)).toString('base64');
    const cipher = new MessageCipher({ encodingAESKey: KEY, receiveId: APPID });
    expectCode(() => cipher.decrypt(allPadding), 'BAD_CIPHERTEXT');
    for (const message of ['a', '<xml>several blocks</xml>'.repeat(7)]) {
      expect(cipher.decrypt(cipher.encrypt(message))).toBe(message);
      expectCode(() => cipher.decrypt(allPadding), 'BAD_CIPHERTEXT');
    }
  });

  it('appends a full 32-byte block when the plaintext is already aligned', () => {
    const cipher = new MessageCipher({ encodingAESKey: KEY, receiveId: '' });
    // 16 random + 4 length + 12 message + 0 receive id = 32 bytes: one more block of padding
    const encrypt = cipher.encrypt('x'.repeat(12), 'aaaabbbbccccdddd');
    expect(Buffer.from(encrypt, 'base64')).toHaveLength(64);
    expect(cipher.decrypt(encrypt)).toBe('x'.repeat(12));
  });

  it('round-trips random messages, keys and receive ids (Chinese, emoji, empty, block multiples)', () => {
    fc.assert(
      fc.property(encodingKeyArb, receiveIdArb, messageArb, (encodingAESKey, receiveId, message) => {
        const cipher = new MessageCipher({ encodingAESKey, receiveId });
        const encrypt = cipher.encrypt(message);
        expect(Buffer.from(encrypt, 'base64').length % 32).toBe(0);
        expect(cipher.decrypt(encrypt)).toBe(Buffer.from(message, 'utf8').toString('utf8'));
      }),
      { numRuns: 300 },
    );
  });

  it('refuses a message encrypted for another receive id', () => {
    const encrypt = new MessageCipher({ encodingAESKey: KEY, receiveId: 'wx-one' }).encrypt('hi');
    const error = expectCode(
      () => new MessageCipher({ encodingAESKey: KEY, receiveId: 'wx-two' }).decrypt(encrypt),
      'APPID_MISMATCH',
    );
    expect(error.message).toContain('wx-two');
  });

  it('only ever throws typed errors for random ciphertext', () => {
    const cipher = new MessageCipher({ encodingAESKey: KEY, receiveId: APPID });
    fc.assert(
      fc.property(
        fc.oneof(
          fc.string(),
          fc.uint8Array({ maxLength: 200 }).map((b) => Buffer.from(b).toString('base64')),
        ),
        (encrypt) => {
          try {
            cipher.decrypt(encrypt);
          } catch (error) {
            expect(error).toBeInstanceOf(WeChatKitError);
          }
        },
      ),
      { numRuns: 500 },
    );
    // the cipher keeps one block decipher across calls: failures must leave nothing behind
    const encrypt = cipher.encrypt('still fine');
    expect(cipher.decrypt(encrypt)).toBe('still fine');
  });

  it('refuses malformed EncodingAESKeys with BAD_AES_KEY and does not echo them', () => {
    for (const bad of ['', KEY.slice(1), `${KEY}A`, `${KEY.slice(0, 42)}-`, `${KEY.slice(0, 42)}=`]) {
      const error = expectCode(
        () => new MessageCipher({ encodingAESKey: bad, receiveId: APPID }),
        'BAD_AES_KEY',
      );
      if (bad.length > 8) expect(error.message).not.toContain(bad);
    }
  });
});

describe('MessageCrypto.open', () => {
  const v = vector<OpenVector>('sdk-suites.json', 'message.open/MC-PAMTEST-PAD32');
  const input = v.input;
  const crypto = new MessageCrypto({
    token: TOKEN,
    encodingAESKey: KEY,
    receiveId: APPID,
    now: at(input.now),
  });
  const request = {
    body: input.body,
    msgSignature: input.msgSignature,
    timestamp: input.timestamp,
    nonce: input.nonce,
  };

  it('opens the official body and accepts it as bytes too', () => {
    expect(crypto.open(request).plaintext).toBe(v.expect.output);
    expect(crypto.open({ ...request, body: Buffer.from(input.body) }).plaintext).toBe(v.expect.output);
  });

  it('checks the signature before the timestamp window', () => {
    const late = new MessageCrypto({
      token: TOKEN,
      encodingAESKey: KEY,
      receiveId: APPID,
      now: at(input.now + 10_000),
    });
    expectCode(() => late.open({ ...request, msgSignature: '0'.repeat(40) }), 'SIGNATURE_MISMATCH');
    expectCode(() => late.open(request), 'TIMESTAMP_EXPIRED');
  });

  it('refuses timestamps more than maxSkewSeconds away in either direction, and accepts the edge', () => {
    const ts = Number(input.timestamp);
    for (const [now, ok] of [
      [ts + 300, true],
      [ts - 300, true],
      [ts + 301, false],
      [ts - 301, false],
    ] as const) {
      const mc = new MessageCrypto({ token: TOKEN, encodingAESKey: KEY, receiveId: APPID, now: at(now) });
      if (ok) expect(mc.open(request).plaintext).toBe(v.expect.output);
      else expectCode(() => mc.open(request), 'TIMESTAMP_EXPIRED');
    }
  });

  it('refuses a plaintext body replayed with a valid URL signature (no downgrade from safe mode)', () => {
    const plain = '<xml><ToUserName><![CDATA[gh_1]]></ToUserName><MsgType><![CDATA[text]]></MsgType></xml>';
    const error = expectCode(() => crypto.open({ ...request, body: plain }), 'BAD_BODY');
    expect(error.message).toMatch(/safe mode/);
  });

  it('refuses a body with a DOCTYPE before looking at it', () => {
    const evil = `<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa">]><xml><Encrypt>&a;</Encrypt></xml>`;
    expectCode(() => crypto.open({ ...request, body: evil }), 'XML_FORBIDDEN');
  });

  it('never accepts a tampered Encrypt value whatever the change', () => {
    const encrypt = String(parseXml(input.body).Encrypt);
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: encrypt.length - 1 }),
        fc.constantFrom(...'ABCabc0129+/'),
        (pos, ch) => {
          fc.pre(encrypt[pos] !== ch);
          const forged = encrypt.slice(0, pos) + ch + encrypt.slice(pos + 1);
          const body = `<xml><Encrypt><![CDATA[${forged}]]></Encrypt></xml>`;
          expectCode(() => crypto.open({ ...request, body }), 'SIGNATURE_MISMATCH');
        },
      ),
      { numRuns: 200 },
    );
  });

  it('accepts the JSON envelope with Encrypt or with the WeCom lower-case encrypt', () => {
    const encrypt = String(parseXml(input.body).Encrypt);
    for (const body of [JSON.stringify({ Encrypt: encrypt }), JSON.stringify({ encrypt, agentid: 1 })]) {
      const opened = crypto.open({ ...request, body });
      expect(opened).toMatchObject({ plaintext: v.expect.output, format: 'json' });
    }
  });
});

describe('MessageCrypto.seal', () => {
  it('writes the XML envelope exactly as buildXml writes its four fields, for any nonce and timestamp', () => {
    const mc = new MessageCrypto({ token: TOKEN, encodingAESKey: KEY, receiveId: APPID });
    fc.assert(
      fc.property(
        fc.oneof(
          fc.stringMatching(/^[A-Za-z0-9]{0,20}$/),
          fc
            .string({ maxLength: 12 })
            .filter((n) => !/[\u0000-\u0008\u000b\u000c\u000e-\u001f\ufffe\uffff\ud800-\udfff]/.test(n)),
        ),
        fc.oneof(fc.integer({ min: 0, max: 2 ** 40 }), fc.constantFrom('0170', '1700000000')),
        (nonce, timestamp) => {
          const sealed = mc.seal('<xml/>', { nonce, timestamp, random: 'aaaabbbbccccdddd' });
          expect(sealed.body).toBe(
            buildXml({
              Encrypt: sealed.encrypt,
              MsgSignature: sealed.msgSignature,
              TimeStamp: Number(sealed.timestamp),
              Nonce: nonce,
            }),
          );
        },
      ),
      { numRuns: 300, seed: 20261202 },
    );
  });

  it('reproduces the official Mini Program JSON reply', () => {
    const reply = vector('official.json', 'message.encrypt/MC-MP-DOC-JSON-REPLY');
    const signature = vector('official.json', 'message.signature/MC-MP-DOC-JSON-REPLY');
    const mc = new MessageCrypto({
      token: 'AAAAA',
      encodingAESKey: 'AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA',
      receiveId: 'wxba5fad812f8e6fb9',
    });
    const sealed = mc.seal('{"demo_resp":"good luck"}', {
      format: 'json',
      timestamp: 1713424427,
      nonce: '415670741',
      random: '707722b803182950',
    });
    expect(JSON.parse(sealed.body)).toEqual({
      Encrypt: reply.expect.output,
      MsgSignature: signature.expect.output,
      TimeStamp: 1713424427,
      Nonce: '415670741',
    });
  });

  it('seals replies that open again, in every envelope format, with TimeStamp in seconds', () => {
    const now = 1_700_000_000;
    const mc = new MessageCrypto({
      token: TOKEN,
      encodingAESKey: KEY,
      receiveId: APPID,
      now: at(now),
      random: fixedRandom(7),
    });
    for (const format of ['xml', 'json', 'wecom-json'] as const) {
      const sealed = mc.seal('<xml><Content><![CDATA[你好]]></Content></xml>', { format });
      expect(sealed.timestamp).toBe(String(now));
      expect(sealed.msgSignature).toBe(
        computeMessageSignature({
          token: TOKEN,
          timestamp: sealed.timestamp,
          nonce: sealed.nonce,
          encrypt: sealed.encrypt,
        }),
      );
      const opened = mc.open({
        body: sealed.body,
        msgSignature: sealed.msgSignature,
        timestamp: sealed.timestamp,
        nonce: sealed.nonce,
      });
      expect(opened.plaintext).toBe('<xml><Content><![CDATA[你好]]></Content></xml>');
    }
    const xml = parseXml(mc.seal('x').body);
    expect(Object.keys(xml)).toEqual(['Encrypt', 'MsgSignature', 'TimeStamp', 'Nonce']);
    expect(xml.TimeStamp).toBe(String(now));
  });

  it('openMessage is the one-shot form of open', () => {
    const v = vector<OpenVector>('sdk-suites.json', 'message.open/MC-PAMTEST-PAD32');
    const i = v.input;
    expect(
      openMessage({
        token: i.token,
        encodingAESKey: i.encodingAESKey,
        receiveId: i.appId,
        body: i.body,
        msgSignature: i.msgSignature,
        timestamp: i.timestamp,
        nonce: i.nonce,
        now: at(i.now),
      }),
    ).toBe(v.expect.output);
  });
});
