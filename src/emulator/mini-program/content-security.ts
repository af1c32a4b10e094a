import { randomBytes } from 'node:crypto';
import type { ScheduledWork } from '../clock.js';
import { controlError, json, wechatError } from '../http.js';
import { appToken } from '../platform/app-auth.js';
import { type WeChatRecords, wechatRecords } from '../platform/app-records.js';
import { deliverPush, type PushResult } from '../platform/push.js';
import type { Router } from '../router.js';
import type { EmulatorState } from '../state.js';
import { matchRule, type ResolvedContentRules, resolveContentRules } from './content-rules.js';

/** How long after `media_check_async` the verdict is pushed (WeChat: within 30 minutes; here 5 s ÷ retryTimeScale). */
export const MEDIA_CHECK_DELAY_MS = 5000;

/** Media checks remembered for `GET /_emulator/mini-program/media-checks` (oldest dropped first). */
const MAX_MEDIA_CHECKS = 1000;

/** One `media_check_async` request and what became of its push. */
interface MediaCheck {
  traceId: string;
  appId: string;
  openid: string | undefined;
  mediaType: number;
  scene: number | undefined;
  version: 1 | 2;
  suggest: 'pass' | 'review' | 'risky';
  label: number;
  /** `pending` until pushed; `not-configured` when the app has no callbackUrl (nothing is pushed). */
  status: 'pending' | 'pushed' | 'not-configured';
  /** Emulated ms at which the push is due. */
  dueAt: number | undefined;
  /** The push itself (the inner message fields). */
  message: Record<string, unknown>;
  work: ScheduledWork | undefined;
  result: PushResult | undefined;
}

/** The content-security rules in force: the configuration's, or what the control route set since. */
const rulesByState = new WeakMap<EmulatorState, ResolvedContentRules>();

function rulesOf(state: EmulatorState): ResolvedContentRules {
  return rulesByState.get(state) ?? state.config.options.contentSecurity;
}

/** A trace id shaped like WeChat's (`62987eb8-18ca076c-37fc373b`: three groups of 8 hex digits). */
function traceId(): string {
  const hex = () => randomBytes(4).toString('hex');
  return `${hex()}-${hex()}-${hex()}`;
}

/** The errcode for a v2 `openid`: 40003 unknown, 43104 a user of another app (appid 与 openid 不匹配). */
function openidError(
  state: EmulatorState,
  records: WeChatRecords,
  appId: string,
  openid: unknown,
): Response | undefined {
  if (typeof openid === 'string' && records.user(appId, openid)) return undefined;
  if (typeof openid === 'string' && state.config.apps.some((a) => records.user(a.appId, openid))) {
    return wechatError(43104, 'The openid does not match the appid');
  }
  return wechatError(40003, 'invalid openid');
}

function viewOf(check: MediaCheck) {
  return {
    traceId: check.traceId,
    appId: check.appId,
    openid: check.openid,
    mediaType: check.mediaType,
    scene: check.scene,
    version: check.version,
    suggest: check.suggest,
    label: check.label,
    status: check.status,
    dueAt: check.dueAt,
    ...(check.result === undefined
      ? {}
      : {
          push: {
            attempts: check.result.attempts,
            status: check.result.status,
            ...(check.result.replyError === undefined ? {} : { replyError: check.result.replyError }),
          },
        }),
  };
}

/**
 * Mini Program content security: the text check `wxa/msg_sec_check` (answered at once) and the
 * media check `wxa/media_check_async` (answered with a trace_id; the verdict is pushed later as
 * the `wxa_media_check` event). Verdicts follow the configured rules (`options.contentSecurity`).
 * Control: `GET`/`POST /_emulator/mini-program/content-security` (the rules),
 * `GET /_emulator/mini-program/media-checks` (the checks and their pushes) and
 * `POST /_emulator/mini-program/media-checks/push` (push pending verdicts now).
 */
