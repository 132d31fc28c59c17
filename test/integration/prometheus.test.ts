/**
 * The monitoring pieces, each checked by the real tool: `promtool check metrics` on a live gateway's
 * /metrics; `promtool check rules` and `promtool test rules` on the PrometheusRule; a real
 * Prometheus scraping the gateway every second with the rules loaded (series arrive, every rule
 * evaluates healthy, no alert fires on a healthy gateway); and the Grafana dashboard, whose every
 * query must be valid PromQL naming only metrics the gateway exports or our recording rules.
 */
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { parse, parseAllDocuments } from 'yaml';
import { ensureHelm } from '../../scripts/lib/helm.mjs';
import { ensureKustomize } from '../../scripts/lib/kustomize.mjs';
import { SYNTHETIC_PATIENTS } from '../../src/devkit/synthetic-data.js';
import { exportedNames, metricNamesIn, promtool, startPrometheus, writeRuleFile, type RuleGroup, type RunningPrometheus } from '../support/prometheus.js';
import { startStack, tokensFor, type Stack } from '../support/stack.js';

const MONITORING = path.resolve('k8s/components/monitoring');
let stack: Stack;
let prometheus: RunningPrometheus;
let dir: string;
let ruleFile: string;
let groups: RuleGroup[];
let origin: string;

beforeAll(async () => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'fhirgw-prometheus-'));
  ruleFile = path.join(dir, 'rules.yaml');
  groups = writeRuleFile(ruleFile);
  stack = await startStack();
  origin = new URL(stack.base).origin;
  prometheus = await startPrometheus(path.join(dir, 'prometheus'), { targets: [new URL(origin).host], ruleFiles: [ruleFile] });
  // Traffic of every kind the metrics describe: allowed, filtered, redacted, refused.
  const tokens = tokensFor(stack.issuer);
  const alba = SYNTHETIC_PATIENTS[0]!.id;
  await stack.fetch(`Patient/${alba}`, { token: await tokens.patient(alba) });
  await stack.fetch('Observation?_count=50', { token: await tokens.clinician('user/Observation.rs?category=http://terminology.hl7.org/CodeSystem/observation-category|laboratory') });
  await stack.fetch('Patient', { token: await tokens.researcher() });
  await stack.fetch(`Patient/${SYNTHETIC_PATIENTS[1]!.id}`, { token: await tokens.patient(alba) });
  await stack.fetch('Patient', { token: 'not-a-token' });
}, 60000);

afterAll(async () => {
  await prometheus?.stop();
  await stack?.close();
  rmSync(dir, { recursive: true, force: true });
});

const alertNames = (): string[] => groups.flatMap((g) => g.rules.flatMap((r) => (r.alert ? [r.alert] : [])));
const recordNames = (): Set<string> => new Set(groups.flatMap((g) => g.rules.flatMap((r) => (r.record ? [r.record] : []))));

describe('promtool', () => {
  test('check metrics passes on the live /metrics', async () => {
    const text = await (await fetch(`${origin}/metrics`)).text();
    expect(text).toContain('fhirgw_stage_duration_seconds_bucket');
    expect(promtool(['check', 'metrics'], text)).toEqual({ code: 0, output: '' });
  });

  test('check rules passes on the PrometheusRule', () => {
    const r = promtool(['check', 'rules', ruleFile]);
    expect(r.output).toContain('SUCCESS');
    expect(r.code).toBe(0);
  });

  test('test rules: every alert fires on its failing series and stays silent on a healthy one', () => {
    copyFileSync(path.join(MONITORING, 'alerts.test.yaml'), path.join(dir, 'alerts.test.yaml'));
    const r = promtool(['test', 'rules', path.join(dir, 'alerts.test.yaml')]);
    expect(r.output).toContain('SUCCESS');
    expect(r.code).toBe(0);
    // ...and the unit tests really cover each alert both ways.
    const tests = (parse(readFileSync(path.join(MONITORING, 'alerts.test.yaml'), 'utf8')) as { tests: Array<{ alert_rule_test?: Array<{ alertname: string; exp_alerts: unknown[] }> }> }).tests;
    const cases = tests.flatMap((t) => t.alert_rule_test ?? []);
    for (const alert of alertNames()) {
      expect({ alert, fires: cases.some((c) => c.alertname === alert && c.exp_alerts.length > 0) }).toEqual({ alert, fires: true });
      expect({ alert, silent: cases.some((c) => c.alertname === alert && c.exp_alerts.length === 0) }).toEqual({ alert, silent: true });
    }
  });

  test('the alerts the issue asks for exist, and each has a runbook entry in docs/operations.md', () => {
    const alerts = alertNames();
    for (const wanted of ['AuditBacklogGrowing', 'AuditRecordsDropped', 'PolicyBundleLoadFailing', 'PolicyRevisionStale', 'DenyRateSpike', 'UpstreamErrorRate', 'UpstreamCircuitOpen', 'UpstreamAuthRejected', 'LatencyBudgetFastBurn', 'LatencyBudgetSlowBurn', 'JwksUnreachable']) {
      expect(alerts).toContain(`FhirGateway${wanted}`);
    }
    const doc = readFileSync('docs/operations.md', 'utf8');
    for (const g of groups) {
      for (const r of g.rules) {
        if (!r.alert) continue;
        expect(doc).toContain(`### ${r.alert}`);
        expect(r.annotations?.['runbook_url']).toBe(`https://fhir-privacy-gateway.dev/docs/operations.md#${r.alert.toLowerCase()}`);
      }
    }
  });
});

