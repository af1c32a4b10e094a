import { MessageCipher } from '../../crypto/message-cipher.js';
import { computeMessageSignature } from '../../crypto/message-crypto.js';
import { buildXml } from '../../xml/build.js';
import { controlError, json } from '../http.js';
import { PUSH_ATTEMPTS, type PushResult, sendWithRetries } from '../platform/push.js';
import { randomMsgId, randomNonce } from '../platform/push-message.js';
import type { Router } from '../router.js';
import type { EmulatorState } from '../state.js';

/** Where a WeCom push goes and how it is sealed. */
export interface WeComReceiver {
  /** ReceiveId inside the ciphertext: the corpid (an app, a suite's data callback) or the suite id (instruction callback). */
  receiveId: string;
  token: string;
  encodingAESKey: string;
  url: string;
}

/** Ways to make a WeCom push misbehave, to test a server's defences. */
export interface WeComPushFaults {
  /** Encrypt with this ReceiveId instead (a server must refuse it). */
  receiveId?: string;
  /** Sign `msg_signature` with a wrong token. */
  badSignature?: boolean;
  /** Sign with a timestamp this many seconds in the past. */
  staleSeconds?: number;
  /** Deliver the same push twice (byte-identical), as a retry that crossed the first answer. */
  duplicate?: boolean;
}

/**
 * Seals `inner` the way WeCom does (官方 加解密方案): the XML message encrypted with the receiver's
 * EncodingAESKey and ReceiveId, envelope `<xml><ToUserName/><AgentID/><Encrypt/></xml>`, URL
 * `msg_signature`, `timestamp`, `nonce` (no `signature`: WeCom signs only with msg_signature), then
 * POSTs it with the Official Account pushes' delivery (3 attempts on timeout, connection error or
 * 5xx; the reply checked and decrypted with the same ReceiveId).
 */
export async function deliverWeComPush(
  state: EmulatorState,
  receiver: WeComReceiver,
  inner: Record<string, unknown>,
  envelope: { ToUserName: string; AgentID?: string },
  faults: WeComPushFaults = {},
): Promise<PushResult> {
  const plaintext = buildXml(inner);
  const cipher = new MessageCipher({
    encodingAESKey: receiver.encodingAESKey,
    receiveId: faults.receiveId ?? receiver.receiveId,
  });
  const encrypt = cipher.encrypt(plaintext);
  const nowSeconds = state.nowSeconds();
  const timestamp = String(nowSeconds - (faults.staleSeconds ?? 0));
  const nonce = randomNonce();
  const token = faults.badSignature ? `${receiver.token}-wrong` : receiver.token;
  const url = new URL(receiver.url);
  url.searchParams.set('msg_signature', computeMessageSignature({ token, timestamp, nonce, encrypt }));
  url.searchParams.set('timestamp', timestamp);
  url.searchParams.set('nonce', nonce);
  const body = buildXml({
    ToUserName: envelope.ToUserName,
    AgentID: envelope.AgentID ?? '',
    Encrypt: encrypt,
  });
  const msgId = inner.MsgId;
  const prepared = {
    url: url.toString(),
    body,
    contentType: 'text/xml',
    plaintext,
    format: 'xml' as const,
    mode: 'safe' as const,
    createTime: nowSeconds,
    openId: typeof inner.FromUserName === 'string' ? inner.FromUserName : '',
    ...(msgId === undefined ? {} : { msgId: String(msgId) }),
  };
  const app = { appId: receiver.receiveId, token: receiver.token, encodingAESKey: receiver.encodingAESKey };
  const timeoutMs = state.config.options.pushTimeoutMs;
  const first = await sendWithRetries(state, app, prepared, PUSH_ATTEMPTS, timeoutMs);
  if (faults.duplicate)
    first.duplicates = [await sendWithRetries(state, app, prepared, PUSH_ATTEMPTS, timeoutMs)];
  return first;
}

/** Reads the `faults` of a control request, or says what is wrong with them. */
export function readWeComFaults(value: unknown): WeComPushFaults | string {
  if (value === undefined) return {};
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return 'faults must be an object';
  const faults: WeComPushFaults = {};
  for (const [key, v] of Object.entries(value)) {
    if (key === 'receiveId' && typeof v === 'string') faults.receiveId = v;
    else if ((key === 'badSignature' || key === 'duplicate') && typeof v === 'boolean') faults[key] = v;
    else if (key === 'staleSeconds' && typeof v === 'number' && Number.isFinite(v)) faults.staleSeconds = v;
    else {
      return `unknown or malformed fault "${key}" (allowed: receiveId: string, badSignature: boolean, duplicate: boolean, staleSeconds: number)`;
    }
  }
  return faults;
}

