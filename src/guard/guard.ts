/**
 * `createGuard`: the framework-neutral core of `weixin-kit/guard`. Login (`code` → `code2Session`
 * once → a session), session tokens, per-user and per-IP limits, strict HTTP and masking.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { AuditLog } from '../core/audit.js';
import type { Logger } from '../core/logger.js';
import { redactText } from '../core/redact.js';
import type { SecurityEventHandler } from '../core/security-events.js';
import {
  BAD_TRACING_OPTION,
  inServerSpan,
  isTracing,
  pathOfTarget,
  recordServerStatus,
  spanMethod,
  type Tracing,
} from '../core/tracing.js';
import { decryptMiniProgramData, type MiniProgramOpenData } from '../crypto/mini-program.js';
import {
  ArgumentError,
  ConfigError,
  CryptoError,
  GuardError,
  StoreError,
  TransportError,
  WeChatApiError,
  WeChatKitError,
} from '../errors.js';
import { RequestIds } from '../internal/request-id.js';
import { emitSecurityEvent, securityTypeOfRefusal } from '../internal/security-event.js';
import { isThenable } from '../internal/thenable.js';
import {
  type Cors,
  type CorsOptions,
  compileCors,
  compileTrustProxy,
  errorAnswer,
  type HttpsOptions,
  headerText,
  hstsValue,
  httpsUrl,
  isLoopback,
  jsonAnswer,
  type ProxyTrust,
  registerServeNow,
  type TrustProxy,
  upperMethod,
} from './http.js';
import { createLimiter, type LimitDecision, type Limiter, type LimitRule, waitNowOf } from './limiter.js';
import { createJsonMasker, createMasker, type MaskOptions } from './mask.js';
import { type GuardRedisClient, type GuardStore, MemoryGuardStore, RedisGuardStore } from './store.js';
import type { SessionClaims } from './tokens.js';
import { type SessionKey, SessionTokens } from './tokens.js';
import type { GuardAnswer, GuardHandler, GuardRequest, GuardSession } from './types.js';

/** What the guard needs of a Mini Program client: `MiniProgram` from `weixin-kit` fits. */
export interface GuardMiniProgram {
  readonly appId: string;
  readonly auth: {
    code2Session(params: {
      js_code: string;
    }): PromiseLike<{ openid: string; session_key: string; unionid?: string }>;
  };
  readonly phoneNumbers: {
    get(params: { code: string; openid?: string }): PromiseLike<GuardPhoneInfo>;
  };
}

/** `getuserphonenumber`'s `phone_info`. */
export interface GuardPhoneInfo {
  phoneNumber: string;
  purePhoneNumber: string;
  countryCode: string | number;
  watermark: { timestamp: number; appid: string };
}

/** Options of {@link createGuard}. Only `miniProgram` and `keys` are required. */
export interface GuardOptions {
  /** The Mini Program client (`new MiniProgram({ appId, secret })`). */
  miniProgram: GuardMiniProgram;
  /** Session-token keys; the first signs, all verify (rotation: prepend a new key, remove the old one later). */
  keys: readonly SessionKey[];
  /** The `iss` claim (default `'weixin-kit'`). */
  issuer?: string | undefined;
  /** The `aud` claim (default the appid). */
  audience?: string | undefined;
  /** Lifetime of an access token, seconds (default 900: 15 min). */
  accessTokenTtlSeconds?: number | undefined;
  /** Lifetime of a session and its refresh token, seconds (default 604 800: 7 days). */
  sessionTtlSeconds?: number | undefined;
  /** Shared state for several instances: the user's ioredis / node-redis client. Default: memory. */
  redis?: GuardRedisClient | undefined;
  /** A custom store (instead of `redis`). */
  store?: GuardStore | undefined;
  /** Prefix of every store key (default `'weixin-kit:guard:'`). */
  prefix?: string | undefined;
  /**
   * Limits: `user` on protected routes, keyed by openid (default 100 per 60 s); `ip` on anonymous
   * routes — login, refresh, `open` routes — keyed by client IP (default 20 per 60 s). `false` turns one off.
   */
  limits?: { user?: LimitRule | false; ip?: LimitRule | false } | undefined;
  /** Which proxies may speak for the client (see {@link TrustProxy}); default none. */
  trustProxy?: TrustProxy | undefined;
  /** CORS for H5 / web-view pages. `wx.request` is not subject to CORS and needs none. */
  cors?: CorsOptions | undefined;
  /** HTTPS redirect and HSTS (on by default for non-loopback clients); `false` turns both off. */
  https?: HttpsOptions | false | undefined;
  /** Session cookies (httpOnly, Secure, SameSite=Strict) instead of tokens in the body. Default off. */
  cookie?:
    | boolean
    | { name?: string; refreshName?: string; sameSite?: 'Strict' | 'Lax'; path?: string }
    | undefined;
  /** Masking of protected answers (default on, every rule); `false` turns it off everywhere. */
  mask?: MaskOptions | false | undefined;
  /**
   * WeChat Cloud Run: trust the gateway-set `X-WX-OPENID` / `X-WX-APPID` headers as the identity.
   * Only behind Cloud Run's gateway, which sets them; anywhere else a client could. Default false:
   * the headers are ignored and the first one seen logs a warning.
   */
  cloudRun?: boolean | undefined;
  /**
   * `decryptUserData` refuses open data whose `watermark.timestamp` is older than this many
   * seconds (or more than 5 min in the future) with `SESSION_KEY_STALE`: replayed old data. Default
   * 600; `false` turns the check off.
   */
  openDataMaxAgeSeconds?: number | false | undefined;
  /** Maps a logged-in user to your own user id, carried in the token as `uid`. */
  mapUser?:
    | ((identity: {
        openid: string;
        unionid?: string | undefined;
      }) => string | undefined | PromiseLike<string | undefined>)
    | undefined;
  /** Where guard problems (5xx, store failures, ignored Cloud Run headers) are logged. Default: console. */
  logger?: Logger | undefined;
  /**
   * Writes one audit record per guarded request (made by `createAuditLog` from `weixin-kit`):
   * request id, route, status, outcome, error code, latency, the user as a keyed hash of the
   * openid, client address (after `trustProxy`). Middleware adapters (`requireSession`) record
   * their refusals; what the app's own handler answers is the app's to log.
   */
  audit?: AuditLog | undefined;
  /**
   * Receives security events: `rate_limited` (a 429), `session_refused` (a forged, expired or
   * revoked token, a reused login code), `session_key_stale`.
   */
  onSecurityEvent?: SecurityEventHandler | undefined;
  /** ms since the epoch (default `Date.now`). */
  now?: (() => number) | undefined;
  /** Random bytes (default `crypto.randomBytes`): session ids, refresh tokens, request ids. */
  randomBytes?: ((size: number) => Uint8Array) | undefined;
  /**
   * Traces each route request as a server span (`guard GET /api/me`: the path, never the query)
   * that continues the caller's W3C `traceparent` and is active while the handler runs, so the
   * WeChat calls it makes are its children; attributes: status and refusal code (`error.type`).
   * Get one from `otelTracing()` in `weixin-kit/otel`. Default: none.
   */
  tracing?: Tracing | undefined;
}

