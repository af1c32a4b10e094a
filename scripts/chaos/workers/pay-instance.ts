// One instance of a merchant backend receiving WeChat Pay notifications: the SDK's handler with a
// RedisDedupeStore shared with the other instance. The handler logs that it runs, then marks the
// order paid idempotently, as WeChat Pay asks merchants to (HSETNX, the stand-in for
// `UPDATE … WHERE paid = 0`). With CHAOS_SPEC.dieOn set, the handler for that
// order reports "in-handler" and never finishes: the scenario kills this process there.
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Redis } from 'ioredis';
import { toNodeListener } from '../../../src/adapters/node.js';
import { PayV3Verifier } from '../../../src/crypto/index.js';
import { createPayNotificationHandler } from '../../../src/index.js';
import { RedisDedupeStore } from '../../../src/redis/index.js';
import { emit } from '../env.js';

const spec = JSON.parse(process.env.CHAOS_SPEC ?? '{}') as {
  name: string;
  apiV3Key: string;
  platform: { id: string; key: string };
  prefix: string;
  processingLeaseMs: number;
  workMs: number;
  dieOn?: string;
};
const redis = new Redis({ host: '127.0.0.1', port: 6379, maxRetriesPerRequest: 1 });
redis.on('error', () => {});
const handler = createPayNotificationHandler({
  apiV3Key: spec.apiV3Key,
  verifier: new PayV3Verifier({ publicKey: spec.platform }),
  dedupe: new RedisDedupeStore(redis, { prefix: spec.prefix }),
  processingLeaseMs: spec.processingLeaseMs,
  logger: { error: () => {} },
}).on('TRANSACTION.SUCCESS', async ({ resource }) => {
  const no = resource.out_trade_no;
  await redis.rpush(`${spec.prefix}log`, `${no} ${spec.name}`);
  if (no === spec.dieOn) {
    emit('in-handler', { no });
    await new Promise(() => {});
  }
  await new Promise((resolve) => setTimeout(resolve, spec.workMs));
  await redis.hsetnx(`${spec.prefix}processed`, no, spec.name);
});
const server = createServer(toNodeListener(handler));
server.listen(0, '127.0.0.1', () => {
  emit('listening', { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` });
});
