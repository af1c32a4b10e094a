import type { EmulatorAppConfig } from '../../src/emulator/index.js';

/** A small HTTP client for a running emulator: plain fetch, JSON in and out. */
export function client(base: () => string) {
  const call = async (method: string, path: string, body?: unknown, raw?: { type: string; text: string }) => {
    const init: RequestInit = { method };
    if (raw) init.body = raw.text;
    else if (body !== undefined) init.body = JSON.stringify(body);
    if (raw || body !== undefined) init.headers = { 'content-type': raw?.type ?? 'application/json' };
    const res = await fetch(`${base()}${path}`, init);
    // biome-ignore lint/suspicious/noExplicitAny: test responses are inspected field by field
    return { status: res.status, body: (await res.json()) as any };
  };
  return {
    // biome-ignore lint/suspicious/noExplicitAny: see above
    get: async (path: string): Promise<any> => (await call('GET', path)).body,
    // biome-ignore lint/suspicious/noExplicitAny: see above
    post: async (path: string, body?: unknown): Promise<any> => (await call('POST', path, body)).body,
    // biome-ignore lint/suspicious/noExplicitAny: see above
    postForm: async (path: string, text: string): Promise<any> =>
      (await call('POST', path, undefined, { type: 'application/x-www-form-urlencoded', text })).body,
    // biome-ignore lint/suspicious/noExplicitAny: see above
    postRaw: async (path: string, text: string): Promise<any> =>
      (await call('POST', path, undefined, { type: 'application/json', text })).body,
    call,
    advance: (advanceSeconds: number) => call('POST', '/_emulator/clock', { advanceSeconds }),
  };
}

export const OA: EmulatorAppConfig = {
  appId: 'wx1111111111111111',
  secret: 'oa-secret-0123456789abcdef',
  kind: 'official-account',
  unionIdEnabled: true,
};

export const MP: EmulatorAppConfig = {
  appId: 'wx2222222222222222',
  secret: 'mp-secret-0123456789abcdef',
  kind: 'mini-program',
  unionIdEnabled: true,
};

/** A Mini Program without unionid. */
export const MP_PLAIN: EmulatorAppConfig = {
  appId: 'wx3333333333333333',
  secret: 'mp-plain-secret',
  kind: 'mini-program',
};

/** An app used only to spend its daily quota. */
export const QUOTA_APP: EmulatorAppConfig = {
  appId: 'wx4444444444444444',
  secret: 'quota-secret',
  kind: 'official-account',
};

export const tokenPath = (app: EmulatorAppConfig) =>
  `/cgi-bin/token?grant_type=client_credential&appid=${app.appId}&secret=${app.secret}`;
