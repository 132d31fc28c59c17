/**
 * No request shape leaks what policy denies: one test per bypass class, against the real FHIR engine
 * seeded with patients linked across compartments. Each asserts that no marker of another patient
 * (id, family name, MRN, phone) appears anywhere in the answer a patient-context token receives.
 */
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { SYNTHETIC_PATIENTS } from '../../src/devkit/synthetic-data.js';
import { GatewayError, operationOutcomeFor } from '../../src/errors.js';
import { auditRecordOf, headerPairs, jsonOf, rawRequest, startStack, tokensFor, type Stack } from '../support/stack.js';

const [alba, bruno, chen] = SYNTHETIC_PATIENTS as [typeof SYNTHETIC_PATIENTS[0], typeof SYNTHETIC_PATIENTS[0], typeof SYNTHETIC_PATIENTS[0]];
const FORBIDDEN_FOR_ALBA = [bruno, chen].flatMap((p) => [p.id, p.family, p.mrn, p.phone]);

let stack: Stack;
let albaToken: string;
let albaWriter: string;
let clinician: string;

beforeAll(async () => {
  stack = await startStack({ crossLinks: true, fhir: { paging: 'token' } });
  const t = tokensFor(stack.issuer);
  albaToken = await t.patient(alba.id);
  albaWriter = await t.patient(alba.id, 'launch/patient patient/*.cruds');
  clinician = await t.clinician('user/*.cruds');
});
afterAll(async () => {
  await stack.close();
});

/**
 * Fetches as Alba and asserts no other patient's marker appears in the body or headers. A marker
 * Alba typed into her own query may come back in the Bundle's `self` link, which echoes the request;
 * it is the only place it may appear.
 */
async function asAlba(path: string, init: RequestInit & { token?: string } = {}): Promise<{ status: number; text: string; json: any }> {
  const res = await stack.fetch(path, { token: albaToken, ...init });
  const text = await res.text();
  const json = text && res.headers.get('content-type')?.includes('json') ? JSON.parse(text) : null;
  const withoutSelf = json?.resourceType === 'Bundle' ? JSON.stringify({ ...json, link: (json.link ?? []).filter((l: any) => l.relation !== 'self') }) : text;
  const headers = JSON.stringify(headerPairs(res.headers));
  for (const marker of FORBIDDEN_FOR_ALBA) {
    expect({ path, leaked: marker, inBody: withoutSelf.includes(marker) }).toEqual({ path, leaked: marker, inBody: false });
    if (!path.includes(marker)) expect({ path, leaked: marker, inSelfLink: text.includes(marker) }).toEqual({ path, leaked: marker, inSelfLink: false });
    expect(headers).not.toContain(marker);
  }
  return { status: res.status, text, json };
}
const ids = (bundle: any): string[] => (bundle.entry ?? []).map((e: any) => `${e.resource?.resourceType}/${e.resource?.id}`);
const writesSince = (n: number) => stack.fhir.requests.slice(n).filter((r) => r.method !== 'GET');

