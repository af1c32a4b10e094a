// Issue 12, the AppSecret reset procedure (docs/rotation.md): the secret is reset in the console
// (the emulator's POST /_emulator/secrets/reset: the old secret is refused from then on — "重置后旧
// 的 AppSecret 将立即失效", WeChat developer platform, 公众号与服务号 → AppSecret 管理), the operator
// updates the vault, and a client whose secret comes from a provider recovers without a restart:
// WeChat's refusal (40125; WeCom gettoken 40001) makes it read the provider once more and retry
// once. Each test has its own in-process emulator and its own clock.
import { inspect } from 'node:util';
import { describe, expect, it } from 'vitest';
import { createPayNotificationHandler } from '../../src/callbacks/index.js';
import { secretFrom } from '../../src/core/secret-provider.js';
import { CredentialConfigError } from '../../src/credentials/credential-errors.js';
import { TokenCooldownError } from '../../src/credentials/token-cooldown.js';
import { createEmulator, type Emulator } from '../../src/emulator/index.js';
import { MiniProgram } from '../../src/mini-program/index.js';
import { OfficialAccount } from '../../src/official-account/index.js';
import { OpenPlatform } from '../../src/open-platform/index.js';
import { PayV3 } from '../../src/pay/index.js';
import { Work } from '../../src/work/index.js';
import { makeMerchant } from '../pay/helpers.js';

// Distinctive values, grepped for in everything the clients show or report.
const OA = {
  appId: 'wx5e5e5e5e5e5e5e01',
  secret: 'oaSecretBefore7f3a9c1e5b2d4f60',
  kind: 'official-account' as const,
};
const MP = {
  appId: 'wx5e5e5e5e5e5e5e02',
  secret: 'mpSecretBefore8e4b0d2f6c3a5e71',
  kind: 'mini-program' as const,
};
const CORP = {
  corpId: 'ww5e5e5e5e5e5e5e03',
  agents: [{ agentId: 1000002, secret: 'agentSecretBefore9f5c1e3a7d4b6f82' }],
};
const COMPONENT = {
  componentAppId: 'wx5e5e5e5e5e5e5e04',
  componentSecret: 'componentSecretBeforeA06d2f4b8e5c7a93',
  token: 'component-token',
  encodingAESKey: 'abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG',
};
const T0 = 1_700_000_000_000;
const BASE = 'http://emulator';

interface Setup {
  emulator: Emulator;
  control<T = Record<string, unknown>>(path: string, body: unknown): Promise<T>;
  calls(path: string): Promise<number>;
}

function setup(): Setup {
  const emulator = createEmulator({ apps: [OA, MP], merchants: [], corps: [CORP], components: [COMPONENT] });
  return {
    emulator,
    async control(path, body) {
      const res = await emulator.fetch(`${BASE}${path}`, { method: 'POST', body: JSON.stringify(body) });
      expect(res.status, `${path} answered ${res.status}`).toBe(200);
      return (await res.json()) as never;
    },
    async calls(path) {
      const stats = (await (await emulator.fetch(`${BASE}/_emulator/stats`)).json()) as {
        calls: Record<string, number>;
      };
      return stats.calls[path] ?? 0;
    },
  };
}

/** The secret's store: what the operator updates after the console reset. */
function vault(initial: string) {
  const v = {
    value: initial,
    reads: 0,
    read: async () => {
      v.reads++;
      return v.value;
    },
  };
  return v;
}

/** Everything a client reports: hooks and logger, serialised, for the grep at the end. */
function recorder() {
  const lines: string[] = [];
  const record = (kind: string) => (event: unknown) => lines.push(`${kind} ${inspect(event, { depth: 6 })}`);
  return {
    lines,
    hooks: {
      onRequest: record('request'),
      onResponse: record('response'),
      onRetry: record('retry'),
      onError: record('error'),
      onRefresh: record('refresh'),
      onWait: record('wait'),
      onStoreError: record('store'),
      onBreaker: record('breaker'),
    },
    logger: {
      error: (fields: unknown, message: string) => lines.push(`log.error ${message} ${inspect(fields)}`),
      warn: (fields: unknown, message: string) => lines.push(`log.warn ${message} ${inspect(fields)}`),
      info: (fields: unknown, message: string) => lines.push(`log.info ${message} ${inspect(fields)}`),
    },
  };
}

const rejection = (promise: Promise<unknown>) =>
  promise.then(
    () => {
      throw new Error('expected a rejection');
    },
    (error: unknown) => error,
  );

