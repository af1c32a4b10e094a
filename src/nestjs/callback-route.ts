/**
 * Callback routes in a Nest controller: a method decorated with {@link WeChatCallbackRoute} or
 * {@link PayNotificationRoute} returns the callback handler (`createWeChatCallback`,
 * `createWeComCallback`, `createPayNotificationHandler`, …) and the decorator serves it on the
 * route, on Express and on Fastify, from the raw bytes WeChat sent.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { All, Post, Req, Res } from '@nestjs/common';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { answerFastify, sendFastify } from '../adapters/fastify-route.js';
import { serveNode } from '../adapters/serve.js';
import {
  isBodyless,
  type MisconfigurableAdapterOptions,
  misconfigured,
  type ResolvedOptions,
  report,
  resolveOptions,
  tooLarge,
  writeNode,
} from '../adapters/shared.js';
import type { CallbackHandler, CallbackResponse } from '../callbacks/types.js';
import { ConfigError } from '../errors.js';
import { capturedBody, isSignedByWeChat } from './raw-body.js';

/** Options of the callback route decorators and of {@link serveCallback}. */
export type CallbackRouteOptions = MisconfigurableAdapterOptions;

/** A method that returns the callback handler to serve (it may build it lazily). */
export type CallbackHandlerMethod = () => CallbackHandler | PromiseLike<CallbackHandler>;

/** The minimal `Reflect` metadata API (reflect-metadata, which Nest loads). */
interface ReflectMetadata {
  getOwnMetadataKeys(target: object): unknown[];
  getOwnMetadata(key: unknown, target: object): unknown;
  defineMetadata(key: unknown, value: unknown, target: object): void;
}

const reflect = Reflect as unknown as Partial<ReflectMetadata>;

/**
 * Serves a WeChat callback handler (pushes of an Official Account, Mini Program, WeCom app or
 * Open Platform component) on `GET` (URL verification, `echostr`) and `POST` `path` of the
 * controller. The method takes no parameters and returns the handler.
 *
 * @example
 * @Controller()
 * export class WeChatController {
 *   readonly #messages = createWeChatCallback({ appId, token, encodingAESKey })
 *     .on('text', (message) => reply.text(`you said ${message.Content}`));
 *
 *   @WeChatCallbackRoute('wechat')
 *   messages() {
 *     return this.#messages;
 *   }
 * }
 */
export function WeChatCallbackRoute(
  path?: string | string[],
  options?: CallbackRouteOptions,
): MethodDecorator {
  return callbackRoute('WeChatCallbackRoute', All, path, options);
}

/**
 * Serves a Pay v3 notification handler (`createPayNotificationHandler`) on `POST` `path`. The
 * method takes no parameters and returns the handler.
 *
 * @example
 * @PayNotificationRoute('pay/notify')
 * payNotifications() {
 *   return this.#notifications; // createPayNotificationHandler({ apiV3Key, verifier: pay.platformTrust })
 * }
 */
export function PayNotificationRoute(
  path?: string | string[],
  options?: CallbackRouteOptions,
): MethodDecorator {
  return callbackRoute('PayNotificationRoute', Post, path, options);
}

function callbackRoute(
  name: string,
  method: (path?: string | string[]) => MethodDecorator,
  path: string | string[] | undefined,
  options: CallbackRouteOptions | undefined,
): MethodDecorator {
  const served = new WeakMap<CallbackHandler, ResolvedOptions>();
  // Checked now, as the adapters check theirs when they are built.
  resolveOptions(name, { handle: async () => ({ status: 200, headers: {}, body: '' }) }, options);
  return (target, key, descriptor) => {
    const original = descriptor.value as unknown;
    if (typeof original !== 'function') {
      throw new ConfigError(
        'INVALID_CONFIG',
        `@${name}() decorates a method that returns the callback handler`,
      );
    }
    const route = async function (this: unknown, req: unknown, res: unknown): Promise<void> {
      const handler = (await (original as CallbackHandlerMethod).call(this)) as CallbackHandler;
      let resolved = typeof handler === 'object' && handler !== null ? served.get(handler) : undefined;
      if (resolved === undefined) {
        resolved = resolveOptions(`@${name}() ${String(key)}`, handler, options);
        served.set(handler, resolved);
      }
      await serve(handler, resolved, req, res);
    };
    copyMetadata(original, route);
    Object.defineProperty(route, 'name', { value: String(key) });
    (descriptor as PropertyDescriptor).value = route;
    Req()(target, key, 0);
    Res()(target, key, 1);
    return method(path)(target, key, descriptor);
  };
}

