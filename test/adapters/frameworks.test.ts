/**
 * What only some frameworks can get wrong: a body parser that ate the raw body, a host app whose
 * other routes must keep their own parser, mount points.
 */

import { generateKeyPairSync } from 'node:crypto';
import { getRequestListener } from '@hono/node-server';
import express from 'express';
import Fastify from 'fastify';
import { Hono } from 'hono';
import Koa from 'koa';
import { afterEach, describe, expect, it } from 'vitest';
import { wechatExpress } from '../../src/adapters/express.js';
import { wechatFastify } from '../../src/adapters/fastify.js';
import { wechatHono } from '../../src/adapters/hono.js';
import { wechatKoa } from '../../src/adapters/koa.js';
import {
  type CallbackErrorEvent,
  type CallbackHandler,
  type CallbackLogFields,
  createPayNotificationHandler,
  createWeChatCallback,
} from '../../src/callbacks/index.js';
import { PayV3Verifier } from '../../src/crypto/index.js';
import { ConfigError } from '../../src/errors.js';
import { fastifyFactory, honoFactory } from './factories.js';
import { listen } from './servers.js';
import { type Echo, echoHandler, QUERY, type RunningServer, send, sha256, XML_BODY } from './shared-suite.js';

const servers: RunningServer[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
});
async function start(server: Promise<RunningServer>): Promise<RunningServer> {
  const running = await server;
  servers.push(running);
  return running;
}

const JSON_BODY = Buffer.from(JSON.stringify({ ToUserName: 'gh_公众号', Content: '你好😀' }), 'utf8');
const noError = { onError: (error: unknown) => expect.unreachable(String(error)) };

describe('wechatExpress', () => {
  it('refuses a body express.json() already parsed with a 500 telling how to mount it, never re-serialising', async () => {
    const handler = echoHandler();
    const hooked: string[] = [];
    const app = express();
    app.use(express.json());
    app.post('/wechat', wechatExpress(handler, { ...noError, onMisconfigured: (m) => hooked.push(m) }));
    const server = await start(listen(app));

    const sent = await send(server.url, QUERY, {
      body: JSON_BODY,
      headers: { 'content-type': 'application/json' },
    });
    expect(sent.status).toBe(500);
    const text = sent.body.toString('utf8');
    expect(text).toContain('Mount wechatExpress() before any body parser');
    expect(text).toContain("express.raw({ type: '*/*' })");
    expect(text).not.toContain('signature='); // the query stays out of the message
    expect(hooked).toEqual([text]);
    expect(handler.calls).toHaveLength(0);
  });

  it('refuses text express.text() decoded from a charset other than UTF-8', async () => {
    const handler = echoHandler();
    const hooked: string[] = [];
    const app = express();
    app.use(express.text({ type: 'text/xml' }));
    app.post('/wechat', wechatExpress(handler, { ...noError, onMisconfigured: (m) => hooked.push(m) }));
    const server = await start(listen(app));

    const sent = await send(server.url, '/wechat', {
      body: Buffer.from('<xml>abc</xml>', 'latin1'),
      headers: { 'content-type': 'text/xml; charset=iso-8859-1' },
    });
    expect(sent.status).toBe(500);
    expect(sent.body.toString()).toContain('charset iso-8859-1');
    expect(hooked).toHaveLength(1);
    expect(handler.calls).toHaveLength(0);
  });

  it('passes the original URL (mount point included) when mounted with app.use(path)', async () => {
    const handler = echoHandler();
    const app = express();
    app.use('/wechat', wechatExpress(handler, noError));
    const server = await start(listen(app));
    const sent = await send(server.url, QUERY);
    expect((JSON.parse(sent.body.toString()) as Echo).url).toBe(QUERY);
  });

  it('validates its arguments when called, not per request', () => {
    expect(() => wechatExpress({} as never)).toThrow(ConfigError);
    expect(() => wechatExpress(echoHandler(), { limit: -1 })).toThrow(/limit/);
  });
});

