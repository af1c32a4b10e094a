import { resolveCallbackOptions, type WeChatCallbackOptions } from '../callbacks/callback-options.js';
import { CallbackSecrets } from '../callbacks/callback-secrets.js';
import { type DedupeStore, MemoryDedupeStore } from '../callbacks/dedupe-store.js';
import type {
  AdapterProblem,
  CallbackHandler,
  CallbackRequest,
  CallbackResponse,
} from '../callbacks/types.js';
import { createWeChatCallback, type WeChatCallback } from '../callbacks/wechat-callback.js';
import { assertFreshTimestamp } from '../crypto/timestamp.js';
import { ConfigError } from '../errors.js';
import { LruMap } from '../internal/lru.js';
import { readQueryParams } from '../internal/query.js';

/** Default of {@link AuthorizerCallbackOptions.cacheSize}. */
export const DEFAULT_AUTHORIZER_CALLBACK_CACHE_SIZE = 1000;

/** The `ctx.state` key under which a handler finds the authorizer a push is for. */
export const AUTHORIZER_APPID_STATE = 'authorizerAppId';

/**
 * Options of {@link createAuthorizerCallback}: the platform's 消息与事件接收 configuration (its
 * token and EncodingAESKey, the same for every account), plus how each account's handlers are set
 * up. Every option of `createWeChatCallback` but `appId` applies to every account's pipeline.
 */
export interface AuthorizerCallbackOptions extends Omit<WeChatCallbackOptions, 'appId' | 'mode'> {
  /** The platform's component AppID: the ReceiveId of every push, whichever account it is for. */
  componentAppId: string;
  /** Open Platform pushes are always encrypted: `safe` (the default and the only mode WeChat uses). */
  mode?: 'safe' | undefined;
  /**
   * Registers the handlers of one account on its own pipeline (called once per account, again
   * only after the account's pipeline was evicted from memory). Handlers also find the account in
   * `ctx.state.authorizerAppId`.
   *
   * @example
   * setup: (callback, appId) => callback.on('text', (msg) => reply.text(`${appId} got ${msg.Content}`))
   */
  setup: (callback: WeChatCallback, authorizerAppId: string) => void;
  /**
   * Where the account's AppID is in the request (default: the last segment of the URL path, as
   * the console's `…/$APPID$` message URL puts it, when it looks like an AppID: `wx` and 6-32
   * letters or digits).
   */
  appIdOf?: ((request: CallbackRequest) => string | undefined) | undefined;
  /** How many accounts' pipelines are kept in memory (least recently used out; default 1000). */
  cacheSize?: number | undefined;
}

const APPID = /^[A-Za-z0-9_-]{2,64}$/;
const WX_APPID = /^wx[0-9A-Za-z]{6,32}$/;

