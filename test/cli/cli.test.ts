import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { EXPLAIN_KINDS } from '../../src/cli/explain.js';
import { main } from '../../src/cli/index.js';
import { readPackageVersion } from '../../src/cli/version.js';

const dir = mkdtempSync(join(tmpdir(), 'weixin-kit-cli-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function run(argv: string[]): Promise<{ code: number; out: string; err: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await main(argv, (l) => out.push(l), {
    err: (l) => err.push(l),
    // `emulator --help` must not start one; if it did, close it at once.
    onEmulator: (emulator) => {
      void emulator.close();
      err.push('an emulator was started');
    },
  });
  return { code, out: out.join('\n'), err: err.join('\n') };
}

describe('weixin-kit --help on every command', () => {
  const commands: Array<[string[], RegExp]> = [
    [['emulator'], /^usage: weixin-kit emulator \[--port 7070\].*--callback-url URL/],
    [['explain'], /^usage: weixin-kit explain <kind> \[options\]/],
    [['doctor'], /^usage: weixin-kit doctor \[--config file\.json\] .*\[--server https:\/\/host\/path/],
    ...EXPLAIN_KINDS.map((kind): [string[], RegExp] => [
      ['explain', kind],
      new RegExp(`^usage: weixin-kit explain ${kind} --`),
    ]),
  ];
  for (const [command, usage] of commands) {
    for (const flag of ['--help', '-h']) {
      it(`${command.join(' ')} ${flag} prints its own usage and exits 0`, async () => {
        const { code, out, err } = await run([...command, flag]);
        expect(err).toBe('');
        expect(code).toBe(0);
        expect(out).toMatch(usage);
      });
    }
  }

  it('help <command> is the same text; help and --help print the overview', async () => {
    expect((await run(['help', 'doctor'])).out).toBe((await run(['doctor', '--help'])).out);
    const overview = await run(['--help']);
    expect(overview.code).toBe(0);
    for (const command of ['emulator', 'explain <kind>', 'doctor [--config', '--version'])
      expect(overview.out).toContain(command);
  });
});

describe('weixin-kit --version', () => {
  const { version } = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
    version: string;
  };

  for (const flag of ['--version', '-v']) {
    it(`${flag} prints the version of package.json and exits 0`, async () => {
      expect(await run([flag])).toEqual({ code: 0, out: version, err: '' });
    });
  }

  it('finds package.json by walking up from the module, as from dist/cli in an installed package', () => {
    const pkg = join(dir, 'node_modules', 'weixin-kit');
    mkdirSync(join(pkg, 'dist', 'cli'), { recursive: true });
    writeFileSync(join(pkg, 'package.json'), JSON.stringify({ name: 'weixin-kit', version: '9.8.7' }));
    // A package.json of something else on the way up is skipped.
    writeFileSync(join(pkg, 'dist', 'package.json'), JSON.stringify({ type: 'commonjs' }));
    expect(readPackageVersion(join(pkg, 'dist', 'cli'))).toBe('9.8.7');
    expect(readPackageVersion(join(dir, 'elsewhere'))).toBeUndefined();
  });
});

describe('unknown commands and options', () => {
  it('an unknown command or top-level option: a message on stderr naming --help, exit 2', async () => {
    for (const argv of [['emulate'], ['--verbose']]) {
      const { code, out, err } = await run(argv);
      expect(code).toBe(2);
      expect(out).toBe('');
      expect(err).toMatch(new RegExp(`unknown (command|option) "${argv[0]}".*weixin-kit --help`));
    }
  });

  it('an unknown option of a command: the option named, the command’s --help named, exit 2', async () => {
    const cases: Array<[string[], string]> = [
      [
        ['doctor', '--confg', 'x.json'],
        "weixin-kit doctor: Unknown option '--confg'; run weixin-kit doctor --help",
      ],
      [
        ['emulator', '--prot', '1'],
        "weixin-kit emulator: Unknown option '--prot'; run weixin-kit emulator --help",
      ],
      [
        ['explain', 'jssdk', '--tiket', 't'],
        "weixin-kit explain jssdk: Unknown option '--tiket'; run weixin-kit explain jssdk --help",
      ],
      [
        ['explain', 'jssdk', '--ticket'],
        "weixin-kit explain jssdk: Option '--ticket <value>' argument missing; run weixin-kit explain jssdk --help",
      ],
    ];
    for (const [argv, message] of cases) {
      const { code, err } = await run(argv);
      expect(err).toBe(message);
      expect(code).toBe(2);
    }
  });
});
