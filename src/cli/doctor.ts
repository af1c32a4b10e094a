import { createPublicKey, type KeyObject, X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { type LoadedCertificate, loadCertificate, loadPrivateKey, loadPublicKey } from '../crypto/keys.js';
import { decodeEncodingAESKey } from '../crypto/message-cipher.js';
import { ArgumentError, WeChatKitError } from '../errors.js';
import type { Scheduler } from '../internal/timers.js';
import { checkServer, defaultHttpUrl, pemCertificates } from './doctor-server.js';
import { type CommandHelp, printCommandUsage } from './usage.js';

/**
 * `weixin-kit doctor --config file.json [--time-url URL]`: checks a configuration without
 * calling WeChat and prints one line per check — ✓ fine, ! worth a look, ✗ will not work.
 * Secrets are never printed. Relative key paths are resolved against the config file's folder.
 * `--server https://…` checks the backend's public endpoint as WeChat sees it (doctor-server.ts).
 */

type Out = (line: string) => void;
type Level = 'ok' | 'warn' | 'error';

const MARK: Record<Level, string> = { ok: '✓', warn: '!', error: '✗' };
const DAY_MS = 86_400_000;
const DEFAULT_TIMEOUT_MS = 5000;

interface PayConfig {
  mchid?: unknown;
  merchantSerialNo?: unknown;
  privateKeyPath?: unknown;
  apiV3Key?: unknown;
  apiV2Key?: unknown;
  platformPublicKeyPath?: unknown;
  platformPublicKeyId?: unknown;
  platformCertificatePaths?: unknown;
}

interface DoctorConfig {
  appId?: unknown;
  secret?: unknown;
  token?: unknown;
  encodingAESKey?: unknown;
  pay?: PayConfig;
}

const TOP_FIELDS = new Set(['appId', 'secret', 'token', 'encodingAESKey', 'pay']);
const PAY_FIELDS = new Set([
  'mchid',
  'merchantSerialNo',
  'privateKeyPath',
  'apiV3Key',
  'apiV2Key',
  'platformPublicKeyPath',
  'platformPublicKeyId',
  'platformCertificatePaths',
]);

/** The keys doctor reads, as the usage text and the "nothing to check" error name them. */
const KNOWN_KEYS = `appId, secret, token, encodingAESKey, pay { ${[...PAY_FIELDS].join(', ')} }`;

/** `weixin-kit doctor --help`. */
export const DOCTOR_HELP: CommandHelp = {
  synopsis:
    'doctor [--config file.json] [--time-url https://…] [--server https://host/path [--ca FILE] [--http-url URL] [--timeout-ms 5000]]',
  description: [
    'Check a configuration offline, a backend’s public endpoint, or both. One line per check',
    '(✓ ok, ! warning, ✗ error); exit code 1 when any check fails. Secrets are never printed.',
    '  --config FILE        JSON holding any of appId, secret, token, encodingAESKey and pay {',
    '                       mchid, merchantSerialNo, privateKeyPath, apiV3Key, apiV2Key,',
    '                       platformPublicKeyPath, platformPublicKeyId, platformCertificatePaths };',
    '                       relative paths are read from the config file’s folder. A file holding',
    '                       none of these keys fails (nothing checked).',
    '  --time-url URL       compare the local clock with that server’s Date header.',
    '  --server URL         the https URL WeChat calls (request domain, callback, notify_url):',
    '                       TLS 1.2+; a chain that verifies to a public root with the intermediates',
    '                       sent (missing ones are not fetched: many clients do not fetch them); the',
    '                       host name; days to expiry (! under 30); HSTS; plain HTTP redirected to',
    '                       https; a JSON Content-Type on an error answer (GET URL/__weixin_kit_doctor_404).',
    '  --ca FILE            trust this root too (private PKI, tests); repeatable, or several PEMs',
    '                       in one file.',
    '  --http-url URL       where plain HTTP is tried; default http://host/path on port 80 (where a',
    '                       typed domain lands), even when --server names another port.',
    '  --timeout-ms N       budget of each network step (default 5000).',
  ].join('\n'),
};

export interface DoctorOptions {
  /** Clock in milliseconds; defaults to `Date.now` (tests pin certificate validity with it). */
  now?: () => number;
  /** Timers of the `--server` network steps (default: the global timers; tests: a manual one). */
  scheduler?: Scheduler;
}

class Report {
  readonly counts: Record<Level, number> = { ok: 0, warn: 0, error: 0 };
  constructor(private readonly out: Out) {}
  line(level: Level, text: string): void {
    this.counts[level]++;
    this.out(`${MARK[level]} ${text}`);
  }
  /** A line that is no check (something not checked, and why). */
  note(text: string): void {
    this.out(`- ${text}`);
  }
}

function errorText(error: unknown): string {
  return error instanceof WeChatKitError ? `${error.code}: ${error.message}` : (error as Error).message;
}

function readConfig(path: string): DoctorConfig {
  let raw: string;
  try {
    raw = readFileSync(path, 'utf8');
  } catch (error) {
    throw new WeChatKitError(
      'INVALID_CONFIG',
      `cannot read --config ${path}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`,
    );
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch (error) {
    throw new WeChatKitError(
      'INVALID_CONFIG',
      `--config ${path} is not valid JSON: ${(error as Error).message}`,
    );
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new WeChatKitError('INVALID_CONFIG', `--config ${path} must hold a JSON object`);
  }
  return parsed as DoctorConfig;
}

function urlArg(option: string, value: string, protocol: 'http:' | 'https:', example: string): URL {
  let url: URL | undefined;
  try {
    url = new URL(value);
  } catch {
    url = undefined;
  }
  if (url?.protocol !== protocol) {
    throw new ArgumentError(
      `${option} must be an ${protocol.slice(0, -1)}:// URL, e.g. ${example}; got "${value}"`,
    );
  }
  return url;
}

/** The roots of every --ca file (each may hold several PEM certificates). */
function readCaFiles(paths: string[]): string[] {
  return paths.flatMap((path) => {
    let text: string;
    try {
      text = readFileSync(path, 'utf8');
    } catch (error) {
      throw new WeChatKitError(
        'INVALID_CONFIG',
        `cannot read --ca ${path}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`,
      );
    }
    const pems = pemCertificates(text);
    if (pems.length === 0) {
      throw new WeChatKitError(
        'INVALID_CONFIG',
        `--ca ${path} holds no PEM certificate (-----BEGIN CERTIFICATE-----)`,
      );
    }
    for (const pem of pems) {
      try {
        new X509Certificate(pem);
      } catch (error) {
        throw new WeChatKitError(
          'INVALID_CONFIG',
          `--ca ${path} holds a certificate that cannot be read: ${(error as Error).message}`,
        );
      }
    }
    return pems;
  });
}

function isText(value: unknown): value is string {
  return typeof value === 'string' && value !== '';
}

function readFileFor(report: Report, label: string, base: string, path: unknown): string | undefined {
  if (!isText(path)) {
    report.line('error', `${label}: the path must be a non-empty string`);
    return undefined;
  }
  try {
    return readFileSync(resolve(base, path), 'utf8');
  } catch (error) {
    report.line(
      'error',
      `${label}: cannot read ${path}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`,
    );
    return undefined;
  }
}

function checkApp(report: Report, config: DoctorConfig): void {
  const { appId, secret, token, encodingAESKey } = config;
  if (appId !== undefined) {
    if (typeof appId === 'string' && /^wx[0-9a-f]{16}$/.test(appId)) {
      report.line('ok', `appId ${appId} has the expected shape (wx + 16 hex digits)`);
    } else if (typeof appId === 'string' && /^w[xw][0-9A-Za-z]{16}$/.test(appId)) {
      report.line('warn', `appId ${appId} is 18 characters but not wx + 16 lowercase hex digits: check it`);
    } else {
      report.line('error', 'appId must be "wx" followed by 16 hex digits (开发 → 基本配置 → AppID)');
    }
  }
  if (secret !== undefined || appId !== undefined) {
    if (!isText(secret)) {
      report.line(
        appId === undefined ? 'error' : 'warn',
        'secret (AppSecret) is not set: access tokens cannot be fetched',
      );
    } else if (!/^[0-9a-f]{32}$/i.test(secret)) {
      report.line(
        'warn',
        `secret is set (${secret.length} characters, not shown) but is not 32 hex digits: check it`,
      );
    } else {
      report.line('ok', 'secret is set (32 hex digits, not shown)');
    }
  }
  if (token !== undefined) {
    if (typeof token === 'string' && /^[A-Za-z0-9]{3,32}$/.test(token)) {
      report.line('ok', `token is ${token.length} letters/digits (3–32 allowed)`);
    } else {
      const length = typeof token === 'string' ? token.length : 0;
      report.line(
        'error',
        `token must be 3–32 English letters or digits (got ${length} characters${typeof token === 'string' && /[^A-Za-z0-9]/.test(token) ? ' including other characters' : ''}); it must equal the console's 令牌(Token)`,
      );
    }
  }
  if (encodingAESKey !== undefined) {
    try {
      decodeEncodingAESKey(encodingAESKey as string);
      report.line('ok', 'encodingAESKey decodes to 32 bytes');
    } catch (error) {
      report.line('error', `encodingAESKey: ${errorText(error)}`);
    }
  }
}

function keyFormat(pem: string): string {
  if (pem.includes('BEGIN RSA PRIVATE KEY')) return 'PKCS#1';
  if (pem.includes('BEGIN PRIVATE KEY')) return 'PKCS#8';
  return 'DER';
}

function sameKey(a: KeyObject, b: KeyObject): boolean {
  const der = (k: KeyObject) => k.export({ type: 'spki', format: 'der' });
  return der(a).equals(der(b));
}

function checkPay(report: Report, pay: PayConfig, base: string, now: number): void {
  for (const name of Object.keys(pay)) {
    if (!PAY_FIELDS.has(name)) report.line('warn', `pay.${name} is not a known field (typo?)`);
  }
  const { mchid, merchantSerialNo, apiV3Key, apiV2Key, platformPublicKeyId } = pay;
  if (mchid === undefined) report.line('error', 'pay.mchid is not set');
  else if (typeof mchid === 'string' && /^\d{8,10}$/.test(mchid))
    report.line('ok', `pay.mchid ${mchid} is numeric`);
  else report.line('error', 'pay.mchid must be the merchant number: a string of 8–10 digits (商户号)');

  let merchantKey: KeyObject | undefined;
  if (pay.privateKeyPath === undefined) {
    report.line('error', 'pay.privateKeyPath is not set: requests cannot be signed');
  } else {
    const pem = readFileFor(report, 'pay.privateKeyPath', base, pay.privateKeyPath);
    if (pem !== undefined) {
      try {
        merchantKey = loadPrivateKey(pem);
        const bits = merchantKey.asymmetricKeyDetails?.modulusLength ?? 0;
        report.line(
          bits >= 2048 ? 'ok' : 'warn',
          `pay.privateKeyPath loads: RSA ${bits}-bit private key (${keyFormat(pem)})${bits >= 2048 ? '' : '; WeChat Pay issues 2048-bit keys'}`,
        );
      } catch (error) {
        report.line('error', `pay.privateKeyPath: ${errorText(error)}`);
      }
    }
  }

  if (merchantSerialNo === undefined) {
    report.line('error', 'pay.merchantSerialNo is not set (the serial of apiclient_cert.pem)');
  } else if (typeof merchantSerialNo === 'string' && /^[0-9A-F]{40}$/.test(merchantSerialNo)) {
    report.line('ok', `pay.merchantSerialNo ${merchantSerialNo} is 40 hex digits`);
  } else if (typeof merchantSerialNo === 'string' && /^[0-9A-Fa-f]+$/.test(merchantSerialNo)) {
    report.line(
      'warn',
      `pay.merchantSerialNo is hex but not 40 upper-case digits (${merchantSerialNo.length}): copy it from 商户平台 → API安全 → 管理证书, or run \`openssl x509 -noout -serial -in apiclient_cert.pem\``,
    );
  } else {
    report.line(
      'error',
      'pay.merchantSerialNo must be the certificate serial in hex (e.g. 1DDE55AD98ED71D6EDD4A4A16996DE7B47773A8C)',
    );
  }

  if (apiV3Key === undefined) {
    report.line('warn', 'pay.apiV3Key is not set: notifications and encrypted resources cannot be decrypted');
  } else {
    const bytes = typeof apiV3Key === 'string' ? Buffer.byteLength(apiV3Key, 'utf8') : 0;
    if (bytes === 32) report.line('ok', 'pay.apiV3Key is 32 bytes (not shown)');
    else
      report.line(
        'error',
        `pay.apiV3Key is ${bytes} bytes; the APIv3 key is exactly 32 bytes (商户平台 → API安全 → APIv3密钥)`,
      );
  }
  if (apiV2Key !== undefined) {
    const length = typeof apiV2Key === 'string' ? apiV2Key.length : 0;
    if (length === 32) report.line('ok', 'pay.apiV2Key is 32 characters (not shown)');
    else report.line('warn', `pay.apiV2Key is ${length} characters; APIv2 keys are 32`);
    if (typeof apiV2Key === 'string' && apiV2Key === apiV3Key) {
      report.line(
        'warn',
        'pay.apiV2Key equals pay.apiV3Key: they are two different keys in the merchant platform',
      );
    }
  }

  const platformKeys: { label: string; key: KeyObject }[] = [];
  if (pay.platformPublicKeyPath !== undefined) {
    const pem = readFileFor(report, 'pay.platformPublicKeyPath', base, pay.platformPublicKeyPath);
    if (pem !== undefined) {
      try {
        const key = loadPublicKey(pem);
        platformKeys.push({ label: 'pay.platformPublicKeyPath', key });
        report.line(
          'ok',
          `pay.platformPublicKeyPath loads: RSA ${key.asymmetricKeyDetails?.modulusLength ?? '?'}-bit public key`,
        );
      } catch (error) {
        report.line('error', `pay.platformPublicKeyPath: ${errorText(error)}`);
      }
    }
    if (platformPublicKeyId === undefined) {
      report.line(
        'error',
        'pay.platformPublicKeyId is not set: the public key needs its id (PUB_KEY_ID_…) to match Wechatpay-Serial',
      );
    }
  }
  if (platformPublicKeyId !== undefined) {
    if (typeof platformPublicKeyId === 'string' && /^PUB_KEY_ID_[0-9A-Za-z]+$/.test(platformPublicKeyId)) {
      report.line('ok', `pay.platformPublicKeyId ${platformPublicKeyId} starts with PUB_KEY_ID_`);
    } else {
      report.line(
        'error',
        'pay.platformPublicKeyId must start with PUB_KEY_ID_ (商户平台 → API安全 → 微信支付公钥)',
      );
    }
    if (pay.platformPublicKeyPath === undefined) {
      report.line('error', 'pay.platformPublicKeyId is set but pay.platformPublicKeyPath is not');
    }
  }

  const certs: LoadedCertificate[] = [];
  if (pay.platformCertificatePaths !== undefined) {
    const paths = pay.platformCertificatePaths;
    if (!Array.isArray(paths)) {
      report.line('error', 'pay.platformCertificatePaths must be an array of file paths');
    } else {
      paths.forEach((path, i) => {
        const label = `pay.platformCertificatePaths[${i}]`;
        const pem = readFileFor(report, label, base, path);
        if (pem === undefined) return;
        let cert: LoadedCertificate;
        try {
          cert = loadCertificate(pem);
        } catch (error) {
          report.line('error', `${label}: ${errorText(error)}`);
          return;
        }
        certs.push(cert);
        platformKeys.push({ label, key: cert.publicKey });
        const until = cert.validTo.toISOString();
        const days = Math.floor((cert.validTo.getTime() - now) / DAY_MS);
        const what = `${label}: serial ${cert.serialNo}, valid ${cert.validFrom.toISOString()} – ${until}`;
        if (cert.validTo.getTime() < now) report.line('error', `${what}: expired ${-days} days ago`);
        else if (cert.validFrom.getTime() > now)
          report.line('error', `${what}: not valid yet (check the clock)`);
        else if (days < 30)
          report.line(
            'warn',
            `${what}: expires in ${days} days — download the new one (GET /v3/certificates)`,
          );
        else report.line('ok', `${what} (${days} days left)`);
      });
    }
  }
  if (pay.platformPublicKeyPath === undefined && pay.platformCertificatePaths === undefined) {
    report.line(
      'warn',
      'no WeChat Pay public key or platform certificate: responses and notifications cannot be verified',
    );
  }

  // The merchant's own key or certificate given where WeChat Pay's is expected.
  if (merchantKey !== undefined) {
    for (const { label, key } of platformKeys) {
      if (sameKey(createPublicKey(merchantKey), key)) {
        report.line(
          'error',
          `${label} is your own merchant key (it matches pay.privateKeyPath): verifying needs WeChat Pay’s key — pub_key.pem (PUB_KEY_ID_…) or a platform certificate from GET /v3/certificates, not apiclient_cert.pem`,
        );
      }
    }
  }
  if (typeof merchantSerialNo === 'string') {
    for (const cert of certs) {
      if (cert.serialNo === merchantSerialNo.toUpperCase().replace(/^(00)+/, '')) {
        report.line(
          'error',
          `platform certificate ${cert.serialNo} has the merchant serial: it is apiclient_cert.pem, not a WeChat Pay platform certificate`,
        );
      }
    }
  }
}

async function checkClock(report: Report, url: string, now: () => number): Promise<void> {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), 5000);
  try {
    const sent = now();
    const response = await fetch(url, { method: 'HEAD', signal: controller.signal });
    const received = now();
    const date = response.headers.get('date');
    if (date === null || Number.isNaN(Date.parse(date))) {
      report.line('warn', `clock: ${url} sent no usable Date header; cannot compare`);
      return;
    }
    // The Date header has whole seconds; compare against the middle of the round trip.
    const skew = Math.round(((sent + received) / 2 - Date.parse(date)) / 1000);
    const text = `clock: local time is ${Math.abs(skew)} s ${skew >= 0 ? 'ahead of' : 'behind'} ${url} (Date: ${date})`;
    if (Math.abs(skew) > 300) {
      report.line('error', `${text}: beyond the ±300 s replay window, signatures will be refused — fix NTP`);
    } else if (Math.abs(skew) > 60) {
      report.line('warn', `${text}: more than 60 s — check NTP`);
    } else {
      report.line('ok', text);
    }
  } catch (error) {
    report.line('warn', `clock: cannot reach ${url}: ${(error as Error).message}`);
  } finally {
    clearTimeout(timer);
  }
}

