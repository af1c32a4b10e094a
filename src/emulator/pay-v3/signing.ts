import { constants, type KeyObject, randomBytes, sign, verify } from 'node:crypto';
import { loadPublicKey } from '../../crypto/keys.js';
import { payV3SignatureMessage } from '../../crypto/pay-v3.js';
import { isJsonObject } from '../api-route.js';
import type { ResolvedEmulatorConfig } from '../config.js';
import { controlError, json, rememberBody } from '../http.js';
import type { RouteContext, RouteHandler, Router } from '../router.js';
import type { EmulatorState } from '../state.js';

/**
 * The two halves of WeChat Pay v3 transport security as the emulator plays them: checking the
 * merchant's `Authorization` on every request, and signing every response (and notification) with
 * the platform key the merchant's `verifyMode` names.
 */

export type Merchant = ResolvedEmulatorConfig['merchants'][number];

const AUTH_SCHEME = 'WECHATPAY2-SHA256-RSA2048';
/** WeChat Pay refuses requests whose timestamp is more than 5 minutes off. */
const MAX_SKEW_SECONDS = 300;
/** How much of the expected sign message `detail.sign_information` shows. */
const TRUNCATE_AT = 128;
const PROBE_PREFIX = 'WECHATPAY/SIGNTEST/';

/** Merchants for which `POST /_emulator/pay/signtest` turned the signature probe on. */
const signTests = new WeakMap<EmulatorState, Set<string>>();

export function signTestMerchants(state: EmulatorState): Set<string> {
  let set = signTests.get(state);
  if (set === undefined) {
    set = new Set();
    signTests.set(state, set);
  }
  return set;
}

/**
 * The key and serial the platform signs with for a merchant (public-key mode when unknown); in
 * certificate mode, the newest platform certificate.
 */
function platformSigner(
  state: EmulatorState,
  merchant: Merchant | undefined,
): { serial: string; key: KeyObject } {
  if (merchant?.verifyMode === 'certificate') {
    return { serial: state.platform.certificate.serialNo, key: state.platform.certificate.privateKey };
  }
  return { serial: state.platform.publicKey.id, key: state.platform.publicKey.privateKey };
}

function nonce(): string {
  return randomBytes(16).toString('hex').toUpperCase();
}

/**
 * The `Wechatpay-*` headers for a body, as WeChat Pay sends them on responses and notifications:
 * SHA256withRSA over `timestamp\nnonce\nbody\n`. With the SIGNTEST probe on for the merchant, the
 * signature is a `WECHATPAY/SIGNTEST/…` value that must fail verification.
 */
export function platformHeaders(
  state: EmulatorState,
  merchant: Merchant | undefined,
  body: string,
): Record<string, string> {
  const { serial, key } = platformSigner(state, merchant);
  const timestamp = String(state.nowSeconds());
  const n = nonce();
  const probe = merchant !== undefined && signTestMerchants(state).has(merchant.mchid);
  const signature = probe
    ? `${PROBE_PREFIX}${randomBytes(192).toString('base64')}`
    : sign('sha256', Buffer.from(`${timestamp}\n${n}\n${body}\n`, 'utf8'), {
        key,
        padding: constants.RSA_PKCS1_PADDING,
      }).toString('base64');
  return {
    'Wechatpay-Timestamp': timestamp,
    'Wechatpay-Nonce': n,
    'Wechatpay-Signature': signature,
    'Wechatpay-Serial': serial,
    'Wechatpay-Signature-Type': AUTH_SCHEME,
  };
}

/** A Request-ID like the real one (hex, dash-free). */
export function requestId(): string {
  return `08${randomBytes(15).toString('hex').toUpperCase()}-0`;
}

/** A signed v3 response; `body` undefined means no body (204). */
export function v3Response(
  state: EmulatorState,
  merchant: Merchant | undefined,
  status: number,
  body?: unknown,
): Response {
  const text = body === undefined ? '' : JSON.stringify(body);
  const headers: Record<string, string> = {
    'Request-ID': requestId(),
    ...platformHeaders(state, merchant, text),
  };
  if (body !== undefined) headers['Content-Type'] = 'application/json; charset=utf-8';
  return rememberBody(new Response(status === 204 ? null : text, { status, headers }), body);
}

/** A signed v3 error: `{ code, message, detail? }`, the official error shape. */
export function v3Error(
  state: EmulatorState,
  merchant: Merchant | undefined,
  status: number,
  code: string,
  message: string,
  detail?: Record<string, unknown>,
): Response {
  return v3Response(
    state,
    merchant,
    status,
    detail === undefined ? { code, message } : { code, message, detail },
  );
}

/** Parses `WECHATPAY2-SHA256-RSA2048 k="v",…`; `undefined` when it is not that shape. */
export function parseAuthorization(header: string | null): Record<string, string> | undefined {
  if (header === null) return undefined;
  const trimmed = header.trim();
  if (!trimmed.startsWith(`${AUTH_SCHEME} `)) return undefined;
  const params: Record<string, string> = {};
  const re = /\s*([a-z_]+)="([^"]*)"\s*(,|$)/gy;
  const rest = trimmed.slice(AUTH_SCHEME.length + 1);
  let consumed = 0;
  for (let m = re.exec(rest); m !== null && m[0] !== ''; m = re.exec(rest)) {
    params[m[1] as string] = m[2] as string;
    consumed = re.lastIndex;
  }
  if (consumed !== rest.length) return undefined;
  return params;
}

