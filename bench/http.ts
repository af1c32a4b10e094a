/**
 * HTTP scenario: requests/s and p99 latency of a safe-mode (encrypted) text push through each
 * adapter, beside the same framework answering a bare route with the same body, as a ratio.
 *
 * Per framework, a child process (bench/fixtures/http-server.ts) serves on 127.0.0.1:
 * - `POST /wechat`: the adapter around a real `createWeChatCallback({ mode: 'safe' })` whose text
 *   handler answers an encrypted text reply (every request verified, decrypted, parsed, routed,
 *   answered, encrypted);
 * - `POST /bare`: the same framework reading the body as bytes and answering a fixed small XML.
 * The load comes from autocannon in this process (a separate process from the server): one fixed,
 * pre-built, signed and encrypted push, the same bytes and query to both routes. Each route is
 * warmed up for 0.5 s, then loaded for `BENCH_HTTP_SECONDS` (default 3) with
 * `BENCH_HTTP_CONNECTIONS` (default 10) connections, at most `BENCH_HTTP_MAX_REQUESTS` (default
 * 1 000 000) requests per run. Before loading, one `/wechat` answer is decrypted and checked; after,
 * the server's counts must show every push handled and none refused.
 */
import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { computeServerSignature, MessageCrypto, parseXml } from '../src/crypto/index.js';
import type { ScenarioResult } from './harness.js';

export interface HttpScenarioResult extends ScenarioResult {
  /** p99 latency of `/wechat`, ms. */
  p99Ms: number;
  /** p99 latency of `/bare`, ms. */
  baselineP99Ms: number;
}

export const HTTP_FRAMEWORKS = ['node', 'express', 'koa', 'fastify', 'hono'] as const;
export type HttpFramework = (typeof HTTP_FRAMEWORKS)[number];

const SERVER = fileURLToPath(new URL('./fixtures/http-server.ts', import.meta.url));
const APP_ID = 'wxb11529c136998cb6';
const TOKEN = 'bench-token';
const AES_KEY = 'abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG';
const CONTENT = '你好，我想查询一下订单的物流状态';
const USER = 'oUpF8uMuAJO_M2pxb1Q9zNjWeS6o';
const ACCOUNT = 'gh_1234567890ab';

const envNumber = (name: string, fallback: number): number => {
  const value = Number(process.env[name] ?? fallback);
  return Number.isFinite(value) && value > 0 ? value : fallback;
};

// autocannon ships no types: the part used here.
interface AutocannonOptions {
  url: string;
  method: 'POST';
  headers: Record<string, string>;
  body: string;
  connections: number;
  duration: number;
  maxOverallRequests: number;
  timeout: number;
}
interface AutocannonResult {
  duration: number;
  errors: number;
  timeouts: number;
  non2xx: number;
  requests: { total: number; average: number };
}
interface AutocannonInstance {
  stop(): void;
  on(event: 'response', listener: (client: unknown, status: number, bytes: number, ms: number) => void): void;
}
type Autocannon = (
  options: AutocannonOptions,
  done: (error: Error | null, result: AutocannonResult) => void,
) => AutocannonInstance;
const autocannon = createRequire(import.meta.url)('autocannon') as Autocannon;

interface ServerStats {
  handled: number;
  refused: number;
  duplicates: number;
  errors: number;
  bare: number;
  bareBytes: number;
}

/** The line of a child's stderr that names its error (the whole stack stays out of the report). */
function firstError(stderr: string): string {
  const lines = stderr
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean);
  return lines.find((l) => /^\w*(Error|Exception)\b/.test(l)) ?? lines.at(-1) ?? '(no output)';
}

interface ServerChild {
  base: string;
  stats(): Promise<ServerStats>;
  stop(): Promise<void>;
}

/** Starts the server child and waits for its port line. */
async function startServer(framework: HttpFramework): Promise<ServerChild> {
  const child: ChildProcessWithoutNullStreams = spawn(process.execPath, ['--import', 'tsx', SERVER], {
    env: { ...process.env, WK_FRAMEWORK: framework, WK_APPID: APP_ID, WK_TOKEN: TOKEN, WK_AES_KEY: AES_KEY },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
    stderr = (stderr + chunk).slice(-4000);
  });
  const waiting: Array<(line: string) => void> = [];
  let buffered = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
    buffered += chunk;
    for (let i = buffered.indexOf('\n'); i >= 0; i = buffered.indexOf('\n')) {
      const line = buffered.slice(0, i);
      buffered = buffered.slice(i + 1);
      waiting.shift()?.(line);
    }
  });
  let exited = false;
  const exit = new Promise<void>((resolve) => child.once('close', () => resolve()));
  child.once('close', () => {
    exited = true;
  });
  const nextLine = (ms: number): Promise<string> =>
    new Promise<string>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`no answer from the ${framework} server in ${ms} ms`)),
        ms,
      );
      waiting.push((line) => {
        clearTimeout(timer);
        resolve(line);
      });
      exit.then(() => {
        clearTimeout(timer);
        reject(new Error(`the ${framework} server exited: ${firstError(stderr)}`));
      });
    });
  const stop = async (): Promise<void> => {
    if (exited) return;
    child.stdin.end(); // the child exits when its stdin closes
    const killer = setTimeout(() => child.kill('SIGKILL'), 3000);
    await exit;
    clearTimeout(killer);
  };
  try {
    const { port } = JSON.parse(await nextLine(30_000)) as { port: number };
    return {
      base: `http://127.0.0.1:${port}`,
      stats: async () => {
        const line = nextLine(5000);
        child.stdin.write('stats\n');
        return JSON.parse(await line) as ServerStats;
      },
      stop,
    };
  } catch (error) {
    await stop();
    throw error;
  }
}

