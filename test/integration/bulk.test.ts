/**
 * FHIR Bulk Data through the gateway, against the devkit's $export (Medplum's engine as the data
 * source): links are the gateway's own and bound to the exporting client, files stream through the
 * same decisions and redaction as searches.
 */
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { SYNTHETIC_PATIENTS } from '../../src/devkit/synthetic-data.js';
import { auditRecordOf, headerPairs, jsonOf, startStack, tokensFor, type Stack } from '../support/stack.js';

let stack: Stack;
let system: string;
let upstreamHost: string;

beforeAll(async () => {
  stack = await startStack();
  system = await stack.issuer.mint({ sub: 'svc-analytics', client_id: 'analytics', scope: 'system/*.rs', roles: ['clinician'] });
  upstreamHost = new URL(stack.fhir.baseUrl).host;
});
afterAll(() => stack.close());

async function exportAll(token: string, query = ''): Promise<{ type: string; url: string }[]> {
  const kickoff = await stack.fetch(`$export${query}`, { token, headers: { prefer: 'respond-async' } });
  expect(kickoff.status).toBe(202);
  const status = kickoff.headers.get('content-location')!;
  expect(status.startsWith(`${stack.base}/$bulk-status?job=`)).toBe(true);
  for (let i = 0; i < 5; i++) {
    const poll = await stack.fetch(status, { token });
    const text = await poll.text();
    expect(text + JSON.stringify(headerPairs(poll.headers))).not.toContain(upstreamHost);
    if (poll.status === 202) {
      expect(poll.headers.get('x-progress')).toBe('in-progress');
      continue;
    }
    expect(poll.status).toBe(200);
    const manifest = JSON.parse(text);
    expect(manifest.requiresAccessToken).toBe(true);
    return manifest.output;
  }
  throw new Error('export never completed');
}

const lines = (text: string) => text.split('\n').filter((l) => l !== '').map((l) => JSON.parse(l));

describe('bulk export', () => {
  test('kick-off, status and files all go through the gateway\'s own links; files stream NDJSON', async () => {
    const output = await exportAll(system, '?_type=Patient,Observation');
    expect(output.map((o) => o.type).sort()).toEqual(['Observation', 'Patient']);
    for (const o of output) expect(o.url.startsWith(`${stack.base}/$bulk-file?file=`)).toBe(true);
    const patients = await stack.fetch(output.find((o) => o.type === 'Patient')!.url, { token: system });
    expect(patients.status).toBe(200);
    expect(patients.headers.get('content-type')).toBe('application/fhir+ndjson');
    expect(lines(await patients.text()).map((p) => p.id).sort()).toEqual(SYNTHETIC_PATIENTS.map((p) => p.id).sort());
    const record = await auditRecordOf(stack, patients.headers.get('x-request-id')!);
    expect(record).toMatchObject({ request: { operation: 'bulk-file' }, entries: { returned: 3, withheld: 0 } });
  });

  test('a status poll reaches the upstream under the client request\'s trace', async () => {
    const kickoff = await stack.fetch('$export?_type=Patient', { token: system, headers: { prefer: 'respond-async' } });
    expect(kickoff.status).toBe(202);
    const before = stack.fhir.requests.length;
    const poll = await stack.fetch(kickoff.headers.get('content-location')!, { token: system });
    expect([200, 202]).toContain(poll.status);
    const record = await auditRecordOf(stack, poll.headers.get('x-request-id')!);
    const sent = stack.fhir.requests.slice(before);
    expect(sent.length).toBeGreaterThan(0);
    for (const r of sent) expect(String(r.headers['traceparent'])).toMatch(new RegExp(`^00-${record.traceId}-[0-9a-f]{16}-0[01]$`));
  });

  test('exported files are redacted like searches (a researcher\'s export is de-identified)', async () => {
    const researcher = await stack.issuer.mint({ sub: 'svc-research', client_id: 'research', scope: 'system/*.rs', roles: ['researcher'], purpose_of_use: ['HRESCH'] });
    const output = await exportAll(researcher, '?_type=Patient');
    const text = await (await stack.fetch(output[0]!.url, { token: researcher })).text();
    for (const p of SYNTHETIC_PATIENTS) for (const m of [p.family, p.mrn, p.phone]) expect(text).not.toContain(m);
    const years = lines(text).map((patient) => patient.birthDate ?? 'withheld').sort();
    expect(years).toEqual(['1961', '1987', 'withheld']); // the 1933 birth year would identify someone over 89
  });

  test('links are bound to the exporting client: another client, or a tampered link, gets a plain 404', async () => {
    const output = await exportAll(system, '?_type=Patient');
    const other = await stack.issuer.mint({ sub: 'svc-other', client_id: 'other', scope: 'system/*.rs' });
    expect((await stack.fetch(output[0]!.url, { token: other })).status).toBe(404);
    const tampered = output[0]!.url.replace(/file=([^.]+)\.([^.]+)\./, (_m, h, p) => `file=${h}.${Buffer.from(JSON.stringify({ ...JSON.parse(Buffer.from(p, 'base64url').toString()), u: 'http://169.254.169.254/latest/meta-data' })).toString('base64url')}.`);
    expect((await stack.fetch(tampered, { token: system })).status).toBe(404);
  });

  test('a cancelled export is gone', async () => {
    const kickoff = await stack.fetch('$export?_type=Patient', { token: system, headers: { prefer: 'respond-async' } });
    const status = kickoff.headers.get('content-location')!;
    expect((await stack.fetch(status, { token: system, method: 'DELETE' })).status).toBe(202);
    expect((await stack.fetch(status, { token: system })).status).toBe(404);
  });

  test('only system-context tokens may export', async () => {
    const before = stack.fhir.requests.length;
    const patient = await tokensFor(stack.issuer).patient('pat-alba');
    const clinician = await tokensFor(stack.issuer).clinician();
    expect((await stack.fetch('$export', { token: patient })).status).toBe(403);
    expect((await stack.fetch('$export', { token: clinician })).status).toBe(403);
    expect(stack.fhir.requests.length).toBe(before);
    const body = await jsonOf(await stack.fetch('$bulk-file?file=x', { token: patient }));
    expect(body.resourceType).toBe('OperationOutcome');
  });
});
