/**
 * Conformance runner (see conformance/SPEC.md): runs known-answer vectors through the public
 * `weixin-kit/crypto` API and prints one JSON line per case plus a summary line.
 *
 *   npm run conformance -- conformance/vectors/*.json
 */
import { readFileSync } from 'node:fs';
import { isDeepStrictEqual } from 'node:util';
import * as wk from '../src/crypto/index.js';

type Input = Record<string, unknown>;
type Handler = (input: Input) => unknown;

const str = (input: Input, name: string): string => {
  const value = input[name];
  if (typeof value !== 'string')
    throw new wk.WeChatKitError('INVALID_ARGUMENT', `input.${name} must be a string`);
  return value;
};
const opt = (input: Input, name: string): string | undefined =>
  input[name] === undefined || input[name] === null ? undefined : str(input, name);
const clock = (input: Input): (() => number) => {
  const now = input.now;
  if (typeof now !== 'number')
    throw new wk.WeChatKitError('INVALID_ARGUMENT', 'input.now must be Unix seconds');
  return () => now * 1000;
};
const skew = (input: Input): number =>
  typeof input.maxSkewSeconds === 'number' ? input.maxSkewSeconds : wk.DEFAULT_MAX_SKEW_SECONDS;
const trust = (input: Input): { publicKey?: string; certificate?: string } => {
  const publicKey = opt(input, 'publicKeyPem');
  const certificate = opt(input, 'certificatePem');
  return {
    ...(publicKey === undefined ? {} : { publicKey }),
    ...(certificate === undefined ? {} : { certificate }),
  };
};

const mpCommon = (input: Input) => ({
  urlpath: str(input, 'urlpath'),
  appId: str(input, 'appId'),
  symmetricKey: str(input, 'symmetricKey'),
  symmetricSn: str(input, 'symmetricSn'),
});

const handlers: Record<string, Handler> = {
  'server.signature': (i) =>
    wk.computeServerSignature({
      token: str(i, 'token'),
      timestamp: str(i, 'timestamp'),
      nonce: str(i, 'nonce'),
    }),
  'message.signature': (i) =>
    wk.computeMessageSignature({
      token: str(i, 'token'),
      timestamp: str(i, 'timestamp'),
      nonce: str(i, 'nonce'),
      encrypt: str(i, 'encrypt'),
    }),
  'message.encrypt': (i) =>
    wk.encryptMessage({
      encodingAESKey: str(i, 'encodingAESKey'),
      receiveId: str(i, 'appId'),
      message: str(i, 'message'),
      random: str(i, 'random'),
    }),
  'message.decrypt': (i) =>
    wk.decryptMessage({
      encodingAESKey: str(i, 'encodingAESKey'),
      receiveId: str(i, 'appId'),
      encrypt: str(i, 'encrypt'),
    }),
  'message.open': (i) =>
    wk.openMessage({
      token: str(i, 'token'),
      encodingAESKey: str(i, 'encodingAESKey'),
      receiveId: str(i, 'appId'),
      timestamp: str(i, 'timestamp'),
      nonce: str(i, 'nonce'),
      msgSignature: str(i, 'msgSignature'),
      body: str(i, 'body'),
      now: clock(i),
      maxSkewSeconds: skew(i),
    }),
  'pay.v2.sign': (i) => {
    const signType = opt(i, 'signType') ?? 'MD5';
    if (signType !== 'MD5' && signType !== 'HMAC-SHA256') {
      throw new wk.WeChatKitError('INVALID_ARGUMENT', 'signType must be MD5 or HMAC-SHA256');
    }
    return wk.signPayV2(i.params as wk.PayV2Params, str(i, 'key'), signType);
  },
  'pay.v2.decryptRefund': (i) => wk.decryptRefundReqInfo(str(i, 'reqInfo'), str(i, 'key')),
  'jssdk.signature': (i) =>
    wk.jsSdkSignature({
      jsapiTicket: str(i, 'jsapiTicket'),
      nonceStr: str(i, 'nonceStr'),
      timestamp: str(i, 'timestamp'),
      url: str(i, 'url'),
    }),
  'jssdk.cardSignature': (i) => wk.cardSignature(i.values as string[]),
  'miniprogram.decrypt': (i) =>
    wk.decryptMiniProgramData({
      sessionKey: str(i, 'sessionKey'),
      encryptedData: str(i, 'encryptedData'),
      iv: str(i, 'iv'),
      appId: str(i, 'appId'),
    }),
  'miniprogram.rawDataSignature': (i) => wk.rawDataSignature(str(i, 'rawData'), str(i, 'sessionKey')),
  'miniprogram.sessionSignature': (i) => wk.sessionSignature(str(i, 'sessionKey'), str(i, 'body')),
  'pay.v3.authorization': (i) =>
    wk.buildAuthorization({
      method: str(i, 'method'),
      url: str(i, 'url'),
      body: str(i, 'body'),
      timestamp: str(i, 'timestamp'),
      nonce: str(i, 'nonce'),
      mchid: str(i, 'mchid'),
      serialNo: str(i, 'serialNo'),
      privateKey: str(i, 'privateKeyPem'),
    }),
  'pay.v3.verify': (i) => {
    wk.verifyPayV3Signature({
      timestamp: str(i, 'timestamp'),
      nonce: str(i, 'nonce'),
      body: str(i, 'body'),
      signature: str(i, 'signature'),
      ...trust(i),
      now: clock(i),
      maxSkewSeconds: skew(i),
    });
    return true;
  },
  'pay.v3.jsapiPaySign': (i) =>
    wk.jsapiPaySign({
      appId: str(i, 'appId'),
      timeStamp: str(i, 'timeStamp'),
      nonceStr: str(i, 'nonceStr'),
      package: str(i, 'package'),
      privateKey: str(i, 'privateKeyPem'),
    }),
  'pay.v3.decryptResource': (i) => {
    const associatedData = opt(i, 'associatedData');
    return wk.decryptResource({
      apiV3Key: str(i, 'apiV3Key'),
      algorithm: str(i, 'algorithm'),
      ciphertext: str(i, 'ciphertext'),
      nonce: str(i, 'nonce'),
      ...(associatedData === undefined ? {} : { associatedData }),
    });
  },
  'pay.v3.oaepDecrypt': (i) => wk.oaepDecrypt(str(i, 'ciphertext'), str(i, 'privateKeyPem')),
  'pay.v3.openNotification': (i) =>
    wk.openNotification({
      headers: i.headers as Record<string, string>,
      body: str(i, 'body'),
      apiV3Key: str(i, 'apiV3Key'),
      ...trust(i),
      now: clock(i),
      maxSkewSeconds: skew(i),
    }).plaintext,
  'mp.apiSecurity.encryptBody': (i) =>
    wk.encryptMpApiBody({
      ...mpCommon(i),
      timestamp: Number(str(i, 'timestamp')),
      plaintext: str(i, 'plaintext'),
      iv: str(i, 'iv'),
    }),
  'mp.apiSecurity.decryptBody': (i) =>
    wk.decryptMpApiBody({ ...mpCommon(i), timestamp: str(i, 'timestamp'), body: str(i, 'body') }),
  'mp.apiSecurity.verifySignature': (i) => {
    wk.verifyMpApiSignature({
      urlpath: str(i, 'urlpath'),
      appId: str(i, 'appId'),
      timestamp: str(i, 'timestamp'),
      body: str(i, 'body'),
      signature: str(i, 'signature'),
      publicKey: opt(i, 'publicKeyPem') ?? str(i, 'certificatePem'),
      saltLength: i.saltLength === 'auto' ? 'auto' : 32,
    });
    return true;
  },
  'mp.apiSecurity.openRequest': (i) =>
    wk.openMpApiRequest({
      ...mpCommon(i),
      publicKeys: i.publicKeys as Record<string, string>,
      headers: i.headers as Record<string, string>,
      body: str(i, 'body'),
      now: clock(i),
      maxSkewSeconds: skew(i),
    }).data,
  'mp.apiSecurity.openResponse': (i) =>
    wk.openMpApiResponse({
      ...mpCommon(i),
      platformCertificates: i.platformCertificates as Record<string, string>,
      headers: i.headers as Record<string, string>,
      body: str(i, 'body'),
      now: clock(i),
      maxSkewSeconds: skew(i),
    }),
};