interface Push {
  /** Query string, with `?`. */
  query: string;
  body: string;
  crypto: MessageCrypto;
}

/** A valid safe-mode text push signed now (the timestamp window is ±300 s; a run takes seconds). */
function buildPush(): Push {
  const crypto = new MessageCrypto({ token: TOKEN, encodingAESKey: AES_KEY, receiveId: APP_ID });
  const timestamp = String(Math.floor(Date.now() / 1000));
  const nonce = randomBytes(5).readUIntBE(0, 5).toString();
  const inner =
    `<xml><ToUserName><![CDATA[${ACCOUNT}]]></ToUserName><FromUserName><![CDATA[${USER}]]></FromUserName>` +
    `<CreateTime>${timestamp}</CreateTime><MsgType><![CDATA[text]]></MsgType><Content><![CDATA[${CONTENT}]]></Content>` +
    '<MsgId>24312345678901234</MsgId></xml>';
  const sealed = crypto.seal(inner, { timestamp, nonce });
  const query = new URLSearchParams({
    signature: computeServerSignature({ token: TOKEN, timestamp, nonce }),
    timestamp,
    nonce,
    openid: USER,
    encrypt_type: 'aes',
    msg_signature: sealed.msgSignature,
  });
  return {
    query: `?${query}`,
    body: `<xml><ToUserName><![CDATA[${ACCOUNT}]]></ToUserName><Encrypt><![CDATA[${sealed.encrypt}]]></Encrypt></xml>`,
    crypto,
  };
}

const HEADERS = { 'content-type': 'text/xml' };

/** One request to each route, checked: `/wechat` must answer an encrypted reply that decrypts. */
async function verifyRoutes(base: string, push: Push): Promise<void> {
  const res = await fetch(`${base}/wechat${push.query}`, {
    method: 'POST',
    headers: HEADERS,
    body: push.body,
  });
  const text = await res.text();
  if (res.status !== 200) throw new Error(`/wechat answered ${res.status}: ${text.slice(0, 200)}`);
  const envelope = parseXml(text);
  const { MsgSignature, TimeStamp, Nonce } = envelope;
  if (typeof MsgSignature !== 'string' || typeof TimeStamp !== 'string' || typeof Nonce !== 'string') {
    throw new Error(`/wechat did not answer an encrypted envelope: ${text.slice(0, 200)}`);
  }
  const opened = push.crypto.open({
    body: text,
    msgSignature: MsgSignature,
    timestamp: TimeStamp,
    nonce: Nonce,
  });
  const inner = parseXml(opened.plaintext);
  if (
    inner.MsgType !== 'text' ||
    inner.Content !== `you said: ${CONTENT}` ||
    inner.ToUserName !== USER ||
    inner.FromUserName !== ACCOUNT
  ) {
    throw new Error(`/wechat's decrypted reply is not the expected text reply: ${opened.plaintext}`);
  }
  const bare = await fetch(`${base}/bare${push.query}`, {
    method: 'POST',
    headers: HEADERS,
    body: push.body,
  });
  const bareText = await bare.text();
  if (bare.status !== 200 || !bareText.startsWith('<xml>')) {
    throw new Error(`/bare answered ${bare.status}: ${bareText.slice(0, 200)}`);
  }
}

interface LoadResult {
  opsPerSec: number;
  p99Ms: number;
  completed: number;
}

const p99 = (samples: number[]): number => {
  if (samples.length === 0) return 0;
  const sorted = Float64Array.from(samples).sort();
  return sorted[Math.min(sorted.length - 1, Math.ceil(sorted.length * 0.99) - 1)] ?? 0;
};

