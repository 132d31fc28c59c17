/**
 * The benchmark's pure parts: statistics, /proc parsing, aggregation of rounds into results and
 * ratios, budget judgement, and the report (Markdown, SVG, README section). `npm run bench` itself
 * is not part of `npm test`.
 */
import { describe, expect, test } from '@jest/globals';
import { aggregate, floorOf, ratiosOf, scalingOf, type RawRound } from '../../bench/lib/aggregate.js';
import { evaluateBudgets, r50Of } from '../../bench/lib/budgets.js';
import { linearityOf } from '../../bench/lib/linearity.js';
import type { BenchRun, LoadResult, ScenarioResult } from '../../bench/lib/model.js';
import { renderLinearitySvg, renderMarkdown, renderReadmeTable, renderSvg, withReadmeTable } from '../../bench/lib/report.js';
import { cpuTicksFromStat, median, memoryFromStatus, percentile, summarizeLatencies } from '../../bench/lib/stats.js';

describe('statistics', () => {
  test('nearest-rank percentiles', () => {
    const sorted = Array.from({ length: 100 }, (_, i) => i + 1);
    expect(percentile(sorted, 50)).toBe(50);
    expect(percentile(sorted, 90)).toBe(90);
    expect(percentile(sorted, 99)).toBe(99);
    expect(percentile([7], 99)).toBe(7);
    expect(percentile([], 50)).toBeNaN();
  });

  test('latency summary sorts its samples', () => {
    const s = summarizeLatencies([3, 1, 2, 10]);
    expect(s).toMatchObject({ p50: 2, p99: 10, count: 4, mean: 4 });
  });

  test('median of odd and even counts, ignoring non-finite values', () => {
    expect(median([5, 1, 3])).toBe(3);
    expect(median([4, 1, 3, 2])).toBe(2.5);
    expect(median([Number.NaN, 2])).toBe(2);
    expect(median([])).toBeNaN();
  });

  test('CPU ticks from /proc/<pid>/stat, even with spaces and parentheses in the command name', () => {
    const stat = '4242 (node (bench) x) S 1 4242 4242 0 -1 4194560 100 0 0 0 1234 56 0 0 20 0 11 0 100 1000000 5000 18446744073709551615';
    expect(cpuTicksFromStat(stat)).toBe(1234 + 56);
    expect(() => cpuTicksFromStat('garbage')).toThrow();
  });

  test('RSS and its peak from /proc/<pid>/status', () => {
    const status = 'Name:\tnode\nVmPeak:\t 900000 kB\nVmHWM:\t  204800 kB\nVmRSS:\t  102400 kB\nThreads:\t11\n';
    expect(memoryFromStatus(status)).toEqual({ rssKb: 102400, hwmKb: 204800 });
  });
});

const round = (n: number, rps: number, p50: number, extra: Partial<RawRound> = {}): RawRound => ({
  round: n,
  requests: rps * 10,
  failures: 0,
  seconds: 10,
  rps,
  latency: { p50, p90: p50 * 2, p99: p50 * 3, mean: p50, count: rps * 10 },
  cpuMs: { proxy: 1, sidecar: null, upstream: 0.5 },
  peakRssMb: 100 + n,
  samples: [p50, p50, p50 * 2],
  cpuTotalMs: { proxy: rps * 10, sidecar: null, upstream: rps * 5 },
  ...extra,
});

