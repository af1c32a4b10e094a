/**
 * The application under soak, written only with the public API: an Official Account callback in
 * safe mode, WeChat Pay v3 notifications, a guarded Mini Program API (login, me, pay, logout) and
 * the clients those use — all on one node:http server, with every shared record in Redis (tokens,
 * push and notification dedupe, guard sessions, revocations and rate limits).
 *
 * Its own state is bounded on purpose (counters, and waiters that the traffic removes), so that
 * growth in this process is the package's, not the harness's.
 */
import { randomBytes } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Redis } from 'ioredis';
import {
  createPayNotificationHandler,
  createWeChatCallback,
  type Logger,
  MiniProgram,
  OfficialAccount,
  PayV3,
  reply,
} from 'weixin-kit';
import { createGuard, GuardError, guardNode } from 'weixin-kit/guard';
import { toNodeListener } from 'weixin-kit/node';
import { RedisDedupeStore, RedisStore } from 'weixin-kit/redis';

export interface SoakBackendConfig {
  apiBaseUrl: string;
  redis: Redis;
  /** Every Redis key this backend writes starts with it. */
  prefix: string;
  officialAccount: { appId: string; secret: string; token: string; encodingAESKey: string };
  miniProgram: { appId: string; secret: string };
  pay: {
    mchid: string;
    merchantSerialNo: string;
    privateKeyPem: string;
    apiV3Key: string;
    platformPublicKey: { id: string; pem: string };
    publicUrl: string;
  };
  /** Called with every problem the package reports (logger.error, onError hooks): each is a soak error. */
  onProblem: (where: string, detail: unknown) => void;
}

/** Something the traffic waits for (a handled push, a payment, a delivery event), by key. */
export class Arrivals {
  readonly #waiting = new Map<string, { resolve: () => void; timer: NodeJS.Timeout }>();
  /** Arrivals nobody waited for: a message handled twice, or after its waiter gave up. */
  unexpected = 0;

  expect(key: string, timeoutMs: number): Promise<void> {
    const arrived = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#waiting.delete(key);
        reject(new Error(`${key} did not arrive within ${timeoutMs} ms`));
      }, timeoutMs);
      this.#waiting.set(key, { resolve, timer });
    });
    // An operation that failed before it awaited this must not leave an unhandled rejection.
    arrived.catch(() => {});
    return arrived;
  }

  arrive(key: string): void {
    const waiter = this.#waiting.get(key);
    if (waiter === undefined) {
      this.unexpected += 1;
      return;
    }
    this.#waiting.delete(key);
    clearTimeout(waiter.timer);
    waiter.resolve();
  }

  get size(): number {
    return this.#waiting.size;
  }
}

export function createSoakBackend(config: SoakBackendConfig) {
  const { redis, prefix, onProblem } = config;
  const arrivals = new Arrivals();
  const logger: Logger = {
    info: () => {},
    warn: () => {},
    error: (fields, message) => onProblem(`logger: ${message}`, fields),
  };
  const tokenStore = new RedisStore(redis, { prefix });
  const oa = new OfficialAccount({
    appId: config.officialAccount.appId,
    secret: config.officialAccount.secret,
    baseUrl: config.apiBaseUrl,
    store: tokenStore,
    logger,
  });
  const mp = new MiniProgram({
    ...config.miniProgram,
    baseUrl: config.apiBaseUrl,
    store: tokenStore,
    logger,
  });
  const pay = new PayV3({
    mchid: config.pay.mchid,
    merchantSerialNo: config.pay.merchantSerialNo,
    privateKey: config.pay.privateKeyPem,
    apiV3Key: config.pay.apiV3Key,
    platform: { publicKey: { id: config.pay.platformPublicKey.id, key: config.pay.platformPublicKey.pem } },
    baseUrl: config.apiBaseUrl,
  });

  const callback = createWeChatCallback({
    appId: config.officialAccount.appId,
    token: config.officialAccount.token,
    encodingAESKey: config.officialAccount.encodingAESKey,
    mode: 'safe',
    dedupe: new RedisDedupeStore(redis, { prefix }),
    hooks: { onError: (event) => onProblem('callback onError', event) },
  });
  callback.on('text', (message) => {
    arrivals.arrive(`push:${message.Content}`);
    return reply.text(`echo ${message.Content}`);
  });
  callback.on('event.TEMPLATESENDJOBFINISH', (message) => {
    arrivals.arrive(`template:${message.MsgID}`);
  });

  const payNotifications = createPayNotificationHandler({
    apiV3Key: config.pay.apiV3Key,
    verifier: pay.platformTrust,
    dedupe: new RedisDedupeStore(redis, { prefix }),
    hooks: { onError: (event) => onProblem('pay notification onError', event) },
  }).on('TRANSACTION.SUCCESS', ({ resource }) => {
    arrivals.arrive(`paid:${resource.out_trade_no}`);
  });

  const guard = createGuard({
    miniProgram: mp,
    keys: [{ kid: 'soak-1', alg: 'HS256', secret: randomBytes(32).toString('base64url') }],
    redis,
    prefix: `${prefix}guard:`,
    // Every soak client logs in from 127.0.0.1: the per-IP login budget would refuse it by design.
    limits: { ip: { points: 1_000_000, durationSeconds: 60 } },
    logger,
  });

  const routes: Record<string, (req: IncomingMessage, res: ServerResponse) => void> = {
    'POST /api/login': guardNode(guard.loginRoute()),
    'POST /api/logout': guardNode(guard.logoutRoute()),
    'GET /api/me': guardNode(guard.protect(({ session }) => ({ openid: session.openid }))),
    'POST /api/pay': guardNode(
      guard.protect(async (ctx) => {
        const { total } = (await ctx.json()) as { total?: unknown };
        const amount = Number(total);
        if (!Number.isSafeInteger(amount) || amount < 1) throw new GuardError('BAD_BODY', 'total: fen >= 1');
        const outTradeNo = `soak${Date.now()}${randomBytes(4).toString('hex')}`;
        const { prepay_id } = await pay.transactions.jsapi({
          appid: config.miniProgram.appId,
          description: 'soak order',
          out_trade_no: outTradeNo,
          notify_url: `${config.pay.publicUrl}/pay/notify`,
          amount: { total: amount, currency: 'CNY' },
          payer: { openid: ctx.session.openid },
        });
        return { out_trade_no: outTradeNo, prepay_id };
      }),
    ),
  };
  const notFound = guardNode(
    guard.open(() => {
      throw new GuardError('NOT_FOUND', 'no such route');
    }),
  );
  const wechat = toNodeListener(callback, {
    onError: (error) => onProblem('node adapter (callback)', error),
  });
  const payNotify = toNodeListener(payNotifications, {
    onError: (error) => onProblem('node adapter (pay)', error),
  });

  const listener = (req: IncomingMessage, res: ServerResponse) => {
    const path = new URL(req.url ?? '/', 'http://backend').pathname;
    if (path === '/wechat') return wechat(req, res);
    if (path === '/pay/notify') return payNotify(req, res);
    (routes[`${req.method} ${path}`] ?? notFound)(req, res);
  };
  return { listener, arrivals, oa };
}
