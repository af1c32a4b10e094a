/**
 * `weixin-kit/guard` — the Mini Program backend guard: login (`code` → `code2Session` once → a
 * session token), protected routes that take the identity from the verified token only, per-user
 * and per-IP limits, strict CORS, HTTPS redirect + HSTS, JSON errors without leaks, and masking
 * of phone, ID, bank-card numbers and e-mail in answers. One framework-neutral core, mounted with
 * the adapter of your framework (Express, Koa, Fastify, Hono, node:http, Fetch).
 *
 * Needs the optional peers `jose` and `rate-limiter-flexible` (`npm i jose rate-limiter-flexible`).
 * See docs/guard.md for the threats, the defaults and deployment notes.
 */
export { GuardError } from '../errors.js';
export {
  type Authenticator,
  expressRequireSession,
  fastifyRequireSession,
  type GuardAdapterOptions,
  type GuardExpressRequest,
  type GuardFastifyReply,
  type GuardFastifyRequest,
  type GuardFetchOptions,
  type GuardHonoContext,
  type GuardKoaContext,
  type GuardSessionState,
  type GuardSocketLike,
  guardExpress,
  guardFastify,
  guardFetch,
  guardHono,
  guardKoa,
  guardNode,
  honoRequireSession,
  koaRequireSession,
} from './adapters.js';
export {
  type Authentication,
  createGuard,
  Guard,
  type GuardContext,
  type GuardMiniProgram,
  type GuardOptions,
  type GuardPhoneInfo,
  type GuardReply,
  type IssuedSession,
  type OpenContext,
  type RouteOptions,
  respond,
} from './guard.js';
export type { CorsOptions, HttpsOptions, TrustProxy } from './http.js';
export {
  createLimiter,
  type LimitDecision,
  type Limiter,
  type LimiterOptions,
  type LimitRule,
} from './limiter.js';
export {
  createMasker,
  isResidentIdNumber,
  type MaskKind,
  type MaskOptions,
  maskBankCard,
  maskEmail,
  maskIdCard,
  maskMobile,
  passesLuhn,
} from './mask.js';
export {
  type GuardRedisClient,
  type GuardStore,
  MemoryGuardStore,
  type MemoryGuardStoreOptions,
  RedisGuardStore,
} from './store.js';
export type { SessionKey } from './tokens.js';
export type { GuardAnswer, GuardErrorCode, GuardHandler, GuardRequest, GuardSession } from './types.js';
