import { parseArgs } from 'node:util';
import { defaultConfig, type EmulatorConfig, loadEmulatorConfig } from '../emulator/config.js';
import { type RunningEmulator, startEmulator } from '../emulator/server.js';
import { ArgumentError, WeChatKitError } from '../errors.js';
import { DOCTOR_HELP, runDoctorCommand } from './doctor.js';
import { EXPLAIN_HELP, EXPLAIN_KINDS, runExplainCommand } from './explain.js';
import { type CommandHelp, printCommandUsage } from './usage.js';
import { readPackageVersion } from './version.js';

type Out = (line: string) => void;

/** `weixin-kit emulator --help`. */
export const EMULATOR_HELP: CommandHelp = {
  synopsis: 'emulator [--port 7070] [--host 127.0.0.1] [--config emulator.json] [--callback-url URL]',
  description: [
    'Start the offline WeChat platform emulator. Without --config, one Official Account, one',
    'Mini Program, one WeCom corp and one merchant are generated and printed.',
    '  --config FILE        the emulator configuration (JSON; see docs/emulator.md). Keys and',
    '                       certificates are inline PEM or files: merchantPublicKeyPath,',
    '                       merchantPrivateKeyPath, apiSecurity.developerPublicKeyPath,',
    '                       apiSecurity.platformPrivateKeyPath (relative to the config file).',
    '  --callback-url URL   where the emulator pushes messages for the first app (the generated',
    '                       Official Account without --config); overrides its callbackUrl.',
    '  --port N             default 7070 (0: a free port); --host default 127.0.0.1.',
    'A web console is served at /_emulator/ui: the live log of API calls and pushes with their',
    'verdicts, Pay orders (pay, refund, close), faults, the clock and a push form.',
  ].join('\n'),
};

const COMMANDS: Record<string, CommandHelp> = {
  emulator: EMULATOR_HELP,
  explain: EXPLAIN_HELP,
  doctor: DOCTOR_HELP,
};

const indent = (text: string, by: number) =>
  text
    .split('\n')
    .map((line) => `${' '.repeat(by)}${line}`)
    .join('\n');

const USAGE = `usage: weixin-kit <command> [options]
       weixin-kit <command> --help     the usage of one command
       weixin-kit --version            the version of weixin-kit

commands:
${Object.values(COMMANDS)
  .map((help) => `  ${help.synopsis}\n${indent(help.description, 6)}`)
  .join('\n')}
  help [command]
      Show this text, or the usage of one command.

exit codes: 0 done; 1 failed (a check failed, MISMATCH, a missing or bad value or file);
2 unknown command or option.`;

/** Loads an emulator config file (inlining its key files), with errors that say what to fix. */
export function readEmulatorConfig(path: string): EmulatorConfig {
  return loadEmulatorConfig(path);
}

function callbackUrlArg(value: string): string {
  let url: URL | undefined;
  try {
    url = new URL(value);
  } catch {
    url = undefined;
  }
  if (url === undefined || (url.protocol !== 'http:' && url.protocol !== 'https:')) {
    throw new ArgumentError(
      `--callback-url must be an http(s) URL of your server, e.g. http://127.0.0.1:3000/wechat; got "${value}"`,
    );
  }
  return value;
}

