/**
 * Issue 21's linear-cost budget: how CPU per request grows with the entries of a search's answer.
 * A fixed per-request cost (HTTP, authentication, the request decision, audit) makes the plain
 * per-entry figure of a 10-entry search far larger by construction, so what is judged is the
 * incremental CPU per entry between consecutive sizes. Pure functions of the scenario results.
 */
import type { Linearity, LinearityPoint, LinearityStep, ScenarioResult, TargetId } from './model.js';

/** The searches of the series, with the entries they ask for (used when the answer was not counted). */
export const LINEARITY_SIZES: ReadonlyArray<{ readonly scenario: string; readonly entries: number }> = [
  { scenario: 'search-10', entries: 10 },
  { scenario: 'search-100', entries: 100 },
  { scenario: 'search-1000', entries: 1000 },
];

/** The designs the series is computed (and plotted) for. */
export const LINEARITY_TARGETS: readonly TargetId[] = ['gateway', 'bare'];

export function linearityOf(results: readonly ScenarioResult[], targets: readonly TargetId[] = LINEARITY_TARGETS): Linearity[] {
  return targets.flatMap((target) => {
    const points: LinearityPoint[] = LINEARITY_SIZES.flatMap(({ scenario, entries: nominal }) => {
      const r = results.find((x) => x.scenario === scenario && x.target === target);
      const cpu = r?.cpuMs.proxy;
      if (!r || cpu === null || cpu === undefined || !Number.isFinite(cpu)) return [];
      const entries = r.entries !== null && r.entries > 0 ? r.entries : nominal;
      return [{ scenario, entries, cpuMsPerRequest: cpu, cpuMsPerEntry: cpu / entries }];
    });
    if (points.length === 0) return [];
    const steps: LinearityStep[] = points.slice(1).flatMap((to, i) => {
      const from = points[i] as LinearityPoint;
      if (to.entries === from.entries) return [];
      return [{ from: from.scenario, to: to.scenario, fromEntries: from.entries, toEntries: to.entries, cpuMsPerEntry: (to.cpuMsPerRequest - from.cpuMsPerRequest) / (to.entries - from.entries) }];
    });
    return [{ target, points, steps, fit: fitLine(points) }];
  });
}

/**
 * cpu = fixedMs + perEntryMs x entries by weighted least squares with weights 1/cpu²: relative
 * errors, so the 10-entry point counts as much as the 1,000-entry one (as on log-log axes).
 */
export function fitLine(points: readonly LinearityPoint[]): { fixedMs: number; perEntryMs: number } | null {
  if (new Set(points.map((p) => p.entries)).size < 2) return null;
  let sw = 0;
  let sx = 0;
  let sy = 0;
  let sxx = 0;
  let sxy = 0;
  for (const { entries: x, cpuMsPerRequest: y } of points) {
    const w = 1 / Math.max(1e-12, y * y);
    sw += w;
    sx += w * x;
    sy += w * y;
    sxx += w * x * x;
    sxy += w * x * y;
  }
  const perEntryMs = (sw * sxy - sx * sy) / (sw * sxx - sx * sx);
  return { fixedMs: (sy - perEntryMs * sx) / sw, perEntryMs };
}

/** The largest step over the smallest: 1 is perfectly linear; NaN unless every step is positive and there are two. */
export function stepRatio(linearity: Linearity | undefined): number {
  const steps = linearity?.steps.map((s) => s.cpuMsPerEntry) ?? [];
  if (steps.length < 2 || steps.some((s) => !(s > 0))) return Number.NaN;
  return Math.max(...steps) / Math.min(...steps);
}
