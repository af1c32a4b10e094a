import { MessageCrypto } from '../../crypto/message-crypto.js';
import { computeServerSignature } from '../../crypto/server-signature.js';
import { WeChatKitError } from '../../errors.js';
import { parseXml } from '../../xml/parse.js';
import type { MessageMode } from '../config.js';
import { recordEvent } from '../events.js';
import { controlError, json } from '../http.js';
import type { Router } from '../router.js';
import type { EmulatorState } from '../state.js';
import { rememberUser } from './app-records.js';
import {
  type PreparedPush,
  type PushApp,
  type PushFormat,
  preparePush,
  randomMsgId,
  randomNonce,
} from './push-message.js';

/** A message to push to an app's callbackUrl, as WeChat would (see `deliverPush`). */
export interface PushMessage {
  /** Fields of the inner message, e.g. `{ MsgType: 'event', Event: 'subscribe' }`; ToUserName, FromUserName, CreateTime are filled in when absent. */
  [field: string]: unknown;
}

/** Ways to make a push misbehave, to test a server's defences. */
export interface PushFaults {
  /** Deliver the same push twice (same URL, MsgId / CreateTime, byte-identical body). */
  duplicate?: boolean;
  /** Sign with a timestamp this many seconds in the past. */
  staleSeconds?: number;
  /**
   * Send a truncated body (its first half). The URL signatures (`signature`, `msg_signature`) are
   * those of the original, complete message: what a body cut in transit looks like.
   */
  malformed?: boolean;
  /** Sign with a wrong token (both `signature` and `msg_signature`). */
  badSignature?: boolean;
}

/** Overrides of how one push is delivered (defaults come from the app's configuration). */
export interface PushOptions {
  /** Message mode instead of the app's `messageMode`. */
  mode?: MessageMode;
  /** `json` (Mini Program 数据格式 JSON) or `xml`, instead of the app's `dataFormat`. */
  format?: PushFormat;
  /** Attempts in total (default 3: the first request and two retries, as WeChat). */
  maxAttempts?: number;
  /** Answer timeout per attempt, ms (default `options.pushTimeoutMs`, 5000 as WeChat). */
  timeoutMs?: number;
}

/** What one HTTP attempt of a push gave. */
export interface PushAttempt {
  /** HTTP status, 0 when no answer came. */
  status: number;
  outcome: 'answered' | 'timeout' | 'connection-error' | 'server-error';
  elapsedMs: number;
}

/** What happened to a push. */
export interface PushResult {
  attempts: number;
  /** HTTP status of the last answer, or 0 when none came. */
  status: number;
  /** The decrypted passive reply (XML/JSON text), '' for an empty/`success` answer, undefined when none. */
  reply?: string;
  /** Why the answer is not a valid passive reply (e.g. `SIGNATURE_MISMATCH`, `NO_ANSWER`, `BAD_REPLY`). */
  replyError?: string;
  [detail: string]: unknown;
}

/**
 * Who a push is for, as far as sending and checking its reply goes: the ReceiveId (an AppID, a
 * WeCom corp id or suite id) and the secrets its replies are sealed with.
 */
export type PushReceiver = Pick<PushApp, 'appId' | 'token' | 'encodingAESKey'>;

/** The number of requests WeChat makes for one push: 「总共重试三次」, read as three in total. */
export const PUSH_ATTEMPTS = 3;

async function attemptOnce(
  state: EmulatorState,
  prepared: PreparedPush,
  timeoutMs: number,
): Promise<PushAttempt & { text?: string }> {
  // The answer is awaited on the emulated clock: advancing it past timeoutMs cuts the attempt.
  const started = state.now();
  const timeout = state.clock.timeout(timeoutMs, `push timeout ${prepared.url.split('?')[0]}`);
  try {
    const response = await fetch(prepared.url, {
      method: 'POST',
      headers: { 'content-type': prepared.contentType },
      body: prepared.body,
      signal: timeout.signal,
    });
    const text = await response.text();
    const elapsedMs = state.now() - started;
    const outcome = response.status >= 500 ? 'server-error' : 'answered';
    return { status: response.status, outcome, elapsedMs, text };
  } catch (error) {
    const elapsedMs = state.now() - started;
    const name = (error as Error).name;
    const outcome = name === 'TimeoutError' || name === 'AbortError' ? 'timeout' : 'connection-error';
    return { status: 0, outcome, elapsedMs };
  } finally {
    timeout.done();
  }
}

