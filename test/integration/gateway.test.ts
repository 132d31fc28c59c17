/**
 * The gateway end to end: real HTTP on real ports, Medplum's FHIR engine as the upstream, real
 * ES256 tokens checked against a JWKS served on loopback, the shipped WASM policy.
 */
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { SYNTHETIC_PATIENTS } from '../../src/devkit/synthetic-data.js';
import { auditRecordOf, jsonOf, rawRequest, startStack, tokensFor, waitForAudit, type Stack } from '../support/stack.js';
import { metricSum, scrape } from '../support/metrics.js';

const [alba, bruno, chen] = SYNTHETIC_PATIENTS as [typeof SYNTHETIC_PATIENTS[0], typeof SYNTHETIC_PATIENTS[0], typeof SYNTHETIC_PATIENTS[0]];
const othersOf = (p: { id: string }) => SYNTHETIC_PATIENTS.filter((q) => q.id !== p.id);
/** Every marker of a patient that must not appear in an answer meant for someone else. */
const markers = (p: (typeof SYNTHETIC_PATIENTS)[number]) => [p.id, p.family, p.mrn, p.phone];

let stack: Stack;
let tokens: ReturnType<typeof tokensFor>;

beforeAll(async () => {
  stack = await startStack();
  tokens = tokensFor(stack.issuer);
});
afterAll(async () => {
  await stack.close();
});

const upstreamCount = () => stack.fhir.requests.length;
const reasonCodes = (body: { issue?: Array<{ details?: { coding?: Array<{ code?: string }> } }> }) =>
  (body.issue?.[0]?.details?.coding ?? []).map((c) => c.code);

describe('a patient-context token', () => {
  test('reads its own Patient record', async () => {
    const res = await stack.fetch(`Patient/${alba.id}`, { token: await tokens.patient(alba.id) });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^application\/fhir\+json/);
    const body = await jsonOf(res);
    expect(body).toMatchObject({ resourceType: 'Patient', id: alba.id, name: [{ family: alba.family }] });
  });

  test("is refused another patient's record, and the answer carries none of it", async () => {
    const res = await stack.fetch(`Patient/${bruno.id}`, { token: await tokens.patient(alba.id) });
    expect(res.status).toBe(403);
    const text = await res.text();
    expect(reasonCodes(JSON.parse(text))).toEqual(['forbidden', 'compartment.other-patient']);
    for (const m of markers(bruno).slice(1)) expect(text).not.toContain(m);
  });

  test("is refused another patient's Observation read by id, answered exactly like one that does not exist", async () => {
    const token = await tokens.patient(alba.id);
    const withheld = await stack.fetch(`Observation/obs-${bruno.id}-0`, { token });
    const missing = await stack.fetch('Observation/no-such-observation', { token });
    expect(withheld.status).toBe(404);
    expect(missing.status).toBe(404);
    const withheldBody = await jsonOf(withheld);
    const missingBody = await jsonOf(missing);
    // Only the request id differs: no existence oracle.
    expect({ ...withheldBody, id: 'x' }).toEqual({ ...missingBody, id: 'x' });
    for (const m of markers(bruno)) expect(JSON.stringify(withheldBody)).not.toContain(m);
    const audit = await auditRecordOf(stack, withheldBody.id);
    expect(audit.outcome).toMatchObject({ status: 404, reasons: ['compartment.other-patient'] });
  });

  test('has its searches narrowed to its own compartment before they are forwarded', async () => {
    const before = upstreamCount();
    const res = await stack.fetch('Observation', { token: await tokens.patient(alba.id) });
    expect(res.status).toBe(200);
    const bundle = await jsonOf(res);
    expect(bundle.entry).toHaveLength(4);
    for (const e of bundle.entry) expect(e.resource.subject.reference).toBe(`Patient/${alba.id}`);
    const forwarded = stack.fhir.requests.slice(before);
    expect(forwarded).toHaveLength(1);
    // The gateway pages itself: it asks the upstream for one entry more than the client's page (20 + 1), to know whether another page follows.
    expect(decodeURIComponent(forwarded[0]!.url)).toBe(`/fhir/Observation?subject=Patient/${alba.id}&_count=21`);
  });

  test('cannot widen a search with its own parameters: ANDed with the narrowing, never replacing it', async () => {
    const res = await stack.fetch(`Observation?_id=obs-${bruno.id}-0`, { token: await tokens.patient(alba.id) });
    expect(res.status).toBe(200);
    const text = await res.text();
    expect(JSON.parse(text).entry).toBeUndefined();
    for (const m of markers(bruno).slice(1)) expect(text).not.toContain(m);
  });

  test('is refused a search whose criteria name another patient', async () => {
    const res = await stack.fetch(`Observation?subject=Patient/${bruno.id}`, { token: await tokens.patient(alba.id) });
    expect(res.status).toBe(403);
    const text = await res.text();
    expect(JSON.parse(text).resourceType).toBe('OperationOutcome');
    for (const m of markers(bruno).slice(1)) expect(text).not.toContain(m);
  });

  test("is refused a compartment search of another patient", async () => {
    const res = await stack.fetch(`Patient/${bruno.id}/Observation`, { token: await tokens.patient(alba.id) });
    expect(res.status).toBe(403);
  });
});

