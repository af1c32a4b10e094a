import { isJsonObject } from '../api-route.js';
import { controlError, json, wechatError } from '../http.js';
import { appToken } from '../platform/app-auth.js';
import { wechatRecords } from '../platform/app-records.js';
import type { Router } from '../router.js';
import type { EmulatorState } from '../state.js';
import { emulatorPng } from './wxacode-png.js';

/** Characters the doc allows in a wxacode `scene`: digits, letters and !#$&'()*+,/:;=?@-._~ */
const SCENE_PATTERN = /^[0-9A-Za-z!#$&'()*+,/:;=?@\-._~]{1,32}$/;

/**
 * Unlimited Mini Program codes (`wxa/getwxacodeunlimit`), and the control route
 * `POST /_emulator/mini-program/pages {appId, pages}` that sets the released pages `check_path`
 * checks against.
 */
export function registerWxaCode(router: Router, state: EmulatorState): void {
  const records = wechatRecords(state);
  const releasedPages = new Map<string, Set<string>>();

  // Pages "released" in a Mini Program, for check_path (without a list, every page is accepted).
  router.add('POST', '/_emulator/mini-program/pages', async (ctx) => {
    const body = (await ctx.json()) as Record<string, unknown> | undefined;
    if (
      !isJsonObject(body) ||
      typeof body.appId !== 'string' ||
      !Array.isArray(body.pages) ||
      !body.pages.every((p) => typeof p === 'string')
    ) {
      return controlError(400, 'body must be { "appId": string, "pages": string[] }');
    }
    const app = state.app(body.appId);
    if (!app) return controlError(404, `no app ${body.appId}`);
    if (app.kind !== 'mini-program') return controlError(400, `${app.appId} is not a mini-program`);
    releasedPages.set(app.appId, new Set(body.pages as string[]));
    return json({ appId: app.appId, pages: body.pages });
  });

  router.api(
    'POST',
    '/wxa/getwxacodeunlimit',
    {
      auth: appToken(records, 'mini-program'),
      body: 'json',
      // WeChat answers a missing scene or a non-JSON body with the same 40169.
      badBody: () => wechatError(40169, 'invalid length for scene, or the data is not json string'),
    },
    ({ caller, body }) => {
      if (typeof body.scene !== 'string' || !SCENE_PATTERN.test(body.scene)) {
        return wechatError(40169, 'invalid length for scene, or the data is not json string');
      }
      const page = body.page ?? '';
      if (typeof page !== 'string') return wechatError(47001, 'data format error (page)');
      if (page.startsWith('/') || page.includes('?')) return wechatError(41030, 'invalid page');
      for (const field of ['check_path', 'auto_color', 'is_hyaline'] as const) {
        if (body[field] !== undefined && typeof body[field] !== 'boolean') {
          return wechatError(47001, `data format error (${field})`);
        }
      }
      const envVersion = body.env_version ?? 'release';
      if (envVersion !== 'release' && envVersion !== 'trial' && envVersion !== 'develop') {
        return wechatError(40097, 'invalid args (env_version)');
      }
      if (body.width !== undefined && typeof body.width !== 'number') {
        return wechatError(47001, 'data format error (width)');
      }
      if (body.line_color !== undefined && !isJsonObject(body.line_color)) {
        return wechatError(47001, 'data format error (line_color)');
      }
      const pages = releasedPages.get(caller.appId);
      if (page !== '' && body.check_path !== false && pages && !pages.has(page)) {
        return wechatError(41030, 'invalid page');
      }
      const width = Math.min(1280, Math.max(280, Math.round((body.width as number | undefined) ?? 430)));
      const text = JSON.stringify({ scene: body.scene, page, env_version: envVersion, width });
      return new Response(new Uint8Array(emulatorPng(`${caller.appId}\n${text}`, text)), {
        status: 200,
        headers: { 'content-type': 'image/png', 'cache-control': 'no-cache, must-revalidate' },
      });
    },
  );
}
