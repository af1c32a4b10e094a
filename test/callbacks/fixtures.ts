import type { CallbackRequest, CallbackResponse } from '../../src/callbacks/index.js';
import { buildXml, computeServerSignature, MessageCrypto, parseXml } from '../../src/crypto/index.js';

export const APP_ID = 'wx1234567890abcdef';
export const COMPONENT_APP_ID = 'wxcomponent0000001';
export const TOKEN = 'TestToken123';
export const AES_KEY = 'abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG';
export const NOW = 1_714_036_504;
export const clock = () => NOW * 1000;

export interface PushSpec {
  /** Inner message fields. */
  fields: Record<string, unknown>;
  /** How to send it (default safe). */
  mode?: 'safe' | 'compatible' | 'plain';
  format?: 'xml' | 'json';
  /** ReceiveId used to encrypt (default APP_ID). */
  receiveId?: string;
  token?: string;
  /** EncodingAESKey used to encrypt (default AES_KEY). */
  encodingAESKey?: string;
  timestamp?: number;
  nonce?: string;
  /** Override of the envelope fields in safe mode (default { ToUserName, Encrypt }). */
  envelope?: (encrypt: string) => Record<string, unknown>;
  /** Extra query parameters. */
  query?: Record<string, string>;
}

export function signedQuery(token: string, timestamp: number, nonce: string): URLSearchParams {
  const ts = String(timestamp);
  return new URLSearchParams({
    signature: computeServerSignature({ token, timestamp: ts, nonce }),
    timestamp: ts,
    nonce,
  });
}

export function handshake(
  options: { token?: string; timestamp?: number; echostr?: string } = {},
): CallbackRequest {
  const q = signedQuery(options.token ?? TOKEN, options.timestamp ?? NOW, '1514711492');
  q.set('echostr', options.echostr ?? '5837397520434063712');
  return { method: 'GET', url: `/wechat?${q}`, headers: {}, rawBody: undefined };
}

function encode(fields: Record<string, unknown>, format: 'xml' | 'json'): string {
  return format === 'json' ? JSON.stringify(fields) : buildXml(fields);
}

/** A push as WeChat sends it: signed URL, body per mode (safe: envelope; compatible: fields + Encrypt). */
export function push(spec: PushSpec): CallbackRequest {
  const mode = spec.mode ?? 'safe';
  const format = spec.format ?? 'xml';
  const token = spec.token ?? TOKEN;
  const timestamp = spec.timestamp ?? NOW;
  const nonce = spec.nonce ?? '1234567890';
  const q = signedQuery(token, timestamp, nonce);
  q.set('openid', String(spec.fields.FromUserName ?? ''));
  const plaintext = encode(spec.fields, format);
  let body = plaintext;
  if (mode !== 'plain') {
    const crypto = new MessageCrypto({
      token,
      encodingAESKey: spec.encodingAESKey ?? AES_KEY,
      receiveId: spec.receiveId ?? APP_ID,
    });
    const sealed = crypto.seal(plaintext, { timestamp, nonce });
    q.set('encrypt_type', 'aes');
    q.set('msg_signature', sealed.msgSignature);
    const envelope =
      spec.envelope?.(sealed.encrypt) ??
      (mode === 'safe'
        ? { ToUserName: spec.fields.ToUserName, Encrypt: sealed.encrypt }
        : { ...spec.fields, Encrypt: sealed.encrypt });
    body = encode(envelope, format);
  }
  for (const [k, v] of Object.entries(spec.query ?? {})) q.set(k, v);
  return {
    method: 'POST',
    url: `/wechat?${q}`,
    headers: { 'content-type': format === 'json' ? 'application/json' : 'text/xml' },
    rawBody: Buffer.from(body, 'utf8'),
  };
}

/**
 * Opens an encrypted passive reply (XML or JSON envelope) and returns the inner text; it must be
 * signed with `secrets.token` and encrypted with `secrets.encodingAESKey` (default TOKEN, AES_KEY).
 */
export function openReply(
  response: CallbackResponse,
  receiveId = APP_ID,
  secrets: { token?: string; encodingAESKey?: string } = {},
): string {
  const text = response.body;
  const record = (text.trimStart().startsWith('{') ? JSON.parse(text) : parseXml(text)) as Record<
    string,
    unknown
  >;
  const crypto = new MessageCrypto({
    token: secrets.token ?? TOKEN,
    encodingAESKey: secrets.encodingAESKey ?? AES_KEY,
    receiveId,
    now: clock,
  });
  return crypto.open({
    body: text,
    msgSignature: String(record.MsgSignature),
    timestamp: String(record.TimeStamp),
    nonce: String(record.Nonce),
  }).plaintext;
}

export function textMessage(content = 'hello', msgId = '6054768590064713728'): Record<string, unknown> {
  return {
    ToUserName: 'gh_0123456789ab',
    FromUserName: 'oUser000000000000000000000001',
    CreateTime: NOW,
    MsgType: 'text',
    Content: content,
    MsgId: msgId,
  };
}

export function event(name: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    ToUserName: 'gh_0123456789ab',
    FromUserName: 'oUser000000000000000000000001',
    CreateTime: NOW,
    MsgType: 'event',
    Event: name,
    ...extra,
  };
}

/** `Promise.withResolvers` for Node 20. */
export function deferred<T>(): { promise: Promise<T>; resolve: (value: T) => void } {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}
