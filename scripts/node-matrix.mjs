// `npm run test:node-matrix`: the unit suite on every other supported Node (22 and 24; the
// project's own Node, 20, runs the full suite in `npm test`). The Node binaries come from the npm
// registry (`npx -p node@22`), cached by npx after the first run. Prints one row per version:
// version, files, tests, pass/fail, seconds. Exits 1 when a version fails.
//
// The unit suite: the test files under UNIT_DIRS that need no Redis and start no process (they
// still use the in-process emulator and servers on 127.0.0.1, which need nothing installed). It is
// chosen to add about a minute per version on a 2-core machine; docs/testing.md has the figures.
//
// An unreachable registry is reported as such: a warning and exit 0 locally, a failure under
// CI=true (CI must prove every version).
//
//   node scripts/node-matrix.mjs                     # Node 22 and 24
//   node scripts/node-matrix.mjs --versions 20,22,24 # others; `current` is this Node
//   node scripts/node-matrix.mjs --list              # print the unit files and exit
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
export const UNIT_DIRS = [
  'test/crypto',
  'test/xml',
  'test/internal',
  'test/core',
  'test/guard',
  'test/callbacks',
];
/** A file that says any of these needs a service or a process: not a unit test. */
const NOT_UNIT =
  /redis-helper|from 'ioredis'|from 'redis'|node:child_process|node:worker_threads|helpers\/cross-process|helpers\/worker/;
/** Slow end-to-end and property files (they run in the full suite): named so. */
const SLOW_NAME = /e2e|emulator|property|fuzz|differential|adapter-suite/;
const SETUP_TIMEOUT_MS = 180_000;
const RUN_TIMEOUT_MS = 15 * 60_000;

function unitFiles() {
  const files = [];
  const walk = (dir) => {
    for (const entry of readdirSync(join(ROOT, dir), { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) walk(path);
      else if (
        entry.name.endsWith('.test.ts') &&
        !SLOW_NAME.test(entry.name) &&
        !NOT_UNIT.test(readFileSync(join(ROOT, path), 'utf8'))
      ) {
        files.push(path);
      }
    }
  };
  for (const dir of UNIT_DIRS) walk(dir);
  return files.sort();
}

function parseArgs(argv) {
  let versions = ['22', '24'];
  let list = false;
  for (let i = 0; i < argv.length; i += 1) {
    const arg = argv[i];
    if (arg === '--list') list = true;
    else if (arg === '--versions' && argv[i + 1]) versions = argv[++i].split(',').map((v) => v.trim());
    else if (arg.startsWith('--versions=')) versions = arg.slice('--versions='.length).split(',');
    else {
      console.error(
        `node-matrix: unknown argument ${JSON.stringify(arg)}\nusage: node scripts/node-matrix.mjs [--versions 22,24] [--list]`,
      );
      process.exit(2);
    }
  }
  for (const v of versions) {
    if (v !== 'current' && !/^\d+(\.\d+){0,2}$/.test(v)) {
      console.error(
        `node-matrix: --versions takes Node versions such as 22 or 24.1.0, or "current" (got ${JSON.stringify(v)})`,
      );
      process.exit(2);
    }
  }
  return { versions, list };
}

/** Runs a command; resolves with its exit code and the tail of its output (echoed when `echo`). */
function run(command, args, { timeoutMs, echo }) {
  return new Promise((resolve) => {
    const child = spawn(command, args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], env: process.env });
    let tail = '';
    const take = (chunk) => {
      tail = (tail + chunk).slice(-20_000);
      if (echo) process.stdout.write(chunk);
    };
    child.stdout.setEncoding('utf8').on('data', take);
    child.stderr.setEncoding('utf8').on('data', take);
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, timeoutMs);
    child.once('error', (error) => {
      clearTimeout(timer);
      resolve({ code: -1, tail: `${tail}\n${error.message}`, timedOut });
    });
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code: code ?? -1, tail, timedOut });
    });
  });
}

const NETWORK =
  /E(NOTFOUND|AI_AGAIN|CONNREFUSED|CONNRESET|TIMEDOUT|NETUNREACH|HOSTUNREACH)|network|FetchError|request to \S+ failed|getaddrinfo/i;

/** The command line that runs `node` of version `v` (`current`: this one). */
function nodeCommand(v) {
  if (v === 'current') return { command: process.execPath, prefix: [] };
  const npx = process.platform === 'win32' ? 'npx.cmd' : 'npx';
  // --prefer-offline: a Node fetched once is used from npx's cache without asking the registry again.
  return { command: npx, prefix: ['-y', '--prefer-offline', '-p', `node@${v}`, 'node'] };
}

