// Issue 10, one contract for the token clients: every API method of OfficialAccount, MiniProgram,
// Work and OpenPlatform is `method(params, options?: RequestOptions)` returning an APIPromise;
// their options take process.env-style undefined; dispatcher and logger reach the transport.
// Each test builds its own in-process emulator, so the tests share no state.
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { APIPromise } from '../../src/core/api-promise.js';
import type { RequestOptions } from '../../src/core/request-options.js';
import { createEmulator, type Emulator } from '../../src/emulator/index.js';
import { MiniProgram } from '../../src/mini-program/index.js';
import { OfficialAccount } from '../../src/official-account/index.js';
import { OpenPlatform } from '../../src/open-platform/index.js';
import { Work } from '../../src/work/index.js';

const OA = { appId: 'wx8a8b8c8d8e8f9091', secret: 'oa-secret-contract', kind: 'official-account' as const };
const developer = generateKeyPairSync('rsa', { modulusLength: 2048 });
const API_SECURITY = {
  symmetricKey: randomBytes(32).toString('base64'),
  symmetricSn: 'fa05fe1e5bcc79b81ad5ad4b58acf787',
  asymmetricSn: '97845f6ed842ea860df6fdf65941ff56',
};
// API安全 on, so that secureRequest and riskRank are sealed calls too.
const MP = {
  appId: 'wx9a9b9c9d9e9fa0a1',
  secret: 'mp-secret-contract',
  kind: 'mini-program' as const,
  apiSecurity: {
    ...API_SECURITY,
    developerPublicKeyPem: developer.publicKey.export({ type: 'spki', format: 'pem' }).toString(),
  },
};
const CORP = {
  corpId: 'wwaaabacadaeafb0b1',
  agents: [{ agentId: 1000002, secret: 'agent-secret-contract' }],
};
const COMPONENT = {
  componentAppId: 'wxbabbbcbdbebfc0c1',
  componentSecret: 'component-secret-contract',
  token: 'component-token',
  encodingAESKey: 'abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG',
};
const AUTHORIZER = 'wxcacbcccdcecfd0d1';
const BASE = 'https://api.weixin.qq.com';

/** What the clients sent: each request's URL path, headers and fetch init. */
interface Sent {
  path: string;
  headers: Headers;
  init: RequestInit | undefined;
}

/** One emulator, and the four clients on it, sending through a fetch that records every request. */
async function setup(
  extra: { dispatcher?: object; logger?: { error(): void; warn(f: Record<string, unknown>): void } } = {},
) {
  const emulator: Emulator = createEmulator({
    apps: [OA, MP],
    merchants: [],
    corps: [CORP],
    components: [COMPONENT],
  });
  const sent: Sent[] = [];
  const fetch = (input: Request | string | URL, init?: RequestInit) => {
    const url = new URL(input instanceof Request ? input.url : String(input));
    sent.push({ path: url.pathname, headers: new Headers(init?.headers), init });
    return emulator.fetch(input, init);
  };
  const control = async <T = Record<string, unknown>>(path: string, body: unknown) =>
    (await (
      await emulator.fetch(`${BASE}${path}`, { method: 'POST', body: JSON.stringify(body) })
    ).json()) as T;
  const common = { baseUrl: BASE, fetch, ...extra };
  const oa = new OfficialAccount({ appId: OA.appId, secret: OA.secret, ...common });
  const published = (await (
    await emulator.fetch(`${BASE}/_emulator/mini-program/api-security?appId=${MP.appId}`)
  ).json()) as { platformSn: string; platformCertificatePem: string };
  const mp = new MiniProgram({
    appId: MP.appId,
    secret: MP.secret,
    apiSecurity: {
      ...API_SECURITY,
      privateKey: developer.privateKey,
      platformCertificates: { [published.platformSn]: published.platformCertificatePem },
    },
    ...common,
  });
  const work = new Work({
    corpId: CORP.corpId,
    corpSecret: 'agent-secret-contract',
    agentId: 1000002,
    ...common,
  });
  const op = new OpenPlatform({
    componentAppId: COMPONENT.componentAppId,
    componentSecret: COMPONENT.componentSecret,
    ...common,
  });
  const { ticket } = await control<{ ticket: string }>('/_emulator/open-platform/ticket', {
    componentAppId: COMPONENT.componentAppId,
  });
  await op.saveVerifyTicket(ticket);
  const { openId } = await control<{ openId: string }>('/_emulator/users', { appId: OA.appId });
  return { emulator, sent, control, oa, mp, work, op, openId };
}

