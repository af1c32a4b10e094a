import { createPublicKey, verify } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { loadPrivateKey } from '../../src/crypto/keys.js';
import {
  buildAppPayParams,
  buildAuthorization,
  buildJsapiPayParams,
  jsapiPaySign,
  PayV3Signer,
  payV3SignatureMessage,
  verifyPayV3Signature,
} from '../../src/crypto/pay-v3.js';
import { at, expectCode, fixedRandom } from '../helpers.js';
import { fx, MCHID, MERCHANT_SERIAL } from './pay-v3-fixture.js';

const K = fx.keys;
const goPublic = createPublicKey(K.goPublicSpki);
const rsaVerify = (message: string, signature: string) =>
  verify('sha256', Buffer.from(message), goPublic, Buffer.from(signature, 'base64'));

function authorizationFor(
  v: (typeof fx)['SELF-REQ-GET-CERTS'],
  privateKey: string | ReturnType<typeof loadPrivateKey>,
) {
  return buildAuthorization({
    method: v.method,
    url: v.url,
    body: v.body,
    timestamp: v.timestamp,
    nonce: v.nonce,
    mchid: MCHID,
    serialNo: MERCHANT_SERIAL,
    privateKey,
  });
}

describe('payV3SignatureMessage', () => {
  it('is METHOD\\nURL\\nTS\\nNONCE\\nBODY\\n, so a GET ends in \\n\\n', () => {
    for (const name of ['SELF-REQ-GET-CERTS', 'SELF-REQ-POST-JSAPI', 'SELF-REQ-GET-QUERY'] as const) {
      const v = fx[name];
      expect(payV3SignatureMessage(v.method, v.url, v.timestamp, v.nonce, v.body)).toBe(v.message);
    }
    expect(payV3SignatureMessage('GET', '/v3/certificates', 1554208460, 'N')).toBe(
      'GET\n/v3/certificates\n1554208460\nN\n\n',
    );
  });

  it('uppercases the method and keeps the query string exactly as given', () => {
    expect(payV3SignatureMessage('get', '/v3/x?b=2&a=%E4%B8%AD', '1', 'N', '')).toBe(
      'GET\n/v3/x?b=2&a=%E4%B8%AD\n1\nN\n\n',
    );
  });
});

