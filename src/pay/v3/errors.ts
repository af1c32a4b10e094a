import { WeChatKitError, type WeChatKitErrorOptions } from '../../errors.js';

/**
 * WeChat Pay v3 answered a verified non-2xx status. `status` is the HTTP status, `payCode`
 * WeChat Pay's `code` (`PARAM_ERROR`, `ORDER_NOT_EXIST`, `SIGN_ERROR`, …), `detail` its optional
 * `detail` object (for `SIGN_ERROR`: `sign_information.truncated_sign_message`, which shows what
 * WeChat Pay expected you to sign), `requestId` the `Request-ID` header for support tickets.
 *
 * Only raised after the answer's signature verified: an unverifiable answer is a
 * `SignatureError`, never a `PayApiError`.
 *
 * @example
 * try { await pay.transactions.getByOutTradeNo({ out_trade_no }) } catch (e) {
 *   if (e instanceof PayApiError && e.payCode === 'ORDER_NOT_EXIST') return undefined;
 *   throw e;
 * }
 */
export class PayApiError extends WeChatKitError {
  /** HTTP status of the answer. */
  readonly status: number;
  /** WeChat Pay's error `code`, e.g. `PARAM_ERROR`; `UNKNOWN` when the body had none. */
  readonly payCode: string;
  /** WeChat Pay's error `message` (Chinese, as sent). */
  readonly payMessage: string;
  /** WeChat Pay's `detail`, when sent (field, location, value, sign_information…). */
  readonly detail: unknown;
  /** The `Request-ID` response header. */
  readonly requestId: string | undefined;
  /** Method and path (no query) of the call. */
  readonly path: string;

  constructor(
    input: {
      status: number;
      payCode: string;
      payMessage: string;
      detail?: unknown;
      requestId?: string | undefined;
      method: string;
      path: string;
    },
    options?: WeChatKitErrorOptions,
  ) {
    const hint =
      input.payCode === 'SIGN_ERROR'
        ? " — WeChat Pay refused our request signature: check mchid, merchantSerialNo (or signer.serialNo: the serial of apiclient_cert.pem) and that privateKey (or the signer's key) is the key of that certificate; detail.sign_information shows the message it expected."
        : '';
    super(
      input.status === 429 ? 'RATE_LIMITED' : 'API_ERROR',
      `WeChat Pay ${input.method} ${input.path} answered HTTP ${input.status} ${input.payCode}: ${input.payMessage}${hint}`,
      options,
    );
    this.status = input.status;
    this.payCode = input.payCode;
    this.payMessage = input.payMessage;
    this.detail = input.detail;
    this.requestId = input.requestId;
    this.path = input.path;
  }

  override toJSON() {
    return {
      ...super.toJSON(),
      status: this.status,
      payCode: this.payCode,
      payMessage: this.payMessage,
      detail: this.detail,
      requestId: this.requestId,
      path: this.path,
    };
  }
}

/**
 * A downloaded bill does not match the `hash_value` of the (verified) bill answer — the SHA1 of
 * the bill itself, after decompression for a GZIP bill — or a GZIP bill does not decompress: the
 * file was altered or truncated on the way. Download it again; never use the bytes.
 *
 * @example
 * catch (e) { if (e instanceof BillHashError) retryLater(); }
 */
export class BillHashError extends WeChatKitError {
  /** `hash_type` of the bill answer (`SHA1`). */
  readonly hashType: string;
  readonly expected: string;
  /** The digest of what was downloaded; `''` when a GZIP bill did not decompress. */
  readonly actual: string;

  constructor(hashType: string, expected: string, actual: string, options?: WeChatKitErrorOptions) {
    super(
      'BAD_RESPONSE',
      actual === ''
        ? `the downloaded GZIP bill does not decompress, so its ${hashType} cannot match ${expected}: the file was altered or truncated in transit; download it again and do not use these bytes`
        : `the downloaded bill's ${hashType} is ${actual}, but the bill answer announced ${expected}: the file was altered or truncated in transit; download it again and do not use these bytes`,
      options,
    );
    this.hashType = hashType;
    this.expected = expected;
    this.actual = actual;
  }
}
