/**
 * Synthetic patients for the demo and the tests. Every name, identifier and address here is
 * invented; each patient carries distinctive markers (family name, MRN, phone) so that tests can
 * assert that nothing of one patient ever appears in an answer meant for another.
 */
import type { MemoryRepository } from '@medplum/fhir-router';
import type { Condition, Encounter, Observation, Patient, Practitioner, Resource } from '@medplum/fhirtypes';

export interface SyntheticPatient {
  readonly id: string;
  readonly given: string;
  readonly family: string;
  readonly mrn: string;
  readonly phone: string;
  readonly birthDate: string;
}

export const SYNTHETIC_PATIENTS: readonly SyntheticPatient[] = [
  { id: 'pat-alba', given: 'Alba', family: 'Quintero-Zeta', mrn: 'MRN-700101', phone: '+1-555-0101', birthDate: '1961-03-14' },
  { id: 'pat-bruno', given: 'Bruno', family: 'Okafor-Yarrow', mrn: 'MRN-700202', phone: '+1-555-0202', birthDate: '1987-11-02' },
  { id: 'pat-chen', given: 'Chen', family: 'Wexler-Xanth', mrn: 'MRN-700303', phone: '+1-555-0303', birthDate: '1933-07-29' },
];

export const SYNTHETIC_PRACTITIONER = { id: 'prac-hopper', given: 'Grace', family: 'Hollis' } as const;

const LOINC = 'http://loinc.org';
const CATEGORY = 'http://terminology.hl7.org/CodeSystem/observation-category';

export interface SeedOptions {
  /** Patients beyond the three named ones, generated as pat-gen-N (for load tests). */
  readonly extraPatients?: number;
  readonly observationsPerPatient?: number;
}

export async function seedSyntheticData(repo: MemoryRepository, options: SeedOptions = {}): Promise<void> {
  const put = <T extends Resource>(r: T): Promise<T> => repo.updateResource(r) as Promise<T>;
  await put<Practitioner>({
    resourceType: 'Practitioner',
    id: SYNTHETIC_PRACTITIONER.id,
    name: [{ given: [SYNTHETIC_PRACTITIONER.given], family: SYNTHETIC_PRACTITIONER.family, prefix: ['Dr.'] }],
  });
  const patients: SyntheticPatient[] = [...SYNTHETIC_PATIENTS];
  for (let i = 1; i <= (options.extraPatients ?? 0); i++) {
    patients.push({ id: `pat-gen-${i}`, given: `Gen${i}`, family: `Synthetic-${i}`, mrn: `MRN-9${String(i).padStart(5, '0')}`, phone: `+1-555-9${String(i).padStart(3, '0')}`, birthDate: '1970-01-01' });
  }
  const perPatient = options.observationsPerPatient ?? 4;
  for (const [n, p] of patients.entries()) {
    await put<Patient>(patientResource(p));
    await put<Encounter>({
      resourceType: 'Encounter',
      id: `enc-${p.id}`,
      status: 'finished',
      class: { system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'AMB' },
      subject: { reference: `Patient/${p.id}` },
      participant: [{ individual: { reference: `Practitioner/${SYNTHETIC_PRACTITIONER.id}` } }],
      period: { start: '2026-10-01T09:00:00Z', end: '2026-10-01T09:30:00Z' },
    });
    await put<Condition>({
      resourceType: 'Condition',
      id: `cond-${p.id}`,
      clinicalStatus: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/condition-clinical', code: 'active' }] },
      code: { coding: [{ system: 'http://snomed.info/sct', code: '44054006', display: 'Diabetes mellitus type 2' }] },
      subject: { reference: `Patient/${p.id}` },
      note: [{ text: `Diagnosed at the ${p.family} family clinic visit.` }],
    });
    for (let i = 0; i < perPatient; i++) await put<Observation>(observation(p, i, n));
  }
}

function patientResource(p: SyntheticPatient): Patient {
  return {
    resourceType: 'Patient',
    id: p.id,
    text: { status: 'generated', div: `<div xmlns="http://www.w3.org/1999/xhtml">${p.given} ${p.family}, ${p.mrn}</div>` },
    identifier: [{ system: 'urn:oid:2.16.840.1.113883.19.5', value: p.mrn }],
    name: [{ use: 'official', given: [p.given], family: p.family }],
    telecom: [{ system: 'phone', value: p.phone, use: 'home' }],
    gender: 'unknown',
    birthDate: p.birthDate,
    address: [{ line: [`${p.family} House 1`], city: 'Springfield', state: 'IL', postalCode: '62704', country: 'US' }],
    generalPractitioner: [{ reference: `Practitioner/${SYNTHETIC_PRACTITIONER.id}` }],
  };
}

