// Runs the CLI from source (`npm run emulator`), without a build.
import { main } from './index.js';

main(process.argv.slice(2)).then((code) => {
  process.exitCode = code;
});
