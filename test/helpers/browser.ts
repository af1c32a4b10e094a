// A real Chromium for the console's browser test (never a mock). No browser skips the test with a
// visible warning, except under CI=true, where it fails the suite (as Redis does for the store
// tests). `npm run setup:browser` (scripts/setup-browser.mjs) finds or installs one.
import { accessSync, constants } from 'node:fs';

/** Where Debian, Ubuntu and Chrome put the browser; `CHROMIUM_PATH` first when set. */
export const CHROMIUM_CANDIDATES = [
  process.env.CHROMIUM_PATH,
  '/usr/bin/chromium',
  '/usr/bin/chromium-browser',
  '/usr/bin/google-chrome',
  '/usr/bin/google-chrome-stable',
].filter((p): p is string => typeof p === 'string' && p !== '');

function executable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** The Chromium executable to drive, or undefined when none is installed. */
export const chromiumPath = CHROMIUM_CANDIDATES.find(executable);

if (chromiumPath === undefined) {
  if (process.env.CI === 'true') {
    throw new Error(
      `no Chromium found (tried ${CHROMIUM_CANDIDATES.join(', ')}); CI requires it for the console browser test: run npm run setup:browser`,
    );
  }
  console.warn(
    `[weixin-kit] no Chromium found (tried ${CHROMIUM_CANDIDATES.join(', ')}): emulator console browser test SKIPPED (npm run setup:browser installs one)`,
  );
}