/** A session as login and refresh answer it. */
export interface IssuedSession {
  /** The access token (a JWT): `Authorization: Bearer …`. */
  token: string;
  /** Seconds until `token` expires. */
  expiresIn: number;
  /** The refresh token (opaque), for the refresh route; single use. */
  refreshToken: string;
  /** Seconds until the session ends. */
  refreshExpiresIn: number;
  /** Your user id, when `mapUser` gave one. */
  userId?: string;
}

/** What a protected (or open) handler gets. */
export interface GuardContext {
  /** The caller, from the verified token; `undefined` on `open` routes. */
  readonly session: GuardSession;
  readonly request: GuardRequest;
  /** The id of this request, also in the `X-Request-Id` answer header and every error body. */
  readonly requestId: string;
  /** The client IP as judged with `trustProxy`. */
  readonly ip: string | undefined;
  /** The JSON body. */
  json(): Promise<unknown>;
  /** The user's phone number from a `getPhoneNumber` button code (`getuserphonenumber`, with the session's openid). */
  phoneNumber(code: string): Promise<GuardPhoneInfo>;
  /** Decrypts legacy `encryptedData` with the session's stored session_key (`SESSION_KEY_STALE` when it no longer fits). */
  decryptUserData(input: { encryptedData: string; iv: string }): Promise<MiniProgramOpenData>;
}

/** What an `open` (anonymous) handler gets. */
export type OpenContext = Omit<GuardContext, 'session' | 'phoneNumber' | 'decryptUserData'>;

/** Per-route options. */
export interface RouteOptions {
  /** This route's limit instead of the guard's (`false`: none). */
  limit?: LimitRule | false;
  /** Mask this route's answers (default the guard's setting); `false` opts this route out. */
  mask?: boolean;
}

const REPLY = Symbol('weixin-kit.guard.reply');

/** A handler's answer with a status or headers of its own (the body is still masked JSON). */
export interface GuardReply {
  readonly [REPLY]: true;
  readonly status: number;
  readonly body: unknown;
  readonly headers: Record<string, string>;
}

/**
 * Answers with another status than 200, or extra headers.
 *
 * @example
 * return respond({ id }, { status: 201 });
 */
export function respond(
  body: unknown,
  options: { status?: number; headers?: Record<string, string> } = {},
): GuardReply {
  const status = options.status ?? 200;
  if (!Number.isInteger(status) || status < 200 || status > 599) {
    throw new ArgumentError('respond: status must be a whole number from 200 to 599');
  }
  return { [REPLY]: true, status, body, headers: { ...options.headers } };
}

/** The result of {@link Guard.authenticate}. */
export type Authentication =
  | { ok: true; session: GuardSession; headers: Record<string, string> }
  | { ok: false; answer: GuardAnswer };

interface SessionRecord {
  openid: string;
  unionid?: string;
  sessionKey: string;
  userId?: string;
  createdAt: number;
  refresh: string;
  previousRefresh?: string;
}

const DEFAULT_USER_LIMIT: LimitRule = { points: 100, durationSeconds: 60 };
const DEFAULT_IP_LIMIT: LimitRule = { points: 20, durationSeconds: 60 };
const CODE_CLAIM_MS = 10 * 60 * 1000;
const CODE_TEXT = /^[\x21-\x7e]{1,256}$/;
const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

/**
 * The Mini Program backend guard. Build it once; mount its routes with an adapter.
 *
 * @example
 * import { MiniProgram } from 'weixin-kit';
 * import { createGuard, guardExpress } from 'weixin-kit/guard';
 *
 * const guard = createGuard({
 *   miniProgram: new MiniProgram({ appId: process.env.MP_APPID, secret: process.env.MP_SECRET }),
 *   keys: [{ kid: '2026-12', alg: 'HS256', secret: process.env.SESSION_SECRET }],
 * });
 * app.post('/api/login', guardExpress(guard.loginRoute()));
 * app.get('/api/me', guardExpress(guard.protect(({ session }) => ({ openid: session.openid }))));
 */
export function createGuard(options: GuardOptions): Guard {
  return new Guard(options);
}

/** See {@link createGuard}. */
export class Guard {
  readonly appId: string;
  readonly #mp: GuardMiniProgram;
  readonly #tokens: SessionTokens;
  readonly #store: GuardStore;
  /** The store, when it is the built-in memory store (read without promises on the fast path). */
  readonly #memoryStore: MemoryGuardStore | undefined;
  readonly #prefix: string;
  readonly #sessionPrefix: string;
  readonly #revokedPrefix: string;
  readonly #accessTtl: number;
  readonly #sessionTtl: number;
  readonly #userLimiter: Limiter | undefined;
  readonly #ipLimiter: Limiter | undefined;
  readonly #routeLimiters = new Map<string, Limiter>();
  readonly #redis: GuardRedisClient | undefined;
  readonly #proxy: ProxyTrust;
  readonly #cors: Cors | undefined;
  readonly #redirect: boolean;
  readonly #hsts: string | undefined;
  readonly #cookie: { name: string; refreshName: string; sameSite: string; path: string } | undefined;
  readonly #mask: ((value: unknown) => unknown) | undefined;
  readonly #jsonMask: ((value: unknown) => unknown) | undefined;
  readonly #cloudRun: boolean;
  #warnedCloudRun = false;
  #limitErrorLoggedAt = Number.NEGATIVE_INFINITY;
  readonly #openDataMaxAge: number | undefined;
  readonly #mapUser: GuardOptions['mapUser'];
  readonly #logger: Logger;
  readonly #now: () => number;
  readonly #random: (size: number) => Uint8Array;
  readonly #ids: RequestIds;
  readonly #audit: AuditLog | undefined;
  readonly #onSecurityEvent: SecurityEventHandler | undefined;
  /** True when an audit log or a security sink is configured: requests are then timed and reported. */
  readonly #observed: boolean;
  readonly #inflight = new Map<string, Promise<IssuedSession>>();
  readonly #tracing: Tracing | undefined;

