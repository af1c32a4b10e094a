/**
 * `npm run demo -- --serve`: the JSON line it prints is a contract (other tools read it). Its
 * `miniProgramApi` object must describe a guarded API that works as described.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const RUN = fileURLToPath(new URL('../../examples/demo/run.ts', import.meta.url));

interface ServeLine {
  emulator: string;
  backend: string;
  miniProgramApi: Record<
    'baseUrl' | 'appId' | 'login' | 'me' | 'phone' | 'comment' | 'allowedOrigin' | 'logout',
    string
  >;
}

let child: ChildProcess;
let line: ServeLine;
/** Everything the demo printed on stdout (the contract line, then audit records). */
let out = '';

beforeAll(async () => {
  child = spawn(process.execPath, ['--import', 'tsx', RUN, '--serve'], { stdio: ['ignore', 'pipe', 'pipe'] });
  line = await new Promise<ServeLine>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no JSON line within 30 s: ${out}`)), 30_000);
    child.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
      out += chunk;
      const first = out.split('\n').find((l) => l.startsWith('{'));
      if (first !== undefined && out.includes('\n')) {
        clearTimeout(timer);
        resolve(JSON.parse(first) as ServeLine);
      }
    });
    child.once('exit', (code) => reject(new Error(`demo exited ${code}: ${out}`)));
  });
}, 40_000);

afterAll(async () => {
  if (child.exitCode === null) {
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGTERM');
    await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, 5000))]);
    if (child.exitCode === null) child.kill('SIGKILL');
  }
});

/** "POST /api/login, body {code}" → ['POST', '/api/login'] */
const route = (text: string): [string, string] => {
  const [method, path] = (text.split(',')[0] ?? '').trim().split(/\s+/);
  return [method as string, path as string];
};

describe('npm run demo -- --serve', () => {
  it('prints the miniProgramApi contract, and the API works as it says', async () => {
    const api = line.miniProgramApi;
    expect(Object.keys(api).sort()).toEqual([
      'allowedOrigin',
      'appId',
      'baseUrl',
      'comment',
      'login',
      'logout',
      'me',
      'phone',
    ]);
    const call = async (text: string, body?: unknown, token?: string) => {
      const [method, path] = route(text);
      const res = await fetch(`${api.baseUrl}${path}`, {
        method,
        headers: {
          'content-type': 'application/json',
          ...(token ? { authorization: `Bearer ${token}` } : {}),
        },
        ...(method === 'GET' ? {} : { body: JSON.stringify(body ?? {}) }),
      });
      // biome-ignore lint/suspicious/noExplicitAny: inspected field by field
      return { status: res.status, json: (await res.json()) as any, headers: res.headers };
    };
    const control = async (path: string, body: unknown) =>
      (await (
        await fetch(`${line.emulator}${path}`, { method: 'POST', body: JSON.stringify(body) })
      ).json()) as {
        code: string;
      };
    const { code } = await control('/_emulator/mini-program/login', { appId: api.appId });
    const login = await call(api.login, { code });
    expect(login.status).toBe(200);
    expect(JSON.stringify(login.json)).not.toMatch(/session_key|unionid/);
    const me = await call(api.me, undefined, login.json.token);
    expect(me.status).toBe(200);
    const phoneCode = await control('/_emulator/mini-program/phone-code', {
      appId: api.appId,
      phoneNumber: '13912345678',
    });
    const phone = await call(api.phone, { code: phoneCode.code }, login.json.token);
    expect(phone.json.phone).toBe('139****5678');
    expect((await call(api.me, undefined, login.json.token)).json.phone).toBe('139****5678');
    // The allowed origin passes a preflight; another one does not.
    const preflight = async (origin: string) =>
      fetch(`${api.baseUrl}${route(api.me)[1]}`, {
        method: 'OPTIONS',
        headers: {
          origin,
          'access-control-request-method': 'GET',
          'access-control-request-headers': 'authorization',
        },
      });
    expect((await preflight(api.allowedOrigin)).headers.get('access-control-allow-origin')).toBe(
      api.allowedOrigin,
    );
    expect((await preflight('https://evil.example')).headers.get('access-control-allow-origin')).toBeNull();
    // User text is checked with msg_sec_check: a risky comment is refused (the emulator's rules).
    const comment = await call(api.comment, { text: '今天天气不错' }, login.json.token);
    expect([comment.status, comment.json.published]).toEqual([200, true]);
    const risky = await call(api.comment, { text: '这是一条违规内容' }, login.json.token);
    expect([risky.status, risky.json.published]).toEqual([422, false]);
    expect((await call(api.logout, {}, login.json.token)).status).toBe(200);
    const after = await call(api.me, undefined, login.json.token);
    expect(after.status).toBe(401);
    // --serve prints one audit record per request, with its request id and nothing secret. The
    // record is written before the answer, but the pipe may deliver it a little after.
    const lastId = after.headers.get('x-request-id') ?? '';
    for (let waited = 0; !out.includes(lastId) && waited < 5000; waited += 20) {
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    const records = out
      .split('\n')
      .filter((l) => l.includes('"event":"audit"'))
      .map((l) => JSON.parse(l) as { requestId: string; route: string; status: number; user?: string });
    const last = records.find((r) => r.requestId === lastId);
    expect(last).toMatchObject({ route: '/api/me', status: 401 });
    expect(records.filter((r) => r.route === '/api/comment').map((r) => r.status)).toEqual([200, 422]);
    expect(out).not.toContain(login.json.token);
    expect(out).not.toContain('13912345678');
  }, 30_000);
});
