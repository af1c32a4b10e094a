import { ArgumentError, PayloadError } from '../errors.js';
import { isReservedXmlName, NAME_TABLE } from './names.js';

/**
 * A parsed XML value: a leaf element's text (always a string, exactly as sent), an element with
 * child elements, or — when an element name repeats under the same parent — an array of those.
 *
 * @example
 * const v: XmlValue = parseXml('<xml><A>1</A><A>2</A></xml>').A!; // ['1', '2']
 */
export type XmlValue = string | XmlNode | Array<string | XmlNode>;

/**
 * The child elements of one XML element, keyed by element name. A name that occurs once holds its
 * value directly; a name that occurs more than once holds an array of the values in document order.
 *
 * @example
 * const node: XmlNode = parseXml('<xml><Articles><item><Title>a</Title></item></Articles></xml>');
 * // { Articles: { item: { Title: 'a' } } }
 */
export interface XmlNode {
  [name: string]: XmlValue;
}

/**
 * Limits applied by {@link parseXml}. Both guard against oversized or hostile documents.
 *
 * @example
 * parseXml(body, { maxLength: 64 * 1024, maxDepth: 8 });
 */
export interface ParseXmlOptions {
  /** Longest accepted document, in UTF-16 characters (`string.length`). Default 1 048 576. */
  maxLength?: number;
  /** Deepest accepted element nesting; the root element is level 1. Default 32. */
  maxDepth?: number;
}

const DEFAULT_MAX_LENGTH = 1_048_576;
const DEFAULT_MAX_DEPTH = 32;

const LT = 0x3c; // <
const GT = 0x3e; // >
const SLASH = 0x2f; // /
const BANG = 0x21; // !
const QUESTION = 0x3f; // ?
const EQUALS = 0x3d; // =
const DQUOTE = 0x22; // "
const SQUOTE = 0x27; // '
const SEMI = 0x3b; // ;
const HASH = 0x23; // #
const LOWER_X = 0x78; // x

/** XML whitespace: space, tab, CR, LF. `NaN` (read past the end) is not whitespace. */
function isWs(c: number): boolean {
  return c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09;
}

function isBlank(s: string): boolean {
  for (let i = 0; i < s.length; i++) if (!isWs(s.charCodeAt(i))) return false;
  return true;
}

const FIX_HINT =
  'Pass the raw, complete request body as received from WeChat (not re-encoded, trimmed or truncated).';

function bad(offset: number, what: string): PayloadError {
  return new PayloadError('BAD_XML', `Malformed XML at character ${offset}: ${what}. ${FIX_HINT}`);
}

function truncated(offset: number): PayloadError {
  return bad(offset, 'the document ends too early (it looks truncated)');
}

const DECLARATIONS =
  'document type and entity declarations (<!DOCTYPE, <!ENTITY, ...) are not allowed: they enable ' +
  'entity-expansion and external-entity attacks';
const INSTRUCTIONS = 'processing instructions other than a leading <?xml ...?> declaration are not allowed';

function forbidden(offset: number, what: string): PayloadError {
  return new PayloadError(
    'XML_FORBIDDEN',
    `Refused XML at character ${offset}: ${what}. WeChat never sends them; reject the request.`,
  );
}

/** True when the document ends at `pos` partway through `token` (so it was cut short there). */
function endsInside(xml: string, pos: number, token: string): boolean {
  return xml.length - pos < token.length && token.startsWith(xml.slice(pos));
}

function readLimit(value: number | undefined, fallback: number, option: string): number {
  if (value === undefined) return fallback;
  if (!Number.isInteger(value) || value < 1) {
    throw new ArgumentError(
      `parseXml option ${option} must be a positive integer; omit it to use the default of ${fallback}.`,
    );
  }
  return value;
}

/** Skips whitespace and comments outside the root element. Returns the next position. */
function skipMisc(xml: string, pos: number): number {
  for (;;) {
    while (isWs(xml.charCodeAt(pos))) pos++;
    if (xml.charCodeAt(pos) !== LT) return pos;
    const c1 = xml.charCodeAt(pos + 1);
    if (c1 === QUESTION) throw forbidden(pos, INSTRUCTIONS);
    if (c1 !== BANG) return pos;
    if (!xml.startsWith('--', pos + 2)) {
      if (endsInside(xml, pos, '<!--')) throw truncated(pos);
      throw xml.startsWith('[CDATA[', pos + 2)
        ? bad(pos, 'CDATA outside the root element')
        : forbidden(pos, DECLARATIONS);
    }
    const close = xml.indexOf('-->', pos + 4);
    if (close === -1) throw bad(pos, 'unterminated comment');
    pos = close + 3;
  }
}

