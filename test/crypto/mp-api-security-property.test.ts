import { generateKeyPairSync } from 'node:crypto';
import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  openMpApiRequest,
  openMpApiResponse,
  sealMpApiRequest,
  sealMpApiResponse,
  signMpApiPayload,
  WeChatKitError,
} from '../../src/crypto/index.js';
import type { RandomSource } from '../../src/internal/bytes.js';
import { at } from '../helpers.js';

// Property tests of the Mini Program API-security envelope (服务端 API 安全鉴权): whatever the
// parameters, URL and appid, seal → open gives them back; any change to a signed or encrypted
// part is refused with its own typed code. Fixed seeds: a failure replays the same case.
const M = JSON.parse(readFileSync(new URL('../fixtures/mp-api-security.json', import.meta.url), 'utf8')) as {
  sym_key: string;
  sym_sn: string;
  asym_sn: string;
  app_private_key_pem: string;
  app_public_key_pem: string;
};
const platform = generateKeyPairSync('rsa', { modulusLength: 2048 });
const PLATFORM_SN = 'a1b2c3d4e5f60718293a4b5c6d7e8f90';
const SKEW = 300;
const keys = { symmetricKey: M.sym_key, symmetricSn: M.sym_sn };
const SEED = 20_240_425;

/** Runs `fn` and returns 'ok' or the error code; anything but a WeChatKitError fails the test. */
function outcome(fn: () => unknown): string {
  try {
    fn();
    return 'ok';
  } catch (error) {
    expect(error).toBeInstanceOf(WeChatKitError);
    return (error as WeChatKitError).code;
  }
}

