import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, expect, it, onTestFinished } from 'vitest';
import { buildXml, computeServerSignature, MessageCrypto, parseXml } from '../../src/crypto/index.js';
import type { EmulatorAppConfig, EmulatorConfig } from '../../src/emulator/config.js';
import { deliverPush } from '../../src/emulator/platform/push.js';
import { type RunningEmulator, startEmulator } from '../../src/emulator/server.js';

// ---------------------------------------------------------------------------------------------
// A developer's server, written only with the crypto core: it checks the URL signature and the
// timestamp, opens safe/compatible bodies with MessageCrypto (msg_signature, ReceiveId), parses
// the message, de-duplicates by MsgId (events: FromUserName + CreateTime) and answers.
// ---------------------------------------------------------------------------------------------

type ReplyKind = 'echo' | 'plain-echo' | 'success' | 'bad-signature';

interface Behaviour {
  /** Delay (ms) before answering the n-th request of this path; missing = answer at once. */
  delays: number[];
  /** HTTP status to answer the n-th request with instead of handling it (e.g. 503). */
  statuses: number[];
  reply: ReplyKind;
  /** For the echostr handshake: answer the echostr verbatim, or JSON-quoted (a classic mistake). */
  echo: 'ok' | 'quoted';
}

interface Received {
  path: string;
  method: string;
  query: URLSearchParams;
  body: string;
  contentType: string | undefined;
  verdict?: 'accepted' | 'refused' | 'duplicate';
  reason?: string;
  message?: Record<string, unknown>;
}

const hex16 = (seed: string) => Buffer.from(seed.padEnd(8, '0').slice(0, 8)).toString('hex');
const key43 = (c: string) => `${c}bcdefghijklmnopqrstuvwxyz0123456789ABCDEFG`.slice(0, 43);

let devServer: Server;
let devUrl = '';
let emulator: RunningEmulator;
const received: Received[] = [];
const behaviours = new Map<string, Behaviour>();
const seen = new Set<string>();

type AppDef = EmulatorAppConfig & { path: string };

const apps = {
  safe: {
    path: '/oa-safe',
    appId: `wx${hex16('oasafe')}`,
    secret: 's1',
    kind: 'official-account',
    token: 'SafeToken123',
    encodingAESKey: key43('a'),
    messageMode: 'safe',
  },
  plain: {
    path: '/oa-plain',
    appId: `wx${hex16('oaplain')}`,
    secret: 's2',
    kind: 'official-account',
    token: 'PlainToken',
    messageMode: 'plain',
  },
  compatible: {
    path: '/oa-compat',
    appId: `wx${hex16('oacompat')}`,
    secret: 's3',
    kind: 'official-account',
    token: 'CompatToken',
    encodingAESKey: key43('c'),
    messageMode: 'compatible',
  },
  mpJson: {
    path: '/mp-json',
    appId: `wx${hex16('mpjson')}`,
    secret: 's4',
    kind: 'mini-program',
    token: 'MiniToken',
    encodingAESKey: key43('m'),
    messageMode: 'safe',
    dataFormat: 'json',
  },
} satisfies Record<string, AppDef>;
const noCallback: EmulatorAppConfig = { appId: `wx${hex16('nocb')}`, secret: 's5', kind: 'official-account' };

function appFor(path: string): AppDef | undefined {
  return Object.values(apps as Record<string, AppDef>).find((a) => a.path === path);
}

