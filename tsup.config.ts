import { defineConfig } from 'tsup';

export default defineConfig({
  entry: {
    index: 'src/index.ts',
    'crypto/index': 'src/crypto/index.ts',
    'redis/index': 'src/redis/index.ts',
    'guard/index': 'src/guard/index.ts',
    'emulator/index': 'src/emulator/index.ts',
    'cli/index': 'src/cli/index.ts',
    'express/index': 'src/adapters/express.ts',
    'koa/index': 'src/adapters/koa.ts',
    'fastify/index': 'src/adapters/fastify.ts',
    'hono/index': 'src/adapters/hono.ts',
    'node/index': 'src/adapters/node.ts',
    'otel/index': 'src/otel/index.ts',
    'nestjs/index': 'src/nestjs/index.ts',
  },
  format: ['esm', 'cjs'],
  dts: true,
  // No source maps: they would point at src/*.ts, which the package does not ship.
  sourcemap: false,
  clean: true,
  target: 'node20',
  splitting: true,
  treeshake: true,
});