/** What a v3 route gets once the request is authenticated. */
export interface V3Context extends RouteContext {
  merchant: Merchant;
  /** The raw body text (empty for GET). */
  body: string;
}

const publicKeys = new WeakMap<Merchant, KeyObject>();

function merchantKey(merchant: Merchant): KeyObject {
  let key = publicKeys.get(merchant);
  if (key === undefined) {
    key = loadPublicKey(merchant.merchantPublicKeyPem);
    publicKeys.set(merchant, key);
  }
  return key;
}

function signError(
  state: EmulatorState,
  merchant: Merchant | undefined,
  message: string,
  detail?: Record<string, unknown>,
): Response {
  return v3Error(state, merchant, 401, 'SIGN_ERROR', message, detail);
}

/**
 * Checks a request's `Authorization` the way api.mch.weixin.qq.com does; returns the merchant, or
 * the signed 401 SIGN_ERROR to send.
 */
export async function authenticate(
  ctx: RouteContext,
): Promise<{ merchant: Merchant; body: string } | { response: Response }> {
  const { state, request, url } = ctx;
  const header = request.headers.get('authorization');
  const params = parseAuthorization(header);
  const required = ['mchid', 'nonce_str', 'signature', 'timestamp', 'serial_no'] as const;
  if (params === undefined || required.some((k) => !params[k])) {
    return {
      response: signError(
        state,
        undefined,
        header === null
          ? '缺少Authorization头，请参考《微信支付商户REST API签名规则》'
          : 'Http头Authorization值格式错误，请参考《微信支付商户REST API签名规则》',
        {
          field: 'Authorization',
          location: 'header',
          issue: `expected ${AUTH_SCHEME} mchid="…",nonce_str="…",signature="…",timestamp="…",serial_no="…"`,
        },
      ),
    };
  }
  const { mchid, nonce_str, signature, timestamp, serial_no } = params as Record<
    (typeof required)[number],
    string
  >;
  const merchant = state.merchant(mchid);
  if (merchant === undefined) {
    return {
      response: signError(state, undefined, '商户号不存在或未开通API v3', { field: 'mchid', value: mchid }),
    };
  }
  if (serial_no.trim().toUpperCase() !== merchant.merchantCertificateSerial.toUpperCase()) {
    return {
      response: signError(state, merchant, '商户证书序列号有误，请确认证书是否有效', {
        field: 'serial_no',
        location: 'authorization',
        value: serial_no,
        issue: 'the serial_no is not the merchant API certificate registered for this mchid',
      }),
    };
  }
  if (!/^\d{1,11}$/.test(timestamp) || Math.abs(Number(timestamp) - state.nowSeconds()) > MAX_SKEW_SECONDS) {
    return {
      response: signError(state, merchant, '请求的时间戳已过期或格式错误，请使用当前Unix时间（秒）', {
        field: 'timestamp',
        location: 'authorization',
        value: timestamp,
        server_time: state.nowSeconds(),
        issue: `timestamp must be Unix seconds within ${MAX_SKEW_SECONDS} s of the server time`,
      }),
    };
  }
  const body = request.method === 'GET' || request.method === 'HEAD' ? '' : await ctx.text();
  const target = `${url.pathname}${url.search}`;
  let message: string;
  try {
    message = payV3SignatureMessage(request.method, target, timestamp, nonce_str, body);
  } catch (cause) {
    return {
      response: signError(state, merchant, `Http头Authorization值格式错误：${(cause as Error).message}`),
    };
  }
  const ok = verify(
    'sha256',
    Buffer.from(message, 'utf8'),
    { key: merchantKey(merchant), padding: constants.RSA_PKCS1_PADDING },
    Buffer.from(signature, 'base64'),
  );
  if (!ok) {
    return {
      response: signError(state, merchant, '签名错误，请检查后再试', {
        detail: { issue: 'sign not match' },
        field: 'signature',
        location: 'authorization',
        sign_information: {
          method: request.method,
          url: target,
          sign_message_length: Buffer.byteLength(message),
          truncated_sign_message:
            message.length > TRUNCATE_AT ? `${message.slice(0, TRUNCATE_AT)}…` : message,
        },
      }),
    };
  }
  return { merchant, body };
}

/** Wraps a v3 route: authenticates first, then hands over the merchant and raw body. */
export function v3Route(handler: (ctx: V3Context) => Response | Promise<Response>): RouteHandler {
  return async (ctx) => {
    const auth = await authenticate(ctx);
    if ('response' in auth) return auth.response;
    return handler({ ...ctx, merchant: auth.merchant, body: auth.body });
  };
}

/**
 * `POST /_emulator/pay/signtest {mchid, enabled}`: while on, the merchant's responses and
 * notifications carry `WECHATPAY/SIGNTEST/` probe signatures, which a client must refuse.
 */
export function registerSignTest(router: Router, state: EmulatorState): void {
  router.add('POST', '/_emulator/pay/signtest', async (ctx) => {
    const body = (await ctx.json()) as Record<string, unknown> | undefined;
    if (!isJsonObject(body) || typeof body.mchid !== 'string' || typeof body.enabled !== 'boolean')
      return controlError(400, 'body must be { "mchid": string, "enabled": boolean }');
    if (!state.merchant(body.mchid)) return controlError(404, `no merchant ${body.mchid}`);
    const set = signTestMerchants(state);
    if (body.enabled) set.add(body.mchid);
    else set.delete(body.mchid);
    return json({ mchid: body.mchid, enabled: body.enabled });
  });
}