function errorCode(error: unknown): string {
  return error instanceof WeChatKitError ? error.code : 'BAD_REPLY';
}

/**
 * Checks an answer the way WeChat would: empty or `success` means "no reply"; an encrypted reply
 * (XML `<Encrypt>`/`<MsgSignature>`/`<TimeStamp>`/`<Nonce>`, or the JSON equivalent) must verify and
 * decrypt with ReceiveId = AppID; a plaintext reply is refused in safe mode.
 */
export function checkReply(
  app: PushReceiver,
  mode: MessageMode,
  format: PushFormat,
  text: string,
): { reply?: string; replyError?: string; replyErrorMessage?: string } {
  const trimmed = text.trim();
  if (trimmed === '' || trimmed === 'success') return { reply: '' };
  const isJson = trimmed.startsWith('{');
  let record: Record<string, unknown>;
  try {
    record = isJson ? (JSON.parse(trimmed) as Record<string, unknown>) : parseXml(trimmed);
    if (typeof record !== 'object' || record === null) throw new Error('not an object');
  } catch (error) {
    return {
      replyError: 'BAD_REPLY',
      replyErrorMessage: `the answer is neither empty, "success", nor a ${format.toUpperCase()} reply: ${(error as Error).message}`,
    };
  }
  if (isJson !== (format === 'json')) {
    return {
      replyError: 'BAD_REPLY',
      replyErrorMessage: `the app pushes ${format.toUpperCase()} but the reply is ${isJson ? 'JSON' : 'XML'}`,
    };
  }
  const encrypt = record.Encrypt ?? record.encrypt;
  if (encrypt === undefined) {
    if (mode === 'safe') {
      return {
        replyError: 'PLAINTEXT_REPLY',
        replyErrorMessage: 'the app is in safe mode (安全模式): a passive reply must be encrypted',
      };
    }
    return { reply: text };
  }
  if (mode === 'plain' || app.encodingAESKey === undefined || app.token === undefined) {
    return {
      replyError: 'UNEXPECTED_ENCRYPTED_REPLY',
      replyErrorMessage: 'the app is in plain mode (明文模式): WeChat cannot decrypt an encrypted reply',
    };
  }
  try {
    const crypto = new MessageCrypto({
      token: app.token,
      encodingAESKey: app.encodingAESKey,
      receiveId: app.appId,
      // No replay window is documented for replies, and the emulated clock may have been moved:
      // msg_signature, padding and ReceiveId are checked, the reply's TimeStamp is not held to a window.
      maxSkewSeconds: Number.MAX_SAFE_INTEGER,
    });
    const opened = crypto.open({
      body: trimmed,
      msgSignature: String(record.MsgSignature ?? record.msgsignature ?? ''),
      timestamp: String(record.TimeStamp ?? record.timestamp ?? ''),
      nonce: String(record.Nonce ?? record.nonce ?? ''),
    });
    if (format === 'json') JSON.parse(opened.plaintext);
    else parseXml(opened.plaintext);
    return { reply: opened.plaintext };
  } catch (error) {
    return { replyError: errorCode(error), replyErrorMessage: (error as Error).message };
  }
}

/**
 * Sends a prepared push (resent on timeout, connection error or 5xx, up to `maxAttempts`), checks
 * the answer, and records the outcome on the event log (the console's live log).
 */
export async function sendWithRetries(
  state: EmulatorState,
  app: PushReceiver,
  prepared: PreparedPush,
  maxAttempts: number,
  timeoutMs: number,
): Promise<PushResult> {
  const result = await sendAndCheck(state, app, prepared, maxAttempts, timeoutMs);
  recordPush(state, app.appId, prepared.plaintext, result, prepared.url);
  return result;
}

