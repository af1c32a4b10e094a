/**
 * `npm run chaos` end to end on two cheap scenarios of the short profile (dropped and truncated
 * answers; clock skew ±6 min): the real emulator over HTTP, the real clients, every row must pass
 * and the command exit 0. The runner's own rules (a failed or overdue scenario is a FAIL row, its
 * cleanups run anyway) are checked on scenarios made up here.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { formatTable, PROFILES, percentile, type Row, runMatrix } from '../../scripts/chaos/matrix.js';

const CHAOS = fileURLToPath(new URL('../../scripts/chaos/index.ts', import.meta.url));

function runChaos(
  args: string[],
  timeoutMs: number,
): Promise<{ code: number | null; out: string; err: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', CHAOS, ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      out += chunk;
    });
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      err += chunk;
    });
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`chaos did not finish within ${timeoutMs} ms:\n${out}\n${err}`));
    }, timeoutMs);
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, out, err });
    });
  });
}

describe('npm run chaos', () => {
  it('runs the short profile of two scenarios: every row passes and the command exits 0', async () => {
    const { code, out, err } = await runChaos(
      ['--profile', 'short', '--only', 'broken,skew', '--json'],
      120_000,
    );
    expect(code, `${out}\n${err}`).toBe(0);
    const { profile, rows } = JSON.parse(out) as { profile: string; rows: Row[] };
    expect(profile).toBe('short');
    const failed = rows.filter((r) => r.verdict !== 'pass');
    expect(failed, formatTable(failed)).toEqual([]);
    expect(rows.map((r) => r.setup)).toEqual([
      'drop (GET): memory, 1 process',
      'truncate (GET): memory, 1 process',
      'drop (POST, not idempotent): memory, 1 process',
      'callback push, sender clock ±6 min',
      'callback push, receiver clock ±6 min',
      'Pay notification, sender clock ±6 min',
      'Pay notification, receiver clock ±6 min',
      'Pay API answer, client clock ±6 min',
    ]);
    // The figures are measured, not canned: faults were hit and refusals counted.
    expect(rows[0]?.figures).toMatch(/[1-9]\d* faults hit/);
    expect(rows[3]?.figures).toContain('refused 2/2 (TIMESTAMP_EXPIRED');
  }, 150_000);

  it('refuses an unknown scenario id with exit code 2 and the list of ids', async () => {
    const { code, err } = await runChaos(['--only', 'nope'], 30_000);
    expect(code).toBe(2);
    expect(err).toContain('unknown scenario(s): nope');
    expect(err).toContain('revoke (tokens revoked during a batch)');
  }, 40_000);
});

describe('runMatrix', () => {
  const profile = { ...PROFILES.short, scenarioDeadlineMs: 200 };

  it('turns a throwing scenario and an overdue one into FAIL rows, and runs their cleanups', async () => {
    const cleaned: string[] = [];
    const rows = await runMatrix(
      [
        {
          id: 'ok',
          name: 'fine',
          run: async (ctx) => {
            ctx.defer(() => cleaned.push('ok'));
            ctx.row('a', '1 call', true);
          },
        },
        {
          id: 'throws',
          name: 'throws',
          run: async (ctx) => {
            ctx.defer(() => cleaned.push('throws'));
            ctx.row('b', '2 calls', false, 'bad figure');
            throw new Error('boom');
          },
        },
        {
          id: 'hangs',
          name: 'hangs',
          run: (ctx) => {
            ctx.defer(() => cleaned.push('hangs'));
            return new Promise<void>(() => {});
          },
        },
      ],
      { profile },
    );
    expect(rows.map((r) => [r.scenario, r.setup, r.verdict])).toEqual([
      ['fine', 'a', 'pass'],
      ['throws', 'b', 'FAIL'],
      ['throws', '(scenario)', 'FAIL'],
      ['hangs', '(scenario)', 'FAIL'],
    ]);
    expect(rows[3]?.note).toContain('timed out after 200 ms');
    expect(cleaned).toEqual(['ok', 'throws', 'hangs']);
    const table = formatTable(rows);
    expect(table).toContain('| fine     | a          | 1 call  | pass   |');
    expect(table).toContain('FAIL throws / b: bad figure');
  });

  it('runs only the selected ids', async () => {
    const ran: string[] = [];
    const scenario = (id: string) => ({ id, name: id, run: async () => void ran.push(id) });
    await runMatrix([scenario('x'), scenario('y'), scenario('z')], { profile, only: ['z', 'x'] });
    expect(ran).toEqual(['x', 'z']);
  });

  it('computes nearest-rank percentiles', () => {
    const values = Array.from({ length: 100 }, (_, i) => 100 - i);
    expect(percentile(values, 99)).toBe(99);
    expect(percentile(values, 50)).toBe(50);
    expect(percentile([7], 99)).toBe(7);
    expect(percentile([], 99)).toBe(0);
  });
});
