import { describe, expect, it } from 'vitest';
import {
  type CpuProfile,
  flameGraphSvg,
  foldedText,
  foldProfile,
  frameName,
  frameTimes,
} from '../../bench/profile/flamegraph.js';

// A hand-made profile: root → main → { seal → hash, parse }, plus idle and the collector.
const frame = (id: number, functionName: string, url: string, line: number, children: number[] = []) => ({
  id,
  callFrame: { functionName, url, lineNumber: line - 1, columnNumber: 0 },
  children,
});
const profile: CpuProfile = {
  nodes: [
    frame(1, '(root)', '', 1, [2, 6, 7]),
    frame(2, 'main', 'file:///app/bench/fixtures/loop.mjs', 3, [3, 5]),
    frame(3, 'seal', 'file:///app/dist/chunk-AB12.js', 10, [4]),
    frame(4, 'hash', 'node:internal/crypto/hash', 221),
    frame(5, '', 'file:///app/node_modules/@scope/pkg/lib/parse.js', 7),
    frame(6, '(idle)', '', 1),
    frame(7, '(garbage collector)', '', 1),
  ],
  startTime: 0,
  endTime: 1000,
  // Samples name the node on top of the stack; timeDeltas[i] is the time before sample i.
  samples: [4, 4, 3, 5, 6, 6, 7, 2],
  timeDeltas: [10, 10, 10, 20, 100, 100, 5, 1],
};

describe('flame graph of a .cpuprofile', () => {
  it('names frames by function, where and line', () => {
    expect(frameName(profile.nodes[2] as never)).toBe('seal dist/chunk-AB12.js:10');
    expect(frameName(profile.nodes[3] as never)).toBe('hash node:internal/crypto/hash:221');
    expect(frameName(profile.nodes[4] as never)).toBe('(anonymous) @scope/pkg/parse.js:7');
    expect(frameName(profile.nodes[6] as never)).toBe('(garbage collector)');
  });

  it('folds samples into stacks with their self time, idle left out', () => {
    const folded = foldProfile(profile);
    expect(Object.fromEntries(folded)).toEqual({
      'main loop.mjs:3;seal dist/chunk-AB12.js:10;hash node:internal/crypto/hash:221': 20,
      'main loop.mjs:3;seal dist/chunk-AB12.js:10': 10,
      'main loop.mjs:3;(anonymous) @scope/pkg/parse.js:7': 20,
      '(garbage collector)': 5,
      'main loop.mjs:3': 1,
    });
    expect(foldProfile(profile, { keepIdle: true }).get('(idle)')).toBe(200);
    expect(foldedText(folded).split('\n')[0]).toBe(
      'main loop.mjs:3;seal dist/chunk-AB12.js:10;hash node:internal/crypto/hash:221 20',
    );
  });

  it('adds up self and total time per frame', () => {
    const times = frameTimes(foldProfile(profile));
    const seal = times.find((t) => t.name.startsWith('seal '));
    const main = times.find((t) => t.name.startsWith('main '));
    expect(seal).toEqual({ name: 'seal dist/chunk-AB12.js:10', self: 10, total: 30 });
    expect(main).toEqual({ name: 'main loop.mjs:3', self: 1, total: 51 });
    expect(times[0]?.self).toBe(20);
  });

  it('draws one rectangle per frame, widths in proportion, names escaped', () => {
    const folded = new Map([
      ['a;b<c>', 30],
      ['a', 10],
      ['d', 60],
    ]);
    const svg = flameGraphSvg(folded, { title: 'T & co', width: 1020 });
    const widths = [...svg.matchAll(/<title>([^<]*)<\/title><rect x="[\d.]+" y="\d+" width="([\d.]+)"/g)].map(
      (m) => [m[1]?.split(' (')[0], Number(m[2])],
    );
    // 1000 px for 100 µs between the 10 px margins.
    expect(widths).toEqual([
      ['all', 1000],
      ['a', 400],
      ['b&lt;c&gt;', 300],
      ['d', 600],
    ]);
    expect(svg).toContain('T &amp; co');
    expect(svg).not.toContain('{Y');
  });
});