async function sendAndCheck(
  state: EmulatorState,
  app: PushReceiver,
  prepared: PreparedPush,
  maxAttempts: number,
  timeoutMs: number,
): Promise<PushResult> {
  const history: PushAttempt[] = [];
  let last: PushAttempt & { text?: string } = { status: 0, outcome: 'timeout', elapsedMs: 0 };
  state.count('pushes', app.appId);
  for (let attempt = 1; attempt <= maxAttempts && !state.closed; attempt++) {
    last = await attemptOnce(state, prepared, timeoutMs);
    const { text: _text, ...entry } = last;
    history.push(entry);
    // WeChat 「断掉连接，并且重新发起请求」: the retry follows the timeout at once (no documented
    // pause, so nothing for retryTimeScale to compress), with the same URL and body. The timeout
    // itself runs on the emulated clock, so advancing the clock is what triggers a retry.
    if (last.outcome === 'answered') break;
  }
  const result: PushResult = {
    attempts: history.length,
    status: last.status,
    request: { url: prepared.url, body: prepared.body, contentType: prepared.contentType },
    message: prepared.plaintext,
    ...(prepared.msgId === undefined ? {} : { msgId: prepared.msgId }),
    createTime: prepared.createTime,
    openId: prepared.openId,
    history,
  };
  if (last.outcome !== 'answered' || last.text === undefined) {
    result.replyError = last.outcome === 'server-error' ? `HTTP_${last.status}` : 'NO_ANSWER';
    result.replyErrorMessage = `no answer within ${timeoutMs} ms after ${history.length} attempt(s) (last: ${last.outcome})`;
    return result;
  }
  result.rawReply = last.text;
  if (last.status < 200 || last.status > 299) {
    result.replyError = `HTTP_${last.status}`;
    result.replyErrorMessage = `the server answered HTTP ${last.status}`;
    return result;
  }
  const checked = checkReply(app, prepared.mode, prepared.format, last.text);
  return Object.assign(result, checked);
}

/** Why an app cannot receive pushes, or undefined when it can. */
export function pushConfigProblem(
  state: EmulatorState,
  appId: string,
  mode?: MessageMode,
): string | undefined {
  const index = state.config.apps.findIndex((a) => a.appId === appId);
  const app = state.config.apps[index];
  if (app === undefined) {
    const known = state.config.apps.map((a) => a.appId).join(', ') || 'none';
    return `unknown appId "${appId}": add it under "apps" in the emulator config (configured: ${known})`;
  }
  if (app.callbackUrl === undefined || app.token === undefined) {
    return `app ${appId} cannot receive pushes: set apps[${index}].callbackUrl (your server's URL) and apps[${index}].token in the emulator config`;
  }
  if ((mode ?? app.messageMode) !== 'plain' && app.encodingAESKey === undefined) {
    return `app ${appId} needs apps[${index}].encodingAESKey for ${mode ?? app.messageMode} mode`;
  }
  return undefined;
}

/**
 * Builds, signs (and encrypts per the app's mode) a push and POSTs it to the app's callbackUrl.
 * Without an answer in time (timeout, connection error, HTTP 5xx) it resends the identical request,
 * 3 attempts in total. The passive reply is verified and decrypted; a bad one is reported in
 * `replyError`, never thrown. An app that cannot receive pushes gives `replyError: 'NOT_CONFIGURED'`.
 */
export async function deliverPush(
  state: EmulatorState,
  appId: string,
  message: PushMessage,
  faults: PushFaults = {},
  options: PushOptions = {},
): Promise<PushResult> {
  const problem = pushConfigProblem(state, appId, options.mode);
  const app = state.app(appId);
  if (problem !== undefined || app === undefined) {
    const result: PushResult = {
      attempts: 0,
      status: 0,
      replyError: 'NOT_CONFIGURED',
      replyErrorMessage: problem,
    };
    recordPush(state, appId, `<MsgType>${String(message.MsgType)}</MsgType>`, result);
    return result;
  }
  const mode = options.mode ?? app.messageMode;
  const format: PushFormat =
    options.format ?? (app.kind === 'mini-program' ? (app.dataFormat ?? 'xml') : 'xml');
  const prepared = preparePush(app, message, {
    format,
    mode,
    nowSeconds: state.nowSeconds(),
    ...(faults.staleSeconds === undefined ? {} : { staleSeconds: faults.staleSeconds }),
    ...(faults.badSignature ? { badSignature: true } : {}),
    ...(faults.malformed ? { malformed: true } : {}),
  });
  // Whoever messages an account becomes one of its users, as on WeChat (user/info then knows them).
  rememberUser(state, app.appId, prepared.openId);
  const maxAttempts = Math.max(1, Math.floor(options.maxAttempts ?? PUSH_ATTEMPTS));
  const timeoutMs = options.timeoutMs ?? state.config.options.pushTimeoutMs;
  const first = await sendWithRetries(state, app, prepared, maxAttempts, timeoutMs);
  if (faults.duplicate) {
    const second = await sendWithRetries(state, app, prepared, maxAttempts, timeoutMs);
    first.duplicates = [second];
  }
  return first;
}