describe('searches cannot widen past the compartment', () => {
  test('_include of another patient\'s resource is withheld', async () => {
    const { status, json } = await asAlba('Observation?_include=Observation:derived-from');
    expect(status).toBe(200);
    expect(ids(json)).toContain('Observation/obs-alba-derived');
    expect(ids(json)).not.toContain('Observation/obs-x1');
  });

  test('_revinclude bringing another patient\'s record is withheld', async () => {
    const { status, json } = await asAlba('Observation?_revinclude=Provenance:target');
    expect(status).toBe(200);
    expect(ids(json).some((id) => id.startsWith('Provenance/'))).toBe(false);
  });

  test('chained parameters and _has are ANDed with the narrowing', async () => {
    expect((await asAlba(`Observation?subject:Patient.family=${bruno.family}`)).json.entry).toBeUndefined();
    expect((await asAlba(`Patient?_has:Observation:subject:code=glucose`)).json.entry).toBeUndefined();
  });

  test('criteria that would select by another patient are refused, not answered', async () => {
    // The inference channel is real: Bruno and Chen share group-x5, and the upstream finds it by
    // either member. Chen searching her own Groups by Bruno would learn that they share one, even
    // with Bruno's reference removed from what comes back.
    const clinicianView = await jsonOf(await stack.fetch(`Group?member=Patient/${bruno.id}&member=Patient/${chen.id}`, { token: clinician }));
    expect(ids(clinicianView)).toEqual(['Group/group-x5']);
    const chenToken = await tokensFor(stack.issuer).patient(chen.id);
    const asChen = await stack.fetch(`Group?member=Patient/${bruno.id}`, { token: chenToken });
    expect(asChen.status).toBe(403);
    const refused = await jsonOf(asChen);
    expect(JSON.stringify(refused)).not.toContain(bruno.family);
    expect((await auditRecordOf(stack, refused.id)).outcome.reasons).toContain('narrow.other-patient-criterion');
    // Chains and reverse chains that reach past the patient are refused before anything is forwarded.
    for (const query of [`Observation?derived-from:Observation.subject=Patient/${bruno.id}`, 'Observation?derived-from.code:text=glucose', `Observation?performer=${bruno.id}`, `Practitioner?_has:Observation:performer:subject=Patient/${bruno.id}`]) {
      const before = stack.fhir.requests.length;
      const { status } = await asAlba(query);
      expect({ query, status }).toEqual({ query, status: 403 });
      expect(stack.fhir.requests.length).toBe(before);
    }
  });

  test('_id of another patient\'s resource finds nothing', async () => {
    expect((await asAlba('Observation?_id=obs-x1')).json.entry).toBeUndefined();
    expect((await asAlba(`Patient?_id=${bruno.id}`)).json.entry).toBeUndefined();
  });

  test('_type system searches and system/type history cannot be narrowed and are refused', async () => {
    expect((await asAlba('?_type=Observation,Patient')).status).toBe(403);
    expect((await asAlba('Observation/_history')).status).toBe(403);
    expect((await asAlba('_history')).status).toBe(403);
  });

  test('compartment URLs of another patient are refused; the own one is served', async () => {
    expect((await asAlba(`Patient/${bruno.id}/Observation`)).status).toBe(403);
    const own = await asAlba(`Patient/${alba.id}/Observation`);
    expect(own.status).toBe(200);
    expect(ids(own.json).length).toBeGreaterThan(0);
  });

  test('POST _search with a form body is narrowed like a GET', async () => {
    const before = stack.fhir.requests.length;
    const { status, json } = await asAlba('Observation/_search', {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: '_id=obs-x1',
    });
    expect(status).toBe(200);
    expect(json.entry).toBeUndefined();
    const sent = stack.fhir.requests.slice(before)[0]!;
    expect(sent.url).toBe('/fhir/Observation/_search');
    // A form body is checked like a query string: naming another patient is refused, nothing forwarded.
    const refusedBefore = stack.fhir.requests.length;
    const refused = await asAlba('Observation/_search', {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: `subject=Patient/${bruno.id}`,
    });
    expect(refused.status).toBe(403);
    expect(stack.fhir.requests.length).toBe(refusedBefore);
  });

  test('a paging cursor from a clinician\'s search, replayed by a patient, is refused before anything goes upstream', async () => {
    const page1 = await jsonOf(await stack.fetch('Observation?_count=3', { token: clinician }));
    const next = page1.link.find((l: any) => l.relation === 'next').url as string;
    expect(next).toMatch(new RegExp(`^${stack.base}\\?_gwcursor=`));
    const before = stack.fhir.requests.length;
    const replayed = await asAlba(next);
    expect(replayed.status).toBe(400);
    expect(JSON.stringify(replayed.json)).toContain('paging.cursor-invalid');
    expect(stack.fhir.requests.length).toBe(before);
  });

  test('the upstream\'s own paging parameters are refused from clients, whoever sends them', async () => {
    for (const query of ['_getpages=abc&_getpagesoffset=3', 'Observation?_offset=3', 'Observation?_cursor=x']) {
      const { status, json } = await asAlba(query.startsWith('Observation') ? query : `?${query}`);
      expect(status).toBe(400);
      expect(JSON.stringify(json)).toContain('param.paging-not-allowed');
    }
  });

  test('$everything serves the own record only', async () => {
    const own = await asAlba(`Patient/${alba.id}/$everything?_count=100`);
    expect(own.status).toBe(200);
    expect(ids(own.json)).toContain(`Patient/${alba.id}`);
    expect((await asAlba(`Patient/${bruno.id}/$everything`)).status).toBe(403);
  });

  test('GraphQL and operations the policy does not list are refused', async () => {
    const before = stack.fhir.requests.length;
    const gql = await asAlba('$graphql', { method: 'POST', headers: { 'content-type': 'application/fhir+json' }, body: JSON.stringify({ resourceType: 'Parameters' }) });
    expect(gql.status).toBe(403);
    expect((await asAlba('Patient/$match', { method: 'POST', headers: { 'content-type': 'application/fhir+json' }, body: JSON.stringify({ resourceType: 'Parameters' }) })).status).toBe(403);
    expect(stack.fhir.requests.length).toBe(before);
  });
});

