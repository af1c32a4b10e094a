import { WeChatKitError } from '../../errors.js';

/**
 * A Pay v2 answer that is not a success: `return_code FAIL` (communication level: bad sign,
 * missing parameter — `returnMsg` says which) or `result_code FAIL` (business level:
 * `errCode` such as `ORDERPAID`, `ORDERNOTEXIST`, `SYSTEMERROR`).
 *
 * @example
 * catch (e) { if (e instanceof PayV2Error && e.errCode === 'ORDERPAID') markPaid(); }
 */
export class PayV2Error extends WeChatKitError {
  readonly returnCode: string;
  readonly returnMsg: string | undefined;
  readonly resultCode: string | undefined;
  readonly errCode: string | undefined;
  readonly errCodeDes: string | undefined;
  /** Every field of the answer (already signature-checked when `returnCode` is SUCCESS). */
  readonly fields: Readonly<Record<string, string>>;

  constructor(path: string, fields: Record<string, string>) {
    const returnCode = fields.return_code ?? '';
    const failedReturn = returnCode !== 'SUCCESS';
    const message = failedReturn
      ? `WeChat Pay v2 ${path} answered return_code ${returnCode || '(none)'}: ${fields.return_msg ?? ''}`
      : `WeChat Pay v2 ${path} answered result_code ${fields.result_code ?? ''} err_code ${fields.err_code ?? ''}: ${fields.err_code_des ?? ''}`;
    super('API_ERROR', message);
    this.returnCode = returnCode;
    this.returnMsg = fields.return_msg;
    this.resultCode = fields.result_code;
    this.errCode = fields.err_code;
    this.errCodeDes = fields.err_code_des;
    this.fields = fields;
  }

  override toJSON() {
    return {
      ...super.toJSON(),
      returnCode: this.returnCode,
      returnMsg: this.returnMsg,
      resultCode: this.resultCode,
      errCode: this.errCode,
      errCodeDes: this.errCodeDes,
    };
  }
}