/** Decorators applied before this one (written below it) put their metadata on the original. */
function copyMetadata(from: object, to: object): void {
  if (typeof reflect.getOwnMetadataKeys !== 'function') return;
  for (const metadataKey of reflect.getOwnMetadataKeys(from)) {
    reflect.defineMetadata?.(metadataKey, reflect.getOwnMetadata?.(metadataKey, from), to);
  }
}

/**
 * Serves a callback handler on the current request, for a route you declare yourself (with
 * `@Req()` and `@Res()`): the decorators do the same.
 *
 * @example
 * @Post('wecom')
 * wecom(@Req() req: Request, @Res() res: Response) {
 *   return serveCallback(this.wecomCallback, req, res);
 * }
 */
export function serveCallback(
  handler: CallbackHandler,
  req: unknown,
  res: unknown,
  options?: CallbackRouteOptions,
): Promise<void> {
  return serve(handler, resolveOptions('serveCallback', handler, options), req, res);
}

function isFastifyReply(res: unknown): res is FastifyReply {
  return (
    typeof res === 'object' &&
    res !== null &&
    'raw' in res &&
    typeof (res as FastifyReply).code === 'function'
  );
}

async function serve(
  handler: CallbackHandler,
  resolved: ResolvedOptions,
  req: unknown,
  res: unknown,
): Promise<void> {
  if (isFastifyReply(res)) {
    const request = req as FastifyRequest;
    const problem = missingBody(request.raw, request.raw.url);
    if (problem !== undefined) {
      sendFastify(res, problem(resolved));
      return;
    }
    const kept = capturedBody(request.raw);
    if (kept !== undefined && 'bytes' in kept && kept.bytes.byteLength > resolved.limit) {
      sendFastify(res, tooLarge());
      return;
    }
    if (kept !== undefined && 'bytes' in kept) (request as { body: unknown }).body = kept.bytes;
    else if (!isBodyless(request.method)) (request as { body: unknown }).body = new Uint8Array(0);
    await answerFastify(handler, resolved, request, res);
    return;
  }
  const node = req as IncomingMessage & { originalUrl?: string };
  const response = res as ServerResponse;
  const url = node.originalUrl ?? node.url ?? '/';
  const problem = missingBody(node, url);
  if (problem !== undefined) {
    writeNode(response, problem(resolved));
    return;
  }
  const kept = capturedBody(node);
  let body: Uint8Array | undefined;
  if (kept !== undefined && 'bytes' in kept) body = kept.bytes;
  // Read and parsed by Nest, and not signed: not from WeChat. The handler refuses it for what it is.
  else if (!isBodyless(node.method ?? 'GET') && (node.readableEnded || node.readableDidRead))
    body = new Uint8Array(0);
  await serveNode(handler, resolved, node, response, url, body).catch((error: unknown) => {
    report(resolved.onError, error);
  });
}

/**
 * A signed request whose body the early step did not keep: the module is not installed in this
 * app (or the platform is neither Express nor Fastify). Answered `500` with what to change.
 */
function missingBody(
  req: IncomingMessage,
  url: string | undefined,
): ((resolved: ResolvedOptions) => CallbackResponse) | undefined {
  const method = (req.method ?? 'GET').toUpperCase();
  if (isBodyless(method) || capturedBody(req) !== undefined || !isSignedByWeChat(url, req.headers)) {
    return undefined;
  }
  if (!req.readableEnded && !req.readableDidRead) return undefined;
  return (resolved) => {
    const message =
      `weixin-kit: the body of ${method} ${(url ?? '/').split('?')[0]} was read by Nest's body parser, so the raw ` +
      'bytes WeChat signed are gone. Import WeChatKitModule.forRoot()/forRootAsync() in this app (it reads ' +
      "signed WeChat requests before Nest's parsers), on @nestjs/platform-express or @nestjs/platform-fastify.";
    report(resolved.onMisconfigured, message);
    return misconfigured(message);
  };
}
