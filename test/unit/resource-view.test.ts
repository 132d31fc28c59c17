/**
 * What of a resource the resource policy sees (src/policy/resource-view.ts): the elements its
 * bundle declares, resourceType and the granular-scope elements; whole resources without a
 * declaration; a malformed declaration refuses the bundle. The engine test at the end evaluates a
 * bundle built by the real opa whose policy echoes the elements it was given.
 */
import { describe, expect, test } from '@jest/globals';
import { BundleError, readBundleFile } from '../../src/policy/bundle.js';
import type { ResourcesInput } from '../../src/policy/contract.js';
import { PolicyEngine } from '../../src/policy/engine.js';
import { resourceElementsOf, resourcesView, resourceView } from '../../src/policy/resource-view.js';
import { buildTestBundle } from '../support/opa.js';

const observation = {
  resourceType: 'Observation',
  id: 'o1',
  meta: { security: [{ code: 'HIV' }] },
  code: { coding: [{ system: 'http://loinc.org', code: '75622-1' }] },
  subject: { reference: 'Patient/p1' },
  valueString: 'withheld from policy',
};
const config = (c: Record<string, unknown>) => ({ fhirgw: { config: c } });

describe('resource view', () => {
  test('without a declaration policy gets the whole resource, the same object', () => {
    expect(resourceElementsOf(config({}))).toBeNull();
    expect(resourceView(observation, null)).toBe(observation);
  });

  test('a declaration keeps its elements, resourceType and the granular-scope elements', () => {
    const elements = resourceElementsOf(config({ resource_elements: ['meta', 'code'], granular_token_elements: { category: 'category' } }));
    expect([...(elements ?? [])].sort()).toEqual(['category', 'code', 'meta', 'resourceType']);
    expect(resourceView(observation, elements)).toEqual({ resourceType: 'Observation', meta: observation.meta, code: observation.code });
  });

  test('a malformed declaration refuses the bundle', () => {
    for (const bad of ['meta', [1], ['meta.security'], ['../x'], [{}]]) {
      expect(() => resourceElementsOf(config({ resource_elements: bad }))).toThrow(BundleError);
    }
  });

  test('an input view replaces only the resources, facts and order kept', () => {
    const facts = { patients: ['p1'], patient_data: true, data_date: null };
    const input = { items: [{ resource: observation, facts }] } as unknown as ResourcesInput;
    const view = resourcesView(input, new Set(['resourceType', 'code']));
    expect(view.items).toEqual([{ resource: { resourceType: 'Observation', code: observation.code }, facts }]);
    expect(input.items[0]?.resource).toBe(observation);
  });

  test('the engine evaluates the declared view: an undeclared element never reaches policy', async () => {
    const echo = 'package fhirgw.resources\n\ndecisions := [{"allow": true, "reasons": sort([lower(k) | some k, _ in item.resource])} | some item in input.items]\n';
    const files = {
      'request.rego': 'package fhirgw.request\n\ndecision := {"allow": true}\n',
      'resource.rego': 'package fhirgw.resource\n\ndecision := {"allow": true}\n',
      'resources.rego': echo,
    };
    const input = {
      principal: {}, request: {}, env: {}, consents: {},
      items: [{ resource: observation, facts: { patients: ['p1'], patient_data: true, data_date: null } }],
    } as unknown as ResourcesInput;
    const declared = await PolicyEngine.load(await readBundleFile(buildTestBundle({ ...files, 'fhirgw/config/data.json': JSON.stringify({ resource_elements: ['meta', 'code'] }) })), { maxMemoryPages: 64 });
    const whole = await PolicyEngine.load(await readBundleFile(buildTestBundle(files)), { maxMemoryPages: 64 });
    expect(declared.decideResources(input)[0]?.reasons).toEqual(['code', 'meta', 'resourcetype']);
    expect(whole.decideResources(input)[0]?.reasons).toEqual(['code', 'id', 'meta', 'resourcetype', 'subject', 'valuestring']);
  });
});