/** Decodes the predefined entities and character references in `seg`; `amp` is its first `&`. */
function decodeEntities(seg: string, amp: number, offset: number): string {
  let out = '';
  let last = 0;
  const n = seg.length;
  while (amp !== -1) {
    out += seg.slice(last, amp);
    let p = amp + 1;
    const c = seg.charCodeAt(p);
    if (c === HASH) {
      p++;
      const hex = seg.charCodeAt(p) === LOWER_X;
      if (hex) p++;
      const start = p;
      let cp = 0;
      for (; p < n; p++) {
        const d = seg.charCodeAt(p);
        let v: number;
        if (d >= 0x30 && d <= 0x39) v = d - 0x30;
        else if (hex && d >= 0x61 && d <= 0x66) v = d - 0x57;
        else if (hex && d >= 0x41 && d <= 0x46) v = d - 0x37;
        else break;
        if (cp <= 0x10ffff) cp = cp * (hex ? 16 : 10) + v;
      }
      if (p === start || seg.charCodeAt(p) !== SEMI) {
        throw bad(offset + amp, 'malformed character reference; write & as &amp;');
      }
      const ok =
        cp === 0x09 ||
        cp === 0x0a ||
        cp === 0x0d ||
        (cp >= 0x20 && cp <= 0xd7ff) ||
        (cp >= 0xe000 && cp <= 0xfffd) ||
        (cp >= 0x10000 && cp <= 0x10ffff);
      if (!ok) throw bad(offset + amp, 'character reference to a code point XML does not allow');
      out += String.fromCodePoint(cp);
      p++;
    } else if (c === 0x6c /* l */ && seg.startsWith('t;', p + 1)) {
      out += '<';
      p += 3;
    } else if (c === 0x67 /* g */ && seg.startsWith('t;', p + 1)) {
      out += '>';
      p += 3;
    } else if (c === 0x61 /* a */ && seg.startsWith('mp;', p + 1)) {
      out += '&';
      p += 4;
    } else if (c === 0x71 /* q */ && seg.startsWith('uot;', p + 1)) {
      out += '"';
      p += 5;
    } else if (c === 0x61 /* a */ && seg.startsWith('pos;', p + 1)) {
      out += "'";
      p += 5;
    } else {
      throw bad(
        offset + amp,
        'unknown entity (only &lt; &gt; &amp; &quot; &apos; and &#...; are defined); write & as &amp;',
      );
    }
    last = p;
    amp = seg.indexOf('&', p);
  }
  return out + seg.slice(last);
}

/** Adds `value` under `name`, turning a repeated name into an array. */
function attach(parent: XmlNode, name: string, value: string | XmlNode): void {
  const prev = parent[name];
  if (prev === undefined || !Object.hasOwn(parent, name)) parent[name] = value;
  else if (Array.isArray(prev)) prev.push(value);
  else parent[name] = [prev, value];
}

/**
 * Parses a WeChat XML document and returns the children of its root element (`<xml>` or `<root>`,
 * whatever its name). Written for WeChat's subset of XML and for speed: one pass, no regular
 * expressions, no token list.
 *
 * - Every leaf value is a string exactly as sent: never a number (`0012345` and 28-digit ids stay
 *   intact), never trimmed, line endings not normalised (so signatures over the values verify).
 * - CDATA is verbatim; other text has `&lt; &gt; &amp; &quot; &apos;` and `&#NN;` / `&#xHH;`
 *   decoded. Any other entity is `BAD_XML`.
 * - A name repeated under one parent becomes an array; a single element is never wrapped.
 * - An empty element (`<a/>`, `<a></a>`) is `''`. An element with child elements ignores
 *   whitespace-only text between them; any other text next to child elements (mixed content) is
 *   `BAD_XML`, as is a root element that holds only non-blank text.
 * - Attributes are checked for syntax and ignored; comments are skipped; a leading BOM,
 *   whitespace and `<?xml ...?>` declaration are accepted.
 * - Element names are `[A-Za-z_:][A-Za-z0-9_:.-]*`. The names `__proto__`, `constructor` and
 *   `prototype` are refused with `BAD_XML` so results are safe to merge into other objects.
 *
 * @throws {PayloadError} `BAD_XML` (malformed, truncated, mismatched tags), `XML_FORBIDDEN`
 *   (`<!DOCTYPE`, `<!ENTITY` or any other `<!` declaration; processing instructions) or
 *   `XML_TOO_LARGE` (longer than `maxLength`, deeper than `maxDepth`).
 * @throws {ConfigError} `INVALID_ARGUMENT` when an option is not a positive integer.
 *
 * @example
 * const msg = parseXml('<xml><MsgType><![CDATA[text]]></MsgType><MsgId>1234567890123456</MsgId></xml>');
 * msg.MsgType; // 'text'
 * msg.MsgId;   // '1234567890123456' (a string)
 */
