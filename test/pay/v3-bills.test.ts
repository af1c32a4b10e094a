import { createHash } from 'node:crypto';
import { gunzipSync, gzipSync } from 'node:zlib';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { RunningEmulator } from '../../src/emulator/server.js';
import { PayloadError, WeChatKitError } from '../../src/errors.js';
import { type Bill, BillHashError, PayV3 } from '../../src/pay/index.js';
import {
  makeMerchant,
  type PayV3TestOptions,
  type SpyFetch,
  spyFetch,
  startLocalServer,
  startPayEmulator,
} from './helpers.js';

/**
 * Bills end to end against the emulator: `tradeBill` / `fundFlowBill` (verified answers), then the
 * signed download of the file. `hash_value` is the SHA1 of the bill itself — of the decompressed
 * bill when `tar_type=GZIP` ("原始账单(gzip需要解压缩)的摘要值", 申请交易账单).
 */

const M = makeMerchant('1900000301', 'public-key');
const APPID = 'wx1234567890abcdef';
const sha1 = (bytes: Uint8Array) => createHash('sha1').update(bytes).digest('hex');

let emulator: RunningEmulator;
let notify: Awaited<ReturnType<typeof startLocalServer>>;
let spy: SpyFetch;
let pay: PayV3;
let platformKey: { id: string; key: string };
/** The China-time day of the paid order, whose bill the tests ask for. */
let billDate: string;

beforeEach(async () => {
  notify = await startLocalServer(() => ({ status: 204 }));
  let platform: Awaited<ReturnType<typeof startPayEmulator>>['platform'];
  // Real-time delays (retryTimeScale 1): the refund stays PROCESSING for 60 s of emulated time, so
  // every download of one test sees the same bill (at 60 ms it could settle between two downloads).
  ({ emulator, platform } = await startPayEmulator([M], { retryTimeScale: 1 }));
  platformKey = { id: platform.publicKey.id, key: platform.publicKey.pem };
  spy = spyFetch();
  pay = client({ fetch: spy.fetch });
  // The payment and the refund below must fall on one China-time day: if midnight (16:00 UTC) is
  // less than a minute away, move the emulated clock past it (within the ±300 s signature window).
  const { now } = (await (await fetch(`${emulator.url}/_emulator/clock`)).json()) as { now: number };
  if ((now + 8 * 3600) % 86_400 > 86_400 - 60) {
    await fetch(`${emulator.url}/_emulator/clock`, { method: 'POST', body: '{"advanceSeconds":120}' });
  }
  // One paid order of 1.00 yuan and a refund of 0.40 of it: both appear in the day's bills.
  await pay.transactions.jsapi({
    appid: APPID,
    description: '测试商品',
    out_trade_no: 'bill-order-0001',
    notify_url: `${notify.url}/notify`,
    amount: { total: 100, currency: 'CNY' },
    payer: { openid: 'oUserBill' },
  });
  const paid = await fetch(`${emulator.url}/_emulator/pay/transactions/bill-order-0001/succeed`, {
    method: 'POST',
    body: '{}',
  });
  const { transaction } = (await paid.json()) as { transaction: { success_time: string } };
  billDate = transaction.success_time.slice(0, 10);
  await pay.refunds.create({
    out_trade_no: 'bill-order-0001',
    out_refund_no: 'bill-refund-0001',
    amount: { refund: 40, total: 100, currency: 'CNY' },
  });
});

function client(extra: PayV3TestOptions = {}): PayV3 {
  return new PayV3({
    mchid: M.config.mchid,
    merchantSerialNo: M.config.merchantCertificateSerial,
    privateKey: M.privateKey,
    apiV3Key: M.config.apiV3Key,
    platform: { publicKey: platformKey },
    baseUrl: emulator.url,
    ...extra,
  });
}

afterEach(async () => {
  await emulator?.close();
  await notify?.close();
});

/** Replaces the next bill file the client downloads. */
function rewriteFile(change: (served: Uint8Array) => Uint8Array): void {
  spy.rewrite = (path, answer) =>
    path === '/v3/billdownload/file' ? { ...answer, body: change(answer.body) } : undefined;
}

/** Captures the bill file exactly as the emulator served it. */
function captureFile(): { served: Uint8Array | undefined } {
  const seen: { served: Uint8Array | undefined } = { served: undefined };
  rewriteFile((served) => {
    seen.served = served;
    return served;
  });
  return seen;
}

