/**
 * A handler's exception must reach a log: with no `hooks.onError`, it used to be answered 500 and
 * written nowhere. Every test injects the logger (or the default logger's line writer); none
 * touches the real console.
 */
import { generateKeyPairSync, randomUUID, sign } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { resolveLogger } from '../../src/callbacks/callback-logger.js';
import {
  type CallbackErrorEvent,
  type CallbackLogFields,
  type CallbackLogger,
  type CallbackRequest,
  consoleLogger,
  createPayNotificationHandler,
  createWeChatCallback,
  createWeComCallback,
} from '../../src/callbacks/index.js';
import { buildXml, encryptResource, MessageCrypto, PayV3Verifier } from '../../src/crypto/index.js';
import { ConfigError } from '../../src/errors.js';
import { AES_KEY, APP_ID, clock, NOW, push, TOKEN, textMessage } from './fixtures.js';

interface Logged {
  fields: CallbackLogFields;
  message: string;
}

function capture(): CallbackLogger & { entries: Logged[] } {
  const entries: Logged[] = [];
  return { entries, error: (fields, message) => entries.push({ fields, message }) };
}

function failing(message: string, code?: string): Error {
  const error = new Error(message);
  if (code !== undefined) Object.assign(error, { code });
  return error;
}

const wechat = (extra: { logger?: CallbackLogger; hooks?: { onError?: (e: CallbackErrorEvent) => void } }) =>
  createWeChatCallback({
    appId: APP_ID,
    token: TOKEN,
    encodingAESKey: AES_KEY,
    mode: 'safe',
    now: clock,
    ...extra,
  });

describe('callback failures reach a logger', () => {
  it('logs a handler exception when no hooks.onError is given, with its code, phase and type', async () => {
    const logger = capture();
    const thrown = failing('db unreachable', 'ECONNREFUSED');
    const callback = wechat({ logger }).on('text', () => {
      throw thrown;
    });
    const res = await callback.handle(push({ fields: textMessage() }));
    expect(res.status).toBe(500);
    expect(logger.entries).toEqual([
      {
        fields: { code: 'ECONNREFUSED', phase: 'handler', type: 'text', err: thrown },
        message: expect.stringContaining('wechat callback: handler failed'),
      },
    ]);
  });

  it('names a WeCom callback as the source', async () => {
    const logger = capture();
    const corpId = 'ww0123456789abcdef';
    const callback = createWeComCallback({
      corpId,
      token: TOKEN,
      encodingAESKey: AES_KEY,
      now: clock,
      logger,
    });
    callback.on('text', () => {
      throw new TypeError('boom');
    });
    const crypto = new MessageCrypto({ token: TOKEN, encodingAESKey: AES_KEY, receiveId: corpId });
    const inner = buildXml({ ...textMessage(), ToUserName: corpId, AgentID: '1000002' });
    const sealed = crypto.seal(inner, { timestamp: NOW, nonce: 'n' });
    const res = await callback.handle({
      method: 'POST',
      url: `/wecom?msg_signature=${sealed.msgSignature}&timestamp=${NOW}&nonce=n`,
      headers: {},
      rawBody: buildXml({ ToUserName: corpId, AgentID: '1000002', Encrypt: sealed.encrypt }),
    });
    expect(res.status).toBe(500);
    expect(logger.entries.map((e) => [e.fields.code, e.message])).toEqual([
      ['TypeError', expect.stringContaining('wecom callback: handler failed')],
    ]);
  });

  it('gives every failure to both hooks.onError and an explicit logger', async () => {
    const logger = capture();
    const events: CallbackErrorEvent[] = [];
    const callback = wechat({ logger, hooks: { onError: (e) => events.push(e) } }).on('text', () => {
      throw failing('nope');
    });
    await callback.handle(push({ fields: textMessage() }));
    expect(events.map((e) => e.phase)).toEqual(['handler']);
    expect(logger.entries.map((e) => e.fields.phase)).toEqual(['handler']);
  });

  it('defaults to the console line writer, and to no logger when hooks.onError is the sink', () => {
    const fail = (m: string) => new ConfigError('INVALID_CONFIG', m);
    expect(typeof resolveLogger(undefined, false, fail)?.error).toBe('function');
    expect(resolveLogger(undefined, true, fail)).toBeUndefined();
    const mine = capture();
    expect(resolveLogger(mine, true, fail)).toBe(mine);
  });

  it('refuses a logger without error(fields, message), when the callback is built', () => {
    expect(() => wechat({ logger: {} as CallbackLogger })).toThrow(/logger must have an error/);
  });

  it('answers the same when the logger itself throws', async () => {
    const callback = wechat({
      logger: {
        error: () => {
          throw new Error('log sink down');
        },
      },
    }).on('text', () => {
      throw failing('handler down');
    });
    expect((await callback.handle(push({ fields: textMessage() }))).status).toBe(500);
  });
});

