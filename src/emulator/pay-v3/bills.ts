import { createHash } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import type { Router } from '../router.js';
import type { EmulatorState } from '../state.js';
import { requestId, type V3Context, v3Error, v3Response, v3Route } from './signing.js';

/**
 * WeChat Pay v3 bills: `GET /v3/bill/tradebill` and `GET /v3/bill/fundflowbill` answer
 * `{hash_type, hash_value, download_url}`; the signed `GET /v3/billdownload/file?token=` serves the
 * file — unsigned, as WeChat Pay does ("该接口响应的信息请求头中不包含微信接口响应的签名值"). With
 * `tar_type=GZIP` the file is gzip-compressed, and `hash_value` stays the SHA1 of the bill itself:
 * "原始账单(gzip需要解压缩)的摘要值" (申请交易账单 / 申请资金账单).
 *
 * The bill lists the emulator's own orders and refunds of that day (China time), in the official
 * layout: detail header, one row per record with every field prefixed by a backtick, summary header,
 * summary row. The fee columns are zero (the emulator charges no fee). A bill of any date can be
 * requested, today's included, and is empty when nothing happened that day.
 */

/** What a trade bill needs of an order (the emulator's order records have these fields). */
export interface BillOrder {
  mchid: string;
  appid: string;
  out_trade_no: string;
  description: string;
  attach?: string;
  trade_type: string;
  total: number;
  openid?: string;
  transaction_id?: string;
  success_time?: string;
}

/** What a bill needs of a refund. */
export interface BillRefund {
  mchid: string;
  refund_id: string;
  out_refund_no: string;
  out_trade_no: string;
  transaction_id: string;
  refund: number;
  status: string;
  create_time: string;
  success_time?: string;
}

/** The records bills are made from, read when a bill is requested. */
export interface BillSources {
  orders(mchid: string): BillOrder[];
  refunds(mchid: string): BillRefund[];
}

/** A download link lives 5 minutes (emulated time), as the official `download_url` does. */
const LINK_TTL_MS = 5 * 60_000;
const BILL_DATE = /^(\d{4})-(\d{2})-(\d{2})$/;
const TRADE_BILL_TYPES = new Set(['ALL', 'SUCCESS', 'REFUND']);
const ACCOUNT_TYPES = new Set(['BASIC', 'OPERATION', 'FEES']);

// The documented detail and summary headers of each bill type (交易账单 ALL / SUCCESS / REFUND, 资金账单).
const TRADE_HEADERS: Record<string, { detail: string[]; summary: string[] }> = {
  ALL: {
    detail:
      '交易时间,公众账号ID,商户号,特约商户号,设备号,微信订单号,商户订单号,用户标识,交易类型,交易状态,付款银行,货币种类,应结订单金额,代金券金额,微信退款单号,商户退款单号,退款金额,充值券退款金额,退款类型,退款状态,商品名称,商户数据包,手续费,费率,订单金额,申请退款金额,费率备注'.split(
        ',',
      ),
    summary:
      '总交易单数,应结订单总金额,退款总金额,充值券退款总金额,手续费总金额,订单总金额,申请退款总金额'.split(
        ',',
      ),
  },
  SUCCESS: {
    detail:
      '交易时间,公众账号ID,商户号,特约商户号,设备号,微信订单号,商户订单号,用户标识,交易类型,交易状态,付款银行,货币种类,应结订单金额,代金券金额,商品名称,商户数据包,手续费,费率,订单金额,费率备注'.split(
        ',',
      ),
    summary: '总交易单数,应结订单总金额,手续费总金额,订单总金额'.split(','),
  },
  REFUND: {
    detail:
      '交易时间,公众账号ID,商户号,特约商户号,设备号,微信订单号,商户订单号,用户标识,交易类型,交易状态,付款银行,货币种类,应结订单金额,代金券金额,退款申请时间,退款成功时间,微信退款单号,商户退款单号,退款金额,充值券退款金额,退款类型,退款状态,商品名称,商户数据包,手续费,费率,订单金额,申请退款金额,费率备注'.split(
        ',',
      ),
    summary:
      '总交易单数,应结订单总金额,退款总金额,充值券退款总金额,手续费总金额,订单总金额,申请退款总金额'.split(
        ',',
      ),
  },
};

const FUND_DETAIL =
  '记账时间,微信支付业务单号,资金流水单号,业务名称,业务类型,收支类型,收支金额(元),账户结余(元),资金变更提交申请人,备注,业务凭证号'.split(
    ',',
  );
const FUND_SUMMARY = '资金流水总笔数,收入笔数,收入金额,支出笔数,支出金额'.split(',');

