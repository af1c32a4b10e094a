/**
 * `npm run bench` — throughput of weixin-kit's protocol core, each scenario beside a
 * hand-written node:crypto baseline doing the same job, measured in the same run.
 * `npm run bench -- --json` prints `{ "scenarios": [{ name, opsPerSec, baselineOpsPerSec, ratio }] }`;
 * the `http.*` scenarios (bench/http.ts) and the `guard.route.*` and `guard.redisLimit` scenarios
 * (bench/guard.ts) add `p99Ms` and `baselineP99Ms`; `tokens` and `loginStorm` hold the multi-process
 * counts, `openPlatform` the authorizer refresh storm (bench/open-platform.ts).
 * `BENCH_ONLY=core,handle,pay,tokens,openPlatform,http,guard` (any of them; `core` includes `handle`) runs only those groups.
 */
import {
  createDecipheriv,
  createHash,
  generateKeyPairSync,
  sign,
  timingSafeEqual,
  verify,
} from 'node:crypto';
import { XMLParser } from 'fast-xml-parser';
import {
  buildAuthorization,
  encryptResource,
  MessageCrypto,
  openNotification,
  PayV3Verifier,
  parseXml,
  signPayV2,
  verifyPayV3Signature,
} from '../src/crypto/index.js';
import { PAY_NOTIFY } from '../test/xml/fixtures.js';
import { type GuardScenarios, guardScenarios, printGuardTables } from './guard.js';
import { handleScenario, printHandleTable } from './handle.js';
import { arrayBufferAllocationNs, compare, printTable, type ScenarioResult } from './harness.js';
import { httpScenarios, printHttpTable } from './http.js';
import { openPlatformScenario, printOpenPlatform } from './open-platform.js';
import { payScenarios } from './pay.js';
import { tokenScenario } from './tokens.js';

const json = process.argv.includes('--json');
// BENCH_ONLY=guard (or a comma-separated list of core, pay, tokens, http, guard) runs only those groups.
const only = process.env.BENCH_ONLY?.split(',').map((group) => group.trim());
const selected = (group: string): boolean => only === undefined || only.includes(group);
const results: ScenarioResult[] = [];
const notes: Record<string, string> = {};
const fxp = new XMLParser({ parseTagValue: false, ignoreAttributes: true, processEntities: false });
// Measured first, on a quiet process: see arrayBufferAllocationNs and the profile notes.
const allocationNs = arrayBufferAllocationNs();
const assertSame = (name: string, a: unknown, b: unknown) => {
  if (JSON.stringify(a) !== JSON.stringify(b)) throw new Error(`${name}: candidate and baseline disagree`);
};

// --- callback.open: raw safe-mode body -> verified, decrypted, parsed object
if (selected('core')) {
  const token = 'bench-token';
  const encodingAESKey = 'abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG';
  const appId = 'wxb11529c136998cb6';
  const now = 1_700_000_000;
  const mc = new MessageCrypto({ token, encodingAESKey, receiveId: appId, now: () => now * 1000 });
  const inner =
    '<xml><ToUserName><![CDATA[gh_1234567890ab]]></ToUserName><FromUserName><![CDATA[oUpF8uMuAJO_M2pxb1Q9zNjWeS6o]]></FromUserName>' +
    '<CreateTime>1700000000</CreateTime><MsgType><![CDATA[text]]></MsgType><Content><![CDATA[你好，我想查询一下订单的物流状态]]></Content>' +
    '<MsgId>24312345678901234</MsgId></xml>';
  const sealed = mc.seal(inner, { timestamp: now, nonce: '1320562132' });
  const body = `<xml><ToUserName><![CDATA[gh_1234567890ab]]></ToUserName><Encrypt><![CDATA[${sealed.encrypt}]]></Encrypt></xml>`;
  const query = { msgSignature: sealed.msgSignature, timestamp: sealed.timestamp, nonce: sealed.nonce };
  const key = Buffer.from(`${encodingAESKey}=`, 'base64');
  const iv = key.subarray(0, 16);

  const candidate = () => parseXml(mc.open({ body, ...query }).plaintext);
  const baseline = () => {
    const encrypt = fxp.parse(body).xml.Encrypt as string;
    const expected = createHash('sha1')
      .update([token, query.timestamp, query.nonce, encrypt].sort().join(''))
      .digest('hex');
    if (!timingSafeEqual(Buffer.from(expected), Buffer.from(query.msgSignature)))
      throw new Error('bad signature');
    const d = createDecipheriv('aes-256-cbc', key, iv);
    d.setAutoPadding(false);
    const plain = Buffer.concat([d.update(Buffer.from(encrypt, 'base64')), d.final()]);
    const length = plain.readUInt32BE(16);
    return fxp.parse(plain.toString('utf8', 20, 20 + length)).xml;
  };
  assertSame('callback.open', candidate(), baseline());
  results.push(compare('callback.open', candidate, baseline));
  notes['callback.open'] = 'sha1 + AES-256-CBC by hand + fast-xml-parser';
}

