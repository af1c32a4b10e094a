/**
 * The per-request half of the Fastify adapter: a request whose body a buffer parser (or another
 * capture) left as bytes becomes a {@link CallbackRequest}, and the handler's answer goes back on
 * the reply. Shared by `weixin-kit/fastify` and the Fastify platform of `weixin-kit/nestjs`.
 * Private to the package.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { CallbackHandler, CallbackResponse } from '../callbacks/types.js';
import { type ResolvedOptions, responseHeaders, runHandler } from './shared.js';

/** Runs `handler` on a request whose `body` holds the raw bytes, and sends its answer. */
export async function answerFastify(
  handler: CallbackHandler,
  resolved: ResolvedOptions,
  request: FastifyRequest,
  reply: FastifyReply,
): Promise<FastifyReply> {
  const method = request.method;
  const body: unknown = request.body;
  const rawBody =
    method === 'GET' || method === 'HEAD'
      ? undefined
      : body instanceof Uint8Array
        ? body
        : typeof body === 'string'
          ? body
          : new Uint8Array(0);
  const response = await runHandler(
    handler,
    {
      method,
      url: request.raw.url ?? request.url,
      headers: request.headers,
      rawBody,
      remoteAddress: request.raw.socket?.remoteAddress,
    },
    resolved,
  );
  return sendFastify(reply, response);
}

/** Sends a callback answer on a Fastify reply. */
export function sendFastify(reply: FastifyReply, response: CallbackResponse): FastifyReply {
  reply.code(response.status);
  for (const [name, value] of responseHeaders(response)) reply.header(name, value);
  return reply.send(response.body);
}