describe('reads of other patients\' resources, whatever their link to the patient', () => {
  test.each([
    ['Observation/obs-x1', 'subject'],
    ['Observation/obs-x1/_history', 'history'],
    ['ExplanationOfBenefit/eob-x3', 'patient'],
    ['Provenance/prov-x2', 'target and agent'],
    ['List/list-x4', 'subject'],
    ['Group/group-x5', 'member'],
    ['Device/dev-x6', 'Device.patient, outside the R4 compartment'],
    ['CarePlan/cp-x7', 'subject'],
    ['RelatedPerson/rp-x8', 'patient'],
    ['DocumentReference/doc-x9', 'subject'],
    ['Binary/bin-x10', 'securityContext'],
    ['Binary/bin-orphan', 'no securityContext'],
  ])('%s (%s) is answered exactly like a missing resource', async (path) => {
    const withheld = await asAlba(path);
    const missing = await asAlba(path.replace(/^(\w+)\/[^/]+/, '$1/does-not-exist'));
    expect(withheld.status).toBe(404);
    expect(missing.status).toBe(404);
    expect({ ...withheld.json, id: 'x' }).toEqual({ ...missing.json, id: 'x' });
  });

  test('searches over types outside the compartment are filtered per resource, and their counts are not released', async () => {
    const { status, json } = await asAlba('Device');
    expect(status).toBe(200);
    expect(ids(json)).toEqual(['Device/dev-stock']);
    expect(json.total).toBe(1); // recomputed on the single page
    // One released device: a page of one holds it and there is no next page, whatever the upstream holds besides.
    const firstPage = await asAlba('Device?_count=1&_sort=_id');
    expect(ids(firstPage.json)).toEqual(['Device/dev-stock']);
    expect(firstPage.json.link.map((l: any) => l.relation)).toEqual(['self']);
    expect(firstPage.json.total).toBe(1);
    expect((await asAlba('Device?_summary=count')).status).toBe(403);
  });

  test('vread of another patient\'s version is concealed like a missing one', async () => {
    const history = await jsonOf(await stack.fetch('Observation/obs-x1/_history', { token: clinician }));
    const vid = history.entry[0].resource.meta.versionId as string;
    const { status } = await asAlba(`Observation/obs-x1/_history/${vid}`);
    expect(status).toBe(404);
  });

  test('a Binary is released through the resource its securityContext names, also as raw content', async () => {
    const json = await asAlba('Binary/bin-alba');
    expect(json.status).toBe(200);
    const raw = await stack.fetch('Binary/bin-alba', { token: albaToken, headers: { accept: 'text/plain' } });
    expect(raw.status).toBe(200);
    expect(raw.headers.get('content-type')).toBe('text/plain');
    expect(raw.headers.get('content-disposition')).toBe('attachment');
    expect(await raw.text()).toBe('Letter for Alba');
    // A clinician may read the unfiled Binary; nobody vouches for it, so patients may not.
    expect((await stack.fetch('Binary/bin-orphan', { token: clinician })).status).toBe(200);
  });
});

