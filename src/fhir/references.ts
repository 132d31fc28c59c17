/**
 * References are compared only after normalising them to `Type/id`: relative, absolute against a
 * known base (the upstream's or the public one) and versioned forms all reduce to it, and anything
 * else (another server's URL, `urn:uuid`, a contained `#ref`) matches nothing. Never substring
 * matching: `Patient/12` must not match `Patient/123`.
 */
import { R4_RESOURCE_TYPES } from './generated/r4.js';

const TYPES = new Set(R4_RESOURCE_TYPES);
const RELATIVE = /^([A-Z][A-Za-z]+)\/([A-Za-z0-9\-.]{1,64})(?:\/_history\/[A-Za-z0-9\-.]{1,64})?$/;

export interface LocalReference {
  readonly type: string;
  readonly id: string;
}

/**
 * @param bases absolute FHIR base URLs (no trailing slash) under which a reference counts as local.
 */
export function parseLocalReference(reference: string, bases: readonly string[]): LocalReference | null {
  let rel = reference;
  if (/^[a-z][a-z0-9+.-]*:/i.test(reference)) {
    const base = bases.find((b) => reference.startsWith(`${b}/`));
    if (base === undefined) return null;
    rel = reference.slice(base.length + 1);
  }
  const m = RELATIVE.exec(rel);
  if (!m || !TYPES.has(m[1] as string)) return null;
  return { type: m[1] as string, id: m[2] as string };
}

/** Every local reference in a resource, wherever it is (`reference` elements at any depth). */
export function localReferencesIn(resource: unknown, bases: readonly string[]): LocalReference[] {
  const out: LocalReference[] = [];
  walkReferences(resource, bases, out, null);
  return out;
}

export interface ReferenceScan {
  /** Every local reference, as localReferencesIn finds them. */
  readonly references: LocalReference[];
  /**
   * Whether some Reference may name a patient without a `reference`: by identifier or display
   * only, typed Patient or untyped. (A Coding has a display too, with a code or system beside it.)
   */
  readonly logicalPatientReference: boolean;
}

/** localReferencesIn and the logical-reference test in one walk: both run on every resource decided. */
export function scanReferences(resource: unknown, bases: readonly string[]): ReferenceScan {
  const references: LocalReference[] = [];
  const logical = { found: false };
  walkReferences(resource, bases, references, logical);
  return { references, logicalPatientReference: logical.found };
}

// A plain recursive function with for...in, not Object.entries in a closure: this walk runs over
// every element of every resource of an answer (twice for a search page), and the entry arrays it
// allocated were a tenth of a 1,000-entry search's CPU. `logical` null: references only.
function walkReferences(value: unknown, bases: readonly string[], out: LocalReference[], logical: { found: boolean } | null): void {
  if (typeof value !== 'object' || value === null) return;
  if (Array.isArray(value)) {
    for (const item of value as unknown[]) walkReferences(item, bases, out, logical);
    return;
  }
  const object = value as Record<string, unknown>;
  if (logical !== null && !logical.found && isLogicalPatientReference(object)) logical.found = true;
  for (const key in object) {
    if (!Object.hasOwn(object, key)) continue;
    const child = object[key];
    if (key === 'reference' && typeof child === 'string') {
      const local = parseLocalReference(child, bases);
      if (local !== null) out.push(local);
    } else {
      walkReferences(child, bases, out, logical);
    }
  }
}

function isLogicalPatientReference(obj: Record<string, unknown>): boolean {
  const identifier = obj['identifier'];
  return (
    obj['reference'] === undefined &&
    obj['code'] === undefined &&
    obj['system'] === undefined &&
    obj['resourceType'] === undefined &&
    ((typeof identifier === 'object' && identifier !== null && !Array.isArray(identifier)) || typeof obj['display'] === 'string') &&
    (obj['type'] === undefined || obj['type'] === 'Patient')
  );
}
