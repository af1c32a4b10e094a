// Rotating the callback secrets without downtime: `token`, `encodingAESKey` (WeChat, WeCom) and
// `apiV3Key` (Pay notifications) take a list, current first. While both are listed, a request made
// with either is accepted, its reply is sealed with the secrets of its request, a third secret is
// refused exactly as before, and hooks.onSecretFallback says when a non-first value was used.
import { generateKeyPairSync, randomUUID, sign } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  type CallbackErrorEvent,
  type CallbackRequest,
  type CallbackResponse,
  createPayNotificationHandler,
  createWeChatCallback,
  createWeComCallback,
  type MessageMode,
  type PayNotificationHandlerOptions,
  type RefusedEvent,
  reply,
  type SecretFallbackEvent,
  type WeChatCallbackOptions,
  type WeComCallbackOptions,
} from '../../src/callbacks/index.js';
import { buildXml, encryptResource, MessageCrypto, PayV3Verifier, parseXml } from '../../src/crypto/index.js';
import { ConfigError } from '../../src/errors.js';
import { APP_ID, clock, handshake, NOW, openReply, push, textMessage } from './fixtures.js';

const OLD = { token: 'OldToken2019', encodingAESKey: 'abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG' };
const NEW = { token: 'NewToken2025', encodingAESKey: 'Zyxwvutsrqponmlkjihgfedcba9876543210ZYXWVUT' };
const THIRD = { token: 'SomeoneElse9', encodingAESKey: 'k7btEF9MfKupRvybC5XAeQWB5ao3KHa1b2c3d4e5f6g' };
/** Deterministic randomness, so two callbacks give byte-identical replies. */
const fixedRandom = (size: number) => new Uint8Array(size).fill(7);

interface Recorded {
  refused: RefusedEvent[];
  fallbacks: SecretFallbackEvent[];
  errors: CallbackErrorEvent[];
}

function record(): Recorded {
  return { refused: [], fallbacks: [], errors: [] };
}

function wechat(options: Partial<WeChatCallbackOptions> & { mode?: MessageMode } = {}) {
  const seen = record();
  const callback = createWeChatCallback({
    appId: APP_ID,
    token: [NEW.token, OLD.token],
    encodingAESKey: [NEW.encodingAESKey, OLD.encodingAESKey],
    mode: 'safe',
    now: clock,
    random: fixedRandom,
    hooks: {
      onRefused: (e) => seen.refused.push(e),
      onSecretFallback: (e) => seen.fallbacks.push(e),
      onError: (e) => seen.errors.push(e),
    },
    ...options,
  });
  callback.on('text', (msg) => reply.text(`echo: ${msg.Content}`));
  return { callback, ...seen };
}

function innerContent(response: CallbackResponse, secrets: { token: string; encodingAESKey: string }) {
  return parseXml(openReply(response, APP_ID, secrets)).Content;
}

