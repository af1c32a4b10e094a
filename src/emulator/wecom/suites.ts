import type { ApiContext } from '../api-route.js';
import type { ResolvedEmulatorConfig } from '../config.js';
import { controlError, json, wechatError } from '../http.js';
import type { PushResult } from '../platform/push.js';
import type { RouteContext, Router } from '../router.js';
import type { EmulatorState } from '../state.js';
import type { WeComTokens } from './access-token.js';
import {
  deliverWeComPush,
  readMessage,
  readWeComFaults,
  type WeComPushFaults,
  weComMessage,
} from './push.js';

type Suite = ResolvedEmulatorConfig['suites'][number];

/** suite_ticket lifetime (official: 30 minutes; a new one is pushed every 10). */
export const SUITE_TICKET_TTL_SECONDS = 1800;
/** suite_access_token lifetime (official: 7200 s). */
export const SUITE_TOKEN_TTL_SECONDS = 7200;
/** pre_auth_code lifetime (official example: 1200 s). */
export const SUITE_PRE_AUTH_CODE_TTL_SECONDS = 1200;
/** The temporary auth code of an install (official: 10 minutes, single use). */
export const SUITE_AUTH_CODE_TTL_SECONDS = 600;
/** The AgentId a suite's app gets in a company: this plus the suite's index in the config. */
const SUITE_AGENT_ID_BASE = 1_000_100;

interface Expiring {
  suiteId: string;
  expiresAt: number;
}

/** A company's install of a suite. */
interface Installation {
  suiteId: string;
  corpId: string;
  agentId: number;
  permanentCode: string;
  cancelled: boolean;
}

/**
 * WeCom third-party apps (企业微信 第三方应用): suite_ticket (scheduled and on demand),
 * `service/get_suite_token`, `get_pre_auth_code`, `set_session_info`, `get_permanent_code`,
 * `get_corp_token` (a corp token the company's APIs accept), and the control routes that play an
 * install, a change and a cancellation (pushing create_auth / change_auth / cancel_auth to the
 * instruction callback, ReceiveId = suiteId) and a member's message to the data callback
 * (ReceiveId = the company's corpId).
 */
