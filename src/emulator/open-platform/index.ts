import type { Router } from '../router.js';
import type { EmulatorState } from '../state.js';
import { registerAuthorizationControl } from './authorization-control.js';
import { registerCodeManagement } from './code-management.js';
import { registerComponentApi } from './component-api.js';
import { componentRecords } from './component-records.js';

/**
 * The Open Platform (第三方平台) part of the emulator: component_verify_ticket and authorisation
 * pushes (control plane), the component token APIs (`/cgi-bin/component/*`), pushes of authorised
 * accounts to the component's messageUrl, and Mini Program code management on their behalf.
 * Authorizer access tokens are accepted by the business APIs as the account's own.
 */
export function registerOpenPlatform(router: Router, state: EmulatorState): void {
  const records = componentRecords(state);
  registerComponentApi(router, records);
  registerAuthorizationControl(router, records);
  registerCodeManagement(router, records);
}
