import { type PayV2SignType, signPayV2 } from '../crypto/pay-v2.js';
import { buildXml, parseXml } from '../xml/index.js';
import { controlError, json } from './http.js';
import type { Merchant } from './pay-v3-auth.js';
import { chinaTime, deliver } from './pay-v3-notify.js';
import type { Router } from './router.js';
import type { EmulatorState } from './state.js';

/**
 * WeChat Pay API v2 (api.mch.weixin.qq.com/pay/*, XML): unified order, order query, close, refund
 * and refund query, each checking `sign` (MD5 or HMAC-SHA256 per `sign_type`) with the merchant's
 * APIv2 key and answering signed XML. v2 orders are kept apart from v3 orders.
 * `/secapi/pay/refund` needs the merchant certificate (mutual TLS) on the real host; the emulator
 * serves plain HTTP and does not check it.
 */

type Fields = Record<string, string>;

interface V2Order {
  mch_id: string;
  appid: string;
  out_trade_no: string;
  body: string;
  total_fee: number;
  trade_type: string;
  notify_url: string;
  openid?: string;
  attach?: string;
  prepay_id: string;
  code_url?: string;
  trade_state: 'NOTPAY' | 'SUCCESS' | 'CLOSED' | 'REFUND';
  transaction_id?: string;
  time_end?: string;
  refunded: number;
  fingerprint: string;
  signType: PayV2SignType;
}

interface V2Refund {
  out_refund_no: string;
  refund_id: string;
  refund_fee: number;
  status: 'PROCESSING' | 'SUCCESS';
  success_time?: string;
}

const TRADE_STATE_DESC = {
  NOTPAY: '订单未支付',
  SUCCESS: '支付成功',
  CLOSED: '订单已关闭',
  REFUND: '订单转入退款',
} as const;

const REFUND_SETTLE_MS = 60_000;

function xmlResponse(fields: Fields): Response {
  return new Response(buildXml(fields), {
    status: 200,
    headers: { 'content-type': 'text/xml; charset=utf-8' },
  });
}

/** Communication-level failure: `return_code=FAIL`, unsigned (as WeChat does). */
function returnFail(msg: string): Response {
  return xmlResponse({ return_code: 'FAIL', return_msg: msg });
}

function digits(n: number): string {
  let out = '';
  while (out.length < n) out += Math.floor(Math.random() * 1e9).toString();
  return out.slice(0, n);
}

/** `yyyyMMddHHmmss` in China time. */
function v2Time(ms: number): string {
  return chinaTime(ms).slice(0, 19).replace(/\D/g, '');
}

