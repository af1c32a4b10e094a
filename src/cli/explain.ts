import { createHash, createHmac, type KeyObject, sign, verify } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { maskSecret } from '../core/redact.js';
import { jsSdkSignature, jsSdkSignedUrl } from '../crypto/jssdk.js';
import { loadCertificate, loadPrivateKey, loadPublicKey } from '../crypto/keys.js';
import { computeMessageSignature } from '../crypto/message-crypto.js';
import { type PayV2SignType, payV2StringToSign } from '../crypto/pay-v2.js';
import { payV3SignatureMessage } from '../crypto/pay-v3.js';
import { computeServerSignature } from '../crypto/server-signature.js';
import { ArgumentError, type WeChatKitError } from '../errors.js';
import { parseXml } from '../xml/index.js';
import { type CommandHelp, printCommandUsage } from './usage.js';

export { maskSecret };

/**
 * `weixin-kit explain <kind>`: prints the exact string that is signed, the computed value and,
 * when a received signature is given, MATCH or MISMATCH with the likely causes. When a common
 * mistake reproduces the received signature exactly, it is reported as confirmed.
 * Secrets (the Token, the jsapi_ticket, the APIv2 key) are never printed in full (see
 * {@link maskSecret}); private keys are read from files and never printed.
 */

type Out = (line: string) => void;

export const EXPLAIN_KINDS = [
  'server-signature',
  'message-signature',
  'pay-v2',
  'pay-v3-request',
  'pay-v3-response',
  'jssdk',
] as const;

/** One of {@link EXPLAIN_KINDS}. */
export type ExplainKind = (typeof EXPLAIN_KINDS)[number];

/** Per kind: its options (one string per usage line) and what it explains. */
const KIND_HELP: Record<ExplainKind, { synopsis: string[]; description: string }> = {
  'server-signature': {
    synopsis: ['--token --timestamp --nonce [--signature]'],
    description:
      'The `signature` of every push and of the echostr handshake:\nsha1 of the sorted token, timestamp and nonce.',
  },
  'message-signature': {
    synopsis: ['--token --timestamp --nonce --encrypt [--signature]'],
    description:
      'The `msg_signature` of an encrypted push:\nsha1 of the sorted token, timestamp, nonce and Encrypt.',
  },
  'pay-v2': {
    synopsis: ['--key [--sign-type MD5|HMAC-SHA256]', '(--param name=value ... | --xml file) [--sign]'],
    description: 'A WeChat Pay v2 `sign`: MD5 or HMAC-SHA256 with the APIv2 key.',
  },
  'pay-v3-request': {
    synopsis: [
      '--method --url --timestamp --nonce [--body | --body-file]',
      '[--private-key apiclient_key.pem [--signature]]',
    ],
    description: 'The SHA256withRSA signature of a WeChat Pay v3 request (its Authorization header).',
  },
  'pay-v3-response': {
    synopsis: [
      '--timestamp --nonce [--body | --body-file] [--signature',
      '(--public-key pub_key.pem | --certificate cert.pem) [--serial]]',
    ],
    description: 'The Wechatpay-Signature of a WeChat Pay v3 response or notification.',
  },
  jssdk: {
    synopsis: ['--ticket --noncestr --timestamp --url [--signature]'],
    description:
      'The wx.config signature of the JS-SDK:\nsha1 over jsapi_ticket, noncestr, timestamp and url.',
  },
};

const MASK_NOTE =
  'Secrets (token, jsapi_ticket, API key) are masked: only their length and last 4 characters\nare shown (8 characters or fewer: fully masked). Private keys are never printed.';

/** `weixin-kit explain --help`: the synopsis (after `weixin-kit `) and the description. */
export const EXPLAIN_HELP: CommandHelp = {
  synopsis: 'explain <kind> [options]',
  description: [
    'Print the exact string that is signed, the computed value and, with the received',
    'signature, MATCH or MISMATCH with the likely causes (exit code 1 on MISMATCH).',
    MASK_NOTE,
    ...EXPLAIN_KINDS.flatMap((kind) =>
      KIND_HELP[kind].synopsis.map((line, i) => `  ${(i === 0 ? kind : '').padEnd(17)}  ${line}`),
    ),
    '`weixin-kit explain <kind> --help` describes one kind.',
  ].join('\n'),
};

