import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openMpApiResponse, sealMpApiRequest } from '../../src/crypto/mp-api-security.js';
import { type RunningEmulator, resolveConfig, startEmulator } from '../../src/emulator/index.js';
import { ConfigError, WeChatApiError, WeChatKitError } from '../../src/errors.js';
import { MiniProgram, type MiniProgramApiSecurity } from '../../src/mini-program/index.js';

const developer = generateKeyPairSync('rsa', { modulusLength: 2048 });
const DEV_PUBLIC = developer.publicKey.export({ type: 'spki', format: 'pem' }).toString();
const DEV_PRIVATE = developer.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
const SYM_KEY = randomBytes(32).toString('base64');
const SYM_SN = 'fa05fe1e5bcc79b81ad5ad4b58acf787';
const ASYM_SN = '97845f6ed842ea860df6fdf65941ff56';

const SECURED = {
  appId: 'wx5a5b5c5d5e5f6061',
  secret: 'mp-secure-secret',
  kind: 'mini-program' as const,
  apiSecurity: {
    symmetricKey: SYM_KEY,
    symmetricSn: SYM_SN,
    developerPublicKeyPem: DEV_PUBLIC,
    asymmetricSn: ASYM_SN,
  },
};
const PLAIN = { appId: 'wx6a6b6c6d6e6f7071', secret: 'mp-plain-secret', kind: 'mini-program' as const };
const PARAMS = { openid: 'oUser0000000000000000000001', scene: 0 as const, client_ip: '127.0.0.1' };
const URLPATH = 'https://api.weixin.qq.com/wxa/getuserriskrank';

let emulator: RunningEmulator;
let published: { platformSn: string; platformCertificatePem: string; platformPublicKeyPem: string };

const security = (overrides: Partial<MiniProgramApiSecurity> = {}): MiniProgramApiSecurity => ({
  symmetricKey: SYM_KEY,
  symmetricSn: SYM_SN,
  privateKey: DEV_PRIVATE,
  asymmetricSn: ASYM_SN,
  platformCertificates: { [published.platformSn]: published.platformCertificatePem },
  ...overrides,
});
const securedClient = (overrides: Partial<MiniProgramApiSecurity> = {}, fetchImpl?: typeof fetch) =>
  new MiniProgram({
    appId: SECURED.appId,
    secret: SECURED.secret,
    baseUrl: emulator.url,
    apiSecurity: security(overrides),
    ...(fetchImpl === undefined ? {} : { fetch: fetchImpl }),
  });

/** POSTs to getuserriskrank with the given body and headers; the JSON answer and its headers. */
async function post(body: string, headers: Record<string, string>) {
  const token = await new MiniProgram({
    appId: SECURED.appId,
    secret: SECURED.secret,
    baseUrl: emulator.url,
  }).getAccessToken();
  const res = await fetch(`${emulator.url}/wxa/getuserriskrank?access_token=${token}`, {
    method: 'POST',
    body,
    headers: { 'content-type': 'application/json', ...headers },
  });
  return { json: (await res.json()) as { errcode: number; errmsg: string }, headers: res.headers };
}

const seal = (overrides: Partial<Parameters<typeof sealMpApiRequest>[0]> = {}) =>
  sealMpApiRequest({
    urlpath: URLPATH,
    appId: SECURED.appId,
    symmetricKey: SYM_KEY,
    symmetricSn: SYM_SN,
    privateKey: DEV_PRIVATE,
    asymmetricSn: ASYM_SN,
    params: { appid: SECURED.appId, ...PARAMS },
    ...overrides,
  });

beforeAll(async () => {
  emulator = await startEmulator({ config: { apps: [SECURED, PLAIN], merchants: [] } });
  const res = await fetch(`${emulator.url}/_emulator/mini-program/api-security?appId=${SECURED.appId}`);
  published = (await res.json()) as typeof published;
});
afterAll(() => emulator.close());