export function registerPayV2(router: Router, state: EmulatorState): void {
  const orders = new Map<string, V2Order>();
  const refunds = new Map<string, V2Refund[]>();
  const key = (mchid: string, no: string) => `${mchid}\u0000${no}`;

  /** Signed success answer (return_code SUCCESS) with business fields. */
  function answer(merchant: Merchant, signType: PayV2SignType, req: Fields, fields: Fields): Response {
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

  function businessFail(merchant: Merchant, signType: PayV2SignType, req: Fields, code: string, des: string) {
    return answer(merchant, signType, req, { result_code: 'FAIL', err_code: code, err_code_des: des });
  }

  type Handler = (ctx: {
    merchant: Merchant;
    signType: PayV2SignType;
    req: Fields;
    fail: (code: string, des: string) => Response;
    ok: (fields: Fields) => Response;
  }) => Response | Promise<Response>;

  /** Parses, authenticates (sign) and dispatches a v2 call. */
  function v2Route(required: string[], handler: Handler) {
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
        if (!req[name]) return businessFail(merchant, signType, req, 'LACK_PARAMS', `缺少参数${name}`);
      }
      return handler({
        merchant,
        signType,
        req,
        fail: (code, des) => businessFail(merchant, signType, req, code, des),
        ok: (fields) => answer(merchant, signType, req, { result_code: 'SUCCESS', ...fields }),
      });
    };
  }

  function findOrder(mchid: string, req: Fields): V2Order | undefined {
    if (req.transaction_id)
      return [...orders.values()].find((o) => o.mch_id === mchid && o.transaction_id === req.transaction_id);
    return req.out_trade_no ? orders.get(key(mchid, req.out_trade_no)) : undefined;
  }

  router.add(
    'POST',
    '/pay/unifiedorder',
    v2Route(
      ['body', 'out_trade_no', 'total_fee', 'spbill_create_ip', 'notify_url', 'trade_type'],
      ({ merchant, signType, req, fail, ok }) => {
        const total = Number(req.total_fee);
        if (!/^[1-9]\d*$/.test(req.total_fee as string) || !Number.isSafeInteger(total))
          return fail('PARAM_ERROR', 'total_fee 必须是正整数（分）');
        const tradeType = req.trade_type as string;
        if (!['JSAPI', 'NATIVE', 'APP', 'MWEB'].includes(tradeType))
          return fail('PARAM_ERROR', 'trade_type 参数错误');
        if (tradeType === 'JSAPI' && !req.openid)
          return fail('LACK_PARAMS', 'trade_type=JSAPI时，openid为必填参数');
        if (tradeType === 'NATIVE' && !req.product_id)
          return fail('LACK_PARAMS', 'trade_type=NATIVE时，product_id为必填参数');
        const fingerprint = JSON.stringify([
          req.appid,
          req.body,
          total,
          tradeType,
          req.notify_url,
          req.openid ?? '',
          req.attach ?? '',
        ]);
        const existing = orders.get(key(merchant.mchid, req.out_trade_no as string));
        let order: V2Order;
        if (existing) {
          if (existing.trade_state === 'SUCCESS' || existing.trade_state === 'REFUND')
            return fail('ORDERPAID', '该订单已支付');
          if (existing.trade_state === 'CLOSED') return fail('ORDERCLOSED', '该订单已关闭');
          if (existing.fingerprint !== fingerprint) return fail('INVALID_REQUEST', '201 商户订单号重复');
          order = existing;
        } else {
          order = {
            mch_id: merchant.mchid,
            appid: req.appid as string,
            out_trade_no: req.out_trade_no as string,
            body: req.body as string,
            total_fee: total,
            trade_type: tradeType,
            notify_url: req.notify_url as string,
            ...(req.openid ? { openid: req.openid } : {}),
            ...(req.attach ? { attach: req.attach } : {}),
            prepay_id: `wx${v2Time(state.now())}${state.randomId(20).toLowerCase()}`,
            ...(tradeType === 'NATIVE'
              ? { code_url: `weixin://wxpay/bizpayurl?pr=${state.randomId(7)}` }
              : {}),
            trade_state: 'NOTPAY',
            refunded: 0,
            fingerprint,
            signType,
          };
          orders.set(key(merchant.mchid, order.out_trade_no), order);
        }
        return ok({
          trade_type: order.trade_type,
          prepay_id: order.prepay_id,
          ...(order.code_url ? { code_url: order.code_url } : {}),
        });
      },
    ),
  );

  function orderFields(o: V2Order): Fields {
    const paid = o.trade_state === 'SUCCESS' || o.trade_state === 'REFUND';
    return {
      out_trade_no: o.out_trade_no,
      trade_state: o.trade_state,
      trade_state_desc: TRADE_STATE_DESC[o.trade_state],
      total_fee: String(o.total_fee),
      fee_type: 'CNY',
      ...(o.attach ? { attach: o.attach } : {}),
      ...(paid
        ? {
            openid: o.openid ?? '',
            is_subscribe: 'N',
            trade_type: o.trade_type,
            bank_type: 'OTHERS',
            cash_fee: String(o.total_fee),
            transaction_id: o.transaction_id ?? '',
            time_end: o.time_end ?? '',
          }
        : {}),
    };
  }

  router.add(
    'POST',
    '/pay/orderquery',
    v2Route([], ({ merchant, req, fail, ok }) => {
      if (!req.out_trade_no && !req.transaction_id)
        return fail('LACK_PARAMS', 'transaction_id 和 out_trade_no 至少填一个');
      const order = findOrder(merchant.mchid, req);
      return order ? ok(orderFields(order)) : fail('ORDERNOTEXIST', '订单不存在');
    }),
  );

  router.add(
    'POST',
    '/pay/closeorder',
    v2Route(['out_trade_no'], ({ merchant, req, fail, ok }) => {
      const order = orders.get(key(merchant.mchid, req.out_trade_no as string));
      if (!order) return fail('ORDERNOTEXIST', '订单不存在');
      if (order.trade_state === 'SUCCESS' || order.trade_state === 'REFUND')
        return fail('ORDERPAID', '订单已支付');
      if (order.trade_state === 'CLOSED') return fail('ORDERCLOSED', '订单已关闭');
      order.trade_state = 'CLOSED';
      return ok({ result_msg: 'OK' });
    }),
  );

  router.add(
    'POST',
    '/secapi/pay/refund',
    v2Route(['out_refund_no', 'total_fee', 'refund_fee'], ({ merchant, req, fail, ok }) => {
      if (!req.out_trade_no && !req.transaction_id)
        return fail('LACK_PARAMS', 'transaction_id 和 out_trade_no 至少填一个');
      const order = findOrder(merchant.mchid, req);
      if (!order) return fail('ORDERNOTEXIST', '订单不存在');
      const total = Number(req.total_fee);
      const amount = Number(req.refund_fee);
      if (!Number.isSafeInteger(amount) || amount <= 0)
        return fail('PARAM_ERROR', 'refund_fee 必须是正整数（分）');
      const list = refunds.get(key(merchant.mchid, order.out_trade_no)) ?? [];
      const prior = list.find((r) => r.out_refund_no === req.out_refund_no);
      const fields = (r: V2Refund): Fields => ({
        transaction_id: order.transaction_id ?? '',
        out_trade_no: order.out_trade_no,
        out_refund_no: r.out_refund_no,
        refund_id: r.refund_id,
        refund_fee: String(r.refund_fee),
        total_fee: String(order.total_fee),
        cash_fee: String(order.total_fee),
        cash_refund_fee: String(r.refund_fee),
      });
      if (prior) {
        if (prior.refund_fee !== amount || total !== order.total_fee)
          return fail('INVALID_REQUEST', '订单金额或退款金额与之前请求不一致，请核实后再试');
        return ok(fields(prior));
      }
      if (order.trade_state !== 'SUCCESS' && order.trade_state !== 'REFUND')
        return fail('TRADE_STATE_ERROR', '订单状态错误');
      if (total !== order.total_fee)
        return fail('INVALID_REQUEST', '订单金额或退款金额与之前请求不一致，请核实后再试');
      if (amount > order.total_fee - order.refunded)
        return fail('INVALID_REQUEST', '申请退款金额超过订单可退金额');
      const refund: V2Refund = {
        out_refund_no: req.out_refund_no as string,
        refund_id: `50${digits(27)}`,
        refund_fee: amount,
        status: 'PROCESSING',
      };
      list.push(refund);
      refunds.set(key(merchant.mchid, order.out_trade_no), list);
      order.refunded += amount;
      order.trade_state = 'REFUND';
      state.later(REFUND_SETTLE_MS / state.config.options.retryTimeScale, () => {
        refund.status = 'SUCCESS';
        refund.success_time = chinaTime(state.now()).slice(0, 19).replace('T', ' ');
      });
      return ok(fields(refund));
    }),
  );

  router.add(
    'POST',
    '/pay/refundquery',
    v2Route([], ({ merchant, req, fail, ok }) => {
      let order: V2Order | undefined;
      let list: V2Refund[] = [];
      if (req.out_refund_no || req.refund_id) {
        for (const o of orders.values()) {
          if (o.mch_id !== merchant.mchid) continue;
          const found = (refunds.get(key(o.mch_id, o.out_trade_no)) ?? []).filter(
            (r) => r.out_refund_no === req.out_refund_no || r.refund_id === req.refund_id,
          );
          if (found.length) {
            order = o;
            list = found;
            break;
          }
        }
      } else if (req.out_trade_no || req.transaction_id) {
        order = findOrder(merchant.mchid, req);
        if (order) list = refunds.get(key(merchant.mchid, order.out_trade_no)) ?? [];
      } else {
        return fail('LACK_PARAMS', 'out_refund_no、refund_id、out_trade_no、transaction_id 至少填一个');
      }
      if (!order || list.length === 0) return fail('REFUNDNOTEXIST', '退款订单查询失败');
      const fields: Fields = {
        transaction_id: order.transaction_id ?? '',
        out_trade_no: order.out_trade_no,
        total_fee: String(order.total_fee),
        cash_fee: String(order.total_fee),
        refund_count: String(list.length),
      };
      list.forEach((r, n) => {
        fields[`out_refund_no_${n}`] = r.out_refund_no;
        fields[`refund_id_${n}`] = r.refund_id;
        fields[`refund_fee_${n}`] = String(r.refund_fee);
        fields[`refund_status_${n}`] = r.status;
        fields[`refund_channel_${n}`] = 'ORIGINAL';
        fields[`refund_recv_accout_${n}`] = '支付用户的零钱';
        if (r.success_time) fields[`refund_success_time_${n}`] = r.success_time;
      });
      return ok(fields);
    }),
  );

  // Control: pay a v2 order and send the v2 payment notification (signed XML) to its notify_url.
  router.add('POST', '/_emulator/pay/v2/transactions/:outTradeNo/succeed', async (ctx) => {
    const body = ((await ctx.json()) ?? {}) as Record<string, unknown>;
    const outTradeNo = ctx.params.outTradeNo as string;
    const candidates = [...orders.values()].filter(
      (o) => o.out_trade_no === outTradeNo && (body.mch_id === undefined || o.mch_id === body.mch_id),
    );
    if (candidates.length !== 1)
      return controlError(candidates.length ? 400 : 404, `no unique v2 order ${outTradeNo} (pass mch_id)`);
    const order = candidates[0] as V2Order;
    if (order.trade_state !== 'NOTPAY')
      return controlError(409, `order ${outTradeNo} is ${order.trade_state}`);
    const merchant = state.merchant(order.mch_id) as Merchant;
    order.trade_state = 'SUCCESS';
    order.transaction_id = `42000${digits(23)}`;
    order.time_end = v2Time(state.now());
    order.openid ??= `o${state.randomId(27)}`;
    const notice: Fields = {
      return_code: 'SUCCESS',
      appid: order.appid,
      mch_id: order.mch_id,
      nonce_str: state.randomId(16),
      result_code: 'SUCCESS',
      openid: order.openid,
      is_subscribe: 'N',
      trade_type: order.trade_type,
      bank_type: 'OTHERS',
      total_fee: String(order.total_fee),
      fee_type: 'CNY',
      cash_fee: String(order.total_fee),
      transaction_id: order.transaction_id,
      out_trade_no: order.out_trade_no,
      ...(order.attach ? { attach: order.attach } : {}),
      time_end: order.time_end,
    };
    notice.sign = signPayV2(notice, merchant.apiV2Key, order.signType);
    const xml = buildXml(notice);
    const delivery = await deliver(state, {
      notificationId: order.transaction_id,
      mchid: order.mch_id,
      event_type: 'V2.TRANSACTION.SUCCESS',
      url: order.notify_url,
      body: xml,
      headers: () => ({ 'Content-Type': 'text/xml' }),
      // Acknowledged by <return_code>SUCCESS</return_code> in a 200 answer.
      accept: (status, text) => {
        if (status !== 200) return false;
        try {
          return parseXml(text).return_code === 'SUCCESS';
        } catch {
          return false;
        }
      },
      timeoutMs: state.config.options.pushTimeoutMs,
    });
    return json({ order: orderFields(order), notification: delivery });
  });
}