const RESERVED = new Set(['_n', '_appid', '_timestamp', 'access_token', '__proto__']);
const params = fc.dictionary(
  fc.string({ maxLength: 12 }).filter((k) => !RESERVED.has(k)),
  fc.jsonValue({ maxDepth: 3 }),
  { maxKeys: 8 },
);
const urlpath = fc
  .tuple(fc.domain(), fc.array(fc.webSegment(), { minLength: 1, maxLength: 4 }))
  .map(([host, segments]) => `https://${host}/${segments.join('/')}`)
  .filter((u) => /^https:\/\/[^/?#\s]+\/[^?#\s]*$/.test(u));
const appId = fc.stringMatching(/^wx[0-9a-f]{16}$/);
const timestamp = fc.integer({ min: 1_500_000_000, max: 2_000_000_000 });
const iv = fc.uint8Array({ minLength: 12, maxLength: 12 });
const nonce = fc.stringMatching(/^[A-Za-z0-9+/]{22,43}$/);
const envelope = fc.record({ params, urlpath, appId, timestamp, iv, nonce });
/** JSON as it comes back from the wire (-0 becomes 0, undefined members disappear). */
const wire = <T>(value: T): T => JSON.parse(JSON.stringify(value)) as T;

type Envelope = { params: Record<string, unknown>; urlpath: string; appId: string; timestamp: number };
type Sealed = { body: string; headers: Record<string, string> };
type Signer = Parameters<typeof signMpApiPayload>[0]['privateKey'];

function sealRequest(e: Envelope & { iv?: Uint8Array; nonce?: string }): Sealed {
  return sealMpApiRequest({
    ...keys,
    urlpath: e.urlpath,
    appId: e.appId,
    timestamp: e.timestamp,
    params: e.params,
    privateKey: M.app_private_key_pem,
    asymmetricSn: M.asym_sn,
    ...(e.iv === undefined ? {} : { iv: e.iv }),
    ...(e.nonce === undefined ? {} : { nonce: e.nonce }),
  }) as unknown as Sealed;
}

function openRequest(e: Envelope, sealed: Sealed, now = e.timestamp) {
  return openMpApiRequest({
    ...keys,
    urlpath: e.urlpath,
    appId: e.appId,
    publicKeys: { [M.asym_sn]: M.app_public_key_pem },
    headers: sealed.headers,
    body: sealed.body,
    now: at(now),
    maxSkewSeconds: SKEW,
  });
}

function sealResponse(e: Envelope & { iv?: Uint8Array; nonce?: string; random?: RandomSource }): Sealed {
  return sealMpApiResponse({
    ...keys,
    urlpath: e.urlpath,
    appId: e.appId,
    timestamp: e.timestamp,
    result: e.params,
    privateKey: platform.privateKey,
    platformSn: PLATFORM_SN,
    ...(e.iv === undefined ? {} : { iv: e.iv }),
    ...(e.nonce === undefined ? {} : { nonce: e.nonce }),
    ...(e.random === undefined ? {} : { random: e.random }),
  }) as unknown as Sealed;
}

function openResponse(e: Envelope, sealed: Sealed, now = e.timestamp) {
  return openMpApiResponse({
    ...keys,
    urlpath: e.urlpath,
    appId: e.appId,
    platformCertificates: { [PLATFORM_SN]: platform.publicKey },
    headers: sealed.headers,
    body: sealed.body,
    now: at(now),
    maxSkewSeconds: SKEW,
  });
}

/** Re-signs `body` for (urlpath, appid, timestamp) with `key`: a tampering the signature no longer catches. */
function resigned(sealed: Sealed, e: Envelope, body: string, key: Signer) {
  const signature = signMpApiPayload({
    urlpath: e.urlpath,
    appId: e.appId,
    timestamp: e.timestamp,
    body,
    privateKey: key,
  });
  return { body, headers: { ...sealed.headers, 'Wechatmp-Signature': signature } };
}

/** Flips some bits of one byte of a base64 field of the encrypted body, keeping it valid base64 of the same length. */
const flipField = (field: 'iv' | 'data' | 'authtag') =>
  fc.tuple(fc.nat(), fc.integer({ min: 1, max: 255 })).map(([position, mask]) => (body: string) => {
    const parsed = JSON.parse(body) as Record<string, string>;
    const bytes = Buffer.from(parsed[field] ?? '', 'base64');
    const i = position % bytes.length;
    bytes[i] = (bytes[i] ?? 0) ^ mask;
    return JSON.stringify({ ...parsed, [field]: bytes.toString('base64') });
  });

/** A character-level change of `text` (insert, replace) that leaves a different string. */
const mutate = (text: string) =>
  fc
    .tuple(fc.nat({ max: Math.max(0, text.length - 1) }), fc.string({ minLength: 1, maxLength: 3 }))
    .map(([pos, insert]) => text.slice(0, pos) + insert + text.slice(pos + 1))
    .filter((t) => t !== text);

/** A change of the clock past the replay window, either way. */
const outsideWindow = fc.oneof(
  fc.integer({ min: SKEW + 1, max: 10 * 86_400 }),
  fc.integer({ min: -10 * 86_400, max: -SKEW - 1 }),
);
/** A different timestamp still inside the window (so only the signature can refuse it). */
const insideWindow = fc.integer({ min: -SKEW, max: SKEW }).filter((d) => d !== 0);

describe('MP API security envelope: round trips', () => {
  it('a request opens to the same params, appid, timestamp and nonce, for any JSON params, urlpath and appid', () => {
    fc.assert(
      fc.property(envelope, (e) => {
        const sealed = sealRequest(e);
        expect(sealed.headers['Wechatmp-Appid']).toBe(e.appId);
        expect(sealed.headers['Wechatmp-TimeStamp']).toBe(String(e.timestamp));
        const opened = openRequest(e, sealed);
        expect(opened.params).toEqual(wire(e.params));
        expect(opened.nonce).toBe(e.nonce);
        expect(opened.timestamp).toBe(e.timestamp);
        expect(opened.serial).toBe(M.asym_sn);
        expect(opened.data).toMatchObject({ _appid: e.appId, _timestamp: e.timestamp, _n: e.nonce });
      }),
      { seed: SEED, numRuns: 100 },
    );
  });

  it('a response opens to the same result (plus the security fields), with IV and nonce from its random source', () => {
    fc.assert(
      fc.property(envelope, fc.uint8Array({ minLength: 1, maxLength: 64 }), (e, pool) => {
        // The injected randomness cycles through `pool`: the sealer draws the IV and the nonce.
        let next = 0;
        const random: RandomSource = (size) =>
          Uint8Array.from({ length: size }, () => pool[next++ % pool.length] ?? 0);
        const { iv: _iv, nonce: _nonce, ...drawn } = e;
        const sealed = sealResponse({ ...drawn, random });
        const opened = openResponse(e, sealed, e.timestamp + 1);
        expect(opened).toMatchObject({ ...wire(e.params), _appid: e.appId, _timestamp: e.timestamp });
        expect(typeof opened._n).toBe('string');
      }),
      { seed: SEED, numRuns: 100 },
    );
  });
});

type Opener = (e: Envelope, sealed: Sealed, now?: number) => unknown;
const FIELDS = ['iv', 'data', 'authtag'] as const;

interface Tampering {
  /** What was changed. */
  what: string;
  /** The codes that refusal may carry. */
  expected: string[];
  /** Opens the tampered message. */
  open: () => unknown;
}

/** One change to one part of the sealed message `s` of envelope `e`, and the refusal it must meet. */
function tamperings(e: Envelope, s: Sealed, open: Opener, signer: Signer): fc.Arbitrary<Tampering> {
  const h = s.headers;
  const withHeader = (name: string, value: string) => () =>
    open(e, { ...s, headers: { ...h, [name]: value } });
  const t = (what: string, expected: string[], run: () => unknown): Tampering => ({
    what,
    expected,
    open: run,
  });
  return fc.oneof(
    // The Wechatmp-Appid header names another app.
    appId
      .filter((a) => a !== e.appId)
      .map((a) => t('Wechatmp-Appid', ['APPID_MISMATCH'], withHeader('Wechatmp-Appid', a))),
    // Wechatmp-TimeStamp moved inside the window: only the signature (which covers it) can tell.
    insideWindow.map((d) =>
      t(
        'Wechatmp-TimeStamp',
        ['SIGNATURE_MISMATCH'],
        withHeader('Wechatmp-TimeStamp', String(e.timestamp + d)),
      ),
    ),
    // …or garbled: then it may also not be a timestamp of the window at all.
    mutate(h['Wechatmp-TimeStamp'] ?? '').map((ts) =>
      t(
        'Wechatmp-TimeStamp',
        ['SIGNATURE_MISMATCH', 'TIMESTAMP_EXPIRED'],
        withHeader('Wechatmp-TimeStamp', ts),
      ),
    ),
    mutate(h['Wechatmp-Signature'] ?? '').map((sig) =>
      t('Wechatmp-Signature', ['SIGNATURE_MISMATCH'], withHeader('Wechatmp-Signature', sig)),
    ),
    // Serial numbers compare without case and surrounding blanks: change what is left.
    mutate(h['Wechatmp-Serial'] ?? '')
      .filter((sn) => sn.trim().toLowerCase() !== (h['Wechatmp-Serial'] ?? '').toLowerCase())
      .map((sn) => t('Wechatmp-Serial', ['SIGNATURE_MISMATCH'], withHeader('Wechatmp-Serial', sn))),
    // iv, data or authtag changed: the signature covers the body…
    fc
      .constantFrom(...FIELDS)
      .chain((field) =>
        flipField(field).map((flip) =>
          t(field, ['SIGNATURE_MISMATCH'], () => open(e, { ...s, body: flip(s.body) })),
        ),
      ),
    // …and re-signed by a trusted key, the GCM tag refuses it.
    fc
      .constantFrom(...FIELDS)
      .chain((field) =>
        flipField(field).map((flip) =>
          t(`re-signed ${field}`, ['DECRYPT_FAILED'], () => open(e, resigned(s, e, flip(s.body), signer))),
        ),
      ),
    // Opened too late or too early.
    outsideWindow.map((d) => t('timestamp window', ['TIMESTAMP_EXPIRED'], () => open(e, s, e.timestamp + d))),
    // Opened for another URL: the signature covers urlpath…
    urlpath
      .filter((u) => u !== e.urlpath)
      .map((u) => t('urlpath', ['SIGNATURE_MISMATCH'], () => open({ ...e, urlpath: u }, s))),
    // …and re-signed for it, the AAD (urlpath|appid|timestamp|sn) refuses it.
    urlpath
      .filter((u) => u !== e.urlpath)
      .map((u) => {
        const other = { ...e, urlpath: u };
        return t('re-signed urlpath', ['DECRYPT_FAILED'], () =>
          open(other, resigned(s, other, s.body, signer)),
        );
      }),
    // Opened as another app, its header forged and the signature re-made: the AAD refuses it.
    appId
      .filter((a) => a !== e.appId)
      .map((a) => {
        const other = { ...e, appId: a };
        const forged = resigned(s, other, s.body, signer);
        const headers = { ...forged.headers, 'Wechatmp-Appid': a };
        return t('re-signed appid', ['DECRYPT_FAILED'], () => open(other, { ...forged, headers }));
      }),
  );
}

describe('MP API security envelope: tampering is refused with its typed code', () => {
  const sides: Array<[string, (e: Envelope) => Sealed, Opener, Signer]> = [
    ['request', sealRequest, openRequest, M.app_private_key_pem],
    ['response', sealResponse, openResponse, platform.privateKey],
  ];
  for (const [side, seal, open, signer] of sides) {
    it(`a ${side}: each header, iv, data, authtag, the signature, the timestamp, the urlpath and the appid`, () => {
      const seen = new Set<string>();
      fc.assert(
        fc.property(
          envelope.chain((e) => tamperings(e, seal(e), open, signer)),
          ({ what, expected, open: run }) => {
            seen.add(what);
            expect(expected, what).toContain(outcome(run));
          },
        ),
        { seed: SEED, numRuns: 300 },
      );
      // Every kind of tampering was tried.
      expect(seen.size).toBe(14);
    });
  }
});
