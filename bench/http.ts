/**
 * HTTP scenario: requests/s and p99 latency of a safe-mode (encrypted) text push through each
 * adapter, beside the same framework answering a bare route with the same body, as a ratio.
 *
 * Per framework, a child process (bench/fixtures/http-server.ts) serves on 127.0.0.1:
 * - `POST /wechat`: the adapter around a real `createWeChatCallback({ mode: 'safe' })` whose text
 *   handler answers an encrypted text reply (every request verified, decrypted, parsed, routed,
 *   answered, encrypted);
 * - `POST /bare`: the same framework reading the body as bytes and answering a fixed small XML;
 * - `POST /floor`: the bare route plus the crypto floor (bench/fixtures/crypto-floor.ts: the
 *   protocol's cryptography alone on node:crypto, no parser, no checks but the signatures and the
 *   window) answering the same encrypted reply — the most any handler doing that work could reach.
 * The load comes from autocannon in this process (a separate process from the server): one fixed,
 * pre-built, signed and encrypted push, the same bytes and query to every route. Each route is
 * warmed up for 0.5 s, then the routes are loaded in `BENCH_ROUNDS` (default 5) rounds, their
 * order turned each round (and reversed every other), sharing `BENCH_HTTP_SECONDS` (default 3; at
 * least 0.5 s a round) per route, with `BENCH_HTTP_CONNECTIONS` (default 10) connections, at most
 * `BENCH_HTTP_MAX_REQUESTS` (default 1 000 000) requests per run. Ratios are the medians of the
 * per-round ratios (neighbouring runs see the same machine), req/s and p99 the medians; the
 * server's CPU per request (user + system, from /proc, Linux) is reported beside them. Before
 * loading, one `/wechat` answer is decrypted and checked; after, the server's counts must show
 * every push handled and none refused.
 */
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import {
  computeMessageSignature,
  computeServerSignature,
  MessageCrypto,
  parseXml,
} from '../src/crypto/index.js';
import { median, type ScenarioResult } from './harness.js';
import { envNumber, type LoadResult, load, processCpuMicros, round2, spawnChild } from './load.js';

export interface HttpScenarioResult extends ScenarioResult {
  /** p99 latency of `/wechat`, ms. */
  p99Ms: number;
  /** p99 latency of `/bare`, ms. */
  baselineP99Ms: number;
  /** Server CPU (user + system, all threads) per answered request over all rounds, µs (Linux only). */
  cpuMicrosPerRequest?: number;
  baselineCpuMicrosPerRequest?: number;
  /** The peer package on the same framework (express: node-webot `wechat`, koa: `co-wechat`). */
  peer?: { name: string; opsPerSec: number; p99Ms: number; ratio: number; cpuMicrosPerRequest?: number };
  /**
   * The crypto floor's route: `ratio` is its req/s over the bare route's (the highest ratio any
   * handler doing the protocol's cryptography could reach in this run), `pushShare` the push route's
   * req/s over the floor's; both medians of per-round ratios.
   */
  floor?: { opsPerSec: number; ratio: number; pushShare: number; cpuMicrosPerRequest?: number };
}

/** The package people would otherwise use on that framework, served at `/peer`. */
const PEERS: Partial<Record<HttpFramework, string>> = { express: 'wechat (node-webot)', koa: 'co-wechat' };

export const HTTP_FRAMEWORKS = ['node', 'express', 'koa', 'fastify', 'hono'] as const;
export type HttpFramework = (typeof HTTP_FRAMEWORKS)[number];

const SERVER = fileURLToPath(new URL('./fixtures/http-server.ts', import.meta.url));
export const APP_ID = 'wxb11529c136998cb6';
export const TOKEN = 'bench-token';
export const AES_KEY = 'abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG';
export const CONTENT = '你好，我想查询一下订单的物流状态';
const USER = 'oUpF8uMuAJO_M2pxb1Q9zNjWeS6o';
const ACCOUNT = 'gh_1234567890ab';

interface ServerStats {
  handled: number;
  refused: number;
  duplicates: number;
  errors: number;
  bare: number;
  bareBytes: number;
  peer: number;
  floor: number;
}

interface ServerChild {
  base: string;
  pid: number | undefined;
  stats(): Promise<ServerStats>;
  stop(): Promise<void>;
}

/** Starts the server child and waits for its port line. */
async function startServer(framework: HttpFramework): Promise<ServerChild> {
  const child = spawnChild(
    SERVER,
    { WK_FRAMEWORK: framework, WK_APPID: APP_ID, WK_TOKEN: TOKEN, WK_AES_KEY: AES_KEY },
    `the ${framework} server`,
  );
  try {
    const { port } = JSON.parse(await child.nextLine(30_000)) as { port: number };
    return {
      base: `http://127.0.0.1:${port}`,
      pid: child.pid,
      stats: async () => {
        child.send('stats');
        return JSON.parse(await child.nextLine(5000)) as ServerStats;
      },
      stop: () => child.stop(),
    };
  } catch (error) {
    await child.stop();
    throw error;
  }
}

