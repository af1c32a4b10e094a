import { describe, expect, it } from 'vitest';
import { openNotification, PayV3Verifier } from '../../src/crypto/pay-v3.js';
import { PayloadError, type SignatureError } from '../../src/errors.js';
import { at, expectCode } from '../helpers.js';
import { API_V3_KEY, fx, gcmEncrypt, notificationBody, signedHeaders } from './pay-v3-fixture.js';

const K = fx.keys;
const N = fx['SELF-NOTIFY'];
const NOW = at(1554209980);
const PUB_KEY_ID = 'PUB_KEY_ID_0119000091912024010100000001';
const opened = { headers: N.headers, body: N.body, apiV3Key: N.apiv3_key, certificate: K.goCert, now: NOW };

/** A correctly signed notification around `resource` (signed in public-key mode with the Go test key). */
function signedNotification(resource: Record<string, unknown>) {
  const body = notificationBody(resource);
  return { headers: signedHeaders(body, { serial: PUB_KEY_ID }), body, now: at(1718000000) };
}

describe('openNotification', () => {
  it('verifies, parses and decrypts the known-answer notification', () => {
    const n = openNotification<{ out_trade_no: string; trade_state: string }>(opened);
    expect(n.plaintext).toBe(N.plaintext);
    expect(n.resource?.out_trade_no).toBe('1217752501201407033233368018');
    expect(n.resource?.trade_state).toBe('SUCCESS');
    expect(n).toMatchObject({
      id: 'EV-2018022511223320873',
      event_type: 'TRANSACTION.SUCCESS',
      resource_type: 'encrypt-resource',
      summary: '支付成功',
      create_time: '2015-05-20T13:29:35+08:00',
    });
    expect(n.notification.resource.associated_data).toBe('transaction');
  });

  it('accepts the body as bytes and the headers as Fetch Headers', () => {
    const n = openNotification({
      ...opened,
      body: new TextEncoder().encode(N.body),
      headers: new Headers(N.headers),
    });
    expect(n.plaintext).toBe(N.plaintext);
  });

  it('works with a PayV3Verifier trusting both a public key and the certificate', () => {
    const verifier = new PayV3Verifier({
      publicKey: { id: PUB_KEY_ID, key: K.platformCert },
      certificates: [K.goCert],
    });
    expect(
      openNotification({ headers: N.headers, body: N.body, apiV3Key: N.apiv3_key, verifier, now: NOW })
        .plaintext,
    ).toBe(N.plaintext);
  });

  it('refuses a re-serialised body (official vector) and says to pass the raw bytes', () => {
    const pretty = JSON.stringify(JSON.parse(N.body), null, 2);
    const error = expectCode(() => openNotification({ ...opened, body: pretty }), 'SIGNATURE_MISMATCH');
    expect(error.message).toMatch(/raw bytes/);
  });

  it('verifies before parsing: an unsigned non-JSON body is a signature failure, a signed one BAD_BODY', () => {
    expectCode(() => openNotification({ ...opened, body: 'not json' }), 'SIGNATURE_MISMATCH');
    const body = 'refund_status=SUCCESS';
    const error = expectCode(
      () =>
        openNotification({
          headers: signedHeaders(body, { serial: PUB_KEY_ID }),
          body,
          apiV3Key: API_V3_KEY,
          publicKey: K.goPublicSpki,
          now: at(1718000000),
        }),
      'BAD_BODY',
    );
    expect(error).toBeInstanceOf(PayloadError);
  });

  it('refuses probes, stale timestamps and unknown serials before decrypting anything', () => {
    const probe = expectCode(
      () =>
        openNotification({
          ...opened,
          headers: {
            ...N.headers,
            'Wechatpay-Signature': `WECHATPAY/SIGNTEST/${N.headers['Wechatpay-Signature']}`,
          },
          apiV3Key: 'wrong key that would fail later',
        }),
      'SIGNATURE_MISMATCH',
    );
    expect((probe as SignatureError).probe).toBe(true);
    expectCode(() => openNotification({ ...opened, now: at(1554209980 + 301) }), 'TIMESTAMP_EXPIRED');
    const verifier = new PayV3Verifier({ certificates: [K.platformCert] });
    const unknown = expectCode(
      () => openNotification({ headers: N.headers, body: N.body, apiV3Key: N.apiv3_key, verifier, now: NOW }),
      'SIGNATURE_MISMATCH',
    );
    expect(unknown.message).toContain('D7CE59D1F522D701');
  });

  it('refuses the wrong APIv3 key after verification with DECRYPT_FAILED', () => {
    expectCode(() => openNotification({ ...opened, apiV3Key: `b${N.apiv3_key.slice(1)}` }), 'DECRYPT_FAILED');
  });

  it('refuses the wechatpay-go notification: its signature verifies, its 16-byte key does not', () => {
    const g = fx['GO-NOTIFY'];
    expectCode(
      () =>
        openNotification({
          headers: g.headers,
          body: g.body,
          apiV3Key: g.apiv3_key,
          certificate: K.goCert,
          now: at(1624523846),
        }),
      'BAD_KEY',
    );
    expectCode(
      () =>
        openNotification({
          headers: g.headers,
          body: g.body,
          apiV3Key: g.apiv3_key,
          certificate: K.goCert,
          now: at(1624523846 + 301),
        }),
      'TIMESTAMP_EXPIRED',
    );
  });

  it('refuses a signed notification whose tag was flipped, or whose algorithm is not AEAD_AES_256_GCM', () => {
    const ciphertext = gcmEncrypt(API_V3_KEY, 'gj3CdRYLaUmw', '{"refund_status":"SUCCESS"}', 'refund');
    const resource = {
      original_type: 'refund',
      algorithm: 'AEAD_AES_256_GCM',
      ciphertext,
      associated_data: 'refund',
      nonce: 'gj3CdRYLaUmw',
    };
    const good = signedNotification(resource);
    expect(openNotification({ ...good, apiV3Key: API_V3_KEY, publicKey: K.goPublicSpki }).resource).toEqual({
      refund_status: 'SUCCESS',
    });
    const bytes = Buffer.from(ciphertext, 'base64');
    bytes[bytes.length - 1] = (bytes[bytes.length - 1] ?? 0) ^ 1;
    const flipped = signedNotification({ ...resource, ciphertext: bytes.toString('base64') });
    expectCode(
      () => openNotification({ ...flipped, apiV3Key: API_V3_KEY, publicKey: K.goPublicSpki }),
      'DECRYPT_FAILED',
    );
    const aes128 = signedNotification({ ...resource, algorithm: 'AEAD_AES_128_GCM' });
    expectCode(
      () => openNotification({ ...aes128, apiV3Key: API_V3_KEY, publicKey: K.goPublicSpki }),
      'UNSUPPORTED_ALGORITHM',
    );
    const { algorithm: _, ...noAlgorithm } = resource;
    expectCode(
      () =>
        openNotification({
          ...signedNotification(noAlgorithm),
          apiV3Key: API_V3_KEY,
          publicKey: K.goPublicSpki,
        }),
      'UNSUPPORTED_ALGORITHM',
    );
  });

  it('uses an absent associated_data as empty and leaves resource undefined for non-JSON plaintext', () => {
    const ciphertext = gcmEncrypt(API_V3_KEY, 'Kj7QIyUiYx1q', 'plain text', '');
    const n = openNotification({
      ...signedNotification({ algorithm: 'AEAD_AES_256_GCM', ciphertext, nonce: 'Kj7QIyUiYx1q' }),
      apiV3Key: API_V3_KEY,
      publicKey: K.goPublicSpki,
    });
    expect(n.plaintext).toBe('plain text');
    expect(n.resource).toBeUndefined();
  });

  it('refuses a signed envelope without a resource with BAD_BODY', () => {
    const body = JSON.stringify({ id: 'EV-1', event_type: 'TRANSACTION.SUCCESS' });
    expectCode(
      () =>
        openNotification({
          headers: signedHeaders(body, { serial: PUB_KEY_ID }),
          body,
          apiV3Key: API_V3_KEY,
          publicKey: K.goPublicSpki,
          now: at(1718000000),
        }),
      'BAD_BODY',
    );
  });

  it('never opens a notification without a key to verify it', () => {
    expectCode(
      () => openNotification({ headers: N.headers, body: N.body, apiV3Key: N.apiv3_key, now: NOW }),
      'INVALID_ARGUMENT',
    );
  });
});
