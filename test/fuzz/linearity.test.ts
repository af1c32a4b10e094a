/**
 * No super-linear time: each parser is timed on an input of size n and of size 16n (deep nesting,
 * many attributes, long CDATA, many entities, long headers, …; median of several repetitions) and
 * the time may grow by less than 16 x 4 = 64 (quadratic work grows 256x). And the documented
 * limits refuse oversize input at once, with their typed error, whatever the input's size.
 */
import { describe, expect, it } from 'vitest';
import { parseJsonMessage } from '../../src/callbacks/decode-message.js';
import { createPayNotificationHandler, createWeChatCallback } from '../../src/callbacks/index.js';
import { encryptMessage, MessageCipher } from '../../src/crypto/index.js';
import { extractEncrypt } from '../../src/crypto/message-crypto.js';
import { readVerifiedNotificationWithKeys } from '../../src/crypto/pay-v3-notify.js';
import { WeChatKitError } from '../../src/errors.js';
import { compileCors } from '../../src/guard/http.js';
import { createGuard } from '../../src/guard/index.js';
import { SessionTokens } from '../../src/guard/tokens.js';
import { MiniProgram } from '../../src/index.js';
import { compileTrustProxy } from '../../src/internal/client-ip.js';
import { readPayV3Headers } from '../../src/internal/pay-v3-headers.js';
import { parseXml } from '../../src/xml/index.js';
import { assertLinear, fuzzFile, minMs, typedOnly, typedOnlyAsync } from './harness.js';

fuzzFile(import.meta.url);

const BIG = { maxLength: 64 * 1024 * 1024, maxDepth: 1_000_000 };
const parses = (doc: string) => () => parseXml(doc, BIG);
/** Parsing `doc` must be refused with `code` (error paths are timed too; checked without expect's cost). */
const refuses = (doc: string, code: string) => () => {
  try {
    parseXml(doc, BIG);
  } catch (error) {
    if (error instanceof WeChatKitError && error.code === code) return;
    throw error;
  }
  throw new Error(`expected ${code}`);
};

// Sizes stay in one V8 regime: past ~1000 distinct keys an object turns into a dictionary and its
// cost per key steps up once (about 4x, then flat: a constant factor, not growth), so the
// many-keys families compare 50 with 800 keys. Likewise nesting: past ~16 000 open elements the
// stack arrays move to V8's large-object space and every young object they hold costs the GC more
// (0.03 -> 1.2 us per level at 64 000; a plain loop filling three arrays shows the same). The
// default maxDepth of 32 keeps documents far from it; the nesting families compare 400 with 6400.
// json.nested below holds no such stack of its own (JSON.parse does the work).
describe('linear time: the XML reader', () => {
  const families: Array<[string, (n: number) => () => unknown, number]> = [
    ['xml.nested', (n) => parses(`<xml>${'<a>'.repeat(n)}x${'</a>'.repeat(n)}</xml>`), 400],
    ['xml.attributes', (n) => parses(`<xml><a${' k="v&amp;"'.repeat(n)}>x</a></xml>`), 300],
    ['xml.long-cdata', (n) => parses(`<xml><a><![CDATA[${'数据]]'.repeat(n)}]]></a></xml>`), 750],
    ['xml.cdata-sections', (n) => parses(`<xml><a>${'<![CDATA[x]]>'.repeat(n)}</a></xml>`), 250],
    ['xml.entities', (n) => parses(`<xml><a>${'&amp;&#x4e2d;&lt;&#128512;'.repeat(n)}</a></xml>`), 125],
    [
      'xml.repeated-items',
      (n) => parses(`<xml><Articles>${'<item><Title>t</Title></item>'.repeat(n)}</Articles></xml>`),
      100,
    ],
    [
      'xml.distinct-names',
      (n) => parses(`<xml>${Array.from({ length: n }, (_, i) => `<f${i}>1</f${i}>`).join('')}</xml>`),
      50,
    ],
    ['xml.comments', (n) => parses(`<xml>${'<!-- c --><a>1</a>\n'.repeat(n)}</xml>`), 150],
    ['xml.char-ref-digits', (n) => parses(`<xml><a>&#${'0'.repeat(n)}65;</a></xml>`), 3_000],
    ['xml.long-text', (n) => parses(`<xml><a>${'x &amp; y '.repeat(n)}</a></xml>`), 300],
    ['xml.blank-gaps', (n) => parses(`<xml>${' \n'.repeat(n)}<a>1</a>${'\t'.repeat(n)}</xml>`), 1_000],
    [
      'xml.error.unterminated-cdata',
      (n) => refuses(`<xml><a>${'<![CDATA[x]]>'.repeat(n)}<![CDATA[x</a></xml>`, 'BAD_XML'),
      250,
    ],
    ['xml.error.never-closed', (n) => refuses(`<xml>${'<a>'.repeat(n)}`, 'BAD_XML'), 400],
    ['xml.error.mixed-at-end', (n) => refuses(`<xml>${'<a>1</a>'.repeat(n)}text</xml>`, 'BAD_XML'), 400],
    [
      'xml.error.unterminated-attribute',
      (n) => refuses(`<xml><a${' k="v"'.repeat(n)} z="</a></xml>`, 'BAD_XML'),
      500,
    ],
  ];
  it.each(families)('%s: 16x the input takes less than 64x the time', async (name, make, n) => {
    await assertLinear(name, make, n);
  });
});

