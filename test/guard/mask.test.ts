import { describe, expect, it } from 'vitest';
import { ArgumentError } from '../../src/errors.js';
import {
  createJsonMasker,
  createMasker,
  isResidentIdNumber,
  type MaskOptions,
  maskBankCard,
  maskEmail,
  maskIdCard,
  maskMobile,
  passesLuhn,
} from '../../src/guard/mask.js';

// GB 11643-1999 (公民身份号码), the standard's own worked example of an 18-character number.
const GB_EXAMPLE_ID = '11010519491231002X';
// The Visa test card number published by payment providers (e.g. Stripe's testing docs).
const VISA_TEST = '4111111111111111';
// Computed here, not taken from anywhere: Luhn check digits appended to 622202123456789 and
// 622202123456789012 (UnionPay-style prefixes). `passesLuhn` is asserted on them below.
const UNIONPAY_16 = '6222021234567894';
const UNIONPAY_19 = '6222021234567890128';
// A made-up 18-digit number that is a valid ID number AND passes Luhn with a card prefix (4).
const ID_ALSO_LUHN = '440106199001011155';
// A WeChat Pay transaction_id shape (28 digits).
const TRANSACTION_ID = '4200001234202612011234567890';

const mask = createMasker();

describe('isResidentIdNumber', () => {
  it('accepts the GB 11643-1999 example, with an upper- or lower-case check X', () => {
    expect(isResidentIdNumber(GB_EXAMPLE_ID)).toBe(true);
    expect(isResidentIdNumber(GB_EXAMPLE_ID.toLowerCase())).toBe(true);
  });

  it('refuses every single-digit change of the 17 body digits (MOD 11-2 catches them all)', () => {
    // Weight w (1..10) times a change d (±1..±9) is never 0 mod 11 (11 is prime), so the check
    // character always changes: none of these 153 variants may pass.
    for (let i = 0; i < 17; i++) {
      for (let d = 0; d <= 9; d++) {
        if (String(d) === GB_EXAMPLE_ID[i]) continue;
        const changed = GB_EXAMPLE_ID.slice(0, i) + d + GB_EXAMPLE_ID.slice(i + 1);
        expect(isResidentIdNumber(changed), changed).toBe(false);
      }
    }
  });

  it('refuses any other check character', () => {
    for (const c of '0123456789') expect(isResidentIdNumber(GB_EXAMPLE_ID.slice(0, 17) + c)).toBe(false);
  });

  it('refuses a right checksum around an impossible birth date', () => {
    const withCheck = (body: string) => body + checkChar(body);
    expect(isResidentIdNumber(withCheck('11010520000229002'))).toBe(true); // 2000 is a leap year
    expect(isResidentIdNumber(withCheck('11010519000229002'))).toBe(false); // 1900 is not
    expect(isResidentIdNumber(withCheck('11010519491331002'))).toBe(false); // month 13
    expect(isResidentIdNumber(withCheck('11010519490431002'))).toBe(false); // 31 April
    expect(isResidentIdNumber(withCheck('11010517990101002'))).toBe(false); // year 1799
  });

  it('refuses other shapes', () => {
    for (const value of [
      '',
      '110105194912310',
      `${GB_EXAMPLE_ID}0`,
      '11010519491231002Y',
      'X1010519491231002X',
    ]) {
      expect(isResidentIdNumber(value)).toBe(false);
    }
  });
});

describe('passesLuhn', () => {
  it('accepts the Visa test number and refuses it with the last digit changed', () => {
    expect(passesLuhn(VISA_TEST)).toBe(true);
    expect(passesLuhn('4111111111111112')).toBe(false);
  });

  it('catches every single-digit change', () => {
    for (let i = 0; i < VISA_TEST.length; i++) {
      for (let d = 0; d <= 9; d++) {
        if (String(d) === VISA_TEST[i]) continue;
        expect(passesLuhn(VISA_TEST.slice(0, i) + d + VISA_TEST.slice(i + 1))).toBe(false);
      }
    }
  });

  it('agrees with the computed test numbers', () => {
    expect(passesLuhn(UNIONPAY_16)).toBe(true);
    expect(passesLuhn(UNIONPAY_19)).toBe(true);
    expect(passesLuhn(ID_ALSO_LUHN)).toBe(true);
    expect(isResidentIdNumber(ID_ALSO_LUHN)).toBe(true);
  });

  it('refuses non-digits and too-short input', () => {
    for (const value of ['', '0', '4111 1111 1111 1111', '411111111111111a'])
      expect(passesLuhn(value)).toBe(false);
  });
});

