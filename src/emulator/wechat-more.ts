import { createHash, randomBytes } from 'node:crypto';
import { deflateSync } from 'node:zlib';
import { controlError, json, wechatError } from './http.js';
import { deliverPush } from './push.js';
import type { RouteContext, Router } from './router.js';
import { RISKY_WORDS } from './wechat-mini-program.js';
import {
  CODE_TTL_SECONDS,
  checkCodeExchange,
  jsonBody,
  unauthorizedApi,
  type WeChatRecords,
} from './wechat-records.js';

type Kind = 'official-account' | 'mini-program';

/** Temporary media live 3 days (official: 「媒体文件在微信后台保存时间为3天」). */
export const MEDIA_TTL_SECONDS = 3 * 86_400;
/** Web OAuth user access_token lifetime (official: 7200 s). */
export const OAUTH_TOKEN_TTL_SECONDS = 7200;
/** Web OAuth refresh_token lifetime (official: 30 days). */
export const OAUTH_REFRESH_TTL_SECONDS = 30 * 86_400;
/** Temporary QR code: default and maximum `expire_seconds` (official: 60 s / 2592000 s). */
export const QR_DEFAULT_EXPIRE_SECONDS = 60;
export const QR_MAX_EXPIRE_SECONDS = 2_592_000;

/**
 * Temporary media limits and formats (the 新增临时素材 doc: image 10 MB PNG/JPEG/JPG/GIF, voice
 * 2 MB AMR/MP3, video 10 MB MP4, thumb 64 KB JPG). Formats are recognised by the file name's
 * extension, or by the part's content-type when the name has none.
 */
const MEDIA_TYPES: Record<string, { maxBytes: number; extensions: string[]; contentTypes: string[] }> = {
  image: {
    maxBytes: 10 * 1024 * 1024,
    extensions: ['png', 'jpeg', 'jpg', 'gif'],
    contentTypes: ['image/png', 'image/jpeg', 'image/jpg', 'image/gif'],
  },
  voice: {
    maxBytes: 2 * 1024 * 1024,
    extensions: ['amr', 'mp3'],
    contentTypes: ['audio/amr', 'audio/mpeg', 'audio/mp3'],
  },
  video: { maxBytes: 10 * 1024 * 1024, extensions: ['mp4'], contentTypes: ['video/mp4'] },
  thumb: { maxBytes: 64 * 1024, extensions: ['jpg', 'jpeg'], contentTypes: ['image/jpeg', 'image/jpg'] },
};

/** A temporary media file (`cgi-bin/media/upload`). */
export interface StoredMedia {
  mediaId: string;
  appId: string;
  type: string;
  filename: string;
  contentType: string;
  bytes: Uint8Array<ArrayBuffer>;
  /** Emulated Unix seconds. */
  createdAt: number;
}

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

interface OAuthCode {
  appId: string;
  openid: string;
  scope: OAuthScope;
  issuedAt: number;
  used: boolean;
  snapshotUser: boolean;
}

interface UserToken {
  appId: string;
  openid: string;
  scope: OAuthScope;
  /** Emulated ms. */
  expiresAt: number;
}

interface RefreshToken extends UserToken {
  snapshotUser: boolean;
}

type OAuthScope = 'snsapi_base' | 'snsapi_userinfo';

/** Users' web profiles (what `sns/userinfo` shows), set by `POST /_emulator/oauth/authorize`. */
interface WebProfile {
  nickname: string;
  headimgurl: string;
}

const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

/** Characters the doc allows in a wxacode `scene`: digits, letters and !#$&'()*+,/:;=?@-._~ */
const SCENE_PATTERN = /^[0-9A-Za-z!#$&'()*+,/:;=?@\-._~]{1,32}$/;

// ---------------------------------------------------------------------------------------------
// A minimal PNG encoder (8-bit greyscale), for wxacode answers.

const CRC_TABLE = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

function crc32(data: Buffer): number {
  let crc = 0xffffffff;
  for (const byte of data) crc = (CRC_TABLE[(crc ^ byte) & 0xff] as number) ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}

function pngChunk(type: string, data: Buffer): Buffer {
  const head = Buffer.alloc(8);
  head.writeUInt32BE(data.length, 0);
  head.write(type, 4, 'latin1');
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(Buffer.concat([head.subarray(4), data])), 0);
  return Buffer.concat([head, data, crc]);
}

