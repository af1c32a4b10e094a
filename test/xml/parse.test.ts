import { describe, expect, it } from 'vitest';
import { buildXml, parseXml } from '../../src/xml/index.js';
import { NEWS_REPLY, PAY_NOTIFY, SEND_PICS_EVENT, TEMPLATE_JOB_FINISH, TEXT_MESSAGE } from './fixtures.js';

describe('parseXml on WeChat documents', () => {
  it('returns the children of the root element of a text message, values as exact strings', () => {
    expect(parseXml(TEXT_MESSAGE)).toEqual({
      ToUserName: 'gh_1234567890ab',
      FromUserName: 'oUpF8uMuAJO_M2pxb1Q9zNjWeS6o',
      CreateTime: '1700000000',
      MsgType: 'text',
      Content: '你好 👋 <b>&amp;</b>',
      MsgId: '24312345678901234',
    });
  });

  it('turns repeated <item> elements into an array, in document order', () => {
    const msg = parseXml(NEWS_REPLY);
    expect(msg.ArticleCount).toBe('2');
    expect(msg.Articles).toEqual({
      item: [
        {
          Title: 'title1',
          Description: 'description1',
          PicUrl: 'https://example.com/a.png',
          Url: 'https://example.com/?a=1&b=2',
        },
        {
          Title: 'title2',
          Description: 'description2',
          PicUrl: 'https://example.com/b.png',
          Url: 'https://example.com/?c=3',
        },
      ],
    });
  });

  it('does not wrap a single <item> in an array', () => {
    const msg = parseXml(SEND_PICS_EVENT);
    expect(msg.SendPicsInfo).toEqual({
      Count: '1',
      PicList: { item: { PicMd5Sum: '5a75aaca956d97be686719218f275c6b' } },
    });
  });

  it('reads a TEMPLATESENDJOBFINISH event push', () => {
    expect(parseXml(TEMPLATE_JOB_FINISH)).toEqual({
      ToUserName: 'gh_7f083739789a',
      FromUserName: 'oia2TjuEGTNoeX76QEjQNrcURxG8',
      CreateTime: '1395658920',
      MsgType: 'event',
      Event: 'TEMPLATESENDJOBFINISH',
      MsgID: '200163836',
      Status: 'success',
    });
  });

  it('keeps Pay v2 numbers as strings: 28-digit ids, leading zeros and exponent-like text intact', () => {
    const pay = parseXml(PAY_NOTIFY);
    expect(pay.transaction_id).toBe('1004400740201409030005092168');
    expect(pay.total_fee).toBe('0012345');
    expect(pay.cash_fee).toBe('1.0084507402014111e+27');
    expect(pay.attach).toBe('支付测试');
  });

  it('returns the children whatever the root element is called', () => {
    expect(parseXml('<root><return_code>SUCCESS</return_code></root>')).toEqual({ return_code: 'SUCCESS' });
  });

  it('returns an empty object for an empty, blank or self-closing root', () => {
    expect(parseXml('<xml></xml>')).toEqual({});
    expect(parseXml('<xml>\n  \t\r\n</xml>')).toEqual({});
    expect(parseXml('<xml/>')).toEqual({});
  });
});

