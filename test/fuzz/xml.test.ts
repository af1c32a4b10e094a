/**
 * Fuzzing the XML reader with generated WeChat-shaped documents (see wechat-xml.ts) instead of the
 * four fixed samples of test/xml/fuzz.test.ts: an exact oracle for every valid document, every
 * truncation refused, corruptions at element boundaries refused with typed errors only (and, when
 * accepted, stable through buildXml), and the documented limits honoured exactly.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ArgumentError, PayloadError } from '../../src/errors.js';
import { buildXml, parseXml, type XmlNode } from '../../src/xml/index.js';
import { fuzz, fuzzFile, typedOnly } from './harness.js';
import { type Branch, depthOf, expected, render, wechatDoc } from './wechat-xml.js';

fuzzFile(import.meta.url);

const XML_CODES = ['BAD_XML', 'XML_FORBIDDEN', 'XML_TOO_LARGE'] as const;

/** Tokens spliced in at element boundaries: what attacks and broken proxies put there. */
const INJECTIONS = [
  '<!DOCTYPE xml [<!ENTITY e "x">]>',
  '<!ENTITY e SYSTEM "file:///etc/passwd">',
  '<?xml-stylesheet href="x"?>',
  '<?php ?>',
  '&e;',
  '&#xD800;',
  '&#1114112;',
  `&#${'9'.repeat(40)};`,
  '&#x;',
  '&#0;',
  '&nbsp;',
  ']]>',
  '<![CDATA[',
  '<!--',
  '-->',
  '</x>',
  '<x>',
  '<x/>',
  '<__proto__>1</__proto__>',
  '<constructor/>',
  '<prototype></prototype>',
  '<a b="<">',
  '<a b=c>',
  '<a b=\'1\' c="2">',
  '<9a>',
  '<a\u00e9>',
  '\u0000',
  '\uFEFF',
  '\uD800',
  'text',
  '</xml>',
  '<xml>',
];

type Edit =
  | { op: 'inject'; at: number; text: string }
  | { op: 'drop'; at: number }
  | { op: 'duplicate'; at: number }
  | { op: 'swap'; at: number; other: number };

const edit: fc.Arbitrary<Edit> = fc.oneof(
  fc.record({ op: fc.constant('inject' as const), at: fc.nat(), text: fc.constantFrom(...INJECTIONS) }),
  fc.record({ op: fc.constant('drop' as const), at: fc.nat() }),
  fc.record({ op: fc.constant('duplicate' as const), at: fc.nat() }),
  fc.record({ op: fc.constant('swap' as const), at: fc.nat(), other: fc.nat() }),
);

/** Splits a document into its markup (`<...>`) and the text between, so edits land on boundaries. */
function tokens(doc: string): string[] {
  return doc.split(/(<!\[CDATA\[[\s\S]*?\]\]>|<[^>]*>)/).filter((t) => t !== '');
}

function apply(parts: string[], e: Edit): string[] {
  const out = [...parts];
  const i = e.at % (out.length + 1);
  switch (e.op) {
    case 'inject':
      out.splice(i, 0, e.text);
      break;
    case 'drop':
      out.splice(i, 1);
      break;
    case 'duplicate':
      if (out[i] !== undefined) out.splice(i, 0, out[i] as string);
      break;
    case 'swap': {
      const j = e.other % out.length;
      const a = out[i];
      const b = out[j];
      if (a !== undefined && b !== undefined) {
        out[i] = b;
        out[j] = a;
      }
      break;
    }
  }
  return out;
}

function assertPlain(value: unknown): void {
  if (typeof value === 'string') return;
  if (Array.isArray(value)) {
    for (const v of value) assertPlain(v);
    return;
  }
  expect(Object.getPrototypeOf(value)).toBe(Object.prototype);
  for (const key of Object.keys(value as object)) {
    expect(['__proto__', 'constructor', 'prototype']).not.toContain(key);
    assertPlain((value as Record<string, unknown>)[key]);
  }
}

