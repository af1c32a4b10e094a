import { createHash } from 'node:crypto';
import { ArgumentError } from '../errors.js';
import {
  type Clock,
  defaultClock,
  defaultRandom,
  type RandomSource,
  randomAlphanumeric,
} from '../internal/bytes.js';
import { sortedSha1 } from '../internal/sorted-sha1.js';

/** Inputs of the JS-SDK signature. */
export interface JsSdkSignatureInput {
  jsapiTicket: string;
  nonceStr: string;
  timestamp: string | number;
  /** The page URL as the browser shows it; a `#fragment` is dropped. Not URL-encoded. */
  url: string;
}

/** The page URL as signed: everything before the first `#`. */
export function jsSdkSignedUrl(url: string): string {
  const hash = url.indexOf('#');
  return hash === -1 ? url : url.slice(0, hash);
}

/**
 * JS-SDK `wx.config` signature: sha1 of
 * `jsapi_ticket=…&noncestr=…&timestamp=…&url=…` with raw values (the docs: 不进行URL 转义).
 *
 * @example
 * jsSdkSignature({ jsapiTicket, nonceStr: 'Wm3WZYTPz0wzccnW', timestamp: 1414587457, url: 'http://mp.weixin.qq.com?params=value' });
 * // '0f9de62fce790f9a083d5c99e95740ceb90c27ed'
 */
export function jsSdkSignature(input: JsSdkSignatureInput): string {
  const string1 =
    `jsapi_ticket=${input.jsapiTicket}&noncestr=${input.nonceStr}` +
    `&timestamp=${input.timestamp}&url=${jsSdkSignedUrl(input.url)}`;
  return createHash('sha1').update(string1, 'utf8').digest('hex');
}

/** What `wx.config` needs besides `jsApiList`. */
export interface JsSdkConfig {
  appId: string;
  timestamp: number;
  nonceStr: string;
  signature: string;
}

/** Inputs of {@link buildJsSdkConfig}. */
export interface BuildJsSdkConfigInput {
  appId: string;
  jsapiTicket: string;
  /** The page URL, decoded if it was sent with `encodeURIComponent` (decode exactly once). */
  url: string;
  now?: Clock;
  random?: RandomSource;
}

/**
 * Builds `{ appId, timestamp, nonceStr, signature }` for `wx.config` (WeCom `agentConfig` signs
 * the same way with the agent ticket).
 *
 * @example
 * const config = buildJsSdkConfig({ appId, jsapiTicket, url: req.query.url });
 * // res.json({ ...config, jsApiList: ['chooseImage'] })
 */
export function buildJsSdkConfig(input: BuildJsSdkConfigInput): JsSdkConfig {
  if (!/^https?:\/\//i.test(input.url)) {
    throw new ArgumentError(
      'url must be the full page URL (http:// or https://), as location.href.split("#")[0] gives it',
    );
  }
  const timestamp = Math.floor((input.now ?? defaultClock)() / 1000);
  const nonceStr = randomAlphanumeric(16, input.random ?? defaultRandom);
  const signature = jsSdkSignature({ jsapiTicket: input.jsapiTicket, nonceStr, timestamp, url: input.url });
  return { appId: input.appId, timestamp, nonceStr, signature };
}

/**
 * Card (卡券) signature: the participating values (empty ones left out) sorted and joined with
 * nothing, then sha1 — used by `chooseCard` (`cardSign`) and `addCard` (`cardExt.signature`).
 *
 * @example
 * cardSignature([apiTicket, appId, timestamp, nonceStr, cardId, cardType]);
 */
export function cardSignature(values: readonly (string | number | undefined | null)[]): string {
  return sortedSha1(values.filter((v) => v !== undefined && v !== null && v !== '').map(String));
}
