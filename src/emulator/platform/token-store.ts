import type { EmulatorAppKind } from '../config.js';
import { wechatError } from '../http.js';
import type { RouteContext } from '../router.js';
import type { EmulatorState } from '../state.js';

/** Lifetime of an access_token and of a ticket, in seconds (official: 7200). */
export const TOKEN_TTL_SECONDS = 7200;
/** How long a replaced `cgi-bin/token` token keeps working (official: 5 minutes). */
export const TOKEN_OVERLAP_SECONDS = 300;
/** `stable_token` renews a token in the last 5 minutes of its life (official). */
export const STABLE_RENEW_BEFORE_SECONDS = 300;
/** Forced stable_token refreshes allowed per app and day (official: 20). */
export const STABLE_FORCE_DAILY_LIMIT = 20;
/** Minimal interval between forced stable_token refreshes (official: 30 s, "否则不会刷新"). */
export const STABLE_FORCE_MIN_INTERVAL_SECONDS = 30;

type TokenKind = 'token' | 'stable';

interface TokenRecord {
  token: string;
  appId: string;
  kind: TokenKind;
  issuedAt: number;
  /** Emulated ms after which the token answers 42001. */
  expiresAt: number;
  /** Emulated ms after which it answers 40001 (replaced, force-refreshed or revoked). */
  invalidAt?: number;
}

/**
 * The app an `access_token` belongs to (with its kind when the token is an Open Platform
 * authorizer's and the app is not configured), or the error WeChat would answer.
 */
export type Authorization = { appId: string; kind?: EmulatorAppKind } | { error: Response };

/**
 * Another module's tokens accepted by the business APIs (the Open Platform's authorizer tokens):
 * the app a token acts for, its refusal, or undefined for a token the resolver does not know.
 */
export type TokenResolver = (token: string) => Authorization | undefined;

/** The day number of an emulated instant, in Beijing time (quotas reset at 00:00 UTC+8). */
export function emulatedDay(state: EmulatorState): number {
  return Math.floor((state.now() + 8 * 3_600_000) / 86_400_000);
}

/** A per-app, per-emulated-day counter. */
class DailyCounter {
  readonly #counts = new Map<string, { day: number; n: number }>();

  get(appId: string, day: number): number {
    const entry = this.#counts.get(appId);
    return entry && entry.day === day ? entry.n : 0;
  }

  add(appId: string, day: number): void {
    this.#counts.set(appId, { day, n: this.get(appId, day) + 1 });
  }
}

/**
 * Access tokens (`cgi-bin/token` and `stable_token`, independent of each other) and tickets.
 * All time is emulated time (`state.now()`).
 */
export class TokenStore {
  readonly #state: EmulatorState;
  readonly #tokens = new Map<string, TokenRecord>();
  /** Latest token of each kind, per app. */
  readonly #latest = new Map<string, TokenRecord>();
  readonly #tokenQuota = new DailyCounter();
  readonly #forcedRefreshes = new DailyCounter();
  readonly #lastForcedAt = new Map<string, number>();
  readonly #tickets = new Map<string, { ticket: string; expiresAt: number }>();
  readonly #resolvers: TokenResolver[] = [];

  constructor(state: EmulatorState) {
    this.#state = state;
  }