  constructor(options: GuardOptions) {
    if (typeof options !== 'object' || options === null) {
      throw new ConfigError('INVALID_CONFIG', 'createGuard: options are required ({ miniProgram, keys })');
    }
    const mp = options.miniProgram;
    if (
      typeof mp?.appId !== 'string' ||
      typeof mp.auth?.code2Session !== 'function' ||
      typeof mp.phoneNumbers?.get !== 'function'
    ) {
      throw new ConfigError(
        'INVALID_CONFIG',
        'createGuard: miniProgram must be a MiniProgram client (new MiniProgram({ appId, secret }))',
      );
    }
    this.#mp = mp;
    this.appId = mp.appId;
    this.#now = options.now ?? Date.now;
    this.#random = options.randomBytes ?? ((size) => randomBytes(size));
    this.#ids = new RequestIds(this.#random);
    this.#tokens = new SessionTokens(options.keys, {
      issuer: options.issuer ?? 'weixin-kit',
      audience: options.audience ?? mp.appId,
      now: this.#now,
    });
    this.#accessTtl = seconds(options.accessTokenTtlSeconds, 900, 'accessTokenTtlSeconds');
    this.#sessionTtl = seconds(options.sessionTtlSeconds, 604_800, 'sessionTtlSeconds');
    if (this.#accessTtl > this.#sessionTtl) {
      throw new ConfigError(
        'INVALID_CONFIG',
        'createGuard: accessTokenTtlSeconds cannot be longer than sessionTtlSeconds',
      );
    }
    if (options.store !== undefined && options.redis !== undefined) {
      throw new ConfigError('INVALID_CONFIG', 'createGuard: give either store or redis, not both');
    }
    this.#redis = options.redis;
    this.#store =
      options.store ??
      (options.redis !== undefined
        ? new RedisGuardStore(options.redis)
        : new MemoryGuardStore({ now: this.#now }));
    // Exactly the built-in class: a subclass may have its own get/getMany (instrumentation, say).
    this.#memoryStore =
      Object.getPrototypeOf(this.#store) === MemoryGuardStore.prototype
        ? (this.#store as MemoryGuardStore)
        : undefined;
    this.#prefix = options.prefix ?? 'weixin-kit:guard:';
    this.#sessionPrefix = `${this.#prefix}session:${this.appId}:`;
    this.#revokedPrefix = `${this.#prefix}revoked:${this.appId}:`;
    const limits = options.limits ?? {};
    this.#userLimiter = this.#limiter('user', limits.user === undefined ? DEFAULT_USER_LIMIT : limits.user);
    this.#ipLimiter = this.#limiter('ip', limits.ip === undefined ? DEFAULT_IP_LIMIT : limits.ip);
    this.#proxy = compileTrustProxy(options.trustProxy);
    this.#cors = compileCors(options.cors);
    this.#redirect = options.https !== false && options.https?.redirect !== false;
    this.#hsts = hstsValue(options.https);
    const cookie = options.cookie;
    this.#cookie =
      cookie === undefined || cookie === false
        ? undefined
        : {
            name: (cookie === true ? undefined : cookie.name) ?? 'wk_session',
            refreshName: (cookie === true ? undefined : cookie.refreshName) ?? 'wk_refresh',
            sameSite: (cookie === true ? undefined : cookie.sameSite) ?? 'Strict',
            path: (cookie === true ? undefined : cookie.path) ?? '/',
          };
    this.#mask = options.mask === false ? undefined : createMasker(options.mask);
    // Answers are serialized at once: subtrees with nothing to mask are not copied.
    this.#jsonMask = options.mask === false ? undefined : createJsonMasker(options.mask);
    this.#cloudRun = options.cloudRun === true;
    this.#openDataMaxAge =
      options.openDataMaxAgeSeconds === false
        ? undefined
        : seconds(options.openDataMaxAgeSeconds, 600, 'openDataMaxAgeSeconds');
    this.#mapUser = options.mapUser;
    if (options.tracing !== undefined && !isTracing(options.tracing)) {
      throw new ConfigError('INVALID_CONFIG', `createGuard: ${BAD_TRACING_OPTION}`);
    }
    this.#tracing = options.tracing;
    if (options.audit !== undefined && !(options.audit instanceof AuditLog)) {
      throw new ConfigError(
        'INVALID_CONFIG',
        "createGuard: audit must be an audit log made by createAuditLog({ logger, userKey }) from 'weixin-kit'",
      );
    }
    if (options.onSecurityEvent !== undefined && typeof options.onSecurityEvent !== 'function') {
      throw new ConfigError(
        'INVALID_CONFIG',
        'createGuard: onSecurityEvent must be a function (event) => void',
      );
    }
    this.#audit = options.audit;
    this.#onSecurityEvent = options.onSecurityEvent;
    this.#observed = this.#audit !== undefined || this.#onSecurityEvent !== undefined;
    this.#logger = options.logger ?? {
      error: (fields, message) => console.error(`weixin-kit/guard: ${message}`, fields),
      warn: (fields, message) => console.warn(`weixin-kit/guard: ${message}`, fields),
    };
  }

  // ---- programmatic API -------------------------------------------------------------------

  /**
   * Exchanges a `wx.login` code for a session: `code2Session` runs at most once per code — the
   * same code arriving concurrently in this process shares one exchange, and across processes the
   * first claim in the store wins; any other use is refused with `LOGIN_CODE_USED`.
   */
  login(code: string): Promise<IssuedSession> {
    if (typeof code !== 'string' || !CODE_TEXT.test(code)) {
      return Promise.reject(
        new GuardError('BAD_BODY', 'code must be the string wx.login gave the Mini Program'),
      );
    }
    const claim = `${this.#prefix}code:${this.appId}:${sha256(code)}`;
    const running = this.#inflight.get(claim);
    if (running !== undefined) return running;
    const exchange = this.#exchange(code, claim).finally(() => this.#inflight.delete(claim));
    this.#inflight.set(claim, exchange);
    return exchange;
  }

  async #exchange(code: string, claim: string): Promise<IssuedSession> {
    const won = await this.#store.setIfAbsent(claim, String(this.#now()), CODE_CLAIM_MS);
    if (!won) {
      throw new GuardError(
        'LOGIN_CODE_USED',
        'this login code was already used: call wx.login for a new one',
      );
    }
    const answer = await this.#mp.auth.code2Session({ js_code: code });
    const userId = await this.#mapUser?.({ openid: answer.openid, unionid: answer.unionid });
    if (userId !== undefined && typeof userId !== 'string') {
      throw new TypeError('mapUser must return a string user id or undefined');
    }
    const sid = base64url(this.#random(18));
    const secret = base64url(this.#random(32));
    const record: SessionRecord = {
      openid: answer.openid,
      sessionKey: answer.session_key,
      createdAt: this.#now(),
      refresh: sha256(secret),
      ...(answer.unionid !== undefined ? { unionid: answer.unionid } : {}),
      ...(userId !== undefined ? { userId } : {}),
    };
    await this.#store.set(this.#sessionKey(sid), JSON.stringify(record), this.#sessionTtl * 1000);
    return this.#issue(sid, record, secret);
  }

  async #issue(sid: string, record: SessionRecord, secret: string): Promise<IssuedSession> {
    const { token } = await this.#tokens.sign(
      { sub: record.openid, sid, uid: record.userId },
      this.#accessTtl,
    );
    const left = Math.max(1, Math.floor((record.createdAt + this.#sessionTtl * 1000 - this.#now()) / 1000));
    return {
      token,
      expiresIn: Math.min(this.#accessTtl, left),
      refreshToken: `${sid}.${secret}`,
      refreshExpiresIn: left,
      ...(record.userId !== undefined ? { userId: record.userId } : {}),
    };
  }

  /**
   * A new access token (and a new refresh token) for a refresh token. Each refresh token works
   * once: presenting a used one again closes the session (it was stolen, or the client is broken).
   */
  async refresh(refreshToken: string): Promise<IssuedSession> {
    const [sid, secret, extra] = typeof refreshToken === 'string' ? refreshToken.split('.') : [];
    if (!sid || !secret || extra !== undefined || refreshToken.length > 200) {
      throw new GuardError('SESSION_INVALID', 'refreshToken is not one this server issued: log in again');
    }
    const key = this.#sessionKey(sid);
    const [raw, revokedAt] = await this.#store.getMany([key]).then(async ([value]) => {
      const record = parseRecord(value);
      if (record === undefined) return [undefined, undefined] as const;
      const [revoked] = await this.#store.getMany([this.#revokedKey(record.openid)]);
      return [record, revoked] as const;
    });
    const record = raw;
    if (record === undefined || isRevoked(record, revokedAt)) {
      throw new GuardError('SESSION_REVOKED', 'the session ended (logged out or expired): log in again');
    }
    const hash = sha256(secret);
    if (record.previousRefresh !== undefined && sameText(hash, record.previousRefresh)) {
      await this.#store.delete(key);
      this.#logger.warn?.(
        { event: 'refresh_reuse', sessionId: sid },
        'a used refresh token was presented again: the session was closed',
      );
      throw new GuardError(
        'SESSION_REVOKED',
        'this refresh token was already used; the session was closed for safety: log in again',
      );
    }
    if (!sameText(hash, record.refresh)) {
      throw new GuardError('SESSION_INVALID', 'refreshToken is not valid: log in again');
    }
    const next = base64url(this.#random(32));
    // spread-ok: once per refresh; a parsed record is spread rather than Object.assign'd (no __proto__ setter)
    const updated: SessionRecord = { ...record, previousRefresh: record.refresh, refresh: sha256(next) };
    const ttl = record.createdAt + this.#sessionTtl * 1000 - this.#now();
    if (ttl <= 0) throw new GuardError('SESSION_REVOKED', 'the session expired: log in again');
    await this.#store.set(key, JSON.stringify(updated), ttl);
    return this.#issue(sid, updated, next);
  }

  /** Ends one session (its access tokens stop working at once, its refresh token too). */
  async logout(sessionId: string): Promise<void> {
    await this.#store.delete(this.#sessionKey(sessionId));
  }

  /** Ends every session of a user, on every instance ("log out everywhere"). */
  async logoutEverywhere(openid: string): Promise<void> {
    await this.#store.set(this.#revokedKey(openid), String(this.#now()), this.#sessionTtl * 1000);
  }

  /** The user's phone number from a `getPhoneNumber` button code. */
  async phoneNumber(session: GuardSession, code: string): Promise<GuardPhoneInfo> {
    if (typeof code !== 'string' || !CODE_TEXT.test(code)) {
      throw new GuardError(
        'BAD_BODY',
        'code must be the string the getPhoneNumber button gave the Mini Program',
      );
    }
    return this.#mp.phoneNumbers.get({ code, openid: session.openid });
  }

  /**
   * Decrypts legacy `encryptedData` with the session's stored `session_key`, checking
   * `watermark.appid` and `watermark.timestamp`. Data the key no longer opens (the user called
   * `wx.login` again: bad padding, not JSON, foreign watermark) or too old to be fresh
   * (`openDataMaxAgeSeconds`) answers `SESSION_KEY_STALE`.
   */
  async decryptUserData(
    session: GuardSession,
    input: { encryptedData: string; iv: string },
  ): Promise<MiniProgramOpenData> {
    if (session.source !== 'token') {
      throw new GuardError(
        'FORBIDDEN',
        'no session_key is kept for Cloud Run identities: use the cloud-call APIs instead',
      );
    }
    const record = parseRecord(await this.#store.get(this.#sessionKey(session.sessionId)));
    if (record === undefined) throw new GuardError('SESSION_REVOKED', 'the session ended: log in again');
    let data: MiniProgramOpenData;
    try {
      data = decryptMiniProgramData({
        sessionKey: record.sessionKey,
        encryptedData: input?.encryptedData,
        iv: input?.iv,
        appId: this.appId,
      });
    } catch (error) {
      if (error instanceof CryptoError && error.code === 'BAD_CIPHERTEXT') {
        throw new GuardError('BAD_BODY', error.message);
      }
      if (error instanceof WeChatKitError) {
        throw new GuardError(
          'SESSION_KEY_STALE',
          'the data does not decrypt with this session: call wx.login again, log in, then fetch the data again',
          { cause: error },
        );
      }
      throw error;
    }
    const stamp = Number(data.watermark?.timestamp) * 1000;
    const now = this.#now();
    if (
      this.#openDataMaxAge !== undefined &&
      (!Number.isFinite(stamp) || stamp < now - this.#openDataMaxAge * 1000 || stamp > now + 300_000)
    ) {
      throw new GuardError(
        'SESSION_KEY_STALE',
        'the data is too old (its watermark timestamp): fetch it again on the client and send it at once',
      );
    }
    return data;
  }

  /** Masks a value as protected answers are masked (with the guard's rules). */
  mask<T>(value: T): T {
    return (this.#mask === undefined ? value : this.#mask(value)) as T;
  }

  /**
   * Who is calling: the verified session (and the headers a guarded answer carries), or the
   * refusal to send. For middleware adapters; routes built with {@link protect} call it.
   */
  async authenticate(request: GuardRequest): Promise<Authentication> {
    const requestId = this.#requestId(request);
    const headers = { 'x-request-id': requestId };
    const started = this.#observed ? performance.now() : 0;
    const ip = this.#proxy.clientIp(request);
    let session: GuardSession | undefined;
    try {
      const early = this.#transport(request, headers, ip);
      if (early !== undefined) return { ok: false, answer: early };
      session = await this.#session(request);
      if (this.#userLimiter !== undefined) refuseOverLimit(await this.#userLimiter.check(session.openid));
      return { ok: true, session, headers };
    } catch (error) {
      const refusal = toGuardError(error);
      const answer = this.#fail(error, requestId, headers, refusal);
      if (this.#observed) this.#report(request, requestId, started, answer.status, refusal.code, session, ip);
      return { ok: false, answer };
    }
  }

  // ---- routes -------------------------------------------------------------------------------

  /** `POST {code}` → `{ token, expiresIn, refreshToken, refreshExpiresIn, userId? }`; per-IP limited. */
  loginRoute(): GuardHandler {
    return this.#route({ kind: 'anonymous' }, async (ctx) => {
      const body = (await ctx.json()) as { code?: unknown } | null;
      const issued = await this.login(typeof body?.code === 'string' ? body.code : (undefined as never));
      return this.#sessionAnswer(issued);
    });
  }

  /** `POST {refreshToken}` (or the refresh cookie) → a new token pair; per-IP limited. */
  refreshRoute(): GuardHandler {
    return this.#route({ kind: 'anonymous' }, async (ctx) => {
      const body = (await ctx.json()) as { refreshToken?: unknown } | null;
      const fromCookie = this.#cookie ? readCookie(ctx.request, this.#cookie.refreshName) : undefined;
      const token = typeof body?.refreshToken === 'string' ? body.refreshToken : fromCookie;
      if (token === undefined) throw new GuardError('BAD_BODY', 'send { "refreshToken": "…" }');
      return this.#sessionAnswer(await this.refresh(token));
    });
  }

  /** `POST {everywhere?: true}` with the session → ends it (or all of the user's sessions). */
  logoutRoute(): GuardHandler {
    return this.#route({ kind: 'session', mask: false }, async (ctx) => {
      const body = (await ctx.json()) as { everywhere?: unknown } | null;
      if (body?.everywhere === true) await this.logoutEverywhere(ctx.session.openid);
      if (ctx.session.source === 'token') await this.logout(ctx.session.sessionId);
      const headers: Record<string, string> = {};
      const cookies = this.#clearCookies();
      if (cookies) headers['set-cookie'] = cookies;
      return respond({ loggedOut: true, everywhere: body?.everywhere === true }, { headers });
    });
  }

  /**
   * A protected route: the handler runs only for a valid session within the user's limit, and
   * its answer is JSON, masked.
   */
  protect(handler: (ctx: GuardContext) => unknown, options: RouteOptions = {}): GuardHandler {
    if (typeof handler !== 'function') throw new ArgumentError('protect: handler must be a function');
    return this.#route({ kind: 'session', ...options }, handler);
  }

  /** An anonymous route with the guard's HTTP rules and the per-IP limit. */
  open(handler: (ctx: OpenContext) => unknown, options: RouteOptions = {}): GuardHandler {
    if (typeof handler !== 'function') throw new ArgumentError('open: handler must be a function');
    return this.#route({ kind: 'anonymous', ...options }, handler);
  }

  /**
   * CORS preflights (`OPTIONS`) for frameworks that do not route them to the guarded routes
   * (Express, Fastify and Hono answer them on their own unless an `OPTIONS` route exists). Any
   * other method answers `404`.
   *
   * @example
   * app.options('/api/*splat', guardExpress(guard.preflightRoute()));
   */
  preflightRoute(): GuardHandler {
    return this.#route({ kind: 'anonymous', limit: false, mask: false }, () => {
      throw new GuardError('NOT_FOUND', 'no such route');
    });
  }

  // ---- the pipeline ------------------------------------------------------------------------

  #route(
    route: { kind: 'session' | 'anonymous' } & RouteOptions,
    handler: (ctx: GuardContext) => unknown,
  ): GuardHandler {
    const limiter =
      route.limit === undefined
        ? route.kind === 'session'
          ? this.#userLimiter
          : this.#ipLimiter
        : this.#routeLimiter(route.limit);
    const plan: RoutePlan = {
      kind: route.kind,
      limiter,
      waitNow: limiter === undefined ? undefined : waitNowOf(limiter),
      masked: route.mask !== false && this.#mask !== undefined,
      handler,
    };
    // The answer now when nothing has to be waited for, else its promise (see #serveNow).
    const serve = (request: GuardRequest): GuardAnswer | Promise<GuardAnswer> => {
      let requestId: string;
      try {
        requestId = this.#requestId(request);
      } catch (error) {
        // Not a request an adapter builds (no headers): a rejection, as from any other failure.
        return Promise.reject(error);
      }
      const headers: Record<string, string> = { 'x-request-id': requestId };
      if (!this.#observed) return this.#serveNow(plan, request, requestId, headers);
      return this.#observe(plan, request, requestId, headers);
    };
    const run: GuardHandler = (request) => {
      const answer = serve(request);
      return answer instanceof Promise ? answer : Promise.resolve(answer);
    };
    const tracing = this.#tracing;
    if (tracing !== undefined) return (request) => this.#traced(tracing, request, run);
    // The adapters call `serve` itself: an answer ready now is written in the same step.
    registerServeNow(run, serve);
    return run;
  }

  /**
   * A route's answer in a server span (`guard GET /api/me`) that continues the caller's trace and
   * is active while the handler runs; the status and refusal code are recorded on it.
   */
  #traced(tracing: Tracing, request: GuardRequest, run: GuardHandler): Promise<GuardAnswer> {
    const method = spanMethod(String(request?.method ?? '').toUpperCase());
    const path = pathOfTarget(request?.url);
    return inServerSpan(
      tracing,
      `guard ${method} ${path}`,
      request?.headers,
      { 'http.request.method': method, 'url.path': path, 'wechat.app_id': this.appId },
      () => run(request),
      (span, answer) =>
        recordServerStatus(span, answer.status, answer.status >= 400 ? refusalCodeOf(answer) : undefined),
    );
  }

  /** A route request with its audit record and security event. */
  #observe(
    plan: RoutePlan,
    request: GuardRequest,
    requestId: string,
    headers: Record<string, string>,
  ): Promise<GuardAnswer> {
    const started = performance.now();
    const seen: Seen = { session: undefined, ip: undefined };
    let served: Promise<GuardAnswer>;
    try {
      const ip = this.#proxy.clientIp(request);
      seen.ip = ip;
      const early = this.#transport(request, headers, ip);
      // A known token on the memory store is found without waiting; anything else takes the full path.
      // #serveFrom rethrows when given `seen`: the refusal's code is reported here.
      const known =
        early === undefined && plan.kind === 'session' ? this.#sessionNow(request, this.#now()) : undefined;
      served =
        early !== undefined
          ? Promise.resolve(early)
          : this.#serveFrom(plan, request, requestId, headers, ip, known, seen);
    } catch (error) {
      served = Promise.reject(error);
    }
    return served.then(
      (answer) => {
        this.#report(request, requestId, started, answer.status, undefined, seen.session, seen.ip);
        return answer;
      },
      (error: unknown) => {
        const refusal = toGuardError(error);
        const answer = this.#fail(error, requestId, headers, refusal);
        this.#report(request, requestId, started, answer.status, refusal.code, seen.session, seen.ip);
        return answer;
      },
    );
  }

  /**
   * One guarded request, from the transport rules to the masked answer, answered in this step
   * when nothing has to be waited for: a known token on the memory store, the memory limiter and
   * a handler that answers synchronously. Anything else goes on in {@link #serveFrom} from where it
   * had to wait (nothing is checked or counted twice). Never throws.
   */
  #serveNow(
    plan: RoutePlan,
    request: GuardRequest,
    requestId: string,
    headers: Record<string, string>,
  ): GuardAnswer | Promise<GuardAnswer> {
    try {
      const ip = this.#proxy.clientIp(request);
      const early = this.#transport(request, headers, ip);
      if (early !== undefined) return early;
      // One clock reading for the token's expiry and the limit's window.
      const now = this.#now();
      let session: GuardSession | undefined;
      if (plan.kind === 'session') {
        session = this.#sessionNow(request, now);
        if (session === undefined) return this.#serveFrom(plan, request, requestId, headers, ip, undefined);
      }
      if (plan.limiter !== undefined) {
        const wait = plan.waitNow?.(session !== undefined ? session.openid : (ip ?? 'unknown'), now);
        if (wait === undefined) return this.#serveFrom(plan, request, requestId, headers, ip, session);
        if (wait !== 0) throw tooManyRequests(wait);
      }
      const returned = plan.handler(new RouteContext(this, request, requestId, ip, session));
      if (!isThenable(returned)) return this.#answer(plan, returned, headers);
      return Promise.resolve(returned).then(
        (result) => {
          try {
            return this.#answer(plan, result, headers);
          } catch (error) {
            return this.#fail(error, requestId, headers);
          }
        },
        (error: unknown) => this.#fail(error, requestId, headers),
      );
    } catch (error) {
      return this.#fail(error, requestId, headers);
    }
  }

  /**
   * The rest of a guarded request once the transport rules passed: the session (unless `known`
   * gives it), the limit (always counted here: callers come before counting it), the handler and
   * the answer. `seen` (observed routes) collects who asked; with it, failures reject
   * for #observe to report, else they are answered here.
   */
  async #serveFrom(
    plan: RoutePlan,
    request: GuardRequest,
    requestId: string,
    headers: Record<string, string>,
    ip: string | undefined,
    known: GuardSession | undefined,
    seen?: Seen,
  ): Promise<GuardAnswer> {
    try {
      const session = known ?? (plan.kind === 'session' ? await this.#session(request) : undefined);
      if (seen !== undefined) seen.session = session;
      if (plan.limiter !== undefined) {
        refuseOverLimit(await plan.limiter.check(session !== undefined ? session.openid : (ip ?? 'unknown')));
      }
      const returned = plan.handler(new RouteContext(this, request, requestId, ip, session));
      return this.#answer(plan, isThenable(returned) ? await returned : returned, headers);
    } catch (error) {
      // Observed requests need the refusal's code: #observe answers them.
      if (seen !== undefined) throw error;
      return this.#fail(error, requestId, headers);
    }
  }

  /** A handler's result as the route's JSON answer (masked unless the route opted out). */
  #answer(plan: RoutePlan, result: unknown, headers: Record<string, string>): GuardAnswer {
    if (isReply(result)) {
      // Object.assign, not two spreads: ~1 µs less per answer on Node 20, same result.
      return jsonAnswer(
        result.status,
        plan.masked ? this.#jsonMask?.(result.body) : result.body,
        Object.assign({}, result.headers, headers),
      );
    }
    // Only the guard's own headers here: adapters need not check them again.
    return jsonAnswer(200, plan.masked ? this.#jsonMask?.(result ?? null) : (result ?? null), headers, true);
  }

  /** The audit record and security event of one guarded request. */
  #report(
    request: GuardRequest,
    requestId: string,
    started: number,
    status: number,
    code: string | undefined,
    session: GuardSession | undefined,
    ip: string | undefined,
  ): void {
    const now = this.#now();
    const latencyMs = performance.now() - started;
    this.#audit?.write({
      startedAt: Math.floor(now - latencyMs),
      requestId,
      kind: 'guard',
      method: request.method,
      url: request.url,
      status,
      code,
      latencyMs,
      appId: this.appId,
      openid: session?.openid,
      ip,
    });
    if (code === undefined || this.#onSecurityEvent === undefined) return;
    const type = securityTypeOfRefusal(code);
    if (type === undefined) return;
    const query = request.url.indexOf('?');
    emitSecurityEvent(this.#onSecurityEvent, {
      type,
      source: 'guard',
      code,
      appId: this.appId,
      requestId,
      ip,
      detail: { route: (query === -1 ? request.url : request.url.slice(0, query)).slice(0, 256), status },
      now,
    });
  }

  /** HTTPS and CORS: an answer to send now (redirect, refusal, preflight), or `undefined` to go on. */
  #transport(
    request: GuardRequest,
    headers: Record<string, string>,
    ip: string | undefined,
  ): GuardAnswer | undefined {
    const method = upperMethod(request.method);
    const secure = this.#proxy.protocol(request) === 'https';
    if (!secure && this.#redirect && !isLoopback(ip)) {
      const location = httpsUrl(request);
      if ((method === 'GET' || method === 'HEAD') && location !== undefined) {
        return jsonAnswer(308, null, Object.assign({}, headers, { location }));
      }
      throw new GuardError('HTTPS_REQUIRED', 'this API is served over HTTPS only');
    }
    if (secure && this.#hsts !== undefined) headers['strict-transport-security'] = this.#hsts;
    const origin = headerText(request.headers.origin);
    if (this.#cors !== undefined) headers.vary = 'Origin';
    if (origin !== undefined && this.#cors !== undefined) {
      const preflight =
        method === 'OPTIONS' && request.headers['access-control-request-method'] !== undefined;
      const allowed = preflight ? this.#cors.preflightHeaders(origin) : this.#cors.headersFor(origin);
      if (allowed === undefined) {
        throw new GuardError(
          'ORIGIN_NOT_ALLOWED',
          `the origin ${origin.slice(0, 100)} is not allowed to call this API`,
        );
      }
      Object.assign(headers, allowed);
      if (preflight) return jsonAnswer(204, null, headers);
    }
    if (method === 'OPTIONS')
      return jsonAnswer(
        204,
        null,
        Object.assign({}, headers, { allow: 'GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS' }),
      );
    return undefined;
  }

  async #session(request: GuardRequest): Promise<GuardSession> {
    const gatewayOpenid = headerText(request.headers['x-wx-openid']);
    if (gatewayOpenid !== undefined) {
      if (this.#cloudRun) {
        const appId = headerText(request.headers['x-wx-appid']);
        if (appId !== undefined && appId !== this.appId) {
          throw new GuardError('SESSION_INVALID', 'X-WX-APPID names another Mini Program');
        }
        if (!/^[A-Za-z0-9_-]{1,64}$/.test(gatewayOpenid))
          throw new GuardError('SESSION_INVALID', 'X-WX-OPENID is malformed');
        return Object.freeze({
          openid: gatewayOpenid,
          sessionId: 'cloud-run',
          appId: this.appId,
          source: 'cloud-run',
        });
      }
      if (!this.#warnedCloudRun) {
        this.#warnedCloudRun = true;
        this.#logger.warn?.(
          { event: 'cloud_run_header_ignored' },
          'a request carried X-WX-OPENID, which is ignored: set cloudRun: true only behind WeChat Cloud Run, whose gateway sets it',
        );
      }
    }
    const authorization = headerText(request.headers.authorization);
    let token: string | undefined;
    let fromCookie = false;
    if (authorization !== undefined) {
      const match = /^Bearer\s+(\S+)$/i.exec(authorization);
      if (!match) throw new GuardError('SESSION_INVALID', 'Authorization must be "Bearer <token>"');
      token = match[1];
    } else if (this.#cookie !== undefined) {
      token = readCookie(request, this.#cookie.name);
      fromCookie = token !== undefined;
    }
    if (token === undefined) {
      throw new GuardError('SESSION_REQUIRED', 'log in first: send Authorization: Bearer <token>');
    }
    if (fromCookie && !SAFE_METHODS.has(request.method.toUpperCase())) this.#checkCsrf(request);
    const claims = this.#tokens.verified(token) ?? (await this.#tokens.verify(token));
    const [raw, revokedAt] = await this.#store.getMany([
      this.#sessionKey(claims.sid),
      this.#revokedKey(claims.sub),
    ]);
    const record = parseRecord(raw);
    if (record === undefined || record.openid !== claims.sub || isRevoked(record, revokedAt)) {
      throw new GuardError('SESSION_REVOKED', 'the session ended (logged out): log in again');
    }
    return Object.freeze(this.#sessionOf(claims));
  }

  /**
   * The session of a request whose Bearer token was verified before and whose record is in the
   * memory store, found without waiting; `undefined` whenever anything else is the case (another
   * store, a new token, a cookie, a Cloud Run header, a revoked or missing record), and then
   * {@link #session} decides, refusals included.
   */
  #sessionNow(request: GuardRequest, now: number): GuardSession | undefined {
    const store = this.#memoryStore;
    if (store === undefined) return undefined;
    const headers = request.headers;
    if (headers['x-wx-openid'] !== undefined) return undefined;
    const authorization = headers.authorization;
    // Only the exact `Bearer <token>` of a token verified before; anything else takes the full path.
    if (typeof authorization !== 'string') return undefined;
    const cached = this.#tokens.cachedBearer(authorization, now);
    if (cached === undefined) return undefined;
    const claims = cached.claims;
    // What this token needs on every request, worked out on its first one (kept in the token cache).
    let keys = cached.memo as ClaimKeys | undefined;
    if (keys === undefined) {
      keys = this.#keysOf(claims);
      cached.memo = keys;
    }
    // Read at this request's clock reading when the store keeps the guard's clock.
    const [raw, revokedAt] = store.readPairNow(keys.session, keys.revoked, this.#now, now);
    if (raw !== keys.raw) {
      keys.raw = raw;
      keys.record = parseRecord(raw);
    }
    const record = keys.record;
    if (record === undefined || record.openid !== claims.sub) return undefined;
    if (isRevoked(record, revokedAt)) return undefined;
    return keys.who;
  }

  /** Cookie sessions: an unsafe method must come from an allowed origin (or this host). */
  #checkCsrf(request: GuardRequest): void {
    const origin = headerText(request.headers.origin);
    const host = headerText(request.headers.host);
    const sameHost =
      origin !== undefined && host !== undefined && /^https?:\/\/(.+)$/.exec(origin)?.[1] === host;
    if (origin === undefined || !(sameHost || this.#cors?.headersFor(origin) !== undefined)) {
      throw new GuardError('ORIGIN_NOT_ALLOWED', 'a cookie session needs an allowed Origin on this request');
    }
  }

  #limiter(name: string, rule: LimitRule | false): Limiter | undefined {
    if (rule === false) return undefined;
    return createLimiter(rule, {
      name: `${this.appId}:${name}`,
      prefix: `${this.#prefix}limit:`,
      ...(this.#redis !== undefined ? { redis: this.#redis } : {}),
      now: this.#now,
      onStoreError: (error: unknown) => {
        // Once a minute at most: during an outage every check fails.
        const now = this.#now();
        if (now - this.#limitErrorLoggedAt < 60_000) return;
        this.#limitErrorLoggedAt = now;
        this.#logger.error(
          { event: 'limit_store_failed', error: describeError(error) },
          'the rate-limit store failed; limiting in memory (logged at most once a minute)',
        );
      },
    });
  }

  #routeLimiter(rule: LimitRule | false): Limiter | undefined {
    if (rule === false) return undefined;
    const name = `route-${rule.points}-${rule.durationSeconds}`;
    let limiter = this.#routeLimiters.get(name);
    if (limiter === undefined) {
      limiter = this.#limiter(name, rule);
      if (limiter !== undefined) this.#routeLimiters.set(name, limiter);
    }
    return limiter;
  }

  #sessionAnswer(issued: IssuedSession): GuardReply {
    if (this.#cookie === undefined) return respond(issued);
    const { token, refreshToken, ...rest } = issued;
    const c = this.#cookie;
    const attributes = `; Path=${c.path}; HttpOnly; Secure; SameSite=${c.sameSite}`;
    // One Set-Cookie header per cookie is required; adapters split on the newline.
    const cookies = [
      `${c.name}=${token}${attributes}; Max-Age=${issued.expiresIn}`,
      `${c.refreshName}=${refreshToken}${attributes}; Max-Age=${issued.refreshExpiresIn}`,
    ].join('\n');
    return respond(rest, { headers: { 'set-cookie': cookies } });
  }

  #clearCookies(): string | undefined {
    const c = this.#cookie;
    if (c === undefined) return undefined;
    const attributes = `; Path=${c.path}; HttpOnly; Secure; SameSite=${c.sameSite}; Max-Age=0`;
    return [`${c.name}=${attributes}`, `${c.refreshName}=${attributes}`].join('\n');
  }

  /** The answer to anything thrown on a guarded route; 5xx are logged (redacted), never detailed to the client. */
  #fail(
    error: unknown,
    requestId: string,
    headers: Record<string, string>,
    refusal: GuardError = toGuardError(error),
  ): GuardAnswer {
    if (refusal.status >= 500) {
      this.#logger.error(
        { event: 'guard_error', requestId, code: refusal.code, error: describeError(error) },
        `request ${requestId} failed`,
      );
    }
    return errorAnswer(refusal, requestId, headers);
  }

  /**
   * The request id: the trace id of a valid W3C `traceparent` header (so the id matches the
   * caller's trace), else a new 32-hex-digit one.
   */
  #requestId(request: GuardRequest): string {
    return this.#ids.next(headerText(request.headers.traceparent));
  }

  /**
   * What a verified token needs on every request, made once per token (kept as its memo in the
   * token cache): the store keys of its session and of its user's revocation (so nothing is
   * concatenated, then flattened and hashed by the store's lookup, again), its session object, and
   * the last session record read with what it parsed to.
   */
  #keysOf(claims: SessionClaims): ClaimKeys {
    return {
      session: this.#sessionKey(claims.sid),
      revoked: this.#revokedKey(claims.sub),
      // What the claims say, frozen: the same object for every request with this token.
      who: Object.freeze(this.#sessionOf(claims)),
      raw: undefined,
      record: undefined,
    };
  }

  /** The session a verified token's claims name. */
  #sessionOf(claims: SessionClaims): GuardSession {
    return {
      openid: claims.sub,
      sessionId: claims.sid,
      appId: this.appId,
      source: 'token',
      ...(claims.uid !== undefined ? { userId: claims.uid } : {}),
    };
  }

  #sessionKey(sid: string): string {
    return this.#sessionPrefix + sid;
  }

  #revokedKey(openid: string): string {
    return this.#revokedPrefix + openid;
  }
}

