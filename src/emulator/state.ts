import { generateKeyPairSync, type KeyObject, randomBytes } from 'node:crypto';
import { EmulatedClock, type ScheduledWork } from './clock.js';
import type { ResolvedEmulatorConfig } from './config.js';
import { mintCertificate, platformSerialNo } from './x509.js';

/** A fault to inject into the next calls of a path (see `POST /_emulator/faults`). */
export interface Fault {
  /** Exact pathname, or `*` for every API path (never the control plane). */
  path: string;
  /** How many calls it applies to (default 1; 0 = until cleared). */
  remaining: number;
  /** Answer with this errcode instead of serving the call. */
  errcode?: number;
  errmsg?: string;
  /** Delay the answer by this many ms. */
  latencyMs?: number;
  /** Destroy the connection without answering. */
  drop?: boolean;
  /** Send only the first half of the body. */
  truncate?: boolean;
}

/** One WeChat Pay platform certificate and its key pair. */
export interface PlatformCertificate {
  serialNo: string;
  pem: string;
  privateKey: KeyObject;
  publicKey: KeyObject;
}

/**
 * The emulator's WeChat Pay platform identity: its platform certificates (oldest first, newest
 * last; `POST /_emulator/pay/rotate-certificate` adds one) and one public key (with id).
 */
export interface PlatformKeys {
  /** The current certificates, newest last; never empty. */
  certificates: PlatformCertificate[];
  /** The newest certificate: the one responses and notifications are signed with. */
  readonly certificate: PlatformCertificate;
  publicKey: { id: string; pem: string; privateKey: KeyObject; publicKey: KeyObject };
}

/** Counters served at `GET /_emulator/stats`. */
export interface EmulatorStats {
  tokensIssued: Record<string, number>;
  calls: Record<string, number>;
  notifications: Record<string, number>;
  pushes: Record<string, number>;
}

/** A new platform certificate: fresh RSA key, random 40-hex-digit serial, valid from `notBefore`. */
function platformCertificate(notBefore: number): PlatformCertificate {
  const cert = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const serialNo = platformSerialNo();
  const pem = mintCertificate({
    serialHex: serialNo,
    publicKey: cert.publicKey,
    signingKey: cert.privateKey,
    commonName: 'Tenpay.com Root CA (weixin-kit emulator)',
    notBefore: new Date(notBefore),
    notAfter: new Date(notBefore + 5 * 365 * 86_400_000),
  });
  return { serialNo, pem, privateKey: cert.privateKey, publicKey: cert.publicKey };
}

function platformKeys(): PlatformKeys {
  const pub = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const id = `PUB_KEY_ID_01${String(Date.now()).padStart(16, '0')}${randomBytes(5).toString('hex').slice(0, 8).replace(/[a-f]/g, '0')}`;
  return {
    certificates: [platformCertificate(Date.now() - 86_400_000)],
    get certificate(): PlatformCertificate {
      return this.certificates[this.certificates.length - 1] as PlatformCertificate;
    },
    publicKey: {
      id,
      pem: pub.publicKey.export({ type: 'spki', format: 'pem' }).toString(),
      privateKey: pub.privateKey,
      publicKey: pub.publicKey,
    },
  };
}

/**
 * Everything the emulator knows, shared by its route modules: configuration, the emulated clock
 * (and the work scheduled on it), platform keys, counters and pending faults. Each module keeps
 * its own records (tokens, codes, orders…) in its own closure, created when the module registers
 * its routes.
 */
export class EmulatorState {
  readonly config: ResolvedEmulatorConfig;
  readonly platform: PlatformKeys;
  readonly stats: EmulatorStats = { tokensIssued: {}, calls: {}, notifications: {}, pushes: {} };
  faults: Fault[] = [];
  /** Emulated time and delayed work (refund settlement, retries, delayed pushes). */
  readonly clock: EmulatedClock;

  constructor(config: ResolvedEmulatorConfig) {
    this.config = config;
    this.clock = new EmulatedClock(config.options.clock);
    this.platform = platformKeys();
  }

  /** Emulated time in ms: the base clock plus whatever `POST /_emulator/clock` added. */
  now(): number {
    return this.clock.now();
  }

  /** Emulated time in Unix seconds. */
  nowSeconds(): number {
    return Math.floor(this.now() / 1000);
  }

  /** Moves emulated time by `seconds` and runs the delayed work that falls due by then. */
  advance(seconds: number): void {
    this.clock.advance(seconds * 1000);
  }

  /** True once the emulator closed: background work stops. */
  get closed(): boolean {
    return this.clock.closed;
  }

  /** Stops background work: pending delayed work is dropped, pending push timeouts abort. */
  close(): void {
    this.clock.close();
  }

  /**
   * Rotates the platform certificate: mints a new one valid from now (emulated time, whole
   * seconds) and appends it, so it signs from now on. `retireOld` drops the older ones, as
   * WeChat Pay stops listing a certificate once it expires.
   */
  rotateCertificate(retireOld = false): PlatformCertificate {
    const fresh = platformCertificate(Math.floor(this.now() / 1000) * 1000);
    if (retireOld) this.platform.certificates.length = 0;
    this.platform.certificates.push(fresh);
    return fresh;
  }

  app(appId: string | null | undefined) {
    return this.config.apps.find((a) => a.appId === appId);
  }

  merchant(mchid: string | null | undefined) {
    return this.config.merchants.find((m) => m.mchid === mchid);
  }

  /** Adds to a counter of `stats`. */
  count(kind: keyof EmulatorStats, key: string, by = 1): void {
    this.stats[kind][key] = (this.stats[kind][key] ?? 0) + by;
  }

  /**
   * Runs `fn` once `ms` of emulated time have passed (see {@link EmulatedClock}), unless the
   * emulator closes first.
   */
  later(ms: number, fn: () => void | Promise<void>, label = 'delayed work'): ScheduledWork {
    return this.clock.schedule(ms, label, fn);
  }

  /** A random identifier of `n` alphanumerics. */
  randomId(n: number): string {
    return randomBytes(n * 2)
      .toString('base64')
      .replace(/[^A-Za-z0-9]/g, '')
      .slice(0, n);
  }
}
