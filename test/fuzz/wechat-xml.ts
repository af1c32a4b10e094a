/**
 * Generated WeChat-shaped XML documents with their expected reading: a model (fields, values,
 * repeated `item`s) is drawn first, then rendered the way WeChat and real servers write it — CDATA
 * text, bare numbers, escaped text, whitespace and comments between elements, an optional
 * declaration — so every document comes with the value `parseXml` must return (an oracle, not just
 * "does not throw").
 */
import fc from 'fast-check';

/** A leaf as the SDK reads it (the exact string), and how it is written. */
export interface Leaf {
  kind: 'leaf';
  name: string;
  value: string;
  /** 0: CDATA, 1: escaped text, 2: bare (digits only), 3: CDATA split in two sections, 4: empty/self-closing */
  style: number;
}
export interface Branch {
  kind: 'branch';
  name: string;
  children: Node[];
}
export type Node = Leaf | Branch;

export interface Doc {
  declaration: boolean;
  fields: Node[];
  /** Whitespace/comments put between elements, cycled. */
  gaps: string[];
}

// Names WeChat uses, plus Object.prototype's own names: results must keep them as plain own keys.
const FIELD_NAMES = [
  'ToUserName',
  'FromUserName',
  'CreateTime',
  'MsgType',
  'Content',
  'MsgId',
  'MsgDataId',
  'Idx',
  'PicUrl',
  'MediaId',
  'Format',
  'Recognition',
  'Location_X',
  'Location_Y',
  'Scale',
  'Label',
  'Event',
  'EventKey',
  'Ticket',
  'Latitude',
  'Longitude',
  'Precision',
  'AgentID',
  'appid',
  'mch_id',
  'out_trade_no',
  'total_fee',
  'sign',
  'toString',
  'hasOwnProperty',
  'valueOf',
  'isPrototypeOf',
  '__defineGetter__',
];
const fieldName = fc.constantFrom(...FIELD_NAMES);

/** Text as WeChat users send it: Chinese, emoji, markup-looking characters, CDATA terminators. */
const SPECIAL = [
  '你好，世界',
  '微信支付',
  '😀👍🏽',
  '<b>',
  '</xml>',
  '&amp;',
  '&',
  '<',
  '>',
  '"',
  "'",
  ']]>',
  ']]',
  ']',
  '<![CDATA[',
  ' ',
  '\n',
  '\t',
  'https://example.com/?a=1&b=2',
  '\u3000',
  '\u00a0',
  '\uFEFF',
];
const textValue = fc
  .array(
    fc.oneof(
      fc.constantFrom(...SPECIAL),
      fc.string({ maxLength: 6 }),
      fc.string({ unit: 'grapheme', maxLength: 4 }),
    ),
    { maxLength: 6 },
  )
  .map((parts) => parts.join('').replace(/\r/g, ''));

/** Numbers as WeChat writes them: ids past 2^53, leading zeros, decimals, negatives, fen amounts. */
const numberValue = fc.oneof(
  fc.constantFrom(
    '0',
    '0012345',
    '1004400740201409030005092168',
    '24312345678901234',
    '6054768590064713728',
    '23.134521',
    '-113.358803',
    '1.0084507402014111e+27',
  ),
  fc.bigInt({ min: 0n, max: 10n ** 30n }).map(String),
  fc.integer({ min: 1_400_000_000, max: 1_900_000_000 }).map(String),
);

const leaf: fc.Arbitrary<Leaf> = fc.oneof(
  fc.record({
    kind: fc.constant('leaf' as const),
    name: fieldName,
    value: textValue,
    style: fc.constantFrom(0, 1, 3),
  }),
  fc.record({
    kind: fc.constant('leaf' as const),
    name: fieldName,
    value: numberValue,
    style: fc.constantFrom(0, 1, 2),
  }),
  fc.record({
    kind: fc.constant('leaf' as const),
    name: fieldName,
    value: fc.constant(''),
    style: fc.constant(4),
  }),
);

const articleItem: fc.Arbitrary<Branch> = fc
  .tuple(textValue, textValue, textValue, textValue)
  .map(([title, description, pic, url]) => ({
    kind: 'branch',
    name: 'item',
    children: [
      { kind: 'leaf', name: 'Title', value: title, style: 0 },
      { kind: 'leaf', name: 'Description', value: description, style: 0 },
      { kind: 'leaf', name: 'PicUrl', value: pic, style: 0 },
      { kind: 'leaf', name: 'Url', value: url, style: 1 },
    ],
  }));

