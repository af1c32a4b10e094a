// Issue 10: large downloads as streams. `oa.media.stream` hands over WeChat's body as it arrives,
// over real HTTP to the emulator; an errcode answer still throws before any stream is handed out.
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RunningEmulator, startEmulator } from '../../src/emulator/index.js';
import { WeChatApiError } from '../../src/errors.js';
import { OfficialAccount } from '../../src/official-account/index.js';

const OA = { appId: 'wxdadbdcdddedfe0e1', secret: 'oa-secret-stream', kind: 'official-account' as const };

let emulator: RunningEmulator;
let oa: OfficialAccount;
beforeAll(async () => {
  emulator = await startEmulator({ config: { apps: [OA], merchants: [] } });
  oa = new OfficialAccount({ appId: OA.appId, secret: OA.secret, baseUrl: emulator.url });
});
afterAll(() => emulator.close());

/** A JPEG-looking file of `size` random bytes. */
const jpeg = (size: number) => {
  const data = randomBytes(size);
  data.set([0xff, 0xd8, 0xff, 0xe0]);
  return new Uint8Array(data);
};

async function readAll(stream: ReadableStream<Uint8Array>): Promise<{ bytes: Buffer; chunks: number }> {
  const parts: Uint8Array[] = [];
  const reader = stream.getReader();
  for (let read = await reader.read(); !read.done; read = await reader.read()) parts.push(read.value);
  return { bytes: Buffer.concat(parts), chunks: parts.length };
}

describe('oa.media.stream', () => {
  it('streams a 4 MB file in chunks, with the same bytes as the whole download', async () => {
    const data = jpeg(4 * 1024 * 1024);
    const { media_id } = await oa.media.upload({
      type: 'image',
      media: { data, filename: 'big.jpg', contentType: 'image/jpeg' },
    });
    const { data: stream, response } = await oa.media.stream({ media_id }).withResponse();
    expect(stream).toBeInstanceOf(ReadableStream);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('image/jpeg');
    const { bytes, chunks } = await readAll(stream as ReadableStream<Uint8Array>);
    expect(chunks).toBeGreaterThan(1);
    expect(bytes.equals(Buffer.from(data))).toBe(true);
    const whole = await oa.media.get({ media_id });
    expect(Buffer.from(whole as Uint8Array).equals(bytes)).toBe(true);
  });

  it('rejects an errcode answer with a typed error, not a stream of the error', async () => {
    const error = await oa.media.stream({ media_id: 'no-such-media' }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(WeChatApiError);
    expect(error).toMatchObject({ errcode: 40007, code: 'API_ERROR' });
  });

  it('answers a video with its video_url, as media.get does', async () => {
    const { media_id } = await oa.media.upload({
      type: 'video',
      media: {
        data: new Uint8Array([0, 0, 0, 0x18, 0x66, 0x74, 0x79, 0x70]),
        filename: 'a.mp4',
        contentType: 'video/mp4',
      },
    });
    const streamed = await oa.media.stream({ media_id });
    expect(streamed).toEqual({ video_url: expect.stringContaining('/_emulator/media/') });
    expect(await oa.media.get({ media_id })).toEqual(streamed);
  });

  it('an abort during the download ends the stream with the caller’s reason', async () => {
    const { media_id } = await oa.media.upload({
      type: 'image',
      media: { data: jpeg(4 * 1024 * 1024), filename: 'big.jpg', contentType: 'image/jpeg' },
    });
    const controller = new AbortController();
    const stream = (await oa.media.stream(
      { media_id },
      { signal: controller.signal },
    )) as ReadableStream<Uint8Array>;
    const reader = stream.getReader();
    expect((await reader.read()).done).toBe(false);
    const reason = new Error('user left');
    controller.abort(reason);
    let outcome: unknown;
    try {
      for (;;) if ((await reader.read()).done) break;
    } catch (error) {
      outcome = error;
    }
    expect(outcome).toBe(reason);
  });
});
