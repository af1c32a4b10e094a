/**
 * Content security (内容安全) for user-generated content: text is checked at once with
 * `msg_sec_check` (2.0), images and audio with `media_check_async` (2.0), whose verdict WeChat
 * pushes later as the `wxa_media_check` event. This helper remembers what each media check was
 * for (the app's own reference, e.g. a post id) under its `trace_id`, in a {@link TokenStore}
 * shared by every instance, and hands the verdict of a push back with that reference.
 *
 * It lives with the callbacks because it consumes their pushes; it needs only the Mini Program
 * client's `security` resources.
 */
import { MemoryStore } from '../credentials/memory-store.js';
import type { StoredToken, TokenStore } from '../credentials/token-store.js';
import { ArgumentError, ConfigError } from '../errors.js';
import type { Clock } from '../internal/bytes.js';
import { callHook } from '../internal/call-hook.js';
import { tokenKey } from '../internal/store-keys.js';
import type {
  ContentSecurityLabel,
  ContentSecurityScene,
  MediaCheckAsyncParams,
  MediaCheckAsyncResult,
  MsgSecCheckDetail,
  MsgSecCheckParams,
  MsgSecCheckResult,
} from '../mini-program/mini-program.js';
import type { ContentSuggest, WxaMediaCheckEvent } from './messages.js';
import type { WeChatCallback } from './wechat-callback.js';

/** What the helper needs of a `MiniProgram`: its appId and the two checks. */
export interface ContentSecurityClient {
  readonly appId: string;
  readonly security: {
    msgSecCheck(params: MsgSecCheckParams): PromiseLike<MsgSecCheckResult>;
    mediaCheckAsync(params: MediaCheckAsyncParams): PromiseLike<MediaCheckAsyncResult>;
  };
}

/** Fields of every verdict the helper reports. */
interface VerdictBase {
  /** `pass`, `review` (may be risky: have a person look) or `risky`. */
  suggest: ContentSuggest;
  /** What was found: 100 normal, 10001 ads, 20001 politics, 20002 pornography, … */
  label: ContentSecurityLabel;
  /** WeChat's id of the check. */
  traceId: string;
  /** The author. */
  openid: string;
  scene: ContentSecurityScene;
}

/** A text verdict: from {@link ContentSecurity.checkText}, at once. */
export interface TextVerdictEvent<Item> extends VerdictBase {
  source: 'text';
  /** The `item` given to `checkText` (undefined when none was). */
  item: Item | undefined;
}

/** A media verdict: from the `wxa_media_check` push of an item given to {@link ContentSecurity.submitMedia}. */
export interface MediaVerdictEvent<Item> extends VerdictBase {
  source: 'media';
  /** The `item` given to `submitMedia`. */
  item: Item;
  /** 1 audio, 2 image. */
  mediaType: 1 | 2;
  /** When `submitMedia` stored it (the helper's clock, ms). */
  submittedAt: number;
}

/** What `onRisky`, `onReview` and `onPass` receive. */
export type ContentVerdictEvent<Item> = TextVerdictEvent<Item> | MediaVerdictEvent<Item>;

/**
 * A `wxa_media_check` push for a submitted item that carries no verdict: its `errcode` is not 0
 * (`-1008`: WeChat could not download `media_url`) or it has no usable `result`. The media was
 * not checked: resubmit it, or keep it hidden until a person has looked.
 */
export interface MediaCheckFailedEvent<Item> {
  item: Item;
  traceId: string;
  openid: string;
  scene: ContentSecurityScene;
  mediaType: 1 | 2;
  submittedAt: number;
  /** The push's errcode, when it had one. */
  errcode: number | undefined;
}

/**
 * A `wxa_media_check` push that matches no pending item, reported instead of failing the push:
 * - `not-pending`: no item waits under this trace_id — it was not submitted through a helper
 *   sharing this store (another system uses the same callback URL), or it expired (submitted
 *   more than `pendingTtlSeconds` ago), or the store lost it;
 * - `other-app`: the push names another appid than the helper's Mini Program;
 * - `malformed`: the push has no usable `trace_id`.
 * It carries the push's own verdict, so that an operator can still act on it.
 */
