import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer as createHttpServer, type RequestListener, type Server } from 'node:http';
import { createServer as createHttpsServer, type ServerOptions } from 'node:https';
import { type AddressInfo, createServer as createTcpServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runDoctorCommand } from '../../src/cli/doctor.js';
import { main } from '../../src/cli/index.js';
import { type CertificateSubject, mintIssuedCertificate } from '../../src/emulator/x509.js';
import { ManualScheduler } from '../helpers/manual-scheduler.js';

// A private PKI made here: root CA → intermediate CA → leaf certificates for 127.0.0.1. Every
// server below listens on 127.0.0.1, port 0; each test only reads from them (shuffle-safe).

const DAY = 86_400_000;
const NOW = Date.now();
const ROOT: CertificateSubject = { commonName: 'weixin-kit Test Root', organization: 'weixin-kit tests' };
const INTERMEDIATE: CertificateSubject = {
  commonName: 'weixin-kit Test Intermediate',
  organization: 'weixin-kit tests',
};

const ecKey = () => generateKeyPairSync('ec', { namedCurve: 'P-256' });
const rootKey = ecKey();
const intermediateKey = ecKey();
const leafKey = ecKey();
let serial = 0x10;

function ca(subject: CertificateSubject, key: KeyObject, issuer?: CertificateSubject, signer?: KeyObject) {
  return mintIssuedCertificate({
    serialHex: (serial++).toString(16).padStart(2, '0'),
    subject,
    ...(issuer === undefined ? {} : { issuer }),
    publicKey: key,
    signingKey: signer ?? rootKey.privateKey,
    notBefore: new Date(NOW - DAY),
    notAfter: new Date(NOW + 3650 * DAY),
    ca: true,
  });
}

function leaf(options: { notBefore: number; notAfter: number; dnsNames: string[]; ipAddresses?: string[] }) {
  return mintIssuedCertificate({
    serialHex: (serial++).toString(16).padStart(2, '0'),
    subject: { commonName: options.dnsNames[0] ?? 'leaf' },
    issuer: INTERMEDIATE,
    publicKey: leafKey.publicKey,
    signingKey: intermediateKey.privateKey,
    notBefore: new Date(options.notBefore),
    notAfter: new Date(options.notAfter),
    dnsNames: options.dnsNames,
    ...(options.ipAddresses === undefined ? {} : { ipAddresses: options.ipAddresses }),
  });
}

const rootPem = ca(ROOT, rootKey.publicKey);
const intermediatePem = ca(INTERMEDIATE, intermediateKey.publicKey, ROOT, rootKey.privateKey);
const GOOD_UNTIL = NOW + 90 * DAY;
const goodLeaf = leaf({
  notBefore: NOW - DAY,
  notAfter: GOOD_UNTIL,
  dnsNames: ['localhost'],
  ipAddresses: ['127.0.0.1'],
});
const expiredLeaf = leaf({
  notBefore: NOW - 100 * DAY,
  notAfter: NOW - 2 * DAY,
  dnsNames: ['localhost'],
  ipAddresses: ['127.0.0.1'],
});
const otherHostLeaf = leaf({ notBefore: NOW - DAY, notAfter: GOOD_UNTIL, dnsNames: ['other.example'] });
const leafKeyPem = leafKey.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();

const dir = mkdtempSync(join(tmpdir(), 'weixin-kit-doctor-server-'));
const rootFile = join(dir, 'root.pem');
writeFileSync(rootFile, rootPem);

/** The backend: `/` answers 200 (with HSTS when asked), anything else 404 as JSON or HTML. */
function backend({ hsts, json404 }: { hsts: boolean; json404: boolean }): RequestListener {
  return (req, res) => {
    if (hsts) res.setHeader('Strict-Transport-Security', 'max-age=31536000; includeSubDomains');
    if (req.url === '/') {
      res.setHeader('Content-Type', 'text/plain');
      res.end('ok');
    } else if (json404) {
      res.writeHead(404, { 'Content-Type': 'application/json; charset=utf-8' });
      res.end('{"error":{"code":"NOT_FOUND"}}');
    } else {
      res.writeHead(404, { 'Content-Type': 'text/html' });
      res.end('<h1>Not Found</h1>');
    }
  };
}

