import { createHash, generateKeyPairSync, randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SignatureError, TransportError } from '../../src/errors.js';
import { BillHashError, PayApiError, type PayV3 } from '../../src/pay/index.js';
import {
  authorizationVerifies,
  type LocalHandler,
  localPayClient,
  makeLocalPlatform,
  type PayV3TestOptions,
  type Received,
  startLocalServer,
} from './helpers.js';

/**
 * Bills, App/H5 orders, media upload and gateway answers are not served by the emulator: a tiny
 * node:http server signs its answers with node:crypto instead.
 */

const platform = makeLocalPlatform();
const merchant = generateKeyPairSync('rsa', { modulusLength: 2048 });
const MCHID = '1900000201';
const BILL = Buffer.from('交易时间,公众账号ID,商户号\n`2026-01-01 10:00:00,`wx123,`1900000201\n', 'utf8');
const BILL_SHA1 = createHash('sha1').update(BILL).digest('hex').toUpperCase();

let server: Awaited<ReturnType<typeof startLocalServer>>;
let route: LocalHandler;

const signed = (status: number, body?: object) => platform.answer(status, body);

beforeAll(async () => {
  server = await startLocalServer((req) => route(req));
});
afterAll(async () => {
  await server?.close();
});

function client(extra: PayV3TestOptions = {}): PayV3 {
  return localPayClient(
    { mchid: MCHID, merchantKey: merchant.privateKey, platform, baseUrl: server.url },
    extra,
  );
}

function lastRequest(): Received {
  return server.received[server.received.length - 1] as Received;
}

describe('bills', () => {
  const billAnswer = (hash: string) => ({
    download_url: `${server.url}/v3/billdownload/file?token=abc123`,
    hash_type: 'SHA1',
    hash_value: hash,
  });

  it('gets a trade bill and downloads it, checking the SHA1 of the bytes', async () => {
    route = (req) => {
      if (req.url.startsWith('/v3/bill/tradebill')) return signed(200, billAnswer(BILL_SHA1));
      if (req.url.startsWith('/v3/billdownload/file')) return { status: 200, body: BILL };
      return signed(404, { code: 'NOT_FOUND', message: 'x' });
    };
    const pay = client();
    const bill = await pay.bills.tradeBill({ bill_date: '2026-01-01', bill_type: 'ALL' });
    expect(lastRequest().url).toBe('/v3/bill/tradebill?bill_date=2026-01-01&bill_type=ALL');
    const bytes = await pay.bills.download(bill);
    expect(Buffer.from(bytes).equals(BILL)).toBe(true);
    // The download itself is a signed request over the path and query.
    const req = lastRequest();
    expect(
      authorizationVerifies(
        req.headers.authorization as string,
        'GET',
        '/v3/billdownload/file?token=abc123',
        '',
        merchant.publicKey,
      ),
    ).toBe(true);
  });

  it('refuses a downloaded bill whose SHA1 does not match hash_value', async () => {
    route = (req) => {
      if (req.url.startsWith('/v3/bill/fundflowbill')) return signed(200, billAnswer('0'.repeat(40)));
      return { status: 200, body: BILL };
    };
    const pay = client();
    const bill = await pay.bills.fundFlowBill({ bill_date: '2026-01-01' });
    const error = await pay.bills.download(bill).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(BillHashError);
    expect((error as BillHashError).actual).toBe(BILL_SHA1.toLowerCase());
  });

  it('refuses a tampered bill answer before its download_url is used', async () => {
    route = () => {
      const answer = signed(200, billAnswer(BILL_SHA1));
      return { ...answer, body: JSON.stringify(billAnswer(createHash('sha1').update('evil').digest('hex'))) };
    };
    await expect(client().bills.tradeBill({ bill_date: '2026-01-01' })).rejects.toBeInstanceOf(
      SignatureError,
    );
  });

  it('will not send a signed request to a download_url on another host', async () => {
    const pay = client();
    await expect(
      pay.bills.download({
        download_url: 'https://evil.example/v3/billdownload/file',
        hash_type: 'SHA1',
        hash_value: BILL_SHA1,
      }),
    ).rejects.toThrow(/refusing to send a signed request elsewhere/);
  });

  it('verifies a download error answer and reports it as PayApiError', async () => {
    route = () => signed(400, { code: 'INVALID_REQUEST', message: 'token expired' });
    const error = await client()
      .bills.download({
        download_url: `${server.url}/v3/billdownload/file?token=old`,
        hash_type: 'SHA1',
        hash_value: BILL_SHA1,
      })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(PayApiError);
    expect((error as PayApiError).payCode).toBe('INVALID_REQUEST');
  });
});

