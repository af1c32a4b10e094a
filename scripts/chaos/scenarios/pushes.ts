/**
 * Callback pushes duplicated (the same bytes twice), reordered (sent concurrently in a shuffled
 * order) and retried after a slow reply (the handler outlasts the push timeout, so the emulator
 * resends, as WeChat does after 5 s): each message must reach a handler exactly once — with one
 * instance and an in-memory dedupe store, and with two instances behind a round-robin front
 * sharing a RedisDedupeStore.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { toNodeListener } from '../../../src/adapters/node.js';
import { createWeChatCallback, type DedupeStore, MemoryDedupeStore } from '../../../src/index.js';
import { RedisDedupeStore } from '../../../src/redis/index.js';
import { APP, emulatorFor, listen, pool, redisMissing, sharedRedis, sleep } from '../env.js';
import type { Scenario, ScenarioContext } from '../matrix.js';

const PUSH_TIMEOUT_MS = 400;
const SLOW_MS = 900;

async function run(ctx: ScenarioContext, setup: string, stores: DedupeStore[]): Promise<void> {
  const n = ctx.profile.pushes;
  const handled = new Map<string, number>();
  let requests = 0;
  let duplicates = 0;
  const listeners = stores.map((dedupe) => {
    const callback = createWeChatCallback({
      appId: APP.appId,
      token: APP.token,
      encodingAESKey: APP.encodingAESKey,
      mode: 'safe',
      dedupe,
      hooks: {
        onDuplicate: () => {
          duplicates += 1;
        },
      },
      logger: { error: () => {} },
    });
    callback.on('text', async (message) => {
      const id = String(message.MsgId);
      handled.set(id, (handled.get(id) ?? 0) + 1);
      if (message.Content.startsWith('slow')) await sleep(SLOW_MS);
    });
    return toNodeListener(callback);
  });
  let turn = 0;
  const front = (req: IncomingMessage, res: ServerResponse) => {
    requests += 1;
    const listener = listeners[turn++ % listeners.length];
    listener?.(req, res);
  };
  const server = await listen(ctx, front);
  const emulator = await emulatorFor(ctx, {
    apps: [{ ...APP, kind: 'official-account', messageMode: 'safe', callbackUrl: `${server.url}/wechat` }],
  });
  // Message i: every 3rd duplicated, every 4th slow; sent 4 at a time in a shuffled order.
  const ids = Array.from({ length: n }, (_, i) => i);
  for (let i = ids.length - 1; i > 0; i -= 1) {
    const j = (i * 7919 + 13) % (i + 1);
    [ids[i], ids[j]] = [ids[j] as number, ids[i] as number];
  }
  const msgId = (i: number) => String(24_000_000_000_000_000n + BigInt(i));
  const statuses: number[] = [];
  await pool(ids.length, 4, async (k) => {
    const i = ids[k] as number;
    const result = await emulator.control.post<{ status: number }>('/_emulator/push', {
      appId: APP.appId,
      message: { MsgType: 'text', Content: `${i % 4 === 0 ? 'slow' : 'fast'} ${i}`, MsgId: msgId(i) },
      faults: { duplicate: i % 3 === 0 },
      options: { timeoutMs: PUSH_TIMEOUT_MS },
    });
    statuses.push(result.status);
  });
  // Slow handlers still running after the pushes' last attempts: let them finish.
  await sleep(SLOW_MS);
  const once = ids.filter((i) => handled.get(msgId(i)) === 1).length;
  const twice = ids.filter((i) => (handled.get(msgId(i)) ?? 0) > 1).length;
  const missing = ids.filter((i) => !handled.has(msgId(i))).length;
  const retriedSlow = requests - n - Math.ceil(n / 3);
  ctx.row(
    setup,
    `${n} messages, ${requests} deliveries (${Math.ceil(n / 3)} duplicated, ${retriedSlow} resent after a slow reply), ${duplicates} answered as duplicates: handled once ${once}, more than once ${twice}, never ${missing}`,
    once === n && twice === 0 && missing === 0 && retriedSlow > 0,
    retriedSlow > 0
      ? `${twice} handled more than once, ${missing} never`
      : 'no slow reply was resent: the scenario did not exercise retries',
  );
}

export const pushScenario: Scenario = {
  id: 'pushes',
  name: 'callback pushes duplicated, reordered, retried',
  async run(ctx) {
    await run(ctx, 'memory dedupe, 1 instance', [new MemoryDedupeStore()]);
    const shared = await sharedRedis(ctx);
    if (shared === undefined) {
      redisMissing(ctx, 'Redis dedupe, 2 instances');
      return;
    }
    const store = () => new RedisDedupeStore(shared.redis, { prefix: shared.prefix });
    await run(ctx, 'Redis dedupe, 2 instances', [store(), store()]);
  },
};
