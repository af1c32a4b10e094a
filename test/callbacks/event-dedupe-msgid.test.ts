/**
 * Regression (found by `npm run soak`): two template messages to one follower sent in the same
 * second get two TEMPLATESENDJOBFINISH reports with the same FromUserName + CreateTime. The event
 * dedupe key must carry their MsgID, else the second report is swallowed as a retry of the first.
 * A retry of one report (the identical request) must still be handled once.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { toNodeListener } from '../../src/adapters/node.js';
import { createWeChatCallback } from '../../src/callbacks/index.js';
import { type RunningEmulator, startEmulator } from '../../src/emulator/server.js';

const APP = {
  appId: 'wxdd00000000msgid1',
  token: 'MsgIdToken',
  encodingAESKey: 'mbcdefghijklmnopqrstuvwxyz0123456789ABCDEFG',
};

let server: Server;
let emulator: RunningEmulator;
const reports: string[] = [];

beforeAll(async () => {
  const callback = createWeChatCallback({ ...APP, mode: 'safe' }).on('event.TEMPLATESENDJOBFINISH', (m) => {
    reports.push(`${m.FromUserName}:${m.MsgID}`);
  });
  server = createServer(toNodeListener(callback));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
  // A manual clock: every push below has the same CreateTime, as reports within one second do.
  emulator = await startEmulator({
    config: {
      apps: [
        { ...APP, secret: 'msgid-secret', kind: 'official-account', messageMode: 'safe', callbackUrl: url },
      ],
      merchants: [],
      options: { clock: 'manual' },
    },
  });
});

afterAll(async () => {
  await emulator?.close();
  await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
});

const push = async (msgId: string, faults?: object) => {
  const res = await fetch(`${emulator.url}/_emulator/push`, {
    method: 'POST',
    body: JSON.stringify({
      appId: APP.appId,
      message: {
        MsgType: 'event',
        Event: 'TEMPLATESENDJOBFINISH',
        FromUserName: 'o_same_follower',
        MsgID: msgId,
        Status: 'success',
      },
      ...(faults ? { faults } : {}),
    }),
    signal: AbortSignal.timeout(10_000),
  });
  return (await res.json()) as { status: number; request: { body: string } };
};

describe('TEMPLATESENDJOBFINISH dedupe', () => {
  it('handles the reports of two template messages to one user in the same second, and a retried report once', async () => {
    reports.length = 0;
    const first = await push('3001');
    const second = await push('3002');
    expect([first.status, second.status]).toEqual([200, 200]);
    const retried = await push('3003', { duplicate: true });
    expect(retried.status).toBe(200);
    expect(reports).toEqual(['o_same_follower:3001', 'o_same_follower:3002', 'o_same_follower:3003']);
  });
});
