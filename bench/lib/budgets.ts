/**
 * The budgets of issue 21, judged on one run: the gateway's CPU per request (read from /proc, the
 * figure a shared machine's load disturbs least) against the bare passthrough measured in the same
 * run, with throughput and latency reported beside it; the in-process enforce stage; linear cost;
 * filtered paging; latency at a fixed rate; the export's memory. A result says by how much it is
 * met or missed.
 */
import { LINEARITY_SIZES, stepRatio } from './linearity.js';
import type { BenchRun, BudgetResult, LoadResult, ScenarioResult, TargetId } from './model.js';

export const BUDGETS = {
  /** Gateway CPU per read / the bare proxy's (scenario `read`). */
  readCpuVsBare: 3,
  /** p50 latency the gateway adds over the bare proxy, one client (scenario `read-1c`), ms. */
  readAddedP50Ms: 0.5,
  /** Gateway CPU per 100-entry search / the bare proxy's. */
  search100CpuVsBare: 2.5,
  /** The enforce stage of a 1,000-entry Bundle (in-process), CPU ms per principal. */
  bundle1000CpuMs: { clinician: 8, researcher: 12 },
  /** The larger incremental CPU per entry over the smaller, between consecutive search sizes. */
  linearityStepRatio: 1.5,
  /** Gateway CPU per request of the half-withheld search / of the plain 100-entry search. */
  halfWithheldCpuVsSearch100: 2,
  /** At the fixed rate: p99 / p50. */
  loadP99OverP50: 10,
  /** At the fixed rate: responses slower than this (ms) ... */
  loadTailMs: 100,
  /** ... at most this many. */
  loadTailCount: 0,
  ndjsonPeakRssMb: 200,
  ndjsonMinimumMb: 200,
} as const;

/** The fixed-rate run: at `rateFactor` x the rate at which the gateway would use `coreShare` of one core. */
export const LOAD = { coreShare: 0.5, rateFactor: 2, connections: 20 } as const;

/** R50: the reads per second at which `cpuMsPerRead` of CPU each use half of one core (500 / cpuMsPerRead). */
export function r50Of(cpuMsPerRead: number): number {
  return (1000 * LOAD.coreShare) / cpuMsPerRead;
}

const fixed = (v: number, digits = 2): string => (Number.isFinite(v) ? v.toFixed(digits) : 'n/a');
const int = (v: number): string => (Number.isFinite(v) ? Math.round(v).toLocaleString('en-US') : 'n/a');
const ms = (v: number | null | undefined, digits = 2): string => `${fixed(v ?? Number.NaN, digits)} ms`;
const us = (v: number): string => `${fixed(v * 1000, 1)} µs`;

