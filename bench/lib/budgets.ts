/**
 * The budgets of issue 7, judged on one run: each against the bare passthrough (or the OPA
 * sidecar) measured in the same run, on this machine. A miss says by how much.
 */
import type { BenchRun, BudgetResult } from './model.js';

export const BUDGETS = {
  readThroughputVsBare: 0.8,
  readAddedP50Ms: 1,
  search100ThroughputVsBare: 0.7,
  bundle1000CpuMs: 20,
  decisionVsSidecar: 5,
  ndjsonPeakRssMb: 200,
  ndjsonMinimumMb: 200,
} as const;

const fixed = (v: number, digits = 2): string => (Number.isFinite(v) ? v.toFixed(digits) : 'n/a');

export function evaluateBudgets(run: Omit<BenchRun, 'budgets'>): BudgetResult[] {
  const ratio = (scenario: string) => run.ratios.find((r) => r.scenario === scenario && r.target === 'gateway');
  const results: BudgetResult[] = [];

  const read = ratio('read');
  results.push(atLeast('read.throughput', 'Single read: gateway throughput / bare proxy', BUDGETS.readThroughputVsBare, read?.rpsVsBare, (v) => `${fixed(v)} of bare`));
  // Latency is judged with one client at a time (no queueing) when that was measured.
  const latency = ratio('read-1c') ?? read;
  const latencyLabel = ratio('read-1c') ? 'Single read, one client' : 'Single read';
  results.push(atMost('read.latency', `${latencyLabel}: p50 latency added over the bare proxy`, BUDGETS.readAddedP50Ms, latency?.addedP50VsBareMs, (v) => `${fixed(v, 3)} ms`, 'ms'));
  results.push(atLeast('search-100.throughput', '100-entry search: gateway throughput / bare proxy', BUDGETS.search100ThroughputVsBare, ratio('search-100')?.rpsVsBare, (v) => `${fixed(v)} of bare`));

  for (const e of run.enforce) {
    results.push(
      atMost(
        `bundle-1000.cpu.${e.role}`,
        `1,000-entry Bundle, ${e.role}: policy + redaction CPU (${Math.round(e.resourcesPerSecondPerCore).toLocaleString('en-US')} resources/s/core)`,
        BUDGETS.bundle1000CpuMs,
        e.totalMs,
        (v) => `${fixed(v, 1)} ms`,
        'ms',
      ),
    );
  }
  for (const d of run.decisions) {
    results.push(atLeast(`decision.${d.kind}`, `Per-decision policy cost, ${d.kind}: OPA sidecar CPU / in-process CPU`, BUDGETS.decisionVsSidecar, d.cpuRatio, (v) => `${fixed(v, 1)}× lower`, '×'));
  }

  // The largest peak of the gateway's complete exports (any principal).
  const bulk = run.bulk.filter((b) => b.target === 'gateway' && b.complete).sort((a, b) => (b.peakRssMb ?? 0) - (a.peakRssMb ?? 0))[0];
  if (!bulk) {
    results.push({ id: 'ndjson.memory', description: 'NDJSON export: gateway peak RSS', target: `≤ ${BUDGETS.ndjsonPeakRssMb} MB`, measured: 'not measured', pass: null, missedBy: null });
  } else {
    const mb = bulk.bytes / 1e6;
    const judged = atMost('ndjson.memory', `NDJSON export of ${fixed(mb, 0)} MB (${bulk.principal}): gateway peak RSS`, BUDGETS.ndjsonPeakRssMb, bulk.peakRssMb ?? Number.NaN, (v) => `${fixed(v, 0)} MB`, 'MB');
    // A small (quick) export says nothing about a large one: reported, not judged.
    results.push(mb < BUDGETS.ndjsonMinimumMb ? { ...judged, pass: null, missedBy: `export of ${fixed(mb, 0)} MB is below the ${BUDGETS.ndjsonMinimumMb} MB the budget is about` } : judged);
  }
  return results;
}

function atLeast(id: string, description: string, budget: number, value: number | undefined, show: (v: number) => string, unit = ''): BudgetResult {
  const target = `≥ ${budget}${unit}`;
  if (value === undefined || !Number.isFinite(value)) return { id, description, target, measured: 'not measured', pass: null, missedBy: null };
  const pass = value >= budget;
  return { id, description, target, measured: show(value), pass, missedBy: pass ? null : `${fixed(budget - value)}${unit} short (${fixed((100 * (budget - value)) / budget, 0)} % below)` };
}

function atMost(id: string, description: string, budget: number, value: number | undefined, show: (v: number) => string, unit = ''): BudgetResult {
  const target = `≤ ${budget} ${unit}`.trim();
  if (value === undefined || !Number.isFinite(value)) return { id, description, target, measured: 'not measured', pass: null, missedBy: null };
  const pass = value <= budget;
  return { id, description, target, measured: show(value), pass, missedBy: pass ? null : `${fixed(value - budget)} ${unit} over (${fixed((100 * (value - budget)) / budget, 0)} % above)`.replace('  ', ' ') };
}