describe('buildAuthorization', () => {
  it('reproduces the known-answer Authorization headers (wechatpay-go test key)', () => {
    const v = fx['SELF-REQ-GET-CERTS'];
    expect(authorizationFor(v, K.goKeyPkcs8)).toBe(v.authorization);
    for (const name of ['SELF-REQ-POST-JSAPI', 'SELF-REQ-GET-QUERY'] as const) {
      const w = fx[name];
      expect(authorizationFor({ ...w, authorization: '' }, K.goKeyPkcs8)).toContain(
        `signature="${w.signature}"`,
      );
    }
  });

  it('puts the fields in the order mchid, nonce_str, signature, timestamp, serial_no', () => {
    const header = authorizationFor(fx['SELF-REQ-GET-CERTS'], K.goKeyPkcs8);
    expect(header).toMatch(
      /^WECHATPAY2-SHA256-RSA2048 mchid="[^"]+",nonce_str="[^"]+",signature="[A-Za-z0-9+/=]+",timestamp="\d+",serial_no="[^"]+"$/,
    );
  });

  it('gives identical signatures for the PKCS#1 and PKCS#8 forms of a key, and for a KeyObject', () => {
    const v = fx['SELF-REQ-POST-JSAPI'];
    const fromPkcs8 = authorizationFor({ ...v, authorization: '' }, K.goKeyPkcs8);
    expect(authorizationFor({ ...v, authorization: '' }, K.goKeyPkcs1)).toBe(fromPkcs8);
    expect(authorizationFor({ ...v, authorization: '' }, loadPrivateKey(K.goKeyPkcs1))).toBe(fromPkcs8);
  });

  it('defaults the nonce to 32 uppercase hex characters from the random source and the timestamp to the clock', () => {
    const header = buildAuthorization({
      method: 'GET',
      url: '/v3/certificates',
      mchid: MCHID,
      serialNo: MERCHANT_SERIAL,
      privateKey: K.goKeyPkcs8,
      now: at(1554208460.9),
      random: fixedRandom(0xab),
    });
    expect(header).toContain(`nonce_str="${'AB'.repeat(16)}"`);
    expect(header).toContain('timestamp="1554208460"');
    const signature = /signature="([^"]+)"/.exec(header)?.[1] ?? '';
    expect(rsaVerify(`GET\n/v3/certificates\n1554208460\n${'AB'.repeat(16)}\n\n`, signature)).toBe(true);
  });

  it('signs a Uint8Array body as its bytes', () => {
    const body = fx['SELF-REQ-POST-JSAPI'].body;
    const base = { ...fx['SELF-REQ-POST-JSAPI'], authorization: '' };
    expect(authorizationFor({ ...base, body }, K.goKeyPkcs8)).toBe(
      buildAuthorization({
        method: 'POST',
        url: base.url,
        body: new TextEncoder().encode(body),
        timestamp: base.timestamp,
        nonce: base.nonce,
        mchid: MCHID,
        serialNo: MERCHANT_SERIAL,
        privateKey: K.goKeyPkcs8,
      }),
    );
  });

  it('refuses an absolute URL, a millisecond timestamp and fields that would corrupt the message', () => {
    const base = { method: 'GET', mchid: MCHID, serialNo: MERCHANT_SERIAL, privateKey: K.goKeyPkcs8 };
    expect(
      expectCode(
        () => buildAuthorization({ ...base, url: 'https://api.mch.weixin.qq.com/v3/certificates' }),
        'INVALID_ARGUMENT',
      ).message,
    ).toContain('without scheme and host');
    expect(
      expectCode(
        () => buildAuthorization({ ...base, url: '/v3/certificates', timestamp: Date.now() }),
        'INVALID_ARGUMENT',
      ).message,
    ).toContain('milliseconds');
    expectCode(
      () => buildAuthorization({ ...base, url: '/v3/certificates', nonce: 'a\nb' }),
      'INVALID_ARGUMENT',
    );
    expectCode(
      () => buildAuthorization({ ...base, url: '/v3/certificates', mchid: '1"2' }),
      'INVALID_ARGUMENT',
    );
    expectCode(() => buildAuthorization({ ...base, url: 'v3/certificates' }), 'INVALID_ARGUMENT');
  });

  it('refuses a wrong key with BAD_KEY before signing', () => {
    expectCode(() => authorizationFor(fx['SELF-REQ-GET-CERTS'], K.goCert), 'BAD_KEY');
  });
});

describe('PayV3Signer', () => {
  const signer = new PayV3Signer({ mchid: MCHID, serialNo: MERCHANT_SERIAL, privateKey: K.goKeyPkcs8 });

  it('signs an arbitrary message like wechatpay-go (GO-SIGN-SOURCE)', () => {
    const v = fx['GO-SIGN-SOURCE'];
    expect(signer.sign(v.message)).toBe(v.signature);
  });

  it('builds the same Authorization as buildAuthorization', () => {
    const v = fx['SELF-REQ-GET-CERTS'];
    expect(
      signer.authorization({ method: v.method, url: v.url, timestamp: v.timestamp, nonce: v.nonce }),
    ).toBe(v.authorization);
  });

  it('fails at construction on a wrong key or an unknown option', () => {
    expectCode(
      () => new PayV3Signer({ mchid: MCHID, serialNo: MERCHANT_SERIAL, privateKey: K.goPublicSpki }),
      'BAD_KEY',
    );
    expectCode(
      () =>
        new PayV3Signer({
          mchid: MCHID,
          serialNo: MERCHANT_SERIAL,
          privateKey: K.goKeyPkcs8,
          apiV3Key: 'x',
        } as never),
      'INVALID_CONFIG',
    );
  });

  it('round-trips: a response signed with the key verifies with its certificate', () => {
    const body = '{"code_url":"weixin://wxpay/bizpayurl?pr=p4lpSuKzz"}';
    const signature = signer.sign(`1554209980\nnonce\n${body}\n`);
    verifyPayV3Signature({
      timestamp: '1554209980',
      nonce: 'nonce',
      body,
      signature,
      certificate: K.goCert,
      now: at(1554209980),
    });
  });
});

