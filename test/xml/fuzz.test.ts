import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { WeChatKitError } from '../../src/errors.js';
import { parseXml } from '../../src/xml/index.js';
import { NEWS_REPLY, PAY_NOTIFY, SEND_PICS_EVENT, TEXT_MESSAGE } from './fixtures.js';

/** Parses `doc`; the only acceptable outcomes are a plain object or a WeChatKitError. */
function parseOrTypedError(doc: string): void {
  let result: unknown;
  try {
    result = parseXml(doc, { maxLength: 10_000, maxDepth: 8 });
  } catch (e) {
    if (!(e instanceof WeChatKitError)) throw new Error(`untyped error: ${String(e)}`);
    expect(['BAD_XML', 'XML_FORBIDDEN', 'XML_TOO_LARGE']).toContain(e.code);
    return;
  }
  expect(typeof result).toBe('object');
  expect(Object.getPrototypeOf(result)).toBe(Object.prototype);
}

const TOKENS = [
  '<',
  '>',
  '/',
  '</',
  '/>',
  '<!',
  '<?',
  '?>',
  '<!--',
  '-->',
  '<![CDATA[',
  ']]>',
  '<!DOCTYPE x>',
  '<!ENTITY e "x">',
  '<?xml version="1.0"?>',
  '&',
  ';',
  '&#',
  '&#x',
  '&amp;',
  '&lt;',
  '&e;',
  '#',
  'x',
  'xml',
  'a',
  'item',
  '__proto__',
  'constructor',
  '1',
  'F',
  '"',
  "'",
  '=',
  ' ',
  '\n',
  '\r',
  '\t',
  '\uFEFF',
  '你',
  '😀',
  '\uD800',
  '<xml>',
  '</xml>',
  '<a>',
  '</a>',
  '<a/>',
];

const garbage = fc.array(fc.oneof(fc.constantFrom(...TOKENS), fc.string({ unit: 'binary', maxLength: 3 })), {
  maxLength: 40,
});

const SAMPLES = [TEXT_MESSAGE, NEWS_REPLY, SEND_PICS_EVENT, PAY_NOTIFY];

type Mutation = {
  op: 'insert' | 'delete' | 'replace' | 'duplicate' | 'swap';
  at: number;
  len: number;
  text: string;
};
const mutation: fc.Arbitrary<Mutation> = fc.record({
  op: fc.constantFrom('insert', 'delete', 'replace', 'duplicate', 'swap'),
  at: fc.nat(),
  len: fc.integer({ min: 1, max: 20 }),
  text: fc.oneof(fc.constantFrom(...TOKENS), fc.string({ unit: 'binary', maxLength: 4 })),
});

function mutate(doc: string, m: Mutation): string {
  const at = m.at % (doc.length + 1);
  const end = Math.min(doc.length, at + m.len);
  switch (m.op) {
    case 'insert':
      return doc.slice(0, at) + m.text + doc.slice(at);
    case 'delete':
      return doc.slice(0, at) + doc.slice(end);
    case 'replace':
      return doc.slice(0, at) + m.text + doc.slice(end);
    case 'duplicate':
      return doc.slice(0, end) + doc.slice(at, end) + doc.slice(end);
    case 'swap': {
      const other = (at * 7919) % (doc.length + 1);
      const [lo, hi] = at < other ? [at, other] : [other, at];
      return (
        doc.slice(0, lo) +
        doc.slice(hi, Math.min(doc.length, hi + m.len)) +
        doc.slice(lo, hi) +
        doc.slice(hi + m.len)
      );
    }
  }
}

describe('parseXml never throws anything but a typed WeChatKitError', () => {
  it('on random garbage built from XML-ish tokens', () => {
    fc.assert(
      fc.property(garbage, (parts) => parseOrTypedError(parts.join(''))),
      { numRuns: 3000 },
    );
  });

  it('on random garbage wrapped in a root element', () => {
    fc.assert(
      fc.property(garbage, (parts) => parseOrTypedError(`<xml>${parts.join('')}</xml>`)),
      { numRuns: 3000 },
    );
  });

  it('on random mutations of valid WeChat documents', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...SAMPLES),
        fc.array(mutation, { minLength: 1, maxLength: 4 }),
        (doc, ms) => parseOrTypedError(ms.reduce(mutate, doc)),
      ),
      { numRuns: 3000 },
    );
  });

  it('leaves Object.prototype untouched after all of the above', () => {
    expect(Object.getOwnPropertyNames(Object.prototype).sort()).toEqual(
      Object.getOwnPropertyNames(Object.getPrototypeOf({})).sort(),
    );
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(Object.keys(Object.prototype)).toEqual([]);
  });
});
