import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readEmulatorConfig, runEmulatorCommand } from '../../src/cli/index.js';
import { loadCertificate, loadPublicKey, PayV3Verifier } from '../../src/crypto/index.js';
import {
  createEmulator,
  defaultConfig,
  EmulatorConnectionDropped,
  type RunningEmulator,
  resolveConfig,
  startEmulator,
} from '../../src/emulator/index.js';
import { expectCode } from '../helpers.js';

const app = {
  appId: 'wx1234567890abcdef',
  secret: 'secret',
  kind: 'official-account' as const,
  token: 'tok',
  encodingAESKey: 'abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG',
};

describe('emulator config', () => {
  it('rejects unknown keys and malformed values with messages that say where', () => {
    const cases: Array<[unknown, RegExp]> = [
      [{ apps: [{ ...app, colour: 'red' }], merchants: [] }, /apps\[0\]: unknown key "colour"/],
      [{ apps: [{ ...app, appId: 'nope' }], merchants: [] }, /apps\[0\]\.appId/],
      [{ apps: [{ ...app, encodingAESKey: 'short' }], merchants: [] }, /apps\[0\]\.encodingAESKey/],
      [
        { apps: [{ ...app, encodingAESKey: undefined, messageMode: 'safe' }], merchants: [] },
        /required in safe mode/,
      ],
      [{ apps: [app, app], merchants: [] }, /appears twice/],
      [{ apps: [], merchants: [{ mchid: '1900000001', apiV3Key: 'short' }] }, /apiV3Key/],
      [{ apps: [], merchants: [], extra: 1 }, /unknown key "extra"/],
      ['not an object', /must be an object/],
    ];
    for (const [config, message] of cases) {
      const error = expectCode(() => resolveConfig(config), 'INVALID_CONFIG');
      expect(error.message).toMatch(message);
    }
  });

  it('generates one app of each kind and a merchant whose keys belong together', () => {
    const config = resolveConfig(defaultConfig());
    expect(config.apps.map((a) => a.kind)).toEqual(['official-account', 'mini-program']);
    const [merchant] = config.merchants;
    expect(merchant?.apiV3Key).toHaveLength(32);
    expect(loadPublicKey(merchant!.merchantPublicKeyPem).asymmetricKeyType).toBe('rsa');
    expect(merchant?.merchantPrivateKeyPem).toContain('BEGIN PRIVATE KEY');
  });
});

