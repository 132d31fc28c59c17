/**
 * The benchmark's pure parts: statistics, /proc parsing, aggregation of rounds into results and
 * ratios, budget judgement, and the report (Markdown, SVG, README section). `npm run bench` itself
 * is not part of `npm test`.
 */
import { describe, expect, test } from '@jest/globals';
import { aggregate, ratiosOf, scalingOf, type RawRound } from '../../bench/lib/aggregate.js';
import { BUDGETS, evaluateBudgets } from '../../bench/lib/budgets.js';
import type { BenchRun, ScenarioResult } from '../../bench/lib/model.js';
import { renderMarkdown, renderReadmeTable, renderSvg, withReadmeTable } from '../../bench/lib/report.js';
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
});

function runWith(over: Partial<BenchRun>): Omit<BenchRun, 'budgets'> {
  const scenarios: ScenarioResult[] = [
    aggregate('read', 'bare', [round(1, 1000, 1)]),
    aggregate('read', 'gateway', [round(1, 900, 1.5)]),
    aggregate('search-100', 'bare', [round(1, 100, 10)]),
    aggregate('search-100', 'gateway', [round(1, 60, 12)]),
  ];
  return {
    version: 1,
    startedAt: '2026-11-24T10:00:00.000Z',
    finishedAt: '2026-11-24T10:10:00.000Z',
    machine: { cpuModel: 'Test CPU', cores: 2, memoryGb: 8, node: 'v20.0.0', os: 'Linux', loadAverage: { start: 1, end: 2 } },
    conditions: { mode: 'full', rounds: 1, warmupSeconds: 1, durationSeconds: 10, connections: 10, patients: 10, observations: 40, bulkTargetMb: 220, notes: ['a note <with> markup'] },
    scenarios,
    ratios: ratiosOf(scenarios),
    bulk: [{ target: 'gateway', principal: 'svc', bytes: 250e6, lines: 300000, seconds: 10, complete: true, mbPerSecond: 25, cpuMsPerMb: { proxy: 40, sidecar: null, upstream: 10 }, peakRssMb: 150, rssTimelineMb: [120, 150] }],
    enforce: [{ role: 'researcher', entries: 1000, iterations: 10, policyMs: 9, redactionMs: 15, totalMs: 24, resourcesPerSecondPerCore: 41667, parseMs: 3, serializeMs: 2 }],
    decisions: [{ kind: 'request', iterations: { wasm: 10, sidecar: 10 }, wasmCpuUs: 20, sidecarCpuUs: 400, sidecarGatewayCpuUs: 150, wasmWallUs: 20, sidecarWallUs: 500, cpuRatio: 20, wallRatio: 25 }],
    scaling: [],
    connectionMemory: { connections: 100, baselineRssMb: 120, kbPerConnection: 8 },
    ...over,
  };
}

describe('budgets', () => {
  test('each budget is judged against its threshold, and a miss says by how much', () => {
    const budgets = evaluateBudgets(runWith({}));
    const byId = Object.fromEntries(budgets.map((b) => [b.id, b]));
    expect(byId['read.throughput']).toMatchObject({ pass: true, measured: '0.90 of bare' });
    expect(byId['read.latency']).toMatchObject({ pass: true });
    expect(byId['search-100.throughput']).toMatchObject({ pass: false, missedBy: '0.10 short (14 % below)' });
    expect(byId['bundle-1000.cpu.researcher']).toMatchObject({ pass: false, measured: '24.0 ms' });
    expect(byId['bundle-1000.cpu.researcher']!.missedBy).toContain('4.00 ms over');
    expect(byId['decision.request']).toMatchObject({ pass: true });
    expect(byId['ndjson.memory']).toMatchObject({ pass: true, measured: '150 MB' });
  });

  test('the read latency budget is 1 ms over the bare proxy', () => {
    const slow = runWith({});
    const scenarios = [aggregate('read', 'bare', [round(1, 1000, 1)]), aggregate('read', 'gateway', [round(1, 900, 1 + BUDGETS.readAddedP50Ms + 0.5)])];
    const budgets = evaluateBudgets({ ...slow, scenarios, ratios: ratiosOf(scenarios) });
    expect(budgets.find((b) => b.id === 'read.latency')).toMatchObject({ pass: false, measured: '1.500 ms' });
  });

  test('an export smaller than the budget is about is reported but not judged; a missing measurement is not a pass', () => {
    const small = evaluateBudgets(runWith({ bulk: [{ target: 'gateway', principal: 'svc', bytes: 20e6, lines: 1, seconds: 1, complete: true, mbPerSecond: 20, cpuMsPerMb: { proxy: 1, sidecar: null, upstream: 1 }, peakRssMb: 90, rssTimelineMb: [] }] }));
    expect(small.find((b) => b.id === 'ndjson.memory')).toMatchObject({ pass: null, measured: '90 MB' });
    const none = evaluateBudgets(runWith({ bulk: [], scenarios: [], ratios: [] }));
    expect(none.find((b) => b.id === 'ndjson.memory')!.pass).toBeNull();
    expect(none.find((b) => b.id === 'read.throughput')!.pass).toBeNull();
  });
});

describe('report', () => {
  const run: BenchRun = { ...runWith({}), budgets: evaluateBudgets(runWith({})) };

  test('the Markdown names the machine, the conditions, every budget and every measured row', () => {
    const md = renderMarkdown(run);
    expect(md).toContain('Test CPU, 2 cores');
    expect(md).toContain('Node v20.0.0');
    for (const b of run.budgets) expect(md).toContain(b.description);
    expect(md).toContain('**missed**: 0.10 short');
    expect(md).toMatch(/\| Search, 100 entries \| \(c\) gateway, in-process WASM \| 60 \|/);
    expect(md).toContain('8.0 KB each');
  });

  test('the SVG is one well-formed document with a bar per measured target and escaped text', () => {
    const svg = renderSvg(run);
    expect(svg.startsWith('<svg ')).toBe(true);
    expect(svg.trim().endsWith('</svg>')).toBe(true);
    // 2 scenarios x 2 targets in each of the two panels, plus the legend swatches and background
    expect((svg.match(/<rect [^>]*fill="#2e7d32"/g) ?? []).length).toBe(2 * 2 + 1);
    expect(svg).not.toMatch(/<(?!\/?(svg|rect|text|line|title)\b)/);
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
