import { isJsonObject } from '../api-route.js';
import type { EmulatorState } from '../state.js';
import { chinaTime } from './notifications.js';
import { type Merchant, type V3Context, v3Error } from './signing.js';

/*
 * Request validation shared by the Pay v3 routes (each failure names its field as a JSON pointer,
 * as WeChat Pay's PARAM_ERROR detail does), and the identifiers they mint.
 */

/** `n` random decimal digits (transaction and refund ids). */
export function digits(n: number): string {
  let out = '';
  while (out.length < n) out += Math.floor(Math.random() * 1e9).toString();
  return out.slice(0, n);
}

/** `yyyyMMddHHmmss` in China time (inside prepay_id; v2 `time_end`). */
export function compactTime(ms: number): string {
  return chinaTime(ms).slice(0, 19).replace(/\D/g, '');
}

/** A failed validation: the field (JSON pointer) and what is wrong. */
export class ParamError extends Error {
  constructor(
    readonly field: string,
    message: string,
    readonly value?: unknown,
  ) {
    super(message);
  }
}

/** A JSON object of a request or answer. */
export type Json = Record<string, unknown>;

/** A string field (`optional`, `max` characters, matching `re`), or a ParamError. */
export function str(
  obj: Json,
  path: string,
  name: string,
  opts: { max?: number; optional?: boolean; re?: RegExp } = {},
) {
  const value = obj[name];
  const field = `${path}/${name}`;
  if (value === undefined || value === null) {
    if (opts.optional) return undefined;
    throw new ParamError(field, `${field} 为必填参数`);
  }
  if (typeof value !== 'string' || value === '')
    throw new ParamError(field, `${field} 必须是非空字符串`, value);
  if (opts.max !== undefined && [...value].length > opts.max)
    throw new ParamError(field, `${field} 长度不能超过 ${opts.max}`, value);
  if (opts.re && !opts.re.test(value)) throw new ParamError(field, `${field} 格式错误`, value);
  return value;
}

/** An object field, or a ParamError. */
export function obj(o: Json, path: string, name: string, optional = false): Json | undefined {
  const value = o[name];
  const field = `${path}/${name}`;
  if (value === undefined && optional) return undefined;
  if (!isJsonObject(value)) throw new ParamError(field, `${field} 为必填的对象参数`, value);
  return value;
}

/** A positive integer field (amounts in fen), or a ParamError. */
export function positiveInt(o: Json, path: string, name: string): number {
  const value = o[name];
  const field = `${path}/${name}`;
  if (value === undefined) throw new ParamError(field, `${field} 为必填参数`);
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value <= 0)
    throw new ParamError(field, `${field} 必须是正整数（单位：分）`, value);
  return value;
}

/** The `currency` of an amount: CNY (the default) only, as for domestic merchants. */
export function currency(o: Json, path: string): string {
  const c = str(o, path, 'currency', { optional: true });
  if (c !== undefined && c !== 'CNY') throw new ParamError(`${path}/currency`, '境内商户仅支持 CNY', c);
  return 'CNY';
}

/** out_trade_no: 6–32 of digits, letters and _-|*. */
export const OUT_NO = /^[0-9A-Za-z_\-|*]{6,32}$/;
/** An http(s) URL without query or fragment, as notify_url must be. */
export const NOTIFY_URL = /^https?:\/\/[^\s?#]+$/;

/** The signed 400 PARAM_ERROR naming the field of a failed validation. */
export const paramError = (state: EmulatorState, merchant: Merchant, e: ParamError): Response =>
  v3Error(state, merchant, 400, 'PARAM_ERROR', e.message, {
    field: e.field,
    location: 'body',
    ...(e.value === undefined ? {} : { value: e.value }),
  });

/** Body as JSON object, or the PARAM_ERROR to answer. */
export function parseBody(state: EmulatorState, ctx: V3Context): Json | Response {
  try {
    const parsed: unknown = JSON.parse(ctx.body);
    if (isJsonObject(parsed)) return parsed;
  } catch {
    // fall through
  }
  return v3Error(state, ctx.merchant, 400, 'PARAM_ERROR', '请求体不是合法的JSON对象', { location: 'body' });
}
