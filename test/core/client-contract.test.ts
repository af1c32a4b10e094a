import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { connect } from 'node:net';
import { ProxyAgent, fetch as undiciFetch } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { APIPromise } from '../../src/core/api-promise.js';
import { type RunningEmulator, startEmulator } from '../../src/emulator/index.js';
import { OfficialAccount } from '../../src/official-account/index.js';

const OA = { appId: 'wx0a0b0c0d0e0f1011', secret: 'oa-secret-0001', kind: 'official-account' as const };

let emulator: RunningEmulator;
beforeAll(async () => {
  emulator = await startEmulator({ config: { apps: [OA], merchants: [] } });
});
afterAll(() => emulator.close());

const client = (extra: Partial<ConstructorParameters<typeof OfficialAccount>[0]> = {}) =>
  new OfficialAccount({ appId: OA.appId, secret: OA.secret, baseUrl: emulator.url, ...extra });

describe('APIPromise', () => {
  it('resolves to the data, and withResponse() gives the same answer with its status and headers, from one request', async () => {
    let requests = 0;
    const oa = client({
      hooks: {
        onRequest: () => {
          requests += 1;
        },
      },
    });
    await oa.getAccessToken();
    requests = 0;
    const call = oa.client.request<{ total: number }>('GET', '/cgi-bin/user/get');
    expect(call).toBeInstanceOf(APIPromise);
    expect(call).toBeInstanceOf(Promise);
    const { data, response } = await call.withResponse();
    expect(await call).toBe(data);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toMatch(/json/);
    expect(response.requestId).toBeUndefined();
    expect(requests).toBe(1);
  });

  it('rejects through then/catch/finally alike, with the typed error', async () => {
    const oa = client({ retries: 0 });
    const failing = () => oa.client.request('GET', '/cgi-bin/user/info', { query: { openid: 'nobody' } });
    await expect(failing()).rejects.toMatchObject({ errcode: 40003 });
    expect(await failing().catch((e) => (e as { errcode: number }).errcode)).toBe(40003);
    let ran = false;
    await expect(
      failing().finally(() => {
        ran = true;
      }),
    ).rejects.toMatchObject({ errcode: 40003 });
    expect(ran).toBe(true);
    await expect(failing().withResponse()).rejects.toMatchObject({ errcode: 40003 });
  });

  it('map() keeps the response metadata', async () => {
    const oa = client();
    const { data, response } = await oa.client
      .request<{ total: number }>('GET', '/cgi-bin/user/get')
      .map((d) => d.total + 1)
      .withResponse();
    expect(data).toBeGreaterThan(0);
    expect(response.status).toBe(200);
  });
});

describe('RequestOptions on every call', () => {
  it('per-call retries override the client setting', async () => {
    const retries: number[] = [];
    const oa = client({ retries: 2, hooks: { onRetry: (e) => void retries.push(e.attempt) } });
    await oa.getAccessToken();
    const fault = (remaining: number) =>
      fetch(`${emulator.url}/_emulator/faults`, {
        method: 'POST',
        body: JSON.stringify({ path: '/cgi-bin/user/get', errcode: -1, count: remaining }),
      });
    await fault(1);
    await expect(oa.client.request('GET', '/cgi-bin/user/get', { retries: 0 })).rejects.toMatchObject({
      errcode: -1,
    });
    expect(retries).toEqual([]);
    await fault(1);
    await expect(oa.client.request('GET', '/cgi-bin/user/get')).resolves.toBeDefined();
    expect(retries).toEqual([1]);
  });

  it('an already-aborted call on a cold client sends nothing, not even a token request', async () => {
    let requests = 0;
    const oa = client({
      hooks: {
        onRequest: () => {
          requests += 1;
        },
      },
    });
    const reason = new Error('gave up');
    const signal = AbortSignal.abort(reason);
    await expect(oa.client.request('GET', '/cgi-bin/user/get', { signal })).rejects.toBe(reason);
    expect(requests).toBe(0);
  });

  it('sends per-call headers', async () => {
    const seen: Array<string | null> = [];
    const oa = client({
      fetch: (input, init) => {
        seen.push(new Headers(init?.headers).get('x-trace'));
        return emulator.fetch(input, init);
      },
    });
    await oa.client.request('GET', '/cgi-bin/user/get', { headers: { 'x-trace': 'abc' } });
    expect(seen.at(-1)).toBe('abc');
  });
});

describe('ClientOptions', () => {
  it('accepts process.env-style undefined for optional settings and names the variable when a required one is missing', () => {
    const env: Record<string, string | undefined> = {};
    expect(() => client({ timeoutMs: undefined, baseUrl: emulator.url, logger: undefined })).not.toThrow();
    expect(() => new OfficialAccount({ appId: env.WX_APPID as string, secret: 's' })).toThrow(
      /appId is required \(it is undefined — if it comes from process\.env, is the variable set\?\)/,
    );
  });

  it('routes retries to the logger', async () => {
    const warnings: Array<Record<string, unknown>> = [];
    const oa = client({ logger: { error: () => {}, warn: (fields) => void warnings.push(fields) } });
    await oa.getAccessToken();
    await fetch(`${emulator.url}/_emulator/faults`, {
      method: 'POST',
      body: JSON.stringify({ path: '/cgi-bin/user/get', errcode: -1, count: 1 }),
    });
    await oa.client.request('GET', '/cgi-bin/user/get');
    expect(warnings).toEqual([
      expect.objectContaining({
        attempt: 1,
        code: 'SYSTEM_BUSY',
        url: expect.stringContaining('access_token=***'),
      }),
    ]);
    expect(JSON.stringify(warnings)).not.toContain(await oa.getAccessToken());
  });

  it('refuses a dispatcher given as a URL string', () => {
    expect(() => client({ dispatcher: 'http://proxy:8080' as unknown as object })).toThrow(/ProxyAgent/);
  });
});

describe('dispatcher: a fixed egress through a proxy', () => {
  let proxy: Server;
  const tunnels: string[] = [];
  beforeAll(async () => {
    proxy = createServer((_req, res) => res.writeHead(405).end());
    proxy.on('connect', (req, socket, head) => {
      tunnels.push(String(req.url));
      const [host, port] = String(req.url).split(':');
      const upstream = connect(Number(port), host, () => {
        socket.write('HTTP/1.1 200 Connection Established\r\n\r\n');
        upstream.write(head);
        upstream.pipe(socket);
        socket.pipe(upstream);
      });
      upstream.on('error', () => socket.destroy());
      socket.on('error', () => upstream.destroy());
    });
    await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
  });
  afterAll(async () => {
    await new Promise((resolve) => proxy.close(resolve));
  });

  it('sends every request (token included) through the ProxyAgent it is given', async () => {
    const { port } = proxy.address() as AddressInfo;
    const agent = new ProxyAgent(`http://127.0.0.1:${port}`);
    try {
      const oa = client({ fetch: undiciFetch as unknown as typeof fetch, dispatcher: agent });
      const answer = await oa.client.request<{ total: number }>('GET', '/cgi-bin/user/get');
      expect(answer.total + 1).toBeGreaterThan(0);
      const target = new URL(emulator.url).host;
      expect(tunnels).toContain(target);
    } finally {
      await agent.close();
    }
  });

  it('without a dispatcher, nothing goes through the proxy', async () => {
    const before = tunnels.length;
    await client().client.request('GET', '/cgi-bin/user/get');
    expect(tunnels.length).toBe(before);
  });
});
