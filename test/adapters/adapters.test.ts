import express from 'express';
import {
  expressFactory,
  fastifyFactory,
  fetchFactory,
  honoFactory,
  koaBodyParserLike,
  koaFactory,
  nodeFactory,
} from './factories.js';
import { adapterSuite } from './shared-suite.js';

adapterSuite('node:http (toNodeListener)', nodeFactory);
adapterSuite('Fetch (toFetchHandler via @hono/node-server)', fetchFactory);
adapterSuite(
  'express without a body parser',
  expressFactory(() => {}),
);
adapterSuite(
  'express with express.raw',
  expressFactory((app) => app.use(express.raw({ type: '*/*', limit: '2mb' }))),
);
adapterSuite(
  'express with express.json mounted before',
  expressFactory((app) => app.use(express.json())),
);
adapterSuite(
  'express with express.text for XML',
  expressFactory((app) => app.use(express.text({ type: ['text/xml', 'application/xml'], limit: '2mb' }))),
);
adapterSuite(
  'koa without a body parser',
  koaFactory(() => {}),
);
adapterSuite(
  'koa behind a raw-body reader (koa-bodyparser style)',
  koaFactory((app) => app.use(koaBodyParserLike)),
);
adapterSuite('fastify plugin', fastifyFactory);
adapterSuite('hono (served by @hono/node-server)', honoFactory);