describe('aggregation and ratios', () => {
  const bare = aggregate('read', 'bare', [round(1, 1000, 1), round(2, 500, 1.2), round(3, 1000, 1)]);
  // CPU per request differs by round (1, 2 and 3 ms): pooling over all requests (38000 ms / 19500
  // requests) gives 1.949, the median or mean of the rounds' ratios 2, so the test tells them apart.
  const gatewayCpu = (rps: number, perRequestMs: number) => ({ cpuTotalMs: { proxy: rps * 10 * perRequestMs, sidecar: null, upstream: rps * 5 } });
  const gateway = aggregate('read', 'gateway', [round(1, 800, 1.5, gatewayCpu(800, 1)), round(2, 450, 1.9, gatewayCpu(450, 2)), round(3, 700, 1.4, gatewayCpu(700, 3))]);
  const direct = aggregate('read', 'direct', [round(1, 2000, 0.5, { peakRssMb: null, cpuTotalMs: { proxy: null, sidecar: null, upstream: 1 } })]);

  test('a result is the median of its rounds, with pooled samples and CPU over all requests', () => {
    expect(bare.rps).toBe(1000);
    expect(gateway.latency.count).toBe(9);
    expect(gateway.cpuMs.proxy).toBeCloseTo((8000 * 1 + 4500 * 2 + 7000 * 3) / (8000 + 4500 + 7000), 6);
    expect(gateway.cpuMs.proxy).not.toBeCloseTo(2, 2);
    expect(gateway.peakRssMb).toBe(103);
    expect(direct.cpuMs.proxy).toBeNull();
    expect(direct.peakRssMb).toBeNull();
    expect(JSON.stringify(gateway)).not.toContain('samples');
  });

  test('ratios pair rounds of the same number, so a slow round slows both sides', () => {
    const [r] = ratiosOf([bare, gateway, direct]).filter((x) => x.target === 'gateway');
    // per round: 0.8, 0.9, 0.7 -> median 0.8 (the medians of the results would give 0.7)
    expect(r!.rpsVsBare).toBeCloseTo(0.8);
    expect(r!.addedP50VsBareMs).toBeCloseTo(0.5);
    // direct was measured in round 1 only
    expect(r!.rpsVsDirect).toBeCloseTo(0.4);
  });

  test('scaling compares the two-process gateway with the one-process gateway', () => {
    const two = aggregate('read', 'gateway-2p', [round(1, 1200, 1), round(2, 900, 1), round(3, 1400, 1)]);
    const [s] = scalingOf([gateway, two]);
    expect(s!.ratio).toBeCloseTo(2);
    expect(s).toMatchObject({ oneProcessRps: 700, twoProcessRps: 1200 });
  });

  test('the stack floor sets bare proxy, express + http-proxy-middleware and gateway side by side, round by round', () => {
    const cpu = (rps: number, perRequestMs: number) => ({ cpuMs: { proxy: perRequestMs, sidecar: null, upstream: 0.5 }, cpuTotalMs: { proxy: rps * 10 * perRequestMs, sidecar: null, upstream: rps * 5 } });
    const b = aggregate('read', 'bare', [round(1, 1000, 1, cpu(1000, 0.1)), round(2, 1000, 1, cpu(1000, 0.2)), round(3, 1000, 1, cpu(1000, 0.1))]);
    const stack = aggregate('read', 'stack', [round(1, 1000, 1, cpu(1000, 0.3)), round(2, 1000, 1, cpu(1000, 0.4)), round(3, 1000, 1, cpu(1000, 0.2))]);
    const g = aggregate('read', 'gateway', [round(1, 1000, 1, cpu(1000, 0.9)), round(2, 1000, 1, cpu(1000, 1.6)), round(3, 1000, 1, cpu(1000, 0.8))]);
    const [f] = floorOf([b, stack, g]);
    // per round: floor/bare 3, 2, 2 -> 2; gateway/bare 9, 8, 8 -> 8; gateway/floor 3, 4, 4 -> 4
    expect(f).toMatchObject({ scenario: 'read', stackVsBare: 2, gatewayVsBare: 8, gatewayVsStack: 4 });
    expect(f!.stackCpuMs).toBeCloseTo(0.3);
    expect(floorOf([b, g])).toEqual([]);
  });
});

/** A round whose proxy used `cpuMsPerRequest` of CPU per request. */
const cpuRound = (n: number, rps: number, p50: number, cpuMsPerRequest: number): RawRound => round(n, rps, p50, { cpuTotalMs: { proxy: rps * 10 * cpuMsPerRequest, sidecar: null, upstream: rps * 5 } });