describe('the mask functions', () => {
  it('maskMobile keeps the prefix, the first 3 and the last 4 digits', () => {
    expect(maskMobile('13800138000')).toBe('138****8000');
    expect(maskMobile('+8613800138000')).toBe('+86138****8000');
    expect(maskMobile('+86 13800138000')).toBe('+86 138****8000');
    expect(maskMobile('0086-13800138000')).toBe('0086-138****8000');
  });

  it('maskMobile masks a value that is no mobile number, all of it when short', () => {
    expect(maskMobile('010-12345678')).toBe('010*****5678');
    expect(maskMobile('12345678')).toBe('********');
    expect(maskMobile('')).toBe('');
  });

  it('maskIdCard keeps the first 3 and last 4 characters and the length', () => {
    expect(maskIdCard(GB_EXAMPLE_ID)).toBe('110***********002X');
    expect(maskIdCard('110105491231002')).toBe('110********1002');
  });

  it('maskBankCard keeps the first and last 4 digits and the group separators', () => {
    expect(maskBankCard(UNIONPAY_16)).toBe('6222********7894');
    expect(maskBankCard('6222 0212 3456 7894')).toBe('6222 **** **** 7894');
    expect(maskBankCard('6222-0212-3456-7894')).toBe('6222-****-****-7894');
    expect(maskBankCard('1234567')).toBe('*******');
  });

  it('maskEmail keeps the first character and the domain', () => {
    expect(maskEmail('alice@example.com')).toBe('a***@example.com');
    expect(maskEmail('13800138000@qq.com')).toBe('1***@qq.com');
    expect(maskEmail('not an address')).toBe('***');
  });

  it('every mask function is idempotent', () => {
    const values = ['13800138000', '+86 13800138000', '010-12345678', GB_EXAMPLE_ID, '6222 0212 3456 7894'];
    for (const f of [maskMobile, maskIdCard, maskBankCard, maskEmail]) {
      for (const v of [...values, 'alice@example.com', 'x', '']) expect(f(f(v))).toBe(f(v));
    }
  });
});

