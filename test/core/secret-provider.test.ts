// Issue 12, secrets as providers: read once when first needed, cached, refreshed lazily on an
// interval (injected clock), a failed refresh keeps the last good value and reports it, concurrent
// first uses share one read, and the value never shows in String/JSON/util.inspect/errors/events.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inspect } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  SecretProvider,
  type SecretRefreshErrorEvent,
  type SecretRefreshEvent,
  secretFrom,
  secretFromEnv,
  secretFromFile,
} from '../../src/core/secret-provider.js';
import { ConfigError, SecretUnavailableError } from '../../src/errors.js';
import * as root from '../../src/index.js';
import { deferred } from '../helpers/deferred.js';

// Distinctive values: grepped for in everything a provider shows.
const SECRET_A = 'sEcReT-aaaa-1f0e9d8c7b6a5f4e3d2c';
const SECRET_B = 'sEcReT-bbbb-0a1b2c3d4e5f60718293';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'weixin-kit-secret-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** A clock the test moves. */
function manualClock(start = 1_700_000_000_000) {
  let now = start;
  return {
    now: () => now,
    advance(ms: number) {
      now += ms;
    },
  };
}

/** A reader whose value and failure the test sets, counting its calls. */
function vault(initial: string) {
  const state = {
    value: initial,
    failWith: undefined as Error | undefined,
    reads: 0,
    read: async () => {
      state.reads++;
      if (state.failWith !== undefined) throw state.failWith;
      return state.value;
    },
  };
  return state;
}

const rejection = (promise: Promise<unknown>) =>
  promise.then(
    () => {
      throw new Error('expected a rejection');
    },
    (error: unknown) => error,
  );

describe('secretFromEnv', () => {
  const NAME = `WEIXIN_KIT_TEST_SECRET_${process.pid}`;

  it('reads the variable on first use and caches it (without an interval, a change is seen only on refresh)', async () => {
    process.env[NAME] = SECRET_A;
    try {
      const provider = secretFromEnv(NAME);
      expect(provider.name).toBe(`env:${NAME}`);
      expect(await provider.get()).toBe(SECRET_A);
      process.env[NAME] = SECRET_B;
      expect(await provider.get()).toBe(SECRET_A);
      expect(await provider.refresh()).toBe(SECRET_B);
      expect(await provider.get()).toBe(SECRET_B);
    } finally {
      delete process.env[NAME];
    }
  });

  it('an unset or empty variable is SECRET_UNAVAILABLE naming the variable', async () => {
    delete process.env[NAME];
    const unset = await rejection(secretFromEnv(NAME).get());
    expect(unset).toBeInstanceOf(SecretUnavailableError);
    expect(unset).toMatchObject({ code: 'SECRET_UNAVAILABLE', provider: `env:${NAME}` });
    expect((unset as Error).message).toContain(`${NAME} is not set`);
    process.env[NAME] = '';
    try {
      expect(((await rejection(secretFromEnv(NAME).get())) as Error).message).toContain(`${NAME} is empty`);
    } finally {
      delete process.env[NAME];
    }
  });

  it('refuses a missing variable name when made', () => {
    expect(() => secretFromEnv('')).toThrow(ConfigError);
  });
});

describe('secretFromFile', () => {
  it('reads the file and removes the trailing newline (echo secret > file)', async () => {
    const path = join(dir, 'lf');
    await writeFile(path, `${SECRET_A}\n`);
    expect(await secretFromFile(path).get()).toBe(SECRET_A);
    const crlf = join(dir, 'crlf');
    await writeFile(crlf, `${SECRET_B}\r\n`);
    expect(await secretFromFile(crlf).get()).toBe(SECRET_B);
    const bare = join(dir, 'bare');
    await writeFile(bare, SECRET_A);
    expect(await secretFromFile(bare).get()).toBe(SECRET_A);
  });

  it('keeps inner whitespace: only line breaks at the end are removed', async () => {
    const path = join(dir, 'inner');
    await writeFile(path, ' a b \n');
    expect(await secretFromFile(path).get()).toBe(' a b ');
  });

  it('a missing or empty file is SECRET_UNAVAILABLE naming the path and the reason', async () => {
    const missing = join(dir, 'missing');
    const error = await rejection(secretFromFile(missing).get());
    expect(error).toBeInstanceOf(SecretUnavailableError);
    expect(error).toMatchObject({ provider: `file:${missing}` });
    expect((error as Error).message).toContain('ENOENT');
    const empty = join(dir, 'empty');
    await writeFile(empty, '\n');
    expect(((await rejection(secretFromFile(empty).get())) as Error).message).toContain('is empty');
  });

  it('an updated mount is picked up on the first use after the refresh interval', async () => {
    const clock = manualClock();
    const path = join(dir, 'mounted');
    await writeFile(path, `${SECRET_A}\n`);
    const provider = secretFromFile(path, { refreshIntervalMs: 60_000, now: clock.now });
    expect(await provider.get()).toBe(SECRET_A);
    await writeFile(path, `${SECRET_B}\n`);
    clock.advance(59_999);
    expect(await provider.get()).toBe(SECRET_A);
    clock.advance(1);
    expect(await provider.get()).toBe(SECRET_B);
  });
});

