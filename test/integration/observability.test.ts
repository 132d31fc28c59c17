/**
 * What SREs see of real requests: the metrics (RED by interaction, resource type and status; stage
 * latencies; decisions by reason; withheld and redacted resources; upstream failures), the W3C trace
 * context carried from the client to the upstream and into the audit record, and the log lines.
 */
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { SYNTHETIC_PATIENTS } from '../../src/devkit/synthetic-data.js';
import { reasonLabel } from '../../src/observability/labels.js';
import { testLoggerWithFile } from '../support/logs.js';
import { metricSum, scrape, type Sample } from '../support/metrics.js';
import { auditRecordOf, startStack, tokensFor, type Stack } from '../support/stack.js';

let stack: Stack;
let tokens: ReturnType<typeof tokensFor>;
let origin: string;
const log = testLoggerWithFile('observability');
const [alba, bruno] = SYNTHETIC_PATIENTS as [(typeof SYNTHETIC_PATIENTS)[number], (typeof SYNTHETIC_PATIENTS)[number]];
const CALLER_TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';
const CALLER_SPAN = '00f067aa0ba902b7';

beforeAll(async () => {
  stack = await startStack({ start: { logger: log.logger } });
  tokens = tokensFor(stack.issuer);
  origin = new URL(stack.base).origin;
});

afterAll(async () => {
  await stack.close();
});

const delta = (before: Sample[], after: Sample[], name: string, labels: Record<string, string> = {}): number => metricSum(after, name, labels) - metricSum(before, name, labels);

describe('metrics', () => {
  test('requests are counted by interaction, resource type and status, and every stage is timed with sub-millisecond buckets', async () => {
    const before = await scrape(origin);
    const res = await stack.fetch('Observation?_count=100', { token: await tokens.clinician() });
    expect(res.status).toBe(200);
    const after = await scrape(origin);
    expect(delta(before, after, 'fhirgw_http_requests_total', { interaction: 'search-type', resource_type: 'Observation', code: '200' })).toBe(1);
    for (const stage of ['token', 'policy', 'upstream', 'enforce', 'audit']) {
      expect(delta(before, after, 'fhirgw_stage_duration_seconds_count', { stage })).toBeGreaterThanOrEqual(1);
    }
    // The smallest bucket is 25 µs: token checks and policy evaluations are resolved, not lumped into one bucket.
    expect(after.some((s) => s.name === 'fhirgw_stage_duration_seconds_bucket' && s.labels['stage'] === 'policy' && Number(s.labels['le']) === 0.000025)).toBe(true);
    expect(metricSum(after, 'fhirgw_http_requests_in_flight')).toBe(0);
  });

  test('withheld resources are counted by type, and the decision by its reason codes', async () => {
    const before = await scrape(origin);
    const token = await tokens.clinician('user/Observation.rs?category=http://terminology.hl7.org/CodeSystem/observation-category|laboratory');
    const res = await stack.fetch('Observation?_count=100', { token });
    expect(res.status).toBe(200);
    const record = await auditRecordOf(stack, res.headers.get('x-request-id')!);
    expect(record.entries?.withheld).toBe(6);
    const after = await scrape(origin);
    expect(delta(before, after, 'fhirgw_resources_withheld_total', { resource_type: 'Observation' })).toBe(6);
    expect(record.outcome.reasons.length).toBeGreaterThan(0);
    for (const reason of record.outcome.reasons) {
      expect(delta(before, after, 'fhirgw_decision_reasons_total', { decision: 'allow', reason: reasonLabel(reason) })).toBeGreaterThanOrEqual(1);
    }
  });

  test('a denied request is counted under deny with its reason', async () => {
    const before = await scrape(origin);
    const res = await stack.fetch(`Patient/${bruno.id}/Observation`, { token: await tokens.patient(alba.id) });
    expect(res.status).toBe(403);
    const record = await auditRecordOf(stack, res.headers.get('x-request-id')!);
    const after = await scrape(origin);
    expect(record.outcome.reasons.length).toBeGreaterThan(0);
    for (const reason of record.outcome.reasons) expect(delta(before, after, 'fhirgw_decision_reasons_total', { decision: 'deny', reason: reasonLabel(reason) })).toBe(1);
  });

  test('redacted resources are counted by type, with the number of fields redacted', async () => {
    const before = await scrape(origin);
    const res = await stack.fetch('Patient', { token: await tokens.researcher() });
    expect(res.status).toBe(200);
    const after = await scrape(origin);
    expect(delta(before, after, 'fhirgw_resources_redacted_total', { resource_type: 'Patient' })).toBe(3);
    // Names, identifiers, contacts and birth dates of three patients: several fields each.
    expect(delta(before, after, 'fhirgw_redacted_fields_total')).toBeGreaterThanOrEqual(9);
  });

  test('no label value is an id, a user, a token or a path', async () => {
    const samples = await scrape(origin);
    const values = samples.flatMap((s) => Object.values(s.labels));
    for (const v of values) {
      expect(v).not.toMatch(/pat-|prac-|Practitioner\/|Patient\/|\/fhir|eyJ|researcher-1/);
    }
  });
});