describe('response filtering', () => {
  test('a granular lab-only scope gets a searchset with the other categories withheld and total recomputed', async () => {
    const token = await tokens.clinician('user/Observation.rs?category=http://terminology.hl7.org/CodeSystem/observation-category|laboratory');
    const res = await stack.fetch('Observation?_count=100', { token });
    expect(res.status).toBe(200);
    const bundle = await jsonOf(res);
    const categories = bundle.entry.map((e: { resource: { category: Array<{ coding: Array<{ code: string }> }> } }) => e.resource.category[0]!.coding[0]!.code);
    expect(new Set(categories)).toEqual(new Set(['laboratory']));
    // 3 patients x 4 observations, half of them laboratory: 6 released, 6 withheld.
    expect(bundle.entry).toHaveLength(6);
    expect(bundle.total).toBe(6);
  });

  test('paging links are the gateway\'s own sealed cursors, bound to the principal who searched', async () => {
    const upstreamHost = new URL(stack.fhir.baseUrl).host;
    const token = await tokens.clinician();
    const first = await stack.fetch('Observation?_count=5', { token });
    const page1Text = await first.text();
    expect(page1Text).not.toContain(upstreamHost);
    const page1 = JSON.parse(page1Text);
    const next = page1.link.find((l: { relation: string }) => l.relation === 'next').url as string;
    expect(next).toMatch(new RegExp(`^${stack.base}\\?_gwcursor=[A-Za-z0-9_-]+$`));
    for (const e of page1.entry) expect(e.fullUrl.startsWith(`${stack.base}/Observation/`)).toBe(true);

    const page2 = await jsonOf(await stack.fetch(next, { token }));
    expect(page2.entry).toHaveLength(5);
    const ids1 = page1.entry.map((e: { resource: { id: string } }) => e.resource.id);
    for (const e of page2.entry) expect(ids1).not.toContain(e.resource.id);

    // The same next link with another principal's token is refused, and nothing goes upstream.
    const before = upstreamCount();
    const patientPage = await stack.fetch(next, { token: await tokens.patient(chen.id) });
    expect(patientPage.status).toBe(400);
    const patientText = await patientPage.text();
    expect(patientText).toContain('paging.cursor-invalid');
    for (const other of othersOf(chen)) for (const m of markers(other)) expect(patientText).not.toContain(m);
    expect(upstreamCount()).toBe(before);
  });

  test('a researcher sees patients with names, identifiers and contacts removed, birth dates cut to the year, labelled REDACTED', async () => {
    const res = await stack.fetch('Patient', { token: await tokens.researcher() });
    expect(res.status).toBe(200);
    const text = await res.text();
    for (const p of SYNTHETIC_PATIENTS) for (const m of [p.family, p.mrn, p.phone, p.birthDate]) expect(text).not.toContain(m);
    const bundle = JSON.parse(text);
    expect(bundle.entry).toHaveLength(3);
    for (const e of bundle.entry) {
      // Safe Harbor: the year of birth, except for people 90 or older (Chen, born 1933), whose year is withheld too.
      if (e.resource.birthDate !== undefined) expect(e.resource.birthDate).toMatch(/^19(61|87)$/);
      else expect(e.resource._birthDate.extension[0].valueCode).toBe('masked');
      expect(e.resource.meta.security).toContainEqual(expect.objectContaining({ system: 'http://terminology.hl7.org/CodeSystem/v3-ObservationValue', code: 'REDACTED' }));
    }
  });

  test('a researcher cannot write (read-only role)', async () => {
    const before = upstreamCount();
    const res = await stack.fetch('Observation', {
      method: 'POST',
      token: await tokens.researcher('user/*.cruds'),
      headers: { 'content-type': 'application/fhir+json' },
      body: JSON.stringify({ resourceType: 'Observation', status: 'final', code: { text: 'x' }, subject: { reference: `Patient/${alba.id}` } }),
    });
    expect(res.status).toBe(403);
    expect(upstreamCount()).toBe(before);
  });
});

