import {
  constants,
  createCipheriv,
  createPrivateKey,
  generateKeyPairSync,
  type KeyObject,
  sign,
} from 'node:crypto';
import { readFileSync } from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadCertificate, loadPublicKey } from '../../src/crypto/keys.js';
import {
  decryptMpApiBody,
  encryptMpApiBody,
  mpApiSecurityAad,
  mpApiSignaturePayload,
  openMpApiRequest,
  openMpApiResponse,
  sealMpApiRequest,
  sealMpApiResponse,
  signMpApiPayload,
  verifyMpApiSignature,
} from '../../src/crypto/mp-api-security.js';
import { ConfigError, CryptoError, PayloadError, SignatureError } from '../../src/errors.js';
import { at, expectCode, loadVectors, type VectorCase } from '../helpers.js';

// The official worked example (getuserriskrank) of 服务端 API 签名加密指南; see the fixture's _comment.
interface MpsecFixture {
  appid: string;
  urlpath: string;
  sym_sn: string;
  sym_key: string;
  asym_sn: string;
  app_private_key_pem: string;
  app_public_key_pem: string;
  platform_cert_sn: string;
  platform_cert_pem: string;
  platform_cert_internal_serial: string;
  req_ts: string;
  req_plaintext: string;
  req_aad: string;
  req_body: string;
  req_sig_payload: string;
  req_signature: string;
  resp_ts: string;
  resp_body: string;
  resp_sig_payload: string;
  resp_signature: string;
  resp_aad: string;
  resp_plaintext: string;
}
const M = JSON.parse(
  readFileSync(new URL('../fixtures/mp-api-security.json', import.meta.url), 'utf8'),
) as MpsecFixture;

const REQ_TS = Number(M.req_ts);
const RESP_TS = Number(M.resp_ts);
const common = { urlpath: M.urlpath, appId: M.appid, symmetricKey: M.sym_key, symmetricSn: M.sym_sn };
const officialParams = (): { nonce: string; params: Record<string, unknown> } => {
  const {
    _n,
    _appid: _a,
    _timestamp: _t,
    ...params
  } = JSON.parse(M.req_plaintext) as Record<string, unknown>;
  return { nonce: String(_n), params };
};
const requestHeaders = {
  'Wechatmp-Appid': M.appid,
  'Wechatmp-TimeStamp': M.req_ts,
  'Wechatmp-Signature': M.req_signature,
  'Wechatmp-Serial': M.asym_sn,
};
const responseHeaders = {
  'Wechatmp-Appid': M.appid,
  'Wechatmp-TimeStamp': M.resp_ts,
  'Wechatmp-Signature': M.resp_signature,
  'Wechatmp-Serial': M.platform_cert_sn,
};
const openOfficialRequest = {
  ...common,
  publicKeys: { [M.asym_sn]: M.app_public_key_pem },
  headers: requestHeaders,
  body: M.req_body,
  now: at(REQ_TS + 5),
};
const openOfficialResponse = {
  ...common,
  platformCertificates: { [M.platform_cert_sn]: M.platform_cert_pem },
  headers: responseHeaders,
  body: M.resp_body,
  now: at(RESP_TS + 5),
};

const { platformCertificates: _pc, ...responseWithoutCertificates } = openOfficialResponse;
const { publicKeys: _pk, ...requestWithoutKeys } = openOfficialRequest;

/** Raw GCM with any AAD, to build ciphertexts the SDK itself would never produce. */
function rawEncrypt(plaintext: string, aad: string, iv = Buffer.alloc(12, 7)): string {
  const cipher = createCipheriv('aes-256-gcm', Buffer.from(M.sym_key, 'base64'), iv);
  cipher.setAAD(Buffer.from(aad, 'utf8'));
  const data = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
  return JSON.stringify({
    iv: iv.toString('base64'),
    data: data.toString('base64'),
    authtag: cipher.getAuthTag().toString('base64'),
  });
}

