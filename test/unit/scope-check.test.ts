/**
 * The permission each FHIR interaction and operation needs: the gateway's table (used for the
 * insufficient_scope challenge, generated from the policy data) must agree with the shipped policy,
 * which makes the decision.
 */
import { readFileSync } from 'node:fs';
import { beforeAll, describe, expect, test } from '@jest/globals';
import { neededScope, permissionFor } from '../../src/auth/scope-check.js';
import { OPERATION_PERMISSION } from '../../src/auth/generated/smart-permissions.js';
import { parseScopes } from '../../src/auth/scopes.js';
import { DEFAULT_POLICY_BUNDLE } from '../../src/config/load.js';
import type { FhirRequest } from '../../src/fhir/request.js';
import { readBundleFile } from '../../src/policy/bundle.js';
import { PolicyEngine } from '../../src/policy/engine.js';
import { POLICY_REASON } from '../../src/policy/generated/reasons.js';
import { principalWith } from '../support/principal.js';

const request = (interaction: FhirRequest['interaction'], over: Partial<FhirRequest> = {}) =>
  ({ method: 'GET', interaction, type: 'Observation', id: null, version: null, compartment: null, operation: null, params: [], search_via_post: false, if_none_exist: null, ...over }) as const;

const cases: Array<[string, string, ReturnType<typeof request>]> = [
  ['read', 'r', request('read', { id: 'o1' })],
  ['vread', 'r', request('vread', { id: 'o1', version: '2' })],
  ['history-instance', 'r', request('history-instance', { id: 'o1' })],
  ['search-type', 's', request('search-type')],
  ['search-system', 's', request('search-system', { type: null })],
  ['search-compartment', 's', request('search-compartment', { compartment: { type: 'Patient', id: 'p1' } })],
  ['search-continue', 's', request('search-continue', { type: null })],
  ['history-type', 's', request('history-type')],
  ['history-system', 's', request('history-system', { type: null })],
  ['create', 'c', request('create', { method: 'POST' })],
  ['update', 'u', request('update', { method: 'PUT', id: 'o1' })],
  ['patch', 'u', request('patch', { method: 'PATCH', id: 'o1' })],
  ['delete', 'd', request('delete', { method: 'DELETE', id: 'o1' })],
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

  test.each(cases)('%s needs %s, and the shipped policy agrees', (_name, perm, req) => {
    expect(permissionFor(req)).toBe(perm);
    const granted = policy.decideRequest({ principal: principalFor(`user/*.${perm}`), request: req, env });
    expect(granted.allow).toBe(true);
    const others = 'cruds'.replace(perm, '');
    const refused = policy.decideRequest({ principal: principalFor(`user/*.${others}`), request: req, env });
    expect(refused).toMatchObject({ allow: false, reasons: [POLICY_REASON.scope_missing] });
  });

  // Every operation the policy data allows, at its first level, in each context it allows: the scope
  // the challenge names grants it, and a wildcard scope with every other permission does not.
  const config = JSON.parse(readFileSync('policies/fhirgw/config/data.json', 'utf8')) as {
    operations: Record<string, { levels: string[]; types: string[]; perm: string; contexts: Array<'patient' | 'user' | 'system'> }>;
  };
  const operationCases = Object.entries(config.operations).flatMap(([name, op]) =>
    op.contexts.map((context) => {
      const level = op.levels[0]!;
      const req = request('operation', { operation: name, type: level === 'system' ? null : op.types[0]!, id: level === 'instance' ? 'p1' : null });
      return [`$${name} (${level}) for a ${context} token`, req, context, op.perm] as const;
    }),
  );

  test('the generated table covers every operation of the policy data, with its permission', () => {
    expect(Object.keys(OPERATION_PERMISSION).sort()).toEqual(Object.keys(config.operations).sort());
    for (const [name, op] of Object.entries(config.operations)) expect(permissionFor({ interaction: 'operation', operation: name })).toBe(op.perm);
    expect(permissionFor({ interaction: 'operation', operation: 'not-an-operation' })).toBeNull();
    expect(permissionFor({ interaction: 'operation', operation: 'constructor' })).toBeNull();
  });

  test.each(operationCases)('%s: the challenge names the scope that grants it, and the shipped policy agrees', (_name, req, context, perm) => {
    const holder = { patient: context === 'patient' ? 'p1' : null, scopes: [{ context }] };
    const scope = neededScope(req, holder);
    expect(scope).toBe(`${context}/*.${perm}`);
    const roles = context === 'user' ? ['clinician'] : context === 'patient' ? ['patient'] : [];
    const granted = policy.decideRequest({ principal: principalWith({ scopes: parseScopes(scope!).resources, roles, patient: holder.patient }), request: req, env });
    expect(granted.allow).toBe(true);
    const others = parseScopes(`${context}/*.${'cruds'.replace(perm, '')}`).resources;
    expect(policy.decideRequest({ principal: principalWith({ scopes: others, roles, patient: holder.patient }), request: req, env })).toMatchObject({ allow: false, reasons: [POLICY_REASON.scope_missing] });
  });

  test('a user token refused $export is told the system scope it would need', () => {
    expect(neededScope(request('operation', { operation: 'export', type: null }), { patient: null, scopes: [{ context: 'user' }] })).toBe('system/*.r');
  });

  test('batch and capabilities have no permission of their own', () => {
    expect(permissionFor({ interaction: 'batch', operation: null })).toBeNull();
    expect(permissionFor({ interaction: 'capabilities', operation: null })).toBeNull();
    expect(neededScope({ interaction: 'batch', id: null, type: null, operation: null }, { patient: null, scopes: [] })).toBeNull();
  });

  test.each([
    ['a user token', { patient: null, scopes: [{ context: 'user' as const }] }, 'user/Condition.s'],
    ['a patient-context token', { patient: 'p1', scopes: [{ context: 'patient' as const }] }, 'patient/Condition.s'],
    ['a backend service (system scopes only)', { patient: null, scopes: [{ context: 'system' as const }] }, 'system/Condition.s'],
    ['a token with no scopes at all', { patient: null, scopes: [] }, 'user/Condition.s'],
  ])('the scope named in the challenge for %s', (_name, principal, scope) => {
    expect(neededScope({ interaction: 'search-type', id: null, type: 'Condition', operation: null }, principal)).toBe(scope);
  });
});
