/**
 * The redaction engine: content (what is removed, masked, generalised) and structure (the result
 * passes a real FHIR R4 validator, Medplum's, and has no empty arrays or objects).
 */
import { beforeAll, describe, expect, test } from '@jest/globals';
import { validateResource } from '@medplum/core';
import type { Resource } from '@medplum/fhirtypes';
import { indexFhirDefinitions } from '../../src/devkit/fhir-server.js';
import { redactResource } from '../../src/enforce/redact.js';
import type { Redaction } from '../../src/policy/contract.js';

beforeAll(() => indexFhirDefinitions());

const DAR = { extension: [{ url: 'http://hl7.org/fhir/StructureDefinition/data-absent-reason', valueCode: 'masked' }] };
const REDACTED = { system: 'http://terminology.hl7.org/CodeSystem/v3-ObservationValue', code: 'REDACTED', display: 'redacted' };

function patient(): Record<string, unknown> {
  return {
    resourceType: 'Patient',
    id: 'p1',
    text: { status: 'generated', div: '<div xmlns="http://www.w3.org/1999/xhtml">Alba Zeta</div>' },
    identifier: [
      { system: 'http://hl7.org/fhir/sid/us-ssn', value: '123-45-6789' },
      { system: 'urn:oid:2.16.840.1.113883.19.5', value: 'MRN-1' },
    ],
    name: [{ family: 'Zeta', given: ['Alba', 'Maria'] }],
    telecom: [{ system: 'phone', value: '+1-555-0101' }],
    birthDate: '1961-03-14',
    address: [{ line: ['1 Road'], city: 'Springfield', state: 'IL', postalCode: '62704' }],
    contact: [{ name: { family: 'Zeta' }, period: { start: '2001-05-06', end: '2003-07-08' } }],
  };
}

function observation(): Record<string, unknown> {
  return {
    resourceType: 'Observation',
    id: 'o1',
    status: 'final',
    code: { text: 'Heart rate' },
    subject: { reference: 'Patient/p1' },
    effectiveDateTime: '2026-10-01T09:00:00Z',
    valueString: 'fine, said Alba',
    note: [{ text: 'Discussed with Alba Zeta' }],
    component: [{ code: { text: 'c' }, valueString: 'free text in a component' }],
    contained: [{ resourceType: 'Patient', id: 'c1', name: [{ family: 'Contained' }] }],
  };
}

/** Valid FHIR: a real validator finds no error, and there are no empty arrays or objects. */
function expectValid(resource: Record<string, unknown>): void {
  expect(() => validateResource(resource as unknown as Resource)).not.toThrow();
  const empties: string[] = [];
  const walk = (v: unknown, path: string): void => {
    if (Array.isArray(v)) {
      if (v.length === 0) empties.push(path);
      v.forEach((x, i) => walk(x, `${path}[${i}]`));
    } else if (typeof v === 'object' && v !== null) {
      if (Object.keys(v).length === 0) empties.push(path);
      for (const [k, x] of Object.entries(v)) walk(x, `${path}.${k}`);
    }
  };
  walk(resource, '');
  expect(empties).toEqual([]);
}

const run = (resource: Record<string, unknown>, redactions: Redaction[]) => {
  const changed = redactResource(resource, redactions);
  expectValid(resource);
  return changed;
};

