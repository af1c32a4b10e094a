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

export type EmulatorClient = ReturnType<typeof client>;

/**
 * An app's access_token, cached in `tokens` (`fresh` asks for a new one). Clear `tokens` in a
 * `beforeEach`: a test that moves the clock past 7200 s must not leave the next one, in whatever
 * order, an expired token.
 */
export function tokenGetter(api: EmulatorClient, tokens: Map<string, string>) {
  return async (app: EmulatorAppConfig, fresh = false): Promise<string> => {
    let t = tokens.get(app.appId);
    if (!t || fresh) {
      t = (await api.get(tokenPath(app))).access_token as string;
      tokens.set(app.appId, t);
    }
    return t;
  };
}

/** Adds a follower (user) to an app through the control plane and answers its openid. */
export const userMaker =
  (api: EmulatorClient) =>
  async (app: EmulatorAppConfig, openId?: string): Promise<string> =>
    (await api.post('/_emulator/users', { appId: app.appId, ...(openId ? { openId } : {}) })).openId;

/** wx.login through the control plane, and the code2Session exchange of its code. */
export function miniProgramLogin(api: EmulatorClient) {
  return {
    login: (app: EmulatorAppConfig, openId?: string) =>
      api.post('/_emulator/mini-program/login', { appId: app.appId, ...(openId ? { openId } : {}) }),
    code2Session: (app: EmulatorAppConfig, code: string, secret = app.secret) =>
      api.get(
        `/sns/jscode2session?appid=${app.appId}&secret=${secret}&js_code=${code}&grant_type=authorization_code`,
      ),
  };
}

/** Uploads `bytes` to /cgi-bin/media/upload as the multipart field `field` (default `media`). */
export async function uploadMedia(
  base: string,
  accessToken: string,
  type: string,
  bytes: Uint8Array,
  filename: string,
  contentType: string,
  field = 'media',
) {
  const form = new FormData();
  form.append(field, new Blob([new Uint8Array(bytes)], { type: contentType }), filename);
  const res = await fetch(`${base}/cgi-bin/media/upload?access_token=${accessToken}&type=${type}`, {
    method: 'POST',
    body: form,
  });
  // biome-ignore lint/suspicious/noExplicitAny: inspected field by field
  return (await res.json()) as any;
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
