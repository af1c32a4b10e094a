import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import { toNodeListener } from '../../src/adapters/node.js';
import {
  type CallbackErrorEvent,
  type CallbackRequest,
  createWeComCallback,
  type RefusedEvent,
  reply,
  type WeComCallbackOptions,
} from '../../src/callbacks/index.js';
import { buildXml, MessageCrypto, parseXml } from '../../src/crypto/index.js';
import { ConfigError } from '../../src/errors.js';

// Official WeCom vectors (加解密方案说明 / the official samples), from conformance/vectors/official.json.
interface Vector {
  id: string;
  input: Record<string, unknown>;
  expect: { output: string };
}
const vectors = JSON.parse(
  readFileSync(new URL('../../conformance/vectors/official.json', import.meta.url), 'utf8'),
) as Vector[];
function vector(id: string): Vector {
  const found = vectors.find((v) => v.id === id);
  if (found === undefined) throw new Error(`vector ${id} missing`);
  return found;
}

const TOKEN = 'QDG6eK';
const AES_KEY = 'jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C';
const CORP_ID = 'wx5823bf96d3bd56c7';

const ECHO = {
  timestamp: '1409659589',
  nonce: '263014780',
  msgSignature: '5c45ff5e21c57e6ad56bac8758b79b1d9ac89fd3',
  echostr: vector('message.decrypt/MC-WECOM-QDG6EK-ECHO').input.encrypt as string,
  plaintext: '1616140317555161061',
};
const MSG = vector('message.open/MC-WECOM-QDG6EK-MSG').input as {
  timestamp: string;
  nonce: string;
  msgSignature: string;
  body: string;
};
const MSG_PLAINTEXT = vector('message.open/MC-WECOM-QDG6EK-MSG').expect.output;

function make(nowSeconds: number, options: Partial<WeComCallbackOptions> = {}) {
  const refused: RefusedEvent[] = [];
  const errors: CallbackErrorEvent[] = [];
  const callback = createWeComCallback({
    corpId: CORP_ID,
    token: TOKEN,
    encodingAESKey: AES_KEY,
    now: () => nowSeconds * 1000,
    hooks: { onRefused: (e) => refused.push(e), onError: (e) => errors.push(e) },
    ...options,
  });
  return { callback, refused, errors };
}

function echoRequest(overrides: Partial<typeof ECHO> = {}, encode = true): CallbackRequest {
  const p = { ...ECHO, ...overrides };
  const echostr = encode ? encodeURIComponent(p.echostr) : p.echostr;
  return {
    method: 'GET',
    url: `/wecom?msg_signature=${p.msgSignature}&timestamp=${p.timestamp}&nonce=${p.nonce}&echostr=${echostr}`,
    headers: {},
    rawBody: undefined,
  };
}

function msgRequest(body: string | Uint8Array = MSG.body, query: Partial<typeof MSG> = {}): CallbackRequest {
  const q = { ...MSG, ...query };
  return {
    method: 'POST',
    url: `/wecom?msg_signature=${q.msgSignature}&timestamp=${q.timestamp}&nonce=${q.nonce}`,
    headers: { 'content-type': 'text/xml' },
    rawBody: typeof body === 'string' ? Buffer.from(body, 'utf8') : body,
  };
}

