/**
 * The leak oracle (issue 10, point 5): generated requests from a patient-context token, against the
 * real stack (Medplum's engine seeded with several patients and the resources that link them, the
 * shipped policy, real tokens), must never get back a marker of another patient: a name, MRN,
 * phone, birth date or patient id, in the body or in any header. A marker the request itself
 * carried (a search value echoed in a self link) is not a leak and is not counted.
 *
 * Requests are paths (every type, ids of every patient's resources, compartments, operations,
 * history, tricky segments), query strings (references, chains, _has, includes, names and
 * identifiers of other patients), headers (Accept, Prefer, conditional, forwarding and override
 * headers), POST _search forms and batch Bundles of reads. Each property run sends a batch of cases
 * at once against one stack, so CI covers FHIRGW_LEAK_CASES (default 10,000) cases in reasonable
 * time; `npm run fuzz` runs many more with other seeds.
 */
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import fc from 'fast-check';
import { SYNTHETIC_PATIENTS, type SyntheticPatient } from '../../src/devkit/synthetic-data.js';
import { startStack, type Stack } from '../support/stack.js';

const CASES = Number(process.env.FHIRGW_LEAK_CASES ?? 10_000);
const PER_RUN = 10;
const SEED = process.env.FHIRGW_LEAK_SEED === undefined ? undefined : Number(process.env.FHIRGW_LEAK_SEED);

const EXTRA = 2;
const PATIENTS: SyntheticPatient[] = [
  ...SYNTHETIC_PATIENTS,
  ...Array.from({ length: EXTRA }, (_, k) => {
    const i = k + 1;
    return { id: `pat-gen-${i}`, given: `Gen${i}`, family: `Synthetic-${i}`, mrn: `MRN-9${String(i).padStart(5, '0')}`, phone: `+1-555-9${String(i).padStart(3, '0')}`, birthDate: '1970-01-01' };
  }),
];
const markersOf = (p: SyntheticPatient): string[] => [p.id, p.given, p.family, p.mrn, p.phone, p.birthDate];

// ---------- generators ----------

const patientIds = PATIENTS.map((p) => p.id);
const resourceIds = [
  ...PATIENTS.flatMap((p) => [`obs-${p.id}-0`, `obs-${p.id}-1`, `obs-${p.id}-3`, `enc-${p.id}`, `cond-${p.id}`]),
  ...['obs-x1', 'obs-alba-derived', 'prov-x2', 'eob-x3', 'list-x4', 'group-x5', 'dev-x6', 'dev-stock', 'cp-x7', 'rp-x8', 'doc-x9', 'bin-x10', 'doc-alba', 'bin-alba', 'bin-orphan', 'prac-hopper'],
];
const types = ['Patient', 'Observation', 'Condition', 'Encounter', 'Provenance', 'ExplanationOfBenefit', 'List', 'Group', 'Device', 'CarePlan', 'RelatedPerson', 'DocumentReference', 'Binary', 'Practitioner', 'AuditEvent', 'Consent'];

const type = fc.constantFrom(...types);
const anyId = fc.oneof(fc.constantFrom(...patientIds), fc.constantFrom(...resourceIds), fc.stringMatching(/^[A-Za-z0-9.-]{1,12}$/));
const tricky = fc.constantFrom('..', '.', '', '%2e%2e', '%2F', 'pat-bruno%2F..', ';x=1', '*', '$everything', '$export', '_history', '_search', 'metadata', '$graphql', '$meta');
const segment = fc.oneof({ weight: 8, arbitrary: fc.oneof(type, anyId) }, { weight: 1, arbitrary: tricky });

/** Paths that search (and take search parameters), and paths that read (and take format parameters only). */
const searchPath = fc.oneof(
  { weight: 3, arbitrary: type },
  { weight: 2, arbitrary: fc.tuple(fc.constantFrom(...patientIds), fc.oneof(type, fc.constantFrom('*'))).map(([id, t]) => `Patient/${id}/${t}`) },
);
const readPath = fc.oneof(
  { weight: 4, arbitrary: fc.tuple(type, anyId).map(([t, id]) => `${t}/${id}`) },
  { weight: 1, arbitrary: fc.tuple(type, anyId, fc.constantFrom('_history', '_history/1', '_history/2', '$everything', '$meta')).map(([t, id, h]) => `${t}/${id}/${h}`) },
  { weight: 1, arbitrary: fc.constantFrom('', 'metadata', '_history', '$export', 'Patient/$export', '_search') },
  { weight: 1, arbitrary: fc.array(segment, { minLength: 1, maxLength: 4 }).map((segments) => segments.join('/')) },
);

