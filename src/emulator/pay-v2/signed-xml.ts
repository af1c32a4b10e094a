import { type PayV2SignType, signPayV2 } from '../../crypto/pay-v2.js';
import { buildXml, parseXml } from '../../xml/index.js';
import { rememberBody } from '../http.js';
import type { Merchant } from '../pay-v3/signing.js';
import type { EmulatorState } from '../state.js';

/** The fields of a v2 request or answer (flat XML). */
export type Fields = Record<string, string>;

/** A 200 text/xml answer. */
function xmlResponse(fields: Fields): Response {
  const response = new Response(buildXml(fields), {
    status: 200,
    headers: { 'content-type': 'text/xml; charset=utf-8' },
  });
  return rememberBody(response, fields);
}

/** Communication-level failure: `return_code=FAIL`, unsigned (as WeChat does). */
function returnFail(msg: string): Response {
  return xmlResponse({ return_code: 'FAIL', return_msg: msg });
}

/** Signed success answer (return_code SUCCESS) with business fields. */
function answer(
  state: EmulatorState,
  merchant: Merchant,
  signType: PayV2SignType,
  req: Fields,
  fields: Fields,
): Response {
  const out: Fields = {
    return_code: 'SUCCESS',
    return_msg: 'OK',
    appid: req.appid ?? '',
    mch_id: merchant.mchid,
    nonce_str: state.randomId(16),
    ...fields,
  };
  out.sign = signPayV2(out, merchant.apiV2Key, signType);
  return xmlResponse(out);
}

function businessFail(
  state: EmulatorState,
  merchant: Merchant,
  signType: PayV2SignType,
  req: Fields,
  code: string,
  des: string,
): Response {
  return answer(state, merchant, signType, req, { result_code: 'FAIL', err_code: code, err_code_des: des });
}

/** What a v2 route gets once the request parsed and its `sign` verified. */
export type V2Handler = (ctx: {
  merchant: Merchant;
  signType: PayV2SignType;
  req: Fields;
  fail: (code: string, des: string) => Response;
  ok: (fields: Fields) => Response;
}) => Response | Promise<Response>;

/**
 * Wraps a v2 route: parses the XML, checks `mch_id`, `sign_type` and `sign` (return_code FAIL
 * otherwise, unsigned as WeChat does) and the required fields (LACK_PARAMS), then dispatches.
 */
export function v2Route(state: EmulatorState, required: string[], handler: V2Handler) {
  return async (ctx: { text(): Promise<string> }) => {
    const raw = await ctx.text();
    if (raw.trim() === '') return returnFail('post数据为空');
    let parsed: Record<string, unknown>;
    try {
      parsed = parseXml(raw);
    } catch {
      return returnFail('XML格式错误');
    }
    const req: Fields = {};
    for (const [name, value] of Object.entries(parsed)) {
      if (typeof value === 'string') req[name] = value;
    }
    const merchant = state.merchant(req.mch_id);
    if (!req.mch_id) return returnFail('mch_id参数缺失');
    if (!merchant) return returnFail('商户号mch_id不存在');
    const declared = req.sign_type ?? 'MD5';
    if (declared !== 'MD5' && declared !== 'HMAC-SHA256') return returnFail('sign_type参数错误');
    const signType: PayV2SignType = declared;
    if (!req.sign || signPayV2(req, merchant.apiV2Key, signType) !== req.sign.toUpperCase())
      return returnFail('签名错误');
    for (const name of ['appid', 'nonce_str', ...required]) {
      if (!req[name]) return businessFail(state, merchant, signType, req, 'LACK_PARAMS', `缺少参数${name}`);
    }
    return handler({
      merchant,
      signType,
      req,
      fail: (code, des) => businessFail(state, merchant, signType, req, code, des),
      ok: (fields) => answer(state, merchant, signType, req, { result_code: 'SUCCESS', ...fields }),
    });
  };
}