describe('App and H5 orders, media upload', () => {
  it('creates App and H5 orders with mchid filled in and builds App pay params', async () => {
    route = (req) => {
      const body = JSON.parse(req.body.toString('utf8')) as { mchid: string };
      expect(body.mchid).toBe(MCHID);
      if (req.url === '/v3/pay/transactions/app')
        return signed(200, { prepay_id: 'wx201410272009395522657a690389285100' });
      return signed(200, { h5_url: 'https://wx.tenpay.com/cgi-bin/mmpayweb-bin/checkmweb?prepay_id=wx1' });
    };
    const pay = client();
    const base = {
      appid: 'wx1',
      description: 'd',
      out_trade_no: 'app-000001',
      notify_url: 'https://m.example/n',
      amount: { total: 1 },
    };
    const { prepay_id } = await pay.transactions.app(base);
    const params = await pay.appPayParams({ appid: 'wx1', prepay_id });
    expect(params).toMatchObject({ partnerid: MCHID, prepayid: prepay_id, package: 'Sign=WXPay' });
    const { h5_url } = await pay.transactions.h5({
      ...base,
      scene_info: { payer_client_ip: '1.2.3.4', h5_info: { type: 'Wap' } },
    });
    expect(h5_url).toMatch(/^https:/);
  });

  it('uploads an image as multipart with the meta JSON as the signed body', async () => {
    const image = randomBytes(64);
    route = () => signed(200, { media_id: 'H1ihR9JUtVj-J7CJqBUY5ZOrG_Je75H-rKhYeUmhqoRHU5hqQ0' });
    const { media_id } = await client().media.uploadImage({ filename: 'a.png', data: image });
    expect(media_id).toMatch(/^H1/);
    const req = lastRequest();
    const meta = JSON.stringify({
      filename: 'a.png',
      sha256: createHash('sha256').update(image).digest('hex'),
    });
    expect(req.headers['content-type']).toMatch(/^multipart\/form-data; boundary=/);
    expect(req.body.includes(Buffer.from(meta))).toBe(true);
    expect(req.body.includes(image)).toBe(true);
    expect(
      authorizationVerifies(
        req.headers.authorization as string,
        'POST',
        '/v3/merchant/media/upload',
        meta,
        merchant.publicKey,
      ),
    ).toBe(true);
  });

  it('sends Wechatpay-Serial with a request carrying encrypted fields', async () => {
    route = () => signed(204);
    const pay = client();
    const name = await pay.encryptSensitive('张三');
    await pay.request('POST', '/v3/some/api', {
      body: { name: name.ciphertext },
      wechatpaySerial: name.serial,
    });
    expect(lastRequest().headers['wechatpay-serial']).toBe(platform.id);
    expect(lastRequest().headers.accept).toBe('application/json');
    expect(lastRequest().headers['user-agent']).toBe('weixin-kit');
  });
});

describe('answers without a valid signature', () => {
  it('verifies a 204 too: an unsigned 204 is refused', async () => {
    route = () => ({ status: 204 });
    await expect(client().transactions.close({ out_trade_no: 'close-000001' })).rejects.toBeInstanceOf(
      SignatureError,
    );
  });

  it('treats an unsigned gateway 502 as a transient HTTP error without reading its body, and retries it', async () => {
    let n = 0;
    route = () =>
      ++n === 1 ? { status: 502, body: '{"trade_state":"SUCCESS"}' } : signed(200, { trade_state: 'NOTPAY' });
    const pay = client();
    await expect(pay.transactions.getByOutTradeNo({ out_trade_no: 'gw-000001' })).resolves.toMatchObject({
      trade_state: 'NOTPAY',
    });
    route = () => ({ status: 502, body: 'bad gateway' });
    const error = await client({ retries: 0 })
      .transactions.getByOutTradeNo({ out_trade_no: 'gw-000002' })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TransportError);
    expect((error as TransportError).status).toBe(502);
  });

  it('refuses an unsigned 200 with a body', async () => {
    route = () => ({
      status: 200,
      body: '{"trade_state":"SUCCESS"}',
      headers: { 'content-type': 'application/json' },
    });
    await expect(
      client().transactions.getByOutTradeNo({ out_trade_no: 'unsigned-1' }),
    ).rejects.toBeInstanceOf(SignatureError);
  });

  it('retries a signed 429 on a query, but not a signed 400', async () => {
    let n = 0;
    route = () =>
      ++n === 1
        ? signed(429, { code: 'FREQUENCY_LIMITED', message: '频率超限' })
        : signed(200, { trade_state: 'NOTPAY' });
    await expect(client().transactions.getByOutTradeNo({ out_trade_no: 'rl-000001' })).resolves.toMatchObject(
      {
        trade_state: 'NOTPAY',
      },
    );
    n = 0;
    route = () =>
      ++n === 1 ? signed(400, { code: 'PARAM_ERROR', message: 'x' }) : signed(200, { trade_state: 'NOTPAY' });
    await expect(client().transactions.getByOutTradeNo({ out_trade_no: 'rl-000002' })).rejects.toMatchObject({
      status: 400,
    });
    expect(n).toBe(1);
  });
});