export interface UnmatchedMediaCheckEvent {
  reason: 'not-pending' | 'other-app' | 'malformed';
  /** The push's trace_id (`''` when it had none). */
  traceId: string;
  appid: string | undefined;
  openid: string | undefined;
  suggest: string | undefined;
  label: string | undefined;
}

/** What {@link ContentSecurity.checkText} answers. */
export interface TextVerdict {
  suggest: ContentSuggest;
  label: ContentSecurityLabel;
  traceId: string;
  /** WeChat's per-strategy results, as answered. */
  detail: MsgSecCheckDetail[];
}

/** What {@link ContentSecurity.handleEvent} did with a push. */
export interface MediaCheckOutcome {
  /**
   * `pass`/`review`/`risky`: matched, the handler of that verdict ran; `failed`: matched, no
   * verdict (`onCheckFailed` ran); `duplicate`: its item was already handled (a retry);
   * `unmatched`: reported to `onUnmatched`.
   */
  status: ContentSuggest | 'failed' | 'duplicate' | 'unmatched';
  traceId: string;
}

/** {@link ContentSecurity.checkText} parameters: those of `msg_sec_check`, plus the app's reference. */
export interface CheckTextParams<Item> extends Omit<MsgSecCheckParams, 'version'> {
  /** The app's reference to the text (a comment id…), handed to the verdict handlers. */
  item?: Item | undefined;
}

/** {@link ContentSecurity.submitMedia} parameters. */
export interface SubmitMediaParams<Item> {
  /** The author, who must have opened the Mini Program in the last 2 hours. */
  openid: string;
  scene: ContentSecurityScene;
  /** An http(s) URL WeChat can download (at most 10 MB). It is not stored: put what you need in `item`. */
  mediaUrl: string;
  /** 1 audio, 2 image. */
  mediaType: 1 | 2;
  /**
   * The app's reference to the media (a post id, `{ postId, imageIndex }`…), handed back with the
   * verdict. Stored as JSON (at most {@link MAX_CONTENT_ITEM_BYTES} bytes): a reference, not the media.
   */
  item: Item;
}

/** A handler of verdicts: it may be async; what it throws fails the check (see {@link ContentSecurityOptions}). */
export type ContentVerdictHandler<Item> = (event: ContentVerdictEvent<Item>) => unknown;

/** Options of {@link createContentSecurity}. Unknown keys are rejected. */
export interface ContentSecurityOptions<Item> {
  /** The Mini Program client (`new MiniProgram(…)`). */
  miniProgram: ContentSecurityClient;
  /**
   * Called for a `risky` verdict: hide or delete the item, notify its author. Awaited. When it
   * throws for a media verdict, the item stays pending and the push is answered 500, so WeChat's
   * retry runs it again; for a text verdict `checkText` rejects with its error.
   */
  onRisky: ContentVerdictHandler<Item>;
  /** Called for a `review` verdict (a person should look). Awaited, as `onRisky`. Without it, review verdicts are only returned. */
  onReview?: ContentVerdictHandler<Item> | undefined;
  /** Called for a `pass` verdict (e.g. publish media held back until checked). Awaited, as `onRisky`. */
  onPass?: ContentVerdictHandler<Item> | undefined;
  /** A media check without a verdict (see {@link MediaCheckFailedEvent}). Awaited, as `onRisky`. */
  onCheckFailed?: ((event: MediaCheckFailedEvent<Item>) => unknown) | undefined;
  /** A push that matches no pending item (see {@link UnmatchedMediaCheckEvent}). Whatever it throws is ignored. */
  onUnmatched?: ((event: UnmatchedMediaCheckEvent) => unknown) | undefined;
  /**
   * Where pending media checks wait for their verdict (default: a `MemoryStore` of this process).
   * With several instances, pass the shared store (`new RedisStore(redis)` from `weixin-kit/redis`):
   * the push may reach another instance than the one that submitted. The tokens' store will do.
   */
  store?: TokenStore | undefined;
  /** How long a submitted item waits for its verdict, seconds (default 3600; WeChat pushes within 30 minutes). */
  pendingTtlSeconds?: number | undefined;
  /** The clock, ms since the epoch (default `Date.now`); also the default store's. */
  now?: Clock | undefined;
}

