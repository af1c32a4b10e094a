import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { maskSecret } from '../../src/cli/explain.js';
import { main } from '../../src/cli/index.js';
import { fx } from '../crypto/pay-v3-fixture.js';
import { vector } from '../helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'weixin-kit-explain-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function file(name: string, content: string): string {
  const path = join(dir, name);
  writeFileSync(path, content);
  return path;
}

async function run(argv: string[]): Promise<{ code: number; text: string }> {
  const lines: string[] = [];
  const code = await main(argv, (l) => lines.push(l));
  return { code, text: lines.join('\n') };
}

describe('explain server-signature / message-signature', () => {
  const v = vector<{ token: string; timestamp: string; nonce: string }>(
    'official.json',
    'server.signature/UV-DOC-GET',
  );

  it('prints the sorted parts, the joined string and the value (UV-DOC-GET)', async () => {
    const { code, text } = await run([
      'explain',
      'server-signature',
      '--token',
      v.input.token,
      '--timestamp',
      v.input.timestamp,
      '--nonce',
      v.input.nonce,
      '--signature',
      String(v.expect.output),
    ]);
    expect(code).toBe(0);
    // The token sorts last here; it is shown masked (AAAAA is 5 characters: fully masked).
    expect(text).toContain(`${v.input.nonce}${v.input.timestamp}*****`);
    expect(text).toMatch(
      /1\. nonce\s+1514711492\n\s+2\. timestamp\s+1714036504\n\s+3\. token\s+\*{5} \(5 characters, masked\)/,
    );
    expect(text).toContain(`computed: ${v.expect.output}`);
    expect(text).toContain('MATCH');
    expect(text).not.toContain('MISMATCH');
  });

  it('confirms an unsorted concatenation as the cause of a mismatch', async () => {
    const unsorted = createHash('sha1')
      .update(`${v.input.token}${v.input.timestamp}${v.input.nonce}`)
      .digest('hex');
    const { code, text } = await run([
      'explain',
      'server-signature',
      '--token',
      v.input.token,
      '--timestamp',
      v.input.timestamp,
      '--nonce',
      v.input.nonce,
      '--signature',
      unsorted,
    ]);
    expect(code).toBe(1);
    expect(text).toContain('MISMATCH');
    expect(text).toMatch(/confirmed cause: the parts were joined in a fixed order/);
  });

  it('message-signature includes Encrypt (MC-OP-DOC-XML) and spots the plain signature', async () => {
    const m = vector<{ token: string; timestamp: string; nonce: string; encrypt: string }>(
      'official.json',
      'message.signature/MC-OP-DOC-XML',
    );
    const args = ['--token', m.input.token, '--timestamp', m.input.timestamp, '--nonce', m.input.nonce];
    const ok = await run(['explain', 'message-signature', ...args, '--encrypt', m.input.encrypt]);
    expect(ok.code).toBe(0);
    const masked = maskSecret(m.input.token);
    expect(ok.text).toContain(
      [m.input.token, m.input.timestamp, m.input.nonce, m.input.encrypt]
        .sort()
        .map((part) => (part === m.input.token ? masked : part))
        .join(''),
    );
    expect(ok.text).toContain(`computed: ${m.expect.output}`);

    const plain = createHash('sha1')
      .update([m.input.token, m.input.timestamp, m.input.nonce].sort().join(''))
      .digest('hex');
    const bad = await run([
      'explain',
      'message-signature',
      ...args,
      '--encrypt',
      m.input.encrypt,
      '--signature',
      plain,
    ]);
    expect(bad.code).toBe(1);
    expect(bad.text).toMatch(/confirmed cause: the received value is the plain `signature` parameter/);
  });

  it('flags a millisecond timestamp', async () => {
    const { text } = await run([
      'explain',
      'server-signature',
      '--token',
      'AAAAA',
      '--timestamp',
      '1714036504000',
      '--nonce',
      '1',
      '--signature',
      'f464b24fc39322e44b38aa78f5edd27bd1441696',
    ]);
    expect(text).toContain('MISMATCH');
    expect(text).toMatch(/milliseconds/);
  });
});

