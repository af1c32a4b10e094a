import { createCipheriv, createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  buildJsSdkConfig,
  checkSessionKeySignature,
  decryptMiniProgramData,
  jsSdkSignature,
  rawDataSignature,
  sessionSignature,
  verifyRawDataSignature,
} from '../../src/crypto/index.js';
import { at, expectCode, fixedRandom, vector } from '../helpers.js';

describe('JS-SDK', () => {
  const v = vector('official.json', 'jssdk.signature/JS-DOC-CURRENT');
  const i = v.input as { jsapiTicket: string; nonceStr: string; timestamp: string; url: string };

  it('does not URL-encode the url (the widely repeated claim is false)', () => {
    expect(jsSdkSignature(i)).toBe(v.expect.output);
    expect(jsSdkSignature({ ...i, url: encodeURIComponent(i.url) })).not.toBe(v.expect.output);
  });

  it('builds wx.config parameters whose signature covers the same timestamp and nonceStr', () => {
    const config = buildJsSdkConfig({
      appId: 'wx123',
      jsapiTicket: i.jsapiTicket,
      url: `${i.url}#/page`,
      now: at(1414587457),
      random: fixedRandom(1),
    });
    expect(config).toMatchObject({ appId: 'wx123', timestamp: 1414587457 });
    expect(config.nonceStr).toMatch(/^[A-Za-z0-9]{16}$/);
    expect(config.signature).toBe(jsSdkSignature({ ...i, nonceStr: config.nonceStr }));
  });

  it('refuses a url that is not a full page URL (e.g. still encoded)', () => {
    expectCode(
      () =>
        buildJsSdkConfig({ appId: 'wx', jsapiTicket: 't', url: encodeURIComponent('https://a.example/') }),
      'INVALID_ARGUMENT',
    );
  });
});

describe('Mini Program open data', () => {
  const v = vector('official.json', 'miniprogram.decrypt/MP-ENCRYPTEDDATA');
  const i = v.input as { sessionKey: string; encryptedData: string; iv: string; appId: string };

  it('decrypts the official demo and checks watermark.appid', () => {
    expect(decryptMiniProgramData(i)).toEqual(v.expect.output);
    const error = expectCode(
      () => decryptMiniProgramData({ ...i, appId: 'wx0000000000000000' }),
      'APPID_MISMATCH',
    );
    expect(error.message).not.toContain(i.sessionKey);
  });

  it('refuses data without a watermark', () => {
    const key = Buffer.from(i.sessionKey, 'base64');
    const iv = Buffer.from(i.iv, 'base64');
    const cipher = createCipheriv('aes-128-cbc', key, iv);
    const encryptedData = Buffer.concat([cipher.update('{"openId":"x"}'), cipher.final()]).toString('base64');
    expectCode(() => decryptMiniProgramData({ ...i, encryptedData }), 'APPID_MISMATCH');
  });

  it('gives typed errors for a wrong session key, a bad iv and mangled data', () => {
    expectCode(() => decryptMiniProgramData({ ...i, sessionKey: 'short' }), 'BAD_KEY');
    expectCode(() => decryptMiniProgramData({ ...i, iv: 'AAAAAAAAAAAAAAAA' }), 'BAD_CIPHERTEXT');
    expectCode(
      () => decryptMiniProgramData({ ...i, encryptedData: i.encryptedData.replace(/\+/g, ' ') }),
      'BAD_CIPHERTEXT',
    );
    const wrong = Buffer.alloc(16, 9).toString('base64');
    expect(() => decryptMiniProgramData({ ...i, sessionKey: wrong })).toThrow(/session_key|padding/);
  });

  it('computes rawData and login-state signatures with the session_key text, not its bytes', () => {
    const raw = vector('official.json', 'miniprogram.rawDataSignature/MP-RAWDATA-SIG').input as Record<
      string,
      string
    >;
    const sig = rawDataSignature(raw.rawData!, raw.sessionKey!);
    verifyRawDataSignature(raw.rawData!, raw.sessionKey!, sig);
    expectCode(() => verifyRawDataSignature(`${raw.rawData} `, raw.sessionKey!, sig), 'SIGNATURE_MISMATCH');
    const key = 'o0q0otL8aEzpcZL/FT9WsQ==';
    expect(sessionSignature(key, '{"foo":"bar"}')).toBe(
      vector('official.json', 'miniprogram.sessionSignature/MP-LOGIN-STATE-HMAC').expect.output,
    );
    expect(checkSessionKeySignature(key)).toBe(createHmac('sha256', key).update('').digest('hex'));
    expect(sessionSignature(key, '{"foo":"bar"}')).not.toBe(
      createHmac('sha256', Buffer.from(key, 'base64')).update('{"foo":"bar"}').digest('hex'),
    );
  });
});
