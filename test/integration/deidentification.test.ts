/**
 * De-identification through the gateway, against the real engine (Medplum's FHIR server over HTTP)
 * with real signed tokens: one resource per gap of the key-name walk (issue 16), planted upstream,
 * searched by a researcher (Safe Harbor) and by a researcher under a data use agreement (limited
 * data set). Every released resource is checked with Medplum's validator.
 */
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { OperationOutcomeError, validateResource } from '@medplum/core';
import type { OperationOutcomeIssue, Resource } from '@medplum/fhirtypes';
import { jsonOf, startStack, type Stack } from '../support/stack.js';

let stack: Stack;

const MARK = {
  surname: 'Gapsurnamea',
  street: '17 Gapelm Road',
  city: 'Gapville',
  zip: '03601',
  phone: '+1-555-0177',
  doctor: 'Dr Gaphollis',
  subscriber: 'SUB-GAP-4242',
  url: 'https://gapdocs.example/alba.pdf',
  fullDate: '2026-03-14',
} as const;

/** One resource per gap, each reached by a criterion the profiles keep (a code). */
const GAPS: Resource[] = [
  {
    resourceType: 'MedicationRequest',
    id: 'gap-medrx',
    status: 'active',
    intent: 'order',
    subject: { reference: 'Patient/pat-alba' },
    medicationCodeableConcept: { coding: [{ system: 'http://www.nlm.nih.gov/research/umls/rxnorm', code: '197361' }], text: `med for ${MARK.surname}` },
    reasonCode: [{ coding: [{ system: 'http://snomed.info/sct', code: '22253000' }], text: `pain after a fall at ${MARK.street}` }],
    dosageInstruction: [{ text: `as ${MARK.doctor} said`, patientInstruction: `call ${MARK.phone}`, timing: { event: [`${MARK.fullDate}T08:00:00Z`, '2026-03-15'] } }],
  },
  { resourceType: 'DiagnosticReport', id: 'gap-report', status: 'final', code: { coding: [{ system: 'http://loinc.org', code: '58410-2' }] }, subject: { reference: 'Patient/pat-alba' }, conclusion: `${MARK.surname} has anaemia` },
  {
    resourceType: 'Appointment',
    id: 'gap-appointment',
    status: 'booked',
    description: `Follow-up with ${MARK.surname}`,
    start: `${MARK.fullDate}T09:00:00Z`,
    end: `${MARK.fullDate}T09:30:00Z`,
    participant: [{ actor: { reference: 'Patient/pat-alba' }, status: 'accepted' }],
  },
  { resourceType: 'Immunization', id: 'gap-immunization', status: 'completed', vaccineCode: { coding: [{ system: 'http://hl7.org/fhir/sid/cvx', code: '140' }] }, patient: { reference: 'Patient/pat-alba' }, occurrenceString: MARK.fullDate },
  {
    resourceType: 'Observation',
    id: 'gap-extensions',
    status: 'final',
    code: { coding: [{ system: 'http://loinc.org', code: '72166-2' }] },
    subject: { reference: 'Patient/pat-alba' },
    extension: [
      { url: 'http://example.org/fhir/StructureDefinition/home', valueAddress: { line: [MARK.street], city: MARK.city, state: 'NH', postalCode: MARK.zip, country: 'US' } },
      { url: 'http://example.org/fhir/StructureDefinition/contact', valueContactPoint: { system: 'phone', value: MARK.phone } },
      { url: 'http://example.org/fhir/StructureDefinition/next-of-kin', valueHumanName: { family: MARK.surname, given: ['Ada'] } },
    ],
  },
  { resourceType: 'Coverage', id: 'gap-coverage', status: 'active', subscriberId: MARK.subscriber, beneficiary: { reference: 'Patient/pat-alba' }, payor: [{ reference: 'Patient/pat-alba' }], type: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'EHCPOL' }] } },
  {
    resourceType: 'Observation',
    id: 'gap-age',
    status: 'final',
    code: { coding: [{ system: 'http://loinc.org', code: '30525-0', display: 'Age' }] },
    subject: { reference: 'Patient/pat-alba' },
    valueQuantity: { value: 97, unit: 'a', system: 'http://unitsofmeasure.org', code: 'a' },
  },
  { resourceType: 'DocumentReference', id: 'gap-document', status: 'current', type: { coding: [{ system: 'http://loinc.org', code: '34133-9' }] }, subject: { reference: 'Patient/pat-alba' }, content: [{ attachment: { url: MARK.url } }] },
];

