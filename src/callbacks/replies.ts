/**
 * Passive replies (被动回复): what a handler returns, built with {@link reply}. The pipeline turns a
 * reply into the wire form — XML, or JSON for Mini Programs pushing JSON — with ToUserName and
 * FromUserName swapped from the message and CreateTime in seconds, then encrypts it when needed.
 */
import { ArgumentError } from '../errors.js';

export interface TextReply {
  type: 'text';
  content: string;
}
export interface ImageReply {
  type: 'image';
  mediaId: string;
}
export interface VoiceReply {
  type: 'voice';
  mediaId: string;
}
export interface VideoReply {
  type: 'video';
  mediaId: string;
  title?: string;
  description?: string;
}
export interface MusicReply {
  type: 'music';
  /** The thumbnail's media id (required by WeChat). */
  thumbMediaId: string;
  title?: string;
  description?: string;
  musicUrl?: string;
  /** High-quality URL, preferred on Wi-Fi. */
  hqMusicUrl?: string;
}
/** One article of a news reply. */
export interface NewsArticle {
  title: string;
  description?: string;
  picUrl?: string;
  url?: string;
}
export interface NewsReply {
  type: 'news';
  articles: NewsArticle[];
}
export interface TransferCustomerServiceReply {
  type: 'transfer_customer_service';
  /** A specific customer-service account (`kf2001@gh_…`); any available agent when absent. */
  kfAccount?: string;
}

/** A passive reply. Return one from a handler; return nothing to answer `success`. */
export type Reply =
  | TextReply
  | ImageReply
  | VoiceReply
  | VideoReply
  | MusicReply
  | NewsReply
  | TransferCustomerServiceReply;

/** WeChat shows at most 8 articles in a news reply (1 since 2018 for most accounts; 8 is the wire limit). */
export const MAX_NEWS_ARTICLES = 8;

function nonEmpty(value: unknown, name: string): string {
  if (typeof value !== 'string' || value === '') {
    throw new ArgumentError(`reply: ${name} must be a non-empty string`);
  }
  return value;
}

function optional<K extends string>(name: K, value: string | undefined): { [P in K]?: string } {
  return (value === undefined ? {} : { [name]: value }) as { [P in K]?: string };
}

/**
 * Builders of passive replies.
 *
 * @example
 * callback.on('text', (msg) => reply.text(`you said: ${msg.Content}`));
 * callback.on('event.subscribe', () => reply.news([{ title: 'Welcome', url: 'https://example.com' }]));
 */
export const reply = {
  text(content: string): TextReply {
    if (typeof content !== 'string') throw new ArgumentError('reply.text: content must be a string');
    return { type: 'text', content };
  },
  image(mediaId: string): ImageReply {
    return { type: 'image', mediaId: nonEmpty(mediaId, 'mediaId') };
  },
  voice(mediaId: string): VoiceReply {
    return { type: 'voice', mediaId: nonEmpty(mediaId, 'mediaId') };
  },
  video(video: { mediaId: string; title?: string; description?: string }): VideoReply {
    return {
      type: 'video',
      mediaId: nonEmpty(video?.mediaId, 'mediaId'),
      ...optional('title', video.title),
      ...optional('description', video.description),
    };
  },
  music(music: {
    thumbMediaId: string;
    title?: string;
    description?: string;
    musicUrl?: string;
    hqMusicUrl?: string;
  }): MusicReply {
    return {
      type: 'music',
      thumbMediaId: nonEmpty(music?.thumbMediaId, 'thumbMediaId'),
      ...optional('title', music.title),
      ...optional('description', music.description),
      ...optional('musicUrl', music.musicUrl),
      ...optional('hqMusicUrl', music.hqMusicUrl),
    };
  },
  news(articles: NewsArticle[]): NewsReply {
    if (!Array.isArray(articles) || articles.length === 0 || articles.length > MAX_NEWS_ARTICLES) {
      throw new ArgumentError(
        `reply.news: pass 1 to ${MAX_NEWS_ARTICLES} articles (WeChat drops a reply with more)`,
      );
    }
    return {
      type: 'news',
      articles: articles.map((a) => ({
        title: nonEmpty(a?.title, 'article title'),
        ...optional('description', a.description),
        ...optional('picUrl', a.picUrl),
        ...optional('url', a.url),
      })),
    };
  },
  transferCustomerService(kfAccount?: string): TransferCustomerServiceReply {
    return {
      type: 'transfer_customer_service',
      ...(kfAccount === undefined ? {} : { kfAccount: nonEmpty(kfAccount, 'kfAccount') }),
    };
  },
};

const REPLY_TYPES = new Set([
  'text',
  'image',
  'voice',
  'video',
  'music',
  'news',
  'transfer_customer_service',
]);

/** True when `value` is a {@link Reply} made by {@link reply} (or shaped like one). */
export function isReply(value: unknown): value is Reply {
  return (
    typeof value === 'object' &&
    value !== null &&
    REPLY_TYPES.has((value as { type?: unknown }).type as string)
  );
}
