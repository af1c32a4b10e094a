/** Response helpers shared by the emulator's routes. */

/**
 * What the answers built by the emulator carry (the JSON body, the v2 XML fields), so the event
 * log reads their verdict without reading the body stream again.
 */
const answerBodies = new WeakMap<Response, unknown>();

/** Remembers the body an answer was built from (see {@link answerBody}); returns the answer. */
export function rememberBody(response: Response, body: unknown): Response {
  if (body !== undefined) answerBodies.set(response, body);
  return response;
}

/** The body an answer was built from, when it was built by {@link json} or another helper that remembers it. */
export function answerBody(response: Response): unknown {
  return answerBodies.get(response);
}

/** A JSON response (WeChat answers API errors with HTTP 200 and an errcode). */
export function json(body: unknown, status = 200, headers: Record<string, string> = {}): Response {
  const response = new Response(JSON.stringify(body), {
    status,
    headers: { 'content-type': 'application/json; charset=utf-8', ...headers },
  });
  return rememberBody(response, body);
}

/** `{ errcode, errmsg }` as api.weixin.qq.com sends it, with an `rid` like the real one. */
export function wechatError(errcode: number, errmsg: string): Response {
  const rid = `${Math.random().toString(16).slice(2, 10)}-${Math.random().toString(16).slice(2, 10)}-emu`;
  return json({ errcode, errmsg: `${errmsg} rid: ${rid}` });
}

/** An error of the emulator's own control plane (`/_emulator/*`): plain HTTP status + message. */
export function controlError(status: number, message: string): Response {
  return json({ error: message }, status);
}