/**
 * A WeCom user message or event as WeCom pushes it to an app: ToUserName (the corpid),
 * FromUserName (a member's userid), CreateTime, MsgType, the caller's fields, AgentID, and a MsgId
 * for a user message. Numbers are written bare.
 */
export function weComMessage(
  state: EmulatorState,
  corpId: string,
  agentId: number,
  fromUser: string,
  message: Record<string, unknown>,
): Record<string, unknown> {
  const { MsgType, ...rest } = message;
  const fields: Record<string, unknown> = {
    ToUserName: corpId,
    FromUserName: fromUser,
    CreateTime: BigInt(state.nowSeconds()),
    MsgType,
    ...rest,
    AgentID: BigInt(agentId),
  };
  if (MsgType !== 'event' && fields.MsgId === undefined) fields.MsgId = BigInt(randomMsgId());
  return fields;
}

/**
 * `POST /_emulator/wecom/push` `{ corpId, agentId, message, fromUser?, faults? }`: a message or
 * event of a member, pushed to a self-built app's callbackUrl (ReceiveId = corpId).
 */
export function registerWeComPush(router: Router, state: EmulatorState): void {
  router.add('POST', '/_emulator/wecom/push', async (ctx) => {
    const body = (await ctx.json()) as Record<string, unknown> | undefined;
    if (typeof body !== 'object' || body === null || Array.isArray(body)) {
      return controlError(
        400,
        'body must be { "corpId": "ww…", "agentId": 1000002, "message": { "MsgType": "text", "Content": "hi" } }',
      );
    }
    const unknown = Object.keys(body).find(
      (k) => !['corpId', 'agentId', 'message', 'fromUser', 'faults'].includes(k),
    );
    if (unknown !== undefined) {
      return controlError(
        400,
        `unknown field "${unknown}" (allowed: corpId, agentId, message, fromUser, faults)`,
      );
    }
    const corpIndex = state.config.corps.findIndex((c) => c.corpId === body.corpId);
    const corp = state.config.corps[corpIndex];
    if (corp === undefined) {
      const known = state.config.corps.map((c) => c.corpId).join(', ') || 'none';
      return controlError(
        404,
        `unknown corpId "${String(body.corpId)}": add it under "corps" in the emulator config (configured: ${known})`,
      );
    }
    const agentIndex = corp.agents.findIndex((a) => a.agentId === body.agentId);
    const agent = corp.agents[agentIndex];
    if (agent === undefined)
      return controlError(404, `corp ${corp.corpId} has no agent ${String(body.agentId)}`);
    if (agent.callbackUrl === undefined || agent.token === undefined || agent.encodingAESKey === undefined) {
      return controlError(
        400,
        `agent ${agent.agentId} cannot receive pushes: set corps[${corpIndex}].agents[${agentIndex}].callbackUrl, .token and .encodingAESKey in the emulator config`,
      );
    }
    const message = readMessage(body.message);
    if (typeof message === 'string') return controlError(400, message);
    const faults = readWeComFaults(body.faults);
    if (typeof faults === 'string') return controlError(400, faults);
    const fromUser =
      typeof body.fromUser === 'string' ? body.fromUser : (corp.users[0]?.userid ?? 'zhangsan');
    const inner = weComMessage(state, corp.corpId, agent.agentId, fromUser, message);
    const receiver = {
      receiveId: corp.corpId,
      token: agent.token,
      encodingAESKey: agent.encodingAESKey,
      url: agent.callbackUrl,
    };
    return json(
      await deliverWeComPush(
        state,
        receiver,
        inner,
        { ToUserName: corp.corpId, AgentID: String(agent.agentId) },
        faults,
      ),
    );
  });
}

/** A push's `message`: an object with MsgType (and Event for an event), or a string for a text message. */
export function readMessage(value: unknown): Record<string, unknown> | string {
  const message = typeof value === 'string' ? { MsgType: 'text', Content: value } : value;
  if (typeof message !== 'object' || message === null || Array.isArray(message)) {
    return 'message must be an object such as { "MsgType": "text", "Content": "hi" }';
  }
  const fields = message as Record<string, unknown>;
  if (typeof fields.MsgType !== 'string' || fields.MsgType === '') {
    return 'message.MsgType is required (text, image, event, …)';
  }
  if (fields.MsgType === 'event' && typeof fields.Event !== 'string') {
    return 'an event message needs message.Event (enter_agent, change_contact, …)';
  }
  return fields;
}
