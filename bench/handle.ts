/**
 * `callback.handle`: one encrypted text push answered with an encrypted text reply by
 * `WeChatCallback.handle()` in process (no HTTP): verify `signature` and `msg_signature`, check the
 * timestamp window, decrypt, parse, route, run the handler, build and encrypt the reply. Reported
 * as µs per push and JS heap bytes allocated per push, beside the protocol core alone doing the
 * same cryptographic work (`MessageCrypto.open` + `parseXml` + reply XML + `MessageCrypto.seal`).
 *
 * Allocation: with a collection forced first, the growth of `heapUsed` over a batch small enough
 * to fit the young generation is what the batch allocated; batches during which the collector ran
 * (seen by a `gc` PerformanceObserver) are discarded, and the median of the rest is reported.
 */
import { PerformanceObserver } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import type { CallbackRequest } from '../src/callbacks/types.js';
import { createCryptoFloor } from './fixtures/crypto-floor.js';
import type { ScenarioResult } from './harness.js';
import { compareAsync } from './harness.js';
import { AES_KEY, APP_ID, buildPush, CONTENT, TOKEN } from './http.js';

// Measured as shipped (the built package), typed from the sources, as bench/fixtures/http-server.ts.
const dist = (entry: string): string => new URL(`../dist/${entry}`, import.meta.url).href;
const { createWeChatCallback, reply } = (await import(dist('index.js'))) as typeof import('../src/index.js');
const { MessageCrypto, parseXml, buildXml } = (await import(
  dist('crypto/index.js')
)) as typeof import('../src/crypto/index.js');

export interface HandleScenarioResult extends ScenarioResult {
  /** µs per push through `handle()`. */
  microsPerPush: number;
  /** µs per push of the protocol core alone. */
  baselineMicrosPerPush: number;
  /**
   * µs per push of the crypto floor (bench/fixtures/crypto-floor.ts: the protocol's cryptography
   * alone on node:crypto, no XML parser, no checks but the signatures and the window), measured in
   * rounds paired with `handle()`'s: the least any handler doing the same work could cost here.
   */
  floorMicrosPerPush: number;
  /** `handle()`'s throughput over the floor's, median of the paired rounds. */
  floorRatio: number;
  /** JS heap bytes allocated per push through `handle()` (median of collector-free batches). */
  bytesPerPush: number | undefined;
  /** The same for the protocol core alone. */
  baselineBytesPerPush: number | undefined;
  /** RSS (MiB, after a full collection) after 100 k and after `pushes` pushes through `handle()`. */
  memory: { pushes: number; rssAt100kMiB: number; rssAtEndMiB: number; growth: number } | undefined;
}

/**
 * RSS after 100 k pushes and after `pushes` (default 1 M, `BENCH_PUSHES`), each read after a full
 * collection: per-request growth shows as the second well above the first (target: within 10%).
 */
async function memoryGrowth(
  fn: () => Promise<unknown>,
  pushes: number,
): Promise<HandleScenarioResult['memory']> {
  const gc = collector();
  if (gc === undefined || pushes <= 100_000) return undefined;
  const rss = () => {
    gc();
    return process.memoryUsage().rss / 2 ** 20;
  };
  for (let i = 0; i < 100_000; i++) await fn();
  const at100k = rss();
  for (let i = 100_000; i < pushes; i++) await fn();
  const atEnd = rss();
  return {
    pushes,
    rssAt100kMiB: Math.round(at100k * 10) / 10,
    rssAtEndMiB: Math.round(atEnd * 10) / 10,
    growth: Math.round((atEnd / at100k - 1) * 1000) / 1000,
  };
}

/** A `gc()` function, exposed at run time (the bench runs without `--expose-gc`). */
function collector(): (() => void) | undefined {
  try {
    setFlagsFromString('--expose-gc');
    return runInNewContext('gc') as () => void;
  } catch {
    return undefined;
  }
}

async function bytesPerCall(fn: () => Promise<unknown>): Promise<number | undefined> {
  const gc = collector();
  if (gc === undefined) return undefined;
  let collections = 0;
  const observer = new PerformanceObserver((list) => {
    collections += list.getEntries().length;
  });
  observer.observe({ entryTypes: ['gc'] });
  const batch = 500;
  const clean: number[] = [];
  try {
    for (let round = 0; round < 15 && clean.length < 7; round++) {
      const forced = collections + 1;
      gc();
      // The observer reports the forced collection a little later: wait for it before counting.
      for (let waited = 0; collections < forced && waited < 50; waited++) await sleep(2);
      const seen = collections;
      const before = process.memoryUsage().heapUsed;
      for (let i = 0; i < batch; i++) await fn();
      const after = process.memoryUsage().heapUsed;
      await sleep(10);
      if (collections === seen) clean.push((after - before) / batch);
    }
  } finally {
    observer.disconnect();
  }
  if (clean.length === 0) return undefined;
  clean.sort((a, b) => a - b);
  return Math.round(clean[Math.floor(clean.length / 2)] ?? 0);
}

