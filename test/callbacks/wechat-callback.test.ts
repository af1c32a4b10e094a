import { describe, expect, it, vi } from 'vitest';
import {
  type CallbackHooks,
  type CallbackRequest,
  createWeChatCallback,
  MemoryDedupeStore,
  type RefusedEvent,
  reply,
  subscribeMsgPopupItems,
  type WeChatCallbackOptions,
} from '../../src/callbacks/index.js';
import { buildXml, parseXml } from '../../src/crypto/index.js';
import { ConfigError } from '../../src/errors.js';
import { ManualScheduler } from '../helpers/manual-scheduler.js';
import {
  AES_KEY,
  APP_ID,
  COMPONENT_APP_ID,
  clock,
  deferred,
  event,
  handshake,
  NOW,
  openReply,
  push,
  signedQuery,
  TOKEN,
  textMessage,
} from './fixtures.js';

function make(options: Partial<WeChatCallbackOptions> = {}) {
  const refused: RefusedEvent[] = [];
  const errors: unknown[] = [];
  const hooks: CallbackHooks = {
    onRefused: (e) => refused.push(e),
    onError: (e) => errors.push(e),
    ...options.hooks,
  };
  const callback = createWeChatCallback({
    appId: APP_ID,
    token: TOKEN,
    encodingAESKey: AES_KEY,
    mode: 'safe',
    now: clock,
    ...options,
    hooks,
  });
  return { callback, refused, errors };
}

describe('URL verification (echostr handshake)', () => {
  it('answers echostr verbatim, as text/plain that no browser may sniff, for a correct signature', async () => {
    const { callback } = make();
    const res = await callback.handle(handshake({ echostr: '5837397520434063712' }));
    expect(res).toEqual({
      status: 200,
      headers: {
        'content-type': 'text/plain; charset=utf-8',
        'x-content-type-options': 'nosniff',
        // A new id: this request has no traceparent.
        'x-request-id': expect.stringMatching(/^[0-9a-f]{32}$/),
      },
      body: '5837397520434063712',
    });
  });

  it('refuses a forged handshake with 401 and a hook event that holds no secret', async () => {
    const { callback, refused } = make();
    const res = await callback.handle(handshake({ token: 'forged' }));
    expect(res.status).toBe(401);
    expect(res.body).not.toContain('5837397520434063712');
    expect(refused).toEqual([
      expect.objectContaining({ code: 'SIGNATURE_MISMATCH', status: 401, method: 'GET' }),
    ]);
    const json = JSON.stringify(refused);
    expect(json).not.toContain(TOKEN);
    expect(json).not.toContain(AES_KEY);
  });

  it('refuses a handshake whose timestamp is outside the window', async () => {
    const { callback, refused } = make();
    const res = await callback.handle(handshake({ timestamp: NOW - 301 }));
    expect(res.status).toBe(401);
    expect(refused[0]?.code).toBe('TIMESTAMP_EXPIRED');
  });

  it('refuses a signed GET without echostr', async () => {
    const { callback } = make();
    const q = signedQuery(TOKEN, NOW, 'n');
    const res = await callback.handle({ method: 'GET', url: `/w?${q}`, headers: {}, rawBody: undefined });
    expect(res.status).toBe(400);
  });
});

