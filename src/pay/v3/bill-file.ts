import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import { PayloadError, WeChatKitError } from '../../errors.js';
import { BillHashError } from './errors.js';

/**
 * Checking a downloaded bill file against the `hash_value` of its (verified) bill answer. The
 * official docs define `hash_value` as the digest of the original bill — "原始账单(gzip需要解压缩)的摘要值"
 * (申请交易账单 / 申请资金账单) — so a GZIP bill (`tar_type=GZIP`) is decompressed first, as a
 * stream with a size bound, and the digest is taken over the decompressed bytes.
 */

/** Default largest bill accepted, after decompression: 256 MiB. */
export const DEFAULT_MAX_BILL_BYTES = 256 * 1024 * 1024;

/** True for the gzip magic number (RFC 1952: 1f 8b); a bill file itself is CSV text. */
function isGzip(bytes: Uint8Array): boolean {
  return bytes.byteLength >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b;
}

function tooLarge(maxBytes: number): PayloadError {
  return new PayloadError(
    'PAYLOAD_TOO_LARGE',
    `the bill is larger than maxBytes (${maxBytes} bytes) once decompressed; download stopped. If your bills really are this large, raise maxBytes in bills.download(bill, { maxBytes })`,
  );
}

/**
 * The bill's content — decompressed when the file is GZIP (the download answer may also have
 * been decompressed by the HTTP layer already) — once its SHA1 matches `expected`. Throws
 * `BillHashError` on a mismatch or an undecodable GZIP file, `PayloadError('PAYLOAD_TOO_LARGE')`
 * past `maxBytes`.
 */
export async function checkedBill(
  file: Uint8Array,
  hash: { type: string; expected: string },
  maxBytes: number,
): Promise<Uint8Array> {
  const chunks: Uint8Array[] = [];
  let total = 0;
  for await (const chunk of verifiedBill(once(file), hash, maxBytes)) {
    chunks.push(chunk);
    total += chunk.byteLength;
  }
  return chunks.length === 1 && chunks[0] === file ? file : Buffer.concat(chunks, total);
}

async function* once(bytes: Uint8Array): AsyncGenerator<Uint8Array> {
  yield bytes;
}

/**
 * The bill's content, chunk by chunk, as `file` arrives — decompressed when it is GZIP — with the
 * SHA1 taken along the way and compared at the end: a mismatch, or a GZIP file that does not
 * decompress, throws `BillHashError` after the last chunk, so nothing read from it may be trusted
 * before the end. Past `maxBytes` (decompressed) it throws `PayloadError('PAYLOAD_TOO_LARGE')` and
 * stops reading. A failure of `file` itself (network, timeout, abort) is thrown as it is.
 */
export async function* verifiedBill(
  file: AsyncIterable<Uint8Array>,
  hash: { type: string; expected: string },
  maxBytes: number,
): AsyncGenerator<Uint8Array> {
  const source = file[Symbol.asyncIterator]();
  // The first two bytes tell a GZIP file from a CSV bill; they may come in separate chunks.
  const head: Uint8Array[] = [];
  let headBytes = 0;
  let ended = false;
  while (headBytes < 2) {
    const next = await source.next();
    if (next.done === true) {
      ended = true;
      break;
    }
    head.push(next.value);
    headBytes += next.value.byteLength;
  }
  const first = head.length === 1 ? head[0] : Buffer.concat(head, headBytes);
  const digest = createHash('sha1');
  let total = 0;
  const take = (chunk: Uint8Array): Uint8Array => {
    total += chunk.byteLength;
    if (total > maxBytes) throw tooLarge(maxBytes);
    digest.update(chunk);
    return chunk;
  };
  const rest = async function* (): AsyncGenerator<Uint8Array> {
    if (first !== undefined && first.byteLength > 0) yield first;
    if (ended) return;
    for (let next = await source.next(); next.done !== true; next = await source.next()) yield next.value;
  };

  try {
    if (first === undefined || !isGzip(first)) {
      for await (const chunk of rest()) yield take(chunk);
    } else {
      yield* gunzipped(rest(), take, hash);
    }
  } finally {
    // Stopping early (a consumer's cancel, a bound) releases the download; not awaited, as a read
    // may still be pending on it.
    source.return?.()?.catch(() => undefined);
  }
  const actual = digest.digest('hex');
  if (actual.toLowerCase() !== hash.expected.toLowerCase()) {
    throw new BillHashError(hash.type, hash.expected, actual);
  }
}

/** The decompressed chunks of a GZIP file, each passed through `take` (size bound and digest). */
async function* gunzipped(
  file: AsyncGenerator<Uint8Array>,
  take: (chunk: Uint8Array) => Uint8Array,
  hash: { type: string; expected: string },
): AsyncGenerator<Uint8Array> {
  // A failure of the download is told apart from a corrupt GZIP stream: only the latter is a hash error.
  let sourceFailed = false;
  let sourceError: unknown;
  const tracked = async function* (): AsyncGenerator<Uint8Array> {
    try {
      yield* file;
    } catch (error) {
      sourceFailed = true;
      sourceError = error;
      throw error;
    }
  };
  const gunzip = createGunzip();
  pipeline(Readable.from(tracked()), gunzip).catch(() => undefined);
  try {
    // Read chunk by chunk: past the bound the stream is destroyed, so a small file that inflates
    // enormously (a zip bomb) never gets decompressed further.
    for await (const chunk of gunzip as AsyncIterable<Buffer>) yield take(chunk);
  } catch (error) {
    if (sourceFailed) throw sourceError;
    if (error instanceof WeChatKitError) throw error;
    throw new BillHashError(hash.type, hash.expected, '', { cause: error });
  } finally {
    gunzip.destroy();
  }
}

/**
 * A Web `ReadableStream` of `chunks`: cancelling it stops the generator (and so the download).
 */
export function streamOf(chunks: AsyncGenerator<Uint8Array>): ReadableStream<Uint8Array> {
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      try {
        const next = await chunks.next();
        if (next.done === true) controller.close();
        else controller.enqueue(next.value);
      } catch (error) {
        controller.error(error);
      }
    },
    async cancel() {
      await chunks.return(undefined);
    },
  });
}
