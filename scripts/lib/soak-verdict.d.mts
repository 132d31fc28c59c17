/** Types of soak-verdict.mjs (the soak script is plain JavaScript; its verdict is tested from TypeScript). */
export interface SoakSample {
  readonly minute: number;
  readonly rssBytes: number;
  readonly p99Ms: number;
  readonly errors: number;
}
export interface SoakVerdict {
  readonly pass: boolean;
  readonly failures: string[];
  readonly errors: number;
  readonly rss: { slopeBytesPerMinute: number; standardError: number; meanBytes: number; growthPerHourBytes: number; growthOverWindowBytes: number; significant: boolean; material: boolean } | null;
  readonly p99: { earlyMs: number; lateMs: number; limitMs: number } | null;
}
export function regression(xs: readonly number[], ys: readonly number[]): { slope: number; se: number; mean: number };
export function soakVerdict(
  samples: readonly SoakSample[],
  options: { warmupSamples: number; maxGrowthFraction?: number; minGrowthBytes?: number; p99Factor?: number; p99SlackMs?: number },
): SoakVerdict;