/** The usage of one kind, for `weixin-kit explain <kind> --help`. */
function printKindUsage(out: Out, kind: ExplainKind): number {
  return printCommandUsage(out, {
    synopsis: `explain ${kind} ${KIND_HELP[kind].synopsis.join(`\n${' '.repeat(27 + kind.length)}`)}`,
    description: `${KIND_HELP[kind].description}\n${MASK_NOTE}`,
  });
}

const HELP_OPTION = { type: 'boolean', short: 'h' } as const;

/** A secret as the explainers show it: masked, with its length so the user can recognise it. */
function describeSecret(value: string): string {
  return `${maskSecret(value)} (${value.length} characters, masked)`;
}

function invalid(message: string): WeChatKitError {
  return new ArgumentError(message);
}

function readText(path: string, flag: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (error) {
    throw invalid(
      `cannot read ${flag} ${path}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`,
    );
  }
}

function required(values: Record<string, unknown>, ...names: string[]): void {
  const missing = names.filter((n) => typeof values[n] !== 'string');
  if (missing.length > 0) throw invalid(`missing ${missing.map((n) => `--${n}`).join(', ')}`);
}

function str(values: Record<string, unknown>, name: string): string {
  const value = values[name];
  return typeof value === 'string' ? value : '';
}

function optional(values: Record<string, unknown>, name: string): string | undefined {
  const value = values[name];
  return typeof value === 'string' ? value : undefined;
}

function sha1(text: string): string {
  return createHash('sha1').update(text, 'utf8').digest('hex');
}

/**
 * Prints a string to sign: one line per `\n`, each newline shown as a visible `\n`, then as JSON.
 * `text` is what is shown (secrets masked); `bytes` is the size of the real string.
 */
function printStringToSign(out: Out, text: string, note = '', bytes = Buffer.byteLength(text, 'utf8')): void {
  out(`string to sign (${bytes} bytes, UTF-8)${note}:`);
  const lines = text.split('\n');
  lines.forEach((line, i) => {
    const last = i === lines.length - 1;
    if (last && line === '') return;
    out(`  | ${line}${last ? '' : '\\n'}`);
  });
  out(`as a JSON string: ${JSON.stringify(text)}`);
}

interface Variant {
  /** Why the received signature would have this value. */
  cause: string;
  /** Whether the received signature equals what this variant gives. */
  matches: () => boolean;
}

/**
 * Prints the verdict. Returns the exit code: 0 for MATCH or nothing to compare, 1 for MISMATCH.
 */
function verdict(
  out: Out,
  matched: boolean | undefined,
  variants: Variant[],
  generalCauses: string[],
): number {
  if (matched === undefined) {
    out('result:   (no received signature given; pass it to compare)');
    return 0;
  }
  if (matched) {
    out('result:   MATCH');
    return 0;
  }
  out('result:   MISMATCH');
  const confirmed = variants.filter((v) => {
    try {
      return v.matches();
    } catch {
      return false;
    }
  });
  for (const v of confirmed) out(`confirmed cause: ${v.cause}`);
  const rest = generalCauses.filter((c) => !confirmed.some((v) => v.cause === c));
  if (rest.length > 0) {
    out(confirmed.length > 0 ? 'other things to check:' : 'likely causes:');
    for (const cause of rest) out(`  - ${cause}`);
  }
  return 1;
}

function sameHex(a: string, b: string): boolean {
  return a.trim().toLowerCase() === b.trim().toLowerCase();
}

function looksMilliseconds(timestamp: string): boolean {
  return /^\d{13}$/.test(timestamp);
}

// ---------------------------------------------------------------------------------------------
// server-signature and message-signature

interface Part {
  name: string;
  value: string;
  /** Shown masked (the token). */
  secret?: boolean;
}

/** Prints the sorted parts; returns the joined string and the same with secrets masked. */
function printSorted(out: Out, parts: Part[]): { joined: string; shown: string } {
  const sorted = [...parts].sort((a, b) => (a.value < b.value ? -1 : a.value > b.value ? 1 : 0));
  out('parts, sorted in code-unit (ASCII) order, then joined with nothing:');
  sorted.forEach((p, i) => {
    const shown = p.secret
      ? describeSecret(p.value)
      : p.value.length > 72
        ? `${p.value.slice(0, 69)}...`
        : p.value;
    out(`  ${i + 1}. ${p.name.padEnd(9)} ${shown}`);
  });
  return {
    joined: sorted.map((p) => p.value).join(''),
    shown: sorted.map((p) => (p.secret ? maskSecret(p.value) : p.value)).join(''),
  };
}