function parseEmulatorArgs(args: string[]) {
  return parseArgs({
    args,
    options: {
      port: { type: 'string', default: '7070' },
      host: { type: 'string', default: '127.0.0.1' },
      config: { type: 'string' },
      'callback-url': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
  }).values;
}

/**
 * `weixin-kit emulator …`: starts the emulator, prints its URL and credentials, returns it running.
 * (`--help` is answered by {@link main} before this is called.)
 */
export async function runEmulatorCommand(args: string[], out: Out): Promise<RunningEmulator> {
  const values = parseEmulatorArgs(args);
  const port = Number(values.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new ArgumentError(`--port must be a port number (0-65535), got ${values.port}`);
  }
  const callbackUrl =
    values['callback-url'] === undefined ? undefined : callbackUrlArg(values['callback-url']);
  let config = values.config === undefined ? undefined : readEmulatorConfig(values.config);
  if (callbackUrl !== undefined) {
    config ??= defaultConfig();
    const [first, ...others] = Array.isArray(config.apps) ? config.apps : [];
    if (first === undefined) {
      throw new ArgumentError(
        `--callback-url sets the first app's callbackUrl, but ${values.config} has no apps`,
      );
    }
    config = { ...config, apps: [{ ...first, callbackUrl }, ...others] };
  }
  const emulator = await startEmulator({ port, host: values.host, ...(config ? { config } : {}) });
  out(`weixin-kit emulator listening on ${emulator.url}`);
  out(`console (live log, Pay orders, faults, clock, pushes): ${emulator.url}/_emulator/ui`);
  out('');
  for (const app of emulator.config.apps) {
    out(`${app.kind.padEnd(17)} appId=${app.appId} secret=${app.secret}`);
    out(
      `${''.padEnd(17)} token=${app.token ?? '-'} encodingAESKey=${app.encodingAESKey ?? '-'} mode=${app.messageMode} callbackUrl=${app.callbackUrl ?? '-'}`,
    );
  }
  for (const corp of emulator.config.corps) {
    for (const agent of corp.agents) {
      out(`wecom             corpId=${corp.corpId} agentId=${agent.agentId} secret=${agent.secret}`);
    }
  }
  for (const m of emulator.config.merchants) {
    out(
      `merchant          mchid=${m.mchid} apiV3Key=${m.apiV3Key} apiV2Key=${m.apiV2Key} serial=${m.merchantCertificateSerial} verifyMode=${m.verifyMode}`,
    );
  }
  out('');
  out(
    `platform keys, merchant private keys and all test credentials: GET ${emulator.url}/_emulator/config and /_emulator/pay/platform`,
  );
  out('these are test credentials of a local emulator: never use them against WeChat.');
  return emulator;
}

/** Options of {@link main}. */
export interface MainOptions {
  /** Where error messages go (default: stderr). */
  err?: Out;
  /**
   * Receives the running emulator of `weixin-kit emulator`. When given, the caller stops it
   * (`close()`) and main installs no SIGINT/SIGTERM handlers.
   */
  onEmulator?: (emulator: RunningEmulator) => void;
}

/** The thrown error is node:util parseArgs refusing the command line. */
function parseArgsErrorText(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  if (typeof code !== 'string' || !code.startsWith('ERR_PARSE_ARGS_')) return undefined;
  // parseArgs quotes a stray argument in full: it may be a secret whose quoting went wrong.
  if (code === 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL') {
    return 'unexpected argument: every value follows its --option (quote values that contain spaces)';
  }
  return (error as Error).message.split('\n')[0] ?? code;
}

/**
 * The `weixin-kit` command line. Returns the exit code: 0 done, 1 failed, 2 unknown command or
 * option. `weixin-kit emulator` resolves once started and keeps the process alive until a signal
 * arrives (or, with `options.onEmulator`, until the caller closes it).
 *
 * @example
 * process.exitCode = await main(process.argv.slice(2));
 */
export async function main(
  argv: string[],
  out: Out = (l) => process.stdout.write(`${l}\n`),
  options: MainOptions = {},
): Promise<number> {
  const err = options.err ?? ((l: string) => process.stderr.write(`${l}\n`));
  const [command, ...rest] = argv;
  try {
    if (command === 'emulator') {
      if (parseEmulatorArgs(rest).help === true) return printCommandUsage(out, EMULATOR_HELP);
      const emulator = await runEmulatorCommand(rest, out);
      if (options.onEmulator) {
        options.onEmulator(emulator);
        return 0;
      }
      const shutdown = () => {
        void emulator.close().then(() => process.exit(0));
      };
      process.once('SIGINT', shutdown);
      process.once('SIGTERM', shutdown);
      return 0;
    }
    if (command === 'explain') return runExplainCommand(rest, out);
    if (command === 'doctor') return await runDoctorCommand(rest, out);
    if (command === '--version' || command === '-v') {
      out(readPackageVersion() ?? 'unknown (package.json of weixin-kit not found)');
      return 0;
    }
    if (command === undefined || command === 'help' || command === '--help' || command === '-h') {
      const topic = command === 'help' ? rest[0] : undefined;
      const help = topic === undefined ? undefined : COMMANDS[topic];
      if (help) return printCommandUsage(out, help);
      out(USAGE);
      return command === undefined ? 1 : 0;
    }
    err(
      `weixin-kit: unknown ${command.startsWith('-') ? 'option' : 'command'} "${command}"; run weixin-kit --help`,
    );
    return 2;
  } catch (error) {
    const parseError = parseArgsErrorText(error);
    const kind = command === 'explain' ? rest[0] : undefined;
    const name =
      kind !== undefined && (EXPLAIN_KINDS as readonly string[]).includes(kind) ? `explain ${kind}` : command;
    if (parseError !== undefined) {
      err(`weixin-kit ${name}: ${parseError}; run weixin-kit ${name} --help`);
      return 2;
    }
    const message =
      error instanceof WeChatKitError ? `${error.code}: ${error.message}` : (error as Error).message;
    err(`weixin-kit ${name}: ${message}`);
    return 1;
  }
}