export async function handleScenario(): Promise<HandleScenarioResult> {
  // The HTTP bench's push: same account, message and signatures.
  const push = buildPush();
  const crypto = push.crypto;
  const query = new URLSearchParams(push.query);
  const timestamp = query.get('timestamp') ?? '';
  const nonce = query.get('nonce') ?? '';
  const msgSignature = query.get('msg_signature') ?? '';
  const body = Buffer.from(push.body);
  // As in the HTTP bench: one push replayed, so a store that never reports a duplicate (a real
  // store would short-cut every replay after the first).
  const callback = createWeChatCallback({
    appId: APP_ID,
    token: TOKEN,
    encodingAESKey: AES_KEY,
    mode: 'safe',
    dedupe: { claim: async () => true },
  }).on('text', (msg) => reply.text(`you said: ${msg.Content}`));
  const request: CallbackRequest = {
    method: 'POST',
    url: `/wechat${push.query}`,
    headers: { 'content-type': 'text/xml' },
    rawBody: body,
    remoteAddress: '127.0.0.1',
  };
  // The Content of an encrypted reply envelope, opened as the sender would.
  const replyContent = (envelope: string): unknown => {
    const opened = parseXml(envelope);
    return parseXml(
      crypto.open({
        body: envelope,
        msgSignature: String(opened.MsgSignature),
        timestamp: String(opened.TimeStamp),
        nonce: String(opened.Nonce),
      }).plaintext,
    ).Content;
  };
  const first = await callback.handle(request);
  if (first.status !== 200 || replyContent(first.body) !== `you said: ${CONTENT}`) {
    throw new Error(`callback.handle: unexpected answer ${first.status} ${first.body.slice(0, 200)}`);
  }

  const core = new MessageCrypto({ token: TOKEN, encodingAESKey: AES_KEY, receiveId: APP_ID });
  const candidate = () => callback.handle(request);
  const baseline = async () => {
    const message = parseXml(core.open({ body, msgSignature, timestamp, nonce }).plaintext);
    const xml = buildXml({
      ToUserName: message.FromUserName,
      FromUserName: message.ToUserName,
      CreateTime: Math.floor(Date.now() / 1000),
      MsgType: 'text',
      Content: `you said: ${message.Content}`,
    });
    return core.seal(xml).body;
  };
  const floor = createCryptoFloor({
    token: TOKEN,
    encodingAESKey: AES_KEY,
    appId: APP_ID,
    replyPrefix: 'you said: ',
  });
  const floorQuery = push.query.slice(1);
  const floorAnswer = floor(floorQuery, body);
  if (floorAnswer === undefined || replyContent(floorAnswer) !== `you said: ${CONTENT}`) {
    throw new Error('callback.handle: the crypto floor did not answer the expected encrypted reply');
  }
  const result = await compareAsync('callback.handle', candidate, baseline);
  const beside = await compareAsync('callback.handle.floor', candidate, async () => floor(floorQuery, body));
  const micros = (opsPerSec: number) => Math.round((1e6 / opsPerSec) * 10) / 10;
  return {
    ...result,
    microsPerPush: micros(result.opsPerSec),
    baselineMicrosPerPush: micros(result.baselineOpsPerSec),
    floorMicrosPerPush: micros(beside.baselineOpsPerSec),
    floorRatio: beside.ratio,
    bytesPerPush: await bytesPerCall(candidate),
    baselineBytesPerPush: await bytesPerCall(baseline),
    memory: await memoryGrowth(candidate, Number(process.env.BENCH_PUSHES ?? 1_000_000)),
  };
}

export function printHandleTable(r: HandleScenarioResult): void {
  const bytes = (n: number | undefined) => (n === undefined ? 'n/a' : n.toLocaleString('en-US'));
  console.log(
    `\ncallback.handle: encrypted text push -> encrypted text reply in process (no HTTP)\n` +
      `  handle()             ${r.microsPerPush.toFixed(1).padStart(7)} µs/push  ${bytes(r.bytesPerPush).padStart(7)} B/push (JS heap)\n` +
      `  protocol core alone  ${r.baselineMicrosPerPush.toFixed(1).padStart(7)} µs/push  ${bytes(r.baselineBytesPerPush).padStart(7)} B/push ` +
      `(open + parseXml + buildXml + seal)\n  ratio ${r.ratio.toFixed(2)}x\n` +
      `  crypto floor         ${r.floorMicrosPerPush.toFixed(1).padStart(7)} µs/push  ` +
      `(the protocol's cryptography alone on node:crypto, no parser: the least any handler could cost here; ` +
      `handle() at ${r.floorRatio.toFixed(2)}x of it, paired rounds)`,
  );
  if (r.memory !== undefined) {
    const m = r.memory;
    console.log(
      `  RSS after 100 k pushes ${m.rssAt100kMiB} MiB, after ${m.pushes.toLocaleString('en-US')} ${m.rssAtEndMiB} MiB ` +
        `(${m.growth >= 0 ? '+' : ''}${(m.growth * 100).toFixed(1)}%; target within 10%)`,
    );
  }
}
