/**
 * Request ids shared by every server-side pipeline (guard routes, callbacks, Pay notifications):
 * the trace id of a valid W3C `traceparent` header, so the id matches the caller's trace, else a
 * new 32-hex-digit id.
 */

// W3C Trace Context: version-traceid-parentid-flags, lower-case hex; all-zero ids are invalid.
const TRACEPARENT = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(?:-|$)/;

/** The trace id of a `traceparent` value, or `undefined` when it is absent or malformed. */
export function traceIdOf(value: string | undefined): string | undefined {
  if (value === undefined || value.length > 512) return undefined;
  const text = value.trim();
  const match = TRACEPARENT.exec(text);
  if (match === null) return undefined;
  const [, version, traceId, parentId] = match as unknown as [string, string, string, string];
  // Version ff is forbidden; version 00 has exactly four fields.
  if (version === 'ff' || (version === '00' && text.length !== 55)) return undefined;
  if (/^0+$/.test(traceId) || /^0+$/.test(parentId)) return undefined;
  return traceId;
}

/** The first value of a header as Node or the Fetch API gives it. */
export function firstHeader(
  headers: Record<string, string | string[] | undefined> | Headers | undefined,
  name: string,
): string | undefined {
  if (headers === undefined || headers === null) return undefined;
  if (typeof (headers as Headers).get === 'function') return (headers as Headers).get(name) ?? undefined;
  const value = (headers as Record<string, string | string[] | undefined>)[name];
  return Array.isArray(value) ? value[0] : value;
}

/**
 * Makes request ids: the trace id of a valid `traceparent`, else 32 hex digits cut from a pooled
 * random block (768 ids per call for random bytes, whose fixed cost is far above that of the bytes).
 * The block is turned into hex text once and each id is a slice of it: V8 makes that a view of the
 * text rather than encoding 16 bytes per request (a kept id keeps the 24 KiB text alive, about what
 * 768 ids take anyway). Ids only need to be unique, not secret.
 */
export class RequestIds {
  #pool = '';
  #offset = 0;
  readonly #random: (size: number) => Uint8Array;

  constructor(random: (size: number) => Uint8Array) {
    this.#random = random;
  }

  /** The id of a request whose `traceparent` header is `traceparent`. */
  next(traceparent: string | undefined): string {
    const traceId = traceIdOf(traceparent);
    if (traceId !== undefined) return traceId;
    if (this.#offset + 32 > this.#pool.length) {
      this.#pool = Buffer.from(this.#random(12_288)).toString('hex');
      this.#offset = 0;
    }
    const id = this.#pool.slice(this.#offset, this.#offset + 32);
    this.#offset += 32;
    return id;
  }
}