describe('WeChat callback, safe mode, with [new, old] listed', () => {
  it('accepts a push sealed with the old secrets and one sealed with the new; each reply uses its push’s secrets', async () => {
    const { callback, refused } = wechat();
    const old = await callback.handle(push({ fields: textMessage('old', '1'), ...OLD }));
    const current = await callback.handle(push({ fields: textMessage('new', '2'), ...NEW }));
    expect([old.status, current.status]).toEqual([200, 200]);
    expect(innerContent(old, OLD)).toBe('echo: old');
    expect(innerContent(current, NEW)).toBe('echo: new');
    // Sealed with the push's key only: the other key does not open it.
    expect(() => openReply(old, APP_ID, NEW)).toThrow();
    expect(() => openReply(current, APP_ID, OLD)).toThrow();
    expect(refused).toEqual([]);
  });

  it('reports the old token and the old key to onSecretFallback, and nothing for the current ones', async () => {
    const { callback, fallbacks } = wechat();
    await callback.handle(push({ fields: textMessage('new', '1'), ...NEW }));
    expect(fallbacks).toEqual([]);
    await callback.handle(push({ fields: textMessage('old', '2'), ...OLD }));
    expect(fallbacks).toEqual([
      { option: 'token', index: 1, method: 'POST' },
      { option: 'encodingAESKey', index: 1, method: 'POST' },
    ]);
    expect(JSON.stringify(fallbacks)).not.toContain(OLD.token);
  });

  it('rotates the token and the key independently: new token + old key opens, and the reply pairs them the same way', async () => {
    const { callback, fallbacks } = wechat();
    const mixed = { token: NEW.token, encodingAESKey: OLD.encodingAESKey };
    const res = await callback.handle(push({ fields: textMessage('mixed', '3'), ...mixed }));
    expect(innerContent(res, mixed)).toBe('echo: mixed');
    expect(fallbacks).toEqual([{ option: 'encodingAESKey', index: 1, method: 'POST' }]);
  });

  it('refuses a push with a third key or a third token exactly as a callback with one value does', async () => {
    for (const spec of [
      { token: NEW.token, encodingAESKey: THIRD.encodingAESKey },
      { token: THIRD.token, encodingAESKey: NEW.encodingAESKey },
      { token: THIRD.token, encodingAESKey: THIRD.encodingAESKey },
    ]) {
      const listed = wechat();
      const single = wechat({ token: NEW.token, encodingAESKey: NEW.encodingAESKey });
      const request = push({ fields: textMessage('x', '4'), ...spec });
      const a = await listed.callback.handle(request);
      const b = await single.callback.handle(request);
      expect(a).toEqual(b);
      expect(a.status).toBe(spec.token === NEW.token ? 400 : 401);
      expect(listed.refused.map((e) => [e.code, e.status])).toEqual(
        single.refused.map((e) => [e.code, e.status]),
      );
      expect(listed.fallbacks).toEqual([]);
    }
  });

  it('refuses a push encrypted with a listed key for another account as APPID_MISMATCH, as with one key', async () => {
    const { callback, refused } = wechat();
    const res = await callback.handle(
      push({ fields: textMessage('x', '5'), ...OLD, receiveId: 'wxanotheraccount01' }),
    );
    expect(res.status).toBe(401);
    expect(refused.map((e) => e.code)).toEqual(['APPID_MISMATCH']);
  });
});

describe('WeChat callback, compatible mode, with [new, old] listed', () => {
  it('opens an encrypted push of either key and seals each reply with its key; a plaintext push signed with the old token passes', async () => {
    const { callback, fallbacks } = wechat({ mode: 'compatible' });
    const old = await callback.handle(push({ fields: textMessage('o', '1'), mode: 'compatible', ...OLD }));
    const current = await callback.handle(
      push({ fields: textMessage('n', '2'), mode: 'compatible', ...NEW }),
    );
    expect(innerContent(old, OLD)).toBe('echo: o');
    expect(innerContent(current, NEW)).toBe('echo: n');
    const plain = await callback.handle(
      push({ fields: textMessage('p', '3'), mode: 'plain', token: OLD.token }),
    );
    expect(plain.status).toBe(200);
    expect(parseXml(plain.body).Content).toBe('echo: p');
    expect(fallbacks).toEqual([
      { option: 'token', index: 1, method: 'POST' },
      { option: 'encodingAESKey', index: 1, method: 'POST' },
      { option: 'token', index: 1, method: 'POST' },
    ]);
  });

  it('refuses an encrypted push with a third key as a one-key callback does', async () => {
    const listed = wechat({ mode: 'compatible' });
    const single = wechat({ mode: 'compatible', token: NEW.token, encodingAESKey: NEW.encodingAESKey });
    const request = push({
      fields: textMessage('x', '4'),
      mode: 'compatible',
      token: NEW.token,
      encodingAESKey: THIRD.encodingAESKey,
    });
    const a = await listed.callback.handle(request);
    expect(a).toEqual(await single.callback.handle(request));
    expect(listed.refused.map((e) => e.code)).toEqual(single.refused.map((e) => e.code));
  });
});

describe('WeChat URL verification (echostr) with [new, old] tokens', () => {
  it('answers a handshake signed with either token and reports the old one', async () => {
    const { callback, fallbacks } = wechat();
    const current = await callback.handle(handshake({ token: NEW.token, echostr: 'n1' }));
    const old = await callback.handle(handshake({ token: OLD.token, echostr: 'o1' }));
    expect([current.status, current.body, old.status, old.body]).toEqual([200, 'n1', 200, 'o1']);
    expect(fallbacks).toEqual([{ option: 'token', index: 1, method: 'GET' }]);
  });

  it('refuses a handshake signed with a third token exactly as a one-token callback does', async () => {
    const listed = wechat();
    const single = wechat({ token: NEW.token });
    const request = handshake({ token: THIRD.token });
    const a = await listed.callback.handle(request);
    expect(a).toEqual(await single.callback.handle(request));
    expect(a.status).toBe(401);
    expect(listed.refused.map((e) => e.code)).toEqual(['SIGNATURE_MISMATCH']);
  });
});