export function evaluateBudgets(run: Omit<BenchRun, 'budgets'>): BudgetResult[] {
  const result = (scenario: string, target: TargetId): ScenarioResult | undefined => run.scenarios.find((r) => r.scenario === scenario && r.target === target);
  const ratio = (scenario: string, target: TargetId = 'gateway') => run.ratios.find((r) => r.scenario === scenario && r.target === target);
  const cpu = (scenario: string, target: TargetId): number => result(scenario, target)?.cpuMs.proxy ?? Number.NaN;
  const results: BudgetResult[] = [];

  // 1, 2: CPU per request against the bare proxy, throughput and latency beside it.
  const againstBare = (id: string, description: string, scenario: string, budget: number): BudgetResult => {
    const g = result(scenario, 'gateway');
    const b = result(scenario, 'bare');
    const value = cpu(scenario, 'gateway') / cpu(scenario, 'bare');
    const beside = g && b ? `throughput ${fixed(ratio(scenario)?.rpsVsBare ?? Number.NaN)}× bare (gateway ${int(g.rps)}, bare ${int(b.rps)} req/s); p50 gateway ${ms(g.latency.p50)}, bare ${ms(b.latency.p50)}` : null;
    return atMost(id, description, budget, value, (v) => `${fixed(v, 1)}× (gateway ${ms(g?.cpuMs.proxy)}, bare ${ms(b?.cpuMs.proxy)} CPU per request)`, '×', beside);
  };
  results.push(againstBare('read.cpu', 'Single read: gateway CPU per request / bare proxy', 'read', BUDGETS.readCpuVsBare));
  // Latency is judged with one client at a time (no queueing) when that was measured.
  const oneClient = ratio('read-1c') !== undefined;
  const latencyScenario = oneClient ? 'read-1c' : 'read';
  const lg = result(latencyScenario, 'gateway');
  const lb = result(latencyScenario, 'bare');
  results.push(
    atMost('read.latency', `${oneClient ? 'Single read, one client' : 'Single read'}: p50 latency added over the bare proxy`, BUDGETS.readAddedP50Ms, ratio(latencyScenario)?.addedP50VsBareMs, (v) => `${fixed(v, 3)} ms`, 'ms',
      lg && lb ? `p50 gateway ${ms(lg.latency.p50, 3)}, bare ${ms(lb.latency.p50, 3)}; p99 gateway ${ms(lg.latency.p99)}, bare ${ms(lb.latency.p99)}` : null),
  );
  results.push(againstBare('search-100.cpu', '100-entry search: gateway CPU per request / bare proxy', 'search-100', BUDGETS.search100CpuVsBare));

  // 3: the enforce stage of a 1,000-entry Bundle, in-process.
  for (const role of ['clinician', 'researcher'] as const) {
    const e = run.enforce.find((x) => x.role === role);
    results.push(
      atMost(`bundle-1000.cpu.${role}`, `1,000-entry Bundle, ${role}${role === 'researcher' ? ' (Safe Harbor)' : ''}: policy + redaction CPU`, BUDGETS.bundle1000CpuMs[role], e?.totalMs, (v) => `${fixed(v, 1)} ms`, 'ms',
        e ? `policy ${ms(e.policyMs)} + redaction and links ${ms(e.redactionMs)}; ${int(e.resourcesPerSecondPerCore)} resources/s/core` : null),
    );
  }

  // 4: linear cost, judged on the incremental CPU per entry between consecutive sizes.
  const gl = run.linearity.find((l) => l.target === 'gateway');
  const bl = run.linearity.find((l) => l.target === 'bare');
  const sizes = LINEARITY_SIZES.map((s) => s.entries.toLocaleString('en-US')).join(', ');
  const steps = (l: typeof gl): string => l?.steps.map((s) => `${us(s.cpuMsPerEntry)} (${s.fromEntries}→${s.toEntries})`).join(', ') ?? '';
  const linearity = atMost(`linearity.cpu`, `Linear cost, ${sizes}-entry searches: gateway incremental CPU per entry, largest step / smallest`, BUDGETS.linearityStepRatio, stepRatio(gl), (v) => `${fixed(v)}× (${steps(gl)} per entry)`, '×',
    gl ? [`plain CPU per entry ${gl.points.map((p) => `${us(p.cpuMsPerEntry)} (${p.entries})`).join(', ')}`, gl.fit ? `fit ${ms(gl.fit.fixedMs)} + ${us(gl.fit.perEntryMs)} per entry` : null, bl && bl.steps.length ? `bare proxy steps ${steps(bl)}` : null].filter((x) => x !== null).join('; ') : null);
  // Steps measured but one not positive: noise larger than the per-entry cost, not a verdict.
  results.push(gl && gl.steps.length >= 2 && !Number.isFinite(stepRatio(gl)) ? { ...linearity, measured: `steps ${steps(gl)} per entry: one is not positive`, margin: 'a step not above zero: noise larger than the per-entry cost' } : linearity);

  // 5: filtered paging, per released entry.
  const half = result('search-100-half-withheld', 'gateway');
  const plain = result('search-100', 'gateway');
  results.push(
    atMost('search-100-half-withheld.cpu', 'Filtered paging, half of the matches withheld: gateway CPU per request / the 100-entry search', BUDGETS.halfWithheldCpuVsSearch100, cpu('search-100-half-withheld', 'gateway') / cpu('search-100', 'gateway'),
      (v) => `${fixed(v)}× (${ms(half?.cpuMs.proxy)} against ${ms(plain?.cpuMs.proxy)})`, '×',
      half && plain ? `entries released ${half.entries ?? '?'} and ${plain.entries ?? '?'}; throughput ${int(half.rps)} and ${int(plain.rps)} req/s; p50 ${ms(half.latency.p50)} and ${ms(plain.latency.p50)}` : null),
  );

  // 6: latency at twice the rate at which the gateway would use half a core.
  const load = run.load.find((l) => l.target === 'gateway');
  const bareLoad = run.load.find((l) => l.target === 'bare');
  const rate = (l: LoadResult): string => `${int(l.rps)} req/s of ${int(l.targetRps)} asked (${LOAD.rateFactor} × R50 ${int(l.r50)}, from ${ms(l.basisCpuMsPerRead)} CPU per read), ${l.connections} connections, ${int(l.latency.count)} responses${l.failures ? `, ${l.failures} failed` : ''}`;
  const figures = (l: LoadResult): string => `p50 ${ms(l.latency.p50)}, p99 ${ms(l.latency.p99)}, max ${ms(l.latency.max, 1)}`;
  const loadBeside = load
    ? [rate(load), load.coreShare !== null ? `gateway used ${fixed(load.coreShare)} of a core` : null, load.rps < 0.95 * load.targetRps ? 'rate not reached: the clients wait for answers, so latency understates the queue' : null, bareLoad ? `bare proxy at the same rate: ${figures(bareLoad)}, ${bareLoad.over100Ms} over ${BUDGETS.loadTailMs} ms` : null].filter((x) => x !== null).join('; ')
    : null;
  results.push(atMost('load.p99', `Reads at ${LOAD.rateFactor} × R50 (the rate using ${LOAD.coreShare * 100} % of a core): gateway p99 / p50`, BUDGETS.loadP99OverP50, load ? load.latency.p99 / load.latency.p50 : undefined, (v) => `${fixed(v, 1)}× (${load ? figures(load) : ''})`, '×', loadBeside));
  const tail = atMost('load.tail', `Reads at ${LOAD.rateFactor} × R50: gateway responses over ${BUDGETS.loadTailMs} ms`, BUDGETS.loadTailCount, load?.over100Ms, (v) => `${int(v)} of ${int(load?.latency.count ?? Number.NaN)} (max ${ms(load?.latency.max, 1)})`, '', load ? `${load.failures} failed or timed out; ${figures(load)}` : null);
  // A failed or timed-out request is a tail that never arrived.
  if (load && load.failures > 0 && tail.pass) results.push({ ...tail, pass: false, missedBy: `${load.failures} requests failed or timed out`, margin: `${load.failures} requests failed or timed out` });
  else results.push(tail.pass ? { ...tail, margin: `none over ${BUDGETS.loadTailMs} ms` } : tail);

  // The largest peak of the gateway's complete exports (any principal).
  const bulk = run.bulk.filter((b) => b.target === 'gateway' && b.complete).sort((a, b) => (b.peakRssMb ?? 0) - (a.peakRssMb ?? 0))[0];
  if (!bulk) {
    results.push(notMeasured('ndjson.memory', 'NDJSON export: gateway peak RSS', `≤ ${BUDGETS.ndjsonPeakRssMb} MB`));
  } else {
    const mb = bulk.bytes / 1e6;
    const judged = atMost('ndjson.memory', `NDJSON export of ${fixed(mb, 0)} MB (${bulk.principal}): gateway peak RSS`, BUDGETS.ndjsonPeakRssMb, bulk.peakRssMb ?? Number.NaN, (v) => `${fixed(v, 0)} MB`, 'MB', `${fixed(bulk.mbPerSecond, 1)} MB/s; RSS each second ${bulk.rssTimelineMb.join(' ')}`.trim());
    // A small (quick) export says nothing about a large one: reported, not judged.
    results.push(mb < BUDGETS.ndjsonMinimumMb ? { ...judged, pass: null, missedBy: `export of ${fixed(mb, 0)} MB is below the ${BUDGETS.ndjsonMinimumMb} MB the budget is about`, margin: null } : judged);
  }
  return results;
}