type Setup = Awaited<ReturnType<typeof setup>>;
type Call = (options: RequestOptions) => PromiseLike<unknown>;

/** Every API method of the four clients, called with valid-looking params and the given options. */
function everyMethod({ oa, mp, work, op, openId }: Setup): Record<string, Call> {
  const file = {
    data: new Uint8Array([0xff, 0xd8, 0xff, 0xe0, 1, 2, 3]),
    filename: 'a.jpg',
    contentType: 'image/jpeg',
  };
  const session_key = Buffer.alloc(16, 7).toString('base64');
  return {
    'OfficialAccount.request': (o) => oa.request('GET', '/cgi-bin/user/get', o),
    'OfficialAccount.users.get': (o) => oa.users.get({ openid: openId }, o),
    'OfficialAccount.users.batchGet': (o) => oa.users.batchGet({ user_list: [{ openid: openId }] }, o),
    'OfficialAccount.users.list': (o) => oa.users.list({}, o),
    'OfficialAccount.menus.create': (o) =>
      oa.menus.create({ button: [{ type: 'click', name: 'a', key: 'k' }] }, o),
    'OfficialAccount.menus.get': (o) => oa.menus.get(o),
    'OfficialAccount.menus.delete': (o) => oa.menus.delete(o),
    'OfficialAccount.templates.send': (o) =>
      oa.templates.send({ touser: openId, template_id: 't', data: { a: { value: 'b' } } }, o),
    'OfficialAccount.customMessages.send': (o) =>
      oa.customMessages.send({ touser: openId, msgtype: 'text', text: { content: 'hi' } }, o),
    'OfficialAccount.media.upload': (o) => oa.media.upload({ type: 'image', media: file }, o),
    'OfficialAccount.media.get': (o) => oa.media.get({ media_id: 'none' }, o),
    'OfficialAccount.media.stream': (o) => oa.media.stream({ media_id: 'none' }, o),
    'OfficialAccount.qrcodes.create': (o) =>
      oa.qrcodes.create({ action_name: 'QR_LIMIT_SCENE', action_info: { scene: { scene_id: 1 } } }, o),
    'OfficialAccount.qrcodes.createTemporary': (o) => oa.qrcodes.createTemporary({ scene_str: 's' }, o),
    'OfficialAccount.qrcodes.createPermanent': (o) => oa.qrcodes.createPermanent({ scene_id: 2 }, o),
    'OfficialAccount.auth.exchangeCode': (o) => oa.auth.exchangeCode({ code: 'code' }, o),
    'OfficialAccount.auth.refresh': (o) => oa.auth.refresh({ refresh_token: 'rt' }, o),
    'OfficialAccount.auth.userInfo': (o) => oa.auth.userInfo({ access_token: 'uat', openid: openId }, o),
    'OfficialAccount.network.getCallbackIp': (o) => oa.network.getCallbackIp(o),
    'OfficialAccount.network.getApiDomainIp': (o) => oa.network.getApiDomainIp(o),
    'OfficialAccount.network.checkCallback': (o) =>
      oa.network.checkCallback({ action: 'dns', check_operator: 'DEFAULT' }, o),
    'MiniProgram.request': (o) => mp.request('GET', '/cgi-bin/user/get', o),
    'MiniProgram.secureRequest': (o) => mp.secureRequest('/wxa/getuserriskrank', { openid: 'o' }, o),
    'MiniProgram.network.getCallbackIp': (o) => mp.network.getCallbackIp(o),
    'MiniProgram.network.getApiDomainIp': (o) => mp.network.getApiDomainIp(o),
    'MiniProgram.network.checkCallback': (o) =>
      mp.network.checkCallback({ action: 'dns', check_operator: 'DEFAULT' }, o),
    'MiniProgram.auth.code2Session': (o) => mp.auth.code2Session({ js_code: 'code' }, o),
    'MiniProgram.auth.checkSession': (o) => mp.auth.checkSession({ openid: 'o', session_key }, o),
    'MiniProgram.phoneNumbers.get': (o) => mp.phoneNumbers.get({ code: 'code' }, o),
    'MiniProgram.subscribeMessages.send': (o) =>
      mp.subscribeMessages.send({ touser: 'o', template_id: 't', data: { a: { value: 'b' } } }, o),
    'MiniProgram.wxacodes.getUnlimited': (o) => mp.wxacodes.getUnlimited({ scene: 'a=1' }, o),
    'MiniProgram.security.msgSecCheck': (o) =>
      mp.security.msgSecCheck({ content: 'hi', openid: 'o', scene: 2 }, o),
    'MiniProgram.security.mediaCheckAsync': (o) =>
      mp.security.mediaCheckAsync(
        { media_url: 'https://e.com/a.png', media_type: 2, openid: 'o', scene: 1 },
        o,
      ),
    'MiniProgram.security.riskRank': (o) =>
      mp.security.riskRank({ openid: 'o', scene: 0, client_ip: '203.0.113.7' }, o),
    'Work.request': (o) => work.request('GET', '/cgi-bin/user/get', { ...o, query: { userid: 'zhangsan' } }),
    'Work.messages.send': (o) =>
      work.messages.send({ touser: 'zhangsan', msgtype: 'text', text: { content: 'hi' } }, o),
    'Work.users.get': (o) => work.users.get({ userid: 'zhangsan' }, o),
    'Work.network.getCallbackIp': (o) => work.network.getCallbackIp(o),
    'Work.network.getApiDomainIp': (o) => work.network.getApiDomainIp(o),
    'OpenPlatform.request': (o) =>
      op.request('POST', '/cgi-bin/component/api_create_preauthcode', {
        ...o,
        body: { component_appid: COMPONENT.componentAppId },
      }),
    'OpenPlatform.auth.createPreAuthCode': (o) => op.auth.createPreAuthCode(o),
    'OpenPlatform.auth.exchangeCode': (o) => op.auth.exchangeCode({ authorization_code: 'code' }, o),
    'Authorizer.request': (o) => op.authorizer(AUTHORIZER).request('GET', '/cgi-bin/user/get', o),
  };
}