interface Case {
  id: string;
  kind: string;
  input: Input;
  expect: { ok: boolean; output?: unknown; error?: string };
}

function run(c: Case): { ok: boolean; got?: unknown } {
  const handler = handlers[c.kind];
  if (!handler) return { ok: false, got: 'UNKNOWN_KIND' };
  let got: { ok: boolean; output?: unknown; error?: string };
  try {
    got = { ok: true, output: handler(c.input ?? {}) };
  } catch (error) {
    got = {
      ok: false,
      error:
        error instanceof wk.WeChatKitError ? error.code : `UNTYPED ${(error as Error)?.name ?? typeof error}`,
    };
  }
  const expected = c.expect ?? { ok: true };
  const pass = got.ok
    ? expected.ok === true && isDeepStrictEqual(got.output, expected.output)
    : expected.ok === false && got.error === expected.error;
  return pass ? { ok: true } : { ok: false, got };
}

const files = process.argv.slice(2);
if (files.length === 0) {
  console.error('usage: npm run conformance -- FILE.json [FILE.json ...]');
  process.exit(2);
}
let passed = 0;
let failed = 0;
for (const file of files) {
  let cases: unknown;
  try {
    cases = JSON.parse(readFileSync(file, 'utf8'));
  } catch (error) {
    console.log(JSON.stringify({ id: file, ok: false, got: `UNREADABLE ${(error as Error).message}` }));
    failed++;
    continue;
  }
  if (!Array.isArray(cases)) {
    console.log(JSON.stringify({ id: file, ok: false, got: 'NOT_AN_ARRAY' }));
    failed++;
    continue;
  }
  for (const c of cases as Case[]) {
    const result = run(c);
    console.log(JSON.stringify({ id: c?.id, ...result }));
    if (result.ok) passed++;
    else failed++;
  }
}
console.log(`conformance: ${passed} passed, ${failed} failed`);
process.exitCode = failed === 0 ? 0 : 1;
