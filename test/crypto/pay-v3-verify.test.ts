import { describe, expect, it } from 'vitest';
import { loadCertificate, loadPublicKey } from '../../src/crypto/keys.js';
import { PayV3Verifier, verifyPayV3Headers, verifyPayV3Signature } from '../../src/crypto/pay-v3.js';
import { SignatureError } from '../../src/errors.js';
import { readPayV3Headers } from '../../src/internal/pay-v3-headers.js';
import { at, expectCode } from '../helpers.js';
import { fx, rsaSign, signedHeaders } from './pay-v3-fixture.js';

const K = fx.keys;
const RESP = fx['SELF-RESP'];
const TS = Number(RESP.timestamp);
const PUB_KEY_ID = 'PUB_KEY_ID_0119000091912024010100000001';

const base = {
  timestamp: RESP.timestamp,
  nonce: RESP.nonce,
  body: RESP.body,
  signature: RESP.signature,
  certificate: K.goCert,
  now: at(TS + 60),
};

function mismatch(fn: () => unknown): SignatureError {
  const error = expectCode(fn, 'SIGNATURE_MISMATCH');
  expect(error).toBeInstanceOf(SignatureError);
  return error as SignatureError;
}

describe('verifyPayV3Signature', () => {
  it('accepts the known-answer responses (with a body, and an empty 204 body)', () => {
    verifyPayV3Signature(base);
    const empty = fx['SELF-RESP-204'];
    verifyPayV3Signature({ ...base, body: '', signature: empty.signature });
    verifyPayV3Signature({ ...base, certificate: loadCertificate(K.goCert) });
  });

  it('accepts the WeChat Pay public key in SPKI or PKCS#1 form instead of a certificate', () => {
    const { certificate: _, ...rest } = base;
    verifyPayV3Signature({ ...rest, publicKey: K.goPublicSpki });
    verifyPayV3Signature({ ...rest, publicKey: K.goPublicPkcs1 });
    verifyPayV3Signature({ ...rest, publicKey: loadPublicKey(K.goCert) });
  });

  it('verifies the wechatpay-go notification signature (GO-NOTIFY)', () => {
    const g = fx['GO-NOTIFY'];
    verifyPayV3Signature({
      timestamp: g.headers['Wechatpay-Timestamp'] ?? '',
      nonce: g.headers['Wechatpay-Nonce'] ?? '',
      signature: g.headers['Wechatpay-Signature'] ?? '',
      body: g.body,
      certificate: K.goCert,
      now: at(1624523846),
    });
  });

  it('uses a Uint8Array body as its raw bytes, even when they are not valid UTF-8', () => {
    verifyPayV3Signature({ ...base, body: new TextEncoder().encode(RESP.body) });
    const bytes = new Uint8Array([0x7b, 0xff, 0xfe, 0x22, 0x7d]);
    const message = Buffer.concat([Buffer.from(`${TS}\nn\n`), bytes, Buffer.from('\n')]);
    const signature = rsaSign(K.goKeyPkcs8, message);
    verifyPayV3Signature({ ...base, nonce: 'n', body: bytes, signature });
    // Decoding and re-encoding would replace the invalid bytes and break the signature.
    mismatch(() =>
      verifyPayV3Signature({ ...base, nonce: 'n', body: Buffer.from(bytes).toString('utf8'), signature }),
    );
  });

  it('refuses a tampered body, a one-bit flip in the body, and a flipped signature bit', () => {
    mismatch(() => verifyPayV3Signature({ ...base, body: RESP.body.replace('p4lpSuKzz', 'p4lpSuKzZ') }));
    const flipped = Buffer.from(RESP.body);
    flipped[10] = (flipped[10] ?? 0) ^ 0x01;
    mismatch(() => verifyPayV3Signature({ ...base, body: flipped }));
    const sig = Buffer.from(RESP.signature, 'base64');
    sig[0] = (sig[0] ?? 0) ^ 0x80;
    mismatch(() => verifyPayV3Signature({ ...base, signature: sig.toString('base64') }));
    mismatch(() => verifyPayV3Signature({ ...base, nonce: `${RESP.nonce}x` }));
  });

  it('accepts exactly 300 s of skew in both directions and refuses 301 s (stale and future)', () => {
    verifyPayV3Signature({ ...base, now: at(TS + 300) });
    verifyPayV3Signature({ ...base, now: at(TS - 300) });
    const stale = expectCode(() => verifyPayV3Signature({ ...base, now: at(TS + 301) }), 'TIMESTAMP_EXPIRED');
    expect(stale.message).toContain(String(TS));
    expect(stale.message).toContain(String(TS + 301));
    expect(stale.message).toMatch(/clock/);
    expectCode(() => verifyPayV3Signature({ ...base, now: at(TS - 301) }), 'TIMESTAMP_EXPIRED');
    verifyPayV3Signature({ ...base, now: at(TS + 301), maxSkewSeconds: 600 });
  });

  it('checks the timestamp before the signature, and refuses non-numeric timestamps', () => {
    expectCode(
      () => verifyPayV3Signature({ ...base, signature: 'garbage', now: at(TS + 1000) }),
      'TIMESTAMP_EXPIRED',
    );
    expectCode(() => verifyPayV3Signature({ ...base, timestamp: '1554209980.0' }), 'TIMESTAMP_EXPIRED');
    expectCode(() => verifyPayV3Signature({ ...base, maxSkewSeconds: -1 }), 'INVALID_ARGUMENT');
  });

  it('refuses a WECHATPAY/SIGNTEST/ probe with probe: true and says it is deliberate', () => {
    const error = mismatch(() =>
      verifyPayV3Signature({ ...base, signature: `WECHATPAY/SIGNTEST/${RESP.signature}` }),
    );
    expect(error.probe).toBe(true);
    expect(error.message).toContain('deliberate');
    expect(mismatch(() => verifyPayV3Signature({ ...base, body: `${RESP.body} ` })).probe).toBe(false);
  });

  it('refuses a signature that is not base64 as a mismatch, not a crash', () => {
    mismatch(() => verifyPayV3Signature({ ...base, signature: 'not base64!' }));
    mismatch(() => verifyPayV3Signature({ ...base, signature: '' }));
  });

  it('says the body must be the raw bytes when it looks re-serialised', () => {
    const n = fx['SELF-NOTIFY'];
    const common = {
      timestamp: n.headers['Wechatpay-Timestamp'] ?? '',
      nonce: n.headers['Wechatpay-Nonce'] ?? '',
      signature: n.headers['Wechatpay-Signature'] ?? '',
      certificate: K.goCert,
      now: at(1554209980),
    };
    verifyPayV3Signature({ ...common, body: n.body });
    const pretty = JSON.stringify(JSON.parse(n.body), null, 2);
    expect(mismatch(() => verifyPayV3Signature({ ...common, body: pretty })).message).toMatch(/raw bytes/);
    const spaced = n.body.replace(/":/g, '": ');
    expect(mismatch(() => verifyPayV3Signature({ ...common, body: spaced })).message).toMatch(
      /re-serialised/,
    );
    // A compact body that is merely different gets no such hint.
    const other = n.body.replace('支付成功', '支付失败');
    expect(mismatch(() => verifyPayV3Signature({ ...common, body: other })).message).not.toMatch(
      /re-serialised/,
    );
  });

  it('refuses a parsed body object with advice to keep the raw body', () => {
    const error = expectCode(
      () => verifyPayV3Signature({ ...base, body: JSON.parse(RESP.body) as string }),
      'INVALID_ARGUMENT',
    );
    expect(error.message).toContain('body parser');
  });

  it('refuses the merchant private key as verification key, and needs exactly one key', () => {
    const { certificate: _, ...rest } = base;
    expect(
      expectCode(() => verifyPayV3Signature({ ...rest, publicKey: K.goKeyPkcs8 }), 'BAD_KEY').message,
    ).toContain('PUB_KEY_ID_');
    expectCode(() => verifyPayV3Signature(rest), 'INVALID_ARGUMENT');
    expectCode(() => verifyPayV3Signature({ ...base, publicKey: K.goPublicSpki }), 'INVALID_ARGUMENT');
  });

  it('refuses a signature made by another key', () => {
    mismatch(() => verifyPayV3Signature({ ...base, certificate: K.platformCert }));
  });
});

describe('readPayV3Headers', () => {
  it('reads names case-insensitively from a record, a Headers object and single-element arrays', () => {
    const h = fx['SELF-NOTIFY'].headers;
    const expected = {
      timestamp: h['Wechatpay-Timestamp'],
      nonce: h['Wechatpay-Nonce'],
      signature: h['Wechatpay-Signature'],
      serial: h['Wechatpay-Serial'],
    };
    expect(readPayV3Headers(h)).toEqual(expected);
    const lower = Object.fromEntries(Object.entries(h).map(([k, v]) => [k.toLowerCase(), [v]]));
    expect(readPayV3Headers(lower)).toEqual(expected);
    expect(readPayV3Headers(new Headers(h))).toEqual(expected);
  });

  it('refuses a header repeated with different values', () => {
    mismatch(() => readPayV3Headers({ 'wechatpay-serial': ['A', 'B'] }));
  });
});

describe('PayV3Verifier', () => {
  // Trusts the wechatpay-go key as "WeChat Pay public key" and the second test key's certificate.
  const verifier = new PayV3Verifier({
    publicKey: { id: PUB_KEY_ID, key: K.goPublicSpki },
    certificates: [K.platformCert],
  });
  const body = '{"code_url":"weixin://wxpay/bizpayurl?pr=p4lpSuKzz"}';
  const byPublicKey = signedHeaders(body, { serial: PUB_KEY_ID });
  const byCertificate = signedHeaders(body, {
    serial: K.platformCertSerial,
    privateKeyPem: K.platformKeyPkcs8,
  });
  const now = at(1718000000);

  it('trusting both a public key and a certificate, chooses the key by Wechatpay-Serial', () => {
    verifier.verify({ headers: byPublicKey, body, now });
    verifier.verify({ headers: byCertificate, body, now });
    // Each signature is refused under the other serial.
    mismatch(() =>
      verifier.verify({ headers: { ...byPublicKey, 'Wechatpay-Serial': K.platformCertSerial }, body, now }),
    );
    mismatch(() =>
      verifier.verify({ headers: { ...byCertificate, 'Wechatpay-Serial': PUB_KEY_ID }, body, now }),
    );
  });

  it('matches certificate serials case-insensitively and ignoring leading zeros', () => {
    verifier.verify({
      headers: { ...byCertificate, 'Wechatpay-Serial': `00${K.platformCertSerial.toLowerCase()}` },
      body,
      now,
    });
    const goVerifier = new PayV3Verifier({ certificates: [K.goCert] });
    const n = fx['SELF-NOTIFY'];
    goVerifier.verify({ headers: n.headers, body: n.body, now: at(1554209980) });
    goVerifier.verify({
      headers: { ...n.headers, 'Wechatpay-Serial': '00d7ce59d1f522d701' },
      body: n.body,
      now: at(1554209980),
    });
  });

  it('refuses an unknown serial, naming it and saying how to trust it', () => {
    const unknownCert = mismatch(() =>
      verifier.verify({
        headers: { ...byCertificate, 'Wechatpay-Serial': '5DEA10EF55877E3CF6C33255C2E7DEFFF7E427EC' },
        body,
        now,
      }),
    );
    expect(unknownCert.message).toContain('5DEA10EF55877E3CF6C33255C2E7DEFFF7E427EC');
    expect(unknownCert.message).toContain('/v3/certificates');
    const unknownId = mismatch(() =>
      verifier.verify({
        headers: { ...byPublicKey, 'Wechatpay-Serial': 'PUB_KEY_ID_0000000000000000000000000002' },
        body,
        now,
      }),
    );
    expect(unknownId.message).toContain('PUB_KEY_ID_0000000000000000000000000002');
    expect(unknownId.message).toContain('pub_key.pem');
  });

  it('names the missing header', () => {
    for (const name of [
      'Wechatpay-Timestamp',
      'Wechatpay-Nonce',
      'Wechatpay-Signature',
      'Wechatpay-Serial',
    ]) {
      const headers = Object.fromEntries(Object.entries(byPublicKey).filter(([k]) => k !== name));
      expect(mismatch(() => verifier.verify({ headers, body, now })).message).toContain(name);
    }
  });

  it('reads Fetch Headers and lower-cased Node headers', () => {
    verifier.verify({ headers: new Headers(byPublicKey), body, now });
    const lower = Object.fromEntries(Object.entries(byPublicKey).map(([k, v]) => [k.toLowerCase(), v]));
    verifier.verify({ headers: lower, body, now });
  });

  it('checks the replay window before the serial, and refuses probes with probe: true', () => {
    expectCode(
      () =>
        verifier.verify({
          headers: { ...byPublicKey, 'Wechatpay-Serial': 'FFFF' },
          body,
          now: at(1718000301),
        }),
      'TIMESTAMP_EXPIRED',
    );
    verifier.verify({ headers: byPublicKey, body, now: at(1718000300) });
    const probe = mismatch(() =>
      verifier.verify({
        headers: {
          ...byPublicKey,
          'Wechatpay-Signature': `WECHATPAY/SIGNTEST/${byPublicKey['Wechatpay-Signature']}`,
        },
        body,
        now,
      }),
    );
    expect(probe.probe).toBe(true);
  });

  it('lists the trusted serials and accepts new certificates, replacing one with the same serial', () => {
    const v = new PayV3Verifier({ certificates: [K.goCert] });
    expect(v.knownSerials()).toEqual(['D7CE59D1F522D701']);
    v.addCertificate(K.goCert);
    const added = v.addCertificate(loadCertificate(K.platformCert));
    expect(added.serialNo).toBe(K.platformCertSerial);
    expect(v.knownSerials()).toEqual(['D7CE59D1F522D701', K.platformCertSerial]);
    expect(verifier.knownSerials()).toEqual([PUB_KEY_ID, K.platformCertSerial]);
    v.verify({ headers: byCertificate, body, now });
  });

  it('validates its configuration when built', () => {
    expectCode(
      () => new PayV3Verifier({ publicKey: { id: 'D7CE59D1F522D701', key: K.goPublicSpki } }),
      'INVALID_CONFIG',
    );
    expectCode(() => new PayV3Verifier({ publicKey: { id: PUB_KEY_ID, key: K.goKeyPkcs8 } }), 'BAD_KEY');
    expectCode(() => new PayV3Verifier({ certificates: [K.goPublicSpki] }), 'BAD_KEY');
    expectCode(() => new PayV3Verifier({ certificate: K.goCert } as never), 'INVALID_CONFIG');
  });
});

describe('verifyPayV3Headers', () => {
  const body = '{"code_url":"weixin://wxpay/bizpayurl?pr=p4lpSuKzz"}';
  const now = at(1718000000);

  it('with one of each key, picks by serial', () => {
    const both = { publicKey: K.goPublicSpki, certificate: K.platformCert, body, now };
    verifyPayV3Headers({ ...both, headers: signedHeaders(body, { serial: PUB_KEY_ID }) });
    verifyPayV3Headers({
      ...both,
      headers: signedHeaders(body, { serial: K.platformCertSerial, privateKeyPem: K.platformKeyPkcs8 }),
    });
  });

  it('explains a failure when the serial does not fit the single key given', () => {
    const byCert = signedHeaders(body, { serial: K.platformCertSerial, privateKeyPem: K.platformKeyPkcs8 });
    expect(
      mismatch(() => verifyPayV3Headers({ headers: byCert, body, now, publicKey: K.goPublicSpki })).message,
    ).toContain('only a WeChat Pay public key was given');
    expect(
      mismatch(() => verifyPayV3Headers({ headers: byCert, body, now, certificate: K.goCert })).message,
    ).toContain('names another certificate');
    const byId = signedHeaders(body, { serial: PUB_KEY_ID, privateKeyPem: K.platformKeyPkcs8 });
    expect(
      mismatch(() => verifyPayV3Headers({ headers: byId, body, now, certificate: K.goCert })).message,
    ).toContain('only a platform certificate was given');
  });

  it('needs a key', () => {
    expectCode(() => verifyPayV3Headers({ headers: {}, body, now }), 'INVALID_ARGUMENT');
  });
});
