/**
 * Masking of outgoing JSON: by field name (`phoneNumber`, `idCard`, …) and by value pattern
 * inside any string (mainland mobile numbers, resident ID numbers, bank card numbers, e-mail).
 *
 * The patterns are validated, not just shaped: an 18-character run is an ID number only if its
 * GB 11643-1999 check character and birth date are right, a 16–19 digit run is a card number only
 * if it passes Luhn and starts like a card. Order numbers, transaction ids and timestamps, which
 * look like both, therefore come back untouched.
 */

import { ArgumentError } from '../errors.js';

/**
 * How a value is masked: `mobile` `138****8000`, `idCard` `110***********002X`, `bankCard`
 * `6222 **** **** 7890`, `email` `a***@example.com`, `name` `张**` (first character kept; a
 * one-character value becomes `*`), `full` `***`.
 *
 * @example
 * const kind: MaskKind = 'name';
 * createMasker({ fields: { real_name: kind } });
 */
export type MaskKind = 'mobile' | 'idCard' | 'bankCard' | 'email' | 'name' | 'full';

/**
 * Options of {@link createMasker}. Everything is optional: the defaults mask the usual phone,
 * ID-card, bank-card and e-mail fields and every pattern, and never touch WeChat Pay identifiers.
 *
 * @example
 * createMasker({
 *   fields: { real_name: 'name', secret_answer: 'full', tel: false },
 *   patterns: { email: false },
 *   skipFields: ['order_no'],
 * });
 */
export interface MaskOptions {
  /**
   * Field-name rules added to, or overriding, the defaults. Names are compared case-insensitively,
   * ignoring `_` and `-` (so `phone_number`, `phoneNumber` and `PHONE-NUMBER` are one name).
   * `false` removes a default rule (the value is then still searched for patterns).
   *
   * A rule masks the whole value whatever its format, a number as its decimal string; in an
   * array every element is masked by the rule; an object under a rule is walked as usual.
   * Defaults: `phone`, `phoneNumber`, `purePhoneNumber`, `mobile`, `mobilePhone`, `mobileNo`,
   * `phoneNo`, `cellphone`, `tel`, `telephone` → `mobile`; `idCard`, `idCardNo`,
   * `idCardNumber`, `idNo`, `idNumber`, `identityCard`, `certNo` → `idCard`; `bankCard`,
   * `bankCardNo`, `bankCardNumber`, `cardNo`, `cardNumber`, `bankAccount`, `bankAccountNo` →
   * `bankCard`; `email`, `emailAddress`, `mail` → `email`. There is no default `name` rule
   * (`name` is too common a key: product names, file names); opt in with e.g.
   * `{ real_name: 'name' }`.
   */
  fields?: Readonly<Record<string, MaskKind | false>> | undefined;
  /** Which value patterns are looked for inside every string value (each defaults to `true`). */
  patterns?:
    | {
        /** Mainland mobile numbers, `1[3-9]` and 9 more digits, optionally after `+86`/`0086`/`86`. */
        mobile?: boolean | undefined;
        /** 18-character resident ID numbers with a valid check character and birth date. */
        idCard?: boolean | undefined;
        /** 16–19 digit card numbers (groups of 4 may be split by a space or `-`) passing Luhn. */
        bankCard?: boolean | undefined;
        /** E-mail addresses (`local@domain.tld`). */
        email?: boolean | undefined;
      }
    | undefined;
  /**
   * Field names whose whole value is copied unmasked (neither by name nor by pattern), added to the
   * defaults: WeChat Pay and platform identifiers (`out_trade_no`, `transaction_id`,
   * `out_refund_no`, `refund_id`, `prepay_id`, `mchid`/`mch_id`, `sp_mchid`, `sub_mchid`,
   * `appid`, `sp_appid`, `sub_appid`, `openid`, `sp_openid`, `sub_openid`, `unionid`) and the
   * `wx.requestPayment` parameters (`timeStamp`, `nonceStr`, `package`, `signType`, `paySign`,
   * `sign`), which a mangled digit would break. Compared like `fields` names. A name given here
   * and in `fields` (with a kind) is refused; a default skipped name given a kind in `fields` is
   * masked.
   */
  skipFields?: readonly string[] | undefined;
}

const KINDS: readonly MaskKind[] = ['mobile', 'idCard', 'bankCard', 'email', 'name', 'full'];

