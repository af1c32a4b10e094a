/**
 * Fuzzing the encrypted callback envelope and what comes after verification: the `Encrypt`
 * extraction, the WXBizMsgCrypt decryption (against a reference decoding written here), the JSON
 * push reader, and — the part test/callbacks/property.test.ts cannot reach, since its inputs never
 * verify — pushes and WeCom echostrs whose signature and encryption are VALID around arbitrary
 * plaintext: what WeChat (or anyone holding the keys) may send must still never be a 500.
 */
import { createCipheriv } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseJsonMessage } from '../../src/callbacks/decode-message.js';
import {
  type CallbackErrorEvent,
  type CallbackRequest,
  createWeChatCallback,
  createWeComCallback,
  reply,
} from '../../src/callbacks/index.js';
import {
  computeServerSignature,
  decodeEncodingAESKey,
  MessageCipher,
  MessageCrypto,
} from '../../src/crypto/index.js';
import { extractEncrypt } from '../../src/crypto/message-crypto.js';
import { WeChatKitError } from '../../src/errors.js';
import { parseXml } from '../../src/xml/index.js';
import { fuzz, fuzzFile, typedOnly } from './harness.js';
import { render, wechatDoc } from './wechat-xml.js';

fuzzFile(import.meta.url);

const APP_ID = 'wx1234567890abcdef';
const CORP_ID = 'ww1234567890abcdef';
const TOKEN = 'FuzzToken123';
const AES_KEY = 'abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG';
const NOW = 1_714_036_504;
const clock = () => NOW * 1000;
/** The cipher's random prefix, fixed: a failing input replays byte for byte. */
const fixedRandom = (size: number) => new Uint8Array(size).fill(7);

const ENVELOPE_CODES = ['BAD_BODY', 'BAD_XML', 'XML_FORBIDDEN', 'XML_TOO_LARGE'];

/** Bodies shaped like envelopes (XML, JSON, either with odd Encrypt values) and plain garbage. */
const encryptValue = fc.oneof(
  fc.string({ maxLength: 40 }),
  fc.constant(''),
  fc.jsonValue({ maxDepth: 2 }),
  fc.base64String({ maxLength: 64 }),
);
const envelopeBody = fc.oneof(
  fc.string({ maxLength: 300 }),
  fc.string({ unit: 'binary', maxLength: 100 }),
  fc.uint8Array({ maxLength: 200 }),
  encryptValue.map((v) => JSON.stringify({ Encrypt: v })),
  encryptValue.map((v) => JSON.stringify({ encrypt: v, ToUserName: 'gh_x' })),
  fc.json().map((j) => ` \n${j}`),
  fc.string({ maxLength: 60 }).map((s) => `<xml><Encrypt><![CDATA[${s}]]></Encrypt></xml>`),
  fc.string({ maxLength: 60 }).map((s) => `<xml><Encrypt>${s}</Encrypt><Encrypt>${s}</Encrypt></xml>`),
  fc.string({ maxLength: 60 }).map((s) => `<xml><Encrypt><a>${s}</a></Encrypt></xml>`),
  fc.string({ maxLength: 60 }).map((s) => `{"Encrypt": "${s}"`),
  wechatDoc.map(render),
);

/** The official algorithm, written out: what MessageCipher.decryptToBuffer must agree with. */
function referenceDecode(plain: Buffer, receiveId: string): Buffer | 'refused' {
  const pad = plain[plain.length - 1] ?? 0;
  if (pad < 1 || pad > 32) return 'refused';
  for (let i = plain.length - pad; i < plain.length; i++) if (plain[i] !== pad) return 'refused';
  const end = plain.length - pad;
  if (end < 20) return 'refused';
  const length = plain.readUInt32BE(16);
  if (length > end - 20) return 'refused';
  if (!plain.subarray(20 + length, end).equals(Buffer.from(receiveId))) return 'refused';
  return plain.subarray(20, 20 + length);
}

const KEY = decodeEncodingAESKey(AES_KEY);
function cbcEncrypt(plain: Buffer): string {
  const cipher = createCipheriv('aes-256-cbc', KEY, KEY.subarray(0, 16));
  cipher.setAutoPadding(false);
  return Buffer.concat([cipher.update(plain), cipher.final()]).toString('base64');
}

