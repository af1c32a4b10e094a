import type * as Undici from 'undici';
import { APIPromise } from '../../core/api-promise.js';
import {
  CLIENT_OPTION_NAMES,
  type ClientOptions,
  checkOptions,
  splitHooks,
} from '../../core/client-options.js';
import type { TransportHooks } from '../../core/hooks.js';
import { type RequestOptions, responseMeta } from '../../core/request-options.js';
import type { Tracing } from '../../core/tracing.js';
import { Transport } from '../../core/transport.js';
import { decryptRefundReqInfo, type PayV2SignType, signPayV2, verifyPayV2 } from '../../crypto/pay-v2.js';
import { ArgumentError, ConfigError, PayloadError } from '../../errors.js';
import { defaultRandom, type RandomSource, randomAlphanumeric, toText } from '../../internal/bytes.js';
import type { Scheduler } from '../../internal/timers.js';
import { buildXml } from '../../xml/build.js';
import { parseXml } from '../../xml/parse.js';
import { PayV2Error } from './errors.js';

/**
 * WeChat Pay API v2 (legacy XML API). New integrations should use {@link PayV3}; this client
 * serves merchants still on v2: unified order, query, close, refund (mutual TLS), refund query,
 * and the payment / refund notifications.
 */

/** The merchant certificate for mutual TLS (refunds): PEM cert + key, or PKCS#12 (apiclient_cert.p12, password = mchid). */
export type PayV2Tls =
  | ((
      | { cert: string | Uint8Array; key: string | Uint8Array }
      | { pfx: Uint8Array; passphrase?: string | undefined }
    ) & {
      /**
       * Extra CA certificates (PEM) to trust for the server. Only for a test server or a
       * TLS-inspecting proxy: WeChat Pay's own certificate is publicly trusted.
       */
      ca?: string | Uint8Array | Array<string | Uint8Array> | undefined;
    })
  | {
      /**
       * An undici dispatcher you built that presents the merchant certificate — e.g. to leave
       * through your egress proxy: `new ProxyAgent({ uri, requestTls: { cert, key } })`. Refunds
       * are sent through it with the client's `fetch` (pass undici's own `fetch` with it).
       */
      dispatcher: object;
    };

/** Options of {@link PayV2}: the common client options plus the merchant's. Unknown keys are refused. */
export interface PayV2Options extends ClientOptions {
  appId: string | undefined;
  mchid: string | undefined;
  /** The 32-character APIv2 key (API安全 → APIv2密钥). */
  apiKey: string | undefined;
  /** Default `MD5`. With `HMAC-SHA256`, `sign_type` is sent (and signed). */
  signType?: PayV2SignType | undefined;
  /**
   * The merchant certificate, required by refunds (mutual TLS). Sent through an undici `Agent`
   * dispatcher; `undici` is imported only when a refund is made, so it is an optional peer
   * dependency (`npm install undici`). Not combinable with `dispatcher` (a given dispatcher's TLS
   * cannot be changed): to refund through a proxy, build the dispatcher with the certificate and
   * pass it as `tls: { dispatcher }`.
   */
  tls?: PayV2Tls | undefined;
}

/** Params of {@link PayV2.closeOrder}. */
export interface CloseOrderParams extends PayV2Request {
  out_trade_no: string;
}

/** A parameter map as sent: values are written as strings, `undefined` is left out. */
export type PayV2Request = Record<string, string | number | undefined>;

/** A verified answer or notification: every field as received (strings). */
export type PayV2Fields = Record<string, string>;

/** `unifiedorder` parameters (appid, mch_id, nonce_str, sign are filled in). */
export interface UnifiedOrderParams extends PayV2Request {
  body: string;
  out_trade_no: string;
  /** Fen. */
  total_fee: number | string;
  spbill_create_ip: string;
  notify_url: string;
  trade_type: 'JSAPI' | 'NATIVE' | 'APP' | 'MWEB';
  openid?: string;
  product_id?: string;
  attach?: string;
}

/** `refund` parameters; one of transaction_id / out_trade_no. */
export interface RefundParams extends PayV2Request {
  transaction_id?: string;
  out_trade_no?: string;
  out_refund_no: string;
  total_fee: number | string;
  refund_fee: number | string;
  notify_url?: string;
}

