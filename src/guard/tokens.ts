/**
 * Session tokens: JWTs signed and verified with `jose`, the algorithm pinned per key, `kid` for
 * rotation (the first key signs; every listed key verifies until it is removed).
 */
import { createPrivateKey, createPublicKey, createSecretKey, type KeyObject } from 'node:crypto';
import { errors as joseErrors, jwtVerify, SignJWT } from 'jose';
import { ConfigError, GuardError } from '../errors.js';

/** A session-token key. The first key of the list signs new tokens; all of them verify. */
export type SessionKey =
  | {
      /** Key id, written in each token's header (`kid`); unique in the list. */
      kid: string;
      alg: 'HS256';
      /** At least 32 bytes (a string is taken as UTF-8): e.g. `openssl rand -base64 48`. */
      secret: string | Uint8Array | undefined;
    }
  | {
      kid: string;
      alg: 'EdDSA' | 'ES256';
      /** PEM (PKCS#8) or a KeyObject; needed only on the key that signs. */
      privateKey?: string | KeyObject | undefined;
      /** PEM (SPKI) or a KeyObject; derived from `privateKey` when absent. */
      publicKey?: string | KeyObject | undefined;
    };

/** The claims a session token carries. */
export interface SessionClaims {
  /** openid */
  sub: string;
  /** session id */
  sid: string;
  /** app-level user id, when mapped */
  uid?: string;
  iat: number;
  exp: number;
}

interface ResolvedKey {
  kid: string;
  alg: 'HS256' | 'EdDSA' | 'ES256';
  sign: Uint8Array | KeyObject | undefined;
  verify: Uint8Array | KeyObject;
}

/** A verified token in the cache: its claims, and the caller's memo for it (`undefined` at first). */
export interface VerifiedToken {
  readonly token: string;
  /** `Bearer ${token}`: the one `Authorization` value that names it (see `cachedBearer`). */
  readonly bearer: string;
  readonly claims: SessionClaims;
  memo: unknown;
}

const KID = /^[A-Za-z0-9._-]{1,64}$/;
const CLOCK_TOLERANCE_S = 5;
const VERIFIED_CACHE_SIZE = 10_000;

/** Signs and verifies session tokens with a fixed issuer, audience and key list. */
export class SessionTokens {
  readonly #keys: ResolvedKey[];
  readonly #byKid: Map<string, ResolvedKey>;
  readonly #issuer: string;
  readonly #audience: string;
  readonly #now: () => number;
  /**
   * Tokens already verified, until their `exp`: the signature of a token never changes, so a
   * session's later requests cost a map lookup instead of a signature check. Bounded (oldest out).
   * Revocation is not cached: the guard checks the store on every request.
   */
  /**
   * Tokens verified before, by their signature (the last segment: shorter to hash than the whole
   * token); the whole token is compared too, so only that exact token is found.
   */
  readonly #verified = new Map<string, VerifiedToken>();

