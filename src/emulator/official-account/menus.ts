import { byteLength as bytes } from '../../internal/bytes.js';
import { isJsonObject } from '../api-route.js';
import { json, wechatError } from '../http.js';
import { appToken } from '../platform/app-auth.js';
import { wechatRecords } from '../platform/app-records.js';
import type { Router } from '../router.js';
import type { EmulatorState } from '../state.js';

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
    if (!isJsonObject(button)) return wechatError(47001, 'data format error');
    if (typeof button.name !== 'string' || button.name === '' || bytes(button.name) > 16) {
      return wechatError(40018, 'invalid button name size');
    }
    const subs = button.sub_button;
    if (Array.isArray(subs) && subs.length > 0) {
      if (subs.length > 5) return wechatError(40023, 'invalid sub button size');
      for (const sub of subs) {
        if (!isJsonObject(sub)) return wechatError(47001, 'data format error');
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
    if (!isJsonObject(b)) return b;
    const { sub_button: subs, ...rest } = b;
    return Array.isArray(subs) && subs.length > 0 ? { ...rest, sub_button: { list: subs } } : rest;
  });
}

/**
 * The custom menu of an Official Account: `cgi-bin/menu/create` (validated against the official
 * limits), `menu/get`, `menu/delete` and `get_current_selfmenu_info`.
 */
export function registerMenus(router: Router, state: EmulatorState): void {
  const records = wechatRecords(state);
  const auth = appToken(records, 'official-account');

  router.api('POST', '/cgi-bin/menu/create', { auth, body: 'json' }, ({ caller, body }) => {
    const error = checkMenu(body);
    if (error) return error;
    records.menus.set(caller.appId, { button: body.button as unknown[] });
    return json({ errcode: 0, errmsg: 'ok' });
  });

  router.api('GET', '/cgi-bin/menu/get', { auth }, ({ caller }) => {
    const menu = records.menus.get(caller.appId);
    if (!menu) return wechatError(46003, 'menu no exist');
    return json({ menu: { button: menu.button } });
  });

  router.api('GET', '/cgi-bin/get_current_selfmenu_info', { auth }, ({ caller }) => {
    const menu = records.menus.get(caller.appId);
    if (!menu) return json({ is_menu_open: 0 });
    return json({ is_menu_open: 1, selfmenu_info: { button: selfMenu(menu.button) } });
  });

  router.api('GET', '/cgi-bin/menu/delete', { auth }, ({ caller }) => {
    records.menus.delete(caller.appId);
    return json({ errcode: 0, errmsg: 'ok' });
  });
}