// --- pay.v2.sign
if (selected('core')) {
  const params = {
    appid: 'wxd930ea5d5a258f4f',
    mch_id: '10000100',
    device_info: '1000',
    body: '腾讯充值中心-QQ会员充值',
    nonce_str: 'ibuaiVcKdpRxkhJA',
    out_trade_no: '20150806125346',
    total_fee: '88',
    spbill_create_ip: '123.12.12.123',
    notify_url: 'https://www.weixin.qq.com/wxpay/pay.php',
    trade_type: 'JSAPI',
    openid: 'oUpF8uMuAJO_M2pxb1Q9zNjWeS6o',
  };
  const key = '192006250b4c09247ec02edce69f6a2d';
  const candidate = () => signPayV2(params, key);
  const baseline = () => {
    const s = Object.keys(params)
      .sort()
      .map((k) => `${k}=${params[k as keyof typeof params]}`)
      .join('&');
    return createHash('md5').update(`${s}&key=${key}`).digest('hex').toUpperCase();
  };
  assertSame('pay.v2.sign', candidate(), baseline());
  results.push(compare('pay.v2.sign', candidate, baseline));
  notes['pay.v2.sign'] = 'sort + join + md5 by hand';
}

// --- Pay v3: one RSA-2048 merchant key and one platform key, both parsed once
if (selected('core')) {
  const merchant = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const platform = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const mchid = '1900009191';
  const serialNo = '1DDE55AD98ED71D6EDD4A4A16996DE7B47773A8C';
  const url = '/v3/pay/transactions/jsapi';
  const body = JSON.stringify({
    appid: 'wxd678efh567hg6787',
    mchid,
    description: 'Image形象店-深圳腾大-QQ公仔',
    out_trade_no: '1217752501201407033233368018',
    amount: { total: 100, currency: 'CNY' },
  });
  const timestamp = '1554208460';
  const nonce = '593BEC0C930BF1AFEB40B4A08C8FB242';

  const candidateAuth = () =>
    buildAuthorization({
      method: 'POST',
      url,
      body,
      mchid,
      serialNo,
      privateKey: merchant.privateKey,
      timestamp,
      nonce,
    });
  const baselineAuth = () => {
    const signature = sign(
      'sha256',
      Buffer.from(`POST\n${url}\n${timestamp}\n${nonce}\n${body}\n`),
      merchant.privateKey,
    ).toString('base64');
    return `WECHATPAY2-SHA256-RSA2048 mchid="${mchid}",nonce_str="${nonce}",signature="${signature}",timestamp="${timestamp}",serial_no="${serialNo}"`;
  };
  assertSame('pay.v3.authorization', candidateAuth(), baselineAuth());
  results.push(compare('pay.v3.authorization', candidateAuth, baselineAuth));
  notes['pay.v3.authorization'] = 'crypto.sign with a cached KeyObject';

  const respBody = '{"prepay_id":"wx26112221580621e9b071c00d9e093b0000"}';
  const respSig = sign(
    'sha256',
    Buffer.from(`${timestamp}\n${nonce}\n${respBody}\n`),
    platform.privateKey,
  ).toString('base64');
  const now = () => Number(timestamp) * 1000;
  const candidateVerify = () =>
    verifyPayV3Signature({
      timestamp,
      nonce,
      body: respBody,
      signature: respSig,
      publicKey: platform.publicKey,
      now,
    });
  const baselineVerify = () => {
    if (Math.abs(Number(timestamp) - now() / 1000) > 300) throw new Error('stale');
    if (
      !verify(
        'sha256',
        Buffer.from(`${timestamp}\n${nonce}\n${respBody}\n`),
        platform.publicKey,
        Buffer.from(respSig, 'base64'),
      )
    ) {
      throw new Error('bad signature');
    }
  };
  candidateVerify();
  baselineVerify();
  results.push(compare('pay.v3.verify', candidateVerify, baselineVerify));
  notes['pay.v3.verify'] = 'crypto.verify with a cached KeyObject';

  const apiV3Key = 'a7cde1ZJB1kG2e7VfTs3jQzaWizur8Gb';
  const plaintext = JSON.stringify({
    mchid,
    out_trade_no: '1217752501201407033233368018',
    transaction_id: '1217752501201407033233368018',
    trade_state: 'SUCCESS',
    amount: { total: 100, payer_total: 100, currency: 'CNY' },
  });
  const resource = encryptResource({
    apiV3Key,
    plaintext,
    nonce: 'fdasflkja484',
    associatedData: 'transaction',
  });
  const notifyBody = JSON.stringify({
    id: 'EV-2018022511223320873',
    create_time: '2015-05-20T13:29:35+08:00',
    resource_type: 'encrypt-resource',
    event_type: 'TRANSACTION.SUCCESS',
    summary: '支付成功',
    resource: { original_type: 'transaction', ...resource },
  });
  const notifySig = sign(
    'sha256',
    Buffer.from(`${timestamp}\n${nonce}\n${notifyBody}\n`),
    platform.privateKey,
  ).toString('base64');
  const headers = {
    'Wechatpay-Timestamp': timestamp,
    'Wechatpay-Nonce': nonce,
    'Wechatpay-Signature': notifySig,
    'Wechatpay-Serial': 'PUB_KEY_ID_0000000000000024101100397200000006',
  };
  const verifier = new PayV3Verifier({
    publicKey: { id: headers['Wechatpay-Serial'], key: platform.publicKey },
  });
  const keyBytes = Buffer.from(apiV3Key);
  const candidateNotify = () =>
    openNotification({ headers, body: notifyBody, apiV3Key, verifier, now }).plaintext;
  const baselineNotify = () => {
    if (Math.abs(Number(headers['Wechatpay-Timestamp']) - now() / 1000) > 300) throw new Error('stale');
    if (
      !verify(
        'sha256',
        Buffer.from(`${timestamp}\n${nonce}\n${notifyBody}\n`),
        platform.publicKey,
        Buffer.from(notifySig, 'base64'),
      )
    ) {
      throw new Error('bad signature');
    }
    const r = JSON.parse(notifyBody).resource;
    const data = Buffer.from(r.ciphertext, 'base64');
    const d = createDecipheriv('aes-256-gcm', keyBytes, Buffer.from(r.nonce));
    d.setAAD(Buffer.from(r.associated_data));
    d.setAuthTag(data.subarray(data.length - 16));
    const plaintext = Buffer.concat([d.update(data.subarray(0, data.length - 16)), d.final()]).toString(
      'utf8',
    );
    JSON.parse(plaintext); // the job includes the resource object, as openNotification returns it
    return plaintext;
  };
  assertSame('pay.v3.openNotification', candidateNotify(), baselineNotify());
  results.push(compare('pay.v3.openNotification', candidateNotify, baselineNotify));
  notes['pay.v3.openNotification'] = 'verify + JSON.parse + AES-256-GCM + JSON.parse by hand';
}