function explainServerSignature(args: string[], out: Out, withEncrypt: boolean): number {
  const { values } = parseArgs({
    args,
    options: {
      help: HELP_OPTION,
      token: { type: 'string' },
      timestamp: { type: 'string' },
      nonce: { type: 'string' },
      encrypt: { type: 'string' },
      signature: { type: 'string' },
    },
    strict: true,
  });
  if (values.help === true)
    return printKindUsage(out, withEncrypt ? 'message-signature' : 'server-signature');
  required(values, 'token', 'timestamp', 'nonce', ...(withEncrypt ? ['encrypt'] : []));
  const token = str(values, 'token');
  const timestamp = str(values, 'timestamp');
  const nonce = str(values, 'nonce');
  const encrypt = str(values, 'encrypt');
  const received = optional(values, 'signature');
  const parts: Part[] = [
    { name: 'token', value: token, secret: true },
    { name: 'timestamp', value: timestamp },
    { name: 'nonce', value: nonce },
    ...(withEncrypt ? [{ name: 'Encrypt', value: encrypt }] : []),
  ];
  out(
    withEncrypt
      ? 'message-signature (msg_signature): sha1(sort([token, timestamp, nonce, Encrypt]).join(""))'
      : 'server-signature (signature): sha1(sort([token, timestamp, nonce]).join(""))',
  );
  const { joined, shown } = printSorted(out, parts);
  printStringToSign(out, shown, ' — the token is masked here', Buffer.byteLength(joined, 'utf8'));
  const computed = withEncrypt
    ? computeMessageSignature({ token, timestamp, nonce, encrypt })
    : computeServerSignature({ token, timestamp, nonce });
  out(`computed: ${computed}`);
  if (received !== undefined) out(`received: ${received}`);
  if (looksMilliseconds(timestamp)) {
    out('warning:  the timestamp has 13 digits: it looks like milliseconds; WeChat sends Unix seconds');
  }
  if (withEncrypt && encrypt.includes(' ')) {
    out('warning:  Encrypt contains spaces: a "+" was probably turned into a space by form/URL decoding');
  }
  const variants: Variant[] = [];
  const causes: string[] = [];
  const r = received ?? '';
  const unsorted = 'the parts were joined in a fixed order instead of being sorted first';
  variants.push({
    cause: unsorted,
    matches: () => sameHex(sha1(parts.map((p) => p.value).join('')), r),
  });
  if (withEncrypt) {
    const plain =
      'the received value is the plain `signature` parameter, not `msg_signature`: in safe (encrypted) mode verify msg_signature, which includes Encrypt';
    variants.push({
      cause: plain,
      matches: () => sameHex(computeServerSignature({ token, timestamp, nonce }), r),
    });
    const plus =
      'Encrypt lost its "+" characters (form/URL decoding turned them into spaces): use the Encrypt value from the body exactly as received';
    variants.push({
      cause: plus,
      matches: () =>
        encrypt.includes(' ') &&
        sameHex(computeMessageSignature({ token, timestamp, nonce, encrypt: encrypt.replace(/ /g, '+') }), r),
    });
    causes.push(
      'Encrypt must be taken from the request body (the <Encrypt> element or "Encrypt" field), not re-encoded',
    );
  } else {
    causes.push(
      'in safe (encrypted) mode WeChat also sends msg_signature: the plain `signature` still covers only token, timestamp and nonce',
    );
  }
  causes.push(
    'the token is not the one configured in the console (开发 → 基本配置 → 服务器配置 → 令牌(Token)), or has stray whitespace',
    'timestamp and nonce must be the exact query strings (no number conversion, no trimming)',
  );
  if (looksMilliseconds(timestamp))
    causes.unshift('the timestamp is in milliseconds; WeChat signs Unix seconds');
  return verdict(out, received === undefined ? undefined : sameHex(computed, received), variants, [
    unsorted,
    ...causes,
  ]);
}

// ---------------------------------------------------------------------------------------------
// pay-v2

