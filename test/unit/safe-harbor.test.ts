/**
 * Safe Harbor de-identification: every identifier class gone from realistic resources, links between
 * a person's records kept through pseudonyms, and every result valid FHIR R4 (Medplum's validator).
 */
import { beforeAll, describe, expect, test } from '@jest/globals';
import { validateResource } from '@medplum/core';
import type { Resource } from '@medplum/fhirtypes';
import { indexFhirDefinitions } from '../../src/devkit/fhir-server.js';
import { redactResource } from '../../src/enforce/redact.js';
import { pseudonym } from '../../src/enforce/pseudonym.js';
import { createHmac } from 'node:crypto';

beforeAll(() => indexFhirDefinitions());
const ctx = { now: new Date('2026-11-24T00:00:00Z'), pseudonymKey: new Uint8Array(32).fill(7) };
const deidentify = (r: Record<string, unknown>) => {
  redactResource(r, [{ path: '*', action: 'safe-harbor' }], ctx);
  expect(() => validateResource(r as unknown as Resource)).not.toThrow();
  return r;
};

const IDENTIFYING = ['Zeta', 'Alba', 'MRN-700101', '123-45-6789', '+1-555-0101', 'alba@example.org', '1 Elm Road', 'Springfield', '62704', '03-14', 'pat-alba', 'prac-hopper', 'Grace', 'SN-778', 'https://photos.example', 'iVBOR', '10.1.2.3', 'Seen by Dr Hollis'];

function patient(): Record<string, unknown> {
  return {
    resourceType: 'Patient',
    id: 'pat-alba',
    meta: { versionId: '7', lastUpdated: '2026-10-01T10:00:00Z', source: 'http://ehr.internal/a' },
    text: { status: 'generated', div: '<div xmlns="http://www.w3.org/1999/xhtml">Alba Zeta</div>' },
    identifier: [{ system: 'http://hl7.org/fhir/sid/us-ssn', value: '123-45-6789' }, { value: 'MRN-700101' }],
    name: [{ family: 'Zeta', given: ['Alba'] }],
    telecom: [{ system: 'phone', value: '+1-555-0101' }, { system: 'email', value: 'alba@example.org' }],
    gender: 'female',
    birthDate: '1961-03-14',
    address: [{ line: ['1 Elm Road'], city: 'Springfield', state: 'IL', postalCode: '62704', country: 'US' }],
    photo: [{ contentType: 'image/png', data: 'iVBORw0KGgo=' }],
    contact: [{ name: { family: 'Zeta', given: ['Grace'] } }],
    generalPractitioner: [{ reference: 'Practitioner/prac-hopper', display: 'Dr Grace Hollis' }],
  };
}