/** A verified payment notification. */
export interface PayV2PaymentNotification extends PayV2Fields {
  appid: string;
  mch_id: string;
  out_trade_no: string;
  transaction_id: string;
  total_fee: string;
  result_code: string;
}

/** A decrypted refund notification: `req_info`'s fields plus the outer appid / mch_id. */
export interface PayV2RefundNotification extends PayV2Fields {
  appid: string;
  mch_id: string;
  out_refund_no: string;
  out_trade_no: string;
  refund_status: string;
}

const PAY_V2_OPTIONS = ['appId', 'mchid', 'apiKey', 'signType', 'tls'] as const;

function configError(message: string): ConfigError {
  return new ConfigError('INVALID_CONFIG', `PayV2: ${message}`);
}

function stringFields(node: Record<string, unknown>): PayV2Fields {
  const out: PayV2Fields = {};
  for (const [name, value] of Object.entries(node)) if (typeof value === 'string') out[name] = value;
  return out;
}

/**
 * The XML to answer a v2 notification with: `SUCCESS` acknowledges it; anything else makes WeChat
 * Pay send it again later.
 *
 * @example
 * res.type('text/xml').send(payV2NotificationReply(true));
 */
export function payV2NotificationReply(success: boolean, message = success ? 'OK' : 'FAIL'): string {
  return buildXml({ return_code: success ? 'SUCCESS' : 'FAIL', return_msg: message });
}

/**
 * WeChat Pay API v2 client (legacy). Every answer's `sign` is verified (constant time) when
 * `return_code` is SUCCESS; `return_code`/`result_code` FAIL become {@link PayV2Error}.
 * Every API method is `method(params, options?)` and returns an `APIPromise` (`.withResponse()`
 * for the HTTP status and headers). Retried after a network error, timeout or 5xx: queries, close,
 * and the calls WeChat Pay deduplicates by `out_trade_no` / `out_refund_no` (unified order,
 * refund); `idempotent: false` in the call's options turns that off.
 *
 * @example
 * const pay = new PayV2({ appId, mchid, apiKey, tls: { pfx: readFileSync('apiclient_cert.p12'), passphrase: mchid } });
 * const { prepay_id } = await pay.unifiedOrder({ body: 'T-shirt', out_trade_no, total_fee: 100,
 *   spbill_create_ip: '1.2.3.4', notify_url, trade_type: 'JSAPI', openid });
 */
export class PayV2 {
  readonly appId: string;
  readonly mchid: string;
  readonly #apiKey: string;
  readonly #signType: PayV2SignType;
  readonly #baseUrl: string;
  readonly #transport: Transport;
  /** The transport options that trace calls as `WeChat Pay <METHOD> <path>` spans, when tracing. */
  readonly #tracing: { tracing?: Tracing; spanPrefix?: string };
  readonly #fetch: typeof fetch | undefined;
  readonly #scheduler: Scheduler | undefined;
  readonly #timeoutMs: number;
  readonly #retries: number;
  readonly #hooks: TransportHooks;
  readonly #tls: PayV2Tls | undefined;
  readonly #random: RandomSource;
  #tlsClient: Promise<{ transport: Transport; agent: Undici.Agent | undefined }> | undefined;