describe('batch and transaction Bundles', () => {
  test('each batch entry is authorised alone; denied entries are answered in their slot', async () => {
    const before = stack.fhir.requests.length;
    const { status, json } = await asAlba('', {
      method: 'POST',
      headers: { 'content-type': 'application/fhir+json' },
      body: JSON.stringify({
        resourceType: 'Bundle',
        type: 'batch',
        entry: [
          { request: { method: 'GET', url: `Patient/${alba.id}` } },
          { request: { method: 'GET', url: `Patient/${bruno.id}` } },
          { request: { method: 'GET', url: 'Observation/obs-x1' } },
          { request: { method: 'GET', url: 'Observation?_id=obs-x1' } },
          { request: { method: 'GET', url: 'Patient/../Patient/x' } },
          { request: { method: 'GET', url: `Observation?subject=Patient/${bruno.id}` } },
        ],
      }),
    });
    expect(status).toBe(200);
    expect(json.type).toBe('batch-response');
    expect(json.entry.map((e: any) => e.response.status)).toEqual(['200 OK', '403 Forbidden', '404 Not Found', '200 OK', '400 Bad Request', '403 Forbidden']);
    expect(json.entry[0].resource.id).toBe(alba.id);
    expect(json.entry[3].resource.entry).toBeUndefined();
    // Each entry takes the single-request path: refused ones send nothing, the others their own request.
    const sent = stack.fhir.requests.slice(before).map((r) => `${r.method} ${decodeURIComponent(r.url)}`);
    expect(sent.filter((r) => r.startsWith('POST'))).toEqual([]);
    expect(sent).toContain(`GET /fhir/Patient/${alba.id}`);
    expect(sent).toContain('GET /fhir/Observation/obs-x1');
    expect(sent.some((r) => r.includes(bruno.id))).toBe(false);
  });

  test('a transaction with one denied entry is refused whole and nothing is forwarded', async () => {
    const before = stack.fhir.requests.length;
    const { status } = await asAlba('', {
      token: albaWriter,
      method: 'POST',
      headers: { 'content-type': 'application/fhir+json' },
      body: JSON.stringify({
        resourceType: 'Bundle',
        type: 'transaction',
        entry: [
          { request: { method: 'POST', url: 'Observation' }, resource: { resourceType: 'Observation', status: 'final', code: { text: 'ok' }, subject: { reference: `Patient/${alba.id}` } } },
          { request: { method: 'POST', url: 'Observation' }, resource: { resourceType: 'Observation', status: 'final', code: { text: 'planted' }, subject: { reference: `Patient/${bruno.id}` } } },
        ],
      }),
    });
    expect(status).toBe(403);
    expect(writesSince(before)).toHaveLength(0);
  });
});

