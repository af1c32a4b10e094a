import { describe, expect, it } from 'vitest';
import {
  isSecretKey,
  maskSecret,
  REDACTED,
  redactText,
  redactUrl,
  redactUrlCredentials,
  redactValue,
  SECRET_KEYS,
} from '../../src/core/redact.js';

describe('redactUrl', () => {
  it('redacts every secret query parameter and keeps the others', () => {
    const url =
      'https://api.weixin.qq.com/sns/jscode2session?appid=wx1&secret=S1&js_code=C1&grant_type=authorization_code';
    expect(redactUrl(url)).toBe(
      'https://api.weixin.qq.com/sns/jscode2session?appid=wx1&secret=***&js_code=***&grant_type=authorization_code',
    );
  });

  it.each(SECRET_KEYS.map((key) => [key]))('redacts %s', (key) => {
    expect(redactUrl(`https://h/p?x=1&${key}=VALUE&y=2`)).toBe(`https://h/p?x=1&${key}=***&y=2`);
  });

  it('catches percent-encoded and upper-case keys', () => {
    expect(redactUrl('https://h/p?access%5Ftoken=T&%73ecret=S&ACCESS_TOKEN=U')).toBe(
      'https://h/p?access%5Ftoken=***&%73ecret=***&ACCESS_TOKEN=***',
    );
  });

  it('redacts secrets nested in another parameter, once or twice encoded', () => {
    const once = encodeURIComponent('https://app/cb?code=C1&state=s');
    const twice = encodeURIComponent(encodeURIComponent('https://app/cb?code=C2&state=s'));
    const out = redactUrl(`https://open.weixin.qq.com/connect?redirect_uri=${once}&next=${twice}`);
    expect(out).not.toContain('C1');
    expect(out).not.toContain('C2');
    expect(out).toContain('state%3Ds');
  });

  it('redacts the fragment, keeps names that merely end like a secret key', () => {
    expect(redactUrl('https://h/p?errcode=0&barcode=1#access_token=T')).toBe(
      'https://h/p?errcode=0&barcode=1#access_token=***',
    );
  });

  it('never throws on malformed input', () => {
    expect(redactUrl('not a url?%E0%A4%A=1&secret=%ZZ')).toBe('not a url?%E0%A4%A=1&secret=***');
    expect(redactUrl('')).toBe('');
  });
});

describe('redactText', () => {
  it('redacts query pairs inside free text', () => {
    expect(redactText('GET https://h/p?access_token=T failed; retry with ticket=K.')).toBe(
      'GET https://h/p?access_token=*** failed; retry with ticket=***',
    );
  });

  it('redacts JSON members, strings with escaped quotes and numbers included', () => {
    const body = JSON.stringify({
      appid: 'wx1',
      secret: 'a"b\\c',
      code: 12345,
      errcode: 0,
      nested: { session_key: 'K' },
    });
    expect(redactText(body)).toBe(
      '{"appid":"wx1","secret":"***","code":***,"errcode":0,"nested":{"session_key":"***"}}',
    );
  });

  it('redacts JSON that was itself serialised into a string', () => {
    const twice = JSON.stringify(JSON.stringify({ js_code: 'C1', ok: 1 }));
    expect(redactText(twice)).toBe(JSON.stringify(JSON.stringify({ js_code: '***', ok: 1 })));
  });

  it('redacts pretty-printed JSON', () => {
    const pretty = JSON.stringify({ refresh_token: 'R1', scope: 'snsapi_base' }, null, 2);
    expect(redactText(pretty)).not.toContain('R1');
    expect(redactText(pretty)).toContain('snsapi_base');
  });
});

describe('redactValue', () => {
  it('replaces secret members deeply, whatever their value, and copies the rest', () => {
    const input = {
      appid: 'wx1',
      Secret: 'S',
      list: [{ access_token: 'T', n: 1 }],
      nested: { session_key: { any: 'shape' }, url: 'https://h/p?ticket=K' },
      absent: undefined,
      code: undefined,
    };
    expect(redactValue(input)).toEqual({
      appid: 'wx1',
      Secret: REDACTED,
      list: [{ access_token: REDACTED, n: 1 }],
      nested: { session_key: REDACTED, url: 'https://h/p?ticket=***' },
      absent: undefined,
      code: undefined,
    });
    expect(input.Secret).toBe('S');
  });

  it('handles URLSearchParams, URLs, bytes, errors and cycles', () => {
    const cyclic: Record<string, unknown> = { secret: 'S' };
    cyclic.self = cyclic;
    expect(
      redactValue({
        form: new URLSearchParams({ corpsecret: 'C', x: '1' }),
        url: new URL('https://h/p?suite_ticket=T'),
        bytes: new Uint8Array(4),
        error: new Error('GET /p?provider_secret=P'),
        cyclic,
      }),
    ).toEqual({
      form: 'corpsecret=***&x=1',
      url: 'https://h/p?suite_ticket=***',
      bytes: '[4 bytes]',
      error: { name: 'Error', message: 'GET /p?provider_secret=***' },
      cyclic: { secret: REDACTED, self: '[Circular]' },
    });
  });

  it('leaves primitives alone', () => {
    expect(redactValue(3)).toBe(3);
    expect(redactValue(null)).toBe(null);
    expect(redactValue('secret=abc')).toBe('secret=***');
  });
});

describe('isSecretKey', () => {
  it('matches case-insensitively and percent-decoded, and only whole keys', () => {
    expect(isSecretKey('Component_AppSecret')).toBe(true);
    expect(isSecretKey('js%5Fcode')).toBe(true);
    expect(isSecretKey('errcode')).toBe(false);
    expect(isSecretKey('openid')).toBe(false);
  });
});

describe('redactUrlCredentials', () => {
  it('replaces the user and password of every URL and keeps host, port and path', () => {
    expect(
      redactUrlCredentials(
        'connect ECONNREFUSED redis://default:hunter2@10.0.0.5:6379/0, then rediss://:p%40ss@cache:6380',
      ),
    ).toBe('connect ECONNREFUSED redis://***@10.0.0.5:6379/0, then rediss://***@cache:6380');
  });

  it('leaves URLs without credentials and an @ after the path alone', () => {
    const text = 'redis://10.0.0.5:6379 https://h/p?to=a@b.c mail a@b.c';
    expect(redactUrlCredentials(text)).toBe(text);
  });
});

describe('maskSecret', () => {
  it('keeps the length and only the last 4 characters', () => {
    const secret = 'sM4AOVdWfPE4DxkXGEs8VMCPGGVi4C3V';
    expect(maskSecret(secret)).toBe(`${'*'.repeat(28)}4C3V`);
    expect(maskSecret('123456789')).toBe('*****6789');
  });

  it('masks values of 8 characters or fewer entirely', () => {
    expect(maskSecret('12345678')).toBe('********');
    expect(maskSecret('ab')).toBe('**');
    expect(maskSecret('')).toBe('');
  });
});
