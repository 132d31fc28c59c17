import { localReferencesIn, scanReferences } from '../../src/fhir/references.js';

const BASES = ['http://fhir.upstream/fhir'];

describe('localReferencesIn', () => {
  it('finds references at any depth, in arrays, relative, absolute under a base and versioned', () => {
    const resource = {
      resourceType: 'Observation',
      subject: { reference: 'Patient/p1' },
      performer: [{ reference: 'http://fhir.upstream/fhir/Practitioner/pr1' }, { reference: 'Organization/o1/_history/3' }],
      extension: [{ url: 'x', valueReference: { reference: 'Patient/p2' } }],
      contained: [{ resourceType: 'Device', owner: { reference: 'Organization/o2' } }],
    };
    expect(localReferencesIn(resource, BASES)).toEqual([
      { type: 'Patient', id: 'p1' },
      { type: 'Practitioner', id: 'pr1' },
      { type: 'Organization', id: 'o1' },
      { type: 'Patient', id: 'p2' },
      { type: 'Organization', id: 'o2' },
    ]);
  });

  it('ignores what is not a local reference: other servers, urn:uuid, contained #refs, unknown types', () => {
    const resource = {
      a: { reference: 'http://elsewhere.example/fhir/Patient/p1' },
      b: { reference: 'urn:uuid:0c3151bd-1cbf-4d64-b04d-cd9187a4c6e0' },
      c: { reference: '#contained-1' },
      d: { reference: 'NotAType/x' },
    };
    expect(localReferencesIn(resource, BASES)).toEqual([]);
  });

  it('walks into a `reference` key whose value is an object, and into own `__proto__` keys of parsed JSON', () => {
    const parsed: unknown = JSON.parse('{"reference":{"inner":{"reference":"Patient/p3"}},"__proto__":{"subject":{"reference":"Patient/p4"}}}');
    expect(localReferencesIn(parsed, BASES)).toEqual([
      { type: 'Patient', id: 'p3' },
      { type: 'Patient', id: 'p4' },
    ]);
  });

  it('does not follow inherited enumerable properties', () => {
    const inherited = Object.create({ subject: { reference: 'Patient/p5' } }) as Record<string, unknown>;
    inherited['own'] = { reference: 'Patient/p6' };
    expect(localReferencesIn(inherited, BASES)).toEqual([{ type: 'Patient', id: 'p6' }]);
  });
});

describe('scanReferences', () => {
  it('finds the same references as localReferencesIn, and a patient named by identifier or display only', () => {
    const resource = {
      resourceType: 'Group',
      member: [{ entity: { reference: 'Patient/p1' } }, { entity: { identifier: { system: 'urn:mrn', value: '9' } } }],
      extension: [{ url: 'x', valueReference: { reference: 'Patient/p2' } }],
    };
    expect(scanReferences(resource, BASES)).toEqual({ references: localReferencesIn(resource, BASES), logicalPatientReference: true });
    expect(scanReferences({ resourceType: 'Observation', performer: [{ display: 'Dr. Who', type: 'Practitioner' }] }, BASES).logicalPatientReference).toBe(false);
    expect(scanReferences({ resourceType: 'Observation', focus: [{ display: 'the neighbour', type: 'Patient' }] }, BASES).logicalPatientReference).toBe(true);
  });

  it('does not take a Coding, or a resource, for a reference by display', () => {
    const resource = { resourceType: 'Observation', code: { coding: [{ system: 'http://loinc.org', code: '1', display: 'Hb' }] }, contained: [{ resourceType: 'Patient', identifier: { value: 'x' } }] };
    expect(scanReferences(resource, BASES)).toEqual({ references: [], logicalPatientReference: false });
  });
});
