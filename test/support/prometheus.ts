/**
 * A real Prometheus for tests (Debian's `prometheus` package, which also ships `promtool`; .ci/run
 * installs it): scraping given targets every second and evaluating rule files every second, with
 * its HTTP API on a free loopback port. Plus the helpers that check what is written for it: the
 * PrometheusRule's groups as a plain rule file, and the metric names a PromQL expression reads.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { parse, stringify } from 'yaml';
import { freePort } from '../../src/devkit/ports.js';

export interface RunningPrometheus {
  readonly url: string;
  /** GET an API path (e.g. `/api/v1/rules`); the `data` of a success, else it throws with Prometheus's error. */
  api<T = unknown>(pathAndQuery: string): Promise<T>;
  /** An instant query: the result vector. */
  query(expr: string): Promise<Array<{ metric: Record<string, string>; value: [number, string] }>>;
  stop(): Promise<void>;
}

export function requireTool(name: 'prometheus' | 'promtool'): void {
  if (spawnSync(name, ['--version']).error) throw new Error(`${name} is not installed: apt-get install prometheus (.ci/run does it)`);
}

export async function startPrometheus(dir: string, options: { targets: readonly string[]; ruleFiles?: readonly string[]; job?: string }): Promise<RunningPrometheus> {
  requireTool('prometheus');
  mkdirSync(dir, { recursive: true });
  const config = path.join(dir, 'prometheus.yml');
  writeFileSync(
    config,
    stringify({
      global: { scrape_interval: '1s', evaluation_interval: '1s', scrape_timeout: '900ms' },
      rule_files: options.ruleFiles ?? [],
      scrape_configs: [{ job_name: options.job ?? 'fhir-gateway', metrics_path: '/metrics', static_configs: [{ targets: options.targets }] }],
    }),
  );
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const child: ChildProcess = spawn('prometheus', [`--config.file=${config}`, `--storage.tsdb.path=${path.join(dir, 'data')}`, `--web.listen-address=127.0.0.1:${port}`, '--log.level=warn'], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr?.on('data', (c: Buffer) => (stderr += c.toString()));
  const deadline = Date.now() + 20000;
  for (;;) {
    const ready = await fetch(`${url}/-/ready`).then((r) => r.status === 200, () => false);
    if (ready) break;
    if (child.exitCode !== null || Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`prometheus did not start:\n${stderr}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  const api = async <T>(pathAndQuery: string): Promise<T> => {
    const body = (await (await fetch(`${url}${pathAndQuery}`)).json()) as { status: string; data: T; error?: string };
    if (body.status !== 'success') throw new Error(`prometheus ${pathAndQuery}: ${body.error}`);
    return body.data;
  };
  return {
    url,
    api,
    query: async (expr) => (await api<{ result: Array<{ metric: Record<string, string>; value: [number, string] }> }>(`/api/v1/query?query=${encodeURIComponent(expr)}`)).result,
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
      }),
  };
}

/** Runs promtool; its exit code and output. */
export function promtool(args: readonly string[], input?: string): { code: number; output: string } {
  requireTool('promtool');
  const r = spawnSync('promtool', args, { input, encoding: 'utf8', timeout: 60000 });
  return { code: r.status ?? -1, output: `${r.stdout}${r.stderr}` };
}

export const PROMETHEUS_RULE = path.resolve('k8s/components/monitoring/prometheus-rule.yaml');

export interface RuleGroup {
  readonly name: string;
  readonly rules: ReadonlyArray<{ readonly record?: string; readonly alert?: string; readonly expr: string; readonly annotations?: Record<string, string> }>;
}

/** The PrometheusRule's `spec.groups`, written as a plain rule file that promtool and Prometheus read. */
export function writeRuleFile(file: string): RuleGroup[] {
  const groups = (parse(readFileSync(PROMETHEUS_RULE, 'utf8')) as { spec: { groups: RuleGroup[] } }).spec.groups;
  writeFileSync(file, stringify({ groups }));
  return groups;
}

const KEYWORDS = new Set(['and', 'or', 'unless', 'bool', 'offset', 'by', 'without', 'on', 'ignoring', 'group_left', 'group_right', 'inf', 'nan', 'Inf', 'NaN']);

/**
 * The metric names a PromQL expression reads: what is left once strings, label matchers, range
 * selectors and grouping label lists are removed, minus functions (followed by `(`), keywords and
 * the exponents of numbers.
 */
export function metricNamesIn(expr: string): string[] {
  const bare = expr
    .replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'/g, '""')
    .replace(/\{[^}]*\}/g, ' ')
    .replace(/\[[^\]]*\]/g, ' ')
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' ');
  const names = new Set<string>();
  for (const m of bare.matchAll(/(?<![0-9.a-zA-Z_:])[a-zA-Z_:][a-zA-Z0-9_:]*/g)) {
    if (KEYWORDS.has(m[0])) continue;
    if (bare.slice((m.index ?? 0) + m[0].length).trimStart().startsWith('(')) continue;
    names.add(m[0]);
  }
  return [...names];
}

/** The series names a /metrics text exports: every `# TYPE` family, histograms with their _bucket, _sum and _count. */
export function exportedNames(metricsText: string): Set<string> {
  const names = new Set<string>();
  for (const m of metricsText.matchAll(/^# TYPE (\S+) (\S+)$/gm)) {
    const [, name, type] = m as unknown as [string, string, string];
    if (type === 'histogram' || type === 'summary') for (const s of ['_bucket', '_sum', '_count']) names.add(name + s);
    if (type !== 'histogram') names.add(name);
  }
  return names;
}
