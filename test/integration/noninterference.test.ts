/**
 * Noninterference, one attack class at a time (issue 15), against Medplum's engine: for each class,
 * the answer a principal gets for withheld data is compared with the answer it gets when the data is
 * not there at all, and what reaches the upstream is checked. The general proof is the two-world
 * property test (test/property/noninterference.property.test.ts); these pin the fixed behaviour of
 * each class the security review found.
 */
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import type { Resource } from '@medplum/fhirtypes';
import { SYNTHETIC_PATIENTS } from '../../src/devkit/synthetic-data.js';
import { auditRecordOf, startStack, tokensFor, type Stack } from '../support/stack.js';

const [alba, bruno, chen] = SYNTHETIC_PATIENTS as [typeof SYNTHETIC_PATIENTS[0], typeof SYNTHETIC_PATIENTS[0], typeof SYNTHETIC_PATIENTS[0]];
const ACT_CODE = 'http://terminology.hl7.org/CodeSystem/v3-ActCode';
const LOINC = 'http://loinc.org';
const HIV_LABEL = { system: ACT_CODE, code: 'HIV' };

let stack: Stack;
let t: ReturnType<typeof tokensFor>;

const hivResult = (id: string, patient: string, value: string): Resource => ({
  resourceType: 'Observation',
  id,
  meta: { security: [HIV_LABEL] },
  status: 'final',
  code: { coding: [{ system: LOINC, code: '75622-1' }] },
  subject: { reference: `Patient/${patient}` },
  valueString: value,
});

beforeAll(async () => {
  stack = await startStack();
  t = tokensFor(stack.issuer);
  const put = (r: Resource) => stack.fhir.repo.updateResource(r);
  // Withheld from clinicians without break-the-glass: Alba's HIV results, between her visible ones.
  for (let i = 0; i < 3; i++) await put(hivResult(`obs-hiv-${i}`, alba.id, `detected-${i}`));
  // A record labelled after the fact: v1 unlabelled, v2 labelled PSY.
  await put({ resourceType: 'Condition', id: 'cond-later-psy', subject: { reference: `Patient/${alba.id}` }, code: { text: 'Depressive episode' } });
  await put({ resourceType: 'Condition', id: 'cond-later-psy', meta: { security: [{ system: ACT_CODE, code: 'PSY' }] }, subject: { reference: `Patient/${alba.id}` }, code: { text: 'Depressive episode' } });
  // Billing gets Encounter.reasonCode removed.
  await put({ resourceType: 'Encounter', id: 'enc-reason', status: 'finished', class: { system: ACT_CODE, code: 'AMB' }, subject: { reference: `Patient/${alba.id}` }, reasonCode: [{ coding: [{ system: 'http://snomed.info/sct', code: '38341003' }] }] });
  // Alba's own record naming another patient by identifier and display only.
  await put({ resourceType: 'Observation', id: 'obs-alba-logical', status: 'final', code: { text: 'family history' }, subject: { reference: `Patient/${alba.id}` }, focus: [{ type: 'Patient', identifier: { system: 'urn:mrn', value: bruno.mrn }, display: `${bruno.given} ${bruno.family}` }] });
}, 60_000);

afterAll(async () => {
  await stack.close();
});

interface Answer {
  readonly status: number;
  readonly body: unknown;
  readonly headers: Record<string, string | null>;
}

/** An answer with what legitimately differs between two requests (request ids, cursors) normalised away. */
async function answer(path: string, token: string, init: RequestInit = {}): Promise<Answer> {
  const res = await stack.fetch(path, { token, ...init });
  const text = await res.text();
  const body = text === '' ? null : (JSON.parse(text.replace(/_gwcursor=[A-Za-z0-9_-]+/g, '_gwcursor=<cursor>')) as Record<string, unknown>);
  if (body && body['resourceType'] === 'OperationOutcome') delete body['id'];
  const headers = Object.fromEntries(['etag', 'location', 'last-modified', 'www-authenticate', 'content-type'].map((h) => [h, res.headers.get(h)]));
  return { status: res.status, body, headers };
}

