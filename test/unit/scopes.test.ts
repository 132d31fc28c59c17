import { describe, expect, test } from '@jest/globals';
import { parseResourceScope, parseScopes } from '../../src/auth/scopes.js';

describe('SMART scope parser', () => {
  test.each([
    // v1
    ['patient/Observation.read', { context: 'patient', type: 'Observation', perms: 'rs', version: 1 }],
    ['user/*.write', { context: 'user', type: '*', perms: 'cud', version: 1 }],
    ['system/Patient.*', { context: 'system', type: 'Patient', perms: 'cruds', version: 1 }],
    // v2
    ['patient/Observation.rs', { context: 'patient', type: 'Observation', perms: 'rs', version: 2 }],
    ['user/Encounter.cruds', { context: 'user', type: 'Encounter', perms: 'cruds', version: 2 }],
    ['system/*.s', { context: 'system', type: '*', perms: 's', version: 2 }],
    ['patient/Condition.c', { context: 'patient', type: 'Condition', perms: 'c', version: 2 }],
    ['user/Patient.ud', { context: 'user', type: 'Patient', perms: 'ud', version: 2 }],
  ])('%s', (scope, expected) => {
    expect(parseResourceScope(scope)).toEqual({ scope, query: [], ...expected });
  });

  test('v2 granular scope keeps its query restriction', () => {
    expect(parseResourceScope('patient/Observation.rs?category=http://terminology.hl7.org/CodeSystem/observation-category|laboratory')).toEqual({
      scope: 'patient/Observation.rs?category=http://terminology.hl7.org/CodeSystem/observation-category|laboratory',
      context: 'patient',
      type: 'Observation',
      perms: 'rs',
      version: 2,
      query: [{ name: 'category', value: 'http://terminology.hl7.org/CodeSystem/observation-category|laboratory' }],
    });
  });

  test('granular restrictions with several parameters are all kept (AND)', () => {
    expect(parseResourceScope('user/Observation.rs?category=laboratory&code=http%3A%2F%2Floinc.org%7C4548-4')?.query).toEqual([
      { name: 'category', value: 'laboratory' },
      { name: 'code', value: 'http://loinc.org|4548-4' },
    ]);
  });

  test.each([
    'patient/Observation.sr', // v2 letters out of order
    'patient/Observation.rr', // repeated letter
    'patient/Observation.', // no permissions
    'patient/Observation.x',
    'patient/observation.rs', // wrong-case type
    'patient/NotAType.rs',
    'doctor/Observation.rs', // unknown context
    'patient/Observation.read?category=laboratory', // granular restrictions are v2 only
    'patient/Observation.rs?category', // restriction without a value
    'patient/Observation.rs?=x',
    'patient/Observation.rs?category=%E0%A4%A', // bad escape
    'Observation.rs',
    'patient/*',
  ])('malformed %s grants nothing', (scope) => {
    expect(parseResourceScope(scope)).toBeNull();
  });

  test('a scope string is split into resource scopes, known non-resource scopes and ignored ones', () => {
    const parsed = parseScopes('launch/patient openid fhirUser offline_access patient/*.rs user/Bogus.read weird  patient/Observation.read');
    expect(parsed.resources.map((s) => s.scope)).toEqual(['patient/*.rs', 'patient/Observation.read']);
    expect(parsed.other).toEqual(['launch/patient', 'openid', 'fhirUser', 'offline_access']);
    expect(parsed.invalid).toEqual(['user/Bogus.read', 'weird']);
  });

  test('scopes as an array (Entra `scp`) and absent scopes', () => {
    expect(parseScopes(['user/Patient.rs']).resources).toHaveLength(1);
    expect(parseScopes(undefined)).toEqual({ resources: [], other: [], invalid: [] });
  });
});
