/**
 * Fuzzing the WeChat Pay v3 notification path: the `Wechatpay-*` header reader and verifier (header
 * spelling must never change a verdict; nothing but a genuine signature passes), the envelope
 * parser and AEAD opening after verification, and the notification handler fed bodies that have
 * "verified" (a verifier that accepts everything stands in for WeChat Pay, so the fuzzer reaches
 * the steps after the signature): typed refusals only, never an internal 500.
 */
import { generateKeyPairSync, sign } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type CallbackErrorEvent, createPayNotificationHandler } from '../../src/callbacks/index.js';
import { encryptResource, PayV3Verifier } from '../../src/crypto/index.js';
import { readVerifiedNotificationWithKeys } from '../../src/crypto/pay-v3-notify.js';
import { fuzz, fuzzFile, typedOnly } from './harness.js';

fuzzFile(import.meta.url);

const platform = generateKeyPairSync('rsa', { modulusLength: 2048 });
const KEY_ID = 'PUB_KEY_ID_0000000000000000000000000042';
const verifier = new PayV3Verifier({ publicKey: { id: KEY_ID, key: platform.publicKey } });
const API_V3_KEY = 'a7cde1ZJB1kG2e7VfTs3jQzaWizur8Gb';
const TS = 1_714_036_504;
const NONCE = 'fdasflkja484w2kjL2ExampleN';
const BODY = JSON.stringify({
  id: 'EV-018',
  event_type: 'TRANSACTION.SUCCESS',
  resource: { algorithm: 'AEAD_AES_256_GCM', ciphertext: 'x', nonce: 'y' },
});
const SIGNATURE = sign('sha256', Buffer.from(`${TS}\n${NONCE}\n${BODY}\n`), platform.privateKey).toString(
  'base64',
);
const GENUINE: Record<string, string> = {
  'Wechatpay-Timestamp': String(TS),
  'Wechatpay-Nonce': NONCE,
  'Wechatpay-Signature': SIGNATURE,
  'Wechatpay-Serial': KEY_ID,
};
const now = () => TS * 1000;

/** Same header, other spelling: random case per letter, surrounding spaces, repeated with the same value. */
type Spelling = { casing: boolean[]; pad: string; repeat: number };
const spelling: fc.Arbitrary<Spelling> = fc.record({
  casing: fc.array(fc.boolean(), { minLength: 24, maxLength: 24 }),
  pad: fc.constantFrom('', ' ', '\t', '  '),
  repeat: fc.integer({ min: 1, max: 3 }),
});

function respell(name: string, s: Spelling): string {
  return [...name].map((ch, i) => (s.casing[i] ? ch.toUpperCase() : ch.toLowerCase())).join('');
}

/** Header changes that alter meaning: a changed value, a second different value, a missing header. */
const tamper = fc.record({
  header: fc.constantFrom(...Object.keys(GENUINE)),
  kind: fc.constantFrom('change', 'conflict', 'drop', 'empty', 'probe'),
  // Surrounding whitespace is trimmed (same value): a change holds something else.
  text: fc.string({ minLength: 1, maxLength: 12 }).filter((t) => t.trim() !== ''),
});