function pss(payload: string | Buffer, pem: string, saltLength = 32): string {
  return sign('sha256', Buffer.from(payload), {
    key: createPrivateKey(pem),
    padding: constants.RSA_PKCS1_PSS_PADDING,
    saltLength,
  }).toString('base64');
}

let platformNew: { privateKey: KeyObject; publicKey: KeyObject };
let platformOld: { privateKey: KeyObject; publicKey: KeyObject };
beforeAll(() => {
  platformNew = generateKeyPairSync('rsa', { modulusLength: 2048 });
  platformOld = generateKeyPairSync('rsa', { modulusLength: 2048 });
});

/** A response signed by a test "platform" key, for refusals that need a valid signature. */
function signedResponse(body: string, timestamp = RESP_TS, key?: KeyObject) {
  return {
    ...common,
    platformCertificates: { NEWSN: platformNew.publicKey },
    headers: {
      'Wechatmp-Appid': M.appid,
      'Wechatmp-TimeStamp': String(timestamp),
      'Wechatmp-Serial': 'NEWSN',
      'Wechatmp-Signature': signMpApiPayload({
        ...common,
        timestamp,
        body,
        privateKey: key ?? platformNew.privateKey,
      }),
    },
    body,
    now: at(timestamp + 5),
  };
}

describe('MP API security: the official getuserriskrank example', () => {
  it('builds the official AAD and signature payload (4 fields, no trailing newline)', () => {
    expect(mpApiSecurityAad({ ...common, timestamp: REQ_TS })).toBe(M.req_aad);
    expect(mpApiSecurityAad({ ...common, timestamp: M.resp_ts })).toBe(M.resp_aad);
    expect(mpApiSignaturePayload({ ...common, timestamp: REQ_TS, body: M.req_body }).toString('utf8')).toBe(
      M.req_sig_payload,
    );
    expect(
      mpApiSignaturePayload({ ...common, timestamp: M.resp_ts, body: M.resp_body }).toString('utf8'),
    ).toBe(M.resp_sig_payload);
  });

  it('decrypts the official request and response ciphertexts to the official plaintexts', () => {
    expect(decryptMpApiBody({ ...common, timestamp: M.req_ts, body: M.req_body })).toBe(M.req_plaintext);
    expect(decryptMpApiBody({ ...common, timestamp: RESP_TS, body: Buffer.from(M.resp_body) })).toBe(
      M.resp_plaintext,
    );
    // The symmetric key as bytes works the same.
    expect(
      decryptMpApiBody({
        ...common,
        symmetricKey: Buffer.from(M.sym_key, 'base64'),
        timestamp: REQ_TS,
        body: M.req_body,
      }),
    ).toBe(M.req_plaintext);
  });

  it('verifies the official request signature (PSS) with the official public key', () => {
    const input = { ...common, timestamp: M.req_ts, body: M.req_body, signature: M.req_signature };
    verifyMpApiSignature({ ...input, publicKey: M.app_public_key_pem });
    verifyMpApiSignature({ ...input, publicKey: loadPublicKey(M.app_public_key_pem), saltLength: 'auto' });
    const opened = openMpApiRequest(openOfficialRequest);
    expect(opened.data).toEqual(JSON.parse(M.req_plaintext));
    expect(opened.params).toEqual(officialParams().params);
    expect(opened).toMatchObject({ nonce: 'o89QaPVsRu1yppIZzvSZc4', timestamp: REQ_TS, serial: M.asym_sn });
  });

  it('verifies and decrypts the official response (certificate by number, PEM, LoadedCertificate, Fetch Headers)', () => {
    const expected = JSON.parse(M.resp_plaintext);
    expect(openMpApiResponse(openOfficialResponse)).toEqual(expected);
    expect(expected.unoin_id).toBe(2258658297); // the doc's misspelling, verbatim
    const { platformCertificates: _, ...single } = openOfficialResponse;
    expect(openMpApiResponse({ ...single, platformCertificate: M.platform_cert_pem })).toEqual(expected);
    expect(
      openMpApiResponse({
        ...single,
        platformCertificate: loadCertificate(M.platform_cert_pem),
        headers: new Headers(responseHeaders),
      }),
    ).toEqual(expected);
    // Node-style lower-case header names; serial compared case-insensitively.
    const lower = Object.fromEntries(Object.entries(responseHeaders).map(([k, v]) => [k.toLowerCase(), v]));
    expect(
      openMpApiResponse({
        ...openOfficialResponse,
        headers: lower,
        platformCertificates: { [M.platform_cert_sn.toUpperCase()]: M.platform_cert_pem },
      }),
    ).toEqual(expected);
    // Both salt modes accept WeChat's response signature.
    verifyMpApiSignature({
      ...common,
      timestamp: RESP_TS,
      body: M.resp_body,
      signature: M.resp_signature,
      publicKey: M.platform_cert_pem,
    });
  });

  it('reproduces the official encrypted body byte for byte from the official IV and nonce', () => {
    const { nonce, params } = officialParams();
    const sealed = sealMpApiRequest({
      ...common,
      privateKey: M.app_private_key_pem,
      asymmetricSn: M.asym_sn,
      params,
      timestamp: REQ_TS,
      nonce,
      iv: JSON.parse(M.req_body).iv,
    });
    expect(sealed.body).toBe(M.req_body);
    expect(sealed.headers).toMatchObject({
      'Wechatmp-Appid': M.appid,
      'Wechatmp-TimeStamp': M.req_ts,
      'Wechatmp-Serial': M.asym_sn, // the ASYMMETRIC key number
    });
    // PSS is randomised: not the official signature, but it verifies like it.
    expect(sealed.headers['Wechatmp-Signature']).not.toBe(M.req_signature);
    verifyMpApiSignature({
      ...common,
      timestamp: REQ_TS,
      body: sealed.body,
      signature: sealed.headers['Wechatmp-Signature'],
      publicKey: M.app_public_key_pem,
    });
    expect(
      encryptMpApiBody({
        ...common,
        timestamp: REQ_TS,
        plaintext: M.req_plaintext,
        iv: Buffer.from(JSON.parse(M.req_body).iv, 'base64'),
      }),
    ).toBe(M.req_body);
  });
});