describe('safe mode', () => {
  it('answers a text message with an encrypted reply, To/From swapped and CreateTime in seconds', async () => {
    const { callback } = make();
    callback.on('text', (msg) => reply.text(`you said: ${msg.Content}`));
    const res = await callback.handle(push({ fields: textMessage('你好') }));
    expect(res.status).toBe(200);
    expect(res.body).toContain('<Encrypt>');
    expect(res.body).toContain(`<TimeStamp>${NOW}</TimeStamp>`);
    const inner = parseXml(openReply(res));
    expect(inner).toEqual({
      ToUserName: 'oUser000000000000000000000001',
      FromUserName: 'gh_0123456789ab',
      CreateTime: String(NOW),
      MsgType: 'text',
      Content: 'you said: 你好',
    });
  });

  it('gives handlers the decrypted message with the wire field names as strings', async () => {
    const { callback } = make();
    const seen = vi.fn();
    callback.on('text', (msg, ctx) => {
      seen(msg, ctx.type, ctx.encrypted, ctx.openid);
    });
    const res = await callback.handle(push({ fields: textMessage('hi', '9223372036854775807') }));
    expect(res.body).toBe('success');
    expect(seen).toHaveBeenCalledWith(
      expect.objectContaining({ Content: 'hi', MsgId: '9223372036854775807', CreateTime: String(NOW) }),
      'text',
      true,
      'oUser000000000000000000000001',
    );
  });

  it('refuses a plaintext body that carries a valid URL signature (downgrade), without calling the handler', async () => {
    const { callback, refused } = make();
    const handler = vi.fn();
    callback.on('text', handler);
    const q = signedQuery(TOKEN, NOW, 'abc');
    const res = await callback.handle({
      method: 'POST',
      url: `/wechat?${q}`,
      headers: {},
      rawBody: buildXml(textMessage('forged')),
    });
    expect(res.status).toBe(400);
    expect(refused[0]?.code).toBe('BAD_BODY');
    expect(handler).not.toHaveBeenCalled();
  });

  it('refuses an encrypted body without msg_signature', async () => {
    const { callback, refused } = make();
    const req = push({ fields: textMessage() });
    const url = new URL(req.url, 'http://x');
    url.searchParams.delete('msg_signature');
    const res = await callback.handle({ ...req, url: `${url.pathname}${url.search}` });
    expect(res.status).toBe(401);
    expect(refused[0]?.code).toBe('SIGNATURE_MISMATCH');
  });

  it('checks the URL signature on every push, even when msg_signature is valid', async () => {
    const { callback, refused } = make();
    const req = push({ fields: textMessage() });
    const url = new URL(req.url, 'http://x');
    url.searchParams.set('signature', '0'.repeat(40));
    const res = await callback.handle({ ...req, url: `${url.pathname}${url.search}` });
    expect(res.status).toBe(401);
    expect(refused[0]?.code).toBe('SIGNATURE_MISMATCH');
  });

  it('refuses a push encrypted for another AppID (ReceiveId) with 401', async () => {
    const { callback, refused } = make();
    const handler = vi.fn();
    callback.on('text', handler);
    const res = await callback.handle(push({ fields: textMessage(), receiveId: 'wxotherapp00000000' }));
    expect(res.status).toBe(401);
    expect(refused[0]?.code).toBe('APPID_MISMATCH');
    expect(handler).not.toHaveBeenCalled();
  });

  it('refuses a stale push with 401', async () => {
    const { callback, refused } = make();
    const res = await callback.handle(push({ fields: textMessage(), timestamp: NOW - 3600 }));
    expect(res.status).toBe(401);
    expect(refused[0]?.code).toBe('TIMESTAMP_EXPIRED');
  });

  it('refuses a POST without a body, and other methods with 405', async () => {
    const { callback } = make();
    const req = push({ fields: textMessage() });
    expect((await callback.handle({ ...req, rawBody: undefined })).status).toBe(400);
    expect((await callback.handle({ ...req, rawBody: '' })).status).toBe(400);
    const put = await callback.handle({ ...req, method: 'PUT' });
    expect(put.status).toBe(405);
    expect(put.headers.allow).toBe('GET, POST');
  });

  it('answers the subscribe event with a welcome reply', async () => {
    const { callback } = make();
    callback.on('event.subscribe', (msg) => reply.text(`welcome ${msg.FromUserName}`));
    const res = await callback.handle(push({ fields: event('subscribe', { EventKey: '' }) }));
    expect(parseXml(openReply(res)).Content).toBe('welcome oUser000000000000000000000001');
  });
});

