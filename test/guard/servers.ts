/**
 * Real servers on 127.0.0.1 (plain HTTP, or TLS with a throwaway certificate) and a one-shot HTTP
 * client with a bounded timeout, shared by the guard adapter tests.
 */
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import {
  createServer,
  request as httpRequest,
  type IncomingHttpHeaders,
  type RequestListener,
  type Server,
} from 'node:http';
import { createServer as createHttpsServer, request as httpsRequest } from 'node:https';
import type { AddressInfo } from 'node:net';
import { mintCertificate } from '../../src/emulator/x509.js';

export interface Running {
  url: string;
  close(): Promise<void>;
}

export interface Tls {
  key: string;
  cert: string;
}

const keys = generateKeyPairSync('rsa', { modulusLength: 2048 });
export const TLS: Tls = {
  key: keys.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
  cert: mintCertificate({
    serialHex: randomBytes(16).toString('hex'),
    publicKey: keys.publicKey,
    signingKey: keys.privateKey,
    commonName: 'localhost',
    notBefore: new Date(Date.now() - 86_400_000),
    notAfter: new Date(Date.now() + 86_400_000),
  }),
};

export async function listen(listener: RequestListener, tls?: Tls): Promise<Running> {
  const server: Server = tls === undefined ? createServer(listener) : createHttpsServer(tls, listener);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `${tls === undefined ? 'http' : 'https'}://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

export interface Reply {
  status: number;
  headers: IncomingHttpHeaders;
  text: string;
}

export interface SendOptions {
  method?: string;
  headers?: Record<string, string>;
  body?: string | Buffer;
  /** Send the body with Transfer-Encoding: chunked, cut in the middle of a UTF-8 character. */
  chunked?: boolean;
  /** The request target as written on the request line (e.g. an absolute-form `https://…` one). */
  target?: string;
}

/** One request on a fresh connection; bounded in time. */
export function send(base: string, path: string, options: SendOptions = {}): Promise<Reply> {
  const url = new URL(path, base);
  const body = typeof options.body === 'string' ? Buffer.from(options.body, 'utf8') : options.body;
  const headers: Record<string, string> = { ...options.headers };
  if (body !== undefined && !options.chunked) headers['content-length'] = String(body.length);
  const make = url.protocol === 'https:' ? httpsRequest : httpRequest;
  return new Promise<Reply>((resolve, reject) => {
    const req = make(
      url,
      {
        method: options.method ?? (body === undefined ? 'GET' : 'POST'),
        headers,
        agent: false,
        timeout: 5000,
        ...(options.target === undefined ? {} : { path: options.target }),
        ...(url.protocol === 'https:' ? { ca: TLS.cert, servername: 'localhost' } : {}),
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            text: Buffer.concat(chunks).toString('utf8'),
          }),
        );
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error(`no answer to ${path} within 5 s`)));
    // The server may answer (413) and close before the whole body is written: the answer counts.
    req.on('error', reject);
    if (body === undefined) {
      req.end();
    } else if (options.chunked) {
      const cut = body.indexOf(0xe4) + 1; // inside the first Chinese character
      req.write(body.subarray(0, cut));
      req.end(body.subarray(cut));
    } else {
      req.end(body);
    }
  });
}
