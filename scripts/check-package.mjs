// Build check: packs the package, installs the tarball in a scratch project and proves that
// both `require` and `import` of every public entry work, with type declarations present.
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';

const root = resolve(import.meta.dirname ?? new URL('.', import.meta.url).pathname, '..');
const scratch = mkdtempSync(join(tmpdir(), 'weixin-kit-pack-'));
const run = (cmd, args, cwd) =>
  execFileSync(cmd, args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });

/**
 * Installs optional peers into the scratch project from the copies this project installed (packed
 * from node_modules, then installed offline): no registry metadata is needed, and the versions are
 * the ones the tests ran with. Each of them has no dependencies of its own.
 */
const installFromProject = (names) => {
  const tarballs = names.map((name) =>
    join(
      scratch,
      run(
        'npm',
        ['pack', '--silent', '--pack-destination', scratch, join(root, 'node_modules', name)],
        scratch,
      )
        .trim()
        .split('\n')
        .at(-1),
    ),
  );
  run('npm', ['install', '--silent', '--no-audit', '--no-fund', '--offline', ...tarballs], scratch);
};

try {
  const [packed] = JSON.parse(run('npm', ['pack', '--json', '--pack-destination', scratch], root));
  const tarball = packed?.filename;
  if (!tarball) throw new Error('npm pack produced no tarball');
  // Source maps would point at src/*.ts, which is not shipped: none may be packed.
  const maps = packed.files.filter((f) => f.path.endsWith('.map'));
  if (maps.length) throw new Error(`the tarball ships ${maps.length} source maps (${maps[0].path}…)`);
  for (const needed of ['LICENSE', 'CHANGELOG.md', 'README.md']) {
    if (!packed.files.some((f) => f.path === needed)) throw new Error(`the tarball lacks ${needed}`);
  }
  const kib = (n) => `${(n / 1024).toFixed(1)} KiB`;
  console.log(
    `tarball ${tarball}: ${kib(packed.size)} packed, ${kib(packed.unpackedSize)} unpacked, ${packed.files.length} files`,
  );
  writeFileSync(join(scratch, 'package.json'), JSON.stringify({ name: 'scratch', private: true }));
  run(
    'npm',
    ['install', '--silent', '--no-audit', '--no-fund', '--offline', join(scratch, tarball)],
    scratch,
  );

  const entries = ['weixin-kit', 'weixin-kit/crypto'];
  // The root serves the clients, callbacks and errors; the crypto entry the protocol primitives.
  const probe = `
    const need = {
      'weixin-kit': ['OfficialAccount', 'MiniProgram', 'PayV3', 'createWeChatCallback', 'reply', 'WeChatKitError', 'ArgumentError', 'APIPromise'],
      'weixin-kit/crypto': ['computeServerSignature', 'MessageCrypto', 'signPayV2', 'buildAuthorization', 'WeChatKitError'],
    };
    function check(entry, how, mod) {
      const name = how + '(' + entry + ')';
      if ('default' in mod && Object.keys(mod).length === 1) throw new Error(name + ': default export only');
      for (const n of need[entry]) if (mod[n] === undefined) throw new Error(name + ': missing export ' + n);
      if (entry === 'weixin-kit/crypto') {
        const sig = mod.computeServerSignature({ token: 'AAAAA', timestamp: '1714036504', nonce: '1514711492' });
        if (sig !== 'f464b24fc39322e44b38aa78f5edd27bd1441696') throw new Error(name + ': wrong signature ' + sig);
      } else if ('unpad16' in mod || 'computeServerSignature' in mod) {
        throw new Error(name + ': the root entry exports protocol plumbing');
      }
    }`;
  const cjs = `${probe}\nfor (const e of ${JSON.stringify(entries)}) check(e, 'require', require(e));\nconsole.log('require ok');`;
  const esm = `${probe}\nfor (const e of ${JSON.stringify(entries)}) check(e, 'import', await import(e));\nconsole.log('import ok');`;
  writeFileSync(join(scratch, 'probe.cjs'), cjs);
  writeFileSync(join(scratch, 'probe.mjs'), esm);
  process.stdout.write(run('node', ['probe.cjs'], scratch));
  process.stdout.write(run('node', ['probe.mjs'], scratch));

  const emulatorProbe = `const m = MOD; if (typeof m.createEmulator !== 'function' || typeof m.startEmulator !== 'function') throw new Error('weixin-kit/emulator lacks createEmulator/startEmulator');`;
  writeFileSync(
    join(scratch, 'emu.cjs'),
    `${emulatorProbe.replace('MOD', "require('weixin-kit/emulator')")}\nconsole.log('require emulator ok');`,
  );
  writeFileSync(
    join(scratch, 'emu.mjs'),
    `${emulatorProbe.replace('MOD', "await import('weixin-kit/emulator')")}\nconsole.log('import emulator ok');`,
  );
  process.stdout.write(run('node', ['emu.cjs'], scratch));
  process.stdout.write(run('node', ['emu.mjs'], scratch));
  writeFileSync(
    join(scratch, 'redis.mjs'),
    "const m = await import('weixin-kit/redis'); if (typeof m.RedisStore !== 'function' || typeof m.RedisDedupeStore !== 'function') throw new Error('weixin-kit/redis lacks RedisStore or RedisDedupeStore'); console.log('import redis ok');",
  );
  writeFileSync(
    join(scratch, 'redis.cjs'),
    "const m = require('weixin-kit/redis'); if (typeof m.RedisStore !== 'function' || typeof m.RedisDedupeStore !== 'function') throw new Error('weixin-kit/redis lacks RedisStore or RedisDedupeStore'); console.log('require redis ok');",
  );
  process.stdout.write(run('node', ['redis.mjs'], scratch));
  process.stdout.write(run('node', ['redis.cjs'], scratch));
  for (const [sub, fn] of [
    ['express', 'wechatExpress'],
    ['koa', 'wechatKoa'],
    ['fastify', 'wechatFastify'],
    ['hono', 'wechatHono'],
    ['node', 'toNodeListener'],
  ]) {
    const check = `if (typeof m.${fn} !== 'function') throw new Error('weixin-kit/${sub} lacks ${fn}');`;
    writeFileSync(join(scratch, `${sub}.mjs`), `const m = await import('weixin-kit/${sub}'); ${check}`);
    writeFileSync(join(scratch, `${sub}.cjs`), `const m = require('weixin-kit/${sub}'); ${check}`);
    run('node', [`${sub}.mjs`], scratch);
    run('node', [`${sub}.cjs`], scratch);
  }
  console.log('adapters ok (express, koa, fastify, hono, node) without their frameworks installed');
  // weixin-kit/guard needs its optional peers (jose, rate-limiter-flexible); nothing else does.
  installFromProject(['jose', 'rate-limiter-flexible']);
  const guardProbe = `
    const fake = {
      appId: 'wx0000000000000001',
      auth: { code2Session: async () => ({ openid: 'o_probe', session_key: 'AAAAAAAAAAAAAAAAAAAAAA==' }) },
      phoneNumbers: { get: async () => { throw new Error('unused'); } },
    };
    const guard = g.createGuard({ miniProgram: fake, keys: [{ kid: 'k', alg: 'HS256', secret: 'x'.repeat(32) }] });
    const login = g.guardFetch(guard.loginRoute());
    const me = g.guardFetch(guard.protect(({ session }) => ({ openid: session.openid, phone: '13912345678' })));
    const post = (body) => new Request('https://127.0.0.1/api/login', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    const run = async () => {
      const issued = await (await login(post({ code: 'c1' }))).json();
      const answer = await me(new Request('https://127.0.0.1/api/me', { headers: { authorization: 'Bearer ' + issued.token } }));
      const json = await answer.json();
      if (answer.status !== 200 || json.openid !== 'o_probe' || json.phone !== '139****5678') throw new Error('guard answered ' + answer.status + ' ' + JSON.stringify(json));
      if ((await login(post({ code: 'c1' }))).status !== 409) throw new Error('a reused login code was not refused');
    };`;
  writeFileSync(
    join(scratch, 'guard.mjs'),
    `const g = await import('weixin-kit/guard');${guardProbe}\nawait run(); console.log('import guard ok');`,
  );
  writeFileSync(
    join(scratch, 'guard.cjs'),
    `const g = require('weixin-kit/guard');${guardProbe}\nrun().then(() => console.log('require guard ok'), (e) => { console.error(e); process.exit(1); });`,
  );
  process.stdout.write(run('node', ['guard.mjs'], scratch));
  process.stdout.write(run('node', ['guard.cjs'], scratch));
  // Every probe above ran without @opentelemetry/api installed: only weixin-kit/otel needs it. The
  // version the project installed is the one in the npm cache (--offline).
  installFromProject(['@opentelemetry/api']);
  const otelProbe = `
    const tracing = o.otelTracing();
    const span = tracing.startClientSpan('WeChat GET /probe', { 'url.path': '/probe' });
    if (tracing.withSpan(span, () => 42) !== 42) throw new Error('withSpan did not run its function');
    span.setError('TIMEOUT'); span.end();
    const server = tracing.startServerSpan('guard GET /probe', { traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01' }, {});
    server.end();`;
  writeFileSync(
    join(scratch, 'otel.mjs'),
    `const o = await import('weixin-kit/otel');${otelProbe}\nconsole.log('import otel ok');`,
  );
  writeFileSync(
    join(scratch, 'otel.cjs'),
    `const o = require('weixin-kit/otel');${otelProbe}\nconsole.log('require otel ok');`,
  );
  process.stdout.write(run('node', ['otel.mjs'], scratch));
  process.stdout.write(run('node', ['otel.cjs'], scratch));
  // weixin-kit/nestjs needs @nestjs/common and @nestjs/core, which have dependencies of their own
  // (not in the npm cache for an offline install): they are linked from this project instead, after
  // the last install (which would prune them). The probe builds the module in a Nest application
  // context and checks that its providers are the root entry's classes, and (CommonJS) that loading
  // it did not load jose: the session guard's peers are not needed for the rest.
  for (const name of ['@nestjs/common', '@nestjs/core']) {
    const target = join(scratch, 'node_modules', name);
    mkdirSync(dirname(target), { recursive: true });
    symlinkSync(join(root, 'node_modules', name), target, 'dir');
  }
  const nestProbe = `
    for (const fn of ['WeChatKitModule', 'InjectWeChat', 'InjectWeChatStore', 'getWeChatToken', 'WeChatCallbackRoute', 'PayNotificationRoute', 'serveCallback', 'WeChatSession', 'WeChatUser', 'guardNest', 'WeChatAccount']) {
      if (n[fn] === undefined) throw new Error('weixin-kit/nestjs lacks ' + fn);
    }
    const AppModule = class AppModule {};
    common.Module({ imports: [n.WeChatKitModule.forRoot({ miniProgram: { appId: 'wx0000000000000001', secret: 'probe-secret' }, accounts: { shop: { miniProgram: { appId: 'wx0000000000000002', secret: 'probe-secret' } } } })] })(AppModule);
    const probe = async () => {
      const ctx = await core.NestFactory.createApplicationContext(AppModule, { logger: false });
      const mp = ctx.get(root.MiniProgram);
      const shop = ctx.get(n.getWeChatToken('account', 'shop'));
      if (!(mp instanceof root.MiniProgram) || mp.appId !== 'wx0000000000000001') throw new Error('the default MiniProgram provider is wrong');
      if (shop.miniProgram.appId !== 'wx0000000000000002' || ctx.get(n.getWeChatToken(root.MiniProgram, 'shop')) !== shop.miniProgram) throw new Error('the named account is wrong');
      await ctx.close();
    };`;
  writeFileSync(
    join(scratch, 'nestjs.mjs'),
    `const n = await import('weixin-kit/nestjs'); const root = await import('weixin-kit'); const common = await import('@nestjs/common'); const core = await import('@nestjs/core');${nestProbe}\nawait probe(); console.log('import nestjs ok');`,
  );
  writeFileSync(
    join(scratch, 'nestjs.cjs'),
    `const n = require('weixin-kit/nestjs'); const root = require('weixin-kit'); const common = require('@nestjs/common'); const core = require('@nestjs/core');${nestProbe}\nif (Object.keys(require.cache).some((f) => f.includes('/node_modules/jose/'))) throw new Error('weixin-kit/nestjs loaded jose');\nprobe().then(() => console.log('require nestjs ok'), (e) => { console.error(e); process.exit(1); });`,
  );
  process.stdout.write(run('node', ['nestjs.mjs'], scratch));
  process.stdout.write(run('node', ['nestjs.cjs'], scratch));
  const help = run('node', [join(scratch, 'node_modules', '.bin', 'weixin-kit'), '--help'], scratch);
  if (!help.includes('usage: weixin-kit')) throw new Error('the weixin-kit bin does not print its usage');
  console.log('bin ok');

  const dist = join(scratch, 'node_modules', 'weixin-kit', 'dist');
  const files = readdirSync(dist, { recursive: true }).map(String);
  for (const needed of [
    'index.d.ts',
    'index.d.cts',
    'crypto/index.d.ts',
    'crypto/index.d.cts',
    'emulator/index.d.ts',
    'guard/index.d.ts',
    'guard/index.d.cts',
    'otel/index.d.ts',
    'otel/index.d.cts',
    'nestjs/index.d.ts',
    'nestjs/index.d.cts',
  ]) {
    if (!files.includes(needed)) throw new Error(`packed tarball lacks dist/${needed}`);
  }
  console.log(
    'package check: require and import of',
    [
      ...entries,
      'weixin-kit/emulator',
      'weixin-kit/redis',
      'weixin-kit/guard (login + protected route)',
      'weixin-kit/otel',
      'weixin-kit/nestjs (module in a Nest application context)',
      'the five adapters (and every entry but otel without @opentelemetry/api)',
    ].join(', '),
    'and the weixin-kit bin work from the packed tarball',
  );
} catch (error) {
  console.error('package check failed:', error.stderr || error.message);
  process.exitCode = 1;
} finally {
  rmSync(scratch, { recursive: true, force: true });
}
