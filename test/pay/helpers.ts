import { constants, generateKeyPairSync, type KeyObject, randomBytes, sign, verify } from 'node:crypto';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { PrivateKeyInput } from '../../src/crypto/pay-v3-sign.js';
import type { EmulatorMerchantConfig } from '../../src/emulator/config.js';
import { type RunningEmulator, startEmulator } from '../../src/emulator/server.js';
import { PayV3, type PayV3CommonOptions, type PayV3Options } from '../../src/pay/index.js';

/** What a test changes on top of a test client's options (the client signs with a private key). */
export type PayV3TestOptions = Partial<PayV3CommonOptions> & { privateKey?: PrivateKeyInput };

export interface TestMerchant {
  config: EmulatorMerchantConfig & { apiV2Key: string };
  privateKey: KeyObject;
  publicKey: KeyObject;
}

/** A merchant whose API keypair is generated here; the emulator only gets the public half. */
export function makeMerchant(mchid: string, verifyMode: 'public-key' | 'certificate'): TestMerchant {
  const { publicKey, privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  return {
    privateKey,
    publicKey,
    config: {
      mchid,
      apiV3Key: randomBytes(16).toString('hex'),
      apiV2Key: randomBytes(16).toString('hex'),
      merchantCertificateSerial: randomBytes(20).toString('hex').toUpperCase(),
      merchantPublicKeyPem: publicKey.export({ type: 'spki', format: 'pem' }).toString(),
      verifyMode,
    },
  };
}

export interface Platform {
  certificates: Array<{ serialNo: string; pem: string }>;
  publicKey: { id: string; pem: string };
}

export async function startPayEmulator(
  merchants: TestMerchant[],
  options: { retryTimeScale?: number } = {},
): Promise<{ emulator: RunningEmulator; platform: Platform }> {
  const emulator = await startEmulator({
    config: {
      apps: [],
      merchants: merchants.map((m) => m.config),
      options: { retryTimeScale: options.retryTimeScale ?? 1000 },
    },
  });
  const platform = (await (await fetch(`${emulator.url}/_emulator/pay/platform`)).json()) as Platform;
  return { emulator, platform };
}

/** A fetch that counts the calls per path and lets a test rewrite answers. */
export interface SpyFetch {
  fetch: typeof fetch;
  calls: string[];
  count(path: string): number;
  /** Rewrites an answer (status, headers, body) before the client sees it; return undefined to keep it. */
  rewrite:
    | ((
        path: string,
        answer: { status: number; headers: Headers; body: Uint8Array },
      ) =>
        | {
            status: number;
            headers: Headers;
            body: Uint8Array;
          }
        | undefined)
    | undefined;
  /** Fails the next n calls with a network error. */
  failNext: number;
}

export function spyFetch(): SpyFetch {
  const spy: SpyFetch = {
    calls: [],
    count: (path) => spy.calls.filter((p) => p === path).length,
    rewrite: undefined,
    failNext: 0,
    fetch: async (input, init) => {
      const url = new URL(typeof input === 'string' ? input : input instanceof URL ? input.href : input.url);
      spy.calls.push(url.pathname);
      if (spy.failNext > 0) {
        spy.failNext -= 1;
        throw new TypeError('fetch failed', {
          cause: Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' }),
        });
      }
      const res = await fetch(input, init);
      if (spy.rewrite === undefined) return res;
      const body = new Uint8Array(await res.arrayBuffer());
      const out = spy.rewrite(url.pathname, { status: res.status, headers: new Headers(res.headers), body });
      const final = out ?? { status: res.status, headers: res.headers, body };
      return new Response(final.status === 204 ? null : new Uint8Array(final.body), {
        status: final.status,
        headers: final.headers,
      });
    },
  };
  return spy;
}

/** A WeChat Pay "platform" for a local server: signs answers with node:crypto. */
export function makeLocalPlatform() {
  const { publicKey, privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const id = `PUB_KEY_ID_${randomBytes(12).toString('hex').toUpperCase()}`;
  return {
    id,
    publicKeyPem: publicKey.export({ type: 'spki', format: 'pem' }).toString(),
    headers(body: string | Uint8Array, timestamp = Math.floor(Date.now() / 1000)): Record<string, string> {
      const nonce = randomBytes(16).toString('hex');
      const message = Buffer.concat([
        Buffer.from(`${timestamp}\n${nonce}\n`),
        typeof body === 'string' ? Buffer.from(body) : Buffer.from(body),
        Buffer.from('\n'),
      ]);
      return {
        'Wechatpay-Timestamp': String(timestamp),
        'Wechatpay-Nonce': nonce,
        'Wechatpay-Signature': sign('sha256', message, {
          key: privateKey,
          padding: constants.RSA_PKCS1_PADDING,
        }).toString('base64'),
        'Wechatpay-Serial': id,
        'Request-ID': randomBytes(8).toString('hex'),
      };
    },
    /** A signed answer for a {@link LocalHandler}: JSON `body` (or none) with the Wechatpay-* headers. */
    answer(status: number, body?: object): ReturnType<LocalHandler> {
      const text = body === undefined ? '' : JSON.stringify(body);
      return {
        status,
        ...(body === undefined ? {} : { body: text }),
        headers: {
          ...this.headers(text),
          ...(body === undefined ? {} : { 'Content-Type': 'application/json' }),
        },
      };
    },
  };
}

/** A PayV3 client of merchant `mchid` against a local server trusting `platform`'s public key. */
export function localPayClient(
  setup: {
    mchid: string;
    merchantKey: KeyObject;
    platform: { id: string; publicKeyPem: string };
    baseUrl: string;
  },
  extra: PayV3TestOptions = {},
): PayV3 {
  return new PayV3({
    mchid: setup.mchid,
    merchantSerialNo: 'ABCDEF0123456789',
    privateKey: setup.merchantKey,
    apiV3Key: randomBytes(16).toString('hex'),
    platform: { publicKey: { id: setup.platform.id, key: setup.platform.publicKeyPem } },
    baseUrl: setup.baseUrl,
    ...extra,
  } as PayV3Options);
}

export interface Received {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

export type LocalHandler = (req: Received) => {
  status: number;
  body?: string | Uint8Array;
  headers?: Record<string, string>;
};

/** A tiny node:http server standing in for api.mch.weixin.qq.com. */
export async function startLocalServer(
  handler: LocalHandler,
): Promise<{ url: string; server: Server; received: Received[]; close(): Promise<void> }> {
  const received: Received[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const r: Received = {
        method: req.method ?? '',
        url: req.url ?? '',
        headers: req.headers,
        body: Buffer.concat(chunks),
      };
      received.push(r);
      const out = handler(r);
      res.writeHead(out.status, out.headers ?? {});
      res.end(out.body === undefined ? undefined : Buffer.from(out.body));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    server,
    received,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** Checks a v3 Authorization header the way WeChat Pay does, with the body it signs. */
export function authorizationVerifies(
  authorization: string,
  method: string,
  url: string,
  signedBody: string,
  merchantPublicKey: KeyObject,
): boolean {
  const field = (name: string) => new RegExp(`${name}="([^"]*)"`).exec(authorization)?.[1] ?? '';
  const message = `${method}\n${url}\n${field('timestamp')}\n${field('nonce_str')}\n${signedBody}\n`;
  return verify('sha256', Buffer.from(message), merchantPublicKey, Buffer.from(field('signature'), 'base64'));
}
