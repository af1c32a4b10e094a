import { createHash, randomInt } from 'node:crypto';
import { MessageCipher } from '../../crypto/message-cipher.js';
import { computeMessageSignature } from '../../crypto/message-crypto.js';
import { computeServerSignature } from '../../crypto/server-signature.js';
import { buildXml } from '../../xml/build.js';
import type { MessageMode, ResolvedEmulatorConfig } from '../config.js';

/** One app of the resolved configuration. */
export type PushApp = ResolvedEmulatorConfig['apps'][number];

/** The wire format of a push: XML, or JSON (Mini Programs with 数据格式 JSON). */
export type PushFormat = 'xml' | 'json';

/** Everything needed to send one push (and to resend it identically). */
export interface PreparedPush {
  /** callbackUrl with `signature`, `timestamp`, `nonce` (+ `openid`, `encrypt_type`, `msg_signature`). */
  url: string;
  /** The POST body exactly as sent. */
  body: string;
  contentType: string;
  /** The inner (plaintext) message, XML or JSON text. */
  plaintext: string;
  format: PushFormat;
  mode: MessageMode;
  /** MsgId of a non-event message (or the one given), as a decimal string. */
  msgId?: string;
  createTime: number;
  openId: string;
}

/** What {@link preparePush} needs besides the app and the message. */
export interface PrepareOptions {
  format: PushFormat;
  mode: MessageMode;
  /** Emulated now, Unix seconds (CreateTime). */
  nowSeconds: number;
  /** Seconds to subtract from the URL timestamp (`staleSeconds` fault). */
  staleSeconds?: number;
  /** Sign with a wrong token (`badSignature` fault). */
  badSignature?: boolean;
  /** Cut the body in half after signing (`malformed` fault). */
  malformed?: boolean;
}

/** A stable, openid-looking (28 characters, starts with `o`) test user of an app. */
export function testOpenId(appId: string, seed = 'default-user'): string {
  return `o${createHash('sha256').update(`${appId}:${seed}`).digest('base64url').slice(0, 27)}`;
}

/** A 19-digit decimal that fits a signed 64-bit integer, like WeChat's MsgId. */
export function randomMsgId(): string {
  return `${randomInt(1, 9)}${String(randomInt(0, 1e9)).padStart(9, '0')}${String(randomInt(0, 1e9)).padStart(9, '0')}`;
}

/** A numeric nonce like the ones WeChat puts on pushes (e.g. `1514711492`). */
export function randomNonce(): string {
  return String(randomInt(100_000_000, 2_147_483_647));
}

const NUMERIC_FIELDS = new Set(['CreateTime', 'MsgId', 'MsgID']);

function asText(value: unknown): string | undefined {
  return typeof value === 'string' && value !== '' ? value : undefined;
}

/**
 * The inner message with WeChat's header fields filled in: ToUserName (original id), FromUserName
 * (an openid), CreateTime, MsgType, the caller's fields, then MsgId for non-event messages.
 * Numeric fields (CreateTime, MsgId, MsgID) are bigints so XML writes them bare and JSON as numbers.
 */
export function completeMessage(
  app: PushApp,
  message: Record<string, unknown>,
  nowSeconds: number,
): { fields: Record<string, unknown>; openId: string; msgId?: string; createTime: number } {
  const { ToUserName, FromUserName, CreateTime, MsgType, MsgId, ...rest } = message;
  const openId = asText(FromUserName) ?? testOpenId(app.appId);
  const createTime =
    typeof CreateTime === 'number' || (typeof CreateTime === 'string' && /^\d+$/.test(CreateTime))
      ? Number(CreateTime)
      : nowSeconds;
  const fields: Record<string, unknown> = {
    ToUserName: asText(ToUserName) ?? app.originalId,
    FromUserName: openId,
    CreateTime: createTime,
    MsgType,
    ...rest,
  };
  let msgId: string | undefined;
  if (MsgId !== undefined && MsgId !== null) msgId = String(MsgId);
  else if (MsgType !== 'event') msgId = randomMsgId();
  if (msgId !== undefined) fields.MsgId = msgId;
  for (const name of NUMERIC_FIELDS) {
    const value = fields[name];
    if ((typeof value === 'string' && /^\d{1,20}$/.test(value)) || typeof value === 'number') {
      fields[name] = BigInt(value);
    }
  }
  return { fields, openId, createTime, ...(msgId === undefined ? {} : { msgId }) };
}

/** JSON with bigints written as bare numbers (as WeChat writes MsgId, beyond 2^53). */
export function toJson(fields: Record<string, unknown>): string {
  return JSON.stringify(fields, (_key, value) =>
    typeof value === 'bigint' ? `\u0000bigint:${value}` : value,
  ).replace(/"\\u0000bigint:(\d+)"/g, '$1');
}

function encode(fields: Record<string, unknown>, format: PushFormat): string {
  return format === 'json' ? toJson(fields) : buildXml(fields);
}

/**
 * Builds the request WeChat would send for `message`: the inner message, its envelope per the
 * message mode (plain, compatible = plaintext fields + Encrypt, safe = ToUserName + Encrypt only),
 * and the signed callback URL.
 */
export function preparePush(
  app: PushApp,
  message: Record<string, unknown>,
  options: PrepareOptions,
): PreparedPush {
  if (app.callbackUrl === undefined || app.token === undefined) {
    throw new Error(`app ${app.appId} has no callbackUrl/token`);
  }
  const { fields, openId, msgId, createTime } = completeMessage(app, message, options.nowSeconds);
  const plaintext = encode(fields, options.format);
  const timestamp = String(options.nowSeconds - (options.staleSeconds ?? 0));
  const nonce = randomNonce();
  const token = options.badSignature ? `${app.token}-wrong` : app.token;

  const url = new URL(app.callbackUrl);
  url.searchParams.set('signature', computeServerSignature({ token, timestamp, nonce }));
  url.searchParams.set('timestamp', timestamp);
  url.searchParams.set('nonce', nonce);
  if (app.kind === 'official-account') url.searchParams.set('openid', openId);

  let body = plaintext;
  if (options.mode !== 'plain') {
    if (app.encodingAESKey === undefined) throw new Error(`app ${app.appId} has no encodingAESKey`);
    const cipher = new MessageCipher({ encodingAESKey: app.encodingAESKey, receiveId: app.appId });
    const encrypt = cipher.encrypt(plaintext);
    url.searchParams.set('encrypt_type', 'aes');
    url.searchParams.set('msg_signature', computeMessageSignature({ token, timestamp, nonce, encrypt }));
    const envelope =
      options.mode === 'safe'
        ? { ToUserName: fields.ToUserName, Encrypt: encrypt }
        : { ...fields, Encrypt: encrypt };
    body = encode(envelope, options.format);
  }
  // A body cut in transit: the signatures above cover the original, complete Encrypt.
  if (options.malformed) body = body.slice(0, Math.floor(body.length / 2));

  return {
    url: url.toString(),
    body,
    contentType: options.format === 'json' ? 'application/json' : 'text/xml',
    plaintext,
    format: options.format,
    mode: options.mode,
    createTime,
    openId,
    ...(msgId === undefined ? {} : { msgId }),
  };
}