describe('refusals of bad bodies (plain mode, valid URL signature)', () => {
  const plainPost = (body: string | Uint8Array): CallbackRequest => ({
    method: 'POST',
    url: `/wechat?${signedQuery(TOKEN, NOW, 'n1')}`,
    headers: {},
    rawBody: body,
  });

  it.each([
    ['truncated XML', '<xml><ToUserName><![CDATA[gh_1]]></ToUser', 'BAD_XML', 400],
    ['a DOCTYPE', '<!DOCTYPE xml [<!ENTITY x "y">]><xml><A>&x;</A></xml>', 'XML_FORBIDDEN', 400],
    ['random bytes', new Uint8Array([0xff, 0x00, 0x13, 0x37, 0xc3]), 'BAD_XML', 400],
    ['an encrypted body', '<xml><ToUserName>gh</ToUserName><Encrypt>AAAA</Encrypt></xml>', 'BAD_BODY', 400],
  ])('refuses %s with a typed code and status', async (_name, body, code, status) => {
    const { callback, refused } = make({ mode: 'plain' });
    const handler = vi.fn();
    callback.on('*', handler);
    const res = await callback.handle(plainPost(body));
    expect(res.status).toBe(status);
    expect(res.body).toBe(`bad request (request ${res.headers['x-request-id']})`);
    expect(refused[0]?.code).toBe(code);
    expect(handler).not.toHaveBeenCalled();
  });

  it('refuses a body that a body parser already turned into an object, saying so', async () => {
    const { callback, refused } = make({ mode: 'plain' });
    const res = await callback.handle({ ...plainPost(''), rawBody: { xml: { Content: 'hi' } } as never });
    expect(res.status).toBe(400);
    expect(refused[0]?.reason).toContain('parsed object');
  });

  it('refuses an oversized body with 413', async () => {
    const { callback, refused } = make({ mode: 'plain' });
    const res = await callback.handle(plainPost('x'.repeat(1_048_577)));
    expect(res.status).toBe(413);
    expect(refused[0]?.code).toBe('XML_TOO_LARGE');
  });
});

describe('compatible and plain modes', () => {
  it('compatible: an encrypted push gets an encrypted reply, a plaintext one a plaintext reply', async () => {
    const { callback } = make({ mode: 'compatible' });
    callback.on('text', (msg) => reply.text(msg.Content));
    const encrypted = await callback.handle(push({ mode: 'compatible', fields: textMessage('enc', '1') }));
    expect(parseXml(openReply(encrypted)).Content).toBe('enc');
    const clear = await callback.handle(push({ mode: 'plain', fields: textMessage('clear', '2') }));
    expect(parseXml(clear.body)).toMatchObject({ MsgType: 'text', Content: 'clear' });
    expect(clear.headers['content-type']).toBe('application/xml; charset=utf-8');
  });

  it('compatible: trusts the decrypted message, not the plaintext copy beside it', async () => {
    const { callback } = make({ mode: 'compatible' });
    const seen = vi.fn();
    callback.on('text', (msg) => {
      seen(msg.Content);
    });
    await callback.handle(
      push({
        mode: 'compatible',
        fields: textMessage('genuine'),
        envelope: (encrypt) => ({ ...textMessage('tampered'), Encrypt: encrypt }),
      }),
    );
    expect(seen).toHaveBeenCalledWith('genuine');
  });

  it('plain: answers plaintext and refuses a push sent encrypted', async () => {
    const { callback, refused } = make({ mode: 'plain', encodingAESKey: undefined as never });
    callback.on('text', (msg) => reply.text(msg.Content));
    const ok = await callback.handle(push({ mode: 'plain', fields: textMessage('plain') }));
    expect(parseXml(ok.body).Content).toBe('plain');
    const enc = await callback.handle(push({ mode: 'safe', fields: textMessage('x', '99') }));
    expect(enc.status).toBe(400);
    expect(refused[0]?.code).toBe('BAD_BODY');
  });
});

describe('Mini Program JSON format', () => {
  it('decrypts a JSON push, keeps a 19-digit MsgId exact, and answers a JSON envelope', async () => {
    const { callback } = make({ format: 'json' });
    const ids: string[] = [];
    callback.on('text', (msg) => {
      ids.push(msg.MsgId);
      return reply.transferCustomerService();
    });
    const body = `{"ToUserName":"gh_mp","FromUserName":"oMpUser","CreateTime":${NOW},"MsgType":"text","Content":"hi","MsgId":23456789012345678901}`;
    const req = push({ format: 'json', fields: {} });
    // Re-encrypt the exact JSON text (JSON.stringify would lose the big number).
    const { MessageCrypto } = await import('../../src/crypto/index.js');
    const crypto = new MessageCrypto({ token: TOKEN, encodingAESKey: AES_KEY, receiveId: APP_ID });
    const sealed = crypto.seal(body, { timestamp: NOW, nonce: 'n' });
    const q = signedQuery(TOKEN, NOW, 'n');
    q.set('encrypt_type', 'aes');
    q.set('msg_signature', sealed.msgSignature);
    const res = await callback.handle({
      ...req,
      url: `/mp?${q}`,
      rawBody: JSON.stringify({ ToUserName: 'gh_mp', Encrypt: sealed.encrypt }),
    });
    expect(ids).toEqual(['23456789012345678901']);
    expect(res.headers['content-type']).toBe('application/json; charset=utf-8');
    const envelope = JSON.parse(res.body);
    expect(envelope.TimeStamp).toBe(NOW);
    expect(JSON.parse(openReply(res))).toEqual({
      ToUserName: 'oMpUser',
      FromUserName: 'gh_mp',
      CreateTime: NOW,
      MsgType: 'transfer_customer_service',
    });
  });

  it('refuses an XML push to a JSON-format callback', async () => {
    const { callback, refused } = make({ format: 'json' });
    const res = await callback.handle(push({ fields: textMessage() }));
    expect(res.status).toBe(400);
    expect(refused[0]?.code).toBe('BAD_BODY');
  });
});

