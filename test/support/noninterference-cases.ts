/**
 * The principals of the two-world noninterference property, what each may not read, and the
 * requests it sends (issue 15).
 *
 * Both worlds hold the synthetic patients, their cross-patient links and the same Consents: Chen's
 * privacy Consent refuses Practitioner/prac-excluded, Bruno opted out of research. Each principal
 * then gets two worlds that differ only in data it may not read (`variants`): another patient's
 * resources and values, labelled resources' presence and content, an earlier labelled version, the
 * data a Consent withholds, fields the principal gets redacted. Resource ids and guessed values of
 * both worlds are in the request pools, so requests name, search for and test exactly what differs.
 */
import fc from 'fast-check';
import type { MemoryRepository } from '@medplum/fhir-router';
import type { Resource } from '@medplum/fhirtypes';
import { seedCrossPatientLinks, seedSyntheticData } from '../../src/devkit/synthetic-data.js';
import type { WorldName, WorldRequest } from './two-worlds.js';

const ACT_CODE = 'http://terminology.hl7.org/CodeSystem/v3-ActCode';
const LOINC = 'http://loinc.org';
const CONSENT_SCOPE = 'http://terminology.hl7.org/CodeSystem/consentscope';
const HIV = { system: ACT_CODE, code: 'HIV' };

export const INTERACTIONS = ['read', 'vread', 'history', 'search', 'paging', 'patch', 'put', 'delete', 'conditional', 'batch', 'transaction'] as const;
export type Interaction = (typeof INTERACTIONS)[number];

export interface NiCase {
  readonly interaction: Interaction;
  readonly request: WorldRequest;
  /** How many `next` links to follow. */
  readonly follow: number;
}

export interface Principal {
  readonly name: string;
  readonly claims: Record<string, unknown> & { scope: string; sub: string };
  /** What this principal may not read, as it is in each world (same id twice: two versions). */
  readonly variants: (world: WorldName) => Resource[];
  /** Guessable values: what the hidden data holds in either world. */
  readonly secrets: readonly string[];
}

const observation = (id: string, patient: string, value: string, labelled = false): Resource => ({
  resourceType: 'Observation',
  id,
  ...(labelled ? { meta: { security: [HIV] } } : {}),
  status: 'final',
  category: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/observation-category', code: 'laboratory' }] }],
  code: { coding: [{ system: LOINC, code: labelled ? '75622-1' : '4548-4' }] },
  subject: { reference: `Patient/${patient}` },
  effectiveDateTime: '2026-10-05T10:00:00Z',
  valueString: value,
});

/** A Condition whose first version was labelled HIV (and held a secret), its current one not. */
const relabelled = (id: string, patient: string, secret: string): Resource[] => [
  { resourceType: 'Condition', id, meta: { security: [HIV] }, subject: { reference: `Patient/${patient}` }, code: { text: secret } },
  { resourceType: 'Condition', id, subject: { reference: `Patient/${patient}` }, code: { text: 'reviewed' } },
];

/** Labelled results, withheld from everyone without the label's permission and break-the-glass. */
const labelled = (world: WorldName): Resource[] =>
  world === 'a'
    ? [observation('ni-hiv-1', 'pat-alba', 'secret-a-1', true), ...relabelled('ni-cond-v', 'pat-alba', 'secret-a-5')]
    : [observation('ni-hiv-1', 'pat-alba', 'secret-b-1', true), observation('ni-hiv-2', 'pat-alba', 'secret-b-2', true), observation('ni-hiv-3', 'pat-bruno', 'secret-b-3', true), ...relabelled('ni-cond-v', 'pat-alba', 'secret-b-5')];

const SECRETS = ['secret-a-1', 'secret-a-2', 'secret-a-5', 'secret-b-1', 'secret-b-2', 'secret-b-3', 'secret-b-4', 'secret-b-5'];