describe('trace context and logs', () => {
  test('a caller\'s traceparent is continued: the upstream sees the same trace under the gateway\'s span, the audit record and the log line carry the trace id', async () => {
    const before = stack.fhir.requests.length;
    const res = await stack.fetch(`Patient/${alba.id}`, { token: await tokens.patient(alba.id), headers: { traceparent: `00-${CALLER_TRACE}-${CALLER_SPAN}-01`, tracestate: 'vendor=opaque' } });
    expect(res.status).toBe(200);
    const requestId = res.headers.get('x-request-id')!;
    const sent = stack.fhir.requests.slice(before);
    expect(sent.length).toBeGreaterThanOrEqual(1);
    for (const r of sent) {
      // The gateway's own reads (consents) belong to the same trace as the forwarded request.
      const m = /^00-([0-9a-f]{32})-([0-9a-f]{16})-01$/.exec(String(r.headers['traceparent']));
      expect(m?.[1]).toBe(CALLER_TRACE);
      expect(m?.[2]).not.toBe(CALLER_SPAN);
      expect(r.headers['tracestate']).toBe('vendor=opaque');
    }
    expect((await auditRecordOf(stack, requestId)).traceId).toBe(CALLER_TRACE);
    const line = log.lines().find((l) => l['msg'] === 'request' && l['requestId'] === requestId);
    expect(line).toMatchObject({ traceId: CALLER_TRACE, interaction: 'read', status: 200 });
  });

  test('without a (valid) traceparent the gateway starts a trace and uses it upstream and in the audit record', async () => {
    const before = stack.fhir.requests.length;
    const res = await stack.fetch(`Patient/${alba.id}`, { token: await tokens.patient(alba.id), headers: { traceparent: `00-${'0'.repeat(32)}-${CALLER_SPAN}-01` } });
    expect(res.status).toBe(200);
    const record = await auditRecordOf(stack, res.headers.get('x-request-id')!);
    expect(record.traceId).toMatch(/^[0-9a-f]{32}$/);
    expect(record.traceId).not.toBe('0'.repeat(32));
    const forwarded = stack.fhir.requests.slice(before).find((r) => r.url.startsWith(`/fhir/Patient/${alba.id}`) || r.url.includes(`Patient/${alba.id}`));
    expect(String(forwarded?.headers['traceparent'])).toMatch(new RegExp(`^00-${record.traceId}-[0-9a-f]{16}-00$`));
  });
});

describe('what the process exports about itself', () => {
  test('fhirgw_build_info carries the version, revision and Node version; fhirgw_redis_up is absent without redis.*', async () => {
    const samples = await scrape(origin);
    const version = (JSON.parse(readFileSync('package.json', 'utf8')) as { version: string }).version;
    const info = samples.filter((s) => s.name === 'fhirgw_build_info');
    expect(info).toHaveLength(1);
    expect(info[0]).toMatchObject({ value: 1, labels: { version, node: process.version, revision: expect.stringMatching(/^([0-9a-f]{40}|unknown)$/) } });
    expect(samples.some((s) => s.name === 'fhirgw_redis_up')).toBe(false);
  });
});

describe('upstream failures', () => {
  test('an unreachable upstream is counted by kind', async () => {
    const local = await startStack();
    try {
      const localOrigin = new URL(local.base).origin;
      const before = await scrape(localOrigin);
      await local.fhir.close();
      const res = await local.fetch(`Patient/${alba.id}`, { token: await tokensFor(local.issuer).patient(alba.id) });
      expect(res.status).toBe(502);
      const after = await scrape(localOrigin);
      expect(delta(before, after, 'fhirgw_upstream_errors_total', { kind: 'unavailable' })).toBe(1);
      expect(delta(before, after, 'fhirgw_decision_reasons_total', { decision: 'error', reason: 'upstream.connect' })).toBe(1);
    } finally {
      await local.gateway.close();
      await local.issuer.close();
    }
  });
});
