import { createCipheriv, createPrivateKey, sign } from 'node:crypto';
import { readFileSync } from 'node:fs';

/**
 * Test material for the Pay v3 tests (test/fixtures/pay-v3.json): the public wechatpay-go test
 * key and certificate, a second test key with a high-bit-serial certificate, and the source
 * vectors copied from shared/conformance/sources. Helpers here use node:crypto directly, never
 * the code under test, so a test can build a signed notification independently.
 */

interface NotifyVector {
  source: string;
  headers: Record<string, string>;
  body: string;
  apiv3_key: string;
  plaintext: string;
}

export interface PayV3Fixture {
  keys: {
    goKeyPkcs8: string;
    goKeyPkcs1: string;
    goPublicSpki: string;
    goPublicPkcs1: string;
    goCert: string;
    goCertSerial: string;
    platformKeyPkcs8: string;
    platformCert: string;
    platformCertSerial: string;
    lowSerialCert: string;
    lowSerialCertSerial: string;
  };
  'GO-SIGN-SOURCE': { source: string; message: string; signature: string };
  'GO-NOTIFY': NotifyVector;
  'GO-AES-UTIL': AeadVector;
  'JAVA-AEAD': AeadVector;
  'JAVA-CERT-DOWNLOAD': AeadVector & { plaintext_pem: string; serial_no: string };
  'AXIOS-GCM': { key: string; iv: string; cases: { plaintext: string; aad: string; ciphertext: string }[] };
  'SELF-REQ-GET-CERTS': RequestVector & { authorization: string };
  'SELF-REQ-POST-JSAPI': RequestVector;
  'SELF-REQ-GET-QUERY': RequestVector;
  'SELF-JSAPI-PAYSIGN': {
    appId: string;
    timeStamp: string;
    nonceStr: string;
    package: string;
    message: string;
    paySign: string;
  };
  'SELF-RESP': ResponseVector;
  'SELF-RESP-204': ResponseVector;
  'SELF-NOTIFY': NotifyVector & { ciphertext_empty_aad: string };
  'SELF-OAEP': { plaintext: string; ciphertext: string };
}

interface AeadVector {
  key: string;
  nonce: string;
  associated_data: string;
  ciphertext: string;
  plaintext: string;
}

interface RequestVector {
  method: string;
  url: string;
  timestamp: string;
  nonce: string;
  body: string;
  message: string;
  signature: string;
  mchid?: string;
  serial_no?: string;
}

interface ResponseVector {
  timestamp: string;
  nonce: string;
  serial: string;
  body: string;
  message: string;
  signature: string;
}

export const fx: PayV3Fixture = JSON.parse(
  readFileSync(new URL('../fixtures/pay-v3.json', import.meta.url), 'utf8'),
);

/** The merchant id / serial used by the self-made request vectors. */
export const MCHID = '1900009191';
export const MERCHANT_SERIAL = '1DDE55AD98ED71D6EDD4A4A16996DE7B47773A8C';
export const API_V3_KEY = 'a7cde1ZJB1kG2e7VfTs3jQzaWizur8Gb';

/** SHA256withRSA with node:crypto only. */
export function rsaSign(privateKeyPem: string, message: string | Uint8Array): string {
  return sign(
    'sha256',
    typeof message === 'string' ? Buffer.from(message) : message,
    createPrivateKey(privateKeyPem),
  ).toString('base64');
}

/** AES-256-GCM as WeChat Pay does it, with node:crypto only. */
export function gcmEncrypt(key: string, nonce: string, plaintext: string, aad: string): string {
  const cipher = createCipheriv('aes-256-gcm', Buffer.from(key), Buffer.from(nonce));
  cipher.setAAD(Buffer.from(aad));
  const body = Buffer.concat([cipher.update(Buffer.from(plaintext)), cipher.final()]);
  return Buffer.concat([body, cipher.getAuthTag()]).toString('base64');
}

/** Headers of a notification signed with `privateKeyPem` over `ts\nnonce\nbody\n`. */
export function signedHeaders(
  body: string | Uint8Array,
  options: { privateKeyPem?: string; serial: string; timestamp?: string; nonce?: string },
): Record<string, string> {
  const timestamp = options.timestamp ?? '1718000000';
  const nonce = options.nonce ?? 'b9Ft3XQZ2kRw8LmN5pVh7JcYdE4sGaT1';
  const message = Buffer.concat([
    Buffer.from(`${timestamp}\n${nonce}\n`),
    Buffer.from(body),
    Buffer.from('\n'),
  ]);
  return {
    'Wechatpay-Timestamp': timestamp,
    'Wechatpay-Nonce': nonce,
    'Wechatpay-Serial': options.serial,
    'Wechatpay-Signature': rsaSign(options.privateKeyPem ?? fx.keys.goKeyPkcs8, message),
    'Wechatpay-Signature-Type': 'WECHATPAY2-SHA256-RSA2048',
  };
}

/** Builds a compact notification envelope like WeChat Pay's around an encrypted resource. */
export function notificationBody(
  resource: Record<string, unknown>,
  eventType = 'TRANSACTION.SUCCESS',
): string {
  return JSON.stringify({
    id: 'EV-2018022511223320873',
    create_time: '2015-05-20T13:29:35+08:00',
    resource_type: 'encrypt-resource',
    event_type: eventType,
    summary: '支付成功',
    resource,
  });
}
