// Issue 9: WeChat's refusal of a setting (AppSecret, AppID, IP whitelist) is a ConfigError that
// says what to fix, never a token refresh or a retry; and a failing token endpoint is asked a
// bounded number of times, not once per API call. Requests are counted on the emulator.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CredentialConfigError } from '../../src/credentials/credential-errors.js';
import { TokenCooldownError } from '../../src/credentials/token-cooldown.js';
import { type RunningEmulator, startEmulator } from '../../src/emulator/index.js';
import { ConfigError, WeChatApiError } from '../../src/errors.js';
import { MiniProgram } from '../../src/mini-program/index.js';
import { OfficialAccount } from '../../src/official-account/index.js';
import { OpenPlatform } from '../../src/open-platform/index.js';
import { Work } from '../../src/work/index.js';

const OA = {
  appId: 'wx3a3b3c3d3e3f4041',
  secret: 'oa-secret-credential-errors',
  kind: 'official-account' as const,
};
const MP = {
  appId: 'wx4a4b4c4d4e4f5051',
  secret: 'mp-secret-credential-errors',
  kind: 'mini-program' as const,
};
const CORP = {
  corpId: 'ww5a5b5c5d5e5f6061',
  agents: [{ agentId: 1000002, secret: 'agent-secret-credential' }],
};
const COMPONENT = {
  componentAppId: 'wx6a6b6c6d6e6f7071',
  componentSecret: 'component-secret-credential-errors',
  token: 'component-token',
  encodingAESKey: 'abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG',
};
const WRONG = 'wrong-secret-never-shown';
const T0 = 1_700_000_000_000;

let emulator: RunningEmulator;
let openId: string;
const post = async <T = Record<string, unknown>>(path: string, body: unknown) =>
  (await (await fetch(`${emulator.url}${path}`, { method: 'POST', body: JSON.stringify(body) })).json()) as T;
const clearFaults = () => fetch(`${emulator.url}/_emulator/faults`, { method: 'DELETE' });
/** Requests the emulator received on `path` so far (faulted ones included). */
const calls = async (path: string) =>
  ((await (await fetch(`${emulator.url}/_emulator/stats`)).json()) as { calls: Record<string, number> })
    .calls[path] ?? 0;
const rejection = (promise: Promise<unknown>) =>
  promise.then(
    () => {
      throw new Error('expected a rejection');
    },
    (error: unknown) => error,
  );

beforeAll(async () => {
  emulator = await startEmulator({
    config: { apps: [OA, MP], merchants: [], corps: [CORP], components: [COMPONENT] },
  });
  ({ openId } = await post<{ openId: string }>('/_emulator/users', { appId: OA.appId }));
});
afterAll(() => emulator.close());

const oa = (extra: Partial<ConstructorParameters<typeof OfficialAccount>[0]> = {}) =>
  new OfficialAccount({ appId: OA.appId, secret: OA.secret, baseUrl: emulator.url, ...extra });

