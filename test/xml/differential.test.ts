/**
 * Differential and round-trip properties for the XML codec.
 *
 * Reference: fast-xml-parser's XMLParser, configured to match parseXml's semantics on valid
 * documents (see REFERENCE below). Intentional differences, kept out of the generated documents or
 * normalised before comparing:
 * - Line endings: XMLParser normalises CR LF and lone CR to LF (as the XML spec says, as a pass
 *   over the whole document before parsing); parseXml keeps every value verbatim so signatures
 *   computed over the raw values still verify. The comparison applies that same pass to the
 *   document parseXml reads (or, for buildXml output, to the expected strings).
 * - Whitespace between child elements: XMLParser (with trimValues: false) keeps it as a `#text`
 *   key; parseXml drops it. Blank `#text` keys are removed from the reference output.
 * - The root: XMLParser returns `{ xml: ... }`; parseXml returns the root's children, and `{}` for
 *   a blank or empty root (XMLParser gives a string there).
 * - Not generated: unknown entities (`&nbsp;` is decoded by XMLParser with htmlEntities, `&foo;`
 *   kept as text; parseXml refuses both), character references to CR, DOCTYPE and processing
 *   instructions (refused by parseXml), and mixed content (refused by parseXml).
 */
import fc from 'fast-check';
import { XMLParser } from 'fast-xml-parser';
import { describe, expect, it } from 'vitest';
import { buildXml, parseXml, type XmlNode } from '../../src/xml/index.js';

const REFERENCE = new XMLParser({
  ignoreAttributes: true, // parseXml reads attributes but drops them
  parseTagValue: false, // every value stays a string
  trimValues: false, // values are not trimmed
  processEntities: true, // decode &lt; &gt; &amp; &quot; &apos;
  htmlEntities: true, // also decode &#NN; and &#xHH;
  ignoreDeclaration: true,
  ignorePiTags: true,
  // cdataPropName and commentPropName unset: CDATA is merged into the text, comments are dropped.
});

type Ref = string | Ref[] | { [name: string]: Ref };

/** Brings XMLParser's output to parseXml's shape; see the header comment. */
function normaliseReference(value: Ref): Ref {
  if (typeof value === 'string') return value;
  if (Array.isArray(value)) return value.map(normaliseReference);
  const out: { [name: string]: Ref } = {};
  for (const [k, v] of Object.entries(value)) {
    if (k === '#text' && typeof v === 'string' && /^[ \t\r\n]*$/.test(v)) continue;
    out[k] = normaliseReference(v);
  }
  return out;
}

function referenceParse(doc: string): Ref {
  const parsed = REFERENCE.parse(doc) as { xml: Ref };
  const root = normaliseReference(parsed.xml);
  return typeof root === 'string' ? {} : root;
}

function normaliseNewlines(value: Ref): Ref {
  if (typeof value === 'string') return value.replace(/\r\n?/g, '\n');
  if (Array.isArray(value)) return value.map(normaliseNewlines);
  const out: { [name: string]: Ref } = {};
  for (const [k, v] of Object.entries(value)) out[k] = normaliseNewlines(v);
  return out;
}

// ---------------------------------------------------------------------------------------------
// Generators

const NAMES = ['item', 'Title', 'a', 'MsgType', 'x_1', 'A.b', 'ns:c', 'd-e'] as const;
const name = fc.constantFrom(...NAMES);

const special = fc.constantFrom(
  '',
  ' ',
  '\n',
  '\r\n',
  '<',
  '>',
  '&',
  ']]>',
  ']]',
  ']',
  '&amp;',
  '&lt;',
  '<![CDATA[',
  '"',
  "'",
  '你好，世界',
  '😀👍🏽',
  '0012345',
  '1004400740201409030005092168',
  '1.0084507402014111e+27',
  '\t  ',
);

/** Leaf values: random unicode with the characters that matter to XML mixed in. */
const leafText = fc
  .array(fc.oneof(fc.string({ unit: 'binary', maxLength: 8 }), fc.string({ maxLength: 8 }), special), {
    maxLength: 6,
  })
  .map((parts) => parts.join(''));

/** Splits `s` into CDATA sections, cutting every `]]>` between `]]` and `>`. */
function asCdata(s: string): string {
  return `<![CDATA[${s.replaceAll(']]>', ']]]]><![CDATA[>')}]]>`;
}

/** Escapes `s` as character data, picking an escape style per character from `choices`. */
function asText(s: string, choices: number[]): string {
  let out = '';
  let i = 0;
  for (const ch of s) {
    const choice = choices[i++ % choices.length] ?? 0;
    const cp = ch.codePointAt(0)!;
    const mustEscape = ch === '<' || ch === '&' || ch === '>';
    // &#13; would be read back as CR by both parsers but XMLParser then normalises it; skip it.
    const referable =
      cp !== 0x0d && cp >= 0x20 && !(cp >= 0xd800 && cp <= 0xdfff) && cp !== 0xfffe && cp !== 0xffff;
    if (referable && choice === 1) out += `&#${cp};`;
    else if (referable && choice === 2) out += `&#x${cp.toString(16)};`;
    else if (mustEscape || (choice === 3 && (ch === '"' || ch === "'"))) {
      out += { '<': '&lt;', '&': '&amp;', '>': '&gt;', '"': '&quot;', "'": '&apos;' }[ch];
    } else out += ch;
  }
  return out;
}

const ws = fc.constantFrom('', '', ' ', '\n', '\n  ', '\r\n\t', '\t');
const attrs = fc
  .array(fc.tuple(name, fc.stringMatching(/^[a-z0-9 _.-]{0,6}$/), fc.boolean()), { maxLength: 2 })
  .map((list) => list.map(([k, v, single], i) => ` ${k}${i}=${single ? `'${v}'` : `"${v}"`}`).join(''));