describe('JSAPI and APP pay parameters', () => {
  const v = fx['SELF-JSAPI-PAYSIGN'];

  it('jsapiPaySign signs appId\\ntimeStamp\\nnonceStr\\npackage\\n (known answer)', () => {
    const input = { appId: v.appId, timeStamp: v.timeStamp, nonceStr: v.nonceStr, package: v.package };
    expect(jsapiPaySign({ ...input, privateKey: K.goKeyPkcs8 })).toBe(v.paySign);
    expect(jsapiPaySign({ ...input, privateKey: K.goKeyPkcs1 })).toBe(v.paySign);
    expect(rsaVerify(v.message, v.paySign)).toBe(true);
  });

  it('buildJsapiPayParams returns what wx.requestPayment needs', () => {
    const params = buildJsapiPayParams({
      appId: v.appId,
      prepayId: v.package.slice('prepay_id='.length),
      privateKey: K.goKeyPkcs8,
      timeStamp: v.timeStamp,
      nonceStr: v.nonceStr,
    });
    expect(params).toEqual({
      appId: v.appId,
      timeStamp: v.timeStamp,
      nonceStr: v.nonceStr,
      package: v.package,
      signType: 'RSA',
      paySign: v.paySign,
    });
  });

  it('buildJsapiPayParams defaults timeStamp to the clock (seconds, as a string) and nonceStr to 32 hex', () => {
    const params = buildJsapiPayParams({
      appId: v.appId,
      prepayId: 'wx201410272009395522657a690389285100',
      privateKey: K.goKeyPkcs8,
      now: at(1414561699),
      random: fixedRandom(1),
    });
    expect(params.timeStamp).toBe('1414561699');
    expect(params.nonceStr).toBe('01'.repeat(16));
    expect(rsaVerify(`${v.appId}\n1414561699\n${'01'.repeat(16)}\n${v.package}\n`, params.paySign)).toBe(
      true,
    );
  });

  it('refuses a prepayId that already carries "prepay_id="', () => {
    expectCode(
      () => buildJsapiPayParams({ appId: v.appId, prepayId: v.package, privateKey: K.goKeyPkcs8 }),
      'INVALID_ARGUMENT',
    );
  });

  it('buildAppPayParams signs appid\\ntimestamp\\nnoncestr\\nprepayid\\n with the bare prepay id', () => {
    const params = buildAppPayParams({
      appId: 'wxd678efh567hg6787',
      partnerId: '1900000109',
      prepayId: 'WX1217752501201407033233368018',
      privateKey: K.goKeyPkcs8,
      timestamp: 1554208460,
      nonceStr: '5K8264ILTKCH16CQ2502SI8ZNMTM67VS',
    });
    expect(params).toMatchObject({
      appid: 'wxd678efh567hg6787',
      partnerid: '1900000109',
      prepayid: 'WX1217752501201407033233368018',
      package: 'Sign=WXPay',
      noncestr: '5K8264ILTKCH16CQ2502SI8ZNMTM67VS',
      timestamp: '1554208460',
    });
    expect(
      rsaVerify(
        'wxd678efh567hg6787\n1554208460\n5K8264ILTKCH16CQ2502SI8ZNMTM67VS\nWX1217752501201407033233368018\n',
        params.sign,
      ),
    ).toBe(true);
  });
});
