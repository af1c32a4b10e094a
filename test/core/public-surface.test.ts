import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import * as crypto from '../../src/crypto/index.js';
import { ArgumentError, ConfigError } from '../../src/errors.js';
import * as root from '../../src/index.js';
import * as redis from '../../src/redis/index.js';

const SRC = join(import.meta.dirname, '../../src');
const files = (dir: string): string[] =>
  readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? files(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : [],
  );

// Plumbing the layers share: none of it is public.
const PLUMBING = [
  'unpad16',
  'sortedSha1',
  'leaseKeyOf',
  'routingKeyOf',
  'refusalStatus',
  'extractEncrypt',
  'codeOfErrcode',
  'callHook',
  'HOOK_NAMES',
  'joinUrl',
  'Transport',
  'replyFields',
  'tokenKey',
  'normalizeSerial',
  'sameSerial',
  'readPayV3Headers',
  'compileAddressList',
  'parseAddressEntry',
  'isCallbackAllowlist',
  'wechatNetwork',
  'weComNetwork',
  'peerAddressOf',
];

// Plumbing that lives under src/internal/. The rest stays put: Transport is a class of core/;
// codeOfErrcode belongs to errors.ts, which imports nothing; extractEncrypt needs the XML parser
// (src/internal/ sits below every layer, the XML codec included). None of them is exported.
const MOVED_TO_INTERNAL = [
  'leaseKeyOf',
  'unpad16',
  'sortedSha1',
  'tokenKey',
  'routingKeyOf',
  'refusalStatus',
  'HOOK_NAMES',
  'callHook',
  'joinUrl',
  'replyFields',
  'normalizeSerial',
  'sameSerial',
  'readPayV3Headers',
  'compileAddressList',
  'parseAddressEntry',
];

const definesExport = (text: string, name: string): boolean =>
  new RegExp(`^export (?:async )?(?:function\\*?|const) ${name}\\b`, 'm').test(text);

describe('the public surface', () => {
  it('keeps plumbing out of the root and crypto entries', () => {
    for (const name of PLUMBING) {
      expect(Object.keys(root), `weixin-kit exports ${name}`).not.toContain(name);
      expect(Object.keys(crypto), `weixin-kit/crypto exports ${name}`).not.toContain(name);
    }
  });

  it('lists every export by name: no `export *` in an entry file', () => {
    const entries = [
      'index.ts',
      'crypto/index.ts',
      'redis/index.ts',
      'emulator/index.ts',
      'adapters/express.ts',
    ];
    for (const entry of entries) {
      expect(readFileSync(join(SRC, entry), 'utf8'), entry).not.toMatch(/export \* from|export type \* from/);
    }
  });

  it('defines the moved plumbing under src/internal/', () => {
    const internal = files(join(SRC, 'internal')).map((file) => readFileSync(file, 'utf8'));
    for (const name of MOVED_TO_INTERNAL) {
      expect(
        internal.some((text) => definesExport(text, name)),
        `${name} is not defined under src/internal/`,
      ).toBe(true);
    }
  });

  it('keeps src/internal/ below the products: it imports only errors.ts, itself, node: and types', () => {
    for (const file of files(join(SRC, 'internal'))) {
      const text = readFileSync(file, 'utf8');
      for (const [statement, from] of text.matchAll(
        /^(?:import|export)(?!\s+type\b)[^;]*?from\s+'([^']+)'/gm,
      )) {
        expect(
          from?.startsWith('node:') || from === '../errors.js' || /^\.\/[\w-]+\.js$/.test(from ?? ''),
          `${file}: ${statement}`,
        ).toBe(true);
      }
    }
  });

  it('lets no entry file re-export a value from src/internal/', () => {
    const entries = [
      'index.ts',
      'crypto/index.ts',
      'redis/index.ts',
      'emulator/index.ts',
      'cli/index.ts',
      ...readdirSync(join(SRC, 'adapters'))
        .filter((name) => name.endsWith('.ts'))
        .map((name) => `adapters/${name}`),
    ];
    // Type-only re-exports (Clock, RandomSource, Scheduler) carry no code and stay allowed.
    const fromInternal = /export\s+(type\s+)?(\*(?:\s+as\s+\w+)?|\{([^}]*)\})\s+from\s+'[^']*\binternal\//g;
    for (const entry of entries) {
      const text = readFileSync(join(SRC, entry), 'utf8');
      for (const [statement, typeOnly, what, names] of text.matchAll(fromInternal)) {
        const values =
          typeOnly !== undefined
            ? []
            : names === undefined
              ? [what]
              : names
                  .split(',')
                  .map((n) => n.trim())
                  .filter((n) => n !== '' && !n.startsWith('type '));
        expect(values, `${entry}: ${statement}`).toEqual([]);
      }
    }
  });

  it('serves both Redis stores from weixin-kit/redis, and neither from the root', () => {
    expect(typeof redis.RedisStore).toBe('function');
    expect(typeof redis.RedisDedupeStore).toBe('function');
    expect(Object.keys(root)).not.toContain('RedisDedupeStore');
    expect(Object.keys(root)).not.toContain('RedisStore');
  });
});

describe('the errors module', () => {
  it('is a leaf: it imports nothing, and credentials no longer import core', () => {
    expect(readFileSync(join(SRC, 'errors.ts'), 'utf8')).not.toMatch(/^import /m);
    for (const file of files(join(SRC, 'credentials'))) {
      expect(readFileSync(file, 'utf8'), file).not.toMatch(/from '\.\.\/core\//);
    }
  });

  it('throws INVALID_ARGUMENT only as ArgumentError', () => {
    for (const file of files(SRC)) {
      if (file.endsWith('errors.ts')) continue;
      expect(readFileSync(file, 'utf8'), file).not.toMatch(/new \w+\(\s*'INVALID_ARGUMENT'/);
    }
    const refusals = [
      () => root.reply.text(42 as never),
      () => crypto.signPayV2({ a: '1' }, 'k'.repeat(32), 'SHA1' as never),
      () =>
        new crypto.MessageCipher({ encodingAESKey: 'a'.repeat(43), receiveId: 'wx' }).encrypt(
          'x',
          new Uint8Array(3),
        ),
    ];
    for (const refuse of refusals) {
      let error: unknown;
      try {
        refuse();
      } catch (e) {
        error = e;
      }
      expect(error).toBeInstanceOf(ArgumentError);
      expect(error).toBeInstanceOf(ConfigError);
      expect(error).toMatchObject({ code: 'INVALID_ARGUMENT', name: 'ArgumentError' });
    }
  });
});