describe('consoleLogger (the default sink)', () => {
  it('writes one line with the code and the stack, and no secret', async () => {
    const lines: string[] = [];
    const callback = wechat({ logger: consoleLogger((line) => lines.push(line)) }).on('text', () => {
      throw failing('upstream said access_token=ACCESS123&x=1 is expired', 'TOKEN_INVALID');
    });
    await callback.handle(push({ fields: textMessage() }));
    expect(lines).toHaveLength(1);
    const [line = ''] = lines;
    expect(line).not.toContain('\n');
    expect(line).toContain('wechat callback: handler failed');
    expect(line).toContain('code=TOKEN_INVALID phase=handler type=text');
    expect(line).toMatch(/ at .*callback-logger\.test\.ts/); // the stack, folded onto the line
    expect(line).toContain('access_token=***');
    for (const secret of ['ACCESS123', TOKEN, AES_KEY]) expect(line).not.toContain(secret);
  });
});

describe('Pay notification failures reach a logger', () => {
  const platform = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const PUB_KEY_ID = 'PUB_KEY_ID_0114232134912410000000000000';
  const API_V3_KEY = 'a7cde1ef52c8e9f7b3a04cd2e6f1b8d9';
  const verifier = new PayV3Verifier({ publicKey: { id: PUB_KEY_ID, key: platform.publicKey } });

  function notification(): CallbackRequest {
    const body = JSON.stringify({
      id: randomUUID(),
      create_time: '2024-04-25T17:15:04+08:00',
      resource_type: 'encrypt-resource',
      event_type: 'TRANSACTION.SUCCESS',
      summary: '支付成功',
      resource: {
        original_type: 'transaction',
        ...encryptResource({
          apiV3Key: API_V3_KEY,
          plaintext: JSON.stringify({ out_trade_no: 'order-1', transaction_id: 't1' }),
          associatedData: 'transaction',
        }),
      },
    });
    const timestamp = String(NOW);
    const nonce = 'nonce-1';
    const signature = sign(
      'sha256',
      Buffer.from(`${timestamp}\n${nonce}\n${body}\n`, 'utf8'),
      platform.privateKey,
    ).toString('base64');
    return {
      method: 'POST',
      url: '/pay/notify',
      headers: {
        'content-type': 'application/json',
        'wechatpay-timestamp': timestamp,
        'wechatpay-nonce': nonce,
        'wechatpay-signature': signature,
        'wechatpay-serial': PUB_KEY_ID,
      },
      rawBody: body,
    };
  }

  it('logs a handler exception when no hooks.onError is given', async () => {
    const logger = capture();
    const thrown = failing('ledger locked', 'ELOCKED');
    const handler = createPayNotificationHandler({ apiV3Key: API_V3_KEY, verifier, now: clock, logger }).on(
      'TRANSACTION.SUCCESS',
      () => {
        throw thrown;
      },
    );
    const res = await handler.handle(notification());
    expect(res.status).toBe(500);
    expect(logger.entries).toEqual([
      {
        fields: { code: 'ELOCKED', phase: 'handler', type: 'TRANSACTION.SUCCESS', err: thrown },
        message: expect.stringContaining('pay notification: handler failed'),
      },
    ]);
  });

  it('refuses a logger without error(fields, message)', () => {
    expect(() =>
      createPayNotificationHandler({ apiV3Key: API_V3_KEY, verifier, logger: { log: () => {} } as never }),
    ).toThrow(/logger must have an error/);
  });
});
