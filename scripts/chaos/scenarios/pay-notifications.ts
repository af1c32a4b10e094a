/**
 * WeChat Pay notifications on the official retry schedule (15s/15s/30s/3m/…, divided by the
 * emulator's retryTimeScale), each delivered to two instances (child processes sharing a
 * RedisDedupeStore; the second copy 100 ms later), some sent twice by WeChat Pay itself, and one
 * instance killed inside the handler of one payment. Every payment must be processed exactly
 * once: the killed instance's processing lease ends, a retry reaches the survivor, which
 * processes it. The attempts of each delivery must keep the official intervals.
 *
 * The handler marks the order paid idempotently, as WeChat Pay requires of merchants: a process
 * that dies after a handler's effect and before the SDK has recorded the notification as done
 * (one Redis round trip) makes WeChat Pay's retry run the handler again. So the SDK is held to:
 * no payment lost, and a handler run twice only for payments in flight on the killed instance —
 * never because of duplicates or concurrent deliveries to the two healthy instances.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { NOTIFY_SCHEDULE_SECONDS } from '../../../src/emulator/pay-v3/notifications.js';
import {
  APP,
  type Child,
  child,
  debug,
  emulatorFor,
  listen,
  redisMissing,
  sharedRedis,
  sleep,
} from '../env.js';
import type { Scenario, ScenarioContext } from '../matrix.js';
import { newMerchant, order, payClient, platformKey } from '../pay.js';

const INSTANCE = new URL('../workers/pay-instance.ts', import.meta.url);

interface Delivery {
  notificationId: string;
  status: 'pending' | 'delivered' | 'failed';
  attempts: Array<{ at: number; ok: boolean; status?: number }>;
}

async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

async function forward(url: string, req: IncomingMessage, body: Buffer): Promise<number> {
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(req.headers)) {
    if (typeof value === 'string' && name.startsWith('wechatpay-')) headers[name] = value;
  }
  headers['content-type'] = 'application/json';
  try {
    const res = await fetch(`${url}/pay/notify`, {
      method: 'POST',
      headers,
      body: new Uint8Array(body),
      signal: AbortSignal.timeout(4000),
    });
    await res.arrayBuffer();
    return res.status;
  } catch {
    return 0;
  }
}

export const payScenario: Scenario = {
  id: 'pay',
  name: 'Pay notifications, 2 instances, 1 killed',
  async run(ctx: ScenarioContext) {
    const setup = 'Redis dedupe, 2 processes';
    const shared = await sharedRedis(ctx);
    if (shared === undefined) {
      redisMissing(ctx, setup);
      return;
    }
    const { redis, prefix } = shared;
    const scale = ctx.profile.payRetryTimeScale;
    const merchant = newMerchant();
    // The instances' URLs, filled in as they start (the front forwards to whichever are up).
    const instances: Array<{ url: string; child: Child } | undefined> = [undefined, undefined];
    let received = 0;
    const front = (req: IncomingMessage, res: ServerResponse) => {
      received += 1;
      void (async () => {
        const body = await readBody(req);
        const [first, second] = instances;
        const statuses = await Promise.all([
          first === undefined ? 0 : forward(first.url, req, body),
          second === undefined ? 0 : sleep(100).then(() => forward(second.url, req, body)),
        ]);
        // Acknowledged if one instance processed (or had processed) it.
        const ok = statuses.some((s) => s >= 200 && s < 300);
        res.writeHead(ok ? 204 : 500).end();
      })().catch(() => res.writeHead(500).end());
    };
    const server = await listen(ctx, front);
    const emulator = await emulatorFor(ctx, {
      apps: [{ ...APP, kind: 'mini-program' }],
      merchants: [merchant.emulator],
      options: { retryTimeScale: scale },
    });
    const platform = await platformKey(emulator.control);
    const pay = payClient(merchant, emulator.url, platform);
    const n = ctx.profile.payments;
    const nos = Array.from({ length: n }, (_, i) => `chaos${Date.now()}n${i}`);
    const victim = nos[1] as string;
    // Long enough for a handler's work, short enough to end before the 4th retry (3 min ÷ scale).
    const processingLeaseMs = Math.max(500, Math.round((60 * 1000) / scale));
    const start = (index: number, dieOn?: string) => {
      const c = child(ctx, INSTANCE, {
        CHAOS_SPEC: JSON.stringify({
          name: dieOn === undefined && index === 0 ? 'instance-0-restarted' : `instance-${index}`,
          apiV3Key: merchant.apiV3Key,
          platform,
          prefix,
          processingLeaseMs,
          workMs: 20,
          ...(dieOn === undefined ? {} : { dieOn }),
        }),
      });
      return c.event('listening', 20_000).then((e) => {
        instances[index] = { url: e.url as string, child: c };
        return c;
      });
    };
    const [doomed] = await Promise.all([start(0, victim), start(1)]);
    for (const no of nos) await order(pay, APP.appId, no, `${server.url}/pay/notify`);
    const paidAt = performance.now();
    // Every other payment is also sent twice by WeChat Pay itself.
    const succeed = nos.map((no, i) =>
      emulator.control.post(`/_emulator/pay/transactions/${no}/succeed`, {
        deliverTwice: i % 2 === 0,
        timeoutMs: 5000,
      }),
    );
    // Instance 0 stops inside the victim's handler: kill it there, and start a fresh instance 0.
    await doomed.event('in-handler', 20_000);
    instances[0] = undefined;
    await doomed.kill();
    debug('instance 0 killed inside the handler');
    await start(0);
    await Promise.all(succeed);
    // Until every delivery is acknowledged (or the scenario's deadline).
    let deliveries: Delivery[] = [];
    for (;;) {
      ({ notifications: deliveries } = await emulator.control.get<{ notifications: Delivery[] }>(
        `/_emulator/pay/notifications?mchid=${merchant.mchid}`,
      ));
      if (deliveries.length > 0 && deliveries.every((d) => d.status !== 'pending')) break;
      if (ctx.signal.aborted) return;
      await sleep(100);
    }
    const processed = (await redis.hgetall(`${prefix}processed`)) as Record<string, string>;
    const log = await redis.lrange(`${prefix}log`, 0, -1);
    // Runs per payment, and whether its first run was on the instance that was killed.
    const runs = new Map<string, string[]>();
    for (const entry of log) {
      const [no, name] = entry.split(' ') as [string, string];
      runs.set(no, [...(runs.get(no) ?? []), name]);
    }
    const rerun = nos.filter((no) => (runs.get(no)?.length ?? 0) > 1);
    const rerunElsewhere = rerun.filter((no) => runs.get(no)?.[0] !== 'instance-0');
    const totalRuns = log.length;
    const never = nos.filter((no) => processed[no] === undefined).length;
    const victimBy = processed[victim] ?? 'nobody';
    // Each retry waits its official interval (÷ scale) after the previous attempt.
    const gapsOk = deliveries.every((d) =>
      d.attempts.slice(1).every((a, i) => {
        const previous = d.attempts[i];
        const interval = ((NOTIFY_SCHEDULE_SECONDS[i] ?? 0) * 1000) / scale;
        return previous !== undefined && a.at - previous.at >= interval - 1;
      }),
    );
    const maxAttempts = Math.max(...deliveries.map((d) => d.attempts.length));
    const retried = deliveries.filter((d) => d.attempts.length > 1).length;
    const tookMs = Math.round(performance.now() - paidAt);
    ctx.row(
      setup,
      `${n} payments, ${deliveries.length} deliveries (${deliveries.length - n} sent twice), ${received} requests to the front; ` +
        `marked paid ${n - never}/${n}; handler runs ${totalRuns} ` +
        `(${rerun.length} re-run: ${rerun.length - rerunElsewhere.length} in flight on the killed instance, ${rerunElsewhere.length} elsewhere); ` +
        `the killed instance's payment processed by ${victimBy} ` +
        `after its ${processingLeaseMs} ms processing lease; ` +
        `up to ${maxAttempts} attempts, ${retried} deliveries retried, intervals ${gapsOk ? 'official' : 'WRONG'} (÷${scale}); ${tookMs} ms`,
      // The killed instance's payment is taken over by a survivor: instance 1, or instance 0 once
      // restarted (a new process, which gets the retries sent to its address) — never by nobody.
      never === 0 &&
        gapsOk &&
        victimBy !== 'nobody' &&
        victimBy !== 'instance-0' &&
        rerunElsewhere.length === 0 &&
        deliveries.every((d) => d.status === 'delivered'),
      `never marked paid ${never}, re-run elsewhere ${rerunElsewhere.join(', ') || 'none'}, intervals ${gapsOk}, victim by ${victimBy}; ` +
        `handler runs (order, instance): ${log.join('; ')}`,
    );
  },
};