/** The PNG file signature. */
export const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

/**
 * A small greyscale PNG whose pattern is derived from `seed` (not a scannable code), with `text`
 * in a `tEXt` chunk (keyword `weixin-kit-emulator`) so tests can read back what was asked.
 */
export function emulatorPng(seed: string, text: string, size = 21): Buffer {
  const digest = createHash('sha256').update(seed).digest();
  const rows: Buffer[] = [];
  for (let y = 0; y < size; y++) {
    const row = Buffer.alloc(size + 1); // filter byte 0, then pixels
    for (let x = 0; x < size; x++) {
      const bit = (y * size + x) % (digest.length * 8);
      const on = ((digest[bit >> 3] as number) >> (bit & 7)) & 1;
      row[x + 1] = on ? 0x00 : 0xff;
    }
    rows.push(row);
  }
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(size, 0);
  ihdr.writeUInt32BE(size, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 0; // greyscale
  return Buffer.concat([
    PNG_SIGNATURE,
    pngChunk('IHDR', ihdr),
    pngChunk('tEXt', Buffer.from(`weixin-kit-emulator\0${text}`, 'latin1')),
    pngChunk('IDAT', deflateSync(Buffer.concat(rows))),
    pngChunk('IEND', Buffer.alloc(0)),
  ]);
}

// ---------------------------------------------------------------------------------------------

/**
 * More Official Account and Mini Program APIs: `user/info/batchget`, temporary media
 * (`media/upload`, `media/get`), parametric QR codes (`qrcode/create`), web OAuth (`sns/oauth2/*`,
 * `sns/userinfo`, `sns/auth`), `wxa/getwxacodeunlimit` and `wxa/media_check_async`, with their
 * control routes (`/_emulator/oauth/authorize`, `/_emulator/qrcodes`, `/_emulator/mini-program/pages`,
 * `/_emulator/media/:mediaId`).
 */
export function registerMoreApis(router: Router, records: WeChatRecords): void {
  const { state } = records;
  const media = new Map<string, StoredMedia>();
  const qrcodes: QrTicket[] = [];
  const oauthCodes = new Map<string, OAuthCode>();
  const userTokens = new Map<string, UserToken>();
  const refreshTokens = new Map<string, RefreshToken>();
  const profiles = new Map<string, WebProfile>();
  const releasedPages = new Map<string, Set<string>>();

  /** The authorized app, checked to be of `kind` (48001 otherwise). */
  const authorized = (ctx: RouteContext, kind?: Kind): { appId: string } | Response => {
    const auth = records.authorize(ctx);
    if ('error' in auth) return auth.error;
    if (kind && state.app(auth.appId)?.kind !== kind) return unauthorizedApi();
    return auth;
  };

  /** A JSON object body: empty 44002 (「POST的数据包为空」), not a JSON object 47001. */
  const objectBody = async (ctx: RouteContext): Promise<Record<string, unknown> | Response> => {
    if ((await ctx.text()).trim() === '') return wechatError(44002, 'empty post data');
    return jsonBody(ctx);
  };

  const profileKey = (appId: string, openid: string) => `${appId}\n${openid}`;

  // --- 1. Batch user info (Official Accounts) ----------------------------------------------

  router.add('POST', '/cgi-bin/user/info/batchget', async (ctx) => {
    const auth = authorized(ctx, 'official-account');
    if (auth instanceof Response) return auth;
    const body = await objectBody(ctx);
    if (body instanceof Response) return body;
    const list = body.user_list;
    if (!Array.isArray(list)) return wechatError(47001, 'data format error (user_list)');
    if (list.length === 0 || list.length > 100) return wechatError(40032, 'invalid openid list size');
    const unionId = state.app(auth.appId)?.unionIdEnabled === true;
    const infos: unknown[] = [];
    for (const entry of list) {
      if (!isObject(entry) || typeof entry.openid !== 'string') {
        return wechatError(47001, 'data format error (user_list[].openid)');
      }
      if (entry.lang !== undefined && typeof entry.lang !== 'string') {
        return wechatError(47001, 'data format error (user_list[].lang)');
      }
      const user = records.user(auth.appId, entry.openid);
      if (!user) return wechatError(40003, 'invalid openid');
      // As cgi-bin/user/info: no nickname, avatar, sex or region since 2021-12-27.
      infos.push({
        subscribe: 1,
        openid: user.openid,
        language: entry.lang ?? 'zh_CN',
        subscribe_time: user.subscribeTime,
        ...(unionId ? { unionid: user.unionid } : {}),
        remark: '',
        groupid: 0,
        tagid_list: [],
        subscribe_scene: 'ADD_SCENE_OTHERS',
        qr_scene: 0,
        qr_scene_str: '',
      });
    }
    return json({ user_info_list: infos });
  });

  // --- 2. Temporary media --------------------------------------------------------------------

  router.add('POST', '/cgi-bin/media/upload', async (ctx) => {
    const auth = authorized(ctx);
    if (auth instanceof Response) return auth;
    const type = ctx.url.searchParams.get('type') ?? '';
    const spec = MEDIA_TYPES[type];
    // Mini Programs upload only images (customer-service messages).
    const kind = state.app(auth.appId)?.kind;
    if (!spec || (kind === 'mini-program' && type !== 'image')) {
      return wechatError(40004, 'invalid media type');
    }
    let form: FormData;
    try {
      form = await ctx.request.formData();
    } catch {
      return wechatError(41005, 'media data missing');
    }
    const file = form.get('media');
    if (file === null || typeof file === 'string') return wechatError(41005, 'media data missing');
    const bytes = new Uint8Array(await file.arrayBuffer());
    if (bytes.length === 0) return wechatError(44001, 'empty media data');
    const filename = file.name || 'media';
    const extension = /\.([A-Za-z0-9]+)$/.exec(filename)?.[1]?.toLowerCase();
    const contentType = (file.type || '').split(';')[0]?.trim().toLowerCase() ?? '';
    const formatOk = extension
      ? spec.extensions.includes(extension)
      : spec.contentTypes.includes(contentType);
    if (!formatOk) return wechatError(40005, 'invalid file type');
    if (bytes.length > spec.maxBytes) return wechatError(40006, 'invalid media size');
    const mediaId = `${state.randomId(32)}_${state.randomId(31)}`;
    const stored: StoredMedia = {
      mediaId,
      appId: auth.appId,
      type,
      filename,
      contentType: contentType || 'application/octet-stream',
      bytes,
      createdAt: state.nowSeconds(),
    };
    media.set(mediaId, stored);
    return json({ type, media_id: mediaId, created_at: stored.createdAt });
  });

  const liveMedia = (appId: string, mediaId: string): StoredMedia | undefined => {
    const item = media.get(mediaId);
    if (!item || item.appId !== appId) return undefined;
    return state.nowSeconds() - item.createdAt >= MEDIA_TTL_SECONDS ? undefined : item;
  };

  const mediaFile = (item: StoredMedia): Response => {
    const extension = /\.([A-Za-z0-9]+)$/.exec(item.filename)?.[1]?.toLowerCase() ?? 'bin';
    return new Response(item.bytes, {
      status: 200,
      headers: {
        'content-type': item.contentType,
        'content-disposition': `attachment; filename="${item.mediaId}.${extension}"`,
        'cache-control': 'no-cache, must-revalidate',
      },
    });
  };

  router.add('GET', '/cgi-bin/media/get', (ctx) => {
    const auth = authorized(ctx);
    if (auth instanceof Response) return auth;
    const mediaId = ctx.url.searchParams.get('media_id');
    if (!mediaId) return wechatError(41006, 'media_id missing');
    const item = liveMedia(auth.appId, mediaId);
    if (!item) return wechatError(40007, 'invalid media_id');
    // Videos come back as a download URL (the doc's {"video_url": DOWN_URL}).
    if (item.type === 'video') {
      return json({ video_url: `${ctx.url.origin}/_emulator/media/${encodeURIComponent(item.mediaId)}` });
    }
    return mediaFile(item);
  });

  // Where video_url points (stands in for WeChat's download host).
  router.add('GET', '/_emulator/media/:mediaId', (ctx) => {
    const item = media.get(ctx.params.mediaId ?? '');
    if (!item || state.nowSeconds() - item.createdAt >= MEDIA_TTL_SECONDS) {
      return controlError(404, 'no such media');
    }
    return mediaFile(item);
  });

  // --- 3. Parametric QR codes (Official Accounts) -------------------------------------------

  router.add('POST', '/cgi-bin/qrcode/create', async (ctx) => {
    const auth = authorized(ctx, 'official-account');
    if (auth instanceof Response) return auth;
    const body = await objectBody(ctx);
    if (body instanceof Response) return body;
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
    const scene = isObject(body.action_info) ? body.action_info.scene : undefined;
    if (!isObject(scene)) return wechatError(40053, 'invalid action info');
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
      appId: auth.appId,
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
  });

  router.add('GET', '/_emulator/qrcodes', (ctx) => {
    const appId = ctx.url.searchParams.get('appId');
    return json({ qrcodes: qrcodes.filter((q) => appId === null || q.appId === appId) });
  });

  // --- 4. Web OAuth (网页授权) -----------------------------------------------------------------

  // What WeChat appends to redirect_uri after the user consents: ?code=…&state=…
  router.add('POST', '/_emulator/oauth/authorize', async (ctx) => {
    const body = (await ctx.json()) as Record<string, unknown> | undefined;
    const usage =
      'body must be { appId, scope: "snsapi_base" | "snsapi_userinfo", openId?, unionId?, state?, nickname?, headImgUrl?, snapshotUser? }';
    if (!isObject(body) || typeof body.appId !== 'string') return controlError(400, usage);
    const app = state.app(body.appId);
    if (!app) return controlError(404, `no app ${body.appId}`);
    if (app.kind !== 'official-account') return controlError(400, `${app.appId} is not an official-account`);
    if (body.scope !== 'snsapi_base' && body.scope !== 'snsapi_userinfo') return controlError(400, usage);
    for (const field of ['openId', 'unionId', 'state', 'nickname', 'headImgUrl'] as const) {
      if (body[field] !== undefined && typeof body[field] !== 'string') {
        return controlError(400, `${field} must be a string`);
      }
    }
    if (body.snapshotUser !== undefined && typeof body.snapshotUser !== 'boolean') {
      return controlError(400, 'snapshotUser must be a boolean');
    }
    const openid = (body.openId as string | undefined) || records.defaultOpenId(app.appId);
    const user = records.ensureUser(app.appId, openid, (body.unionId as string | undefined) || undefined);
    const key = profileKey(app.appId, openid);
    const previous = profiles.get(key);
    profiles.set(key, {
      nickname: (body.nickname as string | undefined) ?? previous?.nickname ?? '微信用户',
      headimgurl:
        (body.headImgUrl as string | undefined) ??
        previous?.headimgurl ??
        `https://thirdwx.qlogo.cn/mmopen/emulator/${user.unionid}/132`,
    });
    const code = records.newCode();
    oauthCodes.set(code, {
      appId: app.appId,
      openid,
      scope: body.scope,
      issuedAt: state.now(),
      used: false,
      snapshotUser: body.snapshotUser === true,
    });
    return json({ code, state: (body.state as string | undefined) ?? '', openId: openid });
  });

  const newUserToken = () => `${state.randomId(40)}_${state.randomId(40)}-${state.randomId(24)}`;

  const issueUserToken = (grant: { appId: string; openid: string; scope: OAuthScope }) => {
    const token = newUserToken();
    userTokens.set(token, { ...grant, expiresAt: state.now() + OAUTH_TOKEN_TTL_SECONDS * 1000 });
    return token;
  };

  router.add('GET', '/sns/oauth2/access_token', (ctx) => {
    const checked = checkCodeExchange(state, ctx, 'code');
    if ('error' in checked) return checked.error;
    const value = checked.code;
    const code = oauthCodes.get(value);
    if (!code || code.appId !== checked.appId) return wechatError(40029, 'invalid code');
    if (code.used) return wechatError(40163, 'code been used');
    if (state.now() - code.issuedAt >= CODE_TTL_SECONDS * 1000) return wechatError(40029, 'invalid code');
    code.used = true;
    const access = issueUserToken(code);
    const refresh = newUserToken();
    refreshTokens.set(refresh, {
      appId: code.appId,
      openid: code.openid,
      scope: code.scope,
      snapshotUser: code.snapshotUser,
      expiresAt: state.now() + OAUTH_REFRESH_TTL_SECONDS * 1000,
    });
    const unionid =
      code.scope === 'snsapi_userinfo' && state.app(code.appId)?.unionIdEnabled
        ? records.user(code.appId, code.openid)?.unionid
        : undefined;
    return json({
      access_token: access,
      expires_in: OAUTH_TOKEN_TTL_SECONDS,
      refresh_token: refresh,
      openid: code.openid,
      scope: code.scope,
      ...(code.snapshotUser ? { is_snapshotuser: 1 } : {}),
      ...(unionid ? { unionid } : {}),
    });
  });

  router.add('GET', '/sns/oauth2/refresh_token', (ctx) => {
    const p = ctx.url.searchParams;
    const appid = p.get('appid');
    if (!appid) return wechatError(41002, 'appid missing');
    if (p.get('grant_type') !== 'refresh_token') return wechatError(40002, 'invalid grant_type');
    const value = p.get('refresh_token');
    if (!value) return wechatError(41003, 'refresh_token missing');
    if (!state.app(appid)) return wechatError(40013, 'invalid appid');
    const refresh = refreshTokens.get(value);
    if (!refresh || refresh.appId !== appid) return wechatError(40030, 'invalid refresh_token');
    if (refresh.expiresAt <= state.now()) return wechatError(42002, 'refresh_token expired');
    const access = issueUserToken(refresh);
    // The refresh_token keeps its 30-day life (the doc: re-authorize once it expires).
    return json({
      access_token: access,
      expires_in: OAUTH_TOKEN_TTL_SECONDS,
      refresh_token: value,
      openid: refresh.openid,
      scope: refresh.scope,
    });
  });

  /** The user token of `access_token`: missing 41001, unknown 40001, expired 42001. */
  const userToken = (ctx: RouteContext, unknown: () => Response): UserToken | Response => {
    const value = ctx.url.searchParams.get('access_token');
    if (!value) return wechatError(41001, 'access_token missing');
    const token = userTokens.get(value);
    if (!token) return unknown();
    if (token.expiresAt <= state.now()) return wechatError(42001, 'access_token expired');
    return token;
  };

  router.add('GET', '/sns/userinfo', (ctx) => {
    const token = userToken(ctx, () =>
      wechatError(40001, 'invalid credential, access_token is invalid or not latest'),
    );
    if (token instanceof Response) return token;
    const openid = ctx.url.searchParams.get('openid');
    if (!openid) return wechatError(41009, 'missing openid');
    if (openid !== token.openid) return wechatError(40003, 'invalid openid');
    // The doc: only with a snsapi_userinfo authorization, else 48001.
    if (token.scope !== 'snsapi_userinfo') return unauthorizedApi();
    const user = records.user(token.appId, token.openid);
    const profile = profiles.get(profileKey(token.appId, token.openid));
    // Since 2021-10-20 sex and region are no longer returned (0 and empty strings).
    return json({
      openid: token.openid,
      nickname: profile?.nickname ?? '微信用户',
      sex: 0,
      province: '',
      city: '',
      country: '',
      headimgurl: profile?.headimgurl ?? '',
      privilege: [],
      ...(user && state.app(token.appId)?.unionIdEnabled ? { unionid: user.unionid } : {}),
    });
  });

  router.add('GET', '/sns/auth', (ctx) => {
    // The doc's example answers an invalid credential with 40003 invalid openid.
    const token = userToken(ctx, () => wechatError(40003, 'invalid openid'));
    if (token instanceof Response) return token;
    const openid = ctx.url.searchParams.get('openid');
    if (!openid) return wechatError(41009, 'missing openid');
    if (openid !== token.openid) return wechatError(40003, 'invalid openid');
    return json({ errcode: 0, errmsg: 'ok' });
  });

  // --- 5. Mini Program: unlimited wxacode, async media check ------------------------------------

  // Pages "released" in a Mini Program, for check_path (without a list, every page is accepted).
  router.add('POST', '/_emulator/mini-program/pages', async (ctx) => {
    const body = (await ctx.json()) as Record<string, unknown> | undefined;
    if (
      !isObject(body) ||
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

  router.add('POST', '/wxa/getwxacodeunlimit', async (ctx) => {
    const auth = authorized(ctx, 'mini-program');
    if (auth instanceof Response) return auth;
    const body = await jsonBody(ctx);
    // WeChat answers a missing scene or a non-JSON body with the same 40169.
    const badScene = () => wechatError(40169, 'invalid length for scene, or the data is not json string');
    if (body instanceof Response) return badScene();
    if (typeof body.scene !== 'string' || !SCENE_PATTERN.test(body.scene)) return badScene();
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
    if (body.line_color !== undefined && !isObject(body.line_color)) {
      return wechatError(47001, 'data format error (line_color)');
    }
    const pages = releasedPages.get(auth.appId);
    if (page !== '' && body.check_path !== false && pages && !pages.has(page)) {
      return wechatError(41030, 'invalid page');
    }
    const width = Math.min(1280, Math.max(280, Math.round((body.width as number | undefined) ?? 430)));
    const text = JSON.stringify({ scene: body.scene, page, env_version: envVersion, width });
    return new Response(new Uint8Array(emulatorPng(`${auth.appId}\n${text}`, text)), {
      status: 200,
      headers: { 'content-type': 'image/png', 'cache-control': 'no-cache, must-revalidate' },
    });
  });

  router.add('POST', '/wxa/media_check_async', async (ctx) => {
    const auth = authorized(ctx, 'mini-program');
    if (auth instanceof Response) return auth;
    const body = await objectBody(ctx);
    if (body instanceof Response) return body;
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
      if (typeof openid !== 'string' || !records.user(auth.appId, openid)) {
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
    const app = state.app(auth.appId);
    if (app?.callbackUrl) {
      const suggest = risky ? 'risky' : 'pass';
      const label = risky ? 20002 : 100;
      const result = v2
        ? {
            MsgType: 'event',
            Event: 'wxa_media_check',
            ...(typeof openid === 'string' ? { FromUserName: openid } : {}),
            appid: auth.appId,
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
            appid: auth.appId,
            trace_id: traceId,
            status_code: 0,
          };
      // WeChat pushes within 30 minutes; here ~5 s divided by retryTimeScale (50 ms at least).
      const delay = Math.max(50, Math.round(5000 / state.config.options.retryTimeScale));
      state.later(delay, async () => {
        try {
          await deliverPush(state, auth.appId, result);
        } catch {
          // The push module reports its own failures; the check request never fails because of them.
        }
      });
    }
    return json({ errcode: 0, errmsg: 'ok', trace_id: traceId });
  });
}