describe('fuzz: Wechatpay-* headers', () => {
  it('any spelling of the genuine headers verifies (Node object or Fetch Headers); any tampering is refused with a typed error', async () => {
    await fuzz(
      'pay.headers',
      fc.tuple(
        fc.array(spelling, { minLength: 4, maxLength: 4 }),
        fc.option(tamper, { nil: undefined }),
        fc.boolean(),
      ),
      ([spellings, change, fetchHeaders]) => {
        const node: Record<string, string | string[]> = {};
        Object.entries(GENUINE).forEach(([name, value], i) => {
          const s = spellings[i] as Spelling;
          const v = `${s.pad}${value}${s.pad}`;
          node[respell(name, s)] = s.repeat === 1 ? v : Array.from({ length: s.repeat }, () => v);
        });
        if (change !== undefined) {
          const key = Object.keys(node).find(
            (k) => k.toLowerCase() === change.header.toLowerCase(),
          ) as string;
          const original = GENUINE[change.header] as string;
          const other = original + change.text;
          if (change.kind === 'change') node[key] = other;
          else if (change.kind === 'conflict') node[key] = [original, other];
          else if (change.kind === 'drop') delete node[key];
          else if (change.kind === 'empty') node[key] = '';
          else node[key] = `WECHATPAY/SIGNTEST/${change.text}`;
        }
        const headers = fetchHeaders ? toFetch(node) : node;
        const code = typedOnly(
          () => verifier.verify({ headers, body: BODY, now }),
          ['SIGNATURE_MISMATCH', 'TIMESTAMP_EXPIRED'],
        );
        // Fetch joins repeated values with ", ": one value three times is then another value.
        const joined = fetchHeaders && spellings.some((s) => s.repeat > 1);
        if (change === undefined && !joined) expect(code).toBe('ok');
        else if (change !== undefined) expect(code).not.toBe('ok');
      },
      { ciRuns: 80 },
    );
  });

  it('random header objects and bodies: refused with typed errors, never verified', async () => {
    const value = fc.oneof(
      fc.string({ maxLength: 40 }),
      fc.array(fc.string({ maxLength: 20 }), { maxLength: 3 }),
    );
    const names = fc.constantFrom(
      ...Object.keys(GENUINE),
      'wechatpay-timestamp',
      'WECHATPAY-SERIAL',
      'x',
      '',
    );
    await fuzz(
      'pay.headers.random',
      fc.tuple(
        fc.dictionary(names, value, { maxKeys: 6 }),
        fc.oneof(fc.string({ maxLength: 100 }), fc.uint8Array({ maxLength: 100 })),
      ),
      ([headers, body]) => {
        const code = typedOnly(
          () => verifier.verify({ headers, body, now }),
          ['SIGNATURE_MISMATCH', 'TIMESTAMP_EXPIRED'],
        );
        expect(code).not.toBe('ok');
      },
      { ciRuns: 100 },
    );
  });
});

function toFetch(node: Record<string, string | string[]>): Headers {
  const h = new Headers();
  for (const [k, v] of Object.entries(node)) for (const one of [v].flat()) h.append(k, one);
  return h;
}

/** Mostly `usual`, one time in five something else. */
const mostly = <T, U = T>(usual: fc.Arbitrary<T>, other: fc.Arbitrary<U>): fc.Arbitrary<T | U> =>
  fc.oneof({ weight: 4, arbitrary: usual }, { weight: 1, arbitrary: other });

/** Envelopes around resources: genuine AEAD over arbitrary plaintext, or fuzzed fields. */
const plaintext = mostly(
  fc.dictionary(
    fc.constantFrom('mchid', 'out_trade_no', 'payer', 'amount', 'x'),
    fc.jsonValue({ maxDepth: 2 }),
  ),
  fc.oneof(
    fc.json({ maxDepth: 3 }),
    fc.string({ maxLength: 80 }),
    fc.constantFrom('null', '[]', '"x"', '1', '{"mchid":1,"payer":"x"}', '{"payer":{"openid":{"a":1}}}'),
  ),
).map((v) => (typeof v === 'string' ? v : JSON.stringify(v)));
const resourceField = fc.oneof(
  fc.string({ maxLength: 30 }),
  fc.base64String({ maxLength: 60 }),
  fc.jsonValue({ maxDepth: 1 }),
);
const envelope = fc.oneof(
  fc
    .record({
      text: plaintext,
      ad: fc.constantFrom('transaction', '', 'refund'),
      id: mostly(
        fc.constantFrom('EV-1', 'EV-2'),
        fc.oneof(fc.string({ maxLength: 8 }), fc.jsonValue({ maxDepth: 1 })),
      ),
      type: mostly(
        fc.constantFrom('TRANSACTION.SUCCESS', 'REFUND.SUCCESS', 'X.Y'),
        fc.oneof(fc.constant(''), fc.jsonValue({ maxDepth: 1 })),
      ),
      algorithm: mostly(
        fc.constantFrom('AEAD_AES_256_GCM', undefined),
        fc.constantFrom('aead_aes_256_gcm', 'AES-128-GCM'),
      ),
      ad2: mostly(fc.constant(undefined), fc.constantFrom<string | null>('transaction', 'x', null)),
    })
    .map(({ text, ad, id, type, algorithm, ad2 }) => {
      const r = encryptResource({ apiV3Key: API_V3_KEY, plaintext: text, associatedData: ad });
      const resource: Record<string, unknown> = {
        ciphertext: r.ciphertext,
        nonce: r.nonce,
        associated_data: ad2 === undefined ? ad : ad2,
        ...(algorithm === undefined ? {} : { algorithm }),
      };
      return {
        body: JSON.stringify({ id, event_type: type, resource_type: 'encrypt-resource', resource }),
        text,
        ad2,
      };
    }),
  fc
    .record({
      resource: fc.oneof(
        fc.record(
          {
            algorithm: mostly(fc.constant<unknown>('AEAD_AES_256_GCM'), resourceField),
            ciphertext: resourceField,
            nonce: resourceField,
            associated_data: resourceField,
          },
          { requiredKeys: [] },
        ),
        resourceField,
      ),
      id: fc.jsonValue({ maxDepth: 1 }),
    })
    .map((e) => ({ body: JSON.stringify(e), text: undefined, ad2: undefined })),
  fc
    .oneof(fc.string({ maxLength: 200 }), fc.json())
    .map((body) => ({ body, text: undefined, ad2: undefined })),
);

