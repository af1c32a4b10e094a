import { randomBytes } from 'node:crypto';
import { isJsonObject } from '../api-route.js';
import { json, wechatError } from '../http.js';
import { appToken } from '../platform/app-auth.js';
import { wechatRecords } from '../platform/app-records.js';
import type { Router } from '../router.js';
import type { EmulatorState } from '../state.js';

/** Temporary QR code: default and maximum `expire_seconds` (official: 60 s / 2592000 s). */
export const QR_DEFAULT_EXPIRE_SECONDS = 60;
export const QR_MAX_EXPIRE_SECONDS = 2_592_000;

/** A parametric QR code ticket (`cgi-bin/qrcode/create`), listed by `GET /_emulator/qrcodes`. */
export interface QrTicket {
  appId: string;
  ticket: string;
  url: string;
  actionName: string;
  sceneId?: number;
  sceneStr?: string;
  /** Emulated Unix seconds. */
  createdAt: number;
  /** Temporary codes only. */
  expireSeconds?: number;
  expiresAt?: number;
}

/** Parametric QR codes of Official Accounts (`cgi-bin/qrcode/create`) and `GET /_emulator/qrcodes?appId=`. */
export function registerQrCodes(router: Router, state: EmulatorState): void {
  const records = wechatRecords(state);
  const qrcodes: QrTicket[] = [];

  router.api(
    'POST',
    '/cgi-bin/qrcode/create',
    { auth: appToken(records, 'official-account'), body: 'non-empty-json' },
    ({ caller, body }) => {
      const action = body.action_name;
      if (
        action !== 'QR_SCENE' &&
        action !== 'QR_STR_SCENE' &&
        action !== 'QR_LIMIT_SCENE' &&
        action !== 'QR_LIMIT_STR_SCENE'
      ) {
        return wechatError(40097, 'invalid args (action_name)');
      }
      const permanent = action.startsWith('QR_LIMIT_');
      const byString = action.endsWith('STR_SCENE');
      const scene = isJsonObject(body.action_info) ? body.action_info.scene : undefined;
      if (!isJsonObject(scene)) return wechatError(40053, 'invalid action info');
      let sceneId: number | undefined;
      let sceneStr: string | undefined;
      if (byString) {
        const value = scene.scene_str;
        if (typeof value !== 'string' || value.length < 1 || value.length > 64) {
          return wechatError(40053, 'invalid action info (scene_str)');
        }
        sceneStr = value;
      } else {
        const value = scene.scene_id;
        const max = permanent ? 100_000 : 0xffff_ffff;
        if (typeof value !== 'number' || !Number.isInteger(value) || value < 1 || value > max) {
          return wechatError(40053, 'invalid action info (scene_id)');
        }
        sceneId = value;
      }
      let expireSeconds: number | undefined;
      if (!permanent) {
        const value = body.expire_seconds ?? QR_DEFAULT_EXPIRE_SECONDS;
        if (typeof value !== 'number' || !Number.isInteger(value)) {
          return wechatError(47001, 'data format error (expire_seconds)');
        }
        if (value < 1 || value > QR_MAX_EXPIRE_SECONDS)
          return wechatError(40097, 'invalid args (expire_seconds)');
        expireSeconds = value;
      }
      const now = state.nowSeconds();
      // Real tickets are base64 of a binary blob that embeds the URL; these are opaque look-alikes.
      const ticket = `gQ${randomBytes(60).toString('base64')}`;
      const qr: QrTicket = {
        appId: caller.appId,
        ticket,
        url: `http://weixin.qq.com/q/${state.randomId(22)}`,
        actionName: action,
        ...(sceneId === undefined ? {} : { sceneId }),
        ...(sceneStr === undefined ? {} : { sceneStr }),
        createdAt: now,
        ...(expireSeconds === undefined ? {} : { expireSeconds, expiresAt: now + expireSeconds }),
      };
      qrcodes.push(qr);
      return json({
        ticket,
        ...(expireSeconds === undefined ? {} : { expire_seconds: expireSeconds }),
        url: qr.url,
      });
    },
  );

  router.add('GET', '/_emulator/qrcodes', (ctx) => {
    const appId = ctx.url.searchParams.get('appId');
    return json({ qrcodes: qrcodes.filter((q) => appId === null || q.appId === appId) });
  });
}
