// Runs the fuzz suite (test/fuzz) and prints its table: per target the runs, seeds, failures and
// the slowest input, then the scaling table (time at n and 16n).
//
//   npm run fuzz                      CI profile: the fixed seeds, each property's own small run count
//   npm run fuzz -- --long            100 000 runs per seed and property (FUZZ_RUNS), more timing repetitions
//   npm run fuzz -- --runs 20000      another run count
//   npm run fuzz -- --seeds 1,2,3     other seeds (FUZZ_SEEDS)
//   npm run fuzz -- test/fuzz/xml.test.ts   only some files (any other argument goes to vitest)
//
// A failure prints its seed and path with the command that replays it
// (FUZZ_SEED=… FUZZ_PATH=… npx vitest run test/fuzz/<file> -t <target>).
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';

const args = process.argv.slice(2);
const env = { ...process.env };
const passthrough = [];
for (let i = 0; i < args.length; i++) {
  const arg = args[i];
  if (arg === '--long') env.FUZZ_RUNS ??= '100000';
  else if (arg === '--runs') env.FUZZ_RUNS = args[++i];
  else if (arg === '--seeds') env.FUZZ_SEEDS = args[++i];
  else passthrough.push(arg);
}
for (const name of ['FUZZ_RUNS', 'FUZZ_SEEDS']) {
  if (env[name] !== undefined && !/^[0-9]+(,[0-9]+)*$/.test(env[name])) {
    console.error(
      `${name} must be a number (FUZZ_SEEDS: numbers separated by commas), got ${JSON.stringify(env[name])}`,
    );
    process.exit(2);
  }
}
const dir = mkdtempSync(join(tmpdir(), 'weixin-kit-fuzz-'));
env.FUZZ_REPORT_DIR = dir;

const require = createRequire(import.meta.url);
const cli = join(dirname(require.resolve('vitest/package.json')), 'vitest.mjs');
const files = passthrough.some((a) => !a.startsWith('-')) ? [] : ['test/fuzz'];
// A long run may take hours: no per-test timeout then.
const timeout = env.FUZZ_RUNS === undefined ? [] : ['--testTimeout=0'];
const started = Date.now();
const result = spawnSync(process.execPath, [cli, 'run', ...files, ...timeout, ...passthrough], {
  stdio: 'inherit',
  env,
});
if (result.error) throw result.error;

const rows = [];
const scaling = [];
for (const name of readdirSync(dir).sort()) {
  const data = JSON.parse(readFileSync(join(dir, name), 'utf8'));
  rows.push(...data.rows);
  scaling.push(...data.scaling);
}
rmSync(dir, { recursive: true, force: true });

function table(headers, lines) {
  const widths = headers.map((h, i) => Math.max(h.length, ...lines.map((l) => String(l[i]).length)));
  const fmt = (cells) =>
    cells.map((c, i) => (i === 0 ? String(c).padEnd(widths[i]) : String(c).padStart(widths[i]))).join('  ');
  console.log(fmt(headers));
  console.log(widths.map((w) => '-'.repeat(w)).join('  '));
  for (const l of lines) console.log(fmt(l));
}

const profile = env.FUZZ_RUNS === undefined ? 'CI profile (fixed seeds)' : `${env.FUZZ_RUNS} runs per seed`;
console.log(
  `\nfuzz: ${profile}${env.FUZZ_SEEDS ? `, seeds ${env.FUZZ_SEEDS}` : ''}, ${((Date.now() - started) / 1000).toFixed(1)} s\n`,
);
if (rows.length > 0) {
  table(
    ['target', 'runs', 'seeds', 'failures', 'max ms/input'],
    rows.map((r) => [r.target, r.runs, r.seeds, r.failures, r.maxMs.toFixed(1)]),
  );
  const total = rows.reduce((sum, r) => sum + r.runs, 0);
  const failed = rows.reduce((sum, r) => sum + r.failures, 0);
  console.log(`\n${rows.length} targets, ${total} inputs, ${failed} failing seed(s)\n`);
}
if (scaling.length > 0) {
  table(
    ['scaling', 'n', 'ms at n', 'ms at 16n', 'ratio (< 64)'],
    scaling.map((r) => [r.target, r.n, r.msAtN.toFixed(4), r.msAt16N.toFixed(4), r.ratio.toFixed(1)]),
  );
  console.log('');
}
process.exit(result.status ?? 1);
