/**
 * What of a resource the resource policy is given. A bundle may declare, in
 * `data.fhirgw.config.resource_elements`, what its resource decisions read: top-level elements
 * (`code`) or one element of a top-level element (`meta.security`). The engine then hands policy
 * only those (with `resourceType`, and the elements SMART granular scopes are matched on,
 * `data.fhirgw.config.granular_token_elements`). Crossing into WebAssembly costs per byte: a
 * 1,000-entry search is 800 KB of resources of which the shipped policy reads a fifth. Without the
 * declaration policy gets whole resources. The policy tests evaluate the same view
 * (policies/tests/fixtures.rego), so a rule that reads an undeclared element fails its tests.
 *
 * A bundle may also declare `data.fhirgw.config.resources_document: "views"`: its batched entry
 * point then receives each distinct view once (contract.ts, resourcesViewsInputSchema). Without
 * it, the batched input holds one resource per item, as bundles written before it expect.
 */
import { BundleError } from './bundle-error.js';
import type { FhirResourceJson, ResourcesInput, ResourcesViewsInput } from './contract.js';

const NAME = '[a-z][A-Za-z0-9]{0,63}';
const ELEMENT = new RegExp(`^${NAME}(\\.${NAME})?$`);

/**
 * The declared view: whole top-level elements, and for the others the children kept. Both forms
 * of one element (`meta` and `meta.security`) mean the whole element.
 */
export interface ViewElements {
  readonly whole: ReadonlySet<string>;
  readonly partial: ReadonlyMap<string, readonly string[]>;
}

export type ResourcesDocument = 'items' | 'views';

function configOf(data: Record<string, unknown>): Record<string, unknown> {
  return ((data['fhirgw'] as Record<string, unknown> | undefined)?.['config'] ?? {}) as Record<string, unknown>;
}

/** The declared elements (with what must always be there), or null for whole resources. Malformed: a BundleError. */
export function resourceElementsOf(data: Record<string, unknown>): ViewElements | null {
  const config = configOf(data);
  const declared = config['resource_elements'];
  if (declared === undefined || declared === null) return null;
  if (!Array.isArray(declared) || !declared.every((e): e is string => typeof e === 'string' && ELEMENT.test(e))) {
    throw new BundleError('data.fhirgw.config.resource_elements must be a list of FHIR element names, or element.child (or absent, for whole resources)');
  }
  const granular = config['granular_token_elements'];
  const matched = typeof granular === 'object' && granular !== null ? Object.values(granular).filter((e): e is string => typeof e === 'string') : [];
  const whole = new Set(['resourceType', ...matched, ...declared.filter((e) => !e.includes('.'))]);
  const partial = new Map<string, string[]>();
  for (const path of declared.filter((e) => e.includes('.'))) {
    const [element, child] = path.split('.') as [string, string];
    if (whole.has(element)) continue;
    partial.set(element, [...(partial.get(element) ?? []), child]);
  }
  return { whole, partial };
}

/** Which batched document the bundle's resources entry point reads. Malformed: a BundleError. */
export function resourcesDocumentOf(data: Record<string, unknown>): ResourcesDocument {
  const declared = configOf(data)['resources_document'];
  if (declared === undefined || declared === null || declared === 'items') return 'items';
  if (declared === 'views') return 'views';
  throw new BundleError('data.fhirgw.config.resources_document must be "items" or "views" (or absent, for "items")');
}

/** The resource as the policy sees it: only the declared elements (the same objects, not copies, where whole). */
export function resourceView(resource: FhirResourceJson, elements: ViewElements | null): FhirResourceJson {
  if (elements === null) return resource;
  const view: Record<string, unknown> = {};
  for (const element of elements.whole) {
    if (Object.hasOwn(resource, element)) view[element] = resource[element];
  }
  for (const [element, children] of elements.partial) {
    const value = Object.hasOwn(resource, element) ? resource[element] : undefined;
    if (typeof value !== 'object' || value === null || Array.isArray(value)) continue;
    const part: Record<string, unknown> = {};
    let kept = false;
    for (const child of children) {
      if (!Object.hasOwn(value, child)) continue;
      part[child] = (value as Record<string, unknown>)[child];
      kept = true;
    }
    if (kept) view[element] = part;
  }
  return view as FhirResourceJson;
}

/** A resources input with every item's resource reduced to the view. */
export function resourcesView(input: ResourcesInput, elements: ViewElements | null): ResourcesInput {
  if (elements === null) return input;
  return { ...input, items: input.items.map((item) => ({ resource: resourceView(item.resource as FhirResourceJson, elements), facts: item.facts })) };
}

/**
 * The views document: each distinct view once, in order of first appearance. Views are the same
 * when they are equal as JSON values (the order of an object's keys aside: Rego's objects have
 * none). A search has a handful of distinct views, so each view is compared with those seen so far;
 * past VIEWS_COMPARED distinct views, by their JSON text instead, which costs about three times as
 * much per resource but does not grow with the number of views.
 */
export function resourcesViewsDocument(input: ResourcesInput, elements: ViewElements | null): ResourcesViewsInput {
  const views: FhirResourceJson[] = [];
  let index: Map<string, number> | null = null;
  const items = input.items.map((item) => {
    const view = resourceView(item.resource as FhirResourceJson, elements);
    let i = -1;
    if (index === null) {
      i = views.findIndex((seen) => sameJson(seen, view));
      if (i === -1 && views.length === VIEWS_COMPARED) index = new Map(views.map((seen, j) => [JSON.stringify(seen), j]));
    }
    if (index !== null) {
      const key = JSON.stringify(view);
      i = index.get(key) ?? -1;
      if (i === -1) index.set(key, views.length);
    }
    if (i === -1) {
      i = views.length;
      views.push(view);
    }
    return { view: i, facts: item.facts };
  });
  return { principal: input.principal, request: input.request, views, items, consents: input.consents, env: input.env };
}

const VIEWS_COMPARED = 16;

/** Equal as JSON values (parsed JSON: no undefined, no functions, no cycles). */
export function sameJson(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (Array.isArray(a) || Array.isArray(b)) {
    if (!Array.isArray(a) || !Array.isArray(b) || a.length !== b.length) return false;
    for (let i = 0; i < a.length; i++) if (!sameJson(a[i], b[i])) return false;
    return true;
  }
  const x = a as Record<string, unknown>;
  const y = b as Record<string, unknown>;
  let keys = 0;
  for (const key in x) {
    if (!Object.hasOwn(x, key)) continue;
    if (!Object.hasOwn(y, key) || !sameJson(x[key], y[key])) return false;
    keys++;
  }
  for (const key in y) if (Object.hasOwn(y, key)) keys--;
  return keys === 0;
}