interface Leaf {
  kind: 'leaf';
  name: string;
  text: string;
  /** 0: CDATA, 1: escaped text, 2: text + CDATA parts, 3: self-closing if empty */
  style: number;
  choices: number[];
  attrs: string;
}
interface Branch {
  kind: 'branch';
  name: string;
  children: Tree[];
  gaps: string[];
  attrs: string;
}
type Tree = Leaf | Branch;

const leaf: fc.Arbitrary<Leaf> = fc.record({
  kind: fc.constant('leaf' as const),
  name,
  text: leafText,
  style: fc.integer({ min: 0, max: 3 }),
  choices: fc.array(fc.integer({ min: 0, max: 3 }), { minLength: 1, maxLength: 5 }),
  attrs,
});

const { tree } = fc.letrec<{ tree: Tree; branch: Branch }>((tie) => ({
  tree: fc.oneof({ depthSize: 'small', withCrossShrink: true }, leaf, tie('branch')),
  branch: fc.record({
    kind: fc.constant('branch' as const),
    name,
    children: fc.array(tie('tree'), { minLength: 1, maxLength: 5 }),
    gaps: fc.array(
      fc.oneof(
        ws,
        ws.map((w) => `${w}<!-- c -->${w}`),
      ),
      { minLength: 6, maxLength: 6 },
    ),
    attrs,
  }),
}));

function render(t: Tree): string {
  if (t.kind === 'branch') {
    let inner = t.gaps[0] ?? '';
    t.children.forEach((c, i) => {
      inner += render(c) + (t.gaps[i + 1] ?? '');
    });
    return `<${t.name}${t.attrs}>${inner}</${t.name}>`;
  }
  let body: string;
  if (t.style === 0) body = asCdata(t.text);
  else if (t.style === 2) {
    const mid = Math.floor(t.text.length / 2);
    const head = t.text.slice(0, mid);
    const tail = t.text.slice(mid);
    body = asText(head, t.choices) + asCdata(tail);
  } else body = asText(t.text, t.choices);
  if (t.style === 3 && body === '') return `<${t.name}${t.attrs}/>`;
  return `<${t.name}${t.attrs}>${body}</${t.name}>`;
}

const prolog = fc.constantFrom(
  '',
  '<?xml version="1.0" encoding="UTF-8"?>\n',
  '\uFEFF<?xml version="1.0"?>',
  '\n ',
);

const document = fc
  .tuple(prolog, fc.array(tree, { maxLength: 8 }), fc.array(ws, { minLength: 9, maxLength: 9 }))
  .map(([head, children, gaps]) => {
    let inner = gaps[0] ?? '';
    children.forEach((c, i) => {
      inner += render(c) + (gaps[i + 1] ?? '');
    });
    return `${head}<xml>${inner}</xml>`;
  });

// Objects for the buildXml round trip: string leaves, non-empty objects, arrays of two or more.
type Obj = { [name: string]: string | Obj | Array<string | Obj> };
const { obj } = fc.letrec<{ obj: Obj; value: string | Obj; field: string | Obj | Array<string | Obj> }>(
  (tie) => ({
    obj: fc.dictionary(name, tie('field'), { minKeys: 1, maxKeys: 5, depthIdentifier: 'obj' }),
    value: fc.oneof({ depthSize: 'small', depthIdentifier: 'obj' }, leafText, tie('obj')),
    field: fc.oneof(
      { depthSize: 'small', depthIdentifier: 'obj' },
      leafText,
      tie('obj'),
      fc.array(tie('value'), { minLength: 2, maxLength: 4 }),
    ),
  }),
);

// ---------------------------------------------------------------------------------------------

describe('parseXml agrees with fast-xml-parser', () => {
  it('gives the same values as XMLParser (normalised) on random WeChat-shaped documents', () => {
    fc.assert(
      fc.property(document, (doc) => {
        expect(parseXml(doc.replace(/\r\n?/g, '\n'))).toEqual(referenceParse(doc));
      }),
      { numRuns: 400 },
    );
  });

  it('keeps every leaf a string and never wraps a single element in an array', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(name, leafText), { maxLength: 10 }), (fields) => {
        const doc = `<xml>${fields.map(([n, v]) => `<${n}>${asCdata(v)}</${n}>`).join('')}</xml>`;
        const parsed = parseXml(doc);
        const counts = new Map<string, number>();
        for (const [n] of fields) counts.set(n, (counts.get(n) ?? 0) + 1);
        for (const [n, count] of counts) {
          const value = parsed[n];
          if (count === 1) expect(typeof value).toBe('string');
          else expect(value).toEqual(fields.filter(([k]) => k === n).map(([, v]) => v));
        }
        expect(Object.keys(parsed).sort()).toEqual([...counts.keys()].sort());
      }),
      { numRuns: 300 },
    );
  });
});

describe('buildXml / parseXml round trip', () => {
  it('reads back exactly what buildXml wrote, for random objects with string leaves', () => {
    fc.assert(
      fc.property(obj, fc.boolean(), (value, declaration) => {
        const xml = buildXml(value, { declaration });
        expect(parseXml(xml) as XmlNode).toEqual(value);
      }),
      { numRuns: 400 },
    );
  });

  it('writes documents XMLParser reads the same way', () => {
    fc.assert(
      fc.property(obj, (value) => {
        const xml = buildXml(value);
        expect(referenceParse(xml)).toEqual(normaliseNewlines(value as Ref));
      }),
      { numRuns: 300 },
    );
  });
});
