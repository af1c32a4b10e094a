// Finds the Chromium the emulator console's browser test drives (test/emulator/console-browser.test.ts),
// or installs Debian's `chromium` package when none is found and we run as root on Debian/Ubuntu.
// Prints what it does and, when a browser is there, its path on the last line. Without one it
// exits 1 under CI=true (the browser test is required there) or with --check, and otherwise 0
// with a warning: the browser test then skips with a visible message, as the Redis tests do.
//
//   npm run setup:browser             find or install
//   npm run setup:browser -- --check  find only (never installs)
//
// CHROMIUM_PATH names a browser to use instead of the usual places.
import { spawnSync } from 'node:child_process';
import { accessSync, constants, existsSync, readFileSync } from 'node:fs';

const CANDIDATES = [
  process.env.CHROMIUM_PATH,
  '/usr/bin/chromium',
  '/usr/bin/chromium-browser',
  '/usr/bin/google-chrome',
  '/usr/bin/google-chrome-stable',
].filter((p) => typeof p === 'string' && p !== '');

function executable(path) {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

function find() {
  return CANDIDATES.find(executable);
}

function version(path) {
  const out = spawnSync(path, ['--version'], { encoding: 'utf8', timeout: 20_000 });
  return out.status === 0
    ? out.stdout.trim()
    : `(could not run ${path} --version: ${out.stderr?.trim() || out.error?.message})`;
}

function isDebianLike() {
  if (!existsSync('/etc/os-release')) return false;
  const release = readFileSync('/etc/os-release', 'utf8');
  return /^(ID|ID_LIKE)=.*\b(debian|ubuntu)\b/m.test(release);
}

const strict = process.env.CI === 'true';

/** No browser: fatal under CI, a warning elsewhere (the browser test skips). */
function giveUp(message) {
  console.error(`setup-browser: ${message}`);
  if (strict) process.exit(1);
  console.error(
    'setup-browser: continuing without a browser: the emulator console browser test will be SKIPPED',
  );
  process.exit(0);
}

function run(command, args) {
  console.log(`setup-browser: running: ${command} ${args.join(' ')}`);
  const result = spawnSync(command, args, {
    stdio: 'inherit',
    env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
  });
  if (result.status !== 0) {
    giveUp(`${command} ${args.join(' ')} failed (exit ${result.status ?? result.error?.message})`);
  }
}

const checkOnly = process.argv.includes('--check');
let found = find();
if (found) {
  console.log(`setup-browser: found ${found}: ${version(found)}`);
  console.log(found);
  process.exit(0);
}
console.log(`setup-browser: no Chromium at ${CANDIDATES.join(', ')}`);
if (checkOnly) {
  console.error('setup-browser: --check given: not installing');
  process.exit(1);
}
if (process.platform !== 'linux' || !isDebianLike()) {
  giveUp('not Debian/Ubuntu: install Chromium or Chrome yourself and set CHROMIUM_PATH to its executable');
}
if (typeof process.getuid !== 'function' || process.getuid() !== 0) {
  giveUp('not root: run `sudo apt-get install -y chromium` (or rerun this script as root)');
}
console.log("setup-browser: installing Debian's chromium package");
run('apt-get', ['update']);
run('apt-get', ['install', '-y', 'chromium']);
found = find();
if (!found) giveUp('apt-get installed chromium but no executable was found where expected');
console.log(`setup-browser: installed ${found}: ${version(found)}`);
console.log(found);
