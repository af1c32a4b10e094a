/**
 * Renewing a processing lease while a handler runs past it: shared by the Pay notification
 * handler and the message callback. Private to `src/callbacks/`.
 */
import { StoreError } from '../errors.js';
import type { Scheduler } from '../internal/timers.js';
import type { DedupeStore } from './dedupe-store.js';

/** Renewals of a processing lease, one every third of it: ten leases in all. */
export const MAX_LEASE_RENEWALS = 30;

export interface LeaseRenewalOptions {
  store: DedupeStore;
  key: string;
  leaseMs: number;
  scheduler: Scheduler;
  /** What the lease is for, in messages (`notification 4200…`, `push text 1234…`); no secrets. */
  what: string;
  /** Told of a renewal the store refused, of the end of the renewals, and of a failing renewal. */
  onError(error: unknown): void;
  /** Renew once at once, before the first tick: for a lease that may have little left. */
  now?: boolean;
}

/**
 * Renews `key`'s lease every third of `leaseMs` through `store.extend`, so no other instance takes
 * the key while its handler runs. A renewal the store refuses (the lease was lost) is reported as
 * `LEASE_LOST` and ends the renewals; one that fails (store outage) is reported and tried again at
 * the next tick. After {@link MAX_LEASE_RENEWALS} renewals (ten leases) the lease is left to run
 * out, reported as `LEASE_LOST` too: a handler that hangs must not hold its key forever. Returns
 * the stop (call it when the handler settled, before completing or releasing the key), or
 * `undefined` when the store cannot extend.
 */
export function renewLease(options: LeaseRenewalOptions): (() => void) | undefined {
  const { store, key, leaseMs, scheduler, what, onError, now } = options;
  if (typeof store.extend !== 'function') return undefined;
  let stopped = false;
  let renewals = 0;
  let timer: unknown;
  const schedule = (): void => {
    timer = scheduler.setTimeout(renew, Math.max(1, Math.floor(leaseMs / 3)));
    // A renewal alone never keeps the process alive.
    (timer as { unref?: () => void } | undefined)?.unref?.();
  };
  const renew = (): void => {
    if (stopped) return;
    let renewal: Promise<boolean>;
    try {
      renewal = Promise.resolve(store.extend?.(key, leaseMs) ?? false);
    } catch (error) {
      renewal = Promise.reject(error);
    }
    renewal.then(
      (kept) => {
        if (stopped) return;
        renewals += 1;
        if (kept && renewals < MAX_LEASE_RENEWALS) {
          schedule();
          return;
        }
        onError(
          new StoreError(
            'LEASE_LOST',
            kept
              ? `the handler of ${what} still runs after ${MAX_LEASE_RENEWALS / 3} processing leases: its lease is ` +
                  'left to run out, so a retry can process it (a handler that hangs must not hold it forever). ' +
                  'Give its calls timeouts, or raise the processing lease.'
              : `the processing lease of ${what} could not be renewed while its handler ran: another instance ` +
                  'may process it too. Check the dedupe store.',
          ),
        );
      },
      (error: unknown) => {
        if (stopped) return;
        onError(error);
        schedule();
      },
    );
  };
  if (now === true) renew();
  else schedule();
  return () => {
    stopped = true;
    scheduler.clearTimeout(timer);
  };
}