const upstreamSince = (n: number) => stack.fhir.requests.slice(n).map((r) => `${r.method} ${decodeURIComponent(r.url)}`);
const writesSince = (n: number) => upstreamSince(n).filter((r) => !r.startsWith('GET'));
const json = (value: unknown) => ({ headers: { 'content-type': 'application/fhir+json' }, body: JSON.stringify(value) });
const jsonPatch = (ops: unknown) => ({ method: 'PATCH', headers: { 'content-type': 'application/json-patch+json' }, body: JSON.stringify(ops) });

describe('1. no data-dependent step runs before the decision', () => {
  test('a read-only token\'s JSON Patch `test` on another patient answers the same for a right and a wrong guess, and reads nothing upstream', async () => {
    const token = await t.patient(alba.id);
    const before = stack.fhir.requests.length;
    const right = await answer(`Patient/${bruno.id}`, token, jsonPatch([{ op: 'test', path: '/name/0/family', value: bruno.family }]));
    const wrong = await answer(`Patient/${bruno.id}`, token, jsonPatch([{ op: 'test', path: '/name/0/family', value: 'Nobody' }]));
    expect(right.status).toBe(403);
    expect(right).toEqual(wrong);
    expect(upstreamSince(before)).toEqual([]);
  });

  test('a researcher probing a label with a patch `test` is refused before anything is read', async () => {
    const token = await t.researcher('user/*.cruds');
    const before = stack.fhir.requests.length;
    const labelled = await answer('Observation/obs-hiv-0', token, jsonPatch([{ op: 'test', path: '/meta/security/0/code', value: 'HIV' }]));
    const unlabelled = await answer(`Observation/obs-${alba.id}-0`, token, jsonPatch([{ op: 'test', path: '/meta/security/0/code', value: 'HIV' }]));
    expect(labelled.status).toBe(403);
    expect(labelled).toEqual(unlabelled);
    expect(upstreamSince(before)).toEqual([]);
  });

  const writes: Array<[string, (id: string) => [string, RequestInit]]> = [
    ['PATCH []', (id) => [`Observation/${id}`, jsonPatch([])]],
    ['PUT with If-Match', (id) => [`Observation/${id}`, { method: 'PUT', body: JSON.stringify({ resourceType: 'Observation', id, status: 'final', code: { text: 'x' }, subject: { reference: `Patient/${alba.id}` } }), headers: { 'content-type': 'application/fhir+json', 'if-match': 'W/"1"' } }]],
    ['DELETE', (id) => [`Observation/${id}`, { method: 'DELETE' }]],
  ];
  test.each(writes  )('%s on another patient\'s resource answers exactly like on a missing one', async (_name, build) => {
    const token = await t.patient(alba.id, 'launch/patient patient/*.cruds');
    const before = stack.fhir.requests.length;
    const [otherPath, otherInit] = build(`obs-${bruno.id}-0`);
    const [missingPath, missingInit] = build('obs-missing');
    const other = await answer(otherPath, token, otherInit);
    const missing = await answer(missingPath, token, missingInit);
    expect(other.status).toBeGreaterThanOrEqual(400);
    expect(other).toEqual(missing);
    expect(writesSince(before)).toEqual([]);
  });
});

test('the CapabilityStatement says what the gateway does: no update-as-create, conditional reads supported', async () => {
  const res = await stack.fetch('metadata');
  const statement = (await res.json()) as { rest: Array<{ resource: Array<{ type: string; updateCreate: boolean; conditionalRead: string }> }> };
  const resources = statement.rest[0]!.resource;
  expect(resources.length).toBeGreaterThan(0);
  for (const r of resources) expect([r.updateCreate, r.conditionalRead]).toEqual([false, 'full-support']);
});

describe('2. history tells no existence', () => {
  test('the history of another patient\'s resource is the history of a missing one', async () => {
    const token = await t.patient(alba.id);
    const other = await answer(`Observation/obs-${bruno.id}-0/_history`, token);
    const missing = await answer('Observation/obs-missing/_history', token);
    expect(other.status).toBe(404);
    expect(other).toEqual(missing);
  });

  test('the history of a resource a clinician may not read is the history of a missing one', async () => {
    const token = await t.clinician();
    expect(await answer('Observation/obs-hiv-0/_history', token)).toEqual(await answer('Observation/obs-missing/_history', token));
  });
});

