/**
 * A run as people read it: a Markdown report, an SVG chart (written by hand: a few rectangles do
 * not need a charting library) and the table the README shows. Pure functions of the results.
 */
import { BUDGETS, LOAD } from './budgets.js';
import type { BenchRun, BudgetResult, Linearity, ScenarioResult, TargetId } from './model.js';
import { TARGET_LABELS } from './model.js';
import { scenarioLabel } from './scenarios.js';

const num = (v: number | null | undefined, digits = 1): string => (v === null || v === undefined || !Number.isFinite(v) ? '–' : v.toFixed(digits));
const int = (v: number): string => (Number.isFinite(v) ? Math.round(v).toLocaleString('en-US') : '–');
const verdict = (pass: boolean | null): string => (pass === null ? 'not judged' : pass ? '**met**' : '**missed**');
/** The result cell: met or missed with the margin, or why it was not judged. */
const resultCell = (b: BudgetResult): string => `${verdict(b.pass)}${b.pass === null ? (b.missedBy ? `: ${b.missedBy}` : b.margin ? `: ${b.margin}` : '') : b.margin ? `: ${b.margin}` : ''}`;

/** Every budget: target, measured, result, and the figures reported beside it. */
export function budgetTable(budgets: readonly BudgetResult[]): string {
  return ['| Budget | Target | Measured | Result | Beside it |', '| --- | --- | --- | --- | --- |', ...budgets.map((b) => `| ${b.description} | ${b.target} | ${b.measured} | ${resultCell(b)} | ${b.beside ?? ''} |`)].join('\n');
}

/** The linearity plot's file name beside the report's `<name>.md`. */
export const linearitySvgName = (name: string): string => `${name}-linearity.svg`;

export function machineLine(run: BenchRun): string {
  const m = run.machine;
  return `${m.cpuModel}, ${m.cores} cores, ${num(m.memoryGb, 0)} GB, ${m.os}, Node ${m.node}; load average ${num(m.loadAverage.start, 2)} at start, ${num(m.loadAverage.end, 2)} at end`;
}

export function conditionsLine(run: BenchRun): string {
  const c = run.conditions;
  return `${c.mode} run: ${c.rounds} round(s) per scenario and target, targets interleaved within each round; ${c.warmupSeconds} s warm-up + ${c.durationSeconds} s measured, ${c.connections} connections (autocannon, separate process); ${c.patients} patients, ${c.observations} Observations`;
}

