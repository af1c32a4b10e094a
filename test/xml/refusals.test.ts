import { describe, expect, it } from 'vitest';
import { ConfigError, type ErrorCode, PayloadError, WeChatKitError } from '../../src/errors.js';
import { buildXml, parseXml } from '../../src/xml/index.js';
import { PAY_NOTIFY, TEXT_MESSAGE } from './fixtures.js';

function errorOf(fn: () => unknown): unknown {
  try {
    fn();
  } catch (e) {
    return e;
  }
  throw new Error('expected a throw, got a value');
}

function expectPayloadError(fn: () => unknown, code: ErrorCode): PayloadError {
  const e = errorOf(fn);
  expect(e).toBeInstanceOf(PayloadError);
  expect((e as PayloadError).code).toBe(code);
  return e as PayloadError;
}

const BILLION_LAUGHS = `<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
]>
<xml><Content>&lol3;</Content></xml>`;

const XXE = `<?xml version="1.0"?>
<!DOCTYPE xml [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<xml><Content>&xxe;</Content></xml>`;

describe('parseXml refuses forbidden constructs with XML_FORBIDDEN', () => {
  it('refuses a DOCTYPE (billion laughs) before expanding anything', () => {
    expectPayloadError(() => parseXml(BILLION_LAUGHS), 'XML_FORBIDDEN');
  });

  it('refuses an external entity declaration', () => {
    expectPayloadError(() => parseXml(XXE), 'XML_FORBIDDEN');
  });

  it('refuses <!ENTITY and other <! declarations inside the root', () => {
    expectPayloadError(() => parseXml('<xml><!ENTITY a "b"><a>1</a></xml>'), 'XML_FORBIDDEN');
    expectPayloadError(() => parseXml('<xml><!ELEMENT a ANY><a>1</a></xml>'), 'XML_FORBIDDEN');
    expectPayloadError(() => parseXml('<xml><a>1</a></xml><!DOCTYPE x>'), 'XML_FORBIDDEN');
  });

  it('refuses processing instructions other than the leading declaration', () => {
    expectPayloadError(() => parseXml('<?xml-stylesheet href="a.xsl"?><xml/>'), 'XML_FORBIDDEN');
    expectPayloadError(() => parseXml('<?xml version="1.0"?><?xml version="1.0"?><xml/>'), 'XML_FORBIDDEN');
    expectPayloadError(() => parseXml('<xml><?php echo 1; ?></xml>'), 'XML_FORBIDDEN');
    expectPayloadError(() => parseXml('<xml/><?pi?>'), 'XML_FORBIDDEN');
  });
});