describe('linear time: envelopes, JSON pushes, Pay notifications', () => {
  const AES_KEY = 'abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG';
  const cipher = new MessageCipher({ encodingAESKey: AES_KEY, receiveId: 'wx1234567890abcdef' });
  const families: Array<[string, (n: number) => () => unknown, number]> = [
    [
      'json.numbers',
      (n) => {
        const text = `{"a":[${Array.from({ length: n }, (_, i) => `${i}.5e3`).join(',')}],"MsgId":${'9'.repeat(n)}}`;
        return () => parseJsonMessage(text);
      },
      300,
    ],
    [
      'json.nested',
      (n) => {
        const text = `{"a":${'{"b":['.repeat(n)}1${']}'.repeat(n)}}`;
        return () => parseJsonMessage(text);
      },
      400,
    ],
    [
      'envelope.json',
      (n) => {
        const body = JSON.stringify({ ToUserName: 'gh', Encrypt: 'A'.repeat(4 * n) });
        return () => extractEncrypt(body);
      },
      750,
    ],
    [
      'envelope.decrypt',
      (n) => {
        const encrypt = encryptMessage({
          encodingAESKey: AES_KEY,
          receiveId: 'wx1234567890abcdef',
          message: 'x'.repeat(n),
        });
        return () => cipher.decrypt(encrypt);
      },
      2_000,
    ],
    [
      'pay.envelope',
      (n) => {
        const body = JSON.stringify({
          id: 'x',
          padding: 'p'.repeat(n),
          resource: { algorithm: 'AEAD_AES_256_GCM', ciphertext: 'A'.repeat(4 * n), nonce: 'n' },
        });
        return () => {
          try {
            readVerifiedNotificationWithKeys(body, ['a7cde1ZJB1kG2e7VfTs3jQzaWizur8Gb']);
          } catch (error) {
            if (error instanceof WeChatKitError && error.code === 'DECRYPT_FAILED') return;
            throw error;
          }
          throw new Error('expected DECRYPT_FAILED');
        };
      },
      600,
    ],
    [
      'pay.headers-many',
      (n) => {
        const headers: Record<string, string> = {};
        for (let i = 0; i < n; i++) headers[`X-Header-${i}`] = 'v';
        headers['WECHATPAY-SERIAL'] = 'PUB_KEY_ID_1';
        return () => readPayV3Headers(headers);
      },
      50,
    ],
  ];
  it.each(families)('%s: 16x the input takes less than 64x the time', async (name, make, n) => {
    await assertLinear(name, make, n);
  });
});

describe('linear time: the guard headers', () => {
  const mp = new MiniProgram({
    appId: 'wx5555555555555555',
    secret: 'guard-mp-secret-0123456789',
    fetch: (async () => {
      throw new Error('these routes never call WeChat');
    }) as typeof fetch,
  });
  const guard = createGuard({
    miniProgram: mp,
    keys: [{ kid: 'k1', alg: 'HS256', secret: 'a-session-secret-of-at-least-32-bytes!!' }],
    cookie: true,
    trustProxy: 2,
    logger: { error: () => {}, warn: () => {} },
  });
  const route = guard.protect(() => ({}));
  const call = (headers: Record<string, string>) => async () => {
    const answer = await route({
      method: 'GET',
      url: '/me',
      headers: { host: 'api.example.com', ...headers },
      remoteAddress: '127.0.0.1',
      secure: true,
      json: async () => ({}),
    });
    expect(answer.status).toBe(401);
  };
  const trust = compileTrustProxy(['loopback', 'private'], 'fuzz');
  const cors = compileCors({ origins: ['https://h5.example.com'] });
  const families: Array<[string, (n: number) => () => unknown, number]> = [
    ['guard.bearer-spaces', (n) => call({ authorization: `Bearer ${' '.repeat(n)}a b` }), 3_000],
    ['guard.bearer-long', (n) => call({ authorization: `Bearer ${'a'.repeat(n)} b` }), 3_000],
    ['guard.cookie-parts', (n) => call({ cookie: `${'k=v; '.repeat(n)}other=1` }), 600],
    [
      'guard.forwarded-for',
      (n) => call({ 'x-forwarded-for': Array(n).fill('10.0.0.1').join(', '), authorization: 'Bearer x' }),
      300,
    ],
    [
      'trustProxy.forwarded-for',
      (n) => {
        const headers = {
          'x-forwarded-for': Array.from({ length: n }, (_, i) => `10.0.${i % 250}.${i % 200}`).join(', '),
        };
        return () => trust.clientIp({ remoteAddress: '127.0.0.1', headers });
      },
      250,
    ],
    ['cors.long-origin', (n) => () => cors?.headersFor(`https://${'a'.repeat(n)}.example.com`), 3_000],
  ];
  it.each(families)('%s: 16x the input takes less than 64x the time', async (name, make, n) => {
    await assertLinear(name, make, n);
  });
});

