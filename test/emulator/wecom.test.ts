import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type RunningEmulator, startEmulator } from '../../src/emulator/index.js';

const corp = {
  corpId: 'ww1234567890abcdef',
  agents: [
    { agentId: 1000002, secret: 'agent-two-secret' },
    { agentId: 1000003, secret: 'agent-three-secret' },
  ],
  users: [{ userid: 'zhangsan', name: '张三' }, { userid: 'lisi' }],
};
const oa = { appId: 'wx00000000000000aa', secret: 'oa-secret', kind: 'official-account' as const };

let emulator: RunningEmulator;
const get = async (path: string) =>
  (await fetch(`${emulator.url}${path}`)).json() as Promise<Record<string, unknown>>;
const post = async (path: string, body: unknown) =>
  (await fetch(`${emulator.url}${path}`, { method: 'POST', body: JSON.stringify(body) })).json() as Promise<
    Record<string, unknown>
  >;
const token = async (secret: string) =>
  (await get(`/cgi-bin/gettoken?corpid=${corp.corpId}&corpsecret=${secret}`)).access_token as string;

// A fresh emulator per test: these tests count issued tokens and sent messages, move the clock
// and revoke tokens, so none may see what another did.
beforeEach(async () => {
  emulator = await startEmulator({ config: { apps: [oa], merchants: [], corps: [corp] } });
});
afterEach(() => emulator.close());

describe('WeCom gettoken', () => {
  it('issues one token per agent and returns the same one while it is valid', async () => {
    const a = await token('agent-two-secret');
    expect(await token('agent-two-secret')).toBe(a);
    expect(await token('agent-three-secret')).not.toBe(a);
    const stats = await get('/_emulator/stats');
    expect((stats.tokensIssued as Record<string, number>)[`${corp.corpId}:1000002`]).toBe(1);
  });

  it('answers the documented errcodes for missing or wrong credentials', async () => {
    expect((await get(`/cgi-bin/gettoken?corpsecret=x`)).errcode).toBe(41002);
    expect((await get(`/cgi-bin/gettoken?corpid=${corp.corpId}`)).errcode).toBe(41004);
    expect((await get(`/cgi-bin/gettoken?corpid=ww0000000000000000&corpsecret=x`)).errcode).toBe(40013);
    expect((await get(`/cgi-bin/gettoken?corpid=${corp.corpId}&corpsecret=wrong`)).errcode).toBe(40001);
  });

  it('expires tokens after 7200 s of emulated time and revokes them on request', async () => {
    const a = await token('agent-two-secret');
    await post('/_emulator/clock', { advanceSeconds: 7201 });
    expect((await get(`/cgi-bin/user/get?access_token=${a}&userid=zhangsan`)).errcode).toBe(42001);
    const b = await token('agent-two-secret');
    expect(b).not.toBe(a);
    expect(await post('/_emulator/wecom/tokens/revoke', { corpId: corp.corpId })).toMatchObject({
      revoked: 1,
    });
    expect((await get(`/cgi-bin/user/get?access_token=${b}&userid=zhangsan`)).errcode).toBe(40014);
  });
});

describe('WeCom APIs', () => {
  it('sends an app message as the token’s own agent only, listing invalid users', async () => {
    const t = await token('agent-two-secret');
    const ok = await post(`/cgi-bin/message/send?access_token=${t}`, {
      touser: 'zhangsan|nobody',
      msgtype: 'text',
      agentid: 1000002,
      text: { content: '你好' },
    });
    expect(ok).toMatchObject({ errcode: 0, invaliduser: 'nobody' });
    const other = await post(`/cgi-bin/message/send?access_token=${t}`, {
      touser: 'zhangsan',
      msgtype: 'text',
      agentid: 1000003,
      text: { content: 'x' },
    });
    expect(other.errcode).toBe(301002);
    const none = await post(`/cgi-bin/message/send?access_token=${t}`, {
      touser: 'nobody',
      msgtype: 'text',
      agentid: 1000002,
      text: { content: 'x' },
    });
    expect(none.errcode).toBe(81013);
    const sent = await get(`/_emulator/wecom/messages?corpId=${corp.corpId}`);
    expect((sent.messages as unknown[]).length).toBe(1);
  });

  it('gets a member, 60111 for an unknown one, and keeps /cgi-bin/user/get as the follower list for OA tokens', async () => {
    const t = await token('agent-two-secret');
    expect(await get(`/cgi-bin/user/get?access_token=${t}&userid=zhangsan`)).toMatchObject({
      errcode: 0,
      userid: 'zhangsan',
      name: '张三',
    });
    expect((await get(`/cgi-bin/user/get?access_token=${t}&userid=ghost`)).errcode).toBe(60111);
    await post('/_emulator/users', { appId: oa.appId, openId: 'oFollower000000000000000001' });
    const oaToken = (
      await get(`/cgi-bin/token?grant_type=client_credential&appid=${oa.appId}&secret=${oa.secret}`)
    ).access_token as string;
    expect(await get(`/cgi-bin/user/get?access_token=${oaToken}`)).toMatchObject({
      total: 1,
      data: { openid: ['oFollower000000000000000001'] },
    });
  });
});