describe('explain pay-v2', () => {
  const v = vector<{ params: Record<string, string>; key: string }>(
    'official.json',
    'pay.v2.sign/V2-DOC-MD5',
  );
  const hmac = vector('official.json', 'pay.v2.sign/V2-DOC-HMAC');
  const paramArgs = Object.entries(v.input.params).flatMap(([k, val]) => ['--param', `${k}=${val}`]);
  const masked = `${'*'.repeat(28)}${v.input.key.slice(-4)}`;
  const expectedString =
    'appid=wxd930ea5d5a258f4f&body=test&device_info=1000&mch_id=10000100&nonce_str=ibuaiVcKdpRxkhJA';

  it('prints the sorted string with the key masked and the MD5 sign (V2-DOC-MD5)', async () => {
    const { code, text } = await run([
      'explain',
      'pay-v2',
      '--key',
      v.input.key,
      '--sign-type',
      'MD5',
      ...paramArgs,
      '--sign',
      String(v.expect.output),
    ]);
    expect(code).toBe(0);
    expect(text).toContain(`${expectedString}&key=${masked}`);
    expect(text).toContain(`computed: ${v.expect.output}`);
    expect(text).toContain('MATCH');
    expect(text).not.toContain(v.input.key);
  });

  it('confirms a sign_type mismatch and never prints the key', async () => {
    const { code, text } = await run([
      'explain',
      'pay-v2',
      '--key',
      v.input.key,
      ...paramArgs,
      '--param',
      'attach=',
      '--sign',
      String(hmac.expect.output),
    ]);
    expect(code).toBe(1);
    expect(text).toContain('MISMATCH');
    expect(text).toMatch(/attach=\s+\(skipped: empty\)/);
    expect(text).toMatch(/confirmed cause: sign_type mismatch/);
    expect(text).not.toContain(v.input.key);
  });

  it('reads the parameters and the received sign from --xml', async () => {
    const xml = `<xml>${Object.entries(v.input.params)
      .map(([k, val]) => `<${k}><![CDATA[${val}]]></${k}>`)
      .join('')}<sign>${hmac.expect.output}</sign><sign_type>HMAC-SHA256</sign_type></xml>`;
    const { code, text } = await run([
      'explain',
      'pay-v2',
      '--key',
      v.input.key,
      '--xml',
      file('v2.xml', xml),
    ]);
    expect(text).toContain('pay-v2 (HMAC-SHA256)');
    expect(text).toContain(`${expectedString}&sign_type=HMAC-SHA256&key=${masked}`);
    // sign_type takes part in the string, so the doc vector's HMAC (signed without it) must not match.
    expect(code).toBe(1);
    expect(text).not.toContain(v.input.key);
  });
});