/** The MsgType (and Event) of a push's inner message, XML or JSON. */
function pushType(plaintext: string): string {
  const field = (name: string) =>
    new RegExp(`<${name}>(?:<!\\[CDATA\\[)?([^<\\]]*)`).exec(plaintext)?.[1] ??
    new RegExp(`"${name}"\\s*:\\s*"([^"]*)"`).exec(plaintext)?.[1];
  const type = field('MsgType') ?? field('InfoType') ?? 'message';
  const event = type === 'event' ? field('Event') : undefined;
  return event === undefined ? type : `event ${event}`;
}

/** Logs a push and the developer server's answer on the event log (the console's live log). */
export function recordPush(
  state: EmulatorState,
  receiver: string,
  plaintext: string,
  result: {
    attempts: number;
    status: number;
    reply?: string | undefined;
    replyError?: string | undefined;
    replyErrorMessage?: unknown;
  },
  url?: string,
): void {
  const type = pushType(plaintext);
  const reason =
    result.replyError === undefined
      ? undefined
      : `${result.replyError}${typeof result.replyErrorMessage === 'string' ? `: ${result.replyErrorMessage}` : ''}`;
  recordEvent(state, {
    kind: 'push',
    verdict: reason === undefined ? 'accepted' : 'refused',
    summary: `push ${type} → ${receiver}`,
    ...(reason === undefined ? {} : { reason }),
    detail: {
      receiver,
      msgType: type,
      attempts: result.attempts,
      status: result.status,
      ...(url === undefined ? {} : { url: url.split('?')[0] as string }),
      ...(typeof result.reply === 'string' ? { replied: result.reply !== '' } : {}),
    },
  });
}

/** Result of the `echostr` handshake. */
export interface VerifyUrlResult {
  ok: boolean;
  status: number;
  body: string;
  echostr: string;
  url: string;
  error?: string;
}

/** Performs the server-configuration handshake: GET callbackUrl?signature&timestamp&nonce&echostr. */
export async function verifyUrl(
  state: EmulatorState,
  appId: string,
  faults: Pick<PushFaults, 'staleSeconds' | 'badSignature'> = {},
): Promise<VerifyUrlResult> {
  const app = state.app(appId);
  if (app?.callbackUrl === undefined || app.token === undefined) {
    throw new Error(pushConfigProblem(state, appId, 'plain') ?? 'not configured');
  }
  const timestamp = String(state.nowSeconds() - (faults.staleSeconds ?? 0));
  const nonce = randomNonce();
  const echostr = randomMsgId();
  const token = faults.badSignature ? `${app.token}-wrong` : app.token;
  const url = new URL(app.callbackUrl);
  url.searchParams.set('signature', computeServerSignature({ token, timestamp, nonce }));
  url.searchParams.set('echostr', echostr);
  url.searchParams.set('timestamp', timestamp);
  url.searchParams.set('nonce', nonce);
  const timeout = state.clock.timeout(
    state.config.options.pushTimeoutMs,
    `verify-url timeout ${app.callbackUrl}`,
  );
  try {
    const response = await fetch(url, { signal: timeout.signal });
    const body = await response.text();
    const ok = response.status === 200 && body === echostr;
    return {
      ok,
      status: response.status,
      body,
      echostr,
      url: url.toString(),
      ...(ok
        ? {}
        : {
            error:
              response.status !== 200
                ? `the server answered HTTP ${response.status}`
                : 'the body is not exactly the echostr (no quotes, JSON, whitespace or newline)',
          }),
    };
  } catch (error) {
    return {
      ok: false,
      status: 0,
      body: '',
      echostr,
      url: url.toString(),
      error: `no answer: ${(error as Error).message}`,
    };
  } finally {
    timeout.done();
  }
}