describe('AppSecret reset with the secret from a provider', () => {
  it.each([
    ['stable', '/cgi-bin/stable_token'],
    ['classic', '/cgi-bin/token'],
  ] as const)(
    'OfficialAccount (%s): after the reset, the token refresh is refused once, the provider is re-read, and the client recovers without a restart',
    async (tokenMode, tokenPath) => {
      const { emulator, control, calls } = setup();
      let now = T0;
      const secret = vault(OA.secret);
      const seen = recorder();
      const oa = new OfficialAccount({
        appId: OA.appId,
        secret: secretFrom(secret.read, { name: 'vault:oa' }),
        tokenMode,
        baseUrl: BASE,
        fetch: emulator.fetch,
        now: () => now,
        hooks: seen.hooks,
        logger: seen.logger,
      });
      const { openId } = await control<{ openId: string }>('/_emulator/users', { appId: OA.appId });
      await oa.users.get({ openid: openId });
      expect(secret.reads).toBe(1);
      expect(await calls(tokenPath)).toBe(1);

      // 1. The console reset. 2. The operator puts the new secret in the vault.
      const reset = await control<{ secret: string }>('/_emulator/secrets/reset', { appId: OA.appId });
      expect(reset.secret).toMatch(/^[0-9a-f]{32}$/);
      secret.value = reset.secret;

      // The stored token keeps serving: the secret is not needed until the next refresh.
      await oa.users.get({ openid: openId });
      expect(secret.reads).toBe(1);
      expect(await calls(tokenPath)).toBe(1);

      // The token is due for refresh: the cached (old) secret is refused, the provider is read
      // once more, and the fetch is made once more with the new secret — all inside this call.
      now += 7200 * 1000;
      const user = await oa.users.get({ openid: openId });
      expect(user.openid).toBe(openId);
      expect(secret.reads).toBe(2);
      expect(await calls(tokenPath)).toBe(3);

      // And from then on the new secret is used directly.
      await control('/_emulator/tokens/revoke', { appId: OA.appId });
      await oa.users.get({ openid: openId });
      expect(secret.reads).toBe(2);
      expect(await calls(tokenPath)).toBe(4);

      const everything = seen.lines.join('\n');
      expect(everything).toContain(tokenPath);
      expect(everything).not.toContain(OA.secret);
      expect(everything).not.toContain(reset.secret);
    },
  );

  it('tokens revoked with the reset: the API call refreshes its token and recovers in the same call', async () => {
    const { control, calls, emulator } = setup();
    const secret = vault(OA.secret);
    const oa = new OfficialAccount({
      appId: OA.appId,
      secret: secretFrom(secret.read),
      baseUrl: BASE,
      fetch: emulator.fetch,
      now: () => T0,
    });
    const { openId } = await control<{ openId: string }>('/_emulator/users', { appId: OA.appId });
    await oa.users.get({ openid: openId });
    secret.value = (
      await control<{ secret: string }>('/_emulator/secrets/reset', { appId: OA.appId })
    ).secret;
    await control('/_emulator/tokens/revoke', { appId: OA.appId });
    // 40001 on the API → token invalidated → refresh refused (40125) → provider re-read → token → API retried.
    expect((await oa.users.get({ openid: openId })).openid).toBe(openId);
    expect(secret.reads).toBe(2);
    expect(await calls('/cgi-bin/stable_token')).toBe(3);
    expect(await calls('/cgi-bin/user/info')).toBe(3);
  });

  it('before the vault is updated: INVALID_APPSECRET after exactly one re-read and one token request; it recovers once the vault holds the new secret', async () => {
    const { control, calls, emulator } = setup();
    let now = T0;
    const secret = vault(OA.secret);
    const oa = new OfficialAccount({
      appId: OA.appId,
      secret: secretFrom(secret.read),
      baseUrl: BASE,
      fetch: emulator.fetch,
      now: () => now,
    });
    const { openId } = await control<{ openId: string }>('/_emulator/users', { appId: OA.appId });
    await oa.users.get({ openid: openId });
    const { secret: fresh } = await control<{ secret: string }>('/_emulator/secrets/reset', {
      appId: OA.appId,
    });
    await control('/_emulator/tokens/revoke', { appId: OA.appId });

    const refused = await rejection(oa.users.get({ openid: openId }));
    expect(refused).toBeInstanceOf(CredentialConfigError);
    expect(refused).toMatchObject({ code: 'INVALID_APPSECRET', errcode: 40125 });
    // Re-read once (same value: not sent again).
    expect(secret.reads).toBe(2);
    expect(await calls('/cgi-bin/stable_token')).toBe(2);
    // The failure cool-down holds further fetches back, without reading the vault either.
    expect(await rejection(oa.users.get({ openid: openId }))).toBeInstanceOf(TokenCooldownError);
    expect(secret.reads).toBe(2);
    expect(await calls('/cgi-bin/stable_token')).toBe(2);

    secret.value = fresh;
    now += 1000;
    expect((await oa.users.get({ openid: openId })).openid).toBe(openId);
    expect(secret.reads).toBe(3);
    expect(await calls('/cgi-bin/stable_token')).toBe(4);
  });

  it('MiniProgram: a refused code2Session re-reads the provider for the next login (the code is not resent)', async () => {
    const { control, calls, emulator } = setup();
    const secret = vault(MP.secret);
    const mp = new MiniProgram({
      appId: MP.appId,
      secret: secretFrom(secret.read),
      baseUrl: BASE,
      fetch: emulator.fetch,
    });
    const login = async () =>
      (await control<{ code: string }>('/_emulator/mini-program/login', { appId: MP.appId })).code;
    expect((await mp.auth.code2Session({ js_code: await login() })).openid).toBeTruthy();
    secret.value = (
      await control<{ secret: string }>('/_emulator/secrets/reset', { appId: MP.appId })
    ).secret;

    const refused = await rejection(mp.auth.code2Session({ js_code: await login() }));
    expect(refused).toMatchObject({ name: 'CredentialConfigError', code: 'INVALID_APPSECRET' });
    expect(await calls('/sns/jscode2session')).toBe(2);
    expect(secret.reads).toBe(2);
    expect((await mp.auth.code2Session({ js_code: await login() })).openid).toBeTruthy();
    expect(await calls('/sns/jscode2session')).toBe(3);
    expect(secret.reads).toBe(2);
  });

  it('Work: a reset agent Secret (gettoken 40001) is re-read from the provider and the call recovers', async () => {
    const { control, calls, emulator } = setup();
    const agent = CORP.agents[0] as { agentId: number; secret: string };
    const secret = vault(agent.secret);
    const seen = recorder();
    const work = new Work({
      corpId: CORP.corpId,
      corpSecret: secretFrom(secret.read),
      agentId: agent.agentId,
      baseUrl: BASE,
      fetch: emulator.fetch,
      hooks: seen.hooks,
      logger: seen.logger,
    });
    await work.users.get({ userid: 'zhangsan' });
    const { secret: fresh } = await control<{ secret: string }>('/_emulator/secrets/reset', {
      corpId: CORP.corpId,
      agentId: agent.agentId,
    });
    secret.value = fresh;
    await control('/_emulator/wecom/tokens/revoke', { corpId: CORP.corpId });
    expect((await work.users.get({ userid: 'zhangsan' })).userid).toBe('zhangsan');
    expect(secret.reads).toBe(2);
    expect(await calls('/cgi-bin/gettoken')).toBe(3);
    const everything = seen.lines.join('\n');
    expect(everything).toContain('/cgi-bin/gettoken');
    expect(everything).not.toContain(agent.secret);
    expect(everything).not.toContain(fresh);
  });

  it('OpenPlatform: a reset componentSecret is re-read from the provider when the component token is refreshed', async () => {
    const { control, calls, emulator } = setup();
    let now = T0;
    const secret = vault(COMPONENT.componentSecret);
    const seen = recorder();
    const op = new OpenPlatform({
      componentAppId: COMPONENT.componentAppId,
      componentSecret: secretFrom(secret.read),
      baseUrl: BASE,
      fetch: emulator.fetch,
      now: () => now,
      hooks: seen.hooks,
      logger: seen.logger,
    });
    const { ticket } = await control<{ ticket: string }>('/_emulator/open-platform/ticket', {
      componentAppId: COMPONENT.componentAppId,
    });
    await op.saveVerifyTicket(ticket);
    await op.auth.createPreAuthCode();
    secret.value = (
      await control<{ secret: string }>('/_emulator/secrets/reset', {
        componentAppId: COMPONENT.componentAppId,
      })
    ).secret;
    now += 7200 * 1000;
    expect((await op.auth.createPreAuthCode()).pre_auth_code).toMatch(/^preauthcode@@@/);
    expect(secret.reads).toBe(2);
    expect(await calls('/cgi-bin/component/api_component_token')).toBe(3);
    const everything = seen.lines.join('\n');
    expect(everything).toContain('api_component_token');
    expect(everything).not.toContain(COMPONENT.componentSecret);
    expect(everything).not.toContain(secret.value);
  });

  it('a plain-string secret is not retried: one request, INVALID_APPSECRET (nothing to re-read)', async () => {
    const { control, calls, emulator } = setup();
    const oa = new OfficialAccount({
      appId: OA.appId,
      secret: OA.secret,
      baseUrl: BASE,
      fetch: emulator.fetch,
    });
    await control('/_emulator/secrets/reset', { appId: OA.appId });
    expect(await rejection(oa.getAccessToken())).toMatchObject({ code: 'INVALID_APPSECRET' });
    expect(await calls('/cgi-bin/stable_token')).toBe(1);
  });

  it('a provider that cannot be read fails the token fetch with SECRET_UNAVAILABLE, without a request', async () => {
    const { calls, emulator } = setup();
    const oa = new OfficialAccount({
      appId: OA.appId,
      secret: secretFrom(() => Promise.reject(new Error('vault sealed')), { name: 'vault:oa' }),
      baseUrl: BASE,
      fetch: emulator.fetch,
    });
    expect(await rejection(oa.getAccessToken())).toMatchObject({
      name: 'SecretUnavailableError',
      code: 'SECRET_UNAVAILABLE',
      provider: 'vault:oa',
    });
    expect(await calls('/cgi-bin/stable_token')).toBe(0);
  });
});

