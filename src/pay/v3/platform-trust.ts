import type { SecretInput } from '../../core/secret-provider.js';
import type { SecretList } from '../../core/secret-source.js';
import type { TokenStore } from '../../credentials/token-store.js';
import { type LoadedCertificate, loadCertificate, loadPublicKey } from '../../crypto/keys.js';
import { decryptResource } from '../../crypto/pay-v3-aead.js';
import {
  type CertificateInput,
  type PayV3SignatureVerifier,
  PayV3Verifier,
  type PayV3VerifyRequest,
  type PublicKeyInput,
} from '../../crypto/pay-v3-verify.js';
import { ConfigError, CryptoError, SignatureError } from '../../errors.js';
import type { Clock } from '../../internal/bytes.js';
import { normalizeSerial } from '../../internal/cert-serial.js';
import { readPayV3Headers } from '../../internal/pay-v3-headers.js';
import { tokenKey } from '../../internal/store-keys.js';
import { parseVerifiedJson, payApiErrorOf, type RawAnswer } from './answer.js';
import { payV3ApiV3Keys } from './api-v3-keys.js';

/** How often certificates are re-downloaded when nothing prompts it (WeChat Pay suggests ≤ 12 h). */
const PERIODIC_REFRESH_MS = 12 * 60 * 60 * 1000;
/** Download again when a downloaded certificate expires within this time. */
const EXPIRY_MARGIN_MS = 24 * 60 * 60 * 1000;

interface StoredCertificate {
  serial_no: string;
  pem: string;
}

/** What {@link PayV3} builds a {@link PlatformTrust} from (internal plumbing, documented for completeness). */
export interface PlatformTrustOptions {
  mchid: string;
  /** The APIv3 key, or a list (current first), each a value or a secret provider. */
  apiV3Key: SecretInput | readonly SecretInput[];
  publicKey?: { id: string; key: PublicKeyInput };
  certificates?: CertificateInput[];
  autoCertificates: boolean;
  store?: TokenStore;
  now: Clock;
  refreshIntervalMs: number;
  /** Sends the signed `GET /v3/certificates` and answers it raw, not yet verified. */
  download: () => Promise<RawAnswer>;
}

/**
 * The platform keys a {@link PayV3} client trusts, and their upkeep: the WeChat Pay public key,
 * configured platform certificates, and — with `autoCertificates` — certificates downloaded from
 * `GET /v3/certificates`, decrypted with the APIv3 key, verified, shared through a store and
 * refreshed before they expire.
 *
 * Amplification: an answer naming an unknown serial triggers at most one download per
 * `refreshIntervalMs` (concurrent triggers share it), so forged `Wechatpay-Serial` headers cannot
 * make the client hammer WeChat Pay.
 *
 * Trust on first use: when nothing is configured (`autoCertificates: true` alone), the first
 * download cannot be checked against a key already trusted. It is accepted because each
 * `encrypt_certificate` is AES-256-GCM sealed with the APIv3 key, which only WeChat Pay and the
 * merchant hold (an attacker without that key cannot make one that decrypts), the answer must be
 * signed by one of the certificates it carries, and it arrives over TLS. The residual risk: anyone
 * who learns the APIv3 key can then impersonate WeChat Pay to this client. Configure the public
 * key or a certificate to remove it.
 *
 * One trust serves a client and its notification handler: pass `pay.platformTrust` as the
 * handler's `verifier`, so a notification signed with a rotated certificate is accepted the moment
 * the client (or, through `store`, another instance) has learnt it — or, when it arrives first,
 * triggers the same bounded refresh. Built by {@link PayV3}; not meant to be constructed directly.
 *
 * @example
 * const pay = new PayV3({ …, platform: { certificates: [platformCertPem] }, store: new RedisStore(redis) });
 * const notifications = createPayNotificationHandler({ apiV3Key, verifier: pay.platformTrust });
 */