describe('WeCom URL verification (encrypted echostr)', () => {
  it('answers the decrypted echostr of the official vector verbatim, as text/plain with nosniff', async () => {
    const { callback, refused } = make(Number(ECHO.timestamp) + 3);
    expect(callback.product).toBe('wecom');
    expect(callback.mode).toBe('safe');
    const res = await callback.handle(echoRequest());
    expect(res).toEqual({
      status: 200,
      headers: {
        'content-type': 'text/plain; charset=utf-8',
        'x-content-type-options': 'nosniff',
        // A new id: this request has no traceparent.
        'x-request-id': expect.stringMatching(/^[0-9a-f]{32}$/),
      },
      body: ECHO.plaintext,
    });
    expect(refused).toEqual([]);
  });

  it('keeps a literal "+" of an unencoded echostr (base64 is never form-decoded)', async () => {
    expect(ECHO.echostr).toContain('+');
    const { callback } = make(Number(ECHO.timestamp));
    const res = await callback.handle(echoRequest({}, false));
    expect([res.status, res.body]).toEqual([200, ECHO.plaintext]);
  });

  it('refuses a forged msg_signature, and ignores a plain `signature`', async () => {
    const { callback, refused } = make(Number(ECHO.timestamp));
    const forged = await callback.handle(echoRequest({ msgSignature: '0'.repeat(40) }));
    expect(forged.status).toBe(401);
    expect(forged.body).not.toContain(ECHO.plaintext);
    // The WeChat-style handshake (signature over token/timestamp/nonce only) is not accepted.
    const wechatStyle = await callback.handle({
      method: 'GET',
      url: `/wecom?signature=${ECHO.msgSignature}&timestamp=${ECHO.timestamp}&nonce=${ECHO.nonce}&echostr=${encodeURIComponent(ECHO.echostr)}`,
      headers: {},
      rawBody: undefined,
    });
    expect(wechatStyle.status).toBe(401);
    expect(refused.map((r) => r.code)).toEqual(['SIGNATURE_MISMATCH', 'SIGNATURE_MISMATCH']);
  });

  it('refuses an echostr changed after signing, and one without echostr', async () => {
    const { callback, refused } = make(Number(ECHO.timestamp));
    const changed = await callback.handle(echoRequest({ echostr: `A${ECHO.echostr.slice(1)}` }));
    expect(changed.status).toBe(401);
    const none = await callback.handle({
      method: 'GET',
      url: `/wecom?msg_signature=${ECHO.msgSignature}&timestamp=${ECHO.timestamp}&nonce=${ECHO.nonce}`,
      headers: {},
      rawBody: undefined,
    });
    expect(none.status).toBe(400);
    expect(refused.map((r) => r.code)).toEqual(['SIGNATURE_MISMATCH', 'BAD_BODY']);
  });

  it('refuses a stale timestamp (outside ±300 s), after checking the signature', async () => {
    const { callback, refused } = make(Number(ECHO.timestamp) + 301);
    const res = await callback.handle(echoRequest());
    expect(res.status).toBe(401);
    expect(refused[0]?.code).toBe('TIMESTAMP_EXPIRED');
    const { callback: early } = make(Number(ECHO.timestamp) - 301);
    expect((await early.handle(echoRequest())).status).toBe(401);
  });

  it('refuses an echostr encrypted for another corp (ReceiveId checked)', async () => {
    const { callback, refused } = make(Number(ECHO.timestamp), { corpId: 'wwanothercorp0000' });
    const res = await callback.handle(echoRequest());
    expect(res.status).toBe(401);
    expect(refused[0]?.code).toBe('APPID_MISMATCH');
    expect(res.body).not.toContain(ECHO.plaintext);
  });
});