describe('3. paging tells nothing of what was withheld', () => {
  test('pages of one hold one released entry each, and the last page has no next link, with withheld entries between them', async () => {
    const token = await t.clinician();
    const seen: string[] = [];
    let next: string | undefined = `Observation?patient=Patient/${alba.id}&_count=1`;
    let pages = 0;
    while (next) {
      const page = await answer(next, token);
      expect(page.status).toBe(200);
      const bundle = page.body as { entry?: Array<{ resource: { id: string } }>; link: Array<{ relation: string; url: string }> };
      expect(bundle.entry).toHaveLength(1);
      seen.push(bundle.entry![0]!.resource.id);
      const res = await stack.fetch(next, { token });
      next = ((await res.json()) as typeof bundle).link.find((l) => l.relation === 'next')?.url;
      pages++;
      expect(pages).toBeLessThan(20);
    }
    // Alba's four synthetic observations and her logical-reference one; none of the HIV results.
    expect(seen.sort()).toEqual([`obs-${alba.id}-0`, `obs-${alba.id}-1`, `obs-${alba.id}-2`, `obs-${alba.id}-3`, 'obs-alba-logical'].sort());
  });

  test('a page filled from two upstream pages (withheld entries between them) lists each included resource once', async () => {
    const token = await t.clinician();
    const res = await stack.fetch(`Observation?patient=Patient/${alba.id}&_include=Observation:subject&_count=5`, { token });
    const bundle = (await res.json()) as { entry: Array<{ resource: { resourceType: string; id: string }; search: { mode: string } }> };
    expect(bundle.entry.filter((e) => e.search.mode === 'match')).toHaveLength(5);
    expect(bundle.entry.filter((e) => e.search.mode === 'include').map((e) => `${e.resource.resourceType}/${e.resource.id}`)).toEqual([`Patient/${alba.id}`]);
    // The gateway needed a second upstream page: the HIV results withheld from the first left it short.
    expect(stack.fhir.requests.filter((r) => r.url.includes('_include=Observation')).length).toBeGreaterThanOrEqual(2);
  });

  test('a predicate that matches a withheld value answers exactly like one that matches nothing', async () => {
    const token = await t.clinician();
    const hit = await answer(`Observation?patient=Patient/${alba.id}&value-string=detected-1&_count=1`, token);
    const miss = await answer(`Observation?patient=Patient/${alba.id}&value-string=not-a-value&_count=1`, token);
    expect(hit.status).toBe(200);
    expect(hit.body).toEqual({ ...(miss.body as object), link: (hit.body as { link: unknown }).link });
    expect((hit.body as { entry?: unknown }).entry).toBeUndefined();
    expect((hit.body as { link: Array<{ relation: string }> }).link.map((l) => l.relation)).toEqual(['self']);
  });

  test('offsets and the upstream\'s paging tokens are not the client\'s to send', async () => {
    const token = await t.clinician();
    for (const path of ['Observation?_offset=2', '?_getpages=x&_getpagesoffset=2', 'Device?_cursor=abc']) {
      const res = await answer(path, token);
      expect(res.status).toBe(400);
      expect(JSON.stringify(res.body)).toContain('param.paging-not-allowed');
    }
  });

  test('a patient learns nothing of another patient\'s device from the pages of a Device search', async () => {
    const token = await t.patient(alba.id);
    const res = await answer('Device?_count=1', token);
    expect(res.status).toBe(200);
    expect((res.body as { link: Array<{ relation: string }> }).link.map((l) => l.relation)).toEqual(['self']);
  });
});

