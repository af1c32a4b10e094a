import { json, wechatError } from './http.js';
import { deliverPush } from './push.js';
import type { RouteContext, Router } from './router.js';
import { jsonBody, type SentMessage, unauthorizedApi, type WeChatRecords } from './wechat-records.js';

const CUSTOM_MSG_TYPES = new Set([
  'text',
  'image',
  'voice',
  'video',
  'music',
  'news',
  'mpnews',
  'mpnewsarticle',
  'msgmenu',
  'wxcard',
  'miniprogrampage',
  'link',
]);

const BUTTON_TYPES = new Set([
  'click',
  'view',
  'miniprogram',
  'scancode_push',
  'scancode_waitmsg',
  'pic_sysphoto',
  'pic_photo_or_album',
  'pic_weixin',
  'location_select',
  'media_id',
  'article_id',
  'article_view_limited',
]);

const bytes = (s: string) => Buffer.byteLength(s, 'utf8');
const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

/** Validates one menu button (a leaf); `sub` for a sub_button. Returns an error response or undefined. */
function checkLeaf(button: Record<string, unknown>, sub: boolean): Response | undefined {
  if (!BUTTON_TYPES.has(String(button.type))) {
    return sub ? wechatError(40024, 'invalid sub button type') : wechatError(40017, 'invalid button type');
  }
  const needs = (field: string, max: number, code: number, what: string) => {
    const value = button[field];
    return typeof value !== 'string' || value === '' || bytes(value) > max
      ? wechatError(code, what)
      : undefined;
  };
  switch (button.type) {
    case 'view':
      return needs('url', 1024, sub ? 40054 : 40055, 'invalid button url');
    case 'miniprogram':
      return (
        needs('url', 1024, sub ? 40054 : 40055, 'invalid button url') ??
        needs('appid', 64, 40013, 'invalid appid') ??
        needs('pagepath', 1024, 40097, 'invalid args (pagepath)')
      );
    case 'media_id':
    case 'article_id':
    case 'article_view_limited':
      return needs(button.type === 'media_id' ? 'media_id' : 'article_id', 128, 40007, 'invalid media_id');
    default:
      return needs(
        'key',
        128,
        sub ? 40020 : 40019,
        sub ? 'invalid sub button key size' : 'invalid button key size',
      );
  }
}

/** The official limits: 1–3 buttons, names ≤ 16 bytes; 1–5 sub buttons, names ≤ 60 bytes. */
function checkMenu(body: Record<string, unknown>): Response | undefined {
  const buttons = body.button;
  if (!Array.isArray(buttons) || buttons.length === 0 || buttons.length > 3) {
    return wechatError(40016, 'invalid button size');
  }
  for (const button of buttons) {
    if (!isObject(button)) return wechatError(47001, 'data format error');
    if (typeof button.name !== 'string' || button.name === '' || bytes(button.name) > 16) {
      return wechatError(40018, 'invalid button name size');
    }
    const subs = button.sub_button;
    if (Array.isArray(subs) && subs.length > 0) {
      if (subs.length > 5) return wechatError(40023, 'invalid sub button size');
      for (const sub of subs) {
        if (!isObject(sub)) return wechatError(47001, 'data format error');
        if (typeof sub.name !== 'string' || sub.name === '' || bytes(sub.name) > 60) {
          return wechatError(40021, 'invalid sub button name size');
        }
        const error = checkLeaf(sub, true);
        if (error) return error;
      }
    } else {
      const error = checkLeaf(button, false);
      if (error) return error;
    }
  }
  return undefined;
}

/** `get_current_selfmenu_info` reports sub buttons as `{ list: [...] }`. */
function selfMenu(button: unknown[]): unknown[] {
  return button.map((b) => {
    if (!isObject(b)) return b;
    const { sub_button: subs, ...rest } = b;
    return Array.isArray(subs) && subs.length > 0 ? { ...rest, sub_button: { list: subs } } : rest;
  });
}

/**
 * A core of business APIs: template / customer-service / subscribe message send (recorded for
 * `GET /_emulator/messages`), user info, menu create/get/delete, tickets.
 */