/**
 * What a route handler gets: a class (methods on the prototype) rather than an object of closures,
 * made once per request.
 */
class RouteContext implements GuardContext {
  #body: Promise<unknown> | undefined;
  readonly #guard: Guard;
  readonly session: GuardSession;

  constructor(
    guard: Guard,
    readonly request: GuardRequest,
    readonly requestId: string,
    readonly ip: string | undefined,
    session: GuardSession | undefined,
  ) {
    this.#guard = guard;
    this.session = session as GuardSession;
  }

  json(): Promise<unknown> {
    this.#body ??= this.request.json();
    return this.#body;
  }

  phoneNumber(code: string): Promise<GuardPhoneInfo> {
    return this.#guard.phoneNumber(this.session, code);
  }

  decryptUserData(input: { encryptedData: string; iv: string }): Promise<MiniProgramOpenData> {
    return this.#guard.decryptUserData(this.session, input);
  }
}

/** Who made a guarded request, as far as the pipeline got before answering. */
interface Seen {
  session: GuardSession | undefined;
  ip: string | undefined;
}

/** What the guard keeps per verified token (see Guard#keysOf). */
interface ClaimKeys {
  /** The store key of its session record. */
  session: string;
  /** The store key of its user's "logged out everywhere" time. */
  revoked: string;
  /** The session it names, frozen (handlers get this same object on the same-step path). */
  who: GuardSession;
  /** The session record's text last read from the store, and what it parsed to. */
  raw: string | undefined;
  record: SessionRecord | undefined;
}