describe('createMasker: field-name rules', () => {
  it('masks the default phone fields whatever the spelling, numbers as strings', () => {
    expect(
      mask({
        phone: '13800138000',
        phone_number: 13800138000,
        'PURE-PHONE-NUMBER': '13800138000',
        tel: '12345',
      }),
    ).toEqual({
      phone: '138****8000',
      phone_number: '138****8000',
      'PURE-PHONE-NUMBER': '138****8000',
      tel: '*****',
    });
  });

  it("masks getPhoneNumber's phone_info and leaves countryCode and the watermark", () => {
    // Shape from the getuserphonenumber answer (PROTOCOL-NOTES, getPhoneNumber).
    const answer = {
      errcode: 0,
      errmsg: 'ok',
      phone_info: {
        phoneNumber: '+86 13800138000',
        purePhoneNumber: '13800138000',
        countryCode: 86,
        watermark: { timestamp: 1637744274, appid: 'wx0123456789abcdef' },
      },
    };
    expect(mask(answer)).toEqual({
      errcode: 0,
      errmsg: 'ok',
      phone_info: {
        phoneNumber: '+86 138****8000',
        purePhoneNumber: '138****8000',
        countryCode: 86,
        watermark: { timestamp: 1637744274, appid: 'wx0123456789abcdef' },
      },
    });
  });

  it('masks ID-card, bank-card and e-mail fields even when the value has no such pattern', () => {
    expect(
      mask({
        idCard: '110105491231002',
        cert_no: 'E12345678',
        bank_card: '6222 0212 3456 7894',
        email: 'bob',
      }),
    ).toEqual({
      idCard: '110********1002',
      cert_no: '*********',
      bank_card: '6222 **** **** 7894',
      email: '***',
    });
  });

  it('masks every element of an array under a rule, and walks an object under one by its own keys', () => {
    expect(mask({ phones: ['x'], phone: ['13800138000', 13900139000, null, true] })).toEqual({
      phones: ['x'],
      phone: ['138****8000', '139****9000', null, true],
    });
    expect(mask({ phone: { label: 'home', value: '13800138000' } })).toEqual({
      phone: { label: 'home', value: '138****8000' },
    });
  });

  it("has no default rule for 'name'; the name kind is opt-in", () => {
    expect(mask({ name: '张三丰' })).toEqual({ name: '张三丰' });
    const named = createMasker({ fields: { real_name: 'name', secret: 'full' } });
    expect(named({ realName: '张三丰', secret: 'x', single: '张' })).toEqual({
      realName: '张**',
      secret: '***',
      single: '张',
    });
    expect(named({ real_name: '张' })).toEqual({ real_name: '*' });
  });

  it('lets a user rule override a default one, and false remove it (patterns still apply)', () => {
    const custom = createMasker({ fields: { tel: false, email: 'full' } });
    expect(custom({ tel: '0755-1234', email: 'alice@example.com' })).toEqual({
      tel: '0755-1234',
      email: '***',
    });
    expect(custom({ tel: '13800138000' })).toEqual({ tel: '138****8000' });
  });
});

