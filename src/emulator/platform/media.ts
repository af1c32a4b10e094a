import { controlError, json, wechatError } from '../http.js';
import type { Router } from '../router.js';
import type { EmulatorState } from '../state.js';
import { appToken } from './app-auth.js';
import { wechatRecords } from './app-records.js';

/** Temporary media live 3 days (official: 「媒体文件在微信后台保存时间为3天」). */
export const MEDIA_TTL_SECONDS = 3 * 86_400;

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

/**
 * Temporary media of both kinds of app: `cgi-bin/media/upload` (multipart), `cgi-bin/media/get`,
 * and `GET /_emulator/media/:mediaId`, where a video's `video_url` points.
 */
export function registerMedia(router: Router, state: EmulatorState): void {
  const records = wechatRecords(state);
  const media = new Map<string, StoredMedia>();

  router.api(
    'POST',
    '/cgi-bin/media/upload',
    { auth: appToken(records) },
    async ({ caller, url, request }) => {
      const type = url.searchParams.get('type') ?? '';
      const spec = MEDIA_TYPES[type];
      // Mini Programs upload only images (customer-service messages).
      const kind = state.app(caller.appId)?.kind;
      if (!spec || (kind === 'mini-program' && type !== 'image')) {
        return wechatError(40004, 'invalid media type');
      }
      let form: FormData;
      try {
        form = await request.formData();
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
        appId: caller.appId,
        type,
        filename,
        contentType: contentType || 'application/octet-stream',
        bytes,
        createdAt: state.nowSeconds(),
      };
      media.set(mediaId, stored);
      return json({ type, media_id: mediaId, created_at: stored.createdAt });
    },
  );

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

  router.api('GET', '/cgi-bin/media/get', { auth: appToken(records) }, ({ caller, url }) => {
    const mediaId = url.searchParams.get('media_id');
    if (!mediaId) return wechatError(41006, 'media_id missing');
    const item = liveMedia(caller.appId, mediaId);
    if (!item) return wechatError(40007, 'invalid media_id');
    // Videos come back as a download URL (the doc's {"video_url": DOWN_URL}).
    if (item.type === 'video') {
      return json({ video_url: `${url.origin}/_emulator/media/${encodeURIComponent(item.mediaId)}` });
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
}
