import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createJsonMasker, createMasker, type MaskOptions, maskMobile } from '../../src/guard/mask.js';

// Valid numbers are built here with their own check digits (GB 11643-1999 MOD 11-2, Luhn),
// computed independently of the module under test.
const ID_WEIGHTS = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];

function idCheck(body: string): string {
  let sum = 0;
  for (let i = 0; i < 17; i++) sum += ID_WEIGHTS[i]! * Number(body[i]);
  return '10X98765432'[sum % 11]!;
}

function luhnCheck(partial: string): string {
  let sum = 0;
  for (let i = 0; i < partial.length; i++) {
    let d = Number(partial[partial.length - 1 - i]);
    if (i % 2 === 0) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
  }
  return String((10 - (sum % 10)) % 10);
}

const digits = (min: number, max: number) => fc.stringMatching(new RegExp(`^[0-9]{${min},${max}}$`));

const mobile = fc
  .tuple(fc.constantFrom('', '+86', '+86 ', '0086', '86-'), fc.stringMatching(/^1[3-9][0-9]{9}$/))
  .map(([prefix, number]) => ({ text: prefix + number, secret: number }));

const idNumber = fc
  .tuple(
    fc.stringMatching(/^[1-9][0-9]{5}$/),
    fc.date({
      min: new Date('1900-01-01T00:00:00Z'),
      max: new Date('2030-12-31T00:00:00Z'),
      noInvalidDate: true,
    }),
    digits(3, 3),
  )
  .map(([region, birth, sequence]) => {
    const body = region + birth.toISOString().slice(0, 10).replace(/-/g, '') + sequence;
    const id = body + idCheck(body);
    return { text: id, secret: id };
  });

const card = fc
  .tuple(fc.constantFrom('62', '4', '5', '3'), fc.integer({ min: 16, max: 19 }), digits(18, 18), fc.boolean())
  .map(([prefix, length, fill, grouped]) => {
    const partial = (prefix + fill).slice(0, length - 1);
    const number = partial + luhnCheck(partial);
    return { text: grouped ? number.replace(/(\d{4})(?=\d)/g, '$1 ') : number, secret: number };
  });

const email = fc
  .tuple(fc.stringMatching(/^[a-z0-9][a-z0-9._]{0,10}$/), fc.stringMatching(/^[a-z0-9]{1,10}\.(com|cn|net)$/))
  .map(([local, domain]) => ({ text: `${local}@${domain}`, secret: `${local}@${domain}` }));

/** Text that holds no personal data by itself: words, short numbers, order numbers. */
const filler = fc.oneof(
  fc.stringMatching(/^[a-zA-Z\u4e00-\u4e2f]{0,8}$/),
  digits(1, 10),
  fc.constantFrom('4200001234202612011234567890', '202601011234567890', '110105194912310021', '订单', '电话'),
);

type Piece = { text: string; secret?: string };
const piece: fc.Arbitrary<Piece> = fc.oneof(
  { weight: 3, arbitrary: filler.map((text) => ({ text })) },
  { weight: 1, arbitrary: mobile },
  { weight: 1, arbitrary: idNumber },
  { weight: 1, arbitrary: card },
  { weight: 1, arbitrary: email },
);

/** Separators that keep each piece a whole number (not glued to a neighbouring digit or letter). */
const cleanSeparator = fc.constantFrom(' ', ', ', '，', '；', '\n', ' / ', '：', ' - ');
/** Any separator at all, for idempotence: glued pieces, dashes, dots, at signs. */
const anySeparator = fc.oneof(cleanSeparator, fc.constantFrom('', '-', '.', '@', '_', '+', '*', 'x'));

const sentence = (separator: fc.Arbitrary<string>) =>
  fc.array(fc.tuple(piece, separator), { maxLength: 8 }).map((parts) => ({
    text: parts.map(([p, s]) => p.text + s).join(''),
    secrets: parts.flatMap(([p]) => (p.secret === undefined ? [] : [p.secret])),
  }));

/** Keys that no rule names (rules compare whole names, and none starts with "k"). */
const plainKey = fc.stringMatching(/^k[a-zA-Z_]{0,8}$/);
const ruleKey = fc.constantFrom(
  'phone',
  'phone_number',
  'idCard',
  'bank_card',
  'email',
  'real_name',
  'out_trade_no',
);

