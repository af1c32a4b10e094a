/** One factory per adapter (and per body-parser setup) for the shared suite. */
import { getRequestListener } from '@hono/node-server';
import express from 'express';
import Fastify from 'fastify';
import { Hono } from 'hono';
import Koa from 'koa';
import { wechatExpress } from '../../src/adapters/express.js';
import { wechatFastify } from '../../src/adapters/fastify.js';
import { wechatHono } from '../../src/adapters/hono.js';
import { wechatKoa } from '../../src/adapters/koa.js';
import { toFetchHandler, toNodeListener } from '../../src/adapters/node.js';
import { listen } from './servers.js';
import type { ServerFactory } from './shared-suite.js';

export const nodeFactory: ServerFactory = (handler, options) => listen(toNodeListener(handler, options));

export const fetchFactory: ServerFactory = (handler, options) =>
  listen(getRequestListener(toFetchHandler(handler, options)));

export function expressFactory(setup: (app: express.Express) => void): ServerFactory {
  return (handler, options) => {
    const app = express();
    setup(app);
    app.all('/wechat', wechatExpress(handler, options));
    return listen(app);
  };
}

/** What koa-bodyparser leaves: the stream read, `rawBody` the text decoded once, `body` parsed. */
export const koaBodyParserLike: Koa.Middleware = async (ctx, next) => {
  const chunks: Buffer[] = [];
  for await (const chunk of ctx.req) chunks.push(chunk as Buffer);
  const text = Buffer.concat(chunks).toString('utf8');
  const request = ctx.request as typeof ctx.request & { rawBody?: string; body?: unknown };
  request.rawBody = text;
  request.body = { parsed: true };
  await next();
};

export function koaFactory(setup: (app: Koa) => void): ServerFactory {
  return (handler, options) => {
    const app = new Koa();
    setup(app);
    app.use(wechatKoa(handler, { ...options, path: '/wechat' }));
    return listen(app.callback());
  };
}

export async function fastifyApp(
  handler: Parameters<ServerFactory>[0],
  options: Parameters<ServerFactory>[1],
) {
  const app = Fastify();
  // Another route of the host app: it must keep Fastify's own JSON parser.
  app.post('/json', async (request) => ({ type: typeof request.body, body: request.body }));
  await app.register(wechatFastify, { handler, path: '/wechat', ...options });
  return app;
}

export const fastifyFactory: ServerFactory = async (handler, options) => {
  const app = await fastifyApp(handler, options);
  await app.listen({ port: 0, host: '127.0.0.1' });
  const address = app.server.address();
  const port = typeof address === 'object' && address !== null ? address.port : 0;
  return { url: `http://127.0.0.1:${port}`, close: () => app.close() };
};

export function honoApp(handler: Parameters<ServerFactory>[0], options: Parameters<ServerFactory>[1]): Hono {
  const app = new Hono();
  app.post('/json', async (c) => c.json({ body: await c.req.json() }));
  app.on(['GET', 'POST'], '/wechat', wechatHono(handler, options));
  return app;
}

export const honoFactory: ServerFactory = (handler, options) =>
  listen(getRequestListener(honoApp(handler, options).fetch));
