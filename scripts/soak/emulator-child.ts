/**
 * The soak's WeChat: the emulator in a process of its own, so that what it keeps (every message,
 * push and notification it made) does not count against the SDK's memory in the soak process.
 * Config from SOAK_EMULATOR_CONFIG (JSON); prints one JSON line `{ url, publicKey }`; exits when
 * its stdin closes (the soak ended, or died).
 */
import { type EmulatorConfig, startEmulator } from 'weixin-kit/emulator';

const config = JSON.parse(process.env.SOAK_EMULATOR_CONFIG ?? '{}') as EmulatorConfig;
const emulator = await startEmulator({ config });
const platform = (await (await fetch(`${emulator.url}/_emulator/pay/platform`)).json()) as {
  publicKey: { id: string; pem: string };
};
process.stdout.write(`${JSON.stringify({ url: emulator.url, publicKey: platform.publicKey })}\n`);

const stop = () => {
  void emulator.close().then(() => process.exit(0));
};
process.stdin.on('end', stop).on('close', stop).resume();
process.once('SIGTERM', stop);
