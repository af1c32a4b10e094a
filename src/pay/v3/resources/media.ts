import { createHash } from 'node:crypto';
import { APIPromise } from '../../../core/api-promise.js';
import { type RequestOptions, responseMeta } from '../../../core/request-options.js';
import { ArgumentError } from '../../../errors.js';
import { parseVerifiedJson } from '../answer.js';
import type { SignedExchange } from '../signed-exchange.js';
import type { MediaFile } from '../types.js';
import { field } from './arguments.js';

const IMAGE_TYPES: Record<string, string> = {
  jpg: 'image/jpeg',
  jpeg: 'image/jpeg',
  png: 'image/png',
  bmp: 'image/bmp',
};

/**
 * Merchant media (`/v3/merchant/media/upload`): images for the APIs that take a `media_id`
 * (complaints, merchant onboarding). WeChat Pay offers no download of these.
 *
 * @example
 * const { media_id } = await pay.media.uploadImage({ filename: 'receipt.png', data: png });
 */
export class PayMedia {
  readonly #exchange: SignedExchange;

  /** @internal Built by `PayV3`. */
  constructor(exchange: SignedExchange) {
    this.#exchange = exchange;
  }

  /**
   * `POST /v3/merchant/media/upload`: multipart `meta` (`{filename, sha256}`, the signed body) +
   * `file`. Never retried after a network error (an upload is not de-duplicated) unless
   * `idempotent: true`.
   *
   * @example
   * const { media_id } = await pay.media.uploadImage({ filename: 'a.png', data: readFileSync('a.png') });
   */
  uploadImage(params: MediaFile, options: RequestOptions = {}): APIPromise<{ media_id: string }> {
    return APIPromise.from(async () => {
      const file = params;
      if (typeof file !== 'object' || file === null || !(file.data instanceof Uint8Array)) {
        throw new ArgumentError('file must be { filename, data: Uint8Array }');
      }
      const filename = field('file.filename', file.filename);
      const ext = /\.([A-Za-z0-9]+)$/.exec(filename)?.[1]?.toLowerCase() ?? '';
      const contentType = file.contentType ?? IMAGE_TYPES[ext];
      if (contentType === undefined) {
        throw new ArgumentError('file.filename must end in .jpg, .jpeg, .png or .bmp (or pass contentType)');
      }
      const sha256 = createHash('sha256').update(file.data).digest('hex');
      const meta = JSON.stringify({ filename, sha256 });
      const form = new FormData();
      form.append('meta', new Blob([meta], { type: 'application/json' }));
      form.append('file', new Blob([new Uint8Array(file.data)], { type: contentType }), filename);
      const url = this.#exchange.url('/v3/merchant/media/upload');
      const answer = await this.#exchange.send(
        'POST',
        url,
        {
          body: form,
          signedBody: meta,
          headers: options.headers,
          signal: options.signal,
          timeoutMs: options.timeoutMs,
        },
        { idempotent: options.idempotent ?? false, retries: options.retries },
      );
      return {
        data: parseVerifiedJson(answer, 'POST', url.pathname) as { media_id: string },
        response: responseMeta(answer.status, answer.headers),
      };
    });
  }
}
