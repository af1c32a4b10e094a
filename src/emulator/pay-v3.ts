import { X509Certificate } from 'node:crypto';
import { encryptResource } from '../crypto/pay-v3.js';
import { controlError, json } from './http.js';
import {
  type Merchant,
  signTestMerchants,
  type V3Context,
  v3Error,
  v3Response,
  v3Route,
} from './pay-v3-auth.js';
import { registerPayV3Bills } from './pay-v3-bills.js';
import { chinaTime, notifyV3, registerNotificationLog } from './pay-v3-notify.js';
import type { Router } from './router.js';
import type { EmulatorState } from './state.js';

/**
 * WeChat Pay API v3 (api.mch.weixin.qq.com/v3/*): JSAPI and Native orders, query, close, domestic
 * refunds, the platform certificate list, bills (pay-v3-bills.ts), and the control routes that pay an order (sending
 * TRANSACTION.SUCCESS) and switch the SIGNTEST probe on. Every /v3 route checks `Authorization`
 * and every answer is signed.
 */

type TradeType = 'JSAPI' | 'NATIVE';
type TradeState = 'NOTPAY' | 'SUCCESS' | 'CLOSED' | 'REFUND';

interface Order {
  mchid: string;
  appid: string;
  out_trade_no: string;
  description: string;
  notify_url: string;
  attach?: string;
  trade_type: TradeType;
  total: number;
  currency: string;
  openid?: string;
  prepay_id?: string;
  code_url?: string;
  trade_state: TradeState;
  transaction_id?: string;
  success_time?: string;
  /** The identity of the request that created it, for idempotent re-submission. */
  fingerprint: string;
  refunded: number;
}

interface Refund {
  mchid: string;
  refund_id: string;
  out_refund_no: string;
  out_trade_no: string;
  transaction_id: string;
  reason?: string;
  notify_url?: string;
  refund: number;
  total: number;
  currency: string;
  status: 'PROCESSING' | 'SUCCESS';
  create_time: string;
  success_time?: string;
  fingerprint: string;
}

const TRADE_STATE_DESC: Record<TradeState, string> = {
  NOTPAY: '订单未支付',
  SUCCESS: '支付成功',
  CLOSED: '订单已关闭',
  REFUND: '转入退款',
};

/** Refunds settle after this long (emulated, divided by retryTimeScale like every wait). */
const REFUND_SETTLE_MS = 60_000;

function digits(n: number): string {
  let out = '';
  while (out.length < n) out += Math.floor(Math.random() * 1e9).toString();
  return out.slice(0, n);
}

function compactTime(ms: number): string {
  return chinaTime(ms).slice(0, 19).replace(/\D/g, '');
}

/** A failed validation: the field (JSON pointer) and what is wrong. */
class ParamError extends Error {
  constructor(
    readonly field: string,
    message: string,
    readonly value?: unknown,
  ) {
    super(message);
  }
}

type Json = Record<string, unknown>;