function observation(p: SyntheticPatient, i: number, n: number): Observation {
  const lab = i % 2 === 1;
  return {
    resourceType: 'Observation',
    id: `obs-${p.id}-${i}`,
    status: 'final',
    category: [{ coding: [{ system: CATEGORY, code: lab ? 'laboratory' : 'vital-signs' }] }],
    code: lab
      ? { coding: [{ system: LOINC, code: '4548-4', display: 'Hemoglobin A1c/Hemoglobin.total in Blood' }] }
      : { coding: [{ system: LOINC, code: '8867-4', display: 'Heart rate' }] },
    subject: { reference: `Patient/${p.id}` },
    encounter: { reference: `Encounter/enc-${p.id}` },
    effectiveDateTime: `2026-10-${String(1 + (i % 28)).padStart(2, '0')}T09:${String(n % 60).padStart(2, '0')}:00Z`,
    valueQuantity: lab ? { value: 6.1 + i / 10, unit: '%', system: 'http://unitsofmeasure.org', code: '%' } : { value: 60 + i, unit: '/min', system: 'http://unitsofmeasure.org', code: '/min' },
    note: [{ text: `Reviewed with ${p.given} ${p.family}.` }],
  };
}

/**
 * Resources that link patients across compartments in the ways FHIR allows, for enforcement tests.
 * Ids are neutral (`obs-x1`, not `obs-pat-bruno-...`) so that a test can assert that another
 * patient's id never appears in an answer at all.
 */
export async function seedCrossPatientLinks(repo: MemoryRepository): Promise<void> {
  const put = <T extends Resource>(r: T): Promise<T> => repo.updateResource(r) as Promise<T>;
  const [alba, bruno, chen] = SYNTHETIC_PATIENTS as [SyntheticPatient, SyntheticPatient, SyntheticPatient];
  const text = (s: string): string => Buffer.from(s, 'utf8').toString('base64');
  const resources: Resource[] = [
    { resourceType: 'Observation', id: 'obs-x1', status: 'final', code: { text: 'glucose' }, subject: { reference: `Patient/${bruno.id}` }, note: [{ text: `Seen with ${bruno.given} ${bruno.family}` }] },
    { resourceType: 'Observation', id: 'obs-alba-derived', status: 'final', code: { text: 'derived' }, subject: { reference: `Patient/${alba.id}` }, derivedFrom: [{ reference: 'Observation/obs-x1' }] },
    {
      resourceType: 'Provenance',
      id: 'prov-x2',
      target: [{ reference: `Observation/obs-${alba.id}-0` }],
      recorded: '2026-10-01T10:00:00Z',
      agent: [{ who: { reference: `Patient/${bruno.id}`, display: `${bruno.given} ${bruno.family}` } }],
    },
    {
      resourceType: 'ExplanationOfBenefit',
      id: 'eob-x3',
      status: 'active',
      type: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/claim-type', code: 'professional' }] },
      use: 'claim',
      patient: { reference: `Patient/${bruno.id}` },
      created: '2026-10-02',
      insurer: { display: 'Payer' },
      provider: { reference: `Practitioner/${SYNTHETIC_PRACTITIONER.id}` },
      outcome: 'complete',
      insurance: [{ focal: true, coverage: { display: `Plan of ${bruno.family}` } }],
    },
    { resourceType: 'List', id: 'list-x4', status: 'current', mode: 'working', subject: { reference: `Patient/${bruno.id}` }, entry: [{ item: { reference: 'Observation/obs-x1' } }] },
    { resourceType: 'Group', id: 'group-x5', type: 'person', actual: true, member: [{ entity: { reference: `Patient/${bruno.id}` } }, { entity: { reference: `Patient/${chen.id}` } }] },
    { resourceType: 'Device', id: 'dev-x6', status: 'active', patient: { reference: `Patient/${bruno.id}` }, deviceName: [{ name: `Pacemaker of ${bruno.family}`, type: 'user-friendly-name' }] },
    { resourceType: 'Device', id: 'dev-stock', status: 'active', deviceName: [{ name: 'Ward thermometer', type: 'user-friendly-name' }] },
    { resourceType: 'CarePlan', id: 'cp-x7', status: 'active', intent: 'plan', subject: { reference: `Patient/${chen.id}` }, description: `Plan for ${chen.family}` },
    { resourceType: 'RelatedPerson', id: 'rp-x8', patient: { reference: `Patient/${bruno.id}` }, name: [{ family: bruno.family, given: ['Relative'] }] },
    {
      resourceType: 'DocumentReference',
      id: 'doc-x9',
      status: 'current',
      subject: { reference: `Patient/${bruno.id}` },
      content: [{ attachment: { contentType: 'text/plain', url: 'Binary/bin-x10' } }],
    },
    { resourceType: 'Binary', id: 'bin-x10', contentType: 'text/plain', securityContext: { reference: 'DocumentReference/doc-x9' }, data: text(`Letter about ${bruno.family}, ${bruno.mrn}`) },
    { resourceType: 'DocumentReference', id: 'doc-alba', status: 'current', subject: { reference: `Patient/${alba.id}` }, content: [{ attachment: { contentType: 'text/plain', url: 'Binary/bin-alba' } }] },
    { resourceType: 'Binary', id: 'bin-alba', contentType: 'text/plain', securityContext: { reference: 'DocumentReference/doc-alba' }, data: text('Letter for Alba') },
    { resourceType: 'Binary', id: 'bin-orphan', contentType: 'text/plain', data: text(`Unfiled note mentioning ${chen.family}`) },
  ];
  for (const r of resources) await put(r);
}