describe('documented limits refuse oversize input at once, with their typed error', () => {
  it('parseXml: a document over maxLength (default 1 MiB) is refused before it is read', async () => {
    const huge = `<xml>${'<a>1</a>'.repeat(2_000_000)}</xml>`; // 16 MB
    const ms = await minMs(() => {
      expect(typedOnly(() => parseXml(huge), ['XML_TOO_LARGE'])).toBe('XML_TOO_LARGE');
    }, 5);
    expect(ms).toBeLessThan(2);
    expect(typedOnly(() => parseXml('<xml><a>1</a></xml>', { maxLength: 10 }), ['XML_TOO_LARGE'])).toBe(
      'XML_TOO_LARGE',
    );
  });

  it('parseXml: nesting past maxDepth (default 32) is refused at that depth, not after reading the rest', async () => {
    const deep = `<xml>${'<a>'.repeat(300_000)}</xml>`; // 900 KB, under the default maxLength
    const ms = await minMs(() => {
      expect(typedOnly(() => parseXml(deep), ['XML_TOO_LARGE'])).toBe('XML_TOO_LARGE');
    }, 5);
    expect(ms).toBeLessThan(2);
  });

  it('callbacks: a push body over 1 MiB is answered 413 without being parsed', async () => {
    const callback = createWeChatCallback({
      appId: 'wx1234567890abcdef',
      token: 'T',
      mode: 'plain',
      now: () => 1_714_036_504_000,
    });
    const q = new URLSearchParams({ timestamp: '1714036504', nonce: 'n' });
    const { computeServerSignature } = await import('../../src/crypto/index.js');
    q.set('signature', computeServerSignature({ token: 'T', timestamp: '1714036504', nonce: 'n' }));
    const rawBody = Buffer.alloc(2 * 1024 * 1024, 0x3c);
    const response = await callback.handle({ method: 'POST', url: `/cb?${q}`, headers: {}, rawBody });
    expect(response.status).toBe(413);
  });

  it('Pay notifications: a body over 64 KiB is answered 413 before any verification', async () => {
    let verified = 0;
    const handler = createPayNotificationHandler({
      apiV3Key: 'a7cde1ZJB1kG2e7VfTs3jQzaWizur8Gb',
      verifier: {
        verify: () => {
          verified++;
        },
      },
    });
    const response = await handler.handle({
      method: 'POST',
      url: '/pay',
      headers: {},
      rawBody: 'x'.repeat(65_537),
    });
    expect(response.status).toBe(413);
    expect(verified).toBe(0);
  });

  it('session tokens: a token over 4096 characters is refused without being decoded', async () => {
    const tokens = new SessionTokens(
      [{ kid: 'k1', alg: 'HS256', secret: 'a-session-secret-of-at-least-32-bytes!!' }],
      {
        issuer: 'i',
        audience: 'a',
        now: () => 0,
      },
    );
    const refuse = (token: string) => async () => {
      expect(await typedOnlyAsync(() => tokens.verify(token), ['SESSION_INVALID'])).toBe('SESSION_INVALID');
    };
    // 2 MB costs about what 5 KB costs: refused on its length, not read.
    const huge = await minMs(refuse(`${'a'.repeat(2_000_000)}.b.c`), 5);
    const small = await minMs(refuse(`${'a'.repeat(5_000)}.b.c`), 5);
    expect(huge).toBeLessThan(small + 20);
  });
});