function isObject(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function str(
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

function obj(o: Json, path: string, name: string, optional = false): Json | undefined {
  const value = o[name];
  const field = `${path}/${name}`;
  if (value === undefined && optional) return undefined;
  if (!isObject(value)) throw new ParamError(field, `${field} 为必填的对象参数`, value);
  return value;
}

function positiveInt(o: Json, path: string, name: string): number {
  const value = o[name];
  const field = `${path}/${name}`;
  if (value === undefined) throw new ParamError(field, `${field} 为必填参数`);
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value <= 0)
    throw new ParamError(field, `${field} 必须是正整数（单位：分）`, value);
  return value;
}

function currency(o: Json, path: string): string {
  const c = str(o, path, 'currency', { optional: true });
  if (c !== undefined && c !== 'CNY') throw new ParamError(`${path}/currency`, '境内商户仅支持 CNY', c);
  return 'CNY';
}

const OUT_NO = /^[0-9A-Za-z_\-|*]{6,32}$/;
const NOTIFY_URL = /^https?:\/\/[^\s?#]+$/;

export function registerPayV3(router: Router, state: EmulatorState): void {
  const orders = new Map<string, Order>();
  const refunds = new Map<string, Refund>();
  const key = (mchid: string, no: string) => `${mchid}\u0000${no}`;

  const paramError = (merchant: Merchant, e: ParamError) =>
    v3Error(state, merchant, 400, 'PARAM_ERROR', e.message, {
      field: e.field,
      location: 'body',
      ...(e.value === undefined ? {} : { value: e.value }),
    });

  /** Body as JSON object, or the PARAM_ERROR to answer. */
  function parseBody(ctx: V3Context): Json | Response {
    try {
      const parsed: unknown = JSON.parse(ctx.body);
      if (isObject(parsed)) return parsed;
    } catch {
      // fall through
    }
    return v3Error(state, ctx.merchant, 400, 'PARAM_ERROR', '请求体不是合法的JSON对象', { location: 'body' });
  }

  function transactionJson(o: Order): Json {
    const paid = o.trade_state === 'SUCCESS' || o.trade_state === 'REFUND';
    return {
      appid: o.appid,
      mchid: o.mchid,
      out_trade_no: o.out_trade_no,
      ...(paid ? { transaction_id: o.transaction_id } : {}),
      trade_type: o.trade_type,
      trade_state: o.trade_state,
      trade_state_desc: TRADE_STATE_DESC[o.trade_state],
      ...(paid ? { bank_type: 'OTHERS', success_time: o.success_time } : {}),
      attach: o.attach ?? '',
      payer: paid && o.openid ? { openid: o.openid } : {},
      amount: paid
        ? { total: o.total, payer_total: o.total, currency: o.currency, payer_currency: o.currency }
        : { total: o.total, currency: o.currency, payer_currency: o.currency },
      promotion_detail: [],
    };
  }

  function createOrder(tradeType: TradeType) {
    return v3Route((ctx) => {
      const body = parseBody(ctx);
      if (body instanceof Response) return body;
      let order: Order;
      try {
        const mchid = str(body, '', 'mchid', { max: 32 }) as string;
        if (mchid !== ctx.merchant.mchid)
          throw new ParamError(
            '/mchid',
            `/mchid 与 Authorization 中的商户号 ${ctx.merchant.mchid} 不一致`,
            mchid,
          );
        const amount = obj(body, '', 'amount') as Json;
        const payer = tradeType === 'JSAPI' ? (obj(body, '', 'payer') as Json) : undefined;
        const attach = str(body, '', 'attach', { optional: true, max: 128 });
        const openid = payer ? str(payer, '/payer', 'openid', { max: 128 }) : undefined;
        order = {
          mchid,
          appid: str(body, '', 'appid', { max: 32 }) as string,
          description: str(body, '', 'description', { max: 127 }) as string,
          out_trade_no: str(body, '', 'out_trade_no', { re: OUT_NO }) as string,
          notify_url: str(body, '', 'notify_url', { max: 255, re: NOTIFY_URL }) as string,
          ...(attach === undefined ? {} : { attach }),
          trade_type: tradeType,
          total: positiveInt(amount, '/amount', 'total'),
          currency: currency(amount, '/amount'),
          ...(openid === undefined ? {} : { openid }),
          trade_state: 'NOTPAY',
          fingerprint: '',
          refunded: 0,
        };
      } catch (e) {
        if (e instanceof ParamError) return paramError(ctx.merchant, e);
        throw e;
      }
      order.fingerprint = JSON.stringify([
        order.trade_type,
        order.appid,
        order.description,
        order.notify_url,
        order.attach ?? '',
        order.total,
        order.currency,
        order.openid ?? '',
      ]);
      const existing = orders.get(key(order.mchid, order.out_trade_no));
      if (existing) {
        if (existing.trade_state === 'SUCCESS' || existing.trade_state === 'REFUND')
          return v3Error(state, ctx.merchant, 400, 'ORDERPAID', '该订单已支付');
        if (existing.trade_state === 'CLOSED')
          return v3Error(state, ctx.merchant, 400, 'ORDER_CLOSED', '该订单已关闭');
        if (existing.fingerprint !== order.fingerprint)
          return v3Error(state, ctx.merchant, 400, 'INVALID_REQUEST', '201 商户订单号重复');
        // Identical re-submission of an unpaid order: answered again with the same result.
        order = existing;
      } else {
        if (tradeType === 'JSAPI')
          order.prepay_id = `wx${compactTime(state.now())}${state.randomId(20).toLowerCase()}`;
        else order.code_url = `weixin://wxpay/bizpayurl?pr=${state.randomId(7)}`;
        orders.set(key(order.mchid, order.out_trade_no), order);
      }
      return v3Response(
        state,
        ctx.merchant,
        200,
        tradeType === 'JSAPI' ? { prepay_id: order.prepay_id } : { code_url: order.code_url },
      );
    });
  }

  router.add('POST', '/v3/pay/transactions/jsapi', createOrder('JSAPI'));
  router.add('POST', '/v3/pay/transactions/native', createOrder('NATIVE'));

  /** The `mchid` query parameter, which must be the authenticated merchant. */
  function queryMchid(ctx: V3Context): Response | undefined {
    const mchid = ctx.url.searchParams.get('mchid');
    if (mchid === null || mchid === '')
      return v3Error(state, ctx.merchant, 400, 'PARAM_ERROR', 'mchid 为必填的查询参数', {
        field: 'mchid',
        location: 'query',
      });
    if (mchid !== ctx.merchant.mchid)
      return v3Error(state, ctx.merchant, 400, 'PARAM_ERROR', `mchid 与 Authorization 中的商户号不一致`, {
        field: 'mchid',
        location: 'query',
        value: mchid,
      });
    return undefined;
  }

  const orderNotFound = (merchant: Merchant) =>
    v3Error(state, merchant, 404, 'ORDER_NOT_EXIST', '订单不存在');

  router.add(
    'GET',
    '/v3/pay/transactions/out-trade-no/:outTradeNo',
    v3Route((ctx) => {
      const bad = queryMchid(ctx);
      if (bad) return bad;
      const order = orders.get(key(ctx.merchant.mchid, ctx.params.outTradeNo as string));
      return order
        ? v3Response(state, ctx.merchant, 200, transactionJson(order))
        : orderNotFound(ctx.merchant);
    }),
  );

  router.add(
    'GET',
    '/v3/pay/transactions/id/:transactionId',
    v3Route((ctx) => {
      const bad = queryMchid(ctx);
      if (bad) return bad;
      const id = ctx.params.transactionId;
      const order = [...orders.values()].find(
        (o) => o.mchid === ctx.merchant.mchid && o.transaction_id === id,
      );
      return order
        ? v3Response(state, ctx.merchant, 200, transactionJson(order))
        : orderNotFound(ctx.merchant);
    }),
  );

  router.add(
    'POST',
    '/v3/pay/transactions/out-trade-no/:outTradeNo/close',
    v3Route((ctx) => {
      const body = parseBody(ctx);
      if (body instanceof Response) return body;
      if (body.mchid !== ctx.merchant.mchid)
        return v3Error(
          state,
          ctx.merchant,
          400,
          'PARAM_ERROR',
          body.mchid === undefined ? '/mchid 为必填参数' : '/mchid 与 Authorization 中的商户号不一致',
          { field: '/mchid', location: 'body' },
        );
      const order = orders.get(key(ctx.merchant.mchid, ctx.params.outTradeNo as string));
      if (!order) return orderNotFound(ctx.merchant);
      if (order.trade_state === 'SUCCESS' || order.trade_state === 'REFUND')
        return v3Error(state, ctx.merchant, 400, 'ORDERPAID', '订单已支付，不能关闭');
      order.trade_state = 'CLOSED';
      return v3Response(state, ctx.merchant, 204);
    }),
  );

  // ---- refunds -------------------------------------------------------------------------------

  function refundJson(r: Refund): Json {
    return {
      refund_id: r.refund_id,
      out_refund_no: r.out_refund_no,
      transaction_id: r.transaction_id,
      out_trade_no: r.out_trade_no,
      channel: 'ORIGINAL',
      user_received_account: '支付用户零钱',
      ...(r.success_time ? { success_time: r.success_time } : {}),
      create_time: r.create_time,
      status: r.status,
      funds_account: 'AVAILABLE',
      amount: {
        total: r.total,
        refund: r.refund,
        from: [],
        payer_total: r.total,
        payer_refund: r.refund,
        settlement_refund: r.refund,
        settlement_total: r.total,
        discount_refund: 0,
        currency: r.currency,
        refund_fee: 0,
      },
      promotion_detail: [],
    };
  }

  function settleRefund(merchant: Merchant, r: Refund): void {
    state.later(REFUND_SETTLE_MS / state.config.options.retryTimeScale, async () => {
      r.status = 'SUCCESS';
      r.success_time = chinaTime(state.now());
      if (r.notify_url === undefined) return;
      await notifyV3(state, {
        merchant,
        url: r.notify_url,
        event_type: 'REFUND.SUCCESS',
        summary: '退款成功',
        originalType: 'refund',
        resource: {
          mchid: r.mchid,
          out_trade_no: r.out_trade_no,
          transaction_id: r.transaction_id,
          out_refund_no: r.out_refund_no,
          refund_id: r.refund_id,
          refund_status: 'SUCCESS',
          success_time: r.success_time,
          user_received_account: '支付用户零钱',
          amount: { total: r.total, refund: r.refund, payer_total: r.total, payer_refund: r.refund },
        },
      });
    });
  }

  router.add(
    'POST',
    '/v3/refund/domestic/refunds',
    v3Route((ctx) => {
      const body = parseBody(ctx);
      if (body instanceof Response) return body;
      const { merchant } = ctx;
      let input: Omit<Refund, 'refund_id' | 'status' | 'create_time' | 'transaction_id' | 'out_trade_no'>;
      let transactionId: string | undefined;
      let outTradeNo: string | undefined;
      try {
        transactionId = str(body, '', 'transaction_id', { optional: true, max: 32 });
        outTradeNo = str(body, '', 'out_trade_no', { optional: true, max: 32 });
        if (transactionId === undefined && outTradeNo === undefined)
          throw new ParamError('/transaction_id', 'transaction_id 和 out_trade_no 必须二选一');
        const amount = obj(body, '', 'amount') as Json;
        const reason = str(body, '', 'reason', { optional: true, max: 80 });
        const notifyUrl = str(body, '', 'notify_url', { optional: true, max: 256, re: NOTIFY_URL });
        input = {
          mchid: merchant.mchid,
          out_refund_no: str(body, '', 'out_refund_no', { re: /^[0-9A-Za-z_\-|*@]{1,64}$/ }) as string,
          ...(reason === undefined ? {} : { reason }),
          ...(notifyUrl === undefined ? {} : { notify_url: notifyUrl }),
          refund: positiveInt(amount, '/amount', 'refund'),
          total: positiveInt(amount, '/amount', 'total'),
          currency: currency(amount, '/amount'),
          fingerprint: '',
        };
      } catch (e) {
        if (e instanceof ParamError) return paramError(merchant, e);
        throw e;
      }
      const order =
        outTradeNo !== undefined
          ? orders.get(key(merchant.mchid, outTradeNo))
          : [...orders.values()].find(
              (o) => o.mchid === merchant.mchid && o.transaction_id === transactionId,
            );
      if (!order || (transactionId !== undefined && order.transaction_id !== transactionId))
        return v3Error(state, merchant, 404, 'RESOURCE_NOT_EXISTS', '订单不存在');
      input.fingerprint = JSON.stringify([
        order.out_trade_no,
        input.refund,
        input.total,
        input.notify_url ?? '',
      ]);
      const existing = refunds.get(key(merchant.mchid, input.out_refund_no));
      if (existing) {
        if (existing.fingerprint !== input.fingerprint)
          return v3Error(
            state,
            merchant,
            400,
            'INVALID_REQUEST',
            '订单金额或退款金额与之前请求不一致，请核实后再试',
          );
        return v3Response(state, merchant, 200, refundJson(existing));
      }
      if (order.trade_state !== 'SUCCESS' && order.trade_state !== 'REFUND')
        return v3Error(
          state,
          merchant,
          400,
          'INVALID_REQUEST',
          `订单状态为${order.trade_state}，不能发起退款`,
        );
      if (input.total !== order.total)
        return v3Error(
          state,
          merchant,
          400,
          'INVALID_REQUEST',
          '订单金额或退款金额与之前请求不一致，请核实后再试',
          {
            field: '/amount/total',
            location: 'body',
            value: input.total,
          },
        );
      if (input.refund > order.total - order.refunded)
        return v3Error(state, merchant, 400, 'INVALID_REQUEST', '申请退款金额超过订单可退金额', {
          field: '/amount/refund',
          location: 'body',
          value: input.refund,
          refundable: order.total - order.refunded,
        });
      const refund: Refund = {
        ...input,
        refund_id: `50${digits(27)}`,
        out_trade_no: order.out_trade_no,
        transaction_id: order.transaction_id as string,
        status: 'PROCESSING',
        create_time: chinaTime(state.now()),
      };
      order.refunded += refund.refund;
      order.trade_state = 'REFUND';
      refunds.set(key(merchant.mchid, refund.out_refund_no), refund);
      settleRefund(merchant, refund);
      return v3Response(state, merchant, 200, refundJson(refund));
    }),
  );

  router.add(
    'GET',
    '/v3/refund/domestic/refunds/:outRefundNo',
    v3Route((ctx) => {
      const refund = refunds.get(key(ctx.merchant.mchid, ctx.params.outRefundNo as string));
      return refund
        ? v3Response(state, ctx.merchant, 200, refundJson(refund))
        : v3Error(state, ctx.merchant, 404, 'RESOURCE_NOT_EXISTS', '退款单不存在');
    }),
  );

  // ---- platform certificates -----------------------------------------------------------------

  router.add(
    'GET',
    '/v3/certificates',
    v3Route((ctx) => {
      // Every current certificate, newest last (after a rotation both the old and the new one,
      // until `retireOld` drops the old, as WeChat Pay lists a certificate until it expires).
      const data = state.platform.certificates.map(({ serialNo, pem }) => {
        const x509 = new X509Certificate(pem);
        return {
          serial_no: serialNo,
          effective_time: chinaTime(new Date(x509.validFrom).getTime()),
          expire_time: chinaTime(new Date(x509.validTo).getTime()),
          encrypt_certificate: encryptResource({
            apiV3Key: ctx.merchant.apiV3Key,
            plaintext: pem,
            associatedData: 'certificate',
          }),
        };
      });
      return v3Response(state, ctx.merchant, 200, { data });
    }),
  );

  // ---- control plane -------------------------------------------------------------------------

  router.add('POST', '/_emulator/pay/transactions/:outTradeNo/succeed', async (ctx) => {
    const body = ((await ctx.json()) ?? {}) as Json;
    if (!isObject(body)) return controlError(400, 'body must be a JSON object');
    const outTradeNo = ctx.params.outTradeNo as string;
    const candidates = [...orders.values()].filter(
      (o) => o.out_trade_no === outTradeNo && (body.mchid === undefined || o.mchid === body.mchid),
    );
    if (candidates.length === 0) return controlError(404, `no v3 order ${outTradeNo}`);
    if (candidates.length > 1)
      return controlError(400, `several merchants have order ${outTradeNo}: pass mchid`);
    const order = candidates[0] as Order;
    if (order.trade_state !== 'NOTPAY')
      return controlError(409, `order ${outTradeNo} is ${order.trade_state}, only NOTPAY orders can be paid`);
    const merchant = state.merchant(order.mchid) as Merchant;
    order.trade_state = 'SUCCESS';
    order.transaction_id = `42000${digits(23)}`;
    order.success_time = chinaTime(state.now());
    if (typeof body.openid === 'string' && body.openid !== '') order.openid = body.openid;
    order.openid ??= `o${state.randomId(27)}`;
    const timeoutMs = typeof body.timeoutMs === 'number' && body.timeoutMs > 0 ? body.timeoutMs : undefined;
    const deliveries = await notifyV3(state, {
      merchant,
      url: order.notify_url,
      event_type: 'TRANSACTION.SUCCESS',
      summary: '支付成功',
      originalType: 'transaction',
      resource: transactionJson(order),
      deliverTwice: body.deliverTwice === true,
      ...(timeoutMs === undefined ? {} : { timeoutMs }),
    });
    return json({ transaction: transactionJson(order), notifications: deliveries });
  });

  router.add('POST', '/_emulator/pay/signtest', async (ctx) => {
    const body = (await ctx.json()) as Json | undefined;
    if (!isObject(body) || typeof body.mchid !== 'string' || typeof body.enabled !== 'boolean')
      return controlError(400, 'body must be { "mchid": string, "enabled": boolean }');
    if (!state.merchant(body.mchid)) return controlError(404, `no merchant ${body.mchid}`);
    const set = signTestMerchants(state);
    if (body.enabled) set.add(body.mchid);
    else set.delete(body.mchid);
    return json({ mchid: body.mchid, enabled: body.enabled });
  });

  registerPayV3Bills(router, state, {
    orders: (mchid) => [...orders.values()].filter((o) => o.mchid === mchid),
    refunds: (mchid) => [...refunds.values()].filter((r) => r.mchid === mchid),
  });
  registerNotificationLog(router, state);
}
