/** Calling the callback pipeline's observation hooks (the hook types are in `callbacks/callback-hooks.ts`). */
import type { CallbackHooks } from '../callbacks/callback-hooks.js';

/** Every hook `createWeChatCallback({ hooks })` accepts; any other key is refused. */
export const HOOK_NAMES = [
  'onRefused',
  'onDuplicate',
  'onError',
  'onLateReply',
  'onSecretFallback',
] as const satisfies readonly (keyof CallbackHooks)[];

type HookEvent<K extends keyof CallbackHooks> = Parameters<NonNullable<CallbackHooks[K]>>[0];

/** Calls a hook (as a method of `hooks`) without letting it throw or reject into the pipeline. */
export function callHook<K extends keyof CallbackHooks>(
  hooks: CallbackHooks,
  name: K,
  event: HookEvent<K>,
): void {
  const hook = hooks[name] as ((this: CallbackHooks, event: HookEvent<K>) => unknown) | undefined;
  if (hook === undefined) return;
  try {
    const result = hook.call(hooks, event);
    if (result instanceof Promise) result.catch(() => {});
  } catch {
    // A hook's failure must never change what WeChat is answered.
  }
}