describe('secretFrom', () => {
  it('is read once and cached: many uses, one read', async () => {
    const source = vault(SECRET_A);
    const provider = secretFrom(source.read);
    for (let i = 0; i < 5; i++) expect(await provider.get()).toBe(SECRET_A);
    expect(source.reads).toBe(1);
  });

  it('concurrent first uses share one read', async () => {
    const gate = deferred<string>();
    let reads = 0;
    const provider = secretFrom(() => {
      reads++;
      return gate.promise;
    });
    const uses = Array.from({ length: 10 }, () => provider.get());
    gate.resolve(SECRET_A);
    expect(await Promise.all(uses)).toEqual(Array(10).fill(SECRET_A));
    expect(reads).toBe(1);
  });

  it('a forced refresh and the uses during it share one read', async () => {
    let gate = deferred<string>();
    let reads = 0;
    const provider = secretFrom(() => {
      reads++;
      return gate.promise;
    });
    gate.resolve(SECRET_A);
    await provider.get();
    gate = deferred<string>();
    const refreshes = [provider.refresh(), provider.refresh()];
    gate.resolve(SECRET_B);
    expect(await Promise.all(refreshes)).toEqual([SECRET_B, SECRET_B]);
    expect(await provider.get()).toBe(SECRET_B);
    expect(reads).toBe(2);
  });

  it('refreshes lazily on the first use after the interval (injected clock), not before', async () => {
    const clock = manualClock();
    const source = vault(SECRET_A);
    const events: SecretRefreshEvent[] = [];
    const provider = secretFrom(source.read, {
      refreshIntervalMs: 10_000,
      now: clock.now,
      name: 'vault:wechat',
      onRefresh: (e) => events.push(e),
    });
    expect(await provider.get()).toBe(SECRET_A);
    source.value = SECRET_B;
    clock.advance(9_999);
    expect(await provider.get()).toBe(SECRET_A);
    expect(source.reads).toBe(1);
    // Nothing happens while nobody uses it.
    clock.advance(50_000);
    expect(source.reads).toBe(1);
    expect(await provider.get()).toBe(SECRET_B);
    expect(source.reads).toBe(2);
    expect(events).toEqual([
      { provider: 'vault:wechat', reason: 'first', changed: false },
      { provider: 'vault:wechat', reason: 'interval', changed: true },
    ]);
    // The interval restarts from the last read.
    clock.advance(9_999);
    await provider.get();
    expect(source.reads).toBe(2);
  });

  it('a failed refresh keeps the last good value, reports it, and tries again 30 s later', async () => {
    const clock = manualClock();
    const source = vault(SECRET_A);
    const failures: SecretRefreshErrorEvent[] = [];
    const provider = secretFrom(source.read, {
      refreshIntervalMs: 600_000,
      now: clock.now,
      name: 'vault:wechat',
      onRefreshError: (e) => failures.push(e),
    });
    await provider.get();
    clock.advance(600_000);
    source.failWith = new Error('vault sealed');
    expect(await provider.get()).toBe(SECRET_A);
    expect(source.reads).toBe(2);
    expect(failures).toHaveLength(1);
    expect(failures[0]).toMatchObject({ provider: 'vault:wechat', reason: 'interval', keptPrevious: true });
    expect(failures[0]?.error).toBeInstanceOf(SecretUnavailableError);
    expect(failures[0]?.error.message).toContain('vault sealed');
    // Not on every use: the next attempt is 30 s later.
    clock.advance(29_999);
    expect(await provider.get()).toBe(SECRET_A);
    expect(source.reads).toBe(2);
    clock.advance(1);
    source.failWith = undefined;
    source.value = SECRET_B;
    expect(await provider.get()).toBe(SECRET_B);
    expect(source.reads).toBe(3);
  });

  it('a failed forced refresh rejects, and get() keeps serving the last good value', async () => {
    const source = vault(SECRET_A);
    const failures: SecretRefreshErrorEvent[] = [];
    const provider = secretFrom(source.read, { onRefreshError: (e) => failures.push(e) });
    await provider.get();
    source.failWith = new Error('vault down');
    const error = await rejection(provider.refresh());
    expect(error).toMatchObject({ code: 'SECRET_UNAVAILABLE' });
    expect(await provider.get()).toBe(SECRET_A);
    expect(failures.map((f) => [f.reason, f.keptPrevious])).toEqual([['forced', true]]);
  });

  it('a failed first read rejects (nothing to keep), and the next use reads again', async () => {
    const source = vault(SECRET_A);
    const failures: SecretRefreshErrorEvent[] = [];
    const provider = secretFrom(source.read, { name: 'vault:x', onRefreshError: (e) => failures.push(e) });
    source.failWith = new Error('connection refused');
    const error = await rejection(provider.get());
    expect(error).toBeInstanceOf(SecretUnavailableError);
    expect(error).toMatchObject({ provider: 'vault:x' });
    expect((error as Error).cause).toBe(source.failWith);
    expect(failures.map((f) => [f.reason, f.keptPrevious])).toEqual([['first', false]]);
    source.failWith = undefined;
    expect(await provider.get()).toBe(SECRET_A);
    expect(source.reads).toBe(2);
  });

  it('a reader giving something other than a non-empty string is SECRET_UNAVAILABLE', async () => {
    for (const bad of ['', undefined, 42, null]) {
      const error = await rejection(secretFrom(() => bad as unknown as string).get());
      expect(error).toMatchObject({ code: 'SECRET_UNAVAILABLE' });
      expect((error as Error).message).toMatch(/must give the secret as a non-empty string/);
    }
  });

  it('a synchronous reader and a throwing one work like async ones', async () => {
    expect(await secretFrom(() => SECRET_A).get()).toBe(SECRET_A);
    const error = await rejection(
      secretFrom(() => {
        throw new TypeError('no vault client');
      }).get(),
    );
    expect(error).toMatchObject({ code: 'SECRET_UNAVAILABLE' });
  });

  it('refuses unknown options and bad values when made', () => {
    const read = () => SECRET_A;
    expect(() => secretFrom(read, { refresh: 1 } as never)).toThrow(/unknown option "refresh"/);
    expect(() => secretFrom(read, { refreshIntervalMs: 0 })).toThrow(ConfigError);
    expect(() => secretFrom(read, { refreshIntervalMs: Number.NaN })).toThrow(ConfigError);
    expect(() => secretFrom(read, { now: 1 as never })).toThrow(ConfigError);
    expect(() => secretFrom(read, { name: '' })).toThrow(ConfigError);
    expect(() => secretFrom(read, { onRefreshError: 'log' as never })).toThrow(ConfigError);
    expect(() => secretFrom('secret' as never)).toThrow(ConfigError);
  });

  it('a throwing hook does not change the outcome', async () => {
    const provider = secretFrom(() => SECRET_A, {
      onRefresh: () => {
        throw new Error('hook bug');
      },
    });
    expect(await provider.get()).toBe(SECRET_A);
  });
});

