import type { Scenario } from '../matrix.js';
import { brokenScenario, busyScenario } from './faults.js';
import { payScenario } from './pay-notifications.js';
import { pushScenario } from './pushes.js';
import { redisOutageScenario } from './redis-outage.js';
import { revokeScenario } from './revoke.js';
import { skewScenario } from './skew.js';

/** Every scenario of the matrix, in the order the table prints them. */
export const SCENARIOS: readonly Scenario[] = [
  revokeScenario,
  busyScenario,
  brokenScenario,
  redisOutageScenario,
  payScenario,
  pushScenario,
  skewScenario,
];