describe('redaction actions', () => {
  test('remove by element path, traversing arrays; empty parents disappear', () => {
    const p = patient();
    expect(run(p, [{ path: 'Patient.name.given', action: 'remove' }, { path: 'Patient.address.line', action: 'remove' }])).toBe(3);
    expect(p['name']).toEqual([{ family: 'Zeta' }]);
    expect(p['address']).toEqual([{ city: 'Springfield', state: 'IL', postalCode: '62704' }]);
    expect((p['meta'] as { security: unknown[] }).security).toEqual([REDACTED]);
  });

  test('remove by FHIRPath selects exactly what the expression selects', () => {
    const p = patient();
    run(p, [{ path: "Patient.identifier.where(system='http://hl7.org/fhir/sid/us-ssn')", action: 'remove' }]);
    expect(p['identifier']).toEqual([{ system: 'urn:oid:2.16.840.1.113883.19.5', value: 'MRN-1' }]);
  });

  test('mask replaces complex and primitive values with a data-absent-reason extension', () => {
    const p = patient();
    run(p, [{ path: 'Patient.address', action: 'mask' }, { path: 'Patient.birthDate', action: 'mask' }, { path: "Patient.name.given.where($this='Maria')", action: 'mask' }]);
    expect(p['address']).toEqual([DAR]);
    expect(p).not.toHaveProperty('birthDate');
    expect(p['_birthDate']).toEqual(DAR);
    expect(p['name']).toEqual([{ family: 'Zeta', given: ['Alba', null], _given: [null, DAR] }]);
  });

  test('removing a mandatory element masks it instead, so the resource stays valid', () => {
    const o = observation();
    run(o, [{ path: 'Observation.status', action: 'remove' }, { path: 'Observation.code', action: 'remove' }]);
    expect(o).not.toHaveProperty('status');
    expect(o['_status']).toEqual(DAR);
    expect(o['code']).toEqual(DAR);
  });

  test('year generalises dates, dateTimes and the start and end of Periods', () => {
    const p = patient();
    const o = observation();
    run(p, [{ path: 'Patient.birthDate', action: 'year' }, { path: 'Patient.contact.period', action: 'year' }]);
    run(o, [{ path: 'Observation.effective', action: 'year' }]);
    expect(p['birthDate']).toBe('1961');
    expect((p['contact'] as Array<{ period: unknown }>)[0]!.period).toEqual({ start: '2001', end: '2003' });
    expect(o['effectiveDateTime']).toBe('2026');
  });

  test('zip3 keeps the first three digits of a postal code', () => {
    const p = patient();
    run(p, [{ path: 'Patient.address.postalCode', action: 'zip3' }]);
    expect((p['address'] as Array<{ postalCode: string }>)[0]!.postalCode).toBe('627');
  });

  test('free-text removes narratives, notes and string values at any depth, keeping codes', () => {
    const o = observation();
    run(o, [{ path: 'Observation', action: 'free-text' }]);
    expect(o).not.toHaveProperty('valueString');
    expect(o).not.toHaveProperty('note');
    expect(o['component']).toEqual([{ code: { text: 'c' } }]);
    expect(o['code']).toEqual({ text: 'Heart rate' });
    const p = patient();
    run(p, [{ path: '*', action: 'free-text' }]);
    expect(p).not.toHaveProperty('text');
  });

  test('contained resources can be dropped', () => {
    const o = observation();
    run(o, [{ path: '*.contained', action: 'remove' }]);
    expect(o).not.toHaveProperty('contained');
    expect(JSON.stringify(o)).not.toContain('Contained');
  });

  test('rules for another type do nothing, and an untouched resource is not labelled', () => {
    const o = observation();
    expect(redactResource(o, [{ path: 'Patient.name', action: 'remove' }, { path: 'Patient.name.where(true)', action: 'remove' }])).toBe(0);
    expect(o).not.toHaveProperty('meta');
  });

  test('an expression the engine cannot compile fails closed', () => {
    expect(() => redactResource(patient(), [{ path: 'Patient.name.where(', action: 'remove' }])).toThrow(expect.objectContaining({ code: 'policy_error' }));
  });

  test('the researcher de-identification of the default policy leaves valid, identifier-free resources', () => {
    const p = patient();
    run(p, [
      { path: '*.text', action: 'remove' },
      { path: 'Patient.name', action: 'remove' },
      { path: 'Patient.identifier', action: 'remove' },
      { path: 'Patient.telecom', action: 'remove' },
      { path: 'Patient.address', action: 'remove' },
      { path: 'Patient.contact', action: 'remove' },
      { path: 'Patient.birthDate', action: 'year' },
    ]);
    expect(p).toEqual({ resourceType: 'Patient', id: 'p1', birthDate: '1961', meta: { security: [REDACTED] } });
  });
});
