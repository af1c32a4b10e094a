/**
 * Tokens revoked every `revokeEveryMs` during a batch of calls: each revocation makes the calls
 * in flight answer 40001; the client drops the token (only if it is still the stored one), takes a
 * fresh one and retries once. Measured: calls failed, token requests made. Bound: one token
 * request per revocation (plus the cold start), whatever the number of processes sharing Redis.
 */
import { codeList } from '../batch.js';
import { APP, emulatorFor, OPENID, redisMissing, sharedRedis, sleep } from '../env.js';
import type { Scenario } from '../matrix.js';
import { batchIn, type Setup } from './common.js';

const SETUPS: Setup[] = [
  { label: 'memory, 1 process', store: 'memory', processes: 1 },
  { label: 'Redis, 1 process', store: 'redis', processes: 1 },
  { label: 'Redis, 4 processes', store: 'redis', processes: 4 },
];

export const revokeScenario: Scenario = {
  id: 'revoke',
  name: 'tokens revoked during a batch',
  async run(ctx) {
    const { profile } = ctx;
    const shared = await sharedRedis(ctx);
    // The short profile keeps the two ends of the matrix.
    const setups = profile.name === 'short' ? SETUPS.filter((s) => s.label !== 'Redis, 1 process') : SETUPS;
    for (const setup of setups) {
      if (setup.store === 'redis' && shared === undefined) {
        redisMissing(ctx, setup.label);
        continue;
      }
      const emulator = await emulatorFor(ctx);
      const before = await emulator.control.tokenRequests();
      let revocations = 0;
      // When each revocation was sent and answered: it took effect somewhere in between.
      const windows: Array<[number, number]> = [];
      const result = await batchIn(
        ctx,
        setup.processes,
        {
          baseUrl: emulator.url,
          appId: APP.appId,
          secret: APP.secret,
          openid: OPENID,
          calls: profile.revokeCalls,
          concurrency: 8,
          // At least 3 revocation periods, however fast the machine: the bound needs revocations.
          minDurationMs: profile.revokeEveryMs * 3.5,
          store: setup.store,
          ...(shared === undefined
            ? {}
            : { redisPort: shared.port, prefix: `${shared.prefix}${setup.label}:` }),
        },
        async (done) => {
          for (;;) {
            await sleep(profile.revokeEveryMs);
            if (done()) return;
            const sent = Date.now();
            const { revoked } = await emulator.control.post<{ revoked: number }>('/_emulator/tokens/revoke', {
              appId: APP.appId,
            });
            if (revoked > 0) {
              revocations += 1;
              windows.push([sent, Date.now()]);
            }
          }
        },
      );
      const tokenRequests = (await emulator.control.tokenRequests()) - before;
      const typed = (result.codes.untyped ?? 0) === 0;
      const onlyStale = Object.keys(result.codes).every((c) => c === 'TOKEN_INVALID');
      // A call retries once, with a token fetched after its first 40001: it may fail only if a
      // revocation landed while it ran (after that fetch). A failure no revocation overlapped is a bug.
      const overlapping = (f: { startedAt: number; endedAt: number }) =>
        windows.filter(([sent, answered]) => answered >= f.startedAt && sent <= f.endedAt).length;
      const unexplained = result.failures.filter((f) => overlapping(f) === 0).length;
      const explained = unexplained === 0 && result.failures.length === result.failed;
      const bounded = tokenRequests <= revocations + 1;
      // A batch no revocation met proves nothing: that is its own failure, named as such.
      ctx.row(
        setup.label,
        `${result.calls} calls, ${revocations} revocations: failed ${result.failed} (${codeList(result.codes)}; ${unexplained} with no revocation during the call), token requests ${tokenRequests} (bound ${revocations + 1}), p99 ${result.p99Ms} ms`,
        typed && onlyStale && explained && bounded && revocations >= 1,
        revocations < 1
          ? 'no revocation happened during the batch (it ended too soon to test anything)'
          : bounded
            ? 'a failure other than TOKEN_INVALID, or one that no revocation overlapped (its retry with a fresh token should have succeeded)'
            : 'more token requests than revocations + 1',
      );
      await emulator.close();
    }
  },
};
