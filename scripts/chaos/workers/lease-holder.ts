// The instance that takes the refresh lease and is killed while its token fetch is in flight.
// CHAOS_SPEC: { baseUrl, appId, secret, redisPort, prefix, key, leaseTtlMs }.
import { Redis } from 'ioredis';
import { TokenManager } from '../../../src/index.js';
import { RedisStore } from '../../../src/redis/index.js';
import { emit } from '../env.js';
import { stableTokenFetcher } from '../tokens.js';

const spec = JSON.parse(process.env.CHAOS_SPEC ?? '{}') as {
  baseUrl: string;
  appId: string;
  secret: string;
  redisPort: number;
  prefix: string;
  key: string;
  leaseTtlMs: number;
};
const redis = new Redis({ host: '127.0.0.1', port: spec.redisPort, maxRetriesPerRequest: 1 });
redis.on('error', () => {});
const manager = new TokenManager({
  key: spec.key,
  store: new RedisStore(redis, { prefix: spec.prefix }),
  leaseTtlMs: spec.leaseTtlMs,
  fetchToken: () => {
    emit('fetching');
    return stableTokenFetcher(spec.baseUrl, spec.appId, spec.secret)();
  },
});
await manager.get();
emit('done');
await redis.quit();