beforeAll(async () => {
  stack = await startStack();
  for (const r of GAPS) await stack.fhir.repo.updateResource(r);
}, 60_000);

afterAll(async () => {
  await stack?.close();
});

const researcher = (): Promise<string> => stack.issuer.mint({ sub: 'researcher-1', scope: 'user/*.rs', roles: ['researcher'], purpose_of_use: ['HRESCH'] });
const researcherDua = (): Promise<string> => stack.issuer.mint({ sub: 'researcher-2', scope: 'user/*.rs', roles: ['researcher-dua'], purpose_of_use: ['HRESCH'] });

function errorsOf(resource: Resource): OperationOutcomeIssue[] {
  try {
    return validateResource(resource).filter((i) => i.severity === 'error');
  } catch (err) {
    if (err instanceof OperationOutcomeError) return err.outcome.issue ?? [];
    throw err;
  }
}

/** The one released resource of `type` found by a code criterion, after checking the whole page is valid FHIR. */
async function released(token: string, query: string): Promise<Record<string, any>> {
  const res = await stack.fetch(query, { token });
  const body = await jsonOf(res);
  expect(res.status).toBe(200);
  const resources = (body.entry ?? []).map((e: { resource: Resource }) => e.resource);
  expect(resources).toHaveLength(1);
  for (const r of resources) expect(errorsOf(r)).toEqual([]);
  return resources[0];
}

const QUERIES: Record<string, string> = {
  'gap-medrx': 'MedicationRequest?code=http://www.nlm.nih.gov/research/umls/rxnorm|197361',
  'gap-report': 'DiagnosticReport?code=http://loinc.org|58410-2',
  'gap-appointment': 'Appointment?status=booked',
  'gap-immunization': 'Immunization?vaccine-code=http://hl7.org/fhir/sid/cvx|140',
  'gap-extensions': 'Observation?code=http://loinc.org|72166-2',
  'gap-coverage': 'Coverage?status=active',
  'gap-age': 'Observation?code=http://loinc.org|30525-0',
  'gap-document': 'DocumentReference?type=http://loinc.org|34133-9',
};