/** What a route does, settled once when it is made. */
interface RoutePlan {
  kind: 'session' | 'anonymous';
  limiter: Limiter | undefined;
  /** The limiter's synchronous count (memory limiters: 0 or Retry-After seconds), else `undefined`. */
  waitNow: ((key: string, now?: number) => number | undefined) | undefined;
  masked: boolean;
  handler: (ctx: GuardContext) => unknown;
}

/** The client-facing refusal for anything a route threw. */
function toGuardError(error: unknown): GuardError {
  if (error instanceof GuardError) return error;
  if (error instanceof WeChatApiError) {
    switch (error.code) {
      case 'INVALID_CODE':
        return new GuardError(
          'INVALID_CODE',
          'WeChat refused the code (invalid, expired or used): get a new one on the client',
        );
      case 'RATE_LIMITED':
        return new GuardError('RATE_LIMITED', 'WeChat limits this user: wait a minute', {
          retryAfterSeconds: 60,
        });
      case 'SYSTEM_BUSY':
        return new GuardError('UPSTREAM_UNAVAILABLE', 'WeChat is busy: retry later', {
          retryAfterSeconds: 5,
        });
      default:
        return new GuardError('INTERNAL_ERROR', 'internal error');
    }
  }
  if (error instanceof TransportError || error instanceof StoreError) {
    return new GuardError(
      'UPSTREAM_UNAVAILABLE',
      'a service this API depends on is unavailable: retry later',
      {
        retryAfterSeconds: 5,
      },
    );
  }
  return new GuardError('INTERNAL_ERROR', 'internal error');
}