export class PlatformTrust implements PayV3SignatureVerifier {
  readonly #options: PlatformTrustOptions;
  readonly #apiV3Keys: SecretList;
  readonly #publicKey: { id: string; key: ReturnType<typeof loadPublicKey> } | undefined;
  readonly #configured: LoadedCertificate[];
  #downloaded = new Map<string, { cert: LoadedCertificate; pem: string }>();
  #verifier: PayV3Verifier;
  #lastAttempt = Number.NEGATIVE_INFINITY;
  #nextPeriodic = Number.NEGATIVE_INFINITY;
  #inflight: Promise<void> | undefined;
  #storeLoaded = false;

  constructor(options: PlatformTrustOptions) {
    this.#options = options;
    this.#apiV3Keys = payV3ApiV3Keys(options.apiV3Key);
    this.#publicKey =
      options.publicKey === undefined
        ? undefined
        : { id: options.publicKey.id, key: loadPublicKey(options.publicKey.key) };
    this.#configured = (options.certificates ?? []).map((c) =>
      typeof c === 'object' && c !== null && 'serialNo' in c && 'x509' in c
        ? loadCertificate(c.x509)
        : loadCertificate(c as string),
    );
    this.#verifier = this.#build();
  }

  /** Serials and public-key id currently trusted (public values, safe to log). */
  knownSerials(): string[] {
    return this.#verifier.knownSerials();
  }

  #build(): PayV3Verifier {
    return new PayV3Verifier({
      certificates: [...this.#configured, ...[...this.#downloaded.values()].map((d) => d.cert)],
      ...(this.#options.publicKey === undefined ? {} : { publicKey: this.#options.publicKey }),
    });
  }

  #knows(serial: string): boolean {
    return this.#verifier.knownSerials().some((s) => normalizeSerial(s) === normalizeSerial(serial));
  }

  /**
   * Verifies a response or a notification (window, SIGNTEST probe, serial, signature over the raw
   * body) with the keys trusted now. A certificate serial not trusted yet — WeChat Pay rotated its
   * platform certificate — first triggers {@link refresh} (from the shared store, else one
   * download; at most once per `certificateRefreshIntervalMs`, concurrent callers share it), so a
   * forged serial cannot make it download more. Throws `SignatureError` when it must be refused.
   *
   * @example
   * await pay.platformTrust.verify({ headers: req.headers, body: rawBody }); // a notification
   */
  async verify(message: PayV3VerifyRequest): Promise<void> {
    await this.#upkeep();
    // Field by field, not `{ ...message, now }` (a spread followed by a property costs ~1 µs on Node 20).
    const request: PayV3VerifyRequest = {
      headers: message.headers,
      body: message.body,
      now: message.now ?? this.#options.now,
      ...(message.maxSkewSeconds === undefined ? {} : { maxSkewSeconds: message.maxSkewSeconds }),
    };
    try {
      this.#verifier.verify(request);
      return;
    } catch (error) {
      if (!(error instanceof SignatureError) || error.probe || !this.#options.autoCertificates) throw error;
      const serial = readPayV3Headers(message.headers).serial;
      if (
        error.code !== 'SIGNATURE_MISMATCH' ||
        serial === undefined ||
        serial === '' ||
        serial.startsWith('PUB_KEY_ID_') ||
        !/^[0-9A-Fa-f]{1,64}$/.test(serial) ||
        this.#knows(serial)
      ) {
        throw error;
      }
      await this.refresh(serial);
    }
    this.#verifier.verify(request);
  }

  /** The key to encrypt sensitive fields with: the public key if configured, else the newest valid certificate. */
  async encryptionKey(): Promise<{ serial: string; key: ReturnType<typeof loadPublicKey> }> {
    if (this.#publicKey) return { serial: this.#publicKey.id, key: this.#publicKey.key };
    await this.#upkeep();
    let cert = this.#newestValid();
    if (cert === undefined && this.#options.autoCertificates) {
      await this.refresh();
      cert = this.#newestValid();
    }
    if (cert === undefined) {
      throw new ConfigError(
        'INVALID_CONFIG',
        'no valid WeChat Pay platform key to encrypt with: configure platform.publicKey (PUB_KEY_ID_…) or a platform certificate, or enable autoCertificates',
      );
    }
    return { serial: cert.serialNo, key: cert.publicKey };
  }

  #newestValid(): LoadedCertificate | undefined {
    const now = this.#options.now();
    const valid = [...this.#configured, ...[...this.#downloaded.values()].map((d) => d.cert)].filter(
      (c) => c.validFrom.getTime() <= now && c.validTo.getTime() > now,
    );
    valid.sort((a, b) => b.validFrom.getTime() - a.validFrom.getTime());
    return valid[0];
  }

  /** Loads shared certificates once, and refreshes periodically / before expiry (never failing the call). */
  async #upkeep(): Promise<void> {
    if (!this.#options.autoCertificates) return;
    if (!this.#storeLoaded) {
      this.#storeLoaded = true;
      await this.#adoptFromStore().catch(() => false);
    }
    if (this.#downloaded.size > 0 && this.#options.now() >= this.#nextPeriodic) {
      await this.refresh().catch(() => undefined);
    }
  }

  /**
   * Refreshes the downloaded certificates: from the store when another instance has fresh ones
   * (holding `wantedSerial` if given), else from WeChat Pay. At most one download per
   * `refreshIntervalMs`; a call inside the interval returns without doing anything.
   */
  refresh(wantedSerial?: string): Promise<void> {
    if (this.#inflight) return this.#inflight;
    const now = this.#options.now();
    if (now - this.#lastAttempt < this.#options.refreshIntervalMs) return Promise.resolve();
    this.#lastAttempt = now;
    this.#inflight = this.#refresh(wantedSerial).finally(() => {
      this.#inflight = undefined;
    });
    return this.#inflight;
  }

  async #refresh(wantedSerial: string | undefined): Promise<void> {
    const fresh = await this.#adoptFromStore().catch(() => false);
    if (fresh && (wantedSerial === undefined || this.#knows(wantedSerial))) return;
    await this.#download();
  }

  #storeKey(): string {
    // Public facts only: the kind and the mchid, never a key.
    return tokenKey('pay_platform_certificates', this.#options.mchid);
  }

  /** Adopts certificates from the store; true when the stored set is still fresh. */
  async #adoptFromStore(): Promise<boolean> {
    const store = this.#options.store;
    if (store === undefined) return false;
    const entry = await store.get(this.#storeKey());
    if (entry === undefined) return false;
    let list: StoredCertificate[];
    try {
      list = JSON.parse(entry.value) as StoredCertificate[];
    } catch {
      return false;
    }
    if (!Array.isArray(list)) return false;
    const next = new Map<string, { cert: LoadedCertificate; pem: string }>();
    for (const item of list) {
      try {
        const cert = loadCertificate(item.pem);
        if (cert.validTo.getTime() > this.#options.now()) next.set(cert.serialNo, { cert, pem: item.pem });
      } catch {
        // A damaged entry is skipped; the next download replaces it.
      }
    }
    if (next.size === 0) return false;
    this.#install(next, entry.refreshAt);
    return entry.refreshAt > this.#options.now();
  }

  #install(next: Map<string, { cert: LoadedCertificate; pem: string }>, nextPeriodic: number): void {
    this.#downloaded = next;
    const soonest = Math.min(...[...next.values()].map((d) => d.cert.validTo.getTime()));
    this.#nextPeriodic = Math.min(nextPeriodic, soonest - EXPIRY_MARGIN_MS);
    this.#verifier = this.#build();
  }

  async #download(): Promise<void> {
    const answer = await this.#options.download();
    const now = this.#options.now;
    const serial = readPayV3Headers(answer.headers).serial ?? '';
    // Signed by a certificate we do not hold yet: nothing trusted (first use), or WeChat Pay already
    // signs with a new certificate we missed. Then the certificates authenticate themselves (see
    // the module comment) and must include the signer; otherwise the answer is verified like any
    // other, before it is read.
    const selfSigned = !serial.startsWith('PUB_KEY_ID_') && !this.#knows(serial);
    if (!selfSigned) this.#verifier.verify({ headers: answer.headers, body: answer.bytes, now });
    if (answer.status < 200 || answer.status > 299) {
      if (selfSigned) {
        throw new SignatureError(
          'SIGNATURE_MISMATCH',
          `GET /v3/certificates answered HTTP ${answer.status}, signed by no platform key this client trusts`,
        );
      }
      throw payApiErrorOf(answer, 'GET', '/v3/certificates');
    }
    const body = parseVerifiedJson(answer, 'GET', '/v3/certificates') as { data?: unknown } | undefined;
    const data = Array.isArray(body?.data) ? (body.data as Array<Record<string, unknown>>) : [];
    const next = new Map<string, { cert: LoadedCertificate; pem: string }>();
    let keys = await this.#apiV3Keys.values();
    for (const item of data) {
      const resource = (item.encrypt_certificate ?? {}) as Record<string, unknown>;
      let pem: string;
      try {
        pem = openCertificate(resource, keys);
      } catch (cause) {
        if (!(cause instanceof CryptoError && cause.code === 'DECRYPT_FAILED')) throw cause;
        // A provider may hold a key changed since it was read: read it again once.
        const fresh = await this.#apiV3Keys.changed(keys);
        if (fresh !== undefined) keys = fresh;
        try {
          if (fresh === undefined) throw cause;
          pem = openCertificate(resource, keys);
        } catch (again) {
          if (!(again instanceof CryptoError && again.code === 'DECRYPT_FAILED')) throw again;
          throw new CryptoError(
            'DECRYPT_FAILED',
            `a platform certificate from GET /v3/certificates does not decrypt with ${keys.length === 1 ? 'apiV3Key' : `any of the ${keys.length} apiV3Keys`}: the APIv3 key is wrong (it is the 32-character key set in 账户中心 → API安全 → APIv3密钥, not the APIv2 key), or the answer was altered`,
            { cause: again },
          );
        }
      }
      const cert = loadCertificate(pem);
      if (typeof item.serial_no === 'string' && normalizeSerial(item.serial_no) !== cert.serialNo) {
        throw new CryptoError(
          'BAD_CIPHERTEXT',
          `GET /v3/certificates announced serial ${item.serial_no} for a certificate whose serial is ${cert.serialNo}`,
        );
      }
      if (cert.validTo.getTime() > now()) next.set(cert.serialNo, { cert, pem });
    }
    if (next.size === 0) {
      throw new CryptoError('BAD_CIPHERTEXT', 'GET /v3/certificates returned no valid platform certificate');
    }
    if (selfSigned) {
      new PayV3Verifier({ certificates: [...next.values()].map((d) => d.cert) }).verify({
        headers: answer.headers,
        body: answer.bytes,
        now,
      });
    }
    const refreshAt = now() + PERIODIC_REFRESH_MS;
    this.#install(next, refreshAt);
    const store = this.#options.store;
    if (store !== undefined) {
      const expiresAt = Math.min(...[...next.values()].map((d) => d.cert.validTo.getTime()));
      const ttl = Math.max(1000, expiresAt - now());
      const value = JSON.stringify(
        [...next.values()].map((d): StoredCertificate => ({ serial_no: d.cert.serialNo, pem: d.pem })),
      );
      // Sharing is an optimisation: a store outage must not fail the call that needed the refresh.
      await store
        .set(this.#storeKey(), { value, expiresAt, refreshAt: Math.min(refreshAt, expiresAt) }, ttl)
        .catch(() => undefined);
    }
  }
}

/** Decrypts one `encrypt_certificate` with the first key, in list order, whose GCM tag verifies. */
function openCertificate(resource: Record<string, unknown>, keys: readonly string[]): string {
  let failure: unknown;
  for (const apiV3Key of keys) {
    try {
      return decryptResource({
        apiV3Key,
        algorithm: String(resource.algorithm ?? ''),
        ciphertext: String(resource.ciphertext ?? ''),
        nonce: String(resource.nonce ?? ''),
        associatedData: typeof resource.associated_data === 'string' ? resource.associated_data : '',
      });
    } catch (error) {
      // Only a failed tag means "another key"; a malformed resource fails the same with every key.
      if (!(error instanceof CryptoError && error.code === 'DECRYPT_FAILED')) throw error;
      failure = error;
    }
  }
  throw failure;
}