describe('secret options', () => {
  it('still refuse a missing secret when the client is built, with the same message', () => {
    expect(() => new OfficialAccount({ appId: OA.appId, secret: undefined })).toThrow(
      'OfficialAccount: secret is required (it is undefined — if it comes from process.env, is the variable set?)',
    );
    expect(() => new MiniProgram({ appId: MP.appId, secret: '' })).toThrow(
      'MiniProgram: secret is required (it is an empty string)',
    );
    expect(() => new Work({ corpId: CORP.corpId, corpSecret: 42 as never, agentId: 1 })).toThrow(
      'Work: corpSecret is required (got a number)',
    );
    expect(
      () => new OpenPlatform({ componentAppId: COMPONENT.componentAppId, componentSecret: undefined }),
    ).toThrow(/OpenPlatform: componentSecret is required/);
  });

  it('never show a secret: util.inspect and JSON.stringify of clients built with values or providers', () => {
    const pay = makeMerchant('1900009901', 'public-key');
    const NEW_KEY = 'ApiV3KeyDistinct0123456789abcdEF';
    const providers = [
      secretFrom(async () => OA.secret, { name: 'vault:oa' }),
      secretFrom(async () => COMPONENT.componentSecret),
    ];
    const clients: unknown[] = [
      new OfficialAccount({ appId: OA.appId, secret: OA.secret }),
      new OfficialAccount({ appId: OA.appId, secret: providers[0] }),
      new MiniProgram({ appId: MP.appId, secret: MP.secret }),
      new Work({ corpId: CORP.corpId, corpSecret: CORP.agents[0]?.secret, agentId: 1000002 }),
      new OpenPlatform({
        componentAppId: COMPONENT.componentAppId,
        componentSecret: COMPONENT.componentSecret,
      }),
      new OpenPlatform({ componentAppId: COMPONENT.componentAppId, componentSecret: providers[1] }),
      new PayV3({
        mchid: pay.config.mchid,
        merchantSerialNo: pay.config.merchantCertificateSerial,
        privateKey: pay.privateKey,
        apiV3Key: [NEW_KEY, pay.config.apiV3Key],
        autoCertificates: true,
      }),
      createPayNotificationHandler({
        apiV3Key: [NEW_KEY, secretFrom(async () => pay.config.apiV3Key)],
        verifier: { verify: () => {} },
      }),
      ...providers,
    ];
    const secrets = [
      OA.secret,
      MP.secret,
      CORP.agents[0]?.secret,
      COMPONENT.componentSecret,
      NEW_KEY,
      pay.config.apiV3Key,
    ];
    for (const client of clients) {
      const shown = [
        inspect(client, { showHidden: true, depth: Number.POSITIVE_INFINITY, getters: true }),
        JSON.stringify(client) ?? '',
        String(client),
      ].join('\n');
      for (const value of secrets) expect(shown).not.toContain(value);
    }
  });
});