describe('Open Platform authorisation events', () => {
  const component = (extra: Partial<WeChatCallbackOptions> = {}) =>
    make({ appId: COMPONENT_APP_ID, ...extra });
  const info = (fields: Record<string, unknown>) =>
    push({
      fields: { AppId: COMPONENT_APP_ID, CreateTime: NOW, ...fields },
      receiveId: COMPONENT_APP_ID,
      envelope: (encrypt) => ({ AppId: COMPONENT_APP_ID, Encrypt: encrypt }),
    });

  it('routes component_verify_ticket (encrypted with the component AppID) and answers success', async () => {
    const { callback } = component();
    const tickets: string[] = [];
    callback.on('component_verify_ticket', (msg) => {
      tickets.push(msg.ComponentVerifyTicket);
    });
    const req = info({ InfoType: 'component_verify_ticket', ComponentVerifyTicket: 'ticket@@@abc' });
    const res = await callback.handle(req);
    expect(res).toMatchObject({ status: 200, body: 'success' });
    expect(tickets).toEqual(['ticket@@@abc']);
    // The same push again (WeChat's retry) is processed once: AppId + CreateTime + InfoType.
    expect((await callback.handle(req)).body).toBe('success');
    expect(tickets).toHaveLength(1);
  });

  it('routes authorized, updateauthorized and unauthorized to their handlers', async () => {
    const { callback } = component();
    const seen: string[] = [];
    callback
      .on('authorized', (m) => {
        seen.push(`a:${m.AuthorizerAppid}:${m.AuthorizationCode}`);
      })
      .on('updateauthorized', (m) => {
        seen.push(`u:${m.AuthorizerAppid}`);
      })
      .on('unauthorized', (m) => {
        seen.push(`x:${m.AuthorizerAppid}`);
      });
    const auth = {
      AuthorizerAppid: 'wxauthorizer',
      AuthorizationCode: 'code1',
      AuthorizationCodeExpiredTime: '1',
      PreAuthCode: 'p',
    };
    await callback.handle(info({ InfoType: 'authorized', ...auth }));
    await callback.handle(info({ InfoType: 'updateauthorized', ...auth }));
    await callback.handle(info({ InfoType: 'unauthorized', AuthorizerAppid: 'wxauthorizer' }));
    expect(seen).toEqual(['a:wxauthorizer:code1', 'u:wxauthorizer', 'x:wxauthorizer']);
  });

  it('answers success when a handler replies to an event that has no sender, and reports it', async () => {
    const { callback, errors } = component();
    callback.on('component_verify_ticket', () => reply.text('nobody to send to'));
    const res = await callback.handle(
      info({ InfoType: 'component_verify_ticket', ComponentVerifyTicket: 't' }),
    );
    expect(res.body).toBe('success');
    expect(errors).toEqual([expect.objectContaining({ phase: 'reply' })]);
  });
});