  constructor(options: PayV2Options) {
    checkOptions('PayV2', options, PAY_V2_OPTIONS, ['appId', 'mchid'], CLIENT_OPTION_NAMES);
    if (options.apiKey === undefined || options.apiKey === '') {
      throw configError(
        `apiKey is required (${options.apiKey === undefined ? 'it is undefined — if it comes from process.env, is the variable set?' : 'it is an empty string'})`,
      );
    }
    if (typeof options.apiKey !== 'string' || options.apiKey.length !== 32) {
      throw new ConfigError(
        'BAD_KEY',
        'PayV2: apiKey must be the 32-character APIv2 key (商户平台 → 账户中心 → API安全 → APIv2密钥); it is not the APIv3 key',
      );
    }
    const signType = options.signType ?? 'MD5';
    if (signType !== 'MD5' && signType !== 'HMAC-SHA256')
      throw configError('signType must be "MD5" or "HMAC-SHA256"');
    if (options.tls !== undefined) {
      const tls = options.tls as Record<string, unknown>;
      if (tls.dispatcher !== undefined) {
        if (typeof tls.dispatcher !== 'object' || tls.dispatcher === null || Object.keys(tls).length !== 1) {
          throw configError(
            'tls: { dispatcher } takes only an undici dispatcher that presents the merchant certificate (e.g. new ProxyAgent({ uri, requestTls: { cert, key } }))',
          );
        }
      } else {
        const pem = tls.cert !== undefined && tls.key !== undefined;
        if (pem === (tls.pfx !== undefined)) {
          throw configError(
            'tls must be { cert, key } (PEM), { pfx, passphrase } (apiclient_cert.p12, whose password is the mchid), or { dispatcher } (your own undici dispatcher presenting the certificate)',
          );
        }
        if (options.dispatcher !== undefined) {
          throw configError(
            'dispatcher and tls: { cert, key | pfx } cannot be combined: refunds need a dispatcher that presents the merchant certificate, and the TLS settings of the one given cannot be changed. ' +
              'Build that dispatcher yourself — e.g. new ProxyAgent({ uri: egressProxyUrl, requestTls: { cert, key } }) — and pass it as tls: { dispatcher } (keeping dispatcher for the other calls)',
          );
        }
      }
    }
    this.appId = options.appId as string;
    this.mchid = options.mchid as string;
    this.#apiKey = options.apiKey;
    this.#signType = signType;
    this.#baseUrl = (options.baseUrl ?? 'https://api.mch.weixin.qq.com').replace(/\/+$/, '');
    this.#timeoutMs = options.timeoutMs ?? 10_000;
    this.#retries = options.retries ?? 2;
    this.#hooks = splitHooks(options.hooks, options.logger).transport;
    this.#tls = options.tls;
    this.#random = options.random ?? defaultRandom;
    this.#fetch = options.fetch;
    this.#scheduler = options.scheduler;
    this.#tracing =
      options.tracing === undefined ? {} : { tracing: options.tracing, spanPrefix: 'WeChat Pay' };
    this.#transport = new Transport({
      ...(options.fetch === undefined ? {} : { fetch: options.fetch }),
      ...(options.dispatcher === undefined ? {} : { dispatcher: options.dispatcher }),
      timeoutMs: this.#timeoutMs,
      retries: this.#retries,
      hooks: this.#hooks,
      ...(this.#scheduler === undefined ? {} : { scheduler: this.#scheduler }),
      ...this.#tracing,
    });
  }

  /**
   * `POST /pay/unifiedorder`: answers `prepay_id` (and `code_url` for NATIVE, `mweb_url` for MWEB).
   *
   * @example
   * const { prepay_id } = await pay.unifiedOrder({ body, out_trade_no, total_fee: 100, spbill_create_ip, notify_url, trade_type: 'JSAPI', openid });
   */
  unifiedOrder(
    params: UnifiedOrderParams,
    options?: RequestOptions,
  ): APIPromise<PayV2Fields & { prepay_id: string; trade_type: string }> {
    return this.#call('/pay/unifiedorder', params, options);
  }

  /**
   * `POST /pay/orderquery` by `out_trade_no` or `transaction_id`.
   *
   * @example
   * const { trade_state } = await pay.orderQuery({ out_trade_no });
   */
  orderQuery(
    params: { out_trade_no: string } | { transaction_id: string },
    options?: RequestOptions,
  ): APIPromise<PayV2Fields & { trade_state: string }> {
    return this.#call('/pay/orderquery', params, options);
  }

  /**
   * `POST /pay/closeorder`.
   *
   * @example
   * await pay.closeOrder({ out_trade_no });
   */
  closeOrder(params: CloseOrderParams, options?: RequestOptions): APIPromise<PayV2Fields> {
    return this.#call('/pay/closeorder', params, options);
  }

  /**
   * `POST /secapi/pay/refund`, over mutual TLS with the merchant certificate (`tls`).
   *
   * @example
   * await pay.refund({ out_trade_no, out_refund_no: 'R1', total_fee: 100, refund_fee: 100 });
   */
  refund(params: RefundParams, options?: RequestOptions): APIPromise<PayV2Fields & { refund_id: string }> {
    return this.#call('/secapi/pay/refund', params, options, () => this.#mutualTls());
  }

  /**
   * `POST /pay/refundquery` by out_refund_no, refund_id, out_trade_no or transaction_id.
   *
   * @example
   * const answer = await pay.refundQuery({ out_refund_no: 'R1' }); // answer.refund_status_0
   */
  refundQuery(params: PayV2Request, options?: RequestOptions): APIPromise<PayV2Fields> {
    return this.#call('/pay/refundquery', params, options);
  }

  /**
   * Verifies and reads a payment notification (raw XML body). Throws `SignatureError` on a bad
   * `sign`, `PayloadError` when it is for another merchant, `PayV2Error` when `return_code` is FAIL.
   * Handle it idempotently (WeChat Pay repeats notifications) and check `total_fee`.
   *
   * @example
   * const n = pay.parsePaymentNotification(rawBody);
   * await markPaid(n.out_trade_no, Number(n.total_fee));
   * res.type('text/xml').send(payV2NotificationReply(true));
   */
  parsePaymentNotification(rawXml: string | Uint8Array): PayV2PaymentNotification {
    const fields = this.#parseNotification(rawXml);
    // The configured sign type is the fallback: WeChat Pay may omit sign_type even for HMAC-SHA256.
    verifyPayV2(fields, this.#apiKey, this.#signType);
    this.#checkMerchant(fields);
    return fields as PayV2PaymentNotification;
  }

  /**
   * Decrypts and reads a refund notification (raw XML body): `req_info` is AES-256-ECB encrypted
   * with the MD5 of the API key, and decrypting it is the authentication (there is no `sign`).
   *
   * @example
   * const n = pay.parseRefundNotification(rawBody); // n.refund_status === 'SUCCESS'
   */
  parseRefundNotification(rawXml: string | Uint8Array): PayV2RefundNotification {
    const outer = this.#parseNotification(rawXml);
    this.#checkMerchant(outer);
    const reqInfo = outer.req_info;
    if (reqInfo === undefined || reqInfo === '') {
      throw new PayloadError('BAD_BODY', 'the refund notification has no req_info');
    }
    const inner = stringFields(parseXml(decryptRefundReqInfo(reqInfo, this.#apiKey)));
    return { ...inner, appid: outer.appid ?? '', mch_id: outer.mch_id ?? '' } as PayV2RefundNotification;
  }

  /** Closes the mutual-TLS connection pool, if this client opened one (not a `tls.dispatcher` you gave). */
  async close(): Promise<void> {
    const client = this.#tlsClient;
    this.#tlsClient = undefined;
    if (client) await (await client.catch(() => undefined))?.agent?.close();
  }

  #parseNotification(rawXml: string | Uint8Array): PayV2Fields {
    if (typeof rawXml !== 'string' && !(rawXml instanceof Uint8Array)) {
      throw new ArgumentError(
        'pass the raw notification body (string or bytes); a body parser must not have turned it into an object',
      );
    }
    const fields = stringFields(parseXml(toText(rawXml)));
    if (fields.return_code !== 'SUCCESS') throw new PayV2Error('notification', fields);
    return fields;
  }

  #checkMerchant(fields: PayV2Fields): void {
    if (fields.mch_id !== undefined && fields.mch_id !== this.mchid) {
      throw new PayloadError(
        'BAD_BODY',
        `the notification is for mch_id ${fields.mch_id}, not ${this.mchid}`,
      );
    }
    if (fields.appid !== undefined && fields.appid !== this.appId) {
      throw new PayloadError('BAD_BODY', `the notification is for appid ${fields.appid}, not ${this.appId}`);
    }
  }

  #mutualTls(): Promise<{ transport: Transport; agent: Undici.Agent | undefined }> {
    const tls = this.#tls;
    if (tls === undefined) {
      return Promise.reject(
        configError(
          'refunds need the merchant certificate for mutual TLS: pass tls: { cert, key } (apiclient_cert.pem + apiclient_key.pem) or { pfx, passphrase } (apiclient_cert.p12, password = mchid)',
        ),
      );
    }
    if ('dispatcher' in tls) {
      // The caller's own dispatcher presents the certificate: only the transport is ours.
      this.#tlsClient ??= Promise.resolve({
        transport: new Transport({
          ...(this.#fetch === undefined ? {} : { fetch: this.#fetch }),
          dispatcher: tls.dispatcher,
          timeoutMs: this.#timeoutMs,
          retries: this.#retries,
          hooks: this.#hooks,
          ...(this.#scheduler === undefined ? {} : { scheduler: this.#scheduler }),
          ...this.#tracing,
        }),
        agent: undefined,
      });
      return this.#tlsClient;
    }
    this.#tlsClient ??= (async () => {
      // A computed specifier keeps bundlers from inlining undici: it stays an optional peer.
      const name = 'undici';
      let undici: typeof Undici;
      try {
        undici = (await import(name)) as typeof Undici;
      } catch (cause) {
        throw new ConfigError(
          'INVALID_CONFIG',
          'PayV2 refunds use mutual TLS through undici: npm install undici',
          {
            cause,
          },
        );
      }
      const connect = {
        ...('pfx' in tls
          ? { pfx: tls.pfx, ...(tls.passphrase === undefined ? {} : { passphrase: tls.passphrase }) }
          : { cert: tls.cert, key: tls.key }),
        ...(tls.ca === undefined ? {} : { ca: tls.ca }),
      };
      const agent = new undici.Agent({ connect: connect as NonNullable<Undici.Agent.Options['connect']> });
      const undiciFetch = undici.fetch;
      const tlsFetch = ((input: string, init?: RequestInit) =>
        undiciFetch(input, { ...(init as object), dispatcher: agent } as Parameters<
          typeof undiciFetch
        >[1])) as unknown as typeof fetch;
      const transport = new Transport({
        fetch: tlsFetch,
        timeoutMs: this.#timeoutMs,
        retries: this.#retries,
        hooks: this.#hooks,
        ...(this.#scheduler === undefined ? {} : { scheduler: this.#scheduler }),
        ...this.#tracing,
      });
      return { transport, agent };
    })();
    this.#tlsClient.catch(() => {
      this.#tlsClient = undefined;
    });
    return this.#tlsClient;
  }

  /**
   * One signed call. Every v2 call this client makes is safe to resend (queries, close, and the
   * calls WeChat Pay deduplicates by out_trade_no / out_refund_no), unless the caller says not.
   */
  #call<T extends PayV2Fields>(
    path: string,
    params: PayV2Request,
    options: RequestOptions = {},
    transportOf?: () => Promise<{ transport: Transport }>,
  ): APIPromise<T> {
    return APIPromise.from(async () => {
      if (typeof params !== 'object' || params === null) throw new ArgumentError('params must be an object');
      const transport = transportOf === undefined ? this.#transport : (await transportOf()).transport;
      const request: Record<string, string> = {};
      for (const [name, value] of Object.entries({
        appid: this.appId,
        mch_id: this.mchid,
        nonce_str: randomAlphanumeric(32, this.#random),
        ...params,
      })) {
        if (value !== undefined && value !== null && name !== 'sign') request[name] = String(value);
      }
      if (this.#signType === 'HMAC-SHA256') request.sign_type = 'HMAC-SHA256';
      request.sign = signPayV2(request, this.#apiKey, this.#signType);
      const answer = await transport.request<string>({
        method: 'POST',
        url: `${this.#baseUrl}${path}`,
        body: buildXml(request),
        headers: Object.assign({}, options.headers, {
          'content-type': 'text/xml; charset=utf-8',
          accept: 'text/xml',
        }),
        responseType: 'text',
        checkErrcode: false,
        idempotent: options.idempotent ?? true,
        ...(options.timeoutMs === undefined ? {} : { timeoutMs: options.timeoutMs }),
        ...(options.retries === undefined ? {} : { retries: options.retries }),
        ...(options.signal === undefined ? {} : { signal: options.signal }),
      });
      const fields = stringFields(parseXml(answer.data));
      if (fields.return_code !== 'SUCCESS') throw new PayV2Error(path, fields);
      verifyPayV2(fields, this.#apiKey, this.#signType);
      if (fields.result_code !== 'SUCCESS') throw new PayV2Error(path, fields);
      return { data: fields as T, response: responseMeta(answer.status, answer.headers) };
    });
  }
}
