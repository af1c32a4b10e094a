/**
 * What the chaos scenarios share: the emulator over HTTP on 127.0.0.1, its control plane, the
 * shared Redis (a unique key prefix per run), a private redis-server on a spare port that a
 * scenario may kill, and child processes that can be killed mid-way. Everything started here is
 * handed to `ctx.defer` so it is stopped even when the scenario fails.
 */
import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import {
  createServer as createHttpServer,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from 'node:http';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import { type EmulatorConfig, type RunningEmulator, startEmulator } from '../../src/emulator/index.js';
import { raceTimer } from '../../src/internal/timers.js';
import type { ScenarioContext } from './matrix.js';

export const APP = {
  appId: 'wxc4a05e1f2b3d4c5e',
  secret: 'chaos-secret-0123456789abcdef',
  token: 'ChaosToken2026',
  encodingAESKey: 'abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG',
} as const;
export const OPENID = 'oChaosUser00000000000000001';

/** Starts an emulator serving one Official Account (and the given extras), closed by `ctx.defer`. */
export async function emulatorFor(
  ctx: ScenarioContext,
  config: Partial<EmulatorConfig> = {},
): Promise<RunningEmulator & { control: Control }> {
  const emulator = await startEmulator({
    config: {
      apps: [{ ...APP, kind: 'official-account', messageMode: 'safe' }],
      merchants: [],
      ...config,
      options: { tokenDailyQuota: 1_000_000, ...config.options },
    },
  });
  ctx.defer(() => emulator.close());
  const control = controlOf(emulator.url);
  await control.post('/_emulator/users', { appId: APP.appId, openId: OPENID });
  return Object.assign(emulator, { control });
}

export interface Control {
  post<T = unknown>(path: string, body: unknown): Promise<T>;
  get<T = unknown>(path: string): Promise<T>;
  /** Token requests the emulator answered so far (stable_token + cgi-bin/token). */
  tokenRequests(): Promise<number>;
  /** Faults still pending (not used up). */
  faultsLeft(): Promise<number>;
}

export function controlOf(base: string): Control {
  const call = async <T>(path: string, init?: RequestInit): Promise<T> => {
    const res = await fetch(`${base}${path}`, { ...init, signal: AbortSignal.timeout(10_000) });
    if (!res.ok) throw new Error(`emulator ${path} answered ${res.status}: ${await res.text()}`);
    return (await res.json()) as T;
  };
  const control: Control = {
    post: (path, body) => call(path, { method: 'POST', body: JSON.stringify(body) }),
    get: (path) => call(path),
    tokenRequests: async () => {
      const stats = await control.get<{ calls: Record<string, number> }>('/_emulator/stats');
      return (stats.calls['/cgi-bin/token'] ?? 0) + (stats.calls['/cgi-bin/stable_token'] ?? 0);
    },
    faultsLeft: async () => {
      const { faults } = await control.get<{ faults: Array<{ remaining: number }> }>('/_emulator/faults');
      return faults.reduce((n, f) => n + f.remaining, 0);
    },
  };
  return control;
}

/** The shared Redis (127.0.0.1:6379) under a fresh prefix, or undefined when it is not reachable. */
export async function sharedRedis(
  ctx: ScenarioContext,
): Promise<{ redis: Redis; prefix: string; port: number } | undefined> {
  const redis = new Redis({
    host: '127.0.0.1',
    port: 6379,
    lazyConnect: true,
    maxRetriesPerRequest: 1,
    retryStrategy: () => null,
  });
  redis.on('error', () => {});
  try {
    await raceTimer(redis.connect(), 1000, () => {
      throw new Error('no answer');
    });
    await redis.ping();
  } catch {
    redis.disconnect();
    return undefined;
  }
  const prefix = `weixin-kit-chaos:${randomUUID()}:`;
  ctx.defer(async () => {
    const keys = await redis.keys(`${prefix}*`);
    if (keys.length > 0) await redis.del(...keys);
    await redis.quit();
  });
  return { redis, prefix, port: 6379 };
}

/** Row for a Redis set-up when Redis is missing: skipped, unless CI=true where it fails. */
export function redisMissing(ctx: ScenarioContext, setup: string): void {
  const note = 'Redis not reachable on 127.0.0.1:6379';
  if (process.env.CI === 'true') ctx.row(setup, '-', false, note);
  else ctx.skip(setup, note);
}

/** A free TCP port on 127.0.0.1 (listen on 0, read it, close). */
export async function sparePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (address === null || typeof address === 'string') throw new Error('no port');
  return address.port;
}

/** A redis-server of the scenario's own on `port`, which the scenario may kill and start again. */
export class OwnRedis {
  readonly port: number;
  #child: ChildProcessWithoutNullStreams | undefined;

  constructor(port: number) {
    this.port = port;
  }