describe('bills.download against the emulator', () => {
  it('downloads a plain trade bill whose SHA1 is hash_value, in the official layout', async () => {
    const bill = await pay.bills.tradeBill({ bill_date: billDate, bill_type: 'ALL' });
    expect(bill.hash_type).toBe('SHA1');
    const bytes = await pay.bills.download(bill);
    expect(sha1(bytes)).toBe(bill.hash_value.toLowerCase());
    const lines = new TextDecoder().decode(bytes).trimEnd().split('\n');
    expect(lines[0]).toMatch(/^交易时间,公众账号ID,商户号,/);
    expect(lines).toHaveLength(5); // header, the payment, the refund, summary header, summary
    expect(lines[1]).toContain('`bill-order-0001');
    expect(lines[1]).toContain('`1.00');
    expect(lines[2]).toContain('`bill-refund-0001');
    expect(lines[3]).toMatch(/^总交易单数,/);
    expect(lines[4]).toBe('`2,`1.00,`0.40,`0.00,`0.00000,`1.00,`0.40');
  });

  it('checks a GZIP trade bill against the SHA1 of the decompressed bill and answers the bill itself', async () => {
    const seen = captureFile();
    const plain = await pay.bills.download(await pay.bills.tradeBill({ bill_date: billDate }));
    const bill = await pay.bills.tradeBill({ bill_date: billDate, tar_type: 'GZIP' });
    // Regression: the digest was taken over the gzip bytes, so every GZIP bill failed its check.
    const bytes = await pay.bills.download(bill);
    expect(Buffer.from(bytes).equals(Buffer.from(plain))).toBe(true);
    // What was served really is gzip, and hash_value is not its SHA1.
    const served = seen.served as Uint8Array;
    expect([served[0], served[1]]).toEqual([0x1f, 0x8b]);
    expect(sha1(served)).not.toBe(bill.hash_value.toLowerCase());
    expect(sha1(gunzipSync(served))).toBe(bill.hash_value.toLowerCase());
  });

  it('checks a GZIP fund-flow bill the same way', async () => {
    const bill = await pay.bills.fundFlowBill({
      bill_date: billDate,
      account_type: 'BASIC',
      tar_type: 'GZIP',
    });
    const text = new TextDecoder().decode(await pay.bills.download(bill));
    const lines = text.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^记账时间,微信支付业务单号,资金流水单号,/);
    expect(lines.at(-2)).toBe('资金流水总笔数,收入笔数,收入金额,支出笔数,支出金额');
    expect(lines.at(-1)).toBe('`2,`1,`1.00,`1,`0.40');
  });

  it('refuses a tampered GZIP bill with BillHashError: re-compressed altered content, or damaged bytes', async () => {
    const bill = await pay.bills.tradeBill({ bill_date: billDate, tar_type: 'GZIP' });
    const altered = (served: Uint8Array) =>
      gzipSync(Buffer.from(gunzipSync(served).toString('utf8').replace('`1.00', '`9.00'), 'utf8'));
    rewriteFile(altered);
    const error = await pay.bills.download(bill).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(BillHashError);
    expect((error as BillHashError).expected).toBe(bill.hash_value);
    expect((error as BillHashError).actual).toMatch(/^[0-9a-f]{40}$/);

    const again = await pay.bills.tradeBill({ bill_date: billDate, tar_type: 'GZIP' });
    rewriteFile((served) => {
      const damaged = Buffer.from(served);
      damaged[damaged.length - 6] = (damaged[damaged.length - 6] ?? 0) ^ 0xff; // inside the CRC32 trailer
      return damaged;
    });
    const damaged = await pay.bills.download(again).catch((e: unknown) => e);
    expect(damaged).toBeInstanceOf(BillHashError);
    expect((damaged as BillHashError).actual).toBe('');
    expect((damaged as BillHashError).message).toMatch(/does not decompress/);
  });

  it('stops decompressing past maxBytes (a zip bomb) with PAYLOAD_TOO_LARGE', async () => {
    const bill = await pay.bills.tradeBill({ bill_date: billDate, tar_type: 'GZIP' });
    // 16 MiB of zeros gzip to about 16 KiB.
    const bomb = gzipSync(Buffer.alloc(16 * 1024 * 1024));
    expect(bomb.byteLength).toBeLessThan(64 * 1024);
    rewriteFile(() => bomb);
    const error = await pay.bills.download(bill, { maxBytes: 1024 * 1024 }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(PayloadError);
    expect((error as PayloadError).code).toBe('PAYLOAD_TOO_LARGE');
    expect((error as PayloadError).message).toMatch(/maxBytes \(1048576 bytes\)/);

    // A plain bill over the bound is refused the same way; within it, it is served.
    spy.rewrite = undefined;
    const plain = await pay.bills.tradeBill({ bill_date: billDate });
    await expect(pay.bills.download(plain, { maxBytes: 10 })).rejects.toMatchObject({
      code: 'PAYLOAD_TOO_LARGE',
    });
    expect((await pay.bills.download(plain, { maxBytes: 64 * 1024 })).byteLength).toBeGreaterThan(10);
    await expect(pay.bills.download(plain, { maxBytes: 0 })).rejects.toBeInstanceOf(WeChatKitError);
  });

  it('reports an expired download link as the signed error it is', async () => {
    const bill: Bill = await pay.bills.tradeBill({ bill_date: billDate });
    await fetch(`${emulator.url}/_emulator/clock`, { method: 'POST', body: '{"advanceSeconds":301}' });
    // The client signs with its own clock: step it along with the emulator's.
    const late = client({ now: () => Date.now() + 301_000 });
    await expect(late.bills.download(bill)).rejects.toMatchObject({
      payCode: 'INVALID_REQUEST',
      status: 400,
    });
  });
});