describe('Safe Harbor (researcher) closes every gap of the key-name walk', () => {
  const forbidden = Object.values(MARK);

  test('CodeableConcept.text, reasonCode.text, dosageInstruction.text and patientInstruction go; Timing.event is cut to years', async () => {
    const r = await released(await researcher(), QUERIES['gap-medrx'] as string);
    for (const m of forbidden) expect(JSON.stringify(r)).not.toContain(m);
    expect(r['medicationCodeableConcept']).toEqual({ coding: [{ system: 'http://www.nlm.nih.gov/research/umls/rxnorm', code: '197361' }] });
    expect(r['reasonCode']).toEqual([{ coding: [{ system: 'http://snomed.info/sct', code: '22253000' }] }]);
    expect(r['dosageInstruction']).toEqual([{ timing: { event: ['2026', '2026'] } }]);
  });

  test('DiagnosticReport.conclusion and Appointment.description go; the appointment times are masked', async () => {
    const report = await released(await researcher(), QUERIES['gap-report'] as string);
    expect(report).not.toHaveProperty('conclusion');
    const appointment = await released(await researcher(), QUERIES['gap-appointment'] as string);
    expect(appointment).not.toHaveProperty('description');
    for (const m of forbidden) expect(JSON.stringify([report, appointment])).not.toContain(m);
    // start and end are instants, which a year cannot express; booked appointments must have them (app-3).
    expect(appointment['_start']).toEqual({ extension: [{ url: 'http://hl7.org/fhir/StructureDefinition/data-absent-reason', valueCode: 'masked' }] });
  });

  test('Immunization.occurrenceString (a full date as free text) goes; the required occurrence is masked', async () => {
    const r = await released(await researcher(), QUERIES['gap-immunization'] as string);
    expect(JSON.stringify(r)).not.toContain(MARK.fullDate);
    expect(r).not.toHaveProperty('occurrenceString');
    // A masked choice element takes its first type (occurrence[x]: dateTime | string).
    expect(r['_occurrenceDateTime']).toEqual({ extension: [{ url: 'http://hl7.org/fhir/StructureDefinition/data-absent-reason', valueCode: 'masked' }] });
  });

  test('valueAddress keeps state, country and a restricted ZIP3 as 000; valueContactPoint and valueHumanName extensions go', async () => {
    const r = await released(await researcher(), QUERIES['gap-extensions'] as string);
    for (const m of forbidden) expect(JSON.stringify(r)).not.toContain(m);
    expect(r['extension']).toEqual([{ url: 'http://example.org/fhir/StructureDefinition/home', valueAddress: { state: 'NH', postalCode: '000', country: 'US' } }]);
  });

  test('Coverage.subscriberId goes; an age of 97 is released as 90 or over; an Attachment url without a contentType goes', async () => {
    const coverage = await released(await researcher(), QUERIES['gap-coverage'] as string);
    expect(coverage).not.toHaveProperty('subscriberId');
    const age = await released(await researcher(), QUERIES['gap-age'] as string);
    expect(age['valueQuantity']).toEqual({ value: 90, comparator: '>=', unit: 'a', system: 'http://unitsofmeasure.org', code: 'a' });
    const doc = await released(await researcher(), QUERIES['gap-document'] as string);
    for (const m of forbidden) expect(JSON.stringify([coverage, doc])).not.toContain(m);
    // content.attachment is required: what is left of it is masked.
    expect(doc['content']).toEqual([{ attachment: { extension: [{ url: 'http://hl7.org/fhir/StructureDefinition/data-absent-reason', valueCode: 'masked' }] } }]);
  });
});

describe('limited data set (researcher under a data use agreement)', () => {
  test('keeps dates, times, city, state and the 5-digit ZIP; removes names, street, telecom, free text, identifiers and urls', async () => {
    const token = await researcherDua();
    const all: Record<string, any> = {};
    for (const [id, query] of Object.entries(QUERIES)) all[id] = await released(token, query);
    const text = JSON.stringify(all);
    for (const m of [MARK.surname, MARK.street, MARK.phone, MARK.doctor, MARK.subscriber, MARK.url]) expect(text).not.toContain(m);
    expect(all['gap-appointment']).toMatchObject({ start: `${MARK.fullDate}T09:00:00Z`, end: `${MARK.fullDate}T09:30:00Z` });
    expect(all['gap-medrx']['dosageInstruction']).toEqual([{ timing: { event: [`${MARK.fullDate}T08:00:00Z`, '2026-03-15'] } }]);
    expect(all['gap-extensions']['extension']).toEqual([{ url: 'http://example.org/fhir/StructureDefinition/home', valueAddress: { city: MARK.city, state: 'NH', postalCode: MARK.zip, country: 'US' } }]);
    expect(all['gap-age']['valueQuantity']).toMatchObject({ value: 97 });
    // A date written as free text is still free text: the profile releases dates by type only.
    expect(all['gap-immunization']).not.toHaveProperty('occurrenceString');
    expect(all['gap-medrx']['id']).toMatch(/^[0-9a-f]{40}$/);
  });
});
