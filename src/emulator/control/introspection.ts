import { json } from '../http.js';
import type { Router } from '../router.js';
import type { EmulatorState } from '../state.js';

/** `GET /_emulator/config` (the apps, merchants… served, with their test credentials) and `GET /_emulator/stats`. */
export function registerIntrospection(router: Router, state: EmulatorState): void {
  // A local test tool: it shows the test credentials it serves, so clients can be configured from it.
  router.add('GET', '/_emulator/config', () =>
    json({
      apps: state.config.apps,
      merchants: state.config.merchants,
      corps: state.config.corps,
      components: state.config.components,
      options: state.config.options,
    }),
  );
  router.add('GET', '/_emulator/stats', () => json(state.stats));
}
