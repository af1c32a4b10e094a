/** Shared pieces of the guard tests: an in-process emulator with one Mini Program, and requests. */

import { createEmulator, type EmulatorAppConfig } from '../../src/emulator/index.js';
import type { GuardAnswer, GuardRequest } from '../../src/guard/index.js';
import { MiniProgram } from '../../src/index.js';

export const MP: EmulatorAppConfig = {
  appId: 'wx5555555555555555',
  secret: 'guard-mp-secret-0123456789',
  kind: 'mini-program',
  unionIdEnabled: true,
};

export const SECRET = 'a-session-secret-of-at-least-32-bytes!!';

/** A fresh emulator (manual clock) and a MiniProgram client served by it in-process. */
export function world() {
  const emulator = createEmulator({ apps: [MP], merchants: [], options: { clock: 'manual' } });
  const mp = new MiniProgram({
    appId: MP.appId,
    secret: MP.secret,
    baseUrl: 'http://emulator',
    fetch: emulator.fetch as typeof fetch,
  });
  const control = async <T>(path: string, body: unknown): Promise<T> =>
    (await (
      await emulator.fetch(`http://emulator${path}`, { method: 'POST', body: JSON.stringify(body) })
    ).json()) as T;
  return {
    emulator,
    mp,
    /** A js_code, as wx.login gives the client. */
    loginCode: async (openId?: string) =>
      (
        await control<{ code: string }>('/_emulator/mini-program/login', {
          appId: MP.appId,
          ...(openId ? { openId } : {}),
        })
      ).code,
    phoneCode: async (phoneNumber: string, openId?: string) =>
      (
        await control<{ code: string }>('/_emulator/mini-program/phone-code', {
          appId: MP.appId,
          phoneNumber,
          ...(openId ? { openId } : {}),
        })
      ).code,
    code2SessionCalls: () => emulator.state.stats.calls['/sns/jscode2session'] ?? 0,
  };
}

/** A request as an adapter would build it; loopback peer, plain HTTP unless told. */
export function request(
  method: string,
  url: string,
  options: {
    headers?: Record<string, string>;
    body?: unknown;
    remoteAddress?: string;
    secure?: boolean;
  } = {},
): GuardRequest {
  const headers: Record<string, string> = { host: 'api.example.com' };
  for (const [k, v] of Object.entries(options.headers ?? {})) headers[k.toLowerCase()] = v;
  return {
    method,
    url,
    headers,
    remoteAddress: options.remoteAddress ?? '127.0.0.1',
    secure: options.secure ?? false,
    json: async () => options.body ?? {},
  };
}

export const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

// biome-ignore lint/suspicious/noExplicitAny: answers are inspected field by field
export const body = (answer: GuardAnswer): any => (answer.body === '' ? undefined : JSON.parse(answer.body));
