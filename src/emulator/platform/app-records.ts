import { createHash, randomBytes } from 'node:crypto';
import type { RouteContext } from '../router.js';
import type { EmulatorState } from '../state.js';
import { type Authorization, TokenStore } from './token-store.js';

/** A user (follower of an Official Account, or a Mini Program user) of one app. */
export interface EmulatedUser {
  openid: string;
  unionid: string;
  /** Emulated Unix seconds of subscription / first login. */
  subscribeTime: number;
  /** The current session_key (Mini Programs, after a login). */
  sessionKey?: string;
}

/** What an app sent through the business APIs (`GET /_emulator/messages`). */
export interface SentMessage {
  kind: 'template' | 'custom' | 'subscribe';
  appId: string;
  body: Record<string, unknown>;
  msgid: number;
  /** Emulated Unix seconds. */
  at: number;
}

/** A one-time code (login `js_code` or phone code). */
export interface OneTimeCode {
  appId: string;
  openid: string;
  issuedAt: number;
  used: boolean;
  sessionKey?: string;
  phoneNumber?: string;
}

/** Codes are single-use and valid 5 minutes (official). */
export const CODE_TTL_SECONDS = 300;

/**
 * Everything the api.weixin.qq.com part of the emulator (Official Accounts and Mini Programs)
 * remembers, per emulator instance: tokens, users, one-time codes, sent messages, menus.
 */
export class WeChatRecords {
  readonly state: EmulatorState;
  readonly tokens: TokenStore;
  readonly users = new Map<string, Map<string, EmulatedUser>>();
  readonly loginCodes = new Map<string, OneTimeCode>();
  readonly phoneCodes = new Map<string, OneTimeCode>();
  readonly messages: SentMessage[] = [];
  readonly menus = new Map<string, { button: unknown[] }>();
  readonly #defaultOpenIds = new Map<string, string>();
  #msgid = 1_000_000_000 + Math.floor(Math.random() * 1_000_000_000);

  constructor(state: EmulatorState) {
    this.state = state;
    this.tokens = new TokenStore(state);
  }

  /** A fresh openid: 28 characters starting with `o`, like the real ones. */
  newOpenId(): string {
    return `o${this.state.randomId(6)}_${this.state.randomId(20)}`;
  }

  /** The openid used when a control route is called without one (stable per app). */
  defaultOpenId(appId: string): string {
    let openid = this.#defaultOpenIds.get(appId);
    if (!openid) {
      openid = this.newOpenId();
      this.#defaultOpenIds.set(appId, openid);
    }
    return openid;
  }

  user(appId: string, openid: string | null | undefined): EmulatedUser | undefined {
    return openid ? this.users.get(appId)?.get(openid) : undefined;
  }

  /** Finds or creates a user of the app. */
  ensureUser(appId: string, openid: string, unionid?: string): EmulatedUser {
    let byApp = this.users.get(appId);
    if (!byApp) {
      byApp = new Map();
      this.users.set(appId, byApp);
    }
    let user = byApp.get(openid);
    if (!user) {
      user = {
        openid,
        // Stable per (app, openid) unless given: real unionids are per person across an Open Platform account.
        unionid:
          unionid ?? `o${createHash('sha256').update(`${appId}:${openid}`).digest('base64url').slice(0, 27)}`,
        subscribeTime: this.state.nowSeconds(),
      };
      byApp.set(openid, user);
    } else if (unionid) user.unionid = unionid;
    return user;
  }

  nextMsgId(): number {
    this.#msgid += 1 + Math.floor(Math.random() * 7);
    return this.#msgid;
  }

  /** Records a message an app sent (listed by `GET /_emulator/messages`), with a new msgid. */
  recordMessage(kind: SentMessage['kind'], appId: string, body: Record<string, unknown>): SentMessage {
    const message: SentMessage = { kind, appId, body, msgid: this.nextMsgId(), at: this.state.nowSeconds() };
    this.messages.push(message);
    return message;
  }

  /** A new session_key: base64 of 16 random bytes. */
  newSessionKey(): string {
    return randomBytes(16).toString('base64');
  }

  /** A new one-time code (32 characters like the real `js_code`). */
  newCode(): string {
    return this.state.randomId(32);
  }

  codeExpired(code: OneTimeCode): boolean {
    return this.state.now() - code.issuedAt >= CODE_TTL_SECONDS * 1000;
  }

  authorize(ctx: RouteContext): Authorization {
    return this.tokens.authorize(ctx);
  }
}

const registries = new WeakMap<EmulatorState, WeChatRecords>();

/** The records of an emulator instance (created on first use). */
export function wechatRecords(state: EmulatorState): WeChatRecords {
  let records = registries.get(state);
  if (!records) {
    records = new WeChatRecords(state);
    registries.set(state, records);
  }
  return records;
}

/**
 * Makes `openid` a known user (follower) of the app, e.g. when a push comes from that user. For
 * other emulator modules (pushes create users implicitly).
 */
export function rememberUser(state: EmulatorState, appId: string, openid: string): void {
  if (state.app(appId)) wechatRecords(state).ensureUser(appId, openid);
}