describe('Safe Harbor', () => {
  test('a Patient keeps only what is not identifying: gender, state, 3-digit ZIP, birth year', () => {
    const p = deidentify(patient());
    const text = JSON.stringify(p);
    for (const m of IDENTIFYING) expect(text).not.toContain(m);
    expect(p).toMatchObject({ resourceType: 'Patient', gender: 'female', birthDate: '1961', address: [{ state: 'IL', postalCode: '627', country: 'US' }] });
    expect(p['id']).toMatch(/^[0-9a-f]{40}$/);
    expect(p['generalPractitioner']).toEqual([{ reference: expect.stringMatching(/^Practitioner\/[0-9a-f]{40}$/) }]);
  });

  test('records of one person still link through pseudonyms, stable for a key and unlinkable without it', () => {
    const p = deidentify(patient());
    const o = deidentify({ resourceType: 'Observation', id: 'obs-1', status: 'final', code: { text: 'HR' }, subject: { reference: 'http://hapi:8080/fhir/Patient/pat-alba/_history/3', display: 'Alba Zeta' } });
    expect(o['subject']).toEqual({ reference: `Patient/${p['id'] as string}` });
    const again = deidentify(patient());
    expect(again['id']).toBe(p['id']);
    const otherKey = patient();
    redactResource(otherKey, [{ path: '*', action: 'safe-harbor' }], { ...ctx, pseudonymKey: new Uint8Array(32).fill(9) });
    expect(otherKey['id']).not.toBe(p['id']);
  });

  test('ages over 89: the birth year itself is withheld; small 3-digit ZIP areas become 000', () => {
    const p = patient();
    p['birthDate'] = '1933-07-29';
    p['address'] = [{ state: 'NH', postalCode: '03601' }];
    deidentify(p);
    expect(p).not.toHaveProperty('birthDate');
    expect(p['_birthDate']).toEqual({ extension: [{ url: 'http://hl7.org/fhir/StructureDefinition/data-absent-reason', valueCode: 'masked' }] });
    expect(p['address']).toEqual([{ state: 'NH', postalCode: '000' }]);
  });

  test('clinical resources: dates to the year, instants masked, free text and device identifiers gone, codes and values kept', () => {
    const o = deidentify({
      resourceType: 'Observation',
      id: 'obs-1',
      status: 'final',
      code: { coding: [{ system: 'http://loinc.org', code: '4548-4', display: 'Hemoglobin A1c' }] },
      subject: { reference: 'Patient/pat-alba' },
      effectivePeriod: { start: '2026-10-01T09:00:00Z', end: '2026-10-01T09:30:00Z' },
      issued: '2026-10-01T10:00:00.000Z',
      valueQuantity: { value: 6.1, unit: '%' },
      note: [{ text: 'Seen by Dr Hollis', time: '2026-10-01T10:00:00Z' }],
      performer: [{ reference: 'Practitioner/prac-hopper', display: 'Grace Hollis' }],
    });
    expect(o['effectivePeriod']).toEqual({ start: '2026', end: '2026' });
    expect(o).not.toHaveProperty('issued');
    expect(o['valueQuantity']).toEqual({ value: 6.1, unit: '%' });
    expect(o['code']).toEqual({ coding: [{ system: 'http://loinc.org', code: '4548-4', display: 'Hemoglobin A1c' }] });
    const d = deidentify({
      resourceType: 'Device',
      id: 'dev-1',
      udiCarrier: [{ deviceIdentifier: 'UDI-1' }],
      serialNumber: 'SN-778',
      patient: { reference: '#c1' },
      contained: [{ resourceType: 'Patient', id: 'c1', name: [{ family: 'Zeta' }] }],
    });
    const a = deidentify({
      resourceType: 'AuditEvent',
      id: 'ae-1',
      type: { code: 'rest' },
      recorded: '2026-10-01T10:00:00Z',
      agent: [{ requestor: true, who: { reference: 'Practitioner/prac-hopper' }, network: { address: '10.1.2.3', type: '2' } }],
      source: { observer: { display: 'Seen by Dr Hollis' } },
    });
    for (const r of [o, d, a]) for (const m of IDENTIFYING) expect(JSON.stringify(r)).not.toContain(m);
    // A contained resource's id is pseudonymised with the `#` references to it, which still resolve.
    const containedId = (d['contained'] as Array<{ id: string }>)[0]!.id;
    expect(containedId).toMatch(/^[0-9a-f]{40}$/);
    expect(d['patient']).toEqual({ reference: `#${containedId}` });
    // AuditEvent.source.observer is mandatory: a Reference that was only a name is masked, not dropped.
    expect(a['source']).toEqual({ observer: { extension: [{ url: 'http://hl7.org/fhir/StructureDefinition/data-absent-reason', valueCode: 'masked' }] } });
  });

  test('attachments lose their content and location (photos, scans, documents)', () => {
    const doc = deidentify({
      resourceType: 'DocumentReference',
      id: 'doc-1',
      status: 'current',
      date: '2026-10-01T10:00:00Z',
      subject: { reference: 'Patient/pat-alba' },
      content: [{ attachment: { contentType: 'image/png', url: 'https://photos.example/alba.png', data: 'iVBORw0KGgo=', title: 'scan' } }],
    });
    expect(doc['content']).toEqual([{ attachment: { contentType: 'image/png' } }]);
    expect(doc).not.toHaveProperty('date');
  });
});

