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
  /** The address of the peer that sent the request (the socket's), when the adapter knows it. */
  remoteAddress?: string | undefined;
}

/** What to answer. */
export interface CallbackResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/**
 * A problem an adapter found and answered itself, before the handler could run. Today one kind:
 * a body parser mounted before the callback route consumed the raw bytes (`BODY_ALREADY_PARSED`).
 */
export interface AdapterProblem {
  code: 'BODY_ALREADY_PARSED';
  /** What happened and how to mount the route (method and path, never the query or the body). */
  message: string;
}

/** Anything that turns a {@link CallbackRequest} into a {@link CallbackResponse}: what adapters wrap. */
export interface CallbackHandler {
  handle(request: CallbackRequest): Promise<CallbackResponse>;
  /**
   * Optional: adapters call it with a problem they answered themselves, so that it reaches the
   * handler's hooks and logger (weixin-kit's callbacks and Pay notification handlers implement it).
   */
  reportAdapterProblem?(problem: AdapterProblem): void;
}
