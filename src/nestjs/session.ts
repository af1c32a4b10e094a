/**
 * The Mini Program session guard of `weixin-kit/guard` in Nest: a guard class for
 * `@UseGuards(WeChatSession)`, the `@WeChatUser()` parameter decorator, and `guardNest()` to mount
 * the guard's own routes (login, refresh, logout) in a controller.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { TLSSocket } from 'node:tls';
import {
  type CanActivate,
  createParamDecorator,
  type ExecutionContext,
  HttpException,
  Inject,
  Injectable,
  type Type,
} from '@nestjs/common';
import { pathAndQuery } from '../adapters/shared.js';
import { ConfigError } from '../errors.js';
import {
  type Authenticator,
  type GuardExpressRequest,
  type GuardFastifyReply,
  type GuardFastifyRequest,
  guardExpress,
  guardFastify,
} from '../guard/adapters.js';
import type { GuardAnswer, GuardHandler, GuardRequest, GuardSession } from '../guard/types.js';
import { checkAccountName, DEFAULT_WECHAT_ACCOUNT } from './account.js';
import { getWeChatToken } from './tokens.js';

/**
 * A refusal of the session guard (`401 SESSION_REQUIRED`, `429 RATE_LIMITED`, …) on its way
 * through Nest's exception layer. Its response is the guard's JSON body
 * (`{ error: { code, message, requestId } }`) and its status the guard's; the guard's headers
 * (`X-Request-Id`, `Cache-Control: no-store`, `Retry-After`, …) are already on the response. An
 * exception filter of yours sees it like any `HttpException`.
 */
export class WeChatSessionRefusal extends HttpException {
  /** The guard's answer as it made it. */
  readonly answer: GuardAnswer;
  constructor(answer: GuardAnswer) {
    super(
      answer.body === '' ? { statusCode: answer.status } : (JSON.parse(answer.body) as object),
      answer.status,
    );
    this.answer = answer;
    this.name = 'WeChatSessionRefusal';
  }
}

/** What a guarded request carries (`req.weixin`), as the guard adapters of `weixin-kit/guard` set it. */
interface WithSession {
  weixin?: { session: GuardSession };
}

type NodeRequest = IncomingMessage & WithSession & { originalUrl?: string };
type FastifyRequestOf = GuardFastifyRequest & WithSession & { raw: IncomingMessage };
type AnyRequest = NodeRequest | FastifyRequestOf;

function isFastifyRequest(req: AnyRequest): req is FastifyRequestOf {
  return typeof (req as { raw?: unknown }).raw === 'object' && (req as { raw?: unknown }).raw !== null;
}

/** The guard's view of a Nest request (Express or Fastify). Authentication reads no body. */
function guardRequestOf(req: AnyRequest): GuardRequest {
  const fastify = isFastifyRequest(req);
  const node: IncomingMessage = fastify ? req.raw : req;
  const socket = node.socket as TLSSocket | null | undefined;
  const url = fastify ? req.url : ((req as NodeRequest).originalUrl ?? req.url ?? '/');
  return {
    method: (node.method ?? 'GET').toUpperCase(),
    url: pathAndQuery(url),
    headers: node.headers,
    remoteAddress: socket?.remoteAddress,
    secure: socket?.encrypted === true,
    json: () => Promise.resolve((req as { body?: unknown }).body ?? {}),
  };
}

function setHeader(res: unknown, name: string, value: string): void {
  const reply = res as {
    header?: (n: string, v: string) => unknown;
    setHeader?: (n: string, v: string) => unknown;
  };
  if (typeof (res as { raw?: unknown }).raw === 'object' && typeof reply.header === 'function') {
    reply.header(name, value);
  } else if (typeof reply.setHeader === 'function') {
    reply.setHeader(name, value);
  }
}

// Computed by the platform from the body it sends.
const SKIPPED = new Set(['content-length', 'transfer-encoding']);

/** The guard class of an account: `WeChatSession` is the default account's. */
export interface WeChatSessionGuard extends Type<CanActivate> {
  /**
   * The guard class of a named account.
   *
   * @example
   * @UseGuards(WeChatSession.forAccount('shop'))
   */
  forAccount(account: string): Type<CanActivate>;
}

const byAccount = new Map<string, Type<CanActivate>>();

