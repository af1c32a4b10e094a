/**
 * `npm run demo`: starts the emulator and the sample backend, plays a scripted scenario and
 * prints what happened, step by step. Exits 0 when every step did what it should.
 * `npm run demo -- --serve` keeps both running and prints their URLs and credentials.
 */
import { createPublicKey, generateKeyPairSync, randomBytes, verify } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { SignJWT } from 'jose';
import { startEmulator } from 'weixin-kit/emulator';
import { createBackend } from './backend.js';

const serve = process.argv.includes('--serve');
const OA = {
  appId: 'wxd0e1f2a3b4c5d6e7',
  secret: 'demo-oa-secret',
  token: 'DemoToken2026',
  encodingAESKey: 'abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG',
};
const MP = { appId: 'wxa1b2c3d4e5f60718', secret: 'demo-mp-secret' };
// The backend's session-token key; the demo keeps a copy only to show an expired token refused.
const SESSION_SECRET = randomBytes(32).toString('base64url');
const ALLOWED_ORIGIN = 'https://h5.demo.example';
// A merchant with a fresh key pair: the emulator knows its public key, the backend signs with the private one.
const merchantKeys = generateKeyPairSync('rsa', { modulusLength: 2048 });
const MERCHANT = {
  mchid: '1900000109',
  apiV3Key: 'demoApiV3Key0123456789abcdefABCD',
  merchantSerialNo: '5157F09EFDC096DE15EBE81A47057A7232F1B8E1',
  privateKeyPem: merchantKeys.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
};

// The backend's port first: the emulator pushes to it.
const server = createServer();
await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
const backendUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
const emulator = await startEmulator({
  config: {
    apps: [
      { ...OA, kind: 'official-account', messageMode: 'safe', callbackUrl: `${backendUrl}/wechat` },
      { ...MP, kind: 'mini-program' },
    ],
    merchants: [
      {
        mchid: MERCHANT.mchid,
        apiV3Key: MERCHANT.apiV3Key,
        merchantCertificateSerial: MERCHANT.merchantSerialNo,
        merchantPublicKeyPem: merchantKeys.publicKey.export({ type: 'spki', format: 'pem' }).toString(),
        verifyMode: 'public-key',
      },
    ],
    options: { pushTimeoutMs: 2000 },
  },
});
// The WeChat Pay public key is what the merchant downloads from the merchant platform.
const platform = (await (await fetch(`${emulator.url}/_emulator/pay/platform`)).json()) as {
  publicKey: { id: string; pem: string };
};
// Audit records: printed as JSON lines in --serve mode, kept for the checks otherwise.
const auditRecords: Array<Record<string, unknown>> = [];
const auditLine = (level: string) => (fields: Record<string, unknown>, message: string) => {
  auditRecords.push(fields);
  if (serve) console.log(JSON.stringify({ level, msg: message, ...fields }));
};
const AUDIT_USER_KEY = randomBytes(32).toString('base64url');
const backend = createBackend({
  apiBaseUrl: emulator.url,
  officialAccount: OA,
  miniProgram: MP,
  sessionSecret: SESSION_SECRET,
  allowedOrigin: ALLOWED_ORIGIN,
  pay: { ...MERCHANT, platformPublicKey: platform.publicKey, publicUrl: backendUrl },
  audit: {
    logger: { info: auditLine('info'), warn: auditLine('warn'), error: auditLine('error') },
    userKey: AUDIT_USER_KEY,
  },
});
server.on('request', backend.listener);

const control = async <T>(path: string, body: unknown): Promise<T> =>
  (await (await fetch(`${emulator.url}${path}`, { method: 'POST', body: JSON.stringify(body) })).json()) as T;