function behaviourOf(path: string): Behaviour {
  let b = behaviours.get(path);
  if (b === undefined) {
    b = { delays: [], statuses: [], reply: 'echo', echo: 'ok' };
    behaviours.set(path, b);
  }
  return b;
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

function answer(res: ServerResponse, status: number, body: string, type = 'text/plain'): void {
  if (res.destroyed || res.writableEnded) return;
  res.writeHead(status, { 'content-type': type });
  res.end(body);
}

async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
  const url = new URL(req.url ?? '/', devUrl);
  const body = await readBody(req);
  const entry: Received = {
    path: url.pathname,
    method: req.method ?? '',
    query: url.searchParams,
    body,
    contentType: req.headers['content-type'],
  };
  received.push(entry);
  for (const wake of arrivalWaiters.splice(0)) wake();
  const app = appFor(url.pathname);
  if (app?.token === undefined) return answer(res, 404, 'no such app');
  const b = behaviourOf(url.pathname);
  const index = received.filter((r) => r.path === url.pathname).length - 1;
  const delay = b.delays[index];
  if (delay !== undefined) await new Promise((resolve) => setTimeout(resolve, delay));
  const forced = b.statuses[index];
  if (forced !== undefined) return answer(res, forced, 'busy');

  const refuse = (status: number, reason: string) => {
    entry.verdict = 'refused';
    entry.reason = reason;
    answer(res, status, reason);
  };
  const q = url.searchParams;
  const timestamp = q.get('timestamp') ?? '';
  const nonce = q.get('nonce') ?? '';
  if (computeServerSignature({ token: app.token, timestamp, nonce }) !== q.get('signature')) {
    return refuse(401, 'SIGNATURE_MISMATCH');
  }
  if (Math.abs(Number(timestamp) - Date.now() / 1000) > 300) return refuse(401, 'TIMESTAMP_EXPIRED');

  if (req.method === 'GET') {
    const echostr = q.get('echostr') ?? '';
    return answer(res, 200, b.echo === 'ok' ? echostr : JSON.stringify(echostr));
  }

  const encrypted = q.get('encrypt_type') === 'aes';
  const json = app.dataFormat === 'json';
  const crypto =
    app.encodingAESKey === undefined
      ? undefined
      : new MessageCrypto({ token: app.token, encodingAESKey: app.encodingAESKey, receiveId: app.appId });
  let plaintext = body;
  if (encrypted) {
    if (crypto === undefined) return refuse(400, 'NO_KEY');
    try {
      plaintext = crypto.open({
        body,
        msgSignature: q.get('msg_signature') ?? '',
        timestamp,
        nonce,
      }).plaintext;
    } catch (error) {
      return refuse(400, (error as { code?: string }).code ?? 'BAD_BODY');
    }
  }
  let message: Record<string, unknown>;
  try {
    message = json ? (JSON.parse(plaintext) as Record<string, unknown>) : parseXml(plaintext);
  } catch {
    return refuse(400, 'BAD_MESSAGE');
  }
  entry.message = message;
  const dedupKey =
    message.MsgId !== undefined ? `id:${message.MsgId}` : `ev:${message.FromUserName}:${message.CreateTime}`;
  if (seen.has(dedupKey)) {
    entry.verdict = 'duplicate';
    return answer(res, 200, 'success');
  }
  seen.add(dedupKey);
  entry.verdict = 'accepted';

  if (b.reply === 'success') return answer(res, 200, 'success');
  const now = Math.floor(Date.now() / 1000);
  const inner = json
    ? JSON.stringify({
        ToUserName: message.FromUserName,
        FromUserName: message.ToUserName,
        CreateTime: now,
        MsgType: 'transfer_customer_service',
      })
    : buildXml({
        ToUserName: message.FromUserName,
        FromUserName: message.ToUserName,
        CreateTime: now,
        MsgType: 'text',
        Content: `echo: ${String(message.Content ?? message.Event ?? '')}`,
      });
  const format = json ? 'json' : 'xml';
  if (b.reply === 'plain-echo' || !encrypted || crypto === undefined) return answer(res, 200, inner);
  if (b.reply === 'bad-signature') {
    const forger = new MessageCrypto({
      token: 'NotTheToken',
      encodingAESKey: app.encodingAESKey as string,
      receiveId: app.appId,
    });
    return answer(res, 200, forger.seal(inner, { format }).body);
  }
  return answer(res, 200, crypto.seal(inner, { format }).body, json ? 'application/json' : 'text/xml');
}

// biome-ignore lint/suspicious/noExplicitAny: loosely typed JSON answers, checked by the assertions
type Loose = Record<string, any>;

