/**
 * The soak verdict (scripts/lib/soak-verdict.mjs) on synthetic series: it must pass a flat but
 * noisy run (GC makes resident memory saw up and down), and fail a steady leak, any error, and a
 * p99 that drifts upwards. Deterministic noise, so each case is reproducible.
 */
import { describe, expect, test } from '@jest/globals';
import { soakVerdict, type SoakSample } from '../../scripts/lib/soak-verdict.mjs';

const MiB = 1024 * 1024;
/** A reproducible pseudo-random sawtooth of ±20 MiB around the trend, as GC produces. */
const noise = (i: number): number => (((i * 7919) % 41) - 20) * MiB;

function series(n: number, rss: (i: number) => number, p99: (i: number) => number = () => 50, errors: (i: number) => number = () => 0): SoakSample[] {
  return Array.from({ length: n }, (_, i) => ({ minute: i + 1, rssBytes: rss(i), p99Ms: p99(i), errors: errors(i) }));
}

describe('soak verdict', () => {
  test('a flat, noisy 30-minute run passes', () => {
    const v = soakVerdict(series(30, (i) => 180 * MiB + noise(i), (i) => 40 + (i % 5)), { warmupSamples: 2 });
    expect(v.failures).toEqual([]);
    expect(v.pass).toBe(true);
  });

  test('a leak of 2 MiB a minute fails, even under the same noise', () => {
    const v = soakVerdict(series(30, (i) => 180 * MiB + i * 2 * MiB + noise(i)), { warmupSamples: 2 });
    expect(v.pass).toBe(false);
    expect(v.rss).toMatchObject({ significant: true, material: true });
    expect(v.failures[0]).toMatch(/^resident memory grew/);
  });

  test('a two-minute run whose memory is still settling (a few MiB) passes', () => {
    const samples = Array.from({ length: 12 }, (_, i) => ({ minute: 1 + i / 6, rssBytes: 151 * MiB + i * 0.4 * MiB, p99Ms: 80, errors: 0 }));
    expect(soakVerdict(samples, { warmupSamples: 0 }).pass).toBe(true);
  });

  test('growth that is real but immaterial (caches settling, 0.1 MiB an hour) passes', () => {
    const v = soakVerdict(series(30, (i) => 180 * MiB + (i * MiB) / 600), { warmupSamples: 2 });
    expect(v.rss?.material).toBe(false);
    expect(v.pass).toBe(true);
  });

  test('one error anywhere, warm-up included, fails', () => {
    const v = soakVerdict(series(30, () => 180 * MiB, undefined, (i) => (i === 0 ? 1 : 0)), { warmupSamples: 2 });
    expect(v.pass).toBe(false);
    expect(v.failures).toEqual(['1 requests failed or got an unexpected status']);
  });

  test('p99 that drifts to three times its start fails', () => {
    const v = soakVerdict(series(30, () => 180 * MiB, (i) => 40 + i * 4), { warmupSamples: 2 });
    expect(v.pass).toBe(false);
    expect(v.failures[0]).toMatch(/^p99 drifted/);
  });

  test('too few samples after warm-up cannot pass', () => {
    expect(soakVerdict(series(4, () => 180 * MiB), { warmupSamples: 2 }).pass).toBe(false);
  });
});
