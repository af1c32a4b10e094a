import type { Router } from '../router.js';
import type { EmulatorState } from '../state.js';
import { registerClockControl } from './clock.js';
import { registerConsole } from './console.js';
import { registerFaultControl } from './faults.js';
import { registerIntrospection } from './introspection.js';
import { registerSecretControl } from './secrets.js';

/**
 * The emulator-wide part of the control plane (`/_emulator/*`): clock, faults, configuration,
 * stats and secret changes. Product folders register their own control routes (pushes, payments, login codes…).
 */
export function registerControl(router: Router, state: EmulatorState): void {
  registerClockControl(router, state);
  registerFaultControl(router, state);
  registerIntrospection(router, state);
  registerSecretControl(router, state);
  registerConsole(router, state);
}