describe('parseXml refuses malformed documents with BAD_XML', () => {
  it('throws BAD_XML for every truncated prefix of a sample message', () => {
    const doc = `\uFEFF<?xml version="1.0" encoding="UTF-8"?><!-- c -->${TEXT_MESSAGE.replace('<Content>', '<Content a="1">').replace('</MsgId>', '</MsgId><e/><f>&amp;&#65;</f>')}`;
    expect(parseXml(doc)).toBeTypeOf('object');
    for (let n = 0; n < doc.length; n++) {
      expectPayloadError(() => parseXml(doc.slice(0, n)), 'BAD_XML');
    }
  });

  it('throws BAD_XML for every truncated prefix of a Pay notification', () => {
    for (let n = 0; n < PAY_NOTIFY.length; n++) {
      expectPayloadError(() => parseXml(PAY_NOTIFY.slice(0, n)), 'BAD_XML');
    }
  });

  it('refuses mismatched and unclosed tags', () => {
    for (const doc of [
      '<xml><a></b></xml>',
      '<xml><a></ab></xml>',
      '<xml><ab></a></xml>',
      '<xml><a><b></a></b></xml>',
      '<xml><a></xml>',
      '<xml></a></xml>',
      '<xml>',
      '<xml></xml2>',
      '<xml></ xml>',
      '</xml>',
      '</>',
      '</><xml/>',
    ]) {
      expectPayloadError(() => parseXml(doc), 'BAD_XML');
    }
  });

  it('refuses empty documents, text outside the root and a second root', () => {
    for (const doc of [
      '',
      '   \n',
      '\uFEFF',
      '<!-- only -->',
      'x<xml/>',
      '<xml/>x',
      '<xml/><xml/>',
      '<xml/><![CDATA[x]]>',
    ]) {
      expectPayloadError(() => parseXml(doc), 'BAD_XML');
    }
  });

  it('refuses unknown and malformed entities', () => {
    for (const text of [
      '&foo;',
      '&nbsp;',
      '&amp',
      '& ',
      '&#;',
      '&#x;',
      '&#65',
      '&#xZZ;',
      '&#X43;',
      '&#0;',
      '&#xD800;',
      '&#x110000;',
      '&#99999999999999999999;',
      '&lt',
    ]) {
      expectPayloadError(() => parseXml(`<xml><a>${text}</a></xml>`), 'BAD_XML');
    }
  });

  it('refuses text mixed with child elements and a root holding only text', () => {
    expectPayloadError(() => parseXml('<xml><a>x<b>1</b></a></xml>'), 'BAD_XML');
    expectPayloadError(() => parseXml('<xml><a><b>1</b>x</a></xml>'), 'BAD_XML');
    expectPayloadError(() => parseXml('<xml><a><b>1</b><![CDATA[x]]></a></xml>'), 'BAD_XML');
    expectPayloadError(() => parseXml('<xml>hello</xml>'), 'BAD_XML');
  });

  it('refuses invalid element names and malformed attributes', () => {
    for (const doc of [
      '<xml><1a>1</1a></xml>',
      '<xml>< a>1</a></xml>',
      '<xml><-a>1</-a></xml>',
      '<xml><a b>1</a></xml>',
      '<xml><a b=1>1</a></xml>',
      '<xml><a b="1"c="2">1</a></xml>',
      '<xml><a b="<">1</a></xml>',
      '<xml><a / >1</a></xml>',
      '<xml><名>1</名></xml>',
    ]) {
      expectPayloadError(() => parseXml(doc), 'BAD_XML');
    }
  });

  it('refuses __proto__, constructor and prototype element names and leaves Object.prototype alone', () => {
    for (const name of ['__proto__', 'constructor', 'prototype']) {
      expectPayloadError(() => parseXml(`<xml><${name}><polluted>yes</polluted></${name}></xml>`), 'BAD_XML');
    }
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('does not echo document content in error messages', () => {
    const secret = 'S3cr3tT0k3n';
    for (const doc of [
      `<xml><a>${secret}<b/></a></xml>`,
      `<xml><${secret}></a></xml>`,
      `<xml><a>&${secret};</a></xml>`,
      `<!DOCTYPE ${secret}><xml/>`,
      `<xml><a>${secret}`,
    ]) {
      const e = errorOf(() => parseXml(doc)) as Error;
      expect(e).toBeInstanceOf(PayloadError);
      expect(e.message).not.toContain(secret);
    }
  });

  it('refuses a non-string input with a typed error', () => {
    expectPayloadError(() => parseXml(Buffer.from('<xml/>') as unknown as string), 'BAD_XML');
  });
});

describe('parseXml limits (XML_TOO_LARGE)', () => {
  it('refuses a document longer than maxLength (default 1 MiB) before reading it', () => {
    const big = `<xml><a>${'x'.repeat(1_048_576)}</a></xml>`;
    expectPayloadError(() => parseXml(big), 'XML_TOO_LARGE');
    expectPayloadError(() => parseXml('<xml><a>1</a></xml>', { maxLength: 10 }), 'XML_TOO_LARGE');
    expect(parseXml('<xml><a>1</a></xml>', { maxLength: 19 })).toEqual({ a: '1' });
  });

  it('refuses nesting deeper than maxDepth (default 32, root is level 1)', () => {
    const nest = (levels: number): string => '<a>'.repeat(levels) + '</a>'.repeat(levels);
    expect(() => parseXml(nest(32))).not.toThrow();
    expectPayloadError(() => parseXml(nest(33)), 'XML_TOO_LARGE');
    expectPayloadError(() => parseXml(`<a>${'<a>'.repeat(100_000)}`), 'XML_TOO_LARGE');
    expect(parseXml('<xml><a><b/></a></xml>', { maxDepth: 3 })).toEqual({ a: { b: '' } });
    expectPayloadError(() => parseXml('<xml><a><b/></a></xml>', { maxDepth: 2 }), 'XML_TOO_LARGE');
  });

  it('rejects invalid limit options with a ConfigError', () => {
    for (const bad of [0, -1, 1.5, Number.NaN]) {
      const e = errorOf(() => parseXml('<xml/>', { maxDepth: bad }));
      expect(e).toBeInstanceOf(ConfigError);
      expect((e as ConfigError).code).toBe('INVALID_ARGUMENT');
    }
  });

  it('stays linear on adversarial input (many entities, attributes, elements)', () => {
    const t0 = performance.now();
    parseXml(`<xml><a>${'&amp;'.repeat(150_000)}</a></xml>`);
    parseXml(`<xml><a ${'b="1" '.repeat(150_000)}/></xml>`);
    parseXml(`<xml>${'<a/>'.repeat(200_000)}</xml>`);
    expectPayloadError(() => parseXml(`<xml><a>${'&'.repeat(900_000)}</a></xml>`), 'BAD_XML');
    expect(performance.now() - t0).toBeLessThan(2_000);
  });
});

describe('buildXml refusals', () => {
  it('refuses invalid element and root names with BAD_XML', () => {
    for (const name of ['', '1a', 'a b', 'a<b', '名', '__proto__', 'constructor', 'prototype']) {
      expectPayloadError(() => buildXml({ [name]: 'x' }), 'BAD_XML');
      expectPayloadError(() => buildXml({}, { root: name }), 'BAD_XML');
    }
    expectPayloadError(() => buildXml(JSON.parse('{"__proto__":"x"}')), 'BAD_XML');
  });

  it('refuses values it cannot represent with BAD_XML', () => {
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    for (const node of [
      { a: Number.NaN },
      { a: Number.POSITIVE_INFINITY },
      { a: () => 1 },
      { a: Symbol('x') },
      { a: new Date(0) },
      { a: [['x']] },
      cyclic,
    ]) {
      const e = errorOf(() => buildXml(node));
      expect(e).toBeInstanceOf(WeChatKitError);
      expect((e as WeChatKitError).code).toBe('BAD_XML');
    }
  });
});
