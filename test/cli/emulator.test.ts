import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { main, readEmulatorConfig, runEmulatorCommand } from '../../src/cli/index.js';
import { buildAuthorization } from '../../src/crypto/index.js';
import type { RunningEmulator } from '../../src/emulator/index.js';
import { fx } from '../crypto/pay-v3-fixture.js';
import { expectCode } from '../helpers.js';

/**
 * `weixin-kit emulator` through the real CLI entry: key and certificate files named in the
 * config (…Path keys, relative to the config file), and --callback-url for the first app.
 */

const dir = mkdtempSync(join(tmpdir(), 'weixin-kit-emulator-cli-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

let running: RunningEmulator | undefined;
afterEach(async () => {
  await running?.close();
  running = undefined;
});

function file(name: string, content: string): string {
  const path = join(dir, name);
  mkdirSync(join(path, '..'), { recursive: true });
  writeFileSync(path, content);
  return path;
}

async function start(argv: string[]): Promise<{ code: number; out: string; err: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await main(['emulator', '--port', '0', ...argv], (l) => out.push(l), {
    err: (l) => err.push(l),
    onEmulator: (emulator) => {
      running = emulator;
    },
  });
  return { code, out: out.join('\n'), err: err.join('\n') };
}

const app = {
  appId: 'wx1234567890abcdef',
  secret: 'secret',
  kind: 'official-account' as const,
  token: 'tok',
  encodingAESKey: 'abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG',
};
const miniProgram = {
  appId: 'wx2234567890abcdef',
  secret: 'secret2',
  kind: 'mini-program' as const,
  apiSecurity: {
    symmetricKey: Buffer.alloc(32, 7).toString('base64'),
    symmetricSn: 'SYM_SN',
    asymmetricSn: 'ASYM_SN',
    developerPublicKeyPath: 'keys/developer_public.pem',
    platformPrivateKeyPath: 'keys/platform_key.pem',
  },
};
const merchant = {
  mchid: '1900009191',
  apiV3Key: 'a7cde1ZJB1kG2e7VfTs3jQzaWizur8Gb',
  merchantCertificateSerial: fx.keys.goCertSerial,
  // apiclient_cert.pem works as the public key: it is what the merchant downloads.
  merchantPublicKeyPath: 'keys/apiclient_cert.pem',
  merchantPrivateKeyPath: 'keys/apiclient_key.pem',
};

describe('weixin-kit emulator --config with key files', () => {
  it('reads …Path keys relative to the config file, and the emulator uses those keys', async () => {
    file('conf/keys/apiclient_cert.pem', fx.keys.goCert);
    file('conf/keys/apiclient_key.pem', fx.keys.goKeyPkcs8);
    file('conf/keys/developer_public.pem', fx.keys.goPublicSpki);
    file('conf/keys/platform_key.pem', fx.keys.platformKeyPkcs8);
    const config = file(
      'conf/emulator.json',
      JSON.stringify({ apps: [app, miniProgram], merchants: [merchant] }),
    );
    const { code, err } = await start(['--config', config]);
    expect(err).toBe('');
    expect(code).toBe(0);
    const emulator = running as RunningEmulator;

    const served = (await (await fetch(`${emulator.url}/_emulator/config`)).json()) as {
      merchants: Array<Record<string, unknown>>;
      apps: Array<{ apiSecurity?: Record<string, unknown> }>;
    };
    expect(served.merchants[0]).toMatchObject({
      merchantPublicKeyPem: fx.keys.goCert,
      merchantPrivateKeyPem: fx.keys.goKeyPkcs8,
    });
    expect(served.merchants[0]).not.toHaveProperty('merchantPublicKeyPath');
    expect(served.apps[1]?.apiSecurity).toMatchObject({
      developerPublicKeyPem: fx.keys.goPublicSpki,
      platformPrivateKeyPem: fx.keys.platformKeyPkcs8,
    });

    // A request signed with the merchant's key passes the emulator's check against the file's certificate.
    const { now } = (await (await fetch(`${emulator.url}/_emulator/clock`)).json()) as { now: number };
    const signed = await fetch(`${emulator.url}/v3/certificates`, {
      headers: {
        accept: 'application/json',
        authorization: buildAuthorization({
          mchid: merchant.mchid,
          serialNo: merchant.merchantCertificateSerial,
          privateKey: fx.keys.goKeyPkcs8,
          method: 'GET',
          url: '/v3/certificates',
          timestamp: now,
        }),
      },
    });
    expect(signed.status).toBe(200);
  });

  it('a missing key file: exit 1, the key and the resolved path named', async () => {
    const config = file(
      'missing/emulator.json',
      JSON.stringify({ apps: [], merchants: [{ ...merchant, merchantPrivateKeyPath: undefined }] }),
    );
    const { code, err } = await start(['--config', config]);
    expect(code).toBe(1);
    expect(running).toBeUndefined();
    expect(err).toContain('INVALID_CONFIG');
    expect(err).toContain('merchants[0].merchantPublicKeyPath');
    expect(err).toContain(join(dir, 'missing', 'keys', 'apiclient_cert.pem'));
    expect(err).toContain('ENOENT');
  });

  it('a PEM and its …Path together, or the wrong kind of key in the file: exit 1 naming the key', async () => {
    file('wrong/keys/apiclient_cert.pem', fx.keys.goKeyPkcs8); // a private key where the public one belongs
    const both = file(
      'wrong/both.json',
      JSON.stringify({
        apps: [],
        merchants: [{ ...merchant, merchantPrivateKeyPath: undefined, merchantPublicKeyPem: fx.keys.goCert }],
      }),
    );
    const a = await start(['--config', both]);
    expect(a.code).toBe(1);
    expect(a.err).toMatch(
      /merchants\[0\]: give merchantPublicKeyPem .* or merchantPublicKeyPath .*, not both/,
    );

    const wrongKind = file(
      'wrong/kind.json',
      JSON.stringify({ apps: [], merchants: [{ ...merchant, merchantPrivateKeyPath: undefined }] }),
    );
    const b = await start(['--config', wrongKind]);
    expect(b.code).toBe(1);
    expect(b.err).toMatch(/merchants\[0\]\.merchantPublicKeyPath: .*apiclient_cert\.pem: .*private key/);
    expect(b.err).not.toContain('PRIVATE KEY-----\n');
  });
});

describe('weixin-kit emulator --callback-url', () => {
  let server: Server | undefined;
  afterEach(async () => {
    await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
    server = undefined;
  });

  async function developerServer(): Promise<{ url: string; received: IncomingMessage[] }> {
    const received: IncomingMessage[] = [];
    server = createServer((req, res) => {
      received.push(req);
      req.resume();
      req.on('end', () => res.end('success'));
    });
    await new Promise<void>((resolve) => server?.listen(0, '127.0.0.1', resolve));
    return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/wechat`, received };
  }

  it('without --config: the generated Official Account pushes to the given URL', async () => {
    const dev = await developerServer();
    const { code, out } = await start(['--callback-url', dev.url]);
    expect(code).toBe(0);
    const emulator = running as RunningEmulator;
    const oa = emulator.config.apps.find((a) => a.kind === 'official-account');
    expect(oa?.callbackUrl).toBe(dev.url);
    expect(out).toContain(`callbackUrl=${dev.url}`);

    const push = await fetch(`${emulator.url}/_emulator/push`, {
      method: 'POST',
      body: JSON.stringify({ appId: oa?.appId, message: { MsgType: 'text', Content: 'hi' } }),
    });
    const answer = (await push.json()) as { attempts: number; status: number };
    expect(answer).toMatchObject({ attempts: 1, status: 200 });
    expect(dev.received).toHaveLength(1);
    expect(dev.received[0]?.method).toBe('POST');
    expect(dev.received[0]?.url).toMatch(/^\/wechat\?signature=/);
  });

  it('with --config: overrides the first app’s callbackUrl', async () => {
    const config = file(
      'cb/emulator.json',
      JSON.stringify({ apps: [{ ...app, callbackUrl: 'http://127.0.0.1:1/old' }], merchants: [] }),
    );
    const { code } = await start(['--config', config, '--callback-url', 'http://127.0.0.1:3000/wechat']);
    expect(code).toBe(0);
    expect(running?.config.apps[0]?.callbackUrl).toBe('http://127.0.0.1:3000/wechat');
  });

  it('a URL that is not http(s), or a config without apps: exit 1 with the fix', async () => {
    const bad = await start(['--callback-url', 'ftp://example.com/x']);
    expect(bad.code).toBe(1);
    expect(bad.err).toMatch(/--callback-url must be an http\(s\) URL/);
    const noApps = file('cb/no-apps.json', JSON.stringify({ apps: [], merchants: [] }));
    const empty = await start(['--config', noApps, '--callback-url', 'http://127.0.0.1:3000/wechat']);
    expect(empty.code).toBe(1);
    expect(empty.err).toMatch(/--callback-url sets the first app's callbackUrl, but .* has no apps/);
    expect(running).toBeUndefined();
  });
});

describe('weixin-kit emulator (CLI)', () => {
  it('starts from a config file on a free port and prints its URL and credentials', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'wk-cli-'));
    const file = join(dir, 'emulator.json');
    writeFileSync(file, JSON.stringify({ apps: [app], merchants: [] }));
    const lines: string[] = [];
    const emulator = await runEmulatorCommand(['--port', '0', '--config', file], (l) => lines.push(l));
    try {
      expect(lines[0]).toBe(`weixin-kit emulator listening on ${emulator.url}`);
      expect(lines[1]).toContain(`${emulator.url}/_emulator/ui`);
      expect(lines.join('\n')).toContain(`appId=${app.appId}`);
      expect((await fetch(`${emulator.url}/_emulator/stats`)).status).toBe(200);
    } finally {
      await emulator.close();
    }
  });

  it('explains an unreadable or invalid config file', async () => {
    expectCode(() => readEmulatorConfig('/nonexistent/emulator.json'), 'INVALID_CONFIG');
    const dir = mkdtempSync(join(tmpdir(), 'wk-cli-'));
    writeFileSync(join(dir, 'bad.json'), '{ apps: ');
    expect(() => readEmulatorConfig(join(dir, 'bad.json'))).toThrow(/not valid JSON/);
    await expect(runEmulatorCommand(['--port', 'x'], () => {})).rejects.toThrow(/--port/);
  });
});
