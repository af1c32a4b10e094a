/**
 * `weixin-kit/emulator` — an offline, stateful WeChat platform for tests and demos: real HTTP,
 * real signatures, real encryption. See docs/emulator.md for what it reproduces and what not.
 */
export type { ClockMode } from './clock.js';
export type {
  EmulatorAppConfig,
  EmulatorAppKind,
  EmulatorComponentConfig,
  EmulatorConfig,
  EmulatorCorpConfig,
  EmulatorMerchantConfig,
  EmulatorOptions,
  MessageMode,
  ResolvedEmulatorConfig,
  VerifyMode,
} from './config.js';
export { DEFAULT_CALLBACK_IPS, defaultConfig, loadEmulatorConfig, resolveConfig } from './config.js';
export { createEmulator, type Emulator, EmulatorConnectionDropped } from './emulator.js';
export type { EmulatorEvent, EmulatorEventKind } from './events.js';
export type {
  EmulatorContentRule,
  EmulatorContentSecurityOptions,
  ResolvedContentRules,
} from './mini-program/content-rules.js';
export { type RunningEmulator, type StartEmulatorOptions, startEmulator } from './server.js';
export type { EmulatorStats, Fault } from './state.js';