describe('fuzz: the notification after verification', () => {
  it('readVerifiedNotificationWithKeys: typed errors only; a genuine resource opens to exactly its plaintext', async () => {
    const seen = new Set<string>();
    await fuzz(
      'pay.envelope',
      fc.tuple(envelope, fc.boolean()),
      ([{ body, text, ad2 }, asBytes]) => {
        let got: ReturnType<typeof readVerifiedNotificationWithKeys> | undefined;
        seen.add(
          typedOnly(() => {
            got = readVerifiedNotificationWithKeys(asBytes ? Buffer.from(body) : body, [API_V3_KEY]);
          }, ['BAD_BODY', 'UNSUPPORTED_ALGORITHM', 'BAD_CIPHERTEXT', 'DECRYPT_FAILED']),
        );
        if (got === undefined) return;
        expect(got.key).toBe(0);
        // Only a genuine resource under its own associated data can open.
        expect(text).toBeDefined();
        expect(ad2 === undefined || ad2 === null || ad2 === JSON.parse(body).resource.associated_data).toBe(
          true,
        );
        expect(got.notification.plaintext).toBe(text);
      },
      { ciRuns: 150 },
    );
    expect([...seen].sort()).toEqual([
      'BAD_BODY',
      'BAD_CIPHERTEXT',
      'DECRYPT_FAILED',
      'UNSUPPORTED_ALGORITHM',
      'ok',
    ]);
  });

  it('the handler answers 204, 400 or 413 to any verified body — 500 only for a key problem, never an internal error', async () => {
    const errors: CallbackErrorEvent[] = [];
    const handler = createPayNotificationHandler({
      apiV3Key: API_V3_KEY,
      verifier: { verify: () => {} },
      now,
      hooks: { onError: (e) => errors.push(e) },
    });
    handler.onUnknown(() => {});
    handler.on('TRANSACTION.SUCCESS', () => {});
    const statuses = new Set<number>();
    await fuzz(
      'pay.handler',
      fc.tuple(envelope, fc.boolean()),
      async ([{ body }, asBytes]) => {
        const response = await handler.handle({
          method: 'POST',
          url: '/pay/notify',
          headers: { 'content-type': 'application/json' },
          rawBody: asBytes ? Buffer.from(body) : body,
        });
        expect([204, 400, 413, 500], response.body).toContain(response.status);
        if (response.status === 500) expect(errors.at(-1)?.phase).toBe('config');
        expect(errors.filter((e) => e.phase !== 'config')).toEqual([]);
        statuses.add(response.status);
      },
      { ciRuns: 100 },
    );
    // 500: verified but not decryptable under this key (altered associated_data) — a key problem.
    expect([...statuses].sort()).toEqual([204, 400, 500]);
  });
});