/** Other patients' data, as a patient-context token for Alba must not see it. */
const otherPatients = (world: WorldName): Resource[] =>
  world === 'a'
    ? [observation('ni-other-1', 'pat-bruno', 'secret-a-1'), observation('obs-x1', 'pat-bruno', 'secret-a-2')]
    : [
        observation('ni-other-1', 'pat-bruno', 'secret-b-1'),
        observation('ni-other-2', 'pat-chen', 'secret-b-3'),
        observation('ni-hiv-3', 'pat-chen', 'secret-b-4', true),
        observation('obs-x1', 'pat-bruno', 'secret-b-2'),
        observation('obs-x1', 'pat-bruno', 'secret-b-2'),
        ...relabelled('ni-cond-v', 'pat-bruno', 'secret-b-5'),
      ];

const clinicianClaims = (who: string) => ({ sub: `Practitioner/${who}`, fhirUser: `Practitioner/${who}`, roles: ['clinician'], purpose_of_use: ['TREAT'], scope: 'user/*.cruds' });

export const PRINCIPALS: readonly Principal[] = [
  { name: 'patient, read-only', claims: { sub: 'Patient/pat-alba', patient: 'pat-alba', roles: ['patient'], scope: 'launch/patient patient/*.rs' }, variants: otherPatients, secrets: SECRETS },
  { name: 'patient, read-write', claims: { sub: 'Patient/pat-alba', patient: 'pat-alba', roles: ['patient'], scope: 'launch/patient patient/*.cruds' }, variants: otherPatients, secrets: SECRETS },
  { name: 'clinician without break-the-glass', claims: clinicianClaims('prac-hopper'), variants: labelled, secrets: SECRETS },
  {
    name: 'clinician a Consent excludes',
    claims: clinicianClaims('prac-excluded'),
    // Chen's privacy Consent refuses this practitioner: all of Chen's data is withheld from them.
    variants: (world) => [
      ...labelled(world),
      ...(world === 'a'
        ? [observation('ni-chen-1', 'pat-chen', 'secret-a-2')]
        : [observation('ni-chen-1', 'pat-chen', 'secret-b-2'), observation('ni-chen-2', 'pat-chen', 'secret-b-4'), { resourceType: 'Patient', id: 'pat-chen', name: [{ family: 'secret-b-3' }], birthDate: '1933-07-29' } as Resource]),
    ],
    secrets: SECRETS,
  },
  {
    name: 'researcher under Safe Harbor',
    claims: { sub: 'researcher-1', roles: ['researcher'], purpose_of_use: ['HRESCH'], scope: 'user/*.rs' },
    // Names, phones, street, the day of birth and free text are redacted; Bruno opted out; labels are withheld.
    variants: (world) => [
      ...labelled(world),
      world === 'a'
        ? ({ resourceType: 'Patient', id: 'pat-alba', name: [{ family: 'Quintero-Zeta', given: ['Alba'] }], telecom: [{ system: 'phone', value: '+1-555-0101' }], gender: 'unknown', birthDate: '1961-03-14', address: [{ line: ['secret-a-2'], city: 'Springfield', state: 'IL', postalCode: '62704' }] } as Resource)
        : ({ resourceType: 'Patient', id: 'pat-alba', name: [{ family: 'secret-b-2', given: ['secret-b-4'] }], telecom: [{ system: 'phone', value: '+1-555-0999' }], gender: 'unknown', birthDate: '1961-11-30', address: [{ line: ['secret-b-3'], city: 'Springfield', state: 'IL', postalCode: '62704' }] } as Resource),
      observation('ni-opted-out', 'pat-bruno', world === 'a' ? 'secret-a-1' : 'secret-b-1'),
    ],
    secrets: [...SECRETS, 'Quintero-Zeta', '1961-03-14', '1961-11-30', '+1-555-0101'],
  },
  {
    name: 'billing',
    claims: { sub: 'billing-1', roles: ['billing'], purpose_of_use: ['HPAYMT'], scope: 'user/*.cruds' },
    // Clinical results are not billing's; an Encounter's reason is removed from what it gets.
    variants: (world) => [
      observation('ni-other-1', 'pat-alba', world === 'a' ? 'secret-a-1' : 'secret-b-1'),
      {
        resourceType: 'Encounter',
        id: 'enc-pat-alba',
        status: 'finished',
        class: { system: ACT_CODE, code: 'AMB' },
        subject: { reference: 'Patient/pat-alba' },
        period: { start: '2026-10-01T09:00:00Z', end: '2026-10-01T09:30:00Z' },
        ...(world === 'b' ? { reasonCode: [{ coding: [{ system: 'http://snomed.info/sct', code: '38341003' }], text: 'secret-b-3' }] } : {}),
      } as Resource,
    ],
    secrets: [...SECRETS, '38341003'],
  },
  { name: 'system backend', claims: { sub: 'svc-analytics', client_id: 'analytics', scope: 'system/*.cruds' }, variants: labelled, secrets: SECRETS },
];

