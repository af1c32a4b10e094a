import { inServerSpan, pathOfTarget, recordServerStatus, spanMethod, type Tracing } from '../core/tracing.js';
import { extractEncrypt } from '../crypto/message-crypto.js';
import { assertFreshTimestamp } from '../crypto/timestamp.js';
import { ArgumentError, ConfigError, isWeChatKitError, PayloadError, SignatureError } from '../errors.js';
import { sleep } from '../internal/abort.js';
import { byteLength, defaultRandom, toText } from '../internal/bytes.js';
import { callHook } from '../internal/callback-hooks.js';
import { type QueryParams, readQueryParams } from '../internal/query.js';
import { refusalStatus } from '../internal/refusal-status.js';
import { replyFields } from '../internal/reply-fields.js';
import { firstHeader, RequestIds } from '../internal/request-id.js';
import { routingKeyOf } from '../internal/routing-key.js';
import { isThenable } from '../internal/thenable.js';
import { elapsedClock, raceTimer } from '../internal/timers.js';
import { buildXml } from '../xml/build.js';
import type { CallbackErrorEvent, CallbackHooks, RefusalCode } from './callback-hooks.js';
import { bodyAlreadyParsed, errorCodeOf, logCallbackError } from './callback-logger.js';
import {
  type CallbackProduct,
  isWeComOptions,
  type MessageMode,
  type ResolvedCallbackOptions,
  resolveCallbackOptions,
  resolveWeComCallbackOptions,
  type WeChatCallbackOptions,
  type WeComCallbackOptions,
} from './callback-options.js';
import { CallbackSecrets, type SecretIndexes } from './callback-secrets.js';
import { dedupeKeyOf, parseMessage, weComDedupeKeyOf } from './decode-message.js';
import { type DedupeStore, MemoryDedupeStore } from './dedupe-store.js';
import { addHandler, nearestKey } from './handler-registry.js';
import { renewLease } from './lease-renewal.js';
import {
  CALLBACK_MESSAGE_TYPES,
  type CallbackMessageMap,
  type CallbackMessageType,
  type InboundMessage,
  isCallbackMessageType,
  type UnknownMessage,
} from './messages.js';
import { isReply, type Reply } from './replies.js';
import { type RequestFacts, reportRequest } from './request-report.js';
import type { AdapterProblem, CallbackHandler, CallbackRequest, CallbackResponse } from './types.js';

/** What one push's report is made of (see `request-report.ts`). */
type PushFacts = RequestFacts;

/** What the pipeline knows about the push being handled; `state` is free for middleware. */
export interface CallbackContext {
  /** The callback's appId (ReceiveId); for WeCom, its corp id (or suite id). */
  readonly appId: string;
  /** `wecom` for a {@link createWeComCallback} endpoint, else `wechat`. */
  readonly product: CallbackProduct;
  /** The routing key: `text`, `event.subscribe`, `component_verify_ticket`, … (`''` if none). */
  readonly type: string;
  readonly format: 'xml' | 'json';
  /** True when the push arrived encrypted (its reply is then encrypted too). */
  readonly encrypted: boolean;
  readonly mode: MessageMode;
  /** The `openid` query parameter (Official Account pushes), if any. */
  readonly openid: string | undefined;
  /** The verified, decrypted message text (XML or JSON). */
  readonly raw: string;
  readonly request: CallbackRequest;
  /** When the request arrived (the callback's clock, ms). */
  readonly receivedAt: number;
  /** Scratch space shared by middleware and the handler of this push. */
  readonly state: Record<string, unknown>;
}

/** What a handler or middleware may return: a {@link Reply}, or nothing for `success`. */
// biome-ignore lint/suspicious/noConfusingVoidType: a handler that returns nothing (`async () => {}`) is typed void
export type HandlerResult = Reply | undefined | void;

/** Handles one type of push. */
export type MessageHandler<M> = (message: M, ctx: CallbackContext) => HandlerResult | Promise<HandlerResult>;

/**
 * Runs before the handlers, koa-style: `await next()` runs the rest of the chain and gives its
 * reply; returning a reply (or not calling `next`) decides the answer.
 *
 * @example
 * callback.use(async (msg, ctx, next) => {
 *   const started = Date.now();
 *   const result = await next();
 *   log.info({ type: ctx.type, ms: Date.now() - started });
 *   return result;
 * });
 */
export type CallbackMiddleware = (
  message: InboundMessage,
  ctx: CallbackContext,
  next: () => Promise<Reply | undefined>,
) => HandlerResult | Promise<HandlerResult>;

/** Largest body accepted (1 MiB, the XML parser's own limit); WeChat pushes are a few KiB. */
export const MAX_CALLBACK_BODY_BYTES = 1_048_576;

const TEXT = 'text/plain; charset=utf-8';

/** Kept past the end of a push's replay window: instances sharing a store may disagree on the time. */
const DEDUPE_CLOCK_MARGIN_MS = 60_000;