describe('MP API security: round trips', () => {
  it('seal → open a request with random IV, nonce and the current time', () => {
    const now = at(1_700_000_000);
    const a = sealMpApiRequest({
      ...common,
      privateKey: M.app_private_key_pem,
      asymmetricSn: M.asym_sn,
      params: { openid: 'o1', scene: 1 },
      now,
    });
    const b = sealMpApiRequest({
      ...common,
      privateKey: M.app_private_key_pem,
      asymmetricSn: M.asym_sn,
      params: { openid: 'o1', scene: 1 },
      now,
    });
    expect(a.headers['Wechatmp-TimeStamp']).toBe('1700000000');
    expect(a.body).not.toBe(b.body);
    expect(a.headers['Wechatmp-Signature']).not.toBe(b.headers['Wechatmp-Signature']);
    const opened = openMpApiRequest({
      ...common,
      publicKey: M.app_public_key_pem,
      asymmetricSn: M.asym_sn,
      headers: a.headers,
      body: a.body,
      now,
    });
    expect(opened.params).toEqual({ openid: 'o1', scene: 1 });
    expect(opened.timestamp).toBe(1_700_000_000);
    expect(opened.nonce).toMatch(/^[A-Za-z0-9+/]{22,43}$/);
    expect(
      JSON.parse(decryptMpApiBody({ ...common, timestamp: 1_700_000_000, body: a.body }))._timestamp,
    ).toBe(1_700_000_000);
  });

  it('seal → open a response, with the deprecated pair during rotation', () => {
    const sealed = sealMpApiResponse({
      ...common,
      privateKey: platformNew.privateKey,
      platformSn: 'NEWSN',
      deprecated: { privateKey: platformOld.privateKey, platformSn: 'OLDSN' },
      result: { errcode: 0, errmsg: 'ok' },
      now: at(RESP_TS),
    });
    const base = { ...common, headers: sealed.headers, body: sealed.body, now: at(RESP_TS + 1) };
    const expected = { errcode: 0, errmsg: 'ok', _appid: M.appid, _timestamp: RESP_TS };
    expect(
      openMpApiResponse({ ...base, platformCertificates: { NEWSN: platformNew.publicKey } }),
    ).toMatchObject(expected);
    // Only the old certificate downloaded: the -Deprecated pair is picked.
    expect(
      openMpApiResponse({ ...base, platformCertificates: { OLDSN: platformOld.publicKey } }),
    ).toMatchObject(expected);
    expect(openMpApiResponse({ ...base, platformCertificate: platformOld.publicKey })).toMatchObject(
      expected,
    );
    expect(openMpApiResponse({ ...base, platformCertificate: platformNew.publicKey })).toMatchObject(
      expected,
    );
  });
});