/** Default field rules, by normalized name. */
const DEFAULT_FIELDS: Readonly<Record<string, MaskKind>> = {
  phone: 'mobile',
  phonenumber: 'mobile',
  purephonenumber: 'mobile',
  mobile: 'mobile',
  mobilephone: 'mobile',
  mobileno: 'mobile',
  phoneno: 'mobile',
  cellphone: 'mobile',
  tel: 'mobile',
  telephone: 'mobile',
  idcard: 'idCard',
  idcardno: 'idCard',
  idcardnumber: 'idCard',
  idno: 'idCard',
  idnumber: 'idCard',
  identitycard: 'idCard',
  certno: 'idCard',
  bankcard: 'bankCard',
  bankcardno: 'bankCard',
  bankcardnumber: 'bankCard',
  cardno: 'bankCard',
  cardnumber: 'bankCard',
  bankaccount: 'bankCard',
  bankaccountno: 'bankCard',
  email: 'email',
  emailaddress: 'email',
  mail: 'email',
};

/** Default skipped names, normalized. */
const DEFAULT_SKIP: readonly string[] = [
  'outtradeno',
  'transactionid',
  'outrefundno',
  'refundid',
  'prepayid',
  'mchid',
  'spmchid',
  'submchid',
  'appid',
  'spappid',
  'subappid',
  'openid',
  'spopenid',
  'subopenid',
  'unionid',
  'timestamp',
  'noncestr',
  'package',
  'signtype',
  'paysign',
  'sign',
];

function normalizeName(name: string): string {
  return name.toLowerCase().replace(/[_-]/g, '');
}

/** Characters that count as masked positions: letters, digits and stars already put there. */
function isSlot(code: number): boolean {
  return (code >= 48 && code <= 57) || code === 42 || ((code | 32) >= 97 && (code | 32) <= 122);
}

function isDigit(code: number): boolean {
  return code >= 48 && code <= 57;
}

/**
 * Stars every slot character (letter, digit) but the first `head` and the last `tail` ones;
 * anything else (`+`, spaces, dashes) stays where it is.
 */
function starSlots(value: string, head: number, tail: number): string {
  let slots = 0;
  for (let i = 0; i < value.length; i++) if (isSlot(value.charCodeAt(i))) slots++;
  const chars: string[] = [];
  let index = 0;
  for (let i = 0; i < value.length; i++) {
    const char = value[i]!;
    if (isSlot(value.charCodeAt(i))) {
      chars.push(index < head || index >= slots - tail ? char : '*');
      index++;
    } else {
      chars.push(char);
    }
  }
  return chars.join('');
}

/**
 * Keeps the first `head` and last `tail` characters (code points) when that still hides at least
 * four; otherwise stars everything. Same length in, same length out, so it is idempotent.
 */
function keepEnds(value: string, head: number, tail: number): string {
  const chars = Array.from(value);
  const hidden = chars.length - head - tail;
  if (hidden < 4) return '*'.repeat(chars.length);
  return chars.slice(0, head).join('') + '*'.repeat(hidden) + chars.slice(chars.length - tail).join('');
}

// A whole value that is a mainland mobile number, or one this module already masked.
const WHOLE_MOBILE = /^((?:\+86|0086|86)[ -]?)?(1[3-9]\d)(?:\d{4}|\*{4})(\d{4})$/;

/**
 * Masks a mobile number: a mainland mobile (optionally after `+86`, `0086` or `86`) keeps its
 * prefix, its first 3 and its last 4 digits; any other value keeps its first 3 and last 4
 * characters when at least 4 stay hidden (11 characters or more), else it is all stars.
 *
 * @example
 * maskMobile('13800138000'); // '138****8000'
 * maskMobile('+8613800138000'); // '+86138****8000'
 * maskMobile('12345'); // '*****'
 */
export function maskMobile(value: string): string {
  // The usual value, 11 digits without a prefix: what the expression below gives, without running it.
  if (value.length === 11 && isBareMobile(value)) return `${value.slice(0, 3)}****${value.slice(7)}`;
  const match = WHOLE_MOBILE.exec(value);
  if (match !== null) return `${match[1] ?? ''}${match[2]}****${match[3]}`;
  return keepEnds(value, 3, 4);
}

/** `1[3-9]` and 9 more digits, or the same with digits 4–7 already starred (11 characters given). */
function isBareMobile(value: string): boolean {
  const second = value.charCodeAt(1);
  if (value.charCodeAt(0) !== 49 || second < 51 || second > 57 || !isDigit(value.charCodeAt(2))) return false;
  for (let i = 7; i < 11; i++) if (!isDigit(value.charCodeAt(i))) return false;
  const starred = value.charCodeAt(3) === 42;
  for (let i = 3; i < 7; i++) {
    const code = value.charCodeAt(i);
    if (starred ? code !== 42 : !isDigit(code)) return false;
  }
  return true;
}

