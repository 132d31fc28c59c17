/**
 * What of a resource the resource policy sees (src/policy/resource-view.ts): the elements its
 * bundle declares (whole, or one child of an element), resourceType and the granular-scope
 * elements; whole resources without a declaration; a malformed declaration refuses the bundle; the
 * views document sends each distinct view once. The engine tests at the end evaluate bundles built
 * by the real opa whose policy echoes what it was given.
 */
import { describe, expect, test } from '@jest/globals';
import { BundleError, readBundleFile } from '../../src/policy/bundle.js';
import type { ResourcesInput } from '../../src/policy/contract.js';
import { PolicyEngine } from '../../src/policy/engine.js';
import { resourceElementsOf, resourcesDocumentOf, resourcesView, resourcesViewsDocument, resourceView, sameJson } from '../../src/policy/resource-view.js';
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

/** An engine whose batched entry point is `resourcesRego` (built by the real opa), with `data` as its config. */
const echoEngine = async (resourcesRego: string, data: Record<string, unknown> | null) =>
  PolicyEngine.load(
    await readBundleFile(
      buildTestBundle({
        'request.rego': 'package fhirgw.request\n\ndecision := {"allow": true}\n',
        'resource.rego': 'package fhirgw.resource\n\ndecision := {"allow": true}\n',
        'resources.rego': resourcesRego,
        ...(data === null ? {} : { 'fhirgw/config/data.json': JSON.stringify(data) }),
      }),
    ),
    { maxMemoryPages: 64 },
  );

