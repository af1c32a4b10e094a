import { PayloadError } from '../errors.js';
import { isXmlName } from './names.js';

/**
 * Options for {@link buildXml}.
 *
 * @example
 * buildXml({ return_code: 'SUCCESS' }, { root: 'xml', declaration: true });
 */
export interface BuildXmlOptions {
  /** Name of the root element. Default `'xml'`. */
  root?: string;
  /** Start with `<?xml version="1.0" encoding="UTF-8"?>`. Default `false`. */
  declaration?: boolean;
}

function invalidName(): PayloadError {
  return new PayloadError(
    'BAD_XML',
    'Cannot write an XML element with this name: names must match [A-Za-z_:][A-Za-z0-9_:.-]* and must ' +
      'not be __proto__, constructor or prototype. Rename the field.',
  );
}

function cdata(text: string): string {
  return '<![CDATA[' + (text.includes(']]>') ? text.replaceAll(']]>', ']]]]><![CDATA[>') : text) + ']]>';
}

function isPlainObject(value: object): boolean {
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

function writeChildren(node: object, ancestors: object[]): string {
  let out = '';
  for (const [name, value] of Object.entries(node)) {
    if (value === undefined || value === null) continue;
    if (!isXmlName(name)) throw invalidName();
    if (Array.isArray(value)) {
      for (const item of value) {
        if (item === undefined || item === null) continue;
        if (Array.isArray(item)) {
          throw new PayloadError(
            'BAD_XML',
            'Cannot write an array nested directly in an array as XML; wrap the inner array in an object.',
          );
        }
        out += writeElement(name, item, ancestors);
      }
    } else {
      out += writeElement(name, value, ancestors);
    }
  }
  return out;
}

function writeElement(name: string, value: unknown, ancestors: object[]): string {
  let inner: string;
  switch (typeof value) {
    case 'string':
      inner = cdata(value);
      break;
    case 'number':
      if (!Number.isFinite(value)) {
        throw new PayloadError('BAD_XML', 'Cannot write NaN or Infinity as XML; pass a finite number.');
      }
      inner = String(value);
      break;
    case 'bigint':
    case 'boolean':
      inner = String(value);
      break;
    case 'object':
      if (value === null) return '';
      if (!isPlainObject(value)) {
        throw new PayloadError(
          'BAD_XML',
          'Cannot write this object as XML: only plain objects, arrays, strings, numbers, bigints and ' +
            'booleans are supported. Convert it (e.g. a Date to a string) first.',
        );
      }
      if (ancestors.includes(value)) {
        throw new PayloadError('BAD_XML', 'Cannot write a cyclic object as XML; remove the cycle.');
      }
      ancestors.push(value);
      inner = writeChildren(value, ancestors);
      ancestors.pop();
      break;
    default:
      throw new PayloadError(
        'BAD_XML',
        `Cannot write a ${typeof value} as XML; pass a string, number, bigint, boolean, object or array.`,
      );
  }
  return '<' + name + '>' + inner + '</' + name + '>';
}

/**
 * Writes `node` as a WeChat-style XML document (compact, no whitespace between elements).
 *
 * - strings become CDATA sections (a `]]>` inside is split across two sections);
 * - numbers (finite only) and bigints are written bare, booleans as `true` / `false`;
 * - plain objects become nested elements, arrays become repeated elements with the same name;
 * - `undefined` and `null` are skipped.
 *
 * An empty object or empty string is written as an empty element, which `parseXml` reads
 * back as `''`; an array of one item reads back as that item.
 *
 * @throws {PayloadError} `BAD_XML` for an invalid element name (see `parseXml`), a non-finite
 *   number, a cycle, or a value of an unsupported type.
 *
 * @example
 * buildXml({ ToUserName: 'oUser', CreateTime: 1700000000, MsgType: 'text', Content: 'hi' });
 * // '<xml><ToUserName><![CDATA[oUser]]></ToUserName><CreateTime>1700000000</CreateTime>...</xml>'
 */
export function buildXml(node: Record<string, unknown>, options?: BuildXmlOptions): string {
  const root = options?.root ?? 'xml';
  if (!isXmlName(root)) throw invalidName();
  if (typeof node !== 'object' || node === null || Array.isArray(node) || !isPlainObject(node)) {
    throw new PayloadError('BAD_XML', 'buildXml expects a plain object whose fields become the elements.');
  }
  const head = options?.declaration === true ? '<?xml version="1.0" encoding="UTF-8"?>' : '';
  return head + '<' + root + '>' + writeChildren(node, [node]) + '</' + root + '>';
}
