/**
 * What of a resource the resource policy is given. A bundle may declare, in
 * `data.fhirgw.config.resource_elements`, the top-level elements its resource decisions read; the
 * engine then hands policy only those (with `resourceType`, and the elements SMART granular scopes
 * are matched on, `data.fhirgw.config.granular_token_elements`). Crossing into WebAssembly costs
 * per byte: a 1,000-entry search is 800 KB of resources of which the shipped policy reads a fifth.
 * Without the declaration policy gets whole resources. The policy tests evaluate the same view
 * (policies/tests/fixtures.rego), so a rule that reads an undeclared element fails its tests.
 */
import { BundleError } from './bundle-error.js';
import type { FhirResourceJson, ResourcesInput } from './contract.js';

const ELEMENT = /^[a-z][A-Za-z0-9]{0,63}$/;

/** The declared elements (with what must always be there), or null for whole resources. Malformed: a BundleError. */
export function resourceElementsOf(data: Record<string, unknown>): ReadonlySet<string> | null {
  const config = ((data['fhirgw'] as Record<string, unknown> | undefined)?.['config'] ?? {}) as Record<string, unknown>;
  const declared = config['resource_elements'];
  if (declared === undefined || declared === null) return null;
  if (!Array.isArray(declared) || !declared.every((e): e is string => typeof e === 'string' && ELEMENT.test(e))) {
    throw new BundleError('data.fhirgw.config.resource_elements must be a list of FHIR element names (or absent, for whole resources)');
  }
  const granular = config['granular_token_elements'];
  const matched = typeof granular === 'object' && granular !== null ? Object.values(granular).filter((e): e is string => typeof e === 'string') : [];
  return new Set(['resourceType', ...declared, ...matched]);
}

/** The resource as the policy sees it: only the declared elements (the same objects, not copies). */
export function resourceView(resource: FhirResourceJson, elements: ReadonlySet<string> | null): FhirResourceJson {
  if (elements === null) return resource;
  const view: Record<string, unknown> = {};
  for (const element of elements) {
    if (Object.hasOwn(resource, element)) view[element] = resource[element];
  }
  return view as FhirResourceJson;
}

/** A resources input with every item's resource reduced to the view. */
export function resourcesView(input: ResourcesInput, elements: ReadonlySet<string> | null): ResourcesInput {
  if (elements === null) return input;
  return { ...input, items: input.items.map((item) => ({ resource: resourceView(item.resource as FhirResourceJson, elements), facts: item.facts })) };
}
