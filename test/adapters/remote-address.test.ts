/**
 * Every adapter hands the callback the TCP peer's address (`remoteAddress`), which an allowlist
 * needs: node:http, Express, Koa, Fastify and Hono from the socket, a Fetch handler from what its
 * host passes along (@hono/node-server's bindings, Deno's info, Bun's server, or the caller).
 */
import type express from 'express';
import type Koa from 'koa';
import { afterEach, describe, expect, it } from 'vitest';
import { toFetchHandler } from '../../src/adapters/node.js';
import { peerAddressOf } from '../../src/adapters/serve.js';
import type { CallbackRequest } from '../../src/callbacks/types.js';
import {
  expressFactory,
  fastifyFactory,
  fetchFactory,
  honoFactory,
  koaFactory,
  nodeFactory,
} from './factories.js';
import { echoHandler, type RunningServer, type ServerFactory } from './shared-suite.js';

const running: RunningServer[] = [];
afterEach(async () => {
  await Promise.all(running.splice(0).map((server) => server.close()));
});

const factories: Array<[string, ServerFactory]> = [
  ['toNodeListener', nodeFactory],
  ['toFetchHandler on @hono/node-server', fetchFactory],
  ['wechatExpress', expressFactory((_app: express.Express) => {})],
  ['wechatKoa', koaFactory((_app: Koa) => {})],
  ['wechatFastify', fastifyFactory],
  ['wechatHono on @hono/node-server', honoFactory],
];

describe('remoteAddress', () => {
  for (const [name, factory] of factories) {
    it(`${name} gives the handler the peer's address, for GET and POST`, async () => {
      const handler = echoHandler();
      const server = await factory(handler, { onError: (error) => expect.fail(String(error)) });
      running.push(server);
      await fetch(`${server.url}/wechat?a=1`);
      await fetch(`${server.url}/wechat?a=1`, { method: 'POST', body: '<xml/>' });
      expect(handler.calls.map((call) => call.remoteAddress?.replace(/^::ffff:/, ''))).toEqual([
        '127.0.0.1',
        '127.0.0.1',
      ]);
    });
  }

  it('toFetchHandler takes the peer from Deno info, a Bun server, or the caller; without one there is none', async () => {
    const seen: CallbackRequest[] = [];
    const handler = toFetchHandler({
      handle: async (request) => {
        seen.push(request);
        return { status: 200, headers: {}, body: 'ok' };
      },
    });
    const request = () => new Request('http://localhost/wechat?x=1');
    await handler(request(), { remoteAddr: { hostname: '192.0.2.1' } });
    await handler(request(), { requestIP: () => ({ address: '2001:db8::5' }) });
    await handler(request(), { remoteAddress: '198.51.100.2' });
    await handler(request());
    expect(seen.map((r) => r.remoteAddress)).toEqual(['192.0.2.1', '2001:db8::5', '198.51.100.2', undefined]);
  });

  it('reads no address from a host object that does not give one, or that throws', () => {
    const request = new Request('http://localhost/');
    expect(peerAddressOf(request, undefined)).toBeUndefined();
    expect(peerAddressOf(request, { remoteAddr: { hostname: 42 } })).toBeUndefined();
    expect(peerAddressOf(request, { requestIP: () => null })).toBeUndefined();
    expect(
      peerAddressOf(request, {
        requestIP: () => {
          throw new Error('not this request');
        },
      }),
    ).toBeUndefined();
    expect(peerAddressOf(request, { server: { incoming: { socket: { remoteAddress: '10.0.0.9' } } } })).toBe(
      '10.0.0.9',
    );
  });
});