// --- xml.parse: the codec alone, on a Pay v2 notification (28-digit ids and leading zeros stay strings)
if (selected('core')) {
  const candidate = () => parseXml(PAY_NOTIFY);
  const baseline = () => fxp.parse(PAY_NOTIFY).xml;
  results.push(compare('xml.parse', candidate, baseline));
  notes['xml.parse'] = 'fast-xml-parser XMLParser (values as strings)';
}

if (selected('pay')) {
  const pay = await payScenarios();
  results.push(...pay.results);
  Object.assign(notes, pay.notes);
}

const handle = selected('core') || selected('handle') ? await handleScenario() : undefined;
const tokens = selected('tokens') ? await tokenScenario() : undefined;
const openPlatform = selected('openPlatform') ? await openPlatformScenario() : undefined;
const http = selected('http') ? await httpScenarios() : [];
const guard: GuardScenarios = selected('guard')
  ? await guardScenarios()
  : { routes: [], observed: [], redisLimit: undefined, loginStorm: undefined };

if (json) {
  console.log(
    JSON.stringify({
      environment: { node: process.version, arrayBufferAllocationNs: allocationNs },
      scenarios: [
        ...results,
        ...(handle ? [handle] : []),
        ...http,
        ...guard.routes,
        ...guard.observed,
        ...(guard.redisLimit ? [guard.redisLimit] : []),
      ],
      ...(tokens ? { tokens: [tokens] } : {}),
      ...(openPlatform ? { openPlatform: [openPlatform] } : {}),
      ...(guard.loginStorm ? { loginStorm: [guard.loginStorm] } : {}),
    }),
  );
} else {
  console.log(`weixin-kit bench — node ${process.version}, ${process.platform}/${process.arch}`);
  console.log(
    `this machine: new ArrayBuffer(320) ${allocationNs.toLocaleString('en-US')} ns — every Cipher.update pays about that ` +
      "(~250 ns with an uncontended allocator; 1-3 µs where glibc contends with V8's ArrayBuffer sweeper: bench/profiles/README.md)\n",
  );
  if (results.length > 0) printTable(results, notes);
  if (handle) printHandleTable(handle);
  if (tokens) {
    console.log(
      `\n${tokens.name}: ${tokens.processes} processes x ${tokens.callsPerProcess} concurrent calls on a cold cache\n` +
        `  weixin-kit (RedisStore)  token requests: ${tokens.tokenRequests}  calls/s: ${tokens.callsPerSec}\n` +
        `  naive client             token requests: ${tokens.naiveTokenRequests}  calls/s: ${tokens.naiveCallsPerSec}`,
    );
  }
  if (openPlatform) printOpenPlatform(openPlatform);
  if (http.length > 0) printHttpTable(http);
  printGuardTables(guard);
}