describe('routing and middleware', () => {
  it('sends unknown message types to the fallback, and answers success without one', async () => {
    const { callback } = make();
    const res1 = await callback.handle(
      push({ fields: { ...textMessage(), MsgType: 'hologram', MsgId: '5' } }),
    );
    expect(res1.body).toBe('success');
    callback.onUnknown((msg, ctx) => reply.text(`unknown ${ctx.type} ${String(msg.MsgType)}`));
    const res2 = await callback.handle(
      push({ fields: { ...textMessage(), MsgType: 'hologram', MsgId: '6' } }),
    );
    expect(parseXml(openReply(res2)).Content).toBe('unknown hologram hologram');
  });

  it('sends events without their own handler to on("event") before "*"', async () => {
    const { callback } = make();
    callback.on('event', (msg) => reply.text(`event ${msg.Event}`));
    callback.on('*', () => reply.text('star'));
    const res = await callback.handle(push({ fields: event('user_enter_tempsession') }));
    expect(parseXml(openReply(res)).Content).toBe('event user_enter_tempsession');
  });

  it('runs middleware in order, koa-style, around the handler', async () => {
    const { callback } = make();
    const order: string[] = [];
    callback
      .use(async (_m, ctx, next) => {
        order.push('a:before');
        ctx.state.user = 'u1';
        const r = await next();
        order.push('a:after');
        return r;
      })
      .use(async (_m, _ctx, next) => {
        order.push('b:before');
        await next();
        order.push('b:after');
      })
      .on('text', (_m, ctx) => {
        order.push(`handler:${String(ctx.state.user)}`);
        return reply.text('from handler');
      });
    const res = await callback.handle(push({ fields: textMessage() }));
    expect(order).toEqual(['a:before', 'b:before', 'handler:u1', 'b:after', 'a:after']);
    expect(parseXml(openReply(res)).Content).toBe('from handler');
  });

  it('lets a middleware answer without calling next (the handler does not run)', async () => {
    const { callback } = make();
    const handler = vi.fn();
    callback.use(() => reply.text('blocked')).on('text', handler);
    const res = await callback.handle(push({ fields: textMessage() }));
    expect(parseXml(openReply(res)).Content).toBe('blocked');
    expect(handler).not.toHaveBeenCalled();
  });

  it('refuses two handlers for one type', () => {
    const { callback } = make();
    callback.on('text', () => {});
    expect(() => callback.on('text', () => {})).toThrow(ConfigError);
  });

  it('reads every popup item of subscribe_msg_popup_event, one or several', async () => {
    const { callback } = make();
    const seen: string[][] = [];
    callback.on('event.subscribe_msg_popup_event', (msg) => {
      seen.push(subscribeMsgPopupItems(msg).map((i) => `${i.TemplateId}:${i.SubscribeStatusString}`));
    });
    const item = (id: string, s: string) => ({ TemplateId: id, SubscribeStatusString: s, PopupScene: '0' });
    await callback.handle(
      push({
        fields: event('subscribe_msg_popup_event', {
          SubscribeMsgPopupEvent: { List: [item('t1', 'accept'), item('t2', 'reject')] },
        }),
      }),
    );
    await callback.handle(
      push({
        fields: {
          ...event('subscribe_msg_popup_event', { SubscribeMsgPopupEvent: { List: item('t3', 'accept') } }),
          CreateTime: NOW + 1,
        },
      }),
    );
    expect(seen).toEqual([['t1:accept', 't2:reject'], ['t3:accept']]);
  });
});

describe('handler failures', () => {
  it('answers 500 with a generic body, reports the error, and lets WeChat retry be processed', async () => {
    const { callback, errors } = make();
    let calls = 0;
    callback.on('text', () => {
      calls++;
      if (calls === 1) throw new Error('db password=hunter2 unreachable');
      return reply.text('second time lucky');
    });
    const req = push({ fields: textMessage() });
    const first = await callback.handle(req);
    expect(first.status).toBe(500);
    expect(first.body).toBe(`internal error (request ${first.headers['x-request-id']})`);
    expect(errors).toEqual([expect.objectContaining({ phase: 'handler', type: 'text' })]);
    const retry = await callback.handle(req);
    expect(parseXml(openReply(retry)).Content).toBe('second time lucky');
  });

  it('treats a handler that returns something other than a reply as a failure', async () => {
    const { callback } = make();
    callback.on('text', (() => 'success') as never);
    expect((await callback.handle(push({ fields: textMessage() }))).status).toBe(500);
  });

  it('calls hooks as methods of the hooks object', async () => {
    class Logger {
      seen: string[] = [];
      onRefused(e: RefusedEvent) {
        this.seen.push(e.code);
      }
    }
    const logger = new Logger();
    const callback = createWeChatCallback({
      appId: APP_ID,
      token: TOKEN,
      mode: 'plain',
      now: clock,
      hooks: logger,
    });
    await callback.handle(handshake({ token: 'bad' }));
    expect(logger.seen).toEqual(['SIGNATURE_MISMATCH']);
  });

  it('is not disturbed by hooks that throw or reject', async () => {
    const { callback } = make({
      hooks: {
        onRefused: () => {
          throw new Error('logger down');
        },
        onDuplicate: async () => {
          throw new Error('metrics down');
        },
      },
    });
    expect((await callback.handle(handshake({ token: 'bad' }))).status).toBe(401);
    const req = push({ fields: textMessage() });
    await callback.handle(req);
    expect((await callback.handle(req)).body).toBe('success');
  });
});