describe('Mini Program server-API security against the emulator', () => {
  it('publishes the generated platform certificate and its number', async () => {
    expect(published.platformSn).toMatch(/^[0-9a-f]{32}$/);
    expect(published.platformCertificatePem).toContain('BEGIN CERTIFICATE');
    expect(published.platformPublicKeyPem).toContain('BEGIN PUBLIC KEY');
    const none = await fetch(`${emulator.url}/_emulator/mini-program/api-security?appId=${PLAIN.appId}`);
    expect(none.status).toBe(404);
  });

  it('riskRank: a sealed round trip (certificate or public key), answer verified and decrypted', async () => {
    const mp = securedClient();
    expect(mp.apiSecurityEnabled).toBe(true);
    const result = await mp.security.riskRank(PARAMS);
    expect(result).toEqual({
      errcode: 0,
      errmsg: 'getuserriskrank succ',
      risk_rank: 0,
      unoin_id: expect.any(Number),
    });
    const { platformCertificates: _all, ...rest } = security();
    const byKey = new MiniProgram({
      appId: SECURED.appId,
      secret: SECURED.secret,
      baseUrl: emulator.url,
      apiSecurity: { ...rest, platformCertificate: published.platformPublicKeyPem },
    });
    expect((await byKey.security.riskRank(PARAMS)).unoin_id).toEqual(expect.any(Number));
  });

  it('the emulator answers with Wechatmp-* headers that openMpApiResponse accepts', async () => {
    const sealed = seal();
    const res = await post(sealed.body, sealed.headers);
    expect(res.headers.get('Wechatmp-Serial')).toBe(published.platformSn);
    expect(res.headers.get('Wechatmp-Appid')).toBe(SECURED.appId);
    expect(Object.keys(res.json).sort()).toEqual(['authtag', 'data', 'iv']);
    // And the raw answer of a second call verifies with the published certificate.
    const again = seal();
    const token = await securedClient().getAccessToken();
    const raw = await fetch(`${emulator.url}/wxa/getuserriskrank?access_token=${token}`, {
      method: 'POST',
      body: again.body,
      headers: again.headers,
    });
    const opened = openMpApiResponse({
      urlpath: URLPATH,
      appId: SECURED.appId,
      symmetricKey: SYM_KEY,
      symmetricSn: SYM_SN,
      platformCertificate: published.platformCertificatePem,
      headers: raw.headers,
      body: await raw.text(),
    });
    expect(opened).toMatchObject({ errcode: 0, risk_rank: 0, _appid: SECURED.appId });
  });

  it('refuses a plain request and each missing header (40230–40233)', async () => {
    const plain = await post(JSON.stringify({ appid: SECURED.appId, ...PARAMS }), {});
    expect(plain.json.errcode).toBe(40230);
    const sealed = seal();
    const without = (name: string) => {
      const headers: Record<string, string> = { ...sealed.headers };
      delete headers[name];
      return headers;
    };
    expect((await post(sealed.body, without('Wechatmp-TimeStamp'))).json.errcode).toBe(40231);
    expect((await post(sealed.body, without('Wechatmp-Signature'))).json.errcode).toBe(40232);
    expect((await post(sealed.body, without('Wechatmp-Appid'))).json.errcode).toBe(40233);
    const foreign = await post(sealed.body, { ...sealed.headers, 'Wechatmp-Appid': PLAIN.appId });
    expect(foreign.json.errcode).toBe(40237);
    const unknown = await post(sealed.body, { ...sealed.headers, 'Wechatmp-Appid': 'wx0000000000000000' });
    expect(unknown.json.errcode).toBe(40236);
  });

  it('refuses a bad signature (40234), bad encryption (40235) and stale data (40240)', async () => {
    const sealed = seal();
    const forged = { ...sealed.headers, 'Wechatmp-Signature': seal().headers['Wechatmp-Signature'] };
    expect((await post(sealed.body, forged)).json.errcode).toBe(40234);
    // Correctly signed, but encrypted with another symmetric key.
    const wrongKey = seal({ symmetricKey: randomBytes(32).toString('base64') });
    expect((await post(wrongKey.body, wrongKey.headers)).json.errcode).toBe(40235);
    const stale = seal({ timestamp: Math.floor(Date.now() / 1000) - 3600 });
    expect((await post(stale.body, stale.headers)).json.errcode).toBe(40240);
  });

  it('client: a wrong asymmetricSn, key or urlBase is refused by the emulator (40234)', async () => {
    await expect(
      securedClient({ asymmetricSn: 'not-the-key-number' }).security.riskRank(PARAMS),
    ).rejects.toMatchObject({
      errcode: 40234,
    });
    const other = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
    await expect(securedClient({ privateKey: other }).security.riskRank(PARAMS)).rejects.toMatchObject({
      errcode: 40234,
    });
    // The signed urlpath is the official URL, not baseUrl: another urlBase no longer matches.
    await expect(
      securedClient({ urlBase: 'https://example.com' }).security.riskRank(PARAMS),
    ).rejects.toBeInstanceOf(WeChatApiError);
  });

  it('client: a tampered, re-signed-by-someone-else or unsigned answer is an error, never data', async () => {
    const flipping: typeof fetch = async (input, init) => {
      const res = await fetch(input, init);
      if (!String(input).includes('/wxa/getuserriskrank')) return res;
      const bytes = new Uint8Array(await res.arrayBuffer());
      const at = bytes.indexOf(0x22, 20) - 3; // inside a base64 value
      bytes[at] = (bytes[at] ?? 0) ^ 0x01;
      return new Response(bytes, { status: res.status, headers: res.headers });
    };
    const tampered = securedClient({}, flipping).security.riskRank(PARAMS);
    await expect(tampered).rejects.toBeInstanceOf(WeChatKitError);
    await expect(tampered).rejects.toMatchObject({
      code: expect.stringMatching(/^(SIGNATURE_MISMATCH|DECRYPT_FAILED)$/),
    });

    const wrongPlatform = generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey;
    await expect(
      securedClient({ platformCertificates: { [published.platformSn]: wrongPlatform } }).security.riskRank(
        PARAMS,
      ),
    ).rejects.toMatchObject({ code: 'SIGNATURE_MISMATCH' });
    await expect(
      securedClient({
        platformCertificates: { 'another-sn': published.platformCertificatePem },
      }).security.riskRank(PARAMS),
    ).rejects.toMatchObject({ code: 'SIGNATURE_MISMATCH' });

    const unsigned: typeof fetch = async (input, init) => {
      const res = await fetch(input, init);
      if (!String(input).includes('/wxa/getuserriskrank')) return res;
      return Response.json({ errcode: 0, errmsg: 'getuserriskrank succ', risk_rank: 0, unoin_id: 1 });
    };
    await expect(securedClient({}, unsigned).security.riskRank(PARAMS)).rejects.toMatchObject({
      code: 'SIGNATURE_MISMATCH',
    });
  });

  it('client: a revoked token is refreshed and the request re-sealed once (fresh timestamp/nonce)', async () => {
    const bodies: string[] = [];
    const recording: typeof fetch = async (input, init) => {
      if (String(input).includes('/wxa/getuserriskrank')) bodies.push(String(init?.body));
      return fetch(input, init);
    };
    const mp = securedClient({}, recording);
    await mp.security.riskRank(PARAMS);
    await fetch(`${emulator.url}/_emulator/tokens/revoke`, {
      method: 'POST',
      body: JSON.stringify({ appId: SECURED.appId }),
    });
    expect((await mp.security.riskRank(PARAMS)).errcode).toBe(0);
    expect(bodies).toHaveLength(3);
    expect(new Set(bodies).size).toBe(3);
  });

  it('a decrypted business error becomes a WeChatApiError', async () => {
    await expect(
      securedClient().security.riskRank({ ...PARAMS, appid: PLAIN.appId } as typeof PARAMS),
    ).rejects.toMatchObject({ errcode: 40013 });
  });

  it('plain mode: without apiSecurity riskRank sends JSON; a sealed-only app refuses it', async () => {
    const plain = new MiniProgram({ appId: PLAIN.appId, secret: PLAIN.secret, baseUrl: emulator.url });
    expect(plain.apiSecurityEnabled).toBe(false);
    expect(await plain.security.riskRank(PARAMS)).toMatchObject({ errcode: 0, risk_rank: 0 });
    await expect(plain.secureRequest('/wxa/getuserriskrank', {})).rejects.toBeInstanceOf(ConfigError);
    const unsealed = new MiniProgram({ appId: SECURED.appId, secret: SECURED.secret, baseUrl: emulator.url });
    await expect(unsealed.security.riskRank(PARAMS)).rejects.toMatchObject({ errcode: 40230 });
  });

  it('validates the options on both sides', () => {
    expect(() => securedClient({ symmetricSn: '' })).toThrow(ConfigError);
    expect(() => securedClient({ privateKey: 'not a key' })).toThrow(/privateKey/);
    expect(() => securedClient({ platformCertificate: published.platformCertificatePem })).toThrow(
      /exactly one/,
    );
    expect(() => securedClient({ urlBase: 'http://api.weixin.qq.com/' })).toThrow(/urlBase/);
    const app = (apiSecurity: unknown) => ({ apps: [{ ...SECURED, apiSecurity }], merchants: [] });
    expect(() => resolveConfig(app({ ...SECURED.apiSecurity, symmetricKey: 'c2hvcnQ=' }))).toThrow(
      /symmetricKey/,
    );
    expect(() => resolveConfig(app({ ...SECURED.apiSecurity, developerPublicKeyPem: 'x' }))).toThrow(
      /developerPublicKeyPem/,
    );
    expect(() => resolveConfig(app({ ...SECURED.apiSecurity, extra: 1 }))).toThrow(/unknown key/);
    expect(() => resolveConfig({ apps: [{ ...SECURED, kind: 'official-account' }], merchants: [] })).toThrow(
      /only for Mini Programs/,
    );
    const resolved = resolveConfig(app({ ...SECURED.apiSecurity, platformSn: 'PSN1' }));
    expect(resolved.apps[0]?.apiSecurity).toMatchObject({ platformSn: 'PSN1' });
    expect(resolved.apps[0]?.apiSecurity?.platformPrivateKeyPem).toContain('PRIVATE KEY');
  });
});
