import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PayV3Verifier } from '../../src/crypto/index.js';
import {
  createEmulator,
  EmulatorConnectionDropped,
  type RunningEmulator,
  startEmulator,
} from '../../src/emulator/index.js';

// src/emulator/control: the emulator-wide control plane (clock, faults, stats, config), over HTTP
// and in process.

const app = {
  appId: 'wx1234567890abcdef',
  secret: 'secret',
  kind: 'official-account' as const,
  token: 'tok',
  encodingAESKey: 'abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG',
};

describe('emulator over HTTP', () => {
  let emulator: RunningEmulator;
  const post = (path: string, body: unknown) =>
    fetch(`${emulator.url}${path}`, { method: 'POST', body: JSON.stringify(body) });

  beforeAll(async () => {
    emulator = await startEmulator({ config: { apps: [app], merchants: [] } });
  });
  afterAll(() => emulator.close());

  it('answers an unknown API like WeChat (40066) and an unknown /v3 path with 404', async () => {
    expect(await (await fetch(`${emulator.url}/cgi-bin/no_such_api`)).json()).toMatchObject({
      errcode: 40066,
    });
    const v3 = await fetch(`${emulator.url}/v3/no/such`);
    expect(v3.status).toBe(404);
    // even an unknown Pay v3 path answers signed, as every v3 response is
    const platform = (await (await fetch(`${emulator.url}/_emulator/pay/platform`)).json()) as {
      publicKey: { id: string; pem: string };
    };
    const verifier = new PayV3Verifier({
      publicKey: { id: platform.publicKey.id, key: platform.publicKey.pem },
    });
    // Signed at emulated time, which another test of this emulator may have moved: check it there.
    verifier.verify({ headers: v3.headers, body: await v3.text(), now: () => emulator.state.now() });
    expect((await fetch(`${emulator.url}/_emulator/nothing`)).status).toBe(404);
    expect((await fetch(`${emulator.url}/_emulator/clock`, { method: 'PUT' })).status).toBe(405);
  });

  it('moves the emulated clock without waiting', async () => {
    const before = ((await (await fetch(`${emulator.url}/_emulator/clock`)).json()) as { now: number }).now;
    const after = (
      (await (await post('/_emulator/clock', { advanceSeconds: 7200 })).json()) as { now: number }
    ).now;
    expect(after - before).toBeGreaterThanOrEqual(7200);
    expect(after - before).toBeLessThan(7205);
    expect((await post('/_emulator/clock', { advanceSeconds: 'soon' })).status).toBe(400);
  });

  it('injects an errcode for the next N calls of a path only', async () => {
    expect((await post('/_emulator/faults', { path: '/cgi-bin/x', errcode: -1, count: 2 })).status).toBe(200);
    const codes = [];
    for (let i = 0; i < 3; i++)
      codes.push(((await (await fetch(`${emulator.url}/cgi-bin/x`)).json()) as { errcode: number }).errcode);
    expect(codes).toEqual([-1, -1, 40066]);
    expect(((await (await fetch(`${emulator.url}/cgi-bin/y`)).json()) as { errcode: number }).errcode).toBe(
      40066,
    );
  });

  it('drops the connection, truncates the body or delays the answer on request', async () => {
    await post('/_emulator/faults', { path: '/cgi-bin/drop', drop: true });
    await expect(fetch(`${emulator.url}/cgi-bin/drop`)).rejects.toThrow();
    await post('/_emulator/faults', { path: '/cgi-bin/cut', truncate: true });
    const cut = await (await fetch(`${emulator.url}/cgi-bin/cut`)).text();
    expect(() => JSON.parse(cut)).toThrow();
    await post('/_emulator/faults', { path: '/cgi-bin/slow', latencyMs: 150 });
    const started = Date.now();
    await fetch(`${emulator.url}/cgi-bin/slow`);
    expect(Date.now() - started).toBeGreaterThanOrEqual(140);
  });

  it('refuses malformed fault requests and can clear faults', async () => {
    expect((await post('/_emulator/faults', { path: '/cgi-bin/x' })).status).toBe(400);
    expect((await post('/_emulator/faults', { path: 'cgi-bin', errcode: 1 })).status).toBe(400);
    expect((await post('/_emulator/faults', { errcode: 1, bogus: true })).status).toBe(400);
    await post('/_emulator/faults', { errcode: 45009, count: 0 });
    expect(((await (await fetch(`${emulator.url}/cgi-bin/any`)).json()) as { errcode: number }).errcode).toBe(
      45009,
    );
    await fetch(`${emulator.url}/_emulator/faults`, { method: 'DELETE' });
    expect(((await (await fetch(`${emulator.url}/cgi-bin/any`)).json()) as { errcode: number }).errcode).toBe(
      40066,
    );
  });

  it('counts calls per path in stats and serves its config', async () => {
    await fetch(`${emulator.url}/cgi-bin/counted`);
    await fetch(`${emulator.url}/cgi-bin/counted`);
    const stats = (await (await fetch(`${emulator.url}/_emulator/stats`)).json()) as {
      calls: Record<string, number>;
    };
    expect(stats.calls['/cgi-bin/counted']).toBe(2);
    const config = (await (await fetch(`${emulator.url}/_emulator/config`)).json()) as {
      apps: Array<{ appId: string }>;
    };
    expect(config.apps[0]?.appId).toBe(app.appId);
  });
});

describe('in-process emulator', () => {
  it('serves the same routes through fetch, and a drop fault rejects like a reset connection', async () => {
    const emulator = createEmulator({ apps: [app], merchants: [] });
    expect(await (await emulator.fetch('http://emulator/cgi-bin/nope')).json()).toMatchObject({
      errcode: 40066,
    });
    await emulator.fetch('http://emulator/_emulator/faults', {
      method: 'POST',
      body: JSON.stringify({ drop: true }),
    });
    await expect(emulator.fetch('http://emulator/cgi-bin/nope')).rejects.toBeInstanceOf(
      EmulatorConnectionDropped,
    );
    emulator.close();
  });
});
