import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { loadPrivateKey, loadPublicKey } from '../crypto/keys.js';
import { decodeEncodingAESKey } from '../crypto/message-cipher.js';
import { ConfigError } from '../errors.js';
import { parseAddressEntry } from '../internal/client-ip.js';
import type { ClockMode } from './clock.js';
import {
  type EmulatorContentSecurityOptions,
  type ResolvedContentRules,
  resolveContentSecurityOptions,
} from './mini-program/content-rules.js';

/** The kinds of account the emulator serves. */
export type EmulatorAppKind = 'official-account' | 'mini-program';

/** How the emulator delivers pushes to an app (the console's 消息加解密方式). */
export type MessageMode = 'safe' | 'compatible' | 'plain';

/** One emulated Official Account or Mini Program. */
export interface EmulatorAppConfig {
  appId: string;
  secret: string;
  kind: EmulatorAppKind;
  /** Token of the server configuration (needed for pushes). */
  token?: string;
  /** 43-character EncodingAESKey (needed for safe and compatible mode). */
  encodingAESKey?: string;
  /** Where pushes are POSTed, e.g. `http://127.0.0.1:3000/wechat`. */
  callbackUrl?: string;
  /** Default `safe` when an EncodingAESKey is set, else `plain`. */
  messageMode?: MessageMode;
  /** Push format for Mini Programs (`xml` default). */
  dataFormat?: 'xml' | 'json';
  /** The account's original id (`gh_…`), used as ToUserName in pushes. */
  originalId?: string;
  /** When set, code2Session and user info return a unionid. */
  unionIdEnabled?: boolean;
  /**
   * Mini Programs only: the console's API安全 settings. When set, the APIs that support server-API
   * security (`wxa/getuserriskrank`) accept only sealed requests and answer sealed responses.
   */
  apiSecurity?: EmulatorMpApiSecurityConfig;
}

/**
 * A Mini Program's server-API security keys (开发管理 → 开发设置 → API安全), RSAwithSHA256 +
 * AES256_GCM only. The platform key pair (开放平台证书) is generated at start when not given.
 */
export interface EmulatorMpApiSecurityConfig {
  /** The AES256_GCM symmetric key, base64 of 32 bytes (as the console shows it). */
  symmetricKey: string;
  /** The symmetric key number (part of the AAD). */
  symmetricSn: string;
  /** The developer's RSA public key (SPKI PEM or certificate), checks request signatures. */
  developerPublicKeyPem: string;
  /** The asymmetric key number, expected in the request's `Wechatmp-Serial`. */
  asymmetricSn: string;
  /** The platform's RSA private key (PKCS#8 PEM) responses are signed with; default: generated. */
  platformPrivateKeyPem?: string;
  /** The platform certificate number, sent in the response's `Wechatmp-Serial`; default: random. */
  platformSn?: string;
}

/** How the emulator signs Pay v3 responses and notifications for a merchant. */
export type VerifyMode = 'public-key' | 'certificate';

/** One emulated WeChat Pay merchant. */
export interface EmulatorMerchantConfig {
  mchid: string;
  /** The 32-character APIv3 key. */
  apiV3Key: string;
  /** The APIv2 key (Pay v2 signatures); default: a generated one. */
  apiV2Key?: string;
  /** Serial of the merchant API certificate, as sent in `Authorization`. */
  merchantCertificateSerial: string;
  /** The merchant's public key (SPKI PEM or certificate) used to check `Authorization`. */
  merchantPublicKeyPem: string;
  /** Only for generated merchants: the private key a client signs with. */
  merchantPrivateKeyPem?: string;
  /** Default `public-key`. */
  verifyMode?: VerifyMode;
}

/** One emulated WeCom (企业微信) corp with its self-built apps (agents). */
export interface EmulatorCorpConfig {
  /** The corpid (`ww…`). */
  corpId: string;
  /**
   * Self-built apps: each has its own secret and its own access_token. An app with a `callbackUrl`
   * (接收消息服务器URL) receives pushes (`POST /_emulator/wecom/push`), signed with its `token` and
   * encrypted with its `encodingAESKey` (WeCom always encrypts; ReceiveId = corpId).
   */
  agents: Array<{
    agentId: number;
    secret: string;
    name?: string;
    token?: string;
    encodingAESKey?: string;
    callbackUrl?: string;
  }>;
  /** Members (`userid`); default one member `zhangsan`. */
  users?: Array<{ userid: string; name?: string; mobile?: string }>;
}

