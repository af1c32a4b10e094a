/**
 * Pay v3 through the client: a signed request answered by the emulator in-process and verified
 * before it is parsed, and notifications opened by the notification handler — each beside a raw
 * node:crypto baseline doing the same job in the same run.
 */
import { createDecipheriv, generateKeyPairSync, randomBytes, sign, verify } from 'node:crypto';
import type { DedupeStore } from '../src/callbacks/index.js';
import { compareAsync, type ScenarioResult } from './harness.js';

// Measured as shipped: the built package (`npm run bench` builds it first), not the sources as tsx
// transpiles them (which wraps every closure in a naming helper). Typed from the sources.
const dist = (entry: string): string => new URL(`../dist/${entry}`, import.meta.url).href;
const { createPayNotificationHandler, PayV3 } = (await import(
  dist('index.js')
)) as typeof import('../src/index.js');
const { encryptResource, PayV3Verifier } = (await import(
  dist('crypto/index.js')
)) as typeof import('../src/crypto/index.js');
const { createEmulator } = (await import(
  dist('emulator/index.js')
)) as typeof import('../src/emulator/index.js');

/**
 * The body of the bench's `TRANSACTION.SUCCESS` notification, its resource encrypted with
 * `apiV3Key` (also what `npm run bench:profile` hands to bench/fixtures/pay-notify-loop.mjs).
 */
export function notificationBody(apiV3Key: string, mchid: string, outTradeNo: string): string {
  const plaintext = JSON.stringify({
    mchid,
    out_trade_no: outTradeNo,
    transaction_id: '4200000000000000000000000001',
    trade_state: 'SUCCESS',
    amount: { total: 1, payer_total: 1, currency: 'CNY' },
  });
  const resource = encryptResource({ apiV3Key, plaintext, associatedData: 'transaction' });
  return JSON.stringify({
    id: 'EV-bench',
    create_time: '2026-11-25T12:00:00+08:00',
    resource_type: 'encrypt-resource',
    event_type: 'TRANSACTION.SUCCESS',
    summary: '支付成功',
    resource: { original_type: 'transaction', ...resource },
  });
}