describe('a real Prometheus scraping the gateway', () => {
  test('the series arrive, every rule group evaluates healthy, and no alert fires', async () => {
    const deadline = Date.now() + 30000;
    const until = async (expr: string, ok: (n: number) => boolean): Promise<number> => {
      for (;;) {
        const result = await prometheus.query(expr);
        const value = result.length === 0 ? Number.NaN : Number(result[0]!.value[1]);
        if (ok(value)) return value;
        if (Date.now() > deadline) throw new Error(`timed out waiting for ${expr} (last: ${value})`);
        await new Promise((r) => setTimeout(r, 250));
      }
    };
    expect(await until('up{job="fhir-gateway"}', (v) => v === 1)).toBe(1);
    expect(await until('sum(fhirgw_http_requests_total)', (v) => v >= 5)).toBeGreaterThanOrEqual(5);
    expect(await until('sum(fhirgw_stage_duration_seconds_count{stage="policy"})', (v) => v >= 1)).toBeGreaterThanOrEqual(1);
    expect(await until('sum(fhirgw_resources_withheld_total{resource_type="Observation"})', (v) => v >= 6)).toBeGreaterThanOrEqual(6);
    expect(await until('count(fhirgw_policy_bundle_info{bundle="enforcing"})', (v) => v === 1)).toBe(1);
    // A recording rule has produced a sample (so the rule group is evaluated against real series).
    expect(await until('count(fhirgw:http_requests:rate5m)', (v) => v === 1)).toBe(1);

    const rules = await prometheus.api<{ groups: Array<{ name: string; rules: Array<{ name: string; health: string; lastError?: string; lastEvaluation: string }> }> }>('/api/v1/rules');
    expect(rules.groups.map((g) => g.name).sort()).toEqual(groups.map((g) => g.name).sort());
    for (const g of rules.groups) {
      for (const r of g.rules) {
        expect({ rule: r.name, health: r.health, error: r.lastError ?? '' }).toEqual({ rule: r.name, health: 'ok', error: '' });
        expect(r.lastEvaluation.startsWith('0001')).toBe(false);
      }
    }
    const alerts = await prometheus.api<{ alerts: Array<{ labels: Record<string, string>; state: string }> }>('/api/v1/alerts');
    expect(alerts.alerts.filter((a) => a.state === 'firing')).toEqual([]);
  });
});

/** Metrics the test gateway (no Redis) does not export, which a gateway with redis.* does (replicas.test.ts scrapes it). */
const EXPORTED_WITH_REDIS = ['fhirgw_redis_up'];
/** Registered by the inappropriate-access detector (src/detect/wiring.ts), only when `detect` is configured. */
const EXPORTED_WITH_DETECTOR = ['fhirgw_detector_flags_total', 'fhirgw_detector_records_total', 'fhirgw_review_cases_open', 'fhirgw_review_oldest_open_case_age_seconds', 'fhirgw_review_cases_overdue'];
/** The dashboard's variables as Grafana's "All" expands them. */
const withVariables = (expr: string): string => expr.replace(/\$(job|namespace|instance)\b/g, '.*');