describe('MP API security: refusals', () => {
  it('refuses tampered data, authtag or iv (DECRYPT_FAILED), and a tampered signed body (SIGNATURE_MISMATCH)', () => {
    const body = JSON.parse(M.resp_body) as Record<string, string>;
    const flip = (b64: string) => {
      const bytes = Buffer.from(b64, 'base64');
      bytes[0] = (bytes[0] ?? 0) ^ 1;
      return bytes.toString('base64');
    };
    for (const field of ['data', 'authtag', 'iv']) {
      const tampered = JSON.stringify({ ...body, [field]: flip(body[field] ?? '') });
      expect(
        expectCode(
          () => decryptMpApiBody({ ...common, timestamp: RESP_TS, body: tampered }),
          'DECRYPT_FAILED',
        ),
      ).toBeInstanceOf(CryptoError);
      // WeChat's signature covers the body: refused before decryption…
      expectCode(() => openMpApiResponse({ ...openOfficialResponse, body: tampered }), 'SIGNATURE_MISMATCH');
      // …and re-signed by a trusted key, the GCM tag still refuses it.
      expectCode(() => openMpApiResponse(signedResponse(tampered)), 'DECRYPT_FAILED');
    }
    // The response decrypted with the request timestamp (wrong AAD).
    expectCode(() => decryptMpApiBody({ ...common, timestamp: REQ_TS, body: M.resp_body }), 'DECRYPT_FAILED');
    // The asymmetric key number in place of the symmetric one.
    expectCode(
      () => decryptMpApiBody({ ...common, symmetricSn: M.asym_sn, timestamp: REQ_TS, body: M.req_body }),
      'DECRYPT_FAILED',
    );
  });

  it('refuses urlpath with a query string or without scheme and host', () => {
    const aadWithQuery = `${M.urlpath}?access_token=ACCESS_TOKEN|${M.appid}|${REQ_TS}|${M.sym_sn}`;
    const body = rawEncrypt(M.req_plaintext, aadWithQuery);
    expectCode(() => decryptMpApiBody({ ...common, timestamp: REQ_TS, body }), 'DECRYPT_FAILED');
    const { nonce, params } = officialParams();
    const seal = (urlpath: string) => () =>
      sealMpApiRequest({
        ...common,
        urlpath,
        privateKey: M.app_private_key_pem,
        asymmetricSn: M.asym_sn,
        params,
        nonce,
      });
    expect(expectCode(seal(`${M.urlpath}?access_token=X`), 'INVALID_ARGUMENT').message).toMatch(/query/);
    expect(expectCode(seal('/wxa/getuserriskrank'), 'INVALID_ARGUMENT').message).toMatch(/scheme and host/);
    expectCode(seal('http://api.weixin.qq.com/wxa/getuserriskrank'), 'INVALID_ARGUMENT');
    expectCode(
      () => openMpApiResponse({ ...openOfficialResponse, urlpath: `${M.urlpath}?access_token=X` }),
      'INVALID_ARGUMENT',
    );
  });

  it('refuses a signature whose payload includes the key number', () => {
    const withSn = `${M.urlpath}\n${M.appid}\n${M.sym_sn}\n${M.req_ts}\n${M.req_body}`;
    const withAsymSn = `${M.urlpath}\n${M.appid}\n${M.req_ts}\n${M.asym_sn}\n${M.req_body}`;
    for (const payload of [withSn, withAsymSn, `${M.req_sig_payload}\n`]) {
      const signature = pss(payload, M.app_private_key_pem);
      const error = expectCode(
        () =>
          openMpApiRequest({
            ...openOfficialRequest,
            headers: { ...requestHeaders, 'Wechatmp-Signature': signature },
          }),
        'SIGNATURE_MISMATCH',
      );
      expect(error).toBeInstanceOf(SignatureError);
    }
  });

  it('refuses PKCS#1 v1.5 signatures, and request signatures whose PSS salt is not 32', () => {
    const v15 = sign('sha256', Buffer.from(M.req_sig_payload), M.app_private_key_pem).toString('base64');
    expectCode(
      () =>
        openMpApiRequest({
          ...openOfficialRequest,
          headers: { ...requestHeaders, 'Wechatmp-Signature': v15 },
        }),
      'SIGNATURE_MISMATCH',
    );
    expectCode(
      () =>
        verifyMpApiSignature({
          ...common,
          timestamp: REQ_TS,
          body: M.req_body,
          signature: v15,
          publicKey: M.app_public_key_pem,
          saltLength: 'auto',
        }),
      'SIGNATURE_MISMATCH',
    );
    const respV15 = sign(
      'sha256',
      Buffer.from(`${M.urlpath}\n${M.appid}\n${RESP_TS}\n${M.resp_body}`),
      platformNew.privateKey,
    ).toString('base64');
    const signed = signedResponse(M.resp_body);
    expectCode(
      () => openMpApiResponse({ ...signed, headers: { ...signed.headers, 'Wechatmp-Signature': respV15 } }),
      'SIGNATURE_MISMATCH',
    );
    const salt20 = pss(M.req_sig_payload, M.app_private_key_pem, 20);
    expectCode(
      () =>
        openMpApiRequest({
          ...openOfficialRequest,
          headers: { ...requestHeaders, 'Wechatmp-Signature': salt20 },
        }),
      'SIGNATURE_MISMATCH',
    );
  });

  it('refuses absent, non-base64 and foreign signatures, and unknown serials', () => {
    const { 'Wechatmp-Signature': _s, ...noSig } = responseHeaders;
    expectCode(() => openMpApiResponse({ ...openOfficialResponse, headers: noSig }), 'SIGNATURE_MISMATCH');
    const { 'Wechatmp-TimeStamp': _t, ...noTs } = responseHeaders;
    expectCode(() => openMpApiResponse({ ...openOfficialResponse, headers: noTs }), 'SIGNATURE_MISMATCH');
    expectCode(
      () =>
        openMpApiResponse({
          ...openOfficialResponse,
          headers: { ...responseHeaders, 'Wechatmp-Signature': 'not base64!' },
        }),
      'SIGNATURE_MISMATCH',
    );
    // The X.509 serial is not the console number.
    expectCode(
      () =>
        openMpApiResponse({
          ...openOfficialResponse,
          platformCertificates: { [M.platform_cert_internal_serial]: M.platform_cert_pem },
        }),
      'SIGNATURE_MISMATCH',
    );
    // Right serial, wrong key.
    expectCode(
      () =>
        openMpApiResponse({
          ...openOfficialResponse,
          platformCertificates: { [M.platform_cert_sn]: platformNew.publicKey },
        }),
      'SIGNATURE_MISMATCH',
    );
    // The developer's own key is not the platform certificate.
    expectCode(
      () =>
        openMpApiResponse({
          ...responseWithoutCertificates,
          platformCertificate: M.app_public_key_pem,
        }),
      'SIGNATURE_MISMATCH',
    );
    const { 'Wechatmp-Serial': _r, ...noSerial } = requestHeaders;
    expect(
      expectCode(() => openMpApiRequest({ ...openOfficialRequest, headers: noSerial }), 'SIGNATURE_MISMATCH')
        .message,
    ).toMatch(/40230/);
    expectCode(
      () =>
        openMpApiRequest({
          ...openOfficialRequest,
          headers: { ...requestHeaders, 'Wechatmp-Serial': M.sym_sn },
        }),
      'SIGNATURE_MISMATCH',
    );
    expectCode(
      () =>
        openMpApiRequest({
          ...requestWithoutKeys,
          publicKey: M.app_public_key_pem,
          asymmetricSn: 'other',
        }),
      'SIGNATURE_MISMATCH',
    );
  });

  it('refuses stale responses and requests (header and _timestamp)', () => {
    expectCode(
      () => openMpApiResponse({ ...openOfficialResponse, now: at(RESP_TS + 301) }),
      'TIMESTAMP_EXPIRED',
    );
    expectCode(
      () => openMpApiResponse({ ...openOfficialResponse, now: at(RESP_TS - 301) }),
      'TIMESTAMP_EXPIRED',
    );
    expect(
      openMpApiResponse({ ...openOfficialResponse, now: at(RESP_TS + 1000), maxSkewSeconds: 1000 }),
    ).toBeTruthy();
    expectCode(
      () => openMpApiRequest({ ...openOfficialRequest, now: at(REQ_TS + 301) }),
      'TIMESTAMP_EXPIRED',
    );
    // Fresh header, stale _timestamp inside a validly signed body.
    const stale = JSON.stringify({ _n: 'n', _appid: M.appid, _timestamp: RESP_TS - 3600, errcode: 0 });
    const body = rawEncrypt(stale, `${M.urlpath}|${M.appid}|${RESP_TS}|${M.sym_sn}`);
    expectCode(() => openMpApiResponse(signedResponse(body)), 'TIMESTAMP_EXPIRED');
    // _timestamp as a string is malformed.
    const asString = JSON.stringify({ _n: 'n', _appid: M.appid, _timestamp: String(RESP_TS), errcode: 0 });
    const body2 = rawEncrypt(asString, `${M.urlpath}|${M.appid}|${RESP_TS}|${M.sym_sn}`);
    expectCode(() => openMpApiResponse(signedResponse(body2)), 'BAD_BODY');
  });

  it('refuses another appid (_appid or Wechatmp-Appid)', () => {
    const other = JSON.stringify({ _n: 'n', _appid: 'wx0000000000000000', _timestamp: RESP_TS, errcode: 0 });
    const body = rawEncrypt(other, `${M.urlpath}|${M.appid}|${RESP_TS}|${M.sym_sn}`);
    expect(expectCode(() => openMpApiResponse(signedResponse(body)), 'APPID_MISMATCH')).toBeInstanceOf(
      CryptoError,
    );
    expectCode(
      () =>
        openMpApiResponse({
          ...openOfficialResponse,
          headers: { ...responseHeaders, 'Wechatmp-Appid': 'wx0000000000000000' },
        }),
      'APPID_MISMATCH',
    );
    expectCode(
      () =>
        openMpApiRequest({
          ...openOfficialRequest,
          headers: { ...requestHeaders, 'Wechatmp-Appid': 'wx0000000000000000' },
        }),
      'APPID_MISMATCH',
    );
  });

  it('picks the deprecated serial during rotation and refuses a mismatching pair', () => {
    const sealed = sealMpApiResponse({
      ...common,
      privateKey: platformNew.privateKey,
      platformSn: 'NEWSN',
      deprecated: { privateKey: platformOld.privateKey, platformSn: 'OLDSN' },
      result: { errcode: 0 },
      now: at(RESP_TS),
    });
    const base = { ...common, body: sealed.body, now: at(RESP_TS) };
    // Signatures swapped: the signature next to OLDSN is not by the old key.
    const swapped = {
      ...sealed.headers,
      'Wechatmp-Signature': sealed.headers['Wechatmp-Signature-Deprecated'] ?? '',
      'Wechatmp-Signature-Deprecated': sealed.headers['Wechatmp-Signature'],
    };
    expectCode(
      () =>
        openMpApiResponse({
          ...base,
          headers: swapped,
          platformCertificates: { OLDSN: platformOld.publicKey },
        }),
      'SIGNATURE_MISMATCH',
    );
    expectCode(
      () =>
        openMpApiResponse({
          ...base,
          headers: sealed.headers,
          platformCertificates: { THIRD: platformOld.publicKey },
        }),
      'SIGNATURE_MISMATCH',
    );
    // Without the deprecated pair, the old certificate alone no longer verifies.
    const {
      'Wechatmp-Serial-Deprecated': _a,
      'Wechatmp-Signature-Deprecated': _b,
      ...current
    } = sealed.headers;
    expectCode(
      () =>
        openMpApiResponse({
          ...base,
          headers: current,
          platformCertificates: { OLDSN: platformOld.publicKey },
        }),
      'SIGNATURE_MISMATCH',
    );
    expectCode(
      () => openMpApiResponse({ ...base, headers: current, platformCertificate: platformOld.publicKey }),
      'SIGNATURE_MISMATCH',
    );
  });

  it('refuses malformed bodies (BAD_BODY, BAD_CIPHERTEXT)', () => {
    const body = JSON.parse(M.req_body) as Record<string, string>;
    const dec = (b: string) => () => decryptMpApiBody({ ...common, timestamp: REQ_TS, body: b });
    expect(expectCode(dec('{"errcode":40234,"errmsg":"invalid signature"'), 'BAD_BODY')).toBeInstanceOf(
      PayloadError,
    );
    expectCode(dec('[]'), 'BAD_BODY');
    expectCode(dec(JSON.stringify({ iv: body.iv, data: body.data })), 'BAD_BODY');
    expectCode(dec(JSON.stringify({ ...body, data: 'not*base64' })), 'BAD_CIPHERTEXT');
    expectCode(dec(JSON.stringify({ ...body, iv: Buffer.alloc(16).toString('base64') })), 'BAD_CIPHERTEXT');
    expectCode(
      dec(JSON.stringify({ ...body, authtag: Buffer.alloc(12).toString('base64') })),
      'BAD_CIPHERTEXT',
    );
    // A validly signed body whose plaintext is not a JSON object.
    const notJson = rawEncrypt('not json', `${M.urlpath}|${M.appid}|${RESP_TS}|${M.sym_sn}`);
    expectCode(() => openMpApiResponse(signedResponse(notJson)), 'BAD_BODY');
    expectCode(
      () => openMpApiResponse({ ...openOfficialResponse, body: { x: 1 } as never }),
      'INVALID_ARGUMENT',
    );
  });

  it('refuses keys of the wrong size or kind (BAD_KEY)', () => {
    const ec = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
    const { nonce, params } = officialParams();
    const seal = (over: Record<string, unknown>) => () =>
      sealMpApiRequest({
        ...common,
        privateKey: M.app_private_key_pem,
        asymmetricSn: M.asym_sn,
        params,
        nonce,
        ...over,
      });
    expect(expectCode(seal({ symmetricKey: Buffer.alloc(16).toString('base64') }), 'BAD_KEY')).toBeInstanceOf(
      ConfigError,
    );
    expectCode(seal({ symmetricKey: new Uint8Array(31) }), 'BAD_KEY');
    expectCode(seal({ symmetricKey: 'not base64 at all' }), 'BAD_KEY');
    expectCode(seal({ privateKey: ec.privateKey }), 'BAD_KEY');
    expectCode(seal({ privateKey: M.app_public_key_pem }), 'BAD_KEY');
    expectCode(
      () =>
        openMpApiResponse({
          ...openOfficialResponse,
          platformCertificates: { [M.platform_cert_sn]: ec.publicKey },
        }),
      'BAD_KEY',
    );
    expectCode(
      () =>
        openMpApiResponse({
          ...openOfficialResponse,
          platformCertificates: { [M.platform_cert_sn]: M.app_private_key_pem },
        }),
      'BAD_KEY',
    );
    expectCode(
      () =>
        decryptMpApiBody({
          ...common,
          symmetricKey: new Uint8Array(16),
          timestamp: REQ_TS,
          body: M.req_body,
        }),
      'BAD_KEY',
    );
  });

  it('refuses access_token and the security fields in params, and a _timestamp that differs from the header', () => {
    const seal = (params: Record<string, unknown>) => () =>
      sealMpApiRequest({ ...common, privateKey: M.app_private_key_pem, asymmetricSn: M.asym_sn, params });
    expect(expectCode(seal({ access_token: 'T', openid: 'o' }), 'INVALID_ARGUMENT').message).toMatch(
      /query string/,
    );
    expectCode(seal({ _n: 'x' }), 'INVALID_ARGUMENT');
    expectCode(seal({ _timestamp: 1 }), 'INVALID_ARGUMENT');
    // A request whose _timestamp is not the header's (validly encrypted and signed).
    const plaintext = JSON.stringify({ _n: 'n', _appid: M.appid, _timestamp: REQ_TS - 1, openid: 'o' });
    const body = encryptMpApiBody({ ...common, timestamp: REQ_TS, plaintext });
    const signature = signMpApiPayload({
      ...common,
      timestamp: REQ_TS,
      body,
      privateKey: M.app_private_key_pem,
    });
    expectCode(
      () =>
        openMpApiRequest({
          ...openOfficialRequest,
          body,
          headers: { ...requestHeaders, 'Wechatmp-Signature': signature },
        }),
      'TIMESTAMP_EXPIRED',
    );
  });
});

