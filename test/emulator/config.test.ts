import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadPublicKey } from '../../src/crypto/index.js';
import { loadEmulatorConfig } from '../../src/emulator/config.js';
import { defaultConfig, resolveConfig } from '../../src/emulator/index.js';
import { fx } from '../crypto/pay-v3-fixture.js';
import { expectCode } from '../helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'weixin-kit-emulator-config-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const merchant = {
  mchid: '1900009191',
  apiV3Key: 'a7cde1ZJB1kG2e7VfTs3jQzaWizur8Gb',
  merchantCertificateSerial: fx.keys.goCertSerial,
};

const app = {
  appId: 'wx1234567890abcdef',
  secret: 'secret',
  kind: 'official-account' as const,
  token: 'tok',
  encodingAESKey: 'abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG',
};

function configFile(name: string, config: unknown): string {
  const path = join(dir, name);
  writeFileSync(path, JSON.stringify(config));
  return path;
}

describe('emulator config: key files', () => {
  it('loadEmulatorConfig inlines a …Path key as the PEM key, read from the config file’s folder', () => {
    writeFileSync(join(dir, 'merchant_cert.pem'), fx.keys.goCert);
    const loaded = loadEmulatorConfig(
      configFile('ok.json', {
        apps: [],
        merchants: [{ ...merchant, merchantPublicKeyPath: 'merchant_cert.pem' }],
      }),
    );
    expect(loaded.merchants[0]).toEqual({ ...merchant, merchantPublicKeyPem: fx.keys.goCert });
    expect(resolveConfig(loaded).merchants[0]?.merchantPublicKeyPem).toBe(fx.keys.goCert);
  });

  it('a …Path that is not a string is refused, naming the key', () => {
    const path = configFile('nan.json', {
      apps: [],
      merchants: [{ ...merchant, merchantPublicKeyPath: 42 }],
    });
    const error = expectCode(() => loadEmulatorConfig(path), 'INVALID_CONFIG');
    expect(error.message).toMatch(/merchants\[0\]\.merchantPublicKeyPath: must be a file path/);
  });

  it('a …Path key given in code is refused with how to pass the PEM instead', () => {
    const error = expectCode(
      () => resolveConfig({ apps: [], merchants: [{ ...merchant, merchantPublicKeyPath: 'cert.pem' }] }),
      'INVALID_CONFIG',
    );
    expect(error.message).toMatch(/"merchantPublicKeyPath" is read only from a config file/);
    expect(error.message).toContain("merchantPublicKeyPem: readFileSync(path, 'utf8')");
  });

  it('a file name given as the PEM points at the …Path key', () => {
    const error = expectCode(
      () =>
        resolveConfig({
          apps: [],
          merchants: [{ ...merchant, merchantPublicKeyPem: './apiclient_cert.pem' }],
        }),
      'INVALID_CONFIG',
    );
    expect(error.message).toMatch(
      /merchants\[0\]\.merchantPublicKeyPem: .*name it with merchantPublicKeyPath/,
    );
  });
});

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