/** Reads a stream to its end: every chunk it delivered, and the error it ended with, if any. */
async function drain(stream: ReadableStream<Uint8Array>): Promise<{ bytes: Buffer; error: unknown }> {
  const chunks: Uint8Array[] = [];
  const reader = stream.getReader();
  try {
    for (let next = await reader.read(); !next.done; next = await reader.read()) chunks.push(next.value);
    return { bytes: Buffer.concat(chunks), error: undefined };
  } catch (error) {
    return { bytes: Buffer.concat(chunks), error };
  }
}

describe('bills.downloadStream against the emulator', () => {
  it('streams a plain and a GZIP bill as the bill itself, identical to download()', async () => {
    const plainBill = await pay.bills.tradeBill({ bill_date: billDate });
    const whole = await pay.bills.download(plainBill);
    const { data, response } = await pay.bills.downloadStream(plainBill).withResponse();
    expect(response.status).toBe(200);
    const plain = await drain(data);
    expect(plain.error).toBeUndefined();
    expect(plain.bytes.equals(Buffer.from(whole))).toBe(true);

    const seen = captureFile();
    const gzipBill = await pay.bills.tradeBill({ bill_date: billDate, tar_type: 'GZIP' });
    const gzip = await drain(await pay.bills.downloadStream(gzipBill));
    expect(gzip.error).toBeUndefined();
    expect(gzip.bytes.equals(Buffer.from(whole))).toBe(true);
    expect([seen.served?.[0], seen.served?.[1]]).toEqual([0x1f, 0x8b]);
    expect(sha1(gzip.bytes)).toBe(gzipBill.hash_value.toLowerCase());
  });

  it('errors the stream with BillHashError at its end when the bill was altered (plain or GZIP)', async () => {
    const plainBill = await pay.bills.tradeBill({ bill_date: billDate });
    rewriteFile((served) =>
      Buffer.from(Buffer.from(served).toString('utf8').replace('`1.00', '`9.00'), 'utf8'),
    );
    const plain = await drain(await pay.bills.downloadStream(plainBill));
    expect(plain.error).toBeInstanceOf(BillHashError);
    expect((plain.error as BillHashError).expected).toBe(plainBill.hash_value);
    // The altered bytes did pass through before the end: that is why they may not be trusted before it.
    expect(plain.bytes.toString('utf8')).toContain('`9.00');

    const gzipBill = await pay.bills.tradeBill({ bill_date: billDate, tar_type: 'GZIP' });
    rewriteFile((served) =>
      gzipSync(Buffer.from(gunzipSync(served).toString('utf8').replace('`1.00', '`9.00'), 'utf8')),
    );
    const gzip = await drain(await pay.bills.downloadStream(gzipBill));
    expect(gzip.error).toBeInstanceOf(BillHashError);
    expect((gzip.error as BillHashError).actual).toMatch(/^[0-9a-f]{40}$/);

    const again = await pay.bills.tradeBill({ bill_date: billDate, tar_type: 'GZIP' });
    rewriteFile((served) => Buffer.from(served).subarray(0, served.byteLength - 8)); // truncated
    const truncated = await drain(await pay.bills.downloadStream(again));
    expect(truncated.error).toBeInstanceOf(BillHashError);
    expect((truncated.error as Error).message).toMatch(/does not decompress/);
  });

  it('errors the stream past maxBytes, and rejects a signed error answer before any stream', async () => {
    const gzipBill = await pay.bills.tradeBill({ bill_date: billDate, tar_type: 'GZIP' });
    rewriteFile(() => gzipSync(Buffer.alloc(16 * 1024 * 1024)));
    const bomb = await drain(await pay.bills.downloadStream(gzipBill, { maxBytes: 1024 * 1024 }));
    expect(bomb.error).toBeInstanceOf(PayloadError);
    expect(bomb.error).toMatchObject({ code: 'PAYLOAD_TOO_LARGE' });
    expect(bomb.bytes.byteLength).toBeLessThanOrEqual(1024 * 1024);

    spy.rewrite = undefined;
    const bill = await pay.bills.tradeBill({ bill_date: billDate });
    await fetch(`${emulator.url}/_emulator/clock`, { method: 'POST', body: '{"advanceSeconds":301}' });
    const late = client({ now: () => Date.now() + 301_000 });
    await expect(late.bills.downloadStream(bill)).rejects.toMatchObject({
      payCode: 'INVALID_REQUEST',
      status: 400,
    });
  });
});