  async start(): Promise<void> {
    const child = spawn(
      'redis-server',
      [
        '--port',
        String(this.port),
        '--bind',
        '127.0.0.1',
        '--save',
        '',
        '--appendonly',
        'no',
        '--daemonize',
        'no',
      ],
      {
        stdio: 'pipe',
      },
    );
    this.#child = child;
    let out = '';
    await raceTimer(
      new Promise<void>((resolve, reject) => {
        child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
          out += chunk;
          if (out.includes('Ready to accept connections')) resolve();
        });
        child.once('error', reject);
        child.once('exit', (code) =>
          reject(new Error(`redis-server exited with ${code}: ${out.slice(-500)}`)),
        );
      }),
      5000,
      () => {
        throw new Error(`redis-server on ${this.port} not ready within 5 s: ${out.slice(-500)}`);
      },
    );
  }

  /** SIGKILL: no shutdown, no save — what a crash looks like. */
  async kill(): Promise<void> {
    const child = this.#child;
    this.#child = undefined;
    if (child === undefined || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill('SIGKILL');
    await exited;
  }
}

const EVENT = '@@chaos ';

/** A child process running a TypeScript module, reporting `@@chaos {json}` lines; killable by the scenario. */
export class Child {
  readonly process: ChildProcessWithoutNullStreams;
  readonly events: Array<Record<string, unknown>> = [];
  readonly exited: Promise<number | null>;
  stderr = '';
  #waiters: Array<() => void> = [];

  constructor(module: URL, env: Record<string, string>) {
    this.process = spawn(process.execPath, ['--import', 'tsx', fileURLToPath(module)], {
      env: { ...process.env, ...env },
      stdio: 'pipe',
    });
    this.process.stdin.on('error', () => {});
    let buffer = '';
    this.process.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      buffer += chunk;
      let newline = buffer.indexOf('\n');
      while (newline !== -1) {
        const line = buffer.slice(0, newline);
        buffer = buffer.slice(newline + 1);
        if (line.startsWith(EVENT)) {
          this.events.push(JSON.parse(line.slice(EVENT.length)) as Record<string, unknown>);
          for (const wake of this.#waiters.splice(0)) wake();
        }
        newline = buffer.indexOf('\n');
      }
    });
    this.process.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      this.stderr += chunk;
    });
    this.exited = new Promise((resolve) => {
      this.process.once('error', () => resolve(-1));
      this.process.once('close', (code) => {
        for (const wake of this.#waiters.splice(0)) wake();
        resolve(code);
      });
    });
  }

  /** The first event with `type`, waiting for it at most `ms`. */
  async event(type: string, ms = 10_000): Promise<Record<string, unknown>> {
    const deadline = performance.now() + ms;
    for (;;) {
      const found = this.events.find((e) => e.type === type);
      if (found !== undefined) return found;
      if (this.process.exitCode !== null || this.process.signalCode !== null) {
        throw new Error(
          `child exited (${this.process.exitCode}) before "${type}": ${this.stderr.slice(-1500)}`,
        );
      }
      const left = deadline - performance.now();
      if (left <= 0)
        throw new Error(`no "${type}" from the child within ${ms} ms: ${this.stderr.slice(-1500)}`);
      await raceTimer(new Promise<void>((resolve) => this.#waiters.push(resolve)), left, () => undefined);
    }
  }

  send(line: string): void {
    if (this.process.exitCode === null) this.process.stdin.write(`${line}\n`);
  }

  async kill(): Promise<void> {
    if (this.process.exitCode === null && this.process.signalCode === null) this.process.kill('SIGKILL');
    await this.exited;
  }
}

/** Starts a child and registers its kill with `ctx.defer`. */
export function child(ctx: ScenarioContext, module: URL, env: Record<string, string>): Child {
  const c = new Child(module, env);
  ctx.defer(() => c.kill());
  return c;
}

/** Worker side: one event line for the parent. */
export function emit(type: string, fields: Record<string, unknown> = {}): void {
  process.stdout.write(`${EVENT}${JSON.stringify({ type, ...fields })}\n`);
}

/** Worker side: resolves on each line the parent sends. */
export function onParentLine(listener: (line: string) => void): void {
  process.stdin.setEncoding('utf8');
  let buffer = '';
  process.stdin.on('data', (chunk: string) => {
    buffer += chunk;
    let newline = buffer.indexOf('\n');
    while (newline !== -1) {
      listener(buffer.slice(0, newline));
      buffer = buffer.slice(newline + 1);
      newline = buffer.indexOf('\n');
    }
  });
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Runs `task(i)` for i in [0, n) with at most `concurrency` in flight. */
export async function pool(
  n: number,
  concurrency: number,
  task: (i: number) => Promise<void>,
): Promise<void> {
  let next = 0;
  const lane = async () => {
    while (next < n) {
      const i = next++;
      await task(i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(n, concurrency) }, lane));
}

/** An HTTP server on 127.0.0.1:0 running `listener`, closed (connections included) by `ctx.defer`. */
export async function listen(
  ctx: ScenarioContext,
  listener: (req: IncomingMessage, res: ServerResponse) => void,
): Promise<{ url: string; server: Server }> {
  const server = createHttpServer(listener);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  ctx.defer(
    () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  );
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('no address');
  return { url: `http://127.0.0.1:${address.port}`, server };
}

/** With CHAOS_DEBUG=1, a progress line on stderr. */
export function debug(message: string): void {
  if (process.env.CHAOS_DEBUG === '1') process.stderr.write(`  [chaos] ${message}\n`);
}