describe('the Grafana dashboard', () => {
  const dashboard = (): { templating: { list: Array<{ name: string; query?: { query: string } }> }; panels: Array<{ title: string; targets?: Array<{ expr: string }> }> } =>
    JSON.parse(readFileSync(path.join(MONITORING, 'dashboard.json'), 'utf8'));

  test('has job, namespace and instance variables, and every metric each query reads is filtered by them', () => {
    const variables = dashboard().templating.list;
    expect(variables.map((v) => v.name)).toEqual(['datasource', 'job', 'namespace', 'instance']);
    for (const { title, targets } of dashboard().panels) {
      for (const { expr } of targets ?? []) {
        // Each metric (or recording rule) selector carries the matchers; recording rules are kept by namespace and job only.
        for (const m of expr.matchAll(/\b((?:fhirgw_|nodejs_|process_)[a-z0-9_]+|fhirgw:[a-z0-9_:]+)(\{[^}]*\})?/g)) {
          const matchers = m[2] ?? '';
          const wanted = m[1]!.includes(':') ? ['job=~"$job"', 'namespace=~"$namespace"'] : ['job=~"$job"', 'namespace=~"$namespace"', 'instance=~"$instance"'];
          expect({ panel: title, metric: m[1], missing: wanted.filter((w) => !matchers.includes(w)) }).toEqual({ panel: title, metric: m[1], missing: [] });
        }
      }
    }
  });

  test('has panels for the circuit breaker, Redis, TLS expiry, WebAssembly memory and upstream 4xx', () => {
    const exprs = dashboard().panels.flatMap((p) => (p.targets ?? []).map((t) => t.expr)).join('\n');
    for (const metric of ['fhirgw_upstream_circuit_state', 'fhirgw_redis_up', 'fhirgw_tls_certificate_expiry_timestamp_seconds', 'fhirgw_policy_wasm_memory_bytes', 'fhirgw_upstream_client_errors_total', 'fhirgw_build_info']) {
      expect(exprs).toContain(`${metric}{`);
    }
  });

  test('every query is valid PromQL that names only exported metrics or our recording rules', async () => {
    const exprs = dashboard().panels.flatMap((p) => (p.targets ?? []).map((t) => ({ panel: p.title, expr: t.expr })));
    expect(exprs.length).toBeGreaterThan(30);
    const known = new Set([...exportedNames(await (await fetch(`${origin}/metrics`)).text()), ...recordNames(), ...EXPORTED_WITH_REDIS, ...EXPORTED_WITH_DETECTOR]);
    const unknown = (expr: string): string[] => metricNamesIn(expr).filter((n) => !known.has(n));
    // The check itself catches a misspelt metric (and reads through functions, matchers and grouping).
    expect(unknown('sum by (code) (rate(fhirgw_http_request_total{code=~"5.."}[5m])) / 1e3')).toEqual(['fhirgw_http_request_total']);
    for (const { panel, expr } of exprs) {
      expect({ panel, expr, unknown: unknown(expr) }).toEqual({ panel, expr, unknown: [] });
      // Prometheus parses and runs it (an invalid expression is a 400 with a parse error).
      expect(Array.isArray(await prometheus.query(withVariables(expr)))).toBe(true);
    }
  });

  test('alert and recording rule expressions also read only exported metrics, recording rules or up', async () => {
    const known = new Set([...exportedNames(await (await fetch(`${origin}/metrics`)).text()), ...recordNames(), ...EXPORTED_WITH_REDIS, ...EXPORTED_WITH_DETECTOR, 'up']);
    for (const g of groups) for (const r of g.rules) expect({ rule: r.alert ?? r.record, unknown: metricNamesIn(r.expr).filter((n) => !known.has(n)) }).toEqual({ rule: r.alert ?? r.record, unknown: [] });
  });
});