describe('createMasker: value patterns', () => {
  it('masks mobile numbers inside text, with or without a country prefix', () => {
    expect(mask('请致电13800138000或+86 13900139000，0086-15012345678')).toBe(
      '请致电138****8000或+86 139****9000，0086-150****5678',
    );
    expect(mask('contact:8613800138000.')).toBe('contact:86138****8000.');
  });

  it('leaves 11-digit mobile shapes inside a longer digit run', () => {
    for (const s of ['138001380001', '913800138000', 'no 1380013800 here', '12813800138000'])
      expect(mask(s)).toBe(s);
  });

  it('masks a valid ID number, but not one next to a letter or digit', () => {
    expect(mask(`身份证 ${GB_EXAMPLE_ID}，谢谢`)).toBe('身份证 110***********002X，谢谢');
    expect(mask(`id=${GB_EXAMPLE_ID.toLowerCase()}`)).toBe('id=110***********002x');
    for (const s of [`A${GB_EXAMPLE_ID}`, `${GB_EXAMPLE_ID}b`, `1${GB_EXAMPLE_ID}`]) expect(mask(s)).toBe(s);
  });

  it('does not touch an 18-digit order number that fails the ID checksum', () => {
    const orderNo = '110105194912310021'; // a plausible birth date, but not the check character
    expect(isResidentIdNumber(orderNo)).toBe(false);
    expect(mask({ order: orderNo, note: `订单 ${orderNo} 已支付` })).toEqual({
      order: orderNo,
      note: `订单 ${orderNo} 已支付`,
    });
    expect(mask('202601011234567890')).toBe('202601011234567890');
  });

  it('does not touch a WeChat Pay transaction_id (28 digits), in any field', () => {
    expect(mask({ id: TRANSACTION_ID, note: `transaction ${TRANSACTION_ID}` })).toEqual({
      id: TRANSACTION_ID,
      note: `transaction ${TRANSACTION_ID}`,
    });
  });

  it('masks a valid ID number as an ID number even when it also passes Luhn', () => {
    expect(mask(ID_ALSO_LUHN)).toBe('440***********1155');
  });

  it('masks Luhn-valid card numbers, contiguous or in groups of 4', () => {
    expect(mask(`卡号${UNIONPAY_16}`)).toBe('卡号6222********7894');
    expect(mask(`card ${UNIONPAY_19}`)).toBe('card 6222***********0128');
    expect(mask('card 6222 0212 3456 7890 128.')).toBe('card 6222 **** **** ***0 128.');
    expect(mask(`visa ${VISA_TEST.replace(/(\d{4})(?=\d)/g, '$1-')}`)).toBe('visa 4111-****-****-1111');
    // The card is the four groups; the trailing "12" is another number.
    expect(mask('4111 1111 1111 1111 12')).toBe('4111 **** **** 1111 12');
  });

  it('does not touch a Luhn-valid run without a card prefix, nor a card number failing Luhn', () => {
    // Luhn accepts 1 random number in 10; the prefix rule is what spares date-prefixed order numbers.
    expect(passesLuhn('2026010112345678')).toBe(true);
    for (const s of ['2026010112345678', '9123456789012348', '4111111111111112', '6222 0212 3456 7890']) {
      expect(mask(s)).toBe(s);
    }
  });

  it('masks e-mail addresses, a numeric local part included', () => {
    expect(mask('mail alice@example.com or 13800138000@qq.com')).toBe('mail a***@example.com or 1***@qq.com');
    expect(mask('a@13800138000.example.cn')).toBe('a***@138****8000.example.cn');
    expect(mask('user@localhost and @ alone')).toBe('user@localhost and @ alone');
    // A local part is at most 64 characters (RFC 5321): no address starts inside a longer run.
    const long = `${'x'.repeat(70)}@example.com`;
    expect(mask(long)).toBe(long);
  });

  it('leaves WeChat Pay identifiers and requestPayment parameters alone, whatever they hold', () => {
    const payment = {
      out_trade_no: '13800138000',
      outTradeNo: GB_EXAMPLE_ID,
      transaction_id: UNIONPAY_16,
      mchid: '1900000109',
      payer: { openid: 'oUpF8uMuAJO_M2pxb1Q9zNjWeS6o' },
      timeStamp: '1414561699',
      nonceStr: 'x13800138000x',
      package: 'prepay_id=wx201410272009395522657a690389285100',
      signType: 'RSA',
      paySign: 'ab13800138000cd',
    };
    expect(mask(payment)).toEqual(payment);
  });

  it('copies the whole value under a skipped name unmasked, and lets users add names', () => {
    const custom = createMasker({ skipFields: ['order_no', 'raw'] });
    expect(custom({ orderNo: '13800138000', raw: { phone: '13800138000' }, other: '13800138000' })).toEqual({
      orderNo: '13800138000',
      raw: { phone: '13800138000' },
      other: '138****8000',
    });
  });

  it('lets a user rule mask a name skipped by default', () => {
    expect(createMasker({ fields: { openid: 'full' } })({ openid: 'o-abc' })).toEqual({ openid: '***' });
  });

  it('looks only for the enabled patterns', () => {
    const text = `13800138000 ${GB_EXAMPLE_ID} ${UNIONPAY_16} alice@example.com`;
    expect(createMasker({ patterns: { email: false } })(text)).toBe(
      '138****8000 110***********002X 6222********7894 alice@example.com',
    );
    expect(createMasker({ patterns: { mobile: false, idCard: false } })(text)).toBe(
      `13800138000 ${GB_EXAMPLE_ID} 6222********7894 a***@example.com`,
    );
    const none = createMasker({ patterns: { mobile: false, idCard: false, bankCard: false, email: false } });
    expect(none({ text, phone: '13800138000' })).toEqual({ text, phone: '138****8000' });
  });

  it('hides a kept group that could be read with its neighbours as a card number (idempotence)', () => {
    // Computed for this test: 4000123456789017 and 4111111111111110138 pass Luhn, 4111111111111110
    // does not. Unmasked, "138****4000 1234 5678 9017" would offer the card "4000 1234 5678 9017"
    // on a second pass, and "4111 1111 1111 1110 138****" the card "… 1110 138".
    expect(passesLuhn('4000123456789017')).toBe(true);
    expect(passesLuhn('4111111111111110138')).toBe(true);
    expect(passesLuhn('4111111111111110')).toBe(false);
    const cases: Array<[string, string]> = [
      ['13800134000 1234 5678 9017 3456', '138******** 1234 5678 9017 3456'],
      ['4111 1111 1111 1110 13800138000', '4111 1111 1111 1110 *******8000'],
      ['+86 13800138000@x.com', '+86 138********@x.com'],
      ['+86 13800138000+a@b.cn', '+86 138********+***@b.cn'],
      ['a@b.com@c.com', 'a***@b***@c.com'],
    ];
    for (const [input, output] of cases) {
      expect(mask(input)).toBe(output);
      expect(mask(output)).toBe(output);
    }
  });

  it('keeps the groups of neighbours that cannot join into a number', () => {
    expect(mask(`13800138000 13900139000 ${GB_EXAMPLE_ID} 1234 13700137000`)).toBe(
      '138****8000 139****9000 110***********002X 1234 137****7000',
    );
  });
});

