// WeCom third-party apps (企业微信 第三方应用) end to end over real HTTP: the emulator pushes
// suite_ticket and the authorisation events to the SDK's own callback pipeline (ReceiveId = suite
// id), the WeComSuite client fetches suite and corp tokens from it, and members' messages reach the
// data callback and a self-built app's callback (ReceiveId = corp id). Tokens live in a real Redis
// where one test needs two instances.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { toNodeListener } from '../../src/adapters/node.js';
import {
  createWeComCallback,
  reply,
  type SuiteChangeAuthEvent,
  type SuiteCreateAuthEvent,
  type TextMessage,
} from '../../src/callbacks/index.js';
import { type RunningEmulator, resolveConfig, startEmulator } from '../../src/emulator/index.js';
import {
  ConfigError,
  MemoryStore,
  type PermanentCodeInfo,
  type SuiteAuthInfo,
  WeComSuite,
} from '../../src/index.js';
import { RedisStore } from '../../src/redis/index.js';
import { clientFactories, redisUp, type TestClient, uniquePrefix } from '../credentials/redis-helper.js';
import { drainUntil } from '../helpers/manual-scheduler.js';

const SUITE = {
  suiteId: 'ww5u1te0000000001',
  suiteSecret: 'suite-secret-0123456789abcdefghijklmnopq',
  token: 'SuiteToken',
  encodingAESKey: 'abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG',
};
// A second app with no instruction callback: its tests own their tickets and install codes.
const SUITE2 = { ...SUITE, suiteId: 'ww5u1te0000000002', suiteSecret: 'second-suite-secret' };
const CORP_A = 'wwc0rpa000000000a';
const CORP_B = 'wwc0rpb000000000b';
const APP = {
  agentId: 1000002,
  secret: 'app-secret-0123456789',
  token: 'AppToken',
  encodingAESKey: 'ZYXWVUTSRQPONMLKJIHGFEDCBA9876543210zyxwvut',
};

let emulator: RunningEmulator;
let server: Server;
const created: Array<{ info: PermanentCodeInfo; event: SuiteCreateAuthEvent }> = [];
const changed: Array<{ event: SuiteChangeAuthEvent; info: SuiteAuthInfo }> = [];
const cancelled: string[] = [];
const dataMessages: TextMessage[] = [];
const appMessages: TextMessage[] = [];
let tickets = 0;
// The suite wired onto the instruction callback.
let suite: WeComSuite;

// biome-ignore lint/suspicious/noExplicitAny: responses are inspected field by field
type Json = any;
const post = async (path: string, body: unknown): Promise<Json> =>
  (await fetch(`${emulator.url}${path}`, { method: 'POST', body: JSON.stringify(body) })).json();
const postStatus = async (path: string, body: unknown) => {
  const res = await fetch(`${emulator.url}${path}`, { method: 'POST', body: JSON.stringify(body) });
  return { status: res.status, body: (await res.json()) as Json };
};
// Distinct timestamps per push: WeCom instruction pushes are de-duplicated by their whole content.
const tick = () => post('/_emulator/clock', { advanceSeconds: 1 });
const emulatedNow = () => emulator.state.now();

/** A fresh suite_ticket pushed to the instruction callback (each test that needs the suite token starts so). */
async function pushTicket(): Promise<void> {
  await tick();
  expect(await post('/_emulator/wecom/suites/ticket', { suiteId: SUITE.suiteId })).toMatchObject({
    status: 200,
  });
}

/** Installs the suite in a company (create_auth → the instruction callback stores its permanent code). */
async function install(corpId: string, extra: Record<string, unknown> = {}): Promise<Json> {
  await pushTicket();
  await tick();
  const installed = await post('/_emulator/wecom/suites/install', {
    suiteId: SUITE.suiteId,
    corpId,
    ...extra,
  });
  expect(installed).toMatchObject({ status: 200, reply: '' });
  return installed;
}

/** A suite of SUITE2 (no callback) with a ticket, and an install code of `corpId` it exchanges. */
async function suite2(options: Partial<ConstructorParameters<typeof WeComSuite>[0]>, corpIds: string[]) {
  const second = newSuite({ suiteId: SUITE2.suiteId, suiteSecret: SUITE2.suiteSecret, ...options });
  await second.saveSuiteTicket(
    (await post('/_emulator/wecom/suites/ticket', { suiteId: SUITE2.suiteId })).ticket,
  );
  for (const corpId of corpIds) {
    const installed = await post('/_emulator/wecom/suites/install', { suiteId: SUITE2.suiteId, corpId });
    expect(installed.replyError).toBe('NOT_CONFIGURED');
    await second.auth.exchangeCode({ auth_code: installed.authCode });
  }
  return second;
}

