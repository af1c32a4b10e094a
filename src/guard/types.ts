/**
 * The framework-neutral shapes of `weixin-kit/guard`: a request as every adapter describes it, the
 * answer every guarded route gives, and the session a protected handler receives.
 */

/** A request as an adapter hands it to the guard. Header names are lower-case. */
export interface GuardRequest {
  /** Upper-case HTTP method. */
  method: string;
  /** Path and query, e.g. `/api/me?x=1`. */
  url: string;
  /** Request headers, names lower-case (Node's `req.headers` shape). */
  headers: Readonly<Record<string, string | string[] | undefined>>;
  /** The TCP peer's address (`req.socket.remoteAddress`), when the runtime knows it. */
  remoteAddress: string | undefined;
  /** True when the connection to this process is TLS (not what a proxy says: see `trustProxy`). */
  secure: boolean;
  /**
   * The body as JSON: what a framework's JSON parser already produced, or the raw body parsed
   * once. Rejects with a {@link GuardError} (`BAD_BODY`, `PAYLOAD_TOO_LARGE`). Empty body → `{}`.
   */
  json(): Promise<unknown>;
}

/** A guard answer: always JSON, with the security headers already set. */
export interface GuardAnswer {
  status: number;
  /** Header names lower-case. */
  headers: Record<string, string>;
  /** The JSON text (`''` for 204/308 answers). */
  body: string;
}

/** A framework-neutral route: what each adapter mounts. Never throws. */
export type GuardHandler = (request: GuardRequest) => Promise<GuardAnswer>;

/**
 * Who is calling a protected route, taken from the verified session token (or, in WeChat Cloud
 * Run mode, the gateway's `X-WX-OPENID` header) — never from the body or the query. Frozen: the
 * requests of one token may all be handed the same object.
 */
export interface GuardSession {
  /** The user's openid in this Mini Program. */
  readonly openid: string;
  /** The app-level user id, when `mapUser` gave one at login. */
  readonly userId?: string | undefined;
  /** The session id (the `sid` claim); `'cloud-run'` in Cloud Run mode. */
  readonly sessionId: string;
  /** The Mini Program's appid. */
  readonly appId: string;
  /** Where the identity came from. */
  readonly source: 'token' | 'cloud-run';
}

export type { GuardErrorCode } from '../errors.js';