/** The most bytes the JSON of a submitted `item` may take. */
export const MAX_CONTENT_ITEM_BYTES = 4096;

const DEFAULT_PENDING_TTL_SECONDS = 3600;
const MAX_PENDING_TTL_SECONDS = 7 * 86_400;
const OPTION_KEYS = new Set([
  'miniProgram',
  'onRisky',
  'onReview',
  'onPass',
  'onCheckFailed',
  'onUnmatched',
  'store',
  'pendingTtlSeconds',
  'now',
]);
/** Marks a stored pending check, so that nothing else stored under the key is taken for one. */
const MARKER = 'weixin-kit:content-check:v1:';
const DONE = 'weixin-kit:content-check:done';
const TRACE_ID = /^[A-Za-z0-9_.-]{1,128}$/;

/** What the store keeps of a submitted media check: never the URL (it may be signed). */
interface PendingCheck<Item> {
  item: Item;
  openid: string;
  scene: ContentSecurityScene;
  mediaType: 1 | 2;
  submittedAt: number;
}

function isScene(value: unknown): value is ContentSecurityScene {
  return value === 1 || value === 2 || value === 3 || value === 4;
}

function pendingOf<Item>(stored: StoredToken | undefined): PendingCheck<Item> | undefined {
  if (stored === undefined || !stored.value.startsWith(MARKER)) return undefined;
  try {
    const p = JSON.parse(stored.value.slice(MARKER.length)) as Partial<PendingCheck<Item>> | null;
    if (
      typeof p !== 'object' ||
      p === null ||
      !('item' in p) ||
      typeof p.openid !== 'string' ||
      !isScene(p.scene) ||
      (p.mediaType !== 1 && p.mediaType !== 2) ||
      typeof p.submittedAt !== 'number'
    ) {
      return undefined;
    }
    return p as PendingCheck<Item>;
  } catch {
    return undefined;
  }
}

function suggestOf(value: unknown): ContentSuggest | undefined {
  if (value === 'pass' || value === 'risky' || value === 'review') return value;
  // A suggestion WeChat adds later: have a person look rather than publish or delete unseen.
  return typeof value === 'string' && value !== '' ? 'review' : undefined;
}

function text(value: unknown): string | undefined {
  return typeof value === 'string' ? value : undefined;
}

/**
 * Checks user-generated content and routes each verdict to the app's handlers. Create it with
 * {@link createContentSecurity}.
 */
export class ContentSecurity<Item = unknown> {
  readonly #mp: ContentSecurityClient;
  readonly #store: TokenStore;
  readonly #ttlMs: number;
  readonly #now: Clock;
  readonly #onRisky: ContentVerdictHandler<Item>;
  readonly #onReview: ContentVerdictHandler<Item> | undefined;
  readonly #onPass: ContentVerdictHandler<Item> | undefined;
  readonly #onCheckFailed: ((event: MediaCheckFailedEvent<Item>) => unknown) | undefined;
  readonly #onUnmatched: ((event: UnmatchedMediaCheckEvent) => unknown) | undefined;