function hashV2(message: string, type: PayV2SignType, key: string): string {
  const hash = type === 'MD5' ? createHash('md5') : createHmac('sha256', key);
  return hash.update(message, 'utf8').digest('hex').toUpperCase();
}

function signTypeArg(value: string, flag: string): PayV2SignType {
  if (value === 'MD5' || value === 'HMAC-SHA256') return value;
  throw invalid(`${flag} must be MD5 or HMAC-SHA256, got "${value}"`);
}

function explainPayV2(args: string[], out: Out): number {
  const { values } = parseArgs({
    args,
    options: {
      help: HELP_OPTION,
      key: { type: 'string' },
      'sign-type': { type: 'string' },
      param: { type: 'string', multiple: true },
      xml: { type: 'string' },
      sign: { type: 'string' },
    },
    strict: true,
  });
  if (values.help === true) return printKindUsage(out, 'pay-v2');
  required(values, 'key');
  const key = str(values, 'key');
  const params: Record<string, string> = {};
  const notes: string[] = [];
  if (values.xml !== undefined) {
    const doc = parseXml(readText(values.xml, '--xml'));
    for (const [name, value] of Object.entries(doc)) {
      if (typeof value === 'string') params[name] = value;
      else notes.push(`<${name}> is not a text element and is not signed as such; check the message`);
    }
  }
  for (const entry of values.param ?? []) {
    const eq = entry.indexOf('=');
    if (eq <= 0) throw invalid(`--param must be name=value, got "${entry}"`);
    params[entry.slice(0, eq)] = entry.slice(eq + 1);
  }
  if (Object.keys(params).length === 0)
    throw invalid('give the parameters with --param name=value (repeated) or --xml file');
  const received = optional(values, 'sign') ?? params.sign;
  const declared = params.sign_type;
  const flagType = optional(values, 'sign-type');
  const type =
    flagType !== undefined
      ? signTypeArg(flagType, '--sign-type')
      : declared === 'HMAC-SHA256'
        ? 'HMAC-SHA256'
        : 'MD5';

  out(
    `pay-v2 (${type}): non-empty parameters except sign, sorted by name (ASCII), name=value joined with &, then &key=API_KEY`,
  );
  out(
    type === 'MD5'
      ? 'sign = uppercase hex MD5(string to sign)'
      : 'sign = uppercase hex HMAC-SHA256(string to sign, key = API_KEY)',
  );
  const names = Object.keys(params).sort();
  out('parameters, sorted by name:');
  for (const name of names) {
    const value = params[name] ?? '';
    const skip =
      name === 'sign' ? '   (skipped: the signature itself)' : value === '' ? '   (skipped: empty)' : '';
    out(`  ${name}=${value}${skip}`);
  }
  out(
    `API key: ${maskSecret(key)} (${key.length} characters${key.length === 32 ? '' : '; APIv2 keys are 32'})`,
  );
  const message = payV2StringToSign(params, key);
  const masked = `${message.slice(0, message.length - key.length)}${maskSecret(key)}`;
  printStringToSign(out, masked, ' — the key is masked here', Buffer.byteLength(message, 'utf8'));
  const computed = hashV2(message, type, key);
  out(`computed: ${computed}`);
  if (received !== undefined) out(`received: ${received}`);
  for (const note of notes) out(`warning:  ${note}`);
  if (declared !== undefined && declared !== '' && declared !== type) {
    out(`warning:  the parameters say sign_type=${declared} but the signature is computed with ${type}`);
  }
  if (key !== key.trim()) out('warning:  the key has leading or trailing whitespace');

  const r = received ?? '';
  const other: PayV2SignType = type === 'MD5' ? 'HMAC-SHA256' : 'MD5';
  const cSignType = `sign_type mismatch: the received sign was made with ${other}, not ${type} (check sign_type in the request and the merchant's configured type)`;
  const cEmpty =
    'empty values were included in the string to sign; WeChat leaves out parameters whose value is empty';
  const cEncoded = 'values were URL-encoded before signing; Pay v2 signs raw values';
  const cKeyTrim = 'the key has surrounding whitespace: the received sign matches the trimmed key';
  const cSignIncluded = 'the sign parameter itself was included in the string to sign';
  const withEmpty = [
    ...names.filter((n) => n !== 'sign').map((n) => `${n}=${params[n] ?? ''}`),
    `key=${key}`,
  ].join('&');
  const encodedParams = Object.fromEntries(
    Object.entries(params).map(([k, v]) => [k, encodeURIComponent(v)]),
  );
  const variants: Variant[] = [
    { cause: cSignType, matches: () => sameHex(hashV2(message, other, key), r) },
    { cause: cEmpty, matches: () => withEmpty !== message && sameHex(hashV2(withEmpty, type, key), r) },
    {
      cause: cEncoded,
      matches: () => {
        const m = payV2StringToSign(encodedParams, key);
        return m !== message && sameHex(hashV2(m, type, key), r);
      },
    },
    {
      cause: cKeyTrim,
      matches: () =>
        key !== key.trim() && sameHex(hashV2(payV2StringToSign(params, key.trim()), type, key.trim()), r),
    },
    {
      cause: cSignIncluded,
      matches: () => {
        if (params.sign === undefined || params.sign === '') return false;
        const m = [
          ...names.filter((n) => params[n] !== '').map((n) => `${n}=${params[n]}`),
          `key=${key}`,
        ].join('&');
        return sameHex(hashV2(m, type, key), r);
      },
    },
  ];
  return verdict(out, received === undefined ? undefined : sameHex(computed, received), variants, [
    'wrong key: the APIv2 key (商户平台 → API安全 → APIv2密钥), not the APIv3 key, the AppSecret or an old key',
    cSignType,
    cEmpty,
    'not every received field was verified, or fields were dropped/renamed by a typed model: verify the raw parsed map',
    cEncoded,
  ]);
}