export function registerWeComSuites(router: Router, state: EmulatorState, tokens: WeComTokens): void {
  const tickets = new Map<string, Expiring>();
  const suiteTokens = new Map<string, Expiring>();
  const preAuthCodes = new Map<string, Expiring & { used: boolean; authType: number }>();
  const authCodes = new Map<string, Expiring & { corpId: string; state: string; used: boolean }>();
  const installations = new Map<string, Installation>();
  const suites = state.config.suites;
  const suiteOf = (suiteId: unknown) => suites.find((s) => s.suiteId === suiteId);
  const ttl = (seconds: number) => state.now() + seconds * 1000;
  const installKey = (suiteId: string, corpId: string) => `${suiteId}:${corpId}`;
  const agentInfo = (installation: Installation) => ({
    agentid: installation.agentId,
    name: 'emulated app',
    auth_mode: 0,
    is_customized_app: false,
    privilege: { level: 1, allow_party: [1], allow_user: [], allow_tag: [] },
  });

  const instructionPush = (
    suite: Suite,
    infoType: string,
    fields: Record<string, unknown>,
    faults: WeComPushFaults = {},
  ): Promise<PushResult> | PushResult => {
    if (suite.callbackUrl === undefined) {
      return {
        attempts: 0,
        status: 0,
        replyError: 'NOT_CONFIGURED',
        replyErrorMessage: `suite ${suite.suiteId} has no callbackUrl (指令回调URL) in the emulator config`,
      };
    }
    const inner = {
      SuiteId: suite.suiteId,
      InfoType: infoType,
      TimeStamp: BigInt(state.nowSeconds()),
      ...fields,
    };
    const receiver = {
      receiveId: suite.suiteId,
      token: suite.token,
      encodingAESKey: suite.encodingAESKey,
      url: suite.callbackUrl,
    };
    return deliverWeComPush(state, receiver, inner, { ToUserName: suite.suiteId }, faults);
  };

  const newTicket = (suite: Suite): string => {
    const ticket = `suiteticket@@@${state.randomId(48)}`;
    tickets.set(ticket, { suiteId: suite.suiteId, expiresAt: ttl(SUITE_TICKET_TTL_SECONDS) });
    return ticket;
  };

  // WeCom pushes a new suite_ticket every 10 minutes, whether or not the server stores it.
  for (const suite of suites) {
    if (suite.ticketIntervalSeconds === 0) continue;
    const schedule = () => {
      state.later(
        suite.ticketIntervalSeconds * 1000,
        async () => {
          if (state.closed) return;
          schedule();
          await instructionPush(suite, 'suite_ticket', { SuiteTicket: newTicket(suite) });
        },
        `suite_ticket push ${suite.suiteId}`,
      );
    };
    schedule();
  }

  /** `suite_access_token` in the query: missing 41001, unknown 40082, expired 42009. */
  const suiteAuth = (ctx: RouteContext): { suite: Suite } | Response => {
    const token = ctx.url.searchParams.get('suite_access_token') ?? '';
    if (!token) return wechatError(41001, 'suite_access_token missing');
    const record = suiteTokens.get(token);
    const suite = suiteOf(record?.suiteId);
    if (!record || !suite) return wechatError(40082, 'invalid suite_token');
    if (record.expiresAt <= state.now()) return wechatError(42009, 'suite_token expired');
    return { suite };
  };
  const suiteApi = (
    path: string,
    handler: (ctx: ApiContext<{ suite: Suite }, Record<string, unknown>>) => Response,
  ) => router.api('POST', path, { auth: suiteAuth, body: 'json' }, handler);

  router.api('POST', '/cgi-bin/service/get_suite_token', { body: 'json' }, ({ body }) => {
    const suite = suiteOf(body.suite_id);
    if (typeof body.suite_id !== 'string' || body.suite_id === '')
      return wechatError(41002, 'suite_id missing');
    if (!suite) return wechatError(40083, 'invalid suite_id');
    if (body.suite_secret !== suite.suiteSecret)
      return wechatError(40001, 'invalid credential (suite_secret)');
    const ticket = tickets.get(typeof body.suite_ticket === 'string' ? body.suite_ticket : '');
    if (!ticket || ticket.suiteId !== suite.suiteId || ticket.expiresAt <= state.now()) {
      return wechatError(40085, 'invalid suite_ticket');
    }
    const token = `${state.randomId(43)}-${state.randomId(40)}`;
    suiteTokens.set(token, { suiteId: suite.suiteId, expiresAt: ttl(SUITE_TOKEN_TTL_SECONDS) });
    state.count('tokensIssued', suite.suiteId);
    return json({ errcode: 0, errmsg: 'ok', suite_access_token: token, expires_in: SUITE_TOKEN_TTL_SECONDS });
  });

  router.add('GET', '/cgi-bin/service/get_pre_auth_code', (ctx) => {
    const caller = suiteAuth(ctx);
    if (caller instanceof Response) return caller;
    const code = `preauthcode@@@${state.randomId(48)}`;
    preAuthCodes.set(code, {
      suiteId: caller.suite.suiteId,
      expiresAt: ttl(SUITE_PRE_AUTH_CODE_TTL_SECONDS),
      used: false,
      authType: 0,
    });
    return json({
      errcode: 0,
      errmsg: 'ok',
      pre_auth_code: code,
      expires_in: SUITE_PRE_AUTH_CODE_TTL_SECONDS,
    });
  });

  suiteApi('/cgi-bin/service/set_session_info', ({ caller, body }) => {
    const pre = preAuthCodes.get(typeof body.pre_auth_code === 'string' ? body.pre_auth_code : '');
    if (!pre || pre.suiteId !== caller.suite.suiteId || pre.expiresAt <= state.now()) {
      return wechatError(40078, 'invalid pre_auth_code');
    }
    const info = body.session_info as { auth_type?: unknown } | undefined;
    if (typeof info !== 'object' || info === null)
      return wechatError(47001, 'data format error (session_info)');
    if (info.auth_type !== undefined && info.auth_type !== 0 && info.auth_type !== 1) {
      return wechatError(40058, 'invalid auth_type');
    }
    pre.authType = info.auth_type === 1 ? 1 : 0;
    return json({ errcode: 0, errmsg: 'ok' });
  });

  suiteApi('/cgi-bin/service/get_permanent_code', ({ caller, body }) => {
    const code = authCodes.get(typeof body.auth_code === 'string' ? body.auth_code : '');
    if (!code || code.suiteId !== caller.suite.suiteId || code.used || code.expiresAt <= state.now()) {
      return wechatError(40029, 'invalid code');
    }
    code.used = true;
    const installation = installations.get(installKey(code.suiteId, code.corpId));
    if (!installation || installation.cancelled) return wechatError(40029, 'invalid code');
    const record = tokens.issue(installation.corpId, installation.agentId, state.now());
    return json({
      errcode: 0,
      errmsg: 'ok',
      access_token: record.token,
      expires_in: Math.floor((record.expiresAt - state.now()) / 1000),
      permanent_code: installation.permanentCode,
      auth_corp_info: { corpid: installation.corpId, corp_name: `企业 ${installation.corpId.slice(-6)}` },
      auth_info: { agent: [agentInfo(installation)] },
      auth_user_info: { userid: 'zhangsan', name: '张三' },
      ...(code.state === '' ? {} : { state: code.state }),
    });
  });

  suiteApi('/cgi-bin/service/get_auth_info', ({ caller, body }) => {
    const corpId = typeof body.auth_corpid === 'string' ? body.auth_corpid : '';
    if (!corpId) return wechatError(41002, 'auth_corpid missing');
    const installation = installations.get(installKey(caller.suite.suiteId, corpId));
    if (!installation || installation.cancelled || installation.permanentCode !== body.permanent_code) {
      return wechatError(40084, 'invalid permanent_code');
    }
    return json({
      errcode: 0,
      errmsg: 'ok',
      auth_corp_info: { corpid: corpId, corp_name: `企业 ${corpId.slice(-6)}` },
      auth_info: { agent: [agentInfo(installation)] },
    });
  });

  suiteApi('/cgi-bin/service/get_corp_token', ({ caller, body }) => {
    const corpId = typeof body.auth_corpid === 'string' ? body.auth_corpid : '';
    if (!corpId) return wechatError(41002, 'auth_corpid missing');
    const installation = installations.get(installKey(caller.suite.suiteId, corpId));
    if (!installation || installation.cancelled || installation.permanentCode !== body.permanent_code) {
      return wechatError(40084, 'invalid permanent_code');
    }
    const record = tokens.issue(corpId, installation.agentId, state.now());
    state.count('tokensIssued', `${caller.suite.suiteId}:${corpId}`);
    return json({
      errcode: 0,
      errmsg: 'ok',
      access_token: record.token,
      expires_in: Math.floor((record.expiresAt - state.now()) / 1000),
    });
  });

  // --- control plane ---------------------------------------------------------------------------

  const readSuite = async (
    ctx: RouteContext,
    allowed: string[],
  ): Promise<{ body: Record<string, unknown>; suite: Suite; faults: WeComPushFaults } | Response> => {
    const body = await ctx.json();
    if (typeof body !== 'object' || body === null || Array.isArray(body)) {
      return controlError(400, `body must be an object with ${allowed.join(', ')}`);
    }
    const fields = body as Record<string, unknown>;
    const unknown = Object.keys(fields).find((k) => !allowed.includes(k));
    if (unknown !== undefined)
      return controlError(400, `unknown field "${unknown}" (allowed: ${allowed.join(', ')})`);
    const suite = suiteOf(fields.suiteId);
    if (!suite) {
      const known = suites.map((s) => s.suiteId).join(', ') || 'none';
      return controlError(
        404,
        `unknown suiteId "${String(fields.suiteId)}": add it under "suites" in the emulator config (configured: ${known})`,
      );
    }
    const faults = readWeComFaults(fields.faults);
    if (typeof faults === 'string') return controlError(400, faults);
    return { body: fields, suite, faults };
  };

  const readCorp = (body: Record<string, unknown>) => {
    const corp = state.config.corps.find((c) => c.corpId === body.corpId);
    if (corp !== undefined) return corp;
    const known = state.config.corps.map((c) => c.corpId).join(', ') || 'none';
    return controlError(
      404,
      `unknown corpId "${String(body.corpId)}": the installing company must be listed under "corps" in the emulator config (configured: ${known})`,
    );
  };

  router.add('POST', '/_emulator/wecom/suites/ticket', async (ctx) => {
    const read = await readSuite(ctx, ['suiteId', 'faults']);
    if (read instanceof Response) return read;
    const ticket = newTicket(read.suite);
    const push = await instructionPush(read.suite, 'suite_ticket', { SuiteTicket: ticket }, read.faults);
    return json({ ticket, expiresIn: SUITE_TICKET_TTL_SECONDS, ...push });
  });

  router.add('POST', '/_emulator/wecom/suites/install', async (ctx) => {
    const read = await readSuite(ctx, ['suiteId', 'corpId', 'preAuthCode', 'state', 'faults']);
    if (read instanceof Response) return read;
    const { body, suite } = read;
    const corp = readCorp(body);
    if (corp instanceof Response) return corp;
    if (body.preAuthCode !== undefined) {
      const pre = preAuthCodes.get(typeof body.preAuthCode === 'string' ? body.preAuthCode : '');
      if (!pre || pre.suiteId !== suite.suiteId || pre.used) {
        return controlError(400, "preAuthCode is unknown, already used, or not this suite's");
      }
      if (pre.expiresAt <= state.now()) return controlError(400, 'preAuthCode has expired');
      pre.used = true;
    }
    const installState = typeof body.state === 'string' ? body.state : '';
    const key = installKey(suite.suiteId, corp.corpId);
    const agentId = SUITE_AGENT_ID_BASE + suites.indexOf(suite);
    // A new install (or a reinstall after cancel_auth) gets a new permanent code.
    const known = installations.get(key);
    if (known === undefined || known.cancelled) {
      installations.set(key, {
        suiteId: suite.suiteId,
        corpId: corp.corpId,
        agentId,
        permanentCode: `permanent@@@${state.randomId(48)}`,
        cancelled: false,
      });
    }
    const authCode = `authcode@@@${state.randomId(64)}`;
    authCodes.set(authCode, {
      suiteId: suite.suiteId,
      corpId: corp.corpId,
      state: installState,
      used: false,
      expiresAt: ttl(SUITE_AUTH_CODE_TTL_SECONDS),
    });
    const push = await instructionPush(
      suite,
      'create_auth',
      { AuthCode: authCode, ...(installState === '' ? {} : { State: installState }) },
      read.faults,
    );
    return json({ authCode, agentId, expiresIn: SUITE_AUTH_CODE_TTL_SECONDS, ...push });
  });

  router.add('POST', '/_emulator/wecom/suites/change', async (ctx) => {
    const read = await readSuite(ctx, ['suiteId', 'corpId', 'faults']);
    if (read instanceof Response) return read;
    const installation = installations.get(installKey(read.suite.suiteId, String(read.body.corpId)));
    if (!installation || installation.cancelled) {
      return controlError(
        400,
        `company ${String(read.body.corpId)} has not installed suite ${read.suite.suiteId}`,
      );
    }
    return json(
      await instructionPush(read.suite, 'change_auth', { AuthCorpId: installation.corpId }, read.faults),
    );
  });

  router.add('POST', '/_emulator/wecom/suites/cancel', async (ctx) => {
    const read = await readSuite(ctx, ['suiteId', 'corpId', 'faults']);
    if (read instanceof Response) return read;
    const installation = installations.get(installKey(read.suite.suiteId, String(read.body.corpId)));
    if (!installation || installation.cancelled) {
      return controlError(
        400,
        `company ${String(read.body.corpId)} has not installed suite ${read.suite.suiteId}`,
      );
    }
    // The permanent code dies and the app's corp tokens stop working at once.
    installation.cancelled = true;
    const revoked = tokens.revokeAgent(installation.corpId, installation.agentId);
    const push = await instructionPush(
      read.suite,
      'cancel_auth',
      { AuthCorpId: installation.corpId },
      read.faults,
    );
    return json({ revoked, ...push });
  });

  router.add('POST', '/_emulator/wecom/suites/push', async (ctx) => {
    const read = await readSuite(ctx, ['suiteId', 'corpId', 'message', 'fromUser', 'faults']);
    if (read instanceof Response) return read;
    const { body, suite } = read;
    const installation = installations.get(installKey(suite.suiteId, String(body.corpId)));
    if (!installation || installation.cancelled) {
      return controlError(400, `company ${String(body.corpId)} has not installed suite ${suite.suiteId}`);
    }
    if (suite.dataCallbackUrl === undefined) {
      const index = suites.indexOf(suite);
      return controlError(
        400,
        `suite ${suite.suiteId} has no data callback: set suites[${index}].dataCallbackUrl`,
      );
    }
    const message = readMessage(body.message);
    if (typeof message === 'string') return controlError(400, message);
    const corp = state.config.corps.find((c) => c.corpId === installation.corpId);
    const fromUser =
      typeof body.fromUser === 'string' ? body.fromUser : (corp?.users[0]?.userid ?? 'zhangsan');
    const inner = weComMessage(state, installation.corpId, installation.agentId, fromUser, message);
    // A third-party app's data callback: ReceiveId is the installing company's corpid.
    const receiver = {
      receiveId: installation.corpId,
      token: suite.token,
      encodingAESKey: suite.encodingAESKey,
      url: suite.dataCallbackUrl,
    };
    return json(
      await deliverWeComPush(
        state,
        receiver,
        inner,
        { ToUserName: installation.corpId, AgentID: String(installation.agentId) },
        read.faults,
      ),
    );
  });

  router.add('GET', '/_emulator/wecom/suites/installations', (ctx) => {
    const suiteId = ctx.url.searchParams.get('suiteId');
    return json({
      installations: [...installations.values()]
        .filter((i) => suiteId === null || i.suiteId === suiteId)
        .map(({ permanentCode: _secret, ...visible }) => visible),
    });
  });
}
