import { randomBytes } from 'node:crypto';
import { json, wechatError } from '../http.js';
import { appToken } from '../platform/app-auth.js';
import { wechatRecords } from '../platform/app-records.js';
import { deliverPush } from '../platform/push.js';
import type { Router } from '../router.js';
import type { EmulatorState } from '../state.js';

/** Words that make `msg_sec_check` answer `risky` (the emulator's keyword list). */
export const RISKY_WORDS: readonly string[] = ['违规', 'forbidden'];

/** How long after `media_check_async` the result is pushed (WeChat: within 30 minutes; here ~5 s). */
export const MEDIA_CHECK_DELAY_MS = 5000;

/**
 * Mini Program content security: the text check `wxa/msg_sec_check` (answered at once) and the
 * media check `wxa/media_check_async` (answered with a trace_id; the verdict is pushed later).
 */
export function registerContentSecurity(router: Router, state: EmulatorState): void {
  const records = wechatRecords(state);

  router.api(
    'POST',
    '/wxa/msg_sec_check',
    { auth: appToken(records, 'mini-program'), body: 'json' },
    ({ caller, body }) => {
      if (typeof body.content !== 'string') return wechatError(47001, 'data format error (content)');
      const texts = [body.content, body.title, body.nickname, body.signature].filter(
        (t): t is string => typeof t === 'string',
      );
      const keyword = RISKY_WORDS.find((w) => texts.some((t) => t.toLowerCase().includes(w.toLowerCase())));
      if (body.version === undefined || body.version === 1) {
        // 1.0 (retired in 2021): 87014 for risky content, else ok.
        return keyword ? wechatError(87014, 'risky content') : json({ errcode: 0, errmsg: 'ok' });
      }
      if (body.version !== 2 && body.version !== '2')
        return wechatError(47001, 'data format error (version)');
      if (![1, 2, 3, 4].includes(Number(body.scene))) return wechatError(40129, 'invalid scene');
      if (typeof body.openid !== 'string' || !records.user(caller.appId, body.openid)) {
        return wechatError(40003, 'invalid openid');
      }
      const suggest = keyword ? 'risky' : 'pass';
      const label = keyword ? 20006 : 100;
      return json({
        errcode: 0,
        errmsg: 'ok',
        detail: [
          { strategy: 'content_model', errcode: 0, suggest, label, prob: 90 },
          { strategy: 'keyword', errcode: 0, suggest, label, ...(keyword ? { level: 20, keyword } : {}) },
        ],
        trace_id: `${state.randomId(8)}-${state.randomId(8)}-${state.randomId(8)}`,
        result: { suggest, label },
      });
    },
  );

  router.api(
    'POST',
    '/wxa/media_check_async',
    { auth: appToken(records, 'mini-program'), body: 'non-empty-json' },
    ({ caller, body }) => {
      const url = body.media_url;
      if (typeof url !== 'string' || !/^https?:\/\/\S+$/.test(url)) {
        return wechatError(47001, 'data format error (media_url)');
      }
      if (body.media_type !== 1 && body.media_type !== 2) {
        return wechatError(47001, 'data format error (media_type)');
      }
      const v2 = body.version === 2 || body.version === '2';
      if (body.version !== undefined && !v2) return wechatError(47001, 'data format error (version)');
      const openid = body.openid;
      if (v2) {
        if (![1, 2, 3, 4].includes(Number(body.scene))) return wechatError(40129, 'invalid scene');
        if (typeof openid !== 'string' || !records.user(caller.appId, openid)) {
          return wechatError(40003, 'invalid openid');
        }
      }
      const hex = () => randomBytes(4).toString('hex');
      const traceId = `${hex()}-${hex()}-${hex()}`;
      let decoded = url;
      try {
        decoded = decodeURIComponent(url);
      } catch {
        // a malformed %-escape: match on the raw URL
      }
      // The emulator's rule: a media_url containing `risky` or a RISKY_WORDS word is risky (label 20002).
      const risky = [...RISKY_WORDS, 'risky'].some((w) => decoded.toLowerCase().includes(w.toLowerCase()));
      const app = state.app(caller.appId);
      if (app?.callbackUrl) {
        const suggest = risky ? 'risky' : 'pass';
        const label = risky ? 20002 : 100;
        const result = v2
          ? {
              MsgType: 'event',
              Event: 'wxa_media_check',
              ...(typeof openid === 'string' ? { FromUserName: openid } : {}),
              appid: caller.appId,
              trace_id: traceId,
              version: 2,
              result: { suggest, label },
              detail: [{ strategy: 'content_model', errcode: 0, suggest, label, prob: 90 }],
            }
          : {
              // 1.0 push: isrisky / extra_info_json / status_code.
              MsgType: 'event',
              Event: 'wxa_media_check',
              isrisky: risky ? 1 : 0,
              extra_info_json: '',
              appid: caller.appId,
              trace_id: traceId,
              status_code: 0,
            };
        // WeChat pushes within 30 minutes; here ~5 s of emulated time divided by retryTimeScale
        // (50 ms at least).
        const delay = Math.max(50, Math.round(MEDIA_CHECK_DELAY_MS / state.config.options.retryTimeScale));
        state.later(
          delay,
          async () => {
            try {
              await deliverPush(state, caller.appId, result);
            } catch {
              // The push module reports its own failures; the check request never fails because of them.
            }
          },
          `wxa_media_check ${traceId}`,
        );
      }
      return json({ errcode: 0, errmsg: 'ok', trace_id: traceId });
    },
  );
}