describe('pseudonyms inside a Bundle', () => {
  test('fullUrl, urn:uuid references, Bundle links, request URLs, meta.source and Provenance.target are pseudonymised consistently', () => {
    const bundle = deidentify({
      resourceType: 'Bundle',
      id: 'doc-bundle',
      meta: { source: 'http://ehr.internal/alba-feed#req-77' },
      type: 'transaction',
      link: [{ relation: 'self', url: 'http://ehr.internal/fhir/Patient/pat-alba' }],
      entry: [
        { fullUrl: 'urn:uuid:7f0c1c52-0000-4000-8000-0000000000a1', resource: { resourceType: 'Patient', id: 'pat-alba', name: [{ family: 'Zeta' }] }, request: { method: 'PUT', url: 'Patient/pat-alba' } },
        {
          fullUrl: 'http://ehr.internal/fhir/Observation/obs-1',
          resource: { resourceType: 'Observation', id: 'obs-1', status: 'final', code: { coding: [{ system: 'http://loinc.org', code: '8867-4' }] }, subject: { reference: 'urn:uuid:7f0c1c52-0000-4000-8000-0000000000a1' } },
          request: { method: 'PUT', url: 'Observation/obs-1' },
        },
        {
          fullUrl: 'urn:uuid:7f0c1c52-0000-4000-8000-0000000000a2',
          resource: { resourceType: 'Provenance', recorded: '2026-10-01T10:00:00Z', target: [{ reference: 'Observation/obs-1' }, { reference: 'http://ehr.internal/fhir/Patient/pat-alba/_history/2' }], agent: [{ who: { reference: 'Practitioner/prac-hopper', display: 'Grace Hollis' } }] },
          request: { method: 'POST', url: 'Provenance' },
        },
      ],
    });
    const text = JSON.stringify(bundle);
    for (const m of ['pat-alba', 'obs-1', 'prac-hopper', 'Hollis', 'Zeta', 'ehr.internal/alba', 'req-77', '7f0c1c52']) expect(text).not.toContain(m);
    const entries = bundle['entry'] as Array<{ fullUrl?: string; resource: Record<string, any>; request: { url?: string } }>;
    const [patient, observation, provenance] = entries;
    // The urn:uuid of the Patient's entry and the Observation's reference to it stay one and the same.
    expect(patient!.fullUrl).toMatch(/^urn:uuid:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
    expect(observation!.resource['subject']).toEqual({ reference: patient!.fullUrl });
    // A resource's URL keeps the server's base and takes the pseudonym of its id, like its references.
    const obsId = observation!.resource['id'] as string;
    expect(observation!.fullUrl).toBe(`http://ehr.internal/fhir/Observation/${obsId}`);
    expect(observation!.request.url).toBe(`Observation/${obsId}`);
    expect(provenance!.resource['target']).toEqual([{ reference: `Observation/${obsId}` }, { reference: `Patient/${patient!.resource['id'] as string}` }]);
    expect(provenance!.request.url).toBe('Provenance');
    expect(bundle['link']).toEqual([{ relation: 'self', url: `http://ehr.internal/fhir/Patient/${patient!.resource['id'] as string}` }]);
    expect((bundle['meta'] as { source: string }).source).toMatch(/^urn:uuid:[0-9a-f-]{36}$/);
  });
});

describe('pseudonyms', () => {
  test('are the HMAC-SHA256 of Type/id under the key, the same when remembered as when computed', () => {
    const key = new Uint8Array(32).fill(3);
    const expected = createHmac('sha256', key).update('Patient/p-1').digest('hex').slice(0, 40);
    expect(pseudonym(key, 'Patient', 'p-1')).toBe(expected);
    expect(pseudonym(key, 'Patient', 'p-1')).toBe(expected);
    expect(pseudonym(new Uint8Array(32).fill(4), 'Patient', 'p-1')).not.toBe(expected);
    expect(pseudonym(key, 'Observation', 'p-1')).not.toBe(expected);
  });
});