describe('WeCom over real HTTP (node adapter)', () => {
  it('verifies the URL and takes the official message through toNodeListener', async () => {
    const { callback } = make(Number(ECHO.timestamp));
    let content: string | undefined;
    callback.on('text', (msg) => {
      content = msg.Content;
      return reply.text('ok');
    });
    const server = createServer(toNodeListener(callback));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    try {
      for (const encode of [true, false]) {
        const res = await fetch(`${base}${echoRequest({}, encode).url}`);
        expect([res.status, await res.text()]).toEqual([200, ECHO.plaintext]);
      }
      const push = msgRequest();
      const res = await fetch(`${base}${push.url}`, {
        method: 'POST',
        headers: { 'content-type': 'text/xml' },
        body: MSG.body,
      });
      expect(res.status).toBe(200);
      expect(await res.text()).toContain('<Encrypt>');
      expect(content).toBe('hello');
    } finally {
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });
});

describe('WeCom pushes', () => {
  it('verifies and decrypts the official message vector and routes it with its AgentID', async () => {
    const { callback, refused } = make(Number(MSG.timestamp) + 5);
    const seen: Array<Record<string, unknown>> = [];
    callback.on('text', (msg, ctx) => {
      seen.push({
        ...msg,
        ctxAppId: ctx.appId,
        product: ctx.product,
        encrypted: ctx.encrypted,
        raw: ctx.raw,
      });
    });
    const res = await callback.handle(msgRequest());
    expect(refused).toEqual([]);
    expect(res).toMatchObject({ status: 200, body: 'success' });
    expect(seen).toEqual([
      {
        ToUserName: CORP_ID,
        FromUserName: 'mycreate',
        CreateTime: '1409659813',
        MsgType: 'text',
        Content: 'hello',
        MsgId: '4561255354251345929',
        AgentID: '218',
        ctxAppId: CORP_ID,
        product: 'wecom',
        encrypted: true,
        raw: MSG_PLAINTEXT,
      },
    ]);
  });

  it('processes a retry of the same message once', async () => {
    const { callback } = make(Number(MSG.timestamp));
    let calls = 0;
    callback.on('text', () => {
      calls++;
    });
    const [a, b] = await Promise.all([callback.handle(msgRequest()), callback.handle(msgRequest())]);
    expect([a.status, b.status, calls]).toEqual([200, 200, 1]);
  });

  it('refuses forged, stale, wrong-corp, plaintext and unsigned pushes before any handler runs', async () => {
    let calls = 0;
    const count = () => {
      calls++;
    };
    const { callback, refused } = make(Number(MSG.timestamp));
    callback.on('*', count);
    expect((await callback.handle(msgRequest(MSG.body, { msgSignature: 'f'.repeat(40) }))).status).toBe(401);
    // A body re-encrypted under another key cannot carry the original msg_signature.
    expect((await callback.handle(msgRequest(MSG.body.replace('RypE', 'RypF')))).status).toBe(401);
    // Plaintext (a downgrade attempt), with the message's own signature.
    expect((await callback.handle(msgRequest(MSG_PLAINTEXT))).status).toBe(400);
    // No msg_signature at all (only a WeChat-style `signature`).
    const unsigned = await callback.handle({
      ...msgRequest(),
      url: `/wecom?signature=${MSG.msgSignature}&timestamp=${MSG.timestamp}&nonce=${MSG.nonce}`,
    });
    expect(unsigned.status).toBe(401);
    const { callback: late, refused: lateRefused } = make(Number(MSG.timestamp) + 3600);
    late.on('*', count);
    expect((await late.handle(msgRequest())).status).toBe(401);
    const { callback: other, refused: otherRefused } = make(Number(MSG.timestamp), {
      corpId: 'wwanothercorp0000',
    });
    other.on('*', count);
    expect((await other.handle(msgRequest())).status).toBe(401);
    expect(calls).toBe(0);
    expect(refused.map((r) => r.code)).toEqual([
      'SIGNATURE_MISMATCH',
      'SIGNATURE_MISMATCH',
      'BAD_BODY',
      'SIGNATURE_MISMATCH',
    ]);
    expect(lateRefused.map((r) => r.code)).toEqual(['TIMESTAMP_EXPIRED']);
    expect(otherRefused.map((r) => r.code)).toEqual(['APPID_MISMATCH']);
  });

  it('round trip: a sealed push in, an encrypted passive reply out, opened with the corp id', async () => {
    const now = 1_714_036_504;
    const corpId = 'ww0123456789abcdef';
    const { callback } = make(now, { corpId });
    callback.on('text', (msg) => reply.text(`echo: ${msg.Content}`));
    callback.on('event.change_contact', () => undefined);
    const crypto = new MessageCrypto({
      token: TOKEN,
      encodingAESKey: AES_KEY,
      receiveId: corpId,
      now: () => now * 1000,
    });
    const send = (fields: Record<string, unknown>, nonce: string) => {
      const sealed = crypto.seal(buildXml(fields), { timestamp: now, nonce });
      const body = buildXml({ ToUserName: corpId, AgentID: '1000002', Encrypt: sealed.encrypt });
      return callback.handle({
        method: 'POST',
        url: `/wecom?msg_signature=${sealed.msgSignature}&timestamp=${now}&nonce=${nonce}`,
        headers: {},
        rawBody: body,
      });
    };
    const res = await send(
      {
        ToUserName: corpId,
        FromUserName: 'zhangsan',
        CreateTime: now,
        MsgType: 'text',
        Content: '你好',
        MsgId: '1234567890123456',
        AgentID: '1000002',
      },
      'n1',
    );
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toBe('application/xml; charset=utf-8');
    const envelope = parseXml(res.body) as Record<string, string>;
    expect(Object.keys(envelope).sort()).toEqual(['Encrypt', 'MsgSignature', 'Nonce', 'TimeStamp']);
    expect(envelope.TimeStamp).toBe(String(now));
    const inner = crypto.open({
      body: res.body,
      msgSignature: envelope.MsgSignature ?? '',
      timestamp: envelope.TimeStamp ?? '',
      nonce: envelope.Nonce ?? '',
    }).plaintext;
    expect(parseXml(inner)).toEqual({
      ToUserName: 'zhangsan',
      FromUserName: corpId,
      CreateTime: String(now),
      MsgType: 'text',
      Content: 'echo: 你好',
    });
    // Two contact changes in the same second from `sys` are distinct events, both processed.
    const change = (userId: string) => ({
      ToUserName: corpId,
      FromUserName: 'sys',
      CreateTime: now,
      MsgType: 'event',
      Event: 'change_contact',
      ChangeType: 'update_user',
      UserID: userId,
    });
    let changes = 0;
    const { callback: counting } = make(now, { corpId });
    counting.on('event.change_contact', () => {
      changes++;
    });
    const sendTo = (fields: Record<string, unknown>, nonce: string) => {
      const sealed = crypto.seal(buildXml(fields), { timestamp: now, nonce });
      return counting.handle({
        method: 'POST',
        url: `/wecom?msg_signature=${sealed.msgSignature}&timestamp=${now}&nonce=${nonce}`,
        headers: {},
        rawBody: buildXml({ ToUserName: corpId, AgentID: '', Encrypt: sealed.encrypt }),
      });
    };
    await sendTo(change('lisi'), 'a');
    await sendTo(change('wangwu'), 'b');
    await sendTo(change('lisi'), 'c'); // WeCom's retry of the first (new nonce, same message)
    expect(changes).toBe(2);
  });

  it('does not send a passive reply type WeCom lacks; answers success and reports it', async () => {
    const now = 1_714_036_504;
    const corpId = 'ww0123456789abcdef';
    const { callback, errors } = make(now, { corpId });
    callback.on('text', () => reply.transferCustomerService());
    const crypto = new MessageCrypto({ token: TOKEN, encodingAESKey: AES_KEY, receiveId: corpId });
    const sealed = crypto.seal(
      buildXml({
        ToUserName: corpId,
        FromUserName: 'u',
        CreateTime: now,
        MsgType: 'text',
        Content: 'x',
        MsgId: '1',
      }),
      { timestamp: now, nonce: 'n' },
    );
    const res = await callback.handle({
      method: 'POST',
      url: `/wecom?msg_signature=${sealed.msgSignature}&timestamp=${now}&nonce=n`,
      headers: {},
      rawBody: buildXml({ ToUserName: corpId, Encrypt: sealed.encrypt }),
    });
    expect([res.status, res.body]).toEqual([200, 'success']);
    expect(errors.map((e) => e.phase)).toEqual(['reply']);
  });
});

describe('createWeComCallback options', () => {
  it('refuses WeChat options, unknown keys and a missing key', () => {
    const base = { corpId: CORP_ID, token: TOKEN, encodingAESKey: AES_KEY };
    expect(() => createWeComCallback({ ...base, mode: 'safe' } as unknown as WeComCallbackOptions)).toThrow(
      /unknown option "mode"/,
    );
    expect(() =>
      createWeComCallback({
        appId: CORP_ID,
        token: TOKEN,
        encodingAESKey: AES_KEY,
      } as unknown as WeComCallbackOptions),
    ).toThrow(ConfigError);
    expect(() =>
      createWeComCallback({ corpId: CORP_ID, token: TOKEN } as unknown as WeComCallbackOptions),
    ).toThrow(/encodingAESKey is required/);
    expect(() => createWeComCallback({ ...base, encodingAESKey: 'short' })).toThrow(ConfigError);
    // A personal-subject third-party app's ReceiveId is the empty string.
    expect(createWeComCallback({ ...base, corpId: '' }).product).toBe('wecom');
  });
});