describe('fuzz: parseXml on generated WeChat-shaped documents', () => {
  it('reads every valid document exactly as its model (CDATA, escapes, numbers, items, prototype names)', async () => {
    await fuzz(
      'xml.oracle',
      wechatDoc,
      (doc) => {
        expect(parseXml(render(doc))).toEqual(expected(doc.fields));
      },
      { ciRuns: 150 },
    );
  });

  it('refuses every proper prefix of a valid document with BAD_XML (a truncated body never parses)', async () => {
    await fuzz(
      'xml.truncated',
      fc.tuple(wechatDoc, fc.nat()),
      ([doc, cut]) => {
        const text = render(doc);
        const prefix = text.slice(0, cut % text.length);
        expect(typedOnly(() => parseXml(prefix), XML_CODES)).toBe('BAD_XML');
      },
      { ciRuns: 200 },
    );
  });

  it('corruptions at element boundaries: typed errors only; whatever is accepted survives buildXml unchanged', async () => {
    const seen = new Set<string>();
    await fuzz(
      'xml.corrupted',
      fc.tuple(wechatDoc, fc.array(edit, { minLength: 1, maxLength: 4 })),
      ([doc, edits]) => {
        const text = edits.reduce(apply, tokens(render(doc))).join('');
        let parsed: XmlNode | undefined;
        seen.add(
          typedOnly(() => {
            parsed = parseXml(text, { maxDepth: 6 });
          }, XML_CODES),
        );
        if (parsed === undefined) return;
        assertPlain(parsed);
        let rebuilt: string | undefined;
        // buildXml may refuse a value it cannot write; it must say so with a typed error.
        typedOnly(() => {
          rebuilt = buildXml(parsed as XmlNode);
        }, ['BAD_XML']);
        if (rebuilt !== undefined) expect(parseXml(rebuilt)).toEqual(parsed);
      },
      { ciRuns: 250 },
    );
    // Every outcome is reached: accepted documents (so the round trip is checked) and each refusal.
    expect([...seen].sort()).toEqual(['BAD_XML', 'XML_FORBIDDEN', 'XML_TOO_LARGE', 'ok']);
  });

  it('honours maxDepth and maxLength exactly: accepted iff within both, else XML_TOO_LARGE', async () => {
    const nested = fc.tuple(wechatDoc, fc.nat({ max: 10 })).map(([doc, wraps]) => {
      let fields = doc.fields;
      for (let i = 0; i < wraps; i++) fields = [{ kind: 'branch', name: 'Wrap', children: fields } as Branch];
      return { ...doc, fields };
    });
    await fuzz(
      'xml.limits',
      fc.tuple(nested, fc.integer({ min: 1, max: 14 }), fc.integer({ min: -40, max: 40 })),
      ([doc, maxDepth, slack]) => {
        const text = render(doc);
        const maxLength = Math.max(1, text.length + slack);
        const depth = depthOf(doc.fields);
        const outcome = typedOnly(() => parseXml(text, { maxDepth, maxLength }), XML_CODES);
        if (text.length > maxLength || depth > maxDepth) expect(outcome).toBe('XML_TOO_LARGE');
        else {
          expect(outcome).toBe('ok');
          expect(parseXml(text, { maxDepth, maxLength })).toEqual(expected(doc.fields));
        }
      },
      { ciRuns: 150 },
    );
  });

  it('refuses options that are not positive integers, and input that is not a string, with typed errors', async () => {
    const badLimit = fc.oneof(
      fc.constantFrom(0, -1, 1.5, Number.NaN, Number.POSITIVE_INFINITY, -0.5, '8'),
      fc.double().filter((d) => !Number.isInteger(d) || d < 1),
    );
    await fuzz(
      'xml.options',
      fc.tuple(
        fc.oneof(
          badLimit.map((v) => ({ maxLength: v })),
          badLimit.map((v) => ({ maxDepth: v })),
        ),
        fc.oneof(fc.anything(), fc.uint8Array({ maxLength: 16 })),
      ),
      ([options, input]) => {
        const a = typedOnly(() => parseXml('<xml/>', options as never), ['INVALID_ARGUMENT']);
        expect(a).toBe('INVALID_ARGUMENT');
        try {
          parseXml('<xml/>', options as never);
        } catch (error) {
          expect(error).toBeInstanceOf(ArgumentError);
        }
        if (typeof input !== 'string') {
          expect(() => parseXml(input as never)).toThrow(PayloadError);
        }
      },
      { ciRuns: 50 },
    );
  });
});