describe('writes are judged on the resource they produce and the one they touch', () => {
  const observation = (patient: string, extra: object = {}) => ({ resourceType: 'Observation', status: 'final', code: { text: 'self-reported' }, subject: { reference: `Patient/${patient}` }, ...extra });
  const post = (path: string, body: unknown, headers: Record<string, string> = {}) =>
    asAlba(path, { token: albaWriter, method: 'POST', headers: { 'content-type': 'application/fhir+json', ...headers }, body: JSON.stringify(body) });
  const put = (path: string, body: unknown, headers: Record<string, string> = {}) =>
    asAlba(path, { token: albaWriter, method: 'PUT', headers: { 'content-type': 'application/fhir+json', ...headers }, body: JSON.stringify(body) });

  test('a patient creates in its own compartment, but cannot plant a resource in another', async () => {
    expect((await post('Observation', observation(alba.id))).status).toBe(201);
    const before = stack.fhir.requests.length;
    expect((await post('Observation', observation(bruno.id))).status).toBe(403);
    expect(writesSince(before)).toHaveLength(0);
  });

  test('an update cannot move an own resource into another compartment, nor take over another\'s', async () => {
    const before = stack.fhir.requests.length;
    expect((await put(`Observation/obs-${alba.id}-2`, observation(bruno.id, { id: `obs-${alba.id}-2` }))).status).toBe(403);
    // Another patient's resource is absent to this principal: refused exactly like a free id (no update-as-create).
    const taken = await put('Observation/obs-x1', observation(alba.id, { id: 'obs-x1' }));
    const free = await put('Observation/obs-free', observation(alba.id, { id: 'obs-free' }));
    expect(taken.status).toBe(405);
    expect({ ...taken.json, id: 'x' }).toEqual({ ...free.json, id: 'x' });
    expect(writesSince(before)).toHaveLength(0);
    const own = await put(`Observation/obs-${alba.id}-2`, observation(alba.id, { id: `obs-${alba.id}-2`, status: 'amended' }));
    expect(own.status).toBe(200);
    expect(own.json.status).toBe('amended');
  });

  test('a JSON Patch is judged on its result', async () => {
    const patch = (path: string, ops: unknown) => asAlba(path, { token: albaWriter, method: 'PATCH', headers: { 'content-type': 'application/json-patch+json' }, body: JSON.stringify(ops) });
    const before = stack.fhir.requests.length;
    expect((await patch(`Observation/obs-${alba.id}-3`, [{ op: 'replace', path: '/subject/reference', value: `Patient/${bruno.id}` }])).status).toBe(403);
    // Another patient's resource patches like a missing one, `test` operations included.
    const other = await patch('Observation/obs-x1', [{ op: 'test', path: '/status', value: 'final' }, { op: 'replace', path: '/status', value: 'cancelled' }]);
    const missing = await patch('Observation/obs-missing', [{ op: 'test', path: '/status', value: 'final' }]);
    expect(other.status).toBe(404);
    expect({ ...other.json, id: 'x' }).toEqual({ ...missing.json, id: 'x' });
    expect(writesSince(before)).toHaveLength(0);
    expect((await patch(`Observation/obs-${alba.id}-3`, [{ op: 'replace', path: '/status', value: 'corrected' }])).status).toBe(200);
  });

  test('FHIRPath Patch is refused (its result cannot be judged)', async () => {
    const res = await asAlba(`Observation/obs-${alba.id}-3`, {
      token: albaWriter,
      method: 'PATCH',
      headers: { 'content-type': 'application/fhir+json' },
      body: JSON.stringify({ resourceType: 'Parameters', parameter: [] }),
    });
    expect(res.status).toBe(415);
  });

  test('a delete of another patient\'s resource is refused; a conditional delete only reaches the own compartment', async () => {
    const before = stack.fhir.requests.length;
    expect((await asAlba('Observation/obs-x1', { token: albaWriter, method: 'DELETE' })).status).toBe(404);
    expect(writesSince(before)).toHaveLength(0);
    // obs-x1 (Bruno's) matches code=glucose too: the gateway runs the criteria narrowed, finds none of Alba's, deletes nothing.
    const none = await asAlba('Observation?code=glucose', { token: albaWriter, method: 'DELETE' });
    expect(none.status).toBe(404);
    expect(writesSince(before)).toHaveLength(0);
    const searched = stack.fhir.requests.slice(before).map((r) => decodeURIComponent(r.url));
    expect(searched).toContain(`/fhir/Observation?code=glucose&subject=Patient/${alba.id}&_count=1001`);
    expect((await stack.fetch('Observation/obs-x1', { token: clinician })).status).toBe(200);
  });

  test('a conditional create\'s If-None-Exist is run by the gateway, narrowed, and never passed upstream', async () => {
    const before = stack.fhir.requests.length;
    const res = await post('Observation', observation(alba.id), { 'if-none-exist': 'code=glucose' });
    expect(res.status).toBe(201);
    const sent = stack.fhir.requests.slice(before);
    expect(sent.map((r) => decodeURIComponent(r.url))).toContain(`/fhir/Observation?code=glucose&subject=Patient/${alba.id}&_count=1001`);
    const created = sent.find((r) => r.method === 'POST')!;
    expect(created.headers['if-none-exist']).toBeUndefined();
  });

  test('a write is pinned to the version that was judged (If-Match), and a stale If-Match is refused', async () => {
    const before = stack.fhir.requests.length;
    const current = await jsonOf(await stack.fetch(`Observation/obs-${alba.id}-1`, { token: albaToken }));
    const ok = await put(`Observation/obs-${alba.id}-1`, { ...current, status: 'amended' });
    expect(ok.status).toBe(200);
    const sent = stack.fhir.requests.slice(before).find((r) => r.method === 'PUT')!;
    expect(sent.headers['if-match']).toBe(`W/"${current.meta.versionId}"`);
    const stale = await put(`Observation/obs-${alba.id}-1`, { ...current, status: 'final' }, { 'if-match': `W/"${current.meta.versionId}"` });
    expect(stale.status).toBe(412);
  });
});