/** A news reply's `ArticleCount` + `Articles/item*`, or an event's `SendPicsInfo/PicList/item*`. */
const list: fc.Arbitrary<Node[]> = fc.oneof(
  fc
    .array(articleItem, { minLength: 1, maxLength: 8 })
    .map((items) => [
      { kind: 'leaf', name: 'ArticleCount', value: String(items.length), style: 2 } as Leaf,
      { kind: 'branch', name: 'Articles', children: items } as Branch,
    ]),
  fc.array(fc.stringMatching(/^[0-9a-f]{32}$/), { minLength: 1, maxLength: 9 }).map((sums) => [
    {
      kind: 'branch',
      name: 'SendPicsInfo',
      children: [
        { kind: 'leaf', name: 'Count', value: String(sums.length), style: 2 },
        {
          kind: 'branch',
          name: 'PicList',
          children: sums.map(
            (s): Branch => ({
              kind: 'branch',
              name: 'item',
              children: [{ kind: 'leaf', name: 'PicMd5Sum', value: s, style: 0 }],
            }),
          ),
        },
      ],
    } as Branch,
  ]),
  fc.constant<Node[]>([]),
);

const gap = fc.constantFrom('', '', '\n', '\r\n', '\n  ', '\t', ' <!-- c --> ', '\n<!---->');

/** A WeChat-shaped document model. */
export const wechatDoc: fc.Arbitrary<Doc> = fc.record({
  declaration: fc.boolean(),
  fields: fc
    .tuple(
      fc.constantFrom('text', 'image', 'event', 'news', 'location'),
      fc.array(leaf, { maxLength: 12 }),
      list,
    )
    .map(([type, leaves, extra]) => [
      { kind: 'leaf', name: 'MsgType', value: type, style: 0 } as Leaf,
      ...leaves,
      ...extra,
    ]),
  gaps: fc.array(gap, { minLength: 1, maxLength: 5 }),
});

function escapeText(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

function cdata(s: string): string {
  return `<![CDATA[${s.replaceAll(']]>', ']]]]><![CDATA[>')}]]>`;
}

function renderLeaf(l: Leaf): string {
  let inner: string;
  switch (l.style) {
    case 1:
      inner = escapeText(l.value);
      break;
    case 2:
      inner = l.value;
      break;
    case 3: {
      const mid = Math.floor(l.value.length / 2);
      inner = cdata(l.value.slice(0, mid)) + cdata(l.value.slice(mid));
      break;
    }
    case 4:
      return l.name.length % 2 === 0 ? `<${l.name}/>` : `<${l.name}></${l.name}>`;
    default:
      inner = cdata(l.value);
  }
  return `<${l.name}>${inner}</${l.name}>`;
}

/** Renders a model as XML text. */
export function render(doc: Doc): string {
  let g = 0;
  const nextGap = () => doc.gaps[g++ % doc.gaps.length] ?? '';
  const node = (n: Node): string =>
    n.kind === 'leaf'
      ? renderLeaf(n)
      : `<${n.name}>${nextGap()}${n.children.map((c) => node(c) + nextGap()).join('')}</${n.name}>`;
  const head = doc.declaration ? '<?xml version="1.0" encoding="UTF-8"?>\n' : '';
  return `${head}<xml>${nextGap()}${doc.fields.map((f) => node(f) + nextGap()).join('')}</xml>`;
}

export type Expected = string | { [name: string]: Expected | Expected[] } | Expected[];

/** What reading the document must give: leaves as exact strings, repeated names as arrays. */
export function expected(nodes: Node[]): { [name: string]: Expected } {
  const out: { [name: string]: Expected } = {};
  const counts = new Map<string, number>();
  for (const n of nodes) {
    const value: Expected = n.kind === 'leaf' ? n.value : n.children.length === 0 ? '' : expected(n.children);
    const seen = counts.get(n.name) ?? 0;
    if (seen === 0) out[n.name] = value;
    else if (seen === 1) out[n.name] = [out[n.name] as Expected, value];
    else (out[n.name] as Expected[]).push(value);
    counts.set(n.name, seen + 1);
  }
  return out;
}

function levels(n: Node): number {
  return n.kind === 'leaf' ? 1 : 1 + Math.max(0, ...n.children.map(levels));
}

/** Deepest element nesting of a model, the root `<xml>` counting as level 1. */
export function depthOf(nodes: Node[]): number {
  return 1 + Math.max(0, ...nodes.map(levels));
}