const servers: Array<{ close(): void; closeAllConnections?(): void }> = [];
const tcpSockets = new Set<Socket>();

async function listen(server: Server | ReturnType<typeof createTcpServer>): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  servers.push(server);
  return (server.address() as AddressInfo).port;
}

async function https(options: ServerOptions, app = backend({ hsts: true, json404: true })): Promise<string> {
  const port = await listen(createHttpsServer({ key: leafKeyPem, ...options }, app));
  return `https://127.0.0.1:${port}/`;
}

async function http(app: RequestListener): Promise<string> {
  return `http://127.0.0.1:${await listen(createHttpServer(app))}/`;
}

const urls = {} as Record<
  | 'complete'
  | 'leafOnly'
  | 'expired'
  | 'wrongHost'
  | 'tls11'
  | 'bare'
  | 'redirects'
  | 'servesHttp'
  | 'closed'
  | 'silent',
  string
>;
/** Whether this platform's OpenSSL can still negotiate TLS 1.1 at all (client and server). */
let platformSpeaksTls11 = false;

beforeAll(async () => {
  urls.complete = await https({ cert: goodLeaf + intermediatePem });
  urls.leafOnly = await https({ cert: goodLeaf });
  urls.expired = await https({ cert: expiredLeaf + intermediatePem });
  urls.wrongHost = await https({ cert: otherHostLeaf + intermediatePem });
  // OpenSSL 3 refuses TLS 1.0/1.1 at the default security level: level 0 lets the server offer it.
  urls.tls11 = await https({
    cert: goodLeaf + intermediatePem,
    minVersion: 'TLSv1',
    maxVersion: 'TLSv1.1',
    ciphers: 'DEFAULT:@SECLEVEL=0',
  });
  urls.bare = await https({ cert: goodLeaf + intermediatePem }, backend({ hsts: false, json404: false }));
  urls.redirects = await http((req, res) => {
    res.writeHead(301, { Location: `https://127.0.0.1${req.url ?? '/'}` });
    res.end();
  });
  urls.servesHttp = await http((_req, res) => res.end('hello in clear'));
  // A port that refuses connections: listened on, then closed.
  const closed = createHttpServer();
  const closedPort = await listen(closed);
  await new Promise<void>((resolve) => closed.close(() => resolve()));
  urls.closed = `http://127.0.0.1:${closedPort}/`;
  // Accepts connections and never says a word (neither TLS nor HTTP).
  const silent = createTcpServer((socket) => {
    tcpSockets.add(socket);
    socket.on('close', () => tcpSockets.delete(socket));
  });
  urls.silent = `127.0.0.1:${await listen(silent)}`;
  platformSpeaksTls11 = await new Promise<boolean>((resolve) => {
    const socket = connect({
      host: '127.0.0.1',
      port: Number(new URL(urls.tls11).port),
      ca: rootPem,
      minVersion: 'TLSv1',
      maxVersion: 'TLSv1.1',
      ciphers: 'DEFAULT:@SECLEVEL=0',
      checkServerIdentity: () => undefined,
    });
    socket.once('secureConnect', () => {
      resolve(true);
      socket.destroy();
    });
    socket.once('error', () => resolve(false));
  });
});

afterAll(async () => {
  for (const socket of tcpSockets) socket.destroy();
  await Promise.all(
    servers.map(
      (server) =>
        new Promise<void>((resolve) => {
          server.closeAllConnections?.();
          (server as Server).close(() => resolve());
        }),
    ),
  );
  rmSync(dir, { recursive: true, force: true });
});

async function run(argv: string[]): Promise<{ code: number; text: string; err: string }> {
  const lines: string[] = [];
  const errors: string[] = [];
  const code = await main(['doctor', ...argv], (l) => lines.push(l), { err: (l) => errors.push(l) });
  return { code, text: lines.join('\n'), err: errors.join('\n') };
}