describe('parseXml text rules', () => {
  it('keeps CDATA verbatim: whitespace, newlines, <, & and entity-like text', () => {
    const content = '  line 1\r\n\tline 2 <b>&amp;&foo;</b>  \n';
    expect(parseXml(`<xml><Content><![CDATA[${content}]]></Content></xml>`).Content).toBe(content);
  });

  it('round-trips a string containing ]]> through buildXml (split CDATA sections are joined)', () => {
    const tricky = 'a]]>b]]]]>c]]><![CDATA[d';
    const xml = buildXml({ Content: tricky });
    expect(xml).toBe(
      '<xml><Content><![CDATA[a]]]]><![CDATA[>b]]]]]]><![CDATA[>c]]]]><![CDATA[><![CDATA[d]]></Content></xml>',
    );
    expect(parseXml(xml)).toEqual({ Content: tricky });
  });

  it('does not trim leaf text and does not normalise line endings', () => {
    expect(parseXml('<xml><a>  x y  </a><b> </b><c>a\r\nb\rc</c></xml>')).toEqual({
      a: '  x y  ',
      b: ' ',
      c: 'a\r\nb\rc',
    });
  });

  it('decodes the five predefined entities and decimal/hex character references outside CDATA', () => {
    expect(
      parseXml('<xml><a>&lt;&gt;&amp;&quot;&apos;</a><b>&#65;&#x42;&#x1F600;&#20320;&#0000067;</b></xml>'),
    ).toEqual({
      a: `<>&"'`,
      b: 'AB😀你C',
    });
  });

  it('decodes each reference once (no double decoding)', () => {
    expect(parseXml('<xml><a>&amp;lt;&#38;gt;&amp;#65;</a></xml>').a).toBe('&lt;&gt;&#65;');
  });

  it('joins text and CDATA parts of one element, skipping comments', () => {
    expect(parseXml('<xml><a> 1 <![CDATA[<2>]]>&amp;3<!-- note -->4</a></xml>').a).toBe(' 1 <2>&34');
  });

  it('reads empty elements, open/close or self-closing, as the empty string', () => {
    expect(parseXml('<xml><a></a><b/><c /><d><![CDATA[]]></d></xml>')).toEqual({
      a: '',
      b: '',
      c: '',
      d: '',
    });
  });

  it('ignores attributes in either quote style', () => {
    expect(parseXml(`<xml a="1"><b x="1" y='2 "q"' z = "&amp;>"><c k='v'/></b><d e="f">g</d></xml>`)).toEqual(
      { b: { c: '' }, d: 'g' },
    );
  });

  it('skips comments anywhere between elements, before and after the root', () => {
    expect(parseXml('<!-- a --><xml><!-- b --><x>1</x><!-- c --><y><!--d-->2</y></xml><!-- e -->\n')).toEqual(
      {
        x: '1',
        y: '2',
      },
    );
  });

  it('accepts a leading BOM, whitespace and <?xml ...?> declaration', () => {
    expect(parseXml('\uFEFF<?xml version="1.0" encoding="UTF-8"?>\n<xml><a>1</a></xml>')).toEqual({ a: '1' });
    expect(parseXml("\n  <?xml version='1.0'?><xml><a>1</a></xml>\n\n")).toEqual({ a: '1' });
    expect(parseXml('\uFEFF <xml><a>1</a></xml>')).toEqual({ a: '1' });
  });

  it('ignores whitespace between child elements but keeps whitespace-only leaves', () => {
    expect(parseXml('<xml>\n\t<a>\n  <b> </b>\n</a>\n</xml>')).toEqual({ a: { b: ' ' } });
  });

  it('accepts WeChat element names with digits, _, -, . and :', () => {
    expect(parseXml('<xml><PicMd5Sum>1</PicMd5Sum><a_b-c.d>2</a_b-c.d><ns:e>3</ns:e></xml>')).toEqual({
      PicMd5Sum: '1',
      'a_b-c.d': '2',
      'ns:e': '3',
    });
  });

  it('stores names of Object.prototype members as ordinary own properties', () => {
    const r = parseXml(
      '<xml><toString>1</toString><hasOwnProperty>2</hasOwnProperty><valueOf>3</valueOf><valueOf>4</valueOf></xml>',
    );
    expect(Object.getPrototypeOf(r)).toBe(Object.prototype);
    expect(Object.hasOwn(r, 'toString')).toBe(true);
    expect(r.toString).toBe('1');
    expect(r.hasOwnProperty).toBe('2');
    expect(r.valueOf).toEqual(['3', '4']);
  });

  it('returns plain objects and arrays that survive JSON round trips', () => {
    const r = parseXml(NEWS_REPLY);
    expect(JSON.parse(JSON.stringify(r))).toEqual(r);
  });
});

describe('buildXml', () => {
  it('writes strings as CDATA, numbers/bigints bare, booleans as text, and skips null/undefined', () => {
    expect(
      buildXml({ s: 'x', n: 1700000000, f: 1.5, b: 10n ** 27n, t: true, f2: false, u: undefined, z: null }),
    ).toBe(
      '<xml><s><![CDATA[x]]></s><n>1700000000</n><f>1.5</f><b>1000000000000000000000000000</b>' +
        '<t>true</t><f2>false</f2></xml>',
    );
  });

  it('writes nested objects as nested elements and arrays as repeated elements', () => {
    const xml = buildXml({ Articles: { item: [{ Title: 'a' }, { Title: 'b' }] }, c: ['1', null, '2'] });
    expect(xml).toBe(
      '<xml><Articles><item><Title><![CDATA[a]]></Title></item><item><Title><![CDATA[b]]></Title></item>' +
        '</Articles><c><![CDATA[1]]></c><c><![CDATA[2]]></c></xml>',
    );
    expect(parseXml(xml)).toEqual({ Articles: { item: [{ Title: 'a' }, { Title: 'b' }] }, c: ['1', '2'] });
  });

  it('honours the root name and the declaration option', () => {
    expect(buildXml({ a: 1 }, { root: 'root', declaration: true })).toBe(
      '<?xml version="1.0" encoding="UTF-8"?><root><a>1</a></root>',
    );
    expect(buildXml({})).toBe('<xml></xml>');
  });

  it('reads back what it writes for a WeChat reply', () => {
    const reply = {
      ToUserName: 'oUser',
      FromUserName: 'gh_app',
      CreateTime: 12345678,
      MsgType: 'text',
      Content: '收到 ✅',
    };
    expect(parseXml(buildXml(reply))).toEqual({ ...reply, CreateTime: '12345678' });
  });
});
