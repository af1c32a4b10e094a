/**
 * Observation hooks of the callback pipeline. They are called synchronously and whatever they
 * throw (or a promise they return rejects with) is swallowed: a logging bug never changes an answer.
 * Events carry no secret: no token, no EncodingAESKey, no signature.
 */
import type { ErrorCode } from '../errors.js';
import type { InboundMessage } from './messages.js';
import type { Reply } from './replies.js';

/** Why a request was refused: a weixin-kit error code, or `METHOD_NOT_ALLOWED`. */
export type RefusalCode = ErrorCode | 'METHOD_NOT_ALLOWED';

/** A request was refused before any handler saw it. */
export interface RefusedEvent {
  code: RefusalCode;
  /** What was wrong, for logs (never a secret; may include the request's timestamp). */
  reason: string;
  /** The HTTP status answered. */
  status: number;
  /** `GET` (handshake) or `POST` (push), or whatever method arrived. */
  method: string;
}

/** A push was already processed (a WeChat retry, or a replay): answered `success`, no handler ran. */
export interface DuplicateEvent {
  /** The dedupe key (account ids, openid, MsgId / CreateTime; no secret). */
  key: string;
  /** The routing key (`text`, `event.subscribe`, …). */
  type: string;
}

/** Something failed after the request was accepted. */
export interface CallbackErrorEvent {
  error: unknown;
  /** The routing key, when the message was decoded. */
  type: string | undefined;
  /**
   * `handler`: a middleware or handler threw, answered 500 (WeChat retries). `late-handler`: it
   * threw after the reply budget, `success` was already answered. `reply`: the reply could not be
   * written. `dedupe`: the store failed, the push was processed anyway (at-least-once).
   * `internal`: a weixin-kit bug, answered 500. `config`: our own configuration is wrong (a Pay
   * notification that verified but does not decrypt: the APIv3 key; or an adapter found the body
   * already parsed by a body parser mounted before the route, error code `BODY_ALREADY_PARSED`),
   * answered 500 so it is retried.
   */
  phase: 'handler' | 'late-handler' | 'reply' | 'dedupe' | 'internal' | 'config';
}

/**
 * A handler finished after the reply budget; `success` was answered in its place. A passive reply
 * can no longer be delivered: send `reply` to `message.FromUserName` through the customer-service
 * message API (客服消息, within 48 h of the user's message) instead.
 */
export interface LateReplyEvent {
  message: InboundMessage;
  reply: Reply;
  type: string;
  /** Time from receiving the request to the handler's result. */
  elapsedMs: number;
}

/**
 * A request was accepted with a secret that is not the current one — not the first of its list
 * (`token`, `encodingAESKey`, or a Pay notification handler's `apiV3Key`): WeChat still signs or
 * encrypts with another listed value. While rotating (docs/rotation.md) list the new value first:
 * this hook then fires while WeChat still uses the old one, and once it has stayed quiet after the
 * console change, the old value can be removed. Called once per option that fell back, after the
 * request was verified and decrypted. It names the option and its position, never the value.
 */
export interface SecretFallbackEvent {
  option: 'token' | 'encodingAESKey' | 'apiV3Key';
  /** The position in the configured list of the value that matched: 1 or more. */
  index: number;
  /** `GET` (a URL verification) or `POST`. */
  method: string;
}

/**
 * @example
 * createWeChatCallback({ …, hooks: {
 *   onRefused: (e) => log.warn(e, 'wechat push refused'),
 *   onLateReply: ({ message, reply }) => sendCustomerServiceMessage(message.FromUserName, reply),
 *   onSecretFallback: (e) => log.info(e, 'WeChat still uses a previous secret'),
 * } });
 */
export interface CallbackHooks {
  onRefused?(event: RefusedEvent): unknown;
  onDuplicate?(event: DuplicateEvent): unknown;
  onError?(event: CallbackErrorEvent): unknown;
  onLateReply?(event: LateReplyEvent): unknown;
  /** A request was accepted with a listed secret other than the first: see {@link SecretFallbackEvent}. */
  onSecretFallback?(event: SecretFallbackEvent): unknown;
}
