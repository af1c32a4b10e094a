/**
 * The soak's traffic: what WeChat and Mini Program users do to the backend, one operation at a
 * time, each checking its own outcome. An operation that does not end as it should throws; the
 * runner counts that as an error.
 */
import type { OfficialAccount } from 'weixin-kit';
import type { Arrivals } from './backend.js';

export interface TrafficContext {
  emulatorUrl: string;
  backendUrl: string;
  oaAppId: string;
  mpAppId: string;
  /** Followers of the Official Account created by the emulator before the run. */
  followers: readonly string[];
  oa: OfficialAccount;
  arrivals: Arrivals;
}

const TIMEOUT_MS = 10_000;

async function json<T>(res: Response): Promise<T> {
  const text = await res.text();
  try {
    return JSON.parse(text) as T;
  } catch {
    throw new Error(`HTTP ${res.status}, not JSON: ${text.slice(0, 120)}`);
  }
}

const control = async <T>(ctx: TrafficContext, path: string, body: unknown): Promise<T> =>
  json<T>(
    await fetch(`${ctx.emulatorUrl}${path}`, {
      method: 'POST',
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(TIMEOUT_MS),
    }),
  );

async function call<T>(
  ctx: TrafficContext,
  method: string,
  path: string,
  options: { token?: string; body?: unknown } = {},
): Promise<{ status: number; json: T }> {
  const res = await fetch(`${ctx.backendUrl}${path}`, {
    method,
    headers: {
      'content-type': 'application/json',
      ...(options.token === undefined ? {} : { authorization: `Bearer ${options.token}` }),
    },
    ...(options.body === undefined ? {} : { body: JSON.stringify(options.body) }),
    signal: AbortSignal.timeout(TIMEOUT_MS),
  });
  return { status: res.status, json: await json<T>(res) };
}

function check(ok: boolean, message: string): void {
  if (!ok) throw new Error(message);
}

type Push = { status: number; reply?: string; replyError?: string };

let sequence = 0;
const next = () => {
  sequence += 1;
  return sequence;
};

/** An encrypted text push (safe mode) answered with an encrypted reply; every 10th arrives twice. */
async function push(ctx: TrafficContext): Promise<void> {
  const n = next();
  const content = `soak-${n}`;
  const handled = ctx.arrivals.expect(`push:${content}`, TIMEOUT_MS);
  const r = await control<Push>(ctx, '/_emulator/push', {
    appId: ctx.oaAppId,
    message: { MsgType: 'text', Content: content },
    ...(n % 10 === 0 ? { faults: { duplicate: true } } : {}),
  });
  check(
    r.status === 200 && r.reply?.includes(`echo ${content}`) === true,
    `push answered ${r.status}, reply ${JSON.stringify(r.reply ?? r.replyError)}`,
  );
  await handled;
}

/** A push signed with a wrong token: refused with 401, the handler never runs. */
async function forgedPush(ctx: TrafficContext): Promise<void> {
  const r = await control<Push>(ctx, '/_emulator/push', {
    appId: ctx.oaAppId,
    message: { MsgType: 'text', Content: `forged-${next()}` },
    faults: { badSignature: true },
  });
  check(r.status === 401, `forged push answered ${r.status}`);
}

/** An API call through the SDK client (access token from the Redis store). */
async function userInfo(ctx: TrafficContext): Promise<void> {
  const openid = ctx.followers[next() % ctx.followers.length] as string;
  const user = await ctx.oa.users.get({ openid }, { timeoutMs: TIMEOUT_MS });
  check(user.openid === openid, `user.info answered ${user.openid}`);
}

/** A template message, and the TEMPLATESENDJOBFINISH event WeChat pushes back about it. */
async function template(ctx: TrafficContext): Promise<void> {
  const openid = ctx.followers[next() % ctx.followers.length] as string;
  const { msgid } = await ctx.oa.templates.send(
    { touser: openid, template_id: 'soak', data: { thing1: { value: '已发货' } } },
    { timeoutMs: TIMEOUT_MS },
  );
  await ctx.arrivals.expect(`template:${msgid}`, TIMEOUT_MS);
}

type Login = { token?: string; error?: { code: string } };

async function login(ctx: TrafficContext, openId: string): Promise<string> {
  const { code } = await control<{ code: string }>(ctx, '/_emulator/mini-program/login', {
    appId: ctx.mpAppId,
    openId,
  });
  const r = await call<Login>(ctx, 'POST', '/api/login', { body: { code } });
  check(
    r.status === 200 && typeof r.json.token === 'string',
    `login answered ${r.status} ${r.json.error?.code}`,
  );
  return r.json.token as string;
}

/** A Mini Program session: login, two protected calls, logout, and the token refused after. */
async function session(ctx: TrafficContext): Promise<void> {
  const openId = `o_soak_${next() % 200}`;
  const token = await login(ctx, openId);
  for (let i = 0; i < 2; i += 1) {
    const me = await call<{ openid?: string }>(ctx, 'GET', '/api/me', { token });
    check(me.status === 200 && me.json.openid === openId, `me answered ${me.status}`);
  }
  const out = await call(ctx, 'POST', '/api/logout', { token });
  check(out.status === 200, `logout answered ${out.status}`);
  const after = await call<Login>(ctx, 'GET', '/api/me', { token });
  check(after.status === 401, `me after logout answered ${after.status}`);
}

/** A guarded Pay v3 order, paid; its notification (signed, encrypted) handled exactly once. */
async function payment(ctx: TrafficContext): Promise<void> {
  const n = next();
  const token = await login(ctx, `o_soak_payer_${n % 50}`);
  const order = await call<{ out_trade_no?: string; error?: { code: string } }>(ctx, 'POST', '/api/pay', {
    token,
    body: { total: 1 + (n % 100) },
  });
  const outTradeNo = order.json.out_trade_no;
  check(
    order.status === 200 && outTradeNo !== undefined,
    `pay answered ${order.status} ${order.json.error?.code}`,
  );
  const paid = ctx.arrivals.expect(`paid:${outTradeNo}`, TIMEOUT_MS);
  // Every 5th is delivered twice: the Redis dedupe must let it through once only.
  await control(
    ctx,
    `/_emulator/pay/transactions/${outTradeNo}/succeed`,
    n % 5 === 0 ? { deliverTwice: true } : {},
  );
  await paid;
  await call(ctx, 'POST', '/api/logout', { token });
}

export type Operation = (ctx: TrafficContext) => Promise<void>;

/** The mix, in the order it is played (round robin): 10 operations. */
export const MIX: ReadonlyArray<readonly [string, Operation]> = [
  ['push', push],
  ['api', userInfo],
  ['session', session],
  ['push', push],
  ['api', userInfo],
  ['payment', payment],
  ['push', push],
  ['template', template],
  ['api', userInfo],
  ['forged', forgedPush],
];
