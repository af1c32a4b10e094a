import { controlError, json } from '../http.js';
import type { Router } from '../router.js';
import type { EmulatorState } from '../state.js';

/**
 * The emulated clock: `GET /_emulator/clock` reads it, `POST /_emulator/clock {advanceSeconds}`
 * moves it (and runs the delayed work that falls due), `GET /_emulator/scheduled` lists the
 * delayed work still waiting, soonest first.
 */
export function registerClockControl(router: Router, state: EmulatorState): void {
  router.add('POST', '/_emulator/clock', async (ctx) => {
    const body = (await ctx.json()) as { advanceSeconds?: unknown } | undefined;
    const seconds = body?.advanceSeconds;
    if (typeof seconds !== 'number' || !Number.isFinite(seconds)) {
      return controlError(400, 'body must be { "advanceSeconds": number }');
    }
    state.advance(seconds);
    return json({ now: state.nowSeconds() });
  });
  router.add('GET', '/_emulator/clock', () => json({ now: state.nowSeconds() }));

  router.add('GET', '/_emulator/scheduled', () => {
    const now = state.now();
    return json({
      now,
      mode: state.clock.mode,
      scheduled: state.clock.pending().map(({ label, dueAt }) => ({ label, dueAt, dueInMs: dueAt - now })),
    });
  });
}
