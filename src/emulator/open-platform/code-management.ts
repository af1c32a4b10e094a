import { isJsonObject } from '../api-route.js';
import { controlError, json, wechatError } from '../http.js';
import { unauthorizedApi } from '../platform/app-auth.js';
import { wechatRecords } from '../platform/app-records.js';
import type { RouteContext, Router } from '../router.js';
import { deliverAuthorizerPush, messageUrlProblem } from './authorizer-push.js';
import type { Audit, CodeState, ComponentRecords } from './component-records.js';

const DOMAIN_FIELDS = [
  'requestdomain',
  'wsrequestdomain',
  'uploaddomain',
  'downloaddomain',
  'udpdomain',
  'tcpdomain',
] as const;

type Decision = 'success' | 'fail' | 'delay';

/** An audit rule: how submissions of an account (or of every account, `*`) are decided. */
interface AuditRule {
  result: Decision;
  reason?: string;
  /** Emulated seconds after the submission. */
  afterSeconds: number;
}

/** The caller of a code-management API: an authorised Mini Program, through its authorizer token. */
interface CodeCaller {
  appId: string;
  componentAppId: string;
  code: CodeState;
}

/**
 * Mini Program code management on behalf of an authorised account (代码管理): `wxa/commit`,
 * `wxa/submit_audit`, `wxa/get_auditstatus`, `wxa/get_latest_auditstatus`, `wxa/release`,
 * `wxa/modify_domain`. Each account holds one state machine: committed version → audit (under
 * review until decided by `POST /_emulator/open-platform/audit` or a rule) → release. The decision
 * is pushed as `weapp_audit_success` / `weapp_audit_fail` / `weapp_audit_delay` to the component's
 * messageUrl. Errcodes from the official code-management pages: 86000 (not called by a platform
 * for the account), 85009 (a version is under audit), 85012 (invalid audit id), 85019 (no approved
 * version), 85020 (the audit state does not allow release), 86001 (no committed code), 85013
 * (invalid ext_json), 85014 (invalid template id).
 */
