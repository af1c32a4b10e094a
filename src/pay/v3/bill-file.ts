import { createHash } from 'node:crypto';
import { createGunzip } from 'node:zlib';
import { PayloadError } from '../../core/errors.js';
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
  const digest = createHash('sha1');
  let content: Uint8Array;
  if (!isGzip(file)) {
    if (file.byteLength > maxBytes) throw tooLarge(maxBytes);
    digest.update(file);
    content = file;
  } else {
    const chunks: Buffer[] = [];
    let total = 0;
    const gunzip = createGunzip();
    gunzip.end(Buffer.from(file.buffer, file.byteOffset, file.byteLength));
    try {
      // Read chunk by chunk: past the bound the stream is destroyed, so a small file that
      // inflates enormously (a zip bomb) never gets decompressed further.
      for await (const chunk of gunzip as AsyncIterable<Buffer>) {
        total += chunk.byteLength;
        if (total > maxBytes) throw tooLarge(maxBytes);
        digest.update(chunk);
        chunks.push(chunk);
      }
    } catch (error) {
      if (error instanceof PayloadError) throw error;
      throw new BillHashError(hash.type, hash.expected, '', { cause: error });
    } finally {
      gunzip.destroy();
    }
    content = Buffer.concat(chunks, total);
  }
  const actual = digest.digest('hex');
  if (actual.toLowerCase() !== hash.expected.toLowerCase()) {
    throw new BillHashError(hash.type, hash.expected, actual);
  }
  return content;
}
