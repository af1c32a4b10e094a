/**
 * Differential: parseXml against fast-xml-parser (XMLParser) on generated WeChat-shaped documents
 * (root <xml>, CDATA text, bare numbers, ArticleCount/Articles/item, SendPicsInfo/PicList/item,
 * event fields, Chinese text, emoji, markup-looking characters). Both must give the values the SDK
 * reads — and both must match the generator's model.
 *
 * XMLParser is configured to read as parseXml does (see REFERENCE). Where the two legitimately
 * differ the difference is stated, and pinned by the "documented differences" table below:
 * - Element names that are Object.prototype members (toString, valueOf, hasOwnProperty, …):
 *   XMLParser renames them with a `__` prefix; parseXml keeps them as plain own keys. The
 *   comparison maps XMLParser's renamed keys back. `__proto__` / `constructor` / `prototype`: both
 *   refuse (parseXml with BAD_XML, XMLParser with its own Error).
 * - DOCTYPE and entity declarations: XMLParser expands internal entities (`&e;` → its text);
 *   parseXml refuses the document (XML_FORBIDDEN): WeChat never sends them and they are the door
 *   to entity-expansion and XXE attacks.
 * - Unknown entities (`&nbsp;`, `&foo;`), character references to surrogates: XMLParser decodes
 *   or keeps them as text; parseXml refuses (BAD_XML).
 * - Truncated documents, text after the root, a second root, mixed content: XMLParser reads what
 *   it can; parseXml refuses (BAD_XML), because a truncated or spliced body must never be acted on.
 * - Whitespace between child elements: XMLParser keeps a `#text` key (trimValues: false); parseXml
 *   drops it. Blank `#text` keys are removed from XMLParser's output. CR LF between elements is
 *   blank either way; CR inside values is not generated (XMLParser normalises line endings,
 *   parseXml keeps values verbatim so signatures over them verify).
 * - With XMLParser's DEFAULT options numbers are converted and text trimmed (`0012345` → 12345, a
 *   28-digit transaction id → 1.0044e27, ` hi ` → `hi`); parseXml always gives the exact string.
 */
import fc from 'fast-check';
import { XMLParser } from 'fast-xml-parser';
import { describe, expect, it } from 'vitest';
import { WeChatKitError } from '../../src/errors.js';
import { parseXml } from '../../src/xml/index.js';
import { fuzz, fuzzFile } from './harness.js';
import { expected, render, wechatDoc } from './wechat-xml.js';

fuzzFile(import.meta.url);

const REFERENCE = new XMLParser({
  ignoreAttributes: true,
  parseTagValue: false,
  trimValues: false,
  processEntities: true,
  htmlEntities: true,
  ignoreDeclaration: true,
  ignorePiTags: true,
});

const PROTOTYPE_NAMES = new Set(Object.getOwnPropertyNames(Object.prototype));

type Ref = string | Ref[] | { [name: string]: Ref };

/** XMLParser's output in parseXml's shape: no blank #text, prototype names restored, root unwrapped. */
function normalise(value: Ref): Ref {
  if (typeof value === 'string') return value;
  if (Array.isArray(value)) return value.map(normalise);
  const out: { [name: string]: Ref } = {};
  for (const [k, v] of Object.entries(value)) {
    if (k === '#text' && typeof v === 'string' && /^[ \t\r\n]*$/.test(v)) continue;
    const name = k.startsWith('__') && PROTOTYPE_NAMES.has(k.slice(2)) ? k.slice(2) : k;
    out[name] = normalise(v);
  }
  return out;
}

function reference(doc: string): Ref {
  const root = normalise((REFERENCE.parse(doc) as { xml: Ref }).xml);
  return typeof root === 'string' ? {} : root;
}

function outcome(fn: () => unknown): unknown {
  try {
    return fn();
  } catch (error) {
    return error instanceof WeChatKitError ? `throws ${error.code}` : 'throws';
  }
}

describe('differential: parseXml and fast-xml-parser on WeChat-shaped documents', () => {
  it('agree on every value the SDK reads, and both match the model', async () => {
    await fuzz(
      'xml.differential',
      wechatDoc,
      (doc) => {
        const text = render(doc);
        const ours = parseXml(text);
        expect(ours).toEqual(expected(doc.fields));
        expect(reference(text)).toEqual(ours);
      },
      { ciRuns: 120 },
    );
  });
});

describe('documented differences (each row pins one; see the header comment)', () => {
  const rows: Array<[string, string, unknown, unknown]> = [
    [
      'prototype names',
      '<xml><toString>1</toString><valueOf>2</valueOf></xml>',
      { toString: '1', valueOf: '2' },
      { xml: { __toString: '1', __valueOf: '2' } },
    ],
    ['__proto__', '<xml><__proto__>1</__proto__></xml>', 'throws BAD_XML', 'throws'],
    [
      'DOCTYPE entity',
      '<!DOCTYPE xml [<!ENTITY e "boom">]><xml><a>&e;</a></xml>',
      'throws XML_FORBIDDEN',
      { xml: { a: 'boom' } },
    ],
    ['unknown entities', '<xml><a>&nbsp;&foo;</a></xml>', 'throws BAD_XML', { xml: { a: '\u00a0&foo;' } }],
    ['surrogate reference', '<xml><a>&#xD800;</a></xml>', 'throws BAD_XML', { xml: { a: '' } }],
    ['truncated', '<xml><a>1</a>', 'throws BAD_XML', { xml: { a: '1' } }],
    [
      'second root',
      '<xml><a>1</a></xml><xml><a>2</a></xml>',
      'throws BAD_XML',
      { xml: [{ a: '1' }, { a: '2' }] },
    ],
    [
      'mixed content',
      '<xml><a>x<b>1</b></a></xml>',
      'throws BAD_XML',
      { xml: { a: { b: '1', '#text': 'x' } } },
    ],
  ];
  it.each(rows)('%s', (_name, doc, ours, theirs) => {
    expect(outcome(() => parseXml(doc))).toEqual(ours);
    expect(outcome(() => REFERENCE.parse(doc))).toEqual(theirs);
  });

  it("XMLParser's default options lose ids and text that parseXml keeps exactly", () => {
    const doc =
      '<xml><out_trade_no>0012345</out_trade_no><transaction_id>1004400740201409030005092168</transaction_id>' +
      '<Content> hi </Content></xml>';
    expect(parseXml(doc)).toEqual({
      out_trade_no: '0012345',
      transaction_id: '1004400740201409030005092168',
      Content: ' hi ',
    });
    const byDefault = (new XMLParser().parse(doc) as { xml: Record<string, unknown> }).xml;
    expect(byDefault.out_trade_no).toBe(12345);
    expect(byDefault.transaction_id).not.toBe('1004400740201409030005092168');
    expect(byDefault.Content).toBe('hi');
  });

  it('a WeChat-shaped document cut anywhere inside its root: parseXml refuses it, whatever XMLParser makes of it', async () => {
    await fuzz(
      'xml.differential.truncated',
      fc.tuple(wechatDoc, fc.nat()),
      ([doc, cut]) => {
        const text = render(doc);
        const start = text.indexOf('<xml>') + 5;
        const prefix = text.slice(0, start + (cut % (text.length - start)));
        expect(outcome(() => parseXml(prefix))).toBe('throws BAD_XML');
      },
      { ciRuns: 60 },
    );
  });
});