describe('dedupe', () => {
  it('processes a duplicate push once and reports the duplicate', async () => {
    const duplicates: unknown[] = [];
    const { callback } = make({ hooks: { onDuplicate: (e) => duplicates.push(e) } });
    const handler = vi.fn(() => reply.text('once'));
    callback.on('text', handler);
    const req = push({ fields: textMessage() });
    expect(parseXml(openReply(await callback.handle(req))).Content).toBe('once');
    const again = await callback.handle(req);
    expect(again).toMatchObject({ status: 200, body: 'success' });
    expect(handler).toHaveBeenCalledTimes(1);
    expect(duplicates).toEqual([{ key: `${APP_ID}:gh_0123456789ab:msg:6054768590064713728`, type: 'text' }]);
  });

  it('does not merge two events of one user in one second (subscribe, then LOCATION)', async () => {
    const { callback } = make();
    const seen: string[] = [];
    callback.on('event', (m) => {
      seen.push(m.Event);
    });
    await callback.handle(push({ fields: event('subscribe') }));
    await callback.handle(
      push({ fields: event('LOCATION', { Latitude: '1', Longitude: '2', Precision: '3' }) }),
    );
    await callback.handle(push({ fields: event('subscribe') }));
    expect(seen).toEqual(['subscribe', 'LOCATION']);
  });

  it('processes the push anyway when the store fails (at-least-once), and reports it', async () => {
    const { callback, errors } = make({
      dedupe: {
        claim: async () => {
          throw new Error('redis down');
        },
      },
    });
    callback.on('text', () => reply.text('still here'));
    const res = await callback.handle(push({ fields: textMessage() }));
    expect(parseXml(openReply(res)).Content).toBe('still here');
    expect(errors).toEqual([expect.objectContaining({ phase: 'dedupe' })]);
  });

  it('remembers keys for the dedupe TTL (default: window + 60 s) once the handler is done', async () => {
    const store = new MemoryDedupeStore({ now: clock });
    const claim = vi.spyOn(store, 'claim');
    const complete = vi.spyOn(store, 'complete');
    const { callback } = make({ dedupe: store });
    await callback.handle(push({ fields: textMessage() }));
    // Claimed with a processing lease (reply budget + 1 s), then completed for the TTL.
    expect(claim).toHaveBeenCalledWith(expect.any(String), 5500);
    expect(complete).toHaveBeenCalledWith(expect.any(String), 360_000);
  });
});

