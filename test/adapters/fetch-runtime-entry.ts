/**
 * Run by Bun or Deno (not by vitest) from `fetch-runtimes.test.ts`, straight on the TypeScript
 * sources: answers the requests given as JSON in the last argument through `toFetchHandler` and
 * through `wechatHono` on a Hono app, and prints what came back as one JSON line.
 */
import process from 'node:process';
import { Hono } from 'hono';
import { wechatHono } from '../../src/adapters/hono.js';
import { toFetchHandler } from '../../src/adapters/node.js';
import { createWeChatCallback, reply } from '../../src/callbacks/index.js';

export interface RuntimeRequest {
  method: string;
  url: string;
  headers: Record<string, string>;
  body?: string;
}

export interface RuntimeInput {
  appId: string;
  token: string;
  encodingAESKey: string;
  /** Unix seconds: the callback's clock, so that the signed timestamps are fresh. */
  now: number;
  requests: RuntimeRequest[];
}

export interface RuntimeAnswer {
  status: number;
  contentType: string | null;
  body: string;
}

export interface AdapterRun {
  answers: RuntimeAnswer[];
  /** The `Content` of every text message the handler was given. */
  seen: string[];
}

export interface RuntimeOutput {
  userAgent: string;
  fetch: AdapterRun;
  hono: AdapterRun;
}

const input = JSON.parse(process.argv[process.argv.length - 1] ?? '{}') as RuntimeInput;

// One callback per adapter: the same push goes through both, and a shared dedupe would drop the second.
function callbackSeeing(seen: string[]) {
  return createWeChatCallback({
    appId: input.appId,
    token: input.token,
    encodingAESKey: input.encodingAESKey,
    mode: 'safe',
    now: () => input.now * 1000,
    logger: { error() {} },
  }).on('text', (message) => {
    seen.push(message.Content);
    return reply.text(`echo: ${message.Content}`);
  });
}

const output: RuntimeOutput = {
  userAgent: navigator.userAgent,
  fetch: { answers: [], seen: [] },
  hono: { answers: [], seen: [] },
};
const fetchHandler = toFetchHandler(callbackSeeing(output.fetch.seen));
const app = new Hono();
app.on(['GET', 'POST'], '/wechat', wechatHono(callbackSeeing(output.hono.seen)));

async function answer(
  handle: (request: Request) => Response | Promise<Response>,
  spec: RuntimeRequest,
): Promise<RuntimeAnswer> {
  const init: RequestInit = { method: spec.method, headers: spec.headers };
  if (spec.body !== undefined) init.body = spec.body;
  const response = await handle(new Request(`http://localhost${spec.url}`, init));
  return {
    status: response.status,
    contentType: response.headers.get('content-type'),
    body: await response.text(),
  };
}

for (const spec of input.requests) output.fetch.answers.push(await answer(fetchHandler, spec));
for (const spec of input.requests)
  output.hono.answers.push(await answer((request) => app.fetch(request), spec));
console.log(JSON.stringify(output));