describe('4. criteria test only what the principal could read', () => {
  test.each([
    ['identifier', `Patient?identifier=${alba.mrn}`],
    ['family', `Patient?family=${alba.family}&birthdate=1961`],
    ['phone', `Patient?phone=${encodeURIComponent(alba.phone)}`],
    ['address', 'Patient?address=Springfield'],
    ['_id', `Patient?_id=${alba.id}`],
    ['birthdate', `Patient?birthdate=${alba.birthDate}`],
    ['birthdate', 'Patient?_sort=birthdate'],
  ])('a researcher is refused a criterion on %s, named in the answer', async (parameter, path) => {
    const res = await answer(path, await t.researcher());
    expect(res.status).toBe(400);
    expect(JSON.stringify(res.body)).toMatch(/search\.criterion-(deidentified|year-only|redacted)/);
    expect((res.body as { issue: Array<{ diagnostics?: string }> }).issue[0]!.diagnostics).toBe(`Search parameter: ${parameter}`);
  });

  test('a researcher searches birth dates at year precision and codes', async () => {
    const token = await t.researcher();
    expect((await answer('Patient?birthdate=1961', token)).status).toBe(200);
    expect((await answer(`Observation?code=${LOINC}|8867-4`, token)).status).toBe(200);
  });

  test('billing gets every Encounter labelled REDACTED, with a reason code removed or none there, so the label tells nothing', async () => {
    const token = await stack.issuer.mint({ sub: 'billing-1', scope: 'user/*.rs', roles: ['billing'], purpose_of_use: ['HPAYMT'] });
    const withReason = (await answer('Encounter/enc-reason', token)).body as { reasonCode?: unknown; meta: { security: unknown[] } };
    const without = (await answer(`Encounter/enc-${alba.id}`, token)).body as { reasonCode?: unknown; meta: { security: unknown[] } };
    expect(withReason.reasonCode).toBeUndefined();
    expect(withReason.meta.security).toEqual([expect.objectContaining({ code: 'REDACTED' })]);
    expect(without.meta.security).toEqual(withReason.meta.security);
  });

  test('billing, which gets Encounter.reasonCode removed, is refused a criterion on it', async () => {
    const token = await stack.issuer.mint({ sub: 'billing-1', scope: 'user/*.rs', roles: ['billing'], purpose_of_use: ['HPAYMT'] });
    const res = await answer('Encounter?reason-code=86406008', token);
    expect(res.status).toBe(400);
    expect((res.body as { issue: Array<{ diagnostics?: string }> }).issue[0]!.diagnostics).toBe('Search parameter: reason-code');
    expect((await answer(`Encounter?subject=Patient/${alba.id}`, token)).status).toBe(200);
  });

  test('a reverse chain through withheld results finds nothing, exactly like one through no results', async () => {
    const token = await t.clinician();
    const before = stack.fhir.requests.length;
    const hidden = await answer(`Patient?_has:Observation:subject:code=${LOINC}|75622-1`, token);
    const none = await answer(`Patient?_has:Observation:subject:code=${LOINC}|0000-0`, token);
    expect(hidden.status).toBe(200);
    expect((hidden.body as { entry?: unknown }).entry).toBeUndefined();
    expect({ ...(hidden.body as object), link: null }).toEqual({ ...(none.body as object), link: null });
    // The upstream never ran the reverse chain over data the clinician may not read.
    expect(upstreamSince(before).some((r) => r.includes('_has'))).toBe(false);
  });

  test('a chain is resolved by the gateway over what the principal may read', async () => {
    const token = await t.clinician();
    const res = await answer(`Observation?subject:Patient.family=${alba.family}&_count=50`, token);
    expect(res.status).toBe(200);
    const ids = ((res.body as { entry?: Array<{ resource: { id: string } }> }).entry ?? []).map((e) => e.resource.id);
    expect(ids).toContain(`obs-${alba.id}-0`);
    expect(ids.some((id) => id.startsWith('obs-hiv'))).toBe(false);
    expect(ids.some((id) => id.includes(bruno.id))).toBe(false);
  });
});