/**
 * Methods that are not API calls and so take no RequestOptions: URL builders, local decryption,
 * credential getters (served from the token store) and the Open Platform's store plumbing.
 */
const NOT_API_CALLS = new Set([
  'OfficialAccount.getAccessToken',
  'OfficialAccount.getJsapiTicket',
  'OfficialAccount.getCardTicket',
  'OfficialAccount.qrcodes.imageUrl',
  'OfficialAccount.auth.authorizeUrl',
  'OfficialAccount.jssdk.config',
  'MiniProgram.getAccessToken',
  'MiniProgram.decryptData',
  'Work.getAccessToken',
  'OpenPlatform.getComponentAccessToken',
  'OpenPlatform.saveVerifyTicket',
  'OpenPlatform.verifyTicketHandler',
  'OpenPlatform.saveRefreshToken',
  'OpenPlatform.getRefreshToken',
  'OpenPlatform.authorizer',
  // The authorizers' typed clients (their own methods take RequestOptions) and local bookkeeping.
  'OpenPlatform.officialAccount',
  'OpenPlatform.miniProgram',
  'OpenPlatform.authorizerCacheStats',
  'OpenPlatform.forgetAuthorizer',
  'OpenPlatform.handleAuthorizationEvent',
  'OpenPlatform.attachCallback',
  'OpenPlatform.auth.authorizeUrl',
  'Authorizer.getAccessToken',
]);

