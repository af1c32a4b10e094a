import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { EmulatorConfig } from './config.js';
import { createEmulator, type Emulator, EmulatorConnectionDropped } from './emulator.js';

/** Options of {@link startEmulator}. */
export interface StartEmulatorOptions {
  /** Port on 127.0.0.1 (default 0: a free one). */
  port?: number;
  /** Default 127.0.0.1. The emulator is a local test tool: do not expose it. */
  host?: string;
  config?: EmulatorConfig;
}

/** A running emulator. */
export interface RunningEmulator extends Emulator {
  /** Base URL, e.g. `http://127.0.0.1:7070`. */
  url: string;
  /** Stops the server and background work. */
  close(): Promise<void>;
}

async function toRequest(req: IncomingMessage, base: string): Promise<Request> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  const headers = new Headers();
  for (const [name, value] of Object.entries(req.headers)) {
    if (Array.isArray(value)) for (const v of value) headers.append(name, v);
    else if (value !== undefined) headers.set(name, value);
  }
  const method = req.method ?? 'GET';
  const body = chunks.length && method !== 'GET' && method !== 'HEAD' ? Buffer.concat(chunks) : undefined;
  return new Request(new URL(req.url ?? '/', base), { method, headers, ...(body ? { body } : {}) });
}

/** Streams a server-sent event stream until either side ends it (the client leaving cancels it). */
async function stream(
  res: ServerResponse,
  response: Response,
  body: ReadableStream<Uint8Array>,
): Promise<void> {
  const headers: Record<string, string> = {};
  response.headers.forEach((value, name) => {
    headers[name] = value;
  });
  res.writeHead(response.status, headers);
  res.flushHeaders();
  const reader = body.getReader();
  res.on('close', () => {
    reader.cancel().catch(() => {});
  });
  for (;;) {
    const { done, value } = await reader.read();
    if (done || res.destroyed) break;
    res.write(value);
  }
  res.end();
}

async function send(res: ServerResponse, response: Response): Promise<void> {
  if (response.body && response.headers.get('content-type')?.startsWith('text/event-stream')) {
    return stream(res, response, response.body);
  }
  const body = Buffer.from(await response.arrayBuffer());
  const headers: Record<string, string> = {};
  response.headers.forEach((value, name) => {
    headers[name] = value;
  });
  headers['content-length'] = String(body.length);
  res.writeHead(response.status, headers);
  res.end(body);
}

/**
 * Starts the emulator on a real port (127.0.0.1), serving the same routes as `createEmulator`.
 *
 * @example
 * const emulator = await startEmulator({ port: 7070 });
 * console.log(emulator.url); // http://127.0.0.1:7070
 * await emulator.close();
 */
export async function startEmulator(options: StartEmulatorOptions = {}): Promise<RunningEmulator> {
  const emulator = createEmulator(options.config);
  const host = options.host ?? '127.0.0.1';
  let base = '';
  const server = createServer((req, res) => {
    toRequest(req, base)
      .then((request) => emulator.fetch(request))
      .then((response) => send(res, response))
      .catch((error: unknown) => {
        if (error instanceof EmulatorConnectionDropped) {
          req.socket.destroy();
          return;
        }
        res.writeHead(500, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ error: `emulator error: ${(error as Error).message}` }));
      });
  });
  server.keepAliveTimeout = 1000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, host, () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  base = `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
  return {
    ...emulator,
    fetch: emulator.fetch,
    url: base,
    async close() {
      emulator.close();
      server.closeAllConnections?.();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
