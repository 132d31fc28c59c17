/**
 * A run as people read it: a Markdown report, an SVG chart (written by hand: a few rectangles do
 * not need a charting library) and the table the README shows. Pure functions of the results.
 */
import type { BenchRun, ScenarioResult, TargetId } from './model.js';
import { TARGET_LABELS } from './model.js';
import { scenarioLabel } from './scenarios.js';

const num = (v: number | null | undefined, digits = 1): string => (v === null || v === undefined || !Number.isFinite(v) ? '–' : v.toFixed(digits));
const int = (v: number): string => (Number.isFinite(v) ? Math.round(v).toLocaleString('en-US') : '–');
const verdict = (pass: boolean | null): string => (pass === null ? 'not judged' : pass ? '**met**' : '**missed**');

export function machineLine(run: BenchRun): string {
  const m = run.machine;
  return `${m.cpuModel}, ${m.cores} cores, ${num(m.memoryGb, 0)} GB, ${m.os}, Node ${m.node}; load average ${num(m.loadAverage.start, 2)} at start, ${num(m.loadAverage.end, 2)} at end`;
}

export function conditionsLine(run: BenchRun): string {
  const c = run.conditions;
  return `${c.mode} run: ${c.rounds} round(s) per scenario and target, targets interleaved within each round; ${c.warmupSeconds} s warm-up + ${c.durationSeconds} s measured, ${c.connections} connections (autocannon, separate process); ${c.patients} patients, ${c.observations} Observations`;
}

export function renderMarkdown(run: BenchRun): string {
  const lines: string[] = [];
  lines.push(`# Benchmark ${run.startedAt.slice(0, 10)}`, '');
  lines.push(`- Machine: ${machineLine(run)}`);
  lines.push(`- Conditions: ${conditionsLine(run)}`);
  for (const note of run.conditions.notes) lines.push(`- ${note}`);
  lines.push('', '## Budgets (ratios measured side by side in this run)', '');
  lines.push('| Budget | Target | Measured | Result |', '| --- | --- | --- | --- |');
  for (const b of run.budgets) lines.push(`| ${b.description} | ${b.target} | ${b.measured} | ${verdict(b.pass)}${b.missedBy ? `: ${b.missedBy}` : ''} |`);

  lines.push('', '## Throughput and latency', '');
  lines.push(scenarioTable(run));
  lines.push('', 'CPU is read from `/proc/<pid>/stat` of each process (all threads), per 2xx answer. "proxy" is the bare proxy or the gateway; "sidecar" the OPA server. Peak RSS is the proxy process\'s VmHWM over the round.');

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
  if (run.connectionMemory) {
    const c = run.connectionMemory;
    lines.push('', '## Memory per connection', '', `${c.connections} idle keep-alive connections (each after one read) added ${num(c.kbPerConnection, 1)} KB each over a baseline RSS of ${num(c.baselineRssMb, 0)} MB.`);
  }
  lines.push('', '![Throughput and latency](' + `${run.startedAt.slice(0, 10)}.svg)`, '');
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
  lines.push('', '| Budget | Target | Measured | Result |', '| --- | --- | --- | --- |');
  for (const b of run.budgets) lines.push(`| ${b.description} | ${b.target} | ${b.measured} | ${verdict(b.pass)}${b.missedBy ? `: ${b.missedBy}` : ''} |`);
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

const COLORS: Record<TargetId, string> = { direct: '#9e9e9e', bare: '#607d8b', gateway: '#2e7d32', 'gateway-opa': '#ef6c00', 'gateway-2p': '#1565c0' };
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
