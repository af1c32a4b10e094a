/**
 * Token scenario: K processes x M concurrent API calls on a cold cache against the emulator,
 * counting the token requests the emulator received, for weixin-kit (shared RedisStore) and for a
 * naive client (no single-flight, no lease). Needs Redis on 127.0.0.1:6379.
 */
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import { startEmulator } from '../src/emulator/index.js';
import { redisReachable } from './load.js';

export interface TokenScenarioResult {
  name: string;
  processes: number;
  callsPerProcess: number;
  tokenRequests: number;
  callsPerSec: number;
  naiveTokenRequests: number;
  naiveCallsPerSec: number;
}

const WORKER = fileURLToPath(new URL('./fixtures/token-worker.ts', import.meta.url));

async function run(env: Record<string, string>, processes: number): Promise<number> {
  const children = Array.from({ length: processes }, () => {
    const child = spawn(process.execPath, ['--import', 'tsx', WORKER], {
      env: { ...process.env, ...env },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let out = '';
    const ready = new Promise<void>((resolve) =>
      child.stdout.setEncoding('utf8').on('data', (c: string) => {
        out += c;
        if (out.includes('ready\n')) resolve();
      }),
    );
    const done = new Promise<{ ms: number }>((resolve, reject) => {
      const timer = setTimeout(() => child.kill(), 60_000);
      child.once('close', (code) => {
        clearTimeout(timer);
        const line = out.split('\n').find((l) => l.startsWith('{'));
        if (code !== 0 || !line) reject(new Error(`token worker exited ${code}`));
        else resolve(JSON.parse(line));
      });
    });
    return { child, ready, done };
  });
  await Promise.all(children.map((c) => c.ready));
  for (const c of children) c.child.stdin.write('go\n');
  const results = await Promise.all(children.map((c) => c.done));
  return Math.max(...results.map((r) => r.ms));
}

/** Runs the scenario; undefined (with a message on stderr) when Redis is not reachable. */
export async function tokenScenario(processes = 4, calls = 200): Promise<TokenScenarioResult | undefined> {
  if (!(await redisReachable())) {
    process.stderr.write('tokens scenario skipped: Redis not reachable on 127.0.0.1:6379\n');
    return undefined;
  }
  const app = { appId: 'wxbe0c4a1e2d3f4a5b', secret: 'bench-secret', kind: 'official-account' as const };
  const openid = 'oBenchUser000000000000000001';
  const emulator = await startEmulator({
    config: { apps: [app], merchants: [], options: { tokenDailyQuota: 1_000_000 } },
  });
  const prefix = `weixin-kit-bench:${randomUUID()}:`;
  const redis = new Redis({ host: '127.0.0.1', port: 6379 });
  try {
    await fetch(`${emulator.url}/_emulator/users`, {
      method: 'POST',
      body: JSON.stringify({ appId: app.appId, openId: openid }),
    });
    const tokenCalls = async () => {
      const stats = (await (await fetch(`${emulator.url}/_emulator/stats`)).json()) as {
        calls: Record<string, number>;
      };
      return (stats.calls['/cgi-bin/token'] ?? 0) + (stats.calls['/cgi-bin/stable_token'] ?? 0);
    };
    const env = {
      WK_BASE_URL: emulator.url,
      WK_APPID: app.appId,
      WK_SECRET: app.secret,
      WK_OPENID: openid,
      WK_CALLS: String(calls),
      WK_PREFIX: prefix,
    };
    const t0 = await tokenCalls();
    const ms = await run(env, processes);
    const t1 = await tokenCalls();
    const naiveMs = await run({ ...env, WK_NAIVE: '1' }, processes);
    const t2 = await tokenCalls();
    const total = processes * calls;
    return {
      name: 'tokens.coldStart',
      processes,
      callsPerProcess: calls,
      tokenRequests: t1 - t0,
      callsPerSec: Math.round((total / ms) * 1000),
      naiveTokenRequests: t2 - t1,
      naiveCallsPerSec: Math.round((total / naiveMs) * 1000),
    };
  } finally {
    const keys = await redis.keys(`${prefix}*`);
    if (keys.length) await redis.del(...keys);
    await redis.quit();
    await emulator.close();
  }
}