async function post(path: string, body: unknown): Promise<{ status: number; json: Loose }> {
  const res = await fetch(`${emulator.url}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  return { status: res.status, json: (await res.json()) as Loose };
}

const push = (app: keyof typeof apps, message: unknown, extra: Record<string, unknown> = {}) =>
  post('/_emulator/push', { appId: apps[app].appId, message, ...extra });

const at = (path: string) => received.filter((r) => r.path === path && r.method === 'POST');

const arrivalWaiters: Array<() => void> = [];
/** Resolves once `n` POSTs reached `path` (woken by the dev server, no polling). */
async function arrived(path: string, n: number): Promise<void> {
  while (at(path).length < n) await new Promise<void>((resolve) => arrivalWaiters.push(resolve));
}

beforeAll(async () => {
  devServer = createServer((req, res) => {
    handle(req, res).catch(() => answer(res, 500, 'dev server error'));
  });
  await new Promise<void>((resolve) => devServer.listen(0, '127.0.0.1', resolve));
  devUrl = `http://127.0.0.1:${(devServer.address() as AddressInfo).port}`;
  const config: EmulatorConfig = {
    apps: [
      ...Object.values(apps).map(({ path, ...app }) => ({ ...app, callbackUrl: `${devUrl}${path}` })),
      noCallback,
    ],
    merchants: [],
    options: { pushTimeoutMs: 250 },
  };
  emulator = await startEmulator({ config });
});

afterAll(async () => {
  await emulator?.close();
  devServer?.closeAllConnections();
  await new Promise<void>((resolve) => devServer?.close(() => resolve()));
});

beforeEach(() => {
  received.length = 0;
  behaviours.clear();
  seen.clear();
});