/**
 * One emulated Open Platform third-party platform (第三方平台, "component"). Its 授权事件 pushes
 * (component_verify_ticket, authorized, …) are always encrypted, with ReceiveId = componentAppId.
 */
export interface EmulatorComponentConfig {
  /** The platform's component AppID (`wx…`). */
  componentAppId: string;
  /** The platform's AppSecret (component_appsecret). */
  componentSecret: string;
  /** Token of the 授权事件 / 消息与事件 reception configuration. */
  token: string;
  /** 43-character EncodingAESKey (the platform's pushes are always encrypted). */
  encodingAESKey: string;
  /** 授权事件接收URL: where component_verify_ticket and authorisation events are POSTed. */
  callbackUrl?: string;
  /**
   * 消息与事件接收URL: where the messages and events of every authorised account are POSTed, with
   * `$APPID$` replaced by the account's AppID (e.g. `http://127.0.0.1:3000/wechat/$APPID$`).
   */
  messageUrl?: string;
}

/**
 * One emulated WeCom third-party app (企业微信 第三方应用, "suite"). Its instruction callback
 * (指令回调: suite_ticket, create_auth, change_auth, cancel_auth) is encrypted with ReceiveId =
 * suiteId; its data callback (数据回调: the installing companies' messages) with ReceiveId = the
 * company's corpId. Companies that install it must be listed under `corps`.
 */
export interface EmulatorSuiteConfig {
  /** The SuiteID (`ww…`, `wx…`, or `dk…` for a 代开发 template). */
  suiteId: string;
  /** The app's Secret (suite_secret). */
  suiteSecret: string;
  /** Token of the app's callback configuration. */
  token: string;
  /** 43-character EncodingAESKey. */
  encodingAESKey: string;
  /** 指令回调URL: where suite_ticket and the authorisation events are POSTed. */
  callbackUrl?: string;
  /** 数据回调URL: where the installing companies' messages and events are POSTed. */
  dataCallbackUrl?: string;
  /**
   * Emulated seconds between scheduled suite_ticket pushes (default 600, as WeCom; the first one
   * that long after start). 0 pushes only on `POST /_emulator/wecom/suites/ticket`.
   */
  ticketIntervalSeconds?: number;
}

/** Emulator-wide options. */
export interface EmulatorOptions {
  /** `cgi-bin/token` calls allowed per app and day (default 2000). */
  tokenDailyQuota?: number;
  /**
   * Divides the delays of the emulator's delayed work — refund settlement (60 s), the Pay
   * notification schedule 15s/15s/30s/3m/…, the events sent after a template message or a media
   * check — so a demo need not wait (default 1000: 15 s becomes 15 ms; 1 keeps WeChat's delays).
   * The reply timeout of a push is `pushTimeoutMs`, not scaled.
   */
  retryTimeScale?: number;
  /** How long a push waits for the developer's answer, in ms of emulated time (default 5000, as WeChat). */
  pushTimeoutMs?: number;
  /**
   * `real` (default): emulated time follows the real clock, plus whatever `POST /_emulator/clock`
   * added. `manual`: it stands still from the start and moves only by `POST /_emulator/clock`, so
   * delayed work (refund settlement, retries, push timeouts) runs exactly when a test advances it.
   */
  clock?: ClockMode;
  /**
   * What `getcallbackip` answers (WeChat's and WeCom's alike): addresses and CIDR ranges. Default
   * {@link DEFAULT_CALLBACK_IPS}: the loopback addresses the emulator pushes from, so a local
   * allowlist accepts its pushes, and two documentation ranges (RFC 5737). `POST
   * /_emulator/callback-ips` replaces it while running.
   */
  callbackIps?: string[];
  /**
   * What the Mini Program content-security checks find: `textRules` for `msg_sec_check`,
   * `mediaRules` for the media URL of `media_check_async` (`{ contains, suggest?, label }`, first
   * match wins, else `pass`). `POST /_emulator/mini-program/content-security` replaces them while running.
   */
  contentSecurity?: EmulatorContentSecurityOptions;
}