/** `name`: the report's base name (`<date>` or `<date>-quick`), which the chart and plot files share. */
export function renderMarkdown(run: BenchRun, name = run.startedAt.slice(0, 10)): string {
  const lines: string[] = [];
  lines.push(`# Benchmark ${run.startedAt.slice(0, 10)}`, '');
  lines.push(`- Machine: ${machineLine(run)}`);
  lines.push(`- Conditions: ${conditionsLine(run)}`);
  for (const note of run.conditions.notes) lines.push(`- ${note}`);
  lines.push('', '## Budgets of issue 21 (CPU per request from /proc; ratios measured side by side in this run)', '');
  lines.push(budgetTable(run.budgets));

  lines.push('', '## Throughput and latency', '');
  lines.push(scenarioTable(run));
  lines.push('', 'CPU is read from `/proc/<pid>/stat` of each process (all threads), per 2xx answer. "proxy" is the bare proxy or the gateway; "sidecar" the OPA server. Peak RSS is the proxy process\'s VmHWM over the round.');

  lines.push('', '## Linear cost: CPU per request against entries', '');
  if (run.linearity.length === 0) lines.push('Not measured in this run (it needs the search-10, search-100 and search-1000 scenarios).');
  else {
    lines.push('| Target | Scenario | Entries | CPU ms/req | Plain CPU µs/entry | Incremental CPU µs/entry from the previous size |', '| --- | --- | ---: | ---: | ---: | ---: |');
    for (const l of run.linearity) {
      l.points.forEach((p, i) => {
        const step = i === 0 ? undefined : l.steps.find((s) => s.to === p.scenario);
        lines.push(`| ${TARGET_LABELS[l.target]} | ${scenarioLabel(p.scenario)} | ${int(p.entries)} | ${num(p.cpuMsPerRequest, 2)} | ${num(p.cpuMsPerEntry * 1000, 1)} | ${step ? num(step.cpuMsPerEntry * 1000, 1) : '–'} |`);
      });
    }
    lines.push('');
    for (const l of run.linearity) if (l.fit) lines.push(`- ${TARGET_LABELS[l.target]}: fitted ${num(l.fit.fixedMs, 3)} ms per request + ${num(l.fit.perEntryMs * 1000, 2)} µs per entry (least squares on relative error).`);
  }
  lines.push('', `![CPU per request against entries](${linearitySvgName(name)})`);

  lines.push('', `## Under load: reads at ${LOAD.rateFactor} × R50`, '');
  if (run.load.length === 0) lines.push('Not measured in this run (it needs the gateway\'s CPU per read from the `read` scenario).');
  else {
    lines.push(
      `R50 = 500 / (the gateway's CPU ms per read in this run): the rate at which it would use ${LOAD.coreShare * 100} % of one core. Reads at ${LOAD.rateFactor} × R50 (autocannon \`overallRate\`), latency over every response; the bare proxy at the same rate for comparison.`,
      '',
      `| Target | Rate asked req/s | Achieved req/s | Connections | Responses | Failed | p50 ms | p99 ms | max ms | p99 / p50 | Over ${BUDGETS.loadTailMs} ms | CPU ms/req | Share of a core |`,
      '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
    );
    for (const l of run.load) {
      lines.push(`| ${TARGET_LABELS[l.target]} | ${int(l.targetRps)} | ${int(l.rps)} | ${l.connections} | ${int(l.latency.count)} | ${l.failures} | ${num(l.latency.p50, 2)} | ${num(l.latency.p99, 2)} | ${num(l.latency.max, 1)} | ${num(l.latency.p99 / l.latency.p50, 1)} | ${int(l.over100Ms)} | ${num(l.cpuMsPerRequest, 2)} | ${num(l.coreShare, 2)} |`);
    }
    const g = run.load.find((l) => l.target === 'gateway');
    if (g && g.rps < 0.95 * g.targetRps) lines.push('', `The gateway answered ${int(g.rps)} of the ${int(g.targetRps)} reads per second asked: autocannon's connections wait for their answers, so a slower gateway is sent fewer requests and the latencies understate the queue (coordinated omission).`);
  }

  if (run.bulk.length > 0) {
    lines.push('', '## NDJSON bulk export (one file, streamed)', '');
    lines.push('| Target | Principal | MB | Resources | Seconds | MB/s | proxy CPU ms/MB | sidecar CPU ms/MB | Peak RSS MB |', '| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
    for (const b of run.bulk) {
      lines.push(`| ${TARGET_LABELS[b.target]} | ${b.principal} | ${num(b.bytes / 1e6, 0)}${b.complete ? '' : ` (stopped after ${num(b.seconds, 0)} s)`} | ${int(b.lines)} | ${num(b.seconds, 1)} | ${num(b.mbPerSecond, 1)} | ${num(b.cpuMsPerMb.proxy, 1)} | ${num(b.cpuMsPerMb.sidecar, 1)} | ${num(b.peakRssMb, 0)} |`);
    }
  }
  if (run.enforce.length > 0) {
    lines.push('', '## Enforce stage of a 1,000-entry searchset (in-process, real engine and bundle)', '');
    lines.push('| Principal | Entries | Policy CPU ms | Redaction + links CPU ms | Total ms | Resources/s/core | JSON.parse ms | JSON.stringify ms |', '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
    for (const e of run.enforce) {
      lines.push(`| ${e.role} | ${e.entries} | ${num(e.policyMs, 2)} | ${num(e.redactionMs, 2)} | ${num(e.totalMs, 2)} | ${int(e.resourcesPerSecondPerCore)} | ${num(e.parseMs, 2)} | ${num(e.serializeMs, 2)} |`);
    }
  }
  if (run.decisions.length > 0) {
    lines.push('', '## Per-decision cost: in-process WebAssembly vs OPA server over HTTP', '');
    lines.push('| Decision | WASM CPU µs | Sidecar CPU µs (gateway side + OPA) | CPU ratio | WASM wall µs | Sidecar wall µs | Wall ratio |', '| --- | ---: | ---: | ---: | ---: | ---: | ---: |');
    for (const d of run.decisions) {
      lines.push(`| ${d.kind} | ${num(d.wasmCpuUs)} | ${num(d.sidecarCpuUs)} (${num(d.sidecarGatewayCpuUs)} + ${num(d.sidecarCpuUs - d.sidecarGatewayCpuUs)}) | ${num(d.cpuRatio)}× | ${num(d.wasmWallUs)} | ${num(d.sidecarWallUs)} | ${num(d.wallRatio)}× |`);
    }
  }
  if (run.scaling.length > 0) {
    lines.push('', '## Scaling: one gateway process against two (node:cluster, same port)', '');
    lines.push('| Scenario | 1 process req/s | 2 processes req/s | Ratio | CPU ms/req, 1 process | CPU ms/req, 2 processes |', '| --- | ---: | ---: | ---: | ---: | ---: |');
    for (const s of run.scaling) lines.push(`| ${scenarioLabel(s.scenario)} | ${int(s.oneProcessRps)} | ${int(s.twoProcessRps)} | ${num(s.ratio, 2)} | ${num(s.oneProcessCpuMs, 2)} | ${num(s.twoProcessCpuMs, 2)} |`);
  }
  if (run.floor && run.floor.length > 0) {
    lines.push('', '## The floor of the design card\'s stack', '');
    lines.push(
      'CPU per request of the bare proxy, of express + http-proxy-middleware with the answer buffered, parsed and re-serialised as JSON and nothing else (`bench/processes/stack-floor.mjs`), and of the gateway, in the same interleaved rounds. Ratios are medians of the per-round ratios.',
      '',
    );
    lines.push('| Scenario | bare CPU ms/req | stack floor CPU ms/req | gateway CPU ms/req | floor / bare | gateway / bare | gateway / floor |', '| --- | ---: | ---: | ---: | ---: | ---: | ---: |');
    for (const f of run.floor) lines.push(`| ${scenarioLabel(f.scenario)} | ${num(f.bareCpuMs, 3)} | ${num(f.stackCpuMs, 3)} | ${num(f.gatewayCpuMs, 3)} | ${num(f.stackVsBare, 2)}× | ${num(f.gatewayVsBare, 2)}× | ${num(f.gatewayVsStack, 2)}× |`);
  }
  if (run.connectionMemory) {
    const c = run.connectionMemory;
    lines.push('', '## Memory per connection', '', `${c.connections} idle keep-alive connections (each after one read) added ${num(c.kbPerConnection, 1)} KB each over a baseline RSS of ${num(c.baselineRssMb, 0)} MB.`);
  }
  lines.push('', `![Throughput and latency](${name}.svg)`, '');
  return lines.join('\n');
}

function scenarioTable(run: BenchRun): string {
  const rows = ['| Scenario | Target | req/s | p50 ms | p90 ms | p99 ms | proxy CPU ms/req | sidecar CPU ms/req | upstream CPU ms/req | Peak RSS MB | × bare | × direct | p50 added vs bare, ms | Failures |', '| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |'];
  for (const r of run.scenarios) {
    const ratio = run.ratios.find((x) => x.scenario === r.scenario && x.target === r.target);
    rows.push(
      `| ${scenarioLabel(r.scenario)} | ${TARGET_LABELS[r.target]} | ${int(r.rps)} | ${num(r.latency.p50, 2)} | ${num(r.latency.p90, 2)} | ${num(r.latency.p99, 2)} | ${num(r.cpuMs.proxy, 2)} | ${num(r.cpuMs.sidecar, 2)} | ${num(r.cpuMs.upstream, 2)} | ${num(r.peakRssMb, 0)} | ${ratio ? num(ratio.rpsVsBare, 2) : '–'} | ${ratio ? num(ratio.rpsVsDirect, 2) : '–'} | ${ratio ? num(ratio.addedP50VsBareMs, 2) : '–'} | ${r.failures} |`,
    );
  }
  return rows.join('\n');
}

/** The short table the README shows: one line per scenario, the four designs side by side. */
export function renderReadmeTable(run: BenchRun): string {
  const cell = (scenario: string, target: TargetId): string => {
    const r = run.scenarios.find((x) => x.scenario === scenario && x.target === target);
    if (!r) return '–';
    if (r.latency.count === 0) return 'no answer within the measured windows';
    const ratio = run.ratios.find((x) => x.scenario === scenario && x.target === target);
    return target === 'gateway' || target === 'gateway-opa' ? `${int(r.rps)} (${num(ratio?.rpsVsBare, 2)}× bare), p50 ${num(r.latency.p50, 2)} ms` : `${int(r.rps)}, p50 ${num(r.latency.p50, 2)} ms`;
  };
  const scenarios = [...new Set(run.scenarios.map((r) => r.scenario))];
  const lines = [
    `Measured ${run.startedAt.slice(0, 10)} on ${machineLine(run)}. ${conditionsLine(run)}. Throughput in requests/s; ratios are to the bare proxy in the same rounds.`,
    '',
    '| Scenario | (a) upstream directly | (b) bare Node proxy | (c) gateway (in-process WASM) | (d) gateway + OPA sidecar |',
    '| --- | --- | --- | --- | --- |',
    ...scenarios.map((s) => `| ${scenarioLabel(s)} | ${cell(s, 'direct')} | ${cell(s, 'bare')} | ${cell(s, 'gateway')} | ${cell(s, 'gateway-opa')} |`),
  ];
  const principals = [...new Set(run.bulk.map((b) => b.principal))];
  for (const principal of principals) {
    const gatewayBulk = run.bulk.find((b) => b.target === 'gateway' && b.principal === principal);
    const cells = (['direct', 'bare', 'gateway', 'gateway-opa'] as const).map((t) => bulkCell(run, t, principal)).join(' | ');
    if (gatewayBulk) lines.push(`| NDJSON export (${num(gatewayBulk.bytes / 1e6, 0)} MB), ${principal} | ${cells} |`);
  }
  lines.push('', budgetTable(run.budgets));
  return lines.join('\n');
}

function bulkCell(run: BenchRun, target: TargetId, principal: string): string {
  const b = run.bulk.find((x) => x.target === target && x.principal === principal);
  return b ? `${num(b.mbPerSecond, b.mbPerSecond < 10 ? 1 : 0)} MB/s${b.complete ? '' : ' (partial)'}${b.peakRssMb === null ? '' : `, peak RSS ${num(b.peakRssMb, 0)} MB`}` : '–';
}

const README_START = '<!-- bench:start -->';
const README_END = '<!-- bench:end -->';

/** The README with the section between the bench markers replaced (markers added at the end if missing). */
export function withReadmeTable(readme: string, table: string): string {
  const section = `${README_START}\n${table}\n${README_END}`;
  const start = readme.indexOf(README_START);
  const end = readme.indexOf(README_END);
  if (start === -1 || end === -1 || end < start) return `${readme.trimEnd()}\n\n${section}\n`;
  return readme.slice(0, start) + section + readme.slice(end + README_END.length);
}

// ---------- SVG ----------

const COLORS: Record<TargetId, string> = { direct: '#9e9e9e', bare: '#607d8b', gateway: '#2e7d32', 'gateway-opa': '#ef6c00', 'gateway-2p': '#1565c0', stack: '#8d6e63' };
const CHART_TARGETS: readonly TargetId[] = ['direct', 'bare', 'gateway', 'gateway-opa'];

const escapeXml = (s: string): string => s.replace(/[<>&"']/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;', "'": '&apos;' })[c] as string);

/**
 * Two panels over the scenarios: throughput relative to the bare proxy (1.0 = the floor any Node
 * proxy sets) and p50 latency in ms, one bar per design.
 */
export function renderSvg(run: BenchRun): string {
  const scenarios = [...new Set(run.scenarios.map((r) => r.scenario))];
  const width = 980;
  const panelHeight = 250;
  const left = 60;
  const top = 40;
  const groupWidth = (width - left - 20) / Math.max(1, scenarios.length);
  const barWidth = (groupWidth - 24) / CHART_TARGETS.length;
  const out: string[] = [];
  const find = (s: string, t: TargetId): ScenarioResult | undefined => run.scenarios.find((r) => r.scenario === s && r.target === t);

  const panel = (y0: number, title: string, value: (s: string, t: TargetId) => number | null, label: (v: number) => string): void => {
    const values = scenarios.flatMap((s) => CHART_TARGETS.map((t) => value(s, t))).filter((v): v is number => v !== null && Number.isFinite(v));
    const max = Math.max(1e-9, ...values) * 1.15;
    const plotHeight = panelHeight - 70;
    const base = y0 + 30 + plotHeight;
    out.push(`<text x="${left}" y="${y0 + 16}" font-size="14" font-weight="bold">${escapeXml(title)}</text>`);
    out.push(`<line x1="${left}" y1="${base}" x2="${width - 20}" y2="${base}" stroke="#333"/>`);
    scenarios.forEach((s, i) => {
      const gx = left + i * groupWidth + 12;
      CHART_TARGETS.forEach((t, j) => {
        const v = value(s, t);
        if (v === null || !Number.isFinite(v)) return;
        const h = (v / max) * plotHeight;
        const x = gx + j * barWidth;
        out.push(`<rect x="${x.toFixed(1)}" y="${(base - h).toFixed(1)}" width="${(barWidth - 3).toFixed(1)}" height="${h.toFixed(1)}" fill="${COLORS[t]}"><title>${escapeXml(`${scenarioLabel(s)}, ${TARGET_LABELS[t]}: ${label(v)}`)}</title></rect>`);
        out.push(`<text x="${(x + (barWidth - 3) / 2).toFixed(1)}" y="${(base - h - 3).toFixed(1)}" font-size="9" text-anchor="middle">${escapeXml(label(v))}</text>`);
      });
      out.push(`<text x="${(gx + (groupWidth - 24) / 2).toFixed(1)}" y="${base + 14}" font-size="10" text-anchor="middle">${escapeXml(scenarioLabel(s).replace(/ \(.*\)$/, '').replace(', researcher', ', res.'))}</text>`);
    });
  };

  panel(top, 'Throughput relative to the bare Node proxy (same rounds; 1.00 = bare)', (s, t) => {
    const r = run.ratios.find((x) => x.scenario === s && x.target === t);
    return r && Number.isFinite(r.rpsVsBare) ? r.rpsVsBare : null;
  }, (v) => v.toFixed(2));
  panel(top + panelHeight, 'p50 latency, ms', (s, t) => find(s, t)?.latency.p50 ?? null, (v) => v.toFixed(v < 10 ? 2 : 1));

  const legendY = top + 2 * panelHeight + 5;
  CHART_TARGETS.forEach((t, i) => {
    const x = left + i * 220;
    out.push(`<rect x="${x}" y="${legendY}" width="12" height="12" fill="${COLORS[t]}"/><text x="${x + 16}" y="${legendY + 10}" font-size="11">${escapeXml(TARGET_LABELS[t])}</text>`);
  });
  const height = legendY + 40;
  out.push(`<text x="${left}" y="${height - 10}" font-size="10" fill="#555">${escapeXml(machineLine(run))}</text>`);
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif">\n<rect width="100%" height="100%" fill="white"/>\n${out.join('\n')}\n</svg>\n`;
}

/**
 * CPU per request against the entries of a search's answer, log-log axes: the measured points of
 * the gateway and the bare proxy, and each one's fitted line (fixed cost + cost per entry; a
 * curve on these axes, bending up to slope 1 where the per-entry cost takes over).
 */
export function renderLinearitySvg(run: BenchRun): string {
  const width = 760;
  const height = 460;
  const plot = { left: 70, right: width - 250, top: 50, bottom: height - 90 };
  const out: string[] = [];
  out.push(`<text x="${plot.left}" y="24" font-size="14" font-weight="bold">CPU per request against entries in the answer (log-log)</text>`);
  const series = run.linearity.filter((l) => l.points.length > 0);
  const ys = series.flatMap((l) => l.points.map((p) => p.cpuMsPerRequest)).filter((v) => v > 0);
  const xs = series.flatMap((l) => l.points.map((p) => p.entries)).filter((v) => v > 0);
  if (ys.length === 0 || xs.length === 0) {
    out.push(`<text x="${plot.left}" y="${(plot.top + plot.bottom) / 2}" font-size="12">${escapeXml('Not measured in this run (needs search-10, search-100 and search-1000).')}</text>`);
  } else {
    // A fifth of a decade of room around the points (at least a decade in all), so none sits on an axis.
    const range = (values: readonly number[]): [number, number] => {
      const lo = Math.log10(Math.min(...values)) - 0.2;
      const hi = Math.log10(Math.max(...values)) + 0.2;
      const widen = Math.max(0, 1 - (hi - lo)) / 2;
      return [10 ** (lo - widen), 10 ** (hi + widen)];
    };
    const [x0, x1] = range(xs);
    const [y0, y1] = range(ys);
    const px = (x: number): number => plot.left + ((Math.log10(x) - Math.log10(x0)) / (Math.log10(x1) - Math.log10(x0))) * (plot.right - plot.left);
    const py = (y: number): number => plot.bottom - ((Math.log10(y) - Math.log10(y0)) / (Math.log10(y1) - Math.log10(y0))) * (plot.bottom - plot.top);
    const label = (v: number): string => (v >= 1 ? v.toLocaleString('en-US') : String(Number(v.toPrecision(1))));
    /** 1, 2 and 5 times each power of ten in [lo, hi]; the 2s and 5s only when the range spans less than two decades. */
    const ticks = (lo: number, hi: number): Array<{ v: number; major: boolean }> => {
      const few = Math.log10(hi / lo) < 2;
      const out: Array<{ v: number; major: boolean }> = [];
      for (let k = Math.floor(Math.log10(lo)); k <= Math.ceil(Math.log10(hi)); k++) {
        for (const m of few ? [1, 2, 5] : [1]) {
          const v = Number((m * 10 ** k).toPrecision(1));
          if (v >= lo && v <= hi) out.push({ v, major: m === 1 });
        }
      }
      return out;
    };
    for (const { v: x, major } of ticks(x0, x1)) {
      out.push(`<line x1="${px(x).toFixed(1)}" y1="${plot.top}" x2="${px(x).toFixed(1)}" y2="${plot.bottom}" stroke="${major ? '#ccc' : '#eee'}"/>`);
      out.push(`<text x="${px(x).toFixed(1)}" y="${plot.bottom + 16}" font-size="10" text-anchor="middle">${escapeXml(label(x))}</text>`);
    }
    for (const { v: y, major } of ticks(y0, y1)) {
      out.push(`<line x1="${plot.left}" y1="${py(y).toFixed(1)}" x2="${plot.right}" y2="${py(y).toFixed(1)}" stroke="${major ? '#ccc' : '#eee'}"/>`);
      out.push(`<text x="${plot.left - 6}" y="${(py(y) + 3).toFixed(1)}" font-size="10" text-anchor="end">${escapeXml(label(y))}</text>`);
    }
    out.push(`<line x1="${plot.left}" y1="${plot.bottom}" x2="${plot.right}" y2="${plot.bottom}" stroke="#333"/>`);
    out.push(`<line x1="${plot.left}" y1="${plot.top}" x2="${plot.left}" y2="${plot.bottom}" stroke="#333"/>`);
    out.push(`<text x="${(plot.left + plot.right) / 2}" y="${plot.bottom + 36}" font-size="11" text-anchor="middle">entries in the answer</text>`);
    out.push(`<text x="${plot.left}" y="${plot.bottom + 58}" font-size="10" fill="#555">${escapeXml('Points: CPU per request from /proc. Dashed: fitted fixed cost + cost per entry. Steps: incremental cost per entry.')}</text>`);
    out.push(`<text x="18" y="${(plot.top + plot.bottom) / 2}" font-size="11" text-anchor="middle" transform="rotate(-90 18 ${(plot.top + plot.bottom) / 2})">CPU ms per request (/proc)</text>`);
    series.forEach((l, i) => {
      const color = COLORS[l.target];
      if (l.fit) {
        const fit = l.fit;
        const curve: string[] = [];
        for (let k = 0; k <= 60; k++) {
          const x = x0 * (x1 / x0) ** (k / 60);
          const y = fit.fixedMs + fit.perEntryMs * x;
          if (y >= y0 && y <= y1) curve.push(`${px(x).toFixed(1)},${py(y).toFixed(1)}`);
        }
        if (curve.length > 1) out.push(`<polyline points="${curve.join(' ')}" fill="none" stroke="${color}" stroke-width="1.5" stroke-dasharray="5 3"><title>${escapeXml(`${TARGET_LABELS[l.target]}: fitted ${fit.fixedMs.toFixed(3)} ms + ${(fit.perEntryMs * 1000).toFixed(2)} µs per entry`)}</title></polyline>`);
      }
      for (const p of l.points) {
        out.push(`<circle cx="${px(p.entries).toFixed(1)}" cy="${py(p.cpuMsPerRequest).toFixed(1)}" r="4" fill="${color}"><title>${escapeXml(`${TARGET_LABELS[l.target]}, ${scenarioLabel(p.scenario)}: ${p.cpuMsPerRequest.toFixed(3)} ms per request, ${(p.cpuMsPerEntry * 1000).toFixed(1)} µs per entry`)}</title></circle>`);
        out.push(`<text x="${(px(p.entries) + 7).toFixed(1)}" y="${(py(p.cpuMsPerRequest) + (l.target === 'bare' ? 12 : -6)).toFixed(1)}" font-size="9">${escapeXml(p.cpuMsPerRequest.toFixed(2))}</text>`);
      }
      const ly = plot.top + 10 + i * 54;
      out.push(`<circle cx="${plot.right + 20}" cy="${ly}" r="4" fill="${color}"/><text x="${plot.right + 30}" y="${ly + 4}" font-size="11">${escapeXml(TARGET_LABELS[l.target])}</text>`);
      if (l.fit) out.push(`<text x="${plot.right + 30}" y="${ly + 18}" font-size="10" fill="#555">${escapeXml(`fit: ${l.fit.fixedMs.toFixed(3)} ms + ${(l.fit.perEntryMs * 1000).toFixed(2)} µs/entry`)}</text>`);
      if (l.steps.length) out.push(`<text x="${plot.right + 30}" y="${ly + 32}" font-size="10" fill="#555">${escapeXml(`steps: ${l.steps.map((s) => (s.cpuMsPerEntry * 1000).toFixed(1)).join(', ')} µs/entry`)}</text>`);
    });
  }
  out.push(`<text x="${plot.left}" y="${height - 10}" font-size="10" fill="#555">${escapeXml(machineLine(run))}</text>`);
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif">\n<rect width="100%" height="100%" fill="white"/>\n${out.join('\n')}\n</svg>\n`;
}