const FAULT_KEYS = new Set(['duplicate', 'staleSeconds', 'malformed', 'badSignature']);
const OPTION_KEYS = new Set(['mode', 'format', 'maxAttempts', 'timeoutMs']);

function readFaults(value: unknown): PushFaults | string {
  if (value === undefined) return {};
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return 'faults must be an object';
  const faults: PushFaults = {};
  for (const [key, v] of Object.entries(value)) {
    if (!FAULT_KEYS.has(key)) return `unknown fault "${key}" (allowed: ${[...FAULT_KEYS].join(', ')})`;
    if (key === 'staleSeconds') {
      if (typeof v !== 'number' || !Number.isFinite(v))
        return 'faults.staleSeconds must be a number of seconds';
      faults.staleSeconds = v;
    } else if (typeof v !== 'boolean') return `faults.${key} must be a boolean`;
    else if (v) faults[key as 'duplicate' | 'malformed' | 'badSignature'] = true;
  }
  return faults;
}

function readOptions(value: unknown): PushOptions | string {
  if (value === undefined) return {};
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return 'options must be an object';
  const options: PushOptions = {};
  for (const [key, v] of Object.entries(value)) {
    if (!OPTION_KEYS.has(key)) return `unknown option "${key}" (allowed: ${[...OPTION_KEYS].join(', ')})`;
    if (key === 'mode') {
      if (v !== 'safe' && v !== 'compatible' && v !== 'plain')
        return 'options.mode must be safe, compatible or plain';
      options.mode = v;
    } else if (key === 'format') {
      if (v !== 'xml' && v !== 'json') return 'options.format must be xml or json';
      options.format = v;
    } else if (typeof v !== 'number' || !Number.isInteger(v) || v < 1 || v > 60_000) {
      return `options.${key} must be a positive integer`;
    } else if (key === 'maxAttempts') options.maxAttempts = Math.min(v, 10);
    else options.timeoutMs = v;
  }
  return options;
}

/** Registers `POST /_emulator/push` and `POST /_emulator/verify-url`. */
export function registerPush(router: Router, state: EmulatorState): void {
  router.add('POST', '/_emulator/push', async (ctx) => {
    const body = (await ctx.json()) as Record<string, unknown> | undefined;
    if (typeof body !== 'object' || body === null || Array.isArray(body)) {
      return controlError(
        400,
        'body must be { "appId": "wx…", "message": { "MsgType": "text", "Content": "hi" } }',
      );
    }
    const appId = body.appId;
    if (typeof appId !== 'string') return controlError(400, 'appId is required');
    let message = body.message;
    if (typeof message === 'string') message = { MsgType: 'text', Content: message };
    if (typeof message !== 'object' || message === null || Array.isArray(message)) {
      return controlError(400, 'message must be an object such as { "MsgType": "text", "Content": "hi" }');
    }
    const fields = message as PushMessage;
    if (typeof fields.MsgType !== 'string' || fields.MsgType === '') {
      return controlError(400, 'message.MsgType is required (text, image, event, …)');
    }
    if (fields.MsgType === 'event' && typeof fields.Event !== 'string') {
      return controlError(400, 'an event message needs message.Event (subscribe, CLICK, …)');
    }
    const faults = readFaults(body.faults);
    if (typeof faults === 'string') return controlError(400, faults);
    const options = readOptions(body.options);
    if (typeof options === 'string') return controlError(400, options);
    const problem = pushConfigProblem(state, appId, options.mode);
    if (problem !== undefined) return controlError(400, problem);
    return json(await deliverPush(state, appId, fields, faults, options));
  });

  router.add('POST', '/_emulator/verify-url', async (ctx) => {
    const body = (await ctx.json()) as Record<string, unknown> | undefined;
    const appId = body?.appId;
    if (typeof appId !== 'string') return controlError(400, 'body must be { "appId": "wx…" }');
    const problem = pushConfigProblem(state, appId, 'plain');
    if (problem !== undefined) return controlError(400, problem);
    const faults = readFaults(body?.faults);
    if (typeof faults === 'string') return controlError(400, faults);
    return json(await verifyUrl(state, appId, faults));
  });
}