const loadResult = (over: Partial<LoadResult> = {}): LoadResult => ({
  target: 'gateway',
  scenario: 'read',
  basisCpuMsPerRead: 0.5,
  r50: 1000,
  targetRps: 2000,
  connections: 20,
  seconds: 10,
  requests: 20000,
  failures: 0,
  rps: 1990,
  latency: { p50: 2, p99: 15, max: 120, count: 20000 },
  over100Ms: 3,
  cpuMsPerRequest: 0.5,
  coreShare: 0.99,
  ...over,
});

function runWith(over: Partial<BenchRun>): Omit<BenchRun, 'budgets'> {
  const scenarios: ScenarioResult[] = [
    aggregate('read', 'bare', [cpuRound(1, 1000, 1, 0.2)], 1),
    aggregate('read', 'gateway', [cpuRound(1, 900, 1.5, 0.5)], 1),
    aggregate('read-1c', 'bare', [round(1, 300, 0.3)], 1),
    aggregate('read-1c', 'gateway', [round(1, 200, 0.9)], 1),
    aggregate('search-10', 'gateway', [cpuRound(1, 300, 3, 0.6)], 10),
    aggregate('search-100', 'bare', [cpuRound(1, 100, 10, 0.5)], 100),
    aggregate('search-100', 'gateway', [cpuRound(1, 60, 12, 1.5)], 100),
    aggregate('search-100-half-withheld', 'gateway', [cpuRound(1, 40, 20, 2.7)], 100),
    aggregate('search-1000', 'gateway', [cpuRound(1, 10, 100, 10.5)], 1000),
  ];
  return {
    version: 2,
    startedAt: '2026-11-24T10:00:00.000Z',
    finishedAt: '2026-11-24T10:10:00.000Z',
    machine: { cpuModel: 'Test CPU', cores: 2, memoryGb: 8, node: 'v20.0.0', os: 'Linux', loadAverage: { start: 1, end: 2 } },
    conditions: { mode: 'full', rounds: 1, warmupSeconds: 1, durationSeconds: 10, connections: 10, patients: 10, observations: 40, bulkTargetMb: 220, notes: ['a note <with> markup'] },
    scenarios,
    ratios: ratiosOf(scenarios),
    bulk: [{ target: 'gateway', principal: 'svc', bytes: 250e6, lines: 300000, seconds: 10, complete: true, mbPerSecond: 25, cpuMsPerMb: { proxy: 40, sidecar: null, upstream: 10 }, peakRssMb: 150, rssTimelineMb: [120, 150] }],
    enforce: [
      { role: 'clinician', entries: 1000, iterations: 10, policyMs: 5, redactionMs: 2, totalMs: 7, resourcesPerSecondPerCore: 142857, parseMs: 3, serializeMs: 2 },
      { role: 'researcher', entries: 1000, iterations: 10, policyMs: 9, redactionMs: 15, totalMs: 24, resourcesPerSecondPerCore: 41667, parseMs: 3, serializeMs: 2 },
    ],
    decisions: [{ kind: 'request', iterations: { wasm: 10, sidecar: 10 }, wasmCpuUs: 20, sidecarCpuUs: 400, sidecarGatewayCpuUs: 150, wasmWallUs: 20, sidecarWallUs: 500, cpuRatio: 20, wallRatio: 25 }],
    scaling: [],
    connectionMemory: { connections: 100, baselineRssMb: 120, kbPerConnection: 8 },
    linearity: linearityOf(scenarios),
    load: [loadResult()],
    ...over,
  };
}

const ISSUE_21_BUDGETS = ['read.cpu', 'read.latency', 'search-100.cpu', 'bundle-1000.cpu.clinician', 'bundle-1000.cpu.researcher', 'linearity.cpu', 'search-100-half-withheld.cpu', 'load.p99', 'load.tail', 'ndjson.memory'];

