// Issue 12: audit records and security events from guarded routes, callbacks and Pay
// notifications. Records go through a real pino logger (with PINO_REDACT_PATHS) into memory;
// the distinctive secret values of every party are then grepped across everything captured.
import { createCipheriv, generateKeyPairSync, randomBytes } from 'node:crypto';
import pino from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import { createPayNotificationHandler, createWeChatCallback, reply } from '../../src/callbacks/index.js';
import { PayV3Verifier } from '../../src/crypto/index.js';
import { createGuard, type GuardMiniProgram } from '../../src/guard/index.js';
import { type AuditRecord, createAuditLog, PINO_REDACT_PATHS, type SecurityEvent } from '../../src/index.js';
import { AES_KEY, APP_ID, NOW, push, TOKEN, textMessage } from '../callbacks/fixtures.js';
import { bearer, body, MP, request, world } from '../guard/fixture.js';
import { signedNotification } from '../helpers/pay-notification.js';

const USER_KEY = 'audit-user-key-0123456789abcdef';
const PHONE = '13812345678';
// GB 11643-1999 example with a valid check digit.
const ID_NUMBER = '11010519491231002X';
const SESSION_SECRET = 'a-session-secret-of-at-least-32-bytes!!';

/** A pino logger writing JSON lines into `lines`, redacting our paths. */
function capture() {
  const lines: string[] = [];
  const logger = pino(
    { level: 'info', redact: { paths: [...PINO_REDACT_PATHS], censor: '***' } },
    { write: (line: string) => lines.push(line) },
  );
  const records = () =>
    lines
      .map((l) => JSON.parse(l) as AuditRecord & { msg: string; level: number })
      .filter((r) => r.event === 'audit');
  return { lines, logger, records };
}

const shared = world();
afterAll(() => shared.emulator.close());

describe('createAuditLog', () => {
  it('refuses a missing logger and a short userKey, naming what to give', () => {
    expect(() => createAuditLog({ logger: {} as never, userKey: USER_KEY })).toThrow(/logger must have/);
    expect(() => createAuditLog({ logger: pino({ enabled: false }), userKey: 'short' })).toThrow(
      /userKey must be a string or bytes of at least 16/,
    );
  });

  it('hashes the openid with the key: stable per key, different across keys, never the openid itself', () => {
    const { logger } = capture();
    const a = createAuditLog({ logger, userKey: USER_KEY });
    const b = createAuditLog({ logger, userKey: `${USER_KEY}-other` });
    const openid = 'oUpF8uMuAJO_M2pxb1Q9zNjWeS6o';
    expect(a.userOf(openid)).toMatch(/^u_[0-9a-f]{24}$/);
    expect(a.userOf(openid)).toBe(a.userOf(openid));
    expect(createAuditLog({ logger, userKey: USER_KEY }).userOf(openid)).toBe(a.userOf(openid));
    expect(b.userOf(openid)).not.toBe(a.userOf(openid));
    expect(a.userOf('another-openid')).not.toBe(a.userOf(openid));
  });

  it('writes 2xx at info, 4xx at warn, 5xx at error; drops the query; openid only when configured', () => {
    const { logger, records } = capture();
    const audit = createAuditLog({ logger, userKey: USER_KEY });
    const withOpenid = createAuditLog({ logger, userKey: USER_KEY, includeOpenid: true });
    const facts = {
      startedAt: Date.UTC(2026, 11, 1),
      requestId: 'a'.repeat(32),
      kind: 'callback' as const,
      method: 'POST',
      url: '/wechat?signature=abc&timestamp=1&nonce=2&openid=o_secretish',
      latencyMs: 1.23456,
      openid: 'o_user',
    };
    audit.write({ ...facts, status: 200 });
    audit.write({ ...facts, status: 401, code: 'SIGNATURE_MISMATCH' });
    withOpenid.write({ ...facts, status: 500, code: 'INTERNAL_ERROR' });
    const [ok, refused, failed] = records();
    expect(ok).toMatchObject({ level: 30, route: '/wechat', status: 200, outcome: 'ok', latencyMs: 1.235 });
    expect(ok?.receivedAt).toBe('2026-12-01T00:00:00.000Z');
    expect(ok).not.toHaveProperty('openid');
    expect(refused).toMatchObject({ level: 40, status: 401, outcome: 'refused', code: 'SIGNATURE_MISMATCH' });
    // PINO_REDACT_PATHS censors `openid` too: includeOpenid needs a logger without that path.
    expect(failed).toMatchObject({ level: 50, status: 500, outcome: 'error', openid: '***' });
    expect(failed?.user).toBe(ok?.user);
    const lines: string[] = [];
    createAuditLog({
      logger: pino({}, { write: (line: string) => lines.push(line) }),
      userKey: USER_KEY,
      includeOpenid: true,
    }).write({ ...facts, status: 200 });
    expect(JSON.parse(lines[0] as string)).toMatchObject({ openid: 'o_user', user: ok?.user });
  });

  it('never lets a throwing logger change anything', () => {
    const audit = createAuditLog({
      logger: {
        error: () => {
          throw new Error('sink down');
        },
      },
      userKey: USER_KEY,
    });
    expect(() =>
      audit.write({
        startedAt: 0,
        requestId: 'x',
        kind: 'guard',
        method: 'GET',
        url: '/',
        status: 200,
        latencyMs: 0,
      }),
    ).not.toThrow();
  });
});