describe('a list of one value behaves exactly as the value', () => {
  it.each(['safe', 'compatible', 'plain'] as const)(
    '%s mode: same answers, byte for byte, and no fallback',
    async (mode) => {
      const asList = wechat({ mode, token: [NEW.token], encodingAESKey: [NEW.encodingAESKey] });
      const asValue = wechat({ mode, token: NEW.token, encodingAESKey: NEW.encodingAESKey });
      const pushMode = mode === 'plain' ? 'plain' : mode;
      const requests: CallbackRequest[] = [
        handshake({ token: NEW.token }),
        handshake({ token: OLD.token }),
        push({ fields: textMessage('a', '1'), mode: pushMode, ...NEW }),
        push({ fields: textMessage('b', '2'), mode: pushMode, ...OLD }),
        push({
          fields: textMessage('c', '3'),
          mode: pushMode,
          token: NEW.token,
          encodingAESKey: OLD.encodingAESKey,
        }),
        push({ fields: textMessage('a', '1'), mode: pushMode, ...NEW }), // a duplicate
      ];
      for (const request of requests) {
        expect(await asList.callback.handle(request)).toEqual(await asValue.callback.handle(request));
      }
      expect(asList.refused).toEqual(asValue.refused);
      expect(asList.fallbacks).toEqual([]);
    },
  );
});

describe('validation of the secret lists (ConfigError when the callback is created)', () => {
  const base = { appId: APP_ID, mode: 'safe' as const, token: NEW.token, encodingAESKey: NEW.encodingAESKey };
  const refusal = (options: Record<string, unknown>) => {
    try {
      createWeChatCallback({ ...base, ...options } as WeChatCallbackOptions);
    } catch (error) {
      expect(error).toBeInstanceOf(ConfigError);
      return { code: (error as ConfigError).code, message: (error as Error).message };
    }
    throw new Error('not refused');
  };

  it('refuses an empty list, naming the option', () => {
    expect(refusal({ token: [] })).toMatchObject({
      code: 'INVALID_CONFIG',
      message: expect.stringMatching(/token is an empty list/),
    });
    expect(refusal({ encodingAESKey: [] })).toMatchObject({
      message: expect.stringMatching(/encodingAESKey is an empty list/),
    });
  });

  it('refuses a repeated value, naming both indexes', () => {
    expect(refusal({ token: [NEW.token, OLD.token, NEW.token] }).message).toMatch(
      /token\[2\] repeats token\[0\]/,
    );
    expect(refusal({ encodingAESKey: [OLD.encodingAESKey, OLD.encodingAESKey] }).message).toMatch(
      /encodingAESKey\[1\] repeats encodingAESKey\[0\]/,
    );
    // 'G' and 'E' differ only in the 2 bits of the last character that the key does not use.
    const sameKey = `${OLD.encodingAESKey.slice(0, 42)}E`;
    expect(refusal({ encodingAESKey: [OLD.encodingAESKey, sameKey] }).message).toMatch(/unused bits/);
  });

  it('refuses a malformed key with the cipher’s code, naming its index; a single malformed key fails as before', () => {
    expect(refusal({ encodingAESKey: [NEW.encodingAESKey, 'tooShort'] })).toMatchObject({
      code: 'BAD_AES_KEY',
      message: expect.stringMatching(
        /^createWeChatCallback: encodingAESKey\[1\]: EncodingAESKey must be exactly 43/,
      ),
    });
    expect(refusal({ encodingAESKey: 'tooShort' })).toMatchObject({
      code: 'BAD_AES_KEY',
      message: expect.stringMatching(/^EncodingAESKey must be exactly 43/),
    });
  });

  it('refuses a list item that is not a non-empty string', () => {
    expect(refusal({ token: [NEW.token, ''] }).message).toMatch(/token\[1\] must be a non-empty string/);
    expect(refusal({ encodingAESKey: [NEW.encodingAESKey, 42] }).message).toMatch(/encodingAESKey\[1\]/);
  });

  it('refuses the same mistakes in a WeCom callback, naming createWeComCallback', () => {
    expect(() =>
      createWeComCallback({
        corpId: 'ww1',
        token: [],
        encodingAESKey: NEW.encodingAESKey,
      } as unknown as WeComCallbackOptions),
    ).toThrow(/createWeComCallback: token is an empty list/);
    expect(() =>
      createWeComCallback({
        corpId: 'ww1',
        token: 't',
        encodingAESKey: [NEW.encodingAESKey, NEW.encodingAESKey],
      }),
    ).toThrow(/encodingAESKey\[1\] repeats encodingAESKey\[0\]/);
  });
});

