/**
 * The emulator's content-security rules: which texts `msg_sec_check` and which media URLs
 * `media_check_async` find risky (or to review), with which label. Deterministic by design:
 * WeChat's models are not reproduced, a test states what is risky.
 */
import { ConfigError } from '../../errors.js';

/** One rule: content containing `contains` (case-insensitive) gets `suggest` and `label`. */
export interface EmulatorContentRule {
  /** Matched case-insensitively: in `content`, `title`, `nickname`, `signature`; or in the percent-decoded `media_url`. */
  contains: string;
  /** `risky` (default) or `review`. */
  suggest?: 'risky' | 'review';
  /**
   * The label (命中标签): 10001 ads, 20001 politics, 20002 pornography, 20003 abuse, 20006 crime,
   * 20008 fraud, 20012 vulgarity, 20013 copyright, 21000 other (media: 20001, 20002, 20006, 21000).
   */
  label: number;
}

/** `options.contentSecurity`: the rules, first match wins; nothing matched is `pass` (label 100). */
export interface EmulatorContentSecurityOptions {
  /** For `msg_sec_check` (default: `违规` and `forbidden`, risky, label 20006). */
  textRules?: EmulatorContentRule[];
  /** For `media_check_async` (default: `risky`, `违规` and `forbidden` in the URL, risky, label 20002). */
  mediaRules?: EmulatorContentRule[];
}

/** Rules with every default filled in. */
export interface ResolvedContentRules {
  textRules: Array<Required<EmulatorContentRule>>;
  mediaRules: Array<Required<EmulatorContentRule>>;
}

/** The default text rules: words that make `msg_sec_check` answer `risky`, label 20006 (违法犯罪). */
export const DEFAULT_TEXT_RULES: ReadonlyArray<Required<EmulatorContentRule>> = [
  { contains: '违规', suggest: 'risky', label: 20006 },
  { contains: 'forbidden', suggest: 'risky', label: 20006 },
];

/** The default media rules: URLs whose verdict is `risky`, label 20002 (色情). */
export const DEFAULT_MEDIA_RULES: ReadonlyArray<Required<EmulatorContentRule>> = [
  { contains: 'risky', suggest: 'risky', label: 20002 },
  { contains: '违规', suggest: 'risky', label: 20002 },
  { contains: 'forbidden', suggest: 'risky', label: 20002 },
];

const RULE_KEYS = new Set(['contains', 'suggest', 'label']);

/** Checks a list of rules; throws a message naming the field (`where[i].label: …`). */
export function resolveContentRules(value: unknown, where: string): Array<Required<EmulatorContentRule>> {
  if (!Array.isArray(value)) throw new Error(`${where}: must be an array of { contains, suggest?, label }`);
  return value.map((rule, i) => {
    const at = `${where}[${i}]`;
    if (typeof rule !== 'object' || rule === null || Array.isArray(rule)) {
      throw new Error(`${at}: must be an object { contains, suggest?, label }`);
    }
    for (const key of Object.keys(rule)) {
      if (!RULE_KEYS.has(key))
        throw new Error(`${at}: unknown key "${key}" (allowed: contains, suggest, label)`);
    }
    const r = rule as Partial<EmulatorContentRule>;
    if (typeof r.contains !== 'string' || r.contains === '') {
      throw new Error(`${at}.contains: must be a non-empty string`);
    }
    const suggest = r.suggest ?? 'risky';
    if (suggest !== 'risky' && suggest !== 'review')
      throw new Error(`${at}.suggest: must be "risky" or "review"`);
    if (typeof r.label !== 'number' || !Number.isInteger(r.label) || r.label === 100) {
      throw new Error(`${at}.label: must be an integer label other than 100 (normal), e.g. 20001`);
    }
    return { contains: r.contains, suggest, label: r.label };
  });
}

/** `options.contentSecurity` of the emulator config, with the defaults. */
export function resolveContentSecurityOptions(value: unknown): ResolvedContentRules {
  const where = 'emulator config options.contentSecurity';
  if (value === undefined)
    return { textRules: [...DEFAULT_TEXT_RULES], mediaRules: [...DEFAULT_MEDIA_RULES] };
  try {
    if (typeof value !== 'object' || value === null || Array.isArray(value)) {
      throw new Error(`${where}: must be an object { textRules?, mediaRules? }`);
    }
    for (const key of Object.keys(value)) {
      if (key !== 'textRules' && key !== 'mediaRules') {
        throw new Error(`${where}: unknown key "${key}" (allowed: textRules, mediaRules)`);
      }
    }
    const o = value as EmulatorContentSecurityOptions;
    return {
      textRules:
        o.textRules === undefined
          ? [...DEFAULT_TEXT_RULES]
          : resolveContentRules(o.textRules, `${where}.textRules`),
      mediaRules:
        o.mediaRules === undefined
          ? [...DEFAULT_MEDIA_RULES]
          : resolveContentRules(o.mediaRules, `${where}.mediaRules`),
    };
  } catch (error) {
    throw new ConfigError('INVALID_CONFIG', (error as Error).message);
  }
}

/** The first rule whose `contains` one of `texts` holds (case-insensitive), if any. */
export function matchRule(
  rules: ReadonlyArray<Required<EmulatorContentRule>>,
  texts: readonly string[],
): Required<EmulatorContentRule> | undefined {
  const lowered = texts.map((t) => t.toLowerCase());
  return rules.find((rule) => {
    const word = rule.contains.toLowerCase();
    return lowered.some((t) => t.includes(word));
  });
}
