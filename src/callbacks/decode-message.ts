/**
 * From the verified plaintext of a push to its fields, and from its fields to its dedupe key.
 */
import { createHash } from 'node:crypto';
import { PayloadError } from '../errors.js';
import { parseXml } from '../xml/parse.js';

/**
 * JSON with every number kept as its digits, as a string: Mini Program JSON pushes carry a 19-digit
 * `MsgId` that `JSON.parse` would round (two messages could then share an id and one be dropped as
 * a duplicate), and XML pushes give strings anyway, so handlers see one shape in both formats.
 */
export function parseJsonMessage(text: string): Record<string, unknown> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(quoteNumbers(text));
  } catch {
    throw new PayloadError('BAD_BODY', 'the push is not valid JSON: pass the raw request body, unparsed');
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new PayloadError('BAD_BODY', 'the JSON push is not an object');
  }
  return parsed as Record<string, unknown>;
}

function isNumberChar(c: number): boolean {
  // 0-9 . + - e E
  return (c >= 0x30 && c <= 0x39) || c === 0x2e || c === 0x2b || c === 0x2d || c === 0x65 || c === 0x45;
}

/** RFC 8259's number grammar: only such a token is quoted (`-`, `01`, `1.2.3` stay invalid). */
const JSON_NUMBER = /^-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?$/;

/**
 * Wraps every number token in a value position in quotes. Invalid JSON stays invalid: a run of
 * number characters that is not a JSON number, or a number where an object key belongs (`{1:2}`),
 * is left as it is for `JSON.parse` to refuse.
 */
function quoteNumbers(text: string): string {
  let out = '';
  let last = 0;
  let i = 0;
  // The open containers (true: object), and whether the next token is an object key.
  const objects: boolean[] = [];
  let keyNext = false;
  while (i < text.length) {
    const c = text.charCodeAt(i);
    if (c === 0x22 /* " */) {
      i++;
      while (i < text.length) {
        const d = text.charCodeAt(i);
        if (d === 0x5c /* \ */) i += 2;
        else if (d === 0x22) break;
        else i++;
      }
      i++;
      keyNext = false;
    } else if (c === 0x2d || (c >= 0x30 && c <= 0x39)) {
      let j = i + 1;
      while (j < text.length && isNumberChar(text.charCodeAt(j))) j++;
      if (!keyNext && JSON_NUMBER.test(text.slice(i, j))) {
        out += `${text.slice(last, i)}"${text.slice(i, j)}"`;
        last = j;
      }
      i = j;
    } else {
      if (c === 0x7b /* { */ || c === 0x5b /* [ */) {
        objects.push(c === 0x7b);
        keyNext = c === 0x7b;
      } else if (c === 0x7d /* } */ || c === 0x5d /* ] */) {
        objects.pop();
        keyNext = false;
      } else if (c === 0x2c /* , */) {
        keyNext = objects[objects.length - 1] === true;
      }
      i++;
    }
  }
  return last === 0 ? text : out + text.slice(last);
}

/** Parses the plaintext of a push in the app's format. */
export function parseMessage(plaintext: string, format: 'xml' | 'json'): Record<string, unknown> {
  if (format === 'json') return parseJsonMessage(plaintext);
  const trimmed = plaintext.trimStart();
  if (trimmed.startsWith('{')) {
    throw new PayloadError('BAD_BODY', 'the push is JSON but the callback is configured with format "xml"');
  }
  return parseXml(plaintext);
}

function text(value: unknown): string | undefined {
  return typeof value === 'string' && value !== '' ? value : undefined;
}

/**
 * The key a retry or a replay of this push shares with the original, or `undefined` when the push
 * has nothing to identify it (then it is not de-duplicated):
 * - a user message: its `MsgId` (official guidance);
 * - an event: `FromUserName` + `CreateTime` (official guidance) + `Event` — a subscribe and the
 *   LOCATION report that follows it often share a second, and must not swallow each other — plus
 *   its `trace_id` when it has one: two `wxa_media_check` verdicts for one user's uploads may be
 *   pushed in the same second, and a retry repeats its own trace_id — and its `MsgID` when it has
 *   one: the delivery reports of two template (or mass) messages to one user land in the same
 *   second (TEMPLATESENDJOBFINISH, MASSSENDJOBFINISH), and a retry repeats its own MsgID;
 * - an Open Platform event: `AppId` + `CreateTime` + `InfoType`.
 * Every key starts with the callback's appId and the message's ToUserName, so apps may share a
 * store. Keys hold ids only, never a secret; an overlong key is hashed.
 */
export function dedupeKeyOf(appId: string, message: Record<string, unknown>): string | undefined {
  const msgType = text(message.MsgType);
  const createTime = text(message.CreateTime);
  let key: string | undefined;
  if (msgType === undefined) {
    const infoType = text(message.InfoType);
    const platform = text(message.AppId);
    if (infoType !== undefined && platform !== undefined && createTime !== undefined) {
      key = `${appId}:info:${platform}:${createTime}:${infoType}`;
    }
  } else {
    const to = text(message.ToUserName) ?? '';
    const from = text(message.FromUserName);
    const msgId = text(message.MsgId);
    if (msgType !== 'event' && msgId !== undefined) key = `${appId}:${to}:msg:${msgId}`;
    else if (from !== undefined && createTime !== undefined) {
      const what = msgType === 'event' ? `event:${text(message.Event) ?? ''}` : `type:${msgType}`;
      const traceId = msgType === 'event' ? text(message.trace_id) : undefined;
      const jobId = msgType === 'event' ? text(message.MsgID) : undefined;
      key =
        `${appId}:${to}:${from}:${createTime}:${what}` +
        `${traceId === undefined ? '' : `:${traceId}`}${jobId === undefined ? '' : `:msg:${jobId}`}`;
    }
  }
  if (key !== undefined && key.length > 200) {
    key = `${appId.slice(0, 40)}:sha256:${createHash('sha256').update(key).digest('hex')}`;
  }
  return key;
}

/**
 * The dedupe key of a WeCom push: its `MsgId` for a user message; otherwise a hash of the whole
 * decrypted message. A retry re-sends the same message, but distinct WeCom events may share
 * `FromUserName` (`sys`) and `CreateTime` (a batch of `change_contact`), and third-party
 * instruction callbacks (`suite_ticket`, …) carry neither: only their content tells them apart.
 */
export function weComDedupeKeyOf(
  corpId: string,
  message: Record<string, unknown>,
  plaintext: string,
): string {
  const to = text(message.ToUserName) ?? text(message.SuiteId) ?? '';
  const msgId = text(message.MsgId);
  if (text(message.MsgType) !== 'event' && msgId !== undefined) {
    const key = `wecom:${corpId}:${to}:msg:${msgId}`;
    if (key.length <= 200) return key;
  }
  return `wecom:${corpId.slice(0, 40)}:sha256:${createHash('sha256').update(plaintext).digest('hex')}`;
}