// --- WeCom -----------------------------------------------------------------------------------

const CORP_ID = 'ww1234567890abcdef';

function wecom(options: Partial<WeComCallbackOptions> = {}) {
  const seen = record();
  const callback = createWeComCallback({
    corpId: CORP_ID,
    token: [NEW.token, OLD.token],
    encodingAESKey: [NEW.encodingAESKey, OLD.encodingAESKey],
    now: clock,
    random: fixedRandom,
    hooks: {
      onRefused: (e) => seen.refused.push(e),
      onSecretFallback: (e) => seen.fallbacks.push(e),
    },
    ...options,
  });
  callback.on('text', (msg) => reply.text(`echo: ${msg.Content}`));
  return { callback, ...seen };
}

function weComCrypto(secrets: { token: string; encodingAESKey: string }): MessageCrypto {
  return new MessageCrypto({ ...secrets, receiveId: CORP_ID, now: clock });
}

function weComEcho(secrets: { token: string; encodingAESKey: string }, plaintext: string): CallbackRequest {
  const crypto = weComCrypto(secrets);
  const echostr = crypto.cipher.encrypt(plaintext);
  const signature = crypto.sign(String(NOW), '263014780', echostr);
  return {
    method: 'GET',
    url: `/wecom?msg_signature=${signature}&timestamp=${NOW}&nonce=263014780&echostr=${encodeURIComponent(echostr)}`,
    headers: {},
    rawBody: undefined,
  };
}

function weComPush(
  secrets: { token: string; encodingAESKey: string },
  content: string,
  msgId: string,
): CallbackRequest {
  const inner = buildXml({
    ToUserName: CORP_ID,
    FromUserName: 'zhangsan',
    CreateTime: NOW,
    MsgType: 'text',
    Content: content,
    MsgId: msgId,
    AgentID: 1000002,
  });
  const sealed = weComCrypto(secrets).seal(inner, { timestamp: NOW, nonce: '1372623149' });
  return {
    method: 'POST',
    url: `/wecom?msg_signature=${sealed.msgSignature}&timestamp=${NOW}&nonce=1372623149`,
    headers: { 'content-type': 'text/xml' },
    rawBody: Buffer.from(buildXml({ ToUserName: CORP_ID, AgentID: 1000002, Encrypt: sealed.encrypt })),
  };
}

describe('WeCom callback with [new, old] listed', () => {
  it('answers the encrypted echostr of either secret pair and reports the old token and key', async () => {
    const { callback, fallbacks } = wecom();
    const current = await callback.handle(weComEcho(NEW, '1111'));
    const old = await callback.handle(weComEcho(OLD, '2222'));
    expect([current.status, current.body, old.status, old.body]).toEqual([200, '1111', 200, '2222']);
    expect(fallbacks).toEqual([
      { option: 'token', index: 1, method: 'GET' },
      { option: 'encodingAESKey', index: 1, method: 'GET' },
    ]);
  });

  it('accepts a message of either secret pair; each reply is sealed with its message’s token and key', async () => {
    const { callback, refused } = wecom();
    const old = await callback.handle(weComPush(OLD, 'old', '1'));
    const current = await callback.handle(weComPush(NEW, 'new', '2'));
    expect(parseXml(openReply(old, CORP_ID, OLD)).Content).toBe('echo: old');
    expect(parseXml(openReply(current, CORP_ID, NEW)).Content).toBe('echo: new');
    expect(() => openReply(old, CORP_ID, NEW)).toThrow();
    expect(refused).toEqual([]);
  });

  it('refuses a third secret exactly as a one-value callback does (echostr and message)', async () => {
    for (const request of [
      weComEcho({ token: NEW.token, encodingAESKey: THIRD.encodingAESKey }, '3333'),
      weComEcho(THIRD, '3333'),
      weComPush({ token: NEW.token, encodingAESKey: THIRD.encodingAESKey }, 'x', '3'),
      weComPush(THIRD, 'x', '4'),
    ]) {
      const listed = wecom();
      const single = wecom({ token: NEW.token, encodingAESKey: NEW.encodingAESKey });
      const a = await listed.callback.handle(request);
      expect(a).toEqual(await single.callback.handle(request));
      expect([400, 401]).toContain(a.status);
      expect(listed.refused.map((e) => e.code)).toEqual(single.refused.map((e) => e.code));
    }
  });

  it('a list of one behaves exactly as the value', async () => {
    const asList = wecom({ token: [NEW.token], encodingAESKey: [NEW.encodingAESKey] });
    const asValue = wecom({ token: NEW.token, encodingAESKey: NEW.encodingAESKey });
    for (const request of [
      weComEcho(NEW, '1'),
      weComEcho(OLD, '2'),
      weComPush(NEW, 'a', '1'),
      weComPush(OLD, 'b', '2'),
    ]) {
      expect(await asList.callback.handle(request)).toEqual(await asValue.callback.handle(request));
    }
    expect(asList.refused).toEqual(asValue.refused);
    expect(asList.fallbacks).toEqual([]);
  });
});

