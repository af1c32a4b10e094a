import { EVENT_LOG_CAPACITY, eventLogOf, eventStream } from '../events.js';
import { controlError, json } from '../http.js';
import type { Router } from '../router.js';
import type { EmulatorState } from '../state.js';
import { CONSOLE_HTML } from '../ui/page.js';
import { CONSOLE_JS } from '../ui/script.js';
import { CONSOLE_CSS } from '../ui/style.js';

/**
 * The console's own security headers: nothing but the emulator's origin may load or run anything
 * (no inline script or style, no framing, no third party), and nothing is cached.
 */
export const CONSOLE_CSP =
  "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
  "base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

function asset(body: string, type: string): Response {
  return new Response(body, {
    status: 200,
    headers: {
      'content-type': `${type}; charset=utf-8`,
      'content-security-policy': CONSOLE_CSP,
      'x-content-type-options': 'nosniff',
      'x-frame-options': 'DENY',
      'referrer-policy': 'no-referrer',
      'cache-control': 'no-store',
    },
  });
}

/** A credential as the console shows it: its first 4 and last 2 characters. */
export function mask(value: string | undefined): string | null {
  if (value === undefined || value === '') return null;
  if (value.length < 12) return '•'.repeat(8);
  return `${value.slice(0, 4)}••••••${value.slice(-2)}`;
}

/**
 * The web console (`GET /_emulator/ui`, its `app.js` and `app.css`), what it reads
 * (`GET /_emulator/overview`: apps and merchants with masked credentials, clock, faults, delayed
 * work) and its live feed: `GET /_emulator/events` (server-sent events of the event log, a
 * heartbeat comment every 15 s, `Last-Event-ID` resumes) and `GET /_emulator/log?after=` (the same
 * events as JSON).
 */
export function registerConsole(router: Router, state: EmulatorState): void {
  router.add('GET', '/_emulator/ui', () => asset(CONSOLE_HTML, 'text/html'));
  router.add('GET', '/_emulator/ui/app.js', () => asset(CONSOLE_JS, 'text/javascript'));
  router.add('GET', '/_emulator/ui/app.css', () => asset(CONSOLE_CSS, 'text/css'));

  router.add('GET', '/_emulator/overview', () => {
    const now = state.now();
    return json({
      now,
      clock: { mode: state.clock.mode, offsetMs: state.clock.mode === 'real' ? now - Date.now() : 0 },
      scheduled: state.clock.pending().map(({ label, dueAt }) => ({ label, dueAt, dueInMs: dueAt - now })),
      apps: state.config.apps.map((a) => ({
        appId: a.appId,
        kind: a.kind,
        secret: mask(a.secret),
        token: mask(a.token),
        encodingAESKey: mask(a.encodingAESKey),
        messageMode: a.messageMode,
        callbackUrl: a.callbackUrl ?? null,
        tokensIssued: state.stats.tokensIssued[a.appId] ?? 0,
      })),
      merchants: state.config.merchants.map((m) => ({
        mchid: m.mchid,
        apiV3Key: mask(m.apiV3Key),
        apiV2Key: mask(m.apiV2Key),
        verifyMode: m.verifyMode,
      })),
      corps: state.config.corps.map((c) => ({
        corpId: c.corpId,
        agents: c.agents.map((a) => ({ agentId: a.agentId, name: a.name ?? null, secret: mask(a.secret) })),
      })),
      components: state.config.components.map((c) => ({
        componentAppId: c.componentAppId,
        secret: mask(c.componentSecret),
        token: mask(c.token),
        callbackUrl: c.callbackUrl ?? null,
      })),
      faults: state.faults,
      log: {
        capacity: EVENT_LOG_CAPACITY,
        lastSeq: eventLogOf(state).lastSeq,
        subscribers: eventLogOf(state).subscriberCount,
      },
    });
  });

  router.add('GET', '/_emulator/log', (ctx) => {
    const after = Number(ctx.url.searchParams.get('after') ?? 0);
    if (!Number.isInteger(after) || after < 0)
      return controlError(400, 'after must be a non-negative integer');
    const log = eventLogOf(state);
    return json({ lastSeq: log.lastSeq, events: log.since(after) });
  });

  router.add('GET', '/_emulator/events', (ctx) => {
    const log = eventLogOf(state);
    const header = ctx.request.headers.get('last-event-id') ?? ctx.url.searchParams.get('after');
    const lastEventId = header === null ? 0 : Number(header);
    const response = eventStream(log, {
      lastEventId: Number.isInteger(lastEventId) && lastEventId > 0 ? lastEventId : 0,
    });
    return (
      response ??
      controlError(
        503,
        `too many live subscribers (${log.maxSubscribers}): close another console tab or event stream`,
      )
    );
  });
}