  #mint(appId: string, kind: TokenKind): TokenRecord {
    const now = this.#state.now();
    // Real tokens are ~130–160 characters of [A-Za-z0-9_-]; clients must store at least 512.
    const token = `${this.#state.randomId(60)}_${this.#state.randomId(40)}-${this.#state.randomId(36)}`;
    const record: TokenRecord = {
      token,
      appId,
      kind,
      issuedAt: now,
      expiresAt: now + TOKEN_TTL_SECONDS * 1000,
    };
    this.#tokens.set(token, record);
    this.#latest.set(`${kind}:${appId}`, record);
    this.#state.count('tokensIssued', appId);
    return record;
  }

  /** Whether `cgi-bin/token` may still issue a token today for the app. */
  tokenQuotaLeft(appId: string): boolean {
    return this.#tokenQuota.get(appId, emulatedDay(this.#state)) < this.#state.config.options.tokenDailyQuota;
  }

  /** `cgi-bin/token`: a new token; the previous one stops working 5 minutes later. */
  issueToken(appId: string): { access_token: string; expires_in: number } {
    const now = this.#state.now();
    const previous = this.#latest.get(`token:${appId}`);
    if (previous) {
      const cutoff = now + TOKEN_OVERLAP_SECONDS * 1000;
      previous.invalidAt = Math.min(previous.invalidAt ?? cutoff, cutoff);
    }
    this.#tokenQuota.add(appId, emulatedDay(this.#state));
    const record = this.#mint(appId, 'token');
    return { access_token: record.token, expires_in: TOKEN_TTL_SECONDS };
  }

  #usable(record: TokenRecord | undefined, now: number): record is TokenRecord {
    return record !== undefined && record.expiresAt > now && (record.invalidAt ?? Infinity) > now;
  }

  /**
   * `cgi-bin/stable_token`. Normal mode returns the current token while more than 5 minutes remain
   * (else a new one, the old staying valid until it expires). Forced mode invalidates the current one
   * and issues a new one, at most 20 times a day (then 45009) and not within 30 s of the previous
   * forced refresh (then, as the doc says, it "does not refresh": the current token is returned).
   */
  stableToken(appId: string, forceRefresh: boolean): { access_token: string; expires_in: number } | Response {
    const now = this.#state.now();
    const current = this.#latest.get(`stable:${appId}`);
    const usable = this.#usable(current, now) ? current : undefined;
    const answer = (r: TokenRecord) => ({
      access_token: r.token,
      expires_in: Math.max(0, Math.floor((r.expiresAt - now) / 1000)),
    });
    if (forceRefresh) {
      const day = emulatedDay(this.#state);
      const last = this.#lastForcedAt.get(appId);
      if (usable && last !== undefined && now - last < STABLE_FORCE_MIN_INTERVAL_SECONDS * 1000) {
        return answer(usable);
      }
      if (this.#forcedRefreshes.get(appId, day) >= STABLE_FORCE_DAILY_LIMIT) {
        return wechatError(45009, 'reach max api daily quota limit');
      }
      this.#forcedRefreshes.add(appId, day);
      this.#lastForcedAt.set(appId, now);
      if (usable) usable.invalidAt = now;
      return answer(this.#mint(appId, 'stable'));
    }
    if (usable && usable.expiresAt - now > STABLE_RENEW_BEFORE_SECONDS * 1000) return answer(usable);
    return answer(this.#mint(appId, 'stable'));
  }

  /** Invalidates every token of the app at once (`POST /_emulator/tokens/revoke`). */
  revoke(appId: string): number {
    const now = this.#state.now();
    let n = 0;
    for (const record of this.#tokens.values()) {
      if (record.appId !== appId || !this.#usable(record, now)) continue;
      record.invalidAt = now;
      n += 1;
    }
    return n;
  }

  /**
   * Checks the `access_token` query parameter: missing 41001, unknown or invalidated 40001,
   * expired 42001.
   */
  /** Accepts another module's tokens too (see {@link TokenResolver}). */
  addResolver(resolver: TokenResolver): void {
    this.#resolvers.push(resolver);
  }

  authorize(ctx: RouteContext): Authorization {
    const token = ctx.url.searchParams.get('access_token');
    if (!token) return { error: wechatError(41001, 'access_token missing') };
    const record = this.#tokens.get(token);
    if (record === undefined) {
      for (const resolve of this.#resolvers) {
        const resolved = resolve(token);
        if (resolved !== undefined) return resolved;
      }
    }
    const now = this.#state.now();
    const invalidAt = record?.invalidAt;
    if (!record || (invalidAt !== undefined && invalidAt <= now && invalidAt < record.expiresAt)) {
      return { error: wechatError(40001, 'invalid credential, access_token is invalid or not latest') };
    }
    if (record.expiresAt <= now) return { error: wechatError(42001, 'access_token expired') };
    return { appId: record.appId };
  }

  /** `cgi-bin/ticket/getticket`: the same ticket per (app, type) while it is valid. */
  ticket(appId: string, type: string): { ticket: string; expires_in: number } {
    const now = this.#state.now();
    const key = `${type}:${appId}`;
    let entry = this.#tickets.get(key);
    if (!entry || entry.expiresAt <= now) {
      const ticket = `${this.#state.randomId(40)}-${this.#state.randomId(45)}`;
      entry = { ticket, expiresAt: now + TOKEN_TTL_SECONDS * 1000 };
      this.#tickets.set(key, entry);
    }
    return { ticket: entry.ticket, expires_in: Math.floor((entry.expiresAt - now) / 1000) };
  }
}