describe('audit records and security events of the guard, callbacks and Pay notifications', () => {
  it('records every request with its id, outcome and user hash; nothing secret in any captured output', async () => {
    const { lines, logger, records } = capture();
    const audit = createAuditLog({ logger, userKey: USER_KEY });
    const events: SecurityEvent[] = [];
    const onSecurityEvent = (event: SecurityEvent) => events.push(event);

    // --- the guard: login, a masked answer, a forged token, a stale session key, a 429
    const sessionKeys: string[] = [];
    const miniProgram: GuardMiniProgram = {
      appId: MP.appId,
      auth: {
        code2Session: async (params: { js_code: string }) => {
          const answer = await shared.mp.auth.code2Session(params);
          sessionKeys.push(answer.session_key);
          return answer;
        },
      },
      phoneNumbers: shared.mp.phoneNumbers,
    };
    const guard = createGuard({
      miniProgram,
      keys: [{ kid: 'k1', alg: 'HS256', secret: SESSION_SECRET }],
      audit,
      onSecurityEvent,
      limits: { user: { points: 4, durationSeconds: 60 } },
      logger,
    });
    const openid = 'o_audit_user_000000000000001';
    const login = await guard.loginRoute()(
      request('POST', '/api/login', { body: { code: await shared.loginCode(openid) } }),
    );
    expect(login.status).toBe(200);
    const { token, refreshToken } = body(login) as { token: string; refreshToken: string };
    const me = guard.protect(() => ({ phoneNumber: PHONE, idNumber: ID_NUMBER, note: `call ${PHONE}` }));
    const masked = await me(request('GET', '/api/me?debug=1', { headers: bearer(token) }));
    expect(masked.status).toBe(200);
    const forged = await me(request('GET', '/api/me', { headers: bearer(`${token.slice(0, -4)}AAAA`) }));
    expect(forged.status).toBe(401);
    const decrypt = guard.protect(async (ctx) => ctx.decryptUserData((await ctx.json()) as never));
    const iv = randomBytes(16);
    const cipher = createCipheriv('aes-128-cbc', randomBytes(16), iv);
    const sealed = Buffer.concat([cipher.update('{"watermark":{}}'), cipher.final()]).toString('base64');
    const stale = await decrypt(
      request('POST', '/api/profile', {
        headers: bearer(token),
        body: { encryptedData: sealed, iv: iv.toString('base64') },
      }),
    );
    expect(stale.status).toBe(401);
    let limited = masked;
    for (let i = 0; i < 4 && limited.status !== 429; i++) {
      limited = await me(
        request('GET', '/api/me', { headers: bearer(token), remoteAddress: '203.0.113.9', secure: true }),
      );
    }
    expect(limited.status).toBe(429);

    // --- a callback in safe mode: a message with a reply, a forged one, a replay, a downgrade
    const callback = createWeChatCallback({
      appId: APP_ID,
      token: TOKEN,
      encodingAESKey: AES_KEY,
      mode: 'safe',
      now: () => NOW * 1000,
      audit,
      onSecurityEvent,
    }).on('text', () => reply.text('got it'));
    const sender = 'oSenderOpenid00000000000001';
    const message = push({
      fields: { ...textMessage('hello', '6054768590064713001'), FromUserName: sender },
    });
    const pushed = await callback.handle({
      ...message,
      headers: { traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01' },
    });
    expect(pushed.status).toBe(200);
    expect(pushed.headers['x-request-id']).toBe('4bf92f3577b34da6a3ce929d0e0e4736');
    const forgedPush = await callback.handle({
      ...message,
      url: message.url.replace(/signature=[^&]+/, 'signature=0000'),
    });
    expect(forgedPush.status).toBe(401);
    const replay = await callback.handle(
      push({ fields: textMessage('old', '6054768590064713002'), timestamp: NOW - 3600 }),
    );
    expect(replay.status).toBe(401);
    const downgrade = await callback.handle(
      push({
        fields: { ...textMessage('plain', '6054768590064713003'), FromUserName: sender },
        mode: 'plain',
      }),
    );
    expect(downgrade.status).toBeGreaterThanOrEqual(400);

    // --- a Pay notification
    const platform = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const apiV3Key = 'b8cde1ef52c8e9f7b3a04cd2e6f1b8d9';
    const payer = 'oPayerOpenid000000000000001';
    const notifications = createPayNotificationHandler({
      apiV3Key,
      verifier: new PayV3Verifier({
        publicKey: { id: 'PUB_KEY_ID_0114232134912410000000000001', key: platform.publicKey },
      }),
      now: () => NOW * 1000,
      audit,
      onSecurityEvent,
    }).on('TRANSACTION.SUCCESS', async () => {});
    const pay = (remoteAddress?: string) =>
      signedNotification({
        apiV3Key,
        resource: { mchid: '1230000109', out_trade_no: 'o-1', payer: { openid: payer } },
        privateKey: platform.privateKey,
        serial: 'PUB_KEY_ID_0114232134912410000000000001',
        timestamp: NOW,
        ...(remoteAddress === undefined ? {} : { remoteAddress }),
      });
    const first = pay('198.51.100.7');
    const paid = await notifications.handle(first);
    expect(paid.status).toBe(204);
    // The same notification again (WeChat Pay's retry): a duplicate.
    const again = await notifications.handle({ ...first, remoteAddress: undefined });
    expect(again.status).toBe(204);

    // --- the records
    const all = records();
    const byRequest = new Map(all.map((r) => [r.requestId, r]));
    for (const answer of [login, masked, forged, stale, limited]) {
      expect(byRequest.get(answer.headers['x-request-id'] as string), answer.body).toBeDefined();
    }
    expect(byRequest.get(login.headers['x-request-id'] as string)).toMatchObject({
      kind: 'guard',
      route: '/api/login',
      status: 200,
      outcome: 'ok',
      appId: MP.appId,
      ip: '127.0.0.1',
    });
    const meRecord = byRequest.get(masked.headers['x-request-id'] as string);
    expect(meRecord).toMatchObject({
      route: '/api/me',
      status: 200,
      user: createAuditLog({ logger, userKey: USER_KEY }).userOf(openid),
    });
    expect(byRequest.get(forged.headers['x-request-id'] as string)).toMatchObject({
      status: 401,
      outcome: 'refused',
      code: 'SESSION_INVALID',
    });
    expect(byRequest.get(limited.headers['x-request-id'] as string)).toMatchObject({
      status: 429,
      code: 'RATE_LIMITED',
      ip: '203.0.113.9',
    });
    expect(byRequest.get('4bf92f3577b34da6a3ce929d0e0e4736')).toMatchObject({
      kind: 'callback',
      route: '/wechat',
      status: 200,
      outcome: 'ok',
      type: 'text',
      appId: APP_ID,
      user: createAuditLog({ logger, userKey: USER_KEY }).userOf(sender),
    });
    expect(byRequest.get(forgedPush.headers['x-request-id'] as string)).toMatchObject({
      status: 401,
      code: 'SIGNATURE_MISMATCH',
    });
    expect(byRequest.get(paid.headers['x-request-id'] as string)).toMatchObject({
      kind: 'pay-notification',
      status: 204,
      outcome: 'ok',
      type: 'TRANSACTION.SUCCESS',
      appId: '1230000109',
      ip: '198.51.100.7',
      user: createAuditLog({ logger, userKey: USER_KEY }).userOf(payer),
    });
    expect(byRequest.get(again.headers['x-request-id'] as string)).toMatchObject({
      outcome: 'duplicate',
      status: 204,
    });
    for (const record of all) {
      expect(record.latencyMs).toBeGreaterThanOrEqual(0);
      expect(record.requestId).toMatch(/^[0-9a-f]{32}$/);
      expect(Number.isNaN(Date.parse(record.receivedAt))).toBe(false);
    }
    // pino writes level, time, pid, hostname and msg itself: a record must not write them again
    // (a line holding a key twice is refused by strict JSON readers, Elasticsearch's among them).
    for (const line of lines) {
      for (const key of ['level', 'time', 'pid', 'hostname', 'msg']) {
        expect(line.split(`"${key}":`).length - 1, `${key} in ${line}`).toBeLessThanOrEqual(1);
      }
    }

    // --- the security events
    const types = events.map((e) => `${e.source}:${e.type}:${e.code}`);
    expect(types).toEqual(
      expect.arrayContaining([
        'guard:session_refused:SESSION_INVALID',
        'guard:session_key_stale:SESSION_KEY_STALE',
        'guard:rate_limited:RATE_LIMITED',
        'callback:signature_failed:SIGNATURE_MISMATCH',
        'callback:replay:TIMESTAMP_EXPIRED',
        `callback:downgrade:${downgrade.status === 401 ? 'SIGNATURE_MISMATCH' : 'BAD_BODY'}`,
      ]),
    );
    expect(new Set(events.map((e) => e.id)).size).toBe(events.length);
    const forgedEvent = events.find((e) => e.type === 'signature_failed');
    expect(forgedEvent?.requestId).toBe(forgedPush.headers['x-request-id']);
    expect(forgedEvent?.appId).toBe(APP_ID);

    // --- nothing secret anywhere in what was captured
    const output = [...lines, JSON.stringify(events)].join('\n');
    const secrets = {
      token,
      refreshToken,
      sessionSecret: SESSION_SECRET,
      callbackToken: TOKEN,
      aesKey: AES_KEY,
      apiV3Key,
      userKey: USER_KEY,
      appSecret: MP.secret,
      phone: PHONE,
      idNumber: ID_NUMBER,
      openid,
      sender,
      payer,
      ...Object.fromEntries(sessionKeys.map((k, i) => [`sessionKey${i}`, k])),
    };
    expect(sessionKeys.length).toBe(1);
    for (const [name, value] of Object.entries(secrets)) {
      expect(output.includes(value), `${name} appears in the captured output`).toBe(false);
    }
  });

  it('costs nothing when neither is configured: no record, no event, answers unchanged', async () => {
    const guard = createGuard({
      miniProgram: shared.mp,
      keys: [{ kid: 'k1', alg: 'HS256', secret: SESSION_SECRET }],
    });
    const answer = await guard.open(() => ({ ok: true }))(request('GET', '/api/open'));
    expect(answer.status).toBe(200);
    expect(answer.headers['x-request-id']).toMatch(/^[0-9a-f]{32}$/);
    expect(() =>
      createGuard({
        miniProgram: shared.mp,
        keys: [{ kid: 'k', alg: 'HS256', secret: SESSION_SECRET }],
        audit: {} as never,
      }),
    ).toThrow(/audit must be an audit log made by createAuditLog/);
    expect(() =>
      createWeChatCallback({ appId: APP_ID, token: TOKEN, mode: 'plain', onSecurityEvent: 'log' as never }),
    ).toThrow(/onSecurityEvent must be a function/);
  });
});
