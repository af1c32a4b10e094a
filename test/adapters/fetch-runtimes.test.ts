/**
 * The Fetch adapter (`toFetchHandler`) and the Hono adapter in Bun and in Deno, not only in Node:
 * each runtime runs `fetch-runtime-entry.ts` on the sources (its own TypeScript loader, its own
 * `node:crypto`, `Request`, `Response` and streams) and must verify, decrypt, route and seal
 * exactly as Node does. The binaries come from devDependencies (`bun`, `deno`); without one, its
 * suite is skipped and says so.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import type { CallbackRequest } from '../../src/callbacks/types.js';
import { parseXml } from '../../src/crypto/index.js';
import { AES_KEY, APP_ID, handshake, NOW, openReply, push, TOKEN } from '../callbacks/fixtures.js';
import type { RuntimeAnswer, RuntimeInput, RuntimeOutput, RuntimeRequest } from './fetch-runtime-entry.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const ENTRY = fileURLToPath(new URL('./fetch-runtime-entry.ts', import.meta.url));

/** `node_modules/.bin/<name>` first (the pinned devDependency), else the PATH. */
function findBinary(name: string): string | undefined {
  const dirs = [join(ROOT, 'node_modules', '.bin'), ...(process.env.PATH ?? '').split(delimiter)];
  return dirs
    .filter((dir) => dir !== '')
    .map((dir) => join(dir, name))
    .find((file) => existsSync(file));
}

const RUNTIMES = [
  { name: 'Bun', binary: findBinary('bun'), args: (entry: string) => ['run', entry] },
  {
    name: 'Deno',
    binary: findBinary('deno'),
    // No permission flag: the sources need none. --sloppy-imports maps the `.js` specifiers to `.ts`.
    args: (entry: string) => ['run', '--sloppy-imports', '--no-lock', '--no-prompt', entry],
  },
] as const;

const CONTENT = '你好，世界！🎉 微信测试';

function wire(request: CallbackRequest): RuntimeRequest {
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(request.headers as Record<string, string>))
    headers[name] = value;
  return {
    method: request.method,
    url: request.url,
    headers,
    ...(request.rawBody === undefined ? {} : { body: Buffer.from(request.rawBody).toString('utf8') }),
  };
}

function requests(): RuntimeRequest[] {
  const fields = {
    ToUserName: 'gh_0123456789ab',
    FromUserName: 'oUser000000000000000000000001',
    CreateTime: NOW,
    MsgType: 'text',
    Content: CONTENT,
    MsgId: '6054768590064713728',
  };
  const signed = wire(push({ fields }));
  const forged = {
    ...signed,
    url: signed.url.replace(/msg_signature=[0-9a-f]{40}/, `msg_signature=${'0'.repeat(40)}`),
  };
  return [wire(handshake({ echostr: 'echo-7520434063712' })), forged, signed];
}

function run(binary: string, args: readonly string[], input: RuntimeInput): Promise<RuntimeOutput> {
  return new Promise((resolve, reject) => {
    const child = spawn(binary, [...args, JSON.stringify(input)], {
      cwd: ROOT,
      env: { ...process.env, NO_COLOR: '1' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (chunk: Buffer) => out.push(chunk));
    child.stderr.on('data', (chunk: Buffer) => err.push(chunk));
    child.on('error', reject);
    child.on('close', (code) => {
      const stdout = Buffer.concat(out).toString('utf8').trim();
      if (code !== 0) {
        reject(new Error(`${binary} exited with ${code}: ${Buffer.concat(err).toString('utf8')}`));
        return;
      }
      resolve(JSON.parse(stdout.split('\n').pop() ?? '') as RuntimeOutput);
    });
  });
}

function expectAnswers(answers: RuntimeAnswer[], seen: string[]): void {
  const [handshakeAnswer, forgedAnswer, pushAnswer] = answers;
  expect(handshakeAnswer).toMatchObject({ status: 200, body: 'echo-7520434063712' });
  expect(handshakeAnswer?.contentType).toMatch(/^text\/plain/);
  expect(forgedAnswer?.status).toBe(401);
  expect(pushAnswer?.status).toBe(200);
  const inner = parseXml(openReply({ status: 200, headers: {}, body: pushAnswer?.body ?? '' }));
  expect(inner).toMatchObject({
    ToUserName: 'oUser000000000000000000000001',
    FromUserName: 'gh_0123456789ab',
    MsgType: 'text',
    Content: `echo: ${CONTENT}`,
  });
  // The forged push never reached the handler; the signed one did, once.
  expect(seen).toEqual([CONTENT]);
}

for (const runtime of RUNTIMES) {
  const title = `Fetch and Hono adapters on ${runtime.name}`;
  if (runtime.binary === undefined) {
    console.warn(
      `[fetch-runtimes] ${runtime.name} not found (node_modules/.bin or PATH): its suite is skipped. Run \`npm ci\` to get it from devDependencies.`,
    );
  }
  describe.skipIf(runtime.binary === undefined)(
    runtime.binary === undefined ? `${title} (skipped: no ${runtime.name.toLowerCase()} binary)` : title,
    () => {
      it('answers the handshake, refuses a forged signature, and opens, routes and seals a signed push', async () => {
        const input: RuntimeInput = {
          appId: APP_ID,
          token: TOKEN,
          encodingAESKey: AES_KEY,
          now: NOW,
          requests: requests(),
        };
        const output = await run(runtime.binary ?? '', runtime.args(ENTRY), input);
        // The runtime itself, not a Node shim standing in for it.
        expect(output.userAgent).toMatch(new RegExp(`^${runtime.name}/`));
        expectAnswers(output.fetch.answers, output.fetch.seen);
        expectAnswers(output.hono.answers, output.hono.seen);
      }, 60_000);
    },
  );
}
