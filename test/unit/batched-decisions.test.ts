/**
 * The gateway asks the batched entrypoint (fhirgw/resources/decisions) for every resource of an
 * answer at once; the shipped policies compute what depends on the principal, or on a resource
 * type, once per batch. That batching must decide every resource exactly as the single-resource
 * entrypoint (fhirgw/resource/decision) does for it alone. The batched entry point also takes a
 * view's decision for every resource whose facts cannot change it (fhirgw.resource.view_decision):
 * the random batches below put resources of the same view beside Consents that do and do not
 * concern the access, labels, patient scopes and unreadable Consents, so a condition missing from
 * that shortcut shows as a difference.
 */
import { loadPolicy } from '@open-policy-agent/opa-wasm';
import { describe, expect, test } from '@jest/globals';
import fc from 'fast-check';
import { DEFAULT_POLICY_BUNDLE } from '../../src/config/load.js';
import { readBundleFile } from '../../src/policy/bundle.js';
import { ENTRYPOINTS, type Consents, type FhirResourceJson, type ResourcesInput } from '../../src/policy/contract.js';
import { resourceFacts } from '../../src/policy/input.js';
import { PolicyEngine } from '../../src/policy/engine.js';
import { CORPUS_PRINCIPALS, corpusResourcesInputs } from '../support/decision-corpus.js';

describe('batched resource decisions', () => {
  test('decide every resource of the corpus exactly as one evaluation per resource', async () => {
    const bundle = await readBundleFile(DEFAULT_POLICY_BUNDLE);
    const engine = await PolicyEngine.load(bundle, { maxMemoryPages: 2048 });
    const single = await loadPolicy(bundle.wasm, { initial: 16, maximum: 2048 });
    single.setData(bundle.data);
    let compared = 0;
    for (const input of corpusResourcesInputs()) {
      const { items, ...shared } = input;
      // Shuffled and doubled, so per-type and per-principal values computed once serve every position.
      const batch = [...items].reverse().concat(items);
      const batched = engine.decideResources({ ...input, items: batch });
      batch.forEach((item, i) => {
        const [one] = single.evaluate({ ...shared, resource: item.resource, facts: item.facts }, ENTRYPOINTS.resource) as Array<{ result: unknown }>;
        expect(batched[i]).toEqual({ obligations: {}, ...(one!.result as object) });
        compared++;
      });
    }
    expect(compared).toBeGreaterThan(200);
  });

  test('decide random batches of shared views exactly as one evaluation per resource', async () => {
    const bundle = await readBundleFile(DEFAULT_POLICY_BUNDLE);
    const engine = await PolicyEngine.load(bundle, { maxMemoryPages: 2048 });
    const single = await loadPolicy(bundle.wasm, { initial: 16, maximum: 2048 });
    single.setData(bundle.data);
    const [shared] = corpusResourcesInputs();
    const patients = ['p1', 'p2', 'p3', 'p4'];
    const code = fc.constantFrom(['http://loinc.org', '4548-4'], ['http://loinc.org', '75622-1'], ['http://loinc.org', '8867-4'], ['http://snomed.info/sct', '86406008']);
    const category = fc.constantFrom('laboratory', 'vital-signs');
    const label = fc.constantFrom('R', 'N', 'HIV', 'PSY');
    // Few distinct views, so that many resources of a batch share one.
    const view = fc.record({ type: fc.constantFrom('Observation', 'Condition', 'Encounter', 'Device'), code, category, labels: fc.subarray(['R', 'HIV']), tag: fc.boolean() });
    const resource = fc.record({ view, patient: fc.constantFrom(...patients, null), date: fc.constantFrom('2025-06-01', '2026-10-01T09:00:00Z', null) });
    const condition = fc.record({
      actors: fc.constantFrom([], ['Practitioner/prac-hopper']),
      actor_roles: fc.constantFrom([], ['clinician'], ['researcher']),
      purposes: fc.constantFrom([], ['HRESCH'], ['TREAT']),
      labels: fc.constantFrom([], ['HIV'], ['R']),
      classes: fc.constantFrom([], ['Observation'], ['Encounter']),
      codes: fc.constantFrom([], ['http://loinc.org|75622-1'], ['http://loinc.org|4548-4']),
      data_period: fc.constantFrom(null, { start: '2026-01-01', end: null }, { start: null, end: '2025-12-31' }),
    });
    const consent = fc.record({
      id: fc.constant('c'),
      scope: fc.constantFrom('research', 'patient-privacy', 'treatment'),
      date: fc.constant(null),
      base: fc.constantFrom('permit', 'deny'),
      rules: fc.array(fc.record({ type: fc.constantFrom('permit', 'deny'), depth: fc.integer({ min: 1, max: 2 }), conditions: fc.array(condition, { minLength: 1, maxLength: 2 }) }), { maxLength: 2 }),
    });
    const patientConsents = fc.oneof(fc.constant(undefined), fc.constant({ status: 'unavailable' as const }), fc.record({ status: fc.constant('ok' as const), consents: fc.array(consent, { maxLength: 2 }) }));
    const principal = fc.constantFrom(...Object.values(CORPUS_PRINCIPALS));
    const BASES = ['http://upstream.test/fhir'];
    const toResource = ({ view: v, patient, date }: { view: { type: string; code: readonly string[]; category: string; labels: string[]; tag: boolean }; patient: string | null; date: string | null }, i: number): FhirResourceJson => ({
      resourceType: v.type,
      id: `r${i}`,
      meta: { versionId: String(i), ...(v.labels.length > 0 ? { security: v.labels.map((c) => ({ system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: c })) } : {}), ...(v.tag ? { tag: [{ code: 't' }] } : {}) },
      ...(v.type === 'Device' ? {} : { code: { coding: [{ system: v.code[0], code: v.code[1] }] }, category: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/observation-category', code: v.category }] }] }),
      ...(patient === null ? {} : { [v.type === 'Device' ? 'patient' : 'subject']: { reference: `Patient/${patient}` } }),
      ...(date === null ? {} : { effectiveDateTime: date }),
    });
    let compared = 0;
    await fc.assert(
      fc.asyncProperty(principal, fc.array(resource, { minLength: 1, maxLength: 12 }), fc.tuple(...patients.map(() => patientConsents)), async (p, specs, perPatient) => {
        const consents = Object.fromEntries(patients.flatMap((id, i) => (perPatient[i] === undefined ? [] : [[id, perPatient[i]]]))) as Consents;
        const items = specs.map((spec, i) => {
          const r = toResource(spec, i);
          return { resource: r, facts: resourceFacts(r, BASES) };
        });
        const input: ResourcesInput = { ...shared!, principal: p, items, consents };
        const batched = engine.decideResources(input);
        items.forEach((item, i) => {
          const [one] = single.evaluate({ principal: p, request: input.request, env: input.env, consents, resource: item.resource, facts: item.facts }, ENTRYPOINTS.resource) as Array<{ result: unknown }>;
          expect(batched[i]).toEqual({ obligations: {}, ...(one!.result as object) });
          compared++;
        });
      }),
      { numRuns: Number(process.env.FHIRGW_PROPERTY_RUNS ?? 300) },
    );
    expect(compared).toBeGreaterThan(300);
  });
});