/**
 * Decrypted blocks with a structure near the real one — header, length field, ReceiveId, padding —
 * mostly right and each sometimes wrong, so every check of the decryption is reached.
 */
const craftedPlain = fc
  .record({
    random: fc.uint8Array({ minLength: 16, maxLength: 16 }),
    message: fc.uint8Array({ maxLength: 80 }),
    lengthDelta: fc.oneof(
      { weight: 3, arbitrary: fc.constant(0) },
      { weight: 1, arbitrary: fc.oneof(fc.integer({ min: -4, max: 4 }), fc.nat()) },
    ),
    receiveId: fc.oneof(
      { weight: 3, arbitrary: fc.constant(APP_ID) },
      { weight: 1, arbitrary: fc.constantFrom(`${APP_ID}x`, '', 'wx', APP_ID.toUpperCase()) },
    ),
    pad: fc.oneof(
      { weight: 3, arbitrary: fc.constant(undefined) },
      { weight: 1, arbitrary: fc.integer({ min: 0, max: 255 }) },
    ),
    padFill: fc.option(fc.integer({ min: 0, max: 255 }), { nil: undefined, freq: 4 }),
  })
  .map(({ random, message, lengthDelta, receiveId, pad, padFill }) => {
    const head = Buffer.alloc(20);
    Buffer.from(random).copy(head);
    head.writeUInt32BE((message.length + lengthDelta) >>> 0, 16);
    const body = Buffer.concat([head, Buffer.from(message), Buffer.from(receiveId)]);
    // WXBizMsgCrypt pads to 32 bytes (1..32 bytes of the pad length); `pad` / `padFill` break it.
    const proper = 32 - (body.length % 32);
    const total = body.length + proper;
    const plain = Buffer.alloc(total, padFill ?? pad ?? proper);
    body.copy(plain);
    plain[total - 1] = pad ?? proper;
    return plain;
  });

describe('fuzz: the encrypted envelope', () => {
  it('extractEncrypt: typed errors only; an accepted body really holds a string Encrypt', async () => {
    await fuzz(
      'envelope.extractEncrypt',
      envelopeBody,
      (body) => {
        let got: { encrypt: string; format: string } | undefined;
        typedOnly(() => {
          got = extractEncrypt(body);
        }, ENVELOPE_CODES);
        if (got === undefined) return;
        const text = typeof body === 'string' ? body : Buffer.from(body).toString('utf8');
        const record = (got.format === 'json' ? JSON.parse(text) : parseXml(text)) as Record<string, unknown>;
        expect(got.encrypt).toBe(got.format === 'json' ? (record.Encrypt ?? record.encrypt) : record.Encrypt);
      },
      { ciRuns: 150 },
    );
  });

  it('MessageCipher.decrypt agrees with the official algorithm on crafted plaintext blocks, refusing with typed errors', async () => {
    const cipher = new MessageCipher({ encodingAESKey: AES_KEY, receiveId: APP_ID });
    const seen = new Set<string>();
    await fuzz(
      'envelope.decrypt',
      craftedPlain,
      (plain) => {
        const encrypt = cbcEncrypt(plain);
        const want = referenceDecode(plain, APP_ID);
        let got: Buffer | undefined;
        seen.add(
          typedOnly(() => {
            got = cipher.decryptToBuffer(encrypt);
          }, ['BAD_CIPHERTEXT', 'BAD_PADDING', 'APPID_MISMATCH']),
        );
        if (want === 'refused') expect(got).toBeUndefined();
        else expect(got?.equals(want)).toBe(true);
      },
      { ciRuns: 200 },
    );
    expect([...seen].sort()).toEqual(['APPID_MISMATCH', 'BAD_CIPHERTEXT', 'BAD_PADDING', 'ok']);
  });
});

