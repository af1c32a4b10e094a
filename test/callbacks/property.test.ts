import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type CallbackRequest, createWeChatCallback, type MessageMode } from '../../src/callbacks/index.js';
import { AES_KEY, APP_ID, clock, NOW, push, signedQuery, TOKEN, textMessage } from './fixtures.js';

function guarded(mode: MessageMode) {
  let reached = 0;
  const callback = createWeChatCallback({
    appId: APP_ID,
    token: TOKEN,
    encodingAESKey: AES_KEY,
    mode,
    now: clock,
  });
  callback.use(() => {
    reached++;
  });
  callback.on('*', () => {
    reached++;
  });
  return { callback, reached: () => reached };
}

const headerValue = fc.oneof(fc.string(), fc.array(fc.string(), { maxLength: 3 }), fc.constant(undefined));
const body = fc.oneof(
  fc.string({ maxLength: 400 }),
  fc.uint8Array({ maxLength: 400 }),
  fc.constant(undefined),
  fc.string({ unit: 'grapheme', maxLength: 200 }).map((s) => `<xml><Encrypt>${s}</Encrypt></xml>`),
  fc.string({ maxLength: 200 }).map((s) => `<!DOCTYPE x [<!ENTITY a "${s}">]><xml>&a;</xml>`),
  fc.json().map((j) => j),
);
const url = fc.oneof(
  fc.webUrl({ withQueryParameters: true }),
  fc.string({ maxLength: 200 }),
  fc
    .record({
      signature: fc.string(),
      timestamp: fc.string(),
      nonce: fc.string(),
      msg_signature: fc.string(),
      encrypt_type: fc.constantFrom('aes', 'raw', ''),
    })
    .map((q) => `/wechat?${new URLSearchParams(q)}`),
);

describe('property: random input never throws out of handle() and never reaches a handler', () => {
  it.each(['safe', 'compatible', 'plain'] as const)(
    '%s mode, random method / URL / headers / body',
    async (mode) => {
      const { callback, reached } = guarded(mode);
      await fc.assert(
        fc.asyncProperty(
          fc.constantFrom('GET', 'POST', 'PUT', 'get', '', 'DELETE'),
          url,
          fc.dictionary(fc.string({ maxLength: 20 }), headerValue, { maxKeys: 5 }),
          body,
          async (method, u, headers, rawBody) => {
            const res = await callback.handle({ method, url: u, headers, rawBody } as CallbackRequest);
            expect([400, 401, 405, 413]).toContain(res.status);
            expect(res.body).not.toContain(TOKEN);
          },
        ),
        { numRuns: 150 },
      );
      expect(reached()).toBe(0);
    },
  );

  it('safe mode: random bodies under a valid URL signature are refused', async () => {
    const { callback, reached } = guarded('safe');
    await fc.assert(
      fc.asyncProperty(body, fc.string({ maxLength: 40 }), async (rawBody, msgSignature) => {
        const q = signedQuery(TOKEN, NOW, 'nonce');
        q.set('msg_signature', msgSignature);
        q.set('encrypt_type', 'aes');
        const res = await callback.handle({
          method: 'POST',
          url: `/w?${q}`,
          headers: {},
          rawBody,
        } as CallbackRequest);
        expect([400, 401, 413]).toContain(res.status);
      }),
      { numRuns: 200 },
    );
    expect(reached()).toBe(0);
  });

  it('safe mode: a genuine push with any byte changed is refused', async () => {
    const { callback, reached } = guarded('safe');
    const genuine = push({ fields: textMessage('genuine') });
    const bytes = genuine.rawBody as Uint8Array;
    await fc.assert(
      fc.asyncProperty(fc.nat(bytes.length - 1), fc.integer({ min: 1, max: 255 }), async (index, delta) => {
        const copy = Uint8Array.from(bytes);
        copy[index] = ((copy[index] ?? 0) + delta) % 256;
        const res = await callback.handle({ ...genuine, rawBody: copy });
        // A change outside the Encrypt value (e.g. ToUserName) leaves the signed content intact.
        if (res.status === 200)
          expect(Buffer.from(copy).toString('utf8')).toContain(
            /<Encrypt><!\[CDATA\[([^\]]*)\]\]>/.exec(Buffer.from(bytes).toString())?.[1] ?? '',
          );
        else expect([400, 401]).toContain(res.status);
      }),
      { numRuns: 200 },
    );
    // Only byte changes outside Encrypt can reach the handler, and then with the genuine message (processed once: dedupe).
    expect(reached()).toBeLessThanOrEqual(2);
  });

  it('plain mode: random bodies under a valid signature never throw', async () => {
    const { callback } = guarded('plain');
    await fc.assert(
      fc.asyncProperty(body, async (rawBody) => {
        const q = signedQuery(TOKEN, NOW, 'nonce');
        const res = await callback.handle({
          method: 'POST',
          url: `/w?${q}`,
          headers: {},
          rawBody,
        } as CallbackRequest);
        expect([200, 400, 413]).toContain(res.status);
      }),
      { numRuns: 200 },
    );
  });
});
