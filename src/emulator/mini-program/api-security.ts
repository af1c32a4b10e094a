import { createPrivateKey, createPublicKey } from 'node:crypto';
import { openMpApiRequest, sealMpApiResponse } from '../../crypto/mp-api-security.js';
import { WeChatKitError } from '../../errors.js';
import type { EmulatorMpApiSecurityConfig } from '../config.js';
import { controlError, json, wechatError } from '../http.js';
import { appToken, unauthorizedApi } from '../platform/app-auth.js';
import { wechatRecords } from '../platform/app-records.js';
import type { RouteContext, Router } from '../router.js';
import type { EmulatorState } from '../state.js';
import { mintCertificate, platformSerialNo } from '../x509.js';

/**
 * The `urlpath` the emulator authenticates sealed requests with: always the official URL of the
 * API (`https://api.weixin.qq.com` + path), whatever host the request reached, exactly as a client
 * pointed at the emulator computes it by default. The same value is used for responses.
 */
export const MP_API_SECURITY_URL_BASE = 'https://api.weixin.qq.com';

/** The replay window of `Wechatmp-TimeStamp`, seconds (errcode 40240 outside it). */
const MAX_SKEW_SECONDS = 300;

type ApiSecurity = Required<EmulatorMpApiSecurityConfig>;

/** The published platform identity of one app: its 开放平台证书 and public key. */
interface PlatformIdentity {
  platformSn: string;
  certificatePem: string;
  publicKeyPem: string;
}

/** A request that passed (plain mode) or was opened (secured mode). */
type Accepted =
  | { secured: false; appId: string; params: Record<string, unknown> }
  | { secured: true; appId: string; params: Record<string, unknown>; security: ApiSecurity; urlpath: string };

/**
 * Mini Program server-API security (服务端 API 安全鉴权): the platform key publication
 * (`GET /_emulator/mini-program/api-security?appId=`) and the example API `wxa/getuserriskrank`,
 * which requires sealed requests when the app has `apiSecurity` and answers sealed responses.
 */