describe('the FHIR surface', () => {
  test('metadata is readable without a token and names the public endpoint only', async () => {
    const res = await stack.fetch('metadata');
    expect(res.status).toBe(200);
    const text = await res.text();
    expect(JSON.parse(text)).toMatchObject({ resourceType: 'CapabilityStatement', implementation: { url: stack.base } });
    expect(text).not.toContain(new URL(stack.fhir.baseUrl).host);
  });

  test('non-canonical paths are refused with 400 before authentication (any token or none) and before forwarding', async () => {
    const before = upstreamCount();
    const authorization = `Bearer ${await tokens.clinician()}`;
    const paths = [
      '/fhir/Patient/../Patient/pat-alba',
      '/fhir/Patient/./pat-alba',
      '/fhir//Patient',
      '/fhir/Patient%2Fpat-alba',
      '/fhir/Patient/pat%2Dalba',
      '/fhir/patient/pat-alba',
      '/fhir/Patient;x=1/pat-alba',
      'http://evil.example/fhir/Patient/pat-alba',
    ];
    const origin = new URL(stack.base).origin;
    const rejections = async () => metricSum(await scrape(origin), 'fhirgw_token_rejections_total');
    const rejectedBefore = await rejections();
    for (const path of paths) {
      // With a valid token, no token and a forged one alike: had the token been looked at first,
      // the last two would be 401 and counted as token rejections.
      for (const headers of [{ authorization }, {}, { authorization: 'Bearer forged.token.value' }] as Array<Record<string, string>>) {
        const res = await rawRequest(origin, 'GET', path, headers);
        expect({ path, headers, status: res.status }).toEqual({ path, headers, status: 400 });
        expect(JSON.parse(res.body).resourceType).toBe('OperationOutcome');
      }
    }
    expect(await rejections()).toBe(rejectedBefore);
    // The counter counts: the same forged token on a canonical path is refused by authentication.
    expect((await rawRequest(origin, 'GET', '/fhir/Patient/pat-alba', { authorization: 'Bearer forged.token.value' })).status).toBe(401);
    expect(await rejections()).toBe(rejectedBefore + 1);
    expect(upstreamCount()).toBe(before);
  });

  test('answers carry no-store and nosniff, and no X-Powered-By', async () => {
    const res = await stack.fetch(`Patient/${alba.id}`, { token: await tokens.patient(alba.id) });
    expect(res.headers.get('cache-control')).toBe('no-store');
    expect(res.headers.get('x-content-type-options')).toBe('nosniff');
    expect(res.headers.get('x-powered-by')).toBeNull();
  });

  test('the client token is not forwarded upstream, nor spoofed forwarding headers', async () => {
    const before = upstreamCount();
    await stack.fetch(`Patient/${alba.id}`, { token: await tokens.patient(alba.id), headers: { 'x-forwarded-host': 'evil.example', forwarded: 'host=evil.example', cookie: 'a=b' } });
    const [sent] = stack.fhir.requests.slice(before);
    expect(sent!.headers['authorization']).toBeUndefined();
    expect(sent!.headers['x-forwarded-host']).toBeUndefined();
    expect(sent!.headers['forwarded']).toBeUndefined();
    expect(sent!.headers['cookie']).toBeUndefined();
  });

  test('healthz, readyz and metrics sit outside the FHIR base', async () => {
    const origin = new URL(stack.base).origin;
    expect((await fetch(`${origin}/healthz`)).status).toBe(200);
    expect(await jsonOf(await fetch(`${origin}/readyz`))).toMatchObject({ status: 'ready', notReady: [] });
    const metrics = await (await fetch(`${origin}/metrics`)).text();
    expect(metrics).toMatch(/^fhirgw_http_requests_total\{interaction="read",resource_type="Patient",code="200"\} \d+$/m);
    expect(metrics).toMatch(/^fhirgw_policy_decisions_total\{stage="resource",result="deny"\} \d+$/m);
    expect(metrics).toMatch(/^fhirgw_upstream_request_duration_seconds_bucket\{le="0.005",outcome="2xx"\} \d+$/m);
    expect(metrics).toMatch(/^fhirgw_http_request_duration_seconds_count\{interaction="search-type",code="200"\} \d+$/m);
  });
});

