/**
 * An upstream 4xx is the client's (or the deployment's) problem, not an upstream outage: it keeps its
 * meaning for the client with the gateway's own OperationOutcome (issue codes and the client's own
 * parameter name, never the upstream's text), is logged with the upstream status, and is counted in
 * fhirgw_upstream_client_errors_total, not fhirgw_upstream_errors_total. 404 stays exactly the
 * plain not_found a withholding answers. The real engine answers the malformed date and the bare
 * base; a scripted HTTP server stands in for statuses the engine does not give on demand.
 */
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { operationOutcomeFor, GatewayError } from '../../src/errors.js';
import { SYNTHETIC_PATIENTS } from '../../src/devkit/synthetic-data.js';
import { testLoggerWithFile } from '../support/logs.js';
import { metricSum, scrape, type Sample } from '../support/metrics.js';
import { answer, startScriptedUpstream, type ScriptedUpstream } from '../support/scripted-upstream.js';
import { auditRecordOf, jsonOf, startStack, tokensFor, type Stack } from '../support/stack.js';

const [alba, bruno] = SYNTHETIC_PATIENTS as [(typeof SYNTHETIC_PATIENTS)[number], (typeof SYNTHETIC_PATIENTS)[number]];
const delta = (before: Sample[], after: Sample[], name: string, labels: Record<string, string> = {}): number => metricSum(after, name, labels) - metricSum(before, name, labels);
const codesOf = (body: { issue: Array<{ details: { coding: Array<{ code: string }> } }> }): string[] => body.issue[0]!.details.coding.map((c) => c.code);

describe('the real engine refusing what the client asked', () => {
  let stack: Stack;
  let origin: string;
  beforeAll(async () => {
    stack = await startStack();
    origin = new URL(stack.base).origin;
  });
  afterAll(() => stack.close());

  test('a malformed date answers 400 upstream_bad_request with the issue code, counted as an upstream client error', async () => {
    const before = await scrape(origin);
    const res = await stack.fetch('Observation?date=notadate', { token: await tokensFor(stack.issuer).clinician() });
    expect(res.status).toBe(400);
    const body = await jsonOf(res);
    expect(codesOf(body)).toEqual(['upstream_bad_request', 'upstream.status-400']);
    expect(body.issue[0].diagnostics).toBe('FHIR server issue codes: invalid');
    // The engine's own text quotes the value: it never reaches the client.
    expect(JSON.stringify(body)).not.toContain('notadate');
    const after = await scrape(origin);
    expect(delta(before, after, 'fhirgw_upstream_client_errors_total', { status: '400' })).toBe(1);
    expect(delta(before, after, 'fhirgw_upstream_errors_total')).toBe(0);
    expect((await auditRecordOf(stack, body.id)).outcome).toMatchObject({ status: 400, error: 'upstream_bad_request' });
  });

  test('GET on the bare base answers the upstream 400, not 502', async () => {
    const res = await stack.fetch('', { token: await tokensFor(stack.issuer).clinician() });
    expect(res.status).toBe(400);
    expect(codesOf(await jsonOf(res))[0]).toBe('upstream_bad_request');
  });

  test('a withheld read still answers the plain 404 of a missing one', async () => {
    const token = await tokensFor(stack.issuer).patient(alba.id);
    const withheld = await jsonOf(await stack.fetch(`Observation/obs-${bruno.id}-0`, { token }));
    const missing = await jsonOf(await stack.fetch('Observation/no-such-observation', { token }));
    const plain = operationOutcomeFor(new GatewayError('not_found'));
    expect({ ...withheld, id: undefined }).toEqual({ ...plain, id: undefined });
    expect({ ...missing, id: undefined }).toEqual({ ...plain, id: undefined });
  });
});