function lastPathSegment(request: CallbackRequest): string | undefined {
  const target = String(request?.url ?? '');
  let path = target;
  const query = path.search(/[?#]/);
  if (query !== -1) path = path.slice(0, query);
  const absolute = /^[a-z][a-z0-9+.-]*:\/\/[^/]*/i.exec(path);
  if (absolute !== null) path = path.slice(absolute[0].length);
  const segments = path.split('/').filter((part) => part !== '');
  const last = segments[segments.length - 1];
  return last !== undefined && WX_APPID.test(last) ? last : undefined;
}

function plain(status: number, body: string): CallbackResponse {
  return {
    status,
    headers: { 'content-type': 'text/plain; charset=utf-8', 'x-content-type-options': 'nosniff' },
    body,
  };
}

/**
 * The endpoint of an Open Platform platform's 消息与事件接收URL (`https://example.com/wechat/$APPID$`),
 * where WeChat pushes the messages and events of every authorised account, encrypted with the
 * platform's token and key (ReceiveId = component AppID). Each push is routed by the account's
 * AppID in the URL to that account's own pipeline (verify → decrypt → dedupe → its handlers →
 * passive reply), built on first use by `setup` and kept in a bounded LRU. An adapter wraps it as
 * it wraps any callback.
 */
export class AuthorizerCallback implements CallbackHandler {
  readonly componentAppId: string;
  readonly #options: WeChatCallbackOptions;
  readonly #setup: AuthorizerCallbackOptions['setup'];
  readonly #appIdOf: (request: CallbackRequest) => string | undefined;
  readonly #pipelines: LruMap<string, WeChatCallback>;
  /** Built once with the options: checks them at creation, and reports adapter problems. */
  readonly #reporter: WeChatCallback;
  /** What checking a URL signature needs, before a new account's pipeline is built. */
  readonly #urlCheck: { tokens: CallbackSecrets; now: () => number; maxSkewSeconds: number };

  constructor(options: AuthorizerCallbackOptions) {
    if (typeof options !== 'object' || options === null) {
      throw new ConfigError('INVALID_CONFIG', 'createAuthorizerCallback: options must be an object');
    }
    const { componentAppId, setup, appIdOf, cacheSize, mode, ...shared } = options;
    if (typeof componentAppId !== 'string' || componentAppId === '') {
      throw new ConfigError(
        'INVALID_CONFIG',
        'createAuthorizerCallback: componentAppId (the platform AppID, the ReceiveId of its pushes) is required',
      );
    }
    if (typeof setup !== 'function') {
      throw new ConfigError(
        'INVALID_CONFIG',
        "createAuthorizerCallback: setup must be a function (callback, authorizerAppId) => void registering the account's handlers",
      );
    }
    if (appIdOf !== undefined && typeof appIdOf !== 'function') {
      throw new ConfigError(
        'INVALID_CONFIG',
        'createAuthorizerCallback: appIdOf must be a function (request) => string',
      );
    }
    const size = cacheSize ?? DEFAULT_AUTHORIZER_CALLBACK_CACHE_SIZE;
    if (!Number.isSafeInteger(size) || size < 1) {
      throw new ConfigError(
        'INVALID_CONFIG',
        'createAuthorizerCallback: cacheSize must be a whole number, at least 1',
      );
    }
    if (mode !== undefined && mode !== 'safe') {
      throw new ConfigError(
        'INVALID_CONFIG',
        'createAuthorizerCallback: Open Platform pushes are always encrypted; mode can only be "safe"',
      );
    }
    // One dedupe store for every account: an evicted pipeline rebuilt for a retry still knows it.
    const dedupe: DedupeStore =
      shared.dedupe ?? new MemoryDedupeStore(shared.now === undefined ? {} : { now: shared.now });
    this.#options = { ...shared, dedupe, appId: componentAppId, mode: 'safe' };
    // Built once now, so that a bad option fails here rather than on the first push.
    this.#reporter = createWeChatCallback(this.#options);
    const resolved = resolveCallbackOptions(this.#options);
    this.#urlCheck = {
      // The pipelines' own URL check (every listed token), without their keys: no decryption here.
      tokens: new CallbackSecrets({
        tokens: resolved.tokens,
        encodingAESKeys: undefined,
        receiveId: componentAppId,
        random: undefined,
      }),
      now: resolved.now,
      maxSkewSeconds: resolved.maxSkewSeconds,
    };
    this.componentAppId = componentAppId;
    this.#setup = setup;
    this.#appIdOf = appIdOf ?? lastPathSegment;
    this.#pipelines = new LruMap(size);
  }

  /** How many accounts' pipelines are in memory now, out of how many allowed. */
  get cached(): { size: number; maxSize: number } {
    return { size: this.#pipelines.size, maxSize: this.#pipelines.maxSize };
  }

  /**
   * The pipeline of one account (built and set up on first use). Its handlers can also be added
   * here, but `setup` is where they belong: an evicted pipeline is rebuilt by `setup` alone.
   */
  pipeline(authorizerAppId: string): WeChatCallback {
    const known = this.#pipelines.get(authorizerAppId);
    if (known !== undefined) return known;
    const callback = createWeChatCallback(this.#options);
    callback.use((_message, ctx, next) => {
      ctx.state[AUTHORIZER_APPID_STATE] = authorizerAppId;
      return next();
    });
    this.#setup(callback, authorizerAppId);
    this.#pipelines.set(authorizerAppId, callback);
    return callback;
  }

  /** Answers one request: 404 when the URL names no account, else the account's pipeline answers. */
  async handle(request: CallbackRequest): Promise<CallbackResponse> {
    let appId: string | undefined;
    try {
      appId = this.#appIdOf(request);
    } catch {
      appId = undefined;
    }
    if (appId === undefined || !APPID.test(appId)) {
      return plain(
        404,
        "not found: the platform's message URL must end with the account's AppID (…/$APPID$ in the Open Platform console)",
      );
    }
    // A pipeline is built (and `setup` run) only for a request WeChat signed: a forged one naming
    // AppIDs at random must neither run setup nor push real accounts' pipelines out of the cache.
    // It is refused by a pipeline with no handlers, with the usual status, hooks and audit record.
    if (this.#pipelines.get(appId) === undefined && !this.#signedUrl(request)) {
      return this.#reporter.handle(request);
    }
    let pipeline: WeChatCallback;
    try {
      pipeline = this.pipeline(appId);
    } catch {
      return plain(500, 'internal error');
    }
    return pipeline.handle(request);
  }

  /** The URL `signature` (any listed token) matches and its timestamp is inside the window. */
  #signedUrl(request: CallbackRequest): boolean {
    const query = readQueryParams(String(request?.url ?? ''));
    if (query === undefined) return false;
    const timestamp = query.get('timestamp') ?? '';
    const { tokens, now, maxSkewSeconds } = this.#urlCheck;
    try {
      tokens.urlToken(timestamp, query.get('nonce') ?? '', query.get('signature') ?? '');
      assertFreshTimestamp(timestamp, { now, maxSkewSeconds });
      return true;
    } catch {
      return false;
    }
  }

  /** Passes an adapter's problem to a pipeline's hooks and logger (they are shared by every account). */
  reportAdapterProblem(problem: AdapterProblem): void {
    this.#reporter.reportAdapterProblem(problem);
  }
}

/**
 * Creates the endpoint of an Open Platform platform's 消息与事件接收URL: pushes for every
 * authorised account arrive there (`…/$APPID$`), and each is routed to that account's handlers.
 *
 * @example
 * const messages = createAuthorizerCallback({
 *   componentAppId, token, encodingAESKey,
 *   setup: (callback, appId) => {
 *     callback.on('text', (msg) => reply.text(`echo from ${appId}: ${msg.Content}`));
 *     callback.on('event.weapp_audit_success', () => op.miniProgram(appId).code.release());
 *   },
 * });
 * app.post('/wechat/:appid', toExpress(messages)); // with weixin-kit/express
 */
export function createAuthorizerCallback(options: AuthorizerCallbackOptions): AuthorizerCallback {
  return new AuthorizerCallback(options);
}
