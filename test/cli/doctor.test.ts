import { createPrivateKey, createPublicKey } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest';
import { main } from '../../src/cli/index.js';
import { fx } from '../crypto/pay-v3-fixture.js';

const dir = mkdtempSync(join(tmpdir(), 'weixin-kit-doctor-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
afterEach(() => {
  vi.useRealTimers();
});

function file(name: string, content: string): string {
  const path = join(dir, name);
  writeFileSync(path, content);
  return path;
}

async function run(argv: string[]): Promise<{ code: number; text: string; lines: string[] }> {
  const lines: string[] = [];
  const code = await main(argv, (l) => lines.push(l));
  return { code, text: lines.join('\n'), lines };
}

const SECRET = '0123456789abcdef0123456789abcdef';
const API_V3_KEY = 'a7cde1ZJB1kG2e7VfTs3jQzaWizur8Gb';
const API_V2_KEY = '192006250b4c09247ec02edce69f6a2d';
const AES_KEY = 'abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG';

const platformPublicPem = createPublicKey(createPrivateKey(fx.keys.platformKeyPkcs8))
  .export({ type: 'spki', format: 'pem' })
  .toString();

function goodConfig(): Record<string, unknown> {
  file('apiclient_key.pem', fx.keys.goKeyPkcs1);
  file('pub_key.pem', platformPublicPem);
  file('platform_cert.pem', fx.keys.platformCert);
  return {
    appId: 'wxd930ea5d5a258f4f',
    secret: SECRET,
    token: 'AAAAA',
    encodingAESKey: AES_KEY,
    pay: {
      mchid: '1900009191',
      merchantSerialNo: '1DDE55AD98ED71D6EDD4A4A16996DE7B47773A8C',
      privateKeyPath: 'apiclient_key.pem', // relative to the config file
      apiV3Key: API_V3_KEY,
      apiV2Key: API_V2_KEY,
      platformPublicKeyPath: 'pub_key.pem',
      platformPublicKeyId: 'PUB_KEY_ID_0114232134912410000000000000000',
      platformCertificatePaths: ['platform_cert.pem'],
    },
  };
}

describe('weixin-kit doctor', () => {
  it('a good config: every line ✓, exit 0, no secret printed', async () => {
    const config = file('good.json', JSON.stringify(goodConfig()));
    const { code, text, lines } = await run(['doctor', '--config', config]);
    expect(code).toBe(0);
    expect(text).not.toContain('✗');
    expect(text).toContain('✓ appId wxd930ea5d5a258f4f');
    expect(text).toContain('✓ encodingAESKey decodes to 32 bytes');
    expect(text).toMatch(/✓ pay\.privateKeyPath loads: RSA 2048-bit private key \(PKCS#1\)/);
    expect(text).toContain('✓ pay.apiV3Key is 32 bytes');
    expect(text).toMatch(
      /✓ pay\.platformCertificatePaths\[0\]: serial 80A1B2C3D4E5F60718293A4B5C6D7E8F90A1B2C3/,
    );
    expect(text).toContain('- clock: not checked');
    for (const secret of [SECRET, API_V3_KEY, API_V2_KEY, AES_KEY]) expect(text).not.toContain(secret);
    expect(text).not.toContain('PRIVATE KEY');
    const checks = lines.filter((l) => /^[✓!✗] /.test(l));
    expect(checks.length).toBeGreaterThanOrEqual(12);
  });

  it('a bad config: literal \\n key, 31-byte apiV3Key, expired certificate → ✗ and exit 1', async () => {
    // goCert is valid until 2031-04-25: on 2032-01-01 it has expired.
    vi.useFakeTimers({ toFake: ['Date'], now: new Date('2032-01-01T00:00:00Z') });
    file('escaped_key.pem', fx.keys.goKeyPkcs8.trim().replace(/\n/g, '\\n'));
    file('expired_cert.pem', fx.keys.goCert);
    const config = file(
      'bad.json',
      JSON.stringify({
        appId: 'wx123',
        token: 'a b',
        encodingAESKey: 'tooShort',
        pay: {
          mchid: '1900009191',
          merchantSerialNo: '1DDE55AD98ED71D6EDD4A4A16996DE7B47773A8C',
          privateKeyPath: join(dir, 'escaped_key.pem'),
          apiV3Key: API_V3_KEY.slice(0, 31),
          platformPublicKeyId: 'ABC',
          platformCertificatePaths: ['expired_cert.pem', 'missing.pem'],
        },
      }),
    );
    const { code, text } = await run(['doctor', '--config', config]);
    expect(code).toBe(1);
    expect(text).toMatch(/✗ appId must be/);
    expect(text).toMatch(/! secret \(AppSecret\) is not set/);
    expect(text).toMatch(/✗ token must be 3–32/);
    expect(text).toMatch(/✗ encodingAESKey: BAD_AES_KEY/);
    expect(text).toMatch(/✗ pay\.privateKeyPath: BAD_KEY: The PEM contains literal "\\n"/);
    expect(text).toContain('✗ pay.apiV3Key is 31 bytes');
    expect(text).toMatch(/✗ pay\.platformPublicKeyId must start with PUB_KEY_ID_/);
    expect(text).toMatch(
      /✗ pay\.platformCertificatePaths\[0\]: serial D7CE59D1F522D701, .*expired \d+ days ago/,
    );
    expect(text).toMatch(/✗ pay\.platformCertificatePaths\[1\]: cannot read missing\.pem: ENOENT/);
    expect(text).toMatch(/\d+ ok, \d+ warnings?, \d+ errors/);
    expect(text).not.toContain(API_V3_KEY.slice(0, 31));
  });

  it('a certificate expiring within 30 days is a warning, not an error', async () => {
    vi.useFakeTimers({ toFake: ['Date'], now: new Date('2031-04-10T00:00:00Z') });
    const config = goodConfig();
    const pay = config.pay as Record<string, unknown>;
    pay.platformCertificatePaths = [file('soon.pem', fx.keys.goCert)];
    // A merchant key other than the go key that goCert holds, and no public key of that same key.
    pay.privateKeyPath = file('other_key.pem', fx.keys.platformKeyPkcs8);
    delete pay.platformPublicKeyPath;
    delete pay.platformPublicKeyId;
    const { code, text } = await run(['doctor', '--config', file('soon.json', JSON.stringify(config))]);
    expect(text).toMatch(/! pay\.platformCertificatePaths\[0\]: .*expires in 1[45] days/);
    expect(code).toBe(0);
  });

  it('the merchant key given as the platform key or certificate → ✗', async () => {
    const config = goodConfig();
    const pay = config.pay as Record<string, unknown>;
    pay.privateKeyPath = file('go_key.pem', fx.keys.goKeyPkcs8);
    pay.platformPublicKeyPath = file('own_pub.pem', fx.keys.goPublicSpki);
    pay.platformCertificatePaths = [file('own_cert.pem', fx.keys.goCert)];
    const { code, text } = await run(['doctor', '--config', file('own.json', JSON.stringify(config))]);
    expect(code).toBe(1);
    expect(text).toMatch(/✗ pay\.platformPublicKeyPath is your own merchant key/);
    expect(text).toMatch(/✗ pay\.platformCertificatePaths\[0\] is your own merchant key/);
  });

  it('unknown fields are warnings; a missing or broken --config exits 1', async () => {
    const { text } = await run([
      'doctor',
      '--config',
      file('typo.json', JSON.stringify({ appid: 'x', pay: { mchId: '1' } })),
    ]);
    expect(text).toContain('! appid is not a known field');
    expect(text).toContain('! pay.mchId is not a known field');
    expect((await run(['doctor'])).code).toBe(1);
    expect((await run(['doctor', '--config', file('broken.json', '{')])).code).toBe(1);
  });
});

describe('weixin-kit doctor: nothing to check, and no secret on any path', () => {
  it('a config without any key doctor reads is not "0 ok": it says nothing was checked and exits 1', async () => {
    for (const [name, content] of [
      ['empty.json', {}],
      ['other-tool.json', { appid: 'wxd930ea5d5a258f4f', mch_id: '1900009191' }],
    ] as const) {
      const { code, text } = await run(['doctor', '--config', file(name, JSON.stringify(content))]);
      expect(code).toBe(1);
      expect(text).toMatch(/✗ nothing was checked: .* holds none of the keys doctor reads/);
      for (const key of ['appId', 'secret', 'token', 'encodingAESKey', 'pay', 'privateKeyPath', 'apiV3Key'])
        expect(text).toContain(key);
      expect(text).toContain('0 ok');
    }
  });

  it('malformed secrets are described by their length, never printed', async () => {
    const secrets = {
      secret: 'LeakCanarySecret-not-hex-0123456',
      token: 'LeakCanary token with spaces',
      encodingAESKey: 'LeakCanaryAesKey-with-bad-characters-0123456',
      apiV3Key: 'LeakCanaryApiV3Key-31-bytes-xyz',
      apiV2Key: 'LeakCanaryApiV2Key-wrong-length',
    };
    const config = file(
      'leaky.json',
      JSON.stringify({
        appId: 'wxd930ea5d5a258f4f',
        secret: secrets.secret,
        token: secrets.token,
        encodingAESKey: secrets.encodingAESKey,
        pay: { mchid: '1900009191', apiV3Key: secrets.apiV3Key, apiV2Key: secrets.apiV2Key },
      }),
    );
    const lines: string[] = [];
    const code = await main(['doctor', '--config', config], (l) => lines.push(l), {
      err: (l) => lines.push(l),
    });
    const text = lines.join('\n');
    expect(code).toBe(1);
    for (const value of Object.values(secrets)) expect(text).not.toContain(value);
    expect(text).toMatch(/secret is set \(32 characters, not shown\)/);
  });
});

describe('weixin-kit doctor --time-url', () => {
  let server: Server | undefined;
  afterEach(async () => {
    await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
    server = undefined;
  });

  async function dateServer(offsetMs: number): Promise<string> {
    server = createServer((_req, res) => {
      res.setHeader('Date', new Date(Date.now() + offsetMs).toUTCString());
      res.end();
    });
    await new Promise<void>((resolve) => server?.listen(0, '127.0.0.1', resolve));
    return `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
  }

  const config = (): string => file('clock.json', JSON.stringify({ token: 'AAAAA' }));

  it('10 minutes off → ✗ and exit 1', async () => {
    const url = await dateServer(10 * 60_000);
    const { code, text } = await run(['doctor', '--config', config(), '--time-url', url]);
    expect(code).toBe(1);
    expect(text).toMatch(/✗ clock: local time is (599|600|601) s behind/);
  });

  it('2 minutes off → ! and exit 0; in sync → ✓', async () => {
    const url = await dateServer(-2 * 60_000);
    const warn = await run(['doctor', '--config', config(), '--time-url', url]);
    expect(warn.code).toBe(0);
    expect(warn.text).toMatch(/! clock: local time is (119|120|121) s ahead of/);
    await new Promise<void>((resolve) => server?.close(() => resolve()));
    const sync = await run(['doctor', '--config', config(), '--time-url', await dateServer(0)]);
    expect(sync.text).toMatch(/✓ clock: local time is [01] s/);
  });

  it('an unreachable URL is a warning', async () => {
    const url = await dateServer(0);
    await new Promise<void>((resolve) => server?.close(() => resolve()));
    server = undefined;
    const { code, text } = await run(['doctor', '--config', config(), '--time-url', url]);
    expect(code).toBe(0);
    expect(text).toMatch(/! clock: cannot reach/);
  });
});
