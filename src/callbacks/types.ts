/**
 * The framework-neutral shape every adapter speaks: a request with its raw body in, a response
 * out. Adapters (express, koa, fastify, hono, node:http, Fetch) only translate to and from it.
 */

/** Request headers as Node (`IncomingMessage.headers`) or the Fetch API (`Headers`) give them. */
export type CallbackHeaders = Record<string, string | string[] | undefined> | Headers;

/** An incoming HTTP request, with the body exactly as received. */
export interface CallbackRequest {
  /** `GET` (the echostr handshake) or `POST` (a push). */
  method: string;
  /** The request target: a path with its query (`/wechat?signature=…`) or an absolute URL. */
  url: string;
  headers: CallbackHeaders;
  /**
   * The raw body bytes as received (joined as bytes, never decoded chunk by chunk), or the text
   * decoded once from them. `undefined` for a GET.
   */
  rawBody: Uint8Array | string | undefined;
}

/** What to answer. */
export interface CallbackResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/** Anything that turns a {@link CallbackRequest} into a {@link CallbackResponse}: what adapters wrap. */
export interface CallbackHandler {
  handle(request: CallbackRequest): Promise<CallbackResponse>;
}