function describeError(error: unknown): Record<string, unknown> {
  if (error instanceof WeChatKitError)
    return { name: error.name, code: error.code, message: redactText(error.message) };
  if (error instanceof Error)
    return { name: error.name, message: redactText(error.message), stack: error.stack };
  return { value: typeof error };
}

/** Throws the `429` refusal when the limiter said no. */
function refuseOverLimit(decision: LimitDecision): void {
  if (!decision.allowed) throw tooManyRequests(decision.retryAfterSeconds);
}

function tooManyRequests(retryAfterSeconds: number): GuardError {
  return new GuardError('RATE_LIMITED', 'too many requests: wait before trying again', { retryAfterSeconds });
}

/** The `error.code` of a guard error answer (`RATE_LIMITED`, `SESSION_INVALID`…), read back for a span. */
function refusalCodeOf(answer: GuardAnswer): string | undefined {
  try {
    const code = (JSON.parse(answer.body) as { error?: { code?: unknown } } | null)?.error?.code;
    return typeof code === 'string' ? code : undefined;
  } catch {
    return undefined;
  }
}

function isReply(value: unknown): value is GuardReply {
  return typeof value === 'object' && value !== null && (value as GuardReply)[REPLY] === true;
}

function isRevoked(record: SessionRecord, revokedAt: string | undefined): boolean {
  return revokedAt !== undefined && record.createdAt <= Number(revokedAt);
}