describe('runbook links', () => {
  test('point at the component\'s runbookBaseUrl, and an overlay can point them at its own runbook', () => {
    const kustomize = ensureKustomize({ log: () => {} });
    mkdirSync(path.resolve('.tmp'), { recursive: true });
    const overlay = mkdtempSync(path.join(path.resolve('.tmp'), 'runbook-overlay-'));
    try {
      const urlsOf = (): string[] => {
        const rule = parseAllDocuments(execFileSync(kustomize, ['build', overlay], { encoding: 'utf8' })).map((d) => d.toJSON() as { kind: string; spec?: { groups: RuleGroup[] } }).find((o) => o.kind === 'PrometheusRule')!;
        return rule.spec!.groups.flatMap((g) => g.rules.flatMap((r) => (r.alert ? [String(r.annotations?.['runbook_url'])] : [])));
      };
      const component = path.relative(overlay, MONITORING);
      writeFileSync(path.join(overlay, 'kustomization.yaml'), `apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\ncomponents: [${component}]\n`);
      expect(urlsOf()).toEqual(alertNames().map((a) => `https://fhir-privacy-gateway.dev/docs/operations.md#${a.toLowerCase()}`));
      // The override docs/operations.md#runbook-links gives, verbatim.
      writeFileSync(path.join(overlay, 'kustomization.yaml'), `apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\ncomponents: [${component}]\n${RUNBOOK_OVERRIDE}`);
      expect(urlsOf()).toEqual(alertNames().map((a) => `https://wiki.hospital.example/fhir-gateway/runbook#${a.toLowerCase()}`));
    } finally {
      rmSync(overlay, { recursive: true, force: true });
    }
  }, 120000);
});

describe('the Helm chart\'s monitoring (monitoring.enabled)', () => {
  test('renders the component\'s rules and dashboard, with the runbook links at monitoring.runbookBaseUrl', () => {
    const helm = ensureHelm({ log: () => {} });
    const render = (...set: string[]) =>
      parseAllDocuments(execFileSync(helm, ['template', 'fhir-gateway', 'k8s/helm/fhir-gateway', '--set-file', 'config=k8s/base/gateway.yaml', '--set', 'monitoring.enabled=true', ...set.flatMap((s) => ['--set', s])], { encoding: 'utf8' }))
        .map((d) => d.toJSON() as { kind: string; metadata: { name: string }; spec?: { groups: RuleGroup[] }; data?: Record<string, string> })
        .filter((o) => o !== null);
    const component = parse(readFileSync(path.join(MONITORING, 'prometheus-rule.yaml'), 'utf8')) as { spec: { groups: RuleGroup[] } };
    const objects = render();
    expect(objects.find((o) => o.kind === 'PrometheusRule')!.spec).toEqual(component.spec);
    expect(objects.some((o) => o.kind === 'ServiceMonitor')).toBe(true);
    const dashboard = objects.find((o) => o.kind === 'ConfigMap' && o.metadata.name === 'fhir-gateway-dashboard')!;
    expect(JSON.parse(dashboard.data!['fhir-gateway.json']!)).toEqual(JSON.parse(readFileSync(path.join(MONITORING, 'dashboard.json'), 'utf8')));
    const moved = render('monitoring.runbookBaseUrl=https://wiki.hospital.example/fhir-gateway/runbook').find((o) => o.kind === 'PrometheusRule')!;
    const urls = moved.spec!.groups.flatMap((g) => g.rules.flatMap((r) => (r.alert ? [String(r.annotations?.['runbook_url'])] : [])));
    expect(urls).toEqual(alertNames().map((a) => `https://wiki.hospital.example/fhir-gateway/runbook#${a.toLowerCase()}`));
    // Off by default: the chart's default rendering has no monitoring objects (no Prometheus Operator CRDs needed).
    const plain = parseAllDocuments(execFileSync(helm, ['template', 'fhir-gateway', 'k8s/helm/fhir-gateway', '--set-file', 'config=k8s/base/gateway.yaml'], { encoding: 'utf8' })).map((d) => (d.toJSON() as { kind: string } | null)?.kind);
    expect(plain.filter((k) => k === 'PrometheusRule' || k === 'ServiceMonitor')).toEqual([]);
  }, 120000);
});

/** The overlay snippet of docs/operations.md, read from the doc so the two cannot drift apart. */
const RUNBOOK_OVERRIDE = (() => {
  const doc = readFileSync('docs/operations.md', 'utf8');
  const m = /<!-- runbook-override -->\n```yaml\n([\s\S]*?)```/.exec(doc);
  if (!m) throw new Error('docs/operations.md has no runbook-override snippet');
  return m[1]!;
})();