/** The doctor on `url`, trusting the test root, with plain HTTP judged at the redirecting server. */
const withRoot = (url: string) => run(['--server', url, '--ca', rootFile, '--http-url', urls.redirects]);

const checks = (text: string) => text.split('\n').filter((l) => /^[✓!✗] /.test(l));

describe('weixin-kit doctor --server: TLS', () => {
  it('a complete chain to the --ca root: every check ✓, exit 0', async () => {
    const { code, text } = await withRoot(urls.complete);
    expect(text).toContain(`weixin-kit doctor: ${urls.complete}`);
    expect(text).toMatch(/✓ TLS: TLSv1\.[23] \(/);
    expect(text).toMatch(
      /✓ chain: localhost ← weixin-kit Test Intermediate ← weixin-kit Test Root verifies to a trusted root, intermediates sent \(a root given with --ca/,
    );
    expect(text).toContain(
      '✓ hostname: 127.0.0.1 matches the certificate (DNS:localhost, IP Address:127.0.0.1)',
    );
    expect(text).toMatch(/✓ expiry: valid until .* \((89|90) days left\)/);
    expect(text).toContain('✓ HSTS: Strict-Transport-Security: max-age=31536000; includeSubDomains');
    expect(text).toMatch(/✓ plain HTTP: .* redirects \(301\) to https:\/\/127\.0\.0\.1\//);
    expect(text).toMatch(/✓ error answer: 404 for an unknown path is JSON \(application\/json/);
    expect(checks(text)).toHaveLength(7);
    expect(text).not.toMatch(/^[!✗] /m);
    expect(text).toContain('7 ok, 0 warnings, 0 errors');
    expect(code).toBe(0);
  });

  it('a server that sends only its leaf: ✗ "does not send its intermediate", not an unknown root', async () => {
    const { code, text } = await withRoot(urls.leafOnly);
    expect(text).toContain(
      '✗ chain: the server does not send its intermediate certificate(s): configure the full chain (leaf + intermediates)',
    );
    expect(text).toContain(
      'the leaf\'s issuer "weixin-kit Test Intermediate" was neither sent nor a trusted root',
    );
    // The other checks still run: the leaf itself is fine.
    expect(text).toMatch(/✓ hostname: 127\.0\.0\.1 matches/);
    expect(text).toMatch(/✓ expiry: valid until/);
    expect(code).toBe(1);
  });

  it('a complete chain to a root nobody trusts (no --ca): ✗ untrusted root, not a missing intermediate', async () => {
    const { code, text } = await run(['--server', urls.complete, '--http-url', urls.redirects]);
    expect(text).toMatch(
      /✗ chain: localhost ← weixin-kit Test Intermediate ends at "weixin-kit Test Root", which is not a trusted root \(UNABLE_TO_GET_ISSUER_CERT_LOCALLY\): WeChat needs a certificate from a public CA; for a private CA, pass its root with --ca FILE/,
    );
    expect(text).not.toContain('does not send its intermediate');
    expect(code).toBe(1);
  });

  it('an expired leaf: ✗ expiry (the chain itself verifies), exit 1', async () => {
    const { code, text } = await withRoot(urls.expired);
    expect(text).toMatch(/✓ chain: localhost ← weixin-kit Test Intermediate ← weixin-kit Test Root verifies/);
    expect(text).toMatch(/✗ expiry: the certificate expired on \S+ \(2 days ago\): renew it/);
    expect(code).toBe(1);
  });

  it('a certificate for another host: ✗ hostname naming what the certificate holds', async () => {
    const { code, text } = await withRoot(urls.wrongHost);
    expect(text).toContain(
      '✗ hostname: the certificate does not name 127.0.0.1 (it names DNS:other.example): get one whose subjectAltName holds IP Address:127.0.0.1',
    );
    expect(text).toMatch(/✓ chain: other\.example ← /);
    expect(code).toBe(1);
  });

  it('a server that offers only TLS 1.1: ✗ "WeChat requires TLS 1.2+", the HTTPS checks skipped', async () => {
    const { code, text } = await withRoot(urls.tls11);
    expect(text).toMatch(/^✗ TLS: .*WeChat requires TLS 1\.2\+/m);
    // Where OpenSSL can still speak TLS 1.1, the doctor names what the server offers; a platform
    // whose OpenSSL cannot negotiate TLS 1.1 even at security level 0 only sees a failed TLS 1.2
    // handshake — the verdict (✗, exit 1) must be the same either way.
    if (platformSpeaksTls11) expect(text).toMatch(/✗ TLS: 127\.0\.0\.1:\d+ offers only TLSv1\.1/);
    else expect(text).toMatch(/✗ TLS: no TLS 1\.2\+ handshake with 127\.0\.0\.1:\d+ \(/);
    expect(text).toContain('- chain, hostname, expiry, HSTS, error answer: not checked');
    expect(text).not.toMatch(/[✓!✗] (chain|hostname|expiry|HSTS)/);
    expect(text).toMatch(/✓ plain HTTP: /);
    expect(code).toBe(1);
  });

  it('a certificate expiring within 30 days is a warning (clock injected), exit 0', async () => {
    const lines: string[] = [];
    const code = await runDoctorCommand(
      ['--server', urls.complete, '--ca', rootFile, '--http-url', urls.redirects],
      (l) => lines.push(l),
      { now: () => GOOD_UNTIL - 10 * DAY - 60_000 },
    );
    expect(lines.join('\n')).toMatch(/! expiry: the certificate expires on \S+ \(in 10 days\): renew it now/);
    expect(code).toBe(0);
  });
});

describe('weixin-kit doctor --server: HTTP', () => {
  it('no HSTS and an HTML 404: two warnings naming the fix, exit 0', async () => {
    const { code, text } = await run(['--server', urls.bare, '--ca', rootFile, '--http-url', urls.redirects]);
    expect(text).toContain(
      '! HSTS: no Strict-Transport-Security header on the https answer: add "Strict-Transport-Security: max-age=31536000; includeSubDomains"',
    );
    expect(text).toMatch(
      /! error answer: 404 for an unknown path is text\/html, not JSON: .*weixin-kit\/guard answers \{ error: \{ code, message, requestId \} \}/,
    );
    expect(code).toBe(0);
  });

  it('the error answer is asked for under the given path, without its query', async () => {
    const seen: string[] = [];
    const url = await https({ cert: goodLeaf + intermediatePem }, (req, res) => {
      seen.push(req.url ?? '');
      res.writeHead(req.url === '/api/v1/?x=1' ? 200 : 404, { 'Content-Type': 'application/problem+json' });
      res.end('{}');
    });
    const { text } = await run([
      '--server',
      `${url}api/v1/?x=1`,
      '--ca',
      rootFile,
      '--http-url',
      urls.redirects,
    ]);
    expect(seen).toEqual(['/api/v1/?x=1', '/api/v1/__weixin_kit_doctor_404']);
    expect(text).toMatch(/✓ error answer: 404 for an unknown path is JSON \(application\/problem\+json\)/);
  });

  it('plain HTTP that serves content: ✗ and exit 1; one that is unreachable: !', async () => {
    const serves = await run(['--server', urls.complete, '--ca', rootFile, '--http-url', urls.servesHttp]);
    expect(serves.text).toMatch(
      /✗ plain HTTP: http:\/\/127\.0\.0\.1:\d+\/ serves content in clear \(200\): redirect every plain-HTTP request to https/,
    );
    expect(serves.code).toBe(1);
    const closed = await run(['--server', urls.complete, '--ca', rootFile, '--http-url', urls.closed]);
    expect(closed.text).toMatch(/! plain HTTP: cannot reach http:\/\/127\.0\.0\.1:\d+\/ \(ECONNREFUSED\)/);
    expect(closed.code).toBe(0);
  });

  it('a plain-HTTP redirect to http:// is not a redirect to https: ✗', async () => {
    const url = await http((_req, res) => {
      res.writeHead(302, { Location: '/login' });
      res.end();
    });
    const { code, text } = await run(['--server', urls.complete, '--ca', rootFile, '--http-url', url]);
    expect(text).toMatch(/✗ plain HTTP: .* redirects \(302\) to \/login, not to https/);
    expect(code).toBe(1);
  });

  it('--config and --server together: both sections, one summary', async () => {
    const config = join(dir, 'config.json');
    writeFileSync(config, JSON.stringify({ token: 'AAAAA' }));
    const { code, text } = await run([
      '--config',
      config,
      '--server',
      urls.complete,
      '--ca',
      rootFile,
      '--http-url',
      urls.redirects,
    ]);
    expect(text).toContain(`weixin-kit doctor: ${config}`);
    expect(text).toContain('✓ token is 5 letters/digits');
    expect(text).toContain(`weixin-kit doctor: ${urls.complete}`);
    expect(text.match(/\d+ ok, \d+ warnings?, \d+ errors?/g)).toEqual(['8 ok, 0 warnings, 0 errors']);
    expect(code).toBe(0);
  });
});

describe('weixin-kit doctor --server: bounded, and its arguments', () => {
  it('a server that accepts and never answers: each step gives up after --timeout-ms (virtual time)', async () => {
    const scheduler = new ManualScheduler();
    const lines: string[] = [];
    const done = runDoctorCommand(
      ['--server', `https://${urls.silent}/`, '--http-url', `http://${urls.silent}/`, '--timeout-ms', '5000'],
      (l) => lines.push(l),
      { scheduler },
    );
    await scheduler.whenPending(); // the TLS handshake
    await scheduler.advance(5000);
    await scheduler.whenPending(); // the plain-HTTP request
    await scheduler.advance(5000);
    expect(await done).toBe(1);
    const text = lines.join('\n');
    expect(text).toMatch(/✗ TLS: cannot connect to 127\.0\.0\.1:\d+ \(no handshake within 5000 ms\)/);
    expect(text).toMatch(/! plain HTTP: cannot reach http:\/\/127\.0\.0\.1:\d+\/ \(TIMEOUT\)/);
    expect(scheduler.pending).toBe(0);
  });

  it('several roots in one --ca file, or --ca given twice, are all trusted', async () => {
    const both = join(dir, 'both.pem');
    writeFileSync(both, intermediatePem + rootPem);
    const other = join(dir, 'other.pem');
    writeFileSync(other, ca({ commonName: 'Unrelated Root' }, ecKey().publicKey));
    for (const args of [
      ['--ca', both],
      ['--ca', other, '--ca', rootFile],
    ]) {
      const { text } = await run(['--server', urls.complete, ...args, '--http-url', urls.redirects]);
      expect(text).toMatch(/✓ chain: /);
    }
  });

  it('bad arguments fail before any check: exit 1 with the fix', async () => {
    const empty = join(dir, 'empty.pem');
    writeFileSync(empty, 'not a certificate');
    const cases: Array<[string[], RegExp]> = [
      [['--server', 'http://example.com/'], /--server must be an https:\/\/ URL/],
      [['--server', urls.complete, '--http-url', 'https://x/'], /--http-url must be an http:\/\/ URL/],
      [['--server', urls.complete, '--timeout-ms', '5s'], /--timeout-ms must be a whole number/],
      [
        ['--server', urls.complete, '--ca', join(dir, 'missing.pem')],
        /cannot read --ca .*missing\.pem: ENOENT/,
      ],
      [['--server', urls.complete, '--ca', empty], /--ca .*empty\.pem holds no PEM certificate/],
      [['--ca', rootFile], /--ca goes with --server/],
      [[], /missing --config file\.json or --server https:\/\/host\/path/],
    ];
    for (const [argv, message] of cases) {
      const { code, text, err } = await run(argv);
      expect(err).toMatch(message);
      expect(text).toBe('');
      expect(code).toBe(1);
    }
  });
});
