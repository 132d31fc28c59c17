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
    ['patient/*.*', { context: 'patient', type: '*', perms: 'cruds', version: 1 }],
    ['user/*.read', { context: 'user', type: '*', perms: 'rs', version: 1 }],
    ['system/Observation.write', { context: 'system', type: 'Observation', perms: 'cud', version: 1 }],
    ['patient/*.cruds', { context: 'patient', type: '*', perms: 'cruds', version: 2 }],
    ['user/Observation.cs', { context: 'user', type: 'Observation', perms: 'cs', version: 2 }],
    ['system/Patient.rd', { context: 'system', type: 'Patient', perms: 'rd', version: 2 }],
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
    'Patient/Observation.rs', // contexts are lower case
    'patient/Observation.READ', // v1 words are lower case
    'patient/Observation.Read',
    'patient/Observation.rs ', // trailing space is a separator, never part of a scope
    'patient/Observation.cruds?', // empty restriction
    'patient/Observation.rs?category=a&', // empty second restriction
    'patient/Observation.rs?1bad=x', // parameter names start with a letter or _
    'patient/Observation.rs?category=a%0Ab', // control character in a value
    'patient/Observation.rws', // unknown letter
    'patient/Observation.srs',
    'patient//Observation.rs',
    'patient/Observation/x.rs',
    'patient/*.read?category=x',
  ])('malformed %s grants nothing', (scope) => {
    expect(parseResourceScope(scope)).toBeNull();
  });

  test('granular restrictions may carry a modifier, and keep reserved characters of the value', () => {
    expect(parseResourceScope('patient/Observation.rs?code:in=http://example.org/ValueSet/labs')?.query).toEqual([
      { name: 'code:in', value: 'http://example.org/ValueSet/labs' },
    ]);
    expect(parseResourceScope('user/Condition.rs?category=http://terminology.hl7.org/CodeSystem/condition-category|problem-list-item,encounter-diagnosis')?.query).toEqual([
      { name: 'category', value: 'http://terminology.hl7.org/CodeSystem/condition-category|problem-list-item,encounter-diagnosis' },
    ]);
  });

  test.each([
    ['launch'], ['launch/patient'], ['launch/encounter'], ['openid'], ['fhirUser'], ['profile'], ['offline_access'], ['online_access'],
  ])('%s is a known non-resource scope', (scope) => {
    expect(parseScopes(scope)).toEqual({ resources: [], other: [scope], invalid: [] });
  });

  test.each([['Launch'], ['launch/'], ['launch/Patient'], ['OPENID'], ['fhiruser'], ['offline']])('%s is ignored as unknown', (scope) => {
    expect(parseScopes(scope)).toEqual({ resources: [], other: [], invalid: [scope] });
  });

  test('a repeated scope is kept once; an absurdly long one is ignored, kept shortened for the audit record', () => {
    const long = `user/Observation.rs?code=${'x'.repeat(600)}`;
    const parsed = parseScopes(`user/Patient.rs user/Patient.rs ${long}`);
    expect(parsed.resources.map((s) => s.scope)).toEqual(['user/Patient.rs']);
    expect(parsed.invalid).toHaveLength(1);
    expect(parsed.invalid[0]!.length).toBeLessThan(100);
  });

  test('v1 and v2 grants of the same scope compare equal once parsed', () => {
    const [v1, v2] = parseScopes('patient/Observation.read patient/Observation.rs').resources;
    expect(v1!.perms).toBe(v2!.perms);
    expect([v1!.version, v2!.version]).toEqual([1, 2]);
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