function notMeasured(id: string, description: string, target: string): BudgetResult {
  return { id, description, target, measured: 'not measured', pass: null, missedBy: null, margin: null, beside: null };
}

/** `≤ 3×`, `≤ 0.5 ms`, `≤ 0`: a unit of one sign follows the number without a space. */
const withUnit = (v: string, unit: string): string => (unit === '' ? v : unit === '×' ? `${v}×` : `${v} ${unit}`);

function atMost(id: string, description: string, budget: number, value: number | undefined, show: (v: number) => string, unit: string, beside: string | null): BudgetResult {
  const target = `≤ ${withUnit(String(budget), unit)}`;
  if (value === undefined || !Number.isFinite(value)) return { ...notMeasured(id, description, target), beside };
  const pass = value <= budget;
  const percent = budget > 0 ? ` (${fixed((100 * Math.abs(value - budget)) / budget, 0)} % ${pass ? 'below' : 'above'})` : '';
  // A count (no unit) in whole numbers; a ratio's margin without the sign ("8.53 over", not "8.53× over", which reads as a factor).
  const margin = `${withUnit(fixed(Math.abs(value - budget), unit === '' ? 0 : 2), unit === '×' ? '' : unit)} ${pass ? 'under' : 'over'}${percent}`;
  return { id, description, target, measured: show(value), pass, missedBy: pass ? null : margin, margin, beside };
}