export function parseXml(xml: string, options?: ParseXmlOptions): XmlNode {
  if (typeof xml !== 'string') {
    throw new PayloadError(
      'BAD_XML',
      'parseXml expects a string; decode the request body as UTF-8 text before parsing it.',
    );
  }
  const maxLength = readLimit(options?.maxLength, DEFAULT_MAX_LENGTH, 'maxLength');
  const maxDepth = readLimit(options?.maxDepth, DEFAULT_MAX_DEPTH, 'maxDepth');
  const end = xml.length;
  if (end > maxLength) {
    throw new PayloadError(
      'XML_TOO_LARGE',
      `XML document is ${end} characters long, over the limit of ${maxLength}; reject the request, ` +
        'or raise the maxLength option if documents this large are expected.',
    );
  }

  // Prolog: BOM, whitespace, optional <?xml ...?> declaration, then whitespace and comments.
  let pos = xml.charCodeAt(0) === 0xfeff ? 1 : 0;
  while (isWs(xml.charCodeAt(pos))) pos++;
  if (xml.startsWith('<?xml', pos)) {
    const c = xml.charCodeAt(pos + 5);
    if (isWs(c) || c === QUESTION) {
      const close = xml.indexOf('?>', pos + 5);
      if (close === -1) throw bad(pos, 'unterminated <?xml ...?> declaration');
      pos = close + 2;
    }
  }
  if (endsInside(xml, pos, '<?xml ')) throw truncated(pos);
  pos = skipMisc(xml, pos);
  if (pos >= end) throw bad(pos, 'there is no root element');
  if (xml.charCodeAt(pos) !== LT) throw bad(pos, 'text outside the root element');

  // The open-element stack. The current element lives in the `cur*` locals; its ancestors' state
  // is saved in the arrays at index depth - 2 and below.
  const names: string[] = [];
  const nodes: Array<XmlNode | null> = [];
  const texts: string[] = [];
  let depth = 0;
  let curName = '';
  let curNode: XmlNode | null = null; // becomes an object at the first child element
  let curText = ''; // text and CDATA collected while there is no child element
  let result: XmlNode = {};

  for (;;) {
    // Here xml[pos] is '<'.
    const c1 = xml.charCodeAt(pos + 1);
    if (c1 === SLASH) {
      // End tag: must close the current element.
      if (depth === 0) throw bad(pos, 'end tag before the root element');
      if (!xml.startsWith(curName, pos + 2)) {
        throw pos + 2 + curName.length > end ? truncated(pos) : bad(pos, 'end tag does not match start tag');
      }
      let p = pos + 2 + curName.length;
      let c = xml.charCodeAt(p);
      while (isWs(c)) c = xml.charCodeAt(++p);
      if (c !== GT) throw p >= end ? truncated(pos) : bad(pos, 'end tag does not match start tag');
      pos = p + 1;
      const value: string | XmlNode = curNode ?? curText;
      depth--;
      if (depth === 0) {
        if (typeof value !== 'string') result = value;
        else if (!isBlank(value)) throw bad(pos, 'the root element holds text instead of child elements');
        break;
      }
      const name = curName;
      curName = names[depth - 1]!;
      curNode = nodes[depth - 1]!;
      curText = texts[depth - 1]!;
      if (curNode === null) {
        if (curText.length !== 0 && !isBlank(curText)) throw bad(pos, 'text mixed with child elements');
        curNode = {};
        curText = '';
      }
      attach(curNode, name, value);
    } else if (c1 === BANG) {
      if (xml.startsWith('[CDATA[', pos + 2)) {
        const close = xml.indexOf(']]>', pos + 9);
        if (close === -1) throw bad(pos, 'unterminated CDATA section');
        const data = xml.slice(pos + 9, close);
        if (curNode === null) curText += data;
        else if (!isBlank(data)) throw bad(pos, 'text mixed with child elements');
        pos = close + 3;
      } else if (xml.startsWith('--', pos + 2)) {
        const close = xml.indexOf('-->', pos + 4);
        if (close === -1) throw bad(pos, 'unterminated comment');
        pos = close + 3;
      } else if (endsInside(xml, pos, '<![CDATA[') || endsInside(xml, pos, '<!--')) {
        throw truncated(pos);
      } else {
        throw forbidden(pos, DECLARATIONS);
      }
    } else if (c1 === QUESTION) {
      throw forbidden(pos, INSTRUCTIONS);
    } else {
      // Start tag.
      const tagStart = pos;
      let p = pos + 1;
      if (!(c1 < 128 && (NAME_TABLE[c1]! & 1) !== 0)) {
        throw p >= end ? truncated(tagStart) : bad(tagStart, 'invalid element name');
      }
      let c = xml.charCodeAt(++p);
      while (c < 128 && (NAME_TABLE[c]! & 2) !== 0) c = xml.charCodeAt(++p);
      const name = xml.slice(pos + 1, p);
      if (isReservedXmlName(name)) {
        throw bad(tagStart, 'the element names __proto__, constructor and prototype are refused');
      }
      // Attributes: checked for syntax, then ignored.
      let selfClosing = false;
      for (;;) {
        if (c === GT) {
          p++;
          break;
        }
        if (c === SLASH) {
          if (xml.charCodeAt(p + 1) !== GT) {
            throw p + 1 >= end ? truncated(tagStart) : bad(tagStart, 'malformed start tag');
          }
          p += 2;
          selfClosing = true;
          break;
        }
        if (!isWs(c)) throw p >= end ? truncated(tagStart) : bad(tagStart, 'malformed start tag');
        do c = xml.charCodeAt(++p);
        while (isWs(c));
        if (c === GT || c === SLASH) continue;
        if (!(c < 128 && (NAME_TABLE[c]! & 1) !== 0)) {
          throw p >= end ? truncated(tagStart) : bad(tagStart, 'malformed attribute');
        }
        do c = xml.charCodeAt(++p);
        while (c < 128 && (NAME_TABLE[c]! & 2) !== 0);
        while (isWs(c)) c = xml.charCodeAt(++p);
        if (c !== EQUALS) throw p >= end ? truncated(tagStart) : bad(tagStart, 'malformed attribute');
        do c = xml.charCodeAt(++p);
        while (isWs(c));
        if (c !== DQUOTE && c !== SQUOTE) {
          throw p >= end ? truncated(tagStart) : bad(tagStart, 'attribute value is not quoted');
        }
        const close = xml.indexOf(c === DQUOTE ? '"' : "'", p + 1);
        if (close === -1) throw truncated(tagStart);
        for (let i = p + 1; i < close; i++) {
          if (xml.charCodeAt(i) === LT) throw bad(tagStart, '< inside an attribute value');
        }
        p = close + 1;
        c = xml.charCodeAt(p);
      }
      if (depth >= maxDepth) {
        throw new PayloadError(
          'XML_TOO_LARGE',
          `XML nesting is deeper than ${maxDepth} levels at character ${tagStart}; reject the request, ` +
            'or raise the maxDepth option if documents this deep are expected.',
        );
      }
      pos = p;
      if (depth === 0) {
        if (selfClosing) break;
        curName = name;
        depth = 1;
      } else {
        if (curNode === null) {
          if (curText.length !== 0 && !isBlank(curText))
            throw bad(tagStart, 'text mixed with child elements');
          curNode = {};
          curText = '';
        }
        if (selfClosing) {
          attach(curNode, name, '');
        } else {
          names[depth - 1] = curName;
          nodes[depth - 1] = curNode;
          texts[depth - 1] = curText;
          depth++;
          curName = name;
          curNode = null;
          curText = '';
        }
      }
    }

    // Character data up to the next '<'.
    const lt = xml.indexOf('<', pos);
    if (lt === -1) throw truncated(end);
    if (lt !== pos) {
      const seg = xml.slice(pos, lt);
      const amp = seg.indexOf('&');
      const text = amp === -1 ? seg : decodeEntities(seg, amp, pos);
      if (curNode === null) curText += text;
      else if (!isBlank(text)) throw bad(pos, 'text mixed with child elements');
      pos = lt;
    }
  }

  pos = skipMisc(xml, pos);
  if (pos < end) throw bad(pos, 'content after the root element');
  return result;
}