/**
 * How much longer than `replyBudgetMs` a push is held while its handler runs (two-phase dedupe). The
 * lease outlives the answer, so a retry during the run is not handled twice; it is short enough that
 * WeChat's next retry (5 s later) finds it expired when the instance holding it died mid-handler.
 */
const PROCESSING_LEASE_MARGIN_MS = 1000;
/** First and longest pause of a duplicate waiting for the push's first delivery to finish. */
const DUPLICATE_POLL_FIRST_MS = 50;
const DUPLICATE_POLL_MAX_MS = 400;

class Refusal extends Error {
  constructor(
    readonly code: RefusalCode,
    readonly reason: string,
  ) {
    super(reason);
  }
}

const STATUS_TEXT: Record<number, string> = {
  400: 'bad request',
  401: 'unauthorized',
  403: 'forbidden',
  405: 'method not allowed',
  413: 'payload too large',
  500: 'internal error',
};

// nosniff: the echostr answer reflects a query parameter verbatim; no browser may read it as HTML.
function plain(status: number, body: string, headers: Record<string, string> = {}): CallbackResponse {
  return { status, headers: { 'content-type': TEXT, 'x-content-type-options': 'nosniff', ...headers }, body };
}

function success(): CallbackResponse {
  return plain(200, 'success');
}

function readQuery(url: string): QueryParams {
  const query = readQueryParams(url);
  if (query === undefined) {
    throw new Refusal('SIGNATURE_MISMATCH', 'the request URL cannot be read, so it carries no signature');
  }
  return query;
}

/**
 * The query decoded once with `decodeURIComponent`, leaving `+` as `+`. WeCom's `echostr` is
 * base64: a `+` that reached us unencoded must survive, where form decoding would make it a space.
 */
function readRawQuery(url: string): URLSearchParams {
  const query = new URLSearchParams();
  const at = url.indexOf('?');
  if (at === -1) return query;
  const hash = url.indexOf('#', at);
  for (const part of url.slice(at + 1, hash === -1 ? undefined : hash).split('&')) {
    if (part === '') continue;
    const eq = part.indexOf('=');
    try {
      const name = decodeURIComponent(eq === -1 ? part : part.slice(0, eq));
      if (!query.has(name)) query.set(name, eq === -1 ? '' : decodeURIComponent(part.slice(eq + 1)));
    } catch {
      throw new Refusal(
        'SIGNATURE_MISMATCH',
        'the request URL is not validly encoded, so it carries no signature',
      );
    }
  }
  return query;
}

/** A handler's result as an outcome: a reply, nothing, or an error for anything else. */
function handlerOutcome(result: unknown, type: string): Outcome {
  if (result === undefined) return { kind: 'reply', reply: undefined };
  if (!isReply(result)) {
    return {
      kind: 'error',
      error: new ArgumentError(
        `the handler for "${type}" returned something that is not a reply: build one with reply.text(…) etc., or return nothing`,
      ),
    };
  }
  return { kind: 'reply', reply: result };
}

/** Passive replies a WeCom app can send (企业微信 被动回复消息格式). */
const WECOM_REPLY_TYPES = new Set(['text', 'image', 'voice', 'video', 'news']);

type Outcome = { kind: 'reply'; reply: Reply | undefined } | { kind: 'error'; error: unknown };

/**
 * A verified WeChat callback endpoint: verifies, decrypts, de-duplicates and routes every push,
 * and answers with the handler's passive reply. Framework adapters wrap its {@link handle}.
 * Create it with {@link createWeChatCallback}.
 */
export class WeChatCallback implements CallbackHandler {
  readonly #options: ResolvedCallbackOptions;
  readonly #secrets: CallbackSecrets;
  readonly #dedupe: DedupeStore;
  /** The store can tell "being processed" from "done" (`complete` + `isComplete`): see {@link #claim}. */
  readonly #twoPhase: boolean;
  /**
   * The store is the built-in memory store itself (not a subclass): its settle steps do no I/O and
   * finish at once, so they need no reply-budget timer.
   */
  readonly #settlesAtOnce: boolean;
  readonly #hooks: CallbackHooks;
  readonly #handlers = new Map<string, MessageHandler<never>>();
  readonly #middleware: CallbackMiddleware[] = [];
  readonly #ids: RequestIds;