// The budget runs on an injected scheduler: the test moves time, nothing waits on the wall clock.
describe('reply budget', () => {
  it('answers success in time for a slow handler and hands its late reply to onLateReply', async () => {
    const late = deferred<unknown>();
    const scheduler = new ManualScheduler();
    const gate = deferred<void>();
    const { callback } = make({
      replyBudgetMs: 50,
      scheduler,
      hooks: { onLateReply: (e) => late.resolve(e) },
    });
    let finished = false;
    callback.on('text', async () => {
      await gate.promise;
      finished = true;
      return reply.text('too late');
    });
    const answer = callback.handle(push({ fields: textMessage() }));
    await scheduler.whenPending();
    await scheduler.advance(50);
    const res = await answer;
    // Answered while the handler is still running.
    expect(finished).toBe(false);
    expect(res).toMatchObject({ status: 200, body: 'success' });
    await scheduler.advance(200);
    gate.resolve();
    const event = (await late.promise) as {
      reply: unknown;
      message: { Content: string };
      type: string;
      elapsedMs: number;
    };
    expect(event.reply).toEqual({ type: 'text', content: 'too late' });
    expect(event.message.Content).toBe('hello');
    expect(event.type).toBe('text');
    expect(event.elapsedMs).toBeGreaterThanOrEqual(200);
  });

  it('treats a handler that answers at once like one that answers later: reply, throw, or a value that is not a reply', async () => {
    // Sync handlers take a path without promises or a budget timer; async ones the chain's. Same answers.
    const cases: Array<[string, (sync: boolean) => (m: unknown) => unknown, number, string | undefined]> = [
      ['reply', (sync) => (sync ? () => reply.text('hi') : async () => reply.text('hi')), 200, undefined],
      ['nothing', (sync) => (sync ? () => undefined : async () => undefined), 200, undefined],
      [
        'throw',
        (sync) =>
          sync
            ? () => {
                throw new Error('boom');
              }
            : async () => {
                throw new Error('boom');
              },
        500,
        'boom',
      ],
      [
        'not a reply',
        (sync) => (sync ? () => ({ text: 'x' }) : async () => ({ text: 'x' })),
        500,
        'not a reply',
      ],
      ['null', (sync) => (sync ? () => null : async () => null), 500, 'not a reply'],
    ];
    for (const [name, handler, status, error] of cases) {
      const answers = [];
      for (const sync of [true, false]) {
        const scheduler = new ManualScheduler();
        const { callback, errors } = make({ scheduler });
        callback.on('text', handler(sync) as never);
        const res = await callback.handle(push({ fields: textMessage() }));
        expect(res.status, `${name} (${sync ? 'sync' : 'async'})`).toBe(status);
        // no timer left behind either way
        expect(scheduler.pending, `${name} (${sync ? 'sync' : 'async'})`).toBe(0);
        if (error === undefined) expect(errors).toEqual([]);
        else expect(String((errors[0] as { error: Error }).error.message)).toContain(error);
        answers.push(
          res.status === 200 && res.body !== 'success'
            ? parseXml(openReply(res)).Content
            : res.body.split(' (request')[0],
        );
      }
      expect(answers[0], name).toEqual(answers[1]);
    }
  });

  it('reports a late handler failure through onError', async () => {
    const failed = deferred<unknown>();
    const scheduler = new ManualScheduler();
    const gate = deferred<void>();
    const { callback } = make({ replyBudgetMs: 20, scheduler, hooks: { onError: (e) => failed.resolve(e) } });
    callback.on('text', async () => {
      await gate.promise;
      throw new Error('boom');
    });
    const answer = callback.handle(push({ fields: textMessage() }));
    await scheduler.whenPending();
    await scheduler.advance(20);
    expect((await answer).body).toBe('success');
    gate.resolve();
    expect(await failed.promise).toMatchObject({ phase: 'late-handler', type: 'text' });
  });

  it("answers the handler's reply when it comes before the budget runs out, and clears the timer", async () => {
    const scheduler = new ManualScheduler();
    const gate = deferred<void>();
    const { callback } = make({ replyBudgetMs: 50, scheduler });
    callback.on('text', async () => {
      await gate.promise;
      return reply.text('in time');
    });
    const answer = callback.handle(push({ fields: textMessage() }));
    await scheduler.whenPending();
    await scheduler.advance(49);
    gate.resolve();
    expect(parseXml(openReply(await answer)).Content).toBe('in time');
    expect(scheduler.pending).toBe(0);
  });
});

describe('options', () => {
  it.each([
    [{ extra: 1 }, 'unknown option "extra"'],
    [{ mode: 'encrypted' }, 'mode must be'],
    [{ appId: '' }, 'appId is required'],
    [{ token: '' }, 'token is required'],
    [{ encodingAESKey: undefined }, 'encodingAESKey is required in safe mode'],
    [{ maxSkewSeconds: 0 }, 'maxSkewSeconds'],
    [{ replyBudgetMs: -1 }, 'replyBudgetMs'],
    [{ hooks: { onWhatever: () => {} } }, 'unknown hook'],
    [{ dedupe: {} }, 'dedupe must be'],
    [{ scheduler: { setTimeout: () => 0 } }, 'scheduler must be'],
  ])('refuses %j', (override, message) => {
    const options = { appId: APP_ID, token: TOKEN, encodingAESKey: AES_KEY, mode: 'safe', ...override };
    expect(() => createWeChatCallback(options as WeChatCallbackOptions)).toThrow(message);
  });

  it('refuses a malformed EncodingAESKey at construction', () => {
    expect(() =>
      createWeChatCallback({ appId: APP_ID, token: TOKEN, encodingAESKey: 'short', mode: 'safe' }),
    ).toThrow();
  });
});