describe('MP API security: conformance vectors (project-mp-api-security.json)', () => {
  type In = Record<string, unknown>;
  const s = (i: In, k: string) => String(i[k]);
  const common = (i: In) => ({
    urlpath: s(i, 'urlpath'),
    appId: s(i, 'appId'),
    symmetricKey: s(i, 'symmetricKey'),
    symmetricSn: s(i, 'symmetricSn'),
  });
  const kinds: Record<string, (i: In) => unknown> = {
    'mp.apiSecurity.encryptBody': (i) =>
      encryptMpApiBody({
        ...common(i),
        timestamp: Number(i.timestamp),
        plaintext: s(i, 'plaintext'),
        iv: s(i, 'iv'),
      }),
    'mp.apiSecurity.decryptBody': (i) =>
      decryptMpApiBody({ ...common(i), timestamp: s(i, 'timestamp'), body: s(i, 'body') }),
    'mp.apiSecurity.verifySignature': (i) => {
      verifyMpApiSignature({
        ...common(i),
        timestamp: s(i, 'timestamp'),
        body: s(i, 'body'),
        signature: s(i, 'signature'),
        publicKey: s(i, i.publicKeyPem === undefined ? 'certificatePem' : 'publicKeyPem'),
        saltLength: i.saltLength === 'auto' ? 'auto' : 32,
      });
      return true;
    },
    'mp.apiSecurity.openRequest': (i) =>
      openMpApiRequest({
        ...common(i),
        publicKeys: i.publicKeys as Record<string, string>,
        headers: i.headers as Record<string, string>,
        body: s(i, 'body'),
        now: at(Number(i.now)),
      }).data,
    'mp.apiSecurity.openResponse': (i) =>
      openMpApiResponse({
        ...common(i),
        platformCertificates: i.platformCertificates as Record<string, string>,
        headers: i.headers as Record<string, string>,
        body: s(i, 'body'),
        now: at(Number(i.now)),
      }),
  };
  const cases = loadVectors('project-mp-api-security.json');

  it('covers every mp.apiSecurity kind', () => {
    expect(new Set(cases.map((c) => c.kind))).toEqual(new Set(Object.keys(kinds)));
  });

  it.each(cases.map((c): [string, VectorCase] => [c.id, c]))('%s', (_id, c) => {
    const run = kinds[c.kind];
    if (run === undefined) throw new Error(`unknown kind ${c.kind}`);
    if (c.expect.ok) {
      expect(run(c.input)).toEqual(c.expect.output);
    } else {
      expectCode(() => run(c.input), c.expect.error ?? '');
    }
  });
});
