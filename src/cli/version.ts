import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The package whose version `weixin-kit --version` prints. */
export const PACKAGE_NAME = 'weixin-kit';

function moduleDir(): string {
  // The ESM build and tsx give import.meta.url; the CommonJS build has __dirname instead.
  if (typeof __dirname === 'string') return __dirname;
  return dirname(fileURLToPath(import.meta.url));
}

/**
 * The version in the nearest `package.json` named `weixin-kit`, found by walking up from
 * `fromDir`. Read at run time, so the same code works from `src/cli` (tsx), from `dist/cli`
 * (the bin) and from `node_modules/weixin-kit/dist/cli`. Returns undefined when none is found.
 *
 * @example
 * readPackageVersion(); // '0.1.0'
 */
export function readPackageVersion(fromDir: string = moduleDir()): string | undefined {
  let dir = fromDir;
  for (;;) {
    try {
      const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as {
        name?: unknown;
        version?: unknown;
      };
      if (pkg.name === PACKAGE_NAME && typeof pkg.version === 'string') return pkg.version;
    } catch {
      // No package.json here, or not JSON: keep walking up.
    }
    const parent = dirname(dir);
    if (parent === dir) return undefined;
    dir = parent;
  }
}