/**
 * The default `options.callbackIps`: `127.0.0.1` and `::1` (where the emulator's pushes come from)
 * and the documentation ranges `192.0.2.0/25` and `198.51.100.7` (RFC 5737; never routed).
 */
export const DEFAULT_CALLBACK_IPS: readonly string[] = ['127.0.0.1', '::1', '192.0.2.0/25', '198.51.100.7'];

/** The emulator's configuration (JSON-compatible). */
export interface EmulatorConfig {
  apps: EmulatorAppConfig[];
  merchants: EmulatorMerchantConfig[];
  /** WeCom corps (optional). */
  corps?: EmulatorCorpConfig[];
  /** Open Platform third-party platforms (optional). */
  components?: EmulatorComponentConfig[];
  /** WeCom third-party apps (optional). */
  suites?: EmulatorSuiteConfig[];
  options?: EmulatorOptions;
}

/** A configuration with every default filled in. */
export interface ResolvedEmulatorConfig {
  apps: Array<
    Omit<EmulatorAppConfig, 'apiSecurity'> & {
      messageMode: MessageMode;
      originalId: string;
      apiSecurity?: Required<EmulatorMpApiSecurityConfig>;
    }
  >;
  merchants: Array<EmulatorMerchantConfig & { apiV2Key: string; verifyMode: VerifyMode }>;
  corps: Array<Required<EmulatorCorpConfig>>;
  components: EmulatorComponentConfig[];
  suites: Array<EmulatorSuiteConfig & { ticketIntervalSeconds: number }>;
  options: Required<Omit<EmulatorOptions, 'contentSecurity'>> & { contentSecurity: ResolvedContentRules };
}

const APP_KEYS = new Set([
  'appId',
  'secret',
  'kind',
  'token',
  'encodingAESKey',
  'callbackUrl',
  'messageMode',
  'dataFormat',
  'originalId',
  'unionIdEnabled',
  'apiSecurity',
]);
const API_SECURITY_KEYS = new Set([
  'symmetricKey',
  'symmetricSn',
  'developerPublicKeyPem',
  'asymmetricSn',
  'platformPrivateKeyPem',
  'platformSn',
]);
const MERCHANT_KEYS = new Set([
  'mchid',
  'apiV3Key',
  'apiV2Key',
  'merchantCertificateSerial',
  'merchantPublicKeyPem',
  'merchantPrivateKeyPem',
  'verifyMode',
]);
const COMPONENT_KEYS = new Set([
  'componentAppId',
  'componentSecret',
  'token',
  'encodingAESKey',
  'callbackUrl',
  'messageUrl',
]);
const OPTION_KEYS = new Set([
  'tokenDailyQuota',
  'retryTimeScale',
  'pushTimeoutMs',
  'clock',
  'callbackIps',
  'contentSecurity',
]);

function bad(where: string, message: string): ConfigError {
  return new ConfigError('INVALID_CONFIG', `emulator config ${where}: ${message}`);
}

function checkKeys(value: object, allowed: Set<string>, where: string): void {
  for (const key of Object.keys(value)) {
    if (allowed.has(key)) continue;
    const pemKey = PATH_KEYS.find((k) => k.path === key)?.pem;
    if (pemKey !== undefined && allowed.has(pemKey)) {
      throw bad(
        where,
        `"${key}" is read only from a config file (loadEmulatorConfig, weixin-kit emulator --config); in code, pass ${pemKey}: readFileSync(path, 'utf8')`,
      );
    }
    throw bad(where, `unknown key "${key}" (allowed: ${[...allowed].join(', ')})`);
  }
}

function text(value: unknown, where: string, pattern?: RegExp, hint?: string): string {
  if (typeof value !== 'string' || value === '' || (pattern && !pattern.test(value))) {
    throw bad(where, hint ?? 'must be a non-empty string');
  }
  return value;
}

const hex = (bytes: number) => randomBytes(bytes).toString('hex');
const alnum = (n: number) =>
  randomBytes(n * 2)
    .toString('base64')
    .replace(/[^A-Za-z0-9]/g, '')
    .slice(0, n);

/** A PEM key of the configuration and the `…Path` key that names a file holding it. */
interface PathKey {
  pem: string;
  path: string;
  /** Checks the file's content, so that an error names the `…Path` key and the file. */
  check: (pem: string) => unknown;
}

