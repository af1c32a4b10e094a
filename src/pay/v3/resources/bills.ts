import { APIPromise } from '../../../core/api-promise.js';
import { type RequestOptions, responseMeta } from '../../../core/request-options.js';
import { ArgumentError } from '../../../errors.js';
import { checkedBill, DEFAULT_MAX_BILL_BYTES, streamOf, verifiedBill } from '../bill-file.js';
import type { SignedExchange } from '../signed-exchange.js';
import type { Bill, FundFlowBillQuery, TradeBillQuery } from '../types.js';
import { field, paramsObject } from './arguments.js';

/** Options of `bills.download` and `bills.downloadStream`. */
export interface BillDownloadOptions extends RequestOptions {
  /**
   * Largest bill accepted, in bytes once decompressed (default 256 MiB). A GZIP bill is
   * decompressed as a stream and abandoned past it, so a small file that inflates enormously cannot
   * exhaust memory.
   */
  maxBytes?: number | undefined;
}

/**
 * Trade and fund-flow bills: ask for a bill (a verified answer with its download link and SHA1),
 * then download the file — whole, or as a stream — checked against that SHA1.
 *
 * @example
 * const bill = await pay.bills.tradeBill({ bill_date: '2026-01-01', tar_type: 'GZIP' });
 * const csv = new TextDecoder().decode(await pay.bills.download(bill));
 */
export class PayBills {
  readonly #exchange: SignedExchange;

  /** @internal Built by `PayV3`. */
  constructor(exchange: SignedExchange) {
    this.#exchange = exchange;
  }

  /**
   * `GET /v3/bill/tradebill`.
   *
   * @example
   * const bill = await pay.bills.tradeBill({ bill_date: '2026-01-01', bill_type: 'ALL' });
   */
  tradeBill(params: TradeBillQuery, options?: RequestOptions): APIPromise<Bill> {
    return this.#exchange.call(
      'GET',
      '/v3/bill/tradebill',
      () => ({ ...options, query: { ...paramsObject('params', params) } }),
      true,
    );
  }

  /**
   * `GET /v3/bill/fundflowbill`.
   *
   * @example
   * const bill = await pay.bills.fundFlowBill({ bill_date: '2026-01-01', account_type: 'BASIC' });
   */
  fundFlowBill(params: FundFlowBillQuery, options?: RequestOptions): APIPromise<Bill> {
    return this.#exchange.call(
      'GET',
      '/v3/bill/fundflowbill',
      () => ({ ...options, query: { ...paramsObject('params', params) } }),
      true,
    );
  }

  /**
   * Downloads a bill file (a signed request to `download_url`) and answers the bill itself,
   * checked against the bill's `hash_value`. A GZIP bill (`tar_type: 'GZIP'`) is decompressed
   * first — as a stream, stopped past `maxBytes` (`PayloadError` `PAYLOAD_TOO_LARGE`) — since
   * `hash_value` is the SHA1 of the decompressed bill; a mismatch, or a GZIP file that does not
   * decompress, throws `BillHashError`. The file itself is not signed by WeChat Pay: the digest,
   * from a verified answer, is what authenticates it. For large bills see {@link downloadStream}.
   *
   * @example
   * const bill = await pay.bills.tradeBill({ bill_date: '2026-01-01', tar_type: 'GZIP' });
   * const csv = new TextDecoder().decode(await pay.bills.download(bill));
   */
  download(bill: Bill, options: BillDownloadOptions = {}): APIPromise<Uint8Array> {
    return APIPromise.from(async () => {
      const { url, hash, maxBytes } = this.#target(bill, options);
      // The file answer is not signed by WeChat Pay; its error answers are, and are verified.
      const answer = await this.#exchange.send(
        'GET',
        url,
        { accept: '*/*', headers: options.headers, signal: options.signal, timeoutMs: options.timeoutMs },
        { idempotent: options.idempotent ?? true, retries: options.retries },
        false,
      );
      return {
        data: await checkedBill(answer.bytes, hash, maxBytes),
        response: responseMeta(answer.status, answer.headers),
      };
    });
  }

  /**
   * Downloads a bill file as a stream of the bill itself (decompressed when GZIP), without holding
   * it in memory. The promise resolves once the download has started; the stream then hashes what
   * passes through and, at its end, compares the SHA1 with `hash_value`: on a mismatch, or a GZIP
   * file that does not decompress, **the stream errors with `BillHashError` after the last chunk**.
   * So nothing read from it may be trusted — imported, summed, acted on — before the stream has
   * ended without error: write it to a temporary place and commit only then. Past `maxBytes` it
   * errors with `PayloadError('PAYLOAD_TOO_LARGE')`. `timeoutMs` bounds the wait for the headers
   * and then each wait for the next chunk (not the whole transfer); `signal` aborts it.
   * Cancelling the stream stops the download.
   *
   * @example
   * const bill = await pay.bills.tradeBill({ bill_date: '2026-01-01', tar_type: 'GZIP' });
   * const stream = await pay.bills.downloadStream(bill);
   * await pipeline(Readable.fromWeb(stream), createWriteStream('bill.csv.part')); // throws BillHashError
   * await rename('bill.csv.part', 'bill.csv'); // only once the whole bill checked out
   */
  downloadStream(bill: Bill, options: BillDownloadOptions = {}): APIPromise<ReadableStream<Uint8Array>> {
    return APIPromise.from(async () => {
      const { url, hash, maxBytes } = this.#target(bill, options);
      const answer = await this.#exchange.stream(
        url,
        { accept: '*/*', headers: options.headers, signal: options.signal, timeoutMs: options.timeoutMs },
        { idempotent: options.idempotent ?? true, retries: options.retries },
      );
      const chunks = answer.stream ?? noChunks();
      return {
        data: streamOf(verifiedBill(chunks, hash, maxBytes)),
        response: responseMeta(answer.status, answer.headers),
      };
    });
  }

  /** Checks a bill answer and the download options; the URL must be on the configured host. */
  #target(
    bill: Bill,
    options: BillDownloadOptions,
  ): { url: URL; hash: { type: string; expected: string }; maxBytes: number } {
    const maxBytes = options.maxBytes ?? DEFAULT_MAX_BILL_BYTES;
    if (typeof maxBytes !== 'number' || !Number.isSafeInteger(maxBytes) || maxBytes <= 0) {
      throw new ArgumentError('maxBytes must be a whole number of bytes above 0');
    }
    if (typeof bill !== 'object' || bill === null) {
      throw new ArgumentError('bill must be the answer of bills.tradeBill() or bills.fundFlowBill()');
    }
    const link = field('bill.download_url', bill.download_url);
    const expected = field('bill.hash_value', bill.hash_value);
    let url: URL;
    try {
      url = new URL(link);
    } catch {
      throw new ArgumentError('bill.download_url is not an absolute URL');
    }
    // The signed request goes only where the client is configured to talk.
    const origin = this.#exchange.baseUrl.origin;
    if (url.origin !== origin) {
      throw new ArgumentError(
        `bill.download_url points at ${url.origin}, not at ${origin}: refusing to send a signed request elsewhere`,
      );
    }
    const hashType = (bill.hash_type ?? 'SHA1').toUpperCase();
    if (hashType !== 'SHA1') {
      throw new ArgumentError(
        `bill.hash_type ${JSON.stringify(bill.hash_type)} is not supported (WeChat Pay uses SHA1)`,
      );
    }
    return { url, hash: { type: hashType, expected }, maxBytes };
  }
}

async function* noChunks(): AsyncGenerator<Uint8Array> {}
