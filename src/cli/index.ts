import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { WeChatKitError } from '../core/errors.js';
import type { EmulatorConfig } from '../emulator/config.js';
import { type RunningEmulator, startEmulator } from '../emulator/server.js';
import { runDoctorCommand } from './doctor.js';
import { runExplainCommand } from './explain.js';

const USAGE = `usage: weixin-kit <command> [options]

commands:
  emulator [--port 7070] [--host 127.0.0.1] [--config emulator.json]
      Start the offline WeChat platform emulator. Without --config, one Official Account,
      one Mini Program and one merchant are generated and printed.
  explain <kind> [options]
      Print the exact string that is signed, the computed value and, with the received
      signature, MATCH or MISMATCH with the likely causes (exit code 1 on MISMATCH).
      Keys are masked: only their last 4 characters are shown.
        server-signature   --token --timestamp --nonce [--signature]
        message-signature  --token --timestamp --nonce --encrypt [--signature]
        pay-v2             --key [--sign-type MD5|HMAC-SHA256]
                           (--param name=value ... | --xml file) [--sign]
        pay-v3-request     --method --url --timestamp --nonce [--body | --body-file]
                           [--private-key apiclient_key.pem [--signature]]
        pay-v3-response    --timestamp --nonce [--body | --body-file] [--signature
                           (--public-key pub_key.pem | --certificate cert.pem) [--serial]]
        jssdk              --ticket --noncestr --timestamp --url [--signature]
  doctor --config file.json [--time-url https://…]
      Check a configuration offline: appId, secret, token, encodingAESKey and pay
      { mchid, merchantSerialNo, privateKeyPath, apiV3Key, apiV2Key, platformPublicKeyPath,
      platformPublicKeyId, platformCertificatePaths }; with --time-url, the local clock against
      that server's Date header. One line per check (✓ ok, ! warning, ✗ error); exit code 1
      when any check fails. Secrets are never printed.
  help
      Show this text.`;

type Out = (line: string) => void;

/** Loads and parses an emulator config file, with errors that say what to fix. */
export function readEmulatorConfig(path: string): EmulatorConfig {
  let raw: string;
  try {
    raw = readFileSync(path, 'utf8');
  } catch (error) {
    throw new WeChatKitError(
      'INVALID_CONFIG',
      `cannot read --config ${path}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`,
    );
  }
  try {
    return JSON.parse(raw) as EmulatorConfig;
  } catch (error) {
    throw new WeChatKitError(
      'INVALID_CONFIG',
      `--config ${path} is not valid JSON: ${(error as Error).message}`,
    );
  }
}

/** `weixin-kit emulator …`: starts the emulator, prints its URL and credentials, returns it running. */
export async function runEmulatorCommand(args: string[], out: Out): Promise<RunningEmulator> {
  const { values } = parseArgs({
    args,
    options: {
      port: { type: 'string', default: '7070' },
      host: { type: 'string', default: '127.0.0.1' },
      config: { type: 'string' },
    },
    strict: true,
  });
  const port = Number(values.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new WeChatKitError(
      'INVALID_ARGUMENT',
      `--port must be a port number (0-65535), got ${values.port}`,
    );
  }
  const config = values.config === undefined ? undefined : readEmulatorConfig(values.config);
  const emulator = await startEmulator({ port, host: values.host, ...(config ? { config } : {}) });
  out(`weixin-kit emulator listening on ${emulator.url}`);
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

/**
 * The `weixin-kit` command line. Returns the exit code; long-running commands resolve once started
 * and keep the process alive until a signal arrives.
 */
export async function main(
  argv: string[],
  out: Out = (l) => process.stdout.write(`${l}\n`),
): Promise<number> {
  const [command, ...rest] = argv;
  try {
    if (command === 'emulator') {
      const emulator = await runEmulatorCommand(rest, out);
      const shutdown = () => {
        void emulator.close().then(() => process.exit(0));
      };
      process.once('SIGINT', shutdown);
      process.once('SIGTERM', shutdown);
      return 0;
    }
    if (command === 'explain') return runExplainCommand(rest, out);
    if (command === 'doctor') return await runDoctorCommand(rest, out);
    if (command === undefined || command === 'help' || command === '--help' || command === '-h') {
      out(USAGE);
      return command === undefined ? 1 : 0;
    }
    process.stderr.write(`unknown command "${command}"\n\n${USAGE}\n`);
    return 2;
  } catch (error) {
    const message =
      error instanceof WeChatKitError ? `${error.code}: ${error.message}` : (error as Error).message;
    process.stderr.write(`weixin-kit ${command}: ${message}\n`);
    return 1;
  }
}
