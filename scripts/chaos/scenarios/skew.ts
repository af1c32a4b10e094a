/**
 * Clock skew of ±6 minutes, on the sender's side and on the receiver's: callback pushes, Pay
 * notifications and Pay API answers are refused with `TIMESTAMP_EXPIRED` (the window is ±5 min),
 * and no handler runs for them. The same exchanges at ±4 minutes are accepted, so the refusals
 * come from the window and not from something else.
 */

import type { IncomingMessage, ServerResponse } from 'node:http';
import { toNodeListener } from '../../../src/adapters/node.js';
import { createPayNotificationHandler, createWeChatCallback, isWeChatKitError } from '../../../src/index.js';
import { APP, emulatorFor, listen, sleep } from '../env.js';
import type { Scenario, ScenarioContext } from '../matrix.js';
import { newMerchant, order, payClient, platformKey } from '../pay.js';

const SKEWS = [360, -360] as const;
const INSIDE = [240, -240] as const;
const minutes = (s: number) => `${s > 0 ? '+' : '−'}${Math.abs(s) / 60} min`;
const list = (xs: readonly string[]) => [...new Set(xs)].join(', ') || 'none';

/** What reached a listener: how far its timestamp was from the receiver's clock, and the status answered. */
interface Seen {
  skewSeconds: number;
  status: number;
}

/** Wraps a listener to record, per request, the timestamp's distance from `now()` and the answer's status. */
function observed(
  listener: (req: IncomingMessage, res: ServerResponse) => void,
  timestampOf: (req: IncomingMessage) => string | undefined,
  now: () => number,
  seen: Seen[],
) {
  return (req: IncomingMessage, res: ServerResponse) => {
    const skewSeconds = Number(timestampOf(req)) - Math.floor(now() / 1000);
    res.once('finish', () => seen.push({ skewSeconds, status: res.statusCode }));
    listener(req, res);
  };
}

/** Accepted (2xx) requests whose timestamp was more than 5 minutes off: must be none. */
const silent = (seen: readonly Seen[]) =>
  seen.filter((s) => Math.abs(s.skewSeconds) > 300 && s.status >= 200 && s.status < 300).length;

async function pushes(ctx: ScenarioContext): Promise<void> {
  let receiverSkewMs = 0;
  let handled = 0;
  const refused: string[] = [];
  const callback = createWeChatCallback({
    appId: APP.appId,
    token: APP.token,
    encodingAESKey: APP.encodingAESKey,
    mode: 'safe',
    now: () => Date.now() + receiverSkewMs,
    hooks: { onRefused: (e) => refused.push(e.code) },
    logger: { error: () => {} },
  });
  callback.on('text', () => {
    handled += 1;
  });
  const seen: Seen[] = [];
  const server = await listen(
    ctx,
    observed(
      toNodeListener(callback),
      (req) => new URL(req.url ?? '/', 'http://x').searchParams.get('timestamp') ?? undefined,
      () => Date.now() + receiverSkewMs,
      seen,
    ),
  );
  const emulator = await emulatorFor(ctx, {
    apps: [{ ...APP, kind: 'official-account', messageMode: 'safe', callbackUrl: `${server.url}/wechat` }],
  });
  // `staleSeconds` signs the push that far in the past (negative: in the future).
  const push = (senderSkew: number) =>
    emulator.control.post<{ status: number; attempts: number }>('/_emulator/push', {
      appId: APP.appId,
      message: { MsgType: 'text', Content: `skew ${senderSkew}` },
      faults: { staleSeconds: -senderSkew },
      options: { maxAttempts: 1, timeoutMs: 5000 },
    });
  for (const side of ['sender', 'receiver'] as const) {
    refused.length = 0;
    seen.length = 0;
    handled = 0;
    const statuses: number[] = [];
    for (const skew of SKEWS) {
      receiverSkewMs = side === 'receiver' ? skew * 1000 : 0;
      statuses.push((await push(side === 'sender' ? skew : 0)).status);
    }
    const refusedCodes = [...refused];
    const handledOutside = handled;
    handled = 0;
    for (const skew of INSIDE) {
      receiverSkewMs = side === 'receiver' ? skew * 1000 : 0;
      await push(side === 'sender' ? skew : 0);
    }
    receiverSkewMs = 0;
    const ok =
      handledOutside === 0 &&
      silent(seen) === 0 &&
      refusedCodes.length === SKEWS.length &&
      refusedCodes.every((c) => c === 'TIMESTAMP_EXPIRED') &&
      statuses.every((s) => s >= 400 && s < 500) &&
      handled === INSIDE.length;
    ctx.row(
      `callback push, ${side} clock ±6 min`,
      `refused ${refusedCodes.length}/${SKEWS.length} (${list(refusedCodes)}, HTTP ${list(statuses.map(String))}), handled ${handledOutside}, accepted beyond ±5 min ${silent(seen)}; at ±4 min handled ${handled}/${INSIDE.length}`,
      ok,
      `handled outside the window ${handledOutside}, codes ${list(refusedCodes)}, inside handled ${handled}`,
    );
  }
}