describe('fuzz: the JSON push reader', () => {
  it('refuses exactly what JSON.parse refuses (invalid JSON stays invalid) and keeps every number as its digits', async () => {
    const jsonish = fc.oneof(
      fc.json({ maxDepth: 3 }),
      fc
        .array(
          fc.constantFrom(
            '{',
            '}',
            '[',
            ']',
            ':',
            ',',
            '"a"',
            '"b\\"',
            '-',
            '0',
            '01',
            '1.5',
            '1e5',
            '1.',
            '.5',
            '-0',
            'e',
            '+1',
            '1-2',
            'true',
            ' ',
            '"',
            '\\',
          ),
          { maxLength: 12 },
        )
        .map((t) => t.join('')),
      fc.string({ maxLength: 40 }),
    );
    await fuzz(
      'json.parseJsonMessage',
      jsonish,
      (text) => {
        let reference: unknown;
        let valid = true;
        try {
          reference = JSON.parse(text);
        } catch {
          valid = false;
        }
        const objectLike =
          valid && typeof reference === 'object' && reference !== null && !Array.isArray(reference);
        let got: unknown;
        const code = typedOnly(() => {
          got = parseJsonMessage(text);
        }, ['BAD_BODY']);
        expect(code).toBe(objectLike ? 'ok' : 'BAD_BODY');
        if (objectLike) expect(sameButDigits(got, reference)).toBe(true);
      },
      { ciRuns: 250 },
    );
  });

  it('regressions: number-like runs that are not JSON numbers, and numbers as keys, are refused', () => {
    for (const text of [
      '{"a":-}',
      '{"a":1.2.3}',
      '{"a":01}',
      '{"a":1e}',
      '{"a":--1}',
      '{"a":1-2}',
      '{1:2}',
      '{"a":1,2:3}',
    ]) {
      expect(
        typedOnly(() => parseJsonMessage(text), ['BAD_BODY']),
        text,
      ).toBe('BAD_BODY');
    }
    expect(parseJsonMessage('{"MsgId":12345678901234567890,"a":[1,-2.5e3,{"b":0}]}')).toEqual({
      MsgId: '12345678901234567890',
      a: ['1', '-2.5e3', { b: '0' }],
    });
  });
});

/** `got` is `reference` with every number replaced by a string of the same value. */
function sameButDigits(got: unknown, reference: unknown): boolean {
  if (typeof reference === 'number') return typeof got === 'string' && Number(got) === reference;
  if (typeof reference !== 'object' || reference === null) return Object.is(got, reference);
  if (Array.isArray(reference)) {
    return (
      Array.isArray(got) &&
      got.length === reference.length &&
      reference.every((r, i) => sameButDigits(got[i], r))
    );
  }
  if (typeof got !== 'object' || got === null || Array.isArray(got)) return false;
  const keys = Object.keys(reference);
  return (
    keys.length === Object.keys(got).length &&
    keys.every((k) =>
      sameButDigits((got as Record<string, unknown>)[k], (reference as Record<string, unknown>)[k]),
    )
  );
}

/** Arbitrary plaintext a key holder may seal: WeChat-shaped, corrupted, JSON, or anything at all. */
const plaintext = fc.oneof(
  wechatDoc.map(render),
  wechatDoc.map((d) => render(d).replace('</xml>', '')),
  fc.string({ maxLength: 200 }),
  fc.string({ unit: 'grapheme', maxLength: 100 }),
  fc.json({ maxDepth: 3 }),
  fc.constantFrom(
    '<xml><MsgType><a>1</a></MsgType><FromUserName><b/></FromUserName></xml>',
    '<xml><MsgType>event</MsgType><Event><x>1</x></Event><CreateTime>1</CreateTime></xml>',
    '<xml><MsgType>text</MsgType><MsgId>1</MsgId><MsgId>2</MsgId><ToUserName>a</ToUserName><FromUserName>b</FromUserName></xml>',
    '<xml><toString>1</toString><MsgType>text</MsgType><FromUserName>\u0000</FromUserName><ToUserName>]]></ToUserName></xml>',
    '{"MsgType":{"a":1},"FromUserName":["x"],"CreateTime":1e999}',
    '{"MsgType":"text","MsgId":123456789012345678901234567890,"__proto__":{"x":1}}',
    '<!DOCTYPE x><xml/>',
    '',
  ),
);