  /** WeChat options ({@link createWeChatCallback}) or WeCom options ({@link createWeComCallback}). */
  constructor(options: WeChatCallbackOptions | WeComCallbackOptions) {
    const resolved = isWeComOptions(options)
      ? resolveWeComCallbackOptions(options)
      : resolveCallbackOptions(options as WeChatCallbackOptions);
    this.#options = resolved;
    this.#hooks = resolved.hooks;
    this.#dedupe = resolved.dedupe ?? new MemoryDedupeStore({ now: resolved.now });
    this.#twoPhase =
      typeof this.#dedupe.complete === 'function' && typeof this.#dedupe.isComplete === 'function';
    this.#settlesAtOnce = Object.getPrototypeOf(this.#dedupe) === MemoryDedupeStore.prototype;
    this.#ids = new RequestIds(resolved.random ?? defaultRandom);
    this.#secrets = new CallbackSecrets({
      tokens: resolved.tokens,
      encodingAESKeys: resolved.encodingAESKeys,
      receiveId: resolved.appId,
      random: resolved.random,
    });
  }

  /** The message mode this callback enforces (always `safe` for WeCom). */
  get mode(): MessageMode {
    return this.#options.mode;
  }

  /** Which protocol this endpoint speaks: `wechat` (OA / MP / OP) or `wecom`. */
  get product(): CallbackProduct {
    return this.#options.product;
  }

  /**
   * Registers the handler of one known routing key ({@link CallbackMessageType}), whose message
   * it types: `msg.Content` for `text`, `msg.EventKey` for `event.CLICK`, … `event` catches events
   * without a handler of their own, `*` catches everything else (unknown types included). One
   * handler per key. A key weixin-kit does not know is refused (it would never fire): register
   * it with {@link onCustom}.
   *
   * @example
   * callback.on('text', async (msg) => reply.text(`echo: ${msg.Content}`));
   * callback.on('event.CLICK', async (msg) => menu.clicked(msg.EventKey));
   * callback.on('component_verify_ticket', async (msg) => tickets.save(msg.ComponentVerifyTicket));
   */
  on<K extends CallbackMessageType>(type: K, handler: MessageHandler<CallbackMessageMap[K]>): this {
    // JavaScript callers (and casts) reach here with any string: refuse what would never fire.
    const key: string = type;
    if (typeof key === 'string' && !isCallbackMessageType(key)) {
      const near = nearestKey(key, CALLBACK_MESSAGE_TYPES);
      throw new ArgumentError(
        `on('${key}'): not a routing key weixin-kit knows, so this handler would never run; ` +
          (near === undefined
            ? ''
            : `did you mean '${near}'? (keys are case-sensitive, as WeChat sends them) `) +
          `For a message type or event weixin-kit has no interface for, use onCustom('${key}', handler).`,
      );
    }
    addHandler(this.#handlers, type, handler);
    return this;
  }

  /**
   * Registers the handler of a routing key weixin-kit has no interface for: a new message type
   * (`MsgType`), an event (`event.<Event>`) or an `InfoType`, spelled exactly as WeChat sends it.
   * The handler gets the message as a record of its fields. A known key is refused (use
   * {@link on}, which types its message), and so is one that differs from a known key only by case.
   *
   * @example
   * callback.onCustom('event.guide_qrcode_scan_event', (msg) => log.info({ key: msg.EventKey }));
   */
  onCustom(type: string, handler: MessageHandler<UnknownMessage>): this {
    if (typeof type === 'string' && isCallbackMessageType(type)) {
      throw new ArgumentError(
        `onCustom('${type}'): '${type}' is a routing key weixin-kit knows: use on('${type}', handler), which types its message`,
      );
    }
    const near =
      typeof type === 'string'
        ? CALLBACK_MESSAGE_TYPES.find((known) => known.toLowerCase() === type.toLowerCase())
        : undefined;
    // Only a case difference is refused: a custom key may well be 1 or 2 letters from a known one.
    if (near !== undefined) {
      throw new ArgumentError(
        `onCustom('${type}'): WeChat sends this key as '${near}' (keys are case-sensitive): use on('${near}', handler)`,
      );
    }
    addHandler(this.#handlers, type, handler);
    return this;
  }

  /** The fallback for pushes no other handler takes (same as `on('*', handler)`). */
  onUnknown(handler: MessageHandler<InboundMessage>): this {
    return this.on('*', handler);
  }

  /** Adds a middleware; they run in the order added, before the handler. */
  use(middleware: CallbackMiddleware): this {
    if (typeof middleware !== 'function')
      throw new ArgumentError('use(middleware): middleware must be a function');
    this.#middleware.push(middleware);
    return this;
  }

  /**
   * Told by an adapter of a problem it answered itself before this callback could run (a body
   * parser mounted before the route): reported to `hooks.onError` (phase `config`, error code
   * `BODY_ALREADY_PARSED`) and to the logger, like every other failure.
   */
  reportAdapterProblem(problem: AdapterProblem): void {
    this.#reportError({
      error: bodyAlreadyParsed(String(problem?.message)),
      type: undefined,
      phase: 'config',
    });
  }

  /**
   * Answers one request. Never throws: every failure becomes a status (401 signature / timestamp /
   * appid, 400 bad body, 405 method, 500 handler error with a generic body) and a hook event.
   */
  async handle(request: CallbackRequest): Promise<CallbackResponse> {
    const started = elapsedClock(this.#options.scheduler);
    const method = typeof request?.method === 'string' ? request.method.toUpperCase() : '';
    const requestId = this.#ids.next(firstHeader(request?.headers, 'traceparent'));
    const facts: PushFacts = { startedAt: this.#options.now() };
    const tracing = this.#options.tracing;
    const response =
      tracing === undefined
        ? await this.#answer(request, method, started, facts)
        : await this.#tracedAnswer(tracing, request, method, started, facts);
    response.headers['x-request-id'] = requestId;
    // Refusals and failures name their request, so a sender's report can be matched to the logs.
    if (response.status >= 400) response.body = `${response.body} (request ${requestId})`;
    if (this.#options.audit !== undefined || this.#options.onSecurityEvent !== undefined) {
      reportRequest(
        this.#options,
        {
          source: 'callback',
          kind: 'callback',
          request,
          method,
          requestId,
          status: response.status,
          latencyMs: elapsedClock(this.#options.scheduler) - started,
          appId: this.#options.appId,
          now: this.#options.now(),
          detail: { product: this.#options.product, method: method.slice(0, 16), status: response.status },
        },
        facts,
      );
    }
    return response;
  }

  /**
   * {@link #answer} in a server span (`WeChat callback POST`) that continues the caller's trace and
   * is active while the handlers run; the status, routing key and refusal code are recorded on it.
   */
  #tracedAnswer(
    tracing: Tracing,
    request: CallbackRequest,
    method: string,
    started: number,
    facts: PushFacts,
  ): Promise<CallbackResponse> {
    const shown = spanMethod(method);
    return inServerSpan(
      tracing,
      `${this.#options.product === 'wecom' ? 'WeCom' : 'WeChat'} callback ${shown}`,
      request?.headers,
      {
        'http.request.method': shown,
        'url.path': pathOfTarget(request?.url),
        'wechat.app_id': this.#options.appId,
      },
      () => this.#answer(request, method, started, facts),
      (span, response) => {
        span.setAttributes({
          'wechat.callback.type': facts.type,
          'wechat.callback.duplicate': facts.duplicate,
        });
        recordServerStatus(span, response.status, facts.code);
      },
    );
  }

  /** The answer to one request; what the audit record and security events need goes to `facts`. */
  async #answer(
    request: CallbackRequest,
    method: string,
    started: number,
    facts: PushFacts,
  ): Promise<CallbackResponse> {
    try {
      // Before any signature work: a sender outside WeChat's addresses costs no HMAC and no AES.
      const allowlist = this.#options.allowlist;
      if (allowlist !== undefined) {
        const decision = allowlist.check({
          remoteAddress: request?.remoteAddress,
          headers: request?.headers ?? {},
        });
        if (decision.ip !== undefined) facts.ip = decision.ip;
        if (!decision.allowed) throw new Refusal('IP_NOT_ALLOWED', decision.reason);
      }
      if (method === 'GET') return this.#handshake(request);
      if (method === 'POST') return await this.#push(request, started, facts);
      throw new Refusal('METHOD_NOT_ALLOWED', `method ${method.slice(0, 16) || '(none)'} is not GET or POST`);
    } catch (error) {
      let refusal: Refusal | undefined;
      if (error instanceof Refusal) refusal = error;
      else if (isWeChatKitError(error)) refusal = new Refusal(error.code, error.message);
      if (refusal === undefined) {
        facts.code = 'INTERNAL_ERROR';
        this.#reportError({ error, type: undefined, phase: 'internal' });
        return plain(500, STATUS_TEXT[500] ?? '');
      }
      facts.code = refusal.code;
      const status = refusalStatus(refusal.code);
      callHook(this.#hooks, 'onRefused', {
        code: refusal.code,
        reason: refusal.reason,
        status,
        method: method.slice(0, 16),
      });
      return plain(status, STATUS_TEXT[status] ?? 'refused', status === 405 ? { allow: 'GET, POST' } : {});
    }
  }

  /**
   * Checks `signature` (every request; any listed token) and the timestamp window; returns the
   * query and the index of the token that signed it.
   */
  #verifyUrl(request: CallbackRequest): { query: QueryParams; token: number } {
    const query = readQuery(String(request.url ?? ''));
    const timestamp = query.get('timestamp') ?? '';
    const token = this.#secrets.urlToken(timestamp, query.get('nonce') ?? '', query.get('signature') ?? '');
    assertFreshTimestamp(timestamp, { now: this.#options.now, maxSkewSeconds: this.#options.maxSkewSeconds });
    return { query, token };
  }

  /** Tells `hooks.onSecretFallback` which options matched a value other than their first. */
  #reportFallback(method: string, opened: SecretIndexes): void {
    if (opened.token > 0) {
      callHook(this.#hooks, 'onSecretFallback', { option: 'token', index: opened.token, method });
    }
    if (opened.key > 0) {
      callHook(this.#hooks, 'onSecretFallback', { option: 'encodingAESKey', index: opened.key, method });
    }
  }

  #handshake(request: CallbackRequest): CallbackResponse {
    if (this.#options.product === 'wecom') return this.#weComHandshake(request);
    const { query, token } = this.#verifyUrl(request);
    const echostr = query.get('echostr');
    if (echostr === null || echostr === '')
      throw new Refusal('BAD_BODY', 'a GET without echostr is not a URL verification');
    this.#reportFallback('GET', { token, key: 0 });
    // Verbatim: no quotes, no JSON, no trailing newline, or WeChat reports "Token 验证失败".
    return plain(200, echostr);
  }

  /**
   * WeCom's URL verification: `msg_signature` over token, timestamp, nonce and the ENCRYPTED
   * `echostr` (constant time) → timestamp window → decrypt (ReceiveId = corp id checked) → the
   * plaintext answered verbatim. There is no `signature` parameter.
   */
  #weComHandshake(request: CallbackRequest): CallbackResponse {
    const query = readRawQuery(String(request.url ?? ''));
    const echostr = query.get('echostr');
    if (echostr === null || echostr === '')
      throw new Refusal('BAD_BODY', 'a GET without echostr is not a URL verification');
    const timestamp = query.get('timestamp') ?? '';
    const token = this.#secrets.messageToken(
      timestamp,
      query.get('nonce') ?? '',
      echostr,
      query.get('msg_signature') ?? '',
    );
    assertFreshTimestamp(timestamp, { now: this.#options.now, maxSkewSeconds: this.#options.maxSkewSeconds });
    const { plaintext, key } = this.#secrets.decrypt(echostr);
    this.#reportFallback('GET', { token, key });
    // Verbatim: no quotes, no BOM, no trailing newline, or WeCom reports "echostr校验失败".
    return plain(200, plaintext);
  }

  async #push(request: CallbackRequest, started: number, facts: PushFacts): Promise<CallbackResponse> {
    // WeCom pushes carry only msg_signature / timestamp / nonce: MessageCrypto.open checks them all.
    const url =
      this.#options.product === 'wecom'
        ? { query: readRawQuery(String(request.url ?? '')), token: 0 }
        : this.#verifyUrl(request);
    const query = url.query;
    const body = request.rawBody;
    if (body !== undefined && body !== null && typeof body !== 'string' && !(body instanceof Uint8Array)) {
      // An adapter bug, not an attack: a body parser ran first. Verification needs the raw bytes.
      throw new Refusal(
        'BAD_BODY',
        'rawBody is a parsed object: pass the raw bytes (Uint8Array) or their text, captured before any body parser',
      );
    }
    if (body === undefined || body === null || byteLength(body) === 0) {
      throw new Refusal('BAD_BODY', 'the POST has no body');
    }
    if (byteLength(body) > MAX_CALLBACK_BODY_BYTES) {
      throw new Refusal('XML_TOO_LARGE', `the body is over ${MAX_CALLBACK_BODY_BYTES} bytes`);
    }
    const { plaintext, encrypted, secrets } = this.#open(query, body, url.token, facts);
    this.#reportFallback('POST', secrets);
    const fields = parseMessage(plaintext, this.#options.format);
    if (!encrypted && fields.Encrypt !== undefined && this.#options.mode === 'plain') {
      throw new Refusal(
        'BAD_BODY',
        'the push is encrypted but the callback is in plain mode: set mode to match the console',
      );
    }
    const type = routingKeyOf(fields);
    const message = fields as InboundMessage;
    facts.type = type;
    if (typeof fields.FromUserName === 'string') facts.openid = fields.FromUserName;

    const key =
      this.#options.product === 'wecom'
        ? weComDedupeKeyOf(this.#options.appId, fields, plaintext)
        : dedupeKeyOf(this.#options.appId, fields);
    // 'held': this delivery runs the handler and settles the claim; 'unheld': no claim to settle.
    let claim: 'held' | 'unheld' = 'unheld';
    if (key !== undefined) {
      const ttlMs = this.#dedupeTtlMs(query.get('timestamp') ?? '');
      const claimed = await this.#claim(key, ttlMs, type, started);
      if (claimed === 'duplicate' || claimed === 'pending') {
        facts.duplicate = true;
        callHook(this.#hooks, 'onDuplicate', { key, type });
        // Still being processed elsewhere: no answer (500) makes WeChat send it again later, where an
        // acknowledgement would lose it if that run fails.
        return claimed === 'duplicate' ? success() : plain(500, STATUS_TEXT[500] ?? '');
      }
      claim = claimed;
    }

    const ctx: CallbackContext = {
      appId: this.#options.appId,
      product: this.#options.product,
      type,
      format: this.#options.format,
      encrypted,
      mode: this.#options.mode,
      openid: query.get('openid') ?? undefined,
      raw: plaintext,
      request,
      receivedAt: this.#options.now(),
      state: {},
    };
    const settle =
      key !== undefined && claim === 'held'
        ? (done: Outcome) => this.#settle(key, done, query.get('timestamp') ?? '', type)
        : undefined;
    const outcome = await this.#runWithinBudget(
      message,
      ctx,
      started,
      settle,
      settle === undefined ? undefined : key,
    );
    if (outcome === undefined) return success();
    if (outcome.kind === 'error') {
      facts.code = errorCodeOf(outcome.error);
      this.#reportError({ error: outcome.error, type, phase: 'handler' });
      return plain(500, STATUS_TEXT[500] ?? '');
    }
    if (outcome.reply === undefined) return success();
    try {
      return this.#render(outcome.reply, fields, encrypted ? secrets : undefined);
    } catch (error) {
      this.#reportError({ error, type, phase: 'reply' });
      return success();
    }
  }

  /**
   * How long to remember a push: at least `dedupeTtlMs`, and until the push's own (signed)
   * `timestamp` has left the replay window on this callback's clock. A sender whose clock runs
   * `s` s ahead makes a push acceptable for `s + maxSkewSeconds` after it arrived; a TTL counted
   * from arrival alone would forget it while a replay still passes every check.
   */
  #dedupeTtlMs(timestamp: string): number {
    const floor = this.#options.dedupeTtlMs;
    // Already checked to be whole seconds by the window check.
    const seconds = Number(timestamp);
    if (!Number.isSafeInteger(seconds)) return floor;
    // Whole seconds are compared, so the window really closes 1 s later: the margin covers that.
    const windowEndMs = (seconds + this.#options.maxSkewSeconds) * 1000;
    return Math.max(floor, windowEndMs + DEDUPE_CLOCK_MARGIN_MS - this.#options.now());
  }

  /** Reports a failure to `hooks.onError` and to the logger; neither can throw into the pipeline. */
  #reportError(event: CallbackErrorEvent): void {
    callHook(this.#hooks, 'onError', event);
    logCallbackError(
      this.#options.logger,
      this.#options.product === 'wecom' ? 'wecom callback' : 'wechat callback',
      event,
    );
  }

  /**
   * Verifies and decrypts per the mode; plaintext pushes pass through in compatible/plain mode.
   * `urlToken` is the index of the token that signed the URL; an encrypted push reports the token
   * of its `msg_signature` (the one its reply is signed with) and the key that opened it.
   */
  #open(
    query: QueryParams,
    body: string | Uint8Array,
    urlToken: number,
    facts: PushFacts,
  ): { plaintext: string; encrypted: boolean; secrets: SecretIndexes } {
    const mode = this.#options.mode;
    const msgSignature = query.get('msg_signature');
    const wantsDecrypt = mode === 'safe' || (mode === 'compatible' && query.get('encrypt_type') === 'aes');
    if (!wantsDecrypt) {
      if (mode === 'plain' && (msgSignature !== null || query.get('encrypt_type') !== null)) {
        throw new Refusal(
          'BAD_BODY',
          'the push is encrypted but the callback is in plain mode: set mode to match the console',
        );
      }
      return { plaintext: toText(body), encrypted: false, secrets: { token: urlToken, key: 0 } };
    }
    if (msgSignature === null || msgSignature === '') {
      // A plaintext body is the likelier story (a downgrade attempt): say so first.
      facts.downgrade = true;
      extractEncrypt(body);
      throw new SignatureError(
        'SIGNATURE_MISMATCH',
        `the push has no msg_signature, which every push to an app in ${mode} mode carries`,
      );
    }
    // MessageCrypto.open's order, over every listed token and key: verify msg_signature → check
    // the timestamp window → decrypt (ReceiveId checked).
    const { encrypt, format } = extractEncrypt(body);
    const timestamp = query.get('timestamp') ?? '';
    const token = this.#secrets.messageToken(timestamp, query.get('nonce') ?? '', encrypt, msgSignature);
    assertFreshTimestamp(timestamp, { now: this.#options.now, maxSkewSeconds: this.#options.maxSkewSeconds });
    const { plaintext, key } = this.#secrets.decrypt(encrypt);
    if (format !== this.#options.format) {
      throw new PayloadError(
        'BAD_BODY',
        `the push is ${format.toUpperCase()} but the callback is configured with format "${this.#options.format}"`,
      );
    }
    return { plaintext, encrypted: true, secrets: { token, key } };
  }

  #handlerFor(type: string): MessageHandler<InboundMessage> | undefined {
    return (this.#handlers.get(type) ??
      (type === 'event' || type.startsWith('event.') ? this.#handlers.get('event') : undefined) ??
      this.#handlers.get('*')) as MessageHandler<InboundMessage> | undefined;
  }

  /**
   * Starts the chain. Without middleware, a handler that answers at once (a value, not a promise)
   * gives its outcome at once: no promise chain and no budget timer for the common passive reply.
   * The same checks apply either way.
   */
  #start(message: InboundMessage, ctx: CallbackContext): Outcome | Promise<Outcome> {
    if (this.#middleware.length > 0) {
      return this.#runChain(message, ctx).then(
        (reply): Outcome => ({ kind: 'reply', reply }),
        (error: unknown): Outcome => ({ kind: 'error', error }),
      );
    }
    const handler = this.#handlerFor(ctx.type);
    if (handler === undefined) return { kind: 'reply', reply: undefined };
    let result: unknown;
    try {
      result = handler(message, ctx);
    } catch (error) {
      return { kind: 'error', error };
    }
    if (!isThenable(result)) return handlerOutcome(result, ctx.type);
    return Promise.resolve(result).then(
      (value) => handlerOutcome(value, ctx.type),
      (error: unknown): Outcome => ({ kind: 'error', error }),
    );
  }

  #runChain(message: InboundMessage, ctx: CallbackContext): Promise<Reply | undefined> {
    const handler = this.#handlerFor(ctx.type);
    const layers = this.#middleware;
    const dispatch = async (index: number): Promise<Reply | undefined> => {
      const layer = layers[index];
      let result: HandlerResult;
      if (layer === undefined) {
        if (handler === undefined) return undefined;
        result = await handler(message, ctx);
      } else {
        let downstream: Promise<Reply | undefined> | undefined;
        const next = () => {
          downstream ??= dispatch(index + 1);
          return downstream;
        };
        result = await layer(message, ctx, next);
        // A middleware that awaited next() but returned nothing passes the downstream reply on.
        if (result === undefined && downstream !== undefined) result = await downstream;
      }
      if (result !== undefined && !isReply(result)) {
        throw new ArgumentError(
          `the ${layer === undefined ? 'handler' : 'middleware'} for "${ctx.type}" returned something that is not a reply: build one with reply.text(…) etc., or return nothing`,
        );
      }
      return result ?? undefined;
    };
    return dispatch(0);
  }

  /**
   * The chain's outcome, or `undefined` when the budget ran out first (the chain keeps running).
   * `settle` runs once the chain is done, before its outcome is answered (or, late, reported).
   */
  async #runWithinBudget(
    message: InboundMessage,
    ctx: CallbackContext,
    started: number,
    settle?: (outcome: Outcome) => Promise<void>,
    key?: string,
  ): Promise<Outcome | undefined> {
    const begun = this.#start(message, ctx);
    if (!(begun instanceof Promise)) {
      // A handler that answered at once needs a timer only for a settle step that does I/O.
      if (settle === undefined || !this.#settleDoesWork(begun)) return begun;
      if (this.#settlesAtOnce) {
        await settle(begun);
        return begun;
      }
    }
    const ran = begun instanceof Promise ? begun : Promise.resolve(begun);
    const running = settle === undefined ? ran : ran.then((outcome) => settle(outcome).then(() => outcome));
    const remaining = Math.max(
      0,
      this.#options.replyBudgetMs - (elapsedClock(this.#options.scheduler) - started),
    );
    const first = await raceTimer(running, remaining, () => undefined, {
      scheduler: this.#options.scheduler,
    });
    if (first !== undefined) return first;
    // Answered; the handler still runs. Its processing lease (reply budget + 1 s, most of it spent)
    // is renewed at once and then every third of it until the handler settles, so a copy of this
    // push reaching another instance meanwhile waits instead of running a second time.
    if (key !== undefined && this.#twoPhase) {
      const stop = renewLease({
        store: this.#dedupe,
        key,
        leaseMs: this.#options.replyBudgetMs + PROCESSING_LEASE_MARGIN_MS,
        scheduler: this.#options.scheduler,
        what: `a ${ctx.type.slice(0, 64)} push`,
        onError: (error) => this.#reportError({ error, type: ctx.type, phase: 'dedupe' }),
        now: true,
      });
      // After settle() started (registered on `ran` before this): a renewal answered later is ignored.
      if (stop !== undefined) ran.then(stop, stop);
    }
    void running.then((late) => {
      if (late.kind === 'error') {
        this.#reportError({ error: late.error, type: ctx.type, phase: 'late-handler' });
      } else if (late.reply !== undefined) {
        callHook(this.#hooks, 'onLateReply', {
          message,
          reply: late.reply,
          type: ctx.type,
          elapsedMs: elapsedClock(this.#options.scheduler) - started,
        });
      }
    });
    return undefined;
  }

  /** Whether settling a held claim after `outcome` does anything (see {@link #settle}). */
  #settleDoesWork(outcome: Outcome): boolean {
    return outcome.kind === 'error' ? typeof this.#dedupe.release === 'function' : this.#twoPhase;
  }

  /**
   * Claims a push for this delivery. With a two-phase store the claim is a processing lease
   * (`replyBudgetMs` + 1 s), made long-lived by {@link #settle} once the handler succeeded, and
   * dropped when it failed: a crash or a throw mid-handler lets WeChat's retry through. A duplicate
   * that finds the push still being processed waits for that run within its own reply budget:
   * `duplicate` when it completed, `held` when its lease ended without completion (that run died:
   * this delivery takes over), `pending` when the budget ran out first. Without `complete` /
   * `isComplete` the claim holds for the whole TTL, as before. A failing store never drops a push
   * (`unheld`: processed, nothing to settle).
   */
  async #claim(
    key: string,
    ttlMs: number,
    type: string,
    started: number,
  ): Promise<'held' | 'unheld' | 'duplicate' | 'pending'> {
    const store = this.#dedupe;
    const leaseMs = this.#twoPhase ? this.#options.replyBudgetMs + PROCESSING_LEASE_MARGIN_MS : ttlMs;
    try {
      if ((await store.claim(key, leaseMs)) !== false) return 'held';
      if (!this.#twoPhase) return 'duplicate';
      let delay = DUPLICATE_POLL_FIRST_MS;
      for (;;) {
        const done = await store.isComplete?.(key);
        if (done === true) return 'duplicate';
        // Neither claimed nor done: the first run failed or its holder died. Claim it again.
        if (done === undefined && (await store.claim(key, leaseMs)) !== false) return 'held';
        const left = this.#options.replyBudgetMs - (elapsedClock(this.#options.scheduler) - started) - delay;
        if (left <= 0) return 'pending';
        await sleep(delay, undefined, this.#options.scheduler);
        delay = Math.min(delay * 2, DUPLICATE_POLL_MAX_MS);
      }
    } catch (error) {
      // At-least-once: a store outage must not drop pushes, so process and report it.
      this.#reportError({ error, type, phase: 'dedupe' });
      return 'unheld';
    }
  }

  /**
   * After the handler: a failed run releases its claim (WeChat's retry is then processed); a
   * successful one completes a two-phase claim, remembered from then on for the dedupe TTL.
   */
  async #settle(key: string, outcome: Outcome, timestamp: string, type: string): Promise<void> {
    try {
      if (outcome.kind === 'error') await this.#dedupe.release?.(key);
      else if (this.#twoPhase) await this.#dedupe.complete?.(key, this.#dedupeTtlMs(timestamp));
    } catch (error) {
      this.#reportError({ error, type, phase: 'dedupe' });
    }
  }

  /** `opened`: the token and key of an encrypted push, which its reply is sealed with. */
  #render(
    value: Reply,
    message: Record<string, unknown>,
    opened: SecretIndexes | undefined,
  ): CallbackResponse {
    const to = message.FromUserName;
    const from = message.ToUserName;
    if (typeof to !== 'string' || to === '' || typeof from !== 'string' || from === '') {
      throw new ArgumentError(
        'this push has no FromUserName/ToUserName (e.g. an Open Platform event), so it cannot take a passive reply',
      );
    }
    if (this.#options.product === 'wecom' && !WECOM_REPLY_TYPES.has(value.type)) {
      throw new ArgumentError(
        `a WeCom app cannot send a passive "${value.type}" reply (text, image, voice, video and news only)`,
      );
    }
    const format = this.#options.format;
    const createTime = Math.floor(this.#options.now() / 1000);
    const fields = replyFields(value, { to, from, createTime }, format);
    const body = format === 'json' ? JSON.stringify(fields) : buildXml(fields);
    const contentType =
      format === 'json' ? 'application/json; charset=utf-8' : 'application/xml; charset=utf-8';
    const seal =
      this.#options.mode === 'safe' || (this.#options.mode === 'compatible' && opened !== undefined);
    if (!seal || opened === undefined || !this.#secrets.encrypts)
      return { status: 200, headers: { 'content-type': contentType }, body };
    const sealed = this.#secrets.seal(body, { format, timestamp: createTime }, opened);
    return { status: 200, headers: { 'content-type': contentType }, body: sealed.body };
  }
}

/**
 * Creates the callback endpoint of one account (or one Open Platform platform). Options are
 * validated now; unknown keys throw `ConfigError` (`INVALID_CONFIG`).
 *
 * @example
 * const callback = createWeChatCallback({ appId, token, encodingAESKey, mode: 'safe' })
 *   .on('text', (msg) => reply.text(`you said ${msg.Content}`))
 *   .on('event.subscribe', () => reply.text('welcome!'));
 * // an adapter: const response = await callback.handle({ method, url, headers, rawBody });
 */
export function createWeChatCallback(options: WeChatCallbackOptions): WeChatCallback {
  return new WeChatCallback(options);
}

/**
 * Creates the callback endpoint of one WeCom (企业微信) app: the same pipeline, routing, dedupe,
 * replies, hooks and adapters as {@link createWeChatCallback}, speaking WeCom's protocol:
 * - the URL-verification GET carries `msg_signature` (not `signature`) and an ENCRYPTED `echostr`;
 *   it is verified (constant time), its timestamp checked, decrypted with ReceiveId = `corpId`,
 *   and the plaintext answered verbatim;
 * - every POST is encrypted (`<xml><ToUserName/><AgentID/><Encrypt/></xml>`) and carries only
 *   `msg_signature` / `timestamp` / `nonce`; a plaintext body is refused;
 * - passive replies (text, image, voice, video, news) are sealed the same way.
 * User messages are de-duplicated by `MsgId`, everything else by a hash of the decrypted message
 * (WeCom events such as `change_contact` often share `FromUserName` `sys` and one `CreateTime`).
 *
 * @example
 * const callback = createWeComCallback({ corpId: 'ww1234567890abcdef', token, encodingAESKey })
 *   .on('text', (msg) => reply.text(`agent ${String(msg.AgentID)} got: ${msg.Content}`))
 *   .on('event', (msg) => log.info({ event: msg.Event }));
 * createServer(toNodeListener(callback)).listen(3000);
 */
export function createWeComCallback(options: WeComCallbackOptions): WeChatCallback {
  if (typeof options !== 'object' || options === null || !('corpId' in options) || 'appId' in options) {
    throw new ConfigError(
      'INVALID_CONFIG',
      'createWeComCallback: options must name the corpId (企业ID, or the suite id), not an appId',
    );
  }
  return new WeChatCallback(options);
}