function sessionGuardFor(account: string): Type<CanActivate> {
  checkAccountName(account);
  const known = byAccount.get(account);
  if (known !== undefined) return known;
  const Session = class implements CanActivate {
    readonly #guard: Authenticator;
    constructor(guard: Authenticator | null) {
      if (guard === null || typeof guard?.authenticate !== 'function') {
        throw new ConfigError(
          'INVALID_CONFIG',
          `weixin-kit/nestjs: @UseGuards(${Session.name}) needs a session guard: give WeChatKitModule ` +
            `${account === DEFAULT_WECHAT_ACCOUNT ? 'guard' : `accounts.${account}.guard`}: (account) => createGuard({ miniProgram: account.miniProgram, keys })`,
        );
      }
      this.#guard = guard;
    }

    async canActivate(context: ExecutionContext): Promise<boolean> {
      const http = context.switchToHttp();
      const req = http.getRequest<AnyRequest>();
      const res = http.getResponse<unknown>();
      const result = await this.#guard.authenticate(guardRequestOf(req));
      if (!result.ok) {
        for (const [name, value] of Object.entries(result.answer.headers)) {
          if (!SKIPPED.has(name.toLowerCase())) setHeader(res, name, value);
        }
        throw new WeChatSessionRefusal(result.answer);
      }
      for (const [name, value] of Object.entries(result.headers)) setHeader(res, name, value);
      req.weixin = { session: result.session };
      return true;
    }
  };
  Object.defineProperty(Session, 'name', {
    value: account === DEFAULT_WECHAT_ACCOUNT ? 'WeChatSession' : `WeChatSession(${account})`,
  });
  Injectable()(Session);
  Inject(getWeChatToken('guard', account))(Session, undefined as never, 0);
  byAccount.set(account, Session);
  return Session;
}

/**
 * A Nest guard that lets only callers with a valid Mini Program session through (the default
 * account's guard; `WeChatSession.forAccount('shop')` for another). The caller is then on
 * `@WeChatUser()`; refusals keep the guard's JSON shape and headers (see docs/guard.md).
 *
 * @example
 * @Get('orders')
 * @UseGuards(WeChatSession)
 * orders(@WeChatUser() user: GuardSession) {
 *   return this.orders.of(user.openid);
 * }
 */
export const WeChatSession: WeChatSessionGuard = Object.assign(sessionGuardFor(DEFAULT_WECHAT_ACCOUNT), {
  forAccount: sessionGuardFor,
});

/**
 * The verified caller of a route behind {@link WeChatSession}: `{ openid, userId?, sessionId,
 * appId, source }`, from the session token only (never from the body or the query). With a field
 * name, that field (`@WeChatUser('openid') openid: string`).
 *
 * @example
 * @Post('orders')
 * @UseGuards(WeChatSession)
 * create(@WeChatUser() user: GuardSession, @Body() body: CreateOrder) { … }
 */
export const WeChatUser: (field?: keyof GuardSession) => ParameterDecorator = createParamDecorator(
  (field: keyof GuardSession | undefined, context: ExecutionContext) => {
    const session = context.switchToHttp().getRequest<WithSession>().weixin?.session;
    if (session === undefined) {
      throw new ConfigError(
        'INVALID_CONFIG',
        'weixin-kit/nestjs: @WeChatUser() is only set behind the session guard: add @UseGuards(WeChatSession) to the route',
      );
    }
    return field === undefined ? session : session[field];
  },
);

/**
 * Serves one of the guard's own routes (`guard.loginRoute()`, `refreshRoute()`, `logoutRoute()`,
 * `protect(…)`) in a controller method that takes `@Req()` and `@Res()`, on Express or Fastify.
 *
 * @example
 * @Post('login')
 * login(@Req() req: unknown, @Res() res: unknown) {
 *   return guardNest(this.account.guard.loginRoute())(req, res);
 * }
 */
export function guardNest(handler: GuardHandler): (req: unknown, res: unknown) => Promise<void> {
  const express = guardExpress(handler);
  const fastify = guardFastify(handler);
  return async (req, res) => {
    if (typeof res === 'object' && res !== null && 'raw' in res) {
      await fastify(req as GuardFastifyRequest, res as unknown as GuardFastifyReply);
      return;
    }
    express(req as GuardExpressRequest, res as ServerResponse);
  };
}