function sealedPush(
  text: string,
  format: 'xml' | 'json',
  receiveId: string,
  wecom: boolean,
): CallbackRequest {
  const crypto = new MessageCrypto({ token: TOKEN, encodingAESKey: AES_KEY, receiveId, random: fixedRandom });
  const nonce = 'n0nce';
  const sealed = crypto.seal(text, { timestamp: NOW, nonce, format: format === 'json' ? 'json' : 'xml' });
  const q = new URLSearchParams({ timestamp: String(NOW), nonce, msg_signature: sealed.msgSignature });
  if (!wecom) {
    q.set('signature', computeServerSignature({ token: TOKEN, timestamp: String(NOW), nonce }));
    q.set('encrypt_type', 'aes');
  }
  return { method: 'POST', url: `/cb?${q}`, headers: {}, rawBody: Buffer.from(sealed.body) };
}

describe('fuzz: verified pushes with arbitrary plaintext', () => {
  for (const [name, wecom, format] of [
    ['wechat xml', false, 'xml'],
    ['wechat json', false, 'json'],
    ['wecom xml', true, 'xml'],
  ] as const) {
    it(`${name}: answered 200 or 400, never 500; no internal error reported`, async () => {
      const errors: CallbackErrorEvent[] = [];
      const hooks = { onError: (e: CallbackErrorEvent) => errors.push(e) };
      const callback = wecom
        ? createWeComCallback({ corpId: CORP_ID, token: TOKEN, encodingAESKey: AES_KEY, now: clock, hooks })
        : createWeChatCallback({
            appId: APP_ID,
            token: TOKEN,
            encodingAESKey: AES_KEY,
            mode: 'safe',
            format,
            now: clock,
            hooks,
          });
      let replies = 0;
      callback.on('*', () => (replies++ % 2 === 0 ? reply.text('收到 ]]> <ok>') : undefined));
      const statuses = new Set<number>();
      await fuzz(
        `push.sealed.${name.replace(' ', '.')}`,
        plaintext,
        async (text) => {
          const response = await callback.handle(sealedPush(text, format, wecom ? CORP_ID : APP_ID, wecom));
          expect([200, 400], `${response.status} ${response.body}`).toContain(response.status);
          // A passive reply to a push without FromUserName/ToUserName is refused (typed) and the
          // push acknowledged; nothing else may reach onError.
          expect(errors.filter((e) => e.phase !== 'reply' || !(e.error instanceof WeChatKitError))).toEqual(
            [],
          );
          statuses.add(response.status);
        },
        { ciRuns: 60 },
      );
      expect([...statuses].sort()).toEqual([200, 400]);
      expect(replies).toBeGreaterThan(0);
    });
  }

  it('wecom echostr: any sealed plaintext is answered verbatim; any unsealed echostr is refused with 400/401', async () => {
    const callback = createWeComCallback({
      corpId: CORP_ID,
      token: TOKEN,
      encodingAESKey: AES_KEY,
      now: clock,
    });
    const crypto = new MessageCrypto({
      token: TOKEN,
      encodingAESKey: AES_KEY,
      receiveId: CORP_ID,
      random: fixedRandom,
    });
    await fuzz(
      'wecom.echostr',
      fc.tuple(fc.string({ unit: 'grapheme', maxLength: 40 }), fc.string({ maxLength: 60 }), fc.boolean()),
      async ([text, junk, genuine]) => {
        const nonce = 'n';
        const echostr = genuine ? crypto.cipher.encrypt(text) : junk;
        const signature = crypto.sign(String(NOW), nonce, echostr);
        const url = `/w?msg_signature=${signature}&timestamp=${NOW}&nonce=${nonce}&echostr=${encodeURIComponent(echostr)}`;
        const response = await callback.handle({ method: 'GET', url, headers: {}, rawBody: undefined });
        // A sealed echostr opens to its plaintext, answered verbatim (even an empty one).
        if (genuine) {
          expect(response.status).toBe(200);
          expect(response.body).toBe(text);
        } else expect([400, 401]).toContain(response.status);
      },
      { ciRuns: 80 },
    );
  });
});
