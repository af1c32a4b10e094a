/**
 * The network APIs through the clients and the emulator: `getcallbackip` and `get_api_domain_ip`
 * (Official Account / Mini Program tokens on api.weixin.qq.com, WeCom tokens on qyapi), and
 * `callback/check` resolving and reaching the app's callback URL over real loopback sockets.
 *
 * Sources (official): 获取微信推送服务器IP developers.weixin.qq.com/doc/service/api/base/api_getcallbackip
 * (`{ ip_list }`); 网络通信检测 …/api_callbackcheck and …/Basic_Information/Network_Detection.html
 * (body `{ action, check_operator }`, answer `{ dns: [{ ip, real_operator }], ping: [{ ip,
 * from_operator, package_loss, time }] }`, errcodes 40201/40202/40203); 获取企业微信回调IP段
 * developer.work.weixin.qq.com/document/path/98988 (`{ ip_list, errcode: 0, errmsg: "ok" }`).
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import {
  createEmulator,
  DEFAULT_CALLBACK_IPS,
  type Emulator,
  type EmulatorConfig,
  resolveConfig,
} from '../../src/emulator/index.js';
import { MiniProgram } from '../../src/mini-program/index.js';
import { OfficialAccount } from '../../src/official-account/index.js';
import { Work } from '../../src/work/index.js';

const BASE = 'https://api.weixin.qq.com';
const OA = { appId: 'wx1a2b3c4d5e6f7a8b', secret: 'oa-network-secret', kind: 'official-account' as const };
const MP = { appId: 'wx9a8b7c6d5e4f3a2b', secret: 'mp-network-secret', kind: 'mini-program' as const };
const CORP = { corpId: 'ww1a2b3c4d5e6f7a8b', agents: [{ agentId: 1000002, secret: 'agent-network-secret' }] };

const closers: Array<() => unknown> = [];
afterEach(async () => {
  for (const close of closers.splice(0)) await close();
});

function world(config: Partial<EmulatorConfig> = {}) {
  const emulator: Emulator = createEmulator({ apps: [OA, MP], merchants: [], corps: [CORP], ...config });
  closers.push(() => emulator.close());
  const common = { baseUrl: BASE, fetch: emulator.fetch, retries: 0 };
  const apps = config.apps ?? [OA, MP];
  const oaConfig = apps[0] ?? OA;
  return {
    emulator,
    oa: new OfficialAccount({ appId: oaConfig.appId, secret: oaConfig.secret, ...common }),
    mp: new MiniProgram({ appId: MP.appId, secret: MP.secret, ...common }),
    work: new Work({ corpId: CORP.corpId, corpSecret: 'agent-network-secret', agentId: 1000002, ...common }),
    raw: async (path: string, init?: RequestInit) =>
      (await (await emulator.fetch(`${BASE}${path}`, init)).json()) as Record<string, unknown>,
  };
}

async function listening(server: Server): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  closers.push(
    () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  );
  return (server.address() as AddressInfo).port;
}

describe('getcallbackip and get_api_domain_ip', () => {
  it('answer the configured callback list to an Official Account, a Mini Program and a WeCom app', async () => {
    const { oa, mp, work } = world();
    expect(await oa.network.getCallbackIp()).toEqual({ ip_list: [...DEFAULT_CALLBACK_IPS] });
    expect(await mp.network.getCallbackIp()).toEqual({ ip_list: [...DEFAULT_CALLBACK_IPS] });
    // WeCom answers with errcode 0 alongside the list, as its documentation shows.
    expect(await work.network.getCallbackIp()).toEqual({
      ip_list: [...DEFAULT_CALLBACK_IPS],
      errcode: 0,
      errmsg: 'ok',
    });
    expect((await oa.network.getApiDomainIp()).ip_list).toEqual(['127.0.0.1']);
    expect((await work.network.getApiDomainIp()).ip_list).toEqual(['127.0.0.1']);
    expect(oa.network.platform).toBe('wechat');
    expect(work.network.platform).toBe('wecom');
  });

  it('check the access_token first: missing 41001, unknown 40001', async () => {
    const { raw } = world();
    expect((await raw('/cgi-bin/getcallbackip')).errcode).toBe(41001);
    expect((await raw('/cgi-bin/getcallbackip?access_token=forged')).errcode).toBe(40001);
    expect((await raw('/cgi-bin/get_api_domain_ip?access_token=forged')).errcode).toBe(40001);
  });

  it('serve options.callbackIps, replaced while running by POST /_emulator/callback-ips', async () => {
    const { oa, raw } = world({ options: { callbackIps: ['203.0.113.0/24', '2001:db8::/32'] } });
    expect((await oa.network.getCallbackIp()).ip_list).toEqual(['203.0.113.0/24', '2001:db8::/32']);
    const set = async (body: unknown) =>
      raw('/_emulator/callback-ips', { method: 'POST', body: JSON.stringify(body) });
    expect(await set({ ip_list: ['198.51.100.0/24'] })).toEqual({ ip_list: ['198.51.100.0/24'] });
    expect((await oa.network.getCallbackIp()).ip_list).toEqual(['198.51.100.0/24']);
    expect((await set({ ip_list: ['not-an-ip'] })).error).toMatch(/ip_list/);
    expect(await raw('/_emulator/callback-ips')).toEqual({ ip_list: ['198.51.100.0/24'] });
  });

  it('refuse a configured entry that is not an address or a CIDR, naming it', () => {
    expect(() =>
      resolveConfig({ apps: [], merchants: [], options: { callbackIps: ['127.0.0.1', '10.0.0.0/40'] } }),
    ).toThrow(/options\.callbackIps\[1\]: must be an IPv4\/IPv6 address or a CIDR/);
  });
});

describe('callback/check', () => {
  it('resolves the callback URL and reaches it: 0% loss to a listening server, 100% to a closed port', async () => {
    const up = await listening(createServer((_req, res) => res.end('success')));
    const closed = createServer();
    const downPort = await listening(closed);
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    const reachable = { ...OA, token: 'tok', callbackUrl: `http://127.0.0.1:${up}/wechat` };
    const unreachable = { ...MP, token: 'tok', callbackUrl: `http://localhost:${downPort}/wechat` };
    const { oa, mp } = world({ apps: [reachable, unreachable] });

    const ok = await oa.network.checkCallback({ action: 'all', check_operator: 'UNICOM' });
    expect(ok.dns).toEqual([{ ip: '127.0.0.1', real_operator: 'UNKNOWN' }]);
    expect(ok.ping).toEqual([
      {
        ip: '127.0.0.1',
        from_operator: 'UNICOM',
        package_loss: '0%',
        time: expect.stringMatching(/^\d+\.\d{3}ms$/),
      },
    ]);

    const lost = await mp.network.checkCallback({ action: 'ping', check_operator: 'DEFAULT' });
    expect(lost).toEqual({
      ping: [{ ip: '127.0.0.1', from_operator: 'DEFAULT', package_loss: '100%', time: '' }],
    });
    expect(await mp.network.checkCallback({ action: 'dns', check_operator: 'CAP' })).toEqual({
      dns: [{ ip: '127.0.0.1', real_operator: 'UNKNOWN' }],
    });
  });

  it('answers 40202 for a bad action, 40203 for a bad operator, 40201 without a callback URL', async () => {
    const { oa } = world();
    await expect(
      oa.network.checkCallback({ action: 'trace', check_operator: 'DEFAULT' } as never),
    ).rejects.toMatchObject({
      errcode: 40202,
    });
    await expect(
      oa.network.checkCallback({ action: 'all', check_operator: 'MOBILE' } as never),
    ).rejects.toMatchObject({
      errcode: 40203,
    });
    await expect(
      oa.network.checkCallback({ action: 'all', check_operator: 'DEFAULT' }),
    ).rejects.toMatchObject({
      errcode: 40201,
    });
  });
});