describe('pushes to the developer server', () => {
  it('safe mode: sends the encrypted envelope, signs the URL, decrypts the passive reply', async () => {
    const pushes = async (): Promise<number> =>
      (await (await fetch(`${emulator.url}/_emulator/stats`)).json()).pushes[apps.safe.appId] ?? 0;
    const before = await pushes();
    const { status, json } = await push('safe', { MsgType: 'text', Content: 'hi' });
    expect(status).toBe(200);
    expect(json).toMatchObject({ attempts: 1, status: 200, reply: expect.stringContaining('echo: hi') });
    expect(json.replyError).toBeUndefined();
    const [req] = at('/oa-safe');
    expect(req?.verdict).toBe('accepted');
    expect(req?.contentType).toBe('text/xml');
    expect([...(req?.query.keys() ?? [])]).toEqual([
      'signature',
      'timestamp',
      'nonce',
      'openid',
      'encrypt_type',
      'msg_signature',
    ]);
    expect(req?.query.get('encrypt_type')).toBe('aes');
    // The body is only ToUserName + Encrypt.
    expect(Object.keys(parseXml(req?.body ?? ''))).toEqual(['ToUserName', 'Encrypt']);
    const msg = req?.message ?? {};
    expect(msg.ToUserName).toMatch(/^gh_/);
    expect(msg.FromUserName).toBe(req?.query.get('openid'));
    expect(msg.FromUserName).toMatch(/^o[\w-]{27}$/);
    expect(Math.abs(Number(msg.CreateTime) - Date.now() / 1000)).toBeLessThan(5);
    expect(msg.MsgId).toMatch(/^\d{19}$/);
    expect(json.msgId).toBe(msg.MsgId);
    // The reply the emulator decrypted is the server's XML.
    expect(parseXml(json.reply)).toMatchObject({ ToUserName: msg.FromUserName, MsgType: 'text' });
    // Counted once per push (other tests push to this app too, in any order).
    expect(await pushes()).toBe(before + 1);
  });

  it('safe mode: an event with a `success` answer gives reply "" and carries no MsgId', async () => {
    behaviourOf('/oa-safe').reply = 'success';
    const { json } = await push('safe', {
      MsgType: 'event',
      Event: 'subscribe',
      FromUserName: 'oCustomUser0000000000000000x',
    });
    expect(json).toMatchObject({ attempts: 1, status: 200, reply: '' });
    const msg = at('/oa-safe')[0]?.message ?? {};
    expect(msg).toMatchObject({
      MsgType: 'event',
      Event: 'subscribe',
      FromUserName: 'oCustomUser0000000000000000x',
    });
    expect(msg.MsgId).toBeUndefined();
    // whoever pushed becomes a user of the account: user/info knows them
    const token = (await (
      await fetch(
        `${emulator.url}/cgi-bin/token?grant_type=client_credential&appid=${apps.safe.appId}&secret=${apps.safe.secret}`,
      )
    ).json()) as { access_token: string };
    const info = (await (
      await fetch(
        `${emulator.url}/cgi-bin/user/info?access_token=${token.access_token}&openid=oCustomUser0000000000000000x`,
      )
    ).json()) as { subscribe?: number; openid?: string };
    expect(info).toMatchObject({ subscribe: 1, openid: 'oCustomUser0000000000000000x' });
  });

  it('safe mode: a plaintext reply is refused; a reply signed with another token is reported', async () => {
    behaviourOf('/oa-safe').reply = 'plain-echo';
    const plainReply = await push('safe', { MsgType: 'text', Content: 'a' });
    expect(plainReply.json).toMatchObject({ status: 200, replyError: 'PLAINTEXT_REPLY' });
    expect(plainReply.json.reply).toBeUndefined();

    behaviourOf('/oa-safe').reply = 'bad-signature';
    const forged = await push('safe', { MsgType: 'text', Content: 'b' });
    expect(forged.json).toMatchObject({ attempts: 1, status: 200, replyError: 'SIGNATURE_MISMATCH' });
    expect(forged.json.reply).toBeUndefined();
    expect(forged.json.rawReply).toContain('<MsgSignature>');
  });

  it('plain mode: plaintext XML, no encrypt_type, plaintext reply', async () => {
    const { json } = await push('plain', { MsgType: 'text', Content: '你好' });
    expect(json).toMatchObject({ attempts: 1, status: 200 });
    const [req] = at('/oa-plain');
    expect(req?.verdict).toBe('accepted');
    expect(req?.query.has('encrypt_type')).toBe(false);
    expect(req?.query.has('msg_signature')).toBe(false);
    expect(req?.body).toContain('<Content><![CDATA[你好]]></Content>');
    expect(req?.body).toMatch(/<MsgId>\d{19}<\/MsgId>/);
    expect(parseXml(json.reply)).toMatchObject({ Content: 'echo: 你好' });
  });

  it('compatible mode: plaintext fields and Encrypt in one body; plain and encrypted replies both accepted', async () => {
    const encryptedReply = await push('compatible', { MsgType: 'text', Content: 'both' });
    expect(encryptedReply.json).toMatchObject({ attempts: 1, status: 200 });
    expect(parseXml(encryptedReply.json.reply)).toMatchObject({ Content: 'echo: both' });
    const [req] = at('/oa-compat');
    const envelope = parseXml(req?.body ?? '');
    expect(envelope).toMatchObject({ MsgType: 'text', Content: 'both' });
    expect(typeof envelope.Encrypt).toBe('string');
    expect(req?.query.get('encrypt_type')).toBe('aes');
    expect(req?.message?.MsgId).toBe(envelope.MsgId);

    behaviourOf('/oa-compat').reply = 'plain-echo';
    const plainReply = await push('compatible', { MsgType: 'text', Content: 'plain' });
    expect(plainReply.json.replyError).toBeUndefined();
    expect(parseXml(plainReply.json.reply)).toMatchObject({ Content: 'echo: plain' });
  });

  it('Mini Program JSON: JSON envelope, no openid in the URL, JSON reply decrypted', async () => {
    const { json } = await push('mpJson', { MsgType: 'text', Content: 'mini' });
    expect(json).toMatchObject({ attempts: 1, status: 200 });
    expect(JSON.parse(json.reply)).toMatchObject({ MsgType: 'transfer_customer_service' });
    const [req] = at('/mp-json');
    expect(req?.verdict).toBe('accepted');
    expect(req?.contentType).toBe('application/json');
    expect(req?.query.has('openid')).toBe(false);
    expect(Object.keys(JSON.parse(req?.body ?? '{}'))).toEqual(['ToUserName', 'Encrypt']);
    // MsgId and CreateTime are bare JSON numbers, as in WeChat's JSON pushes.
    expect(json.message).toMatch(/"MsgId":\d{19}[,}]/);
    expect(json.message).toMatch(/"CreateTime":\d{10}[,}]/);
  });

  it('retries a slow server with the identical message, 3 attempts in total', async () => {
    // An emulator of its own on a manual clock: an attempt times out (pushTimeoutMs, 250 ms) only
    // when the test moves the clock past it, however slow the machine.
    const { path, ...safe } = apps.safe;
    const manual = await startEmulator({
      config: {
        apps: [{ ...safe, callbackUrl: `${devUrl}${path}` }],
        merchants: [],
        options: { pushTimeoutMs: 250, clock: 'manual' },
      },
    });
    onTestFinished(() => manual.close());
    const pushSafe = async (Content: string) => {
      const res = await fetch(`${manual.url}/_emulator/push`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ appId: safe.appId, message: { MsgType: 'text', Content } }),
      });
      return { json: (await res.json()) as Loose };
    };
    behaviourOf('/oa-safe').delays = [700];
    const slow = pushSafe('slow');
    await arrived('/oa-safe', 1);
    manual.state.advance(0.25);
    const { json } = await slow;
    expect(json).toMatchObject({ attempts: 2, status: 200, reply: expect.stringContaining('echo: slow') });
    expect(json.history.map((h: { outcome: string }) => h.outcome)).toEqual(['timeout', 'answered']);
    // The first attempt was cut at options.pushTimeoutMs (250 ms here), not at the server's 700 ms.
    expect(json.history[0].elapsedMs).toBeGreaterThanOrEqual(240);
    expect(json.history[0].elapsedMs).toBeLessThan(650);
    const reqs = at('/oa-safe');
    expect(reqs).toHaveLength(2);
    expect(reqs[1]?.body).toBe(reqs[0]?.body);
    expect(reqs[1]?.query.toString()).toBe(reqs[0]?.query.toString());
    const app = apps.safe;
    const mc = new MessageCrypto({
      token: app.token as string,
      encodingAESKey: app.encodingAESKey as string,
      receiveId: app.appId,
    });
    const msgIds = reqs.map(
      (r) =>
        parseXml(
          mc.open({
            body: r.body,
            msgSignature: r.query.get('msg_signature') ?? '',
            timestamp: r.query.get('timestamp') ?? '',
            nonce: r.query.get('nonce') ?? '',
          }).plaintext,
        ).MsgId,
    );
    expect(msgIds[0]).toBe(json.msgId);
    expect(msgIds[1]).toBe(json.msgId);

    received.length = 0;
    seen.clear();
    behaviourOf('/oa-safe').delays = [700, 700, 700, 700];
    const never = pushSafe('never');
    for (let n = 1; n <= 3; n++) {
      await arrived('/oa-safe', n);
      manual.state.advance(0.25);
    }
    const none = await never;
    expect(none.json).toMatchObject({ attempts: 3, status: 0, replyError: 'NO_ANSWER' });
    expect(none.json.reply).toBeUndefined();
    expect(at('/oa-safe')).toHaveLength(3);
  });

  it('retries after an HTTP 5xx answer, not after a 4xx', async () => {
    behaviourOf('/oa-plain').statuses = [503];
    const { json } = await push('plain', { MsgType: 'text', Content: 'x' });
    expect(json).toMatchObject({ attempts: 2, status: 200 });
    expect(json.history.map((h: { status: number }) => h.status)).toEqual([503, 200]);

    received.length = 0;
    behaviourOf('/oa-plain').statuses = [404];
    const refused = await push('plain', { MsgType: 'text', Content: 'y' });
    expect(refused.json).toMatchObject({ attempts: 1, status: 404, replyError: 'HTTP_404' });
  });
});

