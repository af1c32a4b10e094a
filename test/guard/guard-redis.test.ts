/**
 * The guard on real Redis (never a mock): several instances — each with its own client, as
 * separate processes would have — share code claims, sessions, revocations and one rate budget.
 */
import { Redis } from 'ioredis';
import { createClient } from 'redis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createGuard, type Guard, type GuardRedisClient } from '../../src/guard/index.js';
import { REDIS_HOST, REDIS_PORT, redisUp, uniquePrefix } from '../credentials/redis-helper.js';
import { bearer, body, request, SECRET, world } from './fixture.js';

const KEY = { kid: 'k1', alg: 'HS256', secret: SECRET } as const;
const quiet = { error: () => {}, warn: () => {} };

describe.skipIf(!redisUp)('the guard on Redis', () => {
  const clients: Array<{ quit(): Promise<unknown> }> = [];
  let io: Redis[] = [];
  let nr: ReturnType<typeof createClient>;
  const prefix = uniquePrefix();

  beforeAll(async () => {
    io = [1, 2, 3].map(() => new Redis({ host: REDIS_HOST, port: REDIS_PORT, maxRetriesPerRequest: 1 }));
    nr = createClient({ socket: { host: REDIS_HOST, port: REDIS_PORT } });
    await nr.connect();
    clients.push(...io, nr);
  });
  afterAll(async () => {
    const keys = await io[0]?.keys(`${prefix}*`);
    if (keys && keys.length > 0) await io[0]?.del(...keys);
    await Promise.all(clients.map((c) => c.quit()));
  });

  const instances = (w: ReturnType<typeof world>, extra: object = {}): Guard[] =>
    [...io, nr].map((redis) =>
      createGuard({
        miniProgram: w.mp,
        keys: [KEY],
        redis: redis as GuardRedisClient,
        prefix,
        logger: quiet,
        // Every test logs in from 127.0.0.1, and the per-IP budget is shared like the rest.
        limits: { ip: { points: 1000, durationSeconds: 60 } },
        ...extra,
      }),
    );

  it('exchanges one code once across four instances (ioredis and node-redis), 20 requests at once', async () => {
    const w = world();
    const guards = instances(w);
    const code = await w.loginCode();
    const answers = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        (guards[i % 4] as Guard).loginRoute()(request('POST', '/l', { body: { code } })),
      ),
    );
    expect(w.code2SessionCalls()).toBe(1);
    const statuses = answers.map((a) => a.status);
    // The instance that won answers its 5 coalesced requests; the other 15 are refused.
    expect(statuses.filter((s) => s === 200)).toHaveLength(5);
    expect(statuses.filter((s) => s === 409)).toHaveLength(15);
  });

  it('a session made on one instance works on another; logout on a third ends it everywhere', async () => {
    const w = world();
    const [a, b, c, d] = instances(w) as [Guard, Guard, Guard, Guard];
    const issued = body(
      await a.loginRoute()(request('POST', '/l', { body: { code: await w.loginCode('o_shared') } })),
    );
    const me = (g: Guard) =>
      g.protect(({ session }) => session.openid)(request('GET', '/me', { headers: bearer(issued.token) }));
    expect(body(await me(b))).toBe('o_shared');
    expect(
      (await c.logoutRoute()(request('POST', '/logout', { headers: bearer(issued.token) }))).status,
    ).toBe(200);
    expect(body(await me(d)).error.code).toBe('SESSION_REVOKED');
  });

  it('shares the per-IP login budget between instances (20 per 60 s by default)', async () => {
    const w = world();
    const guards = [...io, nr].map((redis) =>
      createGuard({
        miniProgram: w.mp,
        keys: [KEY],
        redis: redis as GuardRedisClient,
        prefix: `${prefix}ip:`,
        logger: quiet,
      }),
    );
    const statuses: number[] = [];
    for (let i = 0; i < 21; i += 1) {
      const route = (guards[i % 4] as Guard).loginRoute();
      statuses.push(
        (await route(request('POST', '/l', { remoteAddress: '203.0.113.9', secure: true, body: {} }))).status,
      );
    }
    // Twenty refused as bad bodies (the handler ran), the 21st limited before it.
    expect(statuses.slice(0, 20)).toEqual(Array(20).fill(400));
    expect(statuses[20]).toBe(429);
  });

  it('shares one rate budget between instances', async () => {
    const w = world();
    const guards = instances(w, {
      limits: { user: { points: 10, durationSeconds: 60 }, ip: { points: 1000, durationSeconds: 60 } },
    });
    const issued = body(
      await (guards[0] as Guard).loginRoute()(
        request('POST', '/l', { body: { code: await w.loginCode('o_rate') } }),
      ),
    );
    const routes = guards.map((g) => g.protect(() => ({ ok: true })));
    const statuses: number[] = [];
    for (let i = 0; i < 12; i += 1) {
      statuses.push(
        (
          await (routes[i % 4] as (typeof routes)[number])(
            request('GET', '/x', { headers: bearer(issued.token) }),
          )
        ).status,
      );
    }
    expect(statuses.slice(0, 10)).toEqual(Array(10).fill(200));
    expect(statuses.slice(10)).toEqual([429, 429]);
  });
});
