/**
 * The soak's verdict on memory: is heap-used growing steadily, or only moving about a level?
 *
 * A leak shows as a line that keeps climbing after the process has warmed up (caches filled, JIT
 * done, pools grown). Noise (allocation between a forced GC and the reading) and a GC sawtooth do
 * not. So the verdict asks two things of the samples after the warm-up, and fails only when both
 * hold:
 *
 * 1. the least-squares slope over the last part of the run (the tail) is above `maxSlopeBytesPerMin`
 *    — a leak that is still going on at the end, not a step during start-up;
 * 2. the median of the final window is clearly above the median of the first window (by more than
 *    `minRiseBytes` and `minRiseFraction` of the first) — the level really moved, which a sawtooth
 *    or one outlier at the end cannot fake, since medians ignore them.
 *
 * Pure: the series in, a verdict out, so it is tested on synthetic series (test/soak/growth.test.ts).
 */

export interface Sample {
  /** Seconds since the start of the run. */
  t: number;
  /** The measured value (bytes). */
  value: number;
}

export interface GrowthOptions {
  /** Samples before this many seconds are ignored (default: 20 % of the run, at most 60 s). */
  warmupSeconds?: number;
  /** The slope is fitted over this last fraction of the samples after the warm-up (default 0.5). */
  tailFraction?: number;
  /** The first and final windows are this fraction of the samples after the warm-up each (default 0.25). */
  windowFraction?: number;
  /** Slope limit of the tail, bytes per minute (default 1 MiB/min). */
  maxSlopeBytesPerMin?: number;
  /** The final median must exceed the first by more than this many bytes to count (default 1 MiB)… */
  minRiseBytes?: number;
  /** …and by more than this fraction of the first median (default 0.05). */
  minRiseFraction?: number;
  /** With fewer samples after the warm-up than this, no verdict is given (default 6)… */
  minSamples?: number;
  /** …nor when they span fewer seconds than this (default 60): a slope per minute needs minutes. */
  minJudgedSeconds?: number;
}

export interface GrowthVerdict {
  /** `grew` fails the soak; `steady` and `too-short` do not. */
  verdict: 'steady' | 'grew' | 'too-short';
  /** Samples judged (after the warm-up). */
  judged: number;
  warmupSeconds: number;
  /** Least-squares slope of the tail, bytes per minute. */
  slopeBytesPerMin: number;
  firstMedian: number;
  finalMedian: number;
  /** finalMedian − firstMedian. */
  riseBytes: number;
  /** The rise the verdict needs to call it growth. */
  riseLimitBytes: number;
  maxSlopeBytesPerMin: number;
  /** One line saying why. */
  reason: string;
}

const MiB = 1024 * 1024;

export function median(values: readonly number[]): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1
    ? (sorted[mid] as number)
    : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}

/** Least-squares slope of `value` over `t`, per second (0 for fewer than two distinct times). */
export function slope(samples: readonly Sample[]): number {
  const n = samples.length;
  if (n < 2) return 0;
  let mt = 0;
  let mv = 0;
  for (const s of samples) {
    mt += s.t / n;
    mv += s.value / n;
  }
  let num = 0;
  let den = 0;
  for (const s of samples) {
    num += (s.t - mt) * (s.value - mv);
    den += (s.t - mt) ** 2;
  }
  return den === 0 ? 0 : num / den;
}

/** The default warm-up of a run of `durationSeconds`: 20 % of it, at most 60 s. */
export const defaultWarmup = (durationSeconds: number): number => Math.min(60, durationSeconds * 0.2);

export function detectGrowth(samples: readonly Sample[], options: GrowthOptions = {}): GrowthVerdict {
  const last = samples.at(-1)?.t ?? 0;
  const warmupSeconds = options.warmupSeconds ?? defaultWarmup(last);
  const tailFraction = options.tailFraction ?? 0.5;
  const windowFraction = options.windowFraction ?? 0.25;
  const maxSlopeBytesPerMin = options.maxSlopeBytesPerMin ?? MiB;
  const minRiseBytes = options.minRiseBytes ?? MiB;
  const minRiseFraction = options.minRiseFraction ?? 0.05;
  const minSamples = Math.max(4, options.minSamples ?? 6);
  const minJudgedSeconds = options.minJudgedSeconds ?? 60;

  const judged = samples.filter((s) => s.t >= warmupSeconds);
  const base = {
    judged: judged.length,
    warmupSeconds,
    maxSlopeBytesPerMin,
  };
  const span = (judged.at(-1)?.t ?? 0) - (judged[0]?.t ?? 0);
  if (judged.length < minSamples || span < minJudgedSeconds) {
    return {
      ...base,
      verdict: 'too-short',
      slopeBytesPerMin: 0,
      firstMedian: Number.NaN,
      finalMedian: Number.NaN,
      riseBytes: 0,
      riseLimitBytes: minRiseBytes,
      reason:
        `${judged.length} samples over ${span.toFixed(0)} s after a ${warmupSeconds.toFixed(0)} s warm-up ` +
        `(need ${minSamples} over ${minJudgedSeconds} s): no verdict on growth`,
    };
  }
  const tail = judged.slice(-Math.max(3, Math.round(judged.length * tailFraction)));
  const window = Math.max(2, Math.round(judged.length * windowFraction));
  const firstMedian = median(judged.slice(0, window).map((s) => s.value));
  const finalMedian = median(judged.slice(-window).map((s) => s.value));
  const slopeBytesPerMin = slope(tail) * 60;
  const riseBytes = finalMedian - firstMedian;
  const riseLimitBytes = Math.max(minRiseBytes, firstMedian * minRiseFraction);
  const climbing = slopeBytesPerMin > maxSlopeBytesPerMin;
  const rose = riseBytes > riseLimitBytes;
  const mib = (b: number) => `${(b / MiB).toFixed(2)} MiB`;
  const slopeText = `tail slope ${mib(slopeBytesPerMin)}/min (limit ${mib(maxSlopeBytesPerMin)}/min)`;
  const riseText = `median ${mib(firstMedian)} → ${mib(finalMedian)} (rise ${mib(riseBytes)}, limit ${mib(riseLimitBytes)})`;
  return {
    ...base,
    verdict: climbing && rose ? 'grew' : 'steady',
    slopeBytesPerMin,
    firstMedian,
    finalMedian,
    riseBytes,
    riseLimitBytes,
    reason: `${climbing && rose ? 'sustained growth' : 'steady'}: ${slopeText}; ${riseText}`,
  };
}