describe('wechatKoa', () => {
  it('refuses a body a parser consumed without keeping ctx.request.rawBody', async () => {
    const handler = echoHandler();
    const hooked: string[] = [];
    const app = new Koa();
    app.use(async (ctx, next) => {
      for await (const _ of ctx.req) {
        // a parser that keeps only its parsed result
      }
      (ctx.request as typeof ctx.request & { body?: unknown }).body = { parsed: true };
      await next();
    });
    app.use(wechatKoa(handler, { ...noError, onMisconfigured: (m) => hooked.push(m) }));
    const server = await start(listen(app.callback()));

    const sent = await send(server.url, QUERY, {
      body: JSON_BODY,
      headers: { 'content-type': 'application/json' },
    });
    expect(sent.status).toBe(500);
    expect(sent.body.toString()).toContain('Mount wechatKoa() before any body parser');
    expect(hooked).toHaveLength(1);
    expect(handler.calls).toHaveLength(0);
  });

  it('with `path`, passes every other request on to the next middleware', async () => {
    const app = new Koa();
    app.use(wechatKoa(echoHandler(), { ...noError, path: '/wechat' }));
    app.use((ctx) => {
      ctx.body = 'next';
    });
    const server = await start(listen(app.callback()));
    expect((await send(server.url, '/other')).body.toString()).toBe('next');
    expect((await send(server.url, '/wechat')).status).toBe(202);
  });
});

describe('wechatFastify', () => {
  it("keeps the host app's JSON parser on its other routes while its own route gets raw bytes", async () => {
    const server = await start(fastifyFactory(echoHandler(), noError));
    const other = await send(server.url, '/json', {
      body: JSON_BODY,
      headers: { 'content-type': 'application/json' },
    });
    expect(other.status).toBe(200);
    expect(JSON.parse(other.body.toString())).toEqual({
      type: 'object',
      body: { ToUserName: 'gh_公众号', Content: '你好😀' },
    });

    const mine = await send(server.url, QUERY, {
      body: JSON_BODY,
      headers: { 'content-type': 'application/json' },
    });
    expect(mine.status).toBe(202);
    const echo = JSON.parse(mine.body.toString()) as Echo;
    expect(echo).toMatchObject({ kind: 'bytes', sha256: sha256(JSON_BODY), url: QUERY });
  });

  it('accepts a body with no Content-Type at all', async () => {
    const server = await start(fastifyFactory(echoHandler(), noError));
    const sent = await send(server.url, '/wechat', { body: Buffer.from(XML_BODY) });
    expect((JSON.parse(sent.body.toString()) as Echo).sha256).toBe(sha256(XML_BODY));
  });

  it('refuses to register without a path', async () => {
    const app = Fastify();
    await expect(
      app.register(wechatFastify, { handler: echoHandler(), path: 'wechat' }).ready(),
    ).rejects.toThrow(/path must start with "\/"/);
    await app.close();
  });
});

describe('wechatHono', () => {
  it("keeps the app's other routes working", async () => {
    const server = await start(honoFactory(echoHandler(), noError));
    const other = await send(server.url, '/json', {
      body: JSON_BODY,
      headers: { 'content-type': 'application/json' },
    });
    expect(JSON.parse(other.body.toString())).toEqual({
      body: { ToUserName: 'gh_公众号', Content: '你好😀' },
    });
  });

  it('uses the text Hono cached when a middleware already read the body with c.req.json()', async () => {
    const handler = echoHandler();
    const app = new Hono();
    app.use('/wechat', async (c, next) => {
      await c.req.json();
      await next();
    });
    app.post('/wechat', wechatHono(handler, noError));
    const server = await start(listen(getRequestListener(app.fetch)));
    const sent = await send(server.url, '/wechat', {
      body: JSON_BODY,
      headers: { 'content-type': 'application/json' },
    });
    expect(sent.status).toBe(202);
    expect((JSON.parse(sent.body.toString()) as Echo).sha256).toBe(sha256(JSON_BODY));
  });

  it('refuses a body a middleware only kept as form data', async () => {
    const handler = echoHandler();
    const hooked: string[] = [];
    const app = new Hono();
    app.use('/wechat', async (c, next) => {
      await c.req.formData();
      await next();
    });
    app.post('/wechat', wechatHono(handler, { ...noError, onMisconfigured: (m) => hooked.push(m) }));
    const server = await start(listen(getRequestListener(app.fetch)));
    const sent = await send(server.url, '/wechat', {
      body: Buffer.from('a=%E4%BD%A0'),
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
    });
    expect(sent.status).toBe(500);
    expect(sent.body.toString()).toContain('Let wechatHono() read the body first');
    expect(hooked).toHaveLength(1);
    expect(handler.calls).toHaveLength(0);
  });
});

