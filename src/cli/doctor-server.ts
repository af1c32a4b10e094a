import { X509Certificate } from 'node:crypto';
import { request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { type RequestOptions as HttpsRequestOptions, request as httpsRequest } from 'node:https';
import { isIP } from 'node:net';
import {
  checkServerIdentity,
  connect,
  createSecureContext,
  type DetailedPeerCertificate,
  type PeerCertificate,
  rootCertificates,
  type SecureContext,
  type SecureVersion,
} from 'node:tls';
import { type Scheduler, systemScheduler } from '../internal/timers.js';

/**
 * `weixin-kit doctor --server https://host/path`: what WeChat requires of a backend's public
 * endpoint (a Mini Program's request domain, a callback URL, a Pay notify_url), checked from the
 * outside — TLS 1.2+, a chain that verifies without fetching intermediates, the host name, days
 * to expiry, HSTS, plain HTTP redirected, a JSON error answer. One ✓ / ! / ✗ line per check.
 */

type Level = 'ok' | 'warn' | 'error';

/** Where the checks write: one line per check, and notes (`- …`) that are no check. */
export interface ServerReport {
  line(level: Level, text: string): void;
  note(text: string): void;
}

/** Options of {@link checkServer}. */
export interface ServerCheckOptions {
  /** The https URL WeChat calls. */
  url: URL;
  /** The plain-HTTP address tried for the redirect check (default: `http://host/path`, port 80). */
  httpUrl: URL;
  /** PEM roots trusted besides Node's public roots (private PKI, tests). */
  extraCa: string[];
  /** Budget of each network step (connect + handshake, or connect + answer headers). */
  timeoutMs: number;
  /** Clock in ms for the days to expiry. */
  now: () => number;
  /** Where the step timers come from (tests: a manual scheduler). */
  scheduler?: Scheduler;
}

const DAY_MS = 86_400_000;
const ERROR_PATH = '__weixin_kit_doctor_404';
const HSTS_HINT = 'Strict-Transport-Security: max-age=31536000; includeSubDomains';
/**
 * Failures of the connection itself, before any TLS: no older-TLS probe can tell more. (A reset is
 * not one: some old servers reset a ClientHello that offers nothing they speak.)
 */
const NETWORK_ERRORS = new Set([
  'ECONNREFUSED',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ETIMEDOUT',
  'TIMEOUT',
]);

interface Target {
  host: string;
  port: number;
  /** SNI: a host name, never an IP address (RFC 6066). */
  servername: string | undefined;
}

function targetOf(url: URL, defaultPort: number): Target {
  const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
  return {
    host,
    port: url.port === '' ? defaultPort : Number(url.port),
    servername: isIP(host) === 0 ? host : undefined,
  };
}

function errorCode(error: unknown): string {
  const { code, message } = error as { code?: unknown; message?: unknown };
  if (typeof code === 'string') return code;
  return String(message ?? error).split('\n')[0] ?? 'error';
}

/** Runs `start(done)` and settles with the first `done(value)` or, after `ms`, with `onTimeout()`. */
function bounded<T>(
  scheduler: Scheduler,
  ms: number,
  onTimeout: () => T,
  start: (done: (value: T) => void) => () => void,
): Promise<T> {
  return new Promise((resolve) => {
    let settled = false;
    let stop: () => void = () => {};
    const timer = scheduler.setTimeout(() => finish(onTimeout()), ms);
    function finish(value: T): void {
      if (settled) return;
      settled = true;
      scheduler.clearTimeout(timer);
      stop();
      resolve(value);
    }
    stop = start(finish);
    if (settled) stop();
  });
}

type Handshake =
  | {
      ok: true;
      protocol: string;
      cipher: string;
      authorizationError: string | undefined;
      peer: DetailedPeerCertificate;
      /** What the server sent, leaf first, extended by Node with trusted issuers it found. */
      chain: X509Certificate[];
    }
  | { ok: false; code: string };

/** A client context trusting `ca` (built once per run: parsing the public roots is the slow part). */
function clientContext(
  ca: string[],
  settings: { minVersion: SecureVersion; maxVersion?: SecureVersion; ciphers?: string },
): SecureContext {
  return createSecureContext({ ca, ...settings });
}

function handshake(
  target: Target,
  secureContext: SecureContext,
  timeoutMs: number,
  scheduler: Scheduler,
): Promise<Handshake> {
  return bounded<Handshake>(
    scheduler,
    timeoutMs,
    () => ({ ok: false, code: 'TIMEOUT' }),
    (done) => {
      const socket = connect({
        host: target.host,
        port: target.port,
        ...(target.servername === undefined ? {} : { servername: target.servername }),
        secureContext,
        // Verified below, piece by piece: the chain (authorizationError) apart from the host name,
        // so that each gets its own line and its own fix.
        rejectUnauthorized: false,
        checkServerIdentity: () => undefined,
      });
      socket.once('secureConnect', () => {
        const peer = socket.getPeerCertificate(true);
        const cipher = socket.getCipher();
        done({
          ok: true,
          protocol: socket.getProtocol() ?? 'unknown',
          cipher: cipher.standardName ?? cipher.name,
          authorizationError:
            socket.authorizationError === null || socket.authorizationError === undefined
              ? undefined
              : String(socket.authorizationError),
          peer,
          chain: chainOf(peer),
        });
      });
      socket.once('error', (error) => done({ ok: false, code: errorCode(error) }));
      return () => socket.destroy();
    },
  );
}

function chainOf(peer: DetailedPeerCertificate): X509Certificate[] {
  const chain: X509Certificate[] = [];
  const seen = new Set<string>();
  // Node links each certificate to its issuer; a self-signed one links to itself.
  for (
    let cert: DetailedPeerCertificate | undefined = peer;
    cert?.raw !== undefined && !seen.has(cert.fingerprint256);
    cert = cert.issuerCertificate
  ) {
    seen.add(cert.fingerprint256);
    chain.push(new X509Certificate(cert.raw));
  }
  return chain;
}

/** `CN=…` of a distinguished name as X509Certificate prints it (one attribute per line). */
function commonName(dn: string): string {
  const cn = dn.split('\n').find((part) => part.startsWith('CN='));
  return cn === undefined ? dn.replace(/\n/g, ', ') : cn.slice(3);
}

const selfSigned = (cert: X509Certificate): boolean => cert.checkIssued(cert) && cert.verify(cert.publicKey);
const issuedBy = (cert: X509Certificate, issuer: X509Certificate): boolean =>
  cert.fingerprint256 === issuer.fingerprint256 ||
  (cert.checkIssued(issuer) && cert.verify(issuer.publicKey));

function dateOf(text: string): Date {
  return new Date(Date.parse(text));
}

function isoDay(date: Date): string {
  return date.toISOString().slice(0, 10);
}

function checkChain(
  report: ServerReport,
  hand: Extract<Handshake, { ok: true }>,
  extraCa: string[],
  now: number,
): void {
  const { chain, authorizationError } = hand;
  const leaf = chain[0];
  const top = chain[chain.length - 1];
  if (leaf === undefined || top === undefined) {
    report.line('error', 'chain: the server sent no certificate');
    return;
  }
  const path = chain.map((cert) => commonName(cert.subject)).join(' ← ');
  const viaCa = extraCa.some((pem) => issuedBy(top, new X509Certificate(pem)));
  const caNote = viaCa ? ' (a root given with --ca: WeChat itself trusts only public roots)' : '';
  if (authorizationError === undefined) {
    report.line('ok', `chain: ${path} verifies to a trusted root, intermediates sent${caNote}`);
    return;
  }
  if (authorizationError === 'CERT_HAS_EXPIRED' || authorizationError === 'CERT_NOT_YET_VALID') {
    // The chain was built up to a trusted root (dates are judged after that); which one is out of date?
    const outOfDate = chain
      .slice(1)
      .find((cert) => dateOf(cert.validTo).getTime() < now || dateOf(cert.validFrom).getTime() > now);
    if (outOfDate === undefined) {
      report.line('ok', `chain: ${path} verifies to a trusted root, intermediates sent${caNote}`);
    } else {
      report.line(
        'error',
        `chain: ${commonName(outOfDate.subject)} in the chain is valid ${isoDay(dateOf(outOfDate.validFrom))} – ${isoDay(dateOf(outOfDate.validTo))}: install your CA's current intermediate certificate`,
      );
    }
    return;
  }
  const trusted = [...rootCertificates, ...extraCa].map((pem) => new X509Certificate(pem));
  if (trusted.some((root) => issuedBy(top, root))) {
    report.line('error', `chain: ${path} reaches a trusted root but does not verify (${authorizationError})`);
    return;
  }
  if (chain.length === 1 && selfSigned(leaf)) {
    report.line(
      'error',
      `chain: the certificate is self-signed (${commonName(leaf.subject)}): WeChat accepts only certificates from a public CA (for a test CA, pass its root with --ca FILE)`,
    );
    return;
  }
  if (chain.length === 1) {
    // Node (like WeChat's clients) does not fetch a missing issuer from the leaf's AIA URL.
    const aia = /CA Issuers - URI:(\S+)/.exec(leaf.infoAccess ?? '')?.[1];
    report.line(
      'error',
      `chain: the server does not send its intermediate certificate(s): configure the full chain (leaf + intermediates) — the leaf's issuer "${commonName(leaf.issuer)}" was neither sent nor a trusted root${aia === undefined ? '' : ` (the CA publishes it at ${aia})`}; for a private CA, pass its root with --ca FILE`,
    );
    return;
  }
  report.line(
    'error',
    `chain: ${path} ends at "${commonName(selfSigned(top) ? top.subject : top.issuer)}", which is not a trusted root (${authorizationError}): WeChat needs a certificate from a public CA; for a private CA, pass its root with --ca FILE`,
  );
}

function checkHostname(report: ServerReport, target: Target, peer: PeerCertificate): void {
  const error = checkServerIdentity(target.host, peer);
  const names = peer.subjectaltname ?? `CN=${peer.subject?.CN ?? '?'}`;
  if (error === undefined) {
    report.line('ok', `hostname: ${target.host} matches the certificate (${names})`);
  } else {
    report.line(
      'error',
      `hostname: the certificate does not name ${target.host} (it names ${names}): get one whose subjectAltName holds ${isIP(target.host) === 0 ? 'DNS' : 'IP Address'}:${target.host}, or call the host it names`,
    );
  }
}

function checkExpiry(report: ServerReport, leaf: X509Certificate, now: number): void {
  const from = dateOf(leaf.validFrom);
  const to = dateOf(leaf.validTo);
  const days = Math.floor((to.getTime() - now) / DAY_MS);
  if (to.getTime() < now) {
    report.line(
      'error',
      `expiry: the certificate expired on ${to.toISOString()} (${Math.floor((now - to.getTime()) / DAY_MS)} days ago): renew it (and automate renewal)`,
    );
  } else if (from.getTime() > now) {
    report.line(
      'error',
      `expiry: the certificate is valid only from ${from.toISOString()}: check the clock of this machine and of the server`,
    );
  } else if (days < 30) {
    report.line(
      'warn',
      `expiry: the certificate expires on ${to.toISOString()} (in ${days} days): renew it now (and automate renewal)`,
    );
  } else {
    report.line('ok', `expiry: valid until ${to.toISOString()} (${days} days left)`);
  }
}

/**
 * https.request options that reuse the run's client context: `secureContext` reaches tls.connect
 * through the agent, though @types/node leaves it out of RequestOptions.
 */
function tlsRequestOptions(
  options: HttpsRequestOptions,
  target: Target,
  secureContext: SecureContext,
): HttpsRequestOptions {
  const withContext: HttpsRequestOptions & { secureContext: SecureContext } = {
    ...options,
    ...(target.servername === undefined ? {} : { servername: target.servername }),
    secureContext,
    // The TLS lines already judged the certificate; these requests only read the answer's headers.
    rejectUnauthorized: false,
  };
  return withContext;
}

type Answer = { ok: true; status: number; headers: IncomingHttpHeaders } | { ok: false; code: string };

/** GET `url`, resolving with the status and headers (the body is not read). */
function fetchHeaders(
  url: URL,
  secureContext: SecureContext | undefined,
  timeoutMs: number,
  scheduler: Scheduler,
): Promise<Answer> {
  const target = targetOf(url, secureContext === undefined ? 80 : 443);
  return bounded<Answer>(
    scheduler,
    timeoutMs,
    () => ({ ok: false, code: 'TIMEOUT' }),
    (done) => {
      const options = {
        host: target.host,
        port: target.port,
        path: `${url.pathname}${url.search}`,
        method: 'GET',
        agent: false as const,
        headers: { host: url.host, 'user-agent': 'weixin-kit doctor', accept: '*/*' },
      };
      const req =
        secureContext === undefined
          ? httpRequest(options)
          : httpsRequest(tlsRequestOptions(options, target, secureContext));
      req.once('response', (res) => {
        done({ ok: true, status: res.statusCode ?? 0, headers: res.headers });
        res.destroy();
      });
      req.once('error', (error) => done({ ok: false, code: errorCode(error) }));
      req.end();
      return () => req.destroy();
    },
  );
}

function checkHsts(report: ServerReport, url: URL, answer: Answer): void {
  if (!answer.ok) {
    report.line('warn', `HSTS: cannot GET ${url.href} (${answer.code}): not checked`);
    return;
  }
  const value = answer.headers['strict-transport-security'];
  const maxAge = /max-age\s*=\s*"?(\d+)/i.exec(value ?? '')?.[1];
  if (value === undefined) {
    report.line(
      'warn',
      `HSTS: no Strict-Transport-Security header on the https answer: add "${HSTS_HINT}" (weixin-kit/guard sends it by default)`,
    );
  } else if (maxAge === undefined || Number(maxAge) === 0) {
    report.line(
      'warn',
      `HSTS: "Strict-Transport-Security: ${value}" has no lasting max-age: use "${HSTS_HINT}"`,
    );
  } else {
    report.line('ok', `HSTS: Strict-Transport-Security: ${value}`);
  }
}

function checkErrorAnswer(report: ServerReport, url: URL, answer: Answer): void {
  if (!answer.ok) {
    report.line('warn', `error answer: cannot GET ${url.href} (${answer.code}): not checked`);
    return;
  }
  if (answer.status < 400) {
    report.line(
      'warn',
      `error answer: ${url.href} answered ${answer.status}, not an error: unknown paths should answer 404 (not checked)`,
    );
    return;
  }
  const type = answer.headers['content-type'] ?? '';
  if (/^application\/(?:[\w.-]+\+)?json\b/i.test(type)) {
    report.line('ok', `error answer: ${answer.status} for an unknown path is JSON (${type})`);
  } else {
    report.line(
      'warn',
      `error answer: ${answer.status} for an unknown path is ${type === '' ? 'without Content-Type' : type}, not JSON: wx.request parses JSON — answer errors as JSON (weixin-kit/guard answers { error: { code, message, requestId } })`,
    );
  }
}

function checkPlainHttp(report: ServerReport, httpUrl: URL, answer: Answer): void {
  const where = httpUrl.href;
  if (!answer.ok) {
    report.line(
      'warn',
      `plain HTTP: cannot reach ${where} (${answer.code}): fine if port 80 is closed on purpose; if it is open, redirect it to https (--http-url for another address)`,
    );
    return;
  }
  const { status } = answer;
  const location = answer.headers.location;
  if ([301, 302, 307, 308].includes(status) && location !== undefined) {
    let to: URL | undefined;
    try {
      to = new URL(location, httpUrl);
    } catch {
      to = undefined;
    }
    if (to?.protocol === 'https:') {
      report.line('ok', `plain HTTP: ${where} redirects (${status}) to ${to.href}`);
    } else {
      report.line(
        'error',
        `plain HTTP: ${where} redirects (${status}) to ${location}, not to https: redirect to the https:// URL`,
      );
    }
    return;
  }
  const fix = `redirect every plain-HTTP request to https (301), as weixin-kit/guard does by default`;
  if (status >= 400) {
    report.line('warn', `plain HTTP: ${where} answers ${status} instead of redirecting: ${fix}`);
  } else {
    report.line('error', `plain HTTP: ${where} serves content in clear (${status}): ${fix}`);
  }
}

/** The default plain-HTTP address: the same host and path on port 80 (see the doctor's help). */
export function defaultHttpUrl(url: URL): URL {
  const http = new URL(url.href);
  http.protocol = 'http:';
  http.port = '';
  return http;
}

/** Every certificate in a PEM text (several may be concatenated). */
export function pemCertificates(text: string): string[] {
  return text.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
}

/** Runs the checks of `doctor --server`, writing one line each. */
export async function checkServer(report: ServerReport, options: ServerCheckOptions): Promise<void> {
  const { url, httpUrl, timeoutMs } = options;
  const scheduler = options.scheduler ?? systemScheduler;
  const now = options.now();
  const target = targetOf(url, 443);
  // With `ca`, Node trusts only what it is given: the public roots are passed along.
  const ca = [...rootCertificates, ...options.extraCa];
  const modern = clientContext(ca, { minVersion: 'TLSv1.2' });
  const where = `${target.host}:${target.port}`;

  const hand = await handshake(target, modern, timeoutMs, scheduler);
  if (hand.ok) {
    report.line('ok', `TLS: ${hand.protocol} (${hand.cipher}) with ${where}; WeChat requires TLS 1.2+`);
    checkChain(report, hand, options.extraCa, now);
    checkHostname(report, target, hand.peer);
    const leaf = hand.chain[0];
    if (leaf !== undefined) checkExpiry(report, leaf, now);
    checkHsts(report, url, await fetchHeaders(url, modern, timeoutMs, scheduler));
    const errorUrl = new URL(url.href);
    errorUrl.search = '';
    errorUrl.hash = '';
    errorUrl.pathname = `${errorUrl.pathname.replace(/\/+$/, '')}/${ERROR_PATH}`;
    checkErrorAnswer(report, errorUrl, await fetchHeaders(errorUrl, modern, timeoutMs, scheduler));
  } else if (NETWORK_ERRORS.has(hand.code)) {
    report.line(
      'error',
      `TLS: cannot connect to ${where} (${hand.code === 'TIMEOUT' ? `no handshake within ${timeoutMs} ms` : hand.code})`,
    );
  } else {
    // Does it speak an older TLS? Asked with OpenSSL's old-protocol ciphers allowed (security level 0).
    const legacy = await handshake(
      target,
      clientContext(ca, { minVersion: 'TLSv1', maxVersion: 'TLSv1.1', ciphers: 'DEFAULT:@SECLEVEL=0' }),
      timeoutMs,
      scheduler,
    );
    report.line(
      'error',
      legacy.ok
        ? `TLS: ${where} offers only ${legacy.protocol}: WeChat requires TLS 1.2+ — enable TLSv1.2 and TLSv1.3 on the server`
        : `TLS: no TLS 1.2+ handshake with ${where} (${hand.code}): WeChat requires TLS 1.2+`,
    );
  }
  if (!hand.ok)
    report.note('chain, hostname, expiry, HSTS, error answer: not checked (no TLS 1.2+ handshake)');
  checkPlainHttp(report, httpUrl, await fetchHeaders(httpUrl, undefined, timeoutMs, scheduler));
}
