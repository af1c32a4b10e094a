// Real Redis for the store tests (never a mock). Absent Redis skips them with a visible warning,
// except under CI=true, where it fails the suite.
import { randomUUID } from 'node:crypto';
import { connect } from 'node:net';
import { Redis } from 'ioredis';
import { createClient } from 'redis';
import type { RedisClientLike } from '../../src/redis/index.js';

export const REDIS_HOST = '127.0.0.1';
export const REDIS_PORT = 6379;

function probe(): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: REDIS_HOST, port: REDIS_PORT });
    const done = (up: boolean) => {
      socket.destroy();
      resolve(up);
    };
    socket.setTimeout(1000, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

export const redisUp = await probe();
if (!redisUp) {
  if (process.env.CI === 'true') {
    throw new Error(
      `Redis is not reachable at ${REDIS_HOST}:${REDIS_PORT}; CI requires it for the store tests`,
    );
  }
  console.warn(`[weixin-kit] Redis not reachable at ${REDIS_HOST}:${REDIS_PORT}: Redis store tests SKIPPED`);
}

/** A key prefix unique to this test run, so runs never see each other's keys. */
export function uniquePrefix(): string {
  return `weixin-kit-test:${randomUUID()}:`;
}

export interface TestClient {
  client: RedisClientLike;
  /** Raw commands for assertions and cleanup, independent of the client library. */
  keys(pattern: string): Promise<string[]>;
  del(keys: string[]): Promise<void>;
  get(key: string): Promise<string | null>;
  pttl(key: string): Promise<number>;
  quit(): Promise<void>;
}

export const clientFactories: Array<[string, () => Promise<TestClient>]> = [
  [
    'ioredis',
    async () => {
      const redis = new Redis({ host: REDIS_HOST, port: REDIS_PORT, maxRetriesPerRequest: 1 });
      return {
        client: redis,
        keys: (pattern) => redis.keys(pattern),
        del: async (keys) => {
          if (keys.length > 0) await redis.del(...keys);
        },
        get: (key) => redis.get(key),
        pttl: (key) => redis.pttl(key),
        quit: async () => {
          await redis.quit();
        },
      };
    },
  ],
  [
    'node-redis',
    async () => {
      const redis = createClient({ socket: { host: REDIS_HOST, port: REDIS_PORT } });
      await redis.connect();
      return {
        client: redis,
        keys: (pattern) => redis.keys(pattern),
        del: async (keys) => {
          if (keys.length > 0) await redis.del(keys);
        },
        get: (key) => redis.get(key),
        pttl: (key) => redis.pTTL(key),
        quit: async () => {
          await redis.quit();
        },
      };
    },
  ],
];