function newSuite(options: Partial<ConstructorParameters<typeof WeComSuite>[0]> = {}): WeComSuite {
  return new WeComSuite({
    suiteId: SUITE.suiteId,
    suiteSecret: SUITE.suiteSecret,
    baseUrl: emulator.url,
    now: emulatedNow,
    ...options,
  });
}

beforeAll(async () => {
  // The data callback of the suite's app in every installing company: ReceiveId is that company's corpid.
  const data = createWeComCallback({
    corpId: CORP_A,
    token: SUITE.token,
    encodingAESKey: SUITE.encodingAESKey,
    now: emulatedNow,
  }).on('text', (msg) => {
    dataMessages.push(msg);
    return reply.text(`suite got: ${msg.Content}`);
  });
  const app = createWeComCallback({
    corpId: CORP_A,
    token: APP.token,
    encodingAESKey: APP.encodingAESKey,
    now: emulatedNow,
  }).on('text', (msg) => {
    appMessages.push(msg);
    return reply.text(`app got: ${msg.Content}`);
  });
  const routes: Record<string, (req: IncomingMessage, res: ServerResponse) => void> = {
    '/data': toNodeListener(data),
    '/app': toNodeListener(app),
  };
  server = createServer((req, res) => {
    const route = routes[(req.url ?? '').split('?')[0] ?? ''];
    if (route === undefined) {
      res.statusCode = 404;
      res.end();
    } else route(req, res);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  emulator = await startEmulator({
    config: {
      apps: [],
      merchants: [],
      corps: [
        { corpId: CORP_A, agents: [{ ...APP, callbackUrl: `${base}/app` }] },
        { corpId: CORP_B, agents: [{ agentId: 1000002, secret: 'b-secret' }] },
      ],
      suites: [
        { ...SUITE2, ticketIntervalSeconds: 0 },
        {
          ...SUITE,
          callbackUrl: `${base}/suite`,
          dataCallbackUrl: `${base}/data`,
          ticketIntervalSeconds: 600,
        },
      ],
      options: { clock: 'manual' },
    },
  });
  // The instruction callback (指令回调): ReceiveId is the suite id; the suite acts on every event.
  suite = newSuite({ store: new MemoryStore({ now: emulatedNow }) });
  routes['/suite'] = toNodeListener(
    suite
      .attachCallback(
        createWeComCallback({
          corpId: SUITE.suiteId,
          token: SUITE.token,
          encodingAESKey: SUITE.encodingAESKey,
          now: emulatedNow,
        }),
        {
          create_auth: (info, event) => {
            created.push({ info, event });
          },
          change_auth: (_corpId, event, info) => {
            changed.push({ event, info });
          },
          cancel_auth: (corpId) => {
            cancelled.push(corpId);
          },
        },
      )
      .use(async (message, _ctx, next) => {
        if (message.InfoType === 'suite_ticket') tickets += 1;
        return next();
      }),
  );
});

afterAll(async () => {
  await emulator.close();
  await new Promise((resolve) => server.close(resolve));
});

describe('WeComSuite against the emulator', () => {
  it('refuses to fetch a suite token before any suite_ticket, with SUITE_TICKET_MISSING', async () => {
    const fresh = newSuite();
    await expect(fresh.getSuiteAccessToken()).rejects.toMatchObject({ code: 'SUITE_TICKET_MISSING' });
  });

  it('stores the pushed suite_ticket (ReceiveId = suite id) and gets a suite_access_token with it', async () => {
    await tick();
    const push = await post('/_emulator/wecom/suites/ticket', { suiteId: SUITE.suiteId });
    expect(push).toMatchObject({ attempts: 1, status: 200, reply: '' });
    expect(push.message).toContain('<InfoType><![CDATA[suite_ticket]]></InfoType>');
    const token = await suite.getSuiteAccessToken();
    expect(token).toMatch(/^[A-Za-z0-9-]{20,}$/);
  });

  it('refuses a suite_ticket push encrypted for another ReceiveId', async () => {
    await tick();
    const push = await post('/_emulator/wecom/suites/ticket', {
      suiteId: SUITE.suiteId,
      faults: { receiveId: CORP_A },
    });
    expect(push.replyError).toBe('HTTP_401');
  });

  it('pushes a suite_ticket every 10 emulated minutes', async () => {
    const before = tickets;
    await post('/_emulator/clock', { advanceSeconds: 600 });
    await drainUntil(() => tickets > before, 'the scheduled suite_ticket push');
    expect(tickets).toBe(before + 1);
  });

  it('runs the install flow: pre-auth code, session info, install link, create_auth → permanent code → corp client', async () => {
    await pushTicket();
    const { pre_auth_code, expires_in } = await suite.auth.createPreAuthCode();
    expect(expires_in).toBe(1200);
    await suite.auth.setSessionInfo({ pre_auth_code, session_info: { auth_type: 1 } });
    const link = suite.auth.installUrl({
      pre_auth_code,
      redirect_uri: 'https://example.com/wecom/back?x=1',
      state: 'st8',
    });
    expect(link).toBe(
      `https://open.work.weixin.qq.com/3rdapp/install?suite_id=${SUITE.suiteId}&pre_auth_code=${encodeURIComponent(pre_auth_code)}&redirect_uri=https%3A%2F%2Fexample.com%2Fwecom%2Fback%3Fx%3D1&state=st8`,
    );
    await tick();
    const install = await post('/_emulator/wecom/suites/install', {
      suiteId: SUITE.suiteId,
      corpId: CORP_A,
      preAuthCode: pre_auth_code,
      state: 'st8',
    });
    expect(install).toMatchObject({ status: 200, reply: '' });
    const done = created.at(-1);
    expect(done?.event).toMatchObject({ InfoType: 'create_auth', SuiteId: SUITE.suiteId, State: 'st8' });
    expect(done?.info.auth_corp_info.corpid).toBe(CORP_A);
    expect(await suite.isAuthorized(CORP_A)).toBe(true);
    const corp = await suite.corp(CORP_A);
    expect(corp.agentId).toBe(install.agentId);
    const sent = await corp.messages.send({
      touser: 'zhangsan',
      msgtype: 'text',
      text: { content: 'installed' },
    });
    expect(sent.errcode).toBe(0);
    expect((await corp.users.get({ userid: 'zhangsan' })).userid).toBe('zhangsan');
    // A second install code for the same company is refused once used.
    await expect(suite.auth.exchangeCode({ auth_code: install.authCode })).rejects.toMatchObject({
      errcode: 40029,
    });
  });

  it('pushes members’ messages to the data callback with the company as ReceiveId, and checks the encrypted reply', async () => {
    await install(CORP_A);
    await tick();
    const push = await post('/_emulator/wecom/suites/push', {
      suiteId: SUITE.suiteId,
      corpId: CORP_A,
      message: { MsgType: 'text', Content: '你好' },
    });
    expect(push.replyError).toBeUndefined();
    expect(push.reply).toContain('suite got: 你好');
    expect(dataMessages.at(-1)).toMatchObject({
      ToUserName: CORP_A,
      FromUserName: 'zhangsan',
      Content: '你好',
    });
  });

  it('pushes to a self-built app’s callback (ReceiveId = corp id) and retries a duplicate without handling it twice', async () => {
    const before = appMessages.length;
    const push = await post('/_emulator/wecom/push', {
      corpId: CORP_A,
      agentId: APP.agentId,
      message: 'hello app',
      faults: { duplicate: true },
    });
    expect(push.reply).toContain('app got: hello app');
    expect(push.duplicates[0]).toMatchObject({ status: 200, reply: '' });
    expect(appMessages.length).toBe(before + 1);
    expect(appMessages.at(-1)).toMatchObject({ MsgType: 'text', AgentID: String(APP.agentId) });
  });

  it('acts on change_auth: reads get_auth_info with the stored permanent code and tells the listener', async () => {
    await install(CORP_A);
    await tick();
    const push = await post('/_emulator/wecom/suites/change', { suiteId: SUITE.suiteId, corpId: CORP_A });
    expect(push).toMatchObject({ status: 200, reply: '' });
    expect(changed.at(-1)?.event).toMatchObject({ InfoType: 'change_auth', AuthCorpId: CORP_A });
    expect(changed.at(-1)?.info.auth_info.agent[0]?.agentid).toBe((await suite.corp(CORP_A)).agentId);
    expect((await suite.getAuthInfo(CORP_A)).auth_corp_info.corpid).toBe(CORP_A);
  });

  it('forgets a company on cancel_auth: CORP_NOT_AUTHORIZED, also through a client kept from before', async () => {
    await install(CORP_B);
    const kept = await suite.corp(CORP_B);
    await kept.users.get({ userid: 'zhangsan' });
    await tick();
    const push = await post('/_emulator/wecom/suites/cancel', { suiteId: SUITE.suiteId, corpId: CORP_B });
    expect(push).toMatchObject({ status: 200, revoked: 1 });
    expect(cancelled).toContain(CORP_B);
    expect(await suite.isAuthorized(CORP_B)).toBe(false);
    await expect(suite.corp(CORP_B)).rejects.toMatchObject({ code: 'CORP_NOT_AUTHORIZED', corpId: CORP_B });
    // The old client's token was revoked by WeCom and forgotten here: the retry finds no permanent code.
    await expect(kept.users.get({ userid: 'zhangsan' })).rejects.toMatchObject({
      code: 'CORP_NOT_AUTHORIZED',
    });
    // A reinstall makes the company known again.
    await install(CORP_B);
    expect((await (await suite.corp(CORP_B)).users.get({ userid: 'zhangsan' })).userid).toBe('zhangsan');
  });

  it('keeps at most corpCacheSize clients in memory; an evicted one is rebuilt from the store', async () => {
    const small = await suite2({ store: new MemoryStore({ now: emulatedNow }), corpCacheSize: 1 }, [
      CORP_A,
      CORP_B,
    ]);
    const a = await small.corp(CORP_A);
    await small.corp(CORP_B);
    expect(small.corpCacheStats()).toEqual({ size: 1, maxSize: 1, evictions: 1 });
    const rebuilt = await small.corp(CORP_A);
    expect(rebuilt).not.toBe(a);
    expect((await rebuilt.users.get({ userid: 'zhangsan' })).userid).toBe('zhangsan');
  });
});

describe.runIf(redisUp).each(clientFactories)('WeComSuite on a shared Redis (%s)', (_name, factory) => {
  let redis: TestClient;
  const prefix = uniquePrefix();

  beforeAll(async () => {
    redis = await factory();
  });
  afterAll(async () => {
    await redis.del(await redis.keys(`${prefix}*`));
    await redis.quit();
  });

  it('fetches a company’s corp token once for two instances asking at the same time', async () => {
    const storeOf = () => new RedisStore(redis.client, { prefix });
    const one = await suite2({ store: storeOf() }, [CORP_A]);
    const two = newSuite({ suiteId: SUITE2.suiteId, suiteSecret: SUITE2.suiteSecret, store: storeOf() });
    // Drop the token that came with the permanent code, so both instances need a fresh one.
    await redis.del(await redis.keys(`${prefix}*suite_corp_access_token*`));
    const statsKey = `${SUITE2.suiteId}:${CORP_A}`;
    const before =
      ((await (await fetch(`${emulator.url}/_emulator/stats`)).json()) as Json).tokensIssued[statsKey] ?? 0;
    const [a, b] = await Promise.all([one.corp(CORP_A), two.corp(CORP_A)]);
    const tokens = await Promise.all([
      a.getAccessToken(),
      b.getAccessToken(),
      a.getAccessToken(),
      b.getAccessToken(),
    ]);
    expect(new Set(tokens).size).toBe(1);
    const after = ((await (await fetch(`${emulator.url}/_emulator/stats`)).json()) as Json).tokensIssued[
      statsKey
    ];
    expect(after - before).toBe(1);
    // cancel_auth handled by one instance stops the other at once, through the client it keeps.
    await one.forgetCorp(CORP_A);
    await expect(b.getAccessToken()).rejects.toMatchObject({ code: 'CORP_NOT_AUTHORIZED' });
    await expect(one.corp(CORP_A)).rejects.toMatchObject({ code: 'CORP_NOT_AUTHORIZED' });
  });
});

describe('WeComSuite refusals', () => {
  it('drops a suite_ticket WeCom refuses (40085), so the next caller gets SUITE_TICKET_MISSING without a request', async () => {
    const fresh = newSuite();
    await fresh.saveSuiteTicket('suiteticket@@@not-one-the-emulator-issued');
    await expect(fresh.getSuiteAccessToken()).rejects.toMatchObject({ errcode: 40085 });
    const calls = async () =>
      ((await (await fetch(`${emulator.url}/_emulator/stats`)).json()) as Json).calls[
        '/cgi-bin/service/get_suite_token'
      ];
    const before = await calls();
    await expect(fresh.getSuiteAccessToken()).rejects.toMatchObject({ code: 'SUITE_TICKET_MISSING' });
    expect(await calls()).toBe(before);
  });

  it('refuses bad options and arguments with INVALID_CONFIG / INVALID_ARGUMENT', async () => {
    expect(() => new WeComSuite({ suiteId: undefined, suiteSecret: 's' })).toThrow(/suiteId is required/);
    expect(() => new WeComSuite({ suiteId: SUITE.suiteId, suiteSecret: 's', corpCacheSize: 0 })).toThrow(
      /corpCacheSize must be a positive integer/,
    );
    expect(
      () => new WeComSuite({ suiteId: SUITE.suiteId, suiteSecret: 's', corpSecret: 'x' } as never),
    ).toThrow(/unknown option "corpSecret"/);
    const fresh = newSuite();
    expect(() => fresh.auth.installUrl({ pre_auth_code: 'p', redirect_uri: 'example.com' })).toThrow(
      expect.objectContaining({ code: 'INVALID_ARGUMENT' }),
    );
    expect(() =>
      fresh.auth.installUrl({ pre_auth_code: 'p', redirect_uri: 'https://example.com', state: 'a b' }),
    ).toThrow(/state/);
    await expect(
      fresh.suiteTicketHandler()({
        SuiteId: SUITE2.suiteId,
        InfoType: 'suite_ticket',
        TimeStamp: '1',
        SuiteTicket: 't',
      }),
    ).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    await expect(fresh.corp('not a corp id')).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
  });
});

describe('emulator control routes for WeCom pushes', () => {
  it('say what is missing: an unknown suite, an agent without a callback, a company that did not install', async () => {
    const unknown = await postStatus('/_emulator/wecom/suites/ticket', { suiteId: 'ww5u1te0000000999' });
    expect(unknown.status).toBe(404);
    expect(unknown.body.error).toContain('add it under "suites"');
    const noCallback = await postStatus('/_emulator/wecom/push', {
      corpId: CORP_B,
      agentId: 1000002,
      message: 'hi',
    });
    expect(noCallback.status).toBe(400);
    expect(noCallback.body.error).toContain('corps[1].agents[0].callbackUrl');
    const notInstalled = await postStatus('/_emulator/wecom/suites/cancel', {
      suiteId: SUITE2.suiteId,
      corpId: 'wwn0tinsta11ed000',
    });
    expect(notInstalled.status).toBe(400);
  });
});

describe('emulator config for WeCom suites and app callbacks', () => {
  it('names the field of a bad suite or agent push setting', () => {
    const base = { apps: [], merchants: [] };
    expect(() => resolveConfig({ ...base, suites: [{ ...SUITE, encodingAESKey: undefined }] })).toThrow(
      /suites\[0\]\.encodingAESKey: is required/,
    );
    expect(() => resolveConfig({ ...base, suites: [{ ...SUITE, suiteId: 'nope' }] })).toThrow(
      /suites\[0\]\.suiteId/,
    );
    expect(() => resolveConfig({ ...base, suites: [{ ...SUITE, ticketIntervalSeconds: -1 }] })).toThrow(
      /suites\[0\]\.ticketIntervalSeconds/,
    );
    expect(() => resolveConfig({ ...base, suites: [{ ...SUITE, bogus: 1 }] })).toThrow(
      /suites\[0\]: unknown key "bogus"/,
    );
    expect(() =>
      resolveConfig({
        ...base,
        corps: [{ corpId: CORP_A, agents: [{ agentId: 1, secret: 's', callbackUrl: 'http://127.0.0.1/x' }] }],
      }),
    ).toThrow(/corps\[0\]\.agents\[0\]\.token: is required/);
    expect(() => resolveConfig({ ...base, suites: [SUITE] })).not.toThrow(ConfigError);
  });
});
