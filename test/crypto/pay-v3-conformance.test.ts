import { readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  buildAuthorization,
  decryptResource,
  jsapiPaySign,
  oaepDecrypt,
  openNotification,
  verifyPayV3Signature,
} from '../../src/crypto/pay-v3.js';
import { WeChatKitError } from '../../src/errors.js';
import type { VectorCase } from '../helpers.js';

/**
 * Every pay.v3.* known-answer vector in conformance/vectors/ (official, sdk-suites and this
 * project's own), run through the public API the way SPEC.md describes.
 */

type Input = Record<string, unknown>;
const s = (i: Input, name: string): string => i[name] as string;
const trust = (i: Input) => ({
  ...(i.publicKeyPem === undefined ? {} : { publicKey: s(i, 'publicKeyPem') }),
  ...(i.certificatePem === undefined ? {} : { certificate: s(i, 'certificatePem') }),
});
const window = (i: Input) => ({
  now: () => (i.now as number) * 1000,
  maxSkewSeconds: i.maxSkewSeconds as number,
});

const kinds: Record<string, (i: Input) => unknown> = {
  'pay.v3.authorization': (i) =>
    buildAuthorization({
      method: s(i, 'method'),
      url: s(i, 'url'),
      body: s(i, 'body'),
      timestamp: s(i, 'timestamp'),
      nonce: s(i, 'nonce'),
      mchid: s(i, 'mchid'),
      serialNo: s(i, 'serialNo'),
      privateKey: s(i, 'privateKeyPem'),
    }),
  'pay.v3.verify': (i) => {
    verifyPayV3Signature({
      timestamp: s(i, 'timestamp'),
      nonce: s(i, 'nonce'),
      body: s(i, 'body'),
      signature: s(i, 'signature'),
      ...trust(i),
      ...window(i),
    });
    return true;
  },
  'pay.v3.jsapiPaySign': (i) =>
    jsapiPaySign({
      appId: s(i, 'appId'),
      timeStamp: s(i, 'timeStamp'),
      nonceStr: s(i, 'nonceStr'),
      package: s(i, 'package'),
      privateKey: s(i, 'privateKeyPem'),
    }),
  'pay.v3.decryptResource': (i) =>
    decryptResource({
      apiV3Key: s(i, 'apiV3Key'),
      algorithm: s(i, 'algorithm'),
      ciphertext: s(i, 'ciphertext'),
      nonce: s(i, 'nonce'),
      ...(i.associatedData === undefined ? {} : { associatedData: s(i, 'associatedData') }),
    }),
  'pay.v3.oaepDecrypt': (i) => oaepDecrypt(s(i, 'ciphertext'), s(i, 'privateKeyPem')),
  'pay.v3.openNotification': (i) =>
    openNotification({
      headers: i.headers as Record<string, string>,
      body: s(i, 'body'),
      apiV3Key: s(i, 'apiV3Key'),
      ...trust(i),
      ...window(i),
    }).plaintext,
};

const dir = new URL('../../conformance/vectors/', import.meta.url);
const cases: [string, VectorCase][] = readdirSync(dir)
  .filter((f) => f.endsWith('.json'))
  .flatMap((file) =>
    (JSON.parse(readFileSync(new URL(file, dir), 'utf8')) as VectorCase[])
      .filter((c) => c.kind.startsWith('pay.v3.'))
      .map((c): [string, VectorCase] => [`${file}: ${c.id}`, c]),
  );

describe('pay.v3 conformance vectors', () => {
  it('includes the project vectors and covers every pay.v3 kind', () => {
    expect(cases.some(([name]) => name.startsWith('project-pay-v3.json'))).toBe(true);
    expect(new Set(cases.map(([, c]) => c.kind))).toEqual(new Set(Object.keys(kinds)));
  });

  it.each(cases)('%s', (_name, c) => {
    const run = kinds[c.kind];
    if (run === undefined) throw new Error(`unknown kind ${c.kind}`);
    let got: { ok: boolean; output?: unknown; error?: string };
    try {
      got = { ok: true, output: run(c.input) };
    } catch (error) {
      if (!(error instanceof WeChatKitError)) throw error;
      got = { ok: false, error: error.code };
    }
    expect(got).toEqual(
      c.expect.ok ? { ok: true, output: c.expect.output } : { ok: false, error: c.expect.error },
    );
  });
});
