/**
 * The permission each FHIR interaction needs: the gateway's table (used for the insufficient_scope
 * challenge) must agree with the shipped policy, which makes the decision.
 */
import { beforeAll, describe, expect, test } from '@jest/globals';
import { neededScope, permissionFor } from '../../src/auth/scope-check.js';
import { parseScopes } from '../../src/auth/scopes.js';
import { DEFAULT_POLICY_BUNDLE } from '../../src/config/load.js';
import type { FhirRequest } from '../../src/fhir/request.js';
import { readBundleFile } from '../../src/policy/bundle.js';
import { PolicyEngine } from '../../src/policy/engine.js';
import { principalWith } from '../support/principal.js';

const request = (interaction: FhirRequest['interaction'], over: Partial<FhirRequest> = {}) =>
  ({ method: 'GET', interaction, type: 'Observation', id: null, version: null, compartment: null, operation: null, params: [], search_via_post: false, if_none_exist: null, ...over }) as const;

const cases: Array<[string, ReturnType<typeof request>, string]> = [
  ['read', request('read', { id: 'o1' }), 'r'],
  ['vread', request('vread', { id: 'o1', version: '2' }), 'r'],
  ['history-instance', request('history-instance', { id: 'o1' }), 'r'],
  ['search-type', request('search-type'), 's'],
  ['search-system', request('search-system', { type: null }), 's'],
  ['search-compartment', request('search-compartment', { compartment: { type: 'Patient', id: 'p1' } }), 's'],
  ['search-continue', request('search-continue', { type: null }), 's'],
  ['history-type', request('history-type'), 's'],
  ['history-system', request('history-system', { type: null }), 's'],
  ['create', request('create', { method: 'POST' }), 'c'],
  ['update', request('update', { method: 'PUT', id: 'o1' }), 'u'],
  ['patch', request('patch', { method: 'PATCH', id: 'o1' }), 'u'],
  ['delete', request('delete', { method: 'DELETE', id: 'o1' }), 'd'],
];

describe('interaction -> SMART permission', () => {
  let policy: PolicyEngine;
  beforeAll(async () => {
    policy = await PolicyEngine.load(await readBundleFile(DEFAULT_POLICY_BUNDLE), { maxMemoryPages: 256 });
  });
  const env = { now: '2026-11-24T00:00:00Z', now_seconds: 1_795_000_000, policy_revision: 'x' };
  const principalFor = (scope: string) => {
    const parsed = parseScopes(scope);
    return principalWith({ scopes: parsed.resources, roles: ['clinician'] });
  };

  test.each(cases)('%s needs %s, and the shipped policy agrees', (_name, req, perm) => {
    expect(permissionFor(req)).toBe(perm);
    const granted = policy.decideRequest({ principal: principalFor(`user/*.${perm}`), request: req, env });
    expect(granted.allow).toBe(true);
    const others = 'cruds'.replace(perm, '');
    const refused = policy.decideRequest({ principal: principalFor(`user/*.${others}`), request: req, env });
    expect(refused).toMatchObject({ allow: false, reasons: ['scope.missing'] });
  });

  test('operations need read on an instance and search at type or system level', () => {
    expect(permissionFor({ interaction: 'operation', id: 'p1' })).toBe('r');
    expect(permissionFor({ interaction: 'operation', id: null })).toBe('s');
  });

  test('batch and capabilities have no permission of their own', () => {
    expect(permissionFor({ interaction: 'batch', id: null })).toBeNull();
    expect(permissionFor({ interaction: 'capabilities', id: null })).toBeNull();
    expect(neededScope({ interaction: 'batch', id: null, type: null }, { patient: null, scopes: [] })).toBeNull();
  });

  test.each([
    ['a user token', { patient: null, scopes: [{ context: 'user' as const }] }, 'user/Condition.s'],
    ['a patient-context token', { patient: 'p1', scopes: [{ context: 'patient' as const }] }, 'patient/Condition.s'],
    ['a backend service (system scopes only)', { patient: null, scopes: [{ context: 'system' as const }] }, 'system/Condition.s'],
    ['a token with no scopes at all', { patient: null, scopes: [] }, 'user/Condition.s'],
  ])('the scope named in the challenge for %s', (_name, principal, scope) => {
    expect(neededScope({ interaction: 'search-type', id: null, type: 'Condition' }, principal)).toBe(scope);
  });
});
