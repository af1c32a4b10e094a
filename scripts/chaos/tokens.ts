import type { FetchedToken } from '../../src/index.js';

/** `fetchToken` for a bare TokenManager: `POST /cgi-bin/stable_token` over HTTP. */
export function stableTokenFetcher(
  baseUrl: string,
  appId: string,
  secret: string,
): () => Promise<FetchedToken> {
  return async () => {
    const res = await fetch(`${baseUrl}/cgi-bin/stable_token`, {
      method: 'POST',
      body: JSON.stringify({ grant_type: 'client_credential', appid: appId, secret }),
    });
    const body = (await res.json()) as { access_token?: string; expires_in?: number; errcode?: number };
    if (body.access_token === undefined) throw new Error(`stable_token answered ${JSON.stringify(body)}`);
    return { value: body.access_token, expiresIn: body.expires_in ?? 7200 };
  };
}