/** Loads one URL; any error, timeout or non-2xx answer fails the scenario. */
function load(url: string, push: Push, seconds: number): Promise<LoadResult> {
  const connections = envNumber('BENCH_HTTP_CONNECTIONS', 10);
  const maxOverallRequests = envNumber('BENCH_HTTP_MAX_REQUESTS', 1_000_000);
  const latencies: number[] = [];
  return new Promise<LoadResult>((resolve, reject) => {
    // autocannon stops on its own after `duration`; this guard only covers a hung run.
    let guard: ReturnType<typeof setTimeout> | undefined;
    const instance = autocannon(
      {
        url,
        method: 'POST',
        headers: HEADERS,
        body: push.body,
        connections,
        duration: seconds,
        maxOverallRequests,
        timeout: 5,
      },
      (error, result) => {
        clearTimeout(guard);
        if (error) return reject(error);
        if (result.errors || result.timeouts || result.non2xx) {
          return reject(
            new Error(
              `${url}: ${result.errors} errors, ${result.timeouts} timeouts, ${result.non2xx} non-2xx answers`,
            ),
          );
        }
        // Completed requests over elapsed time: the average rate, also when the count bound ends
        // the run before the time bound.
        resolve({
          opsPerSec: Math.round(result.requests.total / result.duration),
          p99Ms: Math.round(p99(latencies) * 100) / 100,
          completed: result.requests.total,
        });
      },
    );
    instance.on('response', (_client, _status, _bytes, ms) => {
      latencies.push(ms);
    });
    guard = setTimeout(() => instance.stop(), (seconds + 10) * 1000);
  });
}

async function runFramework(framework: HttpFramework, seconds: number): Promise<HttpScenarioResult> {
  const server = await startServer(framework);
  try {
    const push = buildPush();
    const wechatUrl = `${server.base}/wechat${push.query}`;
    const bareUrl = `${server.base}/bare${push.query}`;
    await verifyRoutes(server.base, push);
    const warm = [await load(wechatUrl, push, 0.5), await load(bareUrl, push, 0.5)];
    const wechat = await load(wechatUrl, push, seconds);
    const bare = await load(bareUrl, push, seconds);
    const stats = await server.stats();
    // Every answer counted above came from the text handler (1 from verifyRoutes), none refused.
    const answered = 1 + (warm[0]?.completed ?? 0) + wechat.completed;
    if (stats.refused || stats.errors || stats.duplicates || stats.handled < answered) {
      throw new Error(
        `the ${framework} server handled ${stats.handled} pushes for ${answered} answers ` +
          `(refused ${stats.refused}, errors ${stats.errors}, duplicates ${stats.duplicates})`,
      );
    }
    return {
      name: `http.${framework}`,
      opsPerSec: wechat.opsPerSec,
      baselineOpsPerSec: bare.opsPerSec,
      ratio: Math.round((wechat.opsPerSec / bare.opsPerSec) * 100) / 100,
      p99Ms: wechat.p99Ms,
      baselineP99Ms: bare.p99Ms,
    };
  } finally {
    await server.stop();
  }
}

/**
 * Runs the HTTP scenario for every framework, one after the other. A framework that fails to
 * start (or whose check fails) is reported on stderr and left out; the others still run.
 */
export async function httpScenarios(
  frameworks: readonly HttpFramework[] = HTTP_FRAMEWORKS,
): Promise<HttpScenarioResult[]> {
  const seconds = envNumber('BENCH_HTTP_SECONDS', 3);
  const results: HttpScenarioResult[] = [];
  for (const framework of frameworks) {
    try {
      results.push(await runFramework(framework, seconds));
    } catch (error) {
      process.stderr.write(
        `http.${framework} skipped: ${error instanceof Error ? error.message : String(error)}\n`,
      );
    }
  }
  return results;
}

/** The HTTP table of the text report. */
export function printHttpTable(results: readonly HttpScenarioResult[]): void {
  const seconds = envNumber('BENCH_HTTP_SECONDS', 3);
  const connections = envNumber('BENCH_HTTP_CONNECTIONS', 10);
  console.log(
    `\nHTTP: encrypted text push -> encrypted reply via the adapter (/wechat) vs the same framework's bare route ` +
      `(/bare, same body, fixed XML)\n${connections} connections x ${seconds} s per route, autocannon in a separate process\n`,
  );
  const num = (n: number, w = 12) => n.toLocaleString('en-US').padStart(w);
  const ms = (n: number) => n.toFixed(2).padStart(10);
  console.log(
    `${'scenario'.padEnd(16)}${'req/s'.padStart(12)}${'bare req/s'.padStart(12)}${'ratio'.padStart(8)}` +
      `${'p99 ms'.padStart(10)}${'bare p99'.padStart(10)}`,
  );
  for (const r of results) {
    console.log(
      `${r.name.padEnd(16)}${num(r.opsPerSec)}${num(r.baselineOpsPerSec)}${`${r.ratio.toFixed(2)}x`.padStart(8)}` +
        `${ms(r.p99Ms)}${ms(r.baselineP99Ms)}`,
    );
  }
}