async function payNotifications(ctx: ScenarioContext): Promise<void> {
  const merchant = newMerchant();
  let receiverSkewMs = 0;
  const handledNos = new Set<string>();
  let runs = 0;
  const refused: string[] = [];
  const seen: Seen[] = [];
  let notify = '';
  const server = await listen(
    ctx,
    observed(
      (req, res) => notifyListener(req, res),
      (req) => req.headers['wechatpay-timestamp'] as string | undefined,
      () => Date.now() + receiverSkewMs,
      seen,
    ),
  );
  const emulator = await emulatorFor(ctx, {
    apps: [{ ...APP, kind: 'mini-program' }],
    merchants: [merchant.emulator],
  });
  const platform = await platformKey(emulator.control);
  const pay = payClient(merchant, emulator.url, platform);
  const handler = createPayNotificationHandler({
    apiV3Key: merchant.apiV3Key,
    verifier: pay.platformTrust,
    now: () => Date.now() + receiverSkewMs,
    hooks: { onRefused: (e) => refused.push(e.code) },
    logger: { error: () => {} },
  }).on('TRANSACTION.SUCCESS', ({ resource }) => {
    runs += 1;
    handledNos.add(resource.out_trade_no);
  });
  const notifyListener = toNodeListener(handler);
  notify = `${server.url}/pay/notify`;
  let n = 0;
  const made: string[] = [];
  // One attempt is enough: the retries (15 s … on the emulated clock) carry the same skew.
  // The emulator's clock is moved for one payment and moved back, except for the last one, where
  // the receiver's clock is set to agree with it instead: moving emulated time back would leave that
  // payment's retry scheduled 6 min ahead.
  const payOnce = async (emulatorAhead: number, keepAhead = false) => {
    n += 1;
    const no = `skew${Date.now()}${n}`;
    made.push(no);
    await order(pay, APP.appId, no, notify);
    if (emulatorAhead !== 0) emulator.state.advance(emulatorAhead);
    try {
      const answer = await emulator.control.post<{
        notifications: Array<{ attempts?: Array<{ status?: number }> }>;
      }>(`/_emulator/pay/transactions/${no}/succeed`, { timeoutMs: 5000 });
      return answer;
    } finally {
      if (emulatorAhead !== 0 && !keepAhead) emulator.state.advance(-emulatorAhead);
    }
  };
  for (const side of ['sender', 'receiver'] as const) {
    refused.length = 0;
    seen.length = 0;
    made.length = 0;
    handledNos.clear();
    runs = 0;
    const order = [SKEWS[1], ...INSIDE, SKEWS[0]];
    for (const [i, skew] of order.entries()) {
      receiverSkewMs = side === 'receiver' ? skew * 1000 : 0;
      await payOnce(side === 'sender' ? skew : 0, i === order.length - 1);
    }
    const last = order[order.length - 1] as number;
    receiverSkewMs = side === 'sender' ? last * 1000 : 0;
    // With the clocks agreeing again, WeChat Pay's retries of the refused ones get through: nothing is lost.
    for (let waited = 0; handledNos.size < made.length && waited < 10_000; waited += 50) await sleep(50);
    ctx.row(
      `Pay notification, ${side} clock ±6 min`,
      `refused ${refused.length} attempt(s) (${list(refused)}), accepted beyond ±5 min ${silent(seen)}; ` +
        `after the clocks agree ${handledNos.size}/${made.length} payments handled (2 sent at ±6 min, 2 at ±4 min), ${runs} handler runs`,
      silent(seen) === 0 &&
        refused.length >= SKEWS.length &&
        refused.every((c) => c === 'TIMESTAMP_EXPIRED') &&
        handledNos.size === made.length &&
        runs === made.length,
      `accepted beyond the window ${silent(seen)}, codes ${list(refused)}, handled ${handledNos.size}/${made.length}, runs ${runs}`,
    );
    if (side === 'sender') {
      emulator.state.advance(-last);
      receiverSkewMs = 0;
    }
  }

  // The client's own clock off: the answers' Wechatpay-Timestamp is outside its window.
  const outcomes: string[] = [];
  for (const skew of [...SKEWS, ...INSIDE]) {
    const skewed = payClient(merchant, emulator.url, platform, () => Date.now() + skew * 1000);
    try {
      await skewed.transactions.getByOutTradeNo({ out_trade_no: 'skew-none' });
      outcomes.push(`${minutes(skew)}: data`);
    } catch (error) {
      outcomes.push(`${minutes(skew)}: ${isWeChatKitError(error) ? error.code : 'untyped'}`);
    }
  }
  const outside = outcomes.slice(0, SKEWS.length);
  const inside = outcomes.slice(SKEWS.length);
  ctx.row(
    'Pay API answer, client clock ±6 min',
    outcomes.join('; '),
    outside.every((o) => o.endsWith('TIMESTAMP_EXPIRED')) &&
      inside.every((o) => !o.endsWith('TIMESTAMP_EXPIRED')),
    'a skewed answer was not refused with TIMESTAMP_EXPIRED, or one inside the window was',
  );
}

export const skewScenario: Scenario = {
  id: 'skew',
  name: 'clock skew ±6 min',
  async run(ctx) {
    await pushes(ctx);
    await payNotifications(ctx);
  },
};