describe('explain jssdk', () => {
  const v = vector<{ jsapiTicket: string; nonceStr: string; timestamp: string; url: string }>(
    'official.json',
    'jssdk.signature/JS-DOC-CURRENT',
  );
  const base = [
    'explain',
    'jssdk',
    '--ticket',
    v.input.jsapiTicket,
    '--noncestr',
    v.input.nonceStr,
    '--timestamp',
    v.input.timestamp,
  ];
  const string1 = `jsapi_ticket=${v.input.jsapiTicket}&noncestr=${v.input.nonceStr}&timestamp=${v.input.timestamp}&url=${v.input.url}`;
  // string1 as printed: the ticket masked.
  const shownString1 = string1.replace(v.input.jsapiTicket, maskSecret(v.input.jsapiTicket));

  it('prints string1 and the signature (JS-DOC-CURRENT)', async () => {
    const { code, text } = await run([...base, '--url', v.input.url, '--signature', String(v.expect.output)]);
    expect(code).toBe(0);
    expect(text).toContain(shownString1);
    expect(text).toContain(`computed: ${v.expect.output}`);
    expect(text).toContain('result:   MATCH');
  });

  it('URL-encoded url: MISMATCH with the encoding confirmed as the cause', async () => {
    const { code, text } = await run([
      ...base,
      '--url',
      encodeURIComponent(v.input.url),
      '--signature',
      String(v.expect.output),
    ]);
    expect(code).toBe(1);
    expect(text).toContain('MISMATCH');
    expect(text).toMatch(/warning: .*URL-encoded/);
    expect(text).toMatch(/confirmed cause: URL-encoded url/);
  });

  it('fragment: dropped from the signed url; a signature over it is a MISMATCH naming the fragment', async () => {
    const withFragment = `${v.input.url}#/orders?id=1`;
    const good = await run([...base, '--url', withFragment, '--signature', String(v.expect.output)]);
    expect(good.code).toBe(0);
    expect(good.text).toContain(shownString1);
    expect(good.text).toContain('#fragment "#/orders?id=1" is dropped');
    expect(good.text).toContain('result:   MATCH');

    const overFragment = createHash('sha1').update(`${string1}#/orders?id=1`).digest('hex');
    const bad = await run([...base, '--url', withFragment, '--signature', overFragment]);
    expect(bad.code).toBe(1);
    expect(bad.text).toContain('MISMATCH');
    expect(bad.text).toMatch(/confirmed cause: the #fragment was not dropped/);
  });

  it('without --signature: no verdict, exit 0', async () => {
    const { code, text } = await run([...base, '--url', v.input.url]);
    expect(code).toBe(0);
    expect(text).not.toMatch(/MATCH/);
  });
});

describe('explain pay-v3', () => {
  it('pay-v3-request: the lines with visible \\n markers and the signature (SELF-REQ-POST-JSAPI)', async () => {
    const v = vector<{
      method: string;
      url: string;
      body: string;
      timestamp: string;
      nonce: string;
      privateKeyPem: string;
    }>('official.json', 'pay.v3.authorization/SELF-REQ-POST-JSAPI');
    const expected = /signature="([^"]+)"/.exec(String(v.expect.output))?.[1] ?? '';
    const message = `${v.input.method}\n${v.input.url}\n${v.input.timestamp}\n${v.input.nonce}\n${v.input.body}\n`;
    const { code, text } = await run([
      'explain',
      'pay-v3-request',
      '--method',
      v.input.method,
      '--url',
      `https://api.mch.weixin.qq.com${v.input.url}`,
      '--timestamp',
      v.input.timestamp,
      '--nonce',
      v.input.nonce,
      '--body-file',
      file('req.json', v.input.body),
      '--private-key',
      file('key.pem', v.input.privateKeyPem),
      '--signature',
      expected,
    ]);
    expect(code).toBe(0);
    expect(text).toContain(JSON.stringify(message));
    expect(text).toContain(`  | ${v.input.method}\\n\n  | ${v.input.url}\\n\n  | ${v.input.timestamp}\\n`);
    expect(text).toContain(`  | ${v.input.body}\\n`);
    expect(text).toContain(`computed: ${expected}`);
    expect(text).toMatch(/warning: .*scheme and host/);
    expect(text).toContain('result:   MATCH');
    expect(text).not.toContain('PRIVATE KEY');
  });

  const v = vector<{
    timestamp: string;
    nonce: string;
    body: string;
    signature: string;
    certificatePem: string;
  }>('official.json', 'pay.v3.verify/SELF-RESP');
  const base = ['explain', 'pay-v3-response', '--timestamp', v.input.timestamp, '--nonce', v.input.nonce];

  it('pay-v3-response: MATCH with the certificate (SELF-RESP)', async () => {
    const { code, text } = await run([
      ...base,
      '--body',
      v.input.body,
      '--signature',
      v.input.signature,
      '--certificate',
      file('cert.pem', v.input.certificatePem),
    ]);
    expect(code).toBe(0);
    expect(text).toContain(JSON.stringify(`${v.input.timestamp}\n${v.input.nonce}\n${v.input.body}\n`));
    expect(text).toContain(`  | ${v.input.body}\\n`);
    expect(text).toContain('certificate serial: D7CE59D1F522D701');
    expect(text).toContain('result:   MATCH');
  });

  it('pay-v3-response: a re-serialised body is a MISMATCH with the cause confirmed', async () => {
    const pretty = JSON.stringify(JSON.parse(v.input.body), null, 2);
    const { code, text } = await run([
      ...base,
      '--body-file',
      file('resp.json', pretty),
      '--signature',
      v.input.signature,
      '--public-key',
      file('pub.pem', fx.keys.goPublicSpki),
    ]);
    expect(code).toBe(1);
    expect(text).toContain('MISMATCH');
    expect(text).toMatch(/confirmed cause: the body was re-serialised/);
  });

  it('pay-v3-response: a wrong key is a MISMATCH that lists the wrong-key cause', async () => {
    const { code, text } = await run([
      ...base,
      '--body',
      v.input.body,
      '--signature',
      v.input.signature,
      '--certificate',
      file('platform.pem', fx.keys.platformCert),
    ]);
    expect(code).toBe(1);
    expect(text).toMatch(/- wrong key/);
  });
});

