import { TransportError } from '../../errors.js';
import { PayApiError } from './errors.js';

/** One answer exactly as received: status, headers, raw body bytes (nothing parsed yet). */
export interface RawAnswer {
  status: number;
  headers: Headers;
  bytes: Uint8Array;
}

/** Parses the JSON of a verified answer, or fails with BAD_RESPONSE (an empty body gives `undefined`). */
export function parseVerifiedJson(answer: RawAnswer, method: string, path: string): unknown {
  if (answer.bytes.length === 0) return undefined;
  const text = new TextDecoder().decode(answer.bytes);
  try {
    return JSON.parse(text);
  } catch {
    throw new TransportError(
      'BAD_RESPONSE',
      `WeChat Pay ${method} ${path} answered HTTP ${answer.status} with a signed body that is not JSON (${answer.bytes.length} bytes)`,
      { status: answer.status },
    );
  }
}

/** The `PayApiError` of a verified non-2xx answer. */
export function payApiErrorOf(answer: RawAnswer, method: string, path: string): PayApiError {
  let body: unknown;
  try {
    body = parseVerifiedJson(answer, method, path);
  } catch {
    body = undefined;
  }
  const fields = typeof body === 'object' && body !== null ? (body as Record<string, unknown>) : {};
  const payCode = typeof fields.code === 'string' && fields.code !== '' ? fields.code : 'UNKNOWN';
  const payMessage = typeof fields.message === 'string' ? fields.message : '';
  return new PayApiError({
    status: answer.status,
    payCode,
    payMessage,
    ...(fields.detail === undefined ? {} : { detail: fields.detail }),
    requestId: answer.headers.get('request-id') ?? undefined,
    method,
    path,
  });
}

/** True when an answer carries none of the `Wechatpay-*` signature headers (e.g. a gateway's 502). */
export function isUnsigned(headers: Headers): boolean {
  return (
    !headers.has('wechatpay-signature') &&
    !headers.has('wechatpay-serial') &&
    !headers.has('wechatpay-timestamp') &&
    !headers.has('wechatpay-nonce')
  );
}
