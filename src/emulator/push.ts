import type { Router } from './router.js';
import type { EmulatorState } from './state.js';

/** A message to push to an app's callbackUrl, as WeChat would (see `deliverPush`). */
export interface PushMessage {
  /** Fields of the inner message, e.g. `{ MsgType: 'event', Event: 'subscribe' }`; ToUserName, FromUserName, CreateTime are filled in when absent. */
  [field: string]: unknown;
}

/** Ways to make a push misbehave, to test a server's defences. */
export interface PushFaults {
  /** Deliver the same push twice (same MsgId / CreateTime). */
  duplicate?: boolean;
  /** Sign with a timestamp this many seconds in the past. */
  staleSeconds?: number;
  /** Send a truncated body. */
  malformed?: boolean;
  /** Sign with a wrong token. */
  badSignature?: boolean;
}

/** What happened to a push. */
export interface PushResult {
  attempts: number;
  /** HTTP status of the last answer, or 0 when none came. */
  status: number;
  /** The decrypted passive reply (XML/JSON text), '' for an empty/`success` answer, undefined when none. */
  reply?: string;
  [detail: string]: unknown;
}

/** Builds, signs (and encrypts per the app's mode) a push and POSTs it to the app's callbackUrl. */
export async function deliverPush(
  _state: EmulatorState,
  _appId: string,
  _message: PushMessage,
  _faults: PushFaults = {},
): Promise<PushResult> {
  throw new Error('deliverPush is not implemented yet');
}

/** Registers `/_emulator/push` and `/_emulator/verify-url` (placeholder until implemented). */
export function registerPush(_router: Router, _state: EmulatorState): void {}