export function registerApiSecurity(router: Router, state: EmulatorState): void {
  const records = wechatRecords(state);
  const identities = new Map<string, PlatformIdentity>();
  let unionCounter = 100_000 + Math.floor(Math.random() * 800_000);

  const identity = (appId: string, security: ApiSecurity): PlatformIdentity => {
    let found = identities.get(appId);
    if (!found) {
      const privateKey = createPrivateKey(security.platformPrivateKeyPem);
      const publicKey = createPublicKey(privateKey);
      const certificatePem = mintCertificate({
        serialHex: platformSerialNo(),
        publicKey,
        signingKey: privateKey,
        commonName: 'WeChat Mini Program API security (weixin-kit emulator)',
        notBefore: new Date(state.now() - 86_400_000),
        notAfter: new Date(state.now() + 5 * 365 * 86_400_000),
      });
      found = {
        platformSn: security.platformSn,
        certificatePem,
        publicKeyPem: publicKey.export({ type: 'spki', format: 'pem' }).toString(),
      };
      identities.set(appId, found);
    }
    return found;
  };

  // What the MP console shows under API安全 → 开放平台证书: the certificate and its number.
  router.add('GET', '/_emulator/mini-program/api-security', (ctx) => {
    const appId = ctx.url.searchParams.get('appId');
    if (!appId) return controlError(400, 'appId is required');
    const app = state.app(appId);
    if (!app) return controlError(404, `no app ${appId}`);
    if (app.kind !== 'mini-program') return controlError(400, `${appId} is not a mini-program`);
    if (!app.apiSecurity) return controlError(404, `${appId} has no apiSecurity configured`);
    const published = identity(appId, app.apiSecurity);
    return json({
      appId,
      platformSn: published.platformSn,
      platformCertificatePem: published.certificatePem,
      platformPublicKeyPem: published.publicKeyPem,
      symmetricSn: app.apiSecurity.symmetricSn,
      asymmetricSn: app.apiSecurity.asymmetricSn,
      urlBase: MP_API_SECURITY_URL_BASE,
    });
  });

  /** The body of a Mini Program's call — when the app has apiSecurity, after the whole Wechatmp-* check. */
  const accept = async (ctx: RouteContext, appId: string): Promise<Accepted | Response> => {
    const app = state.app(appId);
    if (app === undefined) return unauthorizedApi();
    const raw = await ctx.text();
    const security = app.apiSecurity;
    if (!security) {
      let body: unknown;
      try {
        body = JSON.parse(raw);
      } catch {
        body = undefined;
      }
      if (typeof body !== 'object' || body === null || Array.isArray(body)) {
        return wechatError(47001, 'data format error');
      }
      return { secured: false, appId: app.appId, params: body as Record<string, unknown> };
    }
    const header = (name: string) => ctx.request.headers.get(name)?.trim() || undefined;
    const serial = header('Wechatmp-Serial');
    const timestamp = header('Wechatmp-TimeStamp');
    const signature = header('Wechatmp-Signature');
    const headerAppId = header('Wechatmp-Appid');
    if (serial === undefined) return wechatError(40230, 'API_Missing_Wechatmp_Serial');
    if (timestamp === undefined) return wechatError(40231, 'API_Missing_Wechatmp_Timestamp');
    if (signature === undefined) return wechatError(40232, 'API_Missing_Wechatmp_Signature');
    if (headerAppId === undefined) return wechatError(40233, 'API_Missing_Wechatmp_Appid');
    if (!state.app(headerAppId)) return wechatError(40236, 'API_Invalid_Wechatmp_Appid');
    if (headerAppId !== app.appId) return wechatError(40237, 'API_Wechatmp_Appid_Token_Mismatch');
    if (serial.toLowerCase() !== security.asymmetricSn.toLowerCase()) {
      return wechatError(40234, 'API_Signature_Error: Wechatmp-Serial is not the asymmetric key number');
    }
    if (
      !/^\d{1,12}$/.test(timestamp) ||
      Math.abs(state.nowSeconds() - Number(timestamp)) > MAX_SKEW_SECONDS
    ) {
      return wechatError(40240, 'API_Timeout_Data');
    }
    const urlpath = `${MP_API_SECURITY_URL_BASE}${ctx.url.pathname}`;
    try {
      const opened = openMpApiRequest({
        urlpath,
        appId: app.appId,
        symmetricKey: security.symmetricKey,
        symmetricSn: security.symmetricSn,
        publicKey: security.developerPublicKeyPem,
        asymmetricSn: security.asymmetricSn,
        headers: ctx.request.headers,
        body: raw,
        now: () => state.now(),
        maxSkewSeconds: MAX_SKEW_SECONDS,
      });
      return { secured: true, appId: app.appId, params: opened.params, security, urlpath };
    } catch (error) {
      if (!(error instanceof WeChatKitError)) throw error;
      if (error.code === 'SIGNATURE_MISMATCH') return wechatError(40234, 'API_Signature_Error');
      // A decrypted _timestamp unequal to the header, a foreign _appid, a broken body or tag.
      return wechatError(40235, `API_Encrypt_Error (${error.code})`);
    }
  };

  /** Answers plainly, or sealed with the platform key when the request was sealed. */
  const answer = (accepted: Accepted, result: Record<string, unknown>): Response => {
    if (!accepted.secured) return json(result);
    const sealed = sealMpApiResponse({
      urlpath: accepted.urlpath,
      appId: accepted.appId,
      symmetricKey: accepted.security.symmetricKey,
      symmetricSn: accepted.security.symmetricSn,
      privateKey: accepted.security.platformPrivateKeyPem,
      platformSn: accepted.security.platformSn,
      result,
      now: () => state.now(),
    });
    return new Response(sealed.body, {
      status: 200,
      headers: { 'content-type': 'application/json; charset=utf-8', ...sealed.headers },
    });
  };

  // The API security guide's example API (用户安全等级, 安全风控).
  // The body is read by accept(): a sealed one is not JSON until it is opened.
  router.api('POST', '/wxa/getuserriskrank', { auth: appToken(records, 'mini-program') }, async (ctx) => {
    const accepted = await accept(ctx, ctx.caller.appId);
    if (accepted instanceof Response) return accepted;
    const p = accepted.params;
    const fail = (errcode: number, errmsg: string) => answer(accepted, { errcode, errmsg });
    if (p.appid !== accepted.appId) return fail(40013, 'invalid appid');
    if (typeof p.openid !== 'string' || p.openid === '') return fail(40003, 'invalid openid');
    if (p.scene !== 0 && p.scene !== 1) return fail(47001, 'data format error (scene must be 0 or 1)');
    if (typeof p.client_ip !== 'string' || p.client_ip === '') {
      return fail(47001, 'data format error (client_ip)');
    }
    for (const name of ['mobile_no', 'email_address', 'extended_info'] as const) {
      if (p[name] !== undefined && typeof p[name] !== 'string')
        return fail(47001, `data format error (${name})`);
    }
    if (p.is_test !== undefined && typeof p.is_test !== 'boolean') {
      return fail(47001, 'data format error (is_test)');
    }
    unionCounter += 1;
    return answer(accepted, {
      errcode: 0,
      errmsg: 'getuserriskrank succ',
      risk_rank: 0,
      // Sic: the documented answer spells it `unoin_id`.
      unoin_id: unionCounter,
    });
  });
}