describe('push faults, refused by the server’s own checks', () => {
  it('duplicate: the same MsgId/CreateTime twice; the server de-duplicates the second', async () => {
    const { json } = await push('safe', { MsgType: 'text', Content: 'dup' }, { faults: { duplicate: true } });
    expect(json).toMatchObject({ attempts: 1, status: 200 });
    expect(json.duplicates).toHaveLength(1);
    expect(json.duplicates[0]).toMatchObject({ attempts: 1, status: 200, reply: '', msgId: json.msgId });
    const reqs = at('/oa-safe');
    expect(reqs.map((r) => r.verdict)).toEqual(['accepted', 'duplicate']);
    expect(reqs[1]?.message?.MsgId).toBe(reqs[0]?.message?.MsgId);
    expect(reqs[1]?.message?.CreateTime).toBe(reqs[0]?.message?.CreateTime);
  });

  it('staleSeconds: an old timestamp is refused', async () => {
    const { json } = await push(
      'safe',
      { MsgType: 'text', Content: 'old' },
      { faults: { staleSeconds: 600 } },
    );
    expect(json).toMatchObject({ attempts: 1, status: 401, replyError: 'HTTP_401' });
    const [req] = at('/oa-safe');
    expect(req).toMatchObject({ verdict: 'refused', reason: 'TIMESTAMP_EXPIRED' });
    expect(Number(req?.query.get('timestamp'))).toBeLessThan(Date.now() / 1000 - 590);
  });

  it('malformed: a truncated body is refused', async () => {
    const { json } = await push('safe', { MsgType: 'text', Content: 'cut' }, { faults: { malformed: true } });
    expect(json.status).toBe(400);
    const [req] = at('/oa-safe');
    expect(req).toMatchObject({ verdict: 'refused', reason: 'BAD_XML' });
    expect(json.request.body).toBe(req?.body);

    received.length = 0;
    await push('plain', { MsgType: 'text', Content: 'cut' }, { faults: { malformed: true } });
    expect(at('/oa-plain')[0]).toMatchObject({ verdict: 'refused', reason: 'BAD_MESSAGE' });
  });

  it('badSignature: a push signed with a wrong token is refused', async () => {
    await push('safe', { MsgType: 'text', Content: 'forged' }, { faults: { badSignature: true } });
    await push('mpJson', { MsgType: 'text', Content: 'forged' }, { faults: { badSignature: true } });
    expect(at('/oa-safe')[0]).toMatchObject({ verdict: 'refused', reason: 'SIGNATURE_MISMATCH' });
    expect(at('/mp-json')[0]).toMatchObject({ verdict: 'refused', reason: 'SIGNATURE_MISMATCH' });
  });
});

