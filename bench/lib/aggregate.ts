/** From rounds to results: pooled latencies, medians of rounds, and ratios between targets measured side by side. */
import type { CpuPerRequest, Floor, Ratio, RoundMeasurement, ScenarioResult, Scaling, TargetId } from './model.js';
import { median, summarizeLatencies } from './stats.js';

/** A round with its raw latency samples (the samples are pooled, not written to the results). */
export interface RawRound extends RoundMeasurement {
  readonly samples: readonly number[];
  /** CPU milliseconds used over the round (per request figures are derived from these). */
  readonly cpuTotalMs: { readonly proxy: number | null; readonly sidecar: number | null; readonly upstream: number };
}

/** `entries`: how many entries the target's answer holds, when counted (see ScenarioResult). */
export function aggregate(scenario: string, target: TargetId, rounds: readonly RawRound[], entries: number | null = null): ScenarioResult {
  const requests = rounds.reduce((n, r) => n + r.requests, 0);
  const perRequest = (pick: (r: RawRound) => number | null): number | null => {
    const values = rounds.map(pick);
    if (values.some((v) => v === null)) return null;
    return requests > 0 ? (values as number[]).reduce((a, b) => a + b, 0) / requests : Number.NaN;
  };
  const cpuMs: CpuPerRequest = {
    proxy: perRequest((r) => r.cpuTotalMs.proxy),
    sidecar: perRequest((r) => r.cpuTotalMs.sidecar),
    upstream: perRequest((r) => r.cpuTotalMs.upstream) as number,
  };
  const peaks = rounds.map((r) => r.peakRssMb).filter((v): v is number => v !== null);
  return {
    scenario,
    target,
    rounds: rounds.map(({ samples: _samples, cpuTotalMs: _cpu, ...round }) => round),
    rps: median(rounds.map((r) => r.rps)),
    latency: summarizeLatencies(rounds.flatMap((r) => r.samples)),
    cpuMs,
    peakRssMb: peaks.length > 0 ? Math.max(...peaks) : null,
    failures: rounds.reduce((n, r) => n + r.failures, 0),
    entries,
  };
}

/** The median over rounds of f(this target's round, the reference's round of the same number). */
function pairedMedian(a: ScenarioResult, b: ScenarioResult | undefined, f: (x: RoundMeasurement, y: RoundMeasurement) => number): number {
  if (!b) return Number.NaN;
  const values = a.rounds.flatMap((x) => {
    const y = b.rounds.find((r) => r.round === x.round);
    return y ? [f(x, y)] : [];
  });
  return median(values);
}

export function ratiosOf(results: readonly ScenarioResult[]): Ratio[] {
  return results.map((r) => {
    const bare = results.find((x) => x.scenario === r.scenario && x.target === 'bare');
    const direct = results.find((x) => x.scenario === r.scenario && x.target === 'direct');
    return {
      scenario: r.scenario,
      target: r.target,
      rpsVsBare: pairedMedian(r, bare, (x, y) => x.rps / y.rps),
      rpsVsDirect: pairedMedian(r, direct, (x, y) => x.rps / y.rps),
      addedP50VsBareMs: pairedMedian(r, bare, (x, y) => x.latency.p50 - y.latency.p50),
      addedP50VsDirectMs: pairedMedian(r, direct, (x, y) => x.latency.p50 - y.latency.p50),
    };
  });
}

export function scalingOf(results: readonly ScenarioResult[]): Scaling[] {
  return results
    .filter((r) => r.target === 'gateway-2p')
    .flatMap((two) => {
      const one = results.find((x) => x.scenario === two.scenario && x.target === 'gateway');
      if (!one) return [];
      return [{
        scenario: two.scenario,
        oneProcessRps: one.rps,
        twoProcessRps: two.rps,
        ratio: pairedMedian(two, one, (x, y) => x.rps / y.rps),
        oneProcessCpuMs: one.cpuMs.proxy ?? Number.NaN,
        twoProcessCpuMs: two.cpuMs.proxy ?? Number.NaN,
      }];
    });
}

export function floorOf(results: readonly ScenarioResult[]): Floor[] {
  return [...new Set(results.map((r) => r.scenario))].flatMap((scenario) => {
    const [bare, stack, gateway] = (['bare', 'stack', 'gateway'] as const).map((t) => results.find((r) => r.scenario === scenario && r.target === t));
    if (!bare || !stack || !gateway) return [];
    const cpu = (x: RoundMeasurement): number => x.cpuMs.proxy ?? Number.NaN;
    return [{
      scenario,
      bareCpuMs: bare.cpuMs.proxy ?? Number.NaN,
      stackCpuMs: stack.cpuMs.proxy ?? Number.NaN,
      gatewayCpuMs: gateway.cpuMs.proxy ?? Number.NaN,
      stackVsBare: pairedMedian(stack, bare, (x, y) => cpu(x) / cpu(y)),
      gatewayVsBare: pairedMedian(gateway, bare, (x, y) => cpu(x) / cpu(y)),
      gatewayVsStack: pairedMedian(gateway, stack, (x, y) => cpu(x) / cpu(y)),
    }];
  });
}
