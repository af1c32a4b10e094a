import type { EmulatorComponentConfig } from '../config.js';
import { rememberUser } from '../platform/app-records.js';
import {
  PUSH_ATTEMPTS,
  type PushFaults,
  type PushMessage,
  type PushResult,
  recordPush,
  sendWithRetries,
} from '../platform/push.js';
import { type PushApp, preparePush } from '../platform/push-message.js';
import type { ComponentRecords } from './component-records.js';

/** Why a component cannot receive authorizer pushes, or undefined when it can. */
export function messageUrlProblem(component: EmulatorComponentConfig): string | undefined {
  if (component.messageUrl === undefined) {
    return `component ${component.componentAppId} has no messageUrl (消息与事件接收URL, with $APPID$) in the emulator config`;
  }
  return undefined;
}

/**
 * Pushes a message or event of an authorised account the way the Open Platform does (消息与事件
 * 接收): to the component's messageUrl with `$APPID$` replaced by the account's AppID, signed with
 * the component's token and encrypted with its key, ReceiveId = the component AppID (not the
 * account's), ToUserName = the account's original id. Resent as app pushes are (3 attempts); a
 * passive reply is checked against the component's key.
 */
export async function deliverAuthorizerPush(
  records: ComponentRecords,
  component: EmulatorComponentConfig,
  authorizerAppId: string,
  message: PushMessage,
  faults: Pick<PushFaults, 'badSignature' | 'staleSeconds'> = {},
): Promise<PushResult> {
  const { state } = records;
  const problem = messageUrlProblem(component);
  if (problem !== undefined || component.messageUrl === undefined) {
    return { attempts: 0, status: 0, replyError: 'NOT_CONFIGURED', replyErrorMessage: problem };
  }
  const authorization = records.authorizations.get(`${component.componentAppId}:${authorizerAppId}`);
  const kind = state.app(authorizerAppId)?.kind ?? authorization?.kind ?? 'official-account';
  // The push is the component's: its URL, token, key and ReceiveId; the account shows in ToUserName.
  const app: PushApp = {
    appId: component.componentAppId,
    secret: component.componentSecret,
    kind,
    token: component.token,
    encodingAESKey: component.encodingAESKey,
    callbackUrl: component.messageUrl.replaceAll('$APPID$', encodeURIComponent(authorizerAppId)),
    messageMode: 'safe',
    originalId: records.originalIdOf(authorizerAppId),
  };
  const prepared = preparePush(app, message, {
    format: 'xml',
    mode: 'safe',
    nowSeconds: state.nowSeconds(),
    ...(faults.staleSeconds === undefined ? {} : { staleSeconds: faults.staleSeconds }),
    ...(faults.badSignature ? { badSignature: true } : {}),
  });
  rememberUser(state, authorizerAppId, prepared.openId);
  const result = await sendWithRetries(
    state,
    app,
    prepared,
    PUSH_ATTEMPTS,
    state.config.options.pushTimeoutMs,
  );
  // On the event log (the console's live log), as the other pushes.
  recordPush(state, authorizerAppId, prepared.plaintext, result, app.callbackUrl);
  return result;
}