export interface Push {
  /** Query string, with `?`. */
  query: string;
  body: string;
  crypto: MessageCrypto;
}

/** A valid safe-mode text push signed now (the timestamp window is ±300 s; a run takes seconds). */
export function buildPush(): Push {
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

/** One request to an encrypted-reply route, checked: the answer must decrypt to the expected text reply. */
async function checkReply(base: string, route: string, push: Push): Promise<void> {
  const res = await fetch(`${base}${route}${push.query}`, {
    method: 'POST',
    headers: HEADERS,
    body: push.body,
  });
  const text = await res.text();
  if (res.status !== 200) throw new Error(`${route} answered ${res.status}: ${text.slice(0, 200)}`);
  const envelope = parseXml(text);
  const { MsgSignature, TimeStamp, Nonce } = envelope;
  if (typeof MsgSignature !== 'string' || typeof Nonce !== 'string' || TimeStamp === undefined) {
    throw new Error(`${route} did not answer an encrypted envelope: ${text.slice(0, 200)}`);
  }
  // Signature and decryption checked, not the timestamp window: the peers answer TimeStamp in
  // milliseconds (Date.now()), which a strict reader refuses as not Unix seconds.
  const encrypt = String(envelope.Encrypt);
  const expected = computeMessageSignature({
    token: TOKEN,
    timestamp: String(TimeStamp),
    nonce: Nonce,
    encrypt,
  });
  if (expected !== MsgSignature)
    throw new Error(`${route}'s reply signature does not verify: ${text.slice(0, 200)}`);
  const opened = { plaintext: push.crypto.cipher.decrypt(encrypt) };
  const inner = parseXml(opened.plaintext);
  if (
    inner.MsgType !== 'text' ||
    inner.Content !== `you said: ${CONTENT}` ||
    inner.ToUserName !== USER ||
    inner.FromUserName !== ACCOUNT
  ) {
    throw new Error(`${route}'s decrypted reply is not the expected text reply: ${opened.plaintext}`);
  }
}

/** One request to each route, checked: `/wechat` (and `/peer`) must answer an encrypted reply that decrypts. */
async function verifyRoutes(base: string, push: Push, peer: boolean): Promise<void> {
  await checkReply(base, '/wechat', push);
  if (peer) await checkReply(base, '/peer', push);
  await checkReply(base, '/floor', push);
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

type Route = 'wechat' | 'bare' | 'peer' | 'floor';

/** Each route's runs, one per round, and the server CPU they cost (undefined off Linux). */
interface Rounds {
  runs: Record<Route, LoadResult[]>;
  cpu: Record<Route, number> | undefined;
}

/**
 * Loads `routes` in `rounds` rounds of `slice` seconds each, the order turned by one every round
 * and reversed every other round, so that no route always runs first or after the same neighbour.
 */
async function loadInRounds(
  urls: Partial<Record<Route, string>>,
  routes: readonly Route[],
  post: Parameters<typeof load>[1],
  rounds: number,
  slice: number,
  pid: number | undefined,
): Promise<Rounds> {
  const runs: Record<Route, LoadResult[]> = { wechat: [], bare: [], peer: [], floor: [] };
  let cpu: Record<Route, number> | undefined = { wechat: 0, bare: 0, peer: 0, floor: 0 };
  for (let round = 0; round < rounds; round += 1) {
    const turn = round % routes.length;
    const order = [...routes.slice(turn), ...routes.slice(0, turn)];
    if (Math.floor(round / routes.length) % 2 === 1) order.reverse();
    for (const route of order) {
      const before = processCpuMicros(pid);
      runs[route].push(await load(urls[route] as string, post, slice));
      const after = processCpuMicros(pid);
      if (before === undefined || after === undefined || cpu === undefined) cpu = undefined;
      else cpu[route] += after - before;
    }
  }
  return { runs, cpu };
}

async function runFramework(framework: HttpFramework, seconds: number): Promise<HttpScenarioResult> {
  const server = await startServer(framework);
  try {
    const push = buildPush();
    const urls: Record<Route, string> = {
      wechat: `${server.base}/wechat${push.query}`,
      bare: `${server.base}/bare${push.query}`,
      peer: `${server.base}/peer${push.query}`,
      floor: `${server.base}/floor${push.query}`,
    };
    const peerName = PEERS[framework];
    await verifyRoutes(server.base, push, peerName !== undefined);
    const post = { method: 'POST' as const, headers: HEADERS, body: push.body };
    const routes: Route[] =
      peerName === undefined ? ['wechat', 'bare', 'floor'] : ['wechat', 'bare', 'floor', 'peer'];
    const warm: Partial<Record<Route, LoadResult>> = {};
    for (const route of routes) warm[route] = await load(urls[route], post, 0.5);
    const rounds = envNumber('BENCH_ROUNDS', 5);
    const { runs, cpu } = await loadInRounds(
      urls,
      routes,
      post,
      rounds,
      Math.max(0.5, seconds / rounds),
      server.pid,
    );
    const completed = (route: Route) => runs[route].reduce((sum, run) => sum + run.completed, 0);
    const cpuPerRequest = (route: Route) =>
      cpu === undefined || completed(route) === 0 ? undefined : round2(cpu[route] / completed(route));
    const pairedRatio = (over: Route, of: Route = 'wechat') =>
      round2(median(runs[of].map((run, i) => run.opsPerSec / (runs[over][i]?.opsPerSec ?? Number.NaN))));
    const medianOf = (route: Route, field: 'opsPerSec' | 'p99Ms') =>
      median(runs[route].map((run) => run[field]));

    let peer: HttpScenarioResult['peer'];
    if (peerName !== undefined) {
      // Every /peer answer counted came from the peer's handler (1 from verifyRoutes).
      const peerAnswered = 1 + (warm.peer?.completed ?? 0) + completed('peer');
      const { peer: peerHandled } = await server.stats();
      if (peerHandled < peerAnswered) {
        throw new Error(`${peerName} handled ${peerHandled} pushes for ${peerAnswered} answers`);
      }
      const peerCpu = cpuPerRequest('peer');
      peer = {
        name: peerName,
        opsPerSec: Math.round(medianOf('peer', 'opsPerSec')),
        p99Ms: round2(medianOf('peer', 'p99Ms')),
        ratio: pairedRatio('peer'),
        ...(peerCpu === undefined ? {} : { cpuMicrosPerRequest: peerCpu }),
      };
    }
    const stats = await server.stats();
    // Every /floor answer counted came from the floor (1 from verifyRoutes), none refused.
    const floorAnswered = 1 + (warm.floor?.completed ?? 0) + completed('floor');
    if (stats.floor < floorAnswered) {
      throw new Error(`the crypto floor answered ${stats.floor} pushes for ${floorAnswered} answers`);
    }
    const floorCpu = cpuPerRequest('floor');
    const floor: HttpScenarioResult['floor'] = {
      opsPerSec: Math.round(medianOf('floor', 'opsPerSec')),
      ratio: pairedRatio('bare', 'floor'),
      pushShare: pairedRatio('floor'),
      ...(floorCpu === undefined ? {} : { cpuMicrosPerRequest: floorCpu }),
    };
    // Every answer counted above came from the text handler (1 from verifyRoutes), none refused.
    const answered = 1 + (warm.wechat?.completed ?? 0) + completed('wechat');
    if (stats.refused || stats.errors || stats.duplicates || stats.handled < answered) {
      throw new Error(
        `the ${framework} server handled ${stats.handled} pushes for ${answered} answers ` +
          `(refused ${stats.refused}, errors ${stats.errors}, duplicates ${stats.duplicates})`,
      );
    }
    const wechatCpu = cpuPerRequest('wechat');
    const bareCpu = cpuPerRequest('bare');
    return {
      name: `http.${framework}`,
      opsPerSec: Math.round(medianOf('wechat', 'opsPerSec')),
      baselineOpsPerSec: Math.round(medianOf('bare', 'opsPerSec')),
      ratio: pairedRatio('bare'),
      p99Ms: round2(medianOf('wechat', 'p99Ms')),
      baselineP99Ms: round2(medianOf('bare', 'p99Ms')),
      ...(wechatCpu === undefined || bareCpu === undefined
        ? {}
        : { cpuMicrosPerRequest: wechatCpu, baselineCpuMicrosPerRequest: bareCpu }),
      ...(peer === undefined ? {} : { peer }),
      floor,
    };
  } finally {
    await server.stop();
  }
}

/** `BENCH_HTTP_FRAMEWORKS=express,koa` runs only those (default: all). */
function selectedFrameworks(): readonly HttpFramework[] {
  const named = process.env.BENCH_HTTP_FRAMEWORKS?.split(',').map((f) => f.trim());
  return named === undefined ? HTTP_FRAMEWORKS : HTTP_FRAMEWORKS.filter((f) => named.includes(f));
}

/**
 * Runs the HTTP scenario for every framework, one after the other. A framework that fails to
 * start (or whose check fails) is reported on stderr and left out; the others still run.
 */
export async function httpScenarios(
  frameworks: readonly HttpFramework[] = selectedFrameworks(),
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
  const rounds = envNumber('BENCH_ROUNDS', 5);
  console.log(
    `\nHTTP: encrypted text push -> encrypted reply via the adapter (/wechat) vs the same framework's bare route ` +
      `(/bare, same body, fixed XML)\n${connections} connections, ${rounds} rounds sharing ${seconds} s per route, the order of the routes turned each round ` +
      '(medians; ratio = median of per-round ratios), autocannon in a separate process\n' +
      'cpu µs: the server CPU (user + system) per request over all rounds; cpu x = bare cpu / push cpu\n',
  );
  const cpuCell = (n: number | undefined) => (n === undefined ? '-'.padStart(9) : n.toFixed(1).padStart(9));
  const num = (n: number, w = 12) => n.toLocaleString('en-US').padStart(w);
  const ms = (n: number) => n.toFixed(2).padStart(10);
  console.log(
    `${'scenario'.padEnd(16)}${'req/s'.padStart(12)}${'bare req/s'.padStart(12)}${'ratio'.padStart(8)}` +
      `${'p99 ms'.padStart(10)}${'bare p99'.padStart(10)}${'cpu µs'.padStart(9)}${'bare'.padStart(9)}${'cpu x'.padStart(8)}`,
  );
  for (const r of results) {
    const cpuRatio =
      r.cpuMicrosPerRequest === undefined || r.baselineCpuMicrosPerRequest === undefined
        ? '-'
        : `${(r.baselineCpuMicrosPerRequest / r.cpuMicrosPerRequest).toFixed(2)}x`;
    console.log(
      `${r.name.padEnd(16)}${num(r.opsPerSec)}${num(r.baselineOpsPerSec)}${`${r.ratio.toFixed(2)}x`.padStart(8)}` +
        `${ms(r.p99Ms)}${ms(r.baselineP99Ms)}${cpuCell(r.cpuMicrosPerRequest)}${cpuCell(r.baselineCpuMicrosPerRequest)}${cpuRatio.padStart(8)}`,
    );
  }
  const floors = results.filter((r) => r.floor !== undefined);
  if (floors.length > 0) {
    console.log(
      "\nThe crypto floor (/floor in the same rounds: the protocol's cryptography alone on node:crypto, no parser, " +
        'the same encrypted reply; bench/fixtures/crypto-floor.ts):\n',
    );
    console.log(
      `${'scenario'.padEnd(16)}${'floor req/s'.padStart(12)}${'floor x'.padStart(9)}${'push/floor'.padStart(12)}${'floor cpu'.padStart(11)}`,
    );
    for (const r of floors) {
      const f = r.floor as NonNullable<HttpScenarioResult['floor']>;
      console.log(
        `${r.name.padEnd(16)}${num(f.opsPerSec)}${`${f.ratio.toFixed(2)}x`.padStart(9)}${`${f.pushShare.toFixed(2)}x`.padStart(12)}${cpuCell(f.cpuMicrosPerRequest).padStart(11)}`,
      );
    }
    console.log(
      'floor x: the floor over the bare route, the highest ratio any handler doing this cryptography could reach in this run; ' +
        'push/floor: /wechat over /floor',
    );
  }
  const peers = results.filter((r) => r.peer !== undefined);
  if (peers.length > 0) {
    console.log(
      `\nBeside the peers (same push, same encrypted reply text, same framework, /peer in the same rounds):\n`,
    );
    console.log(
      `${'scenario'.padEnd(16)}${'peer'.padEnd(22)}${'req/s'.padStart(12)}${'peer req/s'.padStart(12)}${'ratio'.padStart(8)}${'peer p99'.padStart(10)}${'bound'.padStart(8)}${'peer cpu'.padStart(9)}`,
    );
    for (const r of peers) {
      const p = r.peer as NonNullable<HttpScenarioResult['peer']>;
      // The ratio a handler costing nothing would reach: the bare route (fixed XML) beside the peer.
      const bound = p.opsPerSec > 0 ? r.baselineOpsPerSec / p.opsPerSec : 0;
      console.log(
        `${r.name.padEnd(16)}${p.name.padEnd(22)}${num(r.opsPerSec)}${num(p.opsPerSec)}${`${p.ratio.toFixed(2)}x`.padStart(8)}${ms(p.p99Ms)}${`${bound.toFixed(2)}x`.padStart(8)}${cpuCell(p.cpuMicrosPerRequest)}`,
      );
    }
    console.log(
      'bound: the bare route beside the peer, the most any handler could reach on that framework in this run',
    );
  }
}
