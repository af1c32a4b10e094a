/** Response helpers shared by the emulator's routes. */

/** A JSON response (WeChat answers API errors with HTTP 200 and an errcode). */
export function json(body: unknown, status = 200, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: { 'content-type': 'application/json; charset=utf-8', ...headers },
  });
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