export function registerContentSecurity(router: Router, state: EmulatorState): void {
  const records = wechatRecords(state);
  const checks = new Map<string, MediaCheck>();

  router.api(
    'POST',
    '/wxa/msg_sec_check',
    { auth: appToken(records, 'mini-program'), body: 'non-empty-json' },
    ({ caller, body }) => {
      if (typeof body.content !== 'string') return wechatError(47001, 'data format error (content)');
      const texts = [body.content, body.title, body.nickname, body.signature].filter(
        (t): t is string => typeof t === 'string',
      );
      const rule = matchRule(rulesOf(state).textRules, texts);
      if (body.version === undefined || body.version === 1) {
        // 1.0 (retired in 2021): 87014 for risky content, else ok.
        return rule ? wechatError(87014, 'risky content') : json({ errcode: 0, errmsg: 'ok' });
      }
      if (body.version !== 2 && body.version !== '2')
        return wechatError(47001, 'data format error (version)');
      if (![1, 2, 3, 4].includes(Number(body.scene))) return wechatError(40129, 'invalid scene');
      const refused = openidError(state, records, caller.appId, body.openid);
      if (refused) return refused;
      const suggest = rule?.suggest ?? 'pass';
      const label = rule?.label ?? 100;
      return json({
        errcode: 0,
        errmsg: 'ok',
        detail: [
          { strategy: 'content_model', errcode: 0, suggest, label, prob: 90 },
          // The rule plays a custom keyword (自定义关键词): only a hit fills the keyword strategy.
          rule
            ? { strategy: 'keyword', errcode: 0, suggest, label, keyword: rule.contains, prob: 90 }
            : { strategy: 'keyword', errcode: 0 },
        ],
        trace_id: traceId(),
        result: { suggest, label },
      });
    },
  );

  const push = async (check: MediaCheck): Promise<PushResult> => {
    check.work?.cancel();
    check.work = undefined;
    check.status = 'pushed';
    try {
      check.result = await deliverPush(state, check.appId, check.message);
    } catch (error) {
      // deliverPush reports its own failures; this is a bug of ours, kept visible in the listing.
      check.result = { attempts: 0, status: 0, replyError: 'INTERNAL', replyErrorMessage: String(error) };
    }
    return check.result;
  };

  router.api(
    'POST',
    '/wxa/media_check_async',
    { auth: appToken(records, 'mini-program'), body: 'non-empty-json' },
    ({ caller, body }) => {
      const url = body.media_url;
      if (typeof url !== 'string' || !/^https?:\/\/\S+$/.test(url)) {
        return wechatError(47001, 'data format error (media_url)');
      }
      // 「40004 invalid media type: media type错误（目前支持多媒体类型 1 音频；2 图片）」
      if (body.media_type !== 1 && body.media_type !== 2) return wechatError(40004, 'invalid media type');
      const v2 = body.version === 2 || body.version === '2';
      if (body.version !== undefined && !v2) return wechatError(47001, 'data format error (version)');
      const openid = body.openid;
      if (v2) {
        if (![1, 2, 3, 4].includes(Number(body.scene))) return wechatError(40129, 'invalid scene');
        const refused = openidError(state, records, caller.appId, openid);
        if (refused) return refused;
      }
      const id = traceId();
      let decoded = url;
      try {
        decoded = decodeURIComponent(url);
      } catch {
        // a malformed %-escape: match on the raw URL
      }
      const rule = matchRule(rulesOf(state).mediaRules, [decoded]);
      const suggest = rule?.suggest ?? 'pass';
      const label = rule?.label ?? 100;
      const message: Record<string, unknown> = v2
        ? {
            MsgType: 'event',
            Event: 'wxa_media_check',
            ...(typeof openid === 'string' ? { FromUserName: openid } : {}),
            appid: caller.appId,
            trace_id: id,
            version: 2,
            errcode: 0,
            result: { suggest, label },
            detail: [{ strategy: 'content_model', errcode: 0, suggest, label, prob: 90 }],
          }
        : {
            // 1.0 push: isrisky / extra_info_json / status_code.
            MsgType: 'event',
            Event: 'wxa_media_check',
            isrisky: suggest === 'risky' ? 1 : 0,
            extra_info_json: '',
            appid: caller.appId,
            trace_id: id,
            status_code: 0,
          };
      const check: MediaCheck = {
        traceId: id,
        appId: caller.appId,
        openid: typeof openid === 'string' ? openid : undefined,
        mediaType: body.media_type,
        scene: v2 ? Number(body.scene) : undefined,
        version: v2 ? 2 : 1,
        suggest,
        label,
        status: state.app(caller.appId)?.callbackUrl ? 'pending' : 'not-configured',
        dueAt: undefined,
        message,
        work: undefined,
        result: undefined,
      };
      if (check.status === 'pending') {
        // WeChat pushes within 30 minutes; here 5 s of emulated time ÷ retryTimeScale (50 ms at least).
        const delay = Math.max(50, Math.round(MEDIA_CHECK_DELAY_MS / state.config.options.retryTimeScale));
        check.work = state.later(delay, () => push(check).then(() => {}), `wxa_media_check ${id}`);
        check.dueAt = check.work.dueAt;
      }
      checks.set(id, check);
      if (checks.size > MAX_MEDIA_CHECKS) {
        const oldest = [...checks.values()].find((c) => c.status !== 'pending');
        if (oldest) checks.delete(oldest.traceId);
      }
      return json({ errcode: 0, errmsg: 'ok', trace_id: id });
    },
  );

  router.add('GET', '/_emulator/mini-program/content-security', () => json(rulesOf(state)));

  router.add('POST', '/_emulator/mini-program/content-security', async (ctx) => {
    const body = (await ctx.json()) as Record<string, unknown> | undefined;
    if (typeof body !== 'object' || body === null || Array.isArray(body)) {
      return controlError(400, 'body must be { "textRules"?: [...], "mediaRules"?: [...] }');
    }
    for (const key of Object.keys(body)) {
      if (key !== 'textRules' && key !== 'mediaRules') {
        return controlError(400, `unknown key "${key}" (allowed: textRules, mediaRules)`);
      }
    }
    const current = rulesOf(state);
    try {
      const next: ResolvedContentRules = {
        textRules:
          body.textRules === undefined ? current.textRules : resolveContentRules(body.textRules, 'textRules'),
        mediaRules:
          body.mediaRules === undefined
            ? current.mediaRules
            : resolveContentRules(body.mediaRules, 'mediaRules'),
      };
      rulesByState.set(state, next);
      return json(next);
    } catch (error) {
      return controlError(400, (error as Error).message);
    }
  });

  router.add('GET', '/_emulator/mini-program/media-checks', (ctx) => {
    const appId = ctx.url.searchParams.get('appId') ?? undefined;
    const list = [...checks.values()].filter((c) => appId === undefined || c.appId === appId);
    return json({ checks: list.map(viewOf) });
  });

  router.add('POST', '/_emulator/mini-program/media-checks/push', async (ctx) => {
    const text = await ctx.text();
    const body = (text.trim() === '' ? {} : await ctx.json()) as Record<string, unknown> | undefined;
    if (typeof body !== 'object' || body === null || Array.isArray(body)) {
      return controlError(400, 'body must be { "traceId"?: "…", "appId"?: "wx…" }');
    }
    for (const key of Object.keys(body)) {
      if (key !== 'traceId' && key !== 'appId') {
        return controlError(400, `unknown key "${key}" (allowed: traceId, appId)`);
      }
    }
    let due: MediaCheck[];
    if (body.traceId !== undefined) {
      const check = typeof body.traceId === 'string' ? checks.get(body.traceId) : undefined;
      if (check === undefined)
        return controlError(404, `no media check with trace_id "${String(body.traceId)}"`);
      if (check.status !== 'pending') {
        return controlError(
          409,
          check.status === 'pushed'
            ? `the verdict of ${check.traceId} was already pushed (POST /_emulator/push resends any message)`
            : `app ${check.appId} has no callbackUrl: nothing to push`,
        );
      }
      due = [check];
    } else {
      due = [...checks.values()].filter(
        (c) => c.status === 'pending' && (body.appId === undefined || c.appId === body.appId),
      );
    }
    const pushed = [];
    // One at a time, in request order, as a test reads them.
    for (const check of due) pushed.push({ traceId: check.traceId, result: await push(check) });
    return json({ pushed });
  });
}
