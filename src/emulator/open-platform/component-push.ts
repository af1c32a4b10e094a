import { MessageCipher } from '../../crypto/message-cipher.js';
import { computeMessageSignature } from '../../crypto/message-crypto.js';
import { computeServerSignature } from '../../crypto/server-signature.js';
import { buildXml } from '../../xml/build.js';
import type { EmulatorComponentConfig } from '../config.js';
import { PUSH_ATTEMPTS, type PushAttempt, recordPush } from '../platform/push.js';
import { randomNonce } from '../platform/push-message.js';
import type { EmulatorState } from '../state.js';

/** Ways to make an Open Platform push misbehave. */
export interface ComponentPushFaults {
  /** Encrypt with this ReceiveId instead of the component AppID (a server must refuse it). */
  receiveId?: string;
  /** Sign with a wrong token (`signature` and `msg_signature`). */
  badSignature?: boolean;
}

/** What happened to an Open Platform push (授权事件). */
export interface ComponentPushResult {
  attempts: number;
  /** HTTP status of the last answer, 0 when none came. */
  status: number;
  /** True when the server answered 2xx with `success`. */
  ok: boolean;
  /** Why the push is not acknowledged: `NOT_CONFIGURED`, `NO_ANSWER`, `HTTP_<status>`, `NOT_SUCCESS`. */
  replyError?: string;
  replyErrorMessage?: string;
  /** The decrypted push (XML). */
  message: string;
  request?: { url: string; body: string; contentType: string };
  rawReply?: string;
  history: PushAttempt[];
}

/**
 * Builds, encrypts (ReceiveId = component AppID) and signs an InfoType push the way the Open
 * Platform sends 授权事件: inner `<xml><AppId/><CreateTime/><InfoType/>…</xml>`, envelope
 * `<xml><AppId/><Encrypt/></xml>`, URL `signature`, `timestamp`, `nonce`, `encrypt_type=aes`,
 * `msg_signature`. It is POSTed to the component's callbackUrl, resent on timeout, connection
 * error or 5xx (3 requests in total, as message pushes), and acknowledged only by `success`.
 */
export async function deliverComponentPush(
  state: EmulatorState,
  component: EmulatorComponentConfig,
  infoType: string,
  fields: Record<string, string | number>,
  faults: ComponentPushFaults = {},
): Promise<ComponentPushResult> {
  const result = await sendComponentPush(state, component, infoType, fields, faults);
  // On the event log (the console's live log), as message pushes.
  recordPush(state, component.componentAppId, result.message, result, component.callbackUrl);
  return result;
}

async function sendComponentPush(
  state: EmulatorState,
  component: EmulatorComponentConfig,
  infoType: string,
  fields: Record<string, string | number>,
  faults: ComponentPushFaults,
): Promise<ComponentPushResult> {
  const now = state.nowSeconds();
  const message = buildXml({
    AppId: component.componentAppId,
    CreateTime: BigInt(now),
    InfoType: infoType,
    ...Object.fromEntries(Object.entries(fields).map(([k, v]) => [k, typeof v === 'number' ? BigInt(v) : v])),
  });
  if (component.callbackUrl === undefined) {
    return {
      attempts: 0,
      status: 0,
      ok: false,
      replyError: 'NOT_CONFIGURED',
      replyErrorMessage: `component ${component.componentAppId} has no callbackUrl (授权事件接收URL) in the emulator config`,
      message,
      history: [],
    };
  }
  const cipher = new MessageCipher({
    encodingAESKey: component.encodingAESKey,
    receiveId: faults.receiveId ?? component.componentAppId,
  });
  const encrypt = cipher.encrypt(message);
  const timestamp = String(now);
  const nonce = randomNonce();
  const token = faults.badSignature ? `${component.token}-wrong` : component.token;
  const url = new URL(component.callbackUrl);
  url.searchParams.set('signature', computeServerSignature({ token, timestamp, nonce }));
  url.searchParams.set('timestamp', timestamp);
  url.searchParams.set('nonce', nonce);
  url.searchParams.set('encrypt_type', 'aes');
  url.searchParams.set('msg_signature', computeMessageSignature({ token, timestamp, nonce, encrypt }));
  const body = buildXml({ AppId: component.componentAppId, Encrypt: encrypt });
  const request = { url: url.toString(), body, contentType: 'text/xml' };

  state.count('pushes', component.componentAppId);
  const timeoutMs = state.config.options.pushTimeoutMs;
  const history: PushAttempt[] = [];
  let status = 0;
  let text: string | undefined;
  let outcome: PushAttempt['outcome'] = 'timeout';
  for (let attempt = 1; attempt <= PUSH_ATTEMPTS && !state.closed; attempt++) {
    // As message pushes: the answer is awaited on the emulated clock.
    const started = state.now();
    const timeout = state.clock.timeout(timeoutMs, `open platform push timeout ${component.componentAppId}`);
    text = undefined;
    try {
      const response = await fetch(request.url, {
        method: 'POST',
        headers: { 'content-type': request.contentType },
        body,
        signal: timeout.signal,
      });
      text = await response.text();
      status = response.status;
      outcome = status >= 500 ? 'server-error' : 'answered';
    } catch (error) {
      const name = (error as Error).name;
      status = 0;
      outcome = name === 'TimeoutError' || name === 'AbortError' ? 'timeout' : 'connection-error';
    } finally {
      timeout.done();
    }
    history.push({ status, outcome, elapsedMs: state.now() - started });
    if (outcome === 'answered') break;
  }
  const result: ComponentPushResult = {
    attempts: history.length,
    status,
    ok: false,
    message,
    request,
    history,
  };
  if (outcome !== 'answered' || text === undefined) {
    result.replyError = outcome === 'server-error' ? `HTTP_${status}` : 'NO_ANSWER';
    result.replyErrorMessage = `no answer within ${timeoutMs} ms after ${history.length} attempt(s) (last: ${outcome})`;
    return result;
  }
  result.rawReply = text;
  if (status < 200 || status > 299) {
    result.replyError = `HTTP_${status}`;
    result.replyErrorMessage = `the server answered HTTP ${status}`;
  } else if (text.trim() !== 'success') {
    result.replyError = 'NOT_SUCCESS';
    result.replyErrorMessage = 'an Open Platform push must be answered with the string "success"';
  } else {
    result.ok = true;
  }
  return result;
}