describe('settings WeChat refuses are ConfigErrors, after one request', () => {
  it.each([
    ['stable', '/cgi-bin/stable_token'],
    ['classic', '/cgi-bin/token'],
  ] as const)(
    'a wrong AppSecret (%s) is INVALID_APPSECRET after exactly one token request, not a token error',
    async (tokenMode, path) => {
      const client = oa({ secret: WRONG, tokenMode, now: () => T0 });
      const before = await calls(path);
      const error = await rejection(client.users.get({ openid: openId }));
      expect(error).toBeInstanceOf(ConfigError);
      expect(error).toBeInstanceOf(CredentialConfigError);
      const refused = error as CredentialConfigError;
      expect(refused.code).toBe('INVALID_APPSECRET');
      expect(refused.errcode).toBe(40125);
      expect(refused.errmsg).toMatch(/^invalid appsecret/);
      expect(refused.rid).toMatch(/-emu$/);
      expect(refused.cause).toBeInstanceOf(WeChatApiError);
      expect(refused.message).toContain('secret option');
      expect(refused.message).toContain('mp.weixin.qq.com');
      expect(JSON.stringify(refused.toJSON()) + refused.message).not.toContain(WRONG);
      expect((await calls(path)) - before).toBe(1);
      // The next call is refused by the cool-down, still without asking WeChat.
      const again = await rejection(client.users.get({ openid: openId }));
      expect(again).toBeInstanceOf(TokenCooldownError);
      expect(again).toMatchObject({ code: 'TOKEN_COOLDOWN', lastCode: 'INVALID_APPSECRET', errcode: 40125 });
      expect((again as TokenCooldownError).cause).toBe(error);
      expect((await calls(path)) - before).toBe(1);
    },
  );

  it('an unknown AppID is INVALID_APPID after one token request', async () => {
    const client = new OfficialAccount({ appId: 'wx9f9f9f9f9f9f9f9f', secret: WRONG, baseUrl: emulator.url });
    const before = await calls('/cgi-bin/stable_token');
    const error = await rejection(client.getAccessToken());
    expect(error).toMatchObject({ name: 'CredentialConfigError', code: 'INVALID_APPID', errcode: 40013 });
    expect((error as Error).message).toContain('appId option');
    expect((await calls('/cgi-bin/stable_token')) - before).toBe(1);
  });

  it('40164 from the token endpoint is IP_NOT_WHITELISTED naming the IP WeChat saw, after one request', async () => {
    const client = oa();
    await post('/_emulator/faults', {
      path: '/cgi-bin/stable_token',
      errcode: 40164,
      errmsg: 'invalid ip 203.0.113.7 ipv6 ::ffff:203.0.113.7, not in whitelist',
      count: 1,
    });
    const before = await calls('/cgi-bin/stable_token');
    const error = await rejection(client.users.get({ openid: openId }));
    expect(error).toBeInstanceOf(CredentialConfigError);
    expect(error).toMatchObject({ code: 'IP_NOT_WHITELISTED', errcode: 40164, ip: '203.0.113.7' });
    expect((error as Error).message).toMatch(/Add 203\.0\.113\.7 to the IP whitelist \(IP白名单\)/);
    expect((error as Error).message).toContain('mp.weixin.qq.com');
    expect((await calls('/cgi-bin/stable_token')) - before).toBe(1);
  });

  it('40164 on an ordinary API call is IP_NOT_WHITELISTED: no retry, no token refresh, the token is kept', async () => {
    const client = oa();
    const token = await client.getAccessToken();
    await post('/_emulator/faults', {
      path: '/cgi-bin/user/info',
      errcode: 40164,
      errmsg: 'invalid ip 198.51.100.20 ipv6 ::ffff:198.51.100.20, not in whitelist',
      count: 1,
    });
    const tokensBefore = await calls('/cgi-bin/stable_token');
    const infoBefore = await calls('/cgi-bin/user/info');
    const error = await rejection(client.users.get({ openid: openId }));
    expect(error).toMatchObject({
      name: 'CredentialConfigError',
      code: 'IP_NOT_WHITELISTED',
      ip: '198.51.100.20',
    });
    expect((await calls('/cgi-bin/user/info')) - infoBefore).toBe(1);
    expect((await calls('/cgi-bin/stable_token')) - tokensBefore).toBe(0);
    expect(await client.getAccessToken()).toBe(token);
    expect((await client.users.get({ openid: openId })).openid).toBe(openId);
  });

  it('a code exchange with a wrong AppSecret (40125) is INVALID_APPSECRET', async () => {
    const mp = new MiniProgram({ appId: MP.appId, secret: WRONG, baseUrl: emulator.url });
    const { code } = await post<{ code: string }>('/_emulator/mini-program/login', { appId: MP.appId });
    const error = await rejection(mp.auth.code2Session({ js_code: code }));
    expect(error).toMatchObject({ name: 'CredentialConfigError', code: 'INVALID_APPSECRET', errcode: 40125 });
    expect((error as Error).message).toContain('开发设置');
  });

  it('a wrong WeCom corpSecret (gettoken 40001) is INVALID_APPSECRET after one request, not a token error', async () => {
    const work = new Work({
      corpId: CORP.corpId,
      corpSecret: WRONG,
      agentId: 1000002,
      baseUrl: emulator.url,
    });
    const before = await calls('/cgi-bin/gettoken');
    const error = await rejection(work.users.get({ userid: 'zhangsan' }));
    expect(error).toMatchObject({ name: 'CredentialConfigError', code: 'INVALID_APPSECRET', errcode: 40001 });
    expect((error as Error).message).toContain('corpSecret');
    expect((error as Error).message).toContain('work.weixin.qq.com');
    expect((await calls('/cgi-bin/gettoken')) - before).toBe(1);
  });
});

describe('Open Platform component token', () => {
  it('a wrong componentSecret (40125) is INVALID_APPSECRET after one request', async () => {
    const op = new OpenPlatform({
      componentAppId: COMPONENT.componentAppId,
      componentSecret: WRONG,
      baseUrl: emulator.url,
    });
    const { ticket } = await post<{ ticket: string }>('/_emulator/open-platform/ticket', {
      componentAppId: COMPONENT.componentAppId,
    });
    await op.saveVerifyTicket(ticket);
    const path = '/cgi-bin/component/api_component_token';
    const before = await calls(path);
    const error = await rejection(op.getComponentAccessToken());
    expect(error).toMatchObject({ name: 'CredentialConfigError', code: 'INVALID_APPSECRET', errcode: 40125 });
    expect((error as Error).message).toContain('componentSecret');
    expect((error as Error).message).toContain('open.weixin.qq.com');
    expect((await calls(path)) - before).toBe(1);
  });
});

describe('a failing token endpoint is asked a bounded number of times', () => {
  it('20 sequential calls while stable_token answers -1 make 3 token requests (one fetch, 2 retries), not 60', async () => {
    let now = T0;
    const client = oa({ now: () => now });
    await post('/_emulator/faults', {
      path: '/cgi-bin/stable_token',
      errcode: -1,
      errmsg: 'system error',
      count: 0,
    });
    const before = await calls('/cgi-bin/stable_token');
    const errors: unknown[] = [];
    try {
      for (let i = 0; i < 20; i++) errors.push(await rejection(client.users.get({ openid: openId })));
      expect((await calls('/cgi-bin/stable_token')) - before).toBe(3);
    } finally {
      await clearFaults();
    }
    const [first, ...rest] = errors;
    expect(first).toBeInstanceOf(WeChatApiError);
    expect((first as WeChatApiError).code).toBe('SYSTEM_BUSY');
    for (const error of rest) {
      expect(error).toBeInstanceOf(TokenCooldownError);
      expect(error).toMatchObject({ lastCode: 'SYSTEM_BUSY', errcode: -1, failures: 1, retryAt: T0 + 1000 });
      expect((error as TokenCooldownError).cause).toBe(first);
    }
    // WeChat is back, but the cool-down has not passed: still no request.
    expect(await rejection(client.users.get({ openid: openId }))).toBeInstanceOf(TokenCooldownError);
    expect((await calls('/cgi-bin/stable_token')) - before).toBe(3);
    // Once it has, one request restores service.
    now += 1000;
    expect((await client.users.get({ openid: openId })).openid).toBe(openId);
    expect((await client.users.get({ openid: openId })).openid).toBe(openId);
    expect((await calls('/cgi-bin/stable_token')) - before).toBe(4);
  });
});
