import type { Router } from '../router.js';
import type { EmulatorState } from '../state.js';
import { registerAuthorizationControl } from './authorization-control.js';
import { registerComponentApi } from './component-api.js';
import { ComponentRecords } from './component-records.js';

/**
 * The Open Platform (第三方平台) part of the emulator: component_verify_ticket and authorisation
 * pushes (control plane), and the component token APIs (`/cgi-bin/component/*`). Authorizer
 * access tokens are kept here; business APIs do not accept them (yet).
 */
export function registerOpenPlatform(router: Router, state: EmulatorState): void {
  const records = new ComponentRecords(state);
  registerComponentApi(router, records);
  registerAuthorizationControl(router, records);
}