describe('resource view', () => {
  test('without a declaration policy gets the whole resource, the same object', () => {
    expect(resourceElementsOf(config({}))).toBeNull();
    expect(resourceView(observation, null)).toBe(observation);
  });

  test('a declaration keeps its elements, resourceType and the granular-scope elements', () => {
    const elements = resourceElementsOf(config({ resource_elements: ['meta', 'code'], granular_token_elements: { category: 'category' } }));
    expect([...(elements?.whole ?? [])].sort()).toEqual(['category', 'code', 'meta', 'resourceType']);
    expect(resourceView(observation, elements)).toEqual({ resourceType: 'Observation', meta: observation.meta, code: observation.code });
  });

  test('element.child keeps that child of the element, and nothing of an element without it', () => {
    const elements = resourceElementsOf(config({ resource_elements: ['meta.security', 'meta.tag', 'code'] }));
    const versioned = { ...observation, meta: { versionId: '7', lastUpdated: '2026-12-04T10:00:00Z', security: observation.meta.security } };
    expect(resourceView(versioned, elements)).toEqual({ resourceType: 'Observation', meta: { security: observation.meta.security }, code: observation.code });
    expect(resourceView({ ...observation, meta: { versionId: '7' } }, elements)).toEqual({ resourceType: 'Observation', code: observation.code });
    // The whole element and one of its children: the whole element.
    expect(resourceView(versioned, resourceElementsOf(config({ resource_elements: ['meta.security', 'meta'] })))).toEqual({ resourceType: 'Observation', meta: versioned.meta });
  });

  test('a malformed declaration refuses the bundle', () => {
    for (const bad of ['meta', [1], ['meta.security.code'], ['Meta.security'], ['../x'], [{}]]) {
      expect(() => resourceElementsOf(config({ resource_elements: bad }))).toThrow(BundleError);
    }
    for (const bad of ['view', 1, ['views']]) {
      expect(() => resourcesDocumentOf(config({ resources_document: bad }))).toThrow(BundleError);
    }
    expect(resourcesDocumentOf(config({}))).toBe('items');
    expect(resourcesDocumentOf(config({ resources_document: 'views' }))).toBe('views');
  });

  test('an input view replaces only the resources, facts and order kept', () => {
    const facts = { patients: ['p1'], patient_data: true, data_date: null };
    const input = { items: [{ resource: observation, facts }] } as unknown as ResourcesInput;
    const view = resourcesView(input, resourceElementsOf(config({ resource_elements: ['code'] })));
    expect(view.items).toEqual([{ resource: { resourceType: 'Observation', code: observation.code }, facts }]);
    expect(input.items[0]?.resource).toBe(observation);
  });

  test('the views document holds each distinct view once and every item in order, naming its view', () => {
    const facts = (p: string) => ({ patients: [p], patient_data: true, data_date: null });
    const other = { ...observation, id: 'o2', code: { coding: [{ system: 'http://loinc.org', code: '4548-4' }] } };
    const input = {
      principal: {}, request: {}, env: {}, consents: {},
      items: [{ resource: observation, facts: facts('p1') }, { resource: other, facts: facts('p2') }, { resource: { ...observation, id: 'o3' }, facts: facts('p3') }],
    } as unknown as ResourcesInput;
    const doc = resourcesViewsDocument(input, resourceElementsOf(config({ resource_elements: ['code'] })));
    expect(doc.views).toEqual([{ resourceType: 'Observation', code: observation.code }, { resourceType: 'Observation', code: other.code }]);
    expect(doc.items).toEqual([{ view: 0, facts: facts('p1') }, { view: 1, facts: facts('p2') }, { view: 0, facts: facts('p3') }]);
    // Whole resources differ by id: every item its own view.
    expect(resourcesViewsDocument(input, null).views).toHaveLength(3);
  });

  test('the engine evaluates the declared view: an undeclared element never reaches policy', async () => {
    const echo = 'package fhirgw.resources\n\ndecisions := [{"allow": true, "reasons": sort([lower(k) | some k, _ in item.resource])} | some item in input.items]\n';
    const input = {
      principal: {}, request: {}, env: {}, consents: {},
      items: [{ resource: observation, facts: { patients: ['p1'], patient_data: true, data_date: null } }],
    } as unknown as ResourcesInput;
    const declared = await echoEngine(echo, { resource_elements: ['meta', 'code'] });
    const whole = await echoEngine(echo, null);
    expect(declared.decideResources(input)[0]?.reasons).toEqual(['code', 'meta', 'resourcetype']);
    expect(whole.decideResources(input)[0]?.reasons).toEqual(['code', 'id', 'meta', 'resourcetype', 'subject', 'valuestring']);
  });

  test('more distinct views than are compared one by one: still each once, every item naming its own', () => {
    const elements = resourceElementsOf(config({ resource_elements: ['code'] }));
    const facts = { patients: [], patient_data: false, data_date: null };
    const codes = Array.from({ length: 40 }, (_, i) => String(i % 25));
    const input = { principal: {}, request: {}, env: {}, consents: {}, items: codes.map((c) => ({ resource: { resourceType: 'Observation', code: { coding: [{ code: c }] } }, facts })) } as unknown as ResourcesInput;
    const doc = resourcesViewsDocument(input, elements);
    expect(doc.views).toHaveLength(25);
    expect(doc.items.map((item) => (doc.views[item.view] as unknown as { code: { coding: Array<{ code: string }> } }).code.coding[0]!.code)).toEqual(codes);
  });

  test('views are the same when equal as JSON values, whatever the order of their keys', () => {
    expect(sameJson({ a: [1, { b: 'x' }], c: null }, { c: null, a: [1, { b: 'x' }] })).toBe(true);
    for (const [a, b] of [
      [{ a: 1 }, { a: 1, b: 2 }],
      [{ a: 1, b: 2 }, { a: 1 }],
      [[1, 2], [2, 1]],
      [[1], { 0: 1 }],
      [{ a: null }, {}],
      [{ a: '1' }, { a: 1 }],
    ]) {
      expect(sameJson(a, b)).toBe(false);
    }
  });

  test('a bundle that declares the views document is sent it: its policy reads each item\'s view by index', async () => {
    const echo = 'package fhirgw.resources\n\ndecisions := [{"allow": true, "reasons": [sprintf("v%d", [item.view]), input.views[item.view].code.coding[0].code]} | some item in input.items]\n';
    const engine = await echoEngine(echo, { resource_elements: ['code'], resources_document: 'views' });
    const facts = { patients: ['p1'], patient_data: true, data_date: null };
    const input = {
      principal: {}, request: {}, env: {}, consents: {},
      items: [{ resource: observation, facts }, { resource: { ...observation, id: 'o2', code: { coding: [{ code: 'x' }] } }, facts }, { resource: { ...observation, id: 'o3' }, facts }],
    } as unknown as ResourcesInput;
    expect(engine.decideResources(input).map((d) => d.reasons)).toEqual([['v0', '75622-1'], ['v1', 'x'], ['v0', '75622-1']]);
  });
});
