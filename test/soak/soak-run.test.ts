/**
 * `npm run soak` end to end, for a few seconds: real traffic through the node:http backend, the
 * emulator in its child process and Redis; it must sample, judge, clean its Redis keys and exit 0.
 * The growth verdict itself is tested on synthetic series in growth.test.ts.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { redisUp } from '../credentials/redis-helper.js';

const SOAK = fileURLToPath(new URL('../../scripts/soak/index.ts', import.meta.url));

function runSoak(args: string[], timeoutMs: number): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--expose-gc', '--import', 'tsx', SOAK, ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      out += chunk;
    });
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      out += chunk;
    });
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`soak did not finish within ${timeoutMs} ms:\n${out}`));
    }, timeoutMs);
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, out });
    });
  });
}

describe('npm run soak', () => {
  it.skipIf(!redisUp)(
    'runs mixed traffic for 6 s, prints sampled rows, and passes with no errors and handles back at baseline',
    async () => {
      const { code, out } = await runSoak(['--minutes', '0.1', '--rate', '10'], 150_000);
      expect(code, out).toBe(0);
      const rows = out.split('\n').filter((line) => /^\| \d/.test(line));
      expect(rows.length, out).toBeGreaterThanOrEqual(5);
      const resultLine = out.split('\n').find((line) => line.startsWith('soak-result '));
      const result = JSON.parse(resultLine?.slice('soak-result '.length) ?? '{}') as {
        ok: boolean;
        samples: number;
        ops: number;
        errors: number;
        handles: { baseline: number; end: number };
        heap: { verdict: string };
      };
      expect(result.ok).toBe(true);
      expect(result.samples).toBe(rows.length);
      expect(result.ops).toBeGreaterThan(0);
      expect(result.errors).toBe(0);
      expect(result.handles.end).toBeLessThanOrEqual(result.handles.baseline);
      // Six seconds are too short to judge growth, and the report says so instead of passing it.
      expect(result.heap.verdict).toBe('too-short');
      expect(out).toMatch(/redis: \d+ keys under weixin-kit-soak:[0-9a-f-]+: deleted/);
      expect(out).toMatch(/operations: \d+ \(push \d+/);
    },
    160_000,
  );

  it('refuses a bad flag with exit 2 and the usage line', async () => {
    const { code, out } = await runSoak(['--minutes', '0'], 60_000);
    expect(code).toBe(2);
    expect(out).toMatch(/--minutes must be a positive number/);
    expect(out).toMatch(/usage: npm run soak/);
  }, 70_000);

  it('says where Redis was expected when it cannot reach it, and exits 2', async () => {
    const { code, out } = await runSoak(['--minutes', '0.1', '--redis', 'redis://127.0.0.1:1'], 60_000);
    expect(code).toBe(2);
    expect(out).toMatch(/Redis is not reachable at redis:\/\/127\.0\.0\.1:1/);
  }, 70_000);
});