describe('explain: argument errors', () => {
  it('unknown kind and missing flags exit 1', async () => {
    expect((await run(['explain', 'nope'])).code).toBe(1);
    expect((await run(['explain', 'jssdk', '--ticket', 't'])).code).toBe(1);
  });

  it('the usage text lists explain and doctor', async () => {
    const { code, text } = await run(['help']);
    expect(code).toBe(0);
    expect(text).toContain('explain <kind>');
    expect(text).toContain('doctor [--config');
  });
});

describe('explain never prints a secret in full', () => {
  // Distinctive values: if any of them appears in full on stdout or stderr, it leaked.
  const TOKEN = 'LeakCanaryToken7Q';
  const TICKET = 'LeakCanaryTicket_sM4AOVdWfPE4DxkXGEs8VMCPGGVi4C3VM0P37wVUCFvkVAy_90u5h9nb-Sl-Hh';
  const API_KEY = 'LeakCanaryApiV2Key0123456789abcd';
  const ENCRYPT = 'bWVzc2FnZSBib2R5IGJ5dGVzIGZvciB0aGUgdGVzdA==';
  const secrets = [TOKEN, TICKET, API_KEY];

  async function runBoth(argv: string[]): Promise<{ code: number; all: string }> {
    const lines: string[] = [];
    const code = await main(argv, (l) => lines.push(l), { err: (l) => lines.push(`stderr: ${l}`) });
    return { code, all: lines.join('\n') };
  }

  function expectNoSecret(all: string): void {
    for (const secret of secrets) expect(all).not.toContain(secret);
    // Nor a long piece of one (e.g. all but the first character).
    for (const secret of secrets) expect(all).not.toContain(secret.slice(1));
  }

  const sha1 = (text: string) => createHash('sha1').update(text).digest('hex');
  const ts = ['--timestamp', '1714036504', '--nonce', '1514711492'];
  const cases: Array<[string, string[]]> = [
    [
      'server-signature (MATCH)',
      [
        'server-signature',
        '--token',
        TOKEN,
        ...ts,
        '--signature',
        sha1(['1714036504', '1514711492', TOKEN].sort().join('')),
      ],
    ],
    [
      'server-signature (MISMATCH)',
      ['server-signature', '--token', TOKEN, ...ts, '--signature', '0'.repeat(40)],
    ],
    [
      'message-signature (MISMATCH)',
      ['message-signature', '--token', TOKEN, ...ts, '--encrypt', ENCRYPT, '--signature', '0'.repeat(40)],
    ],
    [
      'message-signature (no signature)',
      ['message-signature', '--token', TOKEN, ...ts, '--encrypt', ENCRYPT.replace('+', ' ')],
    ],
    [
      'jssdk (MISMATCH)',
      [
        'jssdk',
        '--ticket',
        TICKET,
        '--noncestr',
        'Wm3WZYTPz0wzccnW',
        '--timestamp',
        '1414587457000',
        '--url',
        'https%3A%2F%2Fexample.com%2F#x',
        '--signature',
        '0'.repeat(40),
      ],
    ],
    [
      'pay-v2 (MISMATCH)',
      [
        'pay-v2',
        '--key',
        ` ${API_KEY}`,
        '--param',
        'appid=wxd930ea5d5a258f4f',
        '--param',
        'attach=',
        '--sign',
        'X',
      ],
    ],
  ];

  it.each(cases)('%s: shows the secret masked with its length, never in full', async (_name, args) => {
    const { all } = await runBoth(['explain', ...args]);
    expectNoSecret(all);
    const secret = args.includes('--token') ? TOKEN : args.includes('--ticket') ? TICKET : undefined;
    if (secret !== undefined) {
      // The user still recognises the value: its last 4 characters and its length.
      expect(all).toContain(`${maskSecret(secret)} (${secret.length} characters, masked)`);
      expect(all).toContain(secret.slice(-4));
    }
  });

  it('the string to sign keeps the real byte count while showing the mask', async () => {
    const { all } = await runBoth(['explain', 'server-signature', '--token', TOKEN, ...ts]);
    expect(all).toContain(`string to sign (${TOKEN.length + 20} bytes, UTF-8) — the token is masked here`);
    expect(all).toContain(`15147114921714036504${maskSecret(TOKEN)}`);
  });

  it('a stray argument (a value split by the shell) is not echoed on stderr; exit 2', async () => {
    const { code, all } = await runBoth(['explain', 'server-signature', '--token', 'first', TOKEN, ...ts]);
    expect(code).toBe(2);
    expect(all).toMatch(/stderr: weixin-kit explain server-signature: unexpected argument/);
    expectNoSecret(all);
  });
});