const marker = fc.constantFrom(...PATIENTS.flatMap(markersOf));
const paramValue = fc.oneof(
  fc.constantFrom(...patientIds.flatMap((id) => [id, `Patient/${id}`])),
  fc.constantFrom(...resourceIds),
  marker,
  fc.constantFrom('*', 'Observation:subject', 'Observation:patient', 'Observation:subject:Patient', 'Provenance:target', 'Observation:encounter', 'Encounter:subject', 'List:item', 'Group:member', 'DocumentReference:subject', '_id', 'count', 'true', 'accurate', 'identifier,name', '1000', '0', '-1', 'gt1900', 'http://loinc.org|4548-4', 'laboratory'),
  fc.stringMatching(/^[A-Za-z0-9%,|:.*-]{0,12}$/),
);
/** Parameters every type accepts, and ones only some types know (the others are refused with 400). */
const commonParam = fc.constantFrom('_id', '_include', '_revinclude', '_include:iterate', '_revinclude:iterate', '_elements', '_summary', '_count', '_sort', '_total', '_security', '_tag', '_has:Observation:patient:code', '_has:Observation:subject:_id');
const typedParam = fc.constantFrom(
  'subject', 'patient', 'code', 'category', 'subject:Patient.name', 'subject:Patient.identifier', 'patient.name', 'name', 'family', 'given', 'identifier',
  'telecom', 'birthdate', 'general-practitioner', 'target', 'agent', 'member', 'derived-from', 'encounter', 'link', '_contained', '_format', '_getpages', '_offset', 'item',
);
const paramName = fc.oneof({ weight: 3, arbitrary: commonParam }, { weight: 1, arbitrary: typedParam });
const queryOf = (names: fc.Arbitrary<string>, maxLength: number) =>
  fc.array(fc.tuple(names, paramValue), { maxLength }).map((ps) => ps.map(([n, v]) => `${n}=${encodeURIComponent(v)}`).join('&'));
const query = queryOf(paramName, 3);
const readQuery = queryOf(fc.constantFrom('_elements', '_summary', '_pretty'), 1);
/** A path with a query that fits it, mostly: a search parameter on a read is a (refused) case too. */
const target = fc.oneof(
  { weight: 5, arbitrary: fc.tuple(searchPath, query) },
  { weight: 5, arbitrary: fc.tuple(readPath, readQuery) },
  { weight: 1, arbitrary: fc.tuple(readPath, query) },
).map(([path, q]) => (q ? `${path}?${q}` : path));

const headerSets = fc.record(
  {
    accept: fc.oneof({ weight: 4, arbitrary: fc.constantFrom('application/fhir+json', 'application/json', '*/*', 'application/fhir+json;q=0.5, */*') }, fc.constantFrom('application/octet-stream', 'text/plain', 'application/fhir+xml')),
    prefer: fc.constantFrom('return=representation', 'return=minimal', 'handling=lenient', 'respond-async'),
    'if-none-match': fc.constantFrom('W/"1"', '*'),
    'x-forwarded-host': fc.constantFrom('evil.example'),
    forwarded: fc.constantFrom('for=203.0.113.9;host=evil.example'),
    'x-http-method-override': fc.constantFrom('DELETE', 'PUT'),
    'x-original-url': fc.constantFrom('/fhir/Patient/pat-bruno', '/fhir/Group/group-x5'),
  },
  { requiredKeys: [] },
);

interface Case {
  readonly method: 'GET' | 'POST';
  readonly target: string;
  readonly headers: Record<string, string>;
  readonly body?: string;
}

const readCase = fc.record({ target, headers: headerSets }).map(({ target, headers }): Case => ({ method: 'GET', target, headers }));
const formSearch = fc.record({ t: type, query, headers: headerSets }).map(({ t, query, headers }): Case => ({
  method: 'POST',
  target: `${t}/_search`,
  headers: { ...headers, 'content-type': 'application/x-www-form-urlencoded' },
  body: query,
}));
const batch = fc.record({ entries: fc.array(target, { minLength: 1, maxLength: 5 }), kind: fc.constantFrom('batch', 'transaction') }).map(({ entries, kind }): Case => ({
  method: 'POST',
  target: '',
  headers: { 'content-type': 'application/fhir+json' },
  body: JSON.stringify({ resourceType: 'Bundle', type: kind, entry: entries.map((url) => ({ request: { method: 'GET', url } })) }),
}));
const requestCase = fc.oneof({ weight: 6, arbitrary: readCase }, { weight: 1, arbitrary: formSearch }, { weight: 2, arbitrary: batch });

