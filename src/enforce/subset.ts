/**
 * `_summary` and `_elements`, applied by the gateway after policy has decided on the whole
 * resource. Passing them to the upstream would hand policy a partial resource: an Observation
 * without its `subject` or `meta.security` cannot be placed in a compartment or checked for labels.
 * So the upstream is asked for whole resources and the gateway subsets what it releases.
 * `_summary=count` is the exception: it returns no resources and goes upstream as it is.
 */
import { MANDATORY_ELEMENTS, SUMMARY_ELEMENTS } from '../fhir/generated/r4.js';
import type { FhirRequest, SearchParam } from '../fhir/request.js';

export type Subsetting = { readonly kind: 'summary'; readonly mode: 'true' | 'text' | 'data' } | { readonly kind: 'elements'; readonly elements: readonly string[] };

export const SUBSETTED_TAG = { system: 'http://terminology.hl7.org/CodeSystem/v3-ObservationValue', code: 'SUBSETTED', display: 'subsetted' } as const;

type JsonObject = Record<string, unknown>;

/** Splits the subsetting parameters off the request that goes upstream. */
export function takeSubsetting(request: FhirRequest): { forwarded: FhirRequest; subsetting: Subsetting | null } {
  let subsetting: Subsetting | null = null;
  const kept: SearchParam[] = [];
  for (const p of request.params) {
    if (p.name === '_elements') {
      subsetting = { kind: 'elements', elements: p.values.map((v) => v.trim()).filter((v) => v !== '') };
    } else if (p.name === '_summary' && (p.value === 'true' || p.value === 'text' || p.value === 'data')) {
      subsetting = { kind: 'summary', mode: p.value };
    } else if (p.name === '_summary' && p.value === 'false') {
      // the whole resource: nothing to do
    } else {
      kept.push(p);
    }
  }
  return { forwarded: kept.length === request.params.length ? request : { ...request, params: kept }, subsetting };
}

/** Subsets one resource in place and tags it SUBSETTED. */
export function applySubsetting(resource: JsonObject, subsetting: Subsetting): void {
  const type = String(resource['resourceType']);
  const mandatory = MANDATORY_ELEMENTS[type] ?? [];
  let keep: readonly string[];
  switch (subsetting.kind) {
    case 'elements':
      keep = [...subsetting.elements, ...mandatory];
      break;
    case 'summary':
      if (subsetting.mode === 'data') {
        delete resource['text'];
        tagSubsetted(resource);
        return;
      }
      keep = subsetting.mode === 'true' ? (SUMMARY_ELEMENTS[type] ?? []) : ['text', ...mandatory];
      break;
  }
  for (const key of Object.keys(resource)) {
    const name = key.startsWith('_') ? key.slice(1) : key;
    if (name === 'resourceType' || name === 'id' || name === 'meta') continue;
    if (!keep.some((element) => matchesElement(name, element))) delete resource[key];
  }
  tagSubsetted(resource);
}

/** `valueQuantity` matches the choice element `value[x]`. */
function matchesElement(key: string, element: string): boolean {
  if (element.endsWith('[x]')) {
    const stem = element.slice(0, -3);
    return key.startsWith(stem) && /^[A-Z]/.test(key.slice(stem.length));
  }
  return key === element;
}

function tagSubsetted(resource: JsonObject): void {
  const meta = (resource['meta'] ??= {}) as JsonObject;
  const tags = (meta['tag'] ??= []) as Array<{ system?: string; code?: string }>;
  if (!tags.some((t) => t.system === SUBSETTED_TAG.system && t.code === SUBSETTED_TAG.code)) tags.push({ ...SUBSETTED_TAG });
}