describe('counts, subsetting, formats and links', () => {
  test('_elements is applied by the gateway after the decision, and tags SUBSETTED', async () => {
    const before = stack.fhir.requests.length;
    const { json } = await asAlba('Observation?_elements=code');
    const sent = stack.fhir.requests.slice(before)[0]!;
    expect(sent.url).not.toContain('_elements');
    expect(json.entry.length).toBeGreaterThan(0);
    for (const e of json.entry) {
      expect(Object.keys(e.resource).sort()).toEqual(['code', 'id', 'meta', 'resourceType', 'status']);
      expect(e.resource.meta.tag).toContainEqual(expect.objectContaining({ code: 'SUBSETTED' }));
    }
  });

  test('_summary=count is allowed on a narrowed search and refused where results are filtered', async () => {
    expect((await asAlba('Observation?_summary=count')).status).toBe(200);
    const labOnly = await tokensFor(stack.issuer).clinician('user/Observation.rs?category=http://terminology.hl7.org/CodeSystem/observation-category|laboratory');
    expect((await stack.fetch('Observation?_summary=count', { token: labOnly })).status).toBe(403);
  });

  test('total is dropped rather than counting withheld entries across pages', async () => {
    const labOnly = await tokensFor(stack.issuer).clinician('user/Observation.rs?category=http://terminology.hl7.org/CodeSystem/observation-category|laboratory');
    const page = await jsonOf(await stack.fetch('Observation?_count=4', { token: labOnly }));
    expect(page).not.toHaveProperty('total');
  });

  test('XML is refused: _format, Accept and request bodies', async () => {
    expect((await asAlba('Patient?_format=xml')).status).toBe(406);
    expect((await asAlba(`Patient/${alba.id}`, { headers: { accept: 'application/fhir+xml' } })).status).toBe(406);
    const xml = await asAlba('Observation', { token: albaWriter, method: 'POST', headers: { 'content-type': 'application/fhir+xml' }, body: '<Observation xmlns="http://hl7.org/fhir"/>' });
    expect(xml.status).toBe(415);
  });

  test('links are built from publicBaseUrl only, whatever Host or X-Forwarded-* say', async () => {
    const origin = new URL(stack.base).origin;
    const res = await rawRequest(origin, 'GET', '/fhir/Observation?_count=2', {
      authorization: `Bearer ${clinician}`,
      host: 'evil.example',
      'x-forwarded-host': 'evil.example',
      'x-forwarded-proto': 'https',
      forwarded: 'host=evil.example;proto=https',
    });
    expect(res.status).toBe(200);
    expect(res.body).not.toContain('evil.example');
    const links = JSON.parse(res.body).link.map((l: any) => l.url as string);
    for (const l of links) expect(l.startsWith(`${stack.base}`)).toBe(true);
  });

  test('a withheld read is audited with its real reason while the client sees a plain 404', async () => {
    const res = await stack.fetch('Device/dev-x6', { token: albaToken });
    expect(res.status).toBe(404);
    const body = await jsonOf(res);
    // Exactly the OperationOutcome of a resource that does not exist (its id aside: the request id).
    expect({ ...body, id: undefined }).toEqual({ ...operationOutcomeFor(new GatewayError('not_found')), id: undefined });
    const missing = await stack.fetch('Device/no-such-device', { token: albaToken });
    expect(missing.status).toBe(404);
    expect({ ...(await jsonOf(missing)), id: undefined }).toEqual({ ...body, id: undefined });
    const record = await auditRecordOf(stack, body.id);
    expect(record.outcome.reasons).toContain('compartment.other-patient');
  });
});
