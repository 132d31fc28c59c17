/**
 * Criteria a patient-context client may not search by: those that could select on another patient
 * (src/enforce/patient-criteria.ts), applied where narrowing applies them.
 */
import { describe, expect, test } from '@jest/globals';
import { narrowToPatient } from '../../src/enforce/narrow.js';
import { GatewayError } from '../../src/errors.js';
import { classify } from '../../src/fhir/classify.js';

const SELF = 'p1';

function outcome(method: string, target: string): string {
  const request = classify(method, `/fhir${target}`, { basePath: '/fhir', pagingParameters: new Set(['_getpages']) });
  try {
    narrowToPatient(request, SELF);
    return 'allowed';
  } catch (err) {
    if (err instanceof GatewayError) return `${err.code}:${err.reasons.join(',')}`;
    throw err;
  }
}

describe('criteria a patient-context search may not use', () => {
  test.each([
    // Another patient named outright, in any parameter or form.
    ['/Group?member=Patient/p2', 'narrow.other-patient-criterion'],
    ['/Observation?performer=Patient/p2', 'narrow.other-patient-criterion'],
    ['/Observation?performer=Practitioner/x,Patient/p2', 'narrow.other-patient-criterion'],
    ['/Observation?performer=https://elsewhere.example/fhir/Patient/p2/_history/3', 'narrow.other-patient-criterion'],
    ['/Observation?performer=patient/p2', 'narrow.other-patient-criterion'],
    ['/Linkage?item=Patient/p2', 'narrow.other-patient-criterion'],
    ['/Patient?link=Patient/p2', 'narrow.other-patient-criterion'],
    ['/Observation?subject=Patient/p2', 'narrow.other-patient-criterion'],
    // Untyped, or by identifier, where the parameter may point at a patient.
    ['/Observation?performer=p2', 'narrow.untyped-reference'],
    ['/Group?member:Patient=p2', 'narrow.untyped-reference'],
    ['/Observation?subject:identifier=MRN-000002', 'narrow.untyped-reference'],
    // Chains that read someone who may be another patient, or their data.
    ['/Observation?performer.name=Smith', 'narrow.chain'],
    ['/Observation?performer:Patient.name=Smith', 'narrow.chain'],
    ['/Group?member.name=Smith', 'narrow.chain'],
    ['/Observation?derived-from.code=1234-5', 'narrow.chain'],
    ['/Observation?subject.organization.name=Acme', 'narrow.chain'],
    ['/Practitioner?_has:Observation:performer:code=1234-5', 'narrow.reverse-chain'],
    // Reverse chains: only on the patient itself, through its own compartment, one level.
    ['/Practitioner?_has:Observation:performer:subject=Patient/p2', 'narrow.reverse-chain'],
    ['/Encounter?_has:Observation:encounter:code=1234-5', 'narrow.reverse-chain'],
    ['/Patient?_has:Observation:derived-from:code=1234-5', 'narrow.reverse-chain'],
    ['/Patient?_has:Observation:patient:_has:Group:member:code=x', 'narrow.reverse-chain'],
    ['/Patient?_has:Observation:patient:subject=Patient/p2', 'narrow.other-patient-criterion'],
    // A compartment search pins nothing: an Observation the patient performed is about someone else.
    ['/Patient/p1/Observation?subject.name=Smith', 'narrow.chain'],
    // Conditional writes select too (the status of the answer tells whether something matched).
    ['PUT /Observation?performer=Patient/p2', 'narrow.other-patient-criterion'],
  ])('%s: 403 %s', (target, reason) => {
    const [method, path] = target.startsWith('PUT ') ? ['PUT', target.slice(4)] : ['GET', target];
    expect(outcome(method, path)).toBe(`forbidden:${reason}`);
  });

  test.each([
    '/Observation?subject=Patient/p1',
    '/Observation?patient=p1',
    '/Observation?performer=Practitioner/x',
    '/Observation?performer:Practitioner=x',
    '/Observation?performer:missing=true',
    '/Observation?code=1234-5&_include=Observation:performer&_revinclude=Provenance:target&_sort=-date&_count=5',
    '/Observation?subject.name=Smith',
    '/Observation?subject:Patient.family=Smith',
    '/Observation?performer:Practitioner.name=Hopper',
    '/Observation?encounter=Encounter/e1',
    '/MedicationRequest?medication.code=123',
    '/Patient?_has:Observation:patient:code=1234-5',
    '/Patient?_has:Group:member:_id=g1',
    '/Practitioner?name=Hopper',
    '/Patient/p1/Observation?code=1234-5',
    '/Observation?_id=o1&_lastUpdated=gt2020-01-01',
  ])('%s: allowed', (target) => {
    expect(outcome('GET', target)).toBe('allowed');
  });
});