  constructor(options: ContentSecurityOptions<Item>) {
    if (typeof options !== 'object' || options === null) {
      throw new ConfigError('INVALID_CONFIG', 'createContentSecurity: options must be an object');
    }
    for (const key of Object.keys(options)) {
      if (!OPTION_KEYS.has(key)) {
        throw new ConfigError(
          'INVALID_CONFIG',
          `createContentSecurity: "${key}" is not an option (allowed: ${[...OPTION_KEYS].join(', ')})`,
        );
      }
    }
    const mp = options.miniProgram;
    if (
      typeof mp !== 'object' ||
      mp === null ||
      typeof mp.appId !== 'string' ||
      typeof mp.security?.msgSecCheck !== 'function' ||
      typeof mp.security?.mediaCheckAsync !== 'function'
    ) {
      throw new ConfigError(
        'INVALID_CONFIG',
        'createContentSecurity: miniProgram must be a MiniProgram client (new MiniProgram({ appId, secret }))',
      );
    }
    if (typeof options.onRisky !== 'function') {
      throw new ConfigError(
        'INVALID_CONFIG',
        'createContentSecurity: onRisky must be a function (it hides or deletes what WeChat finds risky)',
      );
    }
    for (const name of ['onReview', 'onPass', 'onCheckFailed', 'onUnmatched', 'now'] as const) {
      if (options[name] !== undefined && typeof options[name] !== 'function') {
        throw new ConfigError('INVALID_CONFIG', `createContentSecurity: ${name} must be a function`);
      }
    }
    const ttl = options.pendingTtlSeconds ?? DEFAULT_PENDING_TTL_SECONDS;
    if (typeof ttl !== 'number' || !Number.isFinite(ttl) || ttl <= 0 || ttl > MAX_PENDING_TTL_SECONDS) {
      throw new ConfigError(
        'INVALID_CONFIG',
        `createContentSecurity: pendingTtlSeconds must be a number of seconds above 0 and at most ${MAX_PENDING_TTL_SECONDS} (WeChat pushes within 30 minutes)`,
      );
    }
    const store = options.store;
    if (
      store !== undefined &&
      (typeof store !== 'object' ||
        store === null ||
        typeof store.get !== 'function' ||
        typeof store.set !== 'function' ||
        typeof store.compareAndDelete !== 'function')
    ) {
      throw new ConfigError(
        'INVALID_CONFIG',
        'createContentSecurity: store must be a TokenStore (MemoryStore, or RedisStore from weixin-kit/redis)',
      );
    }
    this.#mp = mp;
    this.#now = options.now ?? Date.now;
    this.#store = store ?? new MemoryStore({ now: this.#now });
    this.#ttlMs = Math.ceil(ttl * 1000);
    this.#onRisky = options.onRisky;
    this.#onReview = options.onReview;
    this.#onPass = options.onPass;
    this.#onCheckFailed = options.onCheckFailed;
    this.#onUnmatched = options.onUnmatched;
  }

