import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { REDIS_HOST, REDIS_PORT, redisUp, uniquePrefix } from './redis-helper.js';

const WORKER = fileURLToPath(new URL('./fixtures/cross-process-worker.ts', import.meta.url));
const PROCESSES = 4;
const CALLS = 200;

interface Child {
  process: ChildProcessWithoutNullStreams;
  ready: Promise<void>;
  result: Promise<{ tokens: string[]; count: number }>;
}

function start(prefix: string): Child {
  // Plain node with tsx's loader: the worker imports the TypeScript sources directly.
  const child = spawn(process.execPath, ['--import', 'tsx', WORKER], {
    env: { ...process.env, WK_PREFIX: prefix, WK_CALLS: String(CALLS) },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  let onReady: () => void = () => {};
  const ready = new Promise<void>((resolve) => {
    onReady = resolve;
  });
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
    out += chunk;
    if (out.includes('ready\n')) onReady();
  });
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
    err += chunk;
  });
  const result = new Promise<{ tokens: string[]; count: number }>((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code) => {
      const line = out.split('\n').find((l) => l.startsWith('{'));
      if (code !== 0 || line === undefined) reject(new Error(`worker exited ${code}: ${err || out}`));
      else resolve(JSON.parse(line));
    });
  });
  // A worker that dies before "ready" must not leave the barrier hanging.
  result.catch(() => onReady());
  return { process: child, ready, result };
}

describe.skipIf(!redisUp)('cross-process single-flight through RedisStore', () => {
  const redis = new Redis({ host: REDIS_HOST, port: REDIS_PORT, lazyConnect: true });
  const prefix = uniquePrefix();
  const children: Child[] = [];

  afterAll(async () => {
    for (const c of children) if (c.process.exitCode === null) c.process.kill();
    await Promise.allSettled(children.map((c) => c.result));
    if (redis.status === 'ready') {
      const keys = await redis.keys(`${prefix}*`);
      if (keys.length > 0) await redis.del(...keys);
      await redis.quit();
    } else {
      redis.disconnect();
    }
  });

  it(`${PROCESSES} processes x ${CALLS} concurrent get() on a cold cache -> exactly 1 token fetch`, async () => {
    await redis.connect();
    for (let i = 0; i < PROCESSES; i++) children.push(start(prefix));
    await Promise.all(children.map((c) => c.ready));
    // Release them together, so every process meets the cold cache at the same moment.
    for (const c of children) c.process.stdin.end('go\n');
    const results = await Promise.all(children.map((c) => c.result));

    expect(await redis.get(`${prefix}fetch-count`)).toBe('1');
    for (const r of results) {
      expect(r.count).toBe(CALLS);
      expect(r.tokens).toEqual(['tok-1']);
    }
  }, 15_000);
});
