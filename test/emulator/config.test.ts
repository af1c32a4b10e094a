import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadEmulatorConfig } from '../../src/emulator/config.js';
import { resolveConfig } from '../../src/emulator/index.js';
import { fx } from '../crypto/pay-v3-fixture.js';
import { expectCode } from '../helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'weixin-kit-emulator-config-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const merchant = {
  mchid: '1900009191',
  apiV3Key: 'a7cde1ZJB1kG2e7VfTs3jQzaWizur8Gb',
  merchantCertificateSerial: fx.keys.goCertSerial,
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