// --- Pay v3 notifications ----------------------------------------------------------------------

const platform = generateKeyPairSync('rsa', { modulusLength: 2048 });
const PUB_KEY_ID = 'PUB_KEY_ID_0114232134912410000000000000';
const verifier = new PayV3Verifier({ publicKey: { id: PUB_KEY_ID, key: platform.publicKey } });
const OLD_V3 = 'a7cde1ef52c8e9f7b3a04cd2e6f1b8d9';
const NEW_V3 = 'N3wApiV3Key0000000000000000000zz';
const THIRD_V3 = 'Th1rdApiV3Key0000000000000000000';

function notification(apiV3Key: string, outTradeNo: string): CallbackRequest {
  const body = JSON.stringify({
    id: randomUUID(),
    create_time: '2024-04-25T17:15:04+08:00',
    resource_type: 'encrypt-resource',
    event_type: 'TRANSACTION.SUCCESS',
    summary: '支付成功',
    resource: {
      original_type: 'transaction',
      ...encryptResource({
        apiV3Key,
        plaintext: JSON.stringify({ mchid: '1230000109', out_trade_no: outTradeNo, trade_state: 'SUCCESS' }),
        associatedData: 'transaction',
      }),
    },
  });
  const nonce = 'fdasflkja484w2kjL2ExampleN';
  const signature = sign('sha256', Buffer.from(`${NOW}\n${nonce}\n${body}\n`), platform.privateKey).toString(
    'base64',
  );
  return {
    method: 'POST',
    url: '/pay/notify',
    headers: {
      'wechatpay-timestamp': String(NOW),
      'wechatpay-nonce': nonce,
      'wechatpay-signature': signature,
      'wechatpay-serial': PUB_KEY_ID,
    },
    rawBody: Buffer.from(body),
  };
}

function payHandler(apiV3Key: PayNotificationHandlerOptions['apiV3Key']) {
  const seen = record();
  const paid: string[] = [];
  const handler = createPayNotificationHandler({
    apiV3Key,
    verifier,
    now: clock,
    hooks: {
      onRefused: (e) => seen.refused.push(e),
      onError: (e) => seen.errors.push(e),
      onSecretFallback: (e) => seen.fallbacks.push(e),
    },
  }).on('TRANSACTION.SUCCESS', ({ resource }) => {
    paid.push(resource.out_trade_no);
  });
  return { handler, paid, ...seen };
}

describe('Pay notification handler with apiV3Key [new, old]', () => {
  it('opens a notification encrypted with either key and reports the old one', async () => {
    const { handler, paid, fallbacks, errors } = payHandler([NEW_V3, OLD_V3]);
    expect((await handler.handle(notification(OLD_V3, 'order-old'))).status).toBe(204);
    expect((await handler.handle(notification(NEW_V3, 'order-new'))).status).toBe(204);
    expect(paid).toEqual(['order-old', 'order-new']);
    expect(fallbacks).toEqual([{ option: 'apiV3Key', index: 1, method: 'POST' }]);
    expect(errors).toEqual([]);
  });

  it('answers a third key as a one-key handler does: 500, onError phase config, BAD_KEY (WeChat Pay retries)', async () => {
    const listed = payHandler([NEW_V3, OLD_V3]);
    const single = payHandler(NEW_V3);
    const request = notification(THIRD_V3, 'order-x');
    const a = await listed.handler.handle(request);
    expect(withoutId(a)).toEqual(withoutId(await single.handler.handle(request)));
    expect(a.status).toBe(500);
    const shape = (e: CallbackErrorEvent) => [e.phase, (e.error as ConfigError).code];
    expect(listed.errors.map(shape)).toEqual([['config', 'BAD_KEY']]);
    expect(single.errors.map(shape)).toEqual([['config', 'BAD_KEY']]);
    expect(String((listed.errors[0]?.error as Error | undefined)?.message)).toMatch(
      /none of the 2 apiV3Keys/,
    );
    expect(listed.paid).toEqual([]);
  });

  it('a list of one behaves exactly as the key', async () => {
    const asList = payHandler([NEW_V3]);
    const asValue = payHandler(NEW_V3);
    for (const request of [notification(NEW_V3, 'a'), notification(OLD_V3, 'b')]) {
      expect(withoutId(await asList.handler.handle(request))).toEqual(
        withoutId(await asValue.handler.handle(request)),
      );
    }
    expect(asList.paid).toEqual(asValue.paid);
    expect(asList.errors.map((e) => e.phase)).toEqual(asValue.errors.map((e) => e.phase));
    expect(asList.fallbacks).toEqual([]);
  });

  it('refuses an empty list, a repeated key and a key of the wrong length, naming the index', () => {
    expect(() => payHandler([])).toThrow(/apiV3Key is an empty list/);
    expect(() => payHandler([NEW_V3, OLD_V3, NEW_V3])).toThrow(/apiV3Key\[2\] repeats apiV3Key\[0\]/);
    expect(() => payHandler([NEW_V3, 'short'])).toThrow(/apiV3Key\[1\] must be the 32-character APIv3 key/);
  });
});

