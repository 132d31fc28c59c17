/**
 * The policy engine fails closed: bundles compiled by the real opa from deliberately broken Rego.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, test } from '@jest/globals';
import { BundleError, parseBundle, readBundleFile } from '../../src/policy/bundle.js';
import type { RequestInput, ResourcesInput } from '../../src/policy/contract.js';
import { PolicyEngine } from '../../src/policy/engine.js';
import { DEFAULT_POLICY_BUNDLE } from '../../src/config/load.js';
import { BATCH_WRAPPER, buildTestBundle } from '../support/opa.js';

const principal = {
  iss: 'https://idp', sub: 's', client_id: 'c', jti: 'j', exp: 2e9, scopes: [], other_scopes: [], invalid_scopes: [],
  roles: [], purpose_of_use: [], patient: null, encounter: null, fhir_user: null, tenant: null, organization: null, break_glass_reason: null, binding: null,
  assurance: { level: null, methods: [], authenticated_at: null },
};
const request = { method: 'GET', interaction: 'read', type: 'Patient', id: '1', version: null, compartment: null, operation: null, params: [], search_via_post: false, if_none_exist: null } as const;
const env = { now: '2026-11-24T00:00:00Z', now_seconds: 1, policy_revision: 'x' };
const requestInput: RequestInput = { principal, request, env };
const resourcesInput = (n: number): ResourcesInput => ({
  principal, request, env, consents: {},
  items: Array.from({ length: n }, (_, i) => ({ resource: { resourceType: 'Patient', id: String(i) }, facts: { patients: [String(i)], patient_data: true, data_date: null } })),
});

const engineFor = async (requestRego: string, resourceRego = 'package fhirgw.resource\n\ndecision := {"allow": true}\n') =>
  PolicyEngine.load(await readBundleFile(buildTestBundle({ 'request.rego': requestRego, 'resource.rego': resourceRego, 'resources.rego': BATCH_WRAPPER })), { maxMemoryPages: 256 });

const codeOf = (fn: () => unknown) => {
  try {
    fn();
    return 'no error';
  } catch (err) {
    return (err as { code?: string; reasons?: string[] }).code + ':' + ((err as { reasons?: string[] }).reasons ?? []).join(',');
  }
};

describe('policy engine', () => {
  test('the shipped bundle loads, with its revision', async () => {
    const engine = await PolicyEngine.load(await readBundleFile(DEFAULT_POLICY_BUNDLE), { maxMemoryPages: 256 });
    expect(engine.revision).toMatch(/^[0-9a-f]{16}$/);
    expect(engine.decideRequest(requestInput)).toEqual({ allow: false, reasons: ['scope.missing'], obligations: {} });
  });

  test('a well-formed decision is returned with defaults filled in', async () => {
    const engine = await engineFor('package fhirgw.request\n\ndecision := {"allow": true, "reasons": ["ok"]}\n');
    expect(engine.decideRequest(requestInput)).toEqual({ allow: true, reasons: ['ok'], obligations: {} });
    expect(engine.revision).toBe('test-rev');
  });

  test('an undefined decision is a deny', async () => {
    const engine = await engineFor('package fhirgw.request\n\ndecision := {"allow": true} if input.never\n');
    expect(engine.decideRequest(requestInput)).toEqual({ allow: false, reasons: ['policy.undefined'], obligations: {} });
  });

  test.each([
    ['allow is not a boolean', 'decision := {"allow": "yes"}'],
    ['an unknown obligation (a typo must not silently skip a redaction)', 'decision := {"allow": true, "obligations": {"redcat": []}}'],
    ['a redaction with an unknown action', 'decision := {"allow": true, "obligations": {"redact": [{"path": "Patient.name", "action": "blur"}]}}'],
    ['a reason that is not a code', 'decision := {"allow": false, "reasons": ["Patient Alba Zeta is HIV positive"]}'],
    ['not an object', 'decision := true'],
  ])('a malformed decision (%s) fails closed with policy_error', async (_name, rule) => {
    const engine = await engineFor(`package fhirgw.request\n\n${rule}\n`);
    expect(codeOf(() => engine.decideRequest(requestInput))).toBe('policy_error:policy.malformed-decision');
  });

  test('a runtime error inside the policy (conflicting values) fails closed', async () => {
    const engine = await engineFor('package fhirgw.request\n\ndecision := {"allow": true} if input.request.id\n\ndecision := {"allow": false} if input.request.type\n');
    expect(codeOf(() => engine.decideRequest(requestInput))).toMatch(/^policy_error:policy\.(evaluation-failed|conflict)$/);
  });

  test('resource decisions are batched and kept in order; a wrong count fails closed', async () => {
    const engine = await engineFor('package fhirgw.request\n\ndecision := {"allow": true}\n', 'package fhirgw.resource\n\ndecision := {"allow": to_number(input.resource.id) % 2 == 0}\n');
    expect(engine.decideResources(resourcesInput(4)).map((d) => d.allow)).toEqual([true, false, true, false]);
    expect(engine.decideResources(resourcesInput(0))).toEqual([]);

    const short = await engineFor('package fhirgw.request\n\ndecision := {"allow": true}\n', 'package fhirgw.resource\n\ndecision := {"allow": true}\n');
    expect(short.decideResources(resourcesInput(3))).toHaveLength(3);
    const wrongLength = await PolicyEngine.load(
      await readBundleFile(buildTestBundle({
        'request.rego': 'package fhirgw.request\n\ndecision := {"allow": true}\n',
        'resource.rego': 'package fhirgw.resource\n\ndecision := {"allow": true}\n',
        'resources.rego': 'package fhirgw.resources\n\ndecisions := [{"allow": true}]\n',
      })),
      { maxMemoryPages: 256 },
    );
    expect(codeOf(() => wrongLength.decideResources(resourcesInput(3)))).toBe('policy_error:policy.malformed-decision');
  });

  test('a bundle without the required entrypoints is rejected at load', async () => {
    const file = buildTestBundle({ 'request.rego': 'package fhirgw.request\n\ndecision := {"allow": true}\n' }, ['-e', 'fhirgw/request/decision']);
    await expect(readBundleFile(file)).rejects.toThrow(/lacks the entrypoint fhirgw\/resource\/decision/);
  });

  test('a corrupt or missing bundle is rejected with a BundleError', async () => {
    await expect(parseBundle(Buffer.from('not gzip'))).rejects.toBeInstanceOf(BundleError);
    await expect(readBundleFile('/nonexistent/bundle.tar.gz')).rejects.toBeInstanceOf(BundleError);
    const truncated = readFileSync(DEFAULT_POLICY_BUNDLE).subarray(0, 200);
    await expect(parseBundle(truncated)).rejects.toBeInstanceOf(BundleError);
    const empty = path.join(os.tmpdir(), 'fhirgw-empty.tar.gz');
    writeFileSync(empty, '');
    await expect(readBundleFile(empty)).rejects.toBeInstanceOf(BundleError);
  });
});