// Parsed session records by their stored text: the same session read again costs a lookup.
const parsedRecords = new Map<string, SessionRecord>();

function parseRecord(raw: string | undefined): SessionRecord | undefined {
  if (raw === undefined) return undefined;
  const known = parsedRecords.get(raw);
  if (known !== undefined) return known;
  try {
    const value = JSON.parse(raw) as SessionRecord;
    if (typeof value?.openid !== 'string' || typeof value.sessionKey !== 'string') return undefined;
    if (parsedRecords.size >= 10_000) parsedRecords.delete(parsedRecords.keys().next().value as string);
    parsedRecords.set(raw, Object.freeze(value));
    return value;
  } catch {
    return undefined;
  }
}

function readCookie(request: GuardRequest, name: string): string | undefined {
  const header = headerText(request.headers.cookie);
  if (header === undefined) return undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq !== -1 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim() || undefined;
  }
  return undefined;
}

function seconds(value: number | undefined, fallback: number, name: string): number {
  const v = value ?? fallback;
  if (!Number.isSafeInteger(v) || v < 1)
    throw new ConfigError('INVALID_CONFIG', `createGuard: ${name} must be a whole number of seconds >= 1`);
  return v;
}

function sha256(text: string): string {
  return createHash('sha256').update(text, 'utf8').digest('base64url');
}

function sameText(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

function base64url(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString('base64url');
}
