/**
 * `npm run bench:profile` — CPU profiles of the hot paths, written under bench/profiles/:
 *
 * - `callback-handle`: `callback.handle()` answering an encrypted text push with an encrypted
 *   reply (bench/fixtures/handle-loop.mjs, the built package), `BENCH_PROFILE_PUSHES` pushes
 *   (default 300,000) sampled every 100 µs.
 *
 * - `pay-notification`: the Pay v3 notification handler opening a signed, encrypted
 *   `TRANSACTION.SUCCESS` notification (bench/fixtures/pay-notify-loop.mjs, the built package),
 *   `BENCH_PROFILE_NOTIFICATIONS` notifications (default 100,000) sampled every 100 µs.
 *
 * `BENCH_PROFILE_ONLY=callback-handle` (or `pay-notification`) profiles one of them.
 *
 * For each: `<name>.svg` (a flame graph; open it in a browser and hover a frame),
 * `<name>.folded` (folded stacks in µs, for any flame graph tool or a diff between two runs) and,
 * printed, the frames with the most self time. bench/profiles/README.md is the reading of the
 * committed ones. Figures under a profiler run slower than `npm run bench`'s: read shares, not µs.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildPush } from '../http.js';
import { notificationBody } from '../pay.js';
import { type CpuProfile, flameGraphSvg, foldedText, foldProfile, frameTimes } from './flamegraph.js';

const out = fileURLToPath(new URL('../profiles/', import.meta.url));
const loop = fileURLToPath(new URL('../fixtures/handle-loop.mjs', import.meta.url));
const payLoop = fileURLToPath(new URL('../fixtures/pay-notify-loop.mjs', import.meta.url));
const pushes = Number(process.env.BENCH_PROFILE_PUSHES ?? 300_000);
const notifications = Number(process.env.BENCH_PROFILE_NOTIFICATIONS ?? 100_000);
const only = process.env.BENCH_PROFILE_ONLY;
const PROFILE_APIV3_KEY = 'benchApiV3Key0123456789abcdefABC';
const wanted = (name: string): boolean => only === undefined || only === name;

function profile(
  name: string,
  script: string,
  args: string[],
  env: Record<string, string>,
  title: string,
): void {
  const dir = mkdtempSync(join(tmpdir(), 'wk-profile-'));
  try {
    const run = spawnSync(
      process.execPath,
      ['--cpu-prof', '--cpu-prof-interval', '100', '--cpu-prof-dir', dir, script, ...args],
      {
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'inherit'],
        timeout: 300_000,
        env: { ...process.env, ...env },
      },
    );
    if (run.status !== 0) throw new Error(`${name}: the profiled run failed (status ${run.status})`);
    const result = JSON.parse(run.stdout.trim().split('\n').pop() ?? '{}') as Record<string, number>;
    const file = readdirSync(dir).find((f) => f.endsWith('.cpuprofile'));
    if (file === undefined) throw new Error(`${name}: node wrote no .cpuprofile`);
    const folded = foldProfile(JSON.parse(readFileSync(join(dir, file), 'utf8')) as CpuProfile);
    const total = [...folded.values()].reduce((a, b) => a + b, 0);
    const subtitle = `${new Date().toISOString().slice(0, 10)}, node ${process.version}, ${JSON.stringify(result)}; ${(total / 1e6).toFixed(1)} s of samples`;
    writeFileSync(join(out, `${name}.folded`), `${foldedText(folded)}\n`);
    writeFileSync(join(out, `${name}.svg`), flameGraphSvg(folded, { title, subtitle }));
    console.log(`\n${name}: ${title}\n${subtitle}\n\n   self%  total%  frame`);
    for (const frame of frameTimes(folded).slice(0, 30)) {
      console.log(
        `${((frame.self / total) * 100).toFixed(1).padStart(8)}${((frame.total / total) * 100).toFixed(1).padStart(8)}  ${frame.name}`,
      );
    }
    console.log(`\nwrote bench/profiles/${name}.svg and ${name}.folded`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

if (wanted('callback-handle')) {
  profile(
    'callback-handle',
    loop,
    [String(pushes)],
    { WK_PUSH: JSON.stringify((({ query, body }) => ({ query, body }))(buildPush())) },
    'callback.handle(): encrypted text push -> encrypted text reply, in process (built package)',
  );
}
if (wanted('pay-notification')) {
  profile(
    'pay-notification',
    payLoop,
    [String(notifications)],
    // The body and the APIv3 key the loop's handler opens it with.
    {
      WK_APIV3_KEY: PROFILE_APIV3_KEY,
      WK_NOTIFICATION_BODY: notificationBody(PROFILE_APIV3_KEY, '1900000109', 'bench0000000001'),
    },
    'Pay v3 notification handler: signed, encrypted TRANSACTION.SUCCESS -> 204, in process (built package)',
  );
}
