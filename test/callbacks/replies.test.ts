import { describe, expect, it } from 'vitest';
import { createWeChatCallback, type Reply, reply } from '../../src/callbacks/index.js';
import { parseXml } from '../../src/crypto/index.js';
import { replyFields } from '../../src/internal/reply-fields.js';
import { APP_ID, clock, NOW, push, TOKEN, textMessage } from './fixtures.js';

const header = { to: 'oUser', from: 'gh_1', createTime: NOW };

async function plainReply(value: Reply): Promise<Record<string, unknown>> {
  const callback = createWeChatCallback({ appId: APP_ID, token: TOKEN, mode: 'plain', now: clock });
  callback.on('text', () => value);
  const res = await callback.handle(push({ mode: 'plain', fields: textMessage() }));
  expect(res.status).toBe(200);
  return parseXml(res.body);
}

describe('passive reply builders', () => {
  const swapped = {
    ToUserName: 'oUser000000000000000000000001',
    FromUserName: 'gh_0123456789ab',
    CreateTime: String(NOW),
  };

  it('writes image, voice and video replies in the wire layout', async () => {
    expect(await plainReply(reply.image('m1'))).toEqual({
      ...swapped,
      MsgType: 'image',
      Image: { MediaId: 'm1' },
    });
    expect(await plainReply(reply.voice('m2'))).toEqual({
      ...swapped,
      MsgType: 'voice',
      Voice: { MediaId: 'm2' },
    });
    expect(await plainReply(reply.video({ mediaId: 'm3', title: 't' }))).toEqual({
      ...swapped,
      MsgType: 'video',
      Video: { MediaId: 'm3', Title: 't' },
    });
  });

  it('writes a music reply', async () => {
    expect(
      await plainReply(
        reply.music({ thumbMediaId: 'th', title: 'song', musicUrl: 'http://m', hqMusicUrl: 'http://hq' }),
      ),
    ).toEqual({
      ...swapped,
      MsgType: 'music',
      Music: { Title: 'song', MusicUrl: 'http://m', HQMusicUrl: 'http://hq', ThumbMediaId: 'th' },
    });
  });

  it('writes news articles as repeated <item> elements with ArticleCount', async () => {
    const xml = await plainReply(
      reply.news([
        { title: 'a', description: 'd', picUrl: 'http://p', url: 'http://u' },
        { title: 'b', url: 'http://v' },
      ]),
    );
    expect(xml).toEqual({
      ...swapped,
      MsgType: 'news',
      ArticleCount: '2',
      Articles: {
        item: [
          { Title: 'a', Description: 'd', PicUrl: 'http://p', Url: 'http://u' },
          { Title: 'b', Url: 'http://v' },
        ],
      },
    });
    expect(replyFields(reply.news([{ title: 'x' }]), header, 'json').Articles).toEqual([{ Title: 'x' }]);
  });

  it('refuses a news reply with no article or more than 8', () => {
    expect(() => reply.news([])).toThrow('1 to 8 articles');
    expect(() => reply.news(Array.from({ length: 9 }, (_, i) => ({ title: `t${i}` })))).toThrow(
      '1 to 8 articles',
    );
  });

  it('transfers to customer service, optionally to one agent', async () => {
    expect(await plainReply(reply.transferCustomerService())).toEqual({
      ...swapped,
      MsgType: 'transfer_customer_service',
    });
    expect(await plainReply(reply.transferCustomerService('kf2001@gh_1'))).toEqual({
      ...swapped,
      MsgType: 'transfer_customer_service',
      TransInfo: { KfAccount: 'kf2001@gh_1' },
    });
  });

  it('keeps CDATA-breaking text intact', async () => {
    expect((await plainReply(reply.text('a]]>b<c>&'))).Content).toBe('a]]>b<c>&');
  });

  it('refuses empty media ids', () => {
    expect(() => reply.image('')).toThrow('mediaId');
  });
});