describe('5. writes cannot remove a protection', () => {
  test('a batch entry that patches the label away is refused, and the data stays withheld', async () => {
    const token = await t.clinician('user/*.cruds');
    const before = stack.fhir.requests.length;
    const patch = Buffer.from(JSON.stringify([{ op: 'remove', path: '/meta/security' }])).toString('base64');
    const res = await stack.fetch('', {
      token,
      method: 'POST',
      ...json({ resourceType: 'Bundle', type: 'batch', entry: [{ request: { method: 'PATCH', url: 'Observation/obs-hiv-1' }, resource: { resourceType: 'Binary', contentType: 'application/json-patch+json', data: patch } }] }),
    });
    expect(res.status).toBe(200);
    const entry = ((await res.json()) as { entry: Array<{ response: { status: string }; resource?: unknown }> }).entry[0]!;
    // The target is one the clinician may not read: it patches like a missing resource.
    expect(entry.response.status).toBe('404 Not Found');
    expect(entry.resource).toBeUndefined();
    expect(writesSince(before)).toEqual([]);
    expect((await answer('Observation/obs-hiv-1', token)).status).toBe(404);
  });

  test('a clinician with break-the-glass reads the labelled result but cannot strip its label', async () => {
    const token = await stack.issuer.mint({ sub: 'Practitioner/prac-hopper', scope: 'user/*.cruds', roles: ['clinician'], purpose_of_use: ['BTG'], break_glass_reason: 'ED', amr: ['pwd', 'otp'], auth_time: Math.floor(Date.now() / 1000) });
    const before = stack.fhir.requests.length;
    const res = await answer('Observation/obs-hiv-2', token, jsonPatch([{ op: 'remove', path: '/meta/security' }]));
    expect(res.status).toBe(403);
    expect(JSON.stringify(res.body)).toContain('protection.not-permitted');
    expect(writesSince(before)).toEqual([]);
  });

  test('a conditional delete of a patient\'s Consents is refused on the request, whatever it would match', async () => {
    const token = await t.clinician('user/*.cruds');
    const before = stack.fhir.requests.length;
    const withConsent = await answer(`Consent?patient=Patient/${chen.id}`, token, { method: 'DELETE' });
    const without = await answer(`Consent?patient=Patient/${bruno.id}`, token, { method: 'DELETE' });
    expect(withConsent.status).toBe(403);
    expect(withConsent).toEqual(without);
    expect(upstreamSince(before)).toEqual([]);
  });

  test('a Consent written inside a batch marks the batch\'s record as a change of protections, and keeps the batch\'s own decision', async () => {
    const officer = await stack.issuer.mint({ sub: 'Practitioner/prac-po', scope: 'user/*.cruds', roles: ['privacy-officer'], amr: ['pwd', 'otp'], auth_time: Math.floor(Date.now() / 1000) });
    const consent = { resourceType: 'Consent', status: 'active', scope: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/consentscope', code: 'patient-privacy' }] }, category: [{ coding: [{ system: LOINC, code: '59284-0' }] }], patient: { reference: `Patient/${bruno.id}` }, provision: { type: 'permit' } };
    const res = await stack.fetch('', { token: officer, method: 'POST', ...json({ resourceType: 'Bundle', type: 'batch', entry: [{ request: { method: 'GET', url: `Patient/${bruno.id}` } }, { request: { method: 'POST', url: 'Consent' }, resource: consent }] }) });
    expect(res.status).toBe(200);
    const record = await auditRecordOf(stack, res.headers.get('x-request-id') ?? '');
    expect(record.request?.interaction).toBe('batch');
    expect(record.outcome.protectionChange).toBe(true);
  });

  test('the privacy office lowers a label, and the record says it was a change of protections', async () => {
    await stack.fhir.repo.updateResource({ resourceType: 'Observation', id: 'obs-relabel', meta: { security: [{ system: ACT_CODE, code: 'PSY' }] }, status: 'final', code: { text: 'note' }, subject: { reference: `Patient/${alba.id}` } } as Resource);
    const officer = await stack.issuer.mint({ sub: 'Practitioner/prac-po', scope: 'user/*.cruds', roles: ['privacy-officer'], amr: ['pwd', 'otp'], auth_time: Math.floor(Date.now() / 1000) });
    const res = await stack.fetch('Observation/obs-relabel', { token: officer, ...jsonPatch([{ op: 'remove', path: '/meta/security' }]) });
    expect(res.status).toBe(200);
    const record = await auditRecordOf(stack, res.headers.get('x-request-id') ?? '');
    expect(record.outcome.protectionChange).toBe(true);
    expect((await answer('Observation/obs-relabel', await t.clinician())).status).toBe(200);
  });
});

describe('6. conditional writes are resolved by the gateway, over what the principal may read', () => {
  test('a conditional update whose only match is withheld creates, exactly as if nothing matched, and leaves the withheld record alone', async () => {
    const token = await t.clinician('user/*.cruds');
    const body = { resourceType: 'Observation', status: 'final', code: { text: 'overwrite attempt' }, subject: { reference: `Patient/${alba.id}` } };
    const before = stack.fhir.requests.length;
    const hidden = await stack.fetch(`Observation?_security=${ACT_CODE}|HIV&subject=Patient/${alba.id}&value-string=detected-0`, { token, method: 'PUT', ...json(body) });
    expect(hidden.status).toBe(201);
    const writes = writesSince(before);
    expect(writes).toEqual(['POST /fhir/Observation']);
    const stored = await stack.fhir.repo.readResource('Observation', 'obs-hiv-0');
    expect((stored as { valueString?: string }).valueString).toBe('detected-0');
  });

  test('a batch entry with ifNoneExist matching withheld data creates, like one matching nothing', async () => {
    const token = await t.clinician('user/*.cruds');
    const entry = (criteria: string) => ({ request: { method: 'POST', url: 'Observation', ifNoneExist: criteria }, resource: { resourceType: 'Observation', status: 'final', code: { text: 'conditional' }, subject: { reference: `Patient/${alba.id}` } } });
    const res = await stack.fetch('', { token, method: 'POST', ...json({ resourceType: 'Bundle', type: 'batch', entry: [entry('value-string=detected-2'), entry('value-string=never-stored')] }) });
    const statuses = ((await res.json()) as { entry: Array<{ response: { status: string } }> }).entry.map((e) => e.response.status);
    expect(statuses).toEqual(['201 Created', '201 Created']);
  });

  test('a conditional update is sent by id, pinned with If-Match to the version the gateway checked', async () => {
    const token = await t.clinician('user/*.cruds');
    const before = stack.fhir.requests.length;
    const body = { resourceType: 'Observation', status: 'amended', code: { text: 'heart rate' }, subject: { reference: `Patient/${chen.id}` } };
    const res = await stack.fetch(`Observation?_id=obs-${chen.id}-0`, { token, method: 'PUT', ...json(body) });
    expect(res.status).toBe(200);
    const sent = stack.fhir.requests.slice(before).find((r) => r.method === 'PUT')!;
    expect(decodeURIComponent(sent.url)).toBe(`/fhir/Observation/obs-${chen.id}-0`);
    expect(sent.headers['if-match']).toMatch(/^W\/"/);
  });
});

describe('7. old versions are judged with the protections of the current one', () => {
  test('version 1 of a record labelled later is withheld, exactly like a missing version', async () => {
    const token = await t.clinician();
    const first = await answer('Condition/cond-later-psy/_history/1', token);
    expect(first.status).toBe(404);
    expect(first).toEqual(await answer('Condition/cond-missing/_history/1', token));
    expect(await answer('Condition/cond-later-psy/_history', token)).toEqual(await answer('Condition/cond-missing/_history', token));
  });

  test('a researcher reaches de-identified data by search only: a real id would link a person to their pseudonym', async () => {
    const token = await t.researcher();
    for (const path of [`Patient/${alba.id}`, `Patient/${alba.id}/_history`, 'Patient/not-an-id', `Patient/${alba.id}/Observation`, `Observation/obs-${alba.id}-0/_history/1`]) {
      const refused = await answer(path, token);
      expect(refused.status).toBe(403);
      expect(JSON.stringify(refused.body)).toContain('deidentified.by-id');
    }
  });

  test('the versions of a record nobody labelled are released', async () => {
    const token = await t.clinician();
    const history = await answer(`Observation/obs-${alba.id}-0/_history`, token);
    expect(history.status).toBe(200);
    expect(((history.body as { entry?: unknown[] }).entry ?? []).length).toBeGreaterThanOrEqual(1);
  });
});

describe('8. references to other patients by identifier or display are redacted', () => {
  test('a patient\'s own resource is released without the identifier and name of another patient it names', async () => {
    const res = await answer('Observation/obs-alba-logical', await t.patient(alba.id));
    expect(res.status).toBe(200);
    const text = JSON.stringify(res.body);
    expect(text).not.toContain(bruno.mrn);
    expect(text).not.toContain(bruno.family);
    expect(text).toContain('REDACTED');
  });
});

describe('one path for single requests and batch entries', () => {
  test('a batch entry with _elements is subsetted like the single request', async () => {
    const token = await t.clinician();
    const single = await answer(`Observation/obs-${alba.id}-1?_elements=status`, token);
    const res = await stack.fetch('', { token, method: 'POST', ...json({ resourceType: 'Bundle', type: 'batch', entry: [{ request: { method: 'GET', url: `Observation/obs-${alba.id}-1?_elements=status` } }] }) });
    const entry = ((await res.json()) as { entry: Array<{ resource: unknown }> }).entry[0]!;
    expect(entry.resource).toEqual(single.body);
    // status and the mandatory elements (code), as _elements keeps them.
    expect(Object.keys(entry.resource as object).sort()).toEqual(['code', 'id', 'meta', 'resourceType', 'status']);
  });

  test('a narrowed _summary=count entry carries the same total as the single request', async () => {
    const token = await t.patient(alba.id);
    const single = await answer('Observation?_summary=count', token);
    const res = await stack.fetch('', { token, method: 'POST', ...json({ resourceType: 'Bundle', type: 'batch', entry: [{ request: { method: 'GET', url: 'Observation?_summary=count' } }] }) });
    const entry = ((await res.json()) as { entry: Array<{ resource: { total?: number } }> }).entry[0]!;
    expect((single.body as { total: number }).total).toBeGreaterThan(0);
    expect(entry.resource.total).toBe((single.body as { total: number }).total);
  });

  test('a transaction\'s entries take the single path up to their writes, which go upstream as one transaction', async () => {
    const token = await t.clinician('user/*.cruds');
    const before = stack.fhir.requests.length;
    const encounter = 'urn:uuid:6a3c9e1e-0b7e-4c1a-9c57-3f1f7b2f0a11';
    const res = await stack.fetch('', {
      token,
      method: 'POST',
      ...json({
        resourceType: 'Bundle',
        type: 'transaction',
        entry: [
          { fullUrl: encounter, request: { method: 'POST', url: 'Encounter' }, resource: { resourceType: 'Encounter', status: 'planned', class: { system: ACT_CODE, code: 'AMB' }, subject: { reference: `Patient/${chen.id}` } } },
          { request: { method: 'POST', url: 'Observation' }, resource: { resourceType: 'Observation', status: 'final', code: { text: 'in transaction' }, subject: { reference: `Patient/${chen.id}` }, encounter: { reference: encounter } } },
          { request: { method: 'GET', url: `Patient/${chen.id}` } },
        ],
      }),
    });
    expect(res.status).toBe(200);
    const bundle = (await res.json()) as { type: string; entry: Array<{ response: { status: string; location?: string }; resource?: { resourceType: string; encounter?: { reference: string } } }> };
    expect(bundle.type).toBe('transaction-response');
    expect(bundle.entry.map((e) => e.response.status)).toEqual(['201 Created', '201 Created', '200 OK']);
    expect(bundle.entry[1]!.resource!.encounter!.reference).toMatch(/^Encounter\/[A-Za-z0-9-]+$/);
    expect(bundle.entry[2]!.resource!.resourceType).toBe('Patient');
    // The writes went upstream in one transaction; the read after it, alone.
    expect(upstreamSince(before).filter((r) => !r.startsWith('GET'))).toEqual(['POST /fhir/']);
  });
});