// ---------- the oracle ----------

let stack: Stack;
/** One token per scope shape for each of the first three patients. */
const tokens: Array<{ patient: SyntheticPatient; token: string }> = [];
const principal = fc.nat();

beforeAll(async () => {
  stack = await startStack({ seed: { extraPatients: EXTRA }, crossLinks: true });
  for (const patient of PATIENTS.slice(0, 3)) {
    for (const scope of ['launch/patient patient/*.rs', 'launch/patient patient/Observation.rs patient/Patient.r', 'launch/patient patient/*.cruds']) {
      tokens.push({ patient, token: await stack.issuer.mint({ sub: `Patient/${patient.id}`, scope, patient: patient.id, roles: ['patient'] }) });
    }
  }
}, 60_000);
afterAll(async () => {
  await stack.close();
});

function decoded(text: string): string {
  try {
    return decodeURIComponent(text.replace(/\+/g, ' '));
  } catch {
    return text;
  }
}

/** Sends one case; returns what leaked (markers of other patients the request did not carry). */
async function leaksOf(c: Case, who: { patient: SyntheticPatient; token: string }): Promise<{ status: number; leaked: string[]; internal: boolean }> {
  const res = await fetch(`${stack.base}/${c.target}`, {
    method: c.method,
    headers: { ...c.headers, authorization: `Bearer ${who.token}` },
    ...(c.body === undefined ? {} : { body: c.body }),
    redirect: 'manual',
  });
  const body = await res.text();
  const headers: string[] = [];
  res.headers.forEach((v, k) => headers.push(`${k}: ${v}`));
  const answer = `${headers.join('\n')}\n${body}`;
  const asked = `${c.target}\n${decoded(c.target)}\n${JSON.stringify(c.headers)}\n${c.body ?? ''}\n${decoded(c.body ?? '')}`;
  const others = PATIENTS.filter((p) => p.id !== who.patient.id);
  const leaked = others.flatMap(markersOf).filter((m) => answer.includes(m) && !asked.includes(m));
  return { status: res.status, leaked, internal: res.status === 500 && body.includes('"code":"internal"') };
}

describe('a resource the patient shares with another patient', () => {
  test('is released without the other patient: a Group of both keeps only the caller as member', async () => {
    const [, bruno, chen] = PATIENTS as [SyntheticPatient, SyntheticPatient, SyntheticPatient];
    const token = await stack.issuer.mint({ sub: `Patient/${bruno.id}`, scope: 'launch/patient patient/*.rs', patient: bruno.id, roles: ['patient'] });
    const res = await fetch(`${stack.base}/Group/group-x5`, { headers: { authorization: `Bearer ${token}` } });
    expect(res.status).toBe(200);
    const group = await res.json();
    expect(group.member).toEqual([{ entity: { reference: `Patient/${bruno.id}` } }]);
    expect(group.meta.security).toContainEqual(expect.objectContaining({ code: 'REDACTED' }));
    expect(JSON.stringify(group)).not.toContain(chen.id);
  });
});

describe('the leak oracle', () => {
  test(`${CASES} generated requests from patient-context tokens: nothing of another patient comes back`, async () => {
    let sent = 0;
    const statuses = new Map<number, number>();
    await fc.assert(
      fc.asyncProperty(fc.array(fc.tuple(requestCase, principal), { minLength: PER_RUN, maxLength: PER_RUN }), async (cases) => {
        const results = await Promise.all(cases.map(([c, n]) => leaksOf(c, tokens[n % tokens.length]!)));
        sent += results.length;
        for (const [i, r] of results.entries()) {
          statuses.set(r.status, (statuses.get(r.status) ?? 0) + 1);
          // Reported with the request, so a shrunk counterexample says exactly what leaked how.
          expect({ request: cases[i]![0], leaked: r.leaked, internalError: r.internal }).toEqual({ request: cases[i]![0], leaked: [], internalError: false });
        }
      }),
      { numRuns: Math.ceil(CASES / PER_RUN), ...(SEED === undefined ? {} : { seed: SEED }) },
    );
    expect(sent).toBeGreaterThanOrEqual(CASES);
    // The generated traffic exercised releases as well as refusals (the oracle is not vacuous).
    expect(statuses.get(200) ?? 0).toBeGreaterThan(CASES / 10);
    expect([...statuses.keys()].filter((s) => s >= 400).length).toBeGreaterThan(2);
  }, 30 * 60_000);
});