export function registerCodeManagement(router: Router, records: ComponentRecords): void {
  const { state } = records;
  const wechat = wechatRecords(state);
  const rules = new Map<string, AuditRule>();

  /** Authorizer token of a Mini Program: 41001/40001/42001 as any API; another token 86000. */
  const codeCaller = (ctx: RouteContext): CodeCaller | Response => {
    const auth = wechat.authorize(ctx);
    if ('error' in auth) return auth.error;
    const authorization = records.authorizationOfToken(ctx.url.searchParams.get('access_token'));
    if (authorization === undefined) return wechatError(86000, 'should be called only from third party');
    if ((state.app(authorization.authorizerAppId)?.kind ?? authorization.kind) !== 'mini-program') {
      return unauthorizedApi();
    }
    return {
      appId: authorization.authorizerAppId,
      componentAppId: authorization.componentAppId,
      code: records.codeState(authorization.authorizerAppId),
    };
  };

  const readBody = async (ctx: RouteContext): Promise<Record<string, unknown> | Response> => {
    const text = (await ctx.text()).trim();
    if (text === '') return {};
    const body = await ctx.json();
    return isJsonObject(body) ? body : wechatError(47001, 'data format error');
  };

  const decide = async (caller: { appId: string; componentAppId: string }, audit: Audit, rule: AuditRule) => {
    const now = state.nowSeconds();
    audit.status = rule.result === 'success' ? 0 : rule.result === 'fail' ? 1 : 4;
    const reason = rule.reason ?? (rule.result === 'fail' ? '1:小程序内容不符合规范' : '审核延后');
    if (rule.result === 'success') delete audit.reason;
    else audit.reason = reason;
    if (rule.result === 'fail') audit.screenshot = `${state.randomId(20)}|${state.randomId(20)}`;
    const message: Record<string, unknown> = {
      MsgType: 'event',
      // The docs' example: the sender is a system account's OpenID.
      FromUserName: `o${state.randomId(27)}`,
      Event: `weapp_audit_${rule.result}`,
      ...(rule.result === 'success' ? { SuccTime: now } : {}),
      ...(rule.result === 'fail' ? { Reason: reason, FailTime: now, ScreenShot: audit.screenshot } : {}),
      ...(rule.result === 'delay' ? { Reason: reason, DelayTime: now } : {}),
    };
    const component = records.component(caller.componentAppId);
    if (component === undefined) return undefined;
    return deliverAuthorizerPush(records, component, caller.appId, message);
  };

  const pending = (code: CodeState) => code.audits.find((a) => a.status === 2 || a.status === 4);

  router.add('POST', '/wxa/commit', async (ctx) => {
    const caller = codeCaller(ctx);
    if (caller instanceof Response) return caller;
    const body = await readBody(ctx);
    if (body instanceof Response) return body;
    const templateId = body.template_id;
    if ((typeof templateId !== 'string' && typeof templateId !== 'number') || String(templateId) === '') {
      return wechatError(85014, 'template not exist');
    }
    const extJson = body.ext_json ?? '{}';
    if (typeof extJson !== 'string') return wechatError(85013, 'invalid ext_json (must be a JSON string)');
    try {
      if (!isJsonObject(JSON.parse(extJson))) throw new Error('not an object');
    } catch {
      return wechatError(85013, 'invalid ext_json');
    }
    const userVersion = body.user_version;
    if (typeof userVersion !== 'string' || userVersion === '' || userVersion.length > 64) {
      return wechatError(85015, 'invalid user_version');
    }
    caller.code.committed = {
      templateId: String(templateId),
      extJson,
      userVersion,
      userDesc: typeof body.user_desc === 'string' ? body.user_desc : '',
      committedAt: state.nowSeconds(),
    };
    return json({ errcode: 0, errmsg: 'ok' });
  });

  router.add('POST', '/wxa/submit_audit', async (ctx) => {
    const caller = codeCaller(ctx);
    if (caller instanceof Response) return caller;
    const body = await readBody(ctx);
    if (body instanceof Response) return body;
    const { code } = caller;
    if (code.committed === undefined) return wechatError(86001, 'no code committed by the third party');
    if (pending(code) !== undefined) return wechatError(85009, 'already submit a version under auditing');
    const audit: Audit = {
      auditid: records.nextAuditId(),
      version: code.committed,
      status: 2,
      submittedAt: state.nowSeconds(),
    };
    code.audits.push(audit);
    const rule = rules.get(caller.appId) ?? rules.get('*');
    if (rule !== undefined) {
      state.later(
        rule.afterSeconds * 1000,
        () => {
          if (audit.status === 2) void decide(caller, audit, rule);
        },
        `audit ${audit.auditid}`,
      );
    }
    return json({ errcode: 0, errmsg: 'ok', auditid: audit.auditid });
  });

  router.add('POST', '/wxa/get_auditstatus', async (ctx) => {
    const caller = codeCaller(ctx);
    if (caller instanceof Response) return caller;
    const body = await readBody(ctx);
    if (body instanceof Response) return body;
    const audit = caller.code.audits.find((a) => a.auditid === Number(body.auditid));
    if (audit === undefined) return wechatError(85012, 'invalid audit id');
    return json({
      errcode: 0,
      errmsg: 'ok',
      status: audit.status,
      ...(audit.reason === undefined ? {} : { reason: audit.reason }),
      ...(audit.screenshot === undefined ? {} : { screenshot: audit.screenshot }),
    });
  });

  router.add('GET', '/wxa/get_latest_auditstatus', (ctx) => {
    const caller = codeCaller(ctx);
    if (caller instanceof Response) return caller;
    const audit = caller.code.audits[caller.code.audits.length - 1];
    if (audit === undefined) return wechatError(85058, 'no valid audit_id exist');
    return json({
      errcode: 0,
      errmsg: 'ok',
      auditid: audit.auditid,
      status: audit.status,
      ...(audit.reason === undefined ? {} : { reason: audit.reason }),
      ...(audit.screenshot === undefined ? {} : { ScreenShot: audit.screenshot }),
      user_version: audit.version.userVersion,
      user_desc: audit.version.userDesc,
      submit_audit_time: audit.submittedAt,
    });
  });

  router.add('POST', '/wxa/release', async (ctx) => {
    const caller = codeCaller(ctx);
    if (caller instanceof Response) return caller;
    const body = await readBody(ctx);
    if (body instanceof Response) return body;
    const latest = caller.code.audits[caller.code.audits.length - 1];
    if (latest === undefined || latest.released) return wechatError(85019, 'no approved version to release');
    if (latest.status !== 0) return wechatError(85020, 'status not allowed to release');
    latest.released = true;
    caller.code.released = { ...latest.version, releasedAt: state.nowSeconds() };
    return json({ errcode: 0, errmsg: 'ok' });
  });

  router.add('POST', '/wxa/modify_domain', async (ctx) => {
    const caller = codeCaller(ctx);
    if (caller instanceof Response) return caller;
    const body = await readBody(ctx);
    if (body instanceof Response) return body;
    const action = body.action;
    if (action !== 'add' && action !== 'delete' && action !== 'set' && action !== 'get') {
      return wechatError(44004, 'invalid action (add, delete, set or get)');
    }
    const { domains } = caller.code;
    if (action !== 'get') {
      for (const field of DOMAIN_FIELDS) {
        const given = body[field];
        if (given === undefined) {
          if (action === 'set') domains[field] = [];
          continue;
        }
        if (
          !Array.isArray(given) ||
          !given.every((d) => typeof d === 'string' && /^(https|wss|udp|tcp):\/\//.test(d))
        ) {
          return wechatError(
            85015,
            `invalid ${field}: domains must be https:// (wss://, udp://, tcp://) URLs`,
          );
        }
        const list = given as string[];
        if (action === 'set') domains[field] = [...new Set(list)];
        else if (action === 'add') domains[field] = [...new Set([...domains[field], ...list])];
        else domains[field] = domains[field].filter((d) => !list.includes(d));
      }
    }
    return json({ errcode: 0, errmsg: 'ok', ...structuredClone(domains) });
  });

  // Control: decide the account's audit under review and push the result event.
  router.add('POST', '/_emulator/open-platform/audit', async (ctx) => {
    const body = await ctx.json();
    const usage =
      'body must be { "authorizerAppId": "wx…", "result": "success" | "fail" | "delay", "reason"?: string }';
    if (!isJsonObject(body) || typeof body.authorizerAppId !== 'string') return controlError(400, usage);
    const result = body.result;
    if (result !== 'success' && result !== 'fail' && result !== 'delay') return controlError(400, usage);
    if (body.reason !== undefined && typeof body.reason !== 'string')
      return controlError(400, 'reason must be a string');
    const authorization = records.activeAuthorization(body.authorizerAppId);
    if (authorization === undefined) {
      return controlError(404, `${body.authorizerAppId} has not authorised any component`);
    }
    const audit = pending(records.codeState(body.authorizerAppId));
    if (audit === undefined) {
      return controlError(
        409,
        `${body.authorizerAppId} has no submission under audit: call wxa/submit_audit first`,
      );
    }
    const push = await decide(
      { appId: authorization.authorizerAppId, componentAppId: authorization.componentAppId },
      audit,
      { result, afterSeconds: 0, ...(typeof body.reason === 'string' ? { reason: body.reason } : {}) },
    );
    return json({ auditid: audit.auditid, status: audit.status, push });
  });

  // Control: decide every future submission of an account (or of all, "*") automatically.
  router.add('POST', '/_emulator/open-platform/audit-rule', async (ctx) => {
    const body = await ctx.json();
    const usage =
      'body must be { "authorizerAppId": "wx…" | "*", "result": "success" | "fail" | "delay", "reason"?: string, "afterSeconds"?: number } (result null clears)';
    if (!isJsonObject(body) || typeof body.authorizerAppId !== 'string') return controlError(400, usage);
    if (body.result === null) {
      rules.delete(body.authorizerAppId);
      return json({ cleared: body.authorizerAppId });
    }
    const result = body.result;
    if (result !== 'success' && result !== 'fail' && result !== 'delay') return controlError(400, usage);
    const after = body.afterSeconds ?? 0;
    if (typeof after !== 'number' || !Number.isFinite(after) || after < 0) {
      return controlError(400, 'afterSeconds must be a number of seconds, at least 0');
    }
    const rule: AuditRule = {
      result,
      afterSeconds: after,
      ...(typeof body.reason === 'string' ? { reason: body.reason } : {}),
    };
    rules.set(body.authorizerAppId, rule);
    return json({ rule: { authorizerAppId: body.authorizerAppId, ...rule } });
  });

  // Control: the code state of an account (committed version, audits, release, domains).
  router.add('GET', '/_emulator/open-platform/code', (ctx) => {
    const appId = ctx.url.searchParams.get('authorizerAppId');
    if (!appId) return controlError(400, 'query must carry authorizerAppId');
    return json(structuredClone(records.codeState(appId)));
  });

  // Control: push a message or event of an authorised account to the component's messageUrl.
  router.add('POST', '/_emulator/open-platform/push', async (ctx) => {
    const body = await ctx.json();
    const usage =
      'body must be { "componentAppId": "wx…", "authorizerAppId": "wx…", "message": { "MsgType": "text", "Content": "hi" }, "faults"?: { "badSignature"?: boolean } }';
    if (
      !isJsonObject(body) ||
      typeof body.componentAppId !== 'string' ||
      typeof body.authorizerAppId !== 'string'
    ) {
      return controlError(400, usage);
    }
    const component = records.component(body.componentAppId);
    if (component === undefined) return controlError(404, `unknown componentAppId "${body.componentAppId}"`);
    const problem = messageUrlProblem(component);
    if (problem !== undefined) return controlError(400, problem);
    const authorization = records.authorizations.get(`${component.componentAppId}:${body.authorizerAppId}`);
    if (!authorization?.active) {
      return controlError(404, `${body.authorizerAppId} has not authorised ${component.componentAppId}`);
    }
    let message = body.message;
    if (typeof message === 'string') message = { MsgType: 'text', Content: message };
    if (!isJsonObject(message) || typeof message.MsgType !== 'string' || message.MsgType === '') {
      return controlError(400, usage);
    }
    const faults = body.faults;
    if (
      faults !== undefined &&
      (!isJsonObject(faults) || Object.keys(faults).some((k) => k !== 'badSignature'))
    ) {
      return controlError(400, 'faults may only hold badSignature: boolean');
    }
    const push = await deliverAuthorizerPush(
      records,
      component,
      body.authorizerAppId,
      message,
      faults?.badSignature === true ? { badSignature: true } : {},
    );
    return json(push);
  });
}