/** Fen → yuan with 2 decimals, as bills write amounts. */
function yuan(fen: number): string {
  return (fen / 100).toFixed(2);
}

/** `2026-01-01T10:00:00+08:00` → `2026-01-01 10:00:00` (bills write China time without zone). */
function billTime(rfc3339: string): string {
  return rfc3339.slice(0, 19).replace('T', ' ');
}

/** The China-time day of an RFC 3339 time the emulator wrote (always `+08:00`). */
function dayOf(rfc3339: string | undefined): string | undefined {
  return rfc3339?.slice(0, 10);
}

/** One CSV line: fields joined by commas; detail and summary rows prefix each field with a backtick. */
function line(fields: Array<string | number>, tick: boolean): string {
  // Commas and line breaks in free text (description, attach) would break the columns.
  return fields.map((f) => `${tick ? '`' : ''}${String(f).replace(/[,\r\n]/g, ' ')}`).join(',');
}

function tradeBill(sources: BillSources, mchid: string, date: string, type: string): string {
  const paid = sources.orders(mchid).filter((o) => dayOf(o.success_time) === date);
  // A refund is in the bill of the day it was requested (发起退款成功的退款单), status as of now.
  const refunds = sources.refunds(mchid).filter((r) => dayOf(r.create_time) === date);
  const orderOf = new Map(sources.orders(mchid).map((o) => [o.out_trade_no, o]));
  const headers = TRADE_HEADERS[type] as { detail: string[]; summary: string[] };
  const rows: string[] = [];
  let settled = 0;
  let refunded = 0;
  let count = 0;
  if (type !== 'REFUND') {
    for (const o of paid) {
      count += 1;
      settled += o.total;
      const common = [
        billTime(o.success_time as string),
        o.appid,
        o.mchid,
        '0',
        '',
        o.transaction_id ?? '',
        o.out_trade_no,
        o.openid ?? '',
        o.trade_type,
        'SUCCESS',
        'OTHERS',
        'CNY',
        yuan(o.total),
        '0.00',
      ];
      const tail = [o.description, o.attach ?? '', '0.00000', '0.60%', yuan(o.total)];
      rows.push(
        line(
          type === 'ALL'
            ? [...common, '0', '0', '0.00', '0.00', '', '', ...tail, '0.00', '']
            : [...common, ...tail, ''],
          true,
        ),
      );
    }
  }
  if (type !== 'SUCCESS') {
    for (const r of refunds) {
      const o = orderOf.get(r.out_trade_no);
      count += 1;
      refunded += r.refund;
      const common = [
        billTime(r.create_time),
        o?.appid ?? '',
        r.mchid,
        '0',
        '',
        r.transaction_id,
        r.out_trade_no,
        o?.openid ?? '',
        o?.trade_type ?? '',
        'REFUND',
        'OTHERS',
        'CNY',
        '0.00',
        '0.00',
      ];
      const refund = [r.refund_id, r.out_refund_no, yuan(r.refund), '0.00', 'ORIGINAL', r.status];
      const tail = [o?.description ?? '', o?.attach ?? '', '0.00000', '0.60%', '0.00', yuan(r.refund), ''];
      rows.push(
        line(
          type === 'ALL'
            ? [...common, ...refund, ...tail]
            : [
                ...common,
                billTime(r.create_time),
                r.success_time ? billTime(r.success_time) : '',
                ...refund,
                ...tail,
              ],
          true,
        ),
      );
    }
  }
  const summary =
    type === 'SUCCESS'
      ? [count, yuan(settled), '0.00000', yuan(settled)]
      : [count, yuan(settled), yuan(refunded), '0.00', '0.00000', yuan(settled), yuan(refunded)];
  return [line(headers.detail, false), ...rows, line(headers.summary, false), line(summary, true), ''].join(
    '\n',
  );
}

function fundFlowBill(sources: BillSources, mchid: string, date: string, account: string): string {
  type Entry = { at: string; id: string; name: string; income: boolean; fen: number; voucher: string };
  const entries: Entry[] = [];
  if (account === 'BASIC') {
    for (const o of sources.orders(mchid)) {
      if (dayOf(o.success_time) !== date) continue;
      entries.push({
        at: o.success_time as string,
        id: o.transaction_id ?? '',
        name: '交易',
        income: true,
        fen: o.total,
        voucher: o.out_trade_no,
      });
    }
    for (const r of sources.refunds(mchid)) {
      if (dayOf(r.create_time) !== date) continue;
      entries.push({
        at: r.create_time,
        id: r.refund_id,
        name: '退款',
        income: false,
        fen: r.refund,
        voucher: r.out_refund_no,
      });
    }
  }
  entries.sort((a, b) => a.at.localeCompare(b.at));
  let balance = 0;
  let incomeCount = 0;
  let income = 0;
  let outCount = 0;
  let out = 0;
  const rows = entries.map((e, i) => {
    balance += e.income ? e.fen : -e.fen;
    if (e.income) {
      incomeCount += 1;
      income += e.fen;
    } else {
      outCount += 1;
      out += e.fen;
    }
    const flowNo = `${mchid}${date.replace(/-/g, '')}${String(i + 1).padStart(10, '0')}`;
    return line(
      [
        billTime(e.at),
        e.id,
        flowNo,
        e.name,
        e.name,
        e.income ? '收入' : '支出',
        yuan(e.fen),
        yuan(balance),
        'system',
        '',
        e.voucher,
      ],
      true,
    );
  });
  return [
    line(FUND_DETAIL, false),
    ...rows,
    line(FUND_SUMMARY, false),
    line([entries.length, incomeCount, yuan(income), outCount, yuan(out)], true),
    '',
  ].join('\n');
}

export function registerPayV3Bills(router: Router, state: EmulatorState, sources: BillSources): void {
  const links = new Map<string, { mchid: string; file: Buffer; expiresAt: number }>();

  const paramError = (ctx: V3Context, field: string, message: string) =>
    v3Error(state, ctx.merchant, 400, 'PARAM_ERROR', message, { field, location: 'query' });

  /** Answers the bill's link and digest, or the PARAM_ERROR. */
  function billAnswer(ctx: V3Context, make: (date: string) => string): Response {
    const date = ctx.url.searchParams.get('bill_date');
    if (date === null || !BILL_DATE.test(date) || Number.isNaN(Date.parse(`${date}T00:00:00+08:00`)))
      return paramError(ctx, 'bill_date', 'bill_date 格式错误，应为 yyyy-MM-dd');
    const tarType = ctx.url.searchParams.get('tar_type');
    if (tarType !== null && tarType !== 'GZIP') return paramError(ctx, 'tar_type', 'tar_type 仅支持 GZIP');
    const bill = Buffer.from(make(date), 'utf8');
    // Expired links are forgotten here rather than on a timer.
    for (const [token, link] of links) if (link.expiresAt <= state.now()) links.delete(token);
    const token = state.randomId(48);
    links.set(token, {
      mchid: ctx.merchant.mchid,
      file: tarType === 'GZIP' ? gzipSync(bill) : bill,
      expiresAt: state.now() + LINK_TTL_MS,
    });
    return v3Response(state, ctx.merchant, 200, {
      hash_type: 'SHA1',
      hash_value: createHash('sha1').update(bill).digest('hex'),
      download_url: `${ctx.url.origin}/v3/billdownload/file?token=${token}`,
    });
  }

  router.add(
    'GET',
    '/v3/bill/tradebill',
    v3Route((ctx) => {
      const type = ctx.url.searchParams.get('bill_type') ?? 'ALL';
      if (!TRADE_BILL_TYPES.has(type))
        return paramError(
          ctx,
          'bill_type',
          `bill_type 取值错误（模拟器支持 ${[...TRADE_BILL_TYPES].join('、')}）`,
        );
      return billAnswer(ctx, (date) => tradeBill(sources, ctx.merchant.mchid, date, type));
    }),
  );

  router.add(
    'GET',
    '/v3/bill/fundflowbill',
    v3Route((ctx) => {
      const account = ctx.url.searchParams.get('account_type') ?? 'BASIC';
      if (!ACCOUNT_TYPES.has(account))
        return paramError(ctx, 'account_type', 'account_type 取值错误，应为 BASIC、OPERATION 或 FEES');
      return billAnswer(ctx, (date) => fundFlowBill(sources, ctx.merchant.mchid, date, account));
    }),
  );

  router.add(
    'GET',
    '/v3/billdownload/file',
    v3Route((ctx) => {
      const token = ctx.url.searchParams.get('token') ?? '';
      const link = links.get(token);
      if (link === undefined || link.mchid !== ctx.merchant.mchid || link.expiresAt <= state.now())
        return v3Error(state, ctx.merchant, 400, 'INVALID_REQUEST', '下载链接已失效，请重新申请账单');
      return new Response(new Uint8Array(link.file), {
        status: 200,
        headers: { 'Content-Type': 'application/octet-stream', 'Request-ID': requestId() },
      });
    }),
  );
}