// ---------------------------------------------------------------------------------------------
// pay-v3-request and pay-v3-response

function bodyArg(values: Record<string, unknown>): string {
  const body = optional(values, 'body');
  const file = optional(values, 'body-file');
  if (body !== undefined && file !== undefined) throw invalid('give --body or --body-file, not both');
  if (file !== undefined) return readText(file, '--body-file');
  return body ?? '';
}

/** The compact re-serialisation of a JSON body, or undefined when it is not JSON or already compact. */
function compactJson(body: string): string | undefined {
  try {
    const compact = JSON.stringify(JSON.parse(body));
    return compact === body ? undefined : compact;
  } catch {
    return undefined;
  }
}

function explainPayV3Request(args: string[], out: Out): number {
  const { values } = parseArgs({
    args,
    options: {
      help: HELP_OPTION,
      method: { type: 'string' },
      url: { type: 'string' },
      timestamp: { type: 'string' },
      nonce: { type: 'string' },
      body: { type: 'string' },
      'body-file': { type: 'string' },
      'private-key': { type: 'string' },
      signature: { type: 'string' },
    },
    strict: true,
  });
  if (values.help === true) return printKindUsage(out, 'pay-v3-request');
  required(values, 'method', 'url', 'timestamp', 'nonce');
  const method = str(values, 'method');
  let url = str(values, 'url');
  const timestamp = str(values, 'timestamp');
  const nonce = str(values, 'nonce');
  const body = bodyArg(values);
  const received = optional(values, 'signature');
  const warnings: string[] = [];
  const absolute = /^[a-z][a-z0-9+.-]*:\/\/[^/]*/i.exec(url);
  if (absolute) {
    url = url.slice(absolute[0].length) || '/';
    warnings.push(
      `the url had a scheme and host: WeChat Pay signs the path plus query only, so "${url}" is used`,
    );
  }
  if (method !== method.toUpperCase()) warnings.push('the method is signed in upper case');
  if (/^(GET|DELETE)$/i.test(method) && body !== '')
    warnings.push(`a ${method.toUpperCase()} request normally has an empty body`);
  const message = payV3SignatureMessage(method, url, timestamp, nonce, body);
  out(
    'pay-v3-request: SHA256withRSA (PKCS#1 v1.5) over METHOD\\nURL\\nTIMESTAMP\\nNONCE\\nBODY\\n with the merchant private key, base64',
  );
  printStringToSign(out, message, ' — every line, the body included, ends with \\n');
  let key: KeyObject | undefined;
  const keyPath = optional(values, 'private-key');
  if (keyPath !== undefined) key = loadPrivateKey(readText(keyPath, '--private-key'));
  const signOf = (m: string): string =>
    sign('sha256', Buffer.from(m, 'utf8'), key as KeyObject).toString('base64');
  let computed: string | undefined;
  if (key) {
    computed = signOf(message);
    out(`computed: ${computed}`);
  } else {
    out('computed: (pass --private-key apiclient_key.pem to compute the signature)');
  }
  if (received !== undefined) out(`received: ${received}`);
  for (const w of warnings) out(`warning:  ${w}`);
  if (received !== undefined && computed === undefined) {
    throw invalid('--signature needs --private-key to compare');
  }
  const r = (received ?? '').trim();
  const compact = compactJson(body);
  const cBody =
    'the body was re-serialised: sign the exact bytes you send (serialise once, sign and send that string)';
  const cUrl =
    'the url was signed with scheme and host; sign only the path plus query (e.g. /v3/pay/transactions/jsapi?x=1)';
  const variants: Variant[] = [
    {
      cause: cBody,
      matches: () =>
        compact !== undefined && signOf(payV3SignatureMessage(method, url, timestamp, nonce, compact)) === r,
    },
    {
      cause: 'the body line (or its trailing \\n) was left out of the string to sign',
      matches: () => signOf(`${method.toUpperCase()}\n${url}\n${timestamp}\n${nonce}\n`) === r,
    },
  ];
  if (absolute)
    variants.push({
      cause: cUrl,
      matches: () => signOf(message.replace(`\n${url}\n`, `\n${str(values, 'url')}\n`)) === r,
    });
  return verdict(out, received === undefined ? undefined : computed === r, variants, [
    'wrong key: the private key is not the one of the certificate whose serial is in serial_no',
    cBody,
    cUrl,
    'the timestamp is in milliseconds, or not the one sent in the Authorization header',
    'the query string was encoded differently from the one actually sent',
  ]);
}