describe("a body parser mounted before the route reaches the handler's hooks and logger", () => {
  interface Sinks {
    logged: Array<{ fields: CallbackLogFields; message: string }>;
    hooked: CallbackErrorEvent[];
  }
  function sinks(): Sinks {
    return { logged: [], hooked: [] };
  }
  function wechatCallback(into: Sinks): CallbackHandler {
    return createWeChatCallback({
      appId: 'wx1234567890abcdef',
      token: 'Token123',
      mode: 'plain',
      logger: { error: (fields, message) => into.logged.push({ fields, message }) },
      hooks: { onError: (e) => into.hooked.push(e) },
    });
  }
  function payHandler(into: Sinks): CallbackHandler {
    const { publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    return createPayNotificationHandler({
      apiV3Key: 'a7cde1ef52c8e9f7b3a04cd2e6f1b8d9',
      verifier: new PayV3Verifier({
        publicKey: { id: 'PUB_KEY_ID_0000000000000000000000000001', key: publicKey },
      }),
      logger: { error: (fields, message) => into.logged.push({ fields, message }) },
      hooks: { onError: (e) => into.hooked.push(e) },
    });
  }
  function expectReported(into: Sinks, answer: string): void {
    expect(into.hooked).toEqual([expect.objectContaining({ phase: 'config', type: undefined })]);
    expect(into.hooked[0]?.error).toMatchObject({ code: 'BODY_ALREADY_PARSED', message: answer });
    expect(into.logged).toEqual([
      {
        fields: expect.objectContaining({ code: 'BODY_ALREADY_PARSED', phase: 'config' }),
        message: expect.stringContaining('misconfigured'),
      },
    ]);
  }

  it.each([
    ['a WeChat callback', wechatCallback],
    ['a Pay notification handler', payHandler],
  ])('express.json() before %s: reported as BODY_ALREADY_PARSED', async (_name, build) => {
    const into = sinks();
    const app = express();
    app.use(express.json());
    app.post('/wechat', wechatExpress(build(into)));
    const server = await start(listen(app));
    const sent = await send(server.url, '/wechat', {
      body: JSON_BODY,
      headers: { 'content-type': 'application/json' },
    });
    expect(sent.status).toBe(500);
    expectReported(into, sent.body.toString('utf8'));
  });

  it('a Koa parser that kept no rawBody: reported as BODY_ALREADY_PARSED', async () => {
    const into = sinks();
    const app = new Koa();
    app.use(async (ctx, next) => {
      for await (const _ of ctx.req) {
        // a parser that keeps only its parsed result
      }
      await next();
    });
    app.use(wechatKoa(wechatCallback(into)));
    const server = await start(listen(app.callback()));
    const sent = await send(server.url, '/wechat', {
      body: JSON_BODY,
      headers: { 'content-type': 'application/json' },
    });
    expect(sent.status).toBe(500);
    expectReported(into, sent.body.toString('utf8'));
  });

  it('a Hono middleware that read form data: reported as BODY_ALREADY_PARSED', async () => {
    const into = sinks();
    const app = new Hono();
    app.use('/wechat', async (c, next) => {
      await c.req.formData();
      await next();
    });
    app.post('/wechat', wechatHono(wechatCallback(into)));
    const server = await start(listen(getRequestListener(app.fetch)));
    const sent = await send(server.url, '/wechat', {
      body: Buffer.from('a=1'),
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
    });
    expect(sent.status).toBe(500);
    expectReported(into, sent.body.toString('utf8'));
  });

  it('still calls an explicit onMisconfigured as well', async () => {
    const into = sinks();
    const hooked: string[] = [];
    const app = express();
    app.use(express.json());
    app.post('/wechat', wechatExpress(wechatCallback(into), { onMisconfigured: (m) => hooked.push(m) }));
    const server = await start(listen(app));
    await send(server.url, '/wechat', { body: JSON_BODY, headers: { 'content-type': 'application/json' } });
    expect(hooked).toHaveLength(1);
    expect(into.hooked).toHaveLength(1);
  });
});
