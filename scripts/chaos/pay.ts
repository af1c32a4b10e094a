/** A merchant for the Pay scenarios: a fresh key pair, the emulator's entry and the client's options. */
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import type { EmulatorMerchantConfig } from '../../src/emulator/index.js';
import { PayV3 } from '../../src/index.js';
import type { Control } from './env.js';

export interface Merchant {
  mchid: string;
  apiV3Key: string;
  merchantSerialNo: string;
  privateKeyPem: string;
  /** The entry of the emulator's `merchants`. */
  emulator: EmulatorMerchantConfig;
}

export function newMerchant(): Merchant {
  const keys = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const mchid = '1900000109';
  const apiV3Key = randomBytes(16).toString('hex');
  const merchantSerialNo = randomBytes(20).toString('hex').toUpperCase();
  return {
    mchid,
    apiV3Key,
    merchantSerialNo,
    privateKeyPem: keys.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    emulator: {
      mchid,
      apiV3Key,
      merchantCertificateSerial: merchantSerialNo,
      merchantPublicKeyPem: keys.publicKey.export({ type: 'spki', format: 'pem' }).toString(),
      verifyMode: 'public-key',
    },
  };
}

/** The WeChat Pay public key the emulator signs with (what the merchant platform shows). */
export async function platformKey(control: Control): Promise<{ id: string; key: string }> {
  const { publicKey } = await control.get<{ publicKey: { id: string; pem: string } }>(
    '/_emulator/pay/platform',
  );
  return { id: publicKey.id, key: publicKey.pem };
}

export function payClient(
  merchant: Merchant,
  baseUrl: string,
  platform: { id: string; key: string },
  now?: () => number,
): PayV3 {
  return new PayV3({
    mchid: merchant.mchid,
    merchantSerialNo: merchant.merchantSerialNo,
    privateKey: merchant.privateKeyPem,
    apiV3Key: merchant.apiV3Key,
    platform: { publicKey: platform },
    baseUrl,
    ...(now === undefined ? {} : { now }),
  });
}

/** Creates a JSAPI order notifying `notifyUrl`. */
export async function order(pay: PayV3, appId: string, outTradeNo: string, notifyUrl: string): Promise<void> {
  await pay.transactions.jsapi({
    appid: appId,
    description: 'chaos order',
    out_trade_no: outTradeNo,
    notify_url: notifyUrl,
    amount: { total: 1, currency: 'CNY' },
    payer: { openid: 'oChaosPayer0000000000000001' },
  });
}
