/**
 * The soak verdict, kept pure so it can be tested: a run passes when it had no errors, the
 * gateway's resident memory does not grow beyond noise, and p99 latency at the end is in line with
 * p99 at the start. Samples before `warmupSamples` (JIT, heap sizing, caches filling) count for
 * errors only.
 */

/** Least-squares slope of y over x, with its standard error. */
export function regression(xs, ys) {
  const n = xs.length;
  const mx = xs.reduce((a, b) => a + b, 0) / n;
  const my = ys.reduce((a, b) => a + b, 0) / n;
  let sxx = 0;
  let sxy = 0;
  for (let i = 0; i < n; i++) {
    sxx += (xs[i] - mx) ** 2;
    sxy += (xs[i] - mx) * (ys[i] - my);
  }
  const slope = sxx === 0 ? 0 : sxy / sxx;
  const intercept = my - slope * mx;
  let sse = 0;
  for (let i = 0; i < n; i++) sse += (ys[i] - (intercept + slope * xs[i])) ** 2;
  const se = n > 2 && sxx > 0 ? Math.sqrt(sse / (n - 2) / sxx) : Infinity;
  return { slope, se, mean: my };
}

const median = (values) => {
  const s = [...values].sort((a, b) => a - b);
  return s.length === 0 ? NaN : s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

/**
 * @param {Array<{ minute: number, rssBytes: number, p99Ms: number, errors: number }>} samples
 * @param {{ warmupSamples: number, maxGrowthFraction?: number, minGrowthBytes?: number, p99Factor?: number, p99SlackMs?: number }} options
 */
export function soakVerdict(samples, options) {
  const { warmupSamples, maxGrowthFraction = 0.05, minGrowthBytes = 16 * 1024 * 1024, p99Factor = 2, p99SlackMs = 10 } = options;
  const failures = [];
  const errors = samples.reduce((n, s) => n + s.errors, 0);
  if (errors > 0) failures.push(`${errors} requests failed or got an unexpected status`);

  const measured = samples.slice(warmupSamples);
  if (measured.length < 3) {
    failures.push(`only ${measured.length} samples after warm-up: too few to judge`);
    return { pass: false, failures, errors, rss: null, p99: null };
  }
  // Memory: growth counts only when it is both real (the slope is at least twice its standard
  // error, i.e. outside the noise of GC and allocation) and material: over the measured window, more
  // than a fraction of the resident size or a fixed floor. (Judged over the window, not projected:
  // a two-minute run sees memory still settling, which projected over an hour looks like a leak.)
  const { slope, se, mean } = regression(measured.map((s) => s.minute), measured.map((s) => s.rssBytes));
  const growthPerHour = slope * 60;
  const windowMinutes = measured[measured.length - 1].minute - measured[0].minute;
  const growthOverWindow = slope * windowMinutes;
  const significant = slope > 0 && slope >= 2 * se;
  const material = growthOverWindow > Math.max(maxGrowthFraction * mean, minGrowthBytes);
  const rss = { slopeBytesPerMinute: slope, standardError: se, meanBytes: mean, growthPerHourBytes: growthPerHour, growthOverWindowBytes: growthOverWindow, significant, material };
  if (significant && material) {
    failures.push(`resident memory grew ${(growthOverWindow / 1048576).toFixed(1)} MiB over the run (slope ${(slope / 1024).toFixed(0)} KiB/min ± ${(se / 1024).toFixed(0)})`);
  }

  // Latency: the median per-interval p99 of the last third against the first third.
  const third = Math.max(1, Math.floor(measured.length / 3));
  const early = median(measured.slice(0, third).map((s) => s.p99Ms));
  const late = median(measured.slice(-third).map((s) => s.p99Ms));
  const p99 = { earlyMs: early, lateMs: late, limitMs: early * p99Factor + p99SlackMs };
  if (!(late <= p99.limitMs)) failures.push(`p99 drifted from ${early.toFixed(1)} ms to ${late.toFixed(1)} ms (limit ${p99.limitMs.toFixed(1)} ms)`);

  return { pass: failures.length === 0, failures, errors, rss, p99 };
}