function explainPayV3Response(args: string[], out: Out): number {
  const { values } = parseArgs({
    args,
    options: {
      help: HELP_OPTION,
      timestamp: { type: 'string' },
      nonce: { type: 'string' },
      body: { type: 'string' },
      'body-file': { type: 'string' },
      signature: { type: 'string' },
      'public-key': { type: 'string' },
      certificate: { type: 'string' },
      serial: { type: 'string' },
    },
    strict: true,
  });
  if (values.help === true) return printKindUsage(out, 'pay-v3-response');
  required(values, 'timestamp', 'nonce');
  const timestamp = str(values, 'timestamp');
  const nonce = str(values, 'nonce');
  const body = bodyArg(values);
  const received = optional(values, 'signature');
  const message = `${timestamp}\n${nonce}\n${body}\n`;
  out(
    'pay-v3-response: SHA256withRSA over TIMESTAMP\\nNONCE\\nBODY\\n (Wechatpay-Timestamp, Wechatpay-Nonce, raw body), checked with the WeChat Pay public key or platform certificate',
  );
  printStringToSign(out, message, ' — every line, the body included, ends with \\n');
  out(`sha256 of the string: ${createHash('sha256').update(message, 'utf8').digest('hex')}`);
  const keyPath = optional(values, 'public-key');
  const certPath = optional(values, 'certificate');
  if (keyPath !== undefined && certPath !== undefined)
    throw invalid('give --public-key or --certificate, not both');
  let key: KeyObject | undefined;
  let certSerial: string | undefined;
  if (keyPath !== undefined) key = loadPublicKey(readText(keyPath, '--public-key'));
  if (certPath !== undefined) {
    const cert = loadCertificate(readText(certPath, '--certificate'));
    key = cert.publicKey;
    certSerial = cert.serialNo;
    out(`certificate serial: ${cert.serialNo} (must equal the Wechatpay-Serial header)`);
  }
  const serial = optional(values, 'serial');
  const warnings: string[] = [];
  if (looksMilliseconds(timestamp))
    warnings.push('the timestamp has 13 digits: Wechatpay-Timestamp is Unix seconds');
  if (/^\d+$/.test(timestamp)) {
    const age = Math.floor(Date.now() / 1000) - Number(timestamp);
    if (Math.abs(age) > 300) {
      warnings.push(
        `the timestamp is ${Math.abs(age)} s ${age > 0 ? 'old' : 'in the future'}: verification in the SDK would also refuse it (TIMESTAMP_EXPIRED, ±300 s)`,
      );
    }
  }
  if (
    serial !== undefined &&
    certSerial !== undefined &&
    serial.replace(/^0+/, '').toUpperCase() !== certSerial.replace(/^0+/, '')
  ) {
    warnings.push(
      `Wechatpay-Serial ${serial} is not this certificate's serial ${certSerial}: verify with the key that serial names`,
    );
  }
  if (serial?.startsWith('PUB_KEY_ID_') && certPath !== undefined) {
    warnings.push(
      'Wechatpay-Serial is a public key id (PUB_KEY_ID_…): verify with the WeChat Pay public key, not a platform certificate',
    );
  }
  if (received?.startsWith('WECHATPAY/SIGNTEST/')) {
    warnings.push(
      'the signature is a WECHATPAY/SIGNTEST/ probe: WeChat Pay sends these to check that you reject bad signatures',
    );
  }
  if (received !== undefined && key === undefined)
    throw invalid('--signature needs --public-key or --certificate to verify');
  for (const w of warnings) out(`warning:  ${w}`);
  const sig = Buffer.from((received ?? '').trim(), 'base64');
  const check = (m: string): boolean =>
    key !== undefined && verify('sha256', Buffer.from(m, 'utf8'), key, sig);
  let matched: boolean | undefined;
  if (received !== undefined) {
    out(`received: ${received}`);
    try {
      matched = check(message);
    } catch {
      matched = false;
    }
    out(
      `computed: signature ${matched ? 'verifies' : 'does not verify'} with the given ${certPath !== undefined ? 'certificate' : 'public key'}`,
    );
  }
  const compact = compactJson(body);
  const cBody =
    'the body was re-serialised (parsed and stringified again, e.g. by a JSON body parser): verify the raw bytes as received — the received signature verifies over the compact original form';
  const variants: Variant[] = [
    { cause: cBody, matches: () => compact !== undefined && check(`${timestamp}\n${nonce}\n${compact}\n`) },
    {
      cause:
        'a trailing newline was added to the body (by an editor or a file): the received signature verifies without it',
      matches: () => body.endsWith('\n') && check(`${timestamp}\n${nonce}\n${body.slice(0, -1)}\n`),
    },
    {
      cause: 'Wechatpay-Timestamp and Wechatpay-Nonce were swapped',
      matches: () => check(`${nonce}\n${timestamp}\n${body}\n`),
    },
  ];
  return verdict(out, matched, variants, [
    cBody,
    'wrong key: verifying needs WeChat Pay’s key (pub_key.pem or the platform certificate named by Wechatpay-Serial), never your own apiclient_cert.pem',
    'the body was decoded with the wrong charset, or trimmed',
    'timestamp and nonce must be the Wechatpay-Timestamp and Wechatpay-Nonce headers of this same response',
  ]);
}