async function main() {
  const { versions, list } = parseArgs(process.argv.slice(2));
  const files = unitFiles();
  if (list) {
    for (const f of files) console.log(f);
    console.log(`${files.length} unit files`);
    return 0;
  }
  const vitest = join(dirname(createRequire(import.meta.url).resolve('vitest/package.json')), 'vitest.mjs');
  const ci = process.env.CI === 'true';
  const work = mkdtempSync(join(tmpdir(), 'node-matrix-'));
  const rows = [];
  let failed = false;
  try {
    for (const v of versions) {
      const { command, prefix } = nodeCommand(v);
      console.log(`\n== Node ${v}: fetching the binary (npx -p node@${v}) ==`);
      const probe = await run(command, [...prefix, '-v'], { timeoutMs: SETUP_TIMEOUT_MS, echo: false });
      const version = probe.tail.trim().split('\n').at(-1) ?? '';
      if (probe.code !== 0 || !/^v\d+\./.test(version)) {
        const unreachable = probe.timedOut || NETWORK.test(probe.tail);
        const why = unreachable
          ? `the npm registry is unreachable, so Node ${v} could not be fetched (npx -p node@${v}: ${probe.timedOut ? 'no answer within 180 s' : networkLine(probe.tail)})`
          : `npx -p node@${v} failed: ${lastLine(probe.tail)}`;
        if (unreachable && !ci) {
          console.warn(`node-matrix: WARNING: ${why}. Row skipped; under CI=true this fails.`);
          rows.push({
            v,
            version: `node@${v}`,
            files: '-',
            tests: '-',
            result: 'skipped (registry unreachable)',
            seconds: '-',
            cpu: '-',
          });
        } else {
          console.error(`node-matrix: ${why}`);
          rows.push({
            v,
            version: `node@${v}`,
            files: '-',
            tests: '-',
            result: 'FAIL (no Node)',
            seconds: '-',
            cpu: '-',
          });
          failed = true;
        }
        continue;
      }
      console.log(`== Node ${version}: ${files.length} unit files ==`);
      const report = join(work, `node-${v}.json`);
      const started = Date.now();
      const cpuBefore = childCpuSeconds();
      const result = await run(
        command,
        [
          ...prefix,
          vitest,
          'run',
          '--reporter=dot',
          '--reporter=json',
          `--outputFile.json=${report}`,
          ...files,
        ],
        { timeoutMs: RUN_TIMEOUT_MS, echo: true },
      );
      const seconds = ((Date.now() - started) / 1000).toFixed(1);
      const cpuAfter = childCpuSeconds();
      const cpu = cpuBefore === undefined || cpuAfter === undefined ? '-' : (cpuAfter - cpuBefore).toFixed(1);
      let json;
      try {
        json = JSON.parse(readFileSync(report, 'utf8'));
      } catch {
        json = undefined;
      }
      const ok =
        result.code === 0 && json !== undefined && json.numFailedTests === 0 && json.success !== false;
      if (!ok) {
        failed = true;
        for (const line of failures(json)) console.error(`  ✗ ${line}`);
        if (json === undefined) console.error(lastLines(result.tail, 30));
      }
      rows.push({
        v,
        version,
        files: json ? `${json.testResults.length}` : '?',
        tests: json ? `${json.numPassedTests}/${json.numTotalTests}` : '?',
        result: ok
          ? 'pass'
          : `FAIL${json ? ` (${json.numFailedTests} failed)` : ''}${result.timedOut ? ' (timed out)' : ''}`,
        seconds,
        cpu,
      });
    }
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
  console.log('\n| node | files | tests passed/total | result | seconds | CPU seconds |');
  console.log('|---|---:|---:|---|---:|---:|');
  for (const r of rows) {
    console.log(`| ${r.version} | ${r.files} | ${r.tests} | ${r.result} | ${r.seconds} | ${r.cpu} |`);
  }
  console.log(
    `\nunit suite: ${files.length} files under ${UNIT_DIRS.join(' ')} (not: Redis, child processes, workers, e2e/emulator/property files)`,
  );
  return failed ? 1 : 0;
}

/** `file > test: first line of the failure` for each failed test (and each file that failed to load). */
function failures(json) {
  if (json === undefined) return [];
  const out = [];
  for (const file of json.testResults ?? []) {
    const name = relative(ROOT, file.name);
    const failed = (file.assertionResults ?? []).filter((a) => a.status === 'failed');
    for (const a of failed)
      out.push(`${name} > ${a.fullName}: ${(a.failureMessages?.[0] ?? '').split('\n')[0].slice(0, 300)}`);
    if (failed.length === 0 && file.status === 'failed')
      out.push(`${name}: ${(file.message ?? '').split('\n')[0]}`);
  }
  return out;
}

/**
 * CPU seconds used by the children this process has waited for (Linux: /proc/self/stat cutime +
 * cstime, which include their own waited children, i.e. npx → node → vitest workers), or
 * undefined elsewhere. Unlike wall time it hardly depends on what else the machine is doing.
 */
function childCpuSeconds() {
  try {
    const stat = readFileSync('/proc/self/stat', 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // After the command name: field 3 is fields[0]; cutime and cstime are fields 16 and 17.
    return (Number(fields[13]) + Number(fields[14])) / 100; // USER_HZ is 100 on Linux
  } catch {
    return undefined;
  }
}

function lastLines(text, n) {
  return text.trim().split('\n').slice(-n).join('\n');
}

/** The line of npm's output that names the network failure (else its last line). */
function networkLine(text) {
  return (
    text
      .split('\n')
      .find((l) => NETWORK.test(l))
      ?.trim() ?? lastLine(text)
  );
}

function lastLine(text) {
  return (
    text
      .trim()
      .split('\n')
      .filter((l) => l.trim() !== '')
      .at(-1) ?? '(no output)'
  );
}

process.exitCode = await main();