const PATH_KEYS: PathKey[] = [
  { pem: 'merchantPublicKeyPem', path: 'merchantPublicKeyPath', check: loadPublicKey },
  { pem: 'merchantPrivateKeyPem', path: 'merchantPrivateKeyPath', check: loadPrivateKey },
  { pem: 'developerPublicKeyPem', path: 'developerPublicKeyPath', check: loadPublicKey },
  { pem: 'platformPrivateKeyPem', path: 'platformPrivateKeyPath', check: loadPrivateKey },
];

/** When a PEM key holds what looks like a file name, points at the `…Path` key that reads files. */
function pathHint(value: unknown, pathKey: string): string {
  // Bare base64 keys are longer than 260 characters (an RSA-2048 public key is about 400).
  return typeof value === 'string' && value.trim().length <= 260 && !/-----BEGIN|\s/.test(value.trim())
    ? ` (to read a file, name it with ${pathKey} in a config file)`
    : '';
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Replaces the `…Path` keys of one object by the PEM they name, in place. */
function inlineKeyFiles(target: Record<string, unknown>, where: string, baseDir: string): void {
  for (const { pem, path: pathKey, check } of PATH_KEYS) {
    if (!(pathKey in target)) continue;
    const given = target[pathKey];
    if (typeof given !== 'string' || given === '') throw bad(`${where}.${pathKey}`, 'must be a file path');
    if (target[pem] !== undefined) {
      throw bad(where, `give ${pem} (the PEM itself) or ${pathKey} (a file), not both`);
    }
    const file = resolve(baseDir, given);
    let content: string;
    try {
      content = readFileSync(file, 'utf8');
    } catch (cause) {
      const code = (cause as NodeJS.ErrnoException).code ?? (cause as Error).message;
      throw bad(
        `${where}.${pathKey}`,
        `cannot read ${file} (${code}); a relative path is read from the config file's folder`,
      );
    }
    try {
      check(content);
    } catch (cause) {
      throw bad(`${where}.${pathKey}`, `${file}: ${(cause as Error).message}`);
    }
    delete target[pathKey];
    target[pem] = content;
  }
}

/**
 * Reads an emulator configuration from a JSON file (what `weixin-kit emulator --config` does).
 * Beside the inline PEM keys, a file may name key and certificate files:
 * `merchants[].merchantPublicKeyPath` (a public key or a certificate such as apiclient_cert.pem),
 * `merchants[].merchantPrivateKeyPath`, `apps[].apiSecurity.developerPublicKeyPath` and
 * `apps[].apiSecurity.platformPrivateKeyPath`. A relative path is read from the config file's
 * folder. Throws `ConfigError` (`INVALID_CONFIG`) naming the key and the file when one cannot be
 * read or does not hold the expected key; the rest is validated by {@link resolveConfig}.
 *
 * @example
 * const emulator = createEmulator(loadEmulatorConfig('test/emulator.json'));
 */
export function loadEmulatorConfig(path: string): EmulatorConfig {
  let raw: string;
  try {
    raw = readFileSync(path, 'utf8');
  } catch (error) {
    throw new ConfigError(
      'INVALID_CONFIG',
      `cannot read the emulator config ${path}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`,
    );
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch (error) {
    throw new ConfigError(
      'INVALID_CONFIG',
      `the emulator config ${path} is not valid JSON: ${(error as Error).message}`,
    );
  }
  if (!isObject(parsed)) return parsed as EmulatorConfig; // resolveConfig says what is wrong
  const baseDir = dirname(resolve(path));
  const { apps, merchants } = parsed;
  if (Array.isArray(merchants)) {
    merchants.forEach((m: unknown, i) => {
      if (isObject(m)) inlineKeyFiles(m, `merchants[${i}]`, baseDir);
    });
  }
  if (Array.isArray(apps)) {
    apps.forEach((app: unknown, i) => {
      if (isObject(app) && isObject(app.apiSecurity)) {
        inlineKeyFiles(app.apiSecurity, `apps[${i}].apiSecurity`, baseDir);
      }
    });
  }
  return parsed as unknown as EmulatorConfig;
}

/** Validates a configuration and fills in defaults; throws `ConfigError` (`INVALID_CONFIG`). */
export function resolveConfig(input: unknown): ResolvedEmulatorConfig {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) {
    throw bad('', 'must be an object { apps: [...], merchants: [...] }');
  }
  checkKeys(input, new Set(['apps', 'merchants', 'corps', 'components', 'suites', 'options']), '');
  const config = input as Partial<EmulatorConfig>;
  const apps = config.apps ?? [];
  const merchants = config.merchants ?? [];
  if (!Array.isArray(apps) || !Array.isArray(merchants)) throw bad('', 'apps and merchants must be arrays');
  const seen = new Set<string>();
  const resolvedApps = apps.map((app, i) => {
    const where = `apps[${i}]`;
    if (typeof app !== 'object' || app === null) throw bad(where, 'must be an object');
    checkKeys(app, APP_KEYS, where);
    const appId = text(
      app.appId,
      `${where}.appId`,
      /^w[xw][0-9A-Za-z]{8,32}$/,
      'must look like an AppID (wx…)',
    );
    if (seen.has(appId)) throw bad(`${where}.appId`, `${appId} appears twice`);
    seen.add(appId);
    text(app.secret, `${where}.secret`);
    if (app.kind !== 'official-account' && app.kind !== 'mini-program') {
      throw bad(`${where}.kind`, 'must be "official-account" or "mini-program"');
    }
    if (app.encodingAESKey !== undefined) {
      try {
        decodeEncodingAESKey(app.encodingAESKey);
      } catch (cause) {
        throw bad(`${where}.encodingAESKey`, (cause as Error).message);
      }
    }
    const messageMode = app.messageMode ?? (app.encodingAESKey ? 'safe' : 'plain');
    if (!['safe', 'compatible', 'plain'].includes(messageMode)) {
      throw bad(`${where}.messageMode`, 'must be "safe", "compatible" or "plain"');
    }
    if (messageMode !== 'plain' && app.encodingAESKey === undefined) {
      throw bad(`${where}.encodingAESKey`, `is required in ${messageMode} mode`);
    }
    if (app.callbackUrl !== undefined && !/^https?:\/\//.test(app.callbackUrl)) {
      throw bad(`${where}.callbackUrl`, 'must be an http(s) URL');
    }
    if (app.callbackUrl !== undefined && app.token === undefined) {
      throw bad(`${where}.token`, 'is required when callbackUrl is set (pushes are signed with it)');
    }
    const { apiSecurity: rawApiSecurity, ...rest } = app;
    const apiSecurity =
      rawApiSecurity === undefined
        ? undefined
        : resolveApiSecurity(rawApiSecurity, app.kind, `${where}.apiSecurity`);
    return {
      ...rest,
      messageMode,
      originalId: app.originalId ?? `gh_${appId.slice(2, 14)}`,
      ...(apiSecurity === undefined ? {} : { apiSecurity }),
    };
  });
  const resolvedMerchants = merchants.map((m, i) => {
    const where = `merchants[${i}]`;
    if (typeof m !== 'object' || m === null) throw bad(where, 'must be an object');
    checkKeys(m, MERCHANT_KEYS, where);
    text(m.mchid, `${where}.mchid`, /^\d{6,12}$/, 'must be the merchant id (digits)');
    if (typeof m.apiV3Key !== 'string' || Buffer.byteLength(m.apiV3Key) !== 32) {
      throw bad(`${where}.apiV3Key`, 'must be the 32-character APIv3 key');
    }
    text(m.merchantCertificateSerial, `${where}.merchantCertificateSerial`, /^[0-9A-Fa-f]+$/, 'must be hex');
    try {
      loadPublicKey(m.merchantPublicKeyPem);
    } catch (cause) {
      throw bad(
        `${where}.merchantPublicKeyPem`,
        `${(cause as Error).message}${pathHint(m.merchantPublicKeyPem, 'merchantPublicKeyPath')}`,
      );
    }
    const verifyMode = m.verifyMode ?? 'public-key';
    if (verifyMode !== 'public-key' && verifyMode !== 'certificate') {
      throw bad(`${where}.verifyMode`, 'must be "public-key" or "certificate"');
    }
    return { ...m, apiV2Key: m.apiV2Key ?? alnum(32), verifyMode };
  });
  const corps = config.corps ?? [];
  if (!Array.isArray(corps)) throw bad('corps', 'must be an array');
  const resolvedCorps = corps.map((corp, i) => {
    const where = `corps[${i}]`;
    if (typeof corp !== 'object' || corp === null) throw bad(where, 'must be an object');
    checkKeys(corp, new Set(['corpId', 'agents', 'users']), where);
    text(corp.corpId, `${where}.corpId`, /^w[wx][0-9A-Za-z]{8,32}$/, 'must look like a corpid (ww…)');
    if (!Array.isArray(corp.agents) || corp.agents.length === 0)
      throw bad(`${where}.agents`, 'needs at least one agent');
    corp.agents.forEach((agent, j) => {
      const at = `${where}.agents[${j}]`;
      checkKeys(agent, AGENT_KEYS, at);
      if (!Number.isInteger(agent.agentId)) throw bad(`${at}.agentId`, 'must be an integer');
      text(agent.secret, `${at}.secret`);
      checkPushSecrets(agent, at, agent.callbackUrl !== undefined);
    });
    const users = corp.users ?? [{ userid: 'zhangsan', name: '张三', mobile: '13800000000' }];
    users.forEach((u, j) => {
      checkKeys(u, new Set(['userid', 'name', 'mobile']), `${where}.users[${j}]`);
      text(u.userid, `${where}.users[${j}].userid`);
    });
    return { corpId: corp.corpId, agents: corp.agents, users };
  });
  const resolvedComponents = resolveComponents(config.components);
  const resolvedSuites = resolveSuites(config.suites);
  const options = config.options ?? {};
  checkKeys(options, OPTION_KEYS, 'options');
  const clock = options.clock ?? 'real';
  if (clock !== 'real' && clock !== 'manual') throw bad('options.clock', 'must be "real" or "manual"');
  const callbackIps = options.callbackIps ?? [...DEFAULT_CALLBACK_IPS];
  if (!Array.isArray(callbackIps)) throw bad('options.callbackIps', 'must be an array of addresses or CIDRs');
  callbackIps.forEach((entry, i) => {
    if (parseAddressEntry(entry) === undefined) {
      throw bad(`options.callbackIps[${i}]`, 'must be an IPv4/IPv6 address or a CIDR such as "192.0.2.0/25"');
    }
  });
  return {
    apps: resolvedApps,
    merchants: resolvedMerchants,
    corps: resolvedCorps,
    components: resolvedComponents,
    suites: resolvedSuites,
    options: {
      tokenDailyQuota: options.tokenDailyQuota ?? 2000,
      retryTimeScale: options.retryTimeScale ?? 1000,
      pushTimeoutMs: options.pushTimeoutMs ?? 5000,
      clock,
      callbackIps: [...callbackIps],
      contentSecurity: resolveContentSecurityOptions(options.contentSecurity),
    },
  };
}

/** A key number: a field of the AAD and signed text, so no `|` or line break. */
const SN_PATTERN = /^[^|\r\n]+$/;

function resolveApiSecurity(
  input: unknown,
  kind: EmulatorAppKind,
  where: string,
): Required<EmulatorMpApiSecurityConfig> {
  if (kind !== 'mini-program') throw bad(where, 'is only for Mini Programs (kind "mini-program")');
  if (typeof input !== 'object' || input === null || Array.isArray(input))
    throw bad(where, 'must be an object');
  checkKeys(input, API_SECURITY_KEYS, where);
  const c = input as Partial<EmulatorMpApiSecurityConfig>;
  const symmetricKey = text(c.symmetricKey, `${where}.symmetricKey`);
  if (!/^[A-Za-z0-9+/]{43}=$/.test(symmetricKey.trim())) {
    throw bad(`${where}.symmetricKey`, 'must be the AES256_GCM key: base64 of 32 bytes (44 characters)');
  }
  const snHint = 'must be a non-empty key number without "|" or line breaks';
  const symmetricSn = text(c.symmetricSn, `${where}.symmetricSn`, SN_PATTERN, snHint);
  const asymmetricSn = text(c.asymmetricSn, `${where}.asymmetricSn`, SN_PATTERN, snHint);
  const developerPublicKeyPem = text(c.developerPublicKeyPem, `${where}.developerPublicKeyPem`);
  try {
    if (loadPublicKey(developerPublicKeyPem).asymmetricKeyType !== 'rsa') throw new Error('not an RSA key');
  } catch (cause) {
    throw bad(
      `${where}.developerPublicKeyPem`,
      `must be an RSA public key or certificate: ${(cause as Error).message}${pathHint(developerPublicKeyPem, 'developerPublicKeyPath')}`,
    );
  }
  let platformPrivateKeyPem: string;
  if (c.platformPrivateKeyPem === undefined) {
    platformPrivateKeyPem = generateKeyPairSync('rsa', { modulusLength: 2048 })
      .privateKey.export({ type: 'pkcs8', format: 'pem' })
      .toString();
  } else {
    platformPrivateKeyPem = text(c.platformPrivateKeyPem, `${where}.platformPrivateKeyPem`);
    try {
      if (loadPrivateKey(platformPrivateKeyPem).asymmetricKeyType !== 'rsa')
        throw new Error('not an RSA key');
    } catch (cause) {
      throw bad(
        `${where}.platformPrivateKeyPem`,
        `must be an RSA private key: ${(cause as Error).message}${pathHint(platformPrivateKeyPem, 'platformPrivateKeyPath')}`,
      );
    }
  }
  const platformSn =
    c.platformSn === undefined ? hex(16) : text(c.platformSn, `${where}.platformSn`, SN_PATTERN, snHint);
  return {
    symmetricKey,
    symmetricSn,
    developerPublicKeyPem,
    asymmetricSn,
    platformPrivateKeyPem,
    platformSn,
  };
}

function resolveComponents(input: unknown): EmulatorComponentConfig[] {
  const components = input ?? [];
  if (!Array.isArray(components)) throw bad('components', 'must be an array');
  const seen = new Set<string>();
  return components.map((component: unknown, i) => {
    const where = `components[${i}]`;
    if (typeof component !== 'object' || component === null || Array.isArray(component)) {
      throw bad(where, 'must be an object');
    }
    checkKeys(component, COMPONENT_KEYS, where);
    const c = component as Partial<EmulatorComponentConfig>;
    const componentAppId = text(
      c.componentAppId,
      `${where}.componentAppId`,
      /^wx[0-9A-Za-z]{8,32}$/,
      'must look like a component AppID (wx…)',
    );
    if (seen.has(componentAppId)) throw bad(`${where}.componentAppId`, `${componentAppId} appears twice`);
    seen.add(componentAppId);
    const componentSecret = text(c.componentSecret, `${where}.componentSecret`);
    const token = text(c.token, `${where}.token`, undefined, 'is required (pushes are signed with it)');
    const encodingAESKey = text(
      c.encodingAESKey,
      `${where}.encodingAESKey`,
      undefined,
      'is required (Open Platform pushes are always encrypted)',
    );
    try {
      decodeEncodingAESKey(encodingAESKey);
    } catch (cause) {
      throw bad(`${where}.encodingAESKey`, (cause as Error).message);
    }
    if (
      c.callbackUrl !== undefined &&
      (typeof c.callbackUrl !== 'string' || !/^https?:\/\//.test(c.callbackUrl))
    ) {
      throw bad(`${where}.callbackUrl`, 'must be an http(s) URL');
    }
    if (
      c.messageUrl !== undefined &&
      (typeof c.messageUrl !== 'string' ||
        !/^https?:\/\//.test(c.messageUrl) ||
        !c.messageUrl.includes('$APPID$'))
    ) {
      throw bad(
        `${where}.messageUrl`,
        'must be an http(s) URL containing $APPID$ (where the account AppID goes)',
      );
    }
    return {
      componentAppId,
      componentSecret,
      token,
      encodingAESKey,
      ...(c.callbackUrl === undefined ? {} : { callbackUrl: c.callbackUrl }),
      ...(c.messageUrl === undefined ? {} : { messageUrl: c.messageUrl }),
    };
  });
}

const AGENT_KEYS = new Set(['agentId', 'secret', 'name', 'token', 'encodingAESKey', 'callbackUrl']);
const SUITE_KEYS = new Set([
  'suiteId',
  'suiteSecret',
  'token',
  'encodingAESKey',
  'callbackUrl',
  'dataCallbackUrl',
  'ticketIntervalSeconds',
]);

/**
 * The push settings of a WeCom receiver (an agent or a suite): URLs are http(s), a 43-character
 * EncodingAESKey, and both `token` and `encodingAESKey` when it receives pushes (WeCom always encrypts).
 */
function checkPushSecrets(
  c: { token?: unknown; encodingAESKey?: unknown; callbackUrl?: unknown; dataCallbackUrl?: unknown },
  where: string,
  receives: boolean,
): void {
  for (const name of ['callbackUrl', 'dataCallbackUrl'] as const) {
    const url = c[name];
    if (url !== undefined && (typeof url !== 'string' || !/^https?:\/\//.test(url))) {
      throw bad(`${where}.${name}`, 'must be an http(s) URL');
    }
  }
  if (c.token !== undefined || receives) {
    text(
      c.token,
      `${where}.token`,
      undefined,
      'is required when a callback URL is set (pushes are signed with it)',
    );
  }
  if (c.encodingAESKey !== undefined || receives) {
    const key = text(
      c.encodingAESKey,
      `${where}.encodingAESKey`,
      undefined,
      'is required when a callback URL is set (WeCom pushes are always encrypted)',
    );
    try {
      decodeEncodingAESKey(key);
    } catch (cause) {
      throw bad(`${where}.encodingAESKey`, (cause as Error).message);
    }
  }
}

function resolveSuites(input: unknown): ResolvedEmulatorConfig['suites'] {
  const suites = input ?? [];
  if (!Array.isArray(suites)) throw bad('suites', 'must be an array');
  const seen = new Set<string>();
  return suites.map((suite: unknown, i) => {
    const where = `suites[${i}]`;
    if (typeof suite !== 'object' || suite === null || Array.isArray(suite))
      throw bad(where, 'must be an object');
    checkKeys(suite, SUITE_KEYS, where);
    const c = suite as Partial<EmulatorSuiteConfig>;
    const suiteId = text(
      c.suiteId,
      `${where}.suiteId`,
      /^(ww|wx|dk)[0-9A-Za-z]{8,32}$/,
      'must look like a SuiteID (ww…, wx…, or dk… for a 代开发 template)',
    );
    if (seen.has(suiteId)) throw bad(`${where}.suiteId`, `${suiteId} appears twice`);
    seen.add(suiteId);
    text(c.suiteSecret, `${where}.suiteSecret`);
    checkPushSecrets(c, where, true);
    const interval = c.ticketIntervalSeconds ?? 600;
    if (!Number.isInteger(interval) || interval < 0) {
      throw bad(
        `${where}.ticketIntervalSeconds`,
        'must be a whole number of seconds (0: no scheduled pushes)',
      );
    }
    return { ...(c as EmulatorSuiteConfig), ticketIntervalSeconds: interval };
  });
}

/**
 * A configuration with one app of each kind and one merchant, all with fresh random credentials
 * (the merchant's private key included, so a client can sign requests).
 */
export function defaultConfig(): EmulatorConfig {
  const merchant = generateKeyPairSync('rsa', { modulusLength: 2048 });
  return {
    apps: [
      {
        appId: `wx${hex(8)}`,
        secret: hex(16),
        kind: 'official-account',
        token: alnum(16),
        encodingAESKey: alnum(43),
        messageMode: 'safe',
      },
      {
        appId: `wx${hex(8)}`,
        secret: hex(16),
        kind: 'mini-program',
        token: alnum(16),
        encodingAESKey: alnum(43),
        messageMode: 'safe',
      },
    ],
    corps: [{ corpId: `ww${hex(8)}`, agents: [{ agentId: 1000002, secret: alnum(43), name: 'demo app' }] }],
    merchants: [
      {
        mchid: String(1_900_000_000 + Math.floor(Math.random() * 99_999_999)),
        apiV3Key: alnum(32),
        apiV2Key: alnum(32),
        merchantCertificateSerial: hex(20).toUpperCase(),
        merchantPublicKeyPem: merchant.publicKey.export({ type: 'spki', format: 'pem' }).toString(),
        merchantPrivateKeyPem: merchant.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
        verifyMode: 'public-key',
      },
    ],
  };
}