describe('createMasker: copying like JSON.stringify', () => {
  it('copies nested arrays and objects and never mutates its input', () => {
    const input = {
      users: [{ phone: '13800138000', tags: ['a', { note: `ID ${GB_EXAMPLE_ID}` }] }, [[['13900139000']]]],
    };
    const snapshot = structuredClone(input);
    const output = mask(input) as typeof input;
    expect(input).toEqual(snapshot);
    expect(output).toEqual({
      users: [{ phone: '138****8000', tags: ['a', { note: 'ID 110***********002X' }] }, [[['139****9000']]]],
    });
    expect(output.users).not.toBe(input.users);
    expect(output.users[0]).not.toBe(input.users[0]);
  });

  it('serializes what JSON.stringify would for values without personal data', () => {
    const sym = Symbol('s');
    const value = {
      a: undefined,
      b: () => 1,
      [sym]: 'hidden',
      c: [undefined, () => 1, sym, Number.NaN, -0, Number.POSITIVE_INFINITY],
      d: new Date(0),
      e: new Map([['k', 'v']]),
      f: Object.assign(Object(1), {}),
      g: new String('boxed'),
      h: new Boolean(false),
      i: { toJSON: (key: string) => `key was ${key}` },
      j: [{ toJSON: (key: string) => `index ${key}` }],
      k: new Uint8Array([1, 2]),
      l: null,
    };
    expect(JSON.stringify(mask(value))).toBe(JSON.stringify(value));
    expect(mask(undefined)).toBeUndefined();
    expect(mask(() => 1)).toBeUndefined();
    expect(mask(new Date(0))).toBe('1970-01-01T00:00:00.000Z');
  });

  it('masks boxed strings, strings in arrays and class instances as their plain forms', () => {
    class Contact {
      phone = '13800138000';
      name = 'x';
    }
    const shapes = Object.assign(Object.create({ inherited: '13700137000' }) as object, {
      phone: '13600136000',
    });
    const value = {
      phones: ['13800138000', new String('13900139000'), 'no digits'],
      phone: new String('13500135000'),
      contact: new Contact(),
      shapes,
      note: [new String('tel 13400134000')],
    };
    const expected = {
      phones: ['138****8000', '139****9000', 'no digits'],
      phone: '135****5000',
      contact: { phone: '138****8000', name: 'x' },
      shapes: { phone: '136****6000' },
      note: ['tel 134****4000'],
    };
    for (const masker of [createMasker(), createJsonMasker()]) {
      const out = masker(value) as typeof expected;
      expect(JSON.parse(JSON.stringify(out))).toEqual(expected);
      // Neither the class instance nor the object with a prototype of its own is handed back as is.
      expect(out.contact).not.toBe(value.contact);
      expect(out.shapes).not.toBe(value.shapes);
    }
  });

  it('reads each field as it is when a getter deletes a later one (no value lands under another name)', () => {
    const rules: MaskOptions = { fields: { realName: 'name' } };
    const make = () => ({
      get a() {
        delete (this as { b?: unknown }).b;
        return 1;
      },
      b: 'x',
      realName: '张三丰',
      note: 'tel 13800138000',
    });
    for (const masker of [createMasker(rules), createJsonMasker(rules)]) {
      const out = masker(make());
      expect(JSON.parse(JSON.stringify(out))).toEqual({ a: 1, realName: '张**', note: 'tel 138****8000' });
    }
  });

  it("masks what toJSON returns, under the field's rule", () => {
    const phone = { toJSON: () => '13800138000' };
    expect(mask({ phone, note: { toJSON: () => ({ text: `tel ${'13900139000'}` }) } })).toEqual({
      phone: '138****8000',
      note: { text: 'tel 139****9000' },
    });
  });

  it('throws a TypeError on a cycle, as JSON.stringify does, and copies shared references twice', () => {
    const cyclic: Record<string, unknown> = { phone: '13800138000' };
    cyclic.self = { again: [cyclic] };
    expect(() => JSON.stringify(cyclic)).toThrow(TypeError);
    expect(() => mask(cyclic)).toThrow(TypeError);
    const shared = { phone: '13800138000' };
    expect(mask({ a: shared, b: [shared] })).toEqual({
      a: { phone: '138****8000' },
      b: [{ phone: '138****8000' }],
    });
  });

  it('throws a TypeError on a BigInt, as JSON.stringify does', () => {
    expect(() => JSON.stringify({ n: 1n })).toThrow(TypeError);
    expect(() => mask({ n: 1n })).toThrow(TypeError);
  });

  it('keeps a "__proto__" key as an own property and does not change the prototype', () => {
    const input = JSON.parse('{"__proto__":{"phone":"13800138000"},"x":1}') as Record<string, unknown>;
    const output = mask(input) as Record<string, unknown>;
    expect(Object.getPrototypeOf(output)).toBe(Object.prototype);
    expect(Object.keys(output)).toEqual(['__proto__', 'x']);
    expect(JSON.stringify(output)).toBe('{"__proto__":{"phone":"138****8000"},"x":1}');
  });
});