// --- property --------------------------------------------------------------------------------

/** A random EncodingAESKey: 32 random bytes, base64 without the '='. Distinct bytes, distinct key. */
const aesKey = fc
  .uint8Array({ minLength: 32, maxLength: 32 })
  .map((b) => Buffer.from(b).toString('base64').slice(0, 43));

describe('property: a push sealed with either listed key opens, with the same plaintext; never without its key', () => {
  it('random key pairs', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.uniqueArray(aesKey, {
          minLength: 3,
          maxLength: 3,
          selector: (k) => Buffer.from(`${k}=`, 'base64').toString('hex'),
        }),
        fc.boolean(),
        fc
          .string({ minLength: 1, maxLength: 60 })
          .filter((s) => s.trim() === s && !/[\]<>&\u0000-\u001f\ud800-\udfff]/.test(s)),
        async ([a, b, c], sealWithFirst, content) => {
          const key = (sealWithFirst ? a : b) as string;
          const received: string[] = [];
          const make = (keys: string[]) =>
            createWeChatCallback({
              appId: APP_ID,
              token: 'T',
              encodingAESKey: keys,
              mode: 'safe',
              now: clock,
            }).on('text', (msg) => {
              received.push(msg.Content);
              return reply.text(msg.Content);
            });
          const request = push({ fields: textMessage(content, '1'), token: 'T', encodingAESKey: key });
          const opened = await make([a as string, b as string]).handle(request);
          expect(opened.status).toBe(200);
          expect(received).toEqual([content]);
          expect(parseXml(openReply(opened, APP_ID, { token: 'T', encodingAESKey: key })).Content).toBe(
            content,
          );
          const lacking = await make(
            sealWithFirst ? [b as string, c as string] : [c as string, a as string],
          ).handle(request);
          expect([400, 401]).toContain(lacking.status);
          expect(received).toEqual([content]);
        },
      ),
      { numRuns: 60 },
    );
  });

  it('random APIv3 key pairs: either key opens; a list without it never does', async () => {
    const v3Key = fc.string({
      minLength: 32,
      maxLength: 32,
      unit: fc.constantFrom(...'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789'),
    });
    let orders = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.uniqueArray(v3Key, { minLength: 3, maxLength: 3 }),
        fc.boolean(),
        async ([a, b, c], first) => {
          const key = (first ? a : b) as string;
          const order = `order-${++orders}`;
          const both = payHandler([a as string, b as string]);
          expect((await both.handler.handle(notification(key, order))).status).toBe(204);
          expect(both.paid).toEqual([order]);
          const lacking = payHandler(first ? [b as string, c as string] : [c as string, a as string]);
          expect((await lacking.handler.handle(notification(key, order))).status).toBe(500);
          expect(lacking.paid).toEqual([]);
        },
      ),
      { numRuns: 40 },
    );
  });
});

/** A response without its request id (each request gets a new one: two handlers never agree on it). */
function withoutId(response: CallbackResponse): CallbackResponse {
  const { 'x-request-id': id, ...headers } = response.headers;
  expect(id).toMatch(/^[0-9a-f]{32}$/);
  // An error body names the request too.
  const body = response.status >= 400 ? response.body.replace(`,"requestId":"${id}"`, '') : response.body;
  return { ...response, headers, body };
}