  /**
   * Checks a text with `msg_sec_check` (2.0) and runs the handler of its verdict (`onRisky`,
   * `onReview`, `onPass`) before answering it. A suggestion WeChat adds later is treated as
   * `review`. WeChat's errors reject (`WeChatApiError`; e.g. 61010 when the author has not opened
   * the Mini Program in the last 2 hours): decide then whether to publish unchecked text.
   *
   * @example
   * const verdict = await security.checkText({ openid, scene: 2, content: body.text, item: commentId });
   * if (verdict.suggest !== 'pass') return respond(422, 'This comment cannot be posted.');
   */
  async checkText(params: CheckTextParams<Item>): Promise<TextVerdict> {
    if (typeof params !== 'object' || params === null) {
      throw new ArgumentError('checkText: params must be an object');
    }
    const { item, ...check } = params;
    const answer = await this.#mp.security.msgSecCheck({ ...check, version: 2 });
    const suggest = suggestOf(answer?.result?.suggest);
    const label = answer?.result?.label;
    if (suggest === undefined || typeof label !== 'number' || typeof answer.trace_id !== 'string') {
      throw new ArgumentError(
        'checkText: msg_sec_check answered without result.suggest, result.label and trace_id: is miniProgram a MiniProgram client?',
      );
    }
    const verdict: TextVerdict = {
      suggest,
      label,
      traceId: answer.trace_id,
      detail: Array.isArray(answer.detail) ? answer.detail : [],
    };
    await this.#dispatch({
      source: 'text',
      suggest,
      label,
      traceId: verdict.traceId,
      openid: params.openid,
      scene: params.scene,
      item,
    });
    return verdict;
  }

  /**
   * Submits an image or audio to `media_check_async` (2.0) and remembers `item` under the
   * `trace_id` it answers, for `pendingTtlSeconds`. The verdict arrives later as a
   * `wxa_media_check` push: {@link attach} the helper to the Mini Program's callback. Until then
   * the media is unchecked: publish it now and take it down in `onRisky`, or hold it back and
   * publish it in `onPass`. Rejects with WeChat's error, or a `StoreError` when the item could not
   * be stored (its verdict would then be unmatched: submit again).
   *
   * @example
   * const { traceId } = await security.submitMedia({ openid, scene: 3, mediaUrl, mediaType: 2, item: { postId } });
   */
  async submitMedia(params: SubmitMediaParams<Item>): Promise<{ traceId: string }> {
    if (typeof params !== 'object' || params === null) {
      throw new ArgumentError('submitMedia: params must be an object');
    }
    const { openid, scene, mediaUrl, mediaType, item } = params;
    let json: string | undefined;
    try {
      json = JSON.stringify({ item });
    } catch (cause) {
      throw new ArgumentError('submitMedia: item must be JSON-serialisable (a post id, a small object)', {
        cause,
      });
    }
    if (item === undefined || json === undefined || json === '{}') {
      throw new ArgumentError(
        'submitMedia: item is required: the reference (e.g. a post id) the verdict handlers receive',
      );
    }
    if (Buffer.byteLength(json) > MAX_CONTENT_ITEM_BYTES) {
      throw new ArgumentError(
        `submitMedia: item takes more than ${MAX_CONTENT_ITEM_BYTES} bytes as JSON: store a reference (an id), not the content`,
      );
    }
    const answer = await this.#mp.security.mediaCheckAsync({
      media_url: mediaUrl,
      media_type: mediaType,
      openid,
      scene,
      version: 2,
    });
    const traceId = answer?.trace_id;
    if (typeof traceId !== 'string' || !TRACE_ID.test(traceId)) {
      throw new ArgumentError(
        'submitMedia: media_check_async answered without a usable trace_id: is miniProgram a MiniProgram client?',
      );
    }
    const record: PendingCheck<Item> = { item, openid, scene, mediaType, submittedAt: this.#now() };
    const value = MARKER + JSON.stringify(record);
    const expiresAt = this.#now() + this.#ttlMs;
    await this.#store.set(this.#key(traceId), { value, expiresAt, refreshAt: expiresAt }, this.#ttlMs);
    return { traceId };
  }

  /**
   * Handles one `wxa_media_check` push: takes the item pending under its `trace_id` (once, across
   * every instance sharing the store) and runs the handler of its verdict. A push that matches no
   * pending item is reported to `onUnmatched` and answered normally: it never fails the push. A
   * handler that throws puts the item back and rethrows, so the pipeline answers 500 and WeChat's
   * retry runs it again; a store failure rethrows too. {@link attach} registers it for you.
   *
   * @example
   * callback.on('event.wxa_media_check', async (msg) => {
   *   await security.handleEvent(msg);
   * });
   */
  async handleEvent(message: WxaMediaCheckEvent): Promise<MediaCheckOutcome> {
    const fields = (typeof message === 'object' && message !== null ? message : {}) as Partial<
      Record<string, unknown>
    >;
    const result = fields.result as { suggest?: unknown; label?: unknown } | undefined;
    const traceId = text(fields.trace_id) ?? '';
    const appid = text(fields.appid);
    const unmatched = (reason: UnmatchedMediaCheckEvent['reason']): MediaCheckOutcome => {
      callHook(this.#onUnmatched, {
        reason,
        traceId,
        appid,
        openid: text(fields.FromUserName),
        suggest: text(result?.suggest),
        label: text(result?.label) ?? (typeof result?.label === 'number' ? String(result.label) : undefined),
      });
      return { status: 'unmatched', traceId };
    };
    if (!TRACE_ID.test(traceId)) return unmatched('malformed');
    if (appid !== undefined && appid !== this.#mp.appId) return unmatched('other-app');

    const key = this.#key(traceId);
    const stored = await this.#store.get(key);
    const pending = pendingOf<Item>(stored);
    if (stored === undefined || pending === undefined) {
      const done = await this.#store.get(this.#doneKey(traceId));
      if (done?.value === DONE) return { status: 'duplicate', traceId };
      return unmatched('not-pending');
    }
    // Marked first, so that a retry arriving once the item is taken is seen as one.
    const doneUntil = this.#now() + this.#ttlMs;
    await this.#store.set(
      this.#doneKey(traceId),
      { value: DONE, expiresAt: doneUntil, refreshAt: doneUntil },
      this.#ttlMs,
    );
    // Only one taker wins, on this instance or another.
    if (!(await this.#store.compareAndDelete(key, stored.value))) return { status: 'duplicate', traceId };
    try {
      return { status: await this.#settle(fields, pending, traceId), traceId };
    } catch (error) {
      // Back in the store (for what is left of its time): WeChat's retry of this push takes it again.
      const left = Math.max(1000, stored.expiresAt - this.#now());
      try {
        await this.#store.set(key, stored, left);
      } catch {
        // The handler's error is the one to report. Without its item, the retry should at least be
        // reported as unmatched rather than pass silently for a duplicate.
        await this.#store.compareAndDelete(this.#doneKey(traceId), DONE).catch(() => false);
      }
      throw error;
    }
  }

  /**
   * Registers {@link handleEvent} as the callback's `event.wxa_media_check` handler (the one
   * handler of that key). Mount the callback on the Mini Program's message push URL (消息推送).
   *
   * @example
   * const callback = createWeChatCallback({ appId, token, encodingAESKey, mode: 'safe', format: 'json' });
   * security.attach(callback);
   */
  attach(callback: WeChatCallback): this {
    if (typeof callback?.on !== 'function') {
      throw new ArgumentError('attach(callback): callback must be a WeChatCallback (createWeChatCallback)');
    }
    callback.on('event.wxa_media_check', async (message) => {
      await this.handleEvent(message);
    });
    return this;
  }

  async #settle(
    fields: Partial<Record<string, unknown>>,
    pending: PendingCheck<Item>,
    traceId: string,
  ): Promise<MediaCheckOutcome['status']> {
    const result = fields.result as { suggest?: unknown; label?: unknown } | undefined;
    const errcodeText = fields.errcode;
    const errcode =
      errcodeText === undefined || errcodeText === null || errcodeText === ''
        ? undefined
        : Number(errcodeText);
    const suggest = suggestOf(result?.suggest);
    const label =
      typeof result?.label === 'string' || typeof result?.label === 'number' ? Number(result.label) : NaN;
    const base = {
      openid: pending.openid,
      scene: pending.scene,
      mediaType: pending.mediaType,
      submittedAt: pending.submittedAt,
      traceId,
    };
    // 「仅当该值为0时，结果有效」: no errcode (older pushes) is read as valid when a result is there.
    if ((errcode !== undefined && errcode !== 0) || suggest === undefined || !Number.isFinite(label)) {
      await this.#onCheckFailed?.({
        item: pending.item,
        ...base,
        errcode: errcode !== undefined && Number.isFinite(errcode) ? errcode : undefined,
      });
      return 'failed';
    }
    await this.#dispatch({ source: 'media', suggest, label, item: pending.item, ...base });
    return suggest;
  }

  async #dispatch(event: ContentVerdictEvent<Item>): Promise<void> {
    if (event.suggest === 'risky') await this.#onRisky(event);
    else if (event.suggest === 'review') await this.#onReview?.(event);
    else await this.#onPass?.(event);
  }

  #key(traceId: string): string {
    return tokenKey('content_check', this.#mp.appId, traceId);
  }

  #doneKey(traceId: string): string {
    return tokenKey('content_check_done', this.#mp.appId, traceId);
  }
}

/**
 * Checks user-generated content with WeChat's content security (内容安全) and routes each verdict
 * to the app: `checkText` answers at once, `submitMedia` remembers the item and its verdict comes
 * back through the callback it is {@link ContentSecurity.attach attached} to. Options are checked
 * here; unknown keys are refused.
 *
 * @example
 * const security = createContentSecurity<{ postId: string }>({
 *   miniProgram: mp,
 *   store: new RedisStore(redis),            // shared by every instance
 *   onRisky: async ({ item, openid, label }) => {
 *     await posts.hide(item?.postId);
 *     await notify(openid, `removed (label ${label})`);
 *   },
 *   onUnmatched: (e) => log.warn(e, 'wxa_media_check without a pending item'),
 * }).attach(callback);
 *
 * await security.submitMedia({ openid, scene: 3, mediaUrl, mediaType: 2, item: { postId } });
 */
export function createContentSecurity<Item = unknown>(
  options: ContentSecurityOptions<Item>,
): ContentSecurity<Item> {
  return new ContentSecurity<Item>(options);
}