describe('budgets', () => {
  test('each budget of issue 21 is judged against its threshold, with the margin either way', () => {
    const budgets = evaluateBudgets(runWith({}));
    expect(budgets.map((b) => b.id)).toEqual(ISSUE_21_BUDGETS);
    const byId = Object.fromEntries(budgets.map((b) => [b.id, b]));
    expect(byId['read.cpu']).toMatchObject({ pass: true, target: '≤ 3×', margin: '0.50 under (17 % below)' });
    expect(byId['read.cpu']!.measured).toBe('2.5× (gateway 0.50 ms, bare 0.20 ms CPU per request)');
    // Throughput and latency are reported beside the CPU ratio.
    expect(byId['read.cpu']!.beside).toBe('throughput 0.90× bare (gateway 900, bare 1,000 req/s); p50 gateway 1.50 ms, bare 1.00 ms');
    expect(byId['read.latency']).toMatchObject({ pass: false, target: '≤ 0.5 ms', measured: '0.600 ms', missedBy: '0.10 ms over (20 % above)' });
    expect(byId['read.latency']!.description).toContain('one client');
    expect(byId['search-100.cpu']).toMatchObject({ pass: false, target: '≤ 2.5×', missedBy: '0.50 over (20 % above)' });
    expect(byId['bundle-1000.cpu.clinician']).toMatchObject({ pass: true, target: '≤ 8 ms', measured: '7.0 ms' });
    expect(byId['bundle-1000.cpu.researcher']).toMatchObject({ pass: false, target: '≤ 12 ms', measured: '24.0 ms', missedBy: '12.00 ms over (100 % above)' });
    expect(byId['search-100-half-withheld.cpu']).toMatchObject({ pass: true, target: '≤ 2×', margin: '0.20 under (10 % below)' });
    expect(byId['search-100-half-withheld.cpu']!.beside).toContain('entries released 100 and 100');
    expect(byId['load.p99']).toMatchObject({ pass: true, target: '≤ 10×', measured: '7.5× (p50 2.00 ms, p99 15.00 ms, max 120.0 ms)' });
    expect(byId['load.p99']!.beside).toContain('1,990 req/s of 2,000 asked (2 × R50 1,000, from 0.50 ms CPU per read)');
    expect(byId['load.tail']).toMatchObject({ pass: false, target: '≤ 0', measured: '3 of 20,000 (max 120.0 ms)', missedBy: '3 over' });
    expect(byId['ndjson.memory']).toMatchObject({ pass: true, measured: '150 MB' });
  });

  test('linear cost is judged on the incremental CPU per entry, not on the plain per-entry figure', () => {
    // 0.6, 1.5 and 10.5 ms for 10, 100 and 1,000 entries: 10 µs per entry in both steps, although
    // the plain figures are 60, 15 and 10.5 µs per entry.
    const run = runWith({});
    const [gateway] = run.linearity;
    expect(gateway!.steps.map((s) => s.cpuMsPerEntry)).toEqual([expect.closeTo(0.01, 9), expect.closeTo(0.01, 9)]);
    expect(gateway!.points.map((p) => p.cpuMsPerEntry)).toEqual([expect.closeTo(0.06, 9), expect.closeTo(0.015, 9), expect.closeTo(0.0105, 9)]);
    expect(gateway!.fit!.fixedMs).toBeCloseTo(0.5, 6);
    expect(gateway!.fit!.perEntryMs).toBeCloseTo(0.01, 6);
    const linear = evaluateBudgets(run).find((b) => b.id === 'linearity.cpu')!;
    expect(linear).toMatchObject({ pass: true, measured: '1.00× (10.0 µs (10→100), 10.0 µs (100→1000) per entry)' });
    expect(linear.beside).toContain('plain CPU per entry 60.0 µs (10), 15.0 µs (100), 10.5 µs (1000)');
    // A super-linear step: 1,000 entries cost 25 µs each beyond the first 100.
    const scenarios = run.scenarios.map((r) => (r.scenario === 'search-1000' ? aggregate('search-1000', 'gateway', [cpuRound(1, 10, 100, 24)], 1000) : r));
    const steep = evaluateBudgets({ ...run, scenarios, linearity: linearityOf(scenarios) }).find((b) => b.id === 'linearity.cpu')!;
    expect(steep).toMatchObject({ pass: false, measured: '2.50× (10.0 µs (10→100), 25.0 µs (100→1000) per entry)', missedBy: '1.00 over (67 % above)' });
    // A step not above zero is noise, not a verdict.
    const flat = run.scenarios.map((r) => (r.scenario === 'search-100' && r.target === 'gateway' ? aggregate('search-100', 'gateway', [cpuRound(1, 60, 12, 0.5)], 100) : r));
    expect(evaluateBudgets({ ...run, scenarios: flat, linearity: linearityOf(flat) }).find((b) => b.id === 'linearity.cpu')!.pass).toBeNull();
  });

  test('the answer counted before the rounds gives the entries; the nominal size stands in when it was not counted', () => {
    const scenarios = [aggregate('search-10', 'bare', [cpuRound(1, 100, 1, 0.2)]), aggregate('search-100', 'bare', [cpuRound(1, 100, 1, 0.4)], 80)];
    const [bare] = linearityOf(scenarios, ['bare']);
    expect(bare!.points.map((p) => p.entries)).toEqual([10, 80]);
    expect(bare!.steps[0]!.cpuMsPerEntry).toBeCloseTo(0.2 / 70, 9);
    expect(linearityOf([], ['bare'])).toEqual([]);
  });

  test('the fixed-rate run: R50 is 500 / CPU ms per read; a failed request is a missed tail', () => {
    expect(r50Of(1.25)).toBe(400);
    const failing = evaluateBudgets(runWith({ load: [loadResult({ over100Ms: 0, failures: 2, latency: { p50: 2, p99: 30, max: 90, count: 19998 } })] }));
    expect(failing.find((b) => b.id === 'load.p99')).toMatchObject({ pass: false, missedBy: '5.00 over (50 % above)' });
    expect(failing.find((b) => b.id === 'load.tail')).toMatchObject({ pass: false, missedBy: '2 requests failed or timed out' });
    const clean = evaluateBudgets(runWith({ load: [loadResult({ over100Ms: 0, rps: 1500 })] }));
    expect(clean.find((b) => b.id === 'load.tail')).toMatchObject({ pass: true, margin: 'none over 100 ms' });
    expect(clean.find((b) => b.id === 'load.p99')!.beside).toContain('rate not reached');
  });

  test('an export smaller than the budget is about is reported but not judged; a missing measurement is not a pass', () => {
    const small = evaluateBudgets(runWith({ bulk: [{ target: 'gateway', principal: 'svc', bytes: 20e6, lines: 1, seconds: 1, complete: true, mbPerSecond: 20, cpuMsPerMb: { proxy: 1, sidecar: null, upstream: 1 }, peakRssMb: 90, rssTimelineMb: [] }] }));
    expect(small.find((b) => b.id === 'ndjson.memory')).toMatchObject({ pass: null, measured: '90 MB' });
    const none = evaluateBudgets(runWith({ bulk: [], scenarios: [], ratios: [], enforce: [], linearity: [], load: [] }));
    // Every budget is listed, each with its target, as "not measured".
    expect(none.map((b) => b.id)).toEqual(ISSUE_21_BUDGETS);
    for (const b of none) expect(b).toMatchObject({ pass: null, measured: 'not measured', target: expect.stringMatching(/^≤ /) });
  });
});