describe('URL verification (echostr)', () => {
  it('ok when the server echoes echostr verbatim', async () => {
    const { status, json } = await post('/_emulator/verify-url', { appId: apps.safe.appId });
    expect(status).toBe(200);
    expect(json).toMatchObject({ ok: true, status: 200 });
    expect(json.body).toBe(json.echostr);
    expect(json.echostr).toMatch(/^\d+$/);
    const [req] = received;
    expect(req?.method).toBe('GET');
    expect([...(req?.query.keys() ?? [])].sort()).toEqual(['echostr', 'nonce', 'signature', 'timestamp']);
  });

  it('not ok when the server answers something else (here: the echostr in quotes)', async () => {
    behaviourOf('/oa-plain').echo = 'quoted';
    const { json } = await post('/_emulator/verify-url', { appId: apps.plain.appId });
    expect(json).toMatchObject({ ok: false, status: 200, body: `"${json.echostr}"` });
  });

  it('not ok when the server refuses a wrongly signed handshake', async () => {
    const { json } = await post('/_emulator/verify-url', {
      appId: apps.plain.appId,
      faults: { badSignature: true },
    });
    expect(json).toMatchObject({ ok: false, status: 401 });
  });
});

describe('control-plane validation', () => {
  it('400 for an unknown app, an app without callbackUrl, or a message without MsgType', async () => {
    const unknown = await post('/_emulator/push', {
      appId: 'wx0000000000000000',
      message: { MsgType: 'text' },
    });
    expect(unknown.status).toBe(400);
    expect(unknown.json.error).toMatch(/unknown appId/);
    const noCb = await post('/_emulator/push', {
      appId: noCallback.appId,
      message: { MsgType: 'text', Content: 'x' },
    });
    expect(noCb.status).toBe(400);
    expect(noCb.json.error).toMatch(/callbackUrl/);
    const noCbVerify = await post('/_emulator/verify-url', { appId: noCallback.appId });
    expect(noCbVerify.status).toBe(400);
    const noType = await push('safe', { Content: 'x' });
    expect(noType.status).toBe(400);
    expect(noType.json.error).toMatch(/MsgType/);
    const badFault = await push('safe', { MsgType: 'text', Content: 'x' }, { faults: { late: true } });
    expect(badFault.status).toBe(400);
    expect(received).toHaveLength(0);
  });

  it('deliverPush (called by other modules) reports an app that cannot receive pushes instead of throwing', async () => {
    const result = await deliverPush(emulator.state, noCallback.appId, {
      MsgType: 'event',
      Event: 'TEMPLATESENDJOBFINISH',
    });
    expect(result).toMatchObject({ attempts: 0, status: 0, replyError: 'NOT_CONFIGURED' });
    expect(String(result.replyErrorMessage)).toMatch(/callbackUrl/);
  });
});