/** `weixin-kit doctor …`. Returns 0 when no check failed (warnings allowed), else 1. */
export async function runDoctorCommand(
  args: string[],
  out: Out,
  options: DoctorOptions = {},
): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      config: { type: 'string' },
      'time-url': { type: 'string' },
      server: { type: 'string' },
      ca: { type: 'string', multiple: true },
      'http-url': { type: 'string' },
      'timeout-ms': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
  });
  if (values.help === true) return printCommandUsage(out, DOCTOR_HELP);
  if (values.server === undefined) {
    const stray = (['ca', 'http-url', 'timeout-ms'] as const).find((name) => values[name] !== undefined);
    if (stray !== undefined) throw new ArgumentError(`--${stray} goes with --server https://host/path`);
    if (values.config === undefined) {
      throw new ArgumentError(
        'missing --config file.json or --server https://host/path (see weixin-kit doctor --help)',
      );
    }
  }
  // Every argument is judged before anything is checked: a typo fails fast, not after the checks.
  const server =
    values.server === undefined
      ? undefined
      : urlArg('--server', values.server, 'https:', 'https://api.example.com/wechat');
  const httpUrl =
    values['http-url'] === undefined
      ? undefined
      : urlArg('--http-url', values['http-url'], 'http:', 'http://api.example.com/wechat');
  const timeoutText = values['timeout-ms'];
  const timeoutMs = timeoutText === undefined ? DEFAULT_TIMEOUT_MS : Number(timeoutText);
  if (
    !/^\d+$/.test(timeoutText ?? '1') ||
    !Number.isSafeInteger(timeoutMs) ||
    timeoutMs < 1 ||
    timeoutMs > 600_000
  ) {
    throw new ArgumentError(
      `--timeout-ms must be a whole number of milliseconds (1–600000), got "${timeoutText}"`,
    );
  }
  const extraCa = readCaFiles(values.ca ?? []);
  const now = options.now ?? Date.now;
  const report = new Report(out);

  if (values.config !== undefined) {
    const config = readConfig(values.config);
    const base = dirname(resolve(values.config));
    out(`weixin-kit doctor: ${values.config}`);
    for (const name of Object.keys(config)) {
      if (!TOP_FIELDS.has(name)) report.line('warn', `${name} is not a known field (typo?)`);
    }
    checkApp(report, config);
    if (config.pay !== undefined) {
      if (typeof config.pay !== 'object' || config.pay === null || Array.isArray(config.pay)) {
        report.line('error', 'pay must be an object');
      } else {
        checkPay(report, config.pay, base, now());
      }
    }
    // A file without any key doctor reads (e.g. `{}`, or a config of another tool) would otherwise
    // end with "0 ok" and exit 0, as if it had passed.
    if (!Object.keys(config).some((name) => TOP_FIELDS.has(name))) {
      report.line(
        'error',
        `nothing was checked: ${values.config} holds none of the keys doctor reads (${KNOWN_KEYS})`,
      );
    }
  }
  const timeUrl = values['time-url'];
  if (values.config !== undefined) {
    if (timeUrl !== undefined) await checkClock(report, timeUrl, now);
    else out('- clock: not checked (pass --time-url https://… to compare with a server’s Date header)');
  }

  if (server !== undefined) {
    if (values.config !== undefined) out('');
    out(`weixin-kit doctor: ${server.href}`);
    await checkServer(report, {
      url: server,
      httpUrl: httpUrl ?? defaultHttpUrl(server),
      extraCa,
      timeoutMs,
      now,
      ...(options.scheduler === undefined ? {} : { scheduler: options.scheduler }),
    });
  }
  if (values.config === undefined && timeUrl !== undefined) await checkClock(report, timeUrl, now);
  const { ok, warn, error } = report.counts;
  out('');
  out(`${ok} ok, ${warn} warning${warn === 1 ? '' : 's'}, ${error} error${error === 1 ? '' : 's'}`);
  return error === 0 ? 0 : 1;
}