// ---------------------------------------------------------------------------------------------
// jssdk

function jssdkString(ticket: string, noncestr: string, timestamp: string, url: string): string {
  return `jsapi_ticket=${ticket}&noncestr=${noncestr}&timestamp=${timestamp}&url=${url}`;
}

function explainJsSdk(args: string[], out: Out): number {
  const { values } = parseArgs({
    args,
    options: {
      help: HELP_OPTION,
      ticket: { type: 'string' },
      noncestr: { type: 'string' },
      timestamp: { type: 'string' },
      url: { type: 'string' },
      signature: { type: 'string' },
    },
    strict: true,
  });
  if (values.help === true) return printKindUsage(out, 'jssdk');
  required(values, 'ticket', 'noncestr', 'timestamp', 'url');
  const ticket = str(values, 'ticket');
  const noncestr = str(values, 'noncestr');
  const timestamp = str(values, 'timestamp');
  const url = str(values, 'url');
  const received = optional(values, 'signature');
  const signedUrl = jsSdkSignedUrl(url);
  out(
    'jssdk (wx.config): sha1 over jsapi_ticket, noncestr, timestamp, url as name=value sorted by name, joined with &; raw values, url without #fragment',
  );
  out('parts, sorted by name:');
  out(`  jsapi_ticket=${describeSecret(ticket)}`);
  out(`  noncestr=${noncestr}`);
  out(`  timestamp=${timestamp}`);
  out(`  url=${signedUrl}`);
  const message = jssdkString(ticket, noncestr, timestamp, signedUrl);
  printStringToSign(
    out,
    jssdkString(maskSecret(ticket), noncestr, timestamp, signedUrl),
    ' — the jsapi_ticket is masked here',
    Buffer.byteLength(message, 'utf8'),
  );
  const computed = jsSdkSignature({ jsapiTicket: ticket, nonceStr: noncestr, timestamp, url });
  out(`computed: ${computed}`);
  if (received !== undefined) out(`received: ${received}`);
  const encoded = /%[0-9A-Fa-f]{2}/.test(signedUrl);
  let decoded: string | undefined;
  try {
    decoded = decodeURIComponent(signedUrl);
  } catch {
    decoded = undefined;
  }
  if (signedUrl !== url)
    out(
      `note:     the #fragment "${url.slice(signedUrl.length)}" is dropped: only the part before # is signed`,
    );
  if (/^https?%3A/i.test(signedUrl) || /%3A%2F%2F/i.test(signedUrl)) {
    out(
      'warning:  the url looks URL-encoded (e.g. from encodeURIComponent(location.href)): decode it exactly once before signing',
    );
  } else if (!/^https?:\/\//i.test(signedUrl)) {
    out(
      'warning:  the url is not a full http(s) URL: sign location.href.split("#")[0] of the page calling wx.config',
    );
  }
  if (looksMilliseconds(timestamp))
    out('warning:  the timestamp has 13 digits: it looks like milliseconds; use Unix seconds');

  const r = received ?? '';
  const cEncoded =
    'URL-encoded url: the received signature matches the other (encoded or decoded) form of the url — WeChat signs the URL as the page shows it, not URL-encoded (decode the url from the front end exactly once)';
  const cFragment =
    'the #fragment was not dropped: the signature must cover only the part of the URL before #';
  const cMs = 'the timestamp is in milliseconds: wx.config timestamp and the signature use Unix seconds';
  const variants: Variant[] = [
    {
      cause: cFragment,
      matches: () => url !== signedUrl && sha1(jssdkString(ticket, noncestr, timestamp, url)) === r,
    },
    {
      cause: cEncoded,
      matches: () =>
        sha1(jssdkString(ticket, noncestr, timestamp, encodeURIComponent(signedUrl))) === r ||
        (encoded &&
          decoded !== undefined &&
          decoded !== signedUrl &&
          sha1(jssdkString(ticket, noncestr, timestamp, decoded)) === r),
    },
    {
      cause: cMs,
      matches: () =>
        looksMilliseconds(timestamp) &&
        sha1(jssdkString(ticket, noncestr, String(Math.floor(Number(timestamp) / 1000)), signedUrl)) === r,
    },
    {
      cause:
        'the parameter names were written differently (nonceStr instead of noncestr): the string uses lowercase noncestr',
      matches: () =>
        sha1(`jsapi_ticket=${ticket}&nonceStr=${noncestr}&timestamp=${timestamp}&url=${signedUrl}`) === r,
    },
  ];
  return verdict(out, received === undefined ? undefined : sameHex(computed, r), variants, [
    cEncoded,
    cFragment,
    'the url is not the page’s current URL (e.g. a SPA route change after signing, http vs https, a trailing slash, or a different query string)',
    'the jsapi_ticket expired or belongs to another appId (tickets last 7200 s and are per account)',
    'noncestr or timestamp differ from the values passed to wx.config',
    cMs,
  ]);
}

/** `weixin-kit explain <kind> …`. Returns the exit code: 1 on MISMATCH. */
export function runExplainCommand(args: string[], out: Out): number {
  const [kind, ...rest] = args;
  switch (kind) {
    case '--help':
    case '-h':
      return printCommandUsage(out, EXPLAIN_HELP);
    case 'server-signature':
      return explainServerSignature(rest, out, false);
    case 'message-signature':
      return explainServerSignature(rest, out, true);
    case 'pay-v2':
      return explainPayV2(rest, out);
    case 'pay-v3-request':
      return explainPayV3Request(rest, out);
    case 'pay-v3-response':
      return explainPayV3Response(rest, out);
    case 'jssdk':
      return explainJsSdk(rest, out);
    default:
      throw invalid(
        `${kind === undefined ? 'missing kind' : `unknown kind "${kind}"`}; one of: ${EXPLAIN_KINDS.join(', ')} (see weixin-kit explain --help)`,
      );
  }
}
