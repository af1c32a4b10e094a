// The public API report: for every entry of package.json "exports", api-extractor writes what
// the built type declarations export into api/<entry>.api.md. `--update` rewrites the reports;
// without it (as `npm test` runs it) a public API that differs from the checked-in report fails,
// so an API change is always a reviewed change of api/*.api.md.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Extractor, ExtractorConfig } from '@microsoft/api-extractor';

const root = resolve(import.meta.dirname, '..');
const update = process.argv.includes('--update');
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
const temp = mkdtempSync(join(tmpdir(), 'weixin-kit-api-'));
const changed = [];

try {
  for (const [subpath, target] of Object.entries(pkg.exports)) {
    const types = target?.import?.types;
    if (typeof types !== 'string') continue;
    const name = subpath === '.' ? pkg.name : `${pkg.name}-${subpath.slice(2).replaceAll('/', '-')}`;
    const config = ExtractorConfig.prepare({
      configObject: {
        projectFolder: root,
        mainEntryPointFilePath: join(root, types),
        apiReport: {
          enabled: true,
          reportFolder: join(root, 'api'),
          reportTempFolder: temp,
          reportFileName: `${name}.api.md`,
        },
        docModel: { enabled: false },
        dtsRollup: { enabled: false },
        tsdocMetadata: { enabled: false },
        compiler: {
          overrideTsconfig: {
            compilerOptions: {
              target: 'es2022',
              module: 'nodenext',
              moduleResolution: 'nodenext',
              lib: ['es2023', 'dom'],
              types: ['node'],
              strict: true,
              skipLibCheck: true,
            },
          },
        },
        messages: {
          compilerMessageReporting: { default: { logLevel: 'warning' } },
          extractorMessageReporting: {
            default: { logLevel: 'none' },
            'ae-forgotten-export': { logLevel: 'none', addToApiReportFile: false },
          },
          tsdocMessageReporting: { default: { logLevel: 'none' } },
        },
      },
      configObjectFullPath: join(root, 'api', 'api-extractor.virtual.json'),
      packageJsonFullPath: join(root, 'package.json'),
    });
    const result = Extractor.invoke(config, {
      localBuild: update,
      showVerboseMessages: false,
      messageCallback: (m) => {
        if (m.logLevel === 'warning' || m.logLevel === 'error') console.error(`${name}: ${m.text}`);
        m.handled = true;
      },
    });
    if (result.apiReportChanged) changed.push(`api/${name}.api.md`);
  }
} finally {
  rmSync(temp, { recursive: true, force: true });
}

if (changed.length === 0) console.log('api report: the public API matches api/*.api.md');
else if (update) console.log(`api report: updated ${changed.join(', ')}`);
else {
  console.error(
    `api report: the public API changed (${changed.join(', ')}). If the change is intended, run ` +
      '`npm run build && npm run api:update` and commit api/*.api.md with it.',
  );
  process.exitCode = 1;
}