/**
 * Masks an ID number: keeps the first 3 and the last 4 characters (length kept) when at least 4
 * stay hidden, else stars everything.
 *
 * @example
 * maskIdCard('11010519491231002X'); // '110***********002X'
 */
export function maskIdCard(value: string): string {
  return keepEnds(value, 3, 4);
}

const CARD_SHAPE = /^[\d*]+(?:[ -][\d*]+)*$/;

/**
 * Masks a bank card number: keeps the first 4 and the last 4 digits and the spaces or dashes
 * between groups; any other value keeps its first and last 4 characters when at least 4 stay
 * hidden, else it is all stars.
 *
 * @example
 * maskBankCard('6222021234567894'); // '6222********7894'
 * maskBankCard('6222 0212 3456 7894'); // '6222 **** **** 7894'
 */
export function maskBankCard(value: string): string {
  if (CARD_SHAPE.test(value)) {
    let slots = 0;
    for (let i = 0; i < value.length; i++) if (isSlot(value.charCodeAt(i))) slots++;
    if (slots >= 12) return starSlots(value, 4, 4);
  }
  return keepEnds(value, 4, 4);
}

/**
 * Masks an e-mail address: the first character of the local part, `***`, then `@` and the domain.
 * A value without a local part or a domain becomes `***`; `''` stays `''`.
 *
 * @example
 * maskEmail('alice@example.com'); // 'a***@example.com'
 */
export function maskEmail(value: string): string {
  if (value === '') return '';
  const at = value.lastIndexOf('@');
  if (at <= 0 || at === value.length - 1) return '***';
  const first = value.codePointAt(0)!;
  return `${String.fromCodePoint(first)}***${value.slice(at)}`;
}

function maskName(value: string): string {
  const chars = Array.from(value);
  if (chars.length <= 1) return '*'.repeat(chars.length);
  return chars[0] + '*'.repeat(chars.length - 1);
}

function maskFull(): string {
  return '***';
}

const KIND_MASKERS: Readonly<Record<MaskKind, (value: string) => string>> = {
  mobile: maskMobile,
  idCard: maskIdCard,
  bankCard: maskBankCard,
  email: maskEmail,
  name: maskName,
  full: maskFull,
};

const ID_WEIGHTS = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2] as const;
const ID_CHECK_CHARS = '10X98765432';
const ID_SHAPE = /^\d{17}[\dXx]$/;

/**
 * True when `value` is an 18-character resident ID number (GB 11643-1999): 17 digits, then the
 * ISO 7064 MOD 11-2 check character (`0`–`9` or `X`, `x` accepted), and a real calendar date
 * `YYYYMMDD` at positions 7–14 with a year from 1800 to 2099. (No clock is read, so a birth date
 * in the future is not refused.)
 *
 * @example
 * isResidentIdNumber('11010519491231002X'); // true (the standard's own example)
 * isResidentIdNumber('110105194912310021'); // false (wrong check character)
 */
