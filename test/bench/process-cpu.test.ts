import { existsSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { processCpuMicros } from '../../bench/load.js';

// The guard bench's CPU-per-request columns read a process's CPU time from /proc (Linux).
describe('processCpuMicros (bench)', () => {
  it.skipIf(!existsSync('/proc/self/stat'))('follows the CPU time this process has used', () => {
    const before = processCpuMicros(process.pid);
    expect(before).toBeTypeOf('number');
    // Burn 200 ms of this process's own CPU time (as Node counts it), then read /proc again.
    const start = process.cpuUsage();
    let x = 0;
    while (true) {
      const used = process.cpuUsage(start);
      if (used.user + used.system >= 200_000) break;
      for (let i = 0; i < 10_000; i++) x += Math.sqrt(i);
    }
    expect(x).toBeGreaterThan(0);
    const after = processCpuMicros(process.pid) as number;
    // /proc counts in 10 ms ticks: at least 150 ms more, and not absurdly more.
    expect(after - (before as number)).toBeGreaterThanOrEqual(150_000);
    expect(after - (before as number)).toBeLessThan(60_000_000);
  });

  it('is undefined without a process to read', () => {
    expect(processCpuMicros(undefined)).toBeUndefined();
    expect(processCpuMicros(2 ** 30)).toBeUndefined();
  });
});
