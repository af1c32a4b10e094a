/**
 * Calls `hook` with `event`, swallowing anything it throws or rejects with.
 * @internal
 */
export function callHook<E>(hook: ((event: E) => void) | undefined, event: E): void {
  if (hook === undefined) return;
  try {
    const result: unknown = hook(event);
    if (typeof (result as PromiseLike<unknown> | undefined)?.then === 'function') {
      (result as Promise<unknown>).then(undefined, () => {});
    }
  } catch {
    // A hook is an observer: its failure must not change the outcome of the call.
  }
}
