/**
 * `npm run chaos` — the chaos matrix: emulator faults, Redis outages, killed instances and skewed
 * clocks × client set-ups (memory store, Redis, 1 and 4 processes), against the real emulator
 * over HTTP on 127.0.0.1 and real Redis. Prints one table row per scenario and set-up with its
 * figures and pass/fail; exits 1 if any row failed.
 *
 *   npm run chaos                          # --profile short (CI: well under 90 s)
 *   npm run chaos -- --profile full        # 10,000-call batches, revocations every 2 s, …
 *   npm run chaos -- --only skew,broken     # scenario ids: revoke, busy, broken, redis, pay, pushes, skew
 *   npm run chaos -- --json                # the rows as JSON
 *
 * Redis rows need Redis on 127.0.0.1:6379 (skipped without it, failed when CI=true); the Redis
 * outage scenario also needs `redis-server` on the PATH (it starts its own on a spare port).
 */
import { formatTable, PROFILES, type ProfileName, runMatrix } from './matrix.js';
import { SCENARIOS } from './scenarios/index.js';

function arg(name: string): string | undefined {
  const index = process.argv.indexOf(name);
  return index === -1 ? undefined : process.argv[index + 1];
}

const profileName = (arg('--profile') ?? 'short') as ProfileName;
const profile = PROFILES[profileName];
if (profile === undefined) {
  process.stderr.write(`--profile must be one of ${Object.keys(PROFILES).join(', ')}\n`);
  process.exit(2);
}
const only = arg('--only')
  ?.split(',')
  .map((s) => s.trim());
const unknown = only?.filter((id) => !SCENARIOS.some((s) => s.id === id)) ?? [];
if (unknown.length > 0) {
  process.stderr.write(
    `unknown scenario(s): ${unknown.join(', ')}\nscenarios: ${SCENARIOS.map((s) => `${s.id} (${s.name})`).join(', ')}\n`,
  );
  process.exit(2);
}
const json = process.argv.includes('--json');
const started = performance.now();
const rows = await runMatrix(SCENARIOS, {
  profile,
  ...(only === undefined ? {} : { only }),
  onScenario: (name, scenarioRows, ms) => {
    const failed = scenarioRows.filter((r) => r.verdict === 'FAIL').length;
    process.stderr.write(
      `chaos: ${name}: ${scenarioRows.length} row(s), ${failed} failed, ${(ms / 1000).toFixed(1)} s\n`,
    );
  },
});
const seconds = ((performance.now() - started) / 1000).toFixed(1);
const text = json
  ? `${JSON.stringify({ profile: profile.name, seconds: Number(seconds), rows }, null, 2)}\n`
  : `chaos matrix, profile ${profile.name}, ${seconds} s\n\n${formatTable(rows)}\n`;
const failed = rows.filter((r) => r.verdict === 'FAIL').length;
// Exit once the table is written: a scenario abandoned at its deadline may still hold a socket or a timer.
process.stdout.write(text, () => process.exit(failed > 0 ? 1 : 0));