describe('audit', () => {
  test('exactly one record per request, valid against the schema, with no patient content', async () => {
    const local = await startStack();
    try {
      const t = tokensFor(local.issuer);
      const calls = [
        local.fetch(`Patient/${alba.id}`, { token: await t.patient(alba.id) }),
        local.fetch(`Patient/${bruno.id}`, { token: await t.patient(alba.id) }),
        local.fetch(`Observation?code=${encodeURIComponent(alba.family)}`, { token: await t.clinician() }),
        local.fetch('Patient'),
        rawRequest(new URL(local.base).origin, 'GET', '/fhir/Patient/../x', { authorization: `Bearer ${await t.clinician()}` }),
        local.fetch('Observation?_count=100', { token: await t.clinician('user/Observation.rs?category=http://terminology.hl7.org/CodeSystem/observation-category|laboratory') }),
      ];
      const statuses = await Promise.all(calls.map(async (c) => (await c).status));
      const records = await waitForAudit(local, calls.length);
      expect(records).toHaveLength(calls.length);
      expect(new Set(records.map((r) => r.decisionId)).size).toBe(calls.length);
      expect(records.map((r) => r.outcome.status).sort()).toEqual([...statuses].sort());

      const byStatus = (s: number) => records.filter((r) => r.outcome.status === s);
      const allowedRead = records.find((r) => r.request?.interaction === 'read' && r.outcome.status === 200)!;
      expect(allowedRead).toMatchObject({ outcome: { decision: 'allow', error: null }, principal: { patient: alba.id, sub: `Patient/${alba.id}` }, request: { type: 'Patient', id: alba.id } });
      expect(allowedRead.policyRevision).toMatch(/^[0-9a-f]{16}$/);
      expect(byStatus(403)[0]).toMatchObject({ outcome: { decision: 'deny', reasons: ['compartment.other-patient'], error: 'forbidden' } });
      expect(byStatus(401)[0]).toMatchObject({ principal: null, outcome: { decision: 'deny', error: 'token_missing' } });
      expect(byStatus(400)[0]).toMatchObject({ request: null, outcome: { error: 'path_not_canonical' } });
      const filtered = records.find((r) => r.entries && r.entries.withheld > 0)!;
      expect(filtered.entries).toMatchObject({ returned: 6, withheld: 6 });
      expect(filtered.entries!.withheldRefs.every((ref) => ref.startsWith('Observation/'))).toBe(true);

      const raw = (await import('node:fs')).readFileSync(local.auditFile, 'utf8');
      for (const p of SYNTHETIC_PATIENTS) for (const m of [p.family, p.given, p.mrn, p.phone, p.birthDate]) expect(raw).not.toContain(m);
      expect(raw).not.toMatch(/eyJ[A-Za-z0-9_-]{10,}\./); // no token
    } finally {
      await local.close();
    }
  });
});
