/**
 * `weixin-kit/fastify` — a callback handler as an encapsulated Fastify plugin (Fastify 4 and 5).
 *
 * Raw body: inside its own encapsulation context the plugin drops the inherited content-type
 * parsers and registers one catch-all parser with `parseAs: 'buffer'`, so the route receives the
 * bytes as sent whatever the content type (XML, JSON, text, octet-stream). Being encapsulated
 * (not wrapped in fastify-plugin), this changes nothing for the host app's other routes: they
 * keep its JSON parser. Fastify enforces the size limit itself (`bodyLimit`), answered `413`.
 *
 * Fastify is an optional peer dependency: this module imports only its types.
 */
import type { FastifyError, FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import type { CallbackHandler } from '../callbacks/types.js';
import { answerFastify, sendFastify } from './fastify-route.js';
import { type AdapterOptions, internalError, report, resolveOptions, tooLarge } from './shared.js';

export type { CallbackHandler, CallbackRequest, CallbackResponse } from '../callbacks/types.js';

/** Options of the {@link wechatFastify} plugin. */
export interface WeChatFastifyOptions extends AdapterOptions {
  /** The callback handler to serve. */
  handler: CallbackHandler;
  /** The route answering `GET` (URL verification) and `POST` (pushes), e.g. `/wechat`. */
  path: string;
}

/**
 * Fastify plugin answering WeChat callbacks on `GET` and `POST` `path`. Register it without
 * fastify-plugin so its buffer parser stays inside its own context.
 *
 * @example
 * import Fastify from 'fastify';
 * import { wechatFastify } from 'weixin-kit/fastify';
 *
 * const app = Fastify();
 * await app.register(wechatFastify, { handler: callback, path: '/wechat' });
 * await app.listen({ port: 3000 });
 */
export const wechatFastify: FastifyPluginAsync<WeChatFastifyOptions> = async (fastify, options) => {
  const { handler, path } = options ?? ({} as Partial<WeChatFastifyOptions>);
  const resolved = resolveOptions('wechatFastify', handler as CallbackHandler, options);
  if (typeof path !== 'string' || !path.startsWith('/')) {
    throw new TypeError(`wechatFastify: path must start with "/", got ${String(path)}`);
  }

  fastify.removeAllContentTypeParsers();
  fastify.addContentTypeParser(
    '*',
    { parseAs: 'buffer', bodyLimit: resolved.limit },
    (
      _request: FastifyRequest,
      body: Buffer | string,
      done: (error: Error | null, body?: unknown) => void,
    ) => {
      done(null, body);
    },
  );

  // Errors raised before the handler (body too large, a malformed request) get this context's
  // answers; the host's error handler elsewhere is untouched.
  fastify.setErrorHandler((error: FastifyError, _request: FastifyRequest, reply: FastifyReply) => {
    const status = typeof error.statusCode === 'number' ? error.statusCode : 500;
    if (status === 413) return sendFastify(reply, tooLarge());
    if (status >= 400 && status < 500) {
      return sendFastify(reply, {
        status,
        headers: { 'content-type': 'text/plain; charset=utf-8' },
        body: 'Bad Request',
      });
    }
    report(resolved.onError, error);
    return sendFastify(reply, internalError());
  });

  fastify.route({
    method: ['GET', 'POST'],
    url: path,
    bodyLimit: resolved.limit,
    handler: (request: FastifyRequest, reply: FastifyReply) =>
      answerFastify(handler as CallbackHandler, resolved, request, reply),
  });
};