export async function payScenarios(): Promise<{ results: ScenarioResult[]; notes: Record<string, string> }> {
  const merchant = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const mchid = '1900000109';
  const serial = '5157F09EFDC096DE15EBE81A47057A7232F1B8E1';
  const apiV3Key = 'benchApiV3Key0123456789abcdefABC';
  const emulator = createEmulator({
    apps: [],
    merchants: [
      {
        mchid,
        apiV3Key,
        merchantCertificateSerial: serial,
        merchantPublicKeyPem: merchant.publicKey.export({ type: 'spki', format: 'pem' }).toString(),
        verifyMode: 'public-key',
      },
    ],
  });
  const platform = emulator.state.platform.publicKey;
  const base = 'http://emulator';
  const pay = new PayV3({
    mchid,
    merchantSerialNo: serial,
    privateKey: merchant.privateKey,
    apiV3Key,
    platform: { publicKey: { id: platform.id, key: platform.publicKey } },
    baseUrl: base,
    fetch: emulator.fetch,
  });
  const outTradeNo = 'bench0000000001';
  await pay.transactions.native({
    appid: 'wxd678efh567hg6787',
    description: 'bench',
    out_trade_no: outTradeNo,
    notify_url: 'https://example.com/notify',
    amount: { total: 1, currency: 'CNY' },
  });

  const results: ScenarioResult[] = [];
  const notes: Record<string, string> = {};
  const path = `/v3/pay/transactions/out-trade-no/${outTradeNo}?mchid=${mchid}`;
  const baseline = async () => {
    const ts = String(Math.floor(Date.now() / 1000));
    const nonce = randomBytes(16).toString('hex').toUpperCase();
    const signature = sign(
      'sha256',
      Buffer.from(`GET\n${path}\n${ts}\n${nonce}\n\n`),
      merchant.privateKey,
    ).toString('base64');
    const response = await emulator.fetch(`${base}${path}`, {
      headers: {
        authorization: `WECHATPAY2-SHA256-RSA2048 mchid="${mchid}",nonce_str="${nonce}",signature="${signature}",timestamp="${ts}",serial_no="${serial}"`,
        accept: 'application/json',
      },
    });
    const body = await response.text();
    const h = response.headers;
    const ok = verify(
      'sha256',
      Buffer.from(`${h.get('wechatpay-timestamp')}\n${h.get('wechatpay-nonce')}\n${body}\n`),
      platform.publicKey,
      Buffer.from(h.get('wechatpay-signature') ?? '', 'base64'),
    );
    if (!ok) throw new Error('baseline verification failed');
    return JSON.parse(body);
  };
  results.push(
    await compareAsync(
      'pay.v3.client',
      () => pay.transactions.getByOutTradeNo({ out_trade_no: outTradeNo }),
      baseline,
      // ~1 ms a call (two RSA signatures): a 300 ms round is ~300 calls, whose ratio swings by ±10 %
      // on this VM; more rounds for a steadier median.
      { rounds: Math.max(9, Number(process.env.BENCH_ROUNDS ?? 5)) },
    ),
  );
  notes['pay.v3.client'] = 'sign + emulator.fetch + verify + JSON.parse by hand (same emulator)';

  // Notifications: the same signed notification, opened again and again. The bench's dedupe store
  // never reports a duplicate: a real one would turn every delivery after the first into the
  // duplicate shortcut, and time that instead of a real notification.
  const body = notificationBody(apiV3Key, mchid, outTradeNo);
  const never: DedupeStore = { claim: async () => true };
  const handler = createPayNotificationHandler({
    apiV3Key,
    verifier: new PayV3Verifier({ publicKey: { id: platform.id, key: platform.publicKey } }),
    dedupe: never,
  }).on('TRANSACTION.SUCCESS', () => {});
  const keyBytes = Buffer.from(apiV3Key);
  const request = () => {
    const ts = String(Math.floor(Date.now() / 1000));
    const nonce = 'c5ac7061fccab6bf3e254dcf98995b8c';
    const signature = sign('sha256', Buffer.from(`${ts}\n${nonce}\n${body}\n`), platform.privateKey).toString(
      'base64',
    );
    return { ts, nonce, signature };
  };
  const signed = request();
  const headers = {
    'wechatpay-timestamp': signed.ts,
    'wechatpay-nonce': signed.nonce,
    'wechatpay-signature': signed.signature,
    'wechatpay-serial': platform.id,
  };
  const candidate = async () => {
    const answer = await handler.handle({ method: 'POST', url: '/pay/notify', headers, rawBody: body });
    if (answer.status !== 204) throw new Error(`handler answered ${answer.status}`);
  };
  const rawOpen = async () => {
    if (Math.abs(Number(signed.ts) - Date.now() / 1000) > 300) throw new Error('stale');
    const ok = verify(
      'sha256',
      Buffer.from(`${signed.ts}\n${signed.nonce}\n${body}\n`),
      platform.publicKey,
      Buffer.from(signed.signature, 'base64'),
    );
    if (!ok) throw new Error('bad signature');
    const r = JSON.parse(body).resource;
    const data = Buffer.from(r.ciphertext, 'base64');
    const d = createDecipheriv('aes-256-gcm', keyBytes, Buffer.from(r.nonce));
    d.setAAD(Buffer.from(r.associated_data));
    d.setAuthTag(data.subarray(data.length - 16));
    return JSON.parse(
      Buffer.concat([d.update(data.subarray(0, data.length - 16)), d.final()]).toString('utf8'),
    );
  };
  await candidate();
  results.push(await compareAsync('pay.v3.notificationHandler', candidate, rawOpen));
  notes['pay.v3.notificationHandler'] = 'verify + JSON.parse + AES-256-GCM + JSON.parse by hand';
  emulator.close();
  return { results, notes };
}