const jsonWith = (leaf: fc.Arbitrary<unknown>, key: fc.Arbitrary<string>) =>
  fc.letrec((tie) => ({
    value: fc.oneof(
      { depthSize: 'small', withCrossShrink: true },
      leaf,
      fc.array(tie('value'), { maxLength: 4 }),
      fc.dictionary(key, tie('value'), { maxKeys: 4 }),
    ),
  })).value;

const optionVariants: MaskOptions[] = [
  {},
  { fields: { real_name: 'name', kfull: 'full', tel: false } },
  { patterns: { email: false } },
  { patterns: { bankCard: false, idCard: false } },
  { patterns: { mobile: false } },
  { skipFields: ['kskip'] },
];

describe('createMasker properties', () => {
  it('is idempotent: masking a masked value changes nothing', () => {
    const leaf = fc.oneof(
      sentence(anySeparator).map((s) => s.text),
      fc.integer(),
      fc.double({ noNaN: true }),
      fc.boolean(),
      fc.constant(null),
      fc.string(),
    );
    fc.assert(
      fc.property(
        fc.constantFrom(...optionVariants),
        jsonWith(leaf, fc.oneof(plainKey, ruleKey)),
        (options, value) => {
          const mask = createMasker(options);
          const once = mask(value);
          expect(mask(once)).toEqual(once);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('leaves no detected mobile, ID or card number (nor e-mail) in the output JSON', () => {
    const mask = createMasker();
    fc.assert(
      fc.property(fc.array(fc.tuple(plainKey, sentence(cleanSeparator)), { maxLength: 5 }), (entries) => {
        const value = { nested: [Object.fromEntries(entries.map(([k, s]) => [k, s.text]))] };
        const json = JSON.stringify(mask(value));
        for (const [, s] of entries) {
          for (const secret of s.secrets) expect(json).not.toContain(secret);
        }
      }),
      { numRuns: 300 },
    );
  });

  it('returns strings without digits and without "@" unchanged, in any plain field', () => {
    const mask = createMasker();
    const clean = fc.string({ unit: 'grapheme', maxLength: 40 }).map((s) => s.replace(/[0-9@]/g, ''));
    fc.assert(
      fc.property(jsonWith(clean, plainKey), (value) => {
        expect(mask(value)).toEqual(value);
        if (typeof value === 'string') expect(mask(value)).toBe(value);
      }),
      { numRuns: 200 },
    );
  });
});

// The guard serializes answers at once, with a masker that returns plain objects and arrays in
// which nothing is masked as they are (only the path to a masked value is copied).
describe('createJsonMasker: the same JSON as createMasker, sharing only what is unchanged', () => {
  const leaf = fc.oneof(
    sentence(anySeparator).map((s) => s.text),
    fc.integer(),
    fc.boolean(),
    fc.constant(null),
    fc.constant(undefined),
    fc.string(),
  );

  it('serializes to exactly what the copying masker gives, and never changes its input', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...optionVariants),
        jsonWith(leaf, fc.oneof(plainKey, ruleKey)),
        (options, value) => {
          const before = JSON.stringify(value);
          const shared = createJsonMasker(options)(value);
          expect(JSON.stringify(shared)).toBe(JSON.stringify(createMasker(options)(value)));
          expect(JSON.stringify(value)).toBe(before);
        },
      ),
      { numRuns: 400 },
    );
  });

  it('copies the path to a masked value and shares the rest; the copying masker shares nothing', () => {
    const orders = [{ out_trade_no: '1217752501201407033233368018', total: 100 }];
    const value = { nickName: '微信用户', phone: '13812345678', orders, toJSON: undefined };
    const shared = createJsonMasker()(value) as typeof value;
    expect(shared).not.toBe(value);
    expect(shared.phone).toBe('138****5678');
    expect(shared.orders).toBe(orders);
    const clean = { a: [1, { b: 'no digits here' }] };
    expect(createJsonMasker()(clean)).toBe(clean);
    const copied = createMasker()(value) as typeof value;
    expect(copied.orders).not.toBe(orders);
    expect(copied.orders).toEqual(orders);
    // A field JSON.stringify leaves out only because its toJSON says so (before or after the
    // first change) is left out of the copy too.
    const gone = { toJSON: () => undefined };
    for (const tricky of [
      { gone, phone: '13812345678', fn: () => 1, kept: 'x' },
      { phone: '13812345678', gone, fn: () => 1, kept: 'x' },
    ]) {
      const masked = createJsonMasker()(tricky);
      expect(JSON.stringify(masked)).toBe(JSON.stringify(createMasker()(tricky)));
      expect(JSON.stringify(masked)).toBe('{"phone":"138****5678","kept":"x"}');
      expect(Object.keys(masked as object)).not.toContain('gone');
    }
    // A class instance (its own toJSON, getters) is copied as JSON.stringify sees it, never shared.
    const when = new Date(0);
    expect(createJsonMasker()({ when })).toEqual({ when: '1970-01-01T00:00:00.000Z' });
  });

  it('applies field rules by name whatever the order of the keys and however many shapes it has seen', () => {
    const mask = createJsonMasker();
    const masked = (value: Record<string, unknown>) => mask(value) as Record<string, unknown>;
    // Same names, other order: each value keeps its own field's rule.
    expect(masked({ phone: '13812345678', note: 'x' })).toEqual({ phone: '138****5678', note: 'x' });
    expect(masked({ note: 'x', phone: '13812345678' })).toEqual({ note: 'x', phone: '138****5678' });
    // Past the number of shapes remembered, the first shape is worked out again, the same way.
    for (let i = 0; i < 40; i++) {
      expect(masked({ [`k${i}`]: 'plain', phone: '13900001111' })).toEqual({
        [`k${i}`]: 'plain',
        phone: '139****1111',
      });
    }
    expect(masked({ phone: '13812345678', note: 'x' })).toEqual({ phone: '138****5678', note: 'x' });
    // A field named like a rule but holding no number is masked by its rule all the same.
    expect(masked({ phone: 'abc' })).toEqual({
      phone: (createMasker()({ phone: 'abc' }) as { phone: string }).phone,
    });
  });

  it('still throws on a cycle, however deep it starts, and masks a deep value without one', () => {
    for (const mask of [createMasker(), createJsonMasker()]) {
      const shallow: Record<string, unknown> = { a: 1 };
      shallow.self = shallow;
      expect(() => mask(shallow)).toThrow(TypeError);
      let deep: Record<string, unknown> = { phone: '13812345678' };
      const bottom = deep;
      for (let i = 0; i < 100; i++) deep = { next: deep };
      expect(JSON.stringify(mask(deep))).toContain('138****5678');
      bottom.loop = deep;
      expect(() => mask(deep)).toThrow(/circular/);
    }
  });
});

describe('maskMobile', () => {
  // The rule as its documentation states it, written independently of the module: a mainland
  // mobile (or one already masked) keeps its prefix, first 3 and last 4 digits; anything else
  // keeps its first 3 and last 4 characters when at least 4 stay hidden, else it is all stars.
  const expected = (value: string): string => {
    const m = /^((?:\+86|0086|86)[ -]?)?(1[3-9][0-9])(?:[0-9]{4}|\*{4})([0-9]{4})$/.exec(value);
    if (m) return `${m[1] ?? ''}${m[2]}****${m[3]}`;
    const chars = Array.from(value);
    if (chars.length - 7 < 4) return '*'.repeat(chars.length);
    return chars.slice(0, 3).join('') + '*'.repeat(chars.length - 7) + chars.slice(-4).join('');
  };

  it('masks 11-character values (the fast path) exactly as the rule says', () => {
    // Mostly near-mobiles: digits and stars at every position, a few other characters.
    const char = fc.constantFrom('1', '1', '3', '9', '2', '0', '5', '*', '*', 'a', '٣', '+');
    fc.assert(
      fc.property(fc.array(char, { minLength: 11, maxLength: 11 }), (chars) => {
        const value = chars.join('');
        expect(maskMobile(value)).toBe(expected(value));
      }),
      { numRuns: 3000 },
    );
  });

  it('masks real and already-masked numbers, with and without a prefix', () => {
    fc.assert(
      fc.property(mobile, fc.boolean(), ({ text }, starred) => {
        const value = starred ? `${text.slice(0, -8)}****${text.slice(-4)}` : text;
        expect(maskMobile(value)).toBe(expected(value));
        expect(maskMobile(maskMobile(value))).toBe(maskMobile(value));
      }),
      { numRuns: 500 },
    );
  });
});