export function registerBusinessApis(router: Router, records: WeChatRecords): void {
  const { state } = records;

  type Kind = 'official-account' | 'mini-program';
  /** The authorized app, checked to be of `kind` (48001 otherwise). */
  const authorized = (ctx: RouteContext, kind?: Kind): { appId: string } | Response => {
    const auth = records.authorize(ctx);
    if ('error' in auth) return auth.error;
    if (kind && state.app(auth.appId)?.kind !== kind) return unauthorizedApi();
    return auth;
  };

  const record = (kind: SentMessage['kind'], appId: string, body: Record<string, unknown>): SentMessage => {
    const message: SentMessage = { kind, appId, body, msgid: records.nextMsgId(), at: state.nowSeconds() };
    records.messages.push(message);
    return message;
  };

  router.add('POST', '/cgi-bin/message/template/send', async (ctx) => {
    const auth = authorized(ctx, 'official-account');
    if (auth instanceof Response) return auth;
    const body = await jsonBody(ctx);
    if (body instanceof Response) return body;
    const touser = body.touser;
    if (typeof touser !== 'string' || !records.user(auth.appId, touser)) {
      return wechatError(40003, 'invalid openid');
    }
    if (typeof body.template_id !== 'string' || body.template_id === '') {
      return wechatError(40037, 'invalid template_id');
    }
    if (body.data !== undefined && !isObject(body.data)) return wechatError(47001, 'data format error');
    const message = record('template', auth.appId, body);
    const app = state.app(auth.appId);
    if (app?.callbackUrl) {
      // WeChat reports the delivery with a TEMPLATESENDJOBFINISH event a moment later
      // (~2 s here, divided by retryTimeScale: 50 ms at the default scale).
      const delay = Math.max(50, Math.round(2000 / state.config.options.retryTimeScale));
      state.later(delay, async () => {
        try {
          await deliverPush(state, auth.appId, {
            MsgType: 'event',
            Event: 'TEMPLATESENDJOBFINISH',
            MsgID: message.msgid,
            Status: 'success',
            FromUserName: touser,
          });
        } catch {
          // The push module reports its own failures; a send never fails because of them.
        }
      });
    }
    return json({ errcode: 0, errmsg: 'ok', msgid: message.msgid });
  });

  router.add('POST', '/cgi-bin/message/custom/send', async (ctx) => {
    const auth = authorized(ctx);
    if (auth instanceof Response) return auth;
    const body = await jsonBody(ctx);
    if (body instanceof Response) return body;
    if (typeof body.touser !== 'string' || !records.user(auth.appId, body.touser)) {
      return wechatError(40003, 'invalid openid');
    }
    const msgtype = body.msgtype;
    if (typeof msgtype !== 'string' || !CUSTOM_MSG_TYPES.has(msgtype)) {
      return wechatError(40008, 'invalid message type');
    }
    const content = body[msgtype];
    if (!isObject(content)) return wechatError(47001, `data format error (${msgtype} missing)`);
    if (msgtype === 'text' && (typeof content.content !== 'string' || content.content === '')) {
      return wechatError(44003, 'empty news data');
    }
    record('custom', auth.appId, body);
    return json({ errcode: 0, errmsg: 'ok' });
  });

  router.add('POST', '/cgi-bin/message/subscribe/send', async (ctx) => {
    const auth = authorized(ctx, 'mini-program');
    if (auth instanceof Response) return auth;
    const body = await jsonBody(ctx);
    if (body instanceof Response) return body;
    if (typeof body.touser !== 'string' || !records.user(auth.appId, body.touser)) {
      return wechatError(40003, 'invalid openid');
    }
    if (typeof body.template_id !== 'string' || body.template_id === '') {
      return wechatError(40037, 'invalid template_id');
    }
    if (!isObject(body.data)) return wechatError(47003, 'argument invalid! data is empty');
    const message = record('subscribe', auth.appId, body);
    return json({ errcode: 0, errmsg: 'ok', msgid: message.msgid });
  });

  router.add('GET', '/cgi-bin/user/info', (ctx) => {
    const auth = authorized(ctx, 'official-account');
    if (auth instanceof Response) return auth;
    const openid = ctx.url.searchParams.get('openid');
    const user = records.user(auth.appId, openid);
    if (!user) return wechatError(40003, 'invalid openid');
    const lang = ctx.url.searchParams.get('lang') ?? 'zh_CN';
    // Since 2021-12-27 nickname / headimgurl / sex / city… are no longer returned.
    return json({
      subscribe: 1,
      openid: user.openid,
      language: lang,
      subscribe_time: user.subscribeTime,
      ...(state.app(auth.appId)?.unionIdEnabled ? { unionid: user.unionid } : {}),
      remark: '',
      groupid: 0,
      tagid_list: [],
      subscribe_scene: 'ADD_SCENE_OTHERS',
      qr_scene: 0,
      qr_scene_str: '',
    });
  });

  router.add('POST', '/cgi-bin/menu/create', async (ctx) => {
    const auth = authorized(ctx, 'official-account');
    if (auth instanceof Response) return auth;
    const body = await jsonBody(ctx);
    if (body instanceof Response) return body;
    const error = checkMenu(body);
    if (error) return error;
    records.menus.set(auth.appId, { button: body.button as unknown[] });
    return json({ errcode: 0, errmsg: 'ok' });
  });

  router.add('GET', '/cgi-bin/menu/get', (ctx) => {
    const auth = authorized(ctx, 'official-account');
    if (auth instanceof Response) return auth;
    const menu = records.menus.get(auth.appId);
    if (!menu) return wechatError(46003, 'menu no exist');
    return json({ menu: { button: menu.button } });
  });

  router.add('GET', '/cgi-bin/get_current_selfmenu_info', (ctx) => {
    const auth = authorized(ctx, 'official-account');
    if (auth instanceof Response) return auth;
    const menu = records.menus.get(auth.appId);
    if (!menu) return json({ is_menu_open: 0 });
    return json({ is_menu_open: 1, selfmenu_info: { button: selfMenu(menu.button) } });
  });

  router.add('GET', '/cgi-bin/menu/delete', (ctx) => {
    const auth = authorized(ctx, 'official-account');
    if (auth instanceof Response) return auth;
    records.menus.delete(auth.appId);
    return json({ errcode: 0, errmsg: 'ok' });
  });

  router.add('GET', '/cgi-bin/ticket/getticket', (ctx) => {
    const auth = authorized(ctx);
    if (auth instanceof Response) return auth;
    const type = ctx.url.searchParams.get('type') ?? 'jsapi';
    if (type !== 'jsapi' && type !== 'wx_card') return wechatError(40097, 'invalid args (type)');
    return json({ errcode: 0, errmsg: 'ok', ...records.tokens.ticket(auth.appId, type) });
  });
}
