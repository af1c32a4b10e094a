// Runs vitest with files and tests in a shuffled order, and prints the seed so that an order
// dependence found once can be replayed: VITEST_SEED=<seed> npm test (or node scripts/vitest-seed.mjs).
// Extra arguments go to vitest as they are, e.g. `node scripts/vitest-seed.mjs test/callbacks`.
import { spawnSync } from 'node:child_process';
import { randomInt } from 'node:crypto';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

const given = process.env.VITEST_SEED;
if (given !== undefined && given !== '' && !/^[1-9][0-9]{0,9}$/.test(given)) {
  console.error(`VITEST_SEED must be a positive integer (got ${JSON.stringify(given)})`);
  process.exit(2);
}
const seed = given ? Number(given) : randomInt(1, 2 ** 31 - 1);
const rerun = `rerun: VITEST_SEED=${seed} npm test`;
console.log(`vitest seed: ${seed} (${rerun})`);

const require = createRequire(import.meta.url);
const cli = join(dirname(require.resolve('vitest/package.json')), 'vitest.mjs');
const result = spawnSync(
  process.execPath,
  [cli, 'run', '--sequence.shuffle', `--sequence.seed=${seed}`, ...process.argv.slice(2)],
  { stdio: 'inherit' },
);
if (result.error) throw result.error;
// The seed scrolled away above a long report: repeat it where a failure is read.
if (result.status !== 0) console.error(`vitest seed: ${seed} (${rerun})`);
process.exit(result.status ?? 1);
