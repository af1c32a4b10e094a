import type { Router } from './router.js';
import type { EmulatorState } from './state.js';

/** Registers this module's routes (placeholder until implemented). */
export function registerPayV2(_router: Router, _state: EmulatorState): void {}