/** `Client.method` and `Client.namespace.method` for every function a client instance offers. */
function methodNames(name: string, client: object): string[] {
  const names: string[] = [];
  const prototype = Object.getPrototypeOf(client) as object;
  const own = prototype === Object.prototype ? [] : Object.getOwnPropertyNames(prototype);
  for (const key of own) {
    const descriptor = Object.getOwnPropertyDescriptor(prototype, key);
    if (key !== 'constructor' && typeof descriptor?.value === 'function') names.push(`${name}.${key}`);
  }
  for (const [key, value] of Object.entries(client)) {
    if (typeof value === 'function') names.push(`${name}.${key}`);
    else if (
      typeof value === 'object' &&
      value !== null &&
      Object.getPrototypeOf(value) === Object.prototype
    ) {
      for (const [method, fn] of Object.entries(value))
        if (typeof fn === 'function') names.push(`${name}.${key}.${method}`);
    }
  }
  return names;
}

/** Gets every token a method may need, so that a call's own request is the only one it sends. */
async function warmTokens(s: Setup): Promise<void> {
  await Promise.all([s.oa.getAccessToken(), s.mp.getAccessToken(), s.work.getAccessToken()]);
  const { pre_auth_code } = await s.op.auth.createPreAuthCode();
  const { authorizationCode } = await s.control<{ authorizationCode: string }>(
    '/_emulator/open-platform/authorize',
    {
      componentAppId: COMPONENT.componentAppId,
      authorizerAppId: AUTHORIZER,
      preAuthCode: pre_auth_code,
    },
  );
  await s.op.auth.exchangeCode({ authorization_code: authorizationCode });
  await s.op.authorizer(AUTHORIZER).getAccessToken();
}

describe('every API method takes RequestOptions', () => {
  it('the table below lists every method of every client (or says why one is not an API call)', async () => {
    const s = await setup();
    try {
      const listed = new Set([...Object.keys(everyMethod(s)), ...NOT_API_CALLS]);
      const offered = [
        ...methodNames('OfficialAccount', s.oa),
        ...methodNames('MiniProgram', s.mp),
        ...methodNames('Work', s.work),
        ...methodNames('OpenPlatform', s.op),
        ...methodNames('Authorizer', s.op.authorizer(AUTHORIZER)),
      ];
      expect(offered.filter((name) => !listed.has(name))).toEqual([]);
      expect([...listed].filter((name) => !offered.includes(name))).toEqual([]);
    } finally {
      s.emulator.close();
    }
  });

  it('an already aborted signal rejects each call with its reason, and nothing is sent', async () => {
    const s = await setup();
    try {
      await warmTokens(s);
      for (const [name, call] of Object.entries(everyMethod(s))) {
        const reason = new Error(`stop ${name}`);
        const before = s.sent.length;
        const promise = call({ signal: AbortSignal.abort(reason) });
        expect(promise, name).toBeInstanceOf(APIPromise);
        await expect(promise, name).rejects.toBe(reason);
        expect(
          s.sent.slice(before).map((r) => r.path),
          name,
        ).toEqual([]);
      }
    } finally {
      s.emulator.close();
    }
  });

  it('per-call headers reach the wire on each call', async () => {
    const s = await setup();
    try {
      await warmTokens(s);
      for (const [name, call] of Object.entries(everyMethod(s))) {
        const before = s.sent.length;
        await Promise.resolve(call({ headers: { 'x-call': name }, retries: 0 })).catch(() => undefined);
        const own = s.sent.slice(before).filter((r) => r.headers.get('x-call') === name);
        expect(own.length, name).toBeGreaterThan(0);
      }
    } finally {
      s.emulator.close();
    }
  });

  it('per-call retries override the client setting on a resource method', async () => {
    const s = await setup();
    try {
      await warmTokens(s);
      const fault = (path: string) => s.control('/_emulator/faults', { path, errcode: -1, count: 1 });
      await fault('/cgi-bin/user/info');
      await expect(s.oa.users.get({ openid: s.openId }, { retries: 0 })).rejects.toMatchObject({
        errcode: -1,
      });
      await fault('/cgi-bin/user/get');
      await expect(s.work.users.get({ userid: 'zhangsan' }, { retries: 1 })).resolves.toMatchObject({
        userid: 'zhangsan',
      });
    } finally {
      s.emulator.close();
    }
  });
});