describe('upstream 4xx statuses, scripted', () => {
  let stack: Stack;
  let upstream: ScriptedUpstream;
  let origin: string;
  const log = testLoggerWithFile('upstream-client-errors');
  const secret = `${bruno.family} ${bruno.mrn} db01.internal`;
  const outcome = (code: string, where: string[] = []): string =>
    JSON.stringify({ resourceType: 'OperationOutcome', issue: [{ severity: 'error', code, diagnostics: secret, details: { text: secret }, expression: where }] });
  const fhirJson = { 'content-type': 'application/fhir+json' };

  beforeAll(async () => {
    upstream = await startScriptedUpstream();
    stack = await startStack({
      config: (c) => ({ ...c, upstream: { ...c.upstream, url: upstream.url }, consent: { enabled: false } }),
      start: { logger: log.logger },
    });
    origin = new URL(stack.base).origin;
  });
  afterAll(async () => {
    await stack.close();
    await upstream.close();
  });

  type Case = [upstreamStatus: number, status: number, code: string, issue: string, diagnostics: string | undefined];
  const cases: Case[] = [
    [400, 400, 'upstream_bad_request', 'value', 'Search parameter: code; FHIR server issue codes: value'],
    [401, 502, 'upstream_auth_rejected', 'login', undefined],
    [403, 502, 'upstream_auth_rejected', 'forbidden', undefined],
    [405, 405, 'upstream_method_not_allowed', 'not-supported', 'Search parameter: code; FHIR server issue codes: not-supported'],
    [409, 409, 'upstream_conflict', 'conflict', 'Search parameter: code; FHIR server issue codes: conflict'],
    [422, 422, 'upstream_unprocessable', 'business-rule', 'Search parameter: code; FHIR server issue codes: business-rule'],
    [429, 429, 'upstream_throttled', 'throttled', 'Search parameter: code; FHIR server issue codes: throttled'],
    [418, 502, 'upstream_error', 'exception', undefined],
  ];

  test.each(cases)('upstream %d answers %d %s', async (upstreamStatus, status, code, issue, diagnostics) => {
    // The upstream points at the client's `code` and at a parameter the client never sent.
    upstream.behave = answer(upstreamStatus, { ...fhirJson, 'retry-after': '7' }, outcome(issue, ['http.code', 'http.secret-param']));
    const before = await scrape(origin);
    const res = await stack.fetch('Observation?code=1234-5', { token: await tokensFor(stack.issuer).clinician() });
    const text = await res.text();
    expect(res.status).toBe(status);
    const body = JSON.parse(text);
    expect(codesOf(body)).toEqual([code, `upstream.status-${upstreamStatus}`]);
    expect(body.issue[0].diagnostics).toBe(diagnostics);
    expect(text).not.toContain(bruno.family);
    expect(text).not.toContain('db01');
    expect(text).not.toContain('secret-param');
    expect(res.headers.get('retry-after')).toBe(code === 'upstream_throttled' ? '7' : null);
    const after = await scrape(origin);
    expect(delta(before, after, 'fhirgw_upstream_client_errors_total', { status: String(upstreamStatus) })).toBe(1);
    expect(delta(before, after, 'fhirgw_upstream_errors_total')).toBe(0);
    const line = log.lines().find((l) => l['msg'] === 'request' && l['requestId'] === body.id);
    expect(line).toMatchObject({ status, code, upstreamStatus });
  });

  test('a 404 with an OperationOutcome answers the plain not_found, its codes only in the audit record', async () => {
    upstream.behave = answer(404, fhirJson, outcome('not-found', ['http.code']));
    const res = await stack.fetch('Observation?code=1234-5', { token: await tokensFor(stack.issuer).clinician() });
    expect(res.status).toBe(404);
    const body = await jsonOf(res);
    expect({ ...body, id: undefined }).toEqual({ ...operationOutcomeFor(new GatewayError('not_found')), id: undefined });
    expect((await auditRecordOf(stack, body.id)).outcome.reasons).toContain('upstream.status-404');
  });

  test('a 5xx is still an upstream error, counted by kind', async () => {
    upstream.behave = answer(500, fhirJson, outcome('exception'));
    const before = await scrape(origin);
    const res = await stack.fetch('Observation?code=1234-5', { token: await tokensFor(stack.issuer).clinician() });
    expect(res.status).toBe(502);
    expect(codesOf(await jsonOf(res))[0]).toBe('upstream_error');
    const after = await scrape(origin);
    expect(delta(before, after, 'fhirgw_upstream_errors_total', { kind: 'status' })).toBe(1);
    expect(delta(before, after, 'fhirgw_upstream_client_errors_total')).toBe(0);
  });

  test('a write the upstream refuses keeps its status: 422 on a create', async () => {
    upstream.behave = answer(422, fhirJson, outcome('invariant', ['Patient.name']));
    const res = await stack.fetch('Patient', {
      method: 'POST',
      token: await tokensFor(stack.issuer).clinician('user/*.cruds'),
      headers: { 'content-type': 'application/fhir+json' },
      body: JSON.stringify({ resourceType: 'Patient', name: [{ family: 'New' }] }),
    });
    expect(res.status).toBe(422);
    const body = await jsonOf(res);
    expect(codesOf(body)[0]).toBe('upstream_unprocessable');
    // `Patient.name` is an element path, not one of the client's parameters: not named.
    expect(body.issue[0].diagnostics).toBe('FHIR server issue codes: invariant');
  });
});
