/**
 * Routing keys are a typed union: a typo such as `on('event.subscibe', …)` must not compile (and
 * is refused at run time for JavaScript callers), each known key types its message, and a key
 * weixin-kit does not know is only reachable through the explicit `onCustom`. The
 * `@ts-expect-error` lines are checked by `npm run typecheck` (tsconfig includes `test/`).
 */
import { describe, expect, expectTypeOf, it, vi } from 'vitest';
import {
  CALLBACK_MESSAGE_TYPES,
  type CallbackMessageMap,
  type CallbackMessageType,
  type ChangeContactEvent,
  createWeChatCallback,
  type InboundMessage,
  type ScanCodeInfo,
  type UnknownMessage,
} from '../../src/callbacks/index.js';
import { ConfigError } from '../../src/errors.js';
import { AES_KEY, APP_ID, clock, event, push, TOKEN, textMessage } from './fixtures.js';

function make() {
  return createWeChatCallback({
    appId: APP_ID,
    token: TOKEN,
    encodingAESKey: AES_KEY,
    mode: 'safe',
    now: clock,
  });
}

describe('typed routing keys', () => {
  it('types the message of each known key', () => {
    const callback = make();
    callback.on('text', (msg) => {
      expectTypeOf(msg.Content).toEqualTypeOf<string>();
      expectTypeOf(msg.MsgId).toEqualTypeOf<string>();
    });
    callback.on('event.CLICK', (msg) => {
      expectTypeOf(msg.EventKey).toEqualTypeOf<string>();
      expectTypeOf(msg.Event).toEqualTypeOf<'CLICK'>();
    });
    callback.on('event.scancode_waitmsg', (msg) => {
      expectTypeOf(msg.ScanCodeInfo).toEqualTypeOf<ScanCodeInfo>();
    });
    callback.on('event.TEMPLATESENDJOBFINISH', (msg) => {
      expectTypeOf(msg.MsgID).toEqualTypeOf<string>();
    });
    callback.on('component_verify_ticket', (msg) => {
      expectTypeOf(msg.ComponentVerifyTicket).toEqualTypeOf<string>();
    });
    callback.on('event.change_contact', (msg) => {
      expectTypeOf(msg).toEqualTypeOf<ChangeContactEvent>();
    });
    callback.on('*', (msg) => {
      expectTypeOf(msg).toEqualTypeOf<InboundMessage>();
    });
    expectTypeOf<CallbackMessageMap['event.subscribe']['EventKey']>().toEqualTypeOf<string | undefined>();
  });

  it('does not compile a misspelt key, and refuses it at run time with the likely key', () => {
    const callback = make();
    // @ts-expect-error 'event.subscibe' is not a routing key
    expect(() => callback.on('event.subscibe', () => {})).toThrow(/did you mean 'event\.subscribe'/);
    // @ts-expect-error keys are case-sensitive, as WeChat sends them
    expect(() => callback.on('event.click', () => {})).toThrow(/did you mean 'event\.CLICK'/);
    // @ts-expect-error an unknown MsgType is not a key of on()
    expect(() => callback.on('hologram', () => {})).toThrow(ConfigError);
    expect(() => callback.on('hologram' as CallbackMessageType, () => {})).toThrow(/onCustom\('hologram'/);
  });

  it("does not compile a field the key's message does not have", () => {
    const callback = make();
    callback.on('event.CLICK', (msg) => {
      // @ts-expect-error a CLICK event has no Content
      void msg.Content;
    });
    callback.on('text', (msg) => {
      // @ts-expect-error a text message has no EventKey
      void msg.EventKey;
    });
    expectTypeOf(callback.onCustom).parameter(0).toEqualTypeOf<string>();
    callback.onCustom('event.guide_qrcode_scan_event', (msg) => {
      expectTypeOf(msg).toEqualTypeOf<UnknownMessage>();
    });
  });

  it('lists every key of the routing table at run time', () => {
    expectTypeOf(CALLBACK_MESSAGE_TYPES).toEqualTypeOf<readonly CallbackMessageType[]>();
    expect(CALLBACK_MESSAGE_TYPES).toContain('event.subscribe');
    expect(CALLBACK_MESSAGE_TYPES).toContain('text');
    expect(new Set(CALLBACK_MESSAGE_TYPES).size).toBe(CALLBACK_MESSAGE_TYPES.length);
  });
});

describe('onCustom', () => {
  it('routes an event and a message type weixin-kit has no interface for', async () => {
    const callback = make();
    const seen: string[] = [];
    callback
      .onCustom('event.guide_qrcode_scan_event', (msg, ctx) => {
        seen.push(`${ctx.type}:${String(msg.EventKey)}`);
      })
      .onCustom('hologram', (msg) => {
        seen.push(`hologram:${String(msg.Content)}`);
      });
    const fallback = vi.fn();
    callback.on('*', fallback);
    await callback.handle(push({ fields: event('guide_qrcode_scan_event', { EventKey: 'g1' }) }));
    await callback.handle(push({ fields: { ...textMessage('3d', '77'), MsgType: 'hologram' } }));
    expect(seen).toEqual(['event.guide_qrcode_scan_event:g1', 'hologram:3d']);
    expect(fallback).not.toHaveBeenCalled();
  });

  it('refuses a known key (on() types it) and a known key in the wrong case', () => {
    const callback = make();
    expect(() => callback.onCustom('text', () => {})).toThrow(/use on\('text', handler\)/);
    expect(() => callback.onCustom('event.click', () => {})).toThrow(/'event\.CLICK'/);
    expect(() => callback.onCustom('', () => {})).toThrow(ConfigError);
  });
});