const call = async <T>(
  path: string,
  body: unknown,
  token?: string,
): Promise<{ status: number; json: T; headers: Headers }> => {
  const res = await fetch(`${backendUrl}${path}`, {
    method: body === undefined ? 'GET' : 'POST',
    headers: {
      'content-type': 'application/json',
      ...(token === undefined ? {} : { authorization: `Bearer ${token}` }),
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  return { status: res.status, json: (await res.json()) as T, headers: res.headers };
};
type ApiError = { error?: { code: string; message: string; requestId: string } };
const login = async (openId?: string) => {
  const { code } = await control<{ code: string }>('/_emulator/mini-program/login', {
    appId: MP.appId,
    ...(openId ? { openId } : {}),
  });
  return {
    code,
    answer: await call<{ token: string; expiresIn: number } & ApiError>('/api/login', { code }),
  };
};

if (serve) {
  console.log(
    JSON.stringify({
      emulator: emulator.url,
      backend: backendUrl,
      callbackUrl: `${backendUrl}/wechat`,
      miniProgramApi: {
        baseUrl: backendUrl,
        appId: MP.appId,
        login: 'POST /api/login, body {code}',
        me: 'GET /api/me, Bearer token',
        phone: 'POST /api/phone, body {code}, Bearer token',
        comment: 'POST /api/comment, body {text}, Bearer token (msg_sec_check; 422 when risky)',
        allowedOrigin: ALLOWED_ORIGIN,
        logout: 'POST /api/logout, Bearer token',
      },
      apps: [
        { ...OA, kind: 'official-account', messageMode: 'safe' },
        { ...MP, kind: 'mini-program' },
      ],
    }),
  );
  const stop = () => {
    void emulator.close().then(() => server.close(() => process.exit(0)));
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
} else {
  let failures = 0;
  const step = async (title: string, run: () => Promise<string>) => {
    try {
      console.log(`✓ ${title}\n    ${await run()}`);
    } catch (error) {
      failures += 1;
      console.log(`✗ ${title}\n    ${(error as Error).message}`);
    }
  };
  const expect = (ok: boolean, message: string) => {
    if (!ok) throw new Error(message);
  };
  type Push = { attempts: number; status: number; reply?: string; replyError?: string; duplicates?: Push[] };
  console.log(`weixin-kit demo — emulator ${emulator.url}, backend ${backendUrl}\n`);

  await step('URL verification: the echostr handshake', async () => {
    const r = await control<{ ok: boolean; status: number }>('/_emulator/verify-url', { appId: OA.appId });
    expect(r.ok, `handshake failed (HTTP ${r.status})`);
    return 'the backend checked `signature` and echoed echostr verbatim';
  });
  await step('A user subscribes and gets a welcome reply', async () => {
    const r = await control<Push>('/_emulator/push', {
      appId: OA.appId,
      message: { MsgType: 'event', Event: 'subscribe' },
    });
    expect(
      r.reply?.includes('Welcome aboard') === true,
      `reply was ${JSON.stringify(r.reply ?? r.replyError)}`,
    );
    return 'encrypted push verified + decrypted; encrypted passive reply decrypted by "WeChat"';
  });
  await step('A text message in safe mode gets an encrypted reply', async () => {
    const r = await control<Push>('/_emulator/push', {
      appId: OA.appId,
      message: { MsgType: 'text', Content: '你好 hello' },
    });
    expect(
      r.reply?.includes('You said: 你好 hello') === true,
      `reply was ${JSON.stringify(r.reply ?? r.replyError)}`,
    );
    return `reply: ${r.reply?.match(/<Content><!\[CDATA\[(.*?)\]\]>/)?.[1] ?? r.reply}`;
  });
  await step('A forged push is refused', async () => {
    const before = backend.log.textsHandled;
    const r = await control<Push>('/_emulator/push', {
      appId: OA.appId,
      message: { MsgType: 'text', Content: 'forged' },
      faults: { badSignature: true },
    });
    expect(
      r.status === 401 && backend.log.textsHandled === before,
      `status ${r.status}, handler ran: ${backend.log.textsHandled !== before}`,
    );
    return `HTTP ${r.status}; refusal hook saw ${backend.log.refused.at(-1)?.code}; the handler never ran`;
  });
  await step('A duplicate push is processed once', async () => {
    const before = backend.log.textsHandled;
    const r = await control<Push>('/_emulator/push', {
      appId: OA.appId,
      message: { MsgType: 'text', Content: 'twice' },
      faults: { duplicate: true },
    });
    expect(backend.log.textsHandled - before === 1, `handled ${backend.log.textsHandled - before} times`);
    return `delivered twice (HTTP ${r.status}, ${r.duplicates?.[0]?.status}); handled once (MsgId dedupe)`;
  });
  let token = '';
  await step('A Mini Program user logs in: code → code2Session → a session token', async () => {
    const { answer } = await login();
    expect(answer.status === 200 && Boolean(answer.json.token), `login answered ${answer.status}`);
    expect(!/session_key|unionid/.test(JSON.stringify(answer.json)), 'session_key or unionid leaked');
    token = answer.json.token;
    return `the client got { token, expiresIn: ${answer.json.expiresIn}, refreshToken, … }; session_key stays on the server`;
  });
  await step('A protected call: the user comes from the token, never from the body', async () => {
    const r = await call<{ openid: string } & ApiError>('/api/me', undefined, token);
    expect(r.status === 200 && typeof r.json.openid === 'string', `me answered ${r.status}`);
    const anonymous = await call<ApiError>('/api/me', undefined);
    expect(anonymous.status === 401, `without a token: ${anonymous.status}`);
    return `GET /api/me → ${r.json.openid}; without a token → 401 ${anonymous.json.error?.code}`;
  });
  await step('A replayed login code is refused, and WeChat is not asked twice', async () => {
    const exchanges = async () =>
      ((await (await fetch(`${emulator.url}/_emulator/stats`)).json()) as { calls: Record<string, number> })
        .calls['/sns/jscode2session'] ?? 0;
    const { code } = await login();
    const before = await exchanges();
    const again = await call<ApiError>('/api/login', { code });
    expect(again.status === 409, `replay answered ${again.status}`);
    expect((await exchanges()) === before, 'the replayed code reached WeChat');
    return `409 ${again.json.error?.code}: "${again.json.error?.message}"; jscode2session calls unchanged (${before})`;
  });
  await step('A forged and an expired token are refused', async () => {
    const [h, p, sig] = token.split('.');
    const claims = JSON.parse(Buffer.from(p ?? '', 'base64url').toString()) as Record<string, unknown>;
    const forged = `${h}.${Buffer.from(JSON.stringify({ ...claims, sub: 'o_someone_else' })).toString('base64url')}.${sig}`;
    const f = await call<ApiError>('/api/me', undefined, forged);
    const past = Math.floor(Date.now() / 1000) - 3600;
    const expired = await new SignJWT({ sid: claims.sid as string })
      .setProtectedHeader({ alg: 'HS256', kid: 'demo-1', typ: 'JWT' })
      .setSubject(claims.sub as string)
      .setIssuer(claims.iss as string)
      .setAudience(claims.aud as string)
      .setIssuedAt(past)
      .setNotBefore(past)
      .setExpirationTime(past + 900)
      .sign(new TextEncoder().encode(SESSION_SECRET));
    const e = await call<ApiError>('/api/me', undefined, expired);
    expect(f.status === 401 && e.status === 401, `forged ${f.status}, expired ${e.status}`);
    return `forged → 401 ${f.json.error?.code}; expired → 401 ${e.json.error?.code}`;
  });
  await step('The phone number by code, answered masked', async () => {
    const { code } = await control<{ code: string }>('/_emulator/mini-program/phone-code', {
      appId: MP.appId,
      phoneNumber: '13912345678',
    });
    const r = await call<{ phone: string } & ApiError>('/api/phone', { code }, token);
    const me = await call<{ phone: string }>('/api/me', undefined, token);
    expect(r.status === 200 && r.json.phone === '139****5678', `phone answered ${r.status} ${r.json.phone}`);
    expect(me.json.phone === '139****5678', `me shows ${me.json.phone}`);
    return `POST /api/phone → ${r.json.phone}; GET /api/me → phone ${me.json.phone}`;
  });
  await step('A burst past the per-user limit gets 429 with Retry-After', async () => {
    const { answer } = await login('o_demo_burst');
    const statuses: number[] = [];
    let retryAfter: string | null = null;
    for (let i = 0; i < 101; i += 1) {
      const r = await call<ApiError>('/api/me', undefined, answer.json.token);
      statuses.push(r.status);
      if (r.status === 429) retryAfter = r.headers.get('retry-after');
    }
    const ok = statuses.filter((s) => s === 200).length;
    expect(
      ok === 100 && statuses[100] === 429 && retryAfter !== null,
      `${ok} answered 200, last ${statuses[100]}`,
    );
    return `100 × 200, then 429 with Retry-After: ${retryAfter} s (100 per 60 s, per user)`;
  });
  await step('A template message is sent and its delivery event arrives', async () => {
    const { openId } = await control<{ openId: string }>('/_emulator/users', { appId: OA.appId });
    const msgid = await backend.notifyFollower(openId);
    const deadline = Date.now() + 5000;
    while (
      !backend.log.templateDeliveries.some((d) => String(d.MsgID) === String(msgid)) &&
      Date.now() < deadline
    ) {
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
    const delivery = backend.log.templateDeliveries.find((d) => String(d.MsgID) === String(msgid));
    expect(delivery !== undefined, 'no TEMPLATESENDJOBFINISH event within 5 s');
    return `msgid ${msgid}; TEMPLATESENDJOBFINISH Status=${delivery?.Status}`;
  });

  let order = '';
  await step('A quota error opens the breaker: the next call fails fast, WeChat is not asked', async () => {
    const path = '/cgi-bin/message/template/send';
    const { openId } = await control<{ openId: string }>('/_emulator/users', { appId: OA.appId });
    await control('/_emulator/faults', { path, errcode: 45009, count: 1 });
    const calls = async () =>
      ((await (await fetch(`${emulator.url}/_emulator/stats`)).json()) as { calls: Record<string, number> })
        .calls[path] ?? 0;
    const before = await calls();
    const codes: string[] = [];
    for (let i = 0; i < 2; i++) {
      try {
        await backend.notifyFollower(openId);
        codes.push('sent');
      } catch (error) {
        codes.push(`${(error as { code?: string }).code} (${(error as { errcode?: number }).errcode})`);
      }
    }
    const asked = (await calls()) - before;
    const opened = backend.log.security.find((e) => e.type === 'breaker_changed');
    expect(
      asked === 1 && codes[1]?.startsWith('QUOTA_EXCEEDED') === true && opened?.detail?.state === 'open',
      `WeChat asked ${asked} times, answers ${codes.join(', ')}`,
    );
    return `45009 → breaker open until ${String(opened?.detail?.retryAt)}; second call ${codes[1]} without a request`;
  });
  await step('A risky comment is refused by msg_sec_check; a normal one is published', async () => {
    const { answer } = await login('o_demo_commenter');
    const token = answer.json.token;
    const ok = await call<{ published: boolean } & ApiError>('/api/comment', { text: '今天天气不错' }, token);
    const risky = await call<{ published: boolean; label: number } & ApiError>(
      '/api/comment',
      { text: '这是一条违规内容' },
      token,
    );
    expect(ok.status === 200 && ok.json.published, `normal comment answered ${ok.status}`);
    expect(risky.status === 422 && !risky.json.published, `risky comment answered ${risky.status}`);
    return `normal → 200 published; risky → 422 (label ${risky.json.label})`;
  });
  await step('WeChat Pay: a JSAPI order and its wx.requestPayment parameters', async () => {
    const r = await call<{ out_trade_no: string; payParams: Record<string, string> } & ApiError>(
      '/api/pay',
      { total: 100 },
      token,
    );
    expect(r.status === 200, `order answered ${r.status}: ${r.json.error?.code}`);
    const p = r.json.payParams;
    const signed = `${p.appId}\n${p.timeStamp}\n${p.nonceStr}\n${p.package}\n`;
    const valid = verify(
      'sha256',
      Buffer.from(signed),
      createPublicKey(MERCHANT.privateKeyPem),
      Buffer.from(p.paySign ?? '', 'base64'),
    );
    expect(p.package?.startsWith('prepay_id=') === true && p.signType === 'RSA' && valid, 'bad pay params');
    order = r.json.out_trade_no;
    return `${order}: ${p.package}, paySign (SHA256withRSA) verifies with the merchant key`;
  });
  await step('WeChat Pay: the user pays; the notification arrives twice and is handled once', async () => {
    const r = await control<{ notifications?: Array<{ attempts: Array<{ status: number }> }> }>(
      `/_emulator/pay/transactions/${order}/succeed`,
      { deliverTwice: true },
    );
    const deadline = Date.now() + 5000;
    while (backend.log.paid.length === 0 && Date.now() < deadline)
      await new Promise((resolve) => setTimeout(resolve, 25));
    await new Promise((resolve) => setTimeout(resolve, 200));
    const paid = backend.log.paid.filter((p) => p.out_trade_no === order);
    expect(paid.length === 1, `handled ${paid.length} times`);
    const answers = (r.notifications ?? []).flatMap((n) => n.attempts.map((a) => a.status));
    return `verified + decrypted once (transaction ${paid[0]?.transaction_id}, ${paid[0]?.total} fen); WeChat Pay got ${answers.join(', ') || '2xx'}`;
  });
  await step('WeChat Pay: a refund, and its REFUND.SUCCESS notification', async () => {
    const r = await call<{ status?: string } & ApiError>('/api/refund', { out_trade_no: order }, token);
    expect(r.status === 200, `refund answered ${r.status}: ${r.json.error?.code}`);
    const deadline = Date.now() + 5000;
    while (!backend.log.refunded.includes(`r${order}`) && Date.now() < deadline)
      await new Promise((resolve) => setTimeout(resolve, 25));
    expect(backend.log.refunded.includes(`r${order}`), 'no REFUND.SUCCESS within 5 s');
    return `refund ${r.json.status} → REFUND.SUCCESS handled`;
  });

  await step('Logout: the token stops working at once', async () => {
    const r = await call<{ loggedOut: boolean }>('/api/logout', {}, token);
    const after = await call<ApiError>('/api/me', undefined, token);
    expect(r.status === 200 && after.status === 401, `logout ${r.status}, then me ${after.status}`);
    return `POST /api/logout → 200; GET /api/me with the same token → 401 ${after.json.error?.code}`;
  });

  await step('Audit records: one per request, a hashed user, nothing secret', async () => {
    const text = JSON.stringify(auditRecords);
    const leaked = [
      OA.secret,
      OA.token,
      OA.encodingAESKey,
      MP.secret,
      SESSION_SECRET,
      MERCHANT.apiV3Key,
      AUDIT_USER_KEY,
    ]
      .concat(['o_demo_commenter', '13912345678'])
      .filter((value) => text.includes(value));
    const kinds = new Set(auditRecords.map((r) => r.kind));
    expect(leaked.length === 0, `a secret value appears in the audit records (${leaked.length})`);
    expect(
      kinds.has('guard') && kinds.has('callback') && kinds.has('pay-notification'),
      `kinds ${[...kinds]}`,
    );
    const refused = auditRecords.filter((r) => r.outcome === 'refused').length;
    const events = [...new Set(backend.log.security.map((e) => e.type))].join(', ');
    return `${auditRecords.length} records (${refused} refused) over guard, callback and Pay; security events: ${events}`;
  });

  await emulator.close();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  console.log(failures === 0 ? '\ndemo: every step passed' : `\ndemo: ${failures} step(s) failed`);
  process.exitCode = failures === 0 ? 0 : 1;
}
