import { createHmac } from 'node:crypto';
import { ConfigError, SignatureError } from '../errors.js';
import {
  byteLength,
  type Clock,
  defaultClock,
  defaultRandom,
  type RandomSource,
  safeEqual,
} from '../internal/bytes.js';

/** Options of {@link createOAuthState} and {@link verifyOAuthState}. */
export interface OAuthStateOptions {
  /** A server-side secret of at least 16 bytes used to sign states (not the AppSecret). */
  key: string | Uint8Array;
  /** Binds the state to the user's session (e.g. a session id), so a state cannot be replayed by another browser. */
  sessionId?: string;
  now?: Clock;
  random?: RandomSource;
}

function mac(key: string | Uint8Array, nonce: string, issuedAt: string, sessionId: string): string {
  return createHmac('sha256', key)
    .update(`${nonce}.${issuedAt}.${sessionId}`)
    .digest('base64url')
    .slice(0, 22);
}

function checkKey(key: string | Uint8Array): void {
  if (byteLength(key) < 16) {
    throw new ConfigError(
      'INVALID_CONFIG',
      'OAuth state key must be a server-side secret of at least 16 bytes',
    );
  }
}

/**
 * A CSRF `state` for the web OAuth redirect: a random nonce, the issue time and an HMAC binding
 * both to the user's session. Under WeChat's 128-byte limit; needs no server-side storage.
 *
 * @example
 * const state = createOAuthState({ key: process.env.OAUTH_STATE_KEY!, sessionId: req.session.id });
 * res.redirect(oa.auth.authorizeUrl({ redirect_uri: redirectUri, scope: 'snsapi_base', state }));
 */
export function createOAuthState(options: OAuthStateOptions): string {
  checkKey(options.key);
  const nonce = Buffer.from((options.random ?? defaultRandom)(12)).toString('base64url');
  const issuedAt = String(Math.floor((options.now ?? defaultClock)() / 1000));
  return `${nonce}.${issuedAt}.${mac(options.key, nonce, issuedAt, options.sessionId ?? '')}`;
}

/**
 * Checks a `state` that came back on the OAuth redirect: it must be one this server issued, for
 * this session, less than `maxAgeSeconds` ago (default 600). Throws `SignatureError`.
 *
 * @example
 * verifyOAuthState(req.query.state, { key, sessionId: req.session.id });
 */
export function verifyOAuthState(
  state: string,
  options: OAuthStateOptions & { maxAgeSeconds?: number },
): void {
  checkKey(options.key);
  const [nonce = '', issuedAt = '', signature = '', ...rest] = String(state ?? '').split('.');
  if (
    rest.length > 0 ||
    !/^\d{1,12}$/.test(issuedAt) ||
    !safeEqual(mac(options.key, nonce, issuedAt, options.sessionId ?? ''), signature)
  ) {
    throw new SignatureError(
      'SIGNATURE_MISMATCH',
      'OAuth state is not one this server issued for this session: possible CSRF, or the session changed; restart the login',
    );
  }
  const age = Math.floor((options.now ?? defaultClock)() / 1000) - Number(issuedAt);
  if (age < -60 || age > (options.maxAgeSeconds ?? 600)) {
    throw new SignatureError('TIMESTAMP_EXPIRED', 'OAuth state has expired: restart the login');
  }
}