  constructor(
    keys: readonly SessionKey[] | undefined,
    options: { issuer: string; audience: string; now: () => number },
  ) {
    if (!Array.isArray(keys) || keys.length === 0) {
      throw new ConfigError(
        'INVALID_CONFIG',
        "createGuard: keys must list at least one session-token key, e.g. [{ kid: '2026-12', alg: 'HS256', secret: process.env.SESSION_SECRET }]",
      );
    }
    this.#keys = keys.map((key, index) => resolveKey(key, index));
    if (this.#keys[0]?.sign === undefined) {
      throw new ConfigError(
        'INVALID_CONFIG',
        `createGuard: keys[0] (kid ${this.#keys[0]?.kid}) signs new tokens and needs its private key`,
      );
    }
    this.#byKid = new Map();
    for (const key of this.#keys) {
      if (this.#byKid.has(key.kid))
        throw new ConfigError('INVALID_CONFIG', `createGuard: two keys have kid "${key.kid}"`);
      this.#byKid.set(key.kid, key);
    }
    this.#issuer = options.issuer;
    this.#audience = options.audience;
    this.#now = options.now;
  }

  /** A token for `claims`, signed with the current key. */
  async sign(
    claims: { sub: string; sid: string; uid?: string | undefined },
    ttlSeconds: number,
  ): Promise<{ token: string; iat: number; exp: number }> {
    const key = this.#keys[0] as ResolvedKey;
    const iat = Math.floor(this.#now() / 1000);
    const exp = iat + ttlSeconds;
    const payload: Record<string, string> = { sid: claims.sid };
    if (claims.uid !== undefined) payload.uid = claims.uid;
    const token = await new SignJWT(payload)
      .setProtectedHeader({ alg: key.alg, kid: key.kid, typ: 'JWT' })
      .setSubject(claims.sub)
      .setIssuer(this.#issuer)
      .setAudience(this.#audience)
      .setIssuedAt(iat)
      .setNotBefore(iat)
      .setExpirationTime(exp)
      .sign(key.sign as Uint8Array | KeyObject);
    return { token, iat, exp };
  }

  /**
   * The claims of a valid token; otherwise a `GuardError`: `SESSION_EXPIRED` (past `exp`) or
   * `SESSION_INVALID` (anything else: forged, other issuer/audience, unknown `kid`, `alg`
   * different from the key's, `nbf` in the future).
   */
  async verify(token: string): Promise<SessionClaims> {
    const known = this.verified(token);
    if (known !== undefined) return known;
    const claims = await this.#check(token);
    if (this.#verified.size >= VERIFIED_CACHE_SIZE) {
      const oldest = this.#verified.keys().next().value;
      if (oldest !== undefined) this.#verified.delete(oldest);
    }
    this.#verified.set(cacheKeyOf(token), { token, bearer: `Bearer ${token}`, claims, memo: undefined });
    return claims;
  }

  /**
   * The claims of a token already verified and not yet expired, without waiting; else `undefined`.
   * `now` (ms since the epoch, from this instance's clock) spares a second clock read.
   */
  verified(token: string, now: number = this.#now()): SessionClaims | undefined {
    return this.cached(token, now)?.claims;
  }

  /**
   * The cache entry of a token already verified and not yet expired (see {@link verified}), with a
   * slot where the caller keeps what it works out once per token.
   */
  cached(token: string, now: number): VerifiedToken | undefined {
    const key = cacheKeyOf(token);
    const known = this.#verified.get(key);
    if (known === undefined || known.token !== token) return undefined;
    return this.#unexpired(key, known, now);
  }

  /**
   * {@link cached} for a whole `Authorization` value: the entry of the verified, unexpired token
   * it names when it is exactly `Bearer <token>` (one space, that case), else `undefined`. Compared
   * whole, without cutting the token out of the value first.
   */
  cachedBearer(authorization: string, now: number): VerifiedToken | undefined {
    // The value ends with the token when it names one: the same last 12 characters.
    const key = cacheKeyOf(authorization);
    const known = this.#verified.get(key);
    if (known === undefined || known.bearer !== authorization) return undefined;
    return this.#unexpired(key, known, now);
  }

  #unexpired(key: string, known: VerifiedToken, now: number): VerifiedToken | undefined {
    if (known.claims.exp * 1000 + CLOCK_TOLERANCE_S * 1000 > now) return known;
    this.#verified.delete(key);
    return undefined;
  }

  async #check(token: string): Promise<SessionClaims> {
    if (typeof token !== 'string' || token.length > 4096 || token.split('.').length !== 3) {
      throw invalid('the session token is not a JWT');
    }
    // One accepted spelling per token: jose's base64url decoder skips whitespace, padding and the
    // unused trailing bits, so `sig + ' '` or another last character would verify as the same
    // signature (the signed header and payload are compared as text, so only this part can vary).
    const signature = signatureOf(token);
    if (Buffer.from(signature, 'base64url').toString('base64url') !== signature) {
      throw invalid('the session token is not valid: log in again');
    }
    try {
      const { payload } = await jwtVerify(
        token,
        (header) => {
          const key = typeof header.kid === 'string' ? this.#byKid.get(header.kid) : undefined;
          if (key === undefined) throw invalid('the session token was signed with an unknown key');
          if (header.alg !== key.alg) throw invalid('the session token uses another algorithm than its key');
          return key.verify;
        },
        {
          issuer: this.#issuer,
          audience: this.#audience,
          algorithms: [...new Set(this.#keys.map((k) => k.alg))],
          currentDate: new Date(this.#now()),
          clockTolerance: CLOCK_TOLERANCE_S,
          typ: 'JWT',
          requiredClaims: ['sub', 'sid', 'iat', 'exp', 'nbf'],
        },
      );
      if (typeof payload.sid !== 'string' || typeof payload.sub !== 'string') {
        throw invalid('the session token lacks its session id');
      }
      return {
        sub: payload.sub,
        sid: payload.sid,
        ...(typeof payload.uid === 'string' ? { uid: payload.uid } : {}),
        iat: payload.iat as number,
        exp: payload.exp as number,
      };
    } catch (error) {
      if (error instanceof GuardError) throw error;
      if (error instanceof joseErrors.JWTExpired) {
        throw new GuardError('SESSION_EXPIRED', 'the session token expired: refresh it, or log in again');
      }
      throw invalid('the session token is not valid: log in again');
    }
  }
}

function invalid(message: string): GuardError {
  return new GuardError('SESSION_INVALID', message);
}

function resolveKey(key: SessionKey, index: number): ResolvedKey {
  const where = `createGuard: keys[${index}]`;
  if (typeof key !== 'object' || key === null)
    throw new ConfigError('INVALID_CONFIG', `${where} must be an object`);
  if (typeof key.kid !== 'string' || !KID.test(key.kid)) {
    throw new ConfigError('INVALID_CONFIG', `${where}.kid must be 1-64 characters of [A-Za-z0-9._-]`);
  }
  if (key.alg === 'HS256') {
    const secret = typeof key.secret === 'string' ? new TextEncoder().encode(key.secret) : key.secret;
    if (!(secret instanceof Uint8Array)) {
      throw new ConfigError('INVALID_CONFIG', `${where}.secret is missing (an unset environment variable?)`);
    }
    if (secret.byteLength < 32) {
      throw new ConfigError(
        'INVALID_CONFIG',
        `${where}.secret has ${secret.byteLength} bytes; HS256 needs at least 32 (e.g. openssl rand -base64 48)`,
      );
    }
    // A KeyObject: jose imports it once instead of on every call.
    const object = createSecretKey(secret);
    return { kid: key.kid, alg: 'HS256', sign: object, verify: object };
  }
  if (key.alg === 'EdDSA' || key.alg === 'ES256') {
    let privateKey: KeyObject | undefined;
    let publicKey: KeyObject | undefined;
    try {
      privateKey =
        key.privateKey === undefined
          ? undefined
          : typeof key.privateKey === 'string'
            ? createPrivateKey(key.privateKey)
            : key.privateKey;
      publicKey =
        key.publicKey === undefined
          ? privateKey === undefined
            ? undefined
            : createPublicKey(privateKey)
          : typeof key.publicKey === 'string'
            ? createPublicKey(key.publicKey)
            : key.publicKey;
    } catch (error) {
      throw new ConfigError('BAD_KEY', `${where}: the key is not a PEM key Node can read`, { cause: error });
    }
    if (publicKey === undefined)
      throw new ConfigError('INVALID_CONFIG', `${where} needs publicKey (or privateKey)`);
    const type = publicKey.asymmetricKeyType;
    const curve = publicKey.asymmetricKeyDetails?.namedCurve;
    if (key.alg === 'EdDSA' && type !== 'ed25519') {
      throw new ConfigError('BAD_KEY', `${where}: EdDSA needs an Ed25519 key, got ${type}`);
    }
    if (key.alg === 'ES256' && (type !== 'ec' || curve !== 'prime256v1')) {
      throw new ConfigError(
        'BAD_KEY',
        `${where}: ES256 needs a P-256 EC key, got ${type}${curve ? ` (${curve})` : ''}`,
      );
    }
    return { kid: key.kid, alg: key.alg, sign: privateKey, verify: publicKey };
  }
  throw new ConfigError(
    'INVALID_CONFIG',
    `${where}.alg must be 'HS256', 'EdDSA' or 'ES256', got ${JSON.stringify((key as { alg?: unknown }).alg)}`,
  );
}

/** The signature segment of a JWT (the text after its last dot; the whole text if it has none). */
/**
 * The key of a verified token in the cache: the last 12 characters of its signature (72 bits).
 * Shorter than the whole signature, so V8 copies it into a fresh string instead of pointing into
 * the header, and hashing it for the lookup is cheap; a hit is confirmed against the whole token.
 */
function cacheKeyOf(token: string): string {
  return token.slice(-12);
}

function signatureOf(token: string): string {
  return token.slice(token.lastIndexOf('.') + 1);
}