describe('createMasker: options', () => {
  const refuses = (options: unknown) =>
    expect(() => createMasker(options as MaskOptions)).toThrow(ArgumentError);

  it('refuses an unknown MaskKind', () => {
    refuses({ fields: { ssn: 'ssn' } });
    refuses({ fields: { ssn: true } });
  });

  it('refuses fields that are not an object', () => {
    for (const fields of [null, [], 'phone', 1]) refuses({ fields });
  });

  it('refuses unknown options and patterns, and non-boolean patterns', () => {
    refuses({ field: {} });
    refuses({ patterns: { phone: true } });
    refuses({ patterns: { email: 'no' } });
    refuses({ patterns: [] });
    refuses(null);
    refuses('all');
  });

  it('refuses bad skipFields and a name both masked and skipped', () => {
    refuses({ skipFields: 'out_trade_no' });
    refuses({ skipFields: [1] });
    refuses({ skipFields: ['_-'] });
    refuses({ fields: { order_no: 'full' }, skipFields: ['orderNo'] });
  });

  it('refuses two different rules for one normalized name, and accepts undefined members', () => {
    refuses({ fields: { phone_number: 'mobile', phoneNumber: 'full' } });
    expect(() =>
      createMasker({ fields: undefined, patterns: { email: undefined }, skipFields: undefined }),
    ).not.toThrow();
    expect(() => createMasker(undefined)).not.toThrow();
  });

  it('gives an ArgumentError with the INVALID_ARGUMENT code', () => {
    try {
      createMasker({ fields: { x: 'nope' as never } });
      expect.unreachable();
    } catch (error) {
      expect(error).toBeInstanceOf(ArgumentError);
      expect((error as ArgumentError).code).toBe('INVALID_ARGUMENT');
      expect((error as Error).message).toContain("'mobile'");
    }
  });
});

/** GB 11643-1999 check character, computed independently of the module under test. */
function checkChar(body: string): string {
  const weights = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
  let sum = 0;
  for (let i = 0; i < 17; i++) sum += weights[i]! * Number(body[i]);
  return '10X98765432'[sum % 11]!;
}