describe('withResponse() on a resource method of each client', () => {
  it('gives the data together with the HTTP status and headers, from one request', async () => {
    const s = await setup();
    try {
      await warmTokens(s);
      const before = s.sent.length;
      const user = await s.oa.users.get({ openid: s.openId }).withResponse();
      expect(user.data.openid).toBe(s.openId);
      expect(user.response.status).toBe(200);
      expect(user.response.headers.get('content-type')).toMatch(/json/);

      const menu = await s.oa.menus
        .create({ button: [{ type: 'click', name: 'a', key: 'k' }] })
        .withResponse();
      expect(menu).toMatchObject({ data: { errcode: 0 }, response: { status: 200 } });

      const { code } = await s.control<{ code: string }>('/_emulator/mini-program/phone-code', {
        appId: MP.appId,
        phoneNumber: '13912345678',
      });
      const phone = await s.mp.phoneNumbers.get({ code }).withResponse();
      expect(phone.data.purePhoneNumber).toBe('13912345678');
      expect(phone.response.status).toBe(200);

      const member = await s.work.users.get({ userid: 'zhangsan' }).withResponse();
      expect(member).toMatchObject({ data: { userid: 'zhangsan' }, response: { status: 200 } });

      const pre = await s.op.auth.createPreAuthCode().withResponse();
      expect(pre.data).toEqual({ pre_auth_code: expect.any(String), expires_in: 1800 });
      expect(pre.response.headers.get('content-type')).toMatch(/json/);

      // Each call above sent exactly one request (withResponse does not send again).
      expect(s.sent.length - before).toBe(5);
    } finally {
      s.emulator.close();
    }
  });
});

describe('options from process.env', () => {
  it('compile with string | undefined, and an unset variable is refused with the variable named', () => {
    const env = process.env;
    const unset = 'WEIXIN_KIT_TEST_VARIABLE_THAT_IS_NEVER_SET';
    expect(env[unset]).toBeUndefined();
    const hint = /is required \(it is undefined — if it comes from process\.env, is the variable set\?\)/;
    // These lines are the type check: each required string takes `string | undefined`.
    expect(
      () => new OfficialAccount({ appId: env[unset], secret: env[unset], timeoutMs: undefined }),
    ).toThrow(new RegExp(`OfficialAccount: appId ${hint.source}`));
    expect(() => new MiniProgram({ appId: MP.appId, secret: env[unset], apiSecurity: undefined })).toThrow(
      new RegExp(`MiniProgram: secret ${hint.source}`),
    );
    expect(
      () => new Work({ corpId: env[unset], corpSecret: 's', agentId: 1000002, logger: undefined }),
    ).toThrow(new RegExp(`Work: corpId ${hint.source}`));
    expect(
      () => new OpenPlatform({ componentAppId: 'wx1', componentSecret: env[unset], dispatcher: undefined }),
    ).toThrow(new RegExp(`OpenPlatform: componentSecret ${hint.source}`));
    expect(() => new Work({ corpId: 'ww1', corpSecret: 's', agentId: Number(env[unset]) })).toThrow(
      /agentId must be the app’s AgentId \(an integer; got NaN — from Number\(process\.env\.X\) of an unset variable\?\)/,
    );
  });

  it('still refuses unknown keys on every client', () => {
    const colour = /unknown option "colour"/;
    expect(() => new OfficialAccount({ appId: 'wx1', secret: 's', colour: 'red' } as never)).toThrow(colour);
    expect(() => new MiniProgram({ appId: 'wx1', secret: 's', colour: 'red' } as never)).toThrow(colour);
    expect(() => new Work({ corpId: 'ww1', corpSecret: 's', agentId: 1, colour: 'red' } as never)).toThrow(
      colour,
    );
    expect(
      () => new OpenPlatform({ componentAppId: 'wx1', componentSecret: 's', colour: 'red' } as never),
    ).toThrow(colour);
  });
});

