/**
 * Policy faults (issue 10, point 3) beyond what policy-distribution.test.ts covers (an unsigned
 * bundle, garbage, a bundle service outage): a truncated bundle and a bundle without the gateway's
 * entry points on reload keep the last good one; a request policy that errors or answers a
 * malformed decision fails closed before anything is forwarded, with an audit record; and the
 * WebAssembly memory of the shipped policy stays bounded over a long run, failing closed (not
 * crashing, not growing) on an input larger than its bound. Real opa-built bundles throughout.
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, test } from '@jest/globals';
import { DEFAULT_POLICY_BUNDLE } from '../../src/config/load.js';
import { GatewayError } from '../../src/errors.js';
import { readBundleFile } from '../../src/policy/bundle.js';
import type { RequestInput, ResourcesInput } from '../../src/policy/contract.js';
import { PolicyEngine } from '../../src/policy/engine.js';
import { parseScopes } from '../../src/auth/scopes.js';
import { BATCH_WRAPPER, buildTestBundle, trivialPolicy } from '../support/opa.js';
import { principalWith } from '../support/principal.js';
import { auditRecordOf, jsonOf, startStack, tokensFor, type Stack } from '../support/stack.js';
import { eventually, metric } from '../support/wait.js';

const dir = mkdtempSync(path.join(os.tmpdir(), 'fhirgw-policy-faults-'));

describe('a bad bundle on reload', () => {
  let stack: Stack;
  afterAll(() => stack?.close());

  test('truncated, or without the entry points: rejected, counted, and the last good one keeps deciding', async () => {
    const deny = readFileSync(buildTestBundle(trivialPolicy(false), { revision: 'rev-deny' }));
    const active = path.join(dir, 'active.tar.gz');
    writeFileSync(active, readFileSync(buildTestBundle(trivialPolicy(true), { revision: 'rev-allow' })));
    stack = await startStack({ config: (c) => ({ ...c, policy: { bundle: active, watchIntervalMs: 100 } }) });
    const token = await tokensFor(stack.issuer).clinician();
    const status = async () => (await stack.fetch('Patient/pat-alba', { token })).status;
    const failures = () => metric(stack, /^fhirgw_policy_bundle_loads_total\{bundle="enforcing",result="failure"\} (\d+)$/m);
    expect(await status()).toBe(200);

    writeFileSync(active, deny.subarray(0, Math.floor(deny.length / 2)));
    await eventually(failures, (n) => n >= 1, 'the truncated bundle to be rejected');
    expect(await status()).toBe(200);

    // A well-formed bundle of some other policy: it would answer every request "undefined".
    writeFileSync(active, readFileSync(buildTestBundle({ 'other.rego': 'package other\n\nallow := true\n' }, ['-e', 'other/allow'])));
    await eventually(failures, (n) => n >= 2, 'the bundle without entry points to be rejected');
    expect(await status()).toBe(200);
    expect(await metric(stack, /^fhirgw_policy_bundle_info\{bundle="enforcing",revision="rev-allow"\} (\d+)$/m)).toBe(1);

    // And a good one is still taken.
    writeFileSync(active, deny);
    await eventually(status, (s) => s === 403, 'the deny bundle to take over');
  });
});

describe('a request policy that fails', () => {
  test.each([
    ['errors at evaluation (conflicting values)', 'decision := {"allow": true} if input.request.type\n\ndecision := {"allow": false} if input.request.id\n', /^policy\.(evaluation-failed|conflict)$/],
    ['answers a malformed decision', 'decision := {"allow": "yes", "obligations": {"narrow": 7}}\n', /^policy\.malformed-decision$/],
  ])('%s: 500 policy_error, nothing forwarded, the outcome audited', async (_name, rule, reason) => {
    const bundle = buildTestBundle({ 'request.rego': `package fhirgw.request\n\n${rule}`, 'resource.rego': 'package fhirgw.resource\n\ndecision := {"allow": true}\n', 'resources.rego': BATCH_WRAPPER });
    const stack = await startStack({ config: (c) => ({ ...c, policy: { bundle } }) });
    try {
      const before = stack.fhir.requests.length;
      const res = await stack.fetch('Patient/pat-alba', { token: await tokensFor(stack.issuer).clinician() });
      expect(res.status).toBe(500);
      const body = await jsonOf(res);
      const [code, why] = body.issue[0].details.coding.map((c: { code: string }) => c.code);
      expect(code).toBe('policy_error');
      expect(why).toMatch(reason);
      expect(stack.fhir.requests.length).toBe(before);
      expect((await auditRecordOf(stack, body.id)).outcome).toMatchObject({ status: 500, error: 'policy_error', decision: 'error' });
    } finally {
      await stack.close();
    }
  });
});

describe('WebAssembly memory of the shipped policy', () => {
  const principal = principalWith({ sub: 'Patient/p1', scopes: parseScopes('launch/patient patient/*.rs').resources, roles: ['patient'], patient: 'p1' });
  const request = { method: 'GET', interaction: 'search-type', type: 'Observation', id: null, version: null, compartment: null, operation: null, params: [], search_via_post: false, if_none_exist: null } as const;
  const env = { now: '2026-11-24T00:00:00Z', now_seconds: 1795478400, policy_revision: 'x' };
  // The text sits in `code`, an element the shipped policy declares it reads: what is not declared
  // never reaches the WebAssembly memory (src/policy/resource-view.ts).
  const observation = (i: number, text = `code ${i}`) => ({
    resourceType: 'Observation', id: `o${i}`, status: 'final', code: { text }, subject: { reference: `Patient/p${i % 3}` }, note: [{ text: 'a note' }],
  });
  const batch = (n: number, offset: number, text?: string): ResourcesInput => ({
    principal, request, env, consents: {},
    items: Array.from({ length: n }, (_, i) => ({ resource: observation(offset + i, text), facts: { patients: [`p${(offset + i) % 3}`], patient_data: true, data_date: null, referenced_patients: [`p${(offset + i) % 3}`] } })),
  });
  const requestInput: RequestInput = { principal, request, env };

  test('levels off after warm-up and stays there over a long run', async () => {
    const engine = await PolicyEngine.load(await readBundleFile(DEFAULT_POLICY_BUNDLE), { maxMemoryPages: 2048 });
    // Warm-up: the largest shapes the run will use.
    engine.decideResources(batch(200, 0));
    engine.decideRequest(requestInput);
    const warmed = engine.memoryBytes();
    let decisions = 0;
    for (let i = 0; i < 20_000; i++) {
      if (i % 100 === 0) decisions += engine.decideResources(batch(200, i)).length;
      else if (i % 2 === 0) decisions += engine.decideResources(batch(1 + (i % 20), i)).length;
      else {
        engine.decideRequest(requestInput);
        decisions++;
      }
    }
    expect(decisions).toBeGreaterThan(100_000);
    expect(engine.memoryBytes()).toBe(warmed);
    expect(engine.memoryBytes()).toBeLessThanOrEqual(2048 * 65536);
  });

  test('an input larger than the bound fails closed, memory stays within it, and the next decision works', async () => {
    const pages = 256; // 16 MiB
    const engine = await PolicyEngine.load(await readBundleFile(DEFAULT_POLICY_BUNDLE), { maxMemoryPages: pages });
    const huge = batch(4, 0, 'x'.repeat(8 * 1024 * 1024)); // 32 MiB of code text
    let error: unknown = null;
    try {
      engine.decideResources(huge);
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(GatewayError);
    expect((error as GatewayError).code).toBe('policy_error');
    expect(engine.memoryBytes()).toBeLessThanOrEqual(pages * 65536);
    expect(engine.decideResources(batch(3, 0)).map((d) => d.allow)).toEqual([false, true, false]);
  });
});