describe('emulator over HTTP', () => {
  let emulator: RunningEmulator;
  const post = (path: string, body: unknown) =>
    fetch(`${emulator.url}${path}`, { method: 'POST', body: JSON.stringify(body) });

  beforeAll(async () => {
    emulator = await startEmulator({ config: { apps: [app], merchants: [] } });
  });
  afterAll(() => emulator.close());

  it('answers an unknown API like WeChat (40066) and an unknown /v3 path with 404', async () => {
    expect(await (await fetch(`${emulator.url}/cgi-bin/no_such_api`)).json()).toMatchObject({
      errcode: 40066,
    });
    const v3 = await fetch(`${emulator.url}/v3/no/such`);
    expect(v3.status).toBe(404);
    // even an unknown Pay v3 path answers signed, as every v3 response is
    const platform = (await (await fetch(`${emulator.url}/_emulator/pay/platform`)).json()) as {
      publicKey: { id: string; pem: string };
    };
    const verifier = new PayV3Verifier({
      publicKey: { id: platform.publicKey.id, key: platform.publicKey.pem },
    });
    // Signed at emulated time, which another test of this emulator may have moved: check it there.
    verifier.verify({ headers: v3.headers, body: await v3.text(), now: () => emulator.state.now() });
    expect((await fetch(`${emulator.url}/_emulator/nothing`)).status).toBe(404);
    expect((await fetch(`${emulator.url}/_emulator/clock`, { method: 'PUT' })).status).toBe(405);
  });

  it('publishes a platform certificate whose serial is the one announced, and a PUB_KEY_ID public key', async () => {
    const platform = (await (await fetch(`${emulator.url}/_emulator/pay/platform`)).json()) as {
      certificates: Array<{ serialNo: string; pem: string }>;
      publicKey: { id: string; pem: string };
    };
    const [cert] = platform.certificates;
    expect(loadCertificate(cert!.pem).serialNo).toBe(cert!.serialNo);
    expect(platform.publicKey.id).toMatch(/^PUB_KEY_ID_\d+$/);
    expect(loadPublicKey(platform.publicKey.pem).asymmetricKeyType).toBe('rsa');
  });

  it('moves the emulated clock without waiting', async () => {
    const before = ((await (await fetch(`${emulator.url}/_emulator/clock`)).json()) as { now: number }).now;
    const after = (
      (await (await post('/_emulator/clock', { advanceSeconds: 7200 })).json()) as { now: number }
    ).now;
    expect(after - before).toBeGreaterThanOrEqual(7200);
    expect(after - before).toBeLessThan(7205);
    expect((await post('/_emulator/clock', { advanceSeconds: 'soon' })).status).toBe(400);
  });

  it('injects an errcode for the next N calls of a path only', async () => {
    expect((await post('/_emulator/faults', { path: '/cgi-bin/x', errcode: -1, count: 2 })).status).toBe(200);
    const codes = [];
    for (let i = 0; i < 3; i++)
      codes.push(((await (await fetch(`${emulator.url}/cgi-bin/x`)).json()) as { errcode: number }).errcode);
    expect(codes).toEqual([-1, -1, 40066]);
    expect(((await (await fetch(`${emulator.url}/cgi-bin/y`)).json()) as { errcode: number }).errcode).toBe(
      40066,
    );
  });

  it('drops the connection, truncates the body or delays the answer on request', async () => {
    await post('/_emulator/faults', { path: '/cgi-bin/drop', drop: true });
    await expect(fetch(`${emulator.url}/cgi-bin/drop`)).rejects.toThrow();
    await post('/_emulator/faults', { path: '/cgi-bin/cut', truncate: true });
    const cut = await (await fetch(`${emulator.url}/cgi-bin/cut`)).text();
    expect(() => JSON.parse(cut)).toThrow();
    await post('/_emulator/faults', { path: '/cgi-bin/slow', latencyMs: 150 });
    const started = Date.now();
    await fetch(`${emulator.url}/cgi-bin/slow`);
    expect(Date.now() - started).toBeGreaterThanOrEqual(140);
  });

  it('refuses malformed fault requests and can clear faults', async () => {
    expect((await post('/_emulator/faults', { path: '/cgi-bin/x' })).status).toBe(400);
    expect((await post('/_emulator/faults', { path: 'cgi-bin', errcode: 1 })).status).toBe(400);
    expect((await post('/_emulator/faults', { errcode: 1, bogus: true })).status).toBe(400);
    await post('/_emulator/faults', { errcode: 45009, count: 0 });
    expect(((await (await fetch(`${emulator.url}/cgi-bin/any`)).json()) as { errcode: number }).errcode).toBe(
      45009,
    );
    await fetch(`${emulator.url}/_emulator/faults`, { method: 'DELETE' });
    expect(((await (await fetch(`${emulator.url}/cgi-bin/any`)).json()) as { errcode: number }).errcode).toBe(
      40066,
    );
  });

  it('counts calls per path in stats and serves its config', async () => {
    await fetch(`${emulator.url}/cgi-bin/counted`);
    await fetch(`${emulator.url}/cgi-bin/counted`);
    const stats = (await (await fetch(`${emulator.url}/_emulator/stats`)).json()) as {
      calls: Record<string, number>;
    };
    expect(stats.calls['/cgi-bin/counted']).toBe(2);
    const config = (await (await fetch(`${emulator.url}/_emulator/config`)).json()) as {
      apps: Array<{ appId: string }>;
    };
    expect(config.apps[0]?.appId).toBe(app.appId);
  });
});

describe('in-process emulator', () => {
  it('serves the same routes through fetch, and a drop fault rejects like a reset connection', async () => {
    const emulator = createEmulator({ apps: [app], merchants: [] });
    expect(await (await emulator.fetch('http://emulator/cgi-bin/nope')).json()).toMatchObject({
      errcode: 40066,
    });
    await emulator.fetch('http://emulator/_emulator/faults', {
      method: 'POST',
      body: JSON.stringify({ drop: true }),
    });
    await expect(emulator.fetch('http://emulator/cgi-bin/nope')).rejects.toBeInstanceOf(
      EmulatorConnectionDropped,
    );
    emulator.close();
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