describe('report', () => {
  const run: BenchRun = { ...runWith({}), budgets: evaluateBudgets(runWith({})) };

  test('the Markdown names the machine, the conditions, every budget and every measured row', () => {
    const md = renderMarkdown(run);
    expect(md).toContain('Test CPU, 2 cores');
    expect(md).toContain('Node v20.0.0');
    for (const b of run.budgets) expect(md).toContain(b.description);
    expect(md).toContain('| Budget | Target | Measured | Result | Beside it |');
    expect(md).toContain('| ≤ 3× | 2.5× (gateway 0.50 ms, bare 0.20 ms CPU per request) | **met**: 0.50 under (17 % below) | throughput 0.90× bare');
    expect(md).toContain('**missed**: 0.10 ms over (20 % above)');
    expect(md).toMatch(/\| Search, 100 entries \| \(c\) gateway, in-process WASM \| 60 \|/);
    expect(md).toContain('8.0 KB each');
    // The linearity table and plot, and the fixed-rate run.
    expect(md).toContain('| (c) gateway, in-process WASM | Search, 1,000 entries | 1,000 | 10.50 | 10.5 | 10.0 |');
    expect(md).toContain('fitted 0.500 ms per request + 10.00 µs per entry');
    expect(md).toContain('![CPU per request against entries](2026-11-24-linearity.svg)');
    expect(md).toContain('| p99 / p50 | Over 100 ms | CPU ms/req | Share of a core |');
    expect(md).toContain('| (c) gateway, in-process WASM | 2,000 | 1,990 | 20 | 20,000 | 0 | 2.00 | 15.00 | 120.0 | 7.5 | 3 | 0.50 | 0.99 |');
    // A quick run's files are named so, and the report links them.
    const quick = renderMarkdown(run, '2026-11-24-quick');
    expect(quick).toContain('](2026-11-24-quick-linearity.svg)');
    expect(quick).toContain('](2026-11-24-quick.svg)');
    const none = renderMarkdown({ ...run, linearity: [], load: [] });
    expect(none).toContain('Not measured in this run (it needs the search-10');
    expect(none).toContain("Not measured in this run (it needs the gateway's CPU per read");
  });

  test('the SVG is one well-formed document with a bar per measured target and escaped text', () => {
    const svg = renderSvg(run);
    expect(svg.startsWith('<svg ')).toBe(true);
    expect(svg.trim().endsWith('</svg>')).toBe(true);
    // the gateway: a bar in each of 3 scenarios with a bare proxy (throughput relative to it) and
    // of all 6 scenarios (p50), plus the legend swatch
    expect((svg.match(/<rect [^>]*fill="#2e7d32"/g) ?? []).length).toBe(3 + 6 + 1);
    expect(svg).not.toMatch(/<(?!\/?(svg|rect|text|line|title)\b)/);
  });

  test('the linearity plot: a point per measured size, the fitted line, log-log axes, and a note when not measured', () => {
    const svg = renderLinearitySvg(run);
    expect(svg.startsWith('<svg ')).toBe(true);
    expect(svg.trim().endsWith('</svg>')).toBe(true);
    // the gateway's three sizes and its legend mark
    expect((svg.match(/<circle [^>]*fill="#2e7d32"/g) ?? []).length).toBe(3 + 1);
    expect(svg).toMatch(/<polyline points="[^"]+" fill="none" stroke="#2e7d32"/);
    // decades for 10 to 1,000 entries; 1, 2 and 5 times the powers of ten for 0.5 to 10.5 ms (less than two decades)
    for (const tick of ['>10<', '>100<', '>1,000<', '>0.5<', '>2<', '>5<']) expect(svg).toContain(tick);
    expect(svg).toContain('fit: 0.500 ms + 10.00 µs/entry');
    expect(svg).not.toMatch(/<(?!\/?(svg|rect|text|line|title|circle|polyline)\b)/);
    expect(renderLinearitySvg({ ...run, linearity: [] })).toContain('Not measured in this run');
  });

  test('the README section is replaced between its markers, and added once when missing', () => {
    const table = renderReadmeTable(run);
    expect(table).toContain('| Single read (Patient) |');
    expect(table).toContain('(0.90× bare)');
    const first = withReadmeTable('# Title\n\ntext\n', table);
    expect(first).toContain('<!-- bench:start -->');
    expect(table).toContain('| NDJSON export (250 MB), svc | – | – | 25 MB/s, peak RSS 150 MB | – |');
    const silent = aggregate('read', 'gateway-opa', [round(1, 0, 1, { samples: [] })]);
    expect(renderReadmeTable({ ...run, scenarios: [...run.scenarios, silent] })).toContain('no answer within the measured windows');
    const again = withReadmeTable(first.replace('0.90× bare', 'old'), table);
    expect(again.match(/bench:start/g)).toHaveLength(1);
    expect(again).toContain('0.90× bare');
    expect(again.startsWith('# Title\n\ntext\n')).toBe(true);
  });
});