describe('a provider never shows its value', () => {
  it('String, JSON.stringify and util.inspect show the name only', async () => {
    const provider = secretFrom(async () => SECRET_A, { name: 'vault:wechat/oa' });
    await provider.get();
    const shown = [
      String(provider),
      `${provider}`,
      JSON.stringify(provider),
      JSON.stringify({ secret: provider }),
      inspect(provider),
      inspect(provider, { showHidden: true, depth: Number.POSITIVE_INFINITY }),
      inspect({ nested: { provider } }, { depth: Number.POSITIVE_INFINITY }),
    ];
    for (const text of shown) expect(text).not.toContain(SECRET_A);
    expect(String(provider)).toBe('[SecretProvider vault:wechat/oa]');
    expect(JSON.parse(JSON.stringify(provider))).toEqual({ secretProvider: 'vault:wechat/oa' });
    expect(inspect(provider)).toContain('vault:wechat/oa');
  });

  it('errors and events never carry it, even when the reader’s error repeats the last value', async () => {
    const source = vault(SECRET_A);
    const seen: unknown[] = [];
    const provider = secretFrom(source.read, {
      onRefresh: (e) => seen.push(e),
      onRefreshError: (e) => seen.push(e),
    });
    await provider.get();
    source.failWith = new Error(`permission denied reading ${SECRET_A}`);
    const error = (await rejection(provider.refresh())) as SecretUnavailableError;
    expect(error.message).toContain('[redacted]');
    const texts = [
      error.message,
      JSON.stringify(error),
      JSON.stringify(error.toJSON()),
      ...seen.map((e) => JSON.stringify(e)),
      ...seen.map((e) => inspect({ ...(e as object), error: undefined })),
    ];
    for (const text of texts) expect(text).not.toContain(SECRET_A);
  });

  it('without a hook, a failed refresh is a process warning that names the provider, not the value', async () => {
    const warnings: Error[] = [];
    const listen = (w: Error) => warnings.push(w);
    process.on('warning', listen);
    try {
      const source = vault(SECRET_A);
      const clock = manualClock();
      const provider = secretFrom(source.read, { name: 'vault:w', refreshIntervalMs: 1000, now: clock.now });
      await provider.get();
      source.failWith = new Error('sealed');
      clock.advance(1000);
      expect(await provider.get()).toBe(SECRET_A);
      // emitWarning dispatches on the next tick.
      await new Promise((resolve) => setImmediate(resolve));
      const ours = warnings.filter((w) => (w as { code?: string }).code === 'WEIXIN_KIT_SECRET_REFRESH');
      expect(ours).toHaveLength(1);
      expect(ours[0]?.message).toContain('vault:w');
      expect(ours[0]?.message).not.toContain(SECRET_A);
    } finally {
      process.off('warning', listen);
    }
  });
});

describe('the core entry', () => {
  it('exports the provider helpers and the error', () => {
    expect(root.secretFrom).toBe(secretFrom);
    expect(root.secretFromEnv).toBe(secretFromEnv);
    expect(root.secretFromFile).toBe(secretFromFile);
    expect(root.SecretProvider).toBe(SecretProvider);
    expect(root.SecretUnavailableError).toBe(SecretUnavailableError);
  });
});