describe('dispatcher and logger reach the transport of every client', () => {
  it('every request, token requests included, carries the dispatcher', async () => {
    const dispatcher = { name: 'egress-proxy' };
    const s = await setup({ dispatcher });
    try {
      await warmTokens(s);
      await s.oa.users.get({ openid: s.openId });
      await s.mp.wxacodes.getUnlimited({ scene: 'a=1' });
      await s.work.users.get({ userid: 'zhangsan' });
      await s.op.auth.createPreAuthCode();
      await s.op
        .authorizer(AUTHORIZER)
        .request('GET', '/cgi-bin/user/get')
        .catch(() => undefined);
      const paths = new Set(s.sent.map((r) => r.path));
      for (const path of [
        '/cgi-bin/stable_token',
        '/cgi-bin/gettoken',
        '/cgi-bin/component/api_component_token',
        '/cgi-bin/component/api_query_auth',
        '/cgi-bin/user/info',
        '/wxa/getwxacodeunlimit',
        '/cgi-bin/user/get',
        '/cgi-bin/component/api_create_preauthcode',
      ]) {
        expect(paths, path).toContain(path);
      }
      const without = s.sent.filter(
        (r) => (r.init as { dispatcher?: object } | undefined)?.dispatcher !== dispatcher,
      );
      expect(without.map((r) => r.path)).toEqual([]);
    } finally {
      s.emulator.close();
    }
  });

  it('the logger hears a retry on each client, with the token masked', async () => {
    const warnings: Array<Record<string, unknown>> = [];
    const all: Array<Record<string, unknown>> = [];
    const warn = (fields: Record<string, unknown>) => {
      warnings.push(fields);
      all.push(fields);
    };
    const s = await setup({ logger: { error: () => {}, warn } });
    try {
      await warmTokens(s);
      const busy = (path: string) => s.control('/_emulator/faults', { path, errcode: -1, count: 1 });
      const retried = async (path: string, call: () => PromiseLike<unknown>) => {
        warnings.length = 0;
        await busy(path);
        await call();
        expect(warnings, path).toEqual([
          expect.objectContaining({ attempt: 1, code: 'SYSTEM_BUSY', url: expect.stringContaining(path) }),
        ]);
      };
      await retried('/cgi-bin/user/info', () => s.oa.users.get({ openid: s.openId }));
      await retried('/wxa/getwxacodeunlimit', () => s.mp.wxacodes.getUnlimited({ scene: 'a=1' }));
      await retried('/cgi-bin/user/get', () => s.work.users.get({ userid: 'zhangsan' }));
      await retried('/cgi-bin/component/api_create_preauthcode', () => s.op.auth.createPreAuthCode());
      const tokens = await Promise.all([
        s.oa.getAccessToken(),
        s.work.getAccessToken(),
        s.op.getComponentAccessToken(),
      ]);
      expect(all).toHaveLength(4);
      for (const token of tokens) expect(JSON.stringify(all)).not.toContain(token);
    } finally {
      s.emulator.close();
    }
  });
});