/** What both worlds hold, then what this principal's worlds hold differently. */
export function seedFor(principal: Principal): (repo: MemoryRepository, world: WorldName) => Promise<void> {
  return async (repo, world) => {
    await seedSyntheticData(repo);
    await seedCrossPatientLinks(repo);
    const consent = (id: string, patient: string, scope: string, provision: Record<string, unknown>): Resource => ({
      resourceType: 'Consent',
      id,
      status: 'active',
      scope: { coding: [{ system: CONSENT_SCOPE, code: scope }] },
      category: [{ coding: [{ system: LOINC, code: '59284-0' }] }],
      patient: { reference: `Patient/${patient}` },
      provision,
    } as Resource);
    await repo.updateResource(consent('consent-chen', 'pat-chen', 'patient-privacy', { type: 'permit', provision: [{ type: 'deny', actor: [{ role: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-ParticipationType', code: 'PRCP' }] }, reference: { reference: 'Practitioner/prac-excluded' } }] }] }));
    await repo.updateResource(consent('consent-bruno-research', 'pat-bruno', 'research', { type: 'deny' }));
    for (const r of principal.variants(world)) await repo.updateResource(r);
  };
}

// ---------- requests ----------

const TYPES = ['Patient', 'Observation', 'Condition', 'Encounter'] as const;
type Type = (typeof TYPES)[number];

const COMMON_IDS = ['pat-alba', 'pat-bruno', 'pat-chen', 'obs-pat-alba-0', 'obs-pat-alba-1', 'obs-pat-bruno-1', 'obs-pat-chen-0', 'enc-pat-alba', 'enc-pat-bruno', 'cond-pat-alba', 'cond-pat-chen', 'obs-x1', 'obs-alba-derived', 'ni-missing'];
const HIDDEN_IDS = ['ni-hiv-1', 'ni-hiv-2', 'ni-hiv-3', 'ni-cond-v', 'ni-other-1', 'ni-other-2', 'ni-chen-1', 'ni-chen-2', 'ni-opted-out'];

const SEARCH_PARAMS: Record<Type, readonly string[]> = {
  Patient: ['_id', 'family', 'name', 'identifier', 'birthdate', 'telecom', 'gender', 'general-practitioner', 'address'],
  Observation: ['_id', 'subject', 'patient', 'code', 'value-string', '_security', 'category', 'date', 'encounter', 'derived-from', 'subject:Patient.family', '_has:Observation:derived-from:value-string'],
  Condition: ['_id', 'subject', 'patient', 'code', '_security'],
  Encounter: ['_id', 'subject', 'patient', 'reason-code', '_has:Observation:encounter:value-string'],
};

export function requestsFor(principal: Principal): fc.Arbitrary<NiCase> {
  const type = fc.constantFrom(...TYPES);
  const id = fc.constantFrom(...COMMON_IDS, ...HIDDEN_IDS);
  const guess = fc.constantFrom(...principal.secrets, 'final', '4548-4', 'http://loinc.org|75622-1', 'Patient/pat-alba', 'Patient/pat-bruno', 'Patient/pat-chen', 'pat-chen', 'HIV', `${ACT_CODE}|HIV`, '2026', 'ge2026-10-05', 'MRN-700303', 'Okafor-Yarrow', 'Wexler-Xanth', '1961', '38341003', 'Observation/obs-x1');
  const version = fc.constantFrom('1', '2', '3');
  const ifMatch = fc.option(version.map((v) => `W/"${v}"`), { nil: undefined });

  const criteria = (t: Type) =>
    fc
      .array(fc.tuple(fc.constantFrom(...SEARCH_PARAMS[t]), fc.oneof(guess, id)), { minLength: 1, maxLength: 2 })
      .map((pairs) => pairs.map(([n, v]) => `${n}=${encodeURIComponent(v)}`).join('&'));
  const modifiers = fc
    .subarray(['_count=1', '_count=2', '_sort=_id', '_sort=-_lastUpdated', '_include=Observation:subject', '_include=Observation:derived-from', '_revinclude=Observation:subject', '_summary=count', '_total=accurate', '_elements=id,subject'], { maxLength: 2 })
    .map((ms) => ms.join('&'));
  const search = fc.tuple(type, modifiers).chain(([t, m]) =>
    fc.option(criteria(t), { nil: undefined }).map((c) => [t, [c, m].filter((x) => x !== undefined && x !== '').join('&')] as const),
  );

  const resourceFor = (t: Type, rid: string | undefined, patient: string): Record<string, unknown> => {
    const base = { resourceType: t, ...(rid === undefined ? {} : { id: rid }) };
    if (t === 'Patient') return { ...base, name: [{ family: 'Written' }] };
    if (t === 'Observation') return { ...base, status: 'final', code: { text: 'written' }, subject: { reference: `Patient/${patient}` }, valueString: 'written' };
    if (t === 'Condition') return { ...base, code: { text: 'written' }, subject: { reference: `Patient/${patient}` } };
    return { ...base, status: 'finished', class: { system: ACT_CODE, code: 'AMB' }, subject: { reference: `Patient/${patient}` } };
  };
  const patient = fc.constantFrom('pat-alba', 'pat-bruno', 'pat-chen');
  const patch = fc.oneof(
    guess.map((g) => [{ op: 'test', path: '/valueString', value: g }]),
    guess.map((g) => [{ op: 'test', path: '/code/text', value: g }, { op: 'replace', path: '/status', value: 'amended' }]),
    fc.constant([{ op: 'remove', path: '/meta/security' }]),
    fc.constant([{ op: 'replace', path: '/status', value: 'amended' }]),
    fc.constant([]),
  );
  const json = { 'content-type': 'application/fhir+json' };

  const read = fc.tuple(type, id).map(([t, i]): NiCase => ({ interaction: 'read', request: { method: 'GET', path: `${t}/${i}` }, follow: 0 }));
  const vread = fc.tuple(type, id, version).map(([t, i, v]): NiCase => ({ interaction: 'vread', request: { method: 'GET', path: `${t}/${i}/_history/${v}` }, follow: 0 }));
  const history = fc.tuple(type, id, fc.constantFrom('', '?_count=1', '?_count=2')).map(([t, i, q]): NiCase => ({ interaction: 'history', request: { method: 'GET', path: `${t}/${i}/_history${q}` }, follow: 3 }));
  const searchCase = search.map(([t, q]): NiCase => ({ interaction: 'search', request: { method: 'GET', path: q ? `${t}?${q}` : t }, follow: 0 }));
  const paging = fc.tuple(search, fc.constantFrom('1', '2')).map(([[t, q], n]): NiCase => ({ interaction: 'paging', request: { method: 'GET', path: `${t}?${[q.replace(/(^|&)_count=\d+/g, ''), `_count=${n}`].filter((x) => x !== '').join('&')}` }, follow: 4 }));
  const patchCase = fc.tuple(type, id, patch, ifMatch).map(([t, i, ops, m]): NiCase => ({
    interaction: 'patch',
    request: { method: 'PATCH', path: `${t}/${i}`, headers: { 'content-type': 'application/json-patch+json', ...(m ? { 'if-match': m } : {}) }, body: JSON.stringify(ops) },
    follow: 0,
  }));
  const putCase = fc.tuple(type, id, patient, ifMatch).map(([t, i, p, m]): NiCase => ({
    interaction: 'put',
    request: { method: 'PUT', path: `${t}/${i}`, headers: { ...json, ...(m ? { 'if-match': m } : {}) }, body: JSON.stringify(resourceFor(t, i, p)) },
    follow: 0,
  }));
  const deleteCase = fc.tuple(type, id, ifMatch).map(([t, i, m]): NiCase => ({ interaction: 'delete', request: { method: 'DELETE', path: `${t}/${i}`, headers: m ? { 'if-match': m } : {} }, follow: 0 }));
  const conditional = fc.tuple(type, patient, fc.constantFrom('create', 'update', 'delete', 'patch')).chain(([t, p, kind]) =>
    criteria(t).map((c): NiCase => {
      if (kind === 'create') return { interaction: 'conditional', request: { method: 'POST', path: t, headers: { ...json, 'if-none-exist': c }, body: JSON.stringify(resourceFor(t, undefined, p)) }, follow: 0 };
      if (kind === 'update') return { interaction: 'conditional', request: { method: 'PUT', path: `${t}?${c}`, headers: json, body: JSON.stringify(resourceFor(t, undefined, p)) }, follow: 0 };
      if (kind === 'delete') return { interaction: 'conditional', request: { method: 'DELETE', path: `${t}?${c}` }, follow: 0 };
      return { interaction: 'conditional', request: { method: 'PATCH', path: `${t}?${c}`, headers: { 'content-type': 'application/json-patch+json' }, body: JSON.stringify([{ op: 'replace', path: '/status', value: 'amended' }]) }, follow: 0 };
    }),
  );

  /** A Bundle entry for each single interaction (PATCH inside a Bundle is a Binary-wrapped patch). */
  const entryOf = (c: NiCase): Record<string, unknown> => {
    const { method, path, headers = {}, body } = c.request;
    const request = { method, url: path, ...(headers['if-match'] ? { ifMatch: headers['if-match'] } : {}), ...(headers['if-none-exist'] ? { ifNoneExist: headers['if-none-exist'] } : {}) };
    if (method === 'PATCH') return { request, resource: { resourceType: 'Binary', contentType: 'application/json-patch+json', data: Buffer.from(body ?? '[]').toString('base64') } };
    return { request, ...(body !== undefined && method !== 'DELETE' ? { resource: JSON.parse(body) as unknown } : {}) };
  };
  const single = fc.oneof(read, vread, searchCase, patchCase, putCase, deleteCase, conditional);
  const bundle = (kind: 'batch' | 'transaction') =>
    fc.array(single, { minLength: 1, maxLength: 3 }).map((entries): NiCase => ({
      interaction: kind,
      request: { method: 'POST', path: '', headers: json, body: JSON.stringify({ resourceType: 'Bundle', type: kind, entry: entries.map(entryOf) }) },
      follow: 0,
    }));

  return fc.oneof(
    { weight: 3, arbitrary: read },
    { weight: 2, arbitrary: vread },
    { weight: 2, arbitrary: history },
    { weight: 4, arbitrary: searchCase },
    { weight: 3, arbitrary: paging },
    { weight: 2, arbitrary: patchCase },
    { weight: 2, arbitrary: putCase },
    { weight: 1, arbitrary: deleteCase },
    { weight: 2, arbitrary: conditional },
    { weight: 1, arbitrary: bundle('batch') },
    { weight: 1, arbitrary: bundle('transaction') },
  );
}
