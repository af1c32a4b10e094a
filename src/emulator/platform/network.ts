import { lookup } from 'node:dns/promises';
import { connect, isIP } from 'node:net';
import { parseAddressEntry } from '../../internal/client-ip.js';
import { raceTimer } from '../../internal/timers.js';
import { controlError, json, wechatError } from '../http.js';
import type { RouteContext, RouteHandler, Router } from '../router.js';
import type { EmulatorState } from '../state.js';
import { appToken } from './app-auth.js';
import { wechatRecords } from './app-records.js';

/** What `get_api_domain_ip` answers: the emulator itself is the API domain. */
const API_DOMAIN_IPS = ['127.0.0.1'];

/** How long the emulator's `callback/check` waits for a name lookup or a connection, ms. */
const CHECK_TIMEOUT_MS = 1000;

const ACTIONS = new Set(['dns', 'ping', 'all']);
const OPERATORS = new Set(['CHINANET', 'UNICOM', 'CAP', 'DEFAULT']);

const lists = new WeakMap<EmulatorState, string[]>();

/**
 * The callback source list `getcallbackip` answers (WeChat's and WeCom's alike): the configured
 * `options.callbackIps`, or what `POST /_emulator/callback-ips` set since.
 */
export function callbackIps(state: EmulatorState): string[] {
  return lists.get(state) ?? state.config.options.callbackIps;
}

/** `GET /cgi-bin/getcallbackip` of an Official Account or Mini Program token. */
export function wechatCallbackIpRoute(state: EmulatorState): RouteHandler {
  const auth = appToken(wechatRecords(state));
  return (ctx) => {
    const caller = auth(ctx);
    if (caller instanceof Response) return caller;
    return json({ ip_list: [...callbackIps(state)] });
  };
}

/** `GET /cgi-bin/get_api_domain_ip` of an Official Account or Mini Program token. */
export function wechatApiDomainIpRoute(state: EmulatorState): RouteHandler {
  const auth = appToken(wechatRecords(state));
  return (ctx) => {
    const caller = auth(ctx);
    if (caller instanceof Response) return caller;
    return json({ ip_list: [...API_DOMAIN_IPS] });
  };
}

/** The addresses a callback URL's host stands for: a literal, `localhost`, or a name lookup. */
async function resolveHost(hostname: string): Promise<string[]> {
  const host = hostname.startsWith('[') ? hostname.slice(1, -1) : hostname;
  if (isIP(host) !== 0) return [host];
  if (host === 'localhost') return ['127.0.0.1'];
  try {
    const found = await raceTimer(lookup(host, { all: true }), CHECK_TIMEOUT_MS, () => [], { unref: true });
    return found.map((entry) => entry.address);
  } catch {
    return [];
  }
}

/** A TCP connection to `ip:port` in place of an ICMP ping: answered or lost, and how long it took. */
function reach(ip: string, port: number): Promise<{ ok: boolean; ms: number }> {
  const started = performance.now();
  return new Promise((resolve) => {
    const socket = connect({ host: ip, port });
    const done = (ok: boolean) => {
      socket.destroy();
      resolve({ ok, ms: performance.now() - started });
    };
    socket.setTimeout(CHECK_TIMEOUT_MS, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

async function checkCallback(
  ctx: RouteContext & { caller: { appId: string }; body: Record<string, unknown> },
) {
  const { action, check_operator: operator } = ctx.body;
  if (typeof action !== 'string' || !ACTIONS.has(action)) return wechatError(40202, 'invalid action');
  if (typeof operator !== 'string' || !OPERATORS.has(operator)) {
    return wechatError(40203, 'invalid check operator');
  }
  const app = ctx.state.config.apps.find((a) => a.appId === ctx.caller.appId);
  let url: URL;
  try {
    url = new URL(app?.callbackUrl ?? '');
  } catch {
    return wechatError(40201, 'invalid url');
  }
  const port = Number(url.port || (url.protocol === 'https:' ? 443 : 80));
  const ips = await resolveHost(url.hostname);
  const answer: Record<string, unknown> = {};
  if (action !== 'ping') answer.dns = ips.map((ip) => ({ ip, real_operator: 'UNKNOWN' }));
  if (action !== 'dns') {
    answer.ping = await Promise.all(
      ips.map(async (ip) => {
        const { ok, ms } = await reach(ip, port);
        return {
          ip,
          from_operator: operator,
          package_loss: ok ? '0%' : '100%',
          time: ok ? `${ms.toFixed(3)}ms` : '',
        };
      }),
    );
  }
  return json(answer);
}

/**
 * WeChat's server addresses (`getcallbackip`, `get_api_domain_ip`; their routes are added by the
 * WeCom module, which shares their paths) and `POST /cgi-bin/callback/check`, plus the control
 * routes `GET` / `POST /_emulator/callback-ips` (`{ "ip_list": [...] }` replaces the list).
 */
export function registerNetwork(router: Router, state: EmulatorState): void {
  const auth = appToken(wechatRecords(state));
  router.api('POST', '/cgi-bin/callback/check', { auth, body: 'json' }, (ctx) => checkCallback(ctx));

  router.add('GET', '/_emulator/callback-ips', () => json({ ip_list: callbackIps(state) }));
  router.add('POST', '/_emulator/callback-ips', async (ctx) => {
    const body = (await ctx.json()) as { ip_list?: unknown } | undefined;
    const list = body?.ip_list;
    if (!Array.isArray(list) || list.some((entry) => parseAddressEntry(entry) === undefined)) {
      return controlError(
        400,
        'body must be { "ip_list": [addresses or CIDRs, e.g. "127.0.0.1", "192.0.2.0/25"] }',
      );
    }
    lists.set(state, [...(list as string[])]);
    return json({ ip_list: callbackIps(state) });
  });
}