export function isResidentIdNumber(value: string): boolean {
  if (typeof value !== 'string' || !ID_SHAPE.test(value)) return false;
  let sum = 0;
  for (let i = 0; i < 17; i++) sum += ID_WEIGHTS[i]! * (value.charCodeAt(i) - 48);
  if (ID_CHECK_CHARS[sum % 11] !== value[17]!.toUpperCase()) return false;
  const year = Number(value.slice(6, 10));
  const month = Number(value.slice(10, 12));
  const day = Number(value.slice(12, 14));
  if (year < 1800 || year > 2099 || month < 1 || month > 12 || day < 1) return false;
  const leap = (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0;
  const days = month === 2 ? (leap ? 29 : 28) : [4, 6, 9, 11].includes(month) ? 30 : 31;
  return day <= days;
}

/**
 * True when `digits` (digits only, at least 2) passes the Luhn (mod 10) check used by payment
 * card numbers.
 *
 * @example
 * passesLuhn('4111111111111111'); // true
 * passesLuhn('4111111111111112'); // false
 */
export function passesLuhn(digits: string): boolean {
  if (typeof digits !== 'string' || digits.length < 2 || !/^\d+$/.test(digits)) return false;
  let sum = 0;
  let double = false;
  for (let i = digits.length - 1; i >= 0; i--) {
    let d = digits.charCodeAt(i) - 48;
    if (double) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
    double = !double;
  }
  return sum % 10 === 0;
}

/**
 * A card number found by pattern. Luhn alone accepts one random digit string in ten, so one order
 * number in ten would be mangled; requiring a real card prefix as well — UnionPay 62, Visa 4,
 * Mastercard 5 and 2221–2720, JCB/Amex/Diners 3 — rules out order numbers that start with a date
 * (`2026…`) or a merchant prefix, while keeping every card issued in China.
 */
function isCardNumber(digits: string): boolean {
  if (digits.length < 16 || digits.length > 19) return false;
  const first = digits[0];
  const prefix4 = Number(digits.slice(0, 4));
  const cardLike =
    digits.startsWith('62') ||
    first === '4' ||
    first === '5' ||
    first === '3' ||
    (prefix4 >= 2221 && prefix4 <= 2720);
  return cardLike && passesLuhn(digits);
}

// The value patterns. Every repetition is bounded, so a scan is linear in the string's length.
// A number must not touch other digits (an ID number not letters either): a run inside a longer
// number is part of that number. An address starts where a run of local-part characters starts,
// not inside a longer run (a local part is at most 64 characters, RFC 5321).
const EMAIL_BODY = String.raw`[A-Za-z0-9._%+-]{1,64}@(?:[A-Za-z0-9-]{1,63}\.){1,8}[A-Za-z]{2,63}`;
const EMAIL_SRC = `(?<email>(?<![A-Za-z0-9._%+-])${EMAIL_BODY})`;
const ID_SRC = String.raw`(?<id>(?<![A-Za-z0-9])\d{17}[\dXx](?![A-Za-z0-9]))`;
const CARD_SRC = String.raw`(?<card>(?<!\d)\d{4}(?:[ -]?\d{4}){3}(?:[ -]?\d{1,3})?(?!\d))`;
const MOBILE_SRC = String.raw`(?<mobile>(?<!\d)(?:(?:\+86|0086|86)[ -]?)?1[3-9]\d{9}(?!\d))`;

// A separated 1–3 digit group at the end of a card candidate ("… 7890 12").
const CARD_TAIL = /[ -]\d{1,3}$/;
const CARD_WHOLE = /^\d{4}(?:[ -]?\d{4}){3}(?:[ -]?\d{1,3})?$/;
const CARD_START = /^\d{4}(?:[ -]?\d{4}){3}/;

/*
 * Masking must be idempotent: the digits a mask keeps must never form a new number with their
 * neighbours when the output is scanned again. `138****4000 1234 5678 9012` would offer the card
 * candidate `4000 1234 5678 9012`, which the first scan never saw (it was inside the mobile
 * number). So a kept first group is hidden too when a card number could end with it, a kept last
 * group when a card number could start with it or an e-mail local part run from it to an `@`.
 * Only card numbers (and e-mail) can: a mobile or ID number needs 11 or 18 digits in one run, and
 * a kept group is at most 4 digits next to a star.
 */

/** True when a valid card number (16–19 digits, groups of 4) could end exactly where `text` ends. */
function cardEndsHere(text: string): boolean {
  // Cheap refusal first: at least 16 digits, only digits and separators, must end the text.
  let digitCount = 0;
  for (let i = text.length - 1; i >= 0 && digitCount < 16; i--) {
    const code = text.charCodeAt(i);
    if (isDigit(code)) digitCount++;
    else if (code !== 32 && code !== 45) break;
  }
  if (digitCount < 16) return false;
  for (let i = Math.max(0, text.length - 23); i <= text.length - 16; i++) {
    if (i > 0 && isDigit(text.charCodeAt(i - 1))) continue;
    const candidate = text.slice(i);
    if (CARD_WHOLE.test(candidate) && isCardNumber(candidate.replace(/[ -]/g, ''))) return true;
  }
  return false;
}

/** True when a valid card number could start where `text` starts (whatever follows it). */
function cardStartsHere(text: string): boolean {
  const base = CARD_START.exec(text);
  if (base === null) return false;
  let digits = base[0].replace(/[ -]/g, '');
  if (isCardNumber(digits)) return true;
  let rest = text.slice(base[0].length);
  if (rest[0] === ' ' || rest[0] === '-') rest = rest.slice(1);
  for (let i = 0; i < 3 && isDigit(rest.charCodeAt(i)); i++) {
    digits += rest[i];
    if (isCardNumber(digits)) return true;
  }
  return false;
}

/** Where the masked text is written; remembers its last 24 characters (a card number's longest). */
class Output {
  readonly parts: string[] = [];
  last = '';
  changed = false;

  push(piece: string): void {
    if (piece === '') return;
    this.parts.push(piece);
    this.last = piece.length >= 24 ? piece.slice(-24) : (this.last + piece).slice(-24);
  }
}

interface Patterns {
  mobile: boolean;
  idCard: boolean;
  bankCard: boolean;
  email: boolean;
}

/** The string scanner of one masker: regexes compiled once, reused for every string. */
class TextMasker {
  readonly #all: RegExp | undefined;
  /** An address right after a number whose last digit was hidden (see `#scan`). */
  readonly #emailAt: RegExp | undefined;
  readonly #patterns: Patterns;
  readonly #anyDigits: boolean;

  constructor(patterns: Patterns) {
    this.#patterns = patterns;
    const digitSources = [
      patterns.idCard ? ID_SRC : '',
      patterns.bankCard ? CARD_SRC : '',
      patterns.mobile ? MOBILE_SRC : '',
    ].filter((source) => source !== '');
    this.#anyDigits = digitSources.length > 0;
    const all = patterns.email ? [EMAIL_SRC, ...digitSources] : digitSources;
    this.#all = all.length === 0 ? undefined : new RegExp(all.join('|'), 'g');
    this.#emailAt = patterns.email ? new RegExp(EMAIL_BODY, 'y') : undefined;
  }

  mask(value: string): string {
    if (this.#all === undefined || !this.#mayMatch(value)) return value;
    const out = new Output();
    this.#scan(value, this.#all, out);
    return out.changed ? out.parts.join('') : value;
  }

  /** The fast path: every pattern needs 11 digits or an `@`. */
  #mayMatch(value: string): boolean {
    let digits = 0;
    for (let i = 0; i < value.length; i++) {
      const code = value.charCodeAt(i);
      if (isDigit(code)) {
        if (++digits >= 11 && this.#anyDigits) return true;
      } else if (code === 64 && this.#patterns.email) {
        return true;
      }
    }
    return false;
  }

  #scan(s: string, re: RegExp, out: Output): void {
    let pos = 0;
    re.lastIndex = 0;
    for (let match = re.exec(s); match !== null; match = re.exec(s)) {
      const start = match.index;
      let end = start + match[0].length;
      if (match.groups!.email !== undefined) {
        pos = this.#email(s, pos, start, out);
        re.lastIndex = pos;
        continue;
      }
      const groups = match.groups!;
      let token = match[0];
      let keep: readonly [number, number] | undefined;
      if (groups.id !== undefined) {
        if (isResidentIdNumber(token)) keep = [3, 4];
        else if (this.#patterns.bankCard && isCardNumber(token)) keep = [4, 4];
      } else if (groups.card !== undefined) {
        if (isCardNumber(token.replace(/[ -]/g, ''))) keep = [4, 4];
        else if (CARD_TAIL.test(token)) {
          // "4111 1111 1111 1111 12": the card may be the four groups, the rest another number.
          const shorter = token.replace(CARD_TAIL, '');
          if (isCardNumber(shorter.replace(/[ -]/g, ''))) {
            token = shorter;
            end = start + shorter.length;
            keep = [4, 4];
          }
        }
      } else {
        let slots = 0;
        for (let i = 0; i < token.length; i++) if (isDigit(token.charCodeAt(i))) slots++;
        keep = [slots - 8, 4];
      }
      if (keep === undefined) {
        // Not a valid number here: look again from the next character (a number may start inside).
        re.lastIndex = start + 1;
        continue;
      }
      out.push(s.slice(pos, start));
      let masked = starSlots(token, keep[0], keep[1]);
      const head = cardEndsHere(out.last + masked.slice(0, masked.indexOf('*'))) ? 0 : keep[0];
      const tail = this.#joinsAfter(s, end, token, masked) ? 0 : keep[1];
      if (head !== keep[0] || tail !== keep[1]) masked = starSlots(token, head, tail);
      out.push(masked);
      out.changed = true;
      pos = end;
      if (tail === 0 && this.#emailAt !== undefined) {
        // A hidden last digit no longer hides an address that follows ("…8000+a@b.cn" has none,
        // "…****+a@b.cn" has one): mask it now, as a second scan would.
        this.#emailAt.lastIndex = end;
        if (this.#emailAt.test(s)) pos = this.#email(s, pos, end, out);
      }
      re.lastIndex = pos;
    }
    out.push(s.slice(pos));
  }

  /**
   * Masks the address whose local part starts at `start` (text from `pos` not yet written) and
   * returns where to scan on: the domain, which may hold a number ("a@13800138000.example") or
   * run on into another address ("a@b.com@c.com"), just as a second scan of the output sees it.
   */
  #email(s: string, pos: number, start: number, out: Output): number {
    const at = s.indexOf('@', start);
    out.push(s.slice(pos, start));
    const first = s[start]!;
    const hideFirst = isDigit(first.charCodeAt(0)) && cardEndsHere(out.last + first);
    out.push(`${hideFirst ? '*' : first}***@`);
    out.changed = true;
    return at + 1;
  }

  /** Whether the kept last group of `masked` (the token ending at `end`) could start a number. */
  #joinsAfter(s: string, end: number, token: string, masked: string): boolean {
    const next = s.charCodeAt(end);
    if (next !== 32 && next !== 45 && next !== 64 && !isLocalPartChar(next)) return false;
    if (this.#patterns.email && localPartReachesAt(s, end)) return true;
    // A card number can only go on past the token through a separator and a digit.
    if ((next !== 32 && next !== 45) || !isDigit(s.charCodeAt(end + 1))) return false;
    const after = s.slice(end, end + 24);
    for (let q = masked.lastIndexOf('*') + 1; q < token.length; q++) {
      if (
        isDigit(token.charCodeAt(q)) &&
        !isDigit(masked.charCodeAt(q - 1)) &&
        cardStartsHere(token.slice(q) + after)
      ) {
        return true;
      }
    }
    return false;
  }
}

function isLocalPartChar(code: number): boolean {
  return (
    isDigit(code) ||
    ((code | 32) >= 97 && (code | 32) <= 122) ||
    code === 46 ||
    code === 95 ||
    code === 37 ||
    code === 43 ||
    code === 45
  );
}

/** True when the characters from `index` are e-mail local-part characters up to an `@` (≤ 64). */
function localPartReachesAt(s: string, index: number): boolean {
  const limit = Math.min(s.length, index + 65);
  for (let i = index; i < limit; i++) {
    const code = s.charCodeAt(i);
    if (code === 64) return true;
    if (!isLocalPartChar(code)) return false;
  }
  return false;
}

/** What happens to a value: masked by a kind, copied as is (`skip`), or searched for patterns. */
type Mode = MaskKind | 'skip' | undefined;

const OMIT: unique symbol = Symbol('omit');

function isPlainRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function validate(options: unknown): {
  rules: Map<string, MaskKind | 'skip'>;
  patterns: Patterns;
} {
  if (options !== undefined && !isPlainRecord(options)) {
    throw new ArgumentError('createMasker: options must be an object (or omitted)');
  }
  const given = (options ?? {}) as Record<string, unknown>;
  for (const key of Object.keys(given)) {
    if (key !== 'fields' && key !== 'patterns' && key !== 'skipFields') {
      throw new ArgumentError(
        `createMasker: unknown option "${key}"; the options are fields, patterns, skipFields`,
      );
    }
  }
  const rules = new Map<string, MaskKind | 'skip'>();
  for (const name of DEFAULT_SKIP) rules.set(name, 'skip');
  for (const [name, kind] of Object.entries(DEFAULT_FIELDS)) rules.set(name, kind);

  const userKinds = new Map<string, MaskKind | false>();
  if (given.fields !== undefined) {
    if (!isPlainRecord(given.fields)) {
      throw new ArgumentError('createMasker: fields must be an object of field name → MaskKind or false');
    }
    for (const [name, kind] of Object.entries(given.fields)) {
      if (kind !== false && !KINDS.includes(kind as MaskKind)) {
        throw new ArgumentError(
          `createMasker: fields["${name}"] must be one of ${KINDS.map((k) => `'${k}'`).join(', ')} or false`,
        );
      }
      const normalized = normalizeName(name);
      if (normalized === '') {
        throw new ArgumentError(`createMasker: fields["${name}"] is not a field name`);
      }
      const before = userKinds.get(normalized);
      if (before !== undefined && before !== kind) {
        throw new ArgumentError(
          `createMasker: fields gives "${normalized}" two rules (names are compared ignoring case, _ and -)`,
        );
      }
      userKinds.set(normalized, kind as MaskKind | false);
    }
  }

  const userSkip = new Set<string>();
  if (given.skipFields !== undefined) {
    if (!Array.isArray(given.skipFields)) {
      throw new ArgumentError('createMasker: skipFields must be an array of field names');
    }
    for (const name of given.skipFields as unknown[]) {
      if (typeof name !== 'string' || normalizeName(name) === '') {
        throw new ArgumentError('createMasker: skipFields must hold non-empty field names');
      }
      userSkip.add(normalizeName(name));
    }
  }

  for (const [name, kind] of userKinds) {
    if (kind === false) {
      if (rules.get(name) !== 'skip') rules.delete(name);
      continue;
    }
    if (userSkip.has(name)) {
      throw new ArgumentError(`createMasker: "${name}" is both in fields ('${kind}') and in skipFields`);
    }
    rules.set(name, kind);
  }
  for (const name of userSkip) rules.set(name, 'skip');

  const patterns: Patterns = { mobile: true, idCard: true, bankCard: true, email: true };
  if (given.patterns !== undefined) {
    if (!isPlainRecord(given.patterns)) {
      throw new ArgumentError('createMasker: patterns must be an object such as { email: false }');
    }
    for (const [key, on] of Object.entries(given.patterns)) {
      if (!Object.hasOwn(patterns, key)) {
        throw new ArgumentError(
          `createMasker: unknown pattern "${key}"; the patterns are mobile, idCard, bankCard, email`,
        );
      }
      if (on === undefined) continue;
      if (typeof on !== 'boolean') throw new ArgumentError(`createMasker: patterns.${key} must be a boolean`);
      patterns[key as keyof Patterns] = on;
    }
  }
  return { rules, patterns };
}

/**
 * Builds a masker: a function that deep-copies a JSON-like value with its sensitive values masked.
 * It never mutates its input and copies as `JSON.stringify` would serialize: `toJSON` is called
 * (a `Date` becomes its ISO string), boxed primitives are unwrapped, `undefined`, functions and
 * symbols are dropped from objects and become `null` in arrays, a `BigInt` or a cycle throws a
 * `TypeError`. Object keys are copied as they are (never masked).
 *
 * Strings are masked by field-name rule, else searched for the value patterns; a string with
 * fewer than 11 digits and no `@` is returned without any regex work. Masking is idempotent:
 * masking a masked value changes nothing (for that, the digits a mask would keep are starred too
 * when they could be read together with neighbouring digits as a card number).
 * Options are validated here, once: an unknown option, pattern or kind throws an
 * {@link ArgumentError}.
 *
 * @example
 * const mask = createMasker({ fields: { real_name: 'name' } });
 * mask({ real_name: '张三丰', phone: 13800138000, note: '卡号 6222021234567894', out_trade_no: '13800138000' });
 * // { real_name: '张**', phone: '138****8000', note: '卡号 6222********7894', out_trade_no: '13800138000' }
 */
export function createMasker(options?: MaskOptions): (value: unknown) => unknown {
  return buildMasker(options, false);
}

/**
 * The masker of answers that are serialized at once (`JSON.stringify`): the same masking, but a
 * plain object or array in which nothing is masked is returned as it is instead of copied, so
 * only the path to a masked value is new. Not for values the caller keeps or changes later.
 * @internal
 */
export function createJsonMasker(options?: MaskOptions): (value: unknown) => unknown {
  return buildMasker(options, true);
}

/** Key lists whose rules a masker remembers (see modesOf), and the longest one it keeps. */
const MAX_SHAPES = 16;
const MAX_SHAPE_NAMES = 32;

/** Below this depth no cycle check is kept: a cycle only shows itself by going deeper. */
const CYCLE_CHECK_DEPTH = 32;

function buildMasker(options: MaskOptions | undefined, share: boolean): (value: unknown) => unknown {
  const { rules, patterns } = validate(options);
  const text = new TextMasker(patterns);

  // Keys repeat from object to object: remember their rule (bounded, keys may be data too).
  const modes = new Map<string, Mode | null>();
  const modeOf = (key: string): Mode => {
    const known = modes.get(key);
    if (known !== undefined) return known ?? undefined;
    const mode = rules.get(normalizeName(key));
    if (modes.size >= 4096) modes.clear();
    modes.set(key, mode ?? null);
    return mode;
  };

  // The rules of a whole key list, found by the list: a handler's answers repeat a few shapes, and
  // Object.keys gives the same (internalized) name strings for each, so a hit costs a few
  // identity comparisons instead of a map lookup per field. A miss falls back to modeOf per name.
  const shapes: Array<{ names: string[]; modes: Mode[] }> = [];
  let nextShape = 0;
  const modesOf = (names: string[]): Mode[] => {
    search: for (let s = 0; s < shapes.length; s++) {
      const shape = shapes[s] as { names: string[]; modes: Mode[] };
      if (shape.names.length !== names.length) continue;
      for (let i = 0; i < names.length; i++) if (shape.names[i] !== names[i]) continue search;
      return shape.modes;
    }
    const modes = names.map(modeOf);
    if (names.length <= MAX_SHAPE_NAMES) {
      shapes[nextShape] = { names, modes };
      nextShape = (nextShape + 1) % MAX_SHAPES;
    }
    return modes;
  };

  const maskString = (value: string, mode: Mode): string =>
    mode === 'skip' ? value : mode === undefined ? text.mask(value) : KIND_MASKERS[mode](value);

  // `ancestors` is only kept past CYCLE_CHECK_DEPTH levels: a cycle repeats forever, so it is met
  // twice on the path below that depth, and a shallow value costs no set at all.
  const copy = (
    input: unknown,
    key: string,
    mode: Mode,
    depth: number,
    ancestors: Set<object> | undefined,
  ): unknown => {
    let value = input;
    let plain = false;
    if ((typeof value === 'object' && value !== null) || typeof value === 'bigint') {
      const toJSON = (value as { toJSON?: unknown }).toJSON;
      if (typeof toJSON === 'function') value = toJSON.call(value, key);
      if (typeof value === 'object' && value !== null) {
        // A plain object or array (the usual value) is no boxed primitive: no instanceof walk for it.
        plain = isPlainShape(value);
        if (!plain) {
          if (value instanceof Number) value = Number(value);
          else if (value instanceof String) value = String(value);
          else if (value instanceof Boolean || value instanceof BigInt) value = value.valueOf();
        }
      }
    }

    switch (typeof value) {
      case 'string':
        return maskString(value, mode);
      case 'number':
        return mode !== undefined && mode !== 'skip' && Number.isFinite(value)
          ? KIND_MASKERS[mode](String(value))
          : value;
      case 'boolean':
        return value;
      case 'bigint':
        throw new TypeError('Do not know how to serialize a BigInt');
      case 'undefined':
      case 'function':
      case 'symbol':
        return OMIT;
    }
    if (value === null) return null;
    const object = value as object;
    let path = ancestors;
    if (depth >= CYCLE_CHECK_DEPTH) {
      path ??= new Set();
      if (path.has(object)) {
        throw new TypeError('Converting circular structure to JSON: a value to mask contains itself');
      }
      path.add(object);
    }
    try {
      // Shared only when it is what it looks like: the value itself (no toJSON), a plain object or array.
      const mayShare = share && object === input && plain;
      if (Array.isArray(object)) {
        let array: unknown[] | undefined = mayShare ? undefined : new Array(object.length);
        for (let i = 0; i < object.length; i++) {
          const original = object[i];
          // A string item (the usual leaf) is masked here, without a call of copy for it.
          const item =
            typeof original === 'string'
              ? maskString(original, mode)
              : copy(original, String(i), mode, depth + 1, path);
          const out = item === OMIT ? null : item;
          if (array === undefined) {
            // JSON.stringify writes an omitted item as null: only a different value needs a copy.
            if (item === original || (item === OMIT && isOmitted(original))) continue;
            array = object.slice(0, i);
          }
          array[i] = out;
        }
        return array ?? object;
      }
      const record = object as Record<string, unknown>;
      let result: Record<string, unknown> | undefined = mayShare ? undefined : {};
      let spread: Record<string, unknown> | undefined;
      const names = Object.keys(record);
      // Read in one step, in the order of `names`: no keyed load per field. A getter that deletes a
      // later field (or hides it) shortens the list: then each field is read by its name instead.
      const values = Object.values(record);
      const aligned = values.length === names.length;
      const modes = mode === 'skip' ? undefined : modesOf(names);
      for (let n = 0; n < names.length; n++) {
        const name = names[n] as string;
        const original = aligned ? values[n] : record[name];
        const itemMode = modes === undefined ? 'skip' : modes[n];
        const item =
          typeof original === 'string'
            ? maskString(original, itemMode)
            : copy(original, name, itemMode, depth + 1, path);
        if (result === undefined) {
          // Unchanged, or left out as JSON.stringify would leave it out: nothing to copy yet.
          if (item === original || (item === OMIT && isOmitted(original))) continue;
          // The first change of a shared plain object: copied whole in one step (its shape kept),
          // then only what changes is written; what JSON.stringify leaves out may stay in it.
          spread = { ...record };
          result = spread;
        }
        if (spread !== undefined) {
          if (item === original) continue;
          if (item === OMIT) {
            if (!isOmitted(original)) delete spread[name];
            continue;
          }
        } else if (item === OMIT) {
          continue;
        }
        setField(result, name, item);
      }
      return result ?? object;
    } finally {
      if (path !== undefined && depth >= CYCLE_CHECK_DEPTH) path.delete(object);
    }
  };

  return (value: unknown): unknown => {
    const result = copy(value, '', undefined, 0, undefined);
    return result === OMIT ? undefined : result;
  };
}

/**
 * An array, or an object whose prototype is `Object.prototype` or `null`: copied as it is seen,
 * never a boxed primitive (whose prototype is `Number.prototype`, …).
 */
function isPlainShape(value: object): boolean {
  if (Array.isArray(value)) return true;
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

/** What JSON.stringify leaves out of an object (and writes as null in an array). */
function isOmitted(value: unknown): boolean {
  return value === undefined || typeof value === 'function' || typeof value === 'symbol';
}

function setField(target: Record<string, unknown>, name: string, value: unknown): void {
  if (name === '__proto__') {
    Object.defineProperty(target, name, { value, enumerable: true, writable: true, configurable: true });
  } else {
    target[name] = value;
  }
}
